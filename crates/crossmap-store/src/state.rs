//! One kind's mappings in one tenant and their change feed, in one structure: each key's slot holds its
//! row and the token of its latest change, so the feed needs no copy of any row.
//!
//! The engine's `ChangeFeed` keeps the latest change of each key beside the table, a second copy of every
//! row and two more indexes; at a million mappings that doubled the emulator's memory. Here the feed is a
//! token per slot, a tombstone slot (no row) per key removed since the last checkpoint, and `order`, the
//! slots' indices by token. `order` is appended to on every change and may hold stale entries (a key
//! changed again later): they are skipped when read and swept out once they outnumber the slots.
//!
//! The slots are an `IndexMap`: entries in one dense array under a table of indices. A hash map holding
//! the entries inline sits at 44-88% load, and at a million keys it had just doubled; and the indices are
//! what lets `order` name a slot in 4 bytes rather than by its key. Slots leave only at a checkpoint, and
//! `order` is renumbered then.

use crossmap_delta::{Change, FeedError, MappingTable, Rules};
use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

/// Changes with their tokens, oldest first, and whether more follow.
pub(crate) type FeedSlice<M> = (Vec<(u64, Change<M>)>, bool);

/// A key's row (none: removed since the last checkpoint) and the token of its latest change.
#[derive(Debug)]
struct Slot {
    row: Option<crossmap_delta::Row>,
    token: u64,
}

/// One kind's mappings in one tenant, and their change feed.
#[derive(Debug)]
pub struct KindState<M: Rules> {
    slots: IndexMap<M::Key, Slot, FxBuildHasher>,
    /// How many slots hold a row.
    live: usize,
    /// Slot indices by the token of a change, ascending; an entry is current when its slot has its token.
    order: Vec<(u64, u32)>,
    latest: u64,
    /// Tokens older than this get `resyncRequired`: removals up to it were dropped by a checkpoint.
    horizon: u64,
}

impl<M: Rules> Default for KindState<M> {
    fn default() -> Self {
        KindState {
            slots: IndexMap::default(),
            live: 0,
            order: Vec::new(),
            latest: 0,
            horizon: 0,
        }
    }
}

impl<M: Rules> KindState<M> {
    /// The latest token: a mirror holding the current state is at this token.
    pub(crate) fn latest(&self) -> u64 {
        self.latest
    }

    /// Records `change` under `token`, which must be past the latest, and applies it.
    pub(crate) fn record(&mut self, token: u64, change: Change<M>) {
        debug_assert!(token > self.latest, "tokens increase");
        self.latest = token;
        let (key, row) = match change {
            Change::Upsert(key, row) => (key, Some(row)),
            Change::Remove(key) => (key, None),
        };
        let added = i64::from(row.is_some());
        let (index, old) = self.slots.insert_full(key, Slot { row, token });
        let removed = i64::from(old.is_some_and(|s| s.row.is_some()));
        self.live = (self.live as i64 + added - removed) as usize;
        self.order.push((token, slot_index(index)));
        self.sweep_if_stale();
    }

    /// Makes room for `rows` more keys, so that a restore does not grow the tables on the way.
    pub(crate) fn reserve(&mut self, rows: usize) {
        self.slots.reserve(rows);
        self.order.reserve(rows);
    }

    /// Restores a checkpoint's row under the token of its latest change; call [`KindState::restored`]
    /// once every row of the checkpoint is in.
    pub(crate) fn restore_row(&mut self, token: u64, key: M::Key, row: crossmap_delta::Row) {
        let (index, old) = self.slots.insert_full(key, Slot { row: Some(row), token });
        if old.is_some_and(|s| s.row.is_some()) {
            self.live -= 1;
        }
        self.live += 1;
        self.order.push((token, slot_index(index)));
    }

    /// Ends a checkpoint's restore: the feed's position as the checkpoint left it.
    pub(crate) fn restored(&mut self, latest: u64, horizon: u64) {
        self.order.sort_unstable_by_key(|(t, _)| *t);
        self.latest = latest;
        self.horizon = horizon;
    }

