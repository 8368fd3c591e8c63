//! The delta-merge engine: what a delta PATCH of identity mappings means, applied, planned and chunked.
//!
//! This crate is the single source of truth for the semantics of
//! `PATCH /solutions/sharePoint/migrations/crossOrganization{User,Group}Mappings`: the emulator applies
//! requests with it and the client plans them with it. It is pure (no I/O, no async) and depends only on
//! `crossmap-model`.
//!
//! Status: a skeleton. The engine (validate, apply, plan, chunk, change feed) is the subject of the
//! delta-engine issue; until it lands this crate exposes nothing but the request-size limit it will
//! enforce, re-exported from the model.
//!
//! ```
//! assert_eq!(crossmap_delta::MAX_ITEMS, 50);
//! ```

/// The most items one delta request may carry.
pub const MAX_ITEMS: usize = crossmap_model::MAX_DELTA_ITEMS;
