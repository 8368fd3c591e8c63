//! Strict on the wire, like Graph: media types, request framing, query options and tokens. Every refusal
//! is in Graph's error shape and changes nothing.

use crate::support::{Emulator, TENANT, graph_error, group, json};
use serde_json::json;

const GROUPS: &str = "crossOrganizationGroupMappings";
const USERS: &str = "crossOrganizationUserMappings";

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

/// Sends `request` as raw bytes on a new connection and returns the status and body of the answer.
async fn raw(base: &str, request: Vec<u8>) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        s.write_all(&request).unwrap();
        // Read the head, then as many bytes as it announces (the server may keep the connection open).
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
                    return (status, body.to_owned());
                }
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => panic!("the connection ended before a whole answer: {text:?}"),
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_body_that_cannot_be_read_is_a_bad_request_not_a_large_one() {
    let e = Emulator::memory().await;
    let token = e.writer(TENANT);
    let head = |framing: &str| {
        format!(
            "PATCH /beta/solutions/sharePoint/migrations/{GROUPS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\n{framing}\r\n"
        )
    };
    let body = json!({"@context": "#$delta", "value": [group(1)]}).to_string();
    let chunked = |chunks: &str| [head("Transfer-Encoding: chunked\r\n").as_bytes(), chunks.as_bytes()].concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a chunk size that is no number", chunked("zz\r\n{}\r\n0\r\n\r\n")),
        (
            "a chunk longer than its size says",
            chunked(&format!("5\r\n{body}\r\n0\r\n\r\n")),
        ),
        (
            // Transfer-Encoding wins (RFC 9112 §6.3), so the body is read as chunks, which it is not.
            "Content-Length beside Transfer-Encoding",
            [
                head(&format!(
                    "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                    body.len()
                ))
                .as_bytes(),
                body.as_bytes(),
            ]
            .concat(),
        ),
    ];
    for (what, request) in cases {
        let (status, answer) = raw(&e.base, request).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(answer.contains("\"invalidRequest\""), "{what}: {answer}");
    }
    assert_eq!(count(&e).await, 0, "an unreadable body was applied");
    // Only a body over the limit is too large, however it is framed.
    let big = "x".repeat(crossmap_server::MAX_BODY + 1);
    let (status, answer) = raw(&e.base, chunked(&format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len()))).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("\"requestTooLarge\""), "{answer}");
    // And a well-framed chunked body is read.
    let (status, answer) = raw(&e.base, chunked(&format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(count(&e).await, 1);
}

#[tokio::test]
async fn a_system_query_option_given_twice_is_refused() {
    let e = Emulator::memory().await;
    json(e.groups_delta(json!([group(1), group(2)])).await, 200).await;
    let r = e.reader(TENANT);
    for query in [
        "?$top=1&$top=2",
        "?$select=groupType&$select=id",
        "?$count=true&$count=true",
        "?$skip=0&$top=5&$skip=1",
    ] {
        let body = graph_error(
            e.get(&format!("{GROUPS}{query}"), &r).send().await.unwrap(),
            400,
            "invalidRequest",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("specified more than once"),
            "{query}: {body}"
        );
    }
    let delta = format!("{GROUPS}/delta()?$deltatoken=0&$deltatoken=1");
    graph_error(e.get(&delta, &r).send().await.unwrap(), 400, "invalidRequest").await;
    // Once each is fine, and so is a custom option (no `$`) given twice.
    let page = json(
        e.get(&format!("{GROUPS}?$top=1&$select=groupType&x=1&x=2"), &r)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
}

/// A token signed with the test key, its times relative to now (seconds).
fn token_at(iat: i64, nbf: i64, exp: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |d: i64| u64::try_from(now + d).unwrap();
    let claims = crossmap_server::Claims {
        aud: crossmap_server::AUDIENCE.into(),
        iss: "test".into(),
        tid: TENANT.into(),
        appid: "writer".into(),
        roles: vec![crossmap_server::MANAGE_ROLE.into()],
        iat: at(iat),
        nbf: at(nbf),
        exp: at(exp),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"test-key"),
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_not_yet_valid_or_issued_in_the_future_are_refused() {
    let e = Emulator::memory().await;
    let skew = crossmap_server::CLOCK_SKEW as i64;
    for (what, token, needle) in [
        ("nbf in an hour", token_at(0, 3600, 7200), "not valid yet"),
        ("nbf just past the skew", token_at(0, skew + 30, 7200), "not valid yet"),
        ("iat in an hour", token_at(3600, 0, 7200), "iat"),
    ] {
        let body = graph_error(
            e.get(GROUPS, &token).send().await.unwrap(),
            401,
            "InvalidAuthenticationToken",
        )
        .await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{what}: {body}"
        );
    }
    // A clock a little ahead is tolerated; one past exp is not.
    json(e.get(GROUPS, &token_at(30, 30, 3600)).send().await.unwrap(), 200).await;
    graph_error(
        e.get(GROUPS, &token_at(-3600, -3600, -1)).send().await.unwrap(),
        401,
        "InvalidAuthenticationToken",
    )
    .await;
}

#[tokio::test]
async fn the_token_endpoint_issues_graph_tokens_only() {
    let e = Emulator::memory().await;
    let url = format!("{}/{TENANT}/oauth2/v2.0/token", e.base);
    let ask = |scope: &str| {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "writer"),
            ("client_secret", "w-secret"),
            ("scope", scope),
        ];
        e.http.post(&url).form(&form).send()
    };
    for scope in crossmap_server::GRAPH_SCOPES {
        let ok = json(ask(scope).await.unwrap(), 200).await;
        assert!(e.auth.verify(ok["access_token"].as_str().unwrap()).is_ok(), "{scope}");
    }
    json(ask("HTTPS://GRAPH.MICROSOFT.COM/.default").await.unwrap(), 200).await;
    for scope in [
        "https://anything/.default",
        "https://graph.microsoft.com.evil.example/.default",
        "https://management.azure.com/.default",
        "https://graph.microsoft.com/User.Read",
        "https://graph.microsoft.com/.default https://management.azure.com/.default",
        "",
    ] {
        let body = json(ask(scope).await.unwrap(), 400).await;
        assert_eq!(body["error"], "invalid_scope", "{scope:?}: {body}");
    }
}

