//! The display of a sync (`read`, `demo`): the totals (records, requests, tokens spent, the
//! company's daily budget left when Pipedrive reports it, time held back by rate limits), then
//! each stream with its state, records and pages. A terminal too short for every stream shows
//! the streams being read first, then the failed or stopped ones, then the last to end, and
//! counts the rest.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::draw::{clock, fit, Ticker};
use super::{thousands, Mode, Tally, Target, Totals, Watch};
use crate::streams::engine::Phase;

/// One stream's line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    pub name: &'static str,
    pub phase: Phase,
    pub records: u64,
    pub pages: u64,
    pub tokens: u64,
    pub ended_as: u64,
}

fn rows(tally: &Tally) -> Vec<Row> {
    tally
        .streams
        .iter()
        .map(|s| Row {
            name: s.name,
            phase: s.meter.phase(),
            records: s.meter.records(),
            pages: s.meter.requests(),
            tokens: s.meter.tokens(),
            ended_as: s.meter.ended_as(),
        })
        .collect()
}

/// The order in which phases are listed and counted.
const PHASES: [Phase; 6] = [
    Phase::Reading,
    Phase::Waiting,
    Phase::Done,
    Phase::Skipped,
    Phase::Failed,
    Phase::Stopped,
];

/// The totals' lines, as the summary LOG says them too.
pub(super) fn headline(title: &str, t: &Totals) -> Vec<String> {
    let counts: Vec<String> = PHASES
        .iter()
        .filter(|p| t.in_phase(**p) > 0)
        .map(|p| format!("{} {}", t.in_phase(*p), p.as_str()))
        .collect();
    let mut lines = vec![
        format!(
            "{title} · {} · {} records · {} requests · ~{} tokens",
            clock(t.elapsed),
            thousands(t.records),
            thousands(t.requests),
            thousands(t.tokens),
        ),
        format!(
            "  streams: {} · {:.1} s waiting on rate limits",
            counts.join(" · "),
            t.rate_limit_wait.as_secs_f64()
        ),
    ];
    let mut left = Vec::new();
    if let (Some(max), Some(l)) = (t.caps.max_tokens, t.sync_tokens_left()) {
        left.push(format!(
            "~{} of max_tokens_per_sync {}",
            thousands(l),
            thousands(max)
        ));
    }
    match (t.daily, t.caps.reserve_percent) {
        (Some((limit, remaining)), reserve) => {
            let mut daily = format!(
                "daily budget {} of {}",
                thousands(remaining),
                thousands(limit)
            );
            if let (Some(p), Some(r)) = (reserve, t.daily_reserve()) {
                daily.push_str(&format!(", reserve {p}%: {}", thousands(r)));
            }
            left.push(daily);
        }
        (None, Some(_)) => left.push("daily budget not reported by Pipedrive yet".into()),
        (None, None) => {}
    }
    if !left.is_empty() {
        lines.push(format!("  tokens left: {}", left.join(" · ")));
    }
    lines
}

/// A whole frame for a terminal of `height` rows and `width` columns.
pub(super) fn render(
    title: &str,
    t: &Totals,
    streams: &[Row],
    height: usize,
    width: usize,
) -> String {
    let mut lines = headline(title, t);
    let name_width = streams.iter().map(|r| r.name.len()).max().unwrap_or(6);
    lines.push(format!(
        "  {:<name_width$}  {:<8} {:>11} {:>7} {:>9}",
        "stream", "state", "records", "pages", "~tokens"
    ));
    // Room for the streams: the lines above, a line for the rest, one spare so that the frame
    // never scrolls the terminal.
    let room = height.saturating_sub(lines.len() + 2).max(3);
    let shown: BTreeSet<usize> = if streams.len() <= room {
        (0..streams.len()).collect()
    } else {
        let rank = |r: &Row| match r.phase {
            Phase::Reading => 0,
            Phase::Failed | Phase::Stopped => 1,
            Phase::Done | Phase::Skipped => 2,
            Phase::Waiting => 3,
        };
        let mut order: Vec<usize> = (0..streams.len()).collect();
        order.sort_by_key(|&i| (rank(&streams[i]), Reverse(streams[i].ended_as), i));
        order.into_iter().take(room - 1).collect()
    };
    for &i in &shown {
        let r = &streams[i];
        lines.push(format!(
            "  {:<name_width$}  {:<8} {:>11} {:>7} {:>9}",
            r.name,
            r.phase.as_str(),
            thousands(r.records),
            thousands(r.pages),
            thousands(r.tokens)
        ));
    }
    if shown.len() < streams.len() {
        let hidden: Vec<&Row> = (0..streams.len())
            .filter(|i| !shown.contains(i))
            .map(|i| &streams[i])
            .collect();
        let counts: Vec<String> = PHASES
            .iter()
            .map(|p| (p, hidden.iter().filter(|r| r.phase == *p).count()))
            .filter(|(_, n)| *n > 0)
            .map(|(p, n)| format!("{n} {}", p.as_str()))
            .collect();
        lines.push(format!("  … {} more: {}", hidden.len(), counts.join(", ")));
    }
    // The spinner takes two columns of the first line.
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| fit(l, width.saturating_sub(if i == 0 { 2 } else { 0 })))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The display of one sync at a time, on stderr.
pub struct Board {
    target: Option<Target>,
    title: String,
    ticker: Mutex<Option<Ticker>>,
    /// The totals of the last sync that ended.
    last: Mutex<Option<Totals>>,
}

