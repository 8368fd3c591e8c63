//! Applying a delta request to a table: all-or-nothing, or continue-on-error.

use crate::error::{ItemError, RequestError};
use crate::parse::ParsedRequest;
use crate::rules::Rules;
use crate::table::{MappingTable, Row};
use crate::validate::{Op, validate_item, validate_owned};
use crossmap_model::{Deleted, DeltaItem, DeltaRequest, IdentityMapping, MAX_DELTA_ITEMS, Patch};
use std::borrow::Cow;

/// How a request with invalid items is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One invalid item refuses the whole request; nothing is applied (OData's default).
    #[default]
    Atomic,
    /// Valid items are applied; each invalid one is reported (OData's `Prefer: odata.continue-on-error`).
    ContinueOnError,
}

/// What became of one item, in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<M: IdentityMapping> {
    /// The mapping was created or updated; `mapping` is its complete state afterwards.
    Upserted {
        /// Whether it did not exist before the item.
        created: bool,
        /// The mapping after the item.
        mapping: M,
    },
    /// The mapping was removed, or did not exist; `tombstone` is `{id, source identity, deleted}`.
    Removed {
        /// Whether it existed before the item.
        existed: bool,
        /// The response entry for the removal.
        tombstone: M,
    },
    /// The item was refused (continue-on-error mode only).
    Failed(ItemError),
}

impl<M: IdentityMapping> Outcome<M> {
    /// The response entry Graph writes for the item: the mapping, or the tombstone. `None` for a failure.
    pub fn entry(&self) -> Option<&M> {
        match self {
            Outcome::Upserted { mapping, .. } => Some(mapping),
            Outcome::Removed { tombstone, .. } => Some(tombstone),
            Outcome::Failed(_) => None,
        }
    }
}

/// One effective change to a table: what a durable store logs and what the change feed serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<M: IdentityMapping> {
    /// The mapping of the key is now this row (complete state).
    Upsert(M::Key, Row),
    /// The mapping of the key is gone.
    Remove(M::Key),
}

impl<M: IdentityMapping> Change<M> {
    /// The key changed.
    pub fn key(&self) -> &M::Key {
        match self {
            Change::Upsert(k, _) | Change::Remove(k) => k,
        }
    }

    /// Applies the change to `table`: put or remove.
    pub fn apply_to(self, table: &mut impl MappingTable<M>) {
        match self {
            Change::Upsert(k, row) => table.put_row(k, row),
            Change::Remove(k) => {
                table.remove(&k);
            }
        }
    }

    /// The change as a delta item: the complete mapping, or an `@removed` tombstone.
    pub fn to_delta_item(&self) -> DeltaItem<M> {
        match self {
            Change::Upsert(_, row) => DeltaItem::Upsert(row.decode()),
            Change::Remove(k) => DeltaItem::deleted(tombstone::<M>(k)),
        }
    }
}

/// A request worked out against a table but not yet written: the outcomes to answer with and the
/// changes to make. A durable store logs [`Prepared::changes`] before it calls [`Prepared::commit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared<M: IdentityMapping> {
    /// One outcome per item, in order.
    pub outcomes: Vec<Outcome<M>>,
    /// The net effect on the table, one change per key whose mapping changed, in first-touch order.
    pub changes: Vec<Change<M>>,
}

impl<M: IdentityMapping> Prepared<M> {
    /// Writes the changes into `table` (the one it was prepared against) and returns the outcomes.
    pub fn commit(self, table: &mut impl MappingTable<M>) -> Vec<Outcome<M>> {
        for change in self.changes {
            change.apply_to(table);
        }
        self.outcomes
    }
}

/// The response entry for a removal: `{id, source identity, deleted: {state: "deleted"}}`.
pub fn tombstone<M: IdentityMapping>(key: &M::Key) -> M {
    let mut t = M::from_key(key);
    *t.id_mut() = M::id_of(key).into();
    *t.deleted_mut() = Patch::Value(Deleted {
        state: Patch::Value("deleted".to_owned()),
        ..Deleted::default()
    });
    t
}

/// Checks the envelope of a request: a delta payload of at most 50 items.
pub fn check_envelope<M>(request: &DeltaRequest<M>) -> Result<(), RequestError> {
    envelope(&request.context, request.value.len())
}

fn envelope(context: &Option<String>, count: usize) -> Result<(), RequestError> {
    if !crossmap_model::is_delta_context(context.as_deref()) {
        return Err(RequestError::NotDelta { found: context.clone() });
    }
    if count > MAX_DELTA_ITEMS {
        return Err(RequestError::TooManyItems { count });
    }
    Ok(())
}

/// Validates and applies a delta request (envelope checked) to `table`.
///
/// ```
/// use crossmap_delta::{MappingTable, MemoryTable, Mode, apply};
/// use crossmap_model::{DeltaRequest, SharePointGroupIdentityMapping};
/// let body = r##"{"@context": "#$delta", "value": [{"sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
///   "groupType": "m365Group", "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"},
///   "targetGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}}]}"##;
/// let request: DeltaRequest<SharePointGroupIdentityMapping> = serde_json::from_str(body).unwrap();
/// let mut table = MemoryTable::new();
/// let outcomes = apply(&mut table, &request, Mode::Atomic).unwrap();
/// assert_eq!(table.len(), 1);
/// assert_eq!(outcomes[0].entry().unwrap().id.value().unwrap(), "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE");
/// ```
pub fn apply<M: Rules>(
    table: &mut impl MappingTable<M>,
    request: &DeltaRequest<M>,
    mode: Mode,
) -> Result<Vec<Outcome<M>>, RequestError> {
    check_envelope(request)?;
    Ok(prepare_items(&*table, &request.value, mode)?.commit(table))
}

