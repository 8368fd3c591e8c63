//! Durable, tenant-partitioned storage of identity mappings: the delta engine's tables, made to survive.
//!
//! The current state lives in memory, one [`KindState`] per tenant and kind: the engine's compact rows,
//! each with the token of its latest change, which makes the change feed without a second copy.
//! Durability is an append-only log of changes in SQLite (WAL journal, `synchronous=FULL`): inserting rows at increasing keys is sequential B-tree appends, far cheaper than
//! updating random rows in place. One writer thread commits every request waiting at that moment in one
//! transaction (group commit: one fsync for many requests). A request is answered only once its changes
//! are durable, so a killed process loses nothing it acknowledged; each request's changes are written in
//! one transaction, so a request is all-or-nothing on disk too. On open the log is replayed, each record
//! checked against its CRC32C and its place in its tenant's sequence of changes: a damaged or missing
//! record stops the open with [`StoreError::Corrupt`] naming it, rather than be served.
//!
//! [`Store::compact`] (and the store itself, past [`AutoCompact`]'s threshold, on a thread of its own
//! beside the writers) folds the log into a checkpoint file of the current rows, so the data directory
//! and the time to open follow the state, not its history.
//!
//! ```
//! use crossmap_delta::{Mode, parse_request};
//! use crossmap_model::{GroupKey, MappingKey, SharePointGroupIdentityMapping as Group};
//! use crossmap_store::Store;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let body = r##"{"@context": "#$delta", "value": [{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
//!   "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}, "targetGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}}]}"##;
//! let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
//! {
//!     let store = Store::open(dir.path()).unwrap();
//!     store.apply::<Group>("tenant-1", parse_request(body).unwrap(), Mode::Atomic).unwrap();
//! }
//! let store = Store::open(dir.path()).unwrap(); // reopened: the mapping is still there
//! assert!(store.get::<Group>("tenant-1", &key).unwrap().is_some());
//! assert!(store.get::<Group>("tenant-2", &key).unwrap().is_none()); // tenants are kept apart
//! ```

mod checkpoint;
mod directory;
mod log;
mod state;

pub use directory::{Cursor, DirectoryError, DirectoryPage, DirectorySeed, GroupFilter, SeedOutcome, UserFilter};

use crossmap_delta::{
    Change, FeedError, MappingTable, Mode, Outcome, ParsedRequest, RequestError, Row, Rules, prepare_parsed,
};
use crossmap_model::directory::{Group, Organization, User};
use crossmap_model::{Guid, MappingKey, SharePointGroupIdentityMapping, SharePointUserIdentityMapping};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub use log::{AutoCompact, Compaction, SCHEMA_VERSION};
pub use state::KindState;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The request was refused by the engine; nothing changed.
    #[error("the request was refused")]
    Refused(#[source] RequestError),
    /// A directory write was refused (an id or UPN taken, a required key missing); nothing changed.
    #[error("the directory change was refused")]
    Directory(#[source] DirectoryError),
    /// A change-feed token is too old or unknown.
    #[error("the change-feed token cannot be served")]
    Feed(#[source] FeedError),
    /// The data directory was written by a newer crossmap.
    #[error(
        "the data directory was written by a newer crossmap (schema version {found}); this version reads up to {supported}"
    )]
    NewerSchema {
        /// The version found on disk.
        found: i64,
        /// The newest version this build reads.
        supported: i64,
    },
    /// The data directory holds something that does not decode.
    #[error("the data directory is corrupt: {0}")]
    Corrupt(String),
    /// SQLite failed.
    #[error("the database failed")]
    Database(#[from] rusqlite::Error),
    /// Another store holds the data directory: a running `crossmap serve`, or a store not yet dropped in
    /// this process. Two writers on one log would interleave their records and corrupt it.
    #[error("the data directory {path} is in use by another crossmap (a running `crossmap serve`?): stop it first")]
    InUse {
        /// The directory.
        path: String,
    },
    /// The data directory could not be created or read.
    #[error("cannot use the data directory {path}")]
    Io {
        /// The directory.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A write could not be made durable earlier; the store refuses further work until restarted, since
    /// its memory may hold changes its disk does not.
    #[error("the store stopped after a failed write: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the caller's request was at fault (a client error), rather than the store.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::Refused(_) | StoreError::Feed(_) | StoreError::Directory(_)
        )
    }
}

/// A mapping kind the store keeps: its code in the log, and where its state lives in a tenant.
pub trait StoredKind: Rules {
    /// The kind's code in the log (the mapping id's kind: 1 user, 2 group).
    const CODE: i64;
    /// The kind's state in a tenant.
    fn state(tenant: &Tenant) -> &Mutex<KindState<Self>>;
}

impl StoredKind for SharePointUserIdentityMapping {
    const CODE: i64 = 1;
    fn state(tenant: &Tenant) -> &Mutex<KindState<Self>> {
        &tenant.users
    }
}

impl StoredKind for SharePointGroupIdentityMapping {
    const CODE: i64 = 2;
    fn state(tenant: &Tenant) -> &Mutex<KindState<Self>> {
        &tenant.groups
    }
}