    /// After a checkpoint that covers every change up to `covered`: forgets the removals it dropped, and
    /// serves tokens from `horizon` on.
    pub(crate) fn checkpointed(&mut self, covered: u64, horizon: u64) {
        self.horizon = self.horizon.max(horizon);
        // Called under the kind's lock while writers wait: without tombstones there is nothing to scan.
        if self.slots.len() == self.live {
            return;
        }
        let dropped = |s: &Slot| s.row.is_none() && s.token <= covered;
        if !self.slots.values().any(dropped) {
            return;
        }
        // `retain` keeps the survivors in order: each one's new index is its old one less the slots
        // dropped before it.
        let mut renumbered = Vec::with_capacity(self.slots.len());
        let mut next = 0u32;
        for slot in self.slots.values() {
            renumbered.push(if dropped(slot) { u32::MAX } else { next });
            next += u32::from(!dropped(slot));
        }
        self.slots.retain(|_, s| !dropped(s));
        self.order.retain_mut(|(_, index)| {
            *index = renumbered[*index as usize];
            *index != u32::MAX
        });
        self.sweep();
    }

    /// Up to `limit` changes after `token`, each with its token, oldest first, and whether more follow.
    pub(crate) fn changes_since(&self, token: u64, limit: usize) -> Result<FeedSlice<M>, FeedError> {
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
        let start = self.order.partition_point(|(t, _)| *t <= token);
        let mut current = self.order[start..].iter().filter_map(|(t, index)| {
            let (key, slot) = self.slots.get_index(*index as usize).filter(|(_, s)| s.token == *t)?;
            Some((*t, key, slot))
        });
        let changes = current
            .by_ref()
            .take(limit)
            .map(|(t, key, slot)| {
                let change = match &slot.row {
                    Some(row) => Change::Upsert(key.clone(), row.clone()),
                    None => Change::Remove(key.clone()),
                };
                (t, change)
            })
            .collect();
        Ok((changes, current.next().is_some()))
    }

    /// How many entries `order` holds, stale ones included.
    #[cfg(test)]
    pub(crate) fn feed_len(&self) -> usize {
        self.order.len()
    }

    fn sweep_if_stale(&mut self) {
        // Amortised: a sweep costs the entries, and runs once stale ones are as many as the slots.
        if self.order.len() > 2 * self.slots.len() + 1024 {
            self.sweep();
        }
    }

    fn sweep(&mut self) {
        let slots = &self.slots;
        self.order
            .retain(|(t, index)| slots.get_index(*index as usize).is_some_and(|(_, s)| s.token == *t));
        self.order.shrink_to_fit();
    }
}

/// A slot's index as `order` keeps it: 4 bytes, since a tenant's kind holds fewer than 4 billion keys.
fn slot_index(index: usize) -> u32 {
    u32::try_from(index).expect("fewer than 2^32 keys per tenant and kind")
}

impl<M: Rules> MappingTable<M> for KindState<M> {
    fn row(&self, key: &M::Key) -> Option<&crossmap_delta::Row> {
        self.slots.get(key).and_then(|s| s.row.as_ref())
    }

    /// Records an upsert under the next token.
    fn put_row(&mut self, key: M::Key, row: crossmap_delta::Row) {
        self.record(self.latest + 1, Change::Upsert(key, row));
    }

    /// Records a removal under the next token, when there is a mapping to remove.
    fn remove(&mut self, key: &M::Key) -> bool {
        let present = self.row(key).is_some();
        if present {
            self.record(self.latest + 1, Change::Remove(key.clone()));
        }
        present
    }

    fn len(&self) -> usize {
        self.live
    }

