//! Where the next page starts and where a list ends, for every list alike, so that no list
//! can skip a record while the CRM changes under the sync (the engine's module docs say why).
//!
//! - Cursor lists follow `next_cursor` until it is null or absent; a cursor that comes back
//!   (A, B, A) fails the listing instead of paging for ever.
//! - Offset lists ask each page to begin with the last record of the one before (an overlap
//!   of one) and check that it does. Lists sorted oldest first and filtered by `updated_since`
//!   page by keyset: the next request filters from the whole second of that record and starts
//!   at its place within that second; a page that does not begin with it means records of
//!   that second left the list, and the second is read again from its start. Other offset
//!   lists look for the record in the page, then further back (doubling the step), and read
//!   the list again from the start when it cannot be found. Restarts are bounded.
//! - An offset list ends when the server says `more_items_in_collection: false`, or, where it
//!   says nothing, at a page with no record not seen before; never at a short page.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::window::Window;
use crate::streams::page::{Envelope, Found};
use crate::streams::record::Record;
use crate::streams::{time, Paging, Records, ServerFilter, Sort, StreamDef};

/// How often one listing may start over (a second again, or the whole list) because the
/// records it checks against moved; past that it fails rather than risk a skip.
const MAX_RESTARTS: u32 = 10;

/// A page's records and what the answer says of the pages after it.
pub(super) struct Page<'a> {
    pub(super) records: Vec<Record<'a>>,
    pub(super) ahead: Ahead,
}

/// What an answer says of the pages after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ahead {
    /// A list served whole.
    Nothing,
    /// `additional_data.next_cursor`: `None` when null or empty.
    Cursor(Option<String>),
    /// A cursor list's answer without `additional_data.next_cursor`: it does not say whether
    /// more follow. A short page ends the list (some official models, installments', have no
    /// `next_cursor`); a full one fails it, never ending it silently.
    Unsaid,
    /// `more_items_in_collection`: `None` when the answer has no pagination block.
    More(Option<bool>),
}

pub(super) fn parse_page<'a>(
    paging: Paging,
    shape: Records,
    mut envelope: Envelope<'a>,
) -> Result<Page<'a>> {
    if envelope.success == Some(json!(false)) {
        let err = envelope
            .error
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        bail!("Pipedrive answered success=false: {err}");
    }
    let extra = std::mem::take(&mut envelope.additional_data);
    let (at, found) = match shape {
        Records::Data => ("data", envelope.list()),
        Records::Nested(field) => ("data.<field>", envelope.nested(field)?),
        Records::Object => ("data", envelope.object()),
    };
    let records = match found {
        Found::Records(r) => r,
        Found::Nothing => Vec::new(),
        Found::Not(kind) => bail!("`{at}` is {kind}, not a list"),
    };
    Ok(Page {
        records,
        ahead: ahead(paging, &extra)?,
    })
}

fn ahead(paging: Paging, extra: &Value) -> Result<Ahead> {
    Ok(match paging {
        Paging::Single => Ahead::Nothing,
        Paging::Cursor { .. } if extra.get("next_cursor").is_none() => Ahead::Unsaid,
        Paging::Cursor { .. } => Ahead::Cursor(match &extra["next_cursor"] {
            Value::String(c) if !c.is_empty() => Some(c.clone()),
            Value::Null | Value::String(_) => None,
            other => bail!(
                "`additional_data.next_cursor` is {}, not a string",
                kind(other)
            ),
        }),
        // Most v1 lists nest `pagination`; leads put its fields in `additional_data` itself;
        // a few (mail threads, permission set assignments) say nothing.
        Paging::Offset { .. } => {
            let p = if extra["pagination"].is_object() {
                &extra["pagination"]
            } else {
                extra
            };
            Ahead::More(p["more_items_in_collection"].as_bool())
        }
    })
}

/// Where one listing stands: what its next request asks for, and the rules that move it on.
pub(super) enum Pager {
    Single,
    Cursor(Cursors),
    Offset(Offsets),
}

impl Pager {
    pub(super) fn new(def: &StreamDef, window: &Window) -> Pager {
        match def.paging {
            Paging::Single => Pager::Single,
            Paging::Cursor { limit } => Pager::Cursor(Cursors::new(limit)),
            Paging::Offset { .. } => {
                let keyset = def.cursor.is_some()
                    && def.filter != ServerFilter::None
                    && matches!(def.sort, Sort::Ascending(_));
                Pager::Offset(Offsets::new(keyset.then(|| second(window.lower))))
            }
        }
    }

