//! Keeping to Pipedrive's rate limits: our own count of the rolling burst window, the rate-limit
//! headers of each answer, and whether a 429 is a burst to wait out or the daily budget spent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::retry::RetryPolicy;

/// When requests may go. Pipedrive counts requests in a rolling 2-second window, each when it
/// lands; the client counts its own the same way, by when they went, against the limit the
/// headers announce, and lets a request go whenever fewer than that went in the last window
/// (a little longer than Pipedrive's, for the spread of the time a request takes to land). So
/// while work waits, every slot of the window is used, however many requests are in flight,
/// and none lands in a full window. The headers' `remaining` is the backstop for requests this
/// process does not see (other tools on the same token): what the server counted beyond our
/// own is held free in our window until it leaves.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    /// Nothing before this: a 429 asked us to wait.
    pub(super) until: Option<Instant>,
    /// `x-ratelimit-limit`, once an answer told it.
    pub(super) limit: Option<usize>,
    /// Slots of the window other clients of the token hold, as the last answers showed, and
    /// until when.
    foreign: Option<(usize, Instant)>,
    /// When our last requests went, oldest first; at most `limit` of them.
    sent: VecDeque<Instant>,
    last: Option<Instant>,
    /// Added to our window after burst 429s: our count was off (requests took longer to land
    /// than the margin allows), so the margin grows.
    widened: Duration,
    /// Whether an answer (or a failure to get one) came yet: until then one request goes
    /// alone, its answer telling the limit, so a first wave of requests cannot overrun it.
    told: bool,
}

impl Pacer {
    /// Our window is a little longer than Pipedrive's: a request is counted when it lands, a
    /// little after we send it, and that little varies (jitter on the way) by up to this
    /// margin without two of ours landing in one window of Pipedrive's where our count had
    /// them in two.
    pub(super) const WINDOW: Duration = Duration::from_millis(2_100);
    /// Pipedrive's own window.
    const PIPEDRIVE_WINDOW: Duration = Duration::from_secs(2);
    /// The limit assumed when answers do not say: the lowest plan's (Lite, with the API token).
    pub(super) const ASSUMED_LIMIT: usize = 20;
    /// How long the first request goes alone at most, waiting for its answer.
    const FIRST_ANSWER: Duration = Duration::from_secs(10);

    pub(super) fn new() -> Pacer {
        Pacer::default()
    }

    /// The window we count our requests in.
    fn window(&self) -> Duration {
        Self::WINDOW + self.widened
    }

    /// A burst 429 came although our count said the window had room: widen our window by a
    /// tenth of a second (up to a second more), and hold every request until `until`.
    pub(super) fn burst_refused(&mut self, until: Instant) {
        self.widened = (self.widened + Duration::from_millis(100)).min(Duration::from_secs(1));
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
    }

    /// Slots of the window we may fill now: the limit, less what other clients hold.
    fn cap(&self, at: Instant) -> usize {
        let limit = self.limit.unwrap_or(Self::ASSUMED_LIMIT);
        let foreign = self
            .foreign
            .filter(|(_, until)| *until > at)
            .map_or(0, |(n, _)| n);
        limit.saturating_sub(foreign).max(1)
    }

    /// The earliest time, `now` or later, the next request may go.
    pub(super) fn next_slot(&mut self, now: Instant, min_interval: Option<Duration>) -> Instant {
        let mut at = self.until.filter(|u| *u > now).unwrap_or(now);
        if let (Some(interval), Some(last)) = (min_interval, self.last) {
            at = at.max(last + interval);
        }
        if let (false, Some(first)) = (self.told, self.sent.front()) {
            return at.max(*first + Self::FIRST_ANSWER);
        }
        while self
            .sent
            .front()
            .is_some_and(|t| at.saturating_duration_since(*t) >= self.window())
        {
            self.sent.pop_front();
        }
        let cap = self.cap(at);
        if self.sent.len() >= cap {
            // The oldest of the last `cap` must leave the window first.
            at = at.max(self.sent[self.sent.len() - cap] + self.window());
        }
        at
    }

    /// A request got no answer (a network failure): the next may go without waiting for one.
    pub(super) fn unanswered(&mut self) {
        self.told = true;
    }

    pub(super) fn sent(&mut self, at: Instant) {
        self.last = Some(at);
        self.sent.push_back(at);
        let keep = self.limit.unwrap_or(Self::ASSUMED_LIMIT).max(1);
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }

