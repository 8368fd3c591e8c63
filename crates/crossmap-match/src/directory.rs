//! One tenant's directory, normalised, in a canonical order, with lookups for checking a map against it.
//!
//! Objects are pushed one at a time (a page of Graph's answer can be dropped once pushed), their values
//! trimmed and lower-cased into one arena, and [`DirectoryBuilder::build`] puts them in a canonical order
//! (users by UPN, groups by object id): whatever order the objects came in, the same directory results.
//! Records stay in the order they were pushed (so passes over them read memory in order); the canonical
//! order is a permutation. Each lookup builds its index the first time it is used.

use crate::index::Index;
use crate::text::{Arena, Full, Span, normalize, split_address};
use crossmap_model::directory::{Group, Organization, User, is_external_upn};
use crossmap_model::{Guid, KeyError, UserKey};
use std::fmt;
use std::sync::OnceLock;

/// Why a directory object was refused, or a directory could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// An object lacks a property matching needs (ask Graph for it with `$select`).
    #[error("a {kind} without {property}{}", id.map(|id| format!(" (id {id})")).unwrap_or_default())]
    MissingProperty {
        /// `user`, `group` or `organization`.
        kind: &'static str,
        /// The object's id, when it has one.
        id: Option<Guid>,
        /// The missing property's JSON name.
        property: &'static str,
    },
    /// A user whose `userPrincipalName` is not a UPN.
    #[error("user {id}: userPrincipalName is not a UPN")]
    NotAUpn {
        /// The user's id.
        id: Guid,
        /// What is wrong with it.
        #[source]
        error: KeyError,
    },
    /// Two users with one UPN (compared without regard to case): Entra never returns that.
    #[error("users {first} and {second} share the userPrincipalName {upn:?}")]
    DuplicateUserPrincipalName {
        /// The UPN, normalised.
        upn: String,
        /// One user's id.
        first: Guid,
        /// The other's.
        second: Guid,
    },
    /// Two objects of one kind with one id.
    #[error("two {kind}s with the id {id}")]
    DuplicateId {
        /// `user` or `group`.
        kind: &'static str,
        /// The id.
        id: Guid,
    },
    /// More than 4 GiB of text or 4 billion objects in one directory.
    #[error("the directory is too large to index (more than 4 GiB of text or 4 billion objects)")]
    TooLarge,
}

impl From<Full> for DirectoryError {
    fn from(_: Full) -> Self {
        DirectoryError::TooLarge
    }
}

/// A group's kind as matching sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupKind {
    /// `groupTypes` contains `Unified`: the map's `m365Group`, named by its `mailNickname`.
    Microsoft365,
    /// Every other kind (security, mail-enabled security, distribution): the map's `regularGroup`, named
    /// by its `displayName`.
    Security,
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupKind::Microsoft365 => "Microsoft 365",
            GroupKind::Security => "security",
        })
    }
}

const GUEST: u8 = 1;
const EXTERNAL: u8 = 2;
const DISABLED: u8 = 4;

/// What matching keeps of a user: 80 bytes and its strings in the arena.
#[derive(Debug, Clone, Copy)]
struct UserRec {
    id: Guid,
    upn: Span,
    upn_key: Span,
    mail: Span,
    display: Span,
    display_key: Span,
    employee: Span,
    immutable: Span,
    addresses_start: u32,
    addresses_len: u16,
    flags: u8,
}

#[derive(Debug, Clone, Copy)]
struct GroupRec {
    id: Guid,
    display: Span,
    display_key: Span,
    nickname: Span,
    nickname_key: Span,
    kind: GroupKind,
}

/// Collects one tenant's objects; [`build`](Self::build) gives the [`Directory`].
///
/// ```
/// use crossmap_match::DirectoryBuilder;
/// use crossmap_model::Guid;
/// use crossmap_model::directory::User;
///
/// let mut b = DirectoryBuilder::new(Guid::from_u128(1));
/// let user: User = serde_json::from_str(r#"{"id": "00000000-0000-0000-0000-000000000002",
///     "userPrincipalName": "Ann@Contoso.com", "proxyAddresses": ["SMTP:Ann@Contoso.com", "smtp:al@contoso.com"]}"#).unwrap();
/// b.push_user(&user).unwrap();
/// let dir = b.build().unwrap();
/// let ann = dir.user_by_upn("ANN@contoso.com").unwrap();
/// assert_eq!(ann.user_principal_name(), "Ann@Contoso.com");
/// assert_eq!(ann.addresses().collect::<Vec<_>>(), ["al@contoso.com", "ann@contoso.com"]);
/// assert_eq!(dir.users_by_address("AL@contoso.com").next().unwrap().id(), ann.id());
/// ```
#[derive(Debug)]
pub struct DirectoryBuilder {
    tenant_id: Guid,
    display_name: String,
    domains: Vec<String>,
    text: Arena,
    users: Vec<UserRec>,
    groups: Vec<GroupRec>,
    addresses: Vec<Span>,
    address_owner: Vec<u32>,
    scratch: String,
}

