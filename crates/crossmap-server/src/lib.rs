//! The crossmap emulator: a stateful local stand-in for Graph's SharePoint identity-mapping endpoints.
//!
//! [`router`] gives an [`axum::Router`] you can embed in your own app or test, or run with [`serve`] (that
//! is what `crossmap serve` does: a time limit on request heads, and a shutdown with a deadline). It answers, under `/beta/solutions/sharePoint/migrations/`, for both
//! `crossOrganizationUserMappings` and `crossOrganizationGroupMappings`:
//!
//! - the documented calls: the delta `PATCH` of the collection, and `GET` by alternate key with `$select`;
//! - the entity-set calls Microsoft's generated SDKs make: list (`$top`, `$skip`, `@odata.nextLink`,
//!   `$count`), `POST`, and `GET` / `PATCH` / `DELETE` by id;
//! - `GET …/delta()`, the change feed as Graph delta pages (a crossmap extension: the documented API has
//!   no such function);
//!
//! plus Graph's directory under `/v1.0` and `/beta` (users, groups, the organization: list with `$select`,
//! `$top`, `$filter`, `$count` and `@odata.nextLink`; get, create, delete; seeded with [`seed_directory`]),
//! `GET /beta/$metadata`, an admin plane under `/_crossmap/` for test harnesses (health, reset, a request
//! journal, seeded faults; [`AdminOptions`], [`FaultConfig`]) and a small identity platform, `POST /{tenant}/oauth2/v2.0/token` for the
//! client-credentials grant. Every call needs a bearer token from it; its `tid` is the tenant whose data
//! the call reaches. [`AppState::with_throttle`] (off by default) meters each app per tenant against a
//! [`ThrottleConfig`] quota as SharePoint does: `RateLimit-*` past 80%, then `429` with `Retry-After`,
//! configured and counted at `GET` / `PUT /_crossmap/throttle`. Every error is in Graph's shape. Writes go through `crossmap-delta`, so they mean
//! exactly what `docs/delta-semantics.md` says, and through `crossmap-store`, so they are durable before
//! they are answered.
//!
//! ```
//! use crossmap_server::{AppState, Auth, router};
//! use crossmap_store::Store;
//! let auth = Auth::ephemeral(vec!["app:secret:manage".parse().unwrap()]).unwrap();
//! let app: axum::Router = router(AppState::new(Store::in_memory(), auth));
//! # let _ = app;
//! ```

mod admin;
mod auth;
mod console;
mod directory;
mod error;
mod graph;
mod serve;
mod throttle;

pub use admin::{AdminOptions, FaultConfig, FaultConfigError, FaultMatch, FaultRule};
pub use auth::{
    AUDIENCE, Access, App, Auth, AuthError, CLOCK_SKEW, Claims, DIRECTORY_READ_ALL, DIRECTORY_READ_WRITE_ALL,
    GRAPH_SCOPES, GROUP_MEMBER_READ_ALL, GROUP_READ_ALL, GROUP_READ_WRITE_ALL, MANAGE_ROLE, ORGANIZATION_READ_ALL,
    READ_ROLE, ROLES, TOKEN_LIFETIME, USER_READ_ALL, USER_READ_WRITE_ALL, random_hex,
};
pub use directory::{SeedError, SeedReport, seed_directory};
pub use error::{ApiError, INVALID_TOKEN, RequestInfo};
pub use graph::Query;
pub use serve::{ServeOptions, serve};
pub use throttle::{Costs, ThrottleConfig, ThrottleConfigError};

use admin::journal::{Caller, DeltaItems, Entry, FaultApplied};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use crossmap_store::Store;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The largest request body accepted.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What the handlers share: the store, the token issuer, and the admin plane.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// Each optional part is set by its own builder method.
#[derive(Clone, Debug)]
struct Inner {
    store: Store,
    auth: Auth,
    admin: Arc<admin::Admin>,
    throttle: Arc<throttle::Throttle>,
}

impl AppState {
    /// State over `store`, with tokens from `auth`; the admin plane on with [`AdminOptions::default`].
    pub fn new(store: Store, auth: Auth) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                auth,
                admin: Arc::new(admin::Admin::new(AdminOptions::default())),
                throttle: Arc::default(),
            }),
        }
    }

    /// With Graph's throttling emulated under `quota` (`None`, the default: no throttling); see
    /// `docs/emulator.md`, "Throttling". `PUT /_crossmap/throttle` changes it while serving.
    pub fn with_throttle(self, quota: Option<ThrottleConfig>) -> AppState {
        self.inner.throttle.set(quota);
        self
    }

    /// The same state with the admin plane set up as `options` says.
    pub fn with_admin(self, options: AdminOptions) -> AppState {
        let mut inner = (*self.inner).clone();
        inner.admin = Arc::new(admin::Admin::new(options));
        AppState { inner: Arc::new(inner) }
    }

    fn admin(&self) -> &admin::Admin {
        &self.inner.admin
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The token issuer.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub(crate) fn throttle(&self) -> &throttle::Throttle {
        &self.inner.throttle
    }
}

