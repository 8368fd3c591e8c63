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
//! # Pacing
//!
//! Graph throttles: SharePoint gives each app a quota of resource units per tenant, warns with
//! `RateLimit-*` headers once 80% is used and answers `429` with `Retry-After` beyond it, still charging
//! the refused request. Every request a [`Client`] sends goes through one pacing controller:
//!
//! - a `Retry-After` (whole or fractional seconds, or an HTTP date) holds the whole client: after a `429`
//!   or `503` no request of it starts before the time is up, not only the one retried;
//! - `RateLimit-Remaining` R and `RateLimit-Reset` T set a budget of `q + (R - reserve) / T` units a
//!   second, spent in requests of [`UNIT_COST`] units spaced evenly: what remains above a reserve of four
//!   requests is spread over the reset time, on top of `q`, the rate at which the quota was *seen* to
//!   come back (measured between answers at least a second apart: the rise in R plus what was spent
//!   meanwhile; smoothed, halved by a `429`). A quota restored all at once measures as `q = 0` and the
//!   rule is "R over T"; one refilled continuously, as the emulator's token bucket is, measures as its
//!   refill rate, which is the fastest any client can go;
//! - the number of requests in flight follows AIMD (TCP's congestion avoidance, RFC 5681, as Netflix's
//!   `concurrency-limits` applies it): +1 per limit's worth of clean answers while the limit is in use,
//!   halved on a `429` or `503` once per episode, between 1 and [`ClientBuilder::concurrency`];
//! - retries carry `Retry-Attempt: N`, and the `User-Agent` is SharePoint's traffic decoration
//!   ([`ClientBuilder::traffic_decoration`], default `NONISV|crossmap|crossmap/{version}`).
//!
//! [`Report::throttled`] and [`Report::waited`] (and [`Progress`]) say what throttling cost a run.
//! [`ClientBuilder::adaptive`]`(false)` turns the controller off: fixed concurrency, each request waiting
//! only its own `Retry-After`, as Microsoft's SDKs do. `cargo xtask bench throttled` measures both
//! against the emulator's quota (`docs/performance.md`).
//!
//! Tokens come from a [`TokenProvider`]: a [`StaticToken`], [`ClientCredentials`] (cached, renewed before
//! expiry, one refresh at a time), or your own. [`ClientBuilder::client_credentials`] asks the identity
//! platform that goes with the base URL ([`authority_for`]): the national cloud's login host for Graph,
//! the emulator's own token endpoint for the emulator, so one URL is all a caller gives.
//!
//! The types of the API come from [`crossmap_model`] (re-exported as [`model`]: [`UserMapping`],
//! [`GroupMapping`], [`DeltaItem`], the keys) and the engine's from [`crossmap_delta`] (as [`delta`]:
//! [`Rules`], [`MemoryTable`], and [`ItemError`], what [`ApplyError::invalid_items`] names).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use crossmap_client::{ApplyOptions, Client};
//! use crossmap_client::model::{DeltaItem, Guid, UserMapping, UserType};
//!
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080/beta")
//!     .client_credentials("contoso", "app", "secret") // tokens from http://127.0.0.1:8080
//!     .build()?;
//! let org: Guid = "11111111-1111-1111-1111-111111111111".parse()?;
//! let items = vec![DeltaItem::Upsert(
//!     UserMapping::new(org, "ann@contoso.com", "ann@fabrikam.com").user_type(UserType::GuestUser),
//! )];
//! let report = client.apply_all(items, &ApplyOptions::default()).await.into_result()?;
//! println!("{} applied", report.applied());
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
pub use bulk::{ApplyError, ApplyOptions, Cancel, ItemResult, Progress, Report};
pub use client::{Client, ClientBuilder, Cloud, Counters, DeltaPage, TrafficDecoration, authority_for};
pub use directory::DirectoryQuery;
pub use error::{ClientError, GraphFailure};
pub use pacing::UNIT_COST;
pub use retry::RetryPolicy;
pub use state::{LocalState, StateError};

/// The delta engine ([`crossmap_delta`]): rules, tables, plans.
pub use crossmap_delta as delta;
/// The wire model ([`crossmap_model`]): mappings, their builders and keys, delta items.
pub use crossmap_model as model;

pub use crossmap_delta::{ItemError, MappingTable, MemoryTable, Rules};
pub use crossmap_model::{DeltaItem, GroupKey, GroupMapping, GroupType, Guid, UserKey, UserMapping, UserType};
