//! Graph's throttling, emulated (off by default): a resource-unit quota per app and tenant, as SharePoint
//! meters it, and the admin endpoints `GET` / `PUT /_crossmap/throttle` that set it and count what it did.
//!
//! Each (app id, tenant) pair has a token bucket of `limit` units, refilled continuously at
//! `limit / window` units a second. A request costs its class's units (`read`: a GET by key or id; `list`:
//! a page of a collection or directory, `$count`, `delta()`; `write`: anything that changes state, a delta
//! PATCH counting once whatever its item count). A request the bucket cannot pay is answered `429
//! activityLimitReached` with `Retry-After` and never reaches its handler, yet still costs its units: the
//! bucket goes negative, down to `-limit` at most (a client that hammers can lock itself out for up to
//! two windows, never longer). Past 80% of the limit used, answers carry `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset`. `docs/emulator.md` ("Throttling") is the reference.

use crate::error::{ApiError, RequestInfo, with_inner};
use crate::graph::read_json;
use crate::{AppState, Claims};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crossmap_model::error::codes;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The share of the limit whose use brings the `RateLimit-*` headers (SharePoint: 80%).
const WARN_AT: f64 = 0.8;

/// The longest window accepted: a day (SharePoint's longest quota).
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The largest limit accepted.
const MAX_LIMIT: u32 = 1_000_000_000;

/// What each class of request costs, in resource units (SharePoint's: 1 for a single-item read, 2 for a
/// multi-item read and for a write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Costs {
    /// A GET of one mapping (by key or id), one user, one group.
    pub read: u32,
    /// A page of a collection or directory list, a `$count`, a `delta()` page.
    pub list: u32,
    /// A PATCH (a delta PATCH of any size included), POST or DELETE.
    pub write: u32,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            read: 1,
            list: 2,
            write: 2,
        }
    }
}

/// A quota: `limit` units per `window`, per app and tenant, and what requests cost.
///
/// ```
/// use crossmap_server::ThrottleConfig;
/// use std::time::Duration;
/// let q: ThrottleConfig = "1200/60s".parse().unwrap();
/// assert_eq!((q.limit, q.window), (1200, Duration::from_secs(60)));
/// assert_eq!("400/1m".parse::<ThrottleConfig>().unwrap().window, Duration::from_secs(60));
/// assert!("0/10s".parse::<ThrottleConfig>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// The bucket's capacity, in units.
    pub limit: u32,
    /// The time the bucket takes to refill from empty.
    pub window: Duration,
    /// What each class of request costs.
    pub costs: Costs,
}

/// Why a quota was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ThrottleConfigError(String);

impl ThrottleConfig {
    /// A quota of `limit` units per `window` with SharePoint's costs, checked.
    pub fn new(limit: u32, window: Duration) -> Result<ThrottleConfig, ThrottleConfigError> {
        let config = ThrottleConfig {
            limit,
            window,
            costs: Costs::default(),
        };
        config.check()?;
        Ok(config)
    }

    /// Refuses a quota that cannot work: no capacity, no or an endless window, a cost over the limit
    /// (a request no bucket could ever pay).
    fn check(&self) -> Result<(), ThrottleConfigError> {
        let refuse = |m: String| Err(ThrottleConfigError(m));
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return refuse(format!("limit must be between 1 and {MAX_LIMIT}, not {}", self.limit));
        }
        if self.window.is_zero() || self.window > MAX_WINDOW {
            return refuse(format!(
                "the window must be more than 0 s and at most a day, not {:?}",
                self.window
            ));
        }
        for (name, cost) in [
            ("read", self.costs.read),
            ("list", self.costs.list),
            ("write", self.costs.write),
        ] {
            if cost > self.limit {
                return refuse(format!(
                    "costs.{name} ({cost}) is more than the limit ({}): no request of that class could ever be paid",
                    self.limit
                ));
            }
        }
        Ok(())
    }

    /// Units refilled per second.
    fn rate(&self) -> f64 {
        f64::from(self.limit) / self.window.as_secs_f64()
    }

    fn cost(&self, class: Class) -> f64 {
        f64::from(match class {
            Class::Read => self.costs.read,
            Class::List => self.costs.list,
            Class::Write => self.costs.write,
        })
    }

    /// The document `GET /_crossmap/throttle` answers (without its stats).
    fn to_json(self) -> Map<String, Value> {
        let secs = self.window.as_secs_f64();
        let window = if secs.fract() == 0.0 {
            json!(self.window.as_secs())
        } else {
            json!(secs)
        };
        let doc = json!({
            "limit": self.limit,
            "windowSeconds": window,
            "costs": {"read": self.costs.read, "list": self.costs.list, "write": self.costs.write},
        });
        match doc {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        }
    }
}

