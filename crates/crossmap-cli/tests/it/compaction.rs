//! `crossmap compact` offline, and the crash loop: `crossmap serve` compacting often under write load is
//! SIGKILLed at a random moment, restarted on the same data directory, and must hold every write it
//! acknowledged. Rounds from
//! `CROSSMAP_CRASHLOOP_ROUNDS` (3 by default, as `cargo test` runs it; `cargo xtask crashloop --rounds 20`
//! runs the full loop); the seed from `CROSSMAP_CRASHLOOP_SEED`, printed, to replay a failure.

use crate::serve::{start, token_for};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TENANT: &str = "22222222-2222-2222-2222-222222222222";
const COLLECTION: &str = "/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings";
const WRITERS: u64 = 4;
/// Keys per writer: few enough that updates and removals hit stored mappings, so compaction has work.
const KEYS: u64 = 150;
const ITEMS: u64 = 5;

fn key(n: u64) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

/// What the data directory must show for a key: its last acknowledged state (a target, or removed), or
/// the state the request in flight at the kill would have left.
#[derive(Default)]
struct Expected {
    acked: HashMap<u64, Option<String>>,
    in_flight: HashMap<u64, Option<String>>,
}

fn serve(dir: &Path) -> (Child, String) {
    let (child, base, _) = start(&[
        "--app".into(),
        "w:secret:manage".into(),
        "--data-dir".into(),
        dir.into(),
        // Compact whenever the log holds 50 records (or a quarter as many as the checkpoint has rows).
        "--compact-after".into(),
        "50".into(),
    ]);
    (child, base)
}

