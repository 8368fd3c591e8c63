//! Where mappings are kept: the [`MappingTable`] trait the store implements, and an in-memory table.

use crate::error::ItemError;
use crate::rules::Rules;
use crossmap_model::IdentityMapping;
use std::collections::HashMap;

/// A set of stored mappings of one kind, by key. Stored mappings are canonical (see [`canonical`]).
pub trait MappingTable<M: IdentityMapping> {
    /// The mapping of `key`, if stored.
    fn get(&self, key: &M::Key) -> Option<&M>;
    /// Stores `mapping` under `key`, replacing any previous one.
    fn put(&mut self, key: M::Key, mapping: M);
    /// Removes the mapping of `key`; whether there was one.
    fn remove(&mut self, key: &M::Key) -> bool;
    /// How many mappings are stored.
    fn len(&self) -> usize;
    /// Whether none is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every stored mapping, in no particular order.
    fn iter(&self) -> impl Iterator<Item = (&M::Key, &M)>;
}

/// A [`MappingTable`] in memory.
///
/// ```
/// use crossmap_delta::{MappingTable, MemoryTable};
/// use crossmap_model::SharePointGroupIdentityMapping;
/// let table = MemoryTable::<SharePointGroupIdentityMapping>::new();
/// assert!(table.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryTable<M: IdentityMapping> {
    rows: HashMap<M::Key, M>,
}

impl<M: IdentityMapping> Default for MemoryTable<M> {
    fn default() -> Self {
        MemoryTable { rows: HashMap::new() }
    }
}

impl<M: IdentityMapping> MemoryTable<M> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `n` mappings.
    pub fn with_capacity(n: usize) -> Self {
        MemoryTable {
            rows: HashMap::with_capacity(n),
        }
    }
}

impl<M: Rules> MemoryTable<M> {
    /// A table holding `mappings`, each put in canonical form as the engine would store it.
    ///
    /// Use it to describe a desired state for [`crate::plan`]. Fails on the first mapping that has no
    /// valid source key or lacks a required property, naming its position; a later duplicate key replaces
    /// an earlier one.
    pub fn from_mappings(mappings: impl IntoIterator<Item = M>) -> Result<Self, ItemError> {
        let iter = mappings.into_iter();
        let mut table = MemoryTable::with_capacity(iter.size_hint().0);
        for (index, m) in iter.enumerate() {
            let (key, m) = canonical(index, m)?;
            table.rows.insert(key, m);
        }
        Ok(table)
    }
}

impl<M: IdentityMapping> MappingTable<M> for MemoryTable<M> {
    fn get(&self, key: &M::Key) -> Option<&M> {
        self.rows.get(key)
    }

    fn put(&mut self, key: M::Key, mapping: M) {
        self.rows.insert(key, mapping);
    }

    fn remove(&mut self, key: &M::Key) -> bool {
        self.rows.remove(key).is_some()
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&M::Key, &M)> {
        self.rows.iter()
    }
}

/// Puts a complete mapping in the form the engine stores: server-owned properties cleared, defaults
/// filled, `null`s and annotations dropped, `id` derived from the key. `index` is for the error.
pub fn canonical<M: Rules>(index: usize, mut mapping: M) -> Result<(M::Key, M), ItemError> {
    let key = match mapping.source_key() {
        Some(Ok(key)) => key,
        Some(Err(e)) => return Err(ItemError::new(index, M::SOURCE_KEY_PATH, e.to_string())),
        None => {
            return Err(ItemError::new(
                index,
                M::SOURCE_KEY_PATH,
                "is required: it names the mapping",
            ));
        }
    };
    mapping.clear_server_owned();
    mapping.fill_defaults();
    crossmap_model::Diff::canonicalize(&mut mapping);
    if let Some(missing) = crate::apply::missing_required(&mapping) {
        return Err(ItemError::new(index, missing, "is required: every mapping holds it"));
    }
    *mapping.id_mut() = M::id_of(&key).into();
    Ok((key, mapping))
}

/// Two tables hold the same mappings.
pub fn same_contents<M: IdentityMapping>(a: &impl MappingTable<M>, b: &impl MappingTable<M>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, m)| b.get(k) == Some(m))
}