impl DirectoryBuilder {
    /// An empty directory of the tenant `tenant_id` (the map's `SourceTenantCompanyID`).
    pub fn new(tenant_id: Guid) -> DirectoryBuilder {
        DirectoryBuilder {
            tenant_id,
            display_name: String::new(),
            domains: Vec::new(),
            text: Arena::default(),
            users: Vec::new(),
            groups: Vec::new(),
            addresses: Vec::new(),
            address_owner: Vec::new(),
            scratch: String::new(),
        }
    }

    /// An empty directory of the tenant `GET /organization` describes: its id, name and verified domains.
    pub fn from_organization(org: &Organization) -> Result<DirectoryBuilder, DirectoryError> {
        let id = *org.id.value().ok_or(DirectoryError::MissingProperty {
            kind: "organization",
            id: None,
            property: "id",
        })?;
        let mut b = DirectoryBuilder::new(id);
        b.display_name = org.display_name.value().cloned().unwrap_or_default();
        for d in org.domain_names() {
            b.verified_domain(d);
        }
        Ok(b)
    }

    /// Records a verified domain of the tenant (used to check `--map-domain` arguments).
    pub fn verified_domain(&mut self, name: &str) {
        let name = normalize(name).into_owned();
        if !name.is_empty() && !self.domains.contains(&name) {
            self.domains.push(name);
        }
    }

    /// Reserves room for `users` more users and `groups` more groups.
    pub fn reserve(&mut self, users: usize, groups: usize) {
        self.users.reserve(users);
        self.groups.reserve(groups);
        self.addresses.reserve(users * 4);
        self.address_owner.reserve(users * 4);
        // Room for a typical user's text: untouched room costs address space, not memory.
        self.text.reserve(users * 320 + groups * 64);
    }