/// Graph's error envelope, on every kind of refusal: `innerError` with an ISO 8601 `date` (UTC, no zone,
/// as Graph writes it: `2026-11-23T14:00:00`), the `request-id` of the header and the echoed
/// `client-request-id` (api-notes.md, "Graph conventions").
#[tokio::test]
async fn every_error_carries_graphs_inner_error() {
    let e = Emulator::memory().await;
    let missing = e
        .get(
            &format!("{GROUPS}(sourceGroupObjectId='aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa')"),
            &e.reader(TENANT),
        )
        .header("client-request-id", "mine-1");
    let unauthenticated = e.http.get(e.url(GROUPS)).header("client-request-id", "mine-2");
    for (request, status, code, mine) in [
        (missing, 404, "itemNotFound", "mine-1"),
        (unauthenticated, 401, "InvalidAuthenticationToken", "mine-2"),
    ] {
        let r = request.send().await.unwrap();
        let date = r.headers()["date"].to_str().unwrap().to_owned();
        let body = graph_error(r, status, code).await;
        let inner = &body["error"]["innerError"];
        assert_eq!(inner["client-request-id"], mine, "{body}");
        let iso = inner["date"].as_str().unwrap();
        assert!(
            iso.len() == 19 && iso.as_bytes()[10] == b'T' && !iso.ends_with('Z'),
            "{iso} is not Graph's date form"
        );
        let at = humantime::parse_rfc3339(&format!("{iso}Z")).unwrap();
        assert_eq!(at, httpdate::parse_http_date(&date).unwrap(), "{iso} vs {date}");
    }
}

/// The alternate-key segment as OData's URL conventions write it (api-notes.md, "Keys in URLs"): a quote
/// doubled (`''`, or `%27%27`), `#` percent-encoded; a quote percent-encoded but not doubled is still a
/// quote, so it ends the literal; a `/` inside a key must be `%2F`, since unencoded it ends the segment.
#[tokio::test]
async fn alternate_keys_are_read_as_odata_url_conventions_write_them() {
    let e = Emulator::memory().await;
    let user = |upn: &str| {
        json!({"sourceOrganizationId": TENANT, "sourceUserIdentity": {"userPrincipalName": upn},
            "targetUserIdentity": {"userPrincipalName": "target@fabrikam.com"}})
    };
    let body = json!({"@context": "#$delta", "value": [
        user("o'brien@contoso.com"), user("jane_partner.com#EXT#@contoso.com")]});
    json(e.patch_json(USERS, &e.writer(TENANT), &body).send().await.unwrap(), 200).await;
    let get = |segment: &str| {
        e.get(
            &format!("{USERS}(sourceUserPrincipalName={segment})"),
            &e.reader(TENANT),
        )
        .send()
    };
    for (segment, upn) in [
        ("'o''brien@contoso.com'", "o'brien@contoso.com"),
        ("'o%27%27brien%40contoso.com'", "o'brien@contoso.com"),
        (
            "'jane_partner.com%23EXT%23@contoso.com'",
            "jane_partner.com#EXT#@contoso.com",
        ),
    ] {
        let got = json(get(segment).await.unwrap(), 200).await;
        assert_eq!(got["sourceUserIdentity"]["userPrincipalName"], upn, "{segment}");
    }
    for segment in ["'o%27brien@contoso.com'", "'o/brien@contoso.com'", "'a/b'@contoso.com'"] {
        let body = graph_error(get(segment).await.unwrap(), 400, "invalidRequest").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("twice") || message.contains("%2F"),
            "{segment}: {message}"
        );
    }
    // Encoded, a `/` is part of the key: a well-formed key that names no mapping.
    graph_error(get("'o%2Fbrien@contoso.com'").await.unwrap(), 404, "itemNotFound").await;
}

