//! The requests of one list: its query (window, sort, limit), page after page, each page's
//! records filtered to the window, stopping early where the sort order allows.

use std::collections::HashMap;
use std::thread::ScopedJoinHandle;

use anyhow::Result;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;

use super::meter::Meter;
use super::paging::{parse_page, Pager};
use super::window::{Place, Window};
use crate::http::{Client, HttpError};
use crate::streams::page::Envelope;
use crate::streams::record::Record;
use crate::streams::{time, ServerFilter, Sort, StreamDef};

/// How a listing ended.
pub(super) enum Listed {
    Done,
    /// The first page was refused in a way that means "you may not read this".
    Denied(HttpError),
}

/// What a page's reader says of the rest of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    More,
    /// The reader has what it needs of this list (a time slice read by others starts here).
    Enough,
}

/// How reading a stream ended, short of failing.
pub(super) enum Ended {
    /// Every record it may read was read.
    Read,
    /// The token's user may not read it at all: why.
    Skipped(String),
}

/// Every record of a stream, written nowhere: what the field definitions are read with.
/// The inner `Err` says why the user may not read it. `meter` counts what it asked.
pub fn fetch_all(
    client: &Client,
    def: &StreamDef,
    meter: &Meter,
) -> Result<std::result::Result<Vec<Value>, String>> {
    let mut records = Vec::new();
    let everything = Window::full_refresh(DateTime::<Utc>::MIN_UTC);
    let listed = list(
        client,
        def,
        def.path,
        &[],
        &everything,
        false,
        meter,
        |page, _| {
            records.extend(page.into_iter().map(|(r, _)| r.into_value()));
            Ok(())
        },
    )?;
    Ok(match listed {
        Listed::Done => Ok(records),
        Listed::Denied(e) => Err(e.to_string()),
    })
}

/// The query parameters of each pass over a list: one pass, or one per value of its `each`
/// (and one without it last, where the row asks for a `plain_pass`).
pub(super) fn passes(def: &StreamDef) -> Vec<Vec<(&'static str, String)>> {
    match def.each {
        None => vec![Vec::new()],
        Some((param, values)) => {
            let mut passes: Vec<_> = values
                .iter()
                .map(|v| vec![(param, v.to_string())])
                .collect();
            if def.plain_pass {
                passes.push(Vec::new());
            }
            passes
        }
    }
}