/// One tenant's mappings and directory.
#[derive(Debug, Default)]
pub struct Tenant {
    users: Mutex<KindState<SharePointUserIdentityMapping>>,
    groups: Mutex<KindState<SharePointGroupIdentityMapping>>,
    directory: RwLock<directory::Directory>,
}

/// The outcome of an applied request.
#[derive(Debug)]
pub struct Applied<M: Rules> {
    /// One outcome per item, in order.
    pub outcomes: Vec<Outcome<M>>,
    /// The change-feed token after the request.
    pub token: u64,
}

/// A page of a collection in key order.
#[derive(Debug)]
pub struct Page<M: Rules> {
    /// The mappings of the page.
    pub mappings: Vec<M>,
    /// The key to continue after, when there is more.
    pub next: Option<M::Key>,
}

/// Changes for a mirror, and the token to ask with next time.
#[derive(Debug)]
pub struct FeedPage<M: Rules> {
    /// At most one change per key, oldest first.
    pub changes: Vec<Change<M>>,
    /// The token to ask with next: the last change's when the page is full (more may follow), else the
    /// latest.
    pub token: u64,
    /// Whether more changes follow this page.
    pub more: bool,
}

/// How a durable store is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// When to compact the log without being asked (none: only on [`Store::compact`]).
    pub auto_compact: Option<AutoCompact>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            auto_compact: Some(AutoCompact::default()),
        }
    }
}

impl StoreOptions {
    /// These options with `auto` as the automatic compaction (none: only on request).
    pub fn auto_compact(self, auto: Option<AutoCompact>) -> StoreOptions {
        StoreOptions { auto_compact: auto }
    }
}

/// The mapping store: cheap to clone and share between threads.
#[derive(Clone, Debug)]
pub struct Store {
    shared: Arc<Shared>,
}

/// Takes the data directory's lock (an OS file lock on `dir/lock`, released by the kernel when the
/// process dies, so a SIGKILLed emulator never leaves the directory locked).
fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    let io = |source| StoreError::Io {
        path: dir.display().to_string(),
        source,
    };
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Every tenant, by name; shared with the compactor, which tells their states what a checkpoint dropped.
type Tenants = Arc<RwLock<HashMap<String, Arc<Tenant>>>>;

#[derive(Debug)]
struct Shared {
    tenants: Tenants,
    log: Option<log::Writer>,
    /// The data directory's lock, declared last so that it is released only once the writer and the
    /// compactor (dropped with `log`) have stopped.
    _lock: Option<std::fs::File>,
}

impl Store {
    /// A store that keeps nothing on disk (tests, `--in-memory`).
    pub fn in_memory() -> Store {
        Store {
            shared: Arc::new(Shared {
                tenants: Tenants::default(),
                log: None,
                _lock: None,
            }),
        }
    }

