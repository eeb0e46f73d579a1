//! A long v2 list read as time slices side by side. One list is one chain of requests (each
//! page's cursor comes with the page before it), so at Pipedrive's latency a list of 800 pages
//! takes minutes whatever the burst window allows. A v2 list filtered by `updated_since` and
//! `updated_until` and sorted by update time can be cut into update-time ranges, each a chain of
//! its own.
//!
//! How it goes: the list is read as one chain. Whenever a page comes while the client has fewer
//! requests in flight than the burst window could take, the slice with the most pages ahead
//! (guessed from the update times its pages covered so far) is cut in two at the middle of what
//! it has left: its chain stops there (what it reads beyond is left to the other half) and a new
//! chain `[updated_since, updated_until)` reads the second half. So a list is cut only while
//! nothing else fills the window (each cut costs at most one request more), and an empty range
//! (no record updated in it) costs one request.
//!
//! Why no record is skipped: the slices cover the window without gap or overlap, in whole
//! seconds as the server filters. A record edited during the sync leaves every slice for a time
//! at or after the window's end: in an incremental sync that is the next sync's (as in one
//! chain); a full refresh, whose window has no end, cuts at the moment the sync began and reads
//! what comes after it once every slice is done, so it finds every record edited meanwhile.
//!
//! Records of the slices are written as they come, under one lock. A STATE says where a sync
//! resumed from it reads again: it is set to how far the earliest unfinished slice got (or its
//! start), so every record before it was written, whatever the slices after it wrote.

use std::sync::Mutex;
use std::thread::Scope;

use anyhow::{anyhow, Result};
use chrono::{DateTime, TimeDelta, Utc};

use super::emit::Emitter;
use super::interfaces::Sink;
use super::listing::{list_until, Flow, Listed};
use super::meter::Meter;
use super::window::{Place, Window};
use crate::http::Client;
use crate::streams::record::Record;
use crate::streams::{time, Paging, ServerFilter, Sort, StreamDef};

/// At most this many slices of one list at once.
const MOST: usize = 16;
/// A slice is cut only when the client could have this many more requests in flight than it
/// has (on a server that answers at once, as on loopback, never: one chain keeps up).
const ROOM: usize = 3;
/// A slice is cut in two only when it seems to have at least this many pages left.
const PAGES_TO_CUT: i64 = 4;

/// Whether a list can be read in time slices: a v2 cursor list in one pass, oldest first, whose
/// server filters both ends of the update-time window.
pub(super) fn sliceable(def: &StreamDef) -> bool {
    matches!(def.paging, Paging::Cursor { .. })
        && matches!(def.sort, Sort::Ascending(_))
        && def.filter == ServerFilter::SinceUntil
        && def.each.is_none()
        && def.cursor.is_some()
        && def.parent.is_none()
}

/// One update-time range of the list and how far its chain got.
#[derive(Debug)]
struct Slice {
    from: DateTime<Utc>,
    /// Where its chain stops: where the next slice starts. `None`: the window's end.
    cut: Option<DateTime<Utc>>,
    /// The earliest and the latest update time it has written.
    first: Option<DateTime<Utc>>,
    reached: Option<DateTime<Utc>>,
    /// Records it has written, and the most one of its pages held.
    records: i64,
    most: i64,
    done: bool,
    /// A full refresh's range after the moment the sync began: read once the others are done.
    last: bool,
}

impl Slice {
    fn new(from: DateTime<Utc>, cut: Option<DateTime<Utc>>) -> Slice {
        Slice {
            from,
            cut,
            first: None,
            reached: None,
            records: 0,
            most: 0,
            done: false,
            last: false,
        }
    }
}

/// What every chain of one list shares.
struct Chains<'c, 'e, 'a> {
    client: &'c Client,
    def: &'c StreamDef,
    window: &'c Window,
    meter: &'c Meter,
    archived: bool,
    /// Where the slices end: the window's end, or the moment a full refresh's sync began.
    end: Option<DateTime<Utc>>,
    state: Mutex<Slices<'e, 'a>>,
}

/// Where the slices stand, and the stream's writer.
struct Slices<'e, 'a> {
    em: &'e mut Emitter<'a>,
    out: &'e mut dyn Sink,
    slices: Vec<Slice>,
    /// The first failure of a chain: the others stop at their next page.
    failure: Option<anyhow::Error>,
}

impl<'e, 'a> Chains<'_, 'e, 'a> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slices<'e, 'a>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads a sliceable list (`sliceable`) in `window`, its records marked as coming from the
/// archive when `archived`, a checkpoint after each page.
pub(super) fn read(
    client: &Client,
    def: &StreamDef,
    incremental: bool,
    window: &Window,
    archived: bool,
    em: &mut Emitter,
    out: &mut dyn Sink,
) -> Result<Listed> {
    let meter = em.meter;
    let chains = Chains {
        client,
        def,
        window,
        meter,
        archived,
        end: window.upper.or(window.began),
        state: Mutex::new(Slices {
            em,
            out,
            slices: vec![Slice::new(window.lower, None)],
            failure: None,
        }),
    };
    let first = std::thread::scope(|s| chain(s, &chains, 0, *window, incremental));
    if let Listed::Denied(e) = first {
        return Ok(Listed::Denied(e));
    }
    let mut all = chains.lock();
    if all.slices.len() > 1 {
        all.em.stats.time_slices = all.slices.len();
    }
    if let Some(e) = all.failure.take() {
        return Err(e);
    }
    // A full refresh cut in slices: what was edited since the sync began.
    if let Some(k) = all.slices.iter().position(|s| s.last) {
        let since = Window {
            lower: all.slices[k].from,
            upper: None,
            ..*window
        };
        drop(all);
        // Alone: no slice is left to cut, and this one is never cut.
        std::thread::scope(|s| chain(s, &chains, k, since, false));
        if let Some(e) = chains.lock().failure.take() {
            return Err(e);
        }
    }
    Ok(Listed::Done)
}

