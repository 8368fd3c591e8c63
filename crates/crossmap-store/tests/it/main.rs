//! Integration tests of `crossmap-store`: one conformance suite run against every backend, then what only
//! the durable backend promises (reopen, schema versions, a SIGKILL losing nothing acknowledged); the same
//! for directories.

// Tests say which suite case or figure they are at; the harness shows it on failure.
#![allow(clippy::print_stderr)]

mod compaction;
mod conformance;
mod directory;
mod durable;
