//! `crossmap-match` on a 1,000,000 × 1,000,000-user move: reading both directories in Graph-sized pages,
//! building and indexing them, matching, and producing the map's rows and the review list. Wall time per
//! phase and the process's peak resident memory (`VmHWM`). The users come from
//! `crossmap_test_support::directories::Migration` (a realistic mix); generating them is timed apart
//! and left out of the total.
//!
//! Run: `cargo xtask bench match` (or `cargo bench -p crossmap-match --bench match`; `CROSSMAP_BENCH_USERS`
//! sets the size). Figures: docs/performance.md.

#![allow(clippy::print_stdout)]

use crossmap_match::{Config, Directory, DirectoryBuilder, Status, match_directories};
use crossmap_model::Guid;
use crossmap_model::directory::User;
use crossmap_test_support::directories::Migration;
use std::time::{Duration, Instant};

/// Graph's largest page.
const PAGE: u64 = 999;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Time this thread has run on a CPU (`/proc/thread-self/schedstat`): on a shared machine, wall time
/// includes waiting for a core; this does not.
fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// A phase's wall and CPU time.
#[derive(Clone, Copy, Default)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

impl Took {
    fn start() -> (Instant, Duration) {
        (Instant::now(), cpu())
    }

    fn add(&mut self, (wall, cpu0): (Instant, Duration)) {
        self.wall += wall.elapsed();
        self.cpu += cpu() - cpu0;
    }

    fn since(start: (Instant, Duration)) -> Took {
        let mut t = Took::default();
        t.add(start);
        t
    }
}

impl std::ops::Add for Took {
    type Output = Took;
    fn add(self, o: Took) -> Took {
        Took {
            wall: self.wall + o.wall,
            cpu: self.cpu + o.cpu,
        }
    }
}

impl std::fmt::Display for Took {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} ms | {:.0} ms",
            self.wall.as_secs_f64() * 1e3,
            self.cpu.as_secs_f64() * 1e3
        )
    }
}

/// Reads `n` users page by page, as the CLI reads Graph: (directory, generating time, pushing+building time).
fn read(n: u64, tenant: u128, make: impl Fn(u64) -> User) -> (Directory, Took, Took, Took) {
    let mut b = DirectoryBuilder::new(Guid::from_u128(tenant));
    b.reserve(n as usize, 0);
    let (mut generating, mut pushing) = (Took::default(), Took::default());
    let mut page = Vec::with_capacity(PAGE as usize);
    let mut start = 0;
    while start < n {
        let t = Took::start();
        page.clear();
        page.extend((start..(start + PAGE).min(n)).map(&make));
        generating.add(t);
        let t = Took::start();
        for u in &page {
            b.push_user(u).expect("generated users are valid");
        }
        pushing.add(t);
        start += PAGE;
    }
    let t = Took::start();
    let dir = b.build().expect("generated directories are consistent");
    (dir, generating, pushing, Took::since(t))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: keep that run small.
    let n: u64 = if std::env::args().any(|a| a == "--bench") {
        std::env::var("CROSSMAP_BENCH_USERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    } else {
        5_000
    };
    let migration = Migration::new(n);
    // `CROSSMAP_BENCH_THREADS=1` reads one tenant after the other; by default both at once, one thread
    // each, as `crossmap match` reads the two tenants.
    let parallel = std::env::var("CROSSMAP_BENCH_THREADS").as_deref() != Ok("1");
    let read_source = || read(n, 0x5050, |i| migration.source_user(i));
    let read_target = || read(n, 0x7070, |i| migration.target_user(i));
    let ((source, gen_s, push_s, build_s), (target, gen_t, push_t, build_t)) = if parallel {
        std::thread::scope(|scope| {
            let s = scope.spawn(read_source);
            let t = read_target();
            (s.join().expect("the source reader does not panic"), t)
        })
    } else {
        (read_source(), read_target())
    };
    // Reading both at once takes as long as the slower of the two (generating the users left out).
    let reading = if parallel {
        let (s, t) = (push_s + build_s, push_t + build_t);
        Took {
            wall: s.wall.max(t.wall),
            cpu: s.cpu + t.cpu,
        }
    } else {
        push_s + build_s + push_t + build_t
    };

    let mut config = Config::new();
    config.map_domain_arg("contoso.com=fabrikam.com").expect("valid");
    config
        .map_domain_arg("contoso.onmicrosoft.com=fabrikam.onmicrosoft.com")
        .expect("valid");
    let t = Took::start();
    let matching = match_directories(&source, &target, &config).expect("no overrides to resolve");
    let matching_time = Took::since(t);

    // What `crossmap match` writes: the map's rows and the review list, in one pass over the rows.
    let t = Took::start();
    let (mut rows, mut review_bytes) = (0usize, 0usize);
    for row in matching.users() {
        if let Some(m) = row.mapping() {
            rows += usize::from(m.source_user_identity.is_value());
        }
        let r = row.review();
        review_bytes += r.source.len() + r.target.len() + r.candidates.len() + r.reason.len() + 32;
    }
    let output_time = Took::since(t);
    let peak = peak_rss_mib();

    let counts = matching.user_counts();
    let total = reading + matching_time + output_time;
    println!(
        "\n| crossmap-match, {n} × {n} users ({}) | wall time | CPU time |",
        if parallel {
            "both tenants read at once"
        } else {
            "one thread"
        }
    );
    println!("|---|---|---|");
    println!("| push the source users (pages of {PAGE}) | {push_s} |");
    println!("| build the source directory (canonical order, checks) | {build_s} |");
    println!("| push the target users | {push_t} |");
    println!("| build the target directory | {build_t} |");
    println!("| = reading both directories | {reading} |");
    println!("| match | {matching_time} |");
    println!(
        "| the map's {rows} rows (wire mappings) and the review list's {n} ({:.0} MB of text) | {output_time} |",
        review_bytes as f64 / 1e6,
    );
    println!(
        "| **total** | **{:.2} s** | **{:.2} s** |",
        total.wall.as_secs_f64(),
        total.cpu.as_secs_f64()
    );
    println!("| (generating the users, not counted) | {} |", gen_s + gen_t);
    println!("| peak resident memory (VmHWM) | {peak:.0} MiB | |");
    println!(
        "| directories' own heap (source + target) | {:.0} MiB | |",
        (source.heap_bytes() + target.heap_bytes()) as f64 / (1024.0 * 1024.0)
    );
    println!(
        "\nstatuses: {} matched, {} ambiguous, {} conflict, {} unmatched, {} excluded",
        counts.get(Status::Matched),
        counts.get(Status::Ambiguous),
        counts.get(Status::Conflict),
        counts.get(Status::Unmatched),
        counts.get(Status::Excluded)
    );
    let mut by_rule = std::collections::BTreeMap::new();
    for row in matching.users() {
        if row.status() == Status::Matched {
            *by_rule.entry(row.rule().map_or("", |r| r.as_str())).or_insert(0usize) += 1;
        }
    }
    println!("matched by rule: {by_rule:?}");
}
