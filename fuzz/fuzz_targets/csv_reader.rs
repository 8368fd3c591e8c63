//! Fuzz target: the admins' identity-map CSV, in any encoding and delimiter, read; what reads, exported and
//! read again, is the same (see `crossmap_cli::fuzz::csv_reader`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| crossmap_cli::fuzz::csv_reader(data));
