//! The laws of `docs/matching.md` section 11, on small random directories whose values collide a lot.

use crate::dir;
use crossmap_match::{Config, Matching, Rule, Status, match_directories, normalize};
use crossmap_model::directory::{Group, User, is_external_upn};
use crossmap_model::{Guid, Patch};
use crossmap_test_support::directories::{groups, users};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Two small tenants: users and groups on each side (target ids from 1000 on).
fn tenants() -> impl Strategy<Value = (Vec<User>, Vec<Group>, Vec<User>, Vec<Group>)> {
    (users(10, 1), groups(6, 500), users(10, 1000), groups(6, 1500))
}

/// A configuration: domain rewrites, disabled accounts, and overrides picked among the objects.
fn config_for() -> impl Strategy<Value = (u8, bool, Vec<(usize, usize)>)> {
    (
        0..3u8,
        any::<bool>(),
        prop::collection::vec((0..10usize, 0..10usize), 0..3),
    )
}

fn make_config(domains: u8, disabled: bool, picks: &[(usize, usize)], su: &[User], tu: &[User]) -> Config {
    let mut c = Config::new();
    if domains >= 1 {
        c.map_domain("a.com", "b.com").unwrap();
    }
    if domains >= 2 {
        c.map_domain("c.com", "b.com").unwrap();
    }
    c.include_disabled(disabled);
    for &(s, t) in picks {
        if let (Some(s), Some(t)) = (su.get(s), tu.get(t)) {
            // Contradicting picks are refused by the config; the law holds for whatever it accepts.
            let _ = c.override_user(upn(s), upn(t));
        }
    }
    c
}

fn upn(u: &User) -> &str {
    u.user_principal_name.value().unwrap()
}

type Outcomes = BTreeMap<String, (Status, Option<Rule>, Option<String>)>;

fn user_outcomes(m: &Matching<'_>) -> Outcomes {
    m.users()
        .map(|r| {
            (
                r.source().user_principal_name_key().to_owned(),
                (
                    r.status(),
                    r.rule(),
                    r.target().map(|t| t.user_principal_name_key().to_owned()),
                ),
            )
        })
        .collect()
}

fn group_outcomes(m: &Matching<'_>) -> BTreeMap<Guid, (Status, Option<Rule>, Option<Guid>)> {
    m.groups()
        .map(|r| (r.source().id(), (r.status(), r.rule(), r.target().map(|t| t.id()))))
        .collect()
}