    /// The paging parameters of the next request. An offset list read by keyset also moves its
    /// `updated_since` (whole seconds), which replaces the window's in the query.
    pub(super) fn params(&self) -> Vec<(&'static str, String)> {
        match self {
            Pager::Single => Vec::new(),
            Pager::Cursor(c) => c.next.iter().map(|c| ("cursor", c.clone())).collect(),
            Pager::Offset(o) => {
                let mut q = vec![("start", o.start.to_string())];
                if let Some(s) = o.since.and_then(|s| DateTime::from_timestamp(s, 0)) {
                    q.push(("updated_since", time::format(s)));
                }
                q
            }
        }
    }

    /// The paging parameters of the `n` requests after the next one, if the list goes on as it
    /// has (pages as long as the last, nothing moved): what may be asked for ahead, while the
    /// pages before are read. Only plain offset lists can say (a cursor comes with its page; a
    /// keyset offset list's next second with its page too), and only while the last page held
    /// the record it was checked against where it was expected.
    pub(super) fn guess_ahead(&self, n: usize) -> Vec<Vec<(&'static str, String)>> {
        let Pager::Offset(o) = self else {
            return Vec::new();
        };
        match &o.anchor {
            Some(a) if !o.keyset && a.back == 0 && a.span > 1 => (1..=n as u64)
                .map(|j| vec![("start", (o.start + (a.span - 1) * j).to_string())])
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Where this page's new records begin; `None`: the page is not to be read, and the next
    /// request says what to ask for instead.
    pub(super) fn locate(&mut self, def: &StreamDef, records: &[Record]) -> Result<Option<usize>> {
        match self {
            Pager::Offset(o) => o.locate(records.len(), |i| identity(def, &records[i])),
            Pager::Single | Pager::Cursor(_) => Ok(Some(0)),
        }
    }

    /// What the next request needs to know of this page, taken before its records are used.
    pub(super) fn tail(&self, def: &StreamDef, records: &[Record]) -> Tail {
        match self {
            Pager::Offset(_) => Tail::of(
                records.len(),
                |i| identity(def, &records[i]),
                |i| def.cursor.and_then(|c| records[i].time(c)).map(second),
            ),
            _ => Tail {
                len: records.len(),
                ..Tail::default()
            },
        }
    }

    /// Moves on past a page whose new records began at `from`: `false` once the list ends.
    pub(super) fn advance(&mut self, tail: Tail, from: usize, ahead: Ahead) -> Result<bool> {
        match (self, ahead) {
            (Pager::Single, _) => Ok(false),
            (Pager::Cursor(c), Ahead::Cursor(next)) => c.advance(next),
            (Pager::Cursor(c), Ahead::Unsaid) => c.unsaid(tail.len),
            (Pager::Offset(o), Ahead::More(more)) => o.advance(&tail, from, more),
            (_, ahead) => bail!("a page of an unexpected shape: {ahead:?}"),
        }
    }
}

/// The whole second a time falls in, rounded down: what Pipedrive's filters compare.
fn second(t: DateTime<Utc>) -> i64 {
    time::floor_second(t).timestamp()
}

/// Who a record is, as the overlap check compares it: its primary key and update time as the
/// API wrote them (a record edited since is another record: it moved), or its whole text when
/// it carries no part of its key.
fn identity(def: &StreamDef, record: &Record) -> String {
    let parts: Vec<Option<&RawValue>> = def
        .primary_key
        .iter()
        .chain(def.cursor.iter())
        .map(|k| record.raw(k))
        .collect();
    if def.primary_key.iter().all(|k| record.raw(k).is_none()) {
        return serde_json::to_string(record).unwrap_or_default();
    }
    parts
        .iter()
        .map(|p| p.map_or("", RawValue::get))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Cursor lists: the next cursor, and every cursor already followed (as hashes, so a list of
/// millions of records keeps a few kilobytes).
#[derive(Debug, Default)]
pub(super) struct Cursors {
    /// The page size asked for: a page this long is full.
    limit: u32,
    next: Option<String>,
    seen: HashSet<u64>,
}

impl Cursors {
    pub(super) fn new(limit: u32) -> Cursors {
        Cursors {
            limit,
            ..Cursors::default()
        }
    }

    /// After a page of `len` records whose answer said nothing of a next cursor: a short page
    /// ends the list; a full one may have more behind it, which ending here would drop
    /// silently, so the listing fails instead.
    fn unsaid(&self, len: usize) -> Result<bool> {
        if len < self.limit as usize {
            return Ok(false);
        }
        bail!(
            "a full page ({len} records, the {} asked for) came without \
             `additional_data.next_cursor`, so it does not say whether more follow; failing the \
             stream rather than ending it after {} page(s) without knowing",
            self.limit,
            self.seen.len() + 1
        )
    }

    fn advance(&mut self, next: Option<String>) -> Result<bool> {
        let Some(c) = next else { return Ok(false) };
        let mut h = DefaultHasher::new();
        c.hash(&mut h);
        if !self.seen.insert(h.finish()) {
            bail!(
                "the API answered next_cursor {c} again, after {} other page(s): its pages go \
                 round in a circle; stopping instead of reading them for ever",
                self.seen.len()
            );
        }
        self.next = Some(c);
        Ok(true)
    }
}

/// What the next offset request needs of a page: its length, its last record, and how many
/// records at its end share that record's second.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Tail {
    len: usize,
    last: Option<String>,
    second: Option<i64>,
    run: usize,
}

impl Tail {
    pub(super) fn of(
        len: usize,
        id: impl Fn(usize) -> String,
        second: impl Fn(usize) -> Option<i64>,
    ) -> Tail {
        let Some(end) = len.checked_sub(1) else {
            return Tail::default();
        };
        let s = second(end);
        let run = match s {
            Some(_) => (0..len).rev().take_while(|&i| second(i) == s).count(),
            None => 0,
        };
        Tail {
            len,
            last: Some(id(end)),
            second: s,
            run,
        }
    }
}

/// The record the next offset page must hold: who it is, and where it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Anchor {
    id: String,
    /// Its position in the list (keyset: within its second's `updated_since` list).
    at: u64,
    /// How far before `at` the request now starts, while looking for it (0: at `at`).
    back: u64,
    /// The length of the page it ended, the widest step back that leaves no gap.
    span: u64,
}

/// Offset paging with an overlap of one record, checked on every page (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Offsets {
    /// Keyset paging: the `updated_since` of the next request, in whole seconds.
    since: Option<i64>,
    keyset: bool,
    start: u64,
    anchor: Option<Anchor>,
    restarts: u32,
}

impl Offsets {
    /// Keyset paging from `since` (whole seconds) when given, plain offsets otherwise.
    pub(super) fn new(since: Option<i64>) -> Offsets {
        Offsets {
            since,
            keyset: since.is_some(),
            start: 0,
            anchor: None,
            restarts: 0,
        }
    }

