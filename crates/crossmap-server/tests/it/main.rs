//! Integration tests of the emulator over real HTTP on loopback: the documented examples, auth, tenant
//! isolation, limits and errors, paging, the entity-set calls, the delta feed, persistence, concurrent
//! writers checked for linearizability, strictness on the wire, `serve`'s timeouts and shutdown; the throttling quota; the
//! query options fuzz target's committed inputs; the web console's page and assets.

mod admin;
mod api;
mod console;
mod directory;
mod fuzz;
mod races;
mod serving;
mod support;
mod testing_guide;
mod throttle;
mod wire;
