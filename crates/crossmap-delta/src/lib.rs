//! The delta-merge engine: what a delta PATCH of identity mappings means, applied, planned and chunked.
//!
//! This crate is the single source of truth for the semantics of
//! `PATCH /solutions/sharePoint/migrations/crossOrganization{User,Group}Mappings`, written down in
//! `docs/delta-semantics.md`: the emulator applies requests with it, the client plans them with it. It is
//! pure (no I/O, no async) and depends only on `crossmap-model`. Everything is written once, generically
//! over [`Rules`], which the two mapping types implement.
//!
//! - [`parse_request`]: read a body item by item, so a bad value is reported against its item;
//! - [`apply`] / [`prepare`]: validate a request and apply it to a [`MappingTable`], all-or-nothing or
//!   continue-on-error ([`Mode`]), with one [`Outcome`] per item and the net [`Change`]s;
//! - [`plan`]: the smallest list of items from one state to another ([`plan_merge`]: only what the
//!   desired state states); [`chunk`]: into requests;
//! - [`ChangeFeed`]: numbered changes for mirrors, compacted without breaking replay;
//! - [`one_to_one`]: two sources mapped to the same target.
//!
//! ```
//! use crossmap_delta::{MemoryTable, Mode, apply, chunk, plan};
//! use crossmap_model::{DeltaRequest, SharePointGroupIdentityMapping as Group};
//!
//! let body = r##"{"@context": "#$delta", "value": [
//!   {"sourceOrganizationId": "11111111-1111-1111-1111-111111111111", "groupType": "m365Group",
//!    "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"},
//!    "targetGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}},
//!   {"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}}]}"##;
//! let request: DeltaRequest<Group> = serde_json::from_str(body).unwrap();
//! let mut table = MemoryTable::new();
//! let outcomes = apply(&mut table, &request, Mode::Atomic).unwrap();
//! assert_eq!(outcomes.len(), 2); // both items answer, in order
//! assert!(plan(&table, &MemoryTable::new()).is_empty()); // created then removed: nothing left
//! assert!(chunk::<Group>(Vec::new(), 50).is_empty());
//! ```

mod apply;
mod error;
mod feed;
mod lint;
mod parse;
mod plan;
mod rules;
mod table;
mod validate;

pub use apply::{
    Change, Mode, Outcome, Prepared, apply, check_envelope, prepare, prepare_items, prepare_owned, prepare_parsed,
    tombstone,
};
pub use error::{ItemError, RequestError};
pub use feed::{ChangeFeed, FeedError, replay};
pub use lint::{SharedTarget, one_to_one, one_to_one_in};
pub use parse::{ParsedRequest, parse_request};
pub use plan::{Chunk, PlanItems, PlanQueue, chunk, chunk_by, plan, plan_iter, plan_merge, plan_merge_iter};
pub use rules::{Format, Rules};
pub use table::{MappingTable, MemoryTable, Row, SortedTable, canonical, same_contents};
pub use validate::{Op, validate_item, validate_owned};

/// The most items one delta request may carry.
pub const MAX_ITEMS: usize = crossmap_model::MAX_DELTA_ITEMS;
