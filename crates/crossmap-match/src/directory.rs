//! One tenant's directory, normalised and indexed for matching and for looking objects up.
//!
//! Objects are pushed one at a time (a page of Graph's answer can be dropped once pushed), their values
//! trimmed and lower-cased into one arena, and [`DirectoryBuilder::build`] sorts them into a canonical
//! order (users by UPN, groups by object id) and indexes them: whatever order the objects came in, the
//! same directory results.

use crate::index::{Chain, Index};
use crate::text::{Arena, Full, Span, normalize, split_address};
use crossmap_model::directory::{Group, Organization, User, is_external_upn};
use crossmap_model::{Guid, KeyError, MappingKey, UserKey};
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
            .map(|u| u.trim())
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
        let mail = user.mail.value().map_or("", |m| m.trim());
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
        let upn_key = self.intern(&normalize(upn), &known[..k])?;
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

    /// Sorts and indexes: users by UPN, groups by id. Fails on two users with one UPN or id, or two groups
    /// with one id.
    pub fn build(self) -> Result<Directory, DirectoryError> {
        if self.users.len() >= u32::MAX as usize - 1 || self.addresses.len() >= u32::MAX as usize - 1 {
            return Err(DirectoryError::TooLarge);
        }
        let DirectoryBuilder {
            tenant_id,
            display_name,
            domains,
            text: old,
            users: old_users,
            groups: old_groups,
            addresses: old_addresses,
            address_owner: _,
            scratch: _,
        } = self;
        // Canonical order: by normalised UPN. The sort compares a 16-byte prefix held in the array (no
        // memory access per comparison), the whole strings only on a tie.
        let key = |u: &UserRec| old.get(u.upn_key);
        let mut order: Vec<(u128, u32)> = old_users
            .iter()
            .enumerate()
            .map(|(i, u)| (prefix(key(u)), i as u32))
            .collect();
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| key(&old_users[a.1 as usize]).cmp(key(&old_users[b.1 as usize])))
        });
        // Everything is laid out again in canonical order (records, addresses, text), so that every later
        // pass (indexing, matching, output) reads memory in order instead of at random.
        let mut text = Arena::with_capacity(old.len());
        let mut users = Vec::with_capacity(old_users.len());
        let mut addresses = Vec::with_capacity(old_addresses.len());
        let mut address_owner = Vec::with_capacity(old_addresses.len());
        for (new, &(_, i)) in order.iter().enumerate() {
            let mut u = old_users[i as usize];
            let a = u.addresses_start as usize..u.addresses_start as usize + u.addresses_len as usize;
            let mut spans = [
                u.upn,
                u.upn_key,
                u.mail,
                u.display,
                u.display_key,
                u.employee,
                u.immutable,
            ];
            let (from, to) = text.copy_region(&old, spans.iter().chain(&old_addresses[a.clone()]).copied())?;
            for span in &mut spans {
                *span = span.moved(from, to);
            }
            [
                u.upn,
                u.upn_key,
                u.mail,
                u.display,
                u.display_key,
                u.employee,
                u.immutable,
            ] = spans;
            u.addresses_start = addresses.len() as u32;
            addresses.extend(old_addresses[a].iter().map(|s| s.moved(from, to)));
            address_owner.resize(addresses.len(), new as u32);
            users.push(u);
        }
        drop(order);
        drop(old_users);
        drop(old_addresses);
        let mut groups = old_groups;
        groups.sort_unstable_by_key(|g| g.id);
        for g in &mut groups {
            let mut spans = [g.display, g.display_key, g.nickname, g.nickname_key];
            let (from, to) = text.copy_region(&old, spans.iter().copied())?;
            for span in &mut spans {
                *span = span.moved(from, to);
            }
            [g.display, g.display_key, g.nickname, g.nickname_key] = spans;
        }
        drop(old);
        let mut dir = Directory {
            tenant_id,
            display_name,
            domains,
            text,
            users,
            groups,
            addresses,
            address_owner,
            indexes: Indexes::default(),
        };
        dir.indexes = Indexes::build(&dir)?;
        Ok(dir)
    }
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

/// The first 16 bytes, big-endian, zero-padded: ordering these agrees with ordering the strings.
fn prefix(s: &str) -> u128 {
    let mut buf = [0u8; 16];
    let n = s.len().min(16);
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(buf)
}

/// The indexes: those every matching needs are built with the directory, the others on first use.
#[derive(Debug, Default)]
struct Indexes {
    user_upn: Index,
    user_immutable: Index,
    user_employee: Index,
    user_address: Index,
    user_id: OnceLock<Index>,
    user_display: OnceLock<Index>,
    group_id: Index,
    group_nickname: Index,
    group_display: Index,
}

