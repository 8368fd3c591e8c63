//! The crossmap emulator: a stateful local stand-in for Graph's identity-mapping endpoints, on axum.
//!
//! Status: a skeleton. The router, auth, errors and persistence are the subject of the emulator issue.
//! The `$metadata` document it will serve already exists: [`crossmap_model::METADATA_XML`].
