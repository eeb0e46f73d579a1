//! The read engine: turns one row of the stream table into requests, pages into records, and
//! records into RECORD and STATE messages. Records are streamed page by page, so memory does
//! not grow with the size of a stream.
//!
//! The incremental rules, which every stream shares:
//! - One sync reads the window `[lower, upper)`: `lower` is the larger of `start_date` and the
//!   saved cursor, `upper` the moment the sync started (by the server's clock when it is behind
//!   ours, so a skewed clock cannot make us skip records). Full refresh reads `[start_date, ∞)`.
//! - The server filters the window where it can; the engine filters every record again, so no
//!   record updated before `start_date` is ever emitted whatever the endpoint supports.
//! - When the server sorts by update time, each page ends with a checkpoint whose cursor is the
//!   last record's update time. Records sharing that time are read again after a restart
//!   (`updated_since` is inclusive): re-emitting is allowed, skipping is not. A STATE never
//!   precedes its records. The last STATE of a stream sets the cursor to `upper`.

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{json, Value};

use super::page::{Envelope, Found};
use super::record::Record;
use super::{time, Fanout, Paging, Parent, Records, ServerFilter, Sort, StreamDef, DELETED_AT};
use crate::error::stdout_gone;
use crate::http::{Client, HttpError};

/// How records are shaped before they are written (their custom fields); the engine knows no
/// more of it than this. `custom_fields::Shaper` is one.
pub trait Shape {
    /// Whether records need any work at all.
    fn needed(&self) -> bool;
    /// Shapes one record in place.
    fn apply(&self, record: &mut Value);
    /// Adds to a stream's checkpoint what a later sync needs to shape the same way.
    fn annotate_state(&self, state: &mut Value);
}

/// Where the engine's messages go: the one stdout writer, which the command layer hands over.
pub trait Sink {
    /// A record as the API sent it.
    fn record(&mut self, stream: &str, record: &Record) -> std::io::Result<()>;
    /// A record the engine changed (shaped, or marked deleted).
    fn record_value(&mut self, stream: &str, record: &Value) -> std::io::Result<()>;
    /// A checkpoint of `stream`, after `records_since_last` records.
    fn state(&mut self, stream: &str, state: Value, records_since_last: u64)
        -> std::io::Result<()>;
}

/// The update-time window of one stream in one sync: `[lower, upper)`, `upper` open for full
/// refresh. `start` is `start_date`, which no emitted record may precede.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub lower: DateTime<Utc>,
    pub upper: Option<DateTime<Utc>>,
}

#[derive(Debug, PartialEq, Eq)]
enum Place {
    Before,
    In,
    After,
}

impl Window {
    /// The window of an incremental stream given `start_date`, the saved cursor and the sync's start.
    pub fn incremental(
        start: DateTime<Utc>,
        cursor: Option<DateTime<Utc>>,
        upper: DateTime<Utc>,
    ) -> Window {
        Window {
            start,
            lower: cursor.map_or(start, |c| c.max(start)),
            upper: Some(upper),
        }
    }

    pub fn full_refresh(start: DateTime<Utc>) -> Window {
        Window {
            start,
            lower: start,
            upper: None,
        }
    }

    /// A record without a readable update time cannot be shown to be outside: it is kept.
    fn place(&self, t: Option<DateTime<Utc>>) -> Place {
        match t {
            Some(t) if t < self.lower => Place::Before,
            Some(t) if self.upper.is_some_and(|u| t >= u) => Place::After,
            _ => Place::In,
        }
    }

    /// The cursor saved once the whole window has been read. Never moves backwards.
    fn final_cursor(&self) -> Option<DateTime<Utc>> {
        self.upper.map(|u| u.max(self.lower))
    }

    /// Children of parents in this window: all of them, but for `start_date`.
    fn children(&self) -> Window {
        Window::full_refresh(self.start)
    }
}

/// What reading one stream gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamStats {
    pub records: u64,
    pub requests: u64,
    pub tokens: u64,
    /// Set when the stream was skipped because the token's user may not read it.
    pub skipped: Option<String>,
    /// Parents that disappeared between being listed and their children being asked for.
    pub vanished_parents: u64,
    /// The stream's last STATE, for a caller that syncs again (the `listen` reconciliation).
    pub state: Option<Value>,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PageToken {
    First,
    Cursor(String),
    Start(u64),
}

