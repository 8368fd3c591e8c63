//! Why a delta request or one of its items is refused.

use crossmap_model::error::codes;
use crossmap_model::{ErrorDetail, GraphError, MAX_DELTA_ITEMS};
use std::fmt;

/// One refused item: its index in `value`, the property concerned, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {index}{}: {message}", PropertySuffix(property))]
pub struct ItemError {
    /// The item's index in the request's `value` array.
    pub index: usize,
    /// The property path inside the item, e.g. `sourceGroupIdentity.id`; empty for the item as a whole.
    pub property: String,
    /// What is wrong, for a person.
    pub message: String,
}

struct PropertySuffix<'a>(&'a str);

impl fmt::Display for PropertySuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, ", {}", self.0)
        }
    }
}

impl ItemError {
    /// An error about `property` of item `index`.
    pub fn new(index: usize, property: impl Into<String>, message: impl Into<String>) -> Self {
        ItemError {
            index,
            property: property.into(),
            message: message.into(),
        }
    }

    /// Where the error is in the request body, as Graph writes `target`: `value[3].sourceOrganizationId`.
    pub fn target(&self) -> String {
        if self.property.is_empty() {
            format!("value[{}]", self.index)
        } else {
            format!("value[{}].{}", self.index, self.property)
        }
    }

    /// The error as an entry of Graph's `error.details`.
    pub fn to_detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: codes::INVALID_REQUEST.to_owned(),
            message: self.to_string(),
            target: Some(self.target()),
        }
    }
}

/// Why a whole delta request is refused. Nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is not a JSON object of the delta payload's shape.
    #[error("the body is not a valid delta payload: {message}")]
    Malformed {
        /// What is wrong, with its place in the body.
        message: String,
    },
    /// The body is not a delta payload: its `@context` is missing or is not `#$delta`.
    #[error("the body is not a delta payload: \"@context\" must be \"#$delta\" (found {})", found_context(.found))]
    NotDelta {
        /// The context that was found.
        found: Option<String>,
    },
    /// More items than one request may carry.
    #[error("the request has {count} items; at most {MAX_DELTA_ITEMS} are allowed in the value array")]
    TooManyItems {
        /// How many items it has.
        count: usize,
    },
    /// One or more items are invalid, so none is applied. Never empty.
    #[error("{}", describe_items(.errors))]
    Invalid {
        /// Every refused item, in order.
        errors: Vec<ItemError>,
    },
}

fn found_context(found: &Option<String>) -> String {
    found.as_deref().map_or_else(|| "none".to_owned(), |c| format!("{c:?}"))
}

fn describe_items(errors: &[ItemError]) -> String {
    match errors {
        [] => "no item is invalid".to_owned(),
        [one] => format!("nothing was applied: {one}"),
        [first, rest @ ..] => format!("nothing was applied: {first} (and {} more invalid items)", rest.len()),
    }
}

impl RequestError {
    /// The error in Graph's shape: code `invalidRequest`, one detail per invalid item.
    pub fn to_graph_error(&self) -> GraphError {
        let mut e = GraphError::new(codes::INVALID_REQUEST, self.to_string());
        if let RequestError::Invalid { errors } = self {
            e.target = errors.first().map(ItemError::target);
            e.details = errors.iter().map(ItemError::to_detail).collect();
        }
        e
    }
}
