//! End-to-end tests of the `crossmap` binary.

mod admin;
mod cli;
mod compaction;
mod directory;
mod fuzz;
mod matching;
mod safety;
mod serve;