struct Page<'a> {
    records: Vec<Record<'a>>,
    next: Option<PageToken>,
}

/// How a listing ended.
enum Listed {
    Done,
    /// The first page was refused in a way that means "you may not read this".
    Denied(HttpError),
}

/// Counts one stream's records and writes its checkpoints.
struct Emitter<'a> {
    def: &'a StreamDef,
    stats: StreamStats,
    /// Custom-field shaping, when records need any.
    shaper: Option<&'a dyn Shape>,
    /// The cursor property when the stream is read incrementally.
    cursor_field: Option<&'static str>,
    since_state: u64,
}

impl<'a> Emitter<'a> {
    fn new(def: &'a StreamDef, incremental: bool, shaper: Option<&'a dyn Shape>) -> Emitter<'a> {
        Emitter {
            def,
            stats: StreamStats::default(),
            shaper: shaper.filter(|s| s.needed()),
            cursor_field: def.cursor.filter(|_| incremental),
            since_state: 0,
        }
    }

    /// Writes a record; as it came, unless custom fields are shaped or it is deleted.
    fn emit(&mut self, out: &mut dyn Sink, record: Record) -> Result<()> {
        let deleted = self
            .def
            .deletion
            .is_some_and(|d| record.get(d.field()).is_some_and(|f| d.says_deleted(&f)));
        if deleted || self.shaper.is_some() {
            let mut record = record.into_value();
            finish_record(self.def, self.shaper, &mut record);
            out.record_value(self.def.name, &record)?;
        } else {
            out.record(self.def.name, &record)?;
        }
        self.stats.records += 1;
        self.since_state += 1;
        Ok(())
    }

    /// The state of this stream with its cursor at `at`, and the custom field names handed
    /// out so far, so the next sync keeps them.
    fn state(&self, field: &str, at: DateTime<Utc>) -> Value {
        let mut state = json!({ field: time::format(at) });
        if let Some(s) = self.shaper {
            s.annotate_state(&mut state);
        }
        state
    }

    fn checkpoint(&mut self, out: &mut dyn Sink, at: DateTime<Utc>) -> Result<()> {
        if let (Some(field), true) = (self.cursor_field, self.since_state > 0) {
            let state = self.state(field, at);
            out.state(self.def.name, state, self.since_state)?;
            self.since_state = 0;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Sink, window: &Window) -> Result<()> {
        if let (Some(field), Some(at)) = (self.cursor_field, window.final_cursor()) {
            let state = self.state(field, at);
            out.state(self.def.name, state.clone(), self.since_state)?;
            self.stats.state = Some(state);
            self.since_state = 0;
        }
        Ok(())
    }

    fn count(&mut self, requests: u64, tokens_each: u32) {
        self.stats.requests += requests;
        self.stats.tokens += requests * u64::from(tokens_each);
    }
}

/// What every record goes through before it is written, whatever brought it (a page or a
/// webhook): custom fields shaped, and the soft-delete column set when it says it is deleted.
pub fn finish_record(def: &StreamDef, shaper: Option<&dyn Shape>, record: &mut Value) {
    if let Some(shaper) = shaper.filter(|s| s.needed()) {
        shaper.apply(record);
    }
    if let Some(d) = def.deletion {
        if d.is_deleted(record) {
            // v2: "if is_deleted is true, update_time is the delete time".
            let at = def
                .cursor
                .and_then(|c| record.get(c).cloned())
                .unwrap_or(Value::Null);
            record[DELETED_AT] = at;
        }
    }
}