/// Reads slice `k` with `query`'s window; cuts slices and starts their chains on `s` as pages
/// come. `Denied` only for the first chain's first page (the user may not read the list).
fn chain<'s, 'c: 's>(
    s: &'s Scope<'s, '_>,
    c: &'c Chains<'c, '_, '_>,
    k: usize,
    query: Window,
    incremental: bool,
) -> Listed {
    let result = list_until(
        c.client,
        c.def,
        c.def.path,
        &[],
        &query,
        incremental,
        c.meter,
        |records, _| {
            let mut all = c.lock();
            let flow = all.write(c, k, records)?;
            if let Some((cut, to)) = all.cut(c) {
                let half = Window {
                    lower: all.slices[cut].from,
                    upper: Some(to),
                    ..*c.window
                };
                drop(all);
                s.spawn(move || chain(s, c, cut, half, true));
            }
            Ok(flow)
        },
    );
    let mut all = c.lock();
    match result {
        Ok(Listed::Denied(e)) if k == 0 && all.slices[0].reached.is_none() => {
            all.slices[0].done = true;
            Listed::Denied(e)
        }
        result => {
            all.finished(c.window, k, result);
            Listed::Done
        }
    }
}

impl Slices<'_, '_> {
    /// Writes a page of slice `k`, what of it comes before the slice's cut, and the checkpoint
    /// that allows; `Enough` once the page reached the cut.
    fn write(
        &mut self,
        c: &Chains,
        k: usize,
        records: Vec<(Record<'_>, Option<DateTime<Utc>>)>,
    ) -> Result<Flow> {
        if self.failure.is_some() {
            return Err(anyhow!("another time slice of {} failed", c.def.name));
        }
        let page = records.len() as i64;
        let mine = Window {
            upper: self.slices[k].cut.or(c.window.upper),
            ..*c.window
        };
        let mut flow = Flow::More;
        let mut reached = self.slices[k].reached;
        let mut written = 0;
        let mut first = self.slices[k].first;
        for (mut record, t) in records {
            if mine.place(t) == Place::After {
                flow = Flow::Enough;
                break;
            }
            reached = reached.max(t);
            first = first.or(t);
            c.def
                .mark_archive(&mut record, c.archived, None, self.out.deleted_at());
            self.em.emit(self.out, record)?;
            written += 1;
        }
        let slice = &mut self.slices[k];
        slice.reached = reached;
        slice.first = first;
        slice.records += written;
        slice.most = slice.most.max(page);
        self.checkpoint(c.window)?;
        Ok(flow)
    }

    /// A checkpoint at how far the earliest unfinished slice got: every record before it is
    /// written. None once every slice is done (the stream's final state follows).
    fn checkpoint(&mut self, window: &Window) -> Result<()> {
        let earliest = self
            .slices
            .iter()
            .filter(|s| !s.done)
            .min_by_key(|s| s.from);
        let Some(s) = earliest else {
            return Ok(());
        };
        let at = s.reached.unwrap_or(s.from).max(window.lower);
        self.em.checkpoint(self.out, at)
    }

    fn finished(&mut self, window: &Window, k: usize, result: Result<Listed>) {
        self.slices[k].done = true;
        let failed = match result {
            Ok(Listed::Done) => None,
            Ok(Listed::Denied(e)) => Some(
                anyhow::Error::new(e)
                    .context("a time slice was refused although the list was served before"),
            ),
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            self.failure.get_or_insert(e);
        } else if let Err(e) = self.checkpoint(window) {
            self.failure.get_or_insert(e);
        }
    }

    /// When the client has room for more requests than it has in flight: the slice with the
    /// most pages left seemingly, cut at the middle of what it has left. Gives the new slice's
    /// index and the end of its range.
    fn cut(&mut self, c: &Chains) -> Option<(usize, DateTime<Utc>)> {
        let end = c.end?;
        let running = self.slices.iter().filter(|s| !s.done && !s.last).count();
        if self.failure.is_some()
            || running >= MOST
            || c.client.in_flight() + ROOM > c.client.parallelism()
        {
            return None;
        }
        // Pages left, guessed from how many records a second of update time held so far.
        let left = |s: &Slice| -> Option<(i64, DateTime<Utc>, DateTime<Utc>)> {
            let (false, false, Some(reached)) = (s.done, s.last, s.reached) else {
                return None;
            };
            let to = s.cut.unwrap_or(end);
            let from = time::floor_second(reached) + TimeDelta::seconds(1);
            let seconds = (to - from).num_seconds();
            let span = (reached - s.first.unwrap_or(s.from)).num_seconds().max(1);
            let pages = seconds.saturating_mul(s.records) / span / s.most.max(1);
            (seconds >= 2).then_some((pages, from, to))
        };
        let (k, (pages, from, to)) = self
            .slices
            .iter()
            .enumerate()
            .filter_map(|(k, s)| left(s).map(|l| (k, l)))
            .max_by_key(|(_, (pages, _, _))| *pages)?;
        if pages < PAGES_TO_CUT {
            return None;
        }
        let middle = from + TimeDelta::seconds((to - from).num_seconds() / 2);
        if self.slices[k].cut.is_none() && c.window.upper.is_none() {
            // A full refresh's first cut: what comes after the moment it began is read last.
            let mut after = Slice::new(end, None);
            after.last = true;
            self.slices.push(after);
        }
        self.slices[k].cut = Some(middle);
        self.slices.push(Slice::new(middle, Some(to)));
        Some((self.slices.len() - 1, to))
    }
}
