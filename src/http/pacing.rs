//! Keeping to Pipedrive's rate limits: our own count of the rolling burst window, the rate-limit
//! headers of each answer, and whether a 429 is a burst to wait out or the daily budget spent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::retry::RetryPolicy;

/// When requests may go. Pipedrive counts requests in a rolling 2-second window; the client
/// counts its own the same way against the limit the headers announce, so that concurrent
/// streams queue for a free slot instead of running into 429s. The headers' `remaining` is the
/// backstop for requests this process does not see (other tools on the same token).
#[derive(Debug, Default)]
pub(super) struct Pacer {
    /// Nothing before this: the window is used up, or a 429 asked us to wait.
    pub(super) until: Option<Instant>,
    /// `x-ratelimit-limit`, once an answer told it.
    pub(super) limit: Option<usize>,
    /// Slots of the window left unused: one per request that may be in flight, plus one, so
    /// that the answers' `remaining` never falls under the backstop's threshold.
    spare: usize,
    /// When our last requests went, oldest first; at most `limit` of them.
    sent: VecDeque<Instant>,
    last: Option<Instant>,
}

impl Pacer {
    /// Our window is a little longer than Pipedrive's: a request is counted when it arrives,
    /// a little after we send it.
    const WINDOW: Duration = Duration::from_millis(2_100);

    /// A pacer for `in_flight` requests that may be on their way at once.
    pub(super) fn new(in_flight: usize) -> Pacer {
        Pacer {
            spare: in_flight + 1,
            ..Pacer::default()
        }
    }

    /// The earliest time, `now` or later, the next request may go.
    pub(super) fn next_slot(&mut self, now: Instant, min_interval: Option<Duration>) -> Instant {
        let mut at = self.until.filter(|u| *u > now).unwrap_or(now);
        if let (Some(interval), Some(last)) = (min_interval, self.last) {
            at = at.max(last + interval);
        }
        while self
            .sent
            .front()
            .is_some_and(|t| at.saturating_duration_since(*t) >= Self::WINDOW)
        {
            self.sent.pop_front();
        }
        if let Some(limit) = self.limit {
            // Some slots are left to spare; the oldest sends must leave the window first.
            let cap = limit.saturating_sub(self.spare).max(1);
            if self.sent.len() >= cap {
                at = at.max(self.sent[self.sent.len() - cap] + Self::WINDOW);
            }
        }
        at
    }

    pub(super) fn sent(&mut self, at: Instant) {
        self.last = Some(at);
        self.sent.push_back(at);
        let keep = self.limit.unwrap_or(0).max(1);
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }
}

/// The rate-limit headers of one answer.
#[derive(Debug, Default, PartialEq)]
pub(super) struct RateHeaders {
    pub(super) limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry_after: Option<u64>,
    daily_limit: Option<u64>,
    daily_remaining: Option<u64>,
}

impl RateHeaders {
    pub(super) fn read(h: &ureq::http::HeaderMap) -> RateHeaders {
        let num = |name: &str| {
            header(h, name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|v| v.ceil() as u64)
        };
        RateHeaders {
            limit: num("x-ratelimit-limit"),
            remaining: num("x-ratelimit-remaining"),
            reset: num("x-ratelimit-reset"),
            retry_after: num("retry-after"),
            daily_limit: num("x-daily-ratelimit-token-limit"),
            daily_remaining: num("x-daily-ratelimit-token-remaining"),
        }
    }

    /// The company's daily token limit and tokens left, when the answer told both.
    pub(super) fn daily(&self) -> Option<(u64, u64)> {
        Some((self.daily_limit?, self.daily_remaining?))
    }

    /// How long to hold every request back after this answer, with `in_flight` requests
    /// possibly on their way: fewer than that left in the burst window means it is used up
    /// (by us or by other tools on the same token) until its reset.
    pub(super) fn pace(&self, in_flight: u64) -> Option<Duration> {
        (self.remaining? < in_flight).then(|| Duration::from_secs(self.reset.unwrap_or(2).max(1)))
    }

    /// How long a 429 asks us to wait, or `None` when it is the daily budget: the daily token
    /// headers say none is left, or the burst window still had room when the 429 came.
    pub(super) fn burst_wait(&self, policy: &RetryPolicy) -> Option<Duration> {
        if self.daily_remaining == Some(0) {
            return None;
        }
        if self.remaining.is_some_and(|r| r > 0) {
            return None;
        }
        let secs = self.retry_after.or(self.reset).unwrap_or(2).max(1);
        Some(Duration::from_secs(secs).min(policy.max_rate_limit_wait + Duration::from_secs(1)))
    }
}

pub(super) fn header(h: &ureq::http::HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_used_up_window_holds_requests_until_its_reset() {
        let h = |remaining| RateHeaders {
            remaining: Some(remaining),
            reset: Some(2),
            ..Default::default()
        };
        assert_eq!(h(0).pace(1), Some(Duration::from_secs(2)));
        assert_eq!(h(1).pace(1), None);
        // Three streams at once: fewer than three left means the window is used up.
        assert_eq!(h(2).pace(3), Some(Duration::from_secs(2)));
        assert_eq!(h(3).pace(3), None);
        assert_eq!(RateHeaders::default().pace(3), None);
    }

    #[test]
    fn the_pacer_keeps_our_own_count_under_the_limit() {
        let t0 = Instant::now();
        let mut p = Pacer {
            limit: Some(5),
            spare: 1,
            ..Default::default()
        };
        let mut sent = Vec::new();
        for _ in 0..12 {
            let at = p.next_slot(t0, None);
            p.sent(at);
            sent.push(at);
        }
        // Four go at once (one slot spare), then each waits for the oldest to leave the window.
        assert!(sent[..4].iter().all(|t| *t == t0));
        assert_eq!(sent[4], t0 + Pacer::WINDOW);
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[..i]
                .iter()
                .filter(|s| t.duration_since(**s) < Pacer::WINDOW)
                .count();
            assert!(
                in_window < 4,
                "request {i} had {in_window} before it in one window"
            );
        }
        // A configured rate spaces requests on top of that; a 429's wait holds them all.
        let mut q = Pacer::default();
        q.sent(t0);
        let interval = Duration::from_millis(250);
        assert_eq!(q.next_slot(t0, Some(interval)), t0 + interval);
        q.until = Some(t0 + Duration::from_secs(3));
        assert_eq!(q.next_slot(t0, Some(interval)), t0 + Duration::from_secs(3));
    }

    #[test]
    fn burst_or_budget() {
        let p = RetryPolicy::default();
        let burst = RateHeaders {
            remaining: Some(0),
            reset: Some(2),
            ..Default::default()
        };
        assert_eq!(burst.burst_wait(&p), Some(Duration::from_secs(2)));
        let retry_after = RateHeaders {
            remaining: Some(0),
            reset: Some(2),
            retry_after: Some(5),
            ..Default::default()
        };
        assert_eq!(retry_after.burst_wait(&p), Some(Duration::from_secs(5)));
        let budget = RateHeaders {
            remaining: Some(37),
            reset: Some(1),
            ..Default::default()
        };
        assert_eq!(budget.burst_wait(&p), None);
        let daily = RateHeaders {
            remaining: Some(0),
            reset: Some(1),
            daily_remaining: Some(0),
            ..Default::default()
        };
        assert_eq!(daily.burst_wait(&p), None);
        let bare = RateHeaders::default();
        assert_eq!(bare.burst_wait(&p), Some(Duration::from_secs(2)));
    }
}
