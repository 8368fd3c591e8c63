//! Integration tests of `crossmap-delta`: the semantics document rule by rule, the property laws, and the
//! delta request fuzz target's committed inputs.

mod builders;
mod fuzz;
mod laws;
mod semantics;
