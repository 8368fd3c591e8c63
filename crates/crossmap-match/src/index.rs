//! Hash indexes that store only 4-byte slot numbers: the key of an entry is read back from the records
//! (the arena), so an index costs about 10 bytes per indexed value and never copies a string.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;
use std::hash::{BuildHasher, Hash};

/// No slot: the end of a chain, or no target.
pub(crate) const NONE: u32 = u32::MAX;

fn hash<K: Hash>(k: &K) -> u64 {
    FxBuildHasher.hash_one(k)
}

/// Value → the slots holding it, in ascending slot order.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// The first slot of each distinct value.
    table: HashTable<u32>,
    /// The next slot with the same value; empty for a unique index.
    next: Vec<u32>,
}

impl Index {
    /// Indexes slots `0..n` by `key(slot)` (`None`: not indexed), allowing shared values.
    pub(crate) fn multi<K: Hash + Eq>(n: usize, key: impl Fn(u32) -> Option<K>) -> Index {
        let mut table = HashTable::with_capacity(n);
        let mut next = vec![NONE; n];
        // Descending, each new slot becoming its value's head: chains read in ascending order.
        for slot in (0..n as u32).rev() {
            let Some(k) = key(slot) else { continue };
            let h = hash(&k);
            match table.entry(
                h,
                |&s| key(s).as_ref() == Some(&k),
                |&s| key(s).as_ref().map_or(0, hash),
            ) {
                Entry::Occupied(mut e) => {
                    next[slot as usize] = *e.get();
                    *e.get_mut() = slot;
                }
                Entry::Vacant(e) => {
                    e.insert(slot);
                }
            }
        }
        Index { table, next }
    }

    /// The slots whose key equals `k`, ascending.
    pub(crate) fn get<K: Hash + Eq>(&self, k: &K, key: impl Fn(u32) -> Option<K>) -> Chain<'_> {
        let head = self
            .table
            .find(hash(k), |&s| key(s).as_ref() == Some(k))
            .copied()
            .unwrap_or(NONE);
        Chain {
            next: &self.next,
            at: head,
        }
    }

    /// The first (smallest) slot whose key equals `k`: the value's identity.
    pub(crate) fn head<K: Hash + Eq>(&self, k: &K, key: impl Fn(u32) -> Option<K>) -> Option<u32> {
        self.table.find(hash(k), |&s| key(s).as_ref() == Some(k)).copied()
    }

    /// The slots from `slot` on that share its value, ascending.
    pub(crate) fn chain_from(&self, slot: u32) -> Chain<'_> {
        Chain {
            next: &self.next,
            at: slot,
        }
    }

    /// Whether a later slot shares `slot`'s value.
    pub(crate) fn has_next(&self, slot: u32) -> bool {
        self.next.get(slot as usize).is_some_and(|n| *n != NONE)
    }

    /// Bytes held, roughly: the table's buckets and the chain links.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.capacity() * 5 + self.next.capacity() * 4
    }
}

/// The slots of one value, ascending.
#[derive(Debug, Clone)]
pub(crate) struct Chain<'a> {
    next: &'a [u32],
    at: u32,
}

impl Iterator for Chain<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.at == NONE {
            return None;
        }
        let slot = self.at;
        self.at = self.next.get(slot as usize).copied().unwrap_or(NONE);
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_chains_are_ascending_and_skip_missing_keys() {
        let keys = ["a", "b", "a", "", "a", "c"];
        let key = |s: u32| Some(keys[s as usize]).filter(|k| !k.is_empty());
        let idx = Index::multi(keys.len(), key);
        assert_eq!(idx.get(&"a", key).collect::<Vec<_>>(), [0, 2, 4]);
        assert_eq!(idx.get(&"c", key).collect::<Vec<_>>(), [5]);
        assert_eq!(idx.get(&"", key).count(), 0);
        assert_eq!(idx.get(&"z", key).count(), 0);
    }
}
