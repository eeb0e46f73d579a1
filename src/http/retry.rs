//! How failed requests are tried again: the policy (attempts, delays, timeouts, pacing switches)
//! and capped exponential backoff with jitter, so many clients never retry in lockstep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the retry policy may do. `Default` is what production uses.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts for one request, the first included. The config's `max_retries` lowers it.
    pub max_tries: u32,
    /// First backoff delay; doubles each retry up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait a burst 429 may ask for before we call it something else.
    pub max_rate_limit_wait: Duration,
    pub connect_timeout: Duration,
    pub receive_timeout: Duration,
    /// Least time between two requests (`max_requests_per_second`), on top of header pacing.
    pub min_interval: Option<Duration>,
    /// Wait for the burst window when the last answer said it is used up. Only benchmarks turn
    /// this off, to count the 429s it saves.
    pub pace_from_headers: bool,
    /// Most requests in flight at once (`max_concurrent_requests`), from before a request
    /// waits for its slot of the burst window until its answer is read.
    pub max_in_flight: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 21,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_rate_limit_wait: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(15),
            receive_timeout: Duration::from_secs(120),
            min_interval: None,
            pace_from_headers: true,
            max_in_flight: crate::config::DEFAULT_CONCURRENT_REQUESTS,
        }
    }
}

/// Capped exponential backoff with "equal jitter": half the step is fixed so retries never bunch
/// at zero, half is random so many clients do not retry in lockstep. `jitter` is in [0, 1).
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, jitter: f64) -> Duration {
    let step = policy
        .base_delay
        .saturating_mul(1u32 << retry.min(16))
        .min(policy.max_delay);
    step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in [0, 1) that differs between calls and processes; jitter needs no better.
pub(super) fn unit_jitter() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn jitter_ms(max: u64) -> Duration {
    Duration::from_millis((unit_jitter() * max as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(backoff_delay(&p, 0, 0.0), Duration::from_millis(500));
        assert_eq!(
            backoff_delay(&p, 0, 0.999_999),
            Duration::from_micros(999_999) + Duration::from_nanos(500)
        );
        assert_eq!(backoff_delay(&p, 1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 2, 0.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(&p, 5, 0.0), Duration::from_secs(5));
        assert_eq!(backoff_delay(&p, 40, 1.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..1000 {
            let j = unit_jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
