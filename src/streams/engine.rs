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

use super::{time, Paging, ServerFilter, Sort, StreamDef, Times};
use crate::http::{Client, HttpError};
use crate::output::Output;

/// The update-time window of one stream in one sync: `[lower, upper)`, `upper` open for full refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
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
            lower: cursor.map_or(start, |c| c.max(start)),
            upper: Some(upper),
        }
    }

    pub fn full_refresh(start: DateTime<Utc>) -> Window {
        Window {
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
}

/// What reading one stream gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamStats {
    pub records: u64,
    pub requests: u64,
    pub tokens: u64,
    /// Set when the stream was skipped because the token's user may not read it.
    pub skipped: Option<String>,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PageToken {
    First,
    Cursor(String),
    Start(u64),
}

struct Page {
    records: Vec<Value>,
    next: Option<PageToken>,
}

/// Reads one stream in `window`, writing its records (and checkpoints when `incremental`).
pub fn read_stream(
    client: &Client,
    def: &StreamDef,
    incremental: bool,
    window: Window,
    out: &mut Output,
) -> Result<StreamStats> {
    let cursor_field = def.cursor.filter(|_| incremental);
    let v1_times = match def.times {
        Times::V1 => time::date_time_properties(&def.schema()),
        Times::Rfc3339 => Vec::new(),
    };
    let base = base_query(def, &window, incremental);
    let mut stats = StreamStats::default();
    let mut token = PageToken::First;
    let mut checkpoint: Option<DateTime<Utc>> = None;
    let mut since_state = 0u64;

    loop {
        let mut query = base.clone();
        match (&token, def.paging) {
            (PageToken::Cursor(c), _) => query.push(("cursor", c.clone())),
            (PageToken::Start(s), _) => query.push(("start", s.to_string())),
            (PageToken::First, Paging::Offset { .. }) => query.push(("start", "0".to_string())),
            (PageToken::First, _) => {}
        }
        stats.requests += 1;
        stats.tokens += u64::from(def.tokens);
        let response = match client.get_json(def.path, &query) {
            Ok(r) => r,
            Err(e) if token == PageToken::First && may_not_read(&e) => {
                stats.skipped = Some(e.to_string());
                return Ok(stats);
            }
            Err(e) => return Err(e.into()),
        };
        let page = parse_page(def.paging, response.body, &token)?;
        let mut past_window = false;
        for mut record in page.records {
            if !v1_times.is_empty() {
                time::normalize_v1(&mut record, &v1_times);
            }
            let t = def.cursor.and_then(|f| time::of(&record, f));
            match (window.place(t), def.sort) {
                (Place::Before, Sort::Descending(_)) | (Place::After, Sort::Ascending(_)) => {
                    past_window = true;
                    break;
                }
                (Place::Before | Place::After, _) => continue,
                (Place::In, _) => {}
            }
            out.record(def.name, &record)?;
            stats.records += 1;
            since_state += 1;
            if def.checkpoints_per_page() {
                checkpoint = checkpoint.max(t);
            }
        }
        let done = past_window || page.next.is_none();
        if let (Some(field), Some(at), false) = (cursor_field, checkpoint, done) {
            if since_state > 0 {
                out.state(
                    def.name,
                    json!({ field: time::format(at.max(window.lower)) }),
                    since_state,
                )?;
                since_state = 0;
            }
        }
        match page.next {
            Some(next) if !done => token = next,
            _ => break,
        }
    }
    if let (Some(field), Some(at)) = (cursor_field, window.final_cursor()) {
        out.state(def.name, json!({ field: time::format(at) }), since_state)?;
    }
    Ok(stats)
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

fn parse_page(paging: Paging, mut body: Value, token: &PageToken) -> Result<Page> {
    if !body.is_object() {
        bail!("the answer is not a JSON object");
    }
    if body["success"] == json!(false) {
        let err = body["error"].as_str().unwrap_or("no error message");
        bail!("Pipedrive answered success=false: {err}");
    }
    let records = match body["data"].take() {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => bail!("`data` is {}, not a list", kind(&other)),
    };
    let extra = &body["additional_data"];
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
        Paging::Offset { .. } => {
            // Most v1 lists nest `pagination`; leads put its fields in `additional_data` itself.
            let p = if extra["pagination"].is_object() {
                &extra["pagination"]
            } else {
                extra
            };
            if p["more_items_in_collection"] == json!(true) {
                let current = match token {
                    PageToken::Start(s) => *s,
                    _ => 0,
                };
                let next = p["next_start"]
                    .as_u64()
                    .or_else(|| p["start"].as_u64().map(|s| s + records.len() as u64))
                    .ok_or_else(|| anyhow!("more items announced but no `next_start` given"))?;
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

    #[test]
    fn v2_cursor_pages() {
        let p = parse_page(
            Paging::Cursor { limit: 500 },
            json!({"success": true, "data": [{"id": 1}], "additional_data": {"next_cursor": "abc"}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.next, Some(PageToken::Cursor("abc".into())));
        let end = parse_page(
            Paging::Cursor { limit: 500 },
            json!({"success": true, "data": [], "additional_data": {"next_cursor": null}}),
            &PageToken::Cursor("abc".into()),
        )
        .unwrap();
        assert_eq!(end.next, None);
        let looping = parse_page(
            Paging::Cursor { limit: 500 },
            json!({"success": true, "data": [], "additional_data": {"next_cursor": "abc"}}),
            &PageToken::Cursor("abc".into()),
        );
        assert!(looping.is_err());
    }

    #[test]
    fn v1_offset_pages() {
        let p = parse_page(
            Paging::Offset { limit: 2 },
            json!({"success": true, "data": [{"id": 1}, {"id": 2}], "additional_data": {"pagination": {"start": 0, "limit": 2, "more_items_in_collection": true, "next_start": 2}}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(p.next, Some(PageToken::Start(2)));
        let empty = parse_page(
            Paging::Offset { limit: 2 },
            json!({"success": true, "data": null, "additional_data": {"pagination": {"start": 2, "limit": 2, "more_items_in_collection": false}}}),
            &PageToken::Start(2),
        )
        .unwrap();
        assert!(empty.records.is_empty());
        assert_eq!(empty.next, None);
        let flat = parse_page(
            Paging::Offset { limit: 2 },
            json!({"success": true, "data": [{"id": "a"}, {"id": "b"}], "additional_data": {"start": 2, "limit": 2, "more_items_in_collection": true}}),
            &PageToken::Start(2),
        )
        .unwrap();
        assert_eq!(
            flat.next,
            Some(PageToken::Start(4)),
            "leads' flat form, without next_start"
        );
        let stuck = parse_page(
            Paging::Offset { limit: 2 },
            json!({"success": true, "data": [{"id": 1}], "additional_data": {"pagination": {"more_items_in_collection": true, "next_start": 2}}}),
            &PageToken::Start(2),
        );
        assert!(stuck.is_err());
    }

    #[test]
    fn unusable_pages_are_errors() {
        assert!(parse_page(Paging::Single, json!([1]), &PageToken::First).is_err());
        assert!(parse_page(
            Paging::Single,
            json!({"success": false, "error": "x"}),
            &PageToken::First
        )
        .is_err());
        assert!(parse_page(
            Paging::Single,
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
