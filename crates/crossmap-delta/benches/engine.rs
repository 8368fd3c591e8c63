//! Throughput of the engine: validate+apply of 50-item requests into a 1,000,000-mapping table, and
//! `plan` between two 1,000,000-mapping sets that differ in 1%. Figures: docs/performance.md.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crossmap_delta::{MappingTable, MemoryTable, Mode, parse_request, plan, prepare_owned, prepare_parsed};
use crossmap_model::{DeltaRequest, SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User};
use crossmap_test_support::data::{Sample, requests};
use std::hint::black_box;

/// How many mappings the table holds: 1,000,000, or `CROSSMAP_BENCH_STORED` (to separate cache effects).
fn stored() -> u64 {
    std::env::var("CROSSMAP_BENCH_STORED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn table<M: Sample>(n: u64) -> MemoryTable<M> {
    MemoryTable::from_mappings((0..n).map(|i| M::sample(i, 0))).expect("samples are complete")
}

fn apply_bench<M: Sample>(c: &mut Criterion, kind: &str) {
    let mut t = table::<M>(stored());
    let reqs = requests::<M>(stored(), 256, 50);
    let bodies: Vec<String> = reqs
        .iter()
        .map(|r| serde_json::to_string(&DeltaRequest::new(r.clone())).unwrap())
        .collect();
    let mut g = c.benchmark_group(format!("apply_{kind}"));
    g.throughput(Throughput::Elements(50));
    let mut i = 0;
    g.bench_function("validate_apply_50_items_into_1M", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % reqs.len();
                reqs[i].clone()
            },
            |items| {
                let prepared = prepare_owned(&t, items, Mode::Atomic).expect("valid");
                prepared.commit(&mut t)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("parse_validate_apply_50_items_into_1M", |b| {
        b.iter(|| {
            i = (i + 1) % bodies.len();
            let parsed = parse_request::<M>(&bodies[i]).expect("parses");
            let prepared = prepare_parsed(&t, parsed, Mode::Atomic).expect("valid");
            black_box(prepared.commit(&mut t));
        })
    });
    g.bench_function("serde_parse_only_50_items", |b| {
        b.iter(|| {
            i = (i + 1) % bodies.len();
            black_box(serde_json::from_str::<DeltaRequest<M>>(&bodies[i]).expect("parses"));
        })
    });
    g.finish();
    black_box(t.len());
}

fn plan_bench<M: Sample>(c: &mut Criterion, kind: &str) {
    let current = table::<M>(stored());
    // 1% differs: a third changed, a third removed, a third new.
    let mut desired = current.clone();
    for n in 0..stored() / 100 {
        match n % 3 {
            0 => {
                let (k, m) = crossmap_delta::canonical(0, M::sample(n * 97 % stored(), 1)).unwrap();
                desired.put(k, &m);
            }
            1 => {
                let (k, _) = crossmap_delta::canonical(0, M::sample(n * 97 % stored(), 0)).unwrap();
                desired.remove(&k);
            }
            _ => {
                let (k, m) = crossmap_delta::canonical(0, M::sample(stored() + n, 0)).unwrap();
                desired.put(k, &m);
            }
        }
    }
    let mut g = c.benchmark_group(format!("plan_{kind}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(stored()));
    g.bench_function("plan_1M_vs_1M_differing_1pct", |b| {
        b.iter_batched(|| (), |()| black_box(plan(&current, &desired)), BatchSize::PerIteration)
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    apply_bench::<Group>(c, "groups");
    apply_bench::<User>(c, "users");
    plan_bench::<Group>(c, "groups");
    plan_bench::<User>(c, "users");
}

criterion_group!(engine, benches);
criterion_main!(engine);
