//! Each tenant's directory: its users, groups and organization, as Graph's directory holds them, kept like
//! the mappings (in memory, every change through the log first).
//!
//! Users are compact rows (`crossmap_model::compact`) in id order, with three indexes kept beside them:
//! the lower-cased UPN (unique per tenant, for lookups by UPN and `startswith` filters in UPN order), the
//! user's *class* (`accountEnabled` × `userType`, nine sets of ids, so that a filtered page reads only
//! matching users and a filtered count is a sum of set sizes), and the UPN domains (for a default
//! organization). Groups are rows in id order with the set of Microsoft 365 groups. A page is linear in its
//! size, whatever the directory's size.

use crate::StoreError;
use crate::log::Record;
use crossmap_model::Guid;
use crossmap_model::compact::Compact;
use crossmap_model::directory::{Group, Organization, User};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// The log's kind code of directory users.
pub(crate) const USER_CODE: i64 = 3;
/// The log's kind code of directory groups.
pub(crate) const GROUP_CODE: i64 = 4;
/// The log's kind code of the organization.
pub(crate) const ORGANIZATION_CODE: i64 = 5;
/// The log key of the organization (one per tenant).
pub(crate) const ORGANIZATION_KEY: &str = "organization";

/// Why a directory write was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// A user or group without an `id`.
    #[error("a {what} needs an id")]
    NoId {
        /// `user` or `group`.
        what: &'static str,
    },
    /// A user without a `userPrincipalName`.
    #[error("a user needs a userPrincipalName")]
    NoUpn,
    /// The id is already another object's.
    #[error("another {what} already has the id {id}")]
    IdTaken {
        /// `user` or `group`.
        what: &'static str,
        /// The id.
        id: Guid,
    },
    /// The UPN (compared without regard to case) is already another user's.
    #[error("another user ({id}) already has the userPrincipalName {upn:?}")]
    UpnTaken {
        /// The UPN asked for.
        upn: String,
        /// The user who has it.
        id: Guid,
    },
    /// A seed names one object twice.
    #[error("the seed names {what} {value:?} twice")]
    Duplicate {
        /// What is named twice: `user id`, `userPrincipalName`, `group id`.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// A paging cursor that does not fit the query (a UPN cursor without a UPN prefix, or the reverse).
    #[error("the paging cursor does not belong to this query")]
    Cursor,
}

/// Which users a list or count includes: every condition given must hold.
///
/// ```
/// use crossmap_store::UserFilter;
/// let guests_enabled = UserFilter { account_enabled: Some(true), user_type: Some("Guest".into()), ..UserFilter::default() };
/// # let _ = guests_enabled;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// `accountEnabled eq true|false`: users without the property match neither.
    pub account_enabled: Option<bool>,
    /// `userType eq '…'`: `Member` or `Guest`, in any case; any other value matches no user.
    pub user_type: Option<String>,
    /// `startswith(userPrincipalName,'…')`, without regard to case. Lists then go in UPN order.
    pub upn_prefix: Option<String>,
}

/// Which groups a list or count includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// `groupTypes/any(c:c eq 'Unified')`: `Some(true)` only Microsoft 365 groups, `Some(false)` only others.
    pub microsoft_365: Option<bool>,
}

/// Where a page ends: the next page continues after it. Key-ordered, so it stays valid while the
/// directory changes: objects added after it show up, removed ones do not, none is seen twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// After this id (lists in id order).
    Id(Guid),
    /// After this lower-cased UPN (lists with a UPN prefix, in UPN order).
    Upn(String),
}

/// A page of directory objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPage<T> {
    /// The objects, in the list's order.
    pub items: Vec<T>,
    /// Where to continue, when more follow.
    pub next: Option<Cursor>,
}

/// What seeding changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedOutcome {
    /// Objects that were not there.
    pub created: usize,
    /// Objects whose id was there with other contents, now replaced whole.
    pub replaced: usize,
    /// Objects already there exactly so.
    pub unchanged: usize,
}

/// A tenant's directory objects to seed it with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectorySeed {
    /// Users, each with an id and a UPN.
    pub users: Vec<User>,
    /// Groups, each with an id.
    pub groups: Vec<Group>,
    /// The organization, if given.
    pub organization: Option<Organization>,
}

/// `accountEnabled` × `userType` as one of nine classes: enabled (true, false, neither) × type (Member,
/// Guest, neither).
fn class_of(user: &User) -> u8 {
    let enabled = match user.account_enabled.value() {
        Some(true) => 0,
        Some(false) => 1,
        None => 2,
    };
    enabled * 3 + type_class(user.user_type.value().map(String::as_str))
}

