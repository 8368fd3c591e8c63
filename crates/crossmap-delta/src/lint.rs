//! The optional one-to-one lint: mapping is one-to-one, so two sources should not share a target.

use crate::rules::Rules;
use std::collections::BTreeMap;

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
        if let (Some(target), Some(Ok(source))) = (m.target_key(), m.source_key()) {
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
