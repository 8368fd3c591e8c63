//! Graph's error envelope: `{"error": {"code", "message", "innerError": {"request-id", "date", ...}}}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Error codes Graph uses and crossmap emits.
pub mod codes {
    /// The request is malformed or incorrect.
    pub const INVALID_REQUEST: &str = "invalidRequest";
    /// The resource does not exist.
    pub const ITEM_NOT_FOUND: &str = "itemNotFound";
    /// The caller lacks the permission the call needs.
    pub const ACCESS_DENIED: &str = "accessDenied";
    /// The caller is not authenticated.
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// Throttled: too many requests.
    pub const ACTIVITY_LIMIT_REACHED: &str = "activityLimitReached";
    /// A delta token is too old; the caller must start over.
    pub const RESYNC_REQUIRED: &str = "resyncRequired";
    /// The server failed unexpectedly.
    pub const GENERAL_EXCEPTION: &str = "generalException";
    /// The method is not allowed on the resource.
    pub const METHOD_NOT_ALLOWED: &str = "methodNotAllowed";
    /// The request body's media type is not supported.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupportedMediaType";
    /// The request body is too large.
    pub const REQUEST_TOO_LARGE: &str = "requestTooLarge";
}

/// The body of every Graph error response.
///
/// ```
/// use crossmap_model::ErrorResponse;
/// let body = r#"{"error":{"code":"itemNotFound","message":"no such mapping","innerError":{"request-id":"r1","date":"2026-11-23T00:00:00"}}}"#;
/// let e: ErrorResponse = serde_json::from_str(body).unwrap();
/// assert_eq!(e.error.code, "itemNotFound");
/// assert_eq!(e.error.inner_error.unwrap().request_id.as_deref(), Some("r1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: GraphError,
}

/// The `error` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphError {
    /// A machine-readable code, e.g. `invalidRequest`; see [`codes`].
    pub code: String,
    /// A message for a person.
    pub message: String,
    /// The part of the request the error is about, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Further errors, e.g. one per failed item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    /// Diagnostics: request id, date, client request id.
    #[serde(rename = "innerError", default, skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<InnerError>,
}

/// One entry of `error.details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A machine-readable code.
    pub code: String,
    /// A message for a person.
    pub message: String,
    /// What the detail is about, e.g. `value[3].sourceOrganizationId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// `error.innerError`: where and when the error happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerError {
    /// When, as the server saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The server's id for the request.
    #[serde(rename = "request-id", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The id the client sent in `client-request-id`.
    #[serde(rename = "client-request-id", default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// Anything else the server put there.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

impl GraphError {
    /// An error with a code and message and nothing else.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        GraphError {
            code: code.into(),
            message: message.into(),
            target: None,
            details: Vec::new(),
            inner_error: None,
        }
    }
}

impl From<GraphError> for ErrorResponse {
    fn from(error: GraphError) -> Self {
        ErrorResponse { error }
    }
}