fn type_class(user_type: Option<&str>) -> u8 {
    match user_type {
        Some(t) if t.eq_ignore_ascii_case("Member") => 0,
        Some(t) if t.eq_ignore_ascii_case("Guest") => 1,
        _ => 2,
    }
}

impl UserFilter {
    /// The classes the filter's `accountEnabled` and `userType` conditions admit, as a bit set.
    fn classes(&self) -> u16 {
        let mut set = 0u16;
        for class in 0..9u8 {
            let (enabled, kind) = (class / 3, class % 3);
            let enabled_ok = match self.account_enabled {
                None => true,
                Some(true) => enabled == 0,
                Some(false) => enabled == 1,
            };
            let kind_ok = match &self.user_type {
                None => true,
                Some(t) => {
                    let wanted = type_class(Some(t));
                    wanted != 2 && wanted == kind
                }
            };
            if enabled_ok && kind_ok {
                set |= 1 << class;
            }
        }
        set
    }
}

/// The lower-cased form UPNs are compared and indexed in.
pub(crate) fn fold(upn: &str) -> String {
    upn.to_lowercase()
}

fn domain_of(folded_upn: &str) -> Option<&str> {
    folded_upn.rsplit_once('@').map(|(_, d)| d).filter(|d| !d.is_empty())
}

#[derive(Debug)]
struct UserRow {
    bytes: Box<[u8]>,
    class: u8,
}

#[derive(Debug)]
struct GroupRow {
    bytes: Box<[u8]>,
    microsoft_365: bool,
}

/// One change to a directory, as logged: a row (compact bytes) or its removal.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    User(Guid, Option<Box<[u8]>>),
    Group(Guid, Option<Box<[u8]>>),
    Organization(Option<Box<[u8]>>),
}

impl Change {
    fn code(&self) -> i64 {
        match self {
            Change::User(..) => USER_CODE,
            Change::Group(..) => GROUP_CODE,
            Change::Organization(_) => ORGANIZATION_CODE,
        }
    }

    fn record(&self, tenant: &str, token: u64) -> Record {
        let (key, row) = match self {
            Change::User(id, row) | Change::Group(id, row) => (id.to_string(), row),
            Change::Organization(row) => (ORGANIZATION_KEY.to_owned(), row),
        };
        Record {
            seq: 0,
            tenant: tenant.to_owned(),
            kind: self.code(),
            token,
            key,
            row: row.as_ref().map(|r| r.to_vec()),
        }
    }

    /// The change a log record holds.
    pub(crate) fn from_record(record: &mut Record) -> Result<Change, String> {
        let row = record.row.take().map(Vec::into_boxed_slice);
        let id = || {
            record
                .key
                .parse::<Guid>()
                .map_err(|e| format!("key {:?}: {e}", record.key))
        };
        match record.kind {
            USER_CODE => Ok(Change::User(id()?, row)),
            GROUP_CODE => Ok(Change::Group(id()?, row)),
            ORGANIZATION_CODE if record.key == ORGANIZATION_KEY => Ok(Change::Organization(row)),
            ORGANIZATION_CODE => Err(format!("key {:?} is not the organization's", record.key)),
            other => Err(format!("kind {other} is not a directory kind")),
        }
    }
}

/// One tenant's directory.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    users: BTreeMap<Guid, UserRow>,
    by_upn: BTreeMap<Box<str>, Guid>,
    classes: [BTreeSet<Guid>; 9],
    domains: BTreeMap<Box<str>, usize>,
    groups: BTreeMap<Guid, GroupRow>,
    microsoft_365: BTreeSet<Guid>,
    organization: Option<Box<[u8]>>,
    /// The latest log token of users, groups and the organization: each counts 1, 2, 3, … without gaps.
    tokens: [u64; 3],
}

fn decode<T: Compact>(bytes: &[u8]) -> Result<T, String> {
    T::from_compact(bytes).map_err(|e| e.to_string())
}

impl Directory {
    /// The latest token of `code`'s sequence (0 before any change).
    pub(crate) fn latest_token(&self, code: i64) -> u64 {
        self.tokens[(code - USER_CODE) as usize]
    }

    /// Sets `code`'s latest token, as a checkpoint recorded it (its rows restored, whatever their count).
    pub(crate) fn set_latest_token(&mut self, code: i64, token: u64) {
        self.tokens[(code - USER_CODE) as usize] = token;
    }

