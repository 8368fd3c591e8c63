//! End-to-end tests of the `crossmap` binary.

mod cli;
mod safety;
mod serve;