    /// Checks the page (of `len` records, `id(i)` being who the i-th is) against the record
    /// it must hold. `Some(i)`: its new records begin at i. `None`: ask again, from where
    /// `start` now says.
    pub(super) fn locate(
        &mut self,
        len: usize,
        id: impl Fn(usize) -> String,
    ) -> Result<Option<usize>> {
        let Some(anchor) = &mut self.anchor else {
            return Ok(Some(0));
        };
        if self.keyset {
            if len > 0 && id(0) == anchor.id {
                return Ok(Some(1));
            }
            // Records of the anchor's second left the list, or it did: read that second again.
            self.restart()?;
            return Ok(None);
        }
        if let Some(j) = (0..len).find(|&i| id(i) == anchor.id) {
            return Ok(Some(j + 1));
        }
        if self.start == 0 {
            // Not even at the list's start: it changed itself. This page is the start again.
            self.restart()?;
            return Ok(Some(0));
        }
        anchor.back = (anchor.back * 2).max(2);
        if anchor.back > anchor.span {
            self.restart()?;
        } else {
            self.start = anchor.at.saturating_sub(anchor.back);
        }
        Ok(None)
    }

    /// Moves past a page whose new records began at `from`, `more` being what the server says
    /// of the rest. `false` once the list ends: the server says so, or, where it says nothing,
    /// the page is empty or holds only the record it was checked against. (A page whose only
    /// record after others is that record says that records moved, not that the list ended.)
    pub(super) fn advance(&mut self, tail: &Tail, from: usize, more: Option<bool>) -> Result<bool> {
        let nothing_new = tail.len <= from && from <= 1;
        match more {
            Some(false) => return Ok(false),
            None if nothing_new => return Ok(false),
            _ => {}
        }
        let Some(last) = &tail.last else {
            bail!(
                "the API says there is more after start {} but served no record; stopping \
                 instead of asking again",
                self.start
            );
        };
        let asked = (
            self.since,
            self.start,
            self.anchor.as_ref().map(|a| a.id.clone()),
        );
        match (self.keyset, tail.second) {
            (true, Some(s)) if Some(s) != self.since => {
                self.since = Some(s);
                self.start = tail.run as u64 - 1;
            }
            _ => self.start += tail.len as u64 - 1,
        }
        self.anchor = Some(Anchor {
            id: last.clone(),
            at: self.start,
            back: 0,
            span: tail.len as u64,
        });
        if asked == (self.since, self.start, Some(last.clone())) {
            bail!(
                "the API served the same page again (start {}) while saying there is more; \
                 stopping instead of looping",
                self.start
            );
        }
        Ok(true)
    }

    fn restart(&mut self) -> Result<()> {
        self.restarts += 1;
        if self.restarts > MAX_RESTARTS {
            bail!(
                "the list changed under the sync {MAX_RESTARTS} times where this listing \
                 stood, and each time it started that part over; stopping rather than risk \
                 skipping a record (run the sync again)"
            );
        }
        self.start = 0;
        self.anchor = None;
        Ok(())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