    /// Checks a replayed record's place in its sequence.
    pub(crate) fn check_token(&self, code: i64, token: u64) -> Result<(), String> {
        let expected = self.latest_token(code) + 1;
        if token == expected {
            Ok(())
        } else {
            Err(format!(
                "should carry token {expected}: records are missing or out of order"
            ))
        }
    }

    /// Applies a change. Every change reaching here was checked (live) or is replayed (then a broken
    /// invariant, such as two users with one UPN, means the log is damaged).
    pub(crate) fn apply(&mut self, change: Change) -> Result<(), String> {
        let slot = (change.code() - USER_CODE) as usize;
        match change {
            Change::User(id, row) => {
                self.remove_user(&id)?;
                if let Some(bytes) = row {
                    self.insert_user(id, bytes)?;
                }
            }
            Change::Group(id, row) => {
                self.microsoft_365.remove(&id);
                self.groups.remove(&id);
                if let Some(bytes) = row {
                    let group: Group = decode(&bytes)?;
                    let microsoft_365 = group.is_microsoft_365();
                    if microsoft_365 {
                        self.microsoft_365.insert(id);
                    }
                    self.groups.insert(id, GroupRow { bytes, microsoft_365 });
                }
            }
            Change::Organization(row) => {
                if let Some(bytes) = &row {
                    decode::<Organization>(bytes)?;
                }
                self.organization = row;
            }
        }
        self.tokens[slot] += 1;
        Ok(())
    }

    fn insert_user(&mut self, id: Guid, bytes: Box<[u8]>) -> Result<(), String> {
        let user: User = decode(&bytes)?;
        let upn = fold(
            user.user_principal_name
                .value()
                .ok_or("a user without a userPrincipalName")?,
        );
        if let Some(other) = self.by_upn.get(upn.as_str()) {
            return Err(format!(
                "two users ({other} and {id}) have the userPrincipalName {upn:?}"
            ));
        }
        let class = class_of(&user);
        if let Some(domain) = domain_of(&upn) {
            *self.domains.entry(domain.into()).or_default() += 1;
        }
        self.by_upn.insert(upn.into_boxed_str(), id);
        self.classes[usize::from(class)].insert(id);
        self.users.insert(id, UserRow { bytes, class });
        Ok(())
    }

    fn remove_user(&mut self, id: &Guid) -> Result<(), String> {
        let Some(row) = self.users.remove(id) else {
            return Ok(());
        };
        self.classes[usize::from(row.class)].remove(id);
        let user: User = decode(&row.bytes)?;
        if let Some(upn) = user.user_principal_name.value() {
            let upn = fold(upn);
            if self.by_upn.get(upn.as_str()) == Some(id) {
                self.by_upn.remove(upn.as_str());
            }
            if let Some(domain) = domain_of(&upn) {
                if let Some(n) = self.domains.get_mut(domain) {
                    *n -= 1;
                    if *n == 0 {
                        self.domains.remove(domain);
                    }
                }
            }
        }
        Ok(())
    }

    /// The changes that remove every user, group and the organization.
    pub(crate) fn clear_changes(&self) -> Vec<Change> {
        let users = self.users.keys().map(|id| Change::User(*id, None));
        let groups = self.groups.keys().map(|id| Change::Group(*id, None));
        let organization = self.organization.is_some().then_some(Change::Organization(None));
        users.chain(groups).chain(organization).collect()
    }

    /// The log records of `changes`, numbered after the current tokens (not yet applied).
    pub(crate) fn records(&self, tenant: &str, changes: &[Change]) -> Vec<Record> {
        let mut tokens = self.tokens;
        changes
            .iter()
            .map(|c| {
                let slot = (c.code() - USER_CODE) as usize;
                tokens[slot] += 1;
                c.record(tenant, tokens[slot])
            })
            .collect()
    }

    /// The change that creates `user`, refused if its id or UPN is taken.
    pub(crate) fn create_user(&self, user: &User) -> Result<Change, DirectoryError> {
        let id = *user.id.value().ok_or(DirectoryError::NoId { what: "user" })?;
        let upn = user.user_principal_name.value().ok_or(DirectoryError::NoUpn)?;
        if self.users.contains_key(&id) {
            return Err(DirectoryError::IdTaken { what: "user", id });
        }
        if let Some(other) = self.by_upn.get(fold(upn).as_str()) {
            return Err(DirectoryError::UpnTaken {
                upn: upn.clone(),
                id: *other,
            });
        }
        Ok(Change::User(id, Some(user.to_compact().into_boxed_slice())))
    }

