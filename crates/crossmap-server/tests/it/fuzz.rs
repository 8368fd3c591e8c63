//! The committed inputs of the query options fuzz target (`fuzz/seeds/`, `fuzz/regressions/`), replayed.

use crossmap_server::Query;
use crossmap_test_support::fuzz;

#[test]
fn query_options_inputs_keep_their_invariants() {
    fuzz::replay("query_options", |data| {
        fuzz::query_round_trip(data, Query::parse, Query::to_query_string)
    });
}
