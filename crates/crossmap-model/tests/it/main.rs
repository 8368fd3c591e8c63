//! Integration tests of `crossmap-model`, in one binary: documented examples, wire behaviour, codegen drift.

mod codegen;
mod fixtures;
mod wire;
