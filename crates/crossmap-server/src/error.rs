//! Every error the emulator answers, in Graph's shape: `{"error": {"code", "message", "innerError"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crossmap_model::error::codes;
use crossmap_model::{ErrorDetail, ErrorResponse, GraphError, InnerError};

/// What Graph answers an invalid or expired token with.
pub const INVALID_TOKEN: &str = "InvalidAuthenticationToken";

/// An error response: status, Graph error, and the headers that go with it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The Graph error (its `innerError` is filled from the request when answered); boxed so that a
    /// `Result<_, ApiError>` stays small.
    pub error: Box<GraphError>,
    /// `Allow` for a 405.
    pub allow: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: Box::new(GraphError::new(code, message)),
            allow: None,
        }
    }

    /// 400 `invalidRequest`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
    }

    /// 404 `itemNotFound`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, codes::ITEM_NOT_FOUND, message)
    }

    /// 405 with the methods the resource allows.
    pub fn method_not_allowed(method: &str, allow: &'static str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on this resource; it allows {allow}"),
        );
        e.allow = Some(allow);
        e
    }

    /// 401 for a missing, invalid or expired token.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, INVALID_TOKEN, message)
    }

    /// 403 `accessDenied`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, codes::ACCESS_DENIED, message)
    }

    /// 500 `generalException`; the cause goes to the log, not to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed inside the emulator");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::GENERAL_EXCEPTION,
            "the emulator failed; see its log",
        )
    }

    /// With `error.target` and `error.details`.
    pub fn with_details(mut self, target: Option<String>, details: Vec<ErrorDetail>) -> ApiError {
        self.error.target = target;
        self.error.details = details;
        self
    }
}

impl From<crossmap_delta::RequestError> for ApiError {
    fn from(e: crossmap_delta::RequestError) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: Box::new(e.to_graph_error()),
            allow: None,
        }
    }
}

impl From<crossmap_store::StoreError> for ApiError {
    fn from(e: crossmap_store::StoreError) -> ApiError {
        use crossmap_store::StoreError;
        match e {
            StoreError::Refused(r) => r.into(),
            StoreError::Feed(f @ crossmap_delta::FeedError::Resync { .. }) => {
                ApiError::new(StatusCode::GONE, codes::RESYNC_REQUIRED, f.to_string())
            }
            StoreError::Feed(f) => ApiError::bad_request(f.to_string()),
            StoreError::Directory(d) => ApiError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", d.to_string()),
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "the emulator's store stopped after a failed write; restart it",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

/// The request's diagnostics, put into `innerError` and the response headers.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Our id for the request.
    pub request_id: String,
    /// The client's `client-request-id`, if sent.
    pub client_request_id: Option<String>,
    /// When, as an HTTP date (the `Date` header; [`RequestInfo::inner_date`] for `innerError`).
    pub date: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(ErrorResponse { error: *self.error })).into_response();
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl RequestInfo {
    /// The request's date as `innerError.date` carries it: Graph writes an ISO 8601 date-time in UTC
    /// without a zone (`2026-11-23T14:00:00`), not the HTTP date of the `Date` header.
    ///
    /// ```
    /// let info = crossmap_server::RequestInfo {
    ///     request_id: "r".into(),
    ///     client_request_id: None,
    ///     date: "Mon, 23 Nov 2026 14:00:00 GMT".into(),
    /// };
    /// assert_eq!(info.inner_date(), "2026-11-23T14:00:00");
    /// ```
    pub fn inner_date(&self) -> String {
        match httpdate::parse_http_date(&self.date) {
            Ok(time) => {
                let text = humantime::format_rfc3339_seconds(time).to_string();
                text.trim_end_matches('Z').to_owned()
            }
            // Not an HTTP date (never made so by the emulator): passed on as it is.
            Err(_) => self.date.clone(),
        }
    }
}

/// Fills `innerError` from the request's diagnostics.
pub(crate) fn with_inner(mut e: ApiError, info: &RequestInfo) -> ApiError {
    e.error.inner_error = Some(InnerError {
        date: Some(info.inner_date()),
        request_id: Some(info.request_id.clone()),
        client_request_id: info.client_request_id.clone(),
        ..InnerError::default()
    });
    e
}