    /// The change that creates `group`, refused if its id is taken.
    pub(crate) fn create_group(&self, group: &Group) -> Result<Change, DirectoryError> {
        let id = *group.id.value().ok_or(DirectoryError::NoId { what: "group" })?;
        if self.groups.contains_key(&id) {
            return Err(DirectoryError::IdTaken { what: "group", id });
        }
        Ok(Change::Group(id, Some(group.to_compact().into_boxed_slice())))
    }

    /// The changes that make the seed's objects the stored ones, and what they do. Users whose UPN changes
    /// are removed first and written after, so that no state along the log has two users with one UPN
    /// (two users may swap UPNs in one seed).
    pub(crate) fn seed(&self, seed: &DirectorySeed) -> Result<(Vec<Change>, SeedOutcome), DirectoryError> {
        let mut outcome = SeedOutcome::default();
        let mut removals = Vec::new();
        let mut writes = Vec::new();
        let mut seed_ids = BTreeMap::new();
        let mut seed_upns = BTreeMap::new();
        for user in &seed.users {
            let id = *user.id.value().ok_or(DirectoryError::NoId { what: "user" })?;
            let upn = user.user_principal_name.value().ok_or(DirectoryError::NoUpn)?;
            let folded = fold(upn);
            if seed_ids.insert(id, folded.clone()).is_some() {
                return Err(DirectoryError::Duplicate {
                    what: "user id",
                    value: id.to_string(),
                });
            }
            if seed_upns.insert(folded, id).is_some() {
                return Err(DirectoryError::Duplicate {
                    what: "userPrincipalName",
                    value: upn.clone(),
                });
            }
        }
        for user in &seed.users {
            let id = *user.id.value().expect("checked above");
            let folded = &seed_ids[&id];
            // The UPN's holder, unless the seed rewrites that holder too (then with another UPN).
            if let Some(holder) = self.by_upn.get(folded.as_str()) {
                if *holder != id && !seed_ids.contains_key(holder) {
                    return Err(DirectoryError::UpnTaken {
                        upn: user.user_principal_name.value().cloned().unwrap_or_default(),
                        id: *holder,
                    });
                }
            }
            let bytes = user.to_compact().into_boxed_slice();
            match self.users.get(&id) {
                Some(row) if row.bytes == bytes => {
                    outcome.unchanged += 1;
                    continue;
                }
                Some(row) => {
                    outcome.replaced += 1;
                    let old: User = User::from_compact(&row.bytes).unwrap_or_default();
                    if old.user_principal_name.value().map(|u| fold(u)).as_ref() != Some(folded) {
                        removals.push(Change::User(id, None));
                    }
                }
                None => outcome.created += 1,
            }
            writes.push(Change::User(id, Some(bytes)));
        }
        let mut group_ids = BTreeSet::new();
        for group in &seed.groups {
            let id = *group.id.value().ok_or(DirectoryError::NoId { what: "group" })?;
            if !group_ids.insert(id) {
                return Err(DirectoryError::Duplicate {
                    what: "group id",
                    value: id.to_string(),
                });
            }
            let bytes = group.to_compact().into_boxed_slice();
            match self.groups.get(&id) {
                Some(row) if row.bytes == bytes => {
                    outcome.unchanged += 1;
                    continue;
                }
                Some(_) => outcome.replaced += 1,
                None => outcome.created += 1,
            }
            writes.push(Change::Group(id, Some(bytes)));
        }
        if let Some(organization) = &seed.organization {
            let bytes = organization.to_compact().into_boxed_slice();
            match &self.organization {
                Some(stored) if *stored == bytes => outcome.unchanged += 1,
                stored => {
                    if stored.is_some() {
                        outcome.replaced += 1;
                    } else {
                        outcome.created += 1;
                    }
                    writes.push(Change::Organization(Some(bytes)));
                }
            }
        }
        removals.extend(writes);
        Ok((removals, outcome))
    }

    /// Whether a user has `id`.
    pub(crate) fn has_user(&self, id: &Guid) -> bool {
        self.users.contains_key(id)
    }

    /// Whether a group has `id`.
    pub(crate) fn has_group(&self, id: &Guid) -> bool {
        self.groups.contains_key(id)
    }

    /// The row of user `id`.
    pub(crate) fn user_bytes(&self, id: &Guid) -> Option<Box<[u8]>> {
        self.users.get(id).map(|r| r.bytes.clone())
    }

