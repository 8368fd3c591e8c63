//! The committed inputs of the model's fuzz targets (`fuzz/seeds/`, `fuzz/regressions/`), replayed.

use crossmap_test_support::fuzz;

#[test]
fn alternate_key_inputs_keep_their_invariants() {
    fuzz::replay("alternate_key", fuzz::alternate_key);
}

#[test]
fn mapping_id_inputs_keep_their_invariants() {
    fuzz::replay("mapping_id", fuzz::mapping_id);
}

#[test]
fn compact_row_inputs_keep_their_invariants() {
    fuzz::replay("compact_row", fuzz::compact_row);
}