    /// Adds a user: `id` and `userPrincipalName` are required; everything else matching reads is optional.
    pub fn push_user(&mut self, user: &User) -> Result<(), DirectoryError> {
        let missing = |property| DirectoryError::MissingProperty {
            kind: "user",
            id: user.id.value().copied(),
            property,
        };
        let id = *user.id.value().ok_or_else(|| missing("id"))?;
        let upn = user
            .user_principal_name
            .value()
            .map(|u| crate::text::trim(u))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| missing("userPrincipalName"))?;
        if !upn_shaped(upn) {
            UserKey::parse(upn).map_err(|error| DirectoryError::NotAUpn { id, error })?;
        }
        let owner = u32::try_from(self.users.len()).map_err(|_| DirectoryError::TooLarge)?;
        let rollback = (self.text.len(), self.addresses.len());
        let rec = self.user_rec(user, id, upn, owner);
        match rec {
            Ok(rec) => {
                self.users.push(rec);
                Ok(())
            }
            Err(e) => {
                self.text.truncate(rollback.0);
                self.addresses.truncate(rollback.1);
                self.address_owner.truncate(rollback.1);
                Err(e)
            }
        }
    }

    fn user_rec(&mut self, user: &User, id: Guid, upn: &str, owner: u32) -> Result<UserRec, DirectoryError> {
        let upn_span = self.text.push(upn)?;
        // Addresses: mail, SMTP proxy addresses, otherMails; normalised, each once, sorted.
        let addresses_start = self.addresses.len();
        let mail = user.mail.value().map_or("", |m| crate::text::trim(m));
        let proxies = user.smtp_addresses();
        let others = user.other_mails.value().into_iter().flatten().map(String::as_str);
        for a in std::iter::once(mail).chain(proxies).chain(others) {
            self.push_address(a, addresses_start)?;
        }
        let addresses_len = self.addresses.len() - addresses_start;
        let addresses_len = u16::try_from(addresses_len).map_err(|_| DirectoryError::TooLarge)?;
        self.address_owner.resize(self.addresses.len(), owner);
        let text = &self.text;
        self.addresses[addresses_start..].sort_unstable_by(|a, b| text.get(*a).cmp(text.get(*b)));
        // A value equal to one already held (the UPN is usually the primary address, mail the UPN) is
        // not stored twice.
        let mut known = [upn_span; 8];
        let mut k = 1;
        for &a in self.addresses[addresses_start..].iter().take(known.len() - 1) {
            known[k] = a;
            k += 1;
        }
        let upn_key = self.text.push_normalized_once(upn, &known[..k])?;
        let mail = if mail.is_empty() {
            Span::default()
        } else {
            self.intern(mail, &known[..k])?
        };
        let (display, display_key) = self.text.push_with_key(opt(&user.display_name))?;
        let employee = self.text.push_normalized(opt(&user.employee_id))?;
        let immutable = self.text.push_normalized(opt(&user.on_premises_immutable_id))?;
        let mut flags = 0;
        if user.is_guest() {
            flags |= GUEST;
        }
        if is_external_upn(upn) {
            flags |= EXTERNAL;
        }
        if !user.is_enabled() {
            flags |= DISABLED;
        }
        Ok(UserRec {
            id,
            upn: upn_span,
            upn_key,
            mail,
            display,
            display_key,
            employee,
            immutable,
            addresses_start: u32::try_from(addresses_start).map_err(|_| DirectoryError::TooLarge)?,
            addresses_len,
            flags,
        })
    }

    /// The span of one of `known` holding `value`, else `value` pushed.
    fn intern(&mut self, value: &str, known: &[Span]) -> Result<Span, DirectoryError> {
        match known.iter().find(|s| self.text.get(**s) == value) {
            Some(&span) => Ok(span),
            None => Ok(self.text.push(value)?),
        }
    }

    /// Adds one address of the user whose addresses start at `start`, unless it is not an address or the
    /// user already has it.
    fn push_address(&mut self, raw: &str, start: usize) -> Result<(), DirectoryError> {
        self.scratch.clear();
        crate::text::push_normalized(&mut self.scratch, raw);
        if split_address(&self.scratch).is_none()
            || self.addresses[start..]
                .iter()
                .any(|s| self.text.get(*s) == self.scratch)
        {
            return Ok(());
        }
        let span = self.text.push(&self.scratch)?;
        self.addresses.push(span);
        Ok(())
    }

    /// Adds a group: `id` is required.
    pub fn push_group(&mut self, group: &Group) -> Result<(), DirectoryError> {
        let id = *group.id.value().ok_or(DirectoryError::MissingProperty {
            kind: "group",
            id: None,
            property: "id",
        })?;
        if self.groups.len() >= u32::MAX as usize - 1 {
            return Err(DirectoryError::TooLarge);
        }
        let (display, display_key) = self.text.push_with_key(opt(&group.display_name))?;
        let (nickname, nickname_key) = self.text.push_with_key(opt(&group.mail_nickname))?;
        self.groups.push(GroupRec {
            id,
            display,
            display_key,
            nickname,
            nickname_key,
            kind: if group.is_microsoft_365() {
                GroupKind::Microsoft365
            } else {
                GroupKind::Security
            },
        });
        Ok(())
    }

    /// Puts users in canonical order (by normalised UPN) and groups (by id). Fails on two users with one
    /// UPN or id, or two groups with one id. Nothing is indexed yet: each index is built on first use.
    pub fn build(self) -> Result<Directory, DirectoryError> {
        if self.users.len() >= u32::MAX as usize - 1 || self.addresses.len() >= u32::MAX as usize - 1 {
            return Err(DirectoryError::TooLarge);
        }
        let DirectoryBuilder {
            tenant_id,
            display_name,
            domains,
            mut text,
            users,
            groups,
            addresses,
            address_owner,
            scratch: _,
        } = self;
        text.shrink();
        // Records stay where they were pushed (their text is in that order too, so passes over them read
        // memory in order); the canonical order is a permutation. The sort compares 32-byte prefixes held
        // in the array, the whole strings only on a tie.
        let key = |u: &UserRec| text.get(u.upn_key);
        let mut order: Vec<(u128, u128, u32)> = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let (a, b) = prefix(key(u));
                (a, b, i as u32)
            })
            .collect();
        order.sort_unstable_by(|x, y| {
            (x.0, x.1)
                .cmp(&(y.0, y.1))
                .then_with(|| key(&users[x.2 as usize]).cmp(key(&users[y.2 as usize])))
        });
        for w in order.windows(2) {
            let (a, b) = (&users[w[0].2 as usize], &users[w[1].2 as usize]);
            if (w[0].0, w[0].1) == (w[1].0, w[1].1) && key(a) == key(b) {
                return Err(DirectoryError::DuplicateUserPrincipalName {
                    upn: key(a).to_owned(),
                    first: a.id,
                    second: b.id,
                });
            }
        }
        let user_order: Vec<u32> = order.into_iter().map(|(_, _, i)| i).collect();
        let user_rank = inverse(&user_order);
        duplicate_id("user", users.iter().map(|u| u.id))?;
        let mut by_id: Vec<(u128, u32)> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.as_u128(), i as u32))
            .collect();
        by_id.sort_unstable();
        if let Some(w) = by_id.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(DirectoryError::DuplicateId {
                kind: "group",
                id: Guid::from_u128(w[0].0),
            });
        }
        let group_order: Vec<u32> = by_id.into_iter().map(|(_, i)| i).collect();
        let group_rank = inverse(&group_order);
        Ok(Directory {
            tenant_id,
            display_name,
            domains,
            text,
            users,
            user_order,
            user_rank,
            groups,
            group_order,
            group_rank,
            addresses,
            address_owner,
            indexes: Indexes::default(),
        })
    }
}

