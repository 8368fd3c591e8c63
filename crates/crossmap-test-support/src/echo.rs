//! A stand-in for a Graph that says more than it was told: it applies nothing, answers every delta
//! PATCH item with the item itself plus properties the request did not name (an undeclared
//! `futureProperty`, `@odata.type`, `@odata.etag`, `"deleted": null`, and for users the documented
//! `sourceUserPrincipalName`), and, like Graph, has no list call. It counts the items it was sent.

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A running echo server; it serves until the test process ends.
#[derive(Debug)]
pub struct EchoServer {
    /// The service root to give a client, ending in `/beta`.
    pub base_url: String,
    items: Arc<AtomicU64>,
}

impl EchoServer {
    /// Starts the server on loopback, on a thread and runtime of its own, so that blocking and async
    /// tests alike can use it.
    pub fn start() -> EchoServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let base_url = format!("http://{}/beta", listener.local_addr().expect("an address"));
        let items = Arc::new(AtomicU64::new(0));
        let counter = items.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let app = Router::new().fallback(move |method: Method, body: Bytes| {
                    let counter = counter.clone();
                    async move { answer(&method, &body, &counter) }
                });
                let _ = axum::serve(listener, app).await;
            });
        });
        EchoServer { base_url, items }
    }

    /// How many delta items it was sent so far.
    pub fn items_received(&self) -> u64 {
        self.items.load(Ordering::SeqCst)
    }
}

fn answer(method: &Method, body: &[u8], counter: &AtomicU64) -> Response {
    if method != Method::PATCH {
        let error = json!({"error": {"code": "notSupported", "message": "no list in this echo server"}});
        return (StatusCode::NOT_IMPLEMENTED, axum::Json(error)).into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        let error = json!({"error": {"code": "invalidRequest", "message": "not JSON"}});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let items = request["value"].as_array().cloned().unwrap_or_default();
    counter.fetch_add(items.len() as u64, Ordering::SeqCst);
    let value: Vec<Value> = items.into_iter().map(echo).collect();
    axum::Json(json!({"@odata.context": "https://graph.microsoft.com/beta/$metadata#echo", "value": value}))
        .into_response()
}

/// An item's echo: the item, and more.
fn echo(mut item: Value) -> Value {
    let Some(object) = item.as_object_mut() else {
        return item;
    };
    if object.contains_key("@removed") {
        return item;
    }
    object.insert("futureProperty".into(), json!({"added": "by a newer service"}));
    object.insert(
        "@odata.type".into(),
        json!("#microsoft.graph.sharePointMigrationMapping"),
    );
    object.insert("@odata.etag".into(), json!("W/\"1\""));
    object.insert("deleted".into(), Value::Null);
    if let Some(upn) = object
        .get("sourceUserIdentity")
        .and_then(|i| i.get("userPrincipalName"))
        .cloned()
    {
        object.insert("sourceUserPrincipalName".into(), upn);
    }
    for key in ["targetUserIdentity", "targetGroupIdentity"] {
        if let Some(Value::Object(inner)) = object.get_mut(key) {
            inner.insert("@odata.type".into(), json!("#microsoft.graph.identity"));
            inner.insert("tenantId".into(), json!("not in the schema"));
        }
    }
    item
}