/// Pages through one list, calling `on_page` with each page's new records that fall in
/// `window` (with their update times, v1 times already rewritten) and the latest update time
/// among them. Stops early where the sort order says the rest is outside the window. Where
/// each page starts and when the list ends is `paging`'s to say. Each request that reached
/// Pipedrive is counted on `meter`, at the list's token cost.
#[allow(clippy::too_many_arguments)]
pub(super) fn list(
    client: &Client,
    def: &StreamDef,
    path: &str,
    extra: &[(&'static str, String)],
    window: &Window,
    incremental: bool,
    meter: &Meter,
    mut on_page: impl FnMut(
        Vec<(Record<'_>, Option<DateTime<Utc>>)>,
        Option<DateTime<Utc>>,
    ) -> Result<()>,
) -> Result<Listed> {
    list_until(
        client,
        def,
        path,
        extra,
        window,
        incremental,
        meter,
        |page: Vec<(Record<'_>, Option<DateTime<Utc>>)>, last| {
            on_page(page, last).map(|()| Flow::More)
        },
    )
}

/// `list`, where the page's reader may end the list early (`Flow::Enough`).
#[allow(clippy::too_many_arguments)]
pub(super) fn list_until(
    client: &Client,
    def: &StreamDef,
    path: &str,
    extra: &[(&'static str, String)],
    window: &Window,
    incremental: bool,
    meter: &Meter,
    mut on_page: impl FnMut(
        Vec<(Record<'_>, Option<DateTime<Utc>>)>,
        Option<DateTime<Utc>>,
    ) -> Result<Flow>,
) -> Result<Listed> {
    let mut base = base_query(def, window, incremental);
    base.extend(extra.iter().cloned());
    let mut pager = Pager::new(def, window);
    let mut first = true;
    let mut pages = 0usize;
    std::thread::scope(|s| {
        // Pages of a plain offset list asked for ahead (`Pager::guess_ahead`), by their query.
        // An answer asked early is used only for the very request the pager then makes, and is
        // checked like any other (the overlap of one record): when it was asked does not
        // matter, what it holds does.
        let mut early: HashMap<String, ScopedJoinHandle<'_, Result<String, HttpError>>> =
            HashMap::new();
        loop {
            let query = with_params(&base, pager.params());
            // Set by the one parse of the page that succeeds: whether the list goes on, or why
            // the listing cannot.
            let mut outcome: Option<Result<bool>> = None;
            let mut read = |text: &str| -> std::result::Result<(), serde_json::Error> {
                let envelope = Envelope::parse(text)?;
                outcome = Some(read_page(def, window, envelope, &mut pager, &mut on_page));
                Ok(())
            };
            let asked_early = early
                .remove(&format!("{query:?}"))
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            let fetched = match asked_early {
                Some(Ok(text)) if read(&text).is_ok() => Ok(()),
                // Not asked early, or that answer is of no use: ask now.
                _ => {
                    let fetched = client.get_text(path, &query, def.tokens, &mut read);
                    meter.answered(def.tokens, &fetched);
                    fetched.map(|_| ())
                }
            };
            match fetched {
                Ok(()) => {}
                Err(e) if first && may_not_read(&e) => return Ok(Listed::Denied(e)),
                Err(e) => return Err(e.into()),
            }
            first = false;
            if !outcome.expect("set when the page parsed")? {
                return Ok(Listed::Done);
            }
            // While the window has room: the pages after the next one, if the list goes on; as
            // many as half the pages read so far (a short list asks nothing ahead, a long one
            // up to `AHEAD`: what may be asked past its end).
            pages += 1;
            let room = client
                .parallelism()
                .saturating_sub(client.in_flight() + 1)
                .min(AHEAD)
                .min(pages.saturating_sub(1) / 2);
            for params in pager.guess_ahead(room) {
                let q = with_params(&base, params);
                let key = format!("{q:?}");
                if early.contains_key(&key) {
                    continue;
                }
                early.insert(
                    key,
                    s.spawn(move || {
                        let answer = client.get_text(path, &q, def.tokens, |t| Ok(t.to_string()));
                        meter.answered(def.tokens, &answer);
                        answer.map(|a| a.body)
                    }),
                );
            }
        }
    })
}

/// At most this many pages of one list asked for ahead.
const AHEAD: usize = 6;

/// `base` with the pager's parameters in place of (or after) its own.
fn with_params(
    base: &[(&'static str, String)],
    params: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    let mut query = base.to_vec();
    for (k, v) in params {
        match query.iter_mut().find(|(name, _)| *name == k) {
            Some(param) => param.1 = v,
            None => query.push((k, v)),
        }
    }
    query
}

/// One page's new records in `window` to `on_page`; whether the list goes on after it.
fn read_page(
    def: &StreamDef,
    window: &Window,
    envelope: Envelope,
    pager: &mut Pager,
    on_page: &mut impl FnMut(
        Vec<(Record<'_>, Option<DateTime<Utc>>)>,
        Option<DateTime<Utc>>,
    ) -> Result<Flow>,
) -> Result<bool> {
    let v1_times = def.v1_time_fields();
    let page = parse_page(def.paging, def.records, envelope)?;
    let Some(from) = pager.locate(def, &page.records)? else {
        return Ok(true);
    };
    let tail = pager.tail(def, &page.records);
    let mut past_window = false;
    let mut kept = Vec::with_capacity(page.records.len());
    let mut last = None;
    for mut record in page.records.into_iter().skip(from) {
        if !v1_times.is_empty() {
            record.normalize_v1(v1_times);
        }
        let t = def.cursor.and_then(|f| record.time(f));
        match (window.place(t), def.sort) {
            (Place::Before, Sort::Descending(_)) | (Place::After, Sort::Ascending(_)) => {
                past_window = true;
                break;
            }
            (Place::Before | Place::After, _) => continue,
            (Place::In, _) => {}
        }
        last = last.max(t);
        kept.push((record, t));
    }
    let flow = on_page(kept, last)?;
    if past_window || flow == Flow::Enough {
        return Ok(false);
    }
    pager.advance(tail, from, page.ahead)
}

/// 402/403/404/410 with Pipedrive's JSON envelope on a stream's first page: the account or the
/// token's user has no access to this resource. An HTML 403 is the CDN blocking us, not that.
fn may_not_read(e: &HttpError) -> bool {
    matches!(e, HttpError::Status { status: 402 | 403 | 404 | 410, message, .. } if !message.contains("HTML page"))
}

fn base_query(def: &StreamDef, window: &Window, incremental: bool) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = Vec::new();
    if let Some(limit) = def.paging.limit() {
        q.push(("limit", limit.to_string()));
    }
    for (k, v) in def.sort.params().iter().chain(def.params) {
        q.push((k, v.to_string()));
    }
    // Whole seconds, rounded down: Pipedrive's filters take seconds, and rounding down only
    // widens the window.
    let secs = |t: DateTime<Utc>| time::format(time::floor_second(t));
    match def.filter {
        ServerFilter::None => {}
        ServerFilter::Since => q.push(("updated_since", secs(window.lower))),
        ServerFilter::SinceUntil => {
            q.push(("updated_since", secs(window.lower)));
            if let (true, Some(u)) = (incremental, window.upper) {
                // `updated_until` is exclusive; a fraction of a second is rounded up so that the
                // part of the second before `upper` is inside.
                let up = u.duration_round_up(TimeDelta::seconds(1)).unwrap_or(u);
                q.push(("updated_until", time::format(up)));
            }
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn queries_carry_window_sort_and_limit() {
        let deals = crate::streams::find("deals").unwrap();
        let w = Window::incremental(
            t("2024-01-01T00:00:00Z"),
            None,
            t("2025-01-01T00:00:00.300Z"),
        );
        let q = base_query(deals, &w, true);
        let get = |k: &str| q.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("limit"), Some("500"));
        assert_eq!(get("sort_by"), Some("update_time"));
        assert_eq!(get("sort_direction"), Some("asc"));
        assert_eq!(get("status"), Some("open,won,lost,deleted"));
        assert_eq!(get("updated_since"), Some("2024-01-01T00:00:00Z"));
        assert_eq!(get("updated_until"), Some("2025-01-01T00:00:01Z"));
        let full = base_query(
            deals,
            &Window::full_refresh(t("2024-01-01T00:00:00Z")),
            false,
        );
        assert!(!full.iter().any(|(k, _)| *k == "updated_until"));
    }
}
