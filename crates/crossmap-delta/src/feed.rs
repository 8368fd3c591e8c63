//! The change feed: every applied change numbered, served to mirrors, compacted without breaking replay.

use crate::apply::Change;
use crate::table::MappingTable;
use crossmap_model::IdentityMapping;
use std::collections::{BTreeMap, HashMap};

/// A token too old or too new for the feed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The changes after `token` were compacted away: the mirror must start over from a full read.
    /// Graph answers this with `resyncRequired`.
    #[error(
        "changes after token {token} are no longer kept (the feed starts after {horizon}): resync from a full read"
    )]
    Resync {
        /// The token asked for.
        token: u64,
        /// The oldest token still served.
        horizon: u64,
    },
    /// The token is ahead of the feed: it was not issued by this feed.
    #[error("token {token} was not issued by this feed (its latest is {latest})")]
    Unknown {
        /// The token asked for.
        token: u64,
        /// The latest token issued.
        latest: u64,
    },
}

/// The changes applied to one table, numbered from 1.
///
/// A mirror that holds the table's state at token `n` becomes equal to the table by replaying
/// [`ChangeFeed::changes_since`]`(n)` with [`replay`]. Only the latest change of each key is kept (an older
/// one is superseded for every mirror), so the feed never holds more entries than keys ever touched;
/// [`ChangeFeed::compact_through`] drops everything up to a token, after which older tokens get
/// [`FeedError::Resync`].
///
/// ```
/// use crossmap_delta::{Change, ChangeFeed, MemoryTable, Row, replay};
/// use crossmap_model::{GroupKey, MappingKey, SharePointGroupIdentityMapping as Group};
/// let mut feed = ChangeFeed::<Group>::new();
/// let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
/// let token = feed.record(Change::Upsert(key.clone(), Row::encode(&Group::default())));
/// let mut mirror = MemoryTable::new();
/// replay(&mut mirror, feed.changes_since(0).unwrap());
/// assert!(feed.changes_since(token).unwrap().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct ChangeFeed<M: IdentityMapping> {
    entries: BTreeMap<u64, Change<M>>,
    latest_of: HashMap<M::Key, u64>,
    latest: u64,
    horizon: u64,
}

impl<M: IdentityMapping> Default for ChangeFeed<M> {
    fn default() -> Self {
        ChangeFeed {
            entries: BTreeMap::new(),
            latest_of: HashMap::new(),
            latest: 0,
            horizon: 0,
        }
    }
}

impl<M: IdentityMapping> ChangeFeed<M> {
    /// An empty feed at token 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one change; returns its token (the feed's new latest).
    pub fn record(&mut self, change: Change<M>) -> u64 {
        self.latest += 1;
        if let Some(old) = self.latest_of.insert(change.key().clone(), self.latest) {
            self.entries.remove(&old);
        }
        self.entries.insert(self.latest, change);
        self.latest
    }

    /// Records a change read back from storage under the token it was given then; tokens must come in
    /// increasing order, so a store replaying its log rebuilds the same feed.
    pub fn restore(&mut self, token: u64, change: Change<M>) -> Result<(), FeedError> {
        if token <= self.latest {
            return Err(FeedError::Unknown {
                token,
                latest: self.latest,
            });
        }
        self.latest = token - 1;
        self.record(change);
        Ok(())
    }

    /// Records changes in order; returns the latest token.
    pub fn record_all(&mut self, changes: impl IntoIterator<Item = Change<M>>) -> u64 {
        for c in changes {
            self.record(c);
        }
        self.latest
    }

    /// The latest token: a mirror holding the current state is at this token.
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The oldest token still served.
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// How many entries the feed holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The changes that bring a mirror at `token` up to date, oldest first, at most one per key.
    pub fn changes_since(&self, token: u64) -> Result<Vec<&Change<M>>, FeedError> {
        if token < self.horizon {
            return Err(FeedError::Resync {
                token,
                horizon: self.horizon,
            });
        }
        if token > self.latest {
            return Err(FeedError::Unknown {
                token,
                latest: self.latest,
            });
        }
        Ok(self.entries.range(token + 1..).map(|(_, c)| c).collect())
    }

    /// Like [`ChangeFeed::changes_since`], with each change's token, so a reader can page: ask again
    /// with the token of the last change it took.
    pub fn entries_since(&self, token: u64) -> Result<impl Iterator<Item = (u64, &Change<M>)>, FeedError> {
        self.changes_since(token)?;
        Ok(self.entries.range(token + 1..).map(|(t, c)| (*t, c)))
    }

    /// Forgets every change up to and including `token` (clamped to the latest); tokens older than it
    /// will get [`FeedError::Resync`].
    pub fn compact_through(&mut self, token: u64) {
        let token = token.min(self.latest);
        if token <= self.horizon {
            return;
        }
        let kept = self.entries.split_off(&(token + 1));
        for change in self.entries.values() {
            self.latest_of.remove(change.key());
        }
        self.entries = kept;
        self.horizon = token;
    }
}

/// Brings a mirror up to date: each upsert replaces the mirror's mapping, each removal deletes it.
pub fn replay<'c, M: IdentityMapping>(
    mirror: &mut impl MappingTable<M>,
    changes: impl IntoIterator<Item = &'c Change<M>>,
) {
    for change in changes {
        change.clone().apply_to(mirror);
    }
}
