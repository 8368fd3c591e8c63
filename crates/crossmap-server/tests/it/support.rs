//! A running emulator on 127.0.0.1:0 and a client for it.

use crossmap_server::{AdminOptions, App, AppState, Auth, ServeOptions, router, serve};
use crossmap_store::Store;
use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;

pub(crate) const TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub(crate) const MIGRATIONS: &str = "/beta/solutions/sharePoint/migrations";

/// A server task and what a test needs to talk to it.
pub(crate) struct Emulator {
    pub(crate) base: String,
    pub(crate) auth: Auth,
    pub(crate) http: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn apps() -> Vec<App> {
    vec![
        "writer:w-secret:manage".parse().unwrap(),
        "reader:r-secret:read".parse().unwrap(),
        "directory:d-secret:directory,User.ReadWrite.All,Group.ReadWrite.All"
            .parse()
            .unwrap(),
        "users:u-secret:User.Read.All".parse().unwrap(),
        "members:m-secret:GroupMember.Read.All".parse().unwrap(),
        "nobody:n-secret:read"
            .parse::<App>()
            .map(|mut a| {
                a.roles.clear();
                a
            })
            .unwrap(),
    ]
}

impl Emulator {
    /// An emulator over `store`, signing with `key`.
    pub(crate) async fn start(store: Store, key: Vec<u8>) -> Emulator {
        let auth = Auth::new(key, apps());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(AppState::new(store, auth.clone()));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Emulator {
            base: format!("http://{addr}"),
            auth,
            http: Client::new(),
            task,
        }
    }

    /// An emulator over `store` with the admin plane set up by `admin`, run by `crossmap_server::serve`
    /// (which alone can drop a connection for a fault).
    pub(crate) async fn with_admin(store: Store, admin: AdminOptions) -> Emulator {
        let auth = Auth::new(b"test-key".to_vec(), apps());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(AppState::new(store, auth.clone()).with_admin(admin));
        let task = tokio::spawn(async move {
            serve(listener, app, ServeOptions::default(), std::future::pending())
                .await
                .unwrap();
        });
        Emulator {
            base: format!("http://{addr}"),
            auth,
            http: Client::new(),
            task,
        }
    }

    /// The URL of an admin resource, `/_crossmap/{path}`.
    pub(crate) fn admin(&self, path: &str) -> String {
        format!("{}/_crossmap/{path}", self.base)
    }

    /// An in-memory emulator.
    pub(crate) async fn memory() -> Emulator {
        Emulator::start(Store::in_memory(), b"test-key".to_vec()).await
    }

    /// A token with all permissions for `tenant`.
    pub(crate) fn writer(&self, tenant: &str) -> String {
        self.auth.client_credentials(tenant, "writer", "w-secret").unwrap()
    }

    /// A read-only token.
    pub(crate) fn reader(&self, tenant: &str) -> String {
        self.auth.client_credentials(tenant, "reader", "r-secret").unwrap()
    }

    /// A token of the registered app `id` (its secret is `{first letter}-secret`).
    pub(crate) fn token_of(&self, tenant: &str, id: &str) -> String {
        let secret = format!("{}-secret", &id[..1]);
        self.auth.client_credentials(tenant, id, &secret).unwrap()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{MIGRATIONS}/{path}", self.base)
    }

    pub(crate) fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    pub(crate) fn patch_json(&self, path: &str, token: &str, body: &Value) -> RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(token).json(body)
    }

    /// PATCHes a delta payload to the group collection as the writer of TENANT.
    pub(crate) async fn groups_delta(&self, items: Value) -> Response {
        let body = serde_json::json!({"@context": "#$delta", "value": items});
        self.patch_json("crossOrganizationGroupMappings", &self.writer(TENANT), &body)
            .send()
            .await
            .unwrap()
    }
}

/// The response's JSON body, after checking its status.
pub(crate) async fn json(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Checks a Graph error body and returns it.
pub(crate) async fn graph_error(response: Response, status: u16, code: &str) -> Value {
    let request_id = response
        .headers()
        .get("request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let date = response.headers().get("date").map(|v| v.to_str().unwrap().to_owned());
    let body = json(response, status).await;
    // Graph's innerError date: the same instant as the Date header, ISO 8601 in UTC without a zone.
    let expected = date.map(|d| {
        let at = httpdate::parse_http_date(&d).unwrap();
        humantime::format_rfc3339_seconds(at)
            .to_string()
            .trim_end_matches('Z')
            .to_owned()
    });
    assert_eq!(
        body["error"]["innerError"]["date"].as_str(),
        expected.as_deref(),
        "{body}"
    );
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body["error"]["innerError"]["request-id"].as_str(),
        request_id.as_deref(),
        "{body}"
    );
    body
}

pub(crate) fn group(n: u32) -> Value {
    serde_json::json!({"sourceOrganizationId": TENANT, "groupType": "regularGroup",
        "sourceGroupIdentity": {"id": format!("00000000-0000-0000-0000-{n:012}")},
        "targetGroupIdentity": {"id": format!("99999999-0000-0000-0000-{n:012}")}})
}

/// Opens the durable store in `dir` once the emulator dropped before it has let go of it: aborting the
/// server task and closing its client's connections drops the store a moment later, and until then the
/// directory's lock refuses a second store.
pub(crate) async fn reopen(dir: &std::path::Path) -> Store {
    let start = std::time::Instant::now();
    loop {
        match Store::open(dir) {
            Err(crossmap_store::StoreError::InUse { .. }) if start.elapsed() < std::time::Duration::from_secs(10) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            other => return other.expect("the store opens"),
        }
    }
}