impl Indexes {
    fn build(d: &Directory) -> Result<Indexes, DirectoryError> {
        let n = d.users.len();
        let user_upn = Index::unique(n, |u| d.user_key(u, |r| r.upn_key)).map_err(|(a, b)| {
            DirectoryError::DuplicateUserPrincipalName {
                upn: d.text.get(d.users[a as usize].upn_key).to_owned(),
                first: d.users[a as usize].id,
                second: d.users[b as usize].id,
            }
        })?;
        // Two users with one id: sorting the ids finds them without an index.
        let mut ids: Vec<u128> = d.users.iter().map(|u| u.id.as_u128()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(DirectoryError::DuplicateId {
                kind: "user",
                id: Guid::from_u128(w[0]),
            });
        }
        drop(ids);
        let g = d.groups.len();
        let group_id = Index::unique(g, |i| Some(d.groups[i as usize].id.as_u128())).map_err(|(a, _)| {
            DirectoryError::DuplicateId {
                kind: "group",
                id: d.groups[a as usize].id,
            }
        })?;
        Ok(Indexes {
            user_upn,
            user_immutable: Index::multi(n, |u| d.user_key(u, |r| r.immutable)),
            user_employee: Index::multi(n, |u| d.user_key(u, |r| r.employee)),
            user_address: Index::multi(d.addresses.len(), |a| d.address_key(a)),
            user_id: OnceLock::new(),
            user_display: OnceLock::new(),
            group_id,
            group_nickname: Index::multi(g, |i| d.group_key(i, |r| r.nickname_key)),
            group_display: Index::multi(g, |i| d.group_key(i, |r| r.display_key)),
        })
    }
}

/// One tenant's users and groups, normalised, in canonical order, indexed by every value matching
/// compares. Lookups take any spelling (they normalise their argument).
#[derive(Debug)]
pub struct Directory {
    tenant_id: Guid,
    display_name: String,
    domains: Vec<String>,
    text: Arena,
    users: Vec<UserRec>,
    groups: Vec<GroupRec>,
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

    fn address_key(&self, a: u32) -> Option<&str> {
        Some(self.text.get(self.addresses[a as usize]))
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

    /// Bytes held by the directory's text, records and indexes (roughly; for benchmarks and capacity).
    pub fn heap_bytes(&self) -> usize {
        let i = &self.indexes;
        self.text.len()
            + self.users.capacity() * size_of::<UserRec>()
            + self.groups.capacity() * size_of::<GroupRec>()
            + self.addresses.capacity() * (size_of::<Span>() + 4)
            + [
                &i.user_upn,
                &i.user_immutable,
                &i.user_employee,
                &i.user_address,
                &i.group_id,
                &i.group_nickname,
                &i.group_display,
            ]
            .iter()
            .map(|i| i.heap_bytes())
            .sum::<usize>()
            + [&i.user_id, &i.user_display]
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
        (0..self.users.len() as u32).map(|i| UserRef { dir: self, index: i })
    }

    /// Every group, ordered by id.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = GroupRef<'_>> {
        (0..self.groups.len() as u32).map(|i| GroupRef { dir: self, index: i })
    }

