//! A typed client for Microsoft Graph's (beta) SharePoint cross-tenant identity-mapping API.
//!
//! Microsoft's generated beta SDKs have no method for the documented delta PATCH nor for the
//! alternate-key GETs. This client has both, typed for users and groups alike, and does the rest of the
//! job: [`Client::apply_all`] takes any number of items, chunks them to 50 with the delta engine (never
//! reordering two items of one key), sends them with bounded concurrency, retries throttling (429 with
//! `Retry-After`), 503, 504 and dropped connections, reports progress and ends with a per-item report.
//! [`Client::sync`] plans with the engine and sends only the difference, against the service's list or a
//! [`LocalState`] of what was last acknowledged. Every request is validated with
//! the engine first: one the server would refuse is never sent.
//!
//! Tokens come from a [`TokenProvider`]: a [`StaticToken`], [`ClientCredentials`] (cached, renewed before
//! expiry, one refresh at a time), or your own. Point it at the emulator with
//! [`ClientBuilder::base_url`] and [`ClientCredentials::with_authority`].
//!
//! ```no_run
//! # async fn example() -> Result<(), crossmap_client::ClientError> {
//! use crossmap_client::{ApplyOptions, Client, ClientCredentials};
//! use crossmap_model::{DeltaItem, SharePointUserIdentityMapping as User};
//!
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080/beta")
//!     .token_provider(ClientCredentials::new("contoso", "app", "secret").with_authority("http://127.0.0.1:8080"))
//!     .build()?;
//! let items: Vec<DeltaItem<User>> = Vec::new(); // e.g. read from the admins' CSV
//! let report = client.apply_all(items, &ApplyOptions::default()).await;
//! println!("{} applied, {} failed", report.applied(), report.failures().count());
//! # Ok(()) }
//! ```

mod auth;
mod bulk;
mod client;
mod directory;
mod error;
mod pacing;
mod retry;
mod state;

pub use auth::{ClientCredentials, MICROSOFT_AUTHORITY, StaticToken, TokenProvider};
pub use bulk::{ApplyOptions, Cancel, ItemResult, Progress, Report};
pub use client::{Client, ClientBuilder, Cloud, Counters, DeltaPage, TrafficDecoration};
pub use directory::DirectoryQuery;
pub use error::{ClientError, GraphFailure};
pub use pacing::UNIT_COST;
pub use retry::RetryPolicy;
pub use state::{LocalState, StateError};