/// Works out a request (envelope checked) against `table` without changing it.
pub fn prepare<M: Rules>(
    table: &impl MappingTable<M>,
    request: &DeltaRequest<M>,
    mode: Mode,
) -> Result<Prepared<M>, RequestError> {
    check_envelope(request)?;
    prepare_items(table, &request.value, mode)
}

/// Works out any number of items against `table` without changing it. The 50-item cap is a rule of
/// the wire, checked by [`prepare`]; this is the engine underneath, for plans and tests.
pub fn prepare_items<M: Rules>(
    table: &impl MappingTable<M>,
    items: &[DeltaItem<M>],
    mode: Mode,
) -> Result<Prepared<M>, RequestError> {
    run(
        table,
        items.iter().enumerate().map(|(i, item)| validate_item(i, item)),
        mode,
    )
}

/// [`prepare_items`] for items the caller gives up: nothing is copied.
pub fn prepare_owned<M: Rules>(
    table: &impl MappingTable<M>,
    items: Vec<DeltaItem<M>>,
    mode: Mode,
) -> Result<Prepared<M>, RequestError> {
    run(
        table,
        items.into_iter().enumerate().map(|(i, item)| validate_owned(i, item)),
        mode,
    )
}

/// Works out a request read with [`crate::parse_request`] (envelope checked): an item that could not be
/// read counts as an invalid item.
pub fn prepare_parsed<M: Rules>(
    table: &impl MappingTable<M>,
    request: ParsedRequest<M>,
    mode: Mode,
) -> Result<Prepared<M>, RequestError> {
    envelope(&request.context, request.items.len())?;
    let ops = request.items.into_iter().enumerate().map(|(i, item)| match item {
        Ok(item) => validate_owned(i, item),
        Err(e) => Err(vec![e]),
    });
    run(table, ops, mode)
}

fn run<M: Rules>(
    table: &impl MappingTable<M>,
    validated: impl Iterator<Item = Result<Op<M>, Vec<ItemError>>>,
    mode: Mode,
) -> Result<Prepared<M>, RequestError> {
    let mut errors = Vec::new();
    let mut ops = Vec::with_capacity(validated.size_hint().0);
    for result in validated {
        match result {
            Ok(op) => ops.push(Ok(op)),
            Err(e) => {
                ops.push(Err(e.first().cloned().expect("an invalid item has an error")));
                if mode == Mode::Atomic {
                    errors.extend(e);
                }
            }
        }
    }
    if mode == Mode::Atomic && !errors.is_empty() {
        return Err(RequestError::Invalid { errors });
    }

    // Each item sees the effect of the ones before it: keep the touched keys' current rows aside.
    let mut overlay: Overlay<M> = Overlay { slots: Vec::new() };
    let mut outcomes = Vec::with_capacity(ops.len());
    for (index, op) in ops.into_iter().enumerate() {
        let op = match op {
            Ok(op) => op,
            Err(e) => {
                outcomes.push(Outcome::Failed(e));
                continue;
            }
        };
        let slot = overlay.slot(table, op.key());
        match op {
            Op::Remove { key } => {
                let existed = slot.current.take().is_some();
                outcomes.push(Outcome::Removed {
                    existed,
                    tombstone: tombstone::<M>(&key),
                });
            }
            Op::Upsert { key, patch } => {
                let created = slot.current.is_none();
                let mut next = match &slot.current {
                    Some(row) => {
                        let mut m: M = row.decode();
                        m.merge(patch);
                        m
                    }
                    None => {
                        let mut m = patch;
                        m.fill_defaults();
                        *m.id_mut() = Patch::Value(M::id_of(&key));
                        m
                    }
                };
                next.canonicalize();
                if let Some(missing) = next.missing_required() {
                    let message = if created {
                        "is required to create a mapping"
                    } else {
                        "must not be cleared: every mapping holds it"
                    };
                    let e = ItemError::new(index, missing, message);
                    if mode == Mode::Atomic {
                        errors.push(e);
                    } else {
                        outcomes.push(Outcome::Failed(e));
                    }
                    continue;
                }
                slot.current = Some(Cow::Owned(Row::encode(&next)));
                outcomes.push(Outcome::Upserted { created, mapping: next });
            }
        }
    }
    if !errors.is_empty() {
        return Err(RequestError::Invalid { errors });
    }
    let changes = overlay
        .slots
        .into_iter()
        .filter_map(|slot| match (slot.current, slot.original) {
            (Some(now), Some(before)) if now.as_ref() == before => None,
            (Some(now), _) => Some(Change::Upsert(slot.key, now.into_owned())),
            (None, Some(_)) => Some(Change::Remove(slot.key)),
            (None, None) => None,
        })
        .collect();
    Ok(Prepared { outcomes, changes })
}

/// The touched keys of one request: a short list, so a linear search beats hashing.
struct Overlay<'t, M: IdentityMapping> {
    slots: Vec<Slot<'t, M>>,
}

struct Slot<'t, M: IdentityMapping> {
    key: M::Key,
    original: Option<&'t Row>,
    /// The key's row after the items so far; borrowed from the table until an item changes it.
    current: Option<Cow<'t, Row>>,
}

impl<'t, M: IdentityMapping> Overlay<'t, M> {
    fn slot(&mut self, table: &'t impl MappingTable<M>, key: &M::Key) -> &mut Slot<'t, M> {
        let i = match self.slots.iter().position(|s| &s.key == key) {
            Some(i) => i,
            None => {
                let original = table.row(key);
                self.slots.push(Slot {
                    key: key.clone(),
                    original,
                    current: original.map(Cow::Borrowed),
                });
                self.slots.len() - 1
            }
        };
        &mut self.slots[i]
    }
}
