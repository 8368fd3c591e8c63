//! Integration tests of `crossmap-delta`: the semantics document rule by rule, and the property laws.

mod laws;
mod semantics;
