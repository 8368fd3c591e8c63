//! When to try a request again, and how long to wait first.

use std::time::Duration;

/// How the client retries: on 429, 503, 504 and transport failures, honouring `Retry-After`, otherwise
/// backing off exponentially with decorrelated jitter, within a cap on attempts and on total time. A
/// `Retry-After` is always waited in full (coming back early digs a throttled client deeper): one that
/// would end past `max_total` ends the retries instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff.
    pub base_delay: Duration,
    /// The longest backoff of our own (a server's `Retry-After` is not cut short).
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
                Duration::from_millis(fastrand::u64(low..high)).min(self.max_delay)
            }
        };
        (elapsed + delay <= self.max_total).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Some(Duration::from_secs(99)),
            "a Retry-After longer than max_delay is waited in full"
        );
        assert_eq!(
            p.next_delay(
                1,
                Duration::from_secs(30),
                Duration::ZERO,
                Some(Duration::from_secs(99))
            ),
            None,
            "one that ends past max_total ends the retries"
        );
        for _ in 0..100 {
            let d = p
                .next_delay(2, Duration::ZERO, Duration::from_millis(400), None)
                .unwrap();
            assert!(d >= p.base_delay && d < Duration::from_millis(1200), "{d:?}");
        }
    }
}
