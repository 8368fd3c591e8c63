//! The admin plane under `/_crossmap/`: health, reset, the request journal, seeded faults, and the tenants'
//! mappings for the console. Plain JSON; errors in Graph's shape. Documented in `docs/emulator.md`.

pub(crate) mod faults;
pub(crate) mod journal;

use crate::error::ApiError;
use crate::{AppState, tenant_id};
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crossmap_model::{SharePointGroupIdentityMapping, SharePointUserIdentityMapping};
use crossmap_store::StoredKind;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use std::time::Instant;

pub use faults::{FaultConfig, FaultConfigError, FaultMatch, FaultRule};
use journal::{EntryJson, Filter, Journal};

/// Where the admin plane lives.
pub(crate) const PREFIX: &str = "/_crossmap/";

/// How the admin plane is set up ([`AppState::with_admin`]).
///
/// ```
/// use crossmap_server::{AdminOptions, AppState, Auth, FaultConfig, router};
/// use crossmap_store::Store;
/// let auth = Auth::ephemeral(vec!["app:secret:manage".parse().unwrap()]).unwrap();
/// let options = AdminOptions {
///     token: Some("s3cret".into()),
///     journal: 100,
///     faults: FaultConfig::from_json(r#"{"seed": 7, "rules": [{"every": 10, "status": 503}]}"#).unwrap(),
///     ..AdminOptions::default()
/// };
/// let app = router(AppState::new(Store::in_memory(), auth).with_admin(options));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// Whether `/_crossmap/` answers at all (off: it is a 404 like any unknown path, and nothing is
    /// journaled).
    pub enabled: bool,
    /// When set, every admin call needs `Authorization: Bearer {token}`.
    pub token: Option<String>,
    /// How many requests the journal keeps (the newest); 0 keeps none.
    pub journal: usize,
    /// The fault rules in force at start.
    pub faults: FaultConfig,
}

impl Default for AdminOptions {
    /// On, no token, a 10,000-request journal, no faults.
    fn default() -> Self {
        AdminOptions {
            enabled: true,
            token: None,
            journal: 10_000,
            faults: FaultConfig::default(),
        }
    }
}

/// The admin plane's state.
#[derive(Debug)]
pub(crate) struct Admin {
    enabled: bool,
    token: Option<String>,
    journal: Option<Journal>,
    faults: faults::Faults,
    started: Instant,
}

impl Admin {
    pub(crate) fn new(options: AdminOptions) -> Admin {
        Admin {
            enabled: options.enabled,
            token: options.token,
            journal: (options.enabled && options.journal > 0).then(|| Journal::new(options.journal)),
            faults: faults::Faults::new(options.faults),
            started: Instant::now(),
        }
    }

    /// Whether `/_crossmap/` is served.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The journal, when requests are recorded.
    pub(crate) fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// The fault rules.
    pub(crate) fn faults(&self) -> &faults::Faults {
        &self.faults
    }
}