fn duplicate_id(kind: &'static str, ids: impl Iterator<Item = Guid>) -> Result<(), DirectoryError> {
    let mut ids: Vec<u128> = ids.map(|g| g.as_u128()).collect();
    ids.sort_unstable();
    match ids.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(DirectoryError::DuplicateId {
            kind,
            id: Guid::from_u128(w[0]),
        }),
        None => Ok(()),
    }
}

fn inverse(order: &[u32]) -> Vec<u32> {
    let mut rank = vec![0u32; order.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

fn opt(p: &crossmap_model::Patch<String>) -> &str {
    p.value().map_or("", String::as_str)
}

/// A UPN surely valid for [`UserKey::parse`]: printable ASCII, one `@` inside. Anything else is left to it.
fn upn_shaped(upn: &str) -> bool {
    let b = upn.as_bytes();
    b.iter().all(|c| c.is_ascii_graphic())
        && b.iter().filter(|c| **c == b'@').count() == 1
        && b.first() != Some(&b'@')
        && b.last() != Some(&b'@')
}

/// The first 32 bytes, big-endian, zero-padded: ordering these agrees with ordering the strings.
fn prefix(s: &str) -> (u128, u128) {
    let mut buf = [0u8; 32];
    let n = s.len().min(32);
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    let (a, b) = buf.split_at(16);
    (
        u128::from_be_bytes(a.try_into().unwrap_or_default()),
        u128::from_be_bytes(b.try_into().unwrap_or_default()),
    )
}

/// Lookup indexes, each built on first use (matching itself needs none of them).
#[derive(Debug, Default)]
struct Indexes {
    user_upn: OnceLock<Index>,
    user_id: OnceLock<Index>,
    user_immutable: OnceLock<Index>,
    user_employee: OnceLock<Index>,
    user_display: OnceLock<Index>,
    user_address: OnceLock<Index>,
    group_id: OnceLock<Index>,
    group_nickname: OnceLock<Index>,
    group_display: OnceLock<Index>,
}

/// One tenant's users and groups, normalised, in canonical order (users by UPN, groups by id). Lookups
/// take any spelling (they normalise their argument) and give objects in canonical order; each kind of
/// lookup builds its index the first time it is used.
#[derive(Debug)]
pub struct Directory {
    tenant_id: Guid,
    display_name: String,
    domains: Vec<String>,
    text: Arena,
    /// In push order; `user_order` is the canonical order, `user_rank` its inverse.
    users: Vec<UserRec>,
    user_order: Vec<u32>,
    user_rank: Vec<u32>,
    groups: Vec<GroupRec>,
    group_order: Vec<u32>,
    group_rank: Vec<u32>,
    addresses: Vec<Span>,
    address_owner: Vec<u32>,
    indexes: Indexes,
}

impl Directory {
    fn user_key(&self, u: u32, f: impl Fn(&UserRec) -> Span) -> Option<&str> {
        let span = f(&self.users[u as usize]);
        (!span.is_empty()).then(|| self.text.get(span))
    }

    fn group_key(&self, g: u32, f: impl Fn(&GroupRec) -> Span) -> Option<&str> {
        let span = f(&self.groups[g as usize]);
        (!span.is_empty()).then(|| self.text.get(span))
    }

    fn multi<'s>(
        &'s self,
        cell: &'s OnceLock<Index>,
        n: usize,
        key: impl Fn(u32) -> Option<&'s str>,
        k: &str,
    ) -> Vec<u32> {
        let index = cell.get_or_init(|| Index::multi(n, &key));
        // Not `key` itself: the closure shortens the keys' lifetime to `k`'s, which the index compares with.
        #[allow(clippy::redundant_closure)]
        index.get(&k, |u| key(u)).collect()
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> Guid {
        self.tenant_id
    }

    /// The organisation's display name, empty when unknown.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The verified domains, normalised; empty when unknown.
    pub fn verified_domains(&self) -> &[String] {
        &self.domains
    }

    /// Bytes held by the directory's text, records and the indexes built so far (roughly).
    pub fn heap_bytes(&self) -> usize {
        let i = &self.indexes;
        self.text.len()
            + self.users.capacity() * (size_of::<UserRec>() + 8)
            + self.groups.capacity() * (size_of::<GroupRec>() + 8)
            + self.addresses.capacity() * (size_of::<Span>() + 4)
            + [
                &i.user_upn,
                &i.user_id,
                &i.user_immutable,
                &i.user_employee,
                &i.user_display,
                &i.user_address,
                &i.group_id,
                &i.group_nickname,
                &i.group_display,
            ]
            .iter()
            .filter_map(|i| i.get().map(Index::heap_bytes))
            .sum::<usize>()
    }

    /// The number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The number of groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Every user, ordered by UPN.
    pub fn users(&self) -> impl ExactSizeIterator<Item = UserRef<'_>> {
        self.user_order.iter().map(|&rec| UserRef { dir: self, rec })
    }

    /// Every group, ordered by id.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = GroupRef<'_>> {
        self.group_order.iter().map(|&rec| GroupRef { dir: self, rec })
    }

    /// The user at `index` in canonical order.
    pub fn user(&self, index: u32) -> Option<UserRef<'_>> {
        let rec = *self.user_order.get(index as usize)?;
        Some(UserRef { dir: self, rec })
    }

    /// The group at `index` in canonical order.
    pub fn group(&self, index: u32) -> Option<GroupRef<'_>> {
        let rec = *self.group_order.get(index as usize)?;
        Some(GroupRef { dir: self, rec })
    }

    /// Users in canonical order from record numbers.
    fn users_of(&self, mut recs: Vec<u32>) -> impl Iterator<Item = UserRef<'_>> + use<'_> {
        recs.sort_unstable_by_key(|r| self.user_rank[*r as usize]);
        recs.into_iter().map(|rec| UserRef { dir: self, rec })
    }

    fn groups_of(&self, mut recs: Vec<u32>) -> impl Iterator<Item = GroupRef<'_>> + use<'_> {
        recs.sort_unstable_by_key(|r| self.group_rank[*r as usize]);
        recs.into_iter().map(|rec| GroupRef { dir: self, rec })
    }

    /// The user with this UPN (any case).
    pub fn user_by_upn(&self, upn: &str) -> Option<UserRef<'_>> {
        let n = self.users.len();
        let recs = self.multi(
            &self.indexes.user_upn,
            n,
            |u| self.user_key(u, |r| r.upn_key),
            &normalize(upn),
        );
        self.users_of(recs).next()
    }

    /// The user with this object id.
    pub fn user_by_id(&self, id: Guid) -> Option<UserRef<'_>> {
        let key = |u: u32| Some(self.users[u as usize].id.as_u128());
        let index = self.indexes.user_id.get_or_init(|| Index::multi(self.users.len(), key));
        let rec = index.get(&id.as_u128(), key).next()?;
        Some(UserRef { dir: self, rec })
    }

    /// The users with this address in `mail`, an SMTP proxy address or `otherMails`.
    pub fn users_by_address<'s>(&'s self, address: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        let n = self.addresses.len();
        let key = |a: u32| Some(self.text.get(self.addresses[a as usize]));
        let slots = self.multi(&self.indexes.user_address, n, key, &normalize(address));
        self.users_of(slots.into_iter().map(|a| self.address_owner[a as usize]).collect())
    }

    /// The users with this `onPremisesImmutableId`.
    pub fn users_by_immutable_id<'s>(&'s self, value: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        let n = self.users.len();
        let recs = self.multi(
            &self.indexes.user_immutable,
            n,
            |u| self.user_key(u, |r| r.immutable),
            &normalize(value),
        );
        self.users_of(recs)
    }

    /// The users with this `employeeId`.
    pub fn users_by_employee_id<'s>(&'s self, value: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        let n = self.users.len();
        let recs = self.multi(
            &self.indexes.user_employee,
            n,
            |u| self.user_key(u, |r| r.employee),
            &normalize(value),
        );
        self.users_of(recs)
    }

    /// The users with this `displayName`.
    pub fn users_by_display_name<'s>(&'s self, value: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        let n = self.users.len();
        let recs = self.multi(
            &self.indexes.user_display,
            n,
            |u| self.user_key(u, |r| r.display_key),
            &normalize(value),
        );
        self.users_of(recs)
    }

    /// The group with this object id.
    pub fn group_by_id(&self, id: Guid) -> Option<GroupRef<'_>> {
        let key = |g: u32| Some(self.groups[g as usize].id.as_u128());
        let index = self
            .indexes
            .group_id
            .get_or_init(|| Index::multi(self.groups.len(), key));
        let rec = index.get(&id.as_u128(), key).next()?;
        Some(GroupRef { dir: self, rec })
    }

    /// The groups with this `mailNickname`, of any kind.
    pub fn groups_by_mail_nickname<'s>(&'s self, value: &str) -> impl Iterator<Item = GroupRef<'s>> + use<'s> {
        let n = self.groups.len();
        let recs = self.multi(
            &self.indexes.group_nickname,
            n,
            |g| self.group_key(g, |r| r.nickname_key),
            &normalize(value),
        );
        self.groups_of(recs)
    }

    /// The groups with this `displayName`, of any kind.
    pub fn groups_by_display_name<'s>(&'s self, value: &str) -> impl Iterator<Item = GroupRef<'s>> + use<'s> {
        let n = self.groups.len();
        let recs = self.multi(
            &self.indexes.group_display,
            n,
            |g| self.group_key(g, |r| r.display_key),
            &normalize(value),
        );
        self.groups_of(recs)
    }

    // For the engine: records by their number in push order.

    pub(crate) fn user_at(&self, rec: u32) -> UserRef<'_> {
        UserRef { dir: self, rec }
    }

    pub(crate) fn group_at(&self, rec: u32) -> GroupRef<'_> {
        GroupRef { dir: self, rec }
    }

    pub(crate) fn user_rank(&self, rec: u32) -> u32 {
        self.user_rank[rec as usize]
    }

    pub(crate) fn group_rank(&self, rec: u32) -> u32 {
        self.group_rank[rec as usize]
    }

    pub(crate) fn user_order(&self) -> &[u32] {
        &self.user_order
    }

    pub(crate) fn group_order(&self) -> &[u32] {
        &self.group_order
    }
}