    /// The user at `index` in canonical order.
    pub fn user(&self, index: u32) -> Option<UserRef<'_>> {
        ((index as usize) < self.users.len()).then_some(UserRef { dir: self, index })
    }

    /// The group at `index` in canonical order.
    pub fn group(&self, index: u32) -> Option<GroupRef<'_>> {
        ((index as usize) < self.groups.len()).then_some(GroupRef { dir: self, index })
    }

    pub(crate) fn user_upn_chain(&self, key: &str) -> Chain<'_> {
        self.indexes.user_upn.get(&key, |u| self.user_key(u, |r| r.upn_key))
    }

    pub(crate) fn user_immutable_chain(&self, key: &str) -> Chain<'_> {
        self.indexes
            .user_immutable
            .get(&key, |u| self.user_key(u, |r| r.immutable))
    }

    pub(crate) fn user_employee_chain(&self, key: &str) -> Chain<'_> {
        self.indexes
            .user_employee
            .get(&key, |u| self.user_key(u, |r| r.employee))
    }

    pub(crate) fn user_display_chain(&self, key: &str) -> Chain<'_> {
        self.indexes
            .user_display
            .get_or_init(|| Index::multi(self.users.len(), |u| self.user_key(u, |r| r.display_key)))
            .get(&key, |u| self.user_key(u, |r| r.display_key))
    }

    /// The users holding the address `key` (normalised), ascending, a user once per address.
    pub(crate) fn user_address_chain<'s>(&'s self, key: &str) -> impl Iterator<Item = u32> + Clone + use<'s> {
        self.indexes
            .user_address
            .get(&key, |a| self.address_key(a))
            .map(|a| self.address_owner[a as usize])
    }

    pub(crate) fn group_nickname_chain(&self, key: &str) -> Chain<'_> {
        self.indexes
            .group_nickname
            .get(&key, |g| self.group_key(g, |r| r.nickname_key))
    }

    pub(crate) fn group_display_chain(&self, key: &str) -> Chain<'_> {
        self.indexes
            .group_display
            .get(&key, |g| self.group_key(g, |r| r.display_key))
    }

    fn users_of<'s>(&'s self, chain: impl Iterator<Item = u32> + 's) -> impl Iterator<Item = UserRef<'s>> + 's {
        chain.map(|index| UserRef { dir: self, index })
    }

    /// The user with this UPN (any case).
    pub fn user_by_upn(&self, upn: &str) -> Option<UserRef<'_>> {
        self.users_of(self.user_upn_chain(&normalize(upn))).next()
    }

    /// The user with this object id.
    pub fn user_by_id(&self, id: Guid) -> Option<UserRef<'_>> {
        let key = |u: u32| Some(self.users[u as usize].id.as_u128());
        let chain = self
            .indexes
            .user_id
            .get_or_init(|| Index::multi(self.users.len(), key))
            .get(&id.as_u128(), key);
        self.users_of(chain).next()
    }

    /// The users with this address in `mail`, an SMTP proxy address or `otherMails`.
    pub fn users_by_address<'s>(&'s self, address: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        self.users_of(self.user_address_chain(&normalize(address)))
    }

    /// The users with this `onPremisesImmutableId`.
    pub fn users_by_immutable_id<'s>(&'s self, value: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        self.users_of(self.user_immutable_chain(&normalize(value)))
    }

    /// The users with this `employeeId`.
    pub fn users_by_employee_id<'s>(&'s self, value: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        self.users_of(self.user_employee_chain(&normalize(value)))
    }

    /// The users with this `displayName`.
    pub fn users_by_display_name<'s>(&'s self, value: &str) -> impl Iterator<Item = UserRef<'s>> + use<'s> {
        self.users_of(self.user_display_chain(&normalize(value)))
    }

    /// The group with this object id.
    pub fn group_by_id(&self, id: Guid) -> Option<GroupRef<'_>> {
        self.indexes
            .group_id
            .get(&id.as_u128(), |g| Some(self.groups[g as usize].id.as_u128()))
            .next()
            .map(|index| GroupRef { dir: self, index })
    }

    /// The groups with this `mailNickname`, of any kind.
    pub fn groups_by_mail_nickname<'s>(&'s self, value: &str) -> impl Iterator<Item = GroupRef<'s>> + use<'s> {
        self.group_nickname_chain(&normalize(value))
            .map(|index| GroupRef { dir: self, index })
    }

    /// The groups with this `displayName`, of any kind.
    pub fn groups_by_display_name<'s>(&'s self, value: &str) -> impl Iterator<Item = GroupRef<'s>> + use<'s> {
        self.group_display_chain(&normalize(value))
            .map(|index| GroupRef { dir: self, index })
    }

    pub(crate) fn user_rec_upn_key(&self, u: u32) -> &str {
        self.text.get(self.users[u as usize].upn_key)
    }

    pub(crate) fn user_rec_immutable(&self, u: u32) -> Option<&str> {
        self.user_key(u, |r| r.immutable)
    }

    pub(crate) fn user_rec_employee(&self, u: u32) -> Option<&str> {
        self.user_key(u, |r| r.employee)
    }

    pub(crate) fn user_rec_display_key(&self, u: u32) -> Option<&str> {
        self.user_key(u, |r| r.display_key)
    }

    pub(crate) fn user_rec_addresses(&self, u: u32) -> impl Iterator<Item = &str> + Clone {
        let r = &self.users[u as usize];
        let start = r.addresses_start as usize;
        self.addresses[start..start + r.addresses_len as usize]
            .iter()
            .map(|s| self.text.get(*s))
    }

    pub(crate) fn user_rec_flags(&self, u: u32) -> (bool, bool, bool) {
        let f = self.users[u as usize].flags;
        (f & GUEST != 0, f & EXTERNAL != 0, f & DISABLED != 0)
    }

    pub(crate) fn group_rec_kind(&self, g: u32) -> GroupKind {
        self.groups[g as usize].kind
    }

    pub(crate) fn group_rec_nickname_key(&self, g: u32) -> Option<&str> {
        self.group_key(g, |r| r.nickname_key)
    }

    pub(crate) fn group_rec_display_key(&self, g: u32) -> Option<&str> {
        self.group_key(g, |r| r.display_key)
    }
}

/// A user of a [`Directory`]: original spellings for display, normalised values for comparison.
#[derive(Clone, Copy)]
pub struct UserRef<'a> {
    dir: &'a Directory,
    index: u32,
}

impl<'a> UserRef<'a> {
    fn rec(&self) -> &'a UserRec {
        &self.dir.users[self.index as usize]
    }

    fn text(&self, span: Span) -> &'a str {
        self.dir.text.get(span)
    }

    /// The position in the directory's canonical order (by UPN).
    pub fn index(&self) -> u32 {
        self.index
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
        self.dir.user_rec_addresses(self.index)
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
        std::ptr::eq(self.dir, other.dir) && self.index == other.index
    }
}

impl Eq for UserRef<'_> {}

/// A group of a [`Directory`].
#[derive(Clone, Copy)]
pub struct GroupRef<'a> {
    dir: &'a Directory,
    index: u32,
}

impl<'a> GroupRef<'a> {
    fn rec(&self) -> &'a GroupRec {
        &self.dir.groups[self.index as usize]
    }

    /// The position in the directory's canonical order (by id).
    pub fn index(&self) -> u32 {
        self.index
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
        std::ptr::eq(self.dir, other.dir) && self.index == other.index
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
