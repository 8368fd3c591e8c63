//! `apply_all` against the throttling emulator: the push completes at about the quota's rate, and the
//! pacing controller keeps it out of `429`s and never sends before a `Retry-After` has passed, as the
//! emulator counts them.

use crossmap_client::{ApplyOptions, Client, RetryPolicy};
use crossmap_model::{DeltaItem, UserMapping as User, UserType};
use crossmap_server::{AppState, Auth, ThrottleConfig, router};
use crossmap_store::Store;
use serde_json::Value;
use std::time::{Duration, Instant};

const TENANT: &str = "11111111-1111-1111-1111-111111111111";

fn user(n: u32) -> DeltaItem<User> {
    let org = TENANT.parse().unwrap();
    DeltaItem::Upsert(
        User::new(org, format!("user{n}@contoso.com"), format!("user{n}@fabrikam.com"))
            .user_type(UserType::RegularUser),
    )
}

/// An emulator under `quota` and its base URL.
async fn throttled_emulator(quota: &str) -> (String, tokio::task::JoinHandle<()>) {
    let auth = Auth::ephemeral(vec!["app:secret:manage".parse().unwrap()]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let quota: ThrottleConfig = quota.parse().unwrap();
    let app = router(AppState::new(Store::in_memory(), auth).with_throttle(Some(quota)));
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, task)
}

fn client(base: &str, tenant: &str, adaptive: bool) -> Client {
    Client::builder()
        .base_url(format!("{base}/beta"))
        .client_credentials(tenant, "app", "secret")
        .adaptive(adaptive)
        .retry(RetryPolicy {
            max_attempts: 50,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

/// The emulator's counts for `tenant`: (requests, throttled, early).
async fn stats(base: &str, tenant: &str) -> (u64, u64, u64) {
    let doc: Value = reqwest::get(format!("{base}/_crossmap/throttle"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = doc["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tenant"] == tenant)
        .unwrap_or_else(|| panic!("no stats for {tenant}: {doc}"));
    let n = |k: &str| s[k].as_u64().unwrap();
    (n("requests"), n("throttled"), n("early"))
}

#[tokio::test]
async fn a_push_under_a_quota_completes_paced_by_the_headers_without_a_429() {
    // 100 units every 2 s (50 a second); 75 requests of 50 users at 2 units: 150 units, of which 100 are
    // in the full bucket: the quota's bound is (150 - 100) / 50 = 1 s.
    let (base, _server) = throttled_emulator("100/2s").await;
    let c = client(&base, TENANT, true);
    let items: Vec<_> = (0..3750).map(user).collect();
    let start = Instant::now();
    let report = c.apply_all(items, &ApplyOptions::default()).await;
    let took = start.elapsed();
    assert!(report.is_complete(), "{:?}", report.failures().next());
    let (requests, throttled, early) = stats(&base, "11111111-1111-1111-1111-111111111111").await;
    assert_eq!(
        (requests, throttled, early),
        (75, 0, 0),
        "paced by RateLimit-*: no 429, none early"
    );
    assert_eq!(report.throttled(), 0);
    assert!(
        took >= Duration::from_millis(900),
        "faster than the quota allows: {took:?}"
    );
    assert!(report.waited() > Duration::ZERO);
}

#[tokio::test]
async fn without_adaptation_the_same_push_meets_429s_yet_completes_by_retrying() {
    // 20 units a second, 10 writes: the 20 requests come faster than that however slow the machine.
    let (base, _server) = throttled_emulator("20/1s").await;
    let c = client(&base, TENANT, false);
    let items: Vec<_> = (0..1000).map(user).collect();
    let report = c.apply_all(items, &ApplyOptions::default()).await;
    assert!(report.is_complete(), "{:?}", report.failures().next());
    let (requests, throttled, _) = stats(&base, TENANT).await;
    assert!(
        throttled > 0 && requests == 20 + throttled,
        "{requests} requests, {throttled} throttled"
    );
    assert_eq!(report.throttled(), throttled);
}
