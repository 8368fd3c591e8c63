//! Integration tests of the emulator over real HTTP on loopback: the documented examples, auth, tenant
//! isolation, limits and errors, paging, the entity-set calls, the delta feed, persistence, concurrent
//! writers checked for linearizability, strictness on the wire, and `serve`'s timeouts and shutdown.

mod api;
mod directory;
mod races;
mod serving;
mod support;
mod wire;
