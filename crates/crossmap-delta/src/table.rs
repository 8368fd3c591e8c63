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
    /// If the bytes are not an encoding of `M`: rows are only made by [`Row::encode`], checked by
    /// [`Row::from_bytes`], or vouched for by their storage ([`Row::from_verified_bytes`]), so this is a
    /// broken invariant, not bad input.
    pub fn decode<M: Compact>(&self) -> M {
        M::from_compact(&self.0).expect("a row holds an encoded mapping")
    }

    /// A row read back from storage, checked to decode as `M`.
    pub fn from_bytes<M: Compact>(bytes: Box<[u8]>) -> Result<Row, crossmap_model::compact::CompactError> {
        M::from_compact(&bytes)?;
        Ok(Row(bytes))
    }

    /// A row read back from storage that vouches for the bytes itself, not checked: bytes that
    /// [`Row::as_bytes`] gave (or that [`Row::from_bytes`] accepted) and that a checksum taken then shows
    /// unchanged. Checking them again costs a decode per row, a tenth of a store's start. A checksum
    /// guards against accidental damage only: bytes that are not an encoding make [`Row::decode`] panic,
    /// so anything not so vouched for goes through [`Row::from_bytes`].
    pub fn from_verified_bytes(bytes: Box<[u8]>) -> Row {
        Row(bytes)
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

/// A [`MappingTable`] held as one vector sorted by key, looked up by binary search: for a state built once
/// and read many times (a desired state read from a file, a plan's input).
///
/// Half the memory of [`MemoryTable`] and no peak while it grows: a hash table keeps spare buckets (up to
/// half of them empty right after it doubles) and touches all of them, and holds the old buckets beside
/// the new ones while it doubles; a vector's unused capacity is never touched, so never resident. Its rows
/// come out in key order, which is the order of a plan. [`MappingTable::put_row`] and
/// [`MappingTable::remove`] move the rows after the key: cheap at the end, linear elsewhere; build a
/// large table with [`SortedTable::from_rows`] instead.
///
/// ```
/// use crossmap_delta::{MappingTable, MemoryTable, SortedTable, same_contents};
/// use crossmap_model::SharePointUserIdentityMapping as User;
/// let user: User = serde_json::from_str(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
///   "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"},
///   "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}}"#).unwrap();
/// let table = MemoryTable::from_mappings([user]).unwrap();
/// let sorted = SortedTable::from(table.clone());
/// assert!(same_contents(&sorted, &table));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SortedTable<M: IdentityMapping> {
    /// Sorted by key, each key once.
    rows: Vec<(M::Key, Row)>,
}

impl<M: IdentityMapping> Default for SortedTable<M> {
    fn default() -> Self {
        SortedTable { rows: Vec::new() }
    }
}

impl<M: IdentityMapping> SortedTable<M> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table of `rows` in any order; of a key given more than once, the last row is kept (as
    /// [`MappingTable::put_row`] would). Rows already sorted with each key once are taken as they are,
    /// without another allocation.
    pub fn from_rows(mut rows: Vec<(M::Key, Row)>) -> Self {
        if !rows.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable, so that of equal keys the last given is the last here, and the one kept.
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.reverse();
            rows.dedup_by(|later, earlier| later.0 == earlier.0);
            rows.reverse();
        }
        SortedTable { rows }
    }

    /// Every row, by value, in key order: the table given up.
    pub fn into_rows(self) -> Vec<(M::Key, Row)> {
        self.rows
    }

    /// Every row, in key order.
    pub fn as_slice(&self) -> &[(M::Key, Row)] {
        &self.rows
    }

    /// Where `key` is, or where it would go.
    fn find(&self, key: &M::Key) -> Result<usize, usize> {
        self.rows.binary_search_by(|(k, _)| k.cmp(key))
    }
}

impl<M: IdentityMapping> From<MemoryTable<M>> for SortedTable<M> {
    fn from(table: MemoryTable<M>) -> Self {
        SortedTable::from_rows(table.into_rows().collect())
    }
}

impl<M: IdentityMapping> MappingTable<M> for SortedTable<M> {
    fn row(&self, key: &M::Key) -> Option<&Row> {
        self.find(key).ok().map(|i| &self.rows[i].1)
    }

    fn put_row(&mut self, key: M::Key, row: Row) {
        match self.find(&key) {
            Ok(i) => self.rows[i].1 = row,
            Err(i) => self.rows.insert(i, (key, row)),
        }
    }

    fn remove(&mut self, key: &M::Key) -> bool {
        match self.find(key) {
            Ok(i) => {
                self.rows.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn rows(&self) -> impl Iterator<Item = (&M::Key, &Row)> {
        self.rows.iter().map(|(k, r)| (k, r))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crossmap_model::{SharePointUserIdentityMapping as User, UserKey};

    fn row(n: u32, target: &str) -> (UserKey, Row) {
        let user: User = serde_json::from_value(serde_json::json!({
            "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
            "sourceUserIdentity": {"userPrincipalName": format!("u{n}@contoso.com")},
            "targetUserIdentity": {"userPrincipalName": format!("u{n}@{target}")}}))
        .unwrap();
        let (key, user) = canonical(0, user).unwrap();
        (key, Row::encode(&user))
    }

    #[test]
    fn a_sorted_table_holds_what_a_hash_table_holds_after_the_same_steps() {
        let (mut sorted, mut hashed) = (SortedTable::<User>::new(), MemoryTable::<User>::new());
        // Puts at the end, in the middle, over a key; removals of held and absent keys.
        let steps: Vec<(u32, Option<&str>)> = vec![
            (5, Some("a.com")),
            (9, Some("a.com")),
            (1, Some("a.com")),
            (7, Some("a.com")),
            (5, Some("b.com")),
            (9, None),
            (3, None),
            (1, None),
            (8, Some("a.com")),
        ];
        for (n, target) in steps {
            let (key, r) = row(n, target.unwrap_or("x.com"));
            match target {
                Some(_) => {
                    sorted.put_row(key.clone(), r.clone());
                    hashed.put_row(key, r);
                }
                None => assert_eq!(sorted.remove(&key), hashed.remove(&key)),
            }
            assert!(same_contents(&sorted, &hashed) && same_contents(&hashed, &sorted));
        }
        let keys: Vec<&UserKey> = sorted.rows().map(|(k, _)| k).collect();
        assert!(keys.is_sorted() && keys.len() == 3, "{keys:?}");
    }

    #[test]
    fn rows_in_any_order_keep_the_last_row_of_a_key() {
        let given = vec![
            row(3, "a.com"),
            row(1, "a.com"),
            row(3, "b.com"),
            row(2, "a.com"),
            row(3, "c.com"),
        ];
        let table = SortedTable::<User>::from_rows(given);
        let keys: Vec<String> = table.rows().map(|(k, _)| k.as_str().to_owned()).collect();
        assert_eq!(keys, ["u1@contoso.com", "u2@contoso.com", "u3@contoso.com"]);
        assert_eq!(table.row(&row(3, "c.com").0), Some(&row(3, "c.com").1));
        // Already sorted and unique: taken as given.
        let sorted = vec![row(1, "a.com"), row(2, "a.com")];
        let pointer = sorted.as_ptr();
        assert_eq!(SortedTable::<User>::from_rows(sorted).as_slice().as_ptr(), pointer);
    }
}
