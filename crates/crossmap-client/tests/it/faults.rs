//! Servers that misbehave on purpose: throttling, 503 bursts, slowness, dropped connections, garbage,
//! an expired token mid-run.

use crossmap_client::{Client, ClientError, RetryPolicy, StaticToken, TokenProvider};
use crossmap_model::{GroupKey, SharePointGroupIdentityMapping as Group};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
const ENTITY: &str = r#"{"@odata.context":"x","id":"AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE","sourceGroupIdentity":{"id":"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}}"#;

/// What the fake server does with the n-th request (from 0).
type Script = Arc<dyn Fn(u32, &str) -> Reply + Send + Sync>;

enum Reply {
    /// Status, extra header, body.
    Http(u16, Option<(&'static str, String)>, String),
    /// Close the connection without answering.
    Drop,
    /// Answer after a pause.
    Slow(Duration),
}

/// A raw HTTP/1.1 server on loopback following `script`; returns its base URL and the request counter.
async fn fake(script: Script) -> (String, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/beta", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU32::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (script, counter) = (script.clone(), counter.clone());
            tokio::spawn(async move {
                loop {
                    let mut buf = vec![0u8; 16 * 1024];
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let i = counter.fetch_add(1, Ordering::SeqCst);
                    let reply = script(i, &request);
                    let (status, header, body) = match reply {
                        Reply::Drop => return,
                        Reply::Slow(d) => {
                            tokio::time::sleep(d).await;
                            (200, None, ENTITY.to_owned())
                        }
                        Reply::Http(s, h, b) => (s, h, b),
                    };
                    let extra = header.map(|(k, v)| format!("{k}: {v}\r\n")).unwrap_or_default();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nrequest-id: r{i}\r\n{extra}content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, count)
}

fn client(base: &str, policy: RetryPolicy, timeout: Duration) -> Client {
    Client::builder()
        .base_url(base)
        .token_provider(StaticToken::new("t"))
        .retry(policy)
        .timeout(timeout)
        .build()
        .unwrap()
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

fn key() -> GroupKey {
    GroupKey::parse(A).unwrap()
}

fn error_body(code: &str) -> String {
    format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#)
}

#[tokio::test]
async fn throttling_is_retried_after_the_time_the_server_asks() {
    let script: Script = Arc::new(|i, _| match i {
        0 => Reply::Http(
            429,
            Some(("retry-after", "1".into())),
            error_body("activityLimitReached"),
        ),
        _ => Reply::Http(200, None, ENTITY.into()),
    });
    let (base, count) = fake(script).await;
    let c = client(&base, fast_policy(), Duration::from_secs(5));
    let start = Instant::now();
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(c.counters().throttles.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_503_burst_is_ridden_out_and_a_longer_one_gives_up_with_the_error() {
    let script: Script = Arc::new(|i, _| {
        if i < 3 {
            Reply::Http(503, None, error_body("serviceNotAvailable"))
        } else {
            Reply::Http(200, None, ENTITY.into())
        }
    });
    let (base, _) = fake(script).await;
    let c = client(&base, fast_policy(), Duration::from_secs(5));
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    assert_eq!(c.counters().retries.load(Ordering::Relaxed), 3);

    let always: Script = Arc::new(|_, _| Reply::Http(504, None, error_body("gatewayTimeout")));
    let (base, count) = fake(always).await;
    let c = client(&base, fast_policy(), Duration::from_secs(5));
    let e = c.get::<Group>(&key(), None).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(504), Some("gatewayTimeout")));
    assert!(e.is_retryable() && e.request_id().is_some());
    assert_eq!(count.load(Ordering::SeqCst), 4, "one attempt and three retries");
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried_with_the_same_client_request_id() {
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ids.clone();
    let script: Script = Arc::new(move |i, request| {
        let id = request
            .lines()
            .find_map(|l| l.strip_prefix("client-request-id: "))
            .unwrap_or("")
            .to_owned();
        seen.lock().unwrap().push(id);
        if i == 0 {
            Reply::Slow(Duration::from_secs(3))
        } else {
            Reply::Http(200, None, ENTITY.into())
        }
    });
    let (base, _) = fake(script).await;
    let c = client(&base, fast_policy(), Duration::from_millis(300));
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 2);
    assert!(!ids[0].is_empty() && ids[0] == ids[1], "{ids:?}");

    let never: Script = Arc::new(|_, _| Reply::Slow(Duration::from_secs(3)));
    let (base, _) = fake(never).await;
    let c = client(&base, RetryPolicy::none(), Duration::from_millis(200));
    let e = c.get::<Group>(&key(), None).await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let script: Script = Arc::new(|i, _| {
        if i == 0 {
            Reply::Drop
        } else {
            Reply::Http(200, None, ENTITY.into())
        }
    });
    let (base, count) = fake(script).await;
    let c = client(&base, fast_policy(), Duration::from_secs(5));
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_malformed_body_is_an_error_not_a_panic_and_not_retried() {
    let script: Script = Arc::new(|_, _| Reply::Http(200, None, "{not json".into()));
    let (base, count) = fake(script).await;
    let c = client(&base, fast_policy(), Duration::from_secs(5));
    let e = c.get::<Group>(&key(), None).await.unwrap_err();
    assert!(matches!(e, ClientError::Decode { status: 200, .. }), "{e:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // A non-Graph error body keeps the status.
    let script: Script = Arc::new(|_, _| Reply::Http(400, None, "<html>bad</html>".into()));
    let (base, _) = fake(script).await;
    let e = client(&base, fast_policy(), Duration::from_secs(5))
        .get::<Group>(&key(), None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
}

/// Gives "old" until told it was refused, then "new".
struct Rotating {
    refused: AtomicU32,
}

impl TokenProvider for Rotating {
    fn token(&self) -> BoxFuture<'_, Result<String, ClientError>> {
        Box::pin(async move {
            Ok(if self.refused.load(Ordering::SeqCst) == 0 {
                "old".into()
            } else {
                "new".into()
            })
        })
    }
    fn invalidate(&self) {
        self.refused.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn an_expired_token_mid_run_is_renewed_once() {
    let script: Script = Arc::new(|_, request| {
        if request.contains("Bearer old") {
            Reply::Http(401, None, error_body("InvalidAuthenticationToken"))
        } else {
            Reply::Http(200, None, ENTITY.into())
        }
    });
    let (base, _) = fake(script).await;
    let tokens = Arc::new(Rotating {
        refused: AtomicU32::new(0),
    });
    struct Shared(Arc<Rotating>);
    impl TokenProvider for Shared {
        fn token(&self) -> BoxFuture<'_, Result<String, ClientError>> {
            self.0.token()
        }
        fn invalidate(&self) {
            self.0.invalidate()
        }
    }
    let c = Client::builder()
        .base_url(&base)
        .token_provider(Shared(tokens.clone()))
        .build()
        .unwrap();
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    assert_eq!(tokens.refused.load(Ordering::SeqCst), 1);
    // A token refused twice is an error, not a loop.
    let refuse: Script = Arc::new(|_, _| Reply::Http(401, None, error_body("InvalidAuthenticationToken")));
    let (base, count) = fake(refuse).await;
    let e = client(&base, fast_policy(), Duration::from_secs(5))
        .get::<Group>(&key(), None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn apply_all_stops_when_the_service_stays_unavailable() {
    use crossmap_client::{ApplyOptions, ItemResult};
    use crossmap_model::DeltaItem;
    let always: Script = Arc::new(|_, _| Reply::Http(503, None, error_body("serviceNotAvailable")));
    let (base, count) = fake(always).await;
    let c = Client::builder()
        .base_url(&base)
        .token_provider(StaticToken::new("t"))
        .retry(fast_policy())
        .concurrency(1)
        .build()
        .unwrap();
    let items: Vec<DeltaItem<Group>> = (0..500u32)
        .map(|n| {
            let key = GroupKey::parse(&format!("00000000-0000-0000-0000-{n:012}")).unwrap();
            DeltaItem::remove(&key)
        })
        .collect();
    let report = c.apply_all(items, &ApplyOptions::default()).await;
    assert_eq!(report.failures().count(), 50, "the first chunk failed");
    assert_eq!(report.not_sent(), 450, "the rest was not tried");
    assert!(matches!(report.items()[0], ItemResult::Failed(_)));
    assert_eq!(count.load(Ordering::SeqCst), 4, "one chunk's attempts only");
}

/// A script that notes when each request arrived (by the monotonic and the wall clock) and what it said.
type Arrivals = Arc<std::sync::Mutex<Vec<(Instant, std::time::SystemTime, String)>>>;

fn noting(arrivals: &Arrivals, reply: impl Fn(u32) -> Reply + Send + Sync + 'static) -> Script {
    let arrivals = arrivals.clone();
    Arc::new(move |i, request| {
        arrivals.lock().unwrap().push((
            Instant::now(),
            std::time::SystemTime::now(),
            request.to_ascii_lowercase(),
        ));
        reply(i)
    })
}

#[tokio::test]
async fn a_fractional_retry_after_holds_every_request_of_the_client_not_only_the_retried_one() {
    let arrivals = Arrivals::default();
    let script = noting(&arrivals, |i| match i {
        0 => Reply::Http(
            429,
            Some(("retry-after", "0.6".into())),
            error_body("activityLimitReached"),
        ),
        _ => Reply::Http(200, None, ENTITY.into()),
    });
    let (base, _) = fake(script).await;
    // No retries: the first call fails at once with the 429, and the second is another request.
    let c = client(&base, RetryPolicy::none(), Duration::from_secs(5));
    let e = c.get::<Group>(&key(), None).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_millis(600)));
    let told = Instant::now();
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    let arrivals = arrivals.lock().unwrap();
    let second = arrivals[1].0;
    assert!(
        second >= told + Duration::from_millis(590),
        "the next request came {:?} after the 429",
        second - told
    );
    assert!(
        c.counters().waited() >= Duration::from_millis(590),
        "{:?}",
        c.counters().waited()
    );
}

#[tokio::test]
async fn a_retry_after_date_is_honoured_and_retries_say_their_attempt_and_the_traffic_decoration() {
    let arrivals = Arrivals::default();
    // A date one second on, to the second: a wait of up to a second.
    let until = std::time::SystemTime::now() + Duration::from_secs(1);
    let date = httpdate::fmt_http_date(until);
    let not_before = httpdate::parse_http_date(&date).unwrap();
    let script = noting(&arrivals, move |i| match i {
        0 | 1 => Reply::Http(
            429,
            Some(("retry-after", date.clone())),
            error_body("activityLimitReached"),
        ),
        _ => Reply::Http(200, None, ENTITY.into()),
    });
    let (base, _) = fake(script).await;
    let c = client(&base, fast_policy(), Duration::from_secs(5));
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 3);
    assert!(arrivals[2].1 >= not_before, "the retry came before the date");
    let header = |n: usize, name: &str| {
        arrivals[n]
            .2
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::trim).map(str::to_owned))
    };
    assert_eq!(header(0, "retry-attempt"), None);
    assert_eq!(header(1, "retry-attempt").as_deref(), Some("1"));
    assert_eq!(header(2, "retry-attempt").as_deref(), Some("2"));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        header(0, "user-agent"),
        Some(format!("nonisv|crossmap|crossmap/{version}"))
    );
}

#[tokio::test]
async fn rate_limit_headers_spread_the_remaining_requests_over_the_reset_time() {
    let arrivals = Arrivals::default();
    // 16 units left, 8 of them over the reserve, back in 1 s: 4 requests of 2 units, 250 ms apart.
    let script = noting(&arrivals, |_| {
        Reply::Http(
            200,
            Some(("ratelimit-remaining", "16\r\nratelimit-reset: 1".into())),
            ENTITY.into(),
        )
    });
    let (base, _) = fake(script).await;
    let c = client(&base, fast_policy(), Duration::from_secs(5));
    assert!(c.get::<Group>(&key(), None).await.unwrap().is_some());
    let k = key();
    let calls = (0..3).map(|_| c.get::<Group>(&k, None));
    for r in futures_util::future::join_all(calls).await {
        assert!(r.unwrap().is_some());
    }
    for pair in arrivals.lock().unwrap().windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(240), "{gap:?} between two starts");
    }
    // Without adaptation the same calls go out at once.
    let arrivals = Arrivals::default();
    let script = noting(&arrivals, |_| {
        Reply::Http(
            200,
            Some(("ratelimit-remaining", "16\r\nratelimit-reset: 1".into())),
            ENTITY.into(),
        )
    });
    let (base, _) = fake(script).await;
    let c = Client::builder()
        .base_url(&base)
        .token_provider(StaticToken::new("t"))
        .adaptive(false)
        .build()
        .unwrap();
    let start = Instant::now();
    let k = key();
    let calls = (0..4).map(|_| c.get::<Group>(&k, None));
    for r in futures_util::future::join_all(calls).await {
        assert!(r.unwrap().is_some());
    }
    assert!(start.elapsed() < Duration::from_millis(240), "{:?}", start.elapsed());
}

#[test]
fn a_traffic_decoration_that_breaks_the_form_is_refused() {
    use crossmap_client::TrafficDecoration;
    let build = |d: TrafficDecoration| {
        Client::builder()
            .base_url("http://127.0.0.1:1/beta")
            .token_provider(StaticToken::new("t"))
            .traffic_decoration(d)
            .build()
    };
    assert!(build(TrafficDecoration::isv("Contoso", "Mover", "2.1")).is_ok());
    for bad in [
        TrafficDecoration::isv("Con|toso", "Mover", "2.1"),
        TrafficDecoration::non_isv("Contoso", "Mo/ver", "2.1"),
        TrafficDecoration::non_isv("", "Mover", "2.1"),
        TrafficDecoration::isv("Contoso", "Mover", "2.1\n"),
    ] {
        let e = build(bad.clone()).unwrap_err();
        assert!(matches!(e, ClientError::Build(_)), "{bad}: {e}");
    }
}