/// A user of a [`Directory`]: original spellings for display, normalised values for comparison.
#[derive(Clone, Copy)]
pub struct UserRef<'a> {
    dir: &'a Directory,
    rec: u32,
}

impl<'a> UserRef<'a> {
    fn rec(&self) -> &'a UserRec {
        &self.dir.users[self.rec as usize]
    }

    /// The record number (push order), the engine's handle.
    pub(crate) fn record(&self) -> u32 {
        self.rec
    }

    fn text(&self, span: Span) -> &'a str {
        self.dir.text.get(span)
    }

    /// The position in the directory's canonical order (by UPN).
    pub fn index(&self) -> u32 {
        self.dir.user_rank[self.rec as usize]
    }

    /// The object id.
    pub fn id(&self) -> Guid {
        self.rec().id
    }

    /// The UPN as Graph spells it.
    pub fn user_principal_name(&self) -> &'a str {
        self.text(self.rec().upn)
    }

    /// The UPN, normalised.
    pub fn user_principal_name_key(&self) -> &'a str {
        self.text(self.rec().upn_key)
    }

    /// `mail` as Graph spells it, empty when none.
    pub fn mail(&self) -> &'a str {
        self.text(self.rec().mail)
    }

    /// `displayName` as Graph spells it, empty when none.
    pub fn display_name(&self) -> &'a str {
        self.text(self.rec().display)
    }

    /// `displayName`, normalised.
    pub(crate) fn display_key(&self) -> &'a str {
        self.text(self.rec().display_key)
    }

    /// `employeeId`, normalised, empty when none.
    pub fn employee_id(&self) -> &'a str {
        self.text(self.rec().employee)
    }

    /// `onPremisesImmutableId`, normalised, empty when none.
    pub fn on_premises_immutable_id(&self) -> &'a str {
        self.text(self.rec().immutable)
    }

    /// Every address (`mail`, SMTP proxy addresses, `otherMails`), normalised, each once, sorted.
    pub fn addresses(&self) -> impl Iterator<Item = &'a str> + Clone + use<'a> {
        let r = self.rec();
        let start = r.addresses_start as usize;
        self.dir.addresses[start..start + r.addresses_len as usize]
            .iter()
            .map(|s| self.dir.text.get(*s))
    }

    /// Whether `userType` is `Guest`.
    pub fn is_guest(&self) -> bool {
        self.rec().flags & GUEST != 0
    }

    /// Whether the UPN is an external identity's (`#EXT#`).
    pub fn is_external(&self) -> bool {
        self.rec().flags & EXTERNAL != 0
    }

    /// Whether the account is enabled (not explicitly `accountEnabled: false`).
    pub fn is_enabled(&self) -> bool {
        self.rec().flags & DISABLED == 0
    }
}