impl std::str::FromStr for ThrottleConfig {
    type Err = ThrottleConfigError;

    /// `LIMIT/WINDOW`, the window in seconds or minutes: `1200/60s`, `400/10s`, `1200/1m`, `50/0.5s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ThrottleConfigError(format!("{s:?}: expected LIMIT/WINDOW, e.g. 1200/60s or 1200/1m"));
        let (limit, window) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let (number, unit) = match window.strip_suffix('m') {
            Some(n) => (n, 60.0),
            None => (window.strip_suffix('s').unwrap_or(window), 1.0),
        };
        let seconds: f64 = number.trim().parse().map_err(|_| bad())?;
        let window = Duration::try_from_secs_f64(seconds * unit).map_err(|_| bad())?;
        ThrottleConfig::new(limit, window)
    }
}

/// The class of a request, which sets its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Read,
    List,
    Write,
}

impl Class {
    /// The class of a request whose path goes on with `tail` after its collection's or entity set's name:
    /// nothing, `/$count` or `/delta()` is a list, anything else (a key, an id) a read; any method but
    /// GET and HEAD a write.
    pub(crate) fn of(method: &Method, tail: &str) -> Class {
        if !matches!(*method, Method::GET | Method::HEAD) {
            return Class::Write;
        }
        let tail = tail.trim_end_matches('/');
        let list = tail.is_empty()
            || tail.eq_ignore_ascii_case("/$count")
            || tail.eq_ignore_ascii_case("/delta()")
            || tail.eq_ignore_ascii_case("/delta");
        if list { Class::List } else { Class::Read }
    }

    /// [`Class::of`] for a path under the migrations root (`rest` starts with the collection's name).
    pub(crate) fn of_migrations(method: &Method, rest: &str) -> Class {
        let name_end = rest.find(['/', '(']).unwrap_or(rest.len());
        Class::of(method, &rest[name_end..])
    }
}

/// What the headers of a warned or throttled answer say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Warning {
    limit: u32,
    /// Whole units left (0 when the bucket is in debt).
    remaining: u64,
    /// Whole seconds, rounded up, until the bucket is back below the warning line (at most 80% used).
    reset: u64,
}

impl Warning {
    fn write(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("ratelimit-limit", u64::from(self.limit)),
            ("ratelimit-remaining", self.remaining),
            ("ratelimit-reset", self.reset),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

/// What the bucket says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Paid, with the bucket less than 80% used.
    Pass,
    /// Paid, past 80% used: the answer carries the warning headers.
    Warn(Warning),
    /// Not paid (but charged): `429` with `Retry-After` in whole seconds.
    Throttle { warning: Warning, retry_after: u64 },
}

/// One app's bucket in one tenant, and what it saw.
#[derive(Debug, Clone)]
struct Bucket {
    /// Units left; negative when throttled requests ran it into debt.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
    /// Before this, the app was told (by a `Retry-After`) not to come back.
    not_before: Option<Instant>,
    requests: u64,
    throttled: u64,
    early: u64,
}

impl Bucket {
    /// A full bucket.
    fn new(config: &ThrottleConfig, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(config.limit),
            updated: now,
            not_before: None,
            requests: 0,
            throttled: 0,
            early: 0,
        }
    }