    /// The row of the user whose UPN is `upn` (without regard to case).
    pub(crate) fn user_bytes_by_upn(&self, upn: &str) -> Option<Box<[u8]>> {
        self.by_upn.get(fold(upn).as_str()).and_then(|id| self.user_bytes(id))
    }

    /// The row of group `id`.
    pub(crate) fn group_bytes(&self, id: &Guid) -> Option<Box<[u8]>> {
        self.groups.get(id).map(|r| r.bytes.clone())
    }

    /// The organization's row.
    pub(crate) fn organization_bytes(&self) -> Option<Box<[u8]>> {
        self.organization.clone()
    }

    /// The UPN domains and how many users each has, by name.
    pub(crate) fn domains(&self) -> Vec<(String, usize)> {
        self.domains.iter().map(|(d, n)| (d.to_string(), *n)).collect()
    }

    /// Up to `top` users' rows after `after`, and where to continue.
    pub(crate) fn user_page(
        &self,
        filter: &UserFilter,
        after: Option<&Cursor>,
        top: usize,
    ) -> Result<RowPage, DirectoryError> {
        let classes = filter.classes();
        if let Some(prefix) = &filter.upn_prefix {
            let after = match after {
                None => None,
                Some(Cursor::Upn(u)) => Some(u.as_str()),
                Some(Cursor::Id(_)) => return Err(DirectoryError::Cursor),
            };
            let mut page = Vec::new();
            let mut last = None;
            for (upn, id) in self.upn_range(prefix, after) {
                let row = &self.users[id];
                if classes & (1 << row.class) == 0 {
                    continue;
                }
                if page.len() == top {
                    return Ok((page, last.map(|u: &str| Cursor::Upn(u.to_owned()))));
                }
                page.push(row.bytes.clone());
                last = Some(upn);
            }
            return Ok((page, None));
        }
        let after = match after {
            None => None,
            Some(Cursor::Id(id)) => Some(*id),
            Some(Cursor::Upn(_)) => return Err(DirectoryError::Cursor),
        };
        let ids: Box<dyn Iterator<Item = Guid> + '_> = if classes == 0b1_1111_1111 {
            Box::new(self.users.range(range_after(after)).map(|(id, _)| *id))
        } else {
            let sets = (0..9)
                .filter(|c| classes & (1 << c) != 0)
                .map(|c| self.classes[c].range(range_after(after)).copied());
            Box::new(merge(sets.collect()))
        };
        Ok(take_page(ids, top, |id| self.users[id].bytes.clone()))
    }

    /// How many users the filter admits.
    pub(crate) fn count_users(&self, filter: &UserFilter) -> usize {
        let classes = filter.classes();
        match &filter.upn_prefix {
            Some(prefix) => self
                .upn_range(prefix, None)
                .filter(|(_, id)| classes & (1 << self.users[*id].class) != 0)
                .count(),
            None => (0..9)
                .filter(|c| classes & (1 << c) != 0)
                .map(|c| self.classes[c].len())
                .sum(),
        }
    }

    /// Up to `top` groups' rows after `after`, and where to continue.
    pub(crate) fn group_page(
        &self,
        filter: &GroupFilter,
        after: Option<&Cursor>,
        top: usize,
    ) -> Result<RowPage, DirectoryError> {
        let after = match after {
            None => None,
            Some(Cursor::Id(id)) => Some(*id),
            Some(Cursor::Upn(_)) => return Err(DirectoryError::Cursor),
        };
        let ids: Box<dyn Iterator<Item = Guid> + '_> = match filter.microsoft_365 {
            Some(true) => Box::new(self.microsoft_365.range(range_after(after)).copied()),
            Some(false) => Box::new(
                self.groups
                    .range(range_after(after))
                    .filter(|(_, r)| !r.microsoft_365)
                    .map(|(id, _)| *id),
            ),
            None => Box::new(self.groups.range(range_after(after)).map(|(id, _)| *id)),
        };
        Ok(take_page(ids, top, |id| self.groups[id].bytes.clone()))
    }

    /// How many groups the filter admits.
    pub(crate) fn count_groups(&self, filter: &GroupFilter) -> usize {
        match filter.microsoft_365 {
            Some(true) => self.microsoft_365.len(),
            Some(false) => self.groups.len() - self.microsoft_365.len(),
            None => self.groups.len(),
        }
    }

    /// The UPN index from `prefix` (folded) on, after `after` when given, while UPNs start with it.
    fn upn_range<'a>(&'a self, prefix: &str, after: Option<&str>) -> impl Iterator<Item = (&'a str, &'a Guid)> + 'a {
        let prefix = fold(prefix);
        let start = match after {
            Some(a) if a >= prefix.as_str() => Bound::Excluded(a.to_owned()),
            _ => Bound::Included(prefix.clone()),
        };
        let start = match &start {
            Bound::Included(s) => Bound::Included(s.as_str()),
            Bound::Excluded(s) => Bound::Excluded(s.as_str()),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.by_upn
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(k, v)| (&**k, v))
            .take_while(move |(k, _)| k.starts_with(prefix.as_str()))
    }
}

