//! The pacing controller: one per [`crate::Client`], through which every request it sends goes.
//!
//! Against a quota (SharePoint meters each app per tenant, `docs/emulator.md` "Throttling"), the fastest
//! a push can go is the quota's own refill rate, and every `429` costs units as well as time. The
//! controller keeps the client at that rate with three rules:
//!
//! - **`Retry-After` holds the whole client.** After a `429` or `503` that says when to come back, no
//!   request of the client starts before that time, not only the one retried.
//! - **`RateLimit-*` spreads the rest.** An answer with `RateLimit-Remaining` R (units) and
//!   `RateLimit-Reset` T (seconds) sets a budget of `q + (R - reserve) / T` units a second, spent in
//!   requests of [`UNIT_COST`] spaced evenly: what is left above a small reserve is spread over the time
//!   until the quota is back instead of spent at once, on top of `q`, the rate at which the quota was
//!   seen to come back. `q` is measured, not assumed: between two answers with the headers at least a
//!   second apart, what came back is the rise in R plus what the requests answered in between cost;
//!   it is smoothed (EWMA) and halved by a `429`. A quota that comes back all at once at the end of a
//!   window measures as `q = 0`, and the rule is then "R over T"; one refilled continuously (a token
//!   bucket, as the emulator's) measures as its refill rate, and the client settles at that rate with
//!   the reserve left, which is the quota's own limit. An answer without the headers (less than 80% of
//!   the quota used) lifts the spacing.
//! - **Concurrency adapts by AIMD** (additive increase, multiplicative decrease: TCP's congestion
//!   avoidance, RFC 5681 §3.1, as Netflix's `concurrency-limits` `AIMDLimit` applies it to requests): the
//!   limit on requests in flight grows by one per limit's worth of clean answers while it is in use, and
//!   halves on a `429` or `503`, once per episode (answers to requests sent before the last cut do not cut
//!   again); never below one, never above the builder's [`crate::ClientBuilder::concurrency`].
//!
//! With [`crate::ClientBuilder::adaptive`]`(false)` the controller does nothing: the builder's
//! concurrency is fixed and each request waits only its own `Retry-After`, as the SDKs do.

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
// Tokio's clock, so that the controller's waits follow a paused test clock.
use tokio::time::Instant;

/// The units one request is assumed to cost when `RateLimit-Remaining` is turned into requests:
/// SharePoint's cost of a write and of a multi-item read, the most any call of this API costs.
pub const UNIT_COST: f64 = 2.0;

/// What the multiplicative decrease keeps of the limit (and of the measured refill rate).
const BACKOFF: f64 = 0.5;

/// The units the budget keeps back from `RateLimit-Remaining`: four requests' worth, so that an
/// overestimated refill rate or a request in flight meets units, not a `429`.
const RESERVE: f64 = 4.0 * UNIT_COST;

/// The shortest time over which the refill rate is measured (R is in whole units).
const MIN_SAMPLE: Duration = Duration::from_secs(1);

/// The weight of a new measurement of the refill rate.
const ALPHA: f64 = 0.3;

/// What an answer tells the controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Signal {
    /// The HTTP status.
    pub(crate) status: u16,
    /// `Retry-After`, read.
    pub(crate) retry_after: Option<Duration>,
    /// `RateLimit-Remaining` (units) and `RateLimit-Reset`, when both came.
    pub(crate) rate_limit: Option<(f64, Duration)>,
}

