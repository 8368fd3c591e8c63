//! Fuzz target: see `crossmap_test_support::fuzz::delta_request` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| crossmap_test_support::fuzz::delta_request(data));