/// A page of rows and where to continue.
pub(crate) type RowPage = (Vec<Box<[u8]>>, Option<Cursor>);

fn range_after(after: Option<Guid>) -> (Bound<Guid>, Bound<Guid>) {
    match after {
        Some(a) => (Bound::Excluded(a), Bound::Unbounded),
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}

/// The first `top` ids' rows, and the last id as the cursor when more follow.
fn take_page(mut ids: impl Iterator<Item = Guid>, top: usize, row: impl Fn(&Guid) -> Box<[u8]>) -> RowPage {
    let mut page = Vec::with_capacity(top.min(1024));
    let mut last = None;
    for id in ids.by_ref().take(top) {
        page.push(row(&id));
        last = Some(id);
    }
    let next = match ids.next() {
        Some(_) => last.map(Cursor::Id),
        None => None,
    };
    (page, next)
}

/// Merges ascending iterators of distinct ids into one ascending iterator (the class sets are disjoint).
fn merge<'a>(sets: Vec<impl Iterator<Item = Guid> + 'a>) -> impl Iterator<Item = Guid> + 'a {
    let mut sets: Vec<_> = sets.into_iter().map(Iterator::peekable).collect();
    std::iter::from_fn(move || {
        let (best, _) = sets
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.peek().map(|id| (i, *id)))
            .min_by_key(|(_, id)| *id)?;
        sets[best].next()
    })
}

/// The store's reads of a decoded page.
pub(crate) fn decode_all<T: Compact>(rows: Vec<Box<[u8]>>) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|r| T::from_compact(r).map_err(|e| StoreError::Corrupt(format!("a directory row in memory: {e}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128, upn: &str, enabled: Option<bool>, kind: Option<&str>) -> User {
        User {
            id: Guid::from_u128(n).into(),
            user_principal_name: upn.to_owned().into(),
            account_enabled: enabled.into(),
            user_type: kind.map(str::to_owned).into(),
            ..User::default()
        }
    }

    #[test]
    fn filters_admit_exactly_their_classes() {
        let all = UserFilter::default().classes();
        assert_eq!(all, 0b1_1111_1111);
        let enabled_guests = UserFilter {
            account_enabled: Some(true),
            user_type: Some("guest".into()),
            upn_prefix: None,
        };
        assert_eq!(enabled_guests.classes(), 1 << 1);
        let other = UserFilter {
            user_type: Some("Foo".into()),
            ..UserFilter::default()
        };
        assert_eq!(
            other.classes(),
            0,
            "an unknown userType matches no one, not the untyped"
        );
        assert_eq!(class_of(&user(1, "a@b", None, None)), 8);
        assert_eq!(class_of(&user(1, "a@b", Some(false), Some("MEMBER"))), 3);
    }

    #[test]
    fn merged_class_pages_are_in_id_order_and_continue_after_their_cursor() {
        let mut d = Directory::default();
        for n in 0..30u128 {
            let u = user(
                n,
                &format!("u{n}@x.com"),
                Some(n % 2 == 0),
                Some(if n % 3 == 0 { "Guest" } else { "Member" }),
            );
            let change = d.create_user(&u).unwrap();
            d.apply(change).unwrap();
        }
        let enabled = UserFilter {
            account_enabled: Some(true),
            ..UserFilter::default()
        };
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (rows, next) = d.user_page(&enabled, after.as_ref(), 4).unwrap();
            seen.extend(
                decode_all::<User>(rows)
                    .unwrap()
                    .into_iter()
                    .map(|u| u.id.into_value().unwrap()),
            );
            match next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        let expected: Vec<Guid> = (0..30u128).filter(|n| n % 2 == 0).map(Guid::from_u128).collect();
        assert_eq!(seen, expected);
        assert_eq!(d.count_users(&enabled), 15);
    }
}
