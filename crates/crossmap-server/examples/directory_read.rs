//! How long reading two tenants' directories takes, the way `crossmap match` reads them: every user of
//! each tenant through `GET /v1.0/users?$top=999&$select=…`, following `@odata.nextLink`, both tenants at
//! once, over loopback HTTP. The tenants are `crossmap_test_support::directories::Migration`'s (realistic
//! users), seeded straight into the store first.
//!
//! `cargo run --release -p crossmap-server --example directory_read -- [USERS] [DATA_DIR]`: USERS per tenant
//! (default 100,000); with DATA_DIR the store is durable there (seeding then includes the log's fsync).
//! Figures in docs/performance.md.

#![allow(clippy::print_stdout)]

use crossmap_model::compact::Compact;
use crossmap_model::directory::User;
use crossmap_server::{AppState, Auth, router};
use crossmap_store::{DirectorySeed, Store};
use crossmap_test_support::directories::Migration;
use std::time::Instant;

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

#[derive(serde::Deserialize)]
struct Page {
    value: Vec<User>,
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
}

/// Fetches every page of the token's tenant without reading the users (the server's share of the work);
/// the pages.
async fn fetch_all(http: &reqwest::Client, base: &str, token: &str) -> usize {
    let mut url = format!("{base}/v1.0/users?$top=999&$select={}", User::SELECT);
    let mut pages = 0;
    loop {
        let bytes = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("answers")
            .bytes()
            .await
            .expect("a body");
        pages += 1;
        // Members come in name order, the link before the users: find it without parsing them.
        let head = &bytes[..bytes.len().min(1_000)];
        let key = b"\"@odata.nextLink\":\"";
        let at = head.windows(key.len()).position(|w| w == key);
        match at {
            Some(at) => {
                let rest = &head[at + key.len()..];
                let end = rest.iter().position(|b| *b == b'"').expect("the link ends");
                url = String::from_utf8(rest[..end].to_vec()).expect("a URL");
            }
            None => return pages,
        }
    }
}

/// Reads every user of the token's tenant; the number read and the pages.
async fn read_all(http: &reqwest::Client, base: &str, token: &str) -> (usize, usize) {
    let mut url = format!("{base}/v1.0/users?$top=999&$select={}", User::SELECT);
    let (mut users, mut pages) = (0, 0);
    loop {
        let page: Page = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("a page of users");
        users += page.value.len();
        pages += 1;
        match page.next {
            Some(next) => url = next,
            None => return (users, pages),
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).map_or(100_000, |a| a.parse().expect("USERS is a number"));
    let store = match args.get(2) {
        Some(dir) => Store::open(dir).expect("the data directory opens"),
        None => Store::in_memory(),
    };
    let migration = Migration::new(n);
    let sample = 10_000.min(n);
    let row_bytes: usize = (0..sample).map(|i| migration.source_user(i).to_compact().len()).sum();
    let before = rss();
    let start = Instant::now();
    for (tenant, user) in [
        ("contoso", &(|i| migration.source_user(i)) as &dyn Fn(u64) -> User),
        ("fabrikam", &|i| migration.target_user(i)),
    ] {
        // In seeds of 5,000, so that the seeds themselves hardly count in the memory figure.
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let seed = DirectorySeed {
                users: chunk.iter().map(|i| user(*i)).collect(),
                ..DirectorySeed::default()
            };
            store.seed_directory(tenant, &seed).expect("the seed is stored");
        }
    }
    let seeded = start.elapsed();
    let grown = rss().saturating_sub(before);
    println!(
        "seeded 2 x {n} users in {:.2} s; RSS grew {:.0} MiB ({:.0} B per user, of which the row {:.0} B)",
        seeded.as_secs_f64(),
        grown as f64 / (1 << 20) as f64,
        grown as f64 / (2 * n) as f64,
        row_bytes as f64 / sample.max(1) as f64
    );

    let auth = Auth::ephemeral(vec!["bench:secret:directory".parse().expect("an app")]).expect("a key");
    let tokens = ["contoso", "fabrikam"].map(|t| auth.client_credentials(t, "bench", "secret").expect("a token"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let app = router(AppState::new(store, auth));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });

    let http = reqwest::Client::new();
    let start = Instant::now();
    let (a, b) = tokio::join!(fetch_all(&http, &base, &tokens[0]), fetch_all(&http, &base, &tokens[1]));
    println!(
        "fetched 2 x {n} users ({a} + {b} pages) without parsing them in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let (a, b) = tokio::join!(read_all(&http, &base, &tokens[0]), read_all(&http, &base, &tokens[1]));
    let read = start.elapsed();
    assert_eq!((a.0, b.0), (n as usize, n as usize), "every user read once");
    println!(
        "read 2 x {n} users ({} + {} pages of 999, all {} selected properties) in {:.2} s: {:.0} users/s",
        a.1,
        b.1,
        User::PROPERTIES.len(),
        read.as_secs_f64(),
        (2 * n) as f64 / read.as_secs_f64()
    );
}
