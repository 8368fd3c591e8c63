//! Seeded faults: rules that make chosen requests fail the way Graph fails, reproducibly.
//!
//! The rules are tried in order for each request outside `/_crossmap/`. A rule matches on method and a
//! path substring; it fires every Nth match (`every`) or with a probability (`rate`, drawn from a
//! generator seeded by `seed`, so the same seed and the same sequence of requests give the same faults).
//! A firing rule adds latency, and/or answers with a Graph error, or drops the connection; the first rule
//! that answers or drops ends the search (later rules are not consulted, nor drawn for).

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crossmap_model::error::codes;
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{ApiError, RequestInfo, with_inner};

/// The fault rules: `{"seed": 42, "rules": [...]}` (`PUT /_crossmap/faults`, `serve --faults FILE`).
///
/// ```
/// use crossmap_server::FaultConfig;
/// let config = FaultConfig::from_json(r#"{"seed": 42, "rules": [
///     {"match": {"method": "PATCH", "path": "crossOrganizationUserMappings"}, "rate": 0.1, "status": 429, "retryAfter": "2"},
///     {"every": 5, "status": 503},
///     {"rate": 0.02, "drop": true},
///     {"rate": 1.0, "latencyMs": [10, 50]}]}"#).unwrap();
/// assert_eq!(config.rules.len(), 4);
/// assert!(FaultConfig::from_json(r#"{"rules": [{"rate": 2, "status": 503}]}"#).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    /// The generator's seed.
    #[serde(default)]
    pub seed: u64,
    /// The rules, tried in order; none means no faults.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// One fault rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Which requests the rule considers (every one when absent).
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<FaultMatch>,
    /// The probability that a matching request is faulted (0 to 1); with neither `rate` nor `every`, 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Fault every Nth matching request instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Fire at most this many times, then let matching requests through (`1`: only the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Answer with a Graph error of this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error's `code` instead of Graph's usual one for the status (`TooManyRequests`, `accessDenied`: the
    /// other throttling bodies seen from Graph).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The error's `message` instead of the usual one for the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `Retry-After` for the error, written verbatim: whole seconds, fractional seconds, or an HTTP date.
    #[serde(
        default,
        deserialize_with = "retry_after_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<String>,
    /// Close the connection without an answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
    /// Apply the request first, then answer with the error or drop the connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_apply: bool,
    /// Add a delay drawn uniformly from `[lo, hi]` milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<[u64; 2]>,
}

/// Which requests a rule considers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultMatch {
    /// The HTTP method, without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A substring of the path, without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Why a fault document was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultConfigError {
    /// Not JSON, or not of the document's shape.
    #[error("{path}: {message}")]
    Shape {
        /// Where in the document (`.` for the whole).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A rule that reads but means nothing sensible.
    #[error("rules[{index}]: {message}")]
    Rule {
        /// The rule's position, from 0.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// A `retryAfter` given as a string or a number, kept as its text.
fn retry_after_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected seconds or an HTTP date, found {other}"
        ))),
    }
}

/// The statuses a rule may answer with, and Graph's error code for each.
const STATUSES: &[(u16, &str)] = &[
    (400, codes::INVALID_REQUEST),
    (401, codes::UNAUTHENTICATED),
    (403, codes::ACCESS_DENIED),
    (404, codes::ITEM_NOT_FOUND),
    (409, "conflict"),
    (429, codes::ACTIVITY_LIMIT_REACHED),
    (500, codes::GENERAL_EXCEPTION),
    (502, "badGateway"),
    (503, "serviceNotAvailable"),
    (504, "gatewayTimeout"),
    (507, "quotaLimitReached"),
];

/// The longest delay a rule may add.
const MAX_LATENCY_MS: u64 = 600_000;

