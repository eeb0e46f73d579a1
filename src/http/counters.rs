//! What the client has done so far, counted as it happens: the end-of-sync summary, the
//! progress display and the benchmarks read these while the sync runs, and the token budget
//! keeps its tally here, so they live apart from the client that bumps them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the client has done so far: the end-of-sync summary, the progress display and the
/// benchmarks read these, as they happen.
#[derive(Debug)]
pub struct Counters {
    /// Requests sent, retries and 429s included.
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Requests answered 429 (a burst limit).
    pub rate_limited: AtomicU64,
    /// Estimated tokens of the requests sent, less those refused with a 429 (see `budget`).
    pub tokens: AtomicU64,
    /// Microseconds held back by rate limits: the burst window, `max_requests_per_second`,
    /// the waits 429s asked for.
    pub rate_limit_wait_us: AtomicU64,
    /// The company's daily token limit and tokens left as Pipedrive last reported them;
    /// `u64::MAX` until it does.
    pub daily_limit: AtomicU64,
    pub daily_remaining: AtomicU64,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            rate_limit_wait_us: AtomicU64::new(0),
            daily_limit: AtomicU64::new(u64::MAX),
            daily_remaining: AtomicU64::new(u64::MAX),
        }
    }
}

impl Counters {
    /// The company's daily token limit and tokens left, once Pipedrive has reported both.
    pub fn daily(&self) -> Option<(u64, u64)> {
        let limit = self.daily_limit.load(Ordering::Relaxed);
        let remaining = self.daily_remaining.load(Ordering::Relaxed);
        (limit != u64::MAX && remaining != u64::MAX).then_some((limit, remaining))
    }

    /// How long requests were held back by rate limits.
    pub fn rate_limit_wait(&self) -> Duration {
        Duration::from_micros(self.rate_limit_wait_us.load(Ordering::Relaxed))
    }

    pub(super) fn waited(&self, d: Duration) {
        self.rate_limit_wait_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}
