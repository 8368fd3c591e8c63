//! Strict on the wire, like Graph: media types, request framing, query options and tokens. Every refusal
//! is in Graph's error shape and changes nothing.

use crate::support::{Emulator, TENANT, graph_error, group, json};
use serde_json::json;

const GROUPS: &str = "crossOrganizationGroupMappings";

/// How many group mappings TENANT holds.
async fn count(e: &Emulator) -> u64 {
    let r = e
        .get(&format!("{GROUPS}/$count"), &e.reader(TENANT))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap().parse().unwrap()
}

#[tokio::test]
async fn only_json_bodies_are_read() {
    let e = Emulator::memory().await;
    let w = e.writer(TENANT);
    let body = json!({"@context": "#$delta", "value": [group(1)]}).to_string();
    let send = |content_type: Option<&'static str>| {
        let mut r = e.http.patch(e.url(GROUPS)).bearer_auth(&w).body(body.clone());
        if let Some(t) = content_type {
            r = r.header("content-type", t);
        }
        r.send()
    };
    for refused in [
        Some("application/json-patch+json"),
        Some("application/jsonx"),
        Some("application/json5"),
        Some("application/json-seq"),
        Some("application/x-json"),
        Some("text/json"),
        Some("application/json; charset=latin1"),
        Some("application/json/x"),
        None,
    ] {
        let r = send(refused).await.unwrap();
        let body = graph_error(r, 415, "unsupportedMediaType").await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains("application/json"),
            "{body}"
        );
    }
    // Two Content-Type headers say two things: refused too.
    let r = e
        .http
        .patch(e.url(GROUPS))
        .bearer_auth(&w)
        .header("content-type", "application/json")
        .header("content-type", "application/json5")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    graph_error(r, 415, "unsupportedMediaType").await;
    assert_eq!(count(&e).await, 0, "a refused body was applied");
    for accepted in [
        "application/json",
        "Application/JSON; charset=UTF-8",
        "application/json;odata.metadata=minimal;odata.streaming=true",
        "application/json ; charset=\"utf-8\"",
    ] {
        json(send(Some(accepted)).await.unwrap(), 200).await;
    }
    assert_eq!(count(&e).await, 1);
}