/// Reads one stream in `window`, writing its records (and checkpoints when `incremental`),
/// their custom fields shaped by `shaper`. `riders` are child streams read during this
/// stream's pass (see `Rider`); a stream with a parent of its own takes none.
pub fn read_stream(
    client: &Client,
    def: &StreamDef,
    incremental: bool,
    window: Window,
    shaper: Option<&dyn Shape>,
    riders: &mut [Rider],
    out: &mut dyn Sink,
) -> Result<StreamStats> {
    let mut em = Emitter::new(def, incremental, shaper);
    let listed = match def.parent {
        None => read_list(client, def, incremental, &window, &mut em, riders, out),
        Some(parent) => read_children(client, def, parent, incremental, &window, &mut em, out),
    };
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => {
            for r in riders.iter_mut() {
                r.parent_failed(def, &e);
            }
            return Err(e);
        }
    };
    if let Listed::Denied(e) = listed {
        for r in riders.iter_mut() {
            r.end.get_or_insert(RiderEnd::Denied(format!(
                "its parent stream {} may not be read: {e}",
                def.name
            )));
        }
        em.stats.skipped = Some(e.to_string());
        return Ok(em.stats);
    }
    em.finish(out, &window)?;
    Ok(em.stats)
}

/// A child stream read along its parents' own passes instead of listing the parents again: the
/// children of each page of parents are asked for right after that page is written. It sees
/// exactly the parents it would list itself when every parent stream is read in a window that
/// holds its own (`can_ride`), in the order of `Parent::streams`. As when it reads alone, only
/// the pass over its last parent checkpoints.
pub struct Rider<'a> {
    pub def: &'a StreamDef,
    parent: Parent,
    window: Window,
    em: Emitter<'a>,
    first_child: bool,
    end: Option<RiderEnd>,
}

enum RiderEnd {
    Denied(String),
    Failed(anyhow::Error),
}

