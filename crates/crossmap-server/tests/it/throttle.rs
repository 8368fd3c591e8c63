//! The throttling quota over HTTP: the admin endpoint, warnings past 80%, `429` with `Retry-After` that
//! changes nothing, early retries counted, buckets per app and tenant. Windows are long enough that no
//! unit refills during a test, so nothing sleeps.

use crate::support::{Emulator, TENANT, graph_error, group, json};
use serde_json::{Value, json};

const GROUPS: &str = "crossOrganizationGroupMappings";

async fn put_quota(e: &Emulator, body: &Value) -> reqwest::Response {
    e.http
        .put(format!("{}/_crossmap/throttle", e.base))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn quota(e: &Emulator) -> Value {
    json(
        e.http
            .get(format!("{}/_crossmap/throttle", e.base))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_quota_is_set_and_read_and_an_invalid_one_changes_nothing() {
    let e = Emulator::memory().await;
    assert_eq!(quota(&e).await, json!({"limit": null, "stats": []}), "off by default");
    let set = json!({"limit": 1200, "windowSeconds": 60, "costs": {"read": 1, "list": 2, "write": 2}});
    let mut expected = set.clone();
    expected["stats"] = json!([]);
    assert_eq!(json(put_quota(&e, &set).await, 200).await, expected);
    assert_eq!(quota(&e).await, expected);
    for bad in [
        json!({"limit": 0}),
        json!({"limit": 10, "windowSeconds": -1}),
        json!({"limit": 10, "costs": {"write": 11}}),
        json!({"windowSeconds": 10}),
        json!({"limit": "many"}),
    ] {
        graph_error(put_quota(&e, &bad).await, 400, "invalidRequest").await;
        assert_eq!(quota(&e).await, expected, "{bad} changed the quota");
    }
    let not_json = e
        .http
        .put(format!("{}/_crossmap/throttle", e.base))
        .header("content-type", "text/plain")
        .body("limit=3")
        .send()
        .await
        .unwrap();
    graph_error(not_json, 415, "unsupportedMediaType").await;
    let delete = e
        .http
        .delete(format!("{}/_crossmap/throttle", e.base))
        .send()
        .await
        .unwrap();
    graph_error(delete, 405, "methodNotAllowed").await;
    assert_eq!(
        json(put_quota(&e, &json!({"limit": null})).await, 200).await,
        json!({"limit": null, "stats": []})
    );
}

#[tokio::test]
async fn past_80_percent_answers_warn_and_beyond_the_quota_a_429_changes_nothing() {
    let e = Emulator::memory().await;
    // 10 units, refilled over 1,000 s: nothing comes back during the test.
    json(put_quota(&e, &json!({"limit": 10, "windowSeconds": 1000})).await, 200).await;
    for n in 0..5u32 {
        let r = e.groups_delta(json!([group(n)])).await;
        let warned = header(&r, "ratelimit-remaining");
        json(r, 200).await;
        // Writes cost 2: 8, 6, 4, 2 left (at most 80% used: no headers), then 0.
        assert_eq!(warned.as_deref(), (n == 4).then_some("0"), "write {n}");
    }
    let r = e.groups_delta(json!([group(9)])).await;
    assert_eq!(
        header(&r, "retry-after").as_deref(),
        Some("400"),
        "(2 - -2) units at 0.01/s"
    );
    assert_eq!(header(&r, "ratelimit-limit").as_deref(), Some("10"));
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(
        header(&r, "ratelimit-reset").as_deref(),
        Some("400"),
        "from -2 to 2 at 0.01/s"
    );
    let body = graph_error(r, 429, "activityLimitReached").await;
    assert_eq!(body["error"]["innerError"]["code"], "throttledRequest", "{body}");
    // The refused write changed nothing: the reader (its own bucket) finds no group 9.
    let list = json(e.get(GROUPS, &e.reader(TENANT)).send().await.unwrap(), 200).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 5, "{list}");
    // Coming back before Retry-After is refused again, counted as early, and costs (the debt deepens).
    let r = e.groups_delta(json!([group(9)])).await;
    assert_eq!(
        header(&r, "retry-after").as_deref(),
        Some("600"),
        "(2 - -4) units at 0.01/s"
    );
    graph_error(r, 429, "activityLimitReached").await;
    let mut stats = quota(&e).await["stats"].clone();
    for (s, remaining) in stats.as_array_mut().unwrap().iter_mut().zip([8.0, -4.0]) {
        // A few milliseconds' refill at 0.01 units a second.
        let r = s.as_object_mut().unwrap().remove("remaining").unwrap();
        assert!((r.as_f64().unwrap() - remaining).abs() < 0.01, "{r}");
    }
    assert_eq!(
        stats,
        json!([
            {"tenant": TENANT, "appId": "reader", "requests": 1, "throttled": 0, "early": 0},
            {"tenant": TENANT, "appId": "writer", "requests": 7, "throttled": 2, "early": 1},
        ])
    );
}

#[tokio::test]
async fn reads_lists_and_directory_calls_cost_their_class_and_other_tenants_have_their_own_bucket() {
    let e = Emulator::memory().await;
    json(
        put_quota(
            &e,
            &json!({"limit": 10, "windowSeconds": 1000, "costs": {"read": 1, "list": 3, "write": 2}}),
        )
        .await,
        200,
    )
    .await;
    let reader = e.reader(TENANT);
    let key = format!("{GROUPS}(sourceGroupObjectId='00000000-0000-0000-0000-000000000001')");
    graph_error(e.get(&key, &reader).send().await.unwrap(), 404, "itemNotFound").await; // 1
    json(e.get(GROUPS, &reader).send().await.unwrap(), 200).await; // 3
    let count = e.get(&format!("{GROUPS}/$count"), &reader).send().await.unwrap(); // 3
    assert_eq!(count.status(), 200);
    // 7 used; another read makes 80%, not past it; the next one is past, and its error answer carries
    // the headers too.
    let r = e.get(&key, &reader).send().await.unwrap();
    assert_eq!(header(&r, "ratelimit-remaining"), None);
    graph_error(r, 404, "itemNotFound").await;
    let r = e.get(&key, &reader).send().await.unwrap();
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("1"));
    graph_error(r, 404, "itemNotFound").await;
    let r = e.get(&format!("{GROUPS}/delta()"), &reader).send().await.unwrap(); // 3 > 1
    graph_error(r, 429, "activityLimitReached").await;
    // Another tenant, the same app: a full bucket.
    let other = e.reader("22222222-2222-2222-2222-222222222222");
    let r = e.get(GROUPS, &other).send().await.unwrap();
    assert_eq!(header(&r, "ratelimit-remaining"), None);
    json(r, 200).await;
    // The directory is metered by the same bucket: a list page costs 3.
    let dir = e.token_of(TENANT, "directory");
    for expected in [200, 200, 200, 429] {
        let r = e
            .http
            .get(format!("{}/v1.0/users", e.base))
            .bearer_auth(&dir)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
    // Lifting the quota lifts the headers.
    json(put_quota(&e, &json!({"limit": null})).await, 200).await;
    let r = e.get(GROUPS, &reader).send().await.unwrap();
    assert_eq!(header(&r, "ratelimit-remaining"), None);
    json(r, 200).await;
}
