//! Integration tests of the emulator over real HTTP on loopback: the documented examples, auth, tenant
//! isolation, limits and errors, paging, the entity-set calls, the delta feed, persistence; and the query
//! options fuzz target's committed inputs.

mod api;
mod fuzz;
mod support;