impl FaultConfig {
    /// Reads and checks a fault document.
    pub fn from_json(text: &str) -> Result<FaultConfig, FaultConfigError> {
        let shape = |path: &str, message: String| FaultConfigError::Shape {
            path: path.to_owned(),
            message,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| shape(".", e.to_string()))?;
        // serde reads a struct from an array too: the document, its rules and matches must be objects.
        let not_object = |v: &serde_json::Value| !v.is_object();
        if not_object(&value) {
            return Err(shape(
                ".",
                "expected an object: {\"seed\": 42, \"rules\": [...]}".into(),
            ));
        }
        for (i, rule) in value["rules"].as_array().into_iter().flatten().enumerate() {
            if not_object(rule) || rule.get("match").is_some_and(|m| not_object(m) && !m.is_null()) {
                return Err(shape(&format!("rules[{i}]"), "expected an object".into()));
            }
        }
        let config: FaultConfig = serde_path_to_error::deserialize(value)
            .map_err(|e| shape(&e.path().to_string(), e.into_inner().to_string()))?;
        for (index, rule) in config.rules.iter().enumerate() {
            rule.check()
                .map_err(|message| FaultConfigError::Rule { index, message })?;
        }
        Ok(config)
    }
}

impl FaultRule {
    fn check(&self) -> Result<(), String> {
        if let Some(rate) = self.rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("rate must be between 0 and 1, not {rate}"));
            }
        }
        match (self.rate, self.every) {
            (Some(_), Some(_)) => return Err("give rate or every, not both".into()),
            (_, Some(0)) => return Err("every must be at least 1".into()),
            _ => {}
        }
        if self.times == Some(0) {
            return Err("times must be at least 1 (leave the rule out to fire never)".into());
        }
        if let Some(status) = self.status {
            if code_of(status).is_none() {
                let known: Vec<String> = STATUSES.iter().map(|(s, _)| s.to_string()).collect();
                return Err(format!(
                    "status {status} is not one this emulator fakes: {}",
                    known.join(", ")
                ));
            }
        }
        if self.status.is_some() && self.drop {
            return Err("a rule answers with a status or drops the connection, not both".into());
        }
        if self.status.is_none() && !self.drop && self.latency_ms.is_none() {
            return Err("a rule needs status, drop or latencyMs: otherwise it does nothing".into());
        }
        if let Some(code) = &self.code {
            if self.status.is_none() {
                return Err("code goes with a status".into());
            }
            if code.is_empty()
                || !code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            {
                return Err(format!(
                    "code {code:?} is not an error code: letters, digits, '_' and '.'"
                ));
            }
        }
        if let Some(message) = &self.message {
            if self.status.is_none() {
                return Err("message goes with a status".into());
            }
            if message.trim().is_empty() {
                return Err("message must say something".into());
            }
        }
        if let Some(value) = &self.retry_after {
            if self.status.is_none() {
                return Err("retryAfter goes with a status".into());
            }
            if !is_retry_after(value) {
                return Err(format!(
                    "retryAfter {value:?} is neither seconds (\"2\", \"2.128\") nor an HTTP date"
                ));
            }
        }
        if self.after_apply && self.status.is_none() && !self.drop {
            return Err("afterApply goes with a status or drop".into());
        }
        if let Some([lo, hi]) = self.latency_ms {
            if lo > hi || hi > MAX_LATENCY_MS {
                return Err(format!(
                    "latencyMs must be [lo, hi] with lo <= hi <= {MAX_LATENCY_MS}, not [{lo}, {hi}]"
                ));
            }
        }
        if let Some(method) = self.matches.as_ref().and_then(|m| m.method.as_deref()) {
            if Method::from_bytes(method.as_bytes()).is_err() {
                return Err(format!("match.method {method:?} is not an HTTP method"));
            }
        }
        Ok(())
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        let Some(m) = &self.matches else { return true };
        m.method
            .as_deref()
            .is_none_or(|want| want.eq_ignore_ascii_case(method.as_str()))
            && m.path.as_deref().is_none_or(|want| contains_ignore_case(path, want))
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    needle.is_empty()
        || haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whole or fractional seconds (digits, at most one dot), or an HTTP date.
fn is_retry_after(value: &str) -> bool {
    let seconds = {
        let mut parts = value.splitn(2, '.');
        let whole = parts.next().unwrap_or_default();
        let fraction = parts.next();
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    seconds || httpdate::parse_http_date(value).is_ok()
}

fn code_of(status: u16) -> Option<&'static str> {
    STATUSES.iter().find(|(s, _)| *s == status).map(|(_, c)| *c)
}