/// "On the beta endpoint, the $ prefix is optional" (Graph's query-parameters page): `select=` is
/// `$select=`, and an option given both ways is given twice.
#[tokio::test]
async fn on_beta_a_system_query_option_may_go_without_its_dollar() {
    let e = Emulator::memory().await;
    json(e.groups_delta(json!([group(1), group(2), group(3)])).await, 200).await;
    let r = e.reader(TENANT);
    let one = "(sourceGroupObjectId='00000000-0000-0000-0000-000000000001')";
    let got = json(
        e.get(&format!("{GROUPS}{one}?select=groupType"), &r)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        got.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["@odata.context", "groupType", "id"]
    );
    let page = json(
        e.get(&format!("{GROUPS}?top=2&count=true&select=groupType"), &r)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(page["value"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["@odata.count"], 3, "{page}");
    assert!(page["value"][0].get("targetGroupIdentity").is_none(), "{page}");
    // The next link carries the options in their `$` form.
    assert!(page["@odata.nextLink"].as_str().unwrap().contains("$top=2"), "{page}");
    for query in [
        "?top=1&$top=2",
        "?orderby=id",
        "?filter=groupType%20eq%20'none'",
        "?top=0",
    ] {
        graph_error(
            e.get(&format!("{GROUPS}{query}"), &r).send().await.unwrap(),
            400,
            "invalidRequest",
        )
        .await;
    }
    // A custom option (no OData name) is still nobody's business.
    json(e.get(&format!("{GROUPS}?topmost=2"), &r).send().await.unwrap(), 200).await;
}

/// "Every response carries `request-id` and `date`; a `client-request-id` sent by the caller is echoed"
/// (api-notes.md, "Graph conventions"): successes, every kind of error, `$metadata`, the token endpoint,
/// a `$count` as text.
#[tokio::test]
async fn every_answer_carries_request_id_date_and_the_callers_client_request_id() {
    let e = Emulator::memory().await;
    let r = e.reader(TENANT);
    let token_url = format!("{}/{TENANT}/oauth2/v2.0/token", e.base);
    let requests = [
        e.get(GROUPS, &r),
        e.get(&format!("{GROUPS}/$count"), &r),
        e.get(
            &format!("{GROUPS}(sourceGroupObjectId='aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa')"),
            &r,
        ),
        e.get(&format!("{GROUPS}?$orderby=id"), &r),
        e.http.get(e.url(GROUPS)),
        e.http.delete(e.url(GROUPS)).bearer_auth(&r),
        e.patch_json(GROUPS, &r, &json!({"@context": "#$delta", "value": []})),
        e.http.get(format!("{}/beta/$metadata", e.base)),
        e.http.get(format!("{}/nowhere", e.base)),
        e.http.post(&token_url).form(&[("grant_type", "password")]),
    ];
    let mut ids = std::collections::HashSet::new();
    for (n, request) in requests.into_iter().enumerate() {
        let mine = format!("0f0f0f0f-0000-4000-8000-{n:012}");
        let answer = request.header("client-request-id", &mine).send().await.unwrap();
        let headers = answer.headers();
        let what = format!("request {n}: {} {}", answer.status(), answer.url());
        assert_eq!(headers["client-request-id"], mine.as_str(), "{what}");
        let id = headers["request-id"].to_str().unwrap().to_owned();
        assert!(id.parse::<crossmap_model::Guid>().is_ok(), "{what}: {id}");
        assert!(ids.insert(id), "{what}: request ids repeat");
        let date = headers["date"].to_str().unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "{what}: {date}");
    }
}
