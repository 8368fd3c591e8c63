//! crossmap: Microsoft Graph's (beta) SharePoint cross-tenant identity-mapping API in one crate.
//!
//! The toolkit is built in layers, each its own crate and usable alone; this crate re-exports them
//! behind features, so that one dependency line gives you what you need:
//!
//! | feature | default | gives | crate |
//! |---|---|---|---|
//! | (always) | yes | [`model`]: the API's JSON, ids, keys and alternate-key URLs; no I/O | `crossmap-model` |
//! | (always) | yes | [`delta`]: what a delta PATCH means; validate, apply, plan and chunk requests | `crossmap-delta` |
//! | `client` | yes | `client`: the HTTP client (chunked, retried, paced), on tokio and reqwest | `crossmap-client` |
//! | `rustls` | yes | HTTPS to Graph for the client; without it, plain HTTP only (enough for the emulator) | `crossmap-client/rustls` |
//! | `server` | no | `server`: the emulator's axum router; `store`: its durable store | `crossmap-server`, `crossmap-store` |
//! | `matching` | no | `matching`: build the map from two tenants' directories | `crossmap-match` |
//! | `testing` | no | `testing::Emulator`: the emulator in your test's process, in one line | (this crate) |
//!
//! `default-features = false` pulls in no async runtime and no HTTP stack: the model and the engine
//! only. `prelude` brings the names most code needs into scope. docs.rs documents every feature; `cargo
//! doc` in your crate only those of its `[dependencies]`, so `testing`, usually a dev-dependency's
//! feature, shows with `cargo doc --features crossmap/testing`.
//!
//! ```toml
//! [dependencies]
//! crossmap = "0.1"
//!
//! [dev-dependencies]
//! crossmap = { version = "0.1", features = ["testing"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! # Three ways in
//!
//! **The model alone** (`default-features = false`): read and write the API's bodies, build mappings,
//! and work out what a request does with the engine, no runtime, no HTTP, no `serde_json` of your own.
//! Here Graph's documented update request (`tests/fixtures/user_update_request.json`), checked and
//! applied to a table in memory as the service would:
//!
//! ```
//! use crossmap::delta::{MemoryTable, Mode, apply};
//! use crossmap::model::{DeltaItem, DeltaRequest, UserKey, UserMapping};
//!
//! let body = r##"{"@context": "#$delta", "value": [
//!   {"sourceOrganizationId": "11111111-1111-1111-1111-111111111111", "userType": "regularUser",
//!    "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"},
//!    "targetUserIdentity": {"userPrincipalName": "admin@a830edad9050849ken005.onmicrosoft.com"},
//!    "targetUserMigrationData": {"email": "admin@a830edad9050849ken005.onmicrosoft.com"}},
//!   {"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"}}]}"##;
//! let request = DeltaRequest::<UserMapping>::from_json(body)?;
//! let mut table = MemoryTable::new();
//! let outcomes = apply(&mut table, &request, Mode::Atomic)?;
//! assert_eq!(outcomes.len(), 2); // one answer per item: created, then removed
//!
//! // A removal by key: the key's type says it is a user mapping's.
//! let removal = DeltaRequest::new(vec![DeltaItem::remove(&UserKey::parse("user1@contoso.com")?)]);
//! assert!(removal.to_json().starts_with(r##"{"@context":"#$delta","value":[{"@removed""##));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **The client** (the default features): push a map to Graph, chunked to 50, retried and paced. An
//! invalid item fails its whole request of 50, as Graph does, and the error names it by its place in
//! your input:
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use crossmap::prelude::*;
//!
//! let client = Client::builder().client_credentials("contoso.onmicrosoft.com", "app-id", "secret").build()?;
//! let org: Guid = "11111111-1111-1111-1111-111111111111".parse()?;
//! let items: Vec<_> = ["ada", "alan"]
//!     .into_iter()
//!     .map(|name| UserMapping::new(org, format!("{name}@contoso.com"), format!("{name}@fabrikam.com")))
//!     .map(DeltaItem::Upsert)
//!     .collect();
//! match client.apply_all(items, &ApplyOptions::default()).await.into_result() {
//!     Ok(report) => println!("{} applied, {} times throttled", report.applied(), report.throttled()),
//!     Err(e) => {
//!         for (index, invalid) in e.invalid_items() {
//!             eprintln!("item {index}: {}: {}", invalid.property, invalid.message);
//!         }
//!         return Err(e.into());
//!     }
//! }
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "client"))]
//! # fn main() {}
//! ```
//!
//! **Testing** (the `testing` feature, for your dev-dependencies): the emulator in your test's process,
//! in memory, on a free port, with a ready client. A test that pushes two mappings and reads one back:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use crossmap::prelude::*;
//!
//! let emulator = Emulator::start().await?;
//! let client = emulator.client()?;
//! let org: Guid = "11111111-1111-1111-1111-111111111111".parse()?;
//! let items = vec![
//!     DeltaItem::Upsert(UserMapping::new(org, "ada@contoso.com", "ada@fabrikam.com")),
//!     DeltaItem::Upsert(UserMapping::new(org, "alan@contoso.com", "alan@fabrikam.com").user_type(UserType::GuestUser)),
//! ];
//! // Any item that failed makes `into_result` an error (`ApplyError`): failures cannot go unseen.
//! client.apply_all(items, &ApplyOptions::default()).await.into_result()?;
//! let ada: UserMapping = client.get(&UserKey::parse("ada@contoso.com")?, None).await?.ok_or("not found")?;
//! assert_eq!(ada.target_upn(), Some("ada@fabrikam.com"));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```

// The examples are what users copy: a warning in one would be a warning in their code.
#![doc(test(attr(deny(warnings))))]

pub use crossmap_delta as delta;
pub use crossmap_model as model;

#[cfg(feature = "client")]
pub use crossmap_client as client;
#[cfg(feature = "matching")]
pub use crossmap_match as matching;
#[cfg(feature = "server")]
pub use crossmap_server as server;
#[cfg(feature = "server")]
pub use crossmap_store as store;

#[cfg(feature = "testing")]
pub mod testing;

pub mod prelude;
