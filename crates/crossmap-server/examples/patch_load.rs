//! A load generator for delta PATCHes whose every request is new: 50 group mappings with fresh keys per
//! request, so every request changes state and a durable store must write it. (oha sends one body again and
//! again, which a delta PATCH turns into no-ops after the first.)
//!
//! `patch_load URL TOKEN SECONDS CONNECTIONS [MAX_REQUESTS]` prints one JSON line: requests, items,
//! seconds, items/s, p50/p99 latency in ms, errors. Used by `cargo xtask bench server`.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ITEMS: u64 = 50;

fn body(request: u64) -> String {
    let items: Vec<String> = (0..ITEMS)
        .map(|i| {
            let n = request * ITEMS + i;
            format!(
                r#"{{"sourceOrganizationId":"11111111-1111-1111-1111-111111111111","groupType":"regularGroup","sourceGroupIdentity":{{"id":"{:08x}-0000-4000-8000-{:012x}"}},"targetGroupIdentity":{{"id":"bbbbbbbb-0000-4000-8000-{:012x}"}}}}"#,
                n >> 48,
                n & 0xffff_ffff_ffff,
                n & 0xffff_ffff_ffff
            )
        })
        .collect();
    format!(r##"{{"@context":"#$delta","value":[{}]}}"##, items.join(","))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, token, seconds, connections, rest @ ..] = args.as_slice() else {
        panic!("usage: patch_load URL TOKEN SECONDS CONNECTIONS [MAX_REQUESTS]")
    };
    let seconds: f64 = seconds.parse().expect("seconds");
    let connections: usize = connections.parse().expect("connections");
    let max: u64 = rest
        .first()
        .map(|m| m.parse().expect("max requests"))
        .unwrap_or(u64::MAX);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, token, next, errors) =
                (client.clone(), url.clone(), token.clone(), next.clone(), errors.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let r = next.fetch_add(1, Ordering::Relaxed);
                    if r >= max {
                        break;
                    }
                    let t = Instant::now();
                    let ok = client
                        .patch(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body(r))
                        .send()
                        .await
                        .is_ok_and(|resp| resp.status().is_success());
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("a load task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let requests = latencies.len() as u64;
    println!(
        "{{\"requests\":{requests},\"items\":{},\"seconds\":{elapsed:.3},\"items_per_s\":{:.0},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"errors\":{}}}",
        requests * ITEMS,
        (requests * ITEMS) as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        errors.load(Ordering::Relaxed)
    );
}
