//! Planning (the smallest list of items from one state to another) and chunking into requests.

use crate::rules::Rules;
use crate::table::MappingTable;
use crossmap_model::{DeltaItem, IdentityMapping, MAX_DELTA_ITEMS};
use std::collections::HashMap;

/// The smallest list of delta items that turns `current` into `desired`, sorted by key.
///
/// Both tables hold canonical mappings (as the engine stores them; build a desired state with
/// [`crate::MemoryTable::from_mappings`]). A new key becomes its complete mapping; a changed one only its
/// changed properties (removed ones as `null`) beside its source key; a key missing from `desired` a
/// removal. Keep only the upserts to plan without removing anything, or use [`plan_merge`] to leave alone
/// what `desired` does not state.
///
/// Only what a request may state is compared or sent: properties the schema does not declare, instance
/// annotations and server-owned properties (`id`, `deleted`, ...) in either table are ignored, so a
/// service that echoes more than it was sent never causes a change, and every planned item is one the
/// engine accepts whenever `desired` holds valid mappings.
///
/// ```
/// use crossmap_delta::{MemoryTable, plan};
/// use crossmap_model::SharePointUserIdentityMapping as User;
/// let user: User = serde_json::from_str(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
///   "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"},
///   "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}}"#).unwrap();
/// let desired = MemoryTable::from_mappings([user]).unwrap();
/// assert_eq!(plan(&MemoryTable::new(), &desired).len(), 1);
/// assert!(plan(&desired, &desired).is_empty());
/// ```
pub fn plan<M: Rules>(current: &impl MappingTable<M>, desired: &impl MappingTable<M>) -> Vec<DeltaItem<M>> {
    plan_with(current, desired, true)
}

/// The upserts that make `current` hold everything `desired` states, leaving alone what it does not.
///
/// Unlike [`plan`], a property absent from a desired mapping is not compared (it keeps whatever value
/// the service has), and no mapping is removed: the shape of an OData PATCH, and of a partial identity
/// map. Unknown properties, annotations and server-owned properties are ignored as in [`plan`].
///
/// ```
/// use crossmap_delta::{MemoryTable, plan, plan_merge};
/// use crossmap_model::SharePointUserIdentityMapping as User;
/// let user = |json: &str| -> User { serde_json::from_str(json).unwrap() };
/// let stored = user(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111", "userType": "guestUser",
///   "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"},
///   "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"},
///   "targetUserMigrationData": {"email": "ann@fabrikam.com"}}"#);
/// let wanted = user(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111", "userType": "guestUser",
///   "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"},
///   "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}}"#);
/// let (current, desired) = (MemoryTable::from_mappings([stored]).unwrap(), MemoryTable::from_mappings([wanted]).unwrap());
/// assert!(plan_merge(&current, &desired).is_empty()); // the e-mail is not stated: left alone
/// assert_eq!(plan(&current, &desired).len(), 1); // the complete state clears it
/// ```
pub fn plan_merge<M: Rules>(current: &impl MappingTable<M>, desired: &impl MappingTable<M>) -> Vec<DeltaItem<M>> {
    plan_with(current, desired, false)
}

/// What a request may state of `mapping`: no server-owned property, nothing undeclared, no annotation.
fn requestable<M: Rules>(mut mapping: M) -> M {
    mapping.clear_server_owned();
    mapping.known_only();
    mapping
}

fn plan_with<M: Rules>(
    current: &impl MappingTable<M>,
    desired: &impl MappingTable<M>,
    complete: bool,
) -> Vec<DeltaItem<M>> {
    let mut items: Vec<(&M::Key, DeltaItem<M>)> = Vec::new();
    for (key, want) in desired.rows() {
        match current.row(key) {
            // Rows of canonical mappings are equal exactly when the mappings are: no decoding.
            Some(have) if have == want => {}
            None => items.push((key, DeltaItem::Upsert(requestable(want.decode())))),
            Some(have) => {
                let (have, want): (M, M) = (requestable(have.decode()), requestable(want.decode()));
                let target = if complete {
                    want.clone()
                } else {
                    let mut merged = have.clone();
                    merged.merge(want.clone());
                    merged
                };
                let changed = requestable(have.diff(&target));
                if changed == M::default() {
                    continue; // the rows differed only in what a request cannot state
                }
                let mut patch = want.key_only();
                patch.merge(changed);
                items.push((key, DeltaItem::Upsert(patch)));
            }
        }
    }
    if complete {
        for (key, have) in current.rows() {
            if desired.row(key).is_none() {
                items.push((key, DeltaItem::deleted(have.decode::<M>().key_only())));
            }
        }
    }
    items.sort_unstable_by(|a, b| a.0.cmp(b.0));
    items.into_iter().map(|(_, item)| item).collect()
}

/// A request's worth of items, and the chunk that must be applied before it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<T> {
    /// At most the chunk size, in an order that keeps every key's items in their original order.
    pub items: Vec<T>,
    /// The index of a chunk that must be applied first (only when one key has more items than fit in a
    /// chunk). Chunks without it touch keys no other chunk touches and may be sent concurrently.
    pub after: Option<usize>,
}

/// Splits `items` into chunks of at most `max` (1 to 50) items, never reordering two items of the same key.
///
/// All items of a key go into one chunk where they fit, so chunks are independent and may be sent
/// concurrently; a key with more than `max` items spans consecutive chunks chained by [`Chunk::after`].
/// Applying the chunks one after another in order is the same as applying `items` whole.
pub fn chunk<M: IdentityMapping>(items: Vec<DeltaItem<M>>, max: usize) -> Vec<Chunk<DeltaItem<M>>> {
    chunk_by(items, max, |item| item.entity().source_key().and_then(Result::ok))
}

/// [`chunk`] for any item type, given how to find an item's key (`None`: an item of its own), e.g. to
/// carry each item's position in the caller's list along.
pub fn chunk_by<T, K: std::hash::Hash + Eq>(
    items: Vec<T>,
    max: usize,
    key_of: impl Fn(&T) -> Option<K>,
) -> Vec<Chunk<T>> {
    let max = max.clamp(1, MAX_DELTA_ITEMS);
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut by_key: HashMap<K, usize> = HashMap::new();
    for item in items {
        let slot = match key_of(&item) {
            Some(k) => *by_key.entry(k).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            }),
            None => {
                groups.push(Vec::new());
                groups.len() - 1
            }
        };
        groups[slot].push(item);
    }
    let mut chunks: Vec<Chunk<T>> = Vec::new();
    let mut open: Option<usize> = None;
    for group in groups {
        if group.len() > max {
            let mut previous = None;
            let mut rest = group;
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(max));
                chunks.push(Chunk {
                    items: rest,
                    after: previous,
                });
                previous = Some(chunks.len() - 1);
                rest = tail;
            }
            continue;
        }
        match open {
            Some(i) if chunks[i].items.len() + group.len() <= max => chunks[i].items.extend(group),
            _ => {
                chunks.push(Chunk {
                    items: group,
                    after: None,
                });
                open = Some(chunks.len() - 1);
            }
        }
    }
    chunks
}
