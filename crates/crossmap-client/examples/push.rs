//! Pushes a CSV-sized set of user mappings with `apply_all`, printing progress, then one JSON line.
//!
//! `push BASE_URL TENANT CLIENT_ID SECRET COUNT [--fixed] [--patient]`, e.g. against
//! `crossmap serve --app id:secret:manage`:
//! `cargo run --release -p crossmap-client --example push -- http://127.0.0.1:8080/beta contoso id secret 100000`
//! (tokens come from the base URL's own authority, see `crossmap_client::authority_for`).
//! `--fixed` turns the pacing controller's adaptation off (fixed concurrency, each request waiting only
//! its own `Retry-After`); `--patient` retries up to 1,000 times within an hour instead of the default
//! policy's 3 retries. Used by `cargo xtask bench client` and `cargo xtask bench throttled`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use crossmap_client::{ApplyOptions, Client, RetryPolicy};
use crossmap_model::{DeltaItem, Guid, UserMapping as User, UserType};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn user(n: u64) -> User {
    let org = Guid::from_u128(0x1111_1111_1111_1111_1111_1111_1111_1111);
    User::new(org, format!("user{n}@contoso.com"), format!("user{n}@fabrikam.com"))
        .email(format!("user{n}@fabrikam.com"))
        .user_type(UserType::RegularUser)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (args, flags) = args.split_at(args.len().min(6));
    let [_, base, tenant, id, secret, count] = args else {
        return Err("usage: push BASE_URL TENANT CLIENT_ID SECRET COUNT [--fixed] [--patient]".into());
    };
    let flag = |f: &str| flags.iter().any(|a| a == f);
    if let Some(other) = flags.iter().find(|a| !["--fixed", "--patient"].contains(&a.as_str())) {
        return Err(format!("unknown flag {other}").into());
    }
    let count: u64 = count.parse()?;
    let mut retry = RetryPolicy::default();
    if flag("--patient") {
        retry.max_attempts = 1_000;
        retry.max_total = Duration::from_secs(3_600);
    }
    let client = Client::builder()
        .base_url(base)
        .client_credentials(tenant, id, secret)
        .adaptive(!flag("--fixed"))
        .retry(retry)
        .build()?;
    let items: Vec<DeltaItem<User>> = (0..count).map(|n| DeltaItem::Upsert(user(n))).collect();
    let options = ApplyOptions {
        progress: Some(Arc::new(|p| {
            if p.done % 10_000 < 50 || p.done == p.total {
                eprintln!(
                    "{}/{} items, {} failed, {} retries, {} throttled, {:.1} s waited",
                    p.done,
                    p.total,
                    p.failed,
                    p.retries,
                    p.throttles,
                    p.waited.as_secs_f64()
                );
            }
        })),
        ..ApplyOptions::default()
    };
    let start = Instant::now();
    let report = client.apply_all(items, &options).await;
    let seconds = start.elapsed().as_secs_f64();
    if let Some((i, e)) = report.failures().next() {
        eprintln!("item {i} failed: {e}");
    }
    println!(
        "{{\"items\":{count},\"applied\":{},\"seconds\":{seconds:.3},\"items_per_s\":{:.0},\"throttled\":{},\"waited_s\":{:.3},\"requests\":{}}}",
        report.applied(),
        report.applied() as f64 / seconds,
        report.throttled(),
        report.waited().as_secs_f64(),
        client.counters().requests.load(std::sync::atomic::Ordering::Relaxed)
    );
    if report.is_complete() {
        Ok(())
    } else {
        Err("not every item was applied".into())
    }
}
