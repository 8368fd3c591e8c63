//! Memory per stored mapping in a 1,000,000-mapping `MemoryTable`: live heap bytes (counted by a
//! counting allocator) and resident-set growth, less the bytes of the mapping's strings themselves
//! (its key and every string-valued property; GUIDs and enum members are not strings, they are stored as
//! 16 bytes and 1 byte). Each kind is measured in a process of its own, so freed memory is not reused.
//! Run: `cargo bench -p crossmap-delta --bench memory`. Figures: docs/performance.md.

#![allow(clippy::print_stdout)]

use crossmap_delta::{MappingTable, MemoryTable};
use crossmap_model::odata::{PropertyInfo, ValueRef, Visitor};
use crossmap_model::{MappingKey, SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User};
use crossmap_test_support::data::Sample;
use serde_json::{Map, Value};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

// Counts every allocation (stats_alloc: a maintained counting wrapper, so no unsafe code of ours).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

/// Sums the lengths of string values.
struct Strings(usize);

impl Visitor for Strings {
    fn structured(&mut self, _: &'static str, _: Option<&str>, _: &Map<String, Value>) {}
    fn property(&mut self, _: &'static PropertyInfo, value: ValueRef<'_>) {
        if let ValueRef::Text(s) = value {
            self.0 += s.len();
        }
    }
    fn enter(&mut self, _: &'static PropertyInfo) {}
    fn leave(&mut self) {}
}

fn measure<M: Sample>(kind: &str, n: u64) {
    let rss0 = rss();
    let region = Region::new(GLOBAL);
    let table = MemoryTable::from_mappings((0..n).map(|i| M::sample(i, 0))).expect("complete");
    let stats = region.change();
    let rss1 = rss();
    // stats_alloc books a realloc's growth in bytes_allocated and its shrinkage in bytes_deallocated.
    let live = stats.bytes_allocated - stats.bytes_deallocated;
    let strings: usize = table
        .iter()
        .map(|(k, m)| {
            let mut s = Strings(k.as_str().len());
            m.visit(&mut s);
            s.0
        })
        .sum();
    let per = |bytes: usize| bytes as f64 / n as f64;
    println!(
        "{kind}: {n} mappings; live heap {:.0} B/mapping, RSS growth {:.0} B/mapping; strings {:.0} B/mapping; \
         beyond strings: heap {:.0} B, RSS {:.0} B (the wire struct alone is {} B)",
        per(live),
        per(rss1.saturating_sub(rss0)),
        per(strings),
        per(live.saturating_sub(strings)),
        per(rss1.saturating_sub(rss0).saturating_sub(strings)),
        size_of::<M>(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: keep that run small.
    let n = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
    match std::env::var("CROSSMAP_MEMORY_KIND").as_deref() {
        Ok("groups") => measure::<Group>("groups", n),
        Ok("users") => measure::<User>("users", n),
        _ => {
            for kind in ["groups", "users"] {
                let status = std::process::Command::new(std::env::current_exe().expect("own path"))
                    .args(std::env::args().skip(1))
                    .env("CROSSMAP_MEMORY_KIND", kind)
                    .status()
                    .expect("runs itself");
                assert!(status.success(), "measuring {kind} failed");
            }
        }
    }
}