impl Board {
    /// A board titled `title` (`source-pipedrive read`), drawn as `mode` says.
    pub fn new(mode: Mode, title: &str) -> Board {
        Board {
            target: mode.target(),
            title: title.to_string(),
            ticker: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    /// The totals of the last sync that ended, as its last frame showed them.
    pub fn last_totals(&self) -> Option<Totals> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether it draws anything.
    pub fn drawing(&self) -> bool {
        self.target.is_some()
    }
}

impl Watch for Board {
    fn started(&self, tally: &Arc<Tally>) {
        let Some(target) = self.target else { return };
        let (tally, title) = (Arc::clone(tally), self.title.clone());
        let ticker = Ticker::start(
            target,
            Box::new(move |height, width| {
                render(&title, &tally.totals(), &rows(&tally), height, width)
            }),
        );
        let old = self
            .ticker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(ticker);
        if let Some(old) = old {
            old.stop();
        }
    }

    fn ended(&self, tally: &Tally) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(tally.totals());
        let ticker = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = ticker {
            t.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenCaps;
    use std::time::Duration;

    fn row(name: &'static str, phase: Phase, records: u64, ended_as: u64) -> Row {
        Row {
            name,
            phase,
            records,
            pages: records.div_ceil(500),
            tokens: records.div_ceil(500) * 10,
            ended_as,
        }
    }

    fn totals(streams: &[Row]) -> Totals {
        let mut phases = [0; 6];
        for r in streams {
            phases[r.phase as usize] += 1;
        }
        Totals {
            elapsed: Duration::from_secs(75),
            records: streams.iter().map(|r| r.records).sum(),
            requests: 31,
            tokens: 320,
            rate_limit_wait: Duration::from_millis(1_300),
            phases,
            ..Totals::default()
        }
    }

    #[test]
    fn a_frame_shows_the_totals_and_every_stream_that_fits() {
        let streams = [
            row("deals", Phase::Done, 12_000, 1),
            row("persons", Phase::Reading, 3_400, 0),
            row("notes", Phase::Waiting, 0, 0),
        ];
        let frame = render(
            "source-pipedrive read",
            &totals(&streams),
            &streams,
            40,
            120,
        );
        let lines: Vec<&str> = frame.lines().collect();
        assert_eq!(
            lines[0],
            "source-pipedrive read · 1:15 · 15,400 records · 31 requests · ~320 tokens"
        );
        assert_eq!(
            lines[1],
            "  streams: 1 reading · 1 waiting · 1 done · 1.3 s waiting on rate limits"
        );
        assert!(lines[2].contains("stream") && lines[2].contains("pages"));
        assert_eq!(
            lines[3],
            "  deals    done          12,000      24       240"
        );
        assert!(lines[4].starts_with("  persons  reading        3,400       7        70"));
        assert!(lines[5].starts_with("  notes    waiting"));
        assert_eq!(lines.len(), 6, "no caps, no daily figures: no token line");
    }

    #[test]
    fn the_token_line_says_what_is_left_of_each_limit() {
        let streams = [row("deals", Phase::Stopped, 100, 1)];
        let mut t = totals(&streams);
        t.caps = TokenCaps {
            max_tokens: Some(1_000),
            reserve_percent: Some(25.0),
        };
        let frame = render("read", &t, &streams, 40, 200);
        assert!(
            frame.contains("  tokens left: ~680 of max_tokens_per_sync 1,000 · daily budget not reported by Pipedrive yet"),
            "{frame}"
        );
        t.daily = Some((100_000, 61_234));
        let frame = render("read", &t, &streams, 40, 200);
        assert!(
            frame.contains("daily budget 61,234 of 100,000, reserve 25%: 25,000"),
            "{frame}"
        );
        assert!(frame.contains("1 stopped"), "{frame}");
    }

    #[test]
    fn a_short_terminal_keeps_the_streams_that_matter_and_counts_the_rest() {
        let mut streams = Vec::new();
        for i in 0..30 {
            let name: &'static str = Box::leak(format!("stream_{i:02}").into_boxed_str());
            let (phase, ended) = match i {
                0..=19 => (Phase::Done, i as u64 + 1),
                20 => (Phase::Failed, 21),
                21..=23 => (Phase::Reading, 0),
                _ => (Phase::Waiting, 0),
            };
            streams.push(row(name, phase, 10, ended));
        }
        let frame = render("read", &totals(&streams), &streams, 12, 100);
        let lines: Vec<&str> = frame.lines().collect();
        assert!(lines.len() < 12, "the frame fits: {frame}");
        for must in [
            "stream_21",
            "stream_22",
            "stream_23",
            "stream_20",
            "stream_19",
        ] {
            assert!(frame.contains(must), "{must} in {frame}");
        }
        assert!(!frame.contains("stream_00"), "{frame}");
        let last = lines.last().unwrap();
        assert!(last.starts_with("  … "), "{last}");
        assert!(
            last.contains("6 waiting") && last.contains("done"),
            "{last}"
        );
        // In catalog order.
        let shown: Vec<&str> = lines
            .iter()
            .filter_map(|l| {
                l.split_whitespace()
                    .next()
                    .filter(|w| w.starts_with("stream_"))
            })
            .collect();
        let mut sorted = shown.clone();
        sorted.sort();
        assert_eq!(shown, sorted);
    }

    #[test]
    fn lines_never_wrap() {
        let streams = [row("permission_set_assignments", Phase::Reading, 1, 0)];
        let frame = render("source-pipedrive read", &totals(&streams), &streams, 40, 30);
        for (i, l) in frame.lines().enumerate() {
            let room = if i == 0 { 28 } else { 30 };
            assert!(console::measure_text_width(l) <= room, "{l:?}");
        }
    }
}
