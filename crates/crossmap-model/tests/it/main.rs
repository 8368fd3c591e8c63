//! Integration tests of `crossmap-model`, in one binary: documented examples, wire behaviour, codegen drift,
//! the fuzz targets' committed inputs.

mod codegen;
mod fixtures;
mod fuzz;
mod wire;
