//! Integration tests of `crossmap-match`: `docs/matching.md` section by section, the output formats, and
//! the property laws.

mod laws;
mod output;
mod rules;

use crossmap_match::{Config, Directory, DirectoryBuilder, Matching, Status, match_directories};
use crossmap_model::Guid;
use crossmap_model::Patch;
use crossmap_model::directory::{Group, User};

/// The source tenant's id in every test.
pub(crate) const SOURCE_TENANT: u128 = 0x5050;

/// A user with an id and a UPN, changed by `f`.
pub(crate) fn user(id: u128, upn: &str, f: impl FnOnce(&mut User)) -> User {
    let mut u = crossmap_test_support::directories::user(id, upn);
    f(&mut u);
    u
}

/// Sets a string property.
pub(crate) fn s(v: &str) -> Patch<String> {
    Patch::Value(v.to_owned())
}

/// Sets a list property.
pub(crate) fn list(v: &[&str]) -> Patch<Vec<String>> {
    Patch::Value(v.iter().map(|s| (*s).to_owned()).collect())
}

/// A directory of these objects.
pub(crate) fn dir(tenant: u128, users: &[User], groups: &[Group]) -> Directory {
    let mut b = DirectoryBuilder::new(Guid::from_u128(tenant));
    for u in users {
        b.push_user(u).unwrap();
    }
    for g in groups {
        b.push_group(g).unwrap();
    }
    b.build().unwrap()
}

/// (status, rule, target UPN) of the source user `upn`.
pub(crate) fn outcome(m: &Matching<'_>, upn: &str) -> (Status, Option<String>, Option<String>) {
    let src = m
        .source()
        .user_by_upn(upn)
        .unwrap_or_else(|| panic!("no source user {upn}"));
    let row = m.user(src);
    (
        row.status(),
        row.rule().map(|r| r.to_string()),
        row.target().map(|t| t.user_principal_name().to_owned()),
    )
}

/// Matches two user lists with `config`.
pub(crate) fn run<T>(source: &[User], target: &[User], config: &Config, f: impl FnOnce(&Matching<'_>) -> T) -> T {
    let (s, t) = (dir(SOURCE_TENANT, source, &[]), dir(2, target, &[]));
    let m = match_directories(&s, &t, config).unwrap();
    f(&m)
}
