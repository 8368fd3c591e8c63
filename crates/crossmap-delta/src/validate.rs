//! Validation of one delta item, before anything is applied: keys, types, formats, enums, unknown names.

use crate::error::ItemError;
use crate::rules::Rules;
use crossmap_model::odata::{PropertyInfo, ValueRef, Visitor, type_name_matches};
use crossmap_model::{DeltaItem, IdentityMapping, Patch, RemovedReason};
use serde_json::{Map, Value};

/// A valid item, reduced to what the engine applies.
#[derive(Debug, Clone, PartialEq)]
pub enum Op<M: IdentityMapping> {
    /// Merge `patch` into the mapping of `key`, creating it if needed. `patch` holds no server-owned
    /// property; its annotations are dropped when the result is canonicalised.
    Upsert {
        /// The normalised source key.
        key: M::Key,
        /// The properties to merge, as sent (explicit `null`s included).
        patch: M,
    },
    /// Remove the mapping of `key`, if there is one.
    Remove {
        /// The normalised source key.
        key: M::Key,
    },
}

impl<M: IdentityMapping> Op<M> {
    /// The key the operation concerns.
    pub fn key(&self) -> &M::Key {
        match self {
            Op::Upsert { key, .. } | Op::Remove { key } => key,
        }
    }
}

/// Validates item `index` without looking at any stored state. Reports every problem of the item.
pub fn validate_item<M: Rules>(index: usize, item: &DeltaItem<M>) -> Result<Op<M>, Vec<ItemError>> {
    validate_owned(index, item.clone())
}

/// [`validate_item`] for an item the caller gives up: nothing is copied.
pub fn validate_owned<M: Rules>(index: usize, item: DeltaItem<M>) -> Result<Op<M>, Vec<ItemError>> {
    let mut errors = Vec::new();
    let key = match item.entity().source_key_raw() {
        Patch::Absent => {
            errors.push(ItemError::new(
                index,
                M::SOURCE_KEY_PATH,
                "is required: it names the mapping",
            ));
            None
        }
        Patch::Null => {
            errors.push(ItemError::new(
                index,
                M::SOURCE_KEY_PATH,
                "must not be null: it names the mapping",
            ));
            None
        }
        Patch::Value(_) => match item.entity().source_key_checked().expect("a value") {
            Ok(key) => Some(key),
            Err(e) => {
                errors.push(ItemError::new(index, M::SOURCE_KEY_PATH, e.to_string()));
                None
            }
        },
    };
    // Every property an item carries is checked, a removal's too, although a removal reads only its key.
    let check = |entity: &mut M, errors: &mut Vec<ItemError>| {
        entity.clear_server_owned();
        entity.visit(&mut Checker::<M> {
            index,
            path: Vec::new(),
            errors,
            _kind: std::marker::PhantomData,
        });
    };
    let op = match item {
        DeltaItem::Removed { removed, mut entity } => {
            match &removed.reason {
                None | Some(RemovedReason::Deleted | RemovedReason::Changed) => {}
                Some(RemovedReason::Other(r)) => errors.push(ItemError::new(
                    index,
                    "@removed.reason",
                    format!("{r:?} is not a removal reason: expected \"deleted\" or \"changed\""),
                )),
            }
            check(&mut entity, &mut errors);
            key.map(|key| Op::Remove { key })
        }
        DeltaItem::Upsert(mut patch) => {
            check(&mut patch, &mut errors);
            key.map(|key| Op::Upsert { key, patch })
        }
    };
    match op {
        Some(op) if errors.is_empty() => Ok(op),
        _ => Err(errors),
    }
}

/// Checks every property of an upsert item against the schema and the kind's formats.
struct Checker<'a, M> {
    index: usize,
    path: Vec<&'static str>,
    errors: &'a mut Vec<ItemError>,
    _kind: std::marker::PhantomData<M>,
}

impl<M: Rules> Checker<'_, M> {
    fn at(&self, name: &str) -> String {
        let mut p = self.path.join(".");
        if !p.is_empty() {
            p.push('.');
        }
        p.push_str(name);
        p
    }

    fn fail(&mut self, name: &str, message: String) {
        let property = self.at(name);
        self.errors.push(ItemError::new(self.index, property, message));
    }

    fn format_of(&self, name: &str) -> Option<crate::rules::Format> {
        M::FORMATS.iter().find_map(|(path, format)| {
            let (last, parents) = path.split_last()?;
            (*last == name && parents == self.path.as_slice()).then_some(*format)
        })
    }
}

impl<M: Rules> Visitor for Checker<'_, M> {
    fn structured(&mut self, qualified_name: &'static str, odata_type: Option<&str>, additional: &Map<String, Value>) {
        if let Some(t) = odata_type {
            if !type_name_matches(t, qualified_name) {
                self.fail(
                    "@odata.type",
                    format!("{t:?} does not name {qualified_name}, the type of this value"),
                );
            }
        }
        for name in additional.keys().filter(|k| !k.contains('@')) {
            self.fail(name, format!("is not a property of {qualified_name}"));
        }
    }

    fn property(&mut self, info: &'static PropertyInfo, value: ValueRef<'_>) {
        match value {
            ValueRef::Null if !info.nullable => self.fail(info.name, "must not be null".to_owned()),
            ValueRef::Enum {
                name: "unknownFutureValue",
                ..
            } => self.fail(
                info.name,
                "\"unknownFutureValue\" marks members added later; it is not a value a client can set".to_owned(),
            ),
            ValueRef::Enum {
                name,
                known: false,
                members,
            } => {
                let accepted: Vec<&str> = members.iter().copied().filter(|m| *m != "unknownFutureValue").collect();
                self.fail(
                    info.name,
                    format!(
                        "{name:?} is not a member of {}: expected one of {}",
                        info.edm_type,
                        accepted.join(", ")
                    ),
                );
            }
            ValueRef::Text(text) => {
                if let Some(format) = self.format_of(info.name) {
                    if let Err(message) = format.check(text) {
                        self.fail(info.name, message);
                    }
                }
            }
            _ => {}
        }
    }

    fn enter(&mut self, info: &'static PropertyInfo) {
        self.path.push(info.name);
    }

    fn leave(&mut self) {
        self.path.pop();
    }
}
