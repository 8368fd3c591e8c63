//! End-to-end tests of the `crossmap` binary.

mod cli;
mod directory;
mod safety;
mod serve;
