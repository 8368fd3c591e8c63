//! Where mappings are kept: the [`MappingTable`] trait the store implements, and an in-memory table.
//!
//! Tables hold [`Row`]s: canonical mappings in the model's compact encoding. One allocation per mapping
//! and about as many bytes as its strings, so a million mappings fit in a few hundred megabytes, and two
//! rows are equal exactly when their mappings are, which makes comparing states a byte comparison.

use crate::error::ItemError;
use crate::rules::Rules;
use crossmap_model::IdentityMapping;
use crossmap_model::compact::Compact;
use rustc_hash::FxHashMap;
use std::fmt;

/// A canonical mapping in the compact encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Row(Box<[u8]>);

impl Row {
    /// Encodes a mapping.
    pub fn encode<M: Compact>(mapping: &M) -> Row {
        Row(mapping.to_compact().into_boxed_slice())
    }

    /// Decodes the mapping.
    ///
    /// # Panics
    /// If the bytes are not an encoding of `M`: rows are only made by [`Row::encode`] or checked by
    /// [`Row::from_bytes`], so this is a broken invariant, not bad input.
    pub fn decode<M: Compact>(&self) -> M {
        M::from_compact(&self.0).expect("a row holds an encoded mapping")
    }

    /// A row read back from storage, checked to decode as `M`.
    pub fn from_bytes<M: Compact>(bytes: Box<[u8]>) -> Result<Row, crossmap_model::compact::CompactError> {
        M::from_compact(&bytes)?;
        Ok(Row(bytes))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Row({} bytes)", self.0.len())
    }
}

/// A set of stored mappings of one kind, by key, as [`Row`]s of canonical mappings (see [`canonical`]).
pub trait MappingTable<M: IdentityMapping> {
    /// The row of `key`, if stored.
    fn row(&self, key: &M::Key) -> Option<&Row>;
    /// Stores `row` under `key`, replacing any previous one.
    fn put_row(&mut self, key: M::Key, row: Row);
    /// Removes the mapping of `key`; whether there was one.
    fn remove(&mut self, key: &M::Key) -> bool;
    /// How many mappings are stored.
    fn len(&self) -> usize;
    /// Every stored row, in no particular order.
    fn rows(&self) -> impl Iterator<Item = (&M::Key, &Row)>;

    /// Whether none is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The mapping of `key`, decoded.
    fn get(&self, key: &M::Key) -> Option<M> {
        self.row(key).map(Row::decode)
    }
    /// Stores `mapping` (canonical) under `key`.
    fn put(&mut self, key: M::Key, mapping: &M) {
        self.put_row(key, Row::encode(mapping));
    }
    /// Every stored mapping, decoded, in no particular order.
    fn iter(&self) -> impl Iterator<Item = (&M::Key, M)> {
        self.rows().map(|(k, r)| (k, r.decode()))
    }
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
    rows: FxHashMap<M::Key, Row>,
}

impl<M: IdentityMapping> Default for MemoryTable<M> {
    fn default() -> Self {
        MemoryTable {
            rows: FxHashMap::default(),
        }
    }
}

impl<M: IdentityMapping> MemoryTable<M> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every row, by value, in no particular order: the table given up.
    pub fn into_rows(self) -> impl Iterator<Item = (M::Key, Row)> {
        self.rows.into_iter()
    }

    /// An empty table with room for `n` mappings.
    pub fn with_capacity(n: usize) -> Self {
        MemoryTable {
            rows: FxHashMap::with_capacity_and_hasher(n, Default::default()),
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
            table.put(key, &m);
        }
        Ok(table)
    }
}

impl<M: IdentityMapping> MappingTable<M> for MemoryTable<M> {
    fn row(&self, key: &M::Key) -> Option<&Row> {
        self.rows.get(key)
    }

    fn put_row(&mut self, key: M::Key, row: Row) {
        self.rows.insert(key, row);
    }

    fn remove(&mut self, key: &M::Key) -> bool {
        self.rows.remove(key).is_some()
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn rows(&self) -> impl Iterator<Item = (&M::Key, &Row)> {
        self.rows.iter()
    }
}

/// Puts a complete mapping in the form the engine stores: server-owned properties cleared, defaults
/// filled, `null`s and annotations dropped, `id` derived from the key. `index` is for the error.
pub fn canonical<M: Rules>(index: usize, mut mapping: M) -> Result<(M::Key, M), ItemError> {
    let key = match mapping.source_key_checked() {
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
    if let Some(missing) = mapping.missing_required() {
        return Err(ItemError::new(index, missing, "is required: every mapping holds it"));
    }
    *mapping.id_mut() = M::id_of(&key).into();
    Ok((key, mapping))
}

/// Two tables hold the same mappings.
pub fn same_contents<M: IdentityMapping>(a: &impl MappingTable<M>, b: &impl MappingTable<M>) -> bool {
    a.len() == b.len() && a.rows().all(|(k, r)| b.row(k) == Some(r))
}
