//! The request journal: the latest requests in a bounded ring, for tests and the console to inspect.
//!
//! Recording costs one short lock per request and no copy of any body: what only the inner layers know
//! (the caller, how many delta items a PATCH carried, the fault that answered) comes back on the
//! response as extensions.

use crate::error::ApiError;
use axum::http::Method;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

/// Who made a request, set on the response by `route()` once the token is verified.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The token's `tid`.
    pub(crate) tenant: String,
    /// The token's `appid`.
    pub(crate) app_id: String,
}

/// How many items a delta PATCH carried, set on its response by the handler that parsed them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeltaItems(pub(crate) usize);

/// A short description of the fault rule(s) that acted on a request, set by the fault layer.
#[derive(Debug, Clone)]
pub(crate) struct FaultApplied(pub(crate) String);

/// What the journal keeps of one request.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) time: SystemTime,
    pub(crate) method: Method,
    pub(crate) path: String,
    /// `None` when the connection was dropped without an answer.
    pub(crate) status: Option<u16>,
    pub(crate) duration_ms: f64,
    pub(crate) caller: Option<Caller>,
    pub(crate) client_request_id: Option<String>,
    pub(crate) request_id: String,
    pub(crate) user_agent: Option<String>,
    pub(crate) retry_attempt: Option<u64>,
    pub(crate) items: Option<usize>,
    pub(crate) fault: Option<String>,
}

/// The journal's ring: at most `capacity` entries, the oldest dropped first.
#[derive(Debug)]
pub(crate) struct Journal {
    capacity: usize,
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    next_seq: u64,
}

impl Journal {
    /// A journal of at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Journal {
        Journal {
            capacity: capacity.max(1),
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                next_seq: 1,
            }),
        }
    }

    /// Appends `entry`, numbering it; drops the oldest entry when full.
    pub(crate) fn record(&self, mut entry: Entry) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        entry.seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.entries.len() == self.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(entry);
    }

    /// Forgets every entry (the numbering goes on, so a poller's `after` stays meaningful).
    pub(crate) fn clear(&self) {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).entries.clear();
    }

    /// The entries `filter` admits, oldest first (at most its `limit`, the newest ones).
    pub(crate) fn select(&self, filter: &Filter) -> Vec<Entry> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out: Vec<Entry> = ring
            .entries
            .iter()
            .rev()
            .take_while(|e| filter.after.is_none_or(|after| e.seq > after))
            .filter(|e| filter.admits(e))
            .take(limit)
            .cloned()
            .collect();
        drop(ring);
        out.reverse();
        out
    }

    /// How many entries `filter` admits (its `limit` aside).
    pub(crate) fn count(&self, filter: &Filter) -> usize {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.entries
            .iter()
            .rev()
            .take_while(|e| filter.after.is_none_or(|after| e.seq > after))
            .filter(|e| filter.admits(e))
            .count()
    }
}

/// Which entries to read: `GET /_crossmap/requests?method=&path=&status=&tenant=&clientRequestId=&limit=&after=`.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    method: Option<String>,
    path: Option<String>,
    status: Option<StatusFilter>,
    tenant: Option<String>,
    client_request_id: Option<String>,
    limit: Option<usize>,
    after: Option<u64>,
}

/// A status, or a class of them (`4xx`).
#[derive(Debug, Clone, Copy)]
enum StatusFilter {
    Exact(u16),
    Class(u16),
}

impl Filter {
    /// Reads the query string; an unknown parameter or a value that does not parse is a 400.
    pub(crate) fn parse(query: Option<&str>) -> Result<Filter, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|_| ApiError::bad_request("the query string is not valid"))?;
        let mut f = Filter::default();
        let number = |name: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number, not {v:?}")))
        };
        for (name, value) in pairs {
            match name.as_str() {
                "method" => f.method = Some(value.to_ascii_uppercase()),
                "path" => f.path = Some(value.to_ascii_lowercase()),
                "status" => {
                    f.status = Some(match value.strip_suffix("xx").or_else(|| value.strip_suffix("XX")) {
                        Some(class) => match class.parse::<u16>() {
                            Ok(c @ 1..=5) if class.len() == 1 => StatusFilter::Class(c),
                            _ => return Err(bad_status(&value)),
                        },
                        None => match value.parse::<u16>() {
                            Ok(s @ 100..=599) => StatusFilter::Exact(s),
                            _ => return Err(bad_status(&value)),
                        },
                    })
                }
                "tenant" => f.tenant = Some(crate::tenant_id(&value)),
                "clientRequestId" => f.client_request_id = Some(value),
                "limit" => f.limit = Some(usize::try_from(number("limit", &value)?).unwrap_or(usize::MAX)),
                "after" => f.after = Some(number("after", &value)?),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter {other:?}: the journal filters by method, path, status, tenant, \
                         clientRequestId, limit and after"
                    )));
                }
            }
        }
        Ok(f)
    }

    fn admits(&self, e: &Entry) -> bool {
        self.method.as_deref().is_none_or(|m| e.method.as_str() == m)
            && self
                .path
                .as_deref()
                .is_none_or(|p| e.path.to_ascii_lowercase().contains(p))
            && self.status.is_none_or(|s| match (s, e.status) {
                (StatusFilter::Exact(want), Some(got)) => want == got,
                (StatusFilter::Class(class), Some(got)) => got / 100 == class,
                (_, None) => false,
            })
            && self
                .tenant
                .as_deref()
                .is_none_or(|t| e.caller.as_ref().is_some_and(|c| c.tenant == t))
            && self
                .client_request_id
                .as_deref()
                .is_none_or(|id| e.client_request_id.as_deref() == Some(id))
    }
}