    /// Opens (creating if needed) the durable store in `dir`, compacting on its own by default, and
    /// restores its checkpoint and replays its log.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if needed) the durable store in `dir` with `options`.
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let lock = lock_dir(dir)?;
        let mut opening = Opening::default();
        let tenants = Tenants::default();
        let on_checkpoint = {
            let tenants = tenants.clone();
            Box::new(move |positions: &[(String, i64, u64, u64)]| {
                if let Err(e) = checkpointed(&tenants, positions) {
                    tracing::error!(error = %e, "the checkpoint's dropped removals could not be forgotten");
                }
            })
        };
        let writer = log::Writer::open(dir, options.auto_compact, &mut opening, on_checkpoint)?;
        tracing::info!(
            checkpoint_rows = opening.rows,
            records = opening.records,
            dir = %dir.display(),
            "store opened"
        );
        *tenants.write().unwrap_or_else(|e| e.into_inner()) = opening.tenants;
        writer.compact_if_due();
        Ok(Store {
            shared: Arc::new(Shared {
                tenants,
                log: Some(writer),
                _lock: Some(lock),
            }),
        })
    }

    /// Folds the log into the checkpoint and empties it: the data directory then holds about the current
    /// state, and the next open restores that instead of replaying history. Change-feed tokens from
    /// before a removal it drops get `resyncRequired` afterwards. Returns once that is durable; writes go
    /// on meanwhile (they wait only for the final shrink of the database, which then holds just the log
    /// written since). The store also does this on its own, on a thread of its own (see
    /// [`AutoCompact`]). An in-memory store has no log: nothing to do.
    ///
    /// ```
    /// use crossmap_delta::{Mode, parse_request};
    /// use crossmap_model::{GroupKey, MappingKey, SharePointGroupIdentityMapping as Group};
    /// use crossmap_store::Store;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let body = r##"{"@context": "#$delta", "value": [{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
    ///   "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}, "targetGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}}]}"##;
    /// let store = Store::open(dir.path()).unwrap();
    /// store.apply::<Group>("tenant-1", parse_request(body).unwrap(), Mode::Atomic).unwrap();
    /// let report = store.compact().unwrap();
    /// assert_eq!((report.records_removed, report.checkpoint_rows), (1, 1));
    /// drop(store);
    /// let store = Store::open(dir.path()).unwrap(); // restored from the checkpoint
    /// let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
    /// assert!(store.get::<Group>("tenant-1", &key).unwrap().is_some());
    /// ```
    pub fn compact(&self) -> Result<Compaction, StoreError> {
        let Some(writer) = &self.shared.log else {
            return Ok(Compaction::default());
        };
        writer.compact()
    }

    /// Validates and applies a delta request for `tenant`; returns once its changes are durable.
    pub fn apply<M: StoredKind>(
        &self,
        tenant: &str,
        request: ParsedRequest<M>,
        mode: Mode,
    ) -> Result<Applied<M>, StoreError> {
        self.write(tenant, mode, |_| Ok(request))
    }

    /// Reads the mapping of `key`, builds a request from it with `build`, and applies that request, all
    /// under one lock: nothing can change the mapping in between. This is how a read-then-write call
    /// (create unless present, update or delete if present) stays correct under concurrent writers;
    /// `build` refuses by returning its own error, and then nothing changes. Returns once the changes
    /// are durable.
    ///
    /// `build` runs while the kind's writers wait: keep it short.
    ///
    /// ```
    /// use crossmap_delta::{Mode, ParsedRequest};
    /// use crossmap_model::{DeltaItem, GroupKey, MappingKey, SharePointGroupIdentityMapping as Group};
    /// use crossmap_store::{Store, StoreError};
    ///
    /// #[derive(Debug)]
    /// enum Why { Taken, Store(StoreError) }
    /// impl From<StoreError> for Why {
    ///     fn from(e: StoreError) -> Why { Why::Store(e) }
    /// }
    ///
    /// let store = Store::in_memory();
    /// let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
    /// let mapping: Group = serde_json::from_str(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
    ///   "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}, "targetGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}}"#).unwrap();
    /// let create = |current: Option<Group>| match current {
    ///     Some(_) => Err(Why::Taken),
    ///     None => Ok(ParsedRequest { context: Some("#$delta".into()), items: vec![Ok(DeltaItem::Upsert(mapping.clone()))] }),
    /// };
    /// assert!(store.apply_with("tenant-1", &key, Mode::Atomic, create.clone()).is_ok());
    /// assert!(matches!(store.apply_with("tenant-1", &key, Mode::Atomic, create), Err(Why::Taken)));
    /// ```
    pub fn apply_with<M: StoredKind, E: From<StoreError>>(
        &self,
        tenant: &str,
        key: &M::Key,
        mode: Mode,
        build: impl FnOnce(Option<M>) -> Result<ParsedRequest<M>, E>,
    ) -> Result<Applied<M>, E> {
        self.write(tenant, mode, |table| build(table.get(key)))
    }

    /// The one write path: under the kind's lock, build the request from the table, prepare it, hand its
    /// changes to the log, record them in the feed and commit them to memory; then, outside the lock,
    /// wait until they are durable.
    fn write<M: StoredKind, E: From<StoreError>>(
        &self,
        tenant: &str,
        mode: Mode,
        build: impl FnOnce(&KindState<M>) -> Result<ParsedRequest<M>, E>,
    ) -> Result<Applied<M>, E> {
        let name = tenant;
        let tenant = self.tenant(tenant);
        let (ticket, outcomes, token) = {
            let mut state = lock(M::state(&tenant))?;
            let request = build(&state)?;
            let prepared = prepare_parsed(&*state, request, mode).map_err(StoreError::Refused)?;
            let first = state.latest() + 1;
            let records: Vec<log::Record> = prepared
                .changes
                .iter()
                .enumerate()
                .map(|(i, c)| log::Record::of(name, M::CODE, first + i as u64, c))
                .collect();
            // The log is fed in the order changes reach memory, under the kind's lock.
            let ticket = match &self.shared.log {
                Some(writer) if !records.is_empty() => Some(writer.submit(records)?),
                _ => None,
            };
            for (i, change) in prepared.changes.into_iter().enumerate() {
                state.record(first + i as u64, change);
            }
            (ticket, prepared.outcomes, state.latest())
        };
        if let Some(ticket) = ticket {
            ticket.wait()?;
        }
        Ok(Applied { outcomes, token })
    }

    /// The mapping of `key` in `tenant`.
    pub fn get<M: StoredKind>(&self, tenant: &str, key: &M::Key) -> Result<Option<M>, StoreError> {
        Ok(self
            .existing(tenant)
            .map(|t| lock(M::state(&t)).map(|s| s.get(key)))
            .transpose()?
            .flatten())
    }

    /// How many mappings of kind `M` `tenant` has.
    pub fn count<M: StoredKind>(&self, tenant: &str) -> Result<usize, StoreError> {
        Ok(self
            .existing(tenant)
            .map(|t| lock(M::state(&t)).map(|s| s.len()))
            .transpose()?
            .unwrap_or(0))
    }

    /// Up to `top` mappings in key order, after `after` (exclusive) when given.
    ///
    /// Each page scans the tenant's keys: fine for an emulator, linear in the collection's size.
    pub fn page<M: StoredKind>(&self, tenant: &str, after: Option<&M::Key>, top: usize) -> Result<Page<M>, StoreError> {
        let Some(t) = self.existing(tenant) else {
            return Ok(Page {
                mappings: Vec::new(),
                next: None,
            });
        };
        let state = lock(M::state(&t))?;
        let mut keys: Vec<&M::Key> = state
            .rows()
            .map(|(k, _)| k)
            .filter(|k| after.is_none_or(|a| *k > a))
            .collect();
        let more = keys.len() > top;
        if more {
            keys.select_nth_unstable(top);
            keys.truncate(top);
        }
        keys.sort_unstable();
        let next = if more { keys.last().map(|k| (*k).clone()) } else { None };
        let mappings = keys.into_iter().filter_map(|k| state.get(k)).collect();
        Ok(Page { mappings, next })
    }

    /// Up to `limit` changes after `token` for a mirror of `tenant`'s mappings of kind `M`.
    pub fn changes_since<M: StoredKind>(
        &self,
        tenant: &str,
        token: u64,
        limit: usize,
    ) -> Result<FeedPage<M>, StoreError> {
        let t = self.tenant(tenant);
        let state = lock(M::state(&t))?;
        let (entries, more) = state.changes_since(token, limit).map_err(StoreError::Feed)?;
        let last = entries.last().map_or(token, |(t, _)| *t);
        Ok(FeedPage {
            changes: entries.into_iter().map(|(_, c)| c).collect(),
            token: if more { last } else { state.latest() },
            more,
        })
    }

    /// The latest change-feed token of `tenant`'s mappings of kind `M`.
    pub fn latest_token<M: StoredKind>(&self, tenant: &str) -> Result<u64, StoreError> {
        Ok(self
            .existing(tenant)
            .map(|t| lock(M::state(&t)).map(|s| s.latest()))
            .transpose()?
            .unwrap_or(0))
    }

    /// Creates a user in `tenant`'s directory: it needs an `id` and a `userPrincipalName`, neither taken
    /// (the UPN compared without regard to case); returns once the change is durable.
    ///
    /// ```
    /// use crossmap_model::{Guid, directory::User};
    /// use crossmap_store::{Store, StoreError, DirectoryError, UserFilter};
    /// let store = Store::in_memory();
    /// let ann = User { id: Guid::from_u128(1).into(), user_principal_name: "Ann@Contoso.com".to_owned().into(), ..User::default() };
    /// store.create_user("contoso", ann.clone()).unwrap();
    /// assert_eq!(store.user_by_upn("contoso", "ann@contoso.com").unwrap(), Some(ann.clone()));
    /// let twin = User { id: Guid::from_u128(2).into(), ..ann };
    /// assert!(matches!(store.create_user("contoso", twin), Err(StoreError::Directory(DirectoryError::UpnTaken { .. }))));
    /// assert_eq!(store.count_users("fabrikam", &UserFilter::default()).unwrap(), 0); // tenants are kept apart
    /// ```
    pub fn create_user(&self, tenant: &str, user: User) -> Result<User, StoreError> {
        self.write_directory(tenant, |d| {
            let change = d.create_user(&user).map_err(StoreError::Directory)?;
            Ok((vec![change], user))
        })
    }

    /// Creates a group in `tenant`'s directory: it needs an `id` not taken.
    pub fn create_group(&self, tenant: &str, group: Group) -> Result<Group, StoreError> {
        self.write_directory(tenant, |d| {
            let change = d.create_group(&group).map_err(StoreError::Directory)?;
            Ok((vec![change], group))
        })
    }

    /// Deletes user `id`; whether there was one.
    pub fn delete_user(&self, tenant: &str, id: &Guid) -> Result<bool, StoreError> {
        self.write_directory(tenant, |d| {
            Ok(if d.has_user(id) {
                (vec![directory::Change::User(*id, None)], true)
            } else {
                (Vec::new(), false)
            })
        })
    }

    /// Deletes group `id`; whether there was one.
    pub fn delete_group(&self, tenant: &str, id: &Guid) -> Result<bool, StoreError> {
        self.write_directory(tenant, |d| {
            Ok(if d.has_group(id) {
                (vec![directory::Change::Group(*id, None)], true)
            } else {
                (Vec::new(), false)
            })
        })
    }

    /// Makes the seed's objects `tenant`'s, all or nothing: an object whose id is new is created, one whose
    /// id is there with other contents is replaced whole, one there exactly so is left alone (seeding the
    /// same objects again writes nothing). Objects the seed does not name are kept. Refused, changing
    /// nothing, if the seed names an id or UPN twice, or gives a user a UPN another stored user keeps.
    pub fn seed_directory(&self, tenant: &str, seed: &DirectorySeed) -> Result<SeedOutcome, StoreError> {
        self.write_directory(tenant, |d| d.seed(seed).map_err(StoreError::Directory))
    }

    /// User `id` of `tenant`.
    pub fn user(&self, tenant: &str, id: &Guid) -> Result<Option<User>, StoreError> {
        self.read_directory(tenant, |d| d.user_bytes(id))?
            .map(|b| decode_row(&b))
            .transpose()
    }

    /// The user of `tenant` whose UPN is `upn`, compared without regard to case.
    pub fn user_by_upn(&self, tenant: &str, upn: &str) -> Result<Option<User>, StoreError> {
        self.read_directory(tenant, |d| d.user_bytes_by_upn(upn))?
            .map(|b| decode_row(&b))
            .transpose()
    }

    /// Group `id` of `tenant`.
    pub fn group(&self, tenant: &str, id: &Guid) -> Result<Option<Group>, StoreError> {
        self.read_directory(tenant, |d| d.group_bytes(id))?
            .map(|b| decode_row(&b))
            .transpose()
    }

    /// `tenant`'s organization, if one was stored.
    pub fn organization(&self, tenant: &str) -> Result<Option<Organization>, StoreError> {
        self.read_directory(tenant, |d| d.organization_bytes())?
            .map(|b| decode_row(&b))
            .transpose()
    }

    /// The domains of `tenant`'s users' UPNs (lower-cased) with how many users each has, by name.
    pub fn upn_domains(&self, tenant: &str) -> Result<Vec<(String, usize)>, StoreError> {
        self.read_directory(tenant, |d| d.domains())
    }

    /// Up to `top` of `tenant`'s users that `filter` admits, after `after`: in id order, or in UPN order when
    /// the filter has a UPN prefix. Linear in `top`, not in the directory's size (with a UPN prefix and
    /// other conditions, in the users with that prefix read to fill the page).
    ///
    /// ```
    /// use crossmap_model::{Guid, directory::User};
    /// use crossmap_store::{Store, UserFilter};
    /// let store = Store::in_memory();
    /// for n in 1..=3u128 {
    ///     let upn = format!("u{n}@contoso.com");
    ///     let user = User { id: Guid::from_u128(n).into(), user_principal_name: upn.into(), account_enabled: (n != 2).into(), ..User::default() };
    ///     store.create_user("contoso", user).unwrap();
    /// }
    /// let enabled = UserFilter { account_enabled: Some(true), ..UserFilter::default() };
    /// let first = store.users("contoso", &enabled, None, 1).unwrap();
    /// assert_eq!(first.items[0].id.value(), Some(&Guid::from_u128(1)));
    /// let rest = store.users("contoso", &enabled, first.next.as_ref(), 10).unwrap();
    /// assert_eq!(rest.items.len(), 1);
    /// assert!(rest.next.is_none());
    /// ```
    pub fn users(
        &self,
        tenant: &str,
        filter: &UserFilter,
        after: Option<&Cursor>,
        top: usize,
    ) -> Result<DirectoryPage<User>, StoreError> {
        let (rows, next) = self
            .read_directory(tenant, |d| d.user_page(filter, after, top))?
            .map_err(StoreError::Directory)?;
        Ok(DirectoryPage {
            items: directory::decode_all(rows)?,
            next,
        })
    }

    /// How many of `tenant`'s users `filter` admits.
    pub fn count_users(&self, tenant: &str, filter: &UserFilter) -> Result<usize, StoreError> {
        self.read_directory(tenant, |d| d.count_users(filter))
    }

    /// Up to `top` of `tenant`'s groups that `filter` admits, after `after`, in id order.
    pub fn groups(
        &self,
        tenant: &str,
        filter: &GroupFilter,
        after: Option<&Cursor>,
        top: usize,
    ) -> Result<DirectoryPage<Group>, StoreError> {
        let (rows, next) = self
            .read_directory(tenant, |d| d.group_page(filter, after, top))?
            .map_err(StoreError::Directory)?;
        Ok(DirectoryPage {
            items: directory::decode_all(rows)?,
            next,
        })
    }

    /// How many of `tenant`'s groups `filter` admits.
    pub fn count_groups(&self, tenant: &str, filter: &GroupFilter) -> Result<usize, StoreError> {
        self.read_directory(tenant, |d| d.count_groups(filter))
    }

    /// Reads `tenant`'s directory (an empty one if the tenant has none).
    fn read_directory<T>(&self, tenant: &str, read: impl FnOnce(&directory::Directory) -> T) -> Result<T, StoreError> {
        match self.existing(tenant) {
            Some(t) => Ok(read(&*t.directory.read().map_err(|_| poisoned())?)),
            None => Ok(read(&directory::Directory::default())),
        }
    }

    /// The directory's one write path, as the mappings' `write`: under the directory's lock, work
    /// the changes out, hand them to the log, apply them to memory; outside it, wait until they are durable.
    fn write_directory<T>(
        &self,
        tenant: &str,
        build: impl FnOnce(&directory::Directory) -> Result<(Vec<directory::Change>, T), StoreError>,
    ) -> Result<T, StoreError> {
        let name = tenant;
        let tenant = self.tenant(tenant);
        let (ticket, out) = {
            let mut dir = tenant.directory.write().map_err(|_| poisoned())?;
            let (changes, out) = build(&dir)?;
            let ticket = match &self.shared.log {
                Some(writer) if !changes.is_empty() => Some(writer.submit(dir.records(name, &changes))?),
                _ => None,
            };
            for change in changes {
                // Checked when built: a failure here is a bug, and memory may now differ from the log.
                dir.apply(change)
                    .map_err(|e| StoreError::Unavailable(format!("a directory change failed: {e}")))?;
            }
            (ticket, out)
        };
        if let Some(ticket) = ticket {
            ticket.wait()?;
        }
        Ok(out)
    }

    /// The tenants holding anything (mappings or directory objects), by name.
    pub fn tenants(&self) -> Vec<String> {
        let tenants = self.shared.tenants.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = tenants.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Up to `top` of `tenant`'s mappings of kind `M` whose source key contains `search` (without regard
    /// to case), in key order after skipping `skip`, and how many match in all. Scans the tenant's keys.
    pub fn search<M: StoredKind>(
        &self,
        tenant: &str,
        search: &str,
        skip: usize,
        top: usize,
    ) -> Result<(Vec<M>, usize), StoreError> {
        let Some(t) = self.existing(tenant) else {
            return Ok((Vec::new(), 0));
        };
        let needle = search.to_lowercase();
        let state = lock(M::state(&t))?;
        let mut keys: Vec<&M::Key> = state
            .rows()
            .map(|(k, _)| k)
            .filter(|k| needle.is_empty() || k.as_str().to_lowercase().contains(&needle))
            .collect();
        let count = keys.len();
        keys.sort_unstable();
        let mappings = keys
            .into_iter()
            .skip(skip)
            .take(top)
            .filter_map(|k| state.get(k))
            .collect();
        Ok((mappings, count))
    }

    /// Removes everything `tenant` holds (every tenant's, when `None`): its mappings of both kinds and its
    /// directory. Durable and all-or-nothing: the removals go through the log as one transaction, so a
    /// restart replays them, and mirrors following the change feed see each mapping removed. Returns once
    /// durable, with how many mappings and directory objects were removed.
    ///
    /// ```
    /// use crossmap_model::{Guid, directory::User};
    /// use crossmap_store::{Store, UserFilter};
    /// let store = Store::in_memory();
    /// let ann = User { id: Guid::from_u128(1).into(), user_principal_name: "ann@contoso.com".to_owned().into(), ..User::default() };
    /// store.create_user("contoso", ann.clone()).unwrap();
    /// store.create_user("fabrikam", ann).unwrap();
    /// assert_eq!(store.clear(Some("contoso")).unwrap(), 1);
    /// assert_eq!(store.count_users("contoso", &UserFilter::default()).unwrap(), 0);
    /// assert_eq!(store.count_users("fabrikam", &UserFilter::default()).unwrap(), 1); // the others are kept
    /// ```
    pub fn clear(&self, tenant: Option<&str>) -> Result<usize, StoreError> {
        let tenants: Vec<(String, Arc<Tenant>)> = match tenant {
            Some(name) => self.existing(name).map(|t| (name.to_owned(), t)).into_iter().collect(),
            None => {
                let all = self.shared.tenants.read().unwrap_or_else(|e| e.into_inner());
                all.iter().map(|(n, t)| (n.clone(), t.clone())).collect()
            }
        };
        // Every lock at once (each tenant's users, groups, directory, in that order; no other path holds
        // two), so the removals are one transaction and no writer slips in between.
        let mut held = Vec::with_capacity(tenants.len());
        for (name, t) in &tenants {
            held.push((
                name.as_str(),
                lock(&t.users)?,
                lock(&t.groups)?,
                t.directory.write().map_err(|_| poisoned())?,
            ));
        }
        let mut records = Vec::new();
        let mut plans = Vec::with_capacity(held.len());
        for (name, users, groups, dir) in &held {
            let user_changes = removals(users);
            let group_changes = removals(groups);
            let dir_changes = dir.clear_changes();
            records.extend(change_records(name, &**users, &user_changes));
            records.extend(change_records(name, &**groups, &group_changes));
            records.extend(dir.records(name, &dir_changes));
            plans.push((user_changes, group_changes, dir_changes));
        }
        let removed = records.len();
        let ticket = match &self.shared.log {
            Some(writer) if !records.is_empty() => Some(writer.submit(records)?),
            _ => None,
        };
        for ((_, users, groups, dir), (user_changes, group_changes, dir_changes)) in held.iter_mut().zip(plans) {
            commit_removals(users, user_changes);
            commit_removals(groups, group_changes);
            for change in dir_changes {
                dir.apply(change)
                    .map_err(|e| StoreError::Unavailable(format!("a directory change failed: {e}")))?;
            }
        }
        drop(held);
        if let Some(ticket) = ticket {
            ticket.wait()?;
        }
        tracing::info!(tenant = tenant.unwrap_or("(all)"), removed, "store cleared");
        Ok(removed)
    }

    /// Whether this store writes to disk.
    pub fn is_durable(&self) -> bool {
        self.shared.log.is_some()
    }

    fn existing(&self, tenant: &str) -> Option<Arc<Tenant>> {
        self.shared
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .cloned()
    }

    fn tenant(&self, tenant: &str) -> Arc<Tenant> {
        if let Some(t) = self.existing(tenant) {
            return t;
        }
        let mut tenants = self.shared.tenants.write().unwrap_or_else(|e| e.into_inner());
        tenants.entry(tenant.to_owned()).or_default().clone()
    }
}

