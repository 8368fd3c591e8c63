//! Integration tests of the emulator over real HTTP on loopback: the documented examples, auth, tenant
//! isolation, limits and errors, paging, the entity-set calls, the delta feed, persistence, and concurrent
//! writers checked for linearizability.

mod api;
mod races;
mod support;
mod wire;
