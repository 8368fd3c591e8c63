//! The optional one-to-one lint: mapping is one-to-one, so two sources should not share a target.

use crate::rules::Rules;
use crate::table::MappingTable;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

/// Two or more sources mapped to the same target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTarget<K> {
    /// The target key, normalised (lower case).
    pub target: String,
    /// The sources that map to it, sorted.
    pub sources: Vec<K>,
}

/// Every target that more than one of `mappings` maps to, sorted by target.
///
/// ```
/// use crossmap_delta::one_to_one;
/// use crossmap_model::SharePointGroupIdentityMapping as Group;
/// let a: Group = serde_json::from_str(r#"{"sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}, "targetGroupIdentity": {"id": "cccccccc-cccc-cccc-cccc-cccccccccccc"}}"#).unwrap();
/// let b: Group = serde_json::from_str(r#"{"sourceGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}, "targetGroupIdentity": {"id": "CCCCCCCC-cccc-cccc-cccc-cccccccccccc"}}"#).unwrap();
/// assert_eq!(one_to_one::<Group>([&a, &b])[0].sources.len(), 2);
/// ```
pub fn one_to_one<M: Rules>(
    mappings: impl IntoIterator<Item = impl std::borrow::Borrow<M>>,
) -> Vec<SharedTarget<M::Key>> {
    let mut by_target: BTreeMap<String, Vec<M::Key>> = BTreeMap::new();
    for m in mappings {
        let m = m.borrow();
        if let (Some(target), Some(Ok(source))) = (m.target_key(), m.source_key_checked()) {
            by_target.entry(target).or_default().push(source);
        }
    }
    by_target
        .into_iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(target, mut sources)| {
            sources.sort();
            sources.dedup();
            SharedTarget { target, sources }
        })
        .filter(|s| s.sources.len() > 1)
        .collect()
}

/// [`one_to_one`] over a table, in a fraction of the memory: a first pass sorts the targets' hashes, and
/// only the mappings whose target's hash was seen twice are grouped (by their exact target) in a second.
/// For a file of a million mappings that is 8 MB of hashes instead of a million targets and keys.
///
/// ```
/// use crossmap_delta::{MemoryTable, one_to_one_in};
/// use crossmap_model::SharePointGroupIdentityMapping as Group;
/// let a: Group = serde_json::from_str(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111", "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}, "targetGroupIdentity": {"id": "cccccccc-cccc-cccc-cccc-cccccccccccc"}}"#).unwrap();
/// let b: Group = serde_json::from_str(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111", "sourceGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}, "targetGroupIdentity": {"id": "CCCCCCCC-cccc-cccc-cccc-cccccccccccc"}}"#).unwrap();
/// let table = MemoryTable::from_mappings([a, b]).unwrap();
/// assert_eq!(one_to_one_in(&table)[0].sources.len(), 2);
/// ```
pub fn one_to_one_in<M: Rules>(table: &impl MappingTable<M>) -> Vec<SharedTarget<M::Key>> {
    let hasher = rustc_hash::FxBuildHasher;
    // The targets' hashes, sorted: 8 bytes a mapping, where a hash table of them took twice that and more.
    let mut hashes: Vec<u64> = table
        .iter()
        .filter_map(|(_, m)| m.target_key().map(|target| hasher.hash_one(&target)))
        .collect();
    hashes.sort_unstable();
    // Only the hashes seen twice or more, once each.
    let hashes: Vec<u64> = hashes
        .chunk_by(|a, b| a == b)
        .filter(|same| same.len() > 1)
        .map(|same| same[0])
        .collect();
    if hashes.is_empty() {
        return Vec::new();
    }
    let seen = |hash: u64| hashes.binary_search(&hash).is_ok();
    one_to_one::<M>(
        table
            .iter()
            .map(|(_, m)| m)
            .filter(|m| m.target_key().is_some_and(|target| seen(hasher.hash_one(&target)))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryTable;
    use crossmap_model::{Guid, UserMapping as User};

    fn user(source: &str, target: &str) -> User {
        User::new(Guid::from_u128(0x1111), source, target)
    }

    #[test]
    fn the_table_lint_finds_what_the_list_lint_finds() {
        let users: Vec<User> = (0..500)
            .map(|n| user(&format!("s{n}@contoso.com"), &format!("t{}@fabrikam.com", n % 480)))
            .chain([user("x@contoso.com", "T7@Fabrikam.com")])
            .collect();
        let table = MemoryTable::from_mappings(users.clone()).unwrap();
        let shared = one_to_one_in(&table);
        assert_eq!(shared, one_to_one::<User>(&users));
        assert_eq!(shared.len(), 20);
        assert_eq!(
            shared
                .iter()
                .find(|s| s.target == "t7@fabrikam.com")
                .unwrap()
                .sources
                .len(),
            3
        );
    }

    #[test]
    fn a_one_to_one_table_has_nothing_to_say() {
        let table =
            MemoryTable::from_mappings((0..100).map(|n| user(&format!("s{n}@a.com"), &format!("t{n}@b.com")))).unwrap();
        assert!(one_to_one_in(&table).is_empty());
    }
}
