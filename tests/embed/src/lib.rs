//! crossmap embedded as a user's crate would embed it: its test (`tests/embed.rs`) depends on the
//! `crossmap` facade only, with the `testing` feature, and nothing else of crossmap's.