    /// Refills the bucket up to `now`, then charges `cost` for one request.
    fn charge(&mut self, config: &ThrottleConfig, cost: f64, now: Instant) -> Decision {
        let limit = f64::from(config.limit);
        let rate = config.rate();
        // Callers read the clock before taking the lock: one may come in slightly behind another.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(limit);
        self.updated = self.updated.max(now);
        self.requests += 1;
        if self.not_before.is_some_and(|t| now < t) {
            self.early += 1;
        }
        let paid = self.tokens >= cost;
        // A throttled request costs its units too, down to one window's worth of debt.
        self.tokens = (self.tokens - cost).max(-limit);
        let warning = Warning {
            limit: config.limit,
            remaining: self.tokens.max(0.0).floor() as u64,
            reset: (((1.0 - WARN_AT) * limit - self.tokens) / rate).max(0.0).ceil() as u64,
        };
        if paid {
            return if self.tokens < (1.0 - WARN_AT) * limit {
                Decision::Warn(warning)
            } else {
                Decision::Pass
            };
        }
        self.throttled += 1;
        // Whole seconds, rounded up: the time until the bucket can pay for this request again.
        let retry_after = ((cost - self.tokens) / rate).ceil().max(1.0) as u64;
        let until = now + Duration::from_secs(retry_after);
        self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
        // SharePoint: on a 429 that carries the RateLimit headers, `Retry-After` equals `RateLimit-Reset`.
        let warning = Warning {
            reset: retry_after,
            ..warning
        };
        Decision::Throttle { warning, retry_after }
    }
}

/// What one app in one tenant did under the quota.
#[derive(Debug, Clone, PartialEq)]
struct Stats {
    tenant: String,
    app_id: String,
    requests: u64,
    throttled: u64,
    early: u64,
    remaining: f64,
}

/// The quota and its buckets, shared by every request (`AppState` holds one).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// Whether a quota is set: the one load the normal path pays when throttling is off.
    on: AtomicBool,
    quota: Mutex<Quota>,
}

#[derive(Debug, Default)]
struct Quota {
    config: Option<ThrottleConfig>,
    /// Tenant, then app id.
    buckets: BTreeMap<String, BTreeMap<String, Bucket>>,
}

/// A request the quota let through: adds the warning headers, if any, to its answer.
#[must_use]
pub(crate) struct Ticket(Option<Box<(Warning, RequestInfo)>>);

