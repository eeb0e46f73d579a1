//! The display of `listen`: deliveries written and their rate, the last delivery, and the
//! reconciliation reads (the one running, with its live figures, or the last one and when the
//! next is due).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::draw::{clock, fit, Ticker};
use super::{thousands, Mode, Tally, Totals, Watch};
use crate::streams::engine::Phase;

/// Over how long the delivery rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Reconciliation {
    /// Reads started so far.
    runs: u64,
    current: Option<Arc<Tally>>,
    /// When the last read ended, and its figures.
    last: Option<(Instant, Totals)>,
}

pub struct Listening {
    started: Instant,
    address: String,
    every: Duration,
    written: AtomicU64,
    /// When the last delivery was written, and what it was.
    last: Mutex<Option<(Instant, String)>>,
    /// (when, deliveries written by then), over the last `RATE_WINDOW`.
    samples: Mutex<VecDeque<(Instant, u64)>>,
    reconciliation: Mutex<Reconciliation>,
    ticker: Mutex<Option<Ticker>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deliveries per second between the oldest and the newest sample.
fn per_second(samples: &VecDeque<(Instant, u64)>) -> f64 {
    match (samples.front(), samples.back()) {
        (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
            (n1 - n0) as f64 / t1.duration_since(*t0).as_secs_f64()
        }
        _ => 0.0,
    }
}

impl Listening {
    /// The display of a listener on `address` reconciling every `every`, drawn as `mode` says.
    pub fn start(mode: Mode, address: &str, every: Duration) -> Arc<Listening> {
        let listening = Arc::new(Listening {
            started: Instant::now(),
            address: address.to_string(),
            every,
            written: AtomicU64::new(0),
            last: Mutex::new(None),
            samples: Mutex::new(VecDeque::new()),
            reconciliation: Mutex::new(Reconciliation::default()),
            ticker: Mutex::new(None),
        });
        if let Some(target) = mode.target() {
            let me: Weak<Listening> = Arc::downgrade(&listening);
            let ticker = Ticker::start(
                target,
                Box::new(move |_, width| me.upgrade().map_or_else(String::new, |l| l.frame(width))),
            );
            *lock(&listening.ticker) = Some(ticker);
        }
        listening
    }

    /// A delivery was written; `what` says which (`deal 123 change`).
    pub fn delivered(&self, what: String) {
        self.written.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last) = Some((Instant::now(), what));
    }

    fn frame(&self, width: usize) -> String {
        let now = Instant::now();
        let written = self.written.load(Ordering::Relaxed);
        let rate = {
            let mut samples = lock(&self.samples);
            samples.push_back((now, written));
            while samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            {
                samples.pop_front();
            }
            per_second(&samples)
        };
        let last = match &*lock(&self.last) {
            Some((at, what)) => format!("{what}, {} ago", clock(now.duration_since(*at))),
            None => "none yet".to_string(),
        };
        let r = lock(&self.reconciliation);
        let reconciliation = match (&r.current, &r.last) {
            (Some(tally), _) => {
                let t = tally.totals();
                format!(
                    "#{} reading for {}: {} of {} streams done, {} records, ~{} tokens",
                    r.runs,
                    clock(t.elapsed),
                    t.in_phase(Phase::Done) + t.in_phase(Phase::Skipped),
                    tally.streams.len(),
                    thousands(t.records),
                    thousands(t.tokens)
                )
            }
            (None, Some((ended, t))) => {
                let unfinished = t.in_phase(Phase::Failed) + t.in_phase(Phase::Stopped);
                format!(
                    "#{} ended {} ago: {} records, ~{} tokens{}; next in {}",
                    r.runs,
                    clock(now.duration_since(*ended)),
                    thousands(t.records),
                    thousands(t.tokens),
                    match unfinished {
                        0 => String::new(),
                        n => format!(", {n} stream(s) not read to the end"),
                    },
                    clock(self.every.saturating_sub(now.duration_since(*ended)))
                )
            }
            (None, None) => "starting".to_string(),
        };
        [
            format!(
                "source-pipedrive listen on {} · {}",
                self.address,
                clock(now.duration_since(self.started))
            ),
            format!(
                "  deliveries: {} written · {rate:.1}/s over the last {} s · last: {last}",
                thousands(written),
                RATE_WINDOW.as_secs()
            ),
            format!("  reconciliation reads: {reconciliation}"),
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| fit(l, width.saturating_sub(if i == 0 { 2 } else { 0 })))
        .collect::<Vec<_>>()
        .join("\n")
    }
}

impl Watch for Listening {
    fn started(&self, tally: &Arc<Tally>) {
        let mut r = lock(&self.reconciliation);
        r.runs += 1;
        r.current = Some(Arc::clone(tally));
    }

    fn ended(&self, tally: &Tally) {
        let mut r = lock(&self.reconciliation);
        r.current = None;
        r.last = Some((Instant::now(), tally.totals()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenCaps;
    use crate::http::Counters;

    #[test]
    fn the_rate_is_measured_between_samples() {
        let t0 = Instant::now();
        let mut s = VecDeque::new();
        assert_eq!(per_second(&s), 0.0);
        s.push_back((t0, 10));
        assert_eq!(per_second(&s), 0.0);
        s.push_back((t0 + Duration::from_secs(4), 30));
        assert_eq!(per_second(&s), 5.0);
    }

    #[test]
    fn the_frame_follows_deliveries_and_reconciliation_reads() {
        let l = Listening::start(Mode::Never, "127.0.0.1:8787", Duration::from_secs(3600));
        let frame = l.frame(200);
        assert!(frame.contains("0 written"), "{frame}");
        assert!(frame.contains("last: none yet"), "{frame}");
        assert!(frame.contains("reconciliation reads: starting"), "{frame}");
        l.delivered("deal 7 change".into());
        l.delivered("person 3 delete".into());
        let tally = Arc::new(Tally::new(
            &["deals", "persons"],
            Arc::new(Counters::default()),
            TokenCaps::default(),
        ));
        l.started(&tally);
        tally.streams[0].meter.set_phase(Phase::Done);
        let frame = l.frame(200);
        assert!(frame.contains("2 written"), "{frame}");
        assert!(frame.contains("last: person 3 delete, "), "{frame}");
        assert!(frame.contains("#1 reading for "), "{frame}");
        assert!(frame.contains(": 1 of 2 streams done"), "{frame}");
        tally.streams[1].meter.set_phase(Phase::Failed);
        l.ended(&tally);
        let frame = l.frame(200);
        assert!(frame.contains("#1 ended "), "{frame}");
        assert!(frame.contains(" ago: 0 records"), "{frame}");
        assert!(
            frame.contains("1 stream(s) not read to the end; next in 59:"),
            "{frame}"
        );
    }
}