/// Answers a call to `/_crossmap/{rest}`.
pub(crate) async fn handle(state: &AppState, request: Request, rest: &str) -> Result<Response, ApiError> {
    let admin = state.admin();
    // The console's page and assets load without the token, so that the page can ask for it.
    let console = rest == "ui" || rest.starts_with("ui/");
    if console {
        return crate::console::handle(request.method(), rest);
    }
    check_token(admin.token.as_deref(), request.headers())?;
    if rest == "throttle" {
        return crate::throttle::handle(state, request).await;
    }
    let method = request.method().clone();
    let query = request.uri().query().map(str::to_owned);
    let query = query.as_deref();
    let allow = |allowed: &'static str| ApiError::method_not_allowed(method.as_str(), allowed);
    match rest {
        "health" => match method {
            Method::GET => Ok(Json(json!({
                "status": "ok",
                "version": env!("CARGO_PKG_VERSION"),
                "uptimeSeconds": (admin.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            }))
            .into_response()),
            _ => Err(allow("GET")),
        },
        "reset" => match method {
            Method::POST => reset(state, query).await,
            _ => Err(allow("POST")),
        },
        "compact" => match method {
            Method::POST if query.is_some_and(|q| !q.is_empty()) => {
                Err(ApiError::bad_request("compact takes no parameters"))
            }
            Method::POST => compact(state).await,
            _ => Err(allow("POST")),
        },
        "requests" => match method {
            Method::GET => {
                let filter = Filter::parse(query)?;
                let entries = admin.journal().map(|j| j.select(&filter)).unwrap_or_default();
                let value: Vec<EntryJson<'_>> = entries.iter().map(EntryJson::from).collect();
                Ok(Json(json!({ "value": value })).into_response())
            }
            Method::DELETE => {
                if let Some(j) = admin.journal() {
                    j.clear();
                }
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            _ => Err(allow("GET, DELETE")),
        },
        "requests/$count" => match method {
            Method::GET => {
                let filter = Filter::parse(query)?;
                let n = admin.journal().map_or(0, |j| j.count(&filter));
                Ok(([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], n.to_string()).into_response())
            }
            _ => Err(allow("GET")),
        },
        "faults" => match method {
            Method::GET => Ok(Json(admin.faults().get()).into_response()),
            Method::PUT => {
                let (parts, body) = request.into_parts();
                let text = crate::graph::read_json(&parts.headers, body).await?;
                let config = FaultConfig::from_json(&text)
                    .map_err(|e| ApiError::bad_request(format!("the fault rules were not changed: {e}")))?;
                tracing::info!(rules = config.rules.len(), seed = config.seed, "fault rules set");
                admin.faults().set(config);
                Ok(Json(admin.faults().get()).into_response())
            }
            _ => Err(allow("GET, PUT")),
        },
        "tenants" => match method {
            Method::GET => tenants(state),
            _ => Err(allow("GET")),
        },
        _ => match rest.strip_prefix("tenants/").and_then(|r| r.split_once('/')) {
            Some((tenant, collection)) if !collection.contains('/') => match method {
                Method::GET => {
                    let tenant = tenant_id(&percent_decode_str(tenant).decode_utf8_lossy());
                    mappings(state, &tenant, collection, query)
                }
                _ => Err(allow("GET")),
            },
            _ => Err(ApiError::not_found(format!("no admin resource at {PREFIX}{rest}"))),
        },
    }
}

/// The admin token, when one is set, as a bearer token.
fn check_token(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else { return Ok(()) };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match given {
        Some(token) if same(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::unauthenticated(
            "the admin token is not the one serve was given",
        )),
        None => Err(ApiError::unauthenticated(
            "the admin plane needs the admin token: send Authorization: Bearer {token}",
        )),
    }
}

/// Compares without stopping at the first difference, so the time taken tells nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /_crossmap/reset[?tenant=T]`.
async fn reset(state: &AppState, query: Option<&str>) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| ApiError::bad_request("the query string is not valid"))?;
    let mut tenant = None;
    for (name, value) in pairs {
        match name.as_str() {
            "tenant" if !value.is_empty() => tenant = Some(tenant_id(&value)),
            "tenant" => return Err(ApiError::bad_request("tenant must name a tenant")),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: reset takes only tenant"
                )));
            }
        }
    }
    let store = state.store().clone();
    // Waits for its fsync: off the async workers.
    tokio::task::spawn_blocking(move || store.clear(tenant.as_deref()))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /_crossmap/compact`: folds the store's log into its checkpoint now (an in-memory store has
/// nothing to fold: all zeros).
async fn compact(state: &AppState) -> Result<Response, ApiError> {
    let store = state.store().clone();
    // Writes the checkpoint and waits for its fsync: off the async workers.
    let done = tokio::task::spawn_blocking(move || store.compact())
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(json!({
        "recordsRemoved": done.records_removed,
        "checkpointRows": done.checkpoint_rows,
        "bytesBefore": done.bytes_before,
        "bytesAfter": done.bytes_after,
        "seconds": done.elapsed.as_secs_f64(),
    }))
    .into_response())
}

/// `GET /_crossmap/tenants`: every tenant with a mapping, and how many of each kind.
fn tenants(state: &AppState) -> Result<Response, ApiError> {
    let store = state.store();
    let mut value = Vec::new();
    for tenant in store.tenants() {
        let users = store.count::<SharePointUserIdentityMapping>(&tenant)?;
        let groups = store.count::<SharePointGroupIdentityMapping>(&tenant)?;
        if users + groups > 0 {
            value.push(json!({"tenant": tenant, "userMappings": users, "groupMappings": groups}));
        }
    }
    Ok(Json(json!({ "value": value })).into_response())
}

/// The largest page of `GET /_crossmap/tenants/{t}/{collection}`.
const MAX_TOP: usize = 500;

/// `GET /_crossmap/tenants/{tenant}/{collection}?search=&skip=&top=`.
fn mappings(state: &AppState, tenant: &str, collection: &str, query: Option<&str>) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| ApiError::bad_request("the query string is not valid"))?;
    let (mut search, mut skip, mut top) = (String::new(), 0usize, 50usize);
    let number = |name: &str, v: &str| {
        v.parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number, not {v:?}")))
    };
    for (name, value) in pairs {
        match name.as_str() {
            "search" => search = value,
            "skip" => skip = number("skip", &value)?,
            "top" => top = number("top", &value)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: this takes search, skip and top"
                )));
            }
        }
    }
    if top == 0 || top > MAX_TOP {
        return Err(ApiError::bad_request(format!("top must be between 1 and {MAX_TOP}")));
    }
    if collection.eq_ignore_ascii_case(SharePointUserIdentityMapping::COLLECTION) {
        page::<SharePointUserIdentityMapping>(state, tenant, &search, skip, top)
    } else if collection.eq_ignore_ascii_case(SharePointGroupIdentityMapping::COLLECTION) {
        page::<SharePointGroupIdentityMapping>(state, tenant, &search, skip, top)
    } else {
        Err(ApiError::not_found(format!(
            "no collection {collection:?}: there are {} and {}",
            SharePointUserIdentityMapping::COLLECTION,
            SharePointGroupIdentityMapping::COLLECTION
        )))
    }
}

fn page<M: StoredKind>(
    state: &AppState,
    tenant: &str,
    search: &str,
    skip: usize,
    top: usize,
) -> Result<Response, ApiError> {
    let (mappings, count) = state.store().search::<M>(tenant, search, skip, top)?;
    let value = mappings
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({"value": value, "count": count})).into_response())
}