/// A removal of every mapping in a kind's table.
fn removals<M: StoredKind>(state: &KindState<M>) -> Vec<Change<M>> {
    state.rows().map(|(k, _)| Change::Remove(k.clone())).collect()
}

/// The log records of `changes`, numbered after the kind's latest token.
fn change_records<M: StoredKind>(tenant: &str, state: &KindState<M>, changes: &[Change<M>]) -> Vec<log::Record> {
    let first = state.latest() + 1;
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| log::Record::of(tenant, M::CODE, first + i as u64, c))
        .collect()
}

/// Records `changes` in the kind's feed and applies them to its table, under the tokens
/// [`change_records`] gave them.
fn commit_removals<M: StoredKind>(state: &mut KindState<M>, changes: Vec<Change<M>>) {
    let first = state.latest() + 1;
    for (i, change) in changes.into_iter().enumerate() {
        state.record(first + i as u64, change);
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    m.lock().map_err(|_| poisoned())
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("a request panicked while holding a table".into())
}

fn decode_row<T: crossmap_model::compact::Compact>(bytes: &[u8]) -> Result<T, StoreError> {
    T::from_compact(bytes).map_err(|e| StoreError::Corrupt(format!("a directory row in memory: {e}")))
}

/// The store being rebuilt on open: the checkpoint first, then the log after it.
#[derive(Default)]
struct Opening {
    tenants: HashMap<String, Arc<Tenant>>,
    positions: HashMap<String, HashMap<i64, log::Position>>,
    /// The tenant and kind of the last checkpoint row: its latest token and the tenant.
    last: Option<(String, i64, u64, Arc<Tenant>)>,
    rows: usize,
    records: usize,
}

impl Opening {
    fn tenant(&mut self, name: &str) -> Arc<Tenant> {
        // Looked up before inserting: a restore asks once per row, and most rows find their tenant.
        match self.tenants.get(name) {
            Some(t) => t.clone(),
            None => self.tenants.entry(name.to_owned()).or_default().clone(),
        }
    }
}

/// Tells each tenant's kind a checkpoint covered its changes up to a token: it forgets the removals
/// the checkpoint dropped.
fn checkpointed(tenants: &Tenants, positions: &[(String, i64, u64, u64)]) -> Result<(), StoreError> {
    for (tenant, kind, covered, horizon) in positions {
        let Some(t) = tenants.read().unwrap_or_else(|e| e.into_inner()).get(tenant).cloned() else {
            continue;
        };
        match *kind {
            SharePointUserIdentityMapping::CODE => {
                lock(SharePointUserIdentityMapping::state(&t))?.checkpointed(*covered, *horizon)
            }
            SharePointGroupIdentityMapping::CODE => {
                lock(SharePointGroupIdentityMapping::state(&t))?.checkpointed(*covered, *horizon)
            }
            _ => {} // directories keep no removals in memory
        }
    }
    Ok(())
}

impl log::Replay for Opening {
    type Ready = Ready;

    fn ready(record: log::RecordRef<'_>) -> Result<Ready, StoreError> {
        let change = match record.kind {
            SharePointUserIdentityMapping::CODE => ReadyChange::Users(ready_change(&record)?),
            SharePointGroupIdentityMapping::CODE => ReadyChange::Groups(ready_change(&record)?),
            directory::USER_CODE | directory::GROUP_CODE | directory::ORGANIZATION_CODE => {
                ReadyChange::Directory(record.to_record())
            }
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "{} is of no known kind",
                    record.describe()
                )));
            }
        };
        Ok(Ready {
            seq: record.seq,
            kind: record.kind,
            token: record.token,
            change,
        })
    }

    fn position(&mut self, tenant: &str, kind: i64, position: log::Position, rows: u64) -> Result<(), StoreError> {
        // The tables take the checkpoint's rows without growing on the way.
        let t = self.tenant(tenant);
        let rows = usize::try_from(rows).unwrap_or(0);
        match kind {
            SharePointUserIdentityMapping::CODE => lock(&t.users)?.reserve(rows),
            SharePointGroupIdentityMapping::CODE => lock(&t.groups)?.reserve(rows),
            _ => {}
        }
        self.positions
            .entry(tenant.to_owned())
            .or_default()
            .insert(kind, position);
        Ok(())
    }

    fn checkpoint_row(&mut self, tenant: &str, row: Ready) -> Result<(), StoreError> {
        // Rows come in runs of one tenant and kind: their position and tenant are looked up once a run.
        let hit = matches!(&self.last, Some((name, kind, _, _)) if name == tenant && *kind == row.kind);
        if !hit {
            let latest = self
                .positions
                .get(tenant)
                .and_then(|k| k.get(&row.kind))
                .map_or(0, |p| p.latest);
            let t = self.tenant(tenant);
            self.last = Some((tenant.to_owned(), row.kind, latest, t));
        }
        let (_, _, latest, t) = self.last.as_ref().expect("set above");
        let Ready {
            seq,
            kind,
            token,
            change,
        } = row;
        let corrupt = |e: &str| StoreError::Corrupt(format!("{}: {e}", log::describe(seq, tenant, kind, token)));
        if !(1..=*latest).contains(&token) {
            return Err(corrupt("its token is outside its checkpoint's position"));
        }
        match change {
            ReadyChange::Users(Change::Upsert(key, r)) => lock(&t.users)?.restore_row(token, key, r),
            ReadyChange::Groups(Change::Upsert(key, r)) => lock(&t.groups)?.restore_row(token, key, r),
            ReadyChange::Users(Change::Remove(_)) | ReadyChange::Groups(Change::Remove(_)) => {
                return Err(corrupt("a checkpoint row without a row"));
            }
            ReadyChange::Directory(mut record) => {
                let mut dir = t.directory.write().map_err(|_| poisoned())?;
                let change = directory::Change::from_record(&mut record).map_err(|e| corrupt(&e))?;
                dir.apply(change).map_err(|e| corrupt(&e))?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn checkpoint_done(&mut self) -> Result<(), StoreError> {
        self.last = None;
        let positions = std::mem::take(&mut self.positions);
        for (name, kind, p) in positions
            .into_iter()
            .flat_map(|(name, kinds)| kinds.into_iter().map(move |(kind, p)| (name.clone(), kind, p)))
        {
            let tenant = self.tenant(&name);
            match kind {
                1 => lock(&tenant.users)?.restored(p.latest, p.horizon),
                2 => lock(&tenant.groups)?.restored(p.latest, p.horizon),
                directory::USER_CODE | directory::GROUP_CODE | directory::ORGANIZATION_CODE => tenant
                    .directory
                    .write()
                    .map_err(|_| poisoned())?
                    .set_latest_token(kind, p.latest),
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "the checkpoint position of tenant {name:?} is of no known kind ({kind})"
                    )));
                }
            }
        }
        Ok(())
    }

    fn record(&mut self, tenant: &str, record: Ready) -> Result<(), StoreError> {
        let t = self.tenant(tenant);
        let Ready {
            seq,
            kind,
            token,
            change,
        } = record;
        let describe = || log::describe(seq, tenant, kind, token);
        match change {
            ReadyChange::Users(change) => replay(&mut *lock(&t.users)?, token, change, describe)?,
            ReadyChange::Groups(change) => replay(&mut *lock(&t.groups)?, token, change, describe)?,
            ReadyChange::Directory(record) => replay_directory(&t, record)?,
        }
        self.records += 1;
        Ok(())
    }
}