impl Ticket {
    /// The handler's answer, with the warning headers when the bucket was past 80% (an error answer
    /// included: it was paid for too).
    pub(crate) fn finish(self, result: Result<Response, ApiError>) -> Result<Response, ApiError> {
        let Some(warned) = self.0 else { return result };
        let (warning, info) = *warned;
        let mut response = match result {
            Ok(r) => r,
            Err(e) => with_inner(e, &info).into_response(),
        };
        warning.write(response.headers_mut());
        Ok(response)
    }
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Quota> {
        // The quota holds no invariant a panic elsewhere could break halfway.
        self.quota.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets (or with `None` lifts) the quota; every bucket starts full and every count at zero.
    pub(crate) fn set(&self, config: Option<ThrottleConfig>) {
        let mut quota = self.lock();
        quota.config = config;
        quota.buckets.clear();
        self.on.store(config.is_some(), Ordering::Relaxed);
    }

    /// The quota in force.
    pub(crate) fn config(&self) -> Option<ThrottleConfig> {
        self.lock().config
    }

    /// Charges one request of `class` by `app` in `tenant` at `now`.
    fn charge(&self, tenant: &str, app: &str, class: Class, now: Instant) -> Decision {
        let mut quota = self.lock();
        let Some(config) = quota.config else {
            return Decision::Pass;
        };
        let apps = match quota.buckets.get_mut(tenant) {
            Some(apps) => apps,
            None => quota.buckets.entry(tenant.to_owned()).or_default(),
        };
        let bucket = match apps.get_mut(app) {
            Some(b) => b,
            None => apps.entry(app.to_owned()).or_insert_with(|| Bucket::new(&config, now)),
        };
        bucket.charge(&config, config.cost(class), now)
    }

    /// Charges a request before its handler runs: `Err` with the `429` answer when the bucket cannot
    /// pay (the handler must not run), else a ticket that adds the warning headers to the answer.
    pub(crate) fn admit(&self, claims: &Claims, request: &Request, class: Class) -> Result<Ticket, Box<Response>> {
        if !self.on.load(Ordering::Relaxed) {
            return Ok(Ticket(None));
        }
        let decision = self.charge(&claims.tid, &claims.appid, class, Instant::now());
        let info = || {
            request
                .extensions()
                .get::<RequestInfo>()
                .cloned()
                .unwrap_or_else(|| RequestInfo {
                    request_id: String::new(),
                    client_request_id: None,
                    date: httpdate::fmt_http_date(std::time::SystemTime::now()),
                })
        };
        match decision {
            Decision::Pass => Ok(Ticket(None)),
            Decision::Warn(w) => Ok(Ticket(Some(Box::new((w, info()))))),
            Decision::Throttle { warning, retry_after } => Err(Box::new(throttled(warning, retry_after, &info()))),
        }
    }

    fn stats(&self) -> Vec<Stats> {
        let quota = self.lock();
        let now = Instant::now();
        let Some(config) = quota.config else { return Vec::new() };
        quota
            .buckets
            .iter()
            .flat_map(|(tenant, apps)| {
                apps.iter().map(move |(app, b)| {
                    let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
                    Stats {
                        tenant: tenant.clone(),
                        app_id: app.clone(),
                        requests: b.requests,
                        throttled: b.throttled,
                        early: b.early,
                        remaining: (b.tokens + elapsed * config.rate()).min(f64::from(config.limit)),
                    }
                })
            })
            .collect()
    }
}

/// The `429` SharePoint answers through Graph when an app's quota is spent.
fn throttled(warning: Warning, retry_after: u64, info: &RequestInfo) -> Response {
    let mut e = with_inner(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::ACTIVITY_LIMIT_REACHED,
            "The request has been throttled",
        ),
        info,
    );
    if let Some(inner) = e.error.inner_error.as_mut() {
        inner
            .additional_properties
            .insert("code".into(), json!("throttledRequest"));
        inner
            .additional_properties
            .insert("innerError".into(), json!({"code": "quota"}));
    }
    let mut response = e.into_response();
    warning.write(response.headers_mut());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// The body `PUT /_crossmap/throttle` takes.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    limit: Option<u32>,
    window_seconds: Option<f64>,
    costs: Option<CostsDocument>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CostsDocument {
    read: Option<u32>,
    list: Option<u32>,
    write: Option<u32>,
}

/// Reads a `PUT` body: `{"limit": 1200, "windowSeconds": 60, "costs": {"read": 1, "list": 2, "write": 2}}`
/// (`windowSeconds` 60 and each cost SharePoint's when left out), or `{"limit": null}` for no quota.
fn parse_document(text: &str) -> Result<Option<ThrottleConfig>, ApiError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if !value.as_object().is_some_and(|o| o.contains_key("limit")) {
        return Err(ApiError::bad_request(
            "the body must be an object with a limit: {\"limit\": 1200, \"windowSeconds\": 60}, or {\"limit\": null} for no quota",
        ));
    }
    let doc: Document =
        serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("the quota is not valid: {e}")))?;
    let Some(limit) = doc.limit else {
        if doc.window_seconds.is_some() || doc.costs.is_some() {
            return Err(ApiError::bad_request(
                "a quota without a limit (null) takes no window or costs",
            ));
        }
        return Ok(None);
    };
    let seconds = doc.window_seconds.unwrap_or(60.0);
    let window = Duration::try_from_secs_f64(seconds).map_err(|_| {
        ApiError::bad_request(format!(
            "windowSeconds must be a positive number of seconds, not {seconds}"
        ))
    })?;
    let defaults = Costs::default();
    let costs = doc.costs.map_or(defaults, |c| Costs {
        read: c.read.unwrap_or(defaults.read),
        list: c.list.unwrap_or(defaults.list),
        write: c.write.unwrap_or(defaults.write),
    });
    let config = ThrottleConfig { limit, window, costs };
    config.check().map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Some(config))
}

