//! The figures of one sync, as they happen: each stream's meter (kept by the engine) and the
//! HTTP client's counters. The end-of-sync summary and the live display both read their totals
//! through `Tally::totals`, one function, so that what a person watched and what the LOG says
//! agree on every figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::TokenCaps as Caps;
use crate::http::Counters;
use crate::streams::engine::{Meter, Phase};

/// One selected stream and its live figures.
#[derive(Debug)]
pub struct StreamTally {
    pub name: &'static str,
    pub meter: Meter,
}

/// One sync's live figures, shared by the workers that add to them and whoever watches.
#[derive(Debug)]
pub struct Tally {
    pub started: Instant,
    /// The selected streams, in catalog order.
    pub streams: Vec<StreamTally>,
    /// The HTTP client's counters: every request of the sync, key check and field definitions
    /// included.
    pub http: Arc<Counters>,
    pub caps: Caps,
}

/// A sync's totals at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub elapsed: Duration,
    /// Records written, all streams.
    pub records: u64,
    /// Requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Estimated tokens spent.
    pub tokens: u64,
    pub rate_limit_wait: Duration,
    /// The company's daily token limit and tokens left, once Pipedrive reported them.
    pub daily: Option<(u64, u64)>,
    pub caps: Caps,
    /// Streams in each phase, indexed by `Phase as usize`.
    pub phases: [usize; 6],
}

impl Totals {
    pub fn in_phase(&self, p: Phase) -> usize {
        self.phases[p as usize]
    }

    /// Tokens left of `max_tokens_per_sync`, when set.
    pub fn sync_tokens_left(&self) -> Option<u64> {
        self.caps.max_tokens.map(|m| m.saturating_sub(self.tokens))
    }

    /// The daily reserve in tokens, when both the percentage and the limit are known.
    pub fn daily_reserve(&self) -> Option<u64> {
        let (limit, _) = self.daily?;
        self.caps.daily_reserve(limit)
    }
}

impl Tally {
    pub fn new(names: &[&'static str], http: Arc<Counters>, caps: Caps) -> Tally {
        Tally {
            started: Instant::now(),
            streams: names
                .iter()
                .map(|&name| StreamTally {
                    name,
                    meter: Meter::default(),
                })
                .collect(),
            http,
            caps,
        }
    }

    pub fn totals(&self) -> Totals {
        use std::sync::atomic::Ordering::Relaxed;
        let mut phases = [0; 6];
        let mut records = 0;
        for s in &self.streams {
            phases[s.meter.phase() as usize] += 1;
            records += s.meter.records();
        }
        Totals {
            elapsed: self.started.elapsed(),
            records,
            requests: self.http.requests.load(Relaxed),
            retries: self.http.retries.load(Relaxed),
            rate_limited: self.http.rate_limited.load(Relaxed),
            tokens: self.http.tokens.load(Relaxed),
            rate_limit_wait: self.http.rate_limit_wait(),
            daily: self.http.daily(),
            caps: self.caps,
            phases,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn totals_add_up_the_streams_and_take_the_client_as_it_is() {
        let http = Arc::new(Counters::default());
        let caps = Caps {
            max_tokens: Some(100),
            reserve_percent: Some(10.0),
        };
        let t = Tally::new(&["deals", "persons", "notes"], http.clone(), caps);
        t.streams[0].meter.set_phase(Phase::Done);
        t.streams[1].meter.set_phase(Phase::Reading);
        http.requests.store(7, Relaxed);
        http.tokens.store(70, Relaxed);
        let totals = t.totals();
        assert_eq!(totals.requests, 7);
        assert_eq!(totals.sync_tokens_left(), Some(30));
        assert_eq!(totals.daily, None);
        assert_eq!(totals.daily_reserve(), None, "no limit reported yet");
        assert_eq!(totals.in_phase(Phase::Done), 1);
        assert_eq!(totals.in_phase(Phase::Reading), 1);
        assert_eq!(totals.in_phase(Phase::Waiting), 1);
        http.daily_limit.store(1001, Relaxed);
        http.daily_remaining.store(500, Relaxed);
        assert_eq!(t.totals().daily, Some((1001, 500)));
        assert_eq!(t.totals().daily_reserve(), Some(101));
    }
}