    /// What an answer says of the window: its limit, and whether the server counted more in
    /// it than we sent (other clients of the token), in which case those slots are held free
    /// for a window.
    pub(super) fn answered(&mut self, h: &RateHeaders, now: Instant) {
        self.told = true;
        if let Some(limit) = h.limit {
            self.limit = Some(limit as usize);
        }
        let (Some(limit), Some(remaining)) = (h.limit, h.remaining) else {
            return;
        };
        let counted = limit.saturating_sub(remaining) as usize;
        // Ours that the server may have counted: every one sent in the last window, this one
        // and those still on their way included (requests sent together land in any order),
        // so that only what is beyond all of ours is taken for other clients'.
        let ours = self
            .sent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < self.window())
            .count()
            .max(1);
        let foreign = counted.saturating_sub(ours);
        if foreign > 0 {
            let until = now + Self::PIPEDRIVE_WINDOW;
            let n = self
                .foreign
                .filter(|(_, u)| *u > now)
                .map_or(foreign, |(n, _)| n.max(foreign));
            self.foreign = Some((n, until));
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

    /// Requests sent whenever `next_slot` allows: how many of them fall in one window.
    fn most_in_a_window(sent: &[Instant]) -> usize {
        (0..sent.len())
            .map(|i| {
                sent[..=i]
                    .iter()
                    .filter(|s| sent[i].duration_since(**s) < Pacer::WINDOW)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn the_pacer_fills_the_window_and_never_overfills_it() {
        let t0 = Instant::now();
        let mut p = Pacer {
            limit: Some(5),
            told: true,
            ..Default::default()
        };
        let mut sent = Vec::new();
        for _ in 0..12 {
            let at = p.next_slot(t0, None);
            p.sent(at);
            sent.push(at);
        }
        // All five slots go at once (none kept spare), then each waits for the oldest to
        // leave the window.
        assert!(sent[..5].iter().all(|t| *t == t0), "{:?}", &sent[..6]);
        assert_eq!(sent[5], t0 + Pacer::WINDOW);
        assert_eq!(most_in_a_window(&sent), 5);
        // The first request goes alone; its answer tells the limit (here it does not: the
        // lowest plan's is assumed).
        let mut q = Pacer::new();
        q.sent(t0);
        for _ in 0..2 {
            assert_eq!(q.next_slot(t0, None), t0 + Pacer::FIRST_ANSWER);
        }
        q.unanswered();
        let first: Vec<Instant> = (0..25)
            .map(|_| {
                let at = q.next_slot(t0, None);
                q.sent(at);
                at
            })
            .collect();
        assert_eq!(
            first.iter().filter(|t| **t == t0).count(),
            Pacer::ASSUMED_LIMIT - 1,
            "the first one's answer told no limit: the lowest plan's is assumed"
        );
        // A burst 429 widens our window, for good.
        let mut w = Pacer {
            limit: Some(1),
            told: true,
            ..Default::default()
        };
        w.sent(t0);
        w.burst_refused(t0);
        assert_eq!(
            w.next_slot(t0, None),
            t0 + Pacer::WINDOW + Duration::from_millis(100)
        );
        // A configured rate spaces requests on top of that; a 429's wait holds them all.
        let mut q = Pacer {
            told: true,
            ..Default::default()
        };
        q.sent(t0);
        let interval = Duration::from_millis(250);
        assert_eq!(q.next_slot(t0, Some(interval)), t0 + interval);
        q.until = Some(t0 + Duration::from_secs(3));
        assert_eq!(q.next_slot(t0, Some(interval)), t0 + Duration::from_secs(3));
    }

    /// Our own requests filling the window are not mistaken for other clients' (the old
    /// backstop held every request for a reset whenever `remaining` fell under the requests in
    /// flight, which our own full use of the window always did), even when the server counted
    /// ours sent after the one it answered (they land in any order); what it counted beyond
    /// all of ours is held free.
    #[test]
    fn the_headers_hold_free_only_what_other_clients_use() {
        let t0 = Instant::now();
        let mut p = Pacer {
            told: true,
            ..Default::default()
        };
        let headers = |limit, remaining| RateHeaders {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(2),
            ..Default::default()
        };
        for _ in 0..10 {
            let at = p.next_slot(t0, None);
            p.sent(at);
        }
        // The server counted our ten: limit 10, none left. Nothing foreign.
        p.answered(&headers(10, 0), t0);
        assert_eq!(p.limit, Some(10));
        assert_eq!(p.cap(t0), 10);
        // Another tool on the token: the server counted 16 of 20 where we sent 10.
        p.answered(&headers(20, 4), t0);
        assert_eq!(p.cap(t0), 14, "six held free");
        let later = t0 + Duration::from_millis(2_001);
        assert_eq!(p.cap(later), 20, "for one window");
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
