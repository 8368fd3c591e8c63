//! The committed inputs of the CSV reader's fuzz target (`fuzz/seeds/`, `fuzz/regressions/`), replayed.

#[test]
fn csv_reader_inputs_keep_their_invariants() {
    crossmap_test_support::fuzz::replay("csv_reader", crossmap_cli::fuzz::csv_reader);
}
