//! The client's error: what failed, whether it may be retried, and Graph's diagnostics.

use std::time::Duration;

/// An error answer from the server, with its diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFailure {
    /// The HTTP status.
    pub status: u16,
    /// Graph's `error.code`.
    pub code: String,
    /// Graph's `error.message`.
    pub message: String,
    /// Graph's `error.target`, e.g. `value[3].sourceOrganizationId`.
    pub target: Option<String>,
    /// The server's `request-id`.
    pub request_id: Option<String>,
    /// The `client-request-id` this client sent (the same on every retry of one call).
    pub client_request_id: String,
    /// How long the server asked to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Graph (or the emulator) answered with an error.
    #[error("{} {}: {}", .0.status, .0.code, .0.message)]
    Graph(Box<GraphFailure>),
    /// The request may or may not have reached the server: connection refused or dropped, timeout.
    #[error("no answer from {url} ({client_request_id})")]
    Transport {
        /// The URL tried, without its query (which can hold secrets).
        url: String,
        /// The `client-request-id` sent.
        client_request_id: String,
        /// Whether it was a timeout.
        timeout: bool,
        /// The transport's error (its URL removed: URLs can hold secrets).
        #[source]
        source: reqwest::Error,
    },
    /// The request was refused here, before sending: the engine says the server would refuse it.
    #[error("the request is invalid and was not sent")]
    Invalid(#[source] crossmap_delta::RequestError),
    /// No access token could be had.
    #[error("no access token: {0}")]
    Token(String),
    /// The server's answer was not what the API documents.
    #[error("the response could not be read: {message}")]
    Decode {
        /// What was wrong.
        message: String,
        /// The HTTP status it came with.
        status: u16,
    },
    /// The call was cancelled before it was sent.
    #[error("cancelled")]
    Cancelled,
    /// The client could not be built.
    #[error("the client could not be built: {0}")]
    Build(String),
}

impl ClientError {
    /// How long the server asked to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Graph(g) => g.retry_after,
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Graph(g) => Some(g.status),
            ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Graph's error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Graph(g) => Some(&g.code),
            _ => None,
        }
    }

    /// The server's request id, if any: quote it when asking Microsoft about a failure.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ClientError::Graph(g) => g.request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether trying again may succeed: throttling (429), 503, 504, and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Graph(g) => matches!(g.status, 429 | 503 | 504),
            ClientError::Transport { .. } => true,
            _ => false,
        }
    }

    /// Whether the server was throttling (429).
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// Whether it was a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Transport { timeout: true, .. })
    }

    /// Whether the resource does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}
