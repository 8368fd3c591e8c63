//! A fixed amount of validate+apply work for an instruction profile (docs/performance.md):
//! 64,000 items (1,280 requests of 50) into a 1,000-mapping table, one request at a time.
//!
//! `cargo build --release -p crossmap-delta --example profile_apply &&
//!  valgrind --tool=callgrind target/release/examples/profile_apply`; instructions per item are the
//! `prepare_owned` inclusive count divided by 64,000.

#![allow(clippy::print_stdout)]

use crossmap_delta::{MemoryTable, Mode, prepare_owned};
use crossmap_model::SharePointGroupIdentityMapping as Group;
use crossmap_test_support::data::{Sample, requests};

fn main() {
    let mut table = MemoryTable::from_mappings((0..1000).map(|i| Group::sample(i, 0))).expect("complete");
    let requests = requests::<Group>(1000, 64, 50);
    let mut answered = 0;
    for _ in 0..20 {
        for request in &requests {
            let prepared = prepare_owned(&table, request.clone(), Mode::Atomic).expect("valid");
            answered += prepared.commit(&mut table).len();
        }
    }
    println!("{answered} items answered");
}
