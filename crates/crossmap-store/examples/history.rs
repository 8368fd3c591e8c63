//! Writes a history straight through the store's API, for `cargo xtask bench store`: MAPPINGS group
//! mappings, each written VERSIONS times (a new target each time), in delta requests of 50 from 8 threads
//! (so requests share their commits, as concurrent HTTP requests do), automatic compaction off unless
//! `--auto`. Prints one JSON line: changes, seconds.
//!
//! `history DIR MAPPINGS VERSIONS [--auto]`

#![allow(clippy::print_stdout)]

use crossmap_delta::{Mode, ParsedRequest};
use crossmap_model::{DeltaItem, Identity, SharePointGroupIdentityMapping as Group};
use crossmap_store::{AutoCompact, Store, StoreOptions};
use std::time::Instant;

const TENANT: &str = "bench";
const ITEMS: u64 = 50;
const THREADS: u64 = 8;

fn guid(prefix: u32, n: u64) -> String {
    format!("{prefix:08x}-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
}

fn mapping(n: u64, version: u64) -> Group {
    let identity = |id: String| Identity {
        id: id.into(),
        ..Identity::default()
    };
    Group {
        source_organization_id: crossmap_model::Guid::from_u128(0x1111_1111_1111_1111_1111_1111_1111_1111).into(),
        source_group_identity: identity(guid(0, n)).into(),
        target_group_identity: identity(guid(version as u32 + 1, n)).into(),
        ..Group::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, mappings, versions, rest @ ..] = args.as_slice() else {
        panic!("usage: history DIR MAPPINGS VERSIONS [--auto]")
    };
    let mappings: u64 = mappings.parse().expect("MAPPINGS");
    let versions: u64 = versions.parse().expect("VERSIONS");
    let auto = rest.iter().any(|a| a == "--auto").then(AutoCompact::default);
    let store = Store::open_with(dir, StoreOptions::default().auto_compact(auto)).expect("the store opens");
    let start = Instant::now();
    let requests = mappings.div_ceil(ITEMS);
    for version in 0..versions {
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let store = &store;
                s.spawn(move || {
                    for r in (t..requests).step_by(THREADS as usize) {
                        let items = (r * ITEMS..((r + 1) * ITEMS).min(mappings))
                            .map(|n| Ok(DeltaItem::Upsert(mapping(n, version))))
                            .collect();
                        let request = ParsedRequest {
                            context: Some("#$delta".into()),
                            items,
                        };
                        store.apply::<Group>(TENANT, request, Mode::Atomic).expect("the write");
                    }
                });
            }
        });
    }
    println!(
        "{{\"changes\":{},\"seconds\":{:.2}}}",
        mappings * versions,
        start.elapsed().as_secs_f64()
    );
}
