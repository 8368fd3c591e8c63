//! When to try a request again, and how long to wait first.

use std::time::Duration;

/// How the client retries: on 429, 503, 504 and transport failures, honouring `Retry-After`, otherwise
/// backing off exponentially with decorrelated jitter, within a cap on attempts and on total time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff.
    pub base_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
    /// No retry starts after this much time since the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    /// Microsoft's SDKs' default: 3 retries.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1), given the previous wait and the
    /// server's `Retry-After`, or `None` when the policy says stop.
    pub fn next_delay(
        &self,
        attempt: u32,
        elapsed: Duration,
        previous: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = match retry_after {
            Some(d) => d,
            None => {
                // Decorrelated jitter: random between the base and three times the previous wait.
                let low = self.base_delay.as_millis() as u64;
                let high = (previous.as_millis() as u64).saturating_mul(3).max(low + 1);
                Duration::from_millis(fastrand::u64(low..high))
            }
        }
        .min(self.max_delay);
        (elapsed + delay <= self.max_total).then_some(delay)
    }
}

/// Reads `Retry-After`: seconds, or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value.trim()).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let d = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(28), "{d:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn the_policy_caps_attempts_and_total_time_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Duration::ZERO, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.next_delay(4, Duration::ZERO, Duration::ZERO, None),
            None,
            "attempts capped"
        );
        assert_eq!(
            p.next_delay(
                1,
                Duration::from_secs(119),
                Duration::ZERO,
                Some(Duration::from_secs(5))
            ),
            None,
            "time capped"
        );
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Duration::ZERO, Some(Duration::from_secs(99))),
            Some(p.max_delay)
        );
        for _ in 0..100 {
            let d = p
                .next_delay(2, Duration::ZERO, Duration::from_millis(400), None)
                .unwrap();
            assert!(d >= p.base_delay && d < Duration::from_millis(1200), "{d:?}");
        }
    }
}
