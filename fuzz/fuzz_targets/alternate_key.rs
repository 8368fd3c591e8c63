//! Fuzz target: see `crossmap_test_support::fuzz::alternate_key` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| crossmap_test_support::fuzz::alternate_key(data));