/// The rules in force, their generator and their counters.
#[derive(Debug)]
pub(crate) struct Faults {
    /// Whether any rule is in force: the only cost to a request when none is.
    active: AtomicBool,
    live: Mutex<Live>,
}

#[derive(Debug)]
struct Live {
    config: FaultConfig,
    rng: fastrand::Rng,
    /// Matching requests seen, per rule (for `every`).
    seen: Vec<u64>,
    /// Times fired, per rule (for `times`).
    fired: Vec<u64>,
}

/// What the rules decided for one request.
#[derive(Debug)]
pub(crate) struct Decision {
    /// Delay before anything else.
    pub(crate) delay: Option<Duration>,
    /// How the request is answered, if a rule answers it.
    pub(crate) action: Option<Action>,
    /// The rules that acted, for the journal.
    pub(crate) description: String,
}

/// A fault that answers a request.
#[derive(Debug)]
pub(crate) enum Action {
    /// A Graph error.
    Status {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        retry_after: Option<String>,
        after_apply: bool,
    },
    /// No answer: the connection is closed.
    Drop { after_apply: bool },
}

impl Action {
    /// Whether the request is applied before the fault answers.
    pub(crate) fn after_apply(&self) -> bool {
        match self {
            Action::Status { after_apply, .. } | Action::Drop { after_apply } => *after_apply,
        }
    }
}

/// The marker on a response that [`crate::serve`] turns into a closed connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

impl Faults {
    /// The rules of `config`, their generator seeded.
    pub(crate) fn new(config: FaultConfig) -> Faults {
        let faults = Faults {
            active: AtomicBool::new(false),
            live: Mutex::new(Live {
                config: FaultConfig::default(),
                rng: fastrand::Rng::with_seed(0),
                seen: Vec::new(),
                fired: Vec::new(),
            }),
        };
        faults.set(config);
        faults
    }

    /// Replaces the rules; the generator starts again from the seed and the counters from zero.
    pub(crate) fn set(&self, config: FaultConfig) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        self.active.store(!config.rules.is_empty(), Ordering::Relaxed);
        *live = Live {
            rng: fastrand::Rng::with_seed(config.seed),
            seen: vec![0; config.rules.len()],
            fired: vec![0; config.rules.len()],
            config,
        };
    }

    /// The rules in force.
    pub(crate) fn get(&self) -> FaultConfig {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).config.clone()
    }

    /// What the rules do to a request, if anything.
    pub(crate) fn decide(&self, method: &Method, path: &str) -> Option<Decision> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let live = &mut *live;
        let mut delay_ms = 0u64;
        let mut acted = Vec::new();
        let mut action = None;
        for (i, rule) in live.config.rules.iter().enumerate() {
            if !rule.matches(method, path) {
                continue;
            }
            live.seen[i] += 1;
            let fires = match (rule.every, rule.rate) {
                (Some(n), _) => live.seen[i].is_multiple_of(n),
                (None, Some(rate)) => live.rng.f64() < rate,
                (None, None) => true,
            };
            // A rule that has used up its `times` still counts for `every`, but fires no more.
            if !fires || rule.times.is_some_and(|n| live.fired[i] >= n) {
                continue;
            }
            live.fired[i] += 1;
            let mut what = Vec::new();
            if let Some([lo, hi]) = rule.latency_ms {
                let ms = live.rng.u64(lo..=hi);
                delay_ms += ms;
                what.push(format!("latency {ms} ms"));
            }
            if let Some(status) = rule.status {
                what.push(status.to_string());
                action = Some(Action::Status {
                    status,
                    code: rule.code.clone(),
                    message: rule.message.clone(),
                    retry_after: rule.retry_after.clone(),
                    after_apply: rule.after_apply,
                });
            } else if rule.drop {
                what.push("drop".to_owned());
                action = Some(Action::Drop {
                    after_apply: rule.after_apply,
                });
            }
            if rule.after_apply {
                what.push("after apply".to_owned());
            }
            acted.push(format!("rule {i}: {}", what.join(", ")));
            if action.is_some() {
                break;
            }
        }
        if acted.is_empty() {
            return None;
        }
        Some(Decision {
            delay: (delay_ms > 0).then(|| Duration::from_millis(delay_ms)),
            action,
            description: acted.join("; "),
        })
    }
}

