//! Reading a delta request body so that each item's problems are reported against the item.
//!
//! `serde_json::from_str::<DeltaRequest<M>>` stops at the first bad value anywhere. The emulator needs
//! more: continue-on-error must apply the items that parse and report the ones that do not, each with its
//! index and property path. So the envelope is read first, then every item on its own.

use crate::error::{ItemError, RequestError};
use crossmap_model::{DeltaItem, IdentityMapping, Removed};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A delta request whose items were read one by one: each is an item, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest<M> {
    /// The payload's `@context`.
    pub context: Option<String>,
    /// The items in order.
    pub items: Vec<Result<DeltaItem<M>, ItemError>>,
}

impl<M> ParsedRequest<M> {
    /// Whether the context marks a delta payload.
    pub fn is_delta(&self) -> bool {
        crossmap_model::is_delta_context(self.context.as_deref())
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "@context", alias = "@odata.context", default)]
    context: Option<String>,
    #[serde(borrow)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Reads a request body. Fails only when the envelope itself is wrong; bad items are kept as errors.
///
/// ```
/// use crossmap_delta::parse_request;
/// use crossmap_model::SharePointUserIdentityMapping as User;
/// let body = r##"{"@context": "#$delta", "value": [{"sourceOrganizationId": 5}]}"##;
/// let parsed = parse_request::<User>(body).unwrap();
/// let e = parsed.items[0].as_ref().unwrap_err();
/// assert_eq!(e.target(), "value[0].sourceOrganizationId");
/// ```
pub fn parse_request<M: IdentityMapping>(body: &str) -> Result<ParsedRequest<M>, RequestError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(body).map_err(|e| RequestError::Malformed { message: e.to_string() })?;
    if let Some(name) = envelope.other.keys().find(|k| !k.contains('@')) {
        return Err(RequestError::Malformed {
            message: format!("{name:?} is not a property of a delta payload"),
        });
    }
    let raw = envelope.value.ok_or_else(|| RequestError::Malformed {
        message: "it has no \"value\" array".to_owned(),
    })?;
    let items = raw
        .into_iter()
        .enumerate()
        .map(|(index, raw)| parse_item(index, raw.get()))
        .collect();
    Ok(ParsedRequest {
        context: envelope.context,
        items,
    })
}

fn parse_item<M: IdentityMapping>(index: usize, json: &str) -> Result<DeltaItem<M>, ItemError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let mut entity: M = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let property = if path == "." { String::new() } else { path };
        ItemError::new(index, property, e.into_inner().to_string())
    })?;
    let mut found = None;
    for name in REMOVED_ANNOTATIONS {
        if let Some(value) = entity.additional_properties_mut().remove(name) {
            if found.is_some() {
                return Err(ItemError::new(
                    index,
                    name,
                    "both \"@removed\" and \"@odata.removed\" are present",
                ));
            }
            found = Some((name, value));
        }
    }
    Ok(match found {
        None => DeltaItem::Upsert(entity),
        Some((name, value)) => DeltaItem::Removed {
            removed: removal(index, name, value)?,
            entity,
        },
    })
}

/// The names an item's removal annotation may carry: OData 4.01's and 4.0's.
const REMOVED_ANNOTATIONS: [&str; 2] = ["@removed", "@odata.removed"];

/// Reads the removal annotation strictly: an object whose only property is `reason` (instance annotations
/// aside), like every other object of the payload (rules 6 and 11 of `docs/delta-semantics.md`).
fn removal(index: usize, name: &str, value: Value) -> Result<Removed, ItemError> {
    let Value::Object(mut object) = value else {
        let found = match value {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(ItemError::new(
            index,
            name,
            format!("must be an object such as {{\"reason\": \"deleted\"}}, not {found}"),
        ));
    };
    if let Some(other) = object.keys().find(|k| *k != "reason" && !k.contains('@')) {
        return Err(ItemError::new(
            index,
            format!("{name}.{other}"),
            format!("is not a property of {name}: it carries only \"reason\""),
        ));
    }
    object.retain(|k, _| k == "reason");
    Removed::deserialize(Value::Object(object))
        .map_err(|e| ItemError::new(index, format!("{name}.reason"), e.to_string()))
}