/// `GET /_crossmap/throttle`: the quota and, per app and tenant, its requests, how many were throttled,
/// how many came before a `Retry-After` had passed, and the units left. `PUT`: sets the quota (every
/// bucket full, every count zero) and answers as `GET`; an invalid document is a `400` that changes
/// nothing.
pub(crate) async fn handle(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let throttle = state.throttle();
    match *request.method() {
        Method::GET => {}
        Method::PUT => {
            let (parts, body) = request.into_parts();
            let config = parse_document(&read_json(&parts.headers, body).await?)?;
            throttle.set(config);
            tracing::info!(?config, "throttle set");
        }
        ref m => return Err(ApiError::method_not_allowed(m.as_str(), "GET, PUT")),
    }
    let mut doc = match throttle.config() {
        Some(c) => c.to_json(),
        None => Map::from_iter([("limit".to_owned(), Value::Null)]),
    };
    let stats: Vec<Value> = throttle
        .stats()
        .into_iter()
        .map(|s| {
            json!({"tenant": s.tenant, "appId": s.app_id, "requests": s.requests, "throttled": s.throttled,
                   "early": s.early, "remaining": (s.remaining * 1000.0).round() / 1000.0})
        })
        .collect();
    doc.insert("stats".into(), Value::Array(stats));
    Ok(axum::Json(Value::Object(doc)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u32, secs: u64) -> ThrottleConfig {
        ThrottleConfig::new(limit, Duration::from_secs(secs)).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_pays_its_limit_then_refills_continuously() {
        let q = quota(10, 10); // 1 unit a second
        let t0 = Instant::now();
        let mut b = Bucket::new(&q, t0);
        for i in 0..5 {
            assert!(
                matches!(b.charge(&q, 2.0, t0), Decision::Pass | Decision::Warn(_)),
                "write {i} of a full bucket"
            );
        }
        assert!(b.tokens.abs() < 1e-9, "{}", b.tokens);
        assert!(matches!(b.charge(&q, 2.0, t0), Decision::Throttle { .. }));
        // The refused write still cost 2: -2. 1.5 s later -0.5: a read (1) is refused too, and costs 1
        // (-1.5); at 4 s the bucket holds 1 and the read is paid.
        assert!(matches!(b.charge(&q, 1.0, t0 + ms(1500)), Decision::Throttle { .. }));
        assert!((b.tokens - (-1.5)).abs() < 1e-9, "{}", b.tokens);
        assert!(matches!(b.charge(&q, 1.0, t0 + ms(4000)), Decision::Warn(_)));
        assert!((b.tokens - 0.0).abs() < 1e-9, "{}", b.tokens);
        // Refill stops at the limit.
        let _ = b.charge(&q, 0.0, t0 + Duration::from_secs(1000));
        assert_eq!(b.tokens, 10.0);
        assert_eq!((b.requests, b.throttled), (9, 2));
    }

    #[test]
    fn the_headers_come_once_usage_passes_80_percent() {
        let q = quota(100, 100); // 1 unit a second
        let t0 = Instant::now();
        let mut b = Bucket::new(&q, t0);
        for _ in 0..40 {
            assert_eq!(b.charge(&q, 2.0, t0), Decision::Pass); // 80 used: exactly 80%, not past it
        }
        assert_eq!(b.tokens, 20.0);
        let Decision::Warn(w) = b.charge(&q, 2.0, t0) else {
            panic!("no warning at 82%")
        };
        // 18 left; back to 20 (80% used) in 2 s.
        assert_eq!(
            w,
            Warning {
                limit: 100,
                remaining: 18,
                reset: 2
            }
        );
        let Decision::Warn(w) = b.charge(&q, 1.0, t0 + ms(500)) else {
            panic!("no warning")
        };
        assert_eq!((w.remaining, w.reset), (17, 3), "17.5 left, 2.5 s from 20");
    }

    #[test]
    fn a_refused_request_says_when_it_could_be_paid_and_still_costs() {
        let q = quota(10, 5); // 2 units a second
        let t0 = Instant::now();
        let mut b = Bucket::new(&q, t0);
        for _ in 0..5 {
            let _ = b.charge(&q, 2.0, t0);
        }
        let _ = b.charge(&q, 1.0, t0 + ms(500)); // 1 refilled, 1 spent: 0 left
        // 0 units, a write: charged to -2, payable again once 2 more are back: (2 - -2) / 2 = 2 s.
        let Decision::Throttle { warning, retry_after } = b.charge(&q, 2.0, t0 + ms(500)) else {
            panic!("not throttled")
        };
        assert_eq!(retry_after, 2);
        assert_eq!(warning.remaining, 0);
        // Coming back early (1 s later: -2 + 2 = 0 < 2) is refused again, counted early, and digs deeper:
        // -2 again, still 2 s to wait, from later on.
        let Decision::Throttle { retry_after, .. } = b.charge(&q, 2.0, t0 + ms(1500)) else {
            panic!("an early retry was let through")
        };
        assert_eq!(retry_after, 2);
        assert_eq!((b.throttled, b.early), (2, 1));
        // Waiting the whole Retry-After (3.5 s after t0) pays, and is not early.
        assert!(matches!(b.charge(&q, 2.0, t0 + ms(3500)), Decision::Warn(_)));
        assert_eq!((b.throttled, b.early), (2, 1));
        // Fractional waits round up to whole seconds: 0.5 units short at 2 units/s = 0.25 s -> 1.
        let mut b = Bucket::new(&q, t0);
        b.tokens = 1.5;
        let Decision::Throttle { retry_after, .. } = b.charge(&q, 2.0, t0) else {
            panic!()
        };
        assert_eq!(
            retry_after, 2,
            "-0.5 after the charge: 2.5 units to 2, 1.25 s, rounded up"
        );
    }

    #[test]
    fn a_429_says_the_same_wait_in_retry_after_and_ratelimit_reset() {
        // graph-behaviour.md: "when the RateLimit headers are present, Retry-After equals RateLimit-Reset".
        let q = quota(100, 100); // 1 unit a second; the warning line at 20 units
        let t0 = Instant::now();
        let mut b = Bucket::new(&q, t0);
        b.tokens = 1.0;
        let Decision::Throttle { warning, retry_after } = b.charge(&q, 2.0, t0) else {
            panic!("not throttled")
        };
        // -1 after the charge: payable at 2 in 3 s (back at the warning line only after 21 s).
        assert_eq!((retry_after, warning.reset), (3, 3));
        let mut headers = HeaderMap::new();
        warning.write(&mut headers);
        assert_eq!(headers["ratelimit-reset"], "3");
    }

    #[test]
    fn debt_is_bounded_by_one_window() {
        let q = quota(10, 10);
        let t0 = Instant::now();
        let mut b = Bucket::new(&q, t0);
        for _ in 0..100 {
            let _ = b.charge(&q, 2.0, t0);
        }
        assert_eq!(b.tokens, -10.0);
        let Decision::Throttle { retry_after, .. } = b.charge(&q, 2.0, t0) else {
            panic!()
        };
        assert_eq!(retry_after, 12, "from -10 to 2 at 1 unit/s");
    }

    #[test]
    fn buckets_are_per_app_and_tenant_and_a_new_quota_starts_them_full() {
        let throttle = Throttle::default();
        throttle.set(Some(quota(4, 60)));
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(!matches!(
                throttle.charge("t1", "a", Class::Write, t0),
                Decision::Throttle { .. }
            ));
        }
        assert!(matches!(
            throttle.charge("t1", "a", Class::Write, t0),
            Decision::Throttle { .. }
        ));
        assert!(!matches!(
            throttle.charge("t1", "b", Class::Write, t0),
            Decision::Throttle { .. }
        ));
        assert!(!matches!(
            throttle.charge("t2", "a", Class::Write, t0),
            Decision::Throttle { .. }
        ));
        let stats = throttle.stats();
        assert_eq!(stats.len(), 3);
        assert_eq!((stats[0].requests, stats[0].throttled), (3, 1));
        throttle.set(Some(quota(4, 60)));
        assert!(throttle.stats().is_empty());
        assert!(!matches!(
            throttle.charge("t1", "a", Class::Write, t0),
            Decision::Throttle { .. }
        ));
        throttle.set(None);
        assert_eq!(throttle.charge("t1", "a", Class::Write, t0), Decision::Pass);
    }

    #[test]
    fn classes_follow_the_path_and_method() {
        let get = Method::GET;
        assert_eq!(Class::of_migrations(&get, "crossOrganizationUserMappings"), Class::List);
        assert_eq!(
            Class::of_migrations(&get, "crossOrganizationUserMappings/delta()"),
            Class::List
        );
        assert_eq!(
            Class::of_migrations(&get, "crossOrganizationUserMappings/$count"),
            Class::List
        );
        assert_eq!(
            Class::of_migrations(&get, "crossOrganizationUserMappings(sourceUserPrincipalName='a@b.c')"),
            Class::Read
        );
        assert_eq!(
            Class::of_migrations(&get, "crossOrganizationUserMappings/AQAB"),
            Class::Read
        );
        assert_eq!(
            Class::of_migrations(&Method::PATCH, "crossOrganizationUserMappings"),
            Class::Write
        );
        assert_eq!(Class::of(&Method::DELETE, "/x"), Class::Write);
        assert_eq!(Class::of(&get, ""), Class::List);
        assert_eq!(Class::of(&get, "/jane@contoso.com"), Class::Read);
    }

    #[test]
    fn quotas_read_from_the_command_line_and_from_json() {
        let q: ThrottleConfig = "400/10s".parse().unwrap();
        assert_eq!(
            (q.limit, q.window, q.costs),
            (400, Duration::from_secs(10), Costs::default())
        );
        assert_eq!("50/0.5s".parse::<ThrottleConfig>().unwrap().window, ms(500));
        assert_eq!("50/2".parse::<ThrottleConfig>().unwrap().window, Duration::from_secs(2));
        for bad in [
            "", "400", "x/10s", "400/", "400/0s", "400/-1s", "400/10h", "0/1s", "400/2d",
        ] {
            assert!(bad.parse::<ThrottleConfig>().is_err(), "{bad:?} accepted");
        }
        let q = parse_document(r#"{"limit":1200,"windowSeconds":60,"costs":{"read":1,"list":3,"write":2}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(q.costs.list, 3);
        assert_eq!(parse_document(r#"{"limit":null}"#).unwrap(), None);
        assert_eq!(
            parse_document(r#"{"limit":10}"#).unwrap().unwrap().window,
            Duration::from_secs(60)
        );
        for bad in [
            "{}",
            "[]",
            "nope",
            r#"{"limit":0,"windowSeconds":1}"#,
            r#"{"limit":-1}"#,
            r#"{"limit":1.5}"#,
            r#"{"limit":10,"windowSeconds":0}"#,
            r#"{"limit":10,"windowSeconds":-3}"#,
            r#"{"limit":10,"costs":{"write":11}}"#,
            r#"{"limit":10,"costs":{"delete":1}}"#,
            r#"{"limit":10,"burst":1}"#,
            r#"{"limit":null,"windowSeconds":1}"#,
        ] {
            let e = parse_document(bad).expect_err(bad);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
