//! Planning (the smallest list of items from one state to another) and chunking into requests.

use crate::rules::Rules;
use crate::table::{MappingTable, Row, SortedTable};
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
    PlanItems::new(current, desired, complete).collect()
}

/// [`plan`] one item at a time: the same items in the same order, each built only when it is asked for,
/// so that a plan of a million mappings can be sent without being held. Only the keys that differ are
/// kept (sorted, by reference).
///
/// ```
/// use crossmap_delta::{MemoryTable, plan, plan_iter};
/// use crossmap_model::SharePointUserIdentityMapping as User;
/// let user: User = serde_json::from_str(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
///   "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"},
///   "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}}"#).unwrap();
/// let (current, desired) = (MemoryTable::new(), MemoryTable::from_mappings([user]).unwrap());
/// assert_eq!(plan_iter(&current, &desired).collect::<Vec<_>>(), plan(&current, &desired));
/// ```
pub fn plan_iter<'a, M: Rules, C: MappingTable<M>, D: MappingTable<M>>(
    current: &'a C,
    desired: &'a D,
) -> PlanItems<'a, M, C, D> {
    PlanItems::new(current, desired, true)
}

/// [`plan_merge`] one item at a time, as [`plan_iter`] is to [`plan`].
pub fn plan_merge_iter<'a, M: Rules, C: MappingTable<M>, D: MappingTable<M>>(
    current: &'a C,
    desired: &'a D,
) -> PlanItems<'a, M, C, D> {
    PlanItems::new(current, desired, false)
}

/// The items of a plan, built as they are asked for: see [`plan_iter`] and [`plan_merge_iter`].
pub struct PlanItems<'a, M: Rules, C, D> {
    current: &'a C,
    desired: &'a D,
    complete: bool,
    /// The keys whose rows differ, sorted; `true` for a key `desired` holds, `false` for a removal.
    keys: std::vec::IntoIter<(&'a M::Key, bool)>,
}

impl<M: Rules, C, D> std::fmt::Debug for PlanItems<'_, M, C, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanItems")
            .field("complete", &self.complete)
            .field("keys_left", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl<'a, M: Rules, C: MappingTable<M>, D: MappingTable<M>> PlanItems<'a, M, C, D> {
    fn new(current: &'a C, desired: &'a D, complete: bool) -> Self {
        let mut keys: Vec<(&'a M::Key, bool)> = desired
            .rows()
            // Rows of canonical mappings are equal exactly when the mappings are: no decoding.
            .filter(|(key, want)| current.row(key) != Some(*want))
            .map(|(key, _)| (key, true))
            .collect();
        if complete {
            keys.extend(
                current
                    .rows()
                    .filter(|(key, _)| desired.row(key).is_none())
                    .map(|(key, _)| (key, false)),
            );
        }
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        PlanItems {
            current,
            desired,
            complete,
            keys: keys.into_iter(),
        }
    }

    /// The item for `key`, or `None` when its rows differ only in what a request cannot state.
    fn item(&self, key: &M::Key, wanted: bool) -> Option<DeltaItem<M>> {
        let want = if wanted { Some(self.desired.row(key)?) } else { None };
        item(self.current.row(key), want, self.complete)
    }
}

/// The item that turns the row `have` into the row `want` (`None`: removed), or `None` when there is
/// nothing a request can state to do so.
fn item<M: Rules>(have: Option<&Row>, want: Option<&Row>, complete: bool) -> Option<DeltaItem<M>> {
    let Some(want) = want else {
        return Some(DeltaItem::deleted(have?.decode::<M>().key_only()));
    };
    let Some(have) = have else {
        return Some(DeltaItem::Upsert(requestable(want.decode())));
    };
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
        return None;
    }
    let mut patch = want.key_only();
    patch.merge(changed);
    Some(DeltaItem::Upsert(patch))
}

/// A plan that owns its desired rows and gives each up as its item is built, reading `current` anew at
/// every step: so `current` may change between steps (a push records what the service acknowledged
/// into it), and memory shrinks as the plan is sent. The items, and their order, are [`plan_iter`]'s (or
/// [`plan_merge_iter`]'s) as long as a step only changes keys already handed out.
///
/// ```
/// use crossmap_delta::{MappingTable, MemoryTable, PlanQueue, plan};
/// use crossmap_model::{IdentityMapping, SharePointUserIdentityMapping as User};
/// let user: User = serde_json::from_str(r#"{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
///   "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"},
///   "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}}"#).unwrap();
/// let desired = MemoryTable::from_mappings([user]).unwrap();
/// let mut current = MemoryTable::new();
/// let expected = plan(&current, &desired);
/// let mut queue = PlanQueue::new(&current, desired, true);
/// let item = queue.next_item(&current).unwrap();
/// assert_eq!(vec![item.clone()], expected);
/// current.put(item.entity().source_key().unwrap(), item.entity()); // as the service applied it
/// assert!(queue.next_item(&current).is_none());
/// ```
pub struct PlanQueue<M: Rules> {
    complete: bool,
    /// Sorted by key: the desired row, or `None` for a removal.
    keys: std::vec::IntoIter<(M::Key, Option<Row>)>,
}

impl<M: Rules> std::fmt::Debug for PlanQueue<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanQueue")
            .field("complete", &self.complete)
            .field("keys_left", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl<M: Rules> PlanQueue<M> {
    /// The plan from `current` to `desired`: the complete one ([`plan`]) when `complete`, else the merge
    /// ([`plan_merge`]). Rows `desired` holds unchanged are dropped at once.
    ///
    /// Given a [`SortedTable`], its rows become the queue where they lie (already in key order, no other
    /// allocation unless there are removals to merge in); a [`crate::MemoryTable`] is sorted first.
    pub fn new(current: &impl MappingTable<M>, desired: impl Into<SortedTable<M>>, complete: bool) -> Self {
        let desired: SortedTable<M> = desired.into();
        let removals: Vec<(M::Key, Option<Row>)> = if complete {
            current
                .rows()
                .filter(|(key, _)| desired.row(key).is_none())
                .map(|(key, _)| (key.clone(), None))
                .collect()
        } else {
            Vec::new()
        };
        // Filtered and wrapped in place (same size: `Option<Row>` uses the box's niche), still sorted.
        let mut keys: Vec<(M::Key, Option<Row>)> = desired
            .into_rows()
            .into_iter()
            .filter(|(key, want)| current.row(key) != Some(want))
            .map(|(key, want)| (key, Some(want)))
            .collect();
        if !removals.is_empty() {
            keys.extend(removals);
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        PlanQueue {
            complete,
            keys: keys.into_iter(),
        }
    }

    /// The next item, planned against `current` as it is now; `None` when the plan is done.
    pub fn next_item(&mut self, current: &impl MappingTable<M>) -> Option<DeltaItem<M>> {
        loop {
            let (key, want) = self.keys.next()?;
            if let Some(item) = item(current.row(&key), want.as_ref(), self.complete) {
                return Some(item);
            }
        }
    }

    /// How many keys are left to look at (an upper bound on the items left).
    pub fn keys_left(&self) -> usize {
        self.keys.len()
    }
}

impl<M: Rules, C: MappingTable<M>, D: MappingTable<M>> Iterator for PlanItems<'_, M, C, D> {
    type Item = DeltaItem<M>;

    fn next(&mut self) -> Option<DeltaItem<M>> {
        loop {
            let (key, wanted) = self.keys.next()?;
            if let Some(item) = self.item(key, wanted) {
                return Some(item);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.keys.len()))
    }
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
    chunk_by(items, max, |item| {
        item.entity().source_key_checked().and_then(Result::ok)
    })
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