/// The emulator's routes. Everything goes through one dispatcher so that every answer, a 404 or 405
/// included, is in Graph's shape.
pub fn router(state: AppState) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(middleware::from_fn_with_state(state.clone(), diagnostics))
        .with_state(state)
}

/// What the journal reads from a request before it is handled.
struct Seen {
    time: SystemTime,
    user_agent: Option<String>,
    retry_attempt: Option<u64>,
}

/// Gives every request an id and a date, echoes `client-request-id`, logs one line per request, and
/// records it in the journal (admin calls aside).
async fn diagnostics(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let now = SystemTime::now();
    let info = RequestInfo {
        request_id: request_id(),
        client_request_id: request
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        date: httpdate::fmt_http_date(now),
    };
    request.extensions_mut().insert(info.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let journal = state.admin().journal().filter(|_| !path.starts_with(admin::PREFIX));
    let seen = journal.map(|_| Seen {
        time: now,
        // Copied: a header value can share (and keep alive) the connection's whole read buffer.
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        retry_attempt: request
            .headers()
            .get("retry-attempt")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
    });
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("request-id", Some(&info.request_id)),
        ("client-request-id", info.client_request_id.as_ref()),
    ] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&info.date) {
        headers.insert(header::DATE, v);
    }
    // Never the Authorization header or the query (a token request's secret is in its body, never logged).
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        ms = start.elapsed().as_secs_f64() * 1000.0,
        request_id = info.request_id,
        "request"
    );
    if let (Some(journal), Some(seen)) = (journal, seen) {
        let status = response.status().as_u16();
        let extensions = response.extensions_mut();
        let dropped = extensions.get::<admin::faults::DropConnection>().is_some();
        journal.record(Entry {
            seq: 0,
            time: seen.time,
            method,
            path,
            status: (!dropped).then_some(status),
            duration_ms: start.elapsed().as_secs_f64() * 1000.0,
            caller: extensions.remove::<Caller>(),
            client_request_id: info.client_request_id,
            request_id: info.request_id,
            user_agent: seen.user_agent,
            retry_attempt: seen.retry_attempt,
            items: extensions.remove::<DeltaItems>().map(|n| n.0),
            fault: extensions.remove::<FaultApplied>().map(|f| f.0),
        });
    }
    response
}

/// A GUID-shaped request id: a random per-process base plus a counter (no syscall per request).
fn request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static BASE: OnceLock<u128> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let mut b = [0u8; 16];
        if getrandom::fill(&mut b).is_err() {
            // No randomness: ids need only be unique within a log.
            b = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_le_bytes();
        }
        u128::from_le_bytes(b)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    crossmap_model::Guid::from_u128(base.wrapping_add(u128::from(n))).to_string()
}

async fn dispatch(
    State(state): State<AppState>,
    Extension(info): Extension<RequestInfo>,
    request: Request,
) -> Response {
    // Faults act on everything but the admin plane; the fast path is one relaxed load.
    let decision = if request.uri().path().starts_with(admin::PREFIX) {
        None
    } else {
        state.admin().faults().decide(request.method(), request.uri().path())
    };
    let Some(decision) = decision else {
        return answer(&state, request, &info).await;
    };
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = match &decision.action {
        None => answer(&state, request, &info).await,
        Some(action) => {
            let mut response = admin::faults::respond(action, &info);
            if action.after_apply() {
                // Applied, then answered by the fault: the caller cannot tell the request took effect.
                let mut applied = answer(&state, request, &info).await;
                let known = applied.extensions_mut();
                let journal = response.extensions_mut();
                if let Some(caller) = known.remove::<Caller>() {
                    journal.insert(caller);
                }
                if let Some(items) = known.remove::<DeltaItems>() {
                    journal.insert(items);
                }
            }
            response
        }
    };
    response.extensions_mut().insert(FaultApplied(decision.description));
    response
}

/// The request routed and answered, an error in Graph's shape; with its caller for the journal.
async fn answer(state: &AppState, request: Request, info: &RequestInfo) -> Response {
    let mut caller = None;
    let mut response = match route(state, request, &mut caller).await {
        Ok(response) => response,
        Err(e) => error::with_inner(e, info).into_response(),
    };
    if let Some(caller) = caller {
        response.extensions_mut().insert(caller);
    }
    response
}

const MIGRATIONS: &str = "/beta/solutions/sharePoint/migrations/";