impl Signal {
    /// Reads the headers the controller heeds.
    pub(crate) fn read(status: u16, headers: &reqwest::header::HeaderMap) -> Signal {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |name: &str| {
            text(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let rate_limit = match (number("ratelimit-remaining"), number("ratelimit-reset")) {
            (Some(remaining), Some(reset)) => Duration::try_from_secs_f64(reset).ok().map(|r| (remaining, r)),
            _ => None,
        };
        Signal {
            status,
            retry_after: text("retry-after").and_then(parse_retry_after),
            rate_limit,
        }
    }

    fn is_overload(&self) -> bool {
        matches!(self.status, 429 | 503)
    }
}

/// Reads `Retry-After`: whole or fractional seconds (`2.128`, as Microsoft's throttling docs show), or an
/// HTTP date (the time from now until then; a date past is no wait).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).ok())
            .flatten();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The controller.
#[derive(Debug)]
pub(crate) struct Pacer {
    adaptive: bool,
    max: usize,
    state: Mutex<State>,
    /// Woken when a place under the limit may have come free.
    freed: Notify,
}

#[derive(Debug)]
struct State {
    /// The AIMD limit on requests in flight (fractional: it grows by 1/limit per clean answer).
    limit: f64,
    in_flight: usize,
    /// No request starts before this (the latest `Retry-After`).
    not_before: Option<Instant>,
    /// The earliest start of the next request while spacing.
    next_slot: Instant,
    /// The start given last.
    last_slot: Instant,
    /// The time between starts that `RateLimit-*` asks for (zero: none).
    spacing: Duration,
    /// When the limit was last cut.
    last_cut: Option<Instant>,
    /// Answers seen so far (each charged by the quota).
    answers: u64,
    /// The last answer with `RateLimit-*` a measurement starts from: when, R, `answers` then.
    mark: Option<(Instant, f64, u64)>,
    /// The quota's measured refill rate, units a second (0 until measured).
    refill: f64,
}

/// A place in flight, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    pacer: &'a Pacer,
    /// When the request was let go.
    started: Instant,
}

impl Pacer {
    /// A controller allowing at most `max` requests in flight; `adaptive` false makes it do nothing.
    pub(crate) fn new(max: usize, adaptive: bool) -> Pacer {
        Pacer {
            adaptive,
            max: max.max(1),
            state: Mutex::new(State {
                limit: max.max(1) as f64,
                in_flight: 0,
                not_before: None,
                next_slot: Instant::now(),
                last_slot: Instant::now(),
                spacing: Duration::ZERO,
                last_cut: None,
                answers: 0,
                mark: None,
                refill: 0.0,
            }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // No invariant spans a panic: a poisoned state is still a state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limit on requests in flight now.
    pub(crate) fn limit(&self) -> usize {
        if self.adaptive {
            self.lock().limit.floor() as usize
        } else {
            self.max
        }
    }

    /// Waits until a request may start: a place under the limit, no `Retry-After` pending, its slot in
    /// the spacing reached. Returns the place and how long it waited.
    pub(crate) async fn acquire(&self) -> (Permit<'_>, Duration) {
        let asked = Instant::now();
        if !self.adaptive {
            return (
                Permit {
                    pacer: self,
                    started: asked,
                },
                Duration::ZERO,
            );
        }
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before looking, so that a place freed in between still wakes us.
            freed.as_mut().enable();
            {
                let mut s = self.lock();
                if (s.in_flight as f64) < s.limit.floor().max(1.0) {
                    s.in_flight += 1;
                    break;
                }
            }
            freed.await;
        }
        let mut permit = Permit {
            pacer: self,
            started: asked,
        };
        let slot = {
            let mut s = self.lock();
            let now = Instant::now();
            let slot = s.next_slot.max(now).max(s.not_before.unwrap_or(now));
            s.next_slot = slot + s.spacing;
            s.last_slot = slot;
            slot
        };
        loop {
            // A Retry-After that came while we waited moves the start later.
            let at = {
                let s = self.lock();
                s.not_before.map_or(slot, |t| t.max(slot))
            };
            if at <= Instant::now() {
                break;
            }
            tokio::time::sleep_until(at).await;
        }
        permit.started = Instant::now();
        let waited = permit.started - asked;
        (permit, waited)
    }
}

impl Permit<'_> {
    /// Learns from the answer to the request this place was for.
    pub(crate) fn observe(&self, signal: &Signal) {
        let pacer = self.pacer;
        if !pacer.adaptive {
            return;
        }
        let now = Instant::now();
        let mut s = pacer.lock();
        s.answers += 1;
        if signal.is_overload() {
            if let Some(wait) = signal.retry_after {
                let until = now + wait;
                s.not_before = Some(s.not_before.map_or(until, |t| t.max(until)));
            }
            // Once per episode: an answer to a request sent before the last cut says nothing new.
            if s.last_cut.is_none_or(|cut| self.started > cut) {
                s.limit = (s.limit * BACKOFF).max(1.0);
                s.refill *= BACKOFF;
                s.last_cut = Some(now);
                tracing::debug!(limit = s.limit, "throttled: concurrency cut");
            }
        } else if s.in_flight as f64 >= s.limit / 2.0 {
            // Grow only while the limit is in use: an idle client learns nothing about the service.
            s.limit = (s.limit + 1.0 / s.limit).min(pacer.max as f64);
        }
        match signal.rate_limit {
            Some((remaining, reset)) => {
                match s.mark {
                    Some((at, before, answers)) if now - at >= MIN_SAMPLE => {
                        // What came back: the rise in R and what the answers in between were charged.
                        let back = remaining - before + UNIT_COST * (s.answers - answers) as f64;
                        let sample = (back / (now - at).as_secs_f64()).max(0.0);
                        s.refill = if s.refill == 0.0 {
                            sample
                        } else {
                            (1.0 - ALPHA) * s.refill + ALPHA * sample
                        };
                        s.mark = Some((now, remaining, s.answers));
                    }
                    Some(_) => {}
                    None => s.mark = Some((now, remaining, s.answers)),
                }
                let budget = s.refill + (remaining - RESERVE).max(0.0) / reset.as_secs_f64().max(0.001);
                s.spacing = if budget > 0.0 {
                    Duration::from_secs_f64((UNIT_COST / budget).min(reset.as_secs_f64()))
                } else {
                    reset
                };
                // From the last start on: the starts given while there was no spacing are spaced too.
                s.next_slot = s.next_slot.max(s.last_slot + s.spacing);
            }
            None if !signal.is_overload() => {
                s.spacing = Duration::ZERO;
                s.next_slot = s.next_slot.min(s.last_slot);
            }
            None => {}
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.pacer.adaptive {
            self.pacer.lock().in_flight -= 1;
            self.pacer.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(status: u16, retry_after: Option<f64>, rate_limit: Option<(f64, f64)>) -> Signal {
        Signal {
            status,
            retry_after: retry_after.map(Duration::from_secs_f64),
            rate_limit: rate_limit.map(|(r, t)| (r, Duration::from_secs_f64(t))),
        }
    }

    #[test]
    fn retry_after_in_whole_or_fractional_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 2.128 "), Some(Duration::from_millis(2128)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let d = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(28), "{d:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        for bad in ["soon", "-1", "NaN", "inf", ""] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_are_read_into_a_signal() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "1.5".parse().unwrap());
        h.insert("ratelimit-remaining", "120".parse().unwrap());
        h.insert("ratelimit-reset", "5".parse().unwrap());
        assert_eq!(Signal::read(429, &h), signal(429, Some(1.5), Some((120.0, 5.0))));
        h.remove("ratelimit-reset");
        assert_eq!(Signal::read(200, &h).rate_limit, None, "both or nothing");
    }

    #[tokio::test]
    async fn aimd_halves_once_per_episode_and_grows_back_by_one_per_limit_of_answers() {
        let pacer = Pacer::new(8, true);
        let (a, _) = pacer.acquire().await;
        let (b, _) = pacer.acquire().await;
        a.observe(&signal(429, None, None));
        assert_eq!(pacer.limit(), 4);
        b.observe(&signal(429, None, None));
        assert_eq!(pacer.limit(), 4, "b was in flight before the cut: one cut per episode");
        drop((a, b));
        tokio::time::sleep(Duration::from_millis(1)).await;
        let (c, _) = pacer.acquire().await;
        c.observe(&signal(503, None, None));
        assert_eq!(pacer.limit(), 2, "c was sent after the cut: a new episode");
        drop(c);
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let (p, _) = pacer.acquire().await;
            p.observe(&signal(429, None, None));
        }
        assert_eq!(pacer.limit(), 1, "never below one");
        // One at a time with room to spare: the limit is not in use, so it does not grow.
        for _ in 0..10 {
            let (p, _) = pacer.acquire().await;
            p.observe(&signal(200, None, None));
        }
        assert_eq!(pacer.limit(), 2, "1 + 1/1, then idle at 2 with one in flight");
        // The limit's worth in flight, each answered cleanly: +1/limit each, about +1 per round.
        for _ in 0..4 {
            let n = pacer.limit();
            let permits: Vec<_> = futures_util::future::join_all((0..n).map(|_| pacer.acquire())).await;
            permits.iter().for_each(|(p, _)| p.observe(&signal(200, None, None)));
        }
        assert!((4..=6).contains(&pacer.limit()), "{}", pacer.limit());
        for _ in 0..10 {
            let n = pacer.limit();
            let permits: Vec<_> = futures_util::future::join_all((0..n).map(|_| pacer.acquire())).await;
            permits.iter().for_each(|(p, _)| p.observe(&signal(200, None, None)));
        }
        assert_eq!(pacer.limit(), 8, "capped at the builder's maximum");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_holds_every_request_and_rate_limit_headers_space_them() {
        let pacer = Pacer::new(4, true);
        let (p, waited) = pacer.acquire().await;
        assert_eq!(waited, Duration::ZERO);
        p.observe(&signal(429, Some(1.5), None));
        drop(p);
        // The paused clock advances by itself while every task sleeps: waits take no real time.
        let t0 = tokio::time::Instant::now();
        let (p, _) = pacer.acquire().await;
        assert!(t0.elapsed() >= Duration::from_millis(1400), "{:?}", t0.elapsed());
        // 18 units left, 8 kept back, the other 10 spent over 1 s: 5 requests of 2, 200 ms apart.
        p.observe(&signal(200, None, Some((18.0, 1.0))));
        drop(p);
        let (p, _) = pacer.acquire().await;
        drop(p);
        let t1 = tokio::time::Instant::now();
        let (p, _) = pacer.acquire().await;
        let spaced = t1.elapsed();
        assert!(spaced >= Duration::from_millis(150), "{spaced:?}");
        // No headers: the quota is under 80% again, spacing lifted.
        p.observe(&signal(200, None, None));
        drop(p);
        let (p1, _) = pacer.acquire().await;
        let t2 = tokio::time::Instant::now();
        let (p2, _) = pacer.acquire().await;
        assert!(t2.elapsed() < Duration::from_millis(250), "{:?}", t2.elapsed());
        drop((p1, p2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_refill_rate_is_measured_from_the_rise_in_remaining_and_what_was_spent() {
        let pacer = &Pacer::new(4, true);
        async fn observe(pacer: &Pacer, sig: Signal) {
            let (p, _) = pacer.acquire().await;
            p.observe(&sig);
        }
        let observe = |sig| observe(pacer, sig);
        let t0 = Instant::now();
        observe(signal(200, None, Some((10.0, 2.0)))).await;
        // Nothing measured yet: 2 units over the reserve in 2 s, one request of 2 units in 2 s.
        assert_eq!(pacer.lock().spacing, Duration::from_secs(2));
        // 20 answers later (the first waiting its 2 s, the others without the headers, so unspaced), and a
        // second more, R is up by 2: 42 units came back.
        for _ in 0..19 {
            observe(signal(200, None, None)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        observe(signal(200, None, Some((12.0, 2.0)))).await;
        let (refill, spacing) = {
            let s = pacer.lock();
            (s.refill, s.spacing)
        };
        let expected = 42.0 / t0.elapsed().as_secs_f64();
        assert_eq!(t0.elapsed(), Duration::from_secs(3));
        assert!((refill - expected).abs() < 0.01, "{refill}");
        // 14 + (12 - 8) / 2 = 16 units a second: a request every 2/16 s.
        assert!((spacing.as_secs_f64() - 2.0 / 16.0).abs() < 0.001, "{spacing:?}");
        // Too soon for another measurement: the rate stands; a 429 halves it.
        observe(signal(200, None, Some((8.0, 2.0)))).await;
        assert!((pacer.lock().refill - 14.0).abs() < 0.01);
        observe(signal(429, Some(0.1), None)).await;
        assert!((pacer.lock().refill - 7.0).abs() < 0.01);
    }

    #[tokio::test]
    async fn without_adaptation_nothing_waits_and_nothing_changes() {
        let pacer = Pacer::new(2, false);
        let (p, _) = pacer.acquire().await;
        p.observe(&signal(429, Some(60.0), Some((0.0, 60.0))));
        let (q, waited) = pacer.acquire().await;
        let (_r, _) = pacer.acquire().await;
        assert_eq!(waited, Duration::ZERO);
        assert_eq!(pacer.limit(), 2);
        drop((p, q));
    }
}