/// Every group mapping of the tenant: source id -> target id.
async fn stored(http: &reqwest::Client, base: &str, token: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut url = format!("{base}{COLLECTION}?$top=500");
    loop {
        let page: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for m in page["value"].as_array().expect("a page") {
            out.insert(
                m["sourceGroupIdentity"]["id"].as_str().unwrap().to_owned(),
                m["targetGroupIdentity"]["id"].as_str().unwrap().to_owned(),
            );
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the seed, shown with a failure so that it can be replayed
async fn sigkills_during_compaction_under_writes_lose_no_acknowledged_write() {
    let rounds: u32 = std::env::var("CROSSMAP_CRASHLOOP_ROUNDS").map_or(3, |r| r.parse().expect("a number of rounds"));
    let seed: u64 =
        std::env::var("CROSSMAP_CRASHLOOP_SEED").map_or_else(|_| fastrand::u64(..), |s| s.parse().expect("a seed"));
    eprintln!("crash loop: {rounds} rounds, CROSSMAP_CRASHLOOP_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let url_of = |base: &str| format!("{base}{COLLECTION}");
    let expected = Arc::new(Mutex::new(Expected::default()));
    let started = Instant::now();
    for round in 0..rounds {
        let (mut child, base) = serve(dir.path());
        let token = token_for(&http, &base, TENANT, "w").await;
        // Check the state the previous round's kill left, before writing more.
        check(&http, &base, &token, &expected, round).await;
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (http, url, token, expected) = (http.clone(), url_of(&base), token.clone(), expected.clone());
                let mut rng = fastrand::Rng::with_seed(seed ^ (u64::from(round) << 8) ^ w);
                tokio::spawn(async move {
                    for i in 0u64.. {
                        let remove = rng.u8(..) < 40;
                        let target = key(u64::from(round) * 1_000_000 + w * 100_000 + i + 1);
                        let mut keys: Vec<u64> = (0..ITEMS).map(|_| w * KEYS + rng.u64(..KEYS)).collect();
                        keys.sort_unstable();
                        keys.dedup(); // a delta request names a key once
                        let items: Vec<Value> = keys
                            .iter()
                            .map(|k| match remove {
                                true => json!({"@removed": {}, "sourceGroupIdentity": {"id": key(*k)}}),
                                false => json!({"sourceOrganizationId": TENANT, "sourceGroupIdentity": {"id": key(*k)},
                                                "targetGroupIdentity": {"id": target}}),
                            })
                            .collect();
                        let state = (!remove).then(|| target.clone());
                        expected
                            .lock()
                            .unwrap()
                            .in_flight
                            .extend(keys.iter().map(|k| (*k, state.clone())));
                        let body = json!({"@context": "#$delta", "value": items});
                        let acked = matches!(
                            http.patch(&url).bearer_auth(&token).json(&body).send().await,
                            Ok(r) if r.status() == 200
                        );
                        let mut e = expected.lock().unwrap();
                        if !acked {
                            return; // the server is gone: what was in flight may or may not be there
                        }
                        for k in &keys {
                            e.in_flight.remove(k);
                            e.acked.insert(*k, state.clone());
                        }
                    }
                })
            })
            .collect();
        // A random moment: compactions come every few dozen requests, so some kills land in one.
        tokio::time::sleep(Duration::from_millis(rng.u64(150..1200))).await;
        child.kill().unwrap(); // SIGKILL: no shutdown, no flush
        child.wait().unwrap();
        for w in writers {
            w.await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30 + 10 * u64::from(rounds)),
            "the crash loop overran its time bound"
        );
    }
    let (mut child, base) = serve(dir.path());
    let token = token_for(&http, &base, TENANT, "w").await;
    check(&http, &base, &token, &expected, rounds).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let e = expected.lock().unwrap();
    assert!(
        e.acked.len() > 100,
        "only {} keys were ever acknowledged",
        e.acked.len()
    );
}

/// Every acknowledged write is there (or the in-flight one replaced it whole); then the in-flight
/// requests are settled to what the directory shows.
async fn check(http: &reqwest::Client, base: &str, token: &str, expected: &Mutex<Expected>, round: u32) {
    let stored = stored(http, base, token).await;
    let mut e = expected.lock().unwrap();
    let mut lost = Vec::new();
    for (k, want) in &e.acked {
        let got = stored.get(&key(*k));
        let ok = got == want.as_ref() || e.in_flight.get(k).is_some_and(|f| got == f.as_ref());
        if !ok {
            lost.push(format!("{}: want {want:?}, got {got:?}", key(*k)));
        }
    }
    assert!(lost.is_empty(), "round {round}: acknowledged writes lost: {lost:?}");
    let in_flight: Vec<(u64, Option<String>)> = e.in_flight.drain().collect();
    for (k, _) in in_flight {
        let now = stored.get(&key(k)).cloned();
        e.acked.insert(k, now);
    }
}

#[test]
fn compact_folds_the_log_offline_and_the_state_reopens() {
    use crossmap_delta::{Mode, parse_request};
    use crossmap_model::SharePointGroupIdentityMapping as Group;
    use crossmap_store::{Store, StoreOptions};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), StoreOptions::default().auto_compact(None)).unwrap();
        for target in 1..=3 {
            let items: Vec<Value> = (0..10)
                .map(|n| {
                    json!({"sourceOrganizationId": TENANT, "sourceGroupIdentity": {"id": key(n)},
                                "targetGroupIdentity": {"id": key(target)}})
                })
                .collect();
            let body = json!({"@context": "#$delta", "value": items}).to_string();
            store
                .apply::<Group>(TENANT, parse_request(&body).unwrap(), Mode::Atomic)
                .unwrap();
        }
    }
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["compact", "--data-dir"])
        .arg(dir.path())
        .assert()
        .success();
    let printed = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        printed.contains("30 log records folded into a checkpoint of 10 rows"),
        "{printed}"
    );
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.count::<Group>(TENANT).unwrap(), 10);
    assert_eq!(store.latest_token::<Group>(TENANT).unwrap(), 30);

    let empty = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["compact", "--data-dir"])
        .arg(empty.path())
        .assert()
        .failure();
    let said = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(said.contains("holds no emulator data"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_token_from_before_a_compacted_removal_gets_resync_required() {
    let dir = tempfile::tempdir().unwrap();
    // Compact after every write.
    let (mut child, base, _) = start(&[
        "--app".into(),
        "w:secret:manage".into(),
        "--data-dir".into(),
        dir.path().into(),
        "--compact-after".into(),
        "1".into(),
    ]);
    let http = reqwest::Client::new();
    let token = token_for(&http, &base, TENANT, "w").await;
    let url = format!("{base}{COLLECTION}");
    let patch = |items: Value| {
        http.patch(&url)
            .bearer_auth(&token)
            .json(&json!({"@context": "#$delta", "value": items}))
            .send()
    };
    let group = |n: u64| json!({"sourceOrganizationId": TENANT, "sourceGroupIdentity": {"id": key(n)}, "targetGroupIdentity": {"id": key(n)}});
    assert_eq!(patch(json!([group(1), group(2)])).await.unwrap().status(), 200);
    let full: Value = http
        .get(format!("{url}/delta()"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delta_link = full["@odata.deltaLink"].as_str().expect("a delta link").to_owned();
    // An update keeps the mirror's token served; a removal that compaction drops does not.
    assert_eq!(patch(json!([{"sourceOrganizationId": TENANT, "sourceGroupIdentity": {"id": key(1)}, "targetGroupIdentity": {"id": key(9)}}])).await.unwrap().status(), 200);
    let r = http.get(&delta_link).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        patch(json!([{"@removed": {}, "sourceGroupIdentity": {"id": key(2)}}]))
            .await
            .unwrap()
            .status(),
        200
    );
    // The compaction runs beside the writes, soon after the one that crossed the threshold.
    let waited = std::time::Instant::now();
    let r = loop {
        let r = http.get(&delta_link).bearer_auth(&token).send().await.unwrap();
        if r.status() != 200 || waited.elapsed() > Duration::from_secs(20) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r.status(), 410);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resyncRequired", "{body}");
    // A full read starts the mirror over, and its new link is served.
    let full: Value = http
        .get(format!("{url}/delta()"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full["value"].as_array().unwrap().len(), 1);
    let link = full["@odata.deltaLink"].as_str().unwrap();
    assert_eq!(http.get(link).bearer_auth(&token).send().await.unwrap().status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}
