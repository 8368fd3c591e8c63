//! The committed inputs of the delta request fuzz target (`fuzz/seeds/`, `fuzz/regressions/`), replayed.

use crossmap_test_support::fuzz;

#[test]
fn delta_request_inputs_keep_their_invariants() {
    fuzz::replay("delta_request", fuzz::delta_request);
}