/// Routes a request; `caller` is filled once its token is verified, when the journal wants it.
async fn route(state: &AppState, request: Request, caller: &mut Option<Caller>) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    if state.admin().enabled() {
        if let Some(rest) = path.strip_prefix(admin::PREFIX) {
            return admin::handle(state, request, rest).await;
        }
    }
    if path == "/beta/$metadata" {
        return match *request.method() {
            Method::GET | Method::HEAD => Ok((
                [(header::CONTENT_TYPE, "application/xml")],
                crossmap_model::METADATA_XML,
            )
                .into_response()),
            ref m => Err(ApiError::method_not_allowed(m.as_str(), "GET")),
        };
    }
    if let Some(tenant) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/oauth2/v2.0/token"))
    {
        if !tenant.is_empty() && !tenant.contains('/') {
            return match *request.method() {
                Method::POST => Ok(token_endpoint(state, tenant, request).await),
                ref m => Err(ApiError::method_not_allowed(m.as_str(), "POST")),
            };
        }
    }
    let prefix = path
        .get(..MIGRATIONS.len())
        .filter(|p| p.eq_ignore_ascii_case(MIGRATIONS));
    if prefix.is_some() {
        let claims = authenticate(state, request.headers())?;
        *caller = journaled(state, &claims);
        let rest = path[MIGRATIONS.len()..].to_owned();
        let class = throttle::Class::of_migrations(request.method(), &rest);
        let ticket = match state.throttle().admit(&claims, &request, class) {
            Ok(ticket) => ticket,
            Err(throttled) => return Ok(*throttled),
        };
        return ticket.finish(graph::handle(state, claims, request, &rest).await);
    }
    if let Some((version, set, tail)) = directory::split(&path) {
        let claims = authenticate(state, request.headers())?;
        *caller = journaled(state, &claims);
        let ticket = match state
            .throttle()
            .admit(&claims, &request, throttle::Class::of(request.method(), tail))
        {
            Ok(ticket) => ticket,
            Err(throttled) => return Ok(*throttled),
        };
        return ticket.finish(directory::handle(state, claims, request, version, set, tail).await);
    }
    Err(ApiError::not_found(format!("no resource at {path}")))
}

/// The caller, when the journal records requests.
fn journaled(state: &AppState, claims: &Claims) -> Option<Caller> {
    state.admin().journal().map(|_| Caller {
        tenant: claims.tid.clone(),
        app_id: claims.appid.clone(),
    })
}

/// Checks the bearer token.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("Access token is empty: send Authorization: Bearer {token}"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthenticated("the Authorization header is not a bearer token"))?;
    state.auth().verify(token.trim()).map_err(ApiError::unauthenticated)
}

#[derive(serde::Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// The identity platform's token endpoint, client-credentials grant only. Errors in OAuth's shape.
async fn token_endpoint(state: &AppState, tenant: &str, request: Request) -> Response {
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(serde_json::json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), 64 * 1024).await else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body could not be read");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<TokenForm>(&bytes) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body is not a form");
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    // One resource's `.default`, and that resource Graph: nothing else is served here.
    let scope = form.scope.as_deref().unwrap_or_default().trim();
    if !GRAPH_SCOPES.iter().any(|s| s.eq_ignore_ascii_case(scope)) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!(
                "the scope {scope:?} is not valid: the client-credentials grant asks for one resource's /.default, and \
                 this identity platform issues tokens for Microsoft Graph only: {}",
                GRAPH_SCOPES.join(", ")
            ),
        );
    }
    let (Some(id), Some(secret)) = (form.client_id, form.client_secret) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        );
    };
    match state.auth().client_credentials(&tenant_id(tenant), &id, &secret) {
        Some(token) => axum::Json(serde_json::json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }))
        .into_response(),
        None => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id or wrong client_secret",
        ),
    }
}

/// The tenant a name in a token request's path stands for, as tokens carry it in `tid` (the partition of
/// data they reach): a GUID in lower case, any other name (`Contoso`, `contoso.onmicrosoft.com`) lower-cased.
///
/// ```
/// assert_eq!(crossmap_server::tenant_id("AAAAAAAA-0000-4000-8000-000000000001"), "aaaaaaaa-0000-4000-8000-000000000001");
/// assert_eq!(crossmap_server::tenant_id("Contoso"), "contoso");
/// ```
pub fn tenant_id(name: &str) -> String {
    match name.parse::<crossmap_model::Guid>() {
        Ok(id) => id.to_string(),
        Err(_) => name.to_lowercase(),
    }
}

/// A JSON response with Graph's content type.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    json_bytes(status, serde_json::to_vec(body).expect("a JSON value serialises"))
}

/// Serialised JSON with Graph's content type.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, Body::from(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"),
    );
    r.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
    r
}