fn bad_status(value: &str) -> ApiError {
    ApiError::bad_request(format!(
        "status must be an HTTP status (e.g. 429) or a class (e.g. 5xx), not {value:?}"
    ))
}

/// An entry as the journal endpoint writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryJson<'e> {
    seq: u64,
    time: String,
    method: &'e str,
    path: &'e str,
    status: Option<u16>,
    duration_ms: f64,
    tenant: Option<&'e str>,
    app_id: Option<&'e str>,
    client_request_id: Option<&'e str>,
    request_id: &'e str,
    user_agent: Option<&'e str>,
    retry_attempt: Option<u64>,
    items: Option<usize>,
    fault: Option<&'e str>,
}

impl<'e> From<&'e Entry> for EntryJson<'e> {
    fn from(e: &'e Entry) -> EntryJson<'e> {
        EntryJson {
            seq: e.seq,
            time: humantime::format_rfc3339_millis(e.time).to_string(),
            method: e.method.as_str(),
            path: &e.path,
            status: e.status,
            // Microseconds are plenty.
            duration_ms: (e.duration_ms * 1000.0).round() / 1000.0,
            tenant: e.caller.as_ref().map(|c| c.tenant.as_str()),
            app_id: e.caller.as_ref().map(|c| c.app_id.as_str()),
            client_request_id: e.client_request_id.as_deref(),
            request_id: &e.request_id,
            user_agent: e.user_agent.as_deref(),
            retry_attempt: e.retry_attempt,
            items: e.items,
            fault: e.fault.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: Method, path: &str, status: u16, tenant: &str) -> Entry {
        Entry {
            seq: 0,
            time: SystemTime::UNIX_EPOCH,
            method,
            path: path.to_owned(),
            status: Some(status),
            duration_ms: 1.0,
            caller: Some(Caller {
                tenant: tenant.to_owned(),
                app_id: "app".to_owned(),
            }),
            client_request_id: None,
            request_id: "r".to_owned(),
            user_agent: None,
            retry_attempt: None,
            items: None,
            fault: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_numbers_on() {
        let j = Journal::new(3);
        for n in 0..5 {
            j.record(entry(Method::GET, &format!("/p{n}"), 200, "t"));
        }
        let all = j.select(&Filter::default());
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(all[0].path, "/p2");
        j.clear();
        assert!(j.select(&Filter::default()).is_empty());
        j.record(entry(Method::GET, "/p5", 200, "t"));
        assert_eq!(j.select(&Filter::default())[0].seq, 6);
    }

    #[test]
    fn filters_combine_and_limit_keeps_the_newest() {
        let j = Journal::new(100);
        j.record(entry(Method::GET, "/beta/users", 200, "contoso"));
        j.record(entry(
            Method::PATCH,
            "/beta/x/crossOrganizationUserMappings",
            429,
            "contoso",
        ));
        j.record(entry(
            Method::PATCH,
            "/beta/x/crossOrganizationUserMappings",
            200,
            "fabrikam",
        ));
        j.record(entry(
            Method::PATCH,
            "/beta/x/crossOrganizationGroupMappings",
            503,
            "contoso",
        ));
        let seqs = |q: &str| -> Vec<u64> {
            j.select(&Filter::parse(Some(q)).unwrap())
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!(seqs("method=patch"), [2, 3, 4]);
        assert_eq!(seqs("path=USERMAPPINGS"), [2, 3]);
        assert_eq!(seqs("status=5xx"), [4]);
        assert_eq!(seqs("status=429&tenant=Contoso"), [2]);
        assert_eq!(seqs("method=PATCH&limit=2"), [3, 4]);
        assert_eq!(seqs("after=2"), [3, 4]);
        assert_eq!(j.count(&Filter::parse(Some("method=PATCH&limit=1")).unwrap()), 3);
        for bad in ["status=6xx", "status=abc", "limit=-1", "after=x", "colour=red"] {
            assert!(Filter::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