    fn rows(&self) -> impl Iterator<Item = (&M::Key, &crossmap_delta::Row)> {
        self.slots.iter().filter_map(|(k, s)| Some((k, s.row.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossmap_delta::Row;
    use crossmap_model::{GroupKey, SharePointGroupIdentityMapping as Group};

    fn key(n: u32) -> GroupKey {
        GroupKey::parse(&format!("00000000-0000-0000-0000-{n:012}")).unwrap()
    }

    fn row(n: u32) -> Row {
        Row::encode(&Group {
            source_organization_id: crossmap_model::Guid::from_u128(u128::from(n)).into(),
            ..Group::default()
        })
    }

    fn keys(changes: &[(u64, Change<Group>)]) -> Vec<(u64, String)> {
        changes.iter().map(|(t, c)| (*t, c.key().as_str().to_owned())).collect()
    }

    #[test]
    fn the_feed_gives_each_keys_latest_change_once_in_token_order() {
        let mut s = KindState::<Group>::default();
        s.record(1, Change::Upsert(key(1), row(1)));
        s.record(2, Change::Upsert(key(2), row(2)));
        s.record(3, Change::Upsert(key(1), row(3)));
        s.record(4, Change::Remove(key(2)));
        assert_eq!(s.len(), 1);
        let (all, more) = s.changes_since(0, 10).unwrap();
        assert!(!more);
        assert_eq!(
            keys(&all),
            [(3, key(1).as_str().to_owned()), (4, key(2).as_str().to_owned())]
        );
        assert!(matches!(&all[0].1, Change::Upsert(_, r) if *r == row(3)));
        assert!(matches!(&all[1].1, Change::Remove(_)));
        let (first, more) = s.changes_since(0, 1).unwrap();
        assert!(more);
        assert_eq!(first.len(), 1);
        assert!(s.changes_since(4, 10).unwrap().0.is_empty());
        assert!(matches!(s.changes_since(5, 10), Err(FeedError::Unknown { .. })));
    }

    #[test]
    fn a_checkpoint_drops_covered_removals_and_refuses_tokens_before_its_horizon() {
        let mut s = KindState::<Group>::default();
        s.record(1, Change::Upsert(key(1), row(1)));
        s.record(2, Change::Upsert(key(2), row(2)));
        s.record(3, Change::Remove(key(2)));
        s.record(4, Change::Upsert(key(3), row(3)));
        s.record(5, Change::Remove(key(3)));
        s.checkpointed(4, 3);
        assert!(matches!(
            s.changes_since(2, 10),
            Err(FeedError::Resync { token: 2, horizon: 3 })
        ));
        // Key 1 keeps its token; the removal at 5 came after the checkpoint and stays.
        let (all, _) = s.changes_since(s.horizon, 10).unwrap();
        assert_eq!(keys(&all), [(5, key(3).as_str().to_owned())]);
        assert_eq!(s.feed_len(), 2);
        assert_eq!(s.rows().count(), 1);
        // Slots renumbered by the drop still resolve: a later change of key 3 and a new key.
        s.record(6, Change::Upsert(key(3), row(6)));
        s.record(7, Change::Upsert(key(4), row(7)));
        let (all, _) = s.changes_since(3, 10).unwrap();
        assert_eq!(
            keys(&all),
            [(6, key(3).as_str().to_owned()), (7, key(4).as_str().to_owned())]
        );
        assert!(matches!(&all[0].1, Change::Upsert(_, r) if *r == row(6)));
        assert_eq!(s.get(&key(1)).map(|g| Row::encode(&g)), Some(row(1)));
    }

    #[test]
    fn stale_entries_are_swept_once_they_outnumber_the_keys() {
        let mut s = KindState::<Group>::default();
        for t in 1..=10_000u64 {
            s.record(t, Change::Upsert(key((t % 10) as u32), row(t as u32)));
        }
        assert!(
            s.feed_len() <= 2 * 10 + 1024 + 1,
            "{} entries for 10 keys",
            s.feed_len()
        );
        let (all, _) = s.changes_since(0, 100).unwrap();
        assert_eq!(all.len(), 10);
    }
}
