//! The web console's page and assets, as a browser fetches them through the emulator's router.

use crate::support::{Emulator, graph_error, json};
use crossmap_server::AdminOptions;
use crossmap_store::Store;

#[tokio::test]
async fn the_console_page_and_the_assets_it_names_are_served() {
    let emulator = Emulator::memory().await;
    let page = emulator
        .http
        .get(format!("{}/_crossmap/ui", emulator.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(page.headers().contains_key("request-id"));
    let html = page.text().await.unwrap();
    // Every asset the page names is there: nothing comes from elsewhere.
    let mut named = 0;
    for part in html.split('"').filter(|p| p.starts_with("/_crossmap/ui/")) {
        let asset = emulator
            .http
            .get(format!("{}{part}", emulator.base))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{part}");
        assert!(!asset.bytes().await.unwrap().is_empty(), "{part}");
        named += 1;
    }
    assert_eq!(named, 3, "app.js, app.css, favicon.svg");
}

#[tokio::test]
async fn the_console_answers_other_methods_and_unknown_assets_in_graphs_shape() {
    let emulator = Emulator::memory().await;
    let post = emulator
        .http
        .post(format!("{}/_crossmap/ui", emulator.base))
        .send()
        .await
        .unwrap();
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    graph_error(post, 405, "methodNotAllowed").await;
    let missing = emulator
        .http
        .get(format!("{}/_crossmap/ui/missing.js", emulator.base))
        .send()
        .await
        .unwrap();
    graph_error(missing, 404, "itemNotFound").await;
}

#[tokio::test]
async fn with_an_admin_token_the_page_loads_without_it_and_the_admin_calls_need_it() {
    let admin = AdminOptions {
        token: Some("s3cret".to_owned()),
        ..AdminOptions::default()
    };
    let emulator = Emulator::with_admin(Store::in_memory(), admin).await;
    for asset in ["ui", "ui/app.js", "ui/app.css", "ui/favicon.svg"] {
        let r = emulator.http.get(emulator.admin(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    let refused = emulator.http.get(emulator.admin("health")).send().await.unwrap();
    graph_error(refused, 401, "InvalidAuthenticationToken").await;
    let health = emulator
        .http
        .get(emulator.admin("health"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Loading the console is not a request to the emulator's API: the journal stays empty.
    let journal = emulator
        .http
        .get(emulator.admin("requests"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(json(journal, 200).await["value"], serde_json::json!([]));
}