impl fmt::Debug for UserRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserRef").field(&self.user_principal_name()).finish()
    }
}

impl PartialEq for UserRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.dir, other.dir) && self.rec == other.rec
    }
}

impl Eq for UserRef<'_> {}

/// A group of a [`Directory`].
#[derive(Clone, Copy)]
pub struct GroupRef<'a> {
    dir: &'a Directory,
    rec: u32,
}

impl<'a> GroupRef<'a> {
    fn rec(&self) -> &'a GroupRec {
        &self.dir.groups[self.rec as usize]
    }

    /// The record number (push order), the engine's handle.
    pub(crate) fn record(&self) -> u32 {
        self.rec
    }

    /// The position in the directory's canonical order (by id).
    pub fn index(&self) -> u32 {
        self.dir.group_rank[self.rec as usize]
    }

    /// The object id.
    pub fn id(&self) -> Guid {
        self.rec().id
    }

    /// `displayName` as Graph spells it, empty when none.
    pub fn display_name(&self) -> &'a str {
        self.dir.text.get(self.rec().display)
    }

    /// `mailNickname` as Graph spells it, empty when none.
    pub fn mail_nickname(&self) -> &'a str {
        self.dir.text.get(self.rec().nickname)
    }

    /// `displayName`, normalised.
    pub(crate) fn display_key(&self) -> &'a str {
        self.dir.text.get(self.rec().display_key)
    }

    /// `mailNickname`, normalised.
    pub(crate) fn mail_nickname_key(&self) -> &'a str {
        self.dir.text.get(self.rec().nickname_key)
    }

    /// Microsoft 365 or security.
    pub fn kind(&self) -> GroupKind {
        self.rec().kind
    }

    /// The identity map's name column: the `mailNickname` of a Microsoft 365 group, else the `displayName`.
    pub fn map_name(&self) -> &'a str {
        match self.kind() {
            GroupKind::Microsoft365 => self.mail_nickname(),
            GroupKind::Security => self.display_name(),
        }
    }
}

