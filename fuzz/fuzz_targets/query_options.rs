//! Fuzz target: the emulator's OData query options read back from what their writer writes (see
//! `crossmap_test_support::fuzz::query_round_trip`).
#![no_main]

use crossmap_server::Query;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    crossmap_test_support::fuzz::query_round_trip(data, Query::parse, Query::to_query_string)
});
