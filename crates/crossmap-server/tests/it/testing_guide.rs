//! The Rust example of `docs/emulator.md` ("Testing your tool against the emulator"), run as a test: the
//! emulator in process, a seeded fault, a tool that retries, the journal asserted on, a reset. The
//! example's text in the document is checked to be this file's, so the document never shows code that
//! does not run.

// --- docs/emulator.md example: begin
use crossmap_server::{AppState, Auth, ServeOptions, router, serve};
use crossmap_store::Store;
use serde_json::{Value, json};
use std::time::Duration;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test]
async fn my_tool_retries_a_throttled_push() -> Result {
    // The emulator in process, on a free port, knowing the app the tool signs in as.
    let auth = Auth::ephemeral(vec!["my-tool:my-tool-secret:manage".parse()?])?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = router(AppState::new(Store::in_memory(), auth));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, ServeOptions::default(), async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    // Every second PATCH is throttled, with a Retry-After of 0.2 s.
    let faults = json!({"seed": 42, "rules": [
        {"match": {"method": "PATCH"}, "every": 2, "status": 429, "retryAfter": "0.2"}]});
    let put = http.put(format!("{base}/_crossmap/faults")).json(&faults);
    assert_eq!(put.send().await?.status(), 200);

    // The tool under test: a token, then three pushes, each retried on 429 after Retry-After.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "my-tool"),
        ("client_secret", "my-tool-secret"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let answer = http.post(format!("{base}/contoso/oauth2/v2.0/token")).form(&form);
    let token: Value = answer.send().await?.json().await?;
    let token = token["access_token"].as_str().ok_or("no token")?;
    let users = format!("{base}/beta/solutions/sharePoint/migrations/crossOrganizationUserMappings");
    for n in 1..=3 {
        let body = json!({"@context": "#$delta", "value": [{
            "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
            "userType": "regularUser",
            "sourceUserIdentity": {"userPrincipalName": format!("user{n}@contoso.com")},
            "targetUserIdentity": {"userPrincipalName": format!("user{n}@fabrikam.com")}}]});
        let mut attempt = 0;
        loop {
            let mut request = http.patch(&users).bearer_auth(token).json(&body);
            if attempt > 0 {
                request = request.header("Retry-Attempt", attempt.to_string());
            }
            let response = request.send().await?;
            if response.status() != 429 {
                assert_eq!(response.status(), 200);
                break;
            }
            let wait: f64 = response.headers()["retry-after"].to_str()?.parse()?;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            attempt += 1;
        }
    }

    // The journal shows what the tool did: the 2nd and 4th PATCH throttled, each retried once.
    let journal = http.get(format!("{base}/_crossmap/requests?method=PATCH"));
    let journal: Value = journal.send().await?.json().await?;
    let entries = journal["value"].as_array().ok_or("no entries")?;
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e["status"].as_u64(), e["retryAttempt"].as_u64(), e["fault"].is_string()))
        .collect();
    let (ok, throttled, retried) = (
        (Some(200), None, false),
        (Some(429), None, true),
        (Some(200), Some(1), false),
    );
    assert_eq!(seen, [ok, throttled, retried, throttled, retried]);

    // Between tests: forget every mapping (and, as needed, the journal and the faults).
    let reset = http.post(format!("{base}/_crossmap/reset")).send().await?;
    assert_eq!(reset.status(), 204);
    let one = format!("{users}(sourceUserPrincipalName='user1@contoso.com')");
    assert_eq!(http.get(one).bearer_auth(token).send().await?.status(), 404);

    let _ = stop.send(());
    server.await??;
    Ok(())
}
// --- docs/emulator.md example: end

#[test]
fn the_document_shows_this_example_as_it_is() {
    use crossmap_test_support::shown;
    let example = shown::region(include_str!("testing_guide.rs"), "docs/emulator.md example");
    let doc = shown::workspace_file("docs/emulator.md");
    assert!(
        shown::rust_block_after(&doc, "### From Rust") == example,
        "the Rust example in docs/emulator.md differs from tests/it/testing_guide.rs: copy it over"
    );
}
