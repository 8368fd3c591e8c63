//! Durable storage of identity mappings, partitioned by tenant, for the crossmap emulator.
//!
//! Status: a skeleton. The store (an append-only log of applied requests that doubles as the change feed,
//! the current state indexed in memory and checkpointed, on an embedded database) is the subject of the
//! emulator issue. Nothing here stores anything yet.