// The default number of cases, or PROPTEST_CASES (`cargo xtask proptest --cases N`).
proptest! {
    #[test]
    fn law_one_to_one((su, sg, tu, tg) in tenants(), (d, dis, picks) in config_for()) {
        let c = make_config(d, dis, &picks, &su, &tu);
        let (sd, td) = (dir(1, &su, &sg), dir(2, &tu, &tg));
        let m = match_directories(&sd, &td, &c).unwrap();
        prop_assert_eq!(m.users().len(), su.len());
        prop_assert_eq!(m.groups().len(), sg.len());
        let mut seen = BTreeSet::new();
        for r in m.users() {
            prop_assert_eq!(r.target().is_some(), r.status() == Status::Matched);
            if let Some(t) = r.target() {
                prop_assert!(seen.insert(t.index()), "target {:?} twice", t);
                prop_assert_eq!(m.user_claiming(t), Some(r.source()));
            }
        }
        let mut seen = BTreeSet::new();
        for r in m.groups() {
            prop_assert_eq!(r.target().is_some(), r.status() == Status::Matched);
            if let Some(t) = r.target() {
                prop_assert!(seen.insert(t.index()));
            }
        }
        prop_assert_eq!(m.review().count(), su.len() + sg.len());
        prop_assert_eq!(m.user_mappings().count(), m.user_counts().matched);
    }

    #[test]
    fn law_an_unrelated_object_never_changes_an_existing_match(
        (su, sg, tu, tg) in tenants(), (d, dis, picks) in config_for(), on_source in any::<bool>()
    ) {
        let c = make_config(d, dis, &picks, &su, &tu);
        let (sd, td) = (dir(1, &su, &sg), dir(2, &tu, &tg));
        let m = match_directories(&sd, &td, &c).unwrap();
        let (before_u, before_g) = (user_outcomes(&m), group_outcomes(&m));
        // Shares no value with anything: not a UPN, address, id, name or nickname of the pools.
        let lonely = User {
            id: Patch::Value(Guid::from_u128(9999)),
            user_principal_name: Patch::Value("zz.lonely@unrelated.org".into()),
            mail: Patch::Value("zz.lonely@unrelated.org".into()),
            employee_id: Patch::Value("zz-e".into()),
            on_premises_immutable_id: Patch::Value("zz-i".into()),
            display_name: Patch::Value("Zz Lonely".into()),
            ..User::default()
        };
        let lonely_group = crossmap_test_support::directories::group(9999, "Zz Group", "zzgroup", on_source);
        let (mut su2, mut sg2, mut tu2, mut tg2) = (su.clone(), sg.clone(), tu.clone(), tg.clone());
        if on_source {
            su2.push(lonely);
            sg2.push(lonely_group);
        } else {
            tu2.push(lonely);
            tg2.push(lonely_group);
        }
        let (sd2, td2) = (dir(1, &su2, &sg2), dir(2, &tu2, &tg2));
        let m2 = match_directories(&sd2, &td2, &c).unwrap();
        let mut after_u = user_outcomes(&m2);
        let mut after_g = group_outcomes(&m2);
        after_u.remove("zz.lonely@unrelated.org");
        after_g.remove(&Guid::from_u128(9999));
        prop_assert_eq!(before_u, after_u);
        prop_assert_eq!(before_g, after_g);
    }

    #[test]
    fn law_output_is_independent_of_input_order(
        (su, sg, tu, tg) in tenants(), (d, dis, picks) in config_for(), seed in any::<u64>()
    ) {
        let c = make_config(d, dis, &picks, &su, &tu);
        let (sd, td) = (dir(1, &su, &sg), dir(2, &tu, &tg));
        let (sd2, td2) = (
            dir(1, &shuffled(su.clone(), seed, 1), &shuffled(sg.clone(), seed, 2)),
            dir(2, &shuffled(tu.clone(), seed, 3), &shuffled(tg.clone(), seed, 4)),
        );
        let m = match_directories(&sd, &td, &c).unwrap();
        let m2 = match_directories(&sd2, &td2, &c).unwrap();
        prop_assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&m2).unwrap());
        prop_assert_eq!(m.review().collect::<Vec<_>>(), m2.review().collect::<Vec<_>>());
        // And the same input twice gives the same bytes.
        let again = match_directories(&sd, &td, &c).unwrap();
        prop_assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&again).unwrap());
    }

    #[test]
    fn law_agrees_with_the_rules_as_written((su, sg, tu, tg) in tenants(), (d, dis, picks) in config_for()) {
        let c = make_config(d, dis, &picks, &su, &tu);
        let (sd, td) = (dir(1, &su, &sg), dir(2, &tu, &tg));
        let m = match_directories(&sd, &td, &c).unwrap();
        prop_assert_eq!(user_outcomes(&m), reference_users(&su, &tu, &c, d));
        prop_assert_eq!(group_outcomes(&m), reference_groups(&sg, &tg));
    }
}

/// A Fisher-Yates shuffle driven by `seed`.
fn shuffled<T>(mut v: Vec<T>, seed: u64, salt: u64) -> Vec<T> {
    for i in (1..v.len()).rev() {
        let r = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(salt.wrapping_mul(1442695040888963407) + i as u64);
        v.swap(i, (r >> 33) as usize % (i + 1));
    }
    v
}

// The reference: sections 2-7 transcribed directly, every rule deciding all open sources at once from
// the state at its start, by comparing every source with every target. Slow and obvious.

fn norm(s: &Patch<String>) -> Option<String> {
    s.value().map(|v| normalize(v).into_owned()).filter(|v| !v.is_empty())
}

fn is_address(a: &str) -> bool {
    a.rfind('@').is_some_and(|i| i > 0 && i + 1 < a.len())
}

fn rewrite(a: &str, domains: u8) -> String {
    let (local, domain) = a.rsplit_once('@').unwrap();
    match (domain, domains) {
        ("a.com", 1..) | ("c.com", 2..) => format!("{local}@b.com"),
        _ => a.to_owned(),
    }
}

fn addresses(u: &User) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.extend(norm(&u.mail));
    for p in u.proxy_addresses.value().into_iter().flatten() {
        if let Some(a) = crossmap_model::directory::smtp_address(p) {
            out.insert(normalize(a).into_owned());
        }
    }
    for a in u.other_mails.value().into_iter().flatten() {
        out.insert(normalize(a).into_owned());
    }
    out.retain(|a| is_address(a));
    out
}

/// The values of `rule` for a user; `domains` rewrites source values (None: a target).
fn values(u: &User, rule: Rule, domains: Option<u8>) -> BTreeSet<String> {
    let rw = |a: String| domains.map_or(a.clone(), |d| rewrite(&a, d));
    match rule {
        Rule::OnPremisesImmutableId => norm(&u.on_premises_immutable_id).into_iter().collect(),
        Rule::EmployeeId => norm(&u.employee_id).into_iter().collect(),
        Rule::UserPrincipalName => {
            let upn = norm(&u.user_principal_name).unwrap();
            if is_external_upn(&upn) {
                BTreeSet::new()
            } else {
                [rw(upn)].into()
            }
        }
        // Rewritten and as it is (section 5, rule 4).
        Rule::Email => addresses(u).into_iter().flat_map(|a| [rw(a.clone()), a]).collect(),
        _ => BTreeSet::new(),
    }
}