impl fmt::Debug for GroupRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GroupRef")
            .field(&self.id().to_string())
            .field(&self.display_name())
            .finish()
    }
}

impl PartialEq for GroupRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.dir, other.dir) && self.rec == other.rec
    }
}

impl Eq for GroupRef<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: serde_json::Value) -> User {
        serde_json::from_value(v).unwrap()
    }

    fn guid(n: u128) -> String {
        Guid::from_u128(n).to_string()
    }

    #[test]
    fn users_are_sorted_by_upn_whatever_the_push_order() {
        let upns = [
            "b@x.com",
            "A@x.com",
            "aaaaaaaaaaaaaaaaaaaab@x.com",
            "aaaaaaaaaaaaaaaaaaaaa@x.com",
        ];
        let mut b = DirectoryBuilder::new(Guid::NIL);
        for (i, u) in upns.iter().enumerate() {
            b.push_user(&user(json!({"id": guid(i as u128), "userPrincipalName": u})))
                .unwrap();
        }
        let d = b.build().unwrap();
        let got: Vec<_> = d.users().map(|u| u.user_principal_name_key()).collect();
        assert_eq!(
            got,
            [
                "a@x.com",
                "aaaaaaaaaaaaaaaaaaaaa@x.com",
                "aaaaaaaaaaaaaaaaaaaab@x.com",
                "b@x.com"
            ]
        );
        assert_eq!(d.user_by_upn(" B@X.COM").unwrap().id(), Guid::from_u128(0));
        assert_eq!(
            d.user_by_id(Guid::from_u128(1)).unwrap().user_principal_name(),
            "A@x.com"
        );
    }

    #[test]
    fn addresses_come_from_mail_smtp_proxies_and_other_mails_once_each() {
        let mut b = DirectoryBuilder::new(Guid::NIL);
        b.push_user(&user(json!({
            "id": guid(1), "userPrincipalName": "a@x.com", "mail": "Ann@X.com",
            "proxyAddresses": ["SMTP:ann@x.com", "smtp:old@x.com", "X500:/o=x", "sip:ann@x.com"],
            "otherMails": ["ann@home.net", "not an address", "OLD@x.com"]
        })))
        .unwrap();
        let d = b.build().unwrap();
        let a = d.user(0).unwrap();
        assert_eq!(
            a.addresses().collect::<Vec<_>>(),
            ["ann@home.net", "ann@x.com", "old@x.com"]
        );
        assert_eq!(a.mail(), "Ann@X.com");
        assert_eq!(d.users_by_address("old@X.com").count(), 1);
    }

    #[test]
    fn bad_and_duplicate_objects_are_refused() {
        let mut b = DirectoryBuilder::new(Guid::NIL);
        let e = b.push_user(&user(json!({"id": guid(1)}))).unwrap_err();
        assert!(
            matches!(
                e,
                DirectoryError::MissingProperty {
                    property: "userPrincipalName",
                    ..
                }
            ),
            "{e}"
        );
        let e = b
            .push_user(&user(json!({"id": guid(1), "userPrincipalName": "a b@x.com"})))
            .unwrap_err();
        assert!(matches!(e, DirectoryError::NotAUpn { .. }), "{e}");
        assert_eq!(b.users.len(), 0);
        b.push_user(&user(json!({"id": guid(1), "userPrincipalName": "a@x.com"})))
            .unwrap();
        b.push_user(&user(json!({"id": guid(2), "userPrincipalName": "A@X.com"})))
            .unwrap();
        let e = b.build().unwrap_err();
        assert!(matches!(e, DirectoryError::DuplicateUserPrincipalName { .. }), "{e}");
    }

    #[test]
    fn the_fast_upn_check_never_accepts_what_the_model_refuses() {
        for s in [
            "a@b",
            "a@@b",
            "@b",
            "a@",
            "ab",
            "a b@c",
            "a\t@c",
            "a@b@c",
            "ä@b",
            "a@b.com",
            "a#EXT#@b.com",
        ] {
            if upn_shaped(s) {
                assert!(UserKey::parse(s).is_ok(), "{s}");
            }
        }
    }

    #[test]
    fn group_kinds_and_names() {
        let mut b = DirectoryBuilder::new(Guid::NIL);
        let g: Group = serde_json::from_value(
            json!({"id": guid(5), "displayName": "Sales Team", "mailNickname": "Sales", "groupTypes": ["Unified"]}),
        )
        .unwrap();
        b.push_group(&g).unwrap();
        let d = b.build().unwrap();
        let g = d.group_by_id(Guid::from_u128(5)).unwrap();
        assert_eq!((g.kind(), g.map_name()), (GroupKind::Microsoft365, "Sales"));
        assert_eq!(d.groups_by_mail_nickname("sales").count(), 1);
        assert_eq!(d.groups_by_display_name("SALES TEAM").count(), 1);
    }
}
