//! The admin plane over HTTP: health, reset (durable), tenants and their mappings, the request journal,
//! the admin token, and seeded faults (reproducible, `every`, Graph's error shapes, `drop` over a real
//! socket, no state change on a faulted request).

use crate::support::{Emulator, TENANT, graph_error, group, json, reopen};
use crossmap_server::{AdminOptions, FaultConfig};
use crossmap_store::Store;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const GROUPS: &str = "crossOrganizationGroupMappings";
const USERS: &str = "crossOrganizationUserMappings";
const OTHER: &str = "22222222-2222-2222-2222-222222222222";

fn user(n: u32) -> Value {
    json!({"sourceOrganizationId": TENANT, "userType": "regularUser",
        "sourceUserIdentity": {"userPrincipalName": format!("user{n}@contoso.com")},
        "targetUserIdentity": {"userPrincipalName": format!("user{n}@fabrikam.com")}})
}

async fn emulator() -> Emulator {
    Emulator::with_admin(Store::in_memory(), AdminOptions::default()).await
}

/// PATCHes a delta of `items` to `collection` as the writer of `tenant`; the status.
async fn patch(e: &Emulator, tenant: &str, collection: &str, items: Vec<Value>) -> u16 {
    let body = json!({"@context": "#$delta", "value": items});
    e.patch_json(collection, &e.writer(tenant), &body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn put_faults(e: &Emulator, doc: &Value) -> reqwest::Response {
    e.http.put(e.admin("faults")).json(doc).send().await.unwrap()
}

async fn journal(e: &Emulator, query: &str) -> Vec<Value> {
    let body = json(
        e.http.get(e.admin(&format!("requests?{query}"))).send().await.unwrap(),
        200,
    )
    .await;
    body["value"].as_array().unwrap().clone()
}

async fn count_groups(e: &Emulator, tenant: &str) -> u64 {
    let r = e
        .get(&format!("{GROUPS}/$count"), &e.reader(tenant))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap().parse().unwrap()
}

#[tokio::test]
async fn health_answers_with_version_and_uptime() {
    let e = emulator().await;
    let body = json(e.http.get(e.admin("health")).send().await.unwrap(), 200).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptimeSeconds"].as_f64().unwrap() >= 0.0);
    let r = e.http.post(e.admin("health")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    graph_error(r, 405, "methodNotAllowed").await;
    graph_error(
        e.http.get(e.admin("nothing")).send().await.unwrap(),
        404,
        "itemNotFound",
    )
    .await;
}

#[tokio::test]
async fn reset_clears_one_tenant_or_all_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = b"test-key".to_vec();
    {
        let e = Emulator::with_admin(reopen(dir.path()).await, AdminOptions::default()).await;
        assert_eq!(patch(&e, TENANT, GROUPS, vec![group(1), group(2)]).await, 200);
        assert_eq!(patch(&e, TENANT, USERS, vec![user(1)]).await, 200);
        assert_eq!(patch(&e, OTHER, GROUPS, vec![group(1)]).await, 200);
        let r = e.http.post(e.admin("reset?tenant=Contoso")).send().await.unwrap();
        assert_eq!(r.status(), 204, "a tenant with nothing is no error");
        let r = e
            .http
            .post(e.admin(&format!("reset?tenant={TENANT}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(count_groups(&e, TENANT).await, 0);
        assert_eq!(count_groups(&e, OTHER).await, 1, "other tenants are kept");
        graph_error(
            e.http.post(e.admin("reset?tenant=")).send().await.unwrap(),
            400,
            "invalidRequest",
        )
        .await;
    }
    {
        // Reopened: the reset was logged.
        let e = Emulator::start(reopen(dir.path()).await, key.clone()).await;
        assert_eq!(count_groups(&e, TENANT).await, 0);
        assert_eq!(count_groups(&e, OTHER).await, 1);
        // Writing after a reset continues the log's sequences.
        assert_eq!(patch(&e, TENANT, GROUPS, vec![group(3)]).await, 200);
    }
    {
        let e = Emulator::with_admin(reopen(dir.path()).await, AdminOptions::default()).await;
        assert_eq!(count_groups(&e, TENANT).await, 1);
        let r = e.http.post(e.admin("reset")).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }
    let e = Emulator::start(reopen(dir.path()).await, key).await;
    assert_eq!(count_groups(&e, TENANT).await, 0);
    assert_eq!(count_groups(&e, OTHER).await, 0);
}

#[tokio::test]
async fn compact_folds_the_log_and_keeps_every_mapping() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Emulator::with_admin(reopen(dir.path()).await, AdminOptions::default()).await;
        assert_eq!(patch(&e, TENANT, GROUPS, (1..=20).map(group).collect()).await, 200);
        assert_eq!(patch(&e, TENANT, GROUPS, (1..=10).map(group).collect()).await, 200);
        let done = json(e.http.post(e.admin("compact")).send().await.unwrap(), 200).await;
        assert_eq!(done["checkpointRows"], 20, "{done}");
        assert!(done["recordsRemoved"].as_u64().unwrap() >= 20, "{done}");
        assert!(done["seconds"].as_f64().unwrap() >= 0.0);
        let again = json(e.http.post(e.admin("compact")).send().await.unwrap(), 200).await;
        assert_eq!(again["recordsRemoved"], 0, "nothing left to fold: {again}");
        let r = e.http.get(e.admin("compact")).send().await.unwrap();
        assert_eq!(r.headers()["allow"], "POST");
        graph_error(r, 405, "methodNotAllowed").await;
        graph_error(
            e.http.post(e.admin("compact?now=1")).send().await.unwrap(),
            400,
            "invalidRequest",
        )
        .await;
        assert_eq!(count_groups(&e, TENANT).await, 20);
    }
    // Reopened from the checkpoint alone.
    let e = Emulator::with_admin(reopen(dir.path()).await, AdminOptions::default()).await;
    assert_eq!(count_groups(&e, TENANT).await, 20);
}

#[tokio::test]
async fn tenants_and_their_mappings_paged_and_searched() {
    let e = emulator().await;
    assert_eq!(patch(&e, TENANT, USERS, (1..=12).map(user).collect()).await, 200);
    assert_eq!(patch(&e, TENANT, GROUPS, vec![group(1)]).await, 200);
    assert_eq!(patch(&e, OTHER, GROUPS, vec![group(1), group(2)]).await, 200);
    let body = json(e.http.get(e.admin("tenants")).send().await.unwrap(), 200).await;
    assert_eq!(
        body,
        json!({"value": [
            {"tenant": TENANT, "userMappings": 12, "groupMappings": 1},
            {"tenant": OTHER, "userMappings": 0, "groupMappings": 2},
        ]})
    );
    let page = |q: &str| {
        let url = e.admin(&format!("tenants/{TENANT}/{USERS}?{q}"));
        let http = e.http.clone();
        async move { json(http.get(url).send().await.unwrap(), 200).await }
    };
    let upns = |body: &Value| -> Vec<String> {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["sourceUserIdentity"]["userPrincipalName"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let all = page("").await;
    assert_eq!(all["count"], 12);
    // In key order, as Graph's list of the collection.
    let listed = json(e.get(USERS, &e.reader(TENANT)).send().await.unwrap(), 200).await;
    assert_eq!(upns(&all), upns(&listed));
    assert!(all["value"][0]["id"].is_string(), "mappings as Graph returns them");
    let searched = page("search=USER1&skip=1&top=2").await;
    assert_eq!(searched["count"], 4, "user1, user10, user11, user12");
    let matching: Vec<String> = upns(&all).into_iter().filter(|u| u.starts_with("user1")).collect();
    assert_eq!(upns(&searched), matching[1..3]);
    let groups = json(
        e.http
            .get(e.admin(&format!("tenants/{OTHER}/{GROUPS}?top=1")))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(groups["count"], 2);
    assert_eq!(groups["value"].as_array().unwrap().len(), 1);
    for bad in ["top=0", "top=501", "skip=x", "colour=red"] {
        let r = e
            .http
            .get(e.admin(&format!("tenants/{TENANT}/{USERS}?{bad}")))
            .send()
            .await
            .unwrap();
        graph_error(r, 400, "invalidRequest").await;
    }
    let r = e
        .http
        .get(e.admin(&format!("tenants/{TENANT}/nothing")))
        .send()
        .await
        .unwrap();
    graph_error(r, 404, "itemNotFound").await;
}

#[tokio::test]
async fn the_journal_records_each_request_with_what_the_inner_layers_know() {
    let e = emulator().await;
    let r = e
        .patch_json(
            GROUPS,
            &e.writer(TENANT),
            &json!({"@context": "#$delta", "value": [group(1), group(2)]}),
        )
        .header("client-request-id", "c-1")
        .header("user-agent", "ISV|Contoso|Mover/1.0")
        .header("Retry-Attempt", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["request-id"].to_str().unwrap().to_owned();
    let r = e
        .get("crossOrganizationGroupMappings/nonsense", &e.reader(OTHER))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = e.http.get(e.url(GROUPS)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Admin calls are not journaled.
    e.http.get(e.admin("health")).send().await.unwrap();

    let entries = journal(&e, "").await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    let first = &entries[0];
    assert_eq!(first["method"], "PATCH");
    assert_eq!(first["path"], format!("/beta/solutions/sharePoint/migrations/{GROUPS}"));
    assert_eq!(first["status"], 200);
    assert_eq!(first["tenant"], TENANT);
    assert_eq!(first["appId"], "writer");
    assert_eq!(first["clientRequestId"], "c-1");
    assert_eq!(first["requestId"], request_id);
    assert_eq!(first["userAgent"], "ISV|Contoso|Mover/1.0");
    assert_eq!(first["retryAttempt"], 2);
    assert_eq!(first["items"], 2);
    assert_eq!(first["fault"], Value::Null);
    assert!(first["durationMs"].as_f64().unwrap() >= 0.0);
    let time = first["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    assert_eq!(
        entries[1]["tenant"], OTHER,
        "an error after authentication still names the caller"
    );
    assert_eq!(entries[1]["items"], Value::Null);
    assert_eq!(entries[2]["tenant"], Value::Null, "no token, no caller");
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "newest last: {seqs:?}");

    assert_eq!(journal(&e, "status=4xx").await.len(), 2);
    assert_eq!(journal(&e, "method=patch").await.len(), 1);
    assert_eq!(journal(&e, &format!("tenant={OTHER}")).await.len(), 1);
    assert_eq!(journal(&e, "clientRequestId=c-1").await.len(), 1);
    assert_eq!(journal(&e, "path=NONSENSE").await.len(), 1);
    assert_eq!(journal(&e, "limit=1").await[0]["status"], 401);
    assert_eq!(journal(&e, &format!("after={}", seqs[1])).await.len(), 1);
    let count = |q: &'static str| {
        let http = e.http.clone();
        let url = e.admin(&format!("requests/$count?{q}"));
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
            r.text().await.unwrap()
        }
    };
    assert_eq!(count("").await, "3");
    assert_eq!(count("status=401&limit=0").await, "1");
    graph_error(
        e.http.get(e.admin("requests?status=teapot")).send().await.unwrap(),
        400,
        "invalidRequest",
    )
    .await;
    let r = e.http.delete(e.admin("requests")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(count("").await, "0");
}

#[tokio::test]
async fn the_journal_is_bounded() {
    let options = AdminOptions {
        journal: 5,
        ..AdminOptions::default()
    };
    let e = Emulator::with_admin(Store::in_memory(), options).await;
    for n in 0..8 {
        e.http.get(format!("{}/beta/nothing{n}", e.base)).send().await.unwrap();
    }
    let entries = journal(&e, "").await;
    let paths: Vec<&str> = entries.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/beta/nothing3",
            "/beta/nothing4",
            "/beta/nothing5",
            "/beta/nothing6",
            "/beta/nothing7"
        ]
    );
    assert_eq!(entries[0]["seq"], 4);
}

#[tokio::test]
async fn an_admin_token_guards_the_plane_and_no_admin_turns_it_off() {
    let options = AdminOptions {
        token: Some("s3cret".into()),
        ..AdminOptions::default()
    };
    let e = Emulator::with_admin(Store::in_memory(), options).await;
    let r = e.http.get(e.admin("health")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    graph_error(r, 401, "InvalidAuthenticationToken").await;
    let r = e.http.post(e.admin("reset")).bearer_auth("wrong").send().await.unwrap();
    graph_error(r, 401, "InvalidAuthenticationToken").await;
    let r = e
        .http
        .get(e.admin("health"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let off = AdminOptions {
        enabled: false,
        ..AdminOptions::default()
    };
    let e = Emulator::with_admin(Store::in_memory(), off).await;
    graph_error(e.http.get(e.admin("health")).send().await.unwrap(), 404, "itemNotFound").await;
    graph_error(
        e.http.get(e.admin("requests")).send().await.unwrap(),
        404,
        "itemNotFound",
    )
    .await;
}

#[tokio::test]
async fn fault_documents_are_checked_and_a_refused_one_changes_nothing() {
    let e = emulator().await;
    let doc = json!({"seed": 42, "rules": [
        {"match": {"method": "PATCH", "path": USERS}, "rate": 0.1, "status": 429, "retryAfter": "2"},
        {"every": 5, "status": 503},
        {"rate": 0.02, "drop": true},
        {"rate": 1.0, "latencyMs": [10, 50]}]});
    let stored = json(put_faults(&e, &doc).await, 200).await;
    assert_eq!(stored, doc);
    let bad = put_faults(&e, &json!({"seed": 1, "rules": [{"rate": 3, "status": 503}]})).await;
    let body = graph_error(bad, 400, "invalidRequest").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("rules[0]"),
        "{body}"
    );
    let bad = e
        .http
        .put(e.admin("faults"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    graph_error(bad, 400, "invalidRequest").await;
    assert_eq!(
        json(e.http.get(e.admin("faults")).send().await.unwrap(), 200).await,
        doc
    );
    assert_eq!(
        json(put_faults(&e, &json!({"rules": []})).await, 200).await,
        json!({"seed": 0, "rules": []})
    );
}

/// Statuses of the same 200 requests (PATCHes of new groups and GETs, in turn) against a fresh emulator
/// with `doc`'s faults.
async fn statuses(doc: &Value) -> Vec<u16> {
    let e = emulator().await;
    assert_eq!(put_faults(&e, doc).await.status(), 200);
    let mut out = Vec::new();
    for n in 0..200u32 {
        let status = if n % 2 == 0 {
            patch(&e, TENANT, GROUPS, vec![group(n)]).await
        } else {
            e.get(GROUPS, &e.reader(TENANT)).send().await.unwrap().status().as_u16()
        };
        out.push(status);
    }
    out
}

#[tokio::test]
async fn the_same_seed_and_requests_give_the_same_faults() {
    let rules = |seed: u64| {
        json!({"seed": seed, "rules": [
            {"match": {"method": "PATCH"}, "rate": 0.2, "status": 429, "retryAfter": "1"},
            {"rate": 0.1, "status": 503}]})
    };
    let first = statuses(&rules(42)).await;
    let second = statuses(&rules(42)).await;
    assert_eq!(first, second);
    let faulted = first.iter().filter(|s| **s != 200).count();
    assert!((15..=70).contains(&faulted), "{faulted} faulted: {first:?}");
    assert!(first.contains(&429) && first.contains(&503));
    assert_ne!(first, statuses(&rules(7)).await, "another seed, other faults");
}

#[tokio::test]
async fn every_fails_each_nth_matching_request() {
    let e = emulator().await;
    put_faults(
        &e,
        &json!({"rules": [{"match": {"path": GROUPS, "method": "GET"}, "every": 3, "status": 504}]}),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..9 {
        // A request the rule does not match does not count.
        assert_eq!(e.get(USERS, &e.reader(TENANT)).send().await.unwrap().status(), 200);
        got.push(e.get(GROUPS, &e.reader(TENANT)).send().await.unwrap().status().as_u16());
    }
    assert_eq!(got, [200, 200, 504, 200, 200, 504, 200, 200, 504]);
    let faulted = journal(&e, "status=504").await;
    assert_eq!(faulted.len(), 3);
    assert_eq!(faulted[0]["fault"], "rule 0: 504");
}

#[tokio::test]
async fn a_faulted_request_answers_as_graph_does_and_changes_nothing() {
    let e = emulator().await;
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    put_faults(
        &e,
        &json!({"rules": [
        {"match": {"path": "(sourceGroupObjectId"}, "status": 503, "retryAfter": date},
        {"match": {"method": "DELETE"}, "status": 500},
        {"status": 429, "retryAfter": 2.128}]}),
    )
    .await;
    let r = e
        .patch_json(
            GROUPS,
            &e.writer(TENANT),
            &json!({"@context": "#$delta", "value": [group(1)]}),
        )
        .header("client-request-id", "c-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "2.128", "written verbatim");
    assert_eq!(r.headers()["client-request-id"], "c-9");
    let body = graph_error(r, 429, "activityLimitReached").await;
    // SharePoint's throttling body (graph-behaviour.md), as the quota's own 429 writes it.
    assert_eq!(body["error"]["message"], "The request has been throttled");
    assert_eq!(body["error"]["innerError"]["code"], "throttledRequest");
    assert_eq!(body["error"]["innerError"]["innerError"], json!({"code": "quota"}));
    assert_eq!(body["error"]["innerError"]["client-request-id"], "c-9");
    let r = e
        .get(
            "crossOrganizationGroupMappings(sourceGroupObjectId='00000000-0000-0000-0000-000000000001')",
            &e.reader(TENANT),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], date);
    graph_error(r, 503, "serviceNotAvailable").await;
    let r = e
        .http
        .delete(e.url("crossOrganizationGroupMappings/x"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("retry-after").is_none());
    graph_error(r, 500, "generalException").await;
    // Nothing was written, and the journal says which rule answered.
    put_faults(&e, &json!({"rules": []})).await;
    assert_eq!(count_groups(&e, TENANT).await, 0);
    let faulted = journal(&e, "status=429").await;
    assert_eq!(faulted[0]["fault"], "rule 2: 429");
    assert_eq!(
        faulted[0]["tenant"],
        Value::Null,
        "the fault answered before authentication"
    );
}

/// graph-behaviour.md lists three throttling bodies seen from Graph: SharePoint's (the default), and
/// `TooManyRequests` "Please retry again later." and `accessDenied` "Too Many Requests", which a rule's
/// `code` and `message` give.
#[tokio::test]
async fn a_fault_answers_with_any_of_the_throttling_bodies_graph_sends() {
    let e = emulator().await;
    let doc = json!({"rules": [
        {"match": {"method": "PATCH"}, "times": 1, "status": 429, "retryAfter": "2.128",
         "code": "TooManyRequests", "message": "Please retry again later."},
        {"match": {"method": "PATCH"}, "times": 1, "status": 429, "code": "accessDenied", "message": "Too Many Requests"}]});
    let stored = json(put_faults(&e, &doc).await, 200).await;
    assert_eq!(stored["rules"], doc["rules"], "code and message are kept as given");
    let body = json!({"@context": "#$delta", "value": [group(1)]});
    let send = || e.patch_json(GROUPS, &e.writer(TENANT), &body).send();
    let r = send().await.unwrap();
    assert_eq!(r.headers()["retry-after"], "2.128");
    let answer = graph_error(r, 429, "TooManyRequests").await;
    assert_eq!(answer["error"]["message"], "Please retry again later.");
    assert!(answer["error"]["innerError"].get("code").is_none(), "{answer}");
    let answer = graph_error(send().await.unwrap(), 429, "accessDenied").await;
    assert_eq!(answer["error"]["message"], "Too Many Requests");
    json(send().await.unwrap(), 200).await;
    assert_eq!(
        count_groups(&e, TENANT).await,
        1,
        "only the request no rule answered was applied"
    );
}

#[tokio::test]
async fn latency_delays_and_lets_the_request_through() {
    let e = emulator().await;
    put_faults(
        &e,
        &json!({"rules": [{"match": {"method": "GET"}, "latencyMs": [150, 200]}]}),
    )
    .await;
    let start = Instant::now();
    assert_eq!(e.get(GROUPS, &e.reader(TENANT)).send().await.unwrap().status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
    let entry = &journal(&e, "").await[0];
    assert!(
        entry["fault"].as_str().unwrap().starts_with("rule 0: latency 1"),
        "{entry}"
    );
}

/// Sends a raw delta PATCH of `group(n)` on a fresh connection; what came back before the server closed
/// it (empty when it answered nothing).
fn raw_patch(e: &Emulator, n: u32) -> String {
    let addr = e.base.trim_start_matches("http://");
    let body = json!({"@context": "#$delta", "value": [group(n)]}).to_string();
    let request = format!(
        "PATCH /beta/solutions/sharePoint/migrations/{GROUPS} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        e.writer(TENANT),
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // Ends at the server's close (keep-alive would otherwise hold it open: the test waits only on drops).
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_closes_the_connection_unanswered_with_or_without_applying_first() {
    let e = emulator().await;
    put_faults(&e, &json!({"rules": [{"match": {"method": "PATCH"}, "drop": true}]})).await;
    let answer = tokio::task::block_in_place(|| raw_patch(&e, 1));
    assert_eq!(answer, "", "the connection closed without an answer");
    assert_eq!(count_groups(&e, TENANT).await, 0, "not applied");

    put_faults(
        &e,
        &json!({"rules": [{"match": {"method": "PATCH"}, "drop": true, "afterApply": true}]}),
    )
    .await;
    let answer = tokio::task::block_in_place(|| raw_patch(&e, 2));
    assert_eq!(answer, "");
    assert_eq!(
        count_groups(&e, TENANT).await,
        1,
        "applied, though the client never heard"
    );

    // A client library sees a transport error.
    let err = e
        .patch_json(
            GROUPS,
            &e.writer(TENANT),
            &json!({"@context": "#$delta", "value": [group(3)]}),
        )
        .send()
        .await
        .expect_err("no answer");
    assert!(!err.is_status(), "{err}");
    let dropped = journal(&e, "method=PATCH").await;
    assert_eq!(dropped.len(), 3);
    assert!(dropped.iter().all(|d| d["status"].is_null()), "{dropped:?}");
    assert_eq!(dropped[1]["fault"], "rule 0: drop, after apply");
    assert_eq!(dropped[1]["tenant"], TENANT, "applied, so authenticated");
    assert_eq!(dropped[1]["items"], 1);
}

#[tokio::test]
async fn an_embedded_router_answers_a_drop_with_503_and_closes() {
    // `Emulator::start` serves with axum::serve, not crossmap_server::serve.
    let e = Emulator::start(Store::in_memory(), b"test-key".to_vec()).await;
    put_faults(&e, &json!({"rules": [{"drop": true}]})).await;
    let r = e.get(GROUPS, &e.reader(TENANT)).send().await.unwrap();
    assert_eq!(r.headers()["connection"], "close");
    graph_error(r, 503, "serviceNotAvailable").await;
}

#[test]
fn fault_configs_round_trip() {
    let text = r#"{"seed":3,"rules":[{"match":{"path":"x"},"every":2,"status":503,"afterApply":true}]}"#;
    let config = FaultConfig::from_json(text).unwrap();
    assert_eq!(serde_json::to_string(&config).unwrap(), text);
}
