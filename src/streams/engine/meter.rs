//! What one stream has done so far, counted as it happens: records written, pages asked for,
//! the tokens they cost, and where the stream stands. The end-of-sync summary and the live
//! progress display both read these counters, so their figures agree by construction; the
//! engine only adds to them (one relaxed atomic add per record), which costs next to nothing
//! whether or not anyone is watching.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::http::HttpError;

/// Where a stream stands in a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Selected, not started yet.
    Waiting = 0,
    Reading = 1,
    /// Read to the end.
    Done = 2,
    /// The token's user may not read it.
    Skipped = 3,
    Failed = 4,
    /// Cut short by the user's token budget: resumes from its last STATE.
    Stopped = 5,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Reading,
            2 => Phase::Done,
            3 => Phase::Skipped,
            4 => Phase::Failed,
            5 => Phase::Stopped,
            _ => Phase::Waiting,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Reading => "reading",
            Phase::Done => "done",
            Phase::Skipped => "skipped",
            Phase::Failed => "failed",
            Phase::Stopped => "stopped",
        }
    }

    /// Whether the stream has ended, one way or another.
    pub fn ended(self) -> bool {
        !matches!(self, Phase::Waiting | Phase::Reading)
    }
}

/// One stream's live counters. Shared between the thread that reads the stream and whoever
/// shows or sums its figures. A cache line of its own: the meters of a sync sit side by side,
/// and workers adding to neighbours' records would otherwise take the line from each other.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Meter {
    records: AtomicU64,
    requests: AtomicU64,
    tokens: AtomicU64,
    phase: AtomicU8,
    /// The order in which streams ended (1 for the first), 0 while not ended: what a display
    /// short of room keeps of the finished streams.
    ended_as: AtomicU64,
}

/// Streams ended so far in this process, to number `Meter::ended_as`.
static ENDED: AtomicU64 = AtomicU64::new(0);

impl Meter {
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn tokens(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    /// When the stream ended, relative to the others (larger is later); 0 while not ended.
    pub fn ended_as(&self) -> u64 {
        self.ended_as.load(Ordering::Relaxed)
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        if phase.ended() {
            let n = ENDED.fetch_add(1, Ordering::Relaxed) + 1;
            self.ended_as.store(n, Ordering::Relaxed);
        }
    }

    pub(super) fn record(&self) {
        self.records.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request of `tokens` by how it ended: one that never left (the token caps held
    /// it back, or the daily budget had said no) costs nothing.
    pub(super) fn answered<T>(&self, tokens: u32, result: &Result<T, HttpError>) {
        let never_sent = matches!(
            result,
            Err(HttpError::OverBudget(_) | HttpError::BudgetExhausted { .. })
        );
        if !never_sent {
            self.request(tokens);
        }
    }

    /// One request answered (a page, or a parent asked for), costing `tokens`.
    fn request(&self, tokens: u32) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.tokens.fetch_add(u64::from(tokens), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_phases() {
        let m = Meter::default();
        assert_eq!(m.phase(), Phase::Waiting);
        assert_eq!(m.ended_as(), 0);
        m.record();
        m.record();
        m.request(10);
        m.request(20);
        assert_eq!((m.records(), m.requests(), m.tokens()), (2, 2, 30));
        m.set_phase(Phase::Reading);
        assert_eq!(m.phase(), Phase::Reading);
        assert_eq!(m.ended_as(), 0);
        let other = Meter::default();
        m.set_phase(Phase::Stopped);
        other.set_phase(Phase::Done);
        assert_eq!(m.phase(), Phase::Stopped);
        assert!(
            other.ended_as() > m.ended_as(),
            "ended later, numbered later"
        );
        for p in [
            Phase::Waiting,
            Phase::Reading,
            Phase::Done,
            Phase::Skipped,
            Phase::Failed,
            Phase::Stopped,
        ] {
            assert_eq!(Phase::from_u8(p as u8), p);
        }
    }
}