/// A checkpoint row or log record with its key parsed and its row copied, on the thread that reads.
struct Ready {
    seq: i64,
    kind: i64,
    token: u64,
    change: ReadyChange,
}

/// What a [`Ready`] record changes.
enum ReadyChange {
    Users(Change<SharePointUserIdentityMapping>),
    Groups(Change<SharePointGroupIdentityMapping>),
    /// Directory objects are few and parsed where they are applied.
    Directory(log::Record),
}

/// The change a mapping record makes: its key parsed, its row copied. The row is not decoded again: it
/// was a `Row` when written (or checked to decode when a version-1 log was given its checksums), and the
/// record's checksum, checked as it was read, shows it unchanged since.
fn ready_change<M: StoredKind>(record: &log::RecordRef<'_>) -> Result<Change<M>, StoreError> {
    let key = M::Key::parse(record.key)
        .map_err(|e| StoreError::Corrupt(format!("{}: key {:?}: {e}", record.describe(), record.key)))?;
    Ok(match record.row {
        Some(bytes) => Change::Upsert(key, Row::from_verified_bytes(Box::from(bytes))),
        None => Change::Remove(key),
    })
}

fn replay_directory(tenant: &Tenant, mut record: log::Record) -> Result<(), StoreError> {
    let corrupt = |record: &log::Record, e: String| StoreError::Corrupt(format!("{}: {e}", record.describe()));
    let mut dir = tenant.directory.write().map_err(|_| poisoned())?;
    dir.check_token(record.kind, record.token)
        .map_err(|e| corrupt(&record, e))?;
    let change = directory::Change::from_record(&mut record).map_err(|e| corrupt(&record, e))?;
    dir.apply(change).map_err(|e| corrupt(&record, e))
}

fn replay<M: StoredKind>(
    state: &mut KindState<M>,
    token: u64,
    change: Change<M>,
    describe: impl Fn() -> String,
) -> Result<(), StoreError> {
    // Each request's changes take the next tokens of their tenant and kind: a gap is a lost record.
    let expected = state.latest() + 1;
    if token != expected {
        return Err(StoreError::Corrupt(format!(
            "{} should carry token {expected}: records are missing or out of order",
            describe()
        )));
    }
    state.record(token, change);
    Ok(())
}