fn decide(
    rules: &[Rule],
    n: usize,
    m: usize,
    pre: Vec<Option<(Status, Rule, Option<usize>)>>,
    shares: impl Fn(Rule, usize, usize) -> bool,
) -> Vec<(Status, Option<Rule>, Option<usize>)> {
    let mut state = pre;
    let mut first_ambiguous: Vec<Option<Rule>> = vec![None; n];
    let mut claimed: Vec<bool> = vec![false; m];
    for (_, _, t) in state.iter().flatten() {
        if let Some(t) = t {
            claimed[*t] = true;
        }
    }
    for &rule in rules {
        let open: Vec<usize> = (0..n).filter(|s| state[*s].is_none()).collect();
        let claimed_at_start = claimed.clone();
        let mut decisions = Vec::new();
        for &s in &open {
            let free: Vec<usize> = (0..m)
                .filter(|t| !claimed_at_start[*t] && shares(rule, s, *t))
                .collect();
            let taken = (0..m).any(|t| claimed_at_start[t] && shares(rule, s, t));
            if free.is_empty() {
                if taken {
                    decisions.push((s, Some((Status::Conflict, rule, None))));
                }
                continue;
            }
            let alone = free.len() == 1 && open.iter().all(|&o| o == s || !shares(rule, o, free[0]));
            if alone {
                decisions.push((s, Some((Status::Matched, rule, Some(free[0])))));
            } else {
                first_ambiguous[s].get_or_insert(rule);
            }
        }
        for (s, d) in decisions {
            if let Some((_, _, Some(t))) = d {
                assert!(!claimed[t], "the reference claimed a target twice");
                claimed[t] = true;
            }
            state[s] = d;
        }
    }
    (0..n)
        .map(|s| match state[s] {
            Some((status, rule, t)) => (status, Some(rule), t),
            None => match first_ambiguous[s] {
                Some(r) => (Status::Ambiguous, Some(r), None),
                None => (Status::Unmatched, None, None),
            },
        })
        .collect()
}

fn reference_users(su: &[User], tu: &[User], c: &Config, domains: u8) -> Outcomes {
    let key = |u: &User| norm(&u.user_principal_name).unwrap();
    let include_disabled = c.includes_disabled();
    let mut pre: Vec<Option<(Status, Rule, Option<usize>)>> = su
        .iter()
        .map(|u| (!include_disabled && !u.is_enabled()).then_some((Status::Excluded, Rule::AccountEnabled, None)))
        .collect();
    for (s, t) in c.user_overrides() {
        let si = su.iter().position(|u| key(u) == s).unwrap();
        let ti = tu.iter().position(|u| key(u) == t).unwrap();
        pre[si] = Some((Status::Matched, Rule::Override, Some(ti)));
    }
    let sv: Vec<Vec<BTreeSet<String>>> = su
        .iter()
        .map(|u| Rule::USERS.iter().map(|r| values(u, *r, Some(domains))).collect())
        .collect();
    let tv: Vec<Vec<BTreeSet<String>>> = tu
        .iter()
        .map(|u| Rule::USERS.iter().map(|r| values(u, *r, None)).collect())
        .collect();
    let at = |r: Rule| Rule::USERS.iter().position(|x| *x == r).unwrap();
    let got = decide(&Rule::USERS[1..], su.len(), tu.len(), pre, |r, s, t| {
        !sv[s][at(r)].is_disjoint(&tv[t][at(r)])
    });
    su.iter()
        .zip(got)
        .map(|(u, (st, r, t))| (key(u), (st, r, t.map(|t| key(&tu[t])))))
        .collect()
}

fn reference_groups(sg: &[Group], tg: &[Group]) -> BTreeMap<Guid, (Status, Option<Rule>, Option<Guid>)> {
    let value = |g: &Group, r: Rule| match r {
        Rule::MailNickname => norm(&g.mail_nickname),
        _ => norm(&g.display_name),
    };
    let got = decide(
        &Rule::GROUPS[1..],
        sg.len(),
        tg.len(),
        vec![None; sg.len()],
        |r, s, t| {
            sg[s].is_microsoft_365() == tg[t].is_microsoft_365()
                && value(&sg[s], r).is_some()
                && value(&sg[s], r) == value(&tg[t], r)
        },
    );
    sg.iter()
        .zip(got)
        .map(|(g, (st, r, t))| (*g.id.value().unwrap(), (st, r, t.map(|t| *tg[t].id.value().unwrap()))))
        .collect()
}