/// The answer a fault gives: a Graph error, or (for a drop) the marker `serve` acts on.
pub(crate) fn respond(action: &Action, info: &RequestInfo) -> Response {
    match action {
        Action::Status {
            status,
            code: given_code,
            message: given_message,
            retry_after,
            ..
        } => {
            let status = *status;
            let usual = code_of(status).unwrap_or(codes::GENERAL_EXCEPTION);
            let code = given_code.as_deref().unwrap_or(usual);
            let message = match status {
                429 => "The request has been throttled",
                503 => "The service is temporarily unavailable. Please retry later.",
                504 => "The gateway did not receive a timely response.",
                500 => "General exception while processing.",
                _ => "The request failed (a fault the emulator was told to inject).",
            };
            let message = given_message.as_deref().unwrap_or(message);
            let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut error = with_inner(ApiError::new(status_code, code, message), info);
            if status == 429 && code == usual {
                // SharePoint's throttling body, as the quota's own 429 (graph-behaviour.md).
                if let Some(inner) = error.error.inner_error.as_mut() {
                    inner
                        .additional_properties
                        .insert("code".to_owned(), "throttledRequest".into());
                    inner
                        .additional_properties
                        .insert("innerError".to_owned(), serde_json::json!({"code": "quota"}));
                }
            }
            let mut response = error.into_response();
            if let Some(v) = retry_after.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Action::Drop { .. } => {
            // Under `serve` the marker closes the connection unanswered. A router served by other means
            // (axum::serve, a test harness) cannot do that: it answers 503 and asks for the connection
            // to be closed.
            let error = with_inner(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "a drop fault: crossmap_server::serve closes the connection here without an answer",
                ),
                info,
            );
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response.extensions_mut().insert(DropConnection);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(faults: &Faults, n: usize) -> Vec<Option<u16>> {
        (0..n)
            .map(|_| {
                faults
                    .decide(&Method::GET, "/beta/x")
                    .and_then(|d| d.action)
                    .map(|a| match a {
                        Action::Status { status, .. } => status,
                        Action::Drop { .. } => 0,
                    })
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_another_seed_others() {
        let config = |seed| {
            FaultConfig::from_json(&format!(
                r#"{{"seed": {seed}, "rules": [{{"rate": 0.3, "status": 503}}, {{"rate": 0.1, "drop": true}}]}}"#
            ))
            .unwrap()
        };
        let a = statuses(&Faults::new(config(42)), 200);
        assert_eq!(a, statuses(&Faults::new(config(42)), 200));
        assert_ne!(a, statuses(&Faults::new(config(43)), 200));
        let faulted = a.iter().filter(|s| s.is_some()).count();
        assert!((30..=120).contains(&faulted), "{faulted} of 200 faulted at about 37%");
        // Setting the rules again starts the generator over.
        let f = Faults::new(config(42));
        let first = statuses(&f, 50);
        f.set(config(42));
        assert_eq!(statuses(&f, 50), first);
    }

    #[test]
    fn every_counts_matching_requests_only() {
        let f = Faults::new(
            FaultConfig::from_json(
                r#"{"rules": [{"match": {"method": "get", "path": "/X"}, "every": 3, "status": 504}]}"#,
            )
            .unwrap(),
        );
        let mut fired = Vec::new();
        for n in 1..=9 {
            assert!(
                f.decide(&Method::PATCH, "/beta/x").is_none(),
                "another method never matches"
            );
            if f.decide(&Method::GET, "/beta/x").is_some() {
                fired.push(n);
            }
        }
        assert_eq!(fired, [3, 6, 9]);
    }

    #[test]
    fn times_stops_a_rule_after_it_fired_that_often() {
        let f = Faults::new(
            FaultConfig::from_json(
                r#"{"rules": [{"match": {"method": "PATCH"}, "times": 1, "status": 429, "retryAfter": "1"},
                              {"every": 2, "times": 2, "status": 503}]}"#,
            )
            .unwrap(),
        );
        let first = f.decide(&Method::PATCH, "/beta/x").unwrap();
        assert_eq!(first.description, "rule 0: 429");
        // Rule 1 saw the first PATCH neither: rule 0 answered it.
        let fired: Vec<Option<String>> = (0..8)
            .map(|_| f.decide(&Method::PATCH, "/beta/x").map(|d| d.description))
            .collect();
        let second = Some("rule 1: 503".to_owned());
        assert_eq!(fired, [None, second.clone(), None, second, None, None, None, None]);
        assert!(FaultConfig::from_json(r#"{"rules": [{"times": 0, "status": 503}]}"#).is_err());
    }

    #[test]
    fn latency_adds_up_and_lets_the_request_through() {
        let f = Faults::new(
            FaultConfig::from_json(r#"{"rules": [{"latencyMs": [5, 5]}, {"latencyMs": [1, 3]}]}"#).unwrap(),
        );
        let d = f.decide(&Method::GET, "/").unwrap();
        assert!(d.action.is_none());
        let ms = d.delay.unwrap().as_millis();
        assert!((6..=8).contains(&ms), "{ms}");
        assert_eq!(d.description.matches("rule").count(), 2);
    }

    #[test]
    fn invalid_documents_are_refused_with_what_is_wrong() {
        for (doc, says) in [
            ("[]", "expected an object"),
            (r#"{"rules": [[1]]}"#, "rules[0]"),
            ("{", "EOF"),
            (r#"{"rules": [{"status": 503, "colour": 1}]}"#, "colour"),
            (r#"{"rules": [{"rate": 1.5, "status": 503}]}"#, "rate"),
            (r#"{"rules": [{"rate": 0.5, "every": 2, "status": 503}]}"#, "not both"),
            (r#"{"rules": [{"every": 0, "status": 503}]}"#, "at least 1"),
            (r#"{"rules": [{"status": 418}]}"#, "418"),
            (r#"{"rules": [{"status": 503, "drop": true}]}"#, "not both"),
            (r#"{"rules": [{"rate": 0.5}]}"#, "does nothing"),
            (r#"{"rules": [{"status": 429, "retryAfter": "soon"}]}"#, "soon"),
            (
                r#"{"rules": [{"drop": true, "retryAfter": "2"}]}"#,
                "goes with a status",
            ),
            (r#"{"rules": [{"latencyMs": [50, 10]}]}"#, "lo <= hi"),
            (
                r#"{"rules": [{"latencyMs": [1, 10], "afterApply": true}]}"#,
                "afterApply",
            ),
            (r#"{"rules": [{"match": {"method": "G T"}, "status": 500}]}"#, "method"),
            (r#"{"rules": [{"drop": true, "code": "x"}]}"#, "code goes with a status"),
            (
                r#"{"rules": [{"status": 429, "code": "Too Many"}]}"#,
                "not an error code",
            ),
            (
                r#"{"rules": [{"latencyMs": [1, 2], "message": "m"}]}"#,
                "message goes with a status",
            ),
            (r#"{"rules": [{"status": 429, "message": " "}]}"#, "say something"),
        ] {
            let e = FaultConfig::from_json(doc).expect_err(doc).to_string();
            assert!(e.contains(says), "{doc}: {e}");
        }
        for ok in ["2", "2.128", "0", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            assert!(is_retry_after(ok), "{ok}");
        }
        for bad in ["", "2.", ".5", "-1", "1e3", "2 s"] {
            assert!(!is_retry_after(bad), "{bad}");
        }
        let numeric = FaultConfig::from_json(r#"{"rules": [{"status": 429, "retryAfter": 2.128}]}"#).unwrap();
        assert_eq!(numeric.rules[0].retry_after.as_deref(), Some("2.128"));
    }
}