impl<'a> Rider<'a> {
    /// `None` when `def` has no parent.
    pub fn new(
        def: &'a StreamDef,
        incremental: bool,
        window: Window,
        shaper: Option<&'a dyn Shape>,
    ) -> Option<Rider<'a>> {
        Some(Rider {
            parent: def.parent?,
            def,
            window,
            em: Emitter::new(def, incremental, shaper),
            first_child: true,
            end: None,
        })
    }

    /// Whether a pass over a parent in `parent` window sees every parent a child in `child`
    /// window would list itself.
    pub fn can_ride(child: &Window, parent: &Window) -> bool {
        child.start == parent.start
            && parent.lower <= child.lower
            && match (parent.upper, child.upper) {
                (None, _) => true,
                (Some(p), Some(c)) => c <= p,
                (Some(_), None) => false,
            }
    }

    /// Reads the children of one page of parents (`parents`: ids with update times, all in
    /// the parent stream's window), checkpointing after them when `checkpoint`.
    fn ride(
        &mut self,
        client: &Client,
        parents: &[(Value, Option<DateTime<Utc>>)],
        checkpoint: bool,
        out: &mut dyn Sink,
    ) -> Result<()> {
        if self.end.is_some() {
            return Ok(());
        }
        let mine: Vec<(Value, Option<DateTime<Utc>>)> = parents
            .iter()
            .filter(|(_, t)| self.window.place(*t) == Place::In)
            .cloned()
            .collect();
        let last = mine.iter().filter_map(|(_, t)| *t).max();
        let result = fan_out(
            client,
            self.def,
            self.parent,
            &self.window,
            mine,
            &mut self.first_child,
            &mut self.em,
            out,
        )
        .and_then(|denied| {
            if let Some(e) = denied {
                self.end = Some(RiderEnd::Denied(e.to_string()));
                return Ok(());
            }
            match (checkpoint, last) {
                (true, Some(at)) => self.em.checkpoint(out, at.max(self.window.lower)),
                _ => Ok(()),
            }
        });
        match result {
            // Nothing else can be written either.
            Err(e) if stdout_gone(&e) => Err(e),
            Err(e) => {
                self.end = Some(RiderEnd::Failed(e));
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    fn parent_failed(&mut self, parent: &StreamDef, e: &anyhow::Error) {
        let cause = e
            .chain()
            .find_map(|c| c.downcast_ref::<HttpError>())
            .map_or_else(|| anyhow!("{e:#}"), |h| anyhow::Error::new(h.clone()));
        self.end.get_or_insert(RiderEnd::Failed(
            cause.context(format!("its parent stream {} failed", parent.name)),
        ));
    }

    /// After the last parent's pass: the stream's final checkpoint and what it cost, or why it
    /// could not be read. Without `parents_read` (a parent stream failed or was never read) it
    /// has not seen every parent, so it fails and keeps the checkpoints written so far.
    pub fn finish(mut self, out: &mut dyn Sink, parents_read: bool) -> Result<StreamStats> {
        match self.end.take() {
            Some(RiderEnd::Failed(e)) => Err(e),
            Some(RiderEnd::Denied(reason)) => {
                self.em.stats.skipped = Some(reason);
                Ok(self.em.stats)
            }
            None if !parents_read => Err(anyhow!(
                "not read to the end: one of its parent streams ({}) was not read to the end",
                self.parent.streams.join(", ")
            )),
            None => {
                self.em.finish(out, &self.window)?;
                Ok(self.em.stats)
            }
        }
    }
}

/// Every record of a stream, written nowhere: what the field definitions are read with.
/// The inner `Err` says why the user may not read it. `requests` counts what it asked.
pub fn fetch_all(
    client: &Client,
    def: &StreamDef,
    requests: &mut u64,
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
        requests,
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

/// A stream of its own: every page's records in the window, a checkpoint after each page when
/// the records come oldest first and the stream is read in one pass; then each rider's
/// children of that page.
fn read_list(
    client: &Client,
    def: &StreamDef,
    incremental: bool,
    window: &Window,
    em: &mut Emitter,
    riders: &mut [Rider],
    out: &mut dyn Sink,
) -> Result<Listed> {
    let passes = passes(def);
    let per_page = def.checkpoints_per_page() && passes.len() == 1;
    let last_pass = passes.len();
    for (i, extra) in passes.into_iter().enumerate() {
        // A rider checkpoints only on the last pass over its last parent, as when it reads alone.
        let rider_checkpoints: Vec<bool> = riders
            .iter()
            .map(|r| {
                def.checkpoints_per_page()
                    && i + 1 == last_pass
                    && r.parent.streams.last() == Some(&def.name)
            })
            .collect();
        let mut requests = 0;
        let listed = list(
            client,
            def,
            def.path,
            &extra,
            window,
            incremental,
            &mut requests,
            |records, last| {
                let parents: Vec<(Value, Option<DateTime<Utc>>)> = if riders.is_empty() {
                    Vec::new()
                } else {
                    records
                        .iter()
                        .map(|(r, t)| (r.get("id").unwrap_or(Value::Null), *t))
                        .collect()
                };
                for (record, _) in records {
                    em.emit(out, record)?;
                }
                if let (true, Some(at)) = (per_page, last) {
                    em.checkpoint(out, at.max(window.lower))?;
                }
                for (rider, checkpoint) in riders.iter_mut().zip(&rider_checkpoints) {
                    rider.ride(client, &parents, *checkpoint, out)?;
                }
                Ok(())
            },
        );
        em.count(requests, def.tokens);
        if let Listed::Denied(e) = listed? {
            return Ok(Listed::Denied(e));
        }
    }
    Ok(Listed::Done)
}

/// A stream read through its parents: list the parents in the window, then ask for their
/// children, in batches where the API takes many ids. Only the last parent stream's pass
/// checkpoints: a restart from its cursor re-lists the earlier parents from there, and those
/// earlier passes had finished.
fn read_children(
    client: &Client,
    def: &StreamDef,
    parent: Parent,
    incremental: bool,
    window: &Window,
    em: &mut Emitter,
    out: &mut dyn Sink,
) -> Result<Listed> {
    let mut first_child = true;
    let mut jobs = Vec::new();
    for name in parent.streams {
        let pdef = super::find(name)
            .ok_or_else(|| anyhow!("{}: unknown parent stream {name}", def.name))?;
        jobs.extend(passes(pdef).into_iter().map(|extra| (pdef, extra)));
    }
    let last_job = jobs.len();
    for (i, (pdef, extra)) in jobs.into_iter().enumerate() {
        let per_page = pdef.checkpoints_per_page() && i + 1 == last_job;
        let mut parent_requests = 0;
        let mut denied: Option<HttpError> = None;
        let listed = list(
            client,
            pdef,
            pdef.path,
            &extra,
            window,
            incremental,
            &mut parent_requests,
            |parents, last| {
                let parents = parents
                    .into_iter()
                    .map(|(p, t)| (p.get("id").unwrap_or(Value::Null), t))
                    .collect();
                denied = fan_out(
                    client,
                    def,
                    parent,
                    window,
                    parents,
                    &mut first_child,
                    em,
                    out,
                )?;
                if denied.is_some() {
                    return Err(anyhow!("denied"));
                }
                match (per_page, last) {
                    (true, Some(at)) => em.checkpoint(out, at.max(window.lower)),
                    _ => Ok(()),
                }
            },
        );
        em.count(parent_requests, pdef.tokens);
        if let Some(e) = denied {
            return Ok(Listed::Denied(e));
        }
        match listed? {
            Listed::Done => {}
            Listed::Denied(e) => return Ok(Listed::Denied(e)),
        }
    }
    Ok(Listed::Done)
}

/// Asks for the children of `parents` (ids with update times), in batches where the API takes
/// many ids, and writes them. `Some` when the stream's very first request says the token's user
/// may not read it; a parent that went away since it was listed is counted and passed over.
#[allow(clippy::too_many_arguments)]
fn fan_out(
    client: &Client,
    def: &StreamDef,
    parent: Parent,
    window: &Window,
    parents: Vec<(Value, Option<DateTime<Utc>>)>,
    first_child: &mut bool,
    em: &mut Emitter,
    out: &mut dyn Sink,
) -> Result<Option<HttpError>> {
    let child_window = window.children();
    let groups: Vec<Vec<(Value, Option<DateTime<Utc>>)>> = match parent.fanout {
        Fanout::Batch { size, .. } => parents.chunks(size).map(<[_]>::to_vec).collect(),
        Fanout::Path => parents.into_iter().map(|p| vec![p]).collect(),
    };
    for group in groups {
        let (path, extra) = match parent.fanout {
            Fanout::Batch { param, .. } => {
                let ids: Vec<String> = group.iter().map(|(id, _)| id_text(id)).collect();
                (def.path.to_string(), vec![(param, ids.join(","))])
            }
            Fanout::Path => (def.path.replace("{id}", &id_text(&group[0].0)), Vec::new()),
        };
        let mut requests = 0;
        // Only a first page is ever refused: records arrive only once the listing is allowed.
        let listed = list(
            client,
            def,
            &path,
            &extra,
            &child_window,
            false,
            &mut requests,
            |records, _| {
                for (mut child, _) in records {
                    adopt(&mut child, parent, &group);
                    em.emit(out, child)?;
                }
                Ok(())
            },
        );
        em.count(requests, def.tokens);
        match listed? {
            Listed::Done => {}
            Listed::Denied(e) if *first_child => return Ok(Some(e)),
            // The parent went away since it was listed: nothing to read for it.
            Listed::Denied(_) => {
                em.stats.vanished_parents += 1;
                continue;
            }
        }
        *first_child = false;
    }
    Ok(None)
}

/// The query parameters of each pass over a list: one pass, or one per value of its `each`.
fn passes(def: &StreamDef) -> Vec<Vec<(&'static str, String)>> {
    match def.each {
        None => vec![Vec::new()],
        Some((param, values)) => values
            .iter()
            .map(|v| vec![(param, v.to_string())])
            .collect(),
    }
}

/// Gives a child record its parent's id and update time where the stream asks for them.
fn adopt(child: &mut Record, parent: Parent, group: &[(Value, Option<DateTime<Utc>>)]) {
    let own = match (parent.id_field, group) {
        (_, [only]) => Some(only),
        (Some(field), _) => child
            .get(field)
            .and_then(|id| group.iter().find(|(p, _)| id_text(p) == id_text(&id))),
        (None, _) => None,
    };
    let Some((id, t)) = own else { return };
    if let Some(field) = parent.id_field {
        if child.get(field).is_none_or(|v| v.is_null()) {
            child.set(field, id);
        }
    }
    if let Some(field) = parent.time_field {
        child.set(
            field,
            &t.map_or(Value::Null, |t| Value::String(time::format(t))),
        );
    }
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Pages through one list, calling `on_page` with each page's records that fall in `window`
/// (with their update times, v1 times already rewritten) and the update time of the page's
/// last record. Stops early where the sort order says the rest is outside the window.
#[allow(clippy::too_many_arguments)]
fn list(
    client: &Client,
    def: &StreamDef,
    path: &str,
    extra: &[(&'static str, String)],
    window: &Window,
    incremental: bool,
    requests: &mut u64,
    mut on_page: impl FnMut(
        Vec<(Record<'_>, Option<DateTime<Utc>>)>,
        Option<DateTime<Utc>>,
    ) -> Result<()>,
) -> Result<Listed> {
    let mut base = base_query(def, window, incremental);
    base.extend(extra.iter().cloned());
    let mut token = PageToken::First;
    loop {
        let mut query = base.clone();
        match (&token, def.paging) {
            (PageToken::Cursor(c), _) => query.push(("cursor", c.clone())),
            (PageToken::Start(s), _) => query.push(("start", s.to_string())),
            (PageToken::First, Paging::Offset { .. }) => query.push(("start", "0".to_string())),
            (PageToken::First, _) => {}
        }
        *requests += 1;
        // Set by the one parse of the page that succeeds: where the next page starts, or why
        // the listing cannot go on.
        let mut outcome: Option<Result<Option<PageToken>>> = None;
        let fetched = client.get_text(path, &query, |text| {
            let envelope = Envelope::parse(text)?;
            outcome = Some(read_page(def, window, envelope, &token, &mut on_page));
            Ok(())
        });
        match fetched {
            Ok(_) => {}
            Err(e) if token == PageToken::First && may_not_read(&e) => {
                return Ok(Listed::Denied(e))
            }
            Err(e) => return Err(e.into()),
        }
        match outcome.expect("set when the page parsed")? {
            Some(next) => token = next,
            None => return Ok(Listed::Done),
        }
    }
}

/// One page's records in `window` to `on_page`; the token of the next page, `None` at the
/// end of the list or of the window.
fn read_page(
    def: &StreamDef,
    window: &Window,
    envelope: Envelope,
    token: &PageToken,
    on_page: &mut impl FnMut(
        Vec<(Record<'_>, Option<DateTime<Utc>>)>,
        Option<DateTime<Utc>>,
    ) -> Result<()>,
) -> Result<Option<PageToken>> {
    let v1_times = def.v1_time_fields();
    let page = parse_page(def.paging, def.records, envelope, token)?;
    let mut past_window = false;
    let mut kept = Vec::with_capacity(page.records.len());
    let mut last = None;
    for mut record in page.records {
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
    on_page(kept, last)?;
    Ok(page.next.filter(|_| !past_window))
}

/// 402/403/404/410 with Pipedrive's JSON envelope on a stream's first page: the account or the
/// token's user has no access to this resource. An HTML 403 is the CDN blocking us, not that.
fn may_not_read(e: &HttpError) -> bool {
    matches!(e, HttpError::Status { status: 402 | 403 | 404 | 410, message, .. } if !message.contains("HTML page"))
}

fn base_query(def: &StreamDef, window: &Window, incremental: bool) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = Vec::new();
    match def.paging {
        Paging::Cursor { limit } | Paging::Offset { limit } => q.push(("limit", limit.to_string())),
        Paging::Single => {}
    }
    for (k, v) in def.sort.params().iter().chain(def.params) {
        q.push((k, v.to_string()));
    }
    // Whole seconds, rounded down: Pipedrive's filters take seconds, and rounding down only
    // widens the window.
    let secs =
        |t: DateTime<Utc>| time::format(t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t));
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

fn parse_page<'a>(
    paging: Paging,
    shape: Records,
    mut envelope: Envelope<'a>,
    token: &PageToken,
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
    next_page(paging, &extra, records, token)
}

/// Where the page after this one starts, from its `additional_data`.
fn next_page<'a>(
    paging: Paging,
    extra: &Value,
    records: Vec<Record<'a>>,
    token: &PageToken,
) -> Result<Page<'a>> {
    let next = match paging {
        Paging::Single => None,
        Paging::Cursor { .. } => match &extra["next_cursor"] {
            Value::String(c) if !c.is_empty() => {
                if *token == PageToken::Cursor(c.clone()) {
                    bail!("the API returned the same next_cursor twice ({c}); stopping instead of looping");
                }
                Some(PageToken::Cursor(c.clone()))
            }
            Value::Null | Value::String(_) => None,
            other => bail!(
                "`additional_data.next_cursor` is {}, not a string",
                kind(other)
            ),
        },
        Paging::Offset { limit } => {
            // Most v1 lists nest `pagination`; leads put its fields in `additional_data` itself;
            // a few (mail threads, permission set assignments) say nothing, so a full page
            // means there may be more.
            let p = if extra["pagination"].is_object() {
                &extra["pagination"]
            } else {
                extra
            };
            let current = match token {
                PageToken::Start(s) => *s,
                _ => 0,
            };
            let more = match p["more_items_in_collection"].as_bool() {
                Some(more) => more,
                None => records.len() as u64 >= u64::from(limit),
            };
            if more {
                let next = p["next_start"].as_u64().unwrap_or_else(|| {
                    p["start"].as_u64().unwrap_or(current) + records.len() as u64
                });
                if next <= current {
                    bail!("the API's next_start ({next}) does not move past start ({current}); stopping instead of looping");
                }
                Some(PageToken::Start(next))
            } else {
                None
            }
        }
    };
    Ok(Page { records, next })
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

/// Reads the saved cursor of a stream from its `stream_state`, if any.
pub fn saved_cursor(def: &StreamDef, state: Option<&Value>) -> Result<Option<DateTime<Utc>>> {
    let (Some(field), Some(state)) = (def.cursor, state) else {
        return Ok(None);
    };
    match state.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => time::parse(s).map(Some).with_context(|| {
            format!(
                "stream {}: saved cursor {field} = {s:?} is not a date-time",
                def.name
            )
        }),
        Some(other) => bail!(
            "stream {}: saved cursor {field} = {other} is not a date-time string",
            def.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn window_rules() {
        let w = Window::incremental(
            t("2024-01-01T00:00:00Z"),
            Some(t("2023-06-01T00:00:00Z")),
            t("2025-01-01T00:00:00Z"),
        );
        assert_eq!(
            w.lower,
            t("2024-01-01T00:00:00Z"),
            "start_date wins over an older cursor"
        );
        assert_eq!(w.place(Some(t("2023-12-31T23:59:59Z"))), Place::Before);
        assert_eq!(
            w.place(Some(t("2024-01-01T00:00:00Z"))),
            Place::In,
            "lower bound is inclusive"
        );
        assert_eq!(
            w.place(Some(t("2025-01-01T00:00:00Z"))),
            Place::After,
            "upper bound is exclusive"
        );
        assert_eq!(w.place(None), Place::In);
        assert_eq!(w.final_cursor(), Some(t("2025-01-01T00:00:00Z")));
        let ahead = Window::incremental(
            t("2024-01-01T00:00:00Z"),
            Some(t("2026-01-01T00:00:00Z")),
            t("2025-01-01T00:00:00Z"),
        );
        assert_eq!(
            ahead.final_cursor(),
            Some(t("2026-01-01T00:00:00Z")),
            "a cursor never moves back"
        );
        assert_eq!(
            Window::full_refresh(t("2024-01-01T00:00:00Z")).place(Some(t("2099-01-01T00:00:00Z"))),
            Place::In
        );
    }

    /// A page's records (as text) and next token, from a body given as a `Value`.
    struct Parsed {
        records: Vec<String>,
        next: Option<PageToken>,
    }

    fn page(paging: Paging, shape: Records, body: Value, token: &PageToken) -> Result<Parsed> {
        let text = body.to_string();
        let p = parse_page(paging, shape, Envelope::parse(&text)?, token)?;
        Ok(Parsed {
            records: p
                .records
                .iter()
                .map(|r| serde_json::to_string(r).unwrap())
                .collect(),
            next: p.next,
        })
    }

    #[test]
    fn every_shape_of_data() {
        let nested = page(
            Paging::Single,
            Records::Nested("goals"),
            json!({"success": true, "data": {"goals": [{"id": "g1"}, {"id": "g2"}]}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(nested.records, [r#"{"id":"g1"}"#, r#"{"id":"g2"}"#]);
        let one = page(
            Paging::Single,
            Records::Object,
            json!({"success": true, "data": {"can_add": true}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(one.records, [r#"{"can_add":true}"#]);
        for empty in [
            json!({"success": true, "data": null}),
            json!({"success": true}),
        ] {
            for shape in [Records::Data, Records::Nested("goals"), Records::Object] {
                let p = page(Paging::Single, shape, empty.clone(), &PageToken::First).unwrap();
                assert!(p.records.is_empty(), "{empty} {shape:?}");
            }
        }
        let no_goals = json!({"success": true, "data": {"goals": null}});
        let p = page(
            Paging::Single,
            Records::Nested("goals"),
            no_goals,
            &PageToken::First,
        );
        assert!(p.unwrap().records.is_empty());
        let err = page(
            Paging::Single,
            Records::Data,
            json!({"data": {"a": 1}}),
            &PageToken::First,
        );
        assert!(format!("{:#}", err.err().unwrap()).contains("is an object, not a list"));
    }

    #[test]
    fn v2_cursor_pages() {
        let p = page(
            Paging::Cursor { limit: 500 },
            Records::Data,
            json!({"success": true, "data": [{"id": 1}], "additional_data": {"next_cursor": "abc"}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.next, Some(PageToken::Cursor("abc".into())));
        let end = page(
            Paging::Cursor { limit: 500 },
            Records::Data,
            json!({"success": true, "data": [], "additional_data": {"next_cursor": null}}),
            &PageToken::Cursor("abc".into()),
        )
        .unwrap();
        assert_eq!(end.next, None);
        let looping = page(
            Paging::Cursor { limit: 500 },
            Records::Data,
            json!({"success": true, "data": [], "additional_data": {"next_cursor": "abc"}}),
            &PageToken::Cursor("abc".into()),
        );
        assert!(looping.is_err());
    }

    #[test]
    fn v1_offset_pages() {
        let p = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": [{"id": 1}, {"id": 2}], "additional_data": {"pagination": {"start": 0, "limit": 2, "more_items_in_collection": true, "next_start": 2}}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(p.next, Some(PageToken::Start(2)));
        let empty = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": null, "additional_data": {"pagination": {"start": 2, "limit": 2, "more_items_in_collection": false}}}),
            &PageToken::Start(2),
        )
        .unwrap();
        assert!(empty.records.is_empty());
        assert_eq!(empty.next, None);
        let flat = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": [{"id": "a"}, {"id": "b"}], "additional_data": {"start": 2, "limit": 2, "more_items_in_collection": true}}),
            &PageToken::Start(2),
        )
        .unwrap();
        assert_eq!(
            flat.next,
            Some(PageToken::Start(4)),
            "leads' flat form, without next_start"
        );
        let stuck = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": [{"id": 1}], "additional_data": {"pagination": {"more_items_in_collection": true, "next_start": 2}}}),
            &PageToken::Start(2),
        );
        assert!(stuck.is_err());
    }

    #[test]
    fn unusable_pages_are_errors() {
        assert!(page(Paging::Single, Records::Data, json!([1]), &PageToken::First).is_err());
        assert!(page(
            Paging::Single,
            Records::Data,
            json!({"success": false, "error": "x"}),
            &PageToken::First
        )
        .is_err());
        assert!(page(
            Paging::Single,
            Records::Data,
            json!({"success": true, "data": "x"}),
            &PageToken::First
        )
        .is_err());
    }

    #[test]
    fn queries_carry_window_sort_and_limit() {
        let deals = super::super::find("deals").unwrap();
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

    #[test]
    fn saved_cursor_forms() {
        let deals = super::super::find("deals").unwrap();
        assert_eq!(saved_cursor(deals, None).unwrap(), None);
        assert_eq!(
            saved_cursor(deals, Some(&json!({"update_time": "2024-01-01 00:00:00"}))).unwrap(),
            Some(t("2024-01-01T00:00:00Z"))
        );
        assert!(saved_cursor(deals, Some(&json!({"update_time": "never"}))).is_err());
        assert!(saved_cursor(deals, Some(&json!({"update_time": 5}))).is_err());
    }
}
