//! Writing one stream's records and checkpoints: every record finished the same way (shaped,
//! deletions marked), a STATE never before its records, and each record counted on the
//! stream's `Meter`.

use std::collections::HashSet;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::interfaces::{Shape, Sink};
use super::meter::Meter;
use super::window::Window;
use crate::streams::record::Record;
use crate::streams::{time, StreamDef};

/// What reading one stream gave, besides its figures (records, requests, tokens), which its
/// `Meter` holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamStats {
    /// Set when the stream was skipped because the token's user may not read it.
    pub skipped: Option<String>,
    /// Parents that disappeared between being listed and their children being asked for.
    pub vanished_parents: u64,
    /// Parent lists the token's user may not read, each with the reason: their records'
    /// children were left out, the other parents' were read.
    pub denied_parents: Vec<String>,
    /// How many time slices its list was read in, when it was cut (`slices`).
    pub time_slices: usize,
    /// What the stream could not do although it was read (logged as warnings).
    pub warnings: Vec<String>,
    /// The stream's last STATE, for a caller that syncs again (the `listen` reconciliation).
    pub state: Option<Value>,
}

/// The Airbyte CDK's final state of a full refresh that could resume: the next one starts over.
pub const FULL_REFRESH_COMPLETE: &str = "__ab_full_refresh_sync_complete";
/// The Airbyte CDK's state of a full refresh that cannot resume.
pub const NO_CURSOR: &str = "__ab_no_cursor_state_message";

/// Counts one stream's records and writes its checkpoints.
pub(super) struct Emitter<'a> {
    def: &'a StreamDef,
    pub(super) stats: StreamStats,
    /// The stream's live figures: records here, requests where they are sent (`listing`).
    pub(super) meter: &'a Meter,
    /// Custom-field shaping, when records need any.
    shaper: Option<&'a dyn Shape>,
    /// The cursor property when the stream is read incrementally, or in a full refresh that
    /// can resume (`StreamDef::resumable_full_refresh`).
    cursor_field: Option<&'static str>,
    incremental: bool,
    since_state: u64,
    /// The keys written so far, for a stream whose passes can bring a record twice (`dedupe`).
    seen: Option<HashSet<String>>,
}

impl<'a> Emitter<'a> {
    pub(super) fn new(
        def: &'a StreamDef,
        incremental: bool,
        shaper: Option<&'a dyn Shape>,
        meter: &'a Meter,
    ) -> Emitter<'a> {
        Emitter {
            def,
            stats: StreamStats::default(),
            meter,
            shaper: shaper.filter(|s| s.needed()),
            cursor_field: def
                .cursor
                .filter(|_| incremental || def.resumable_full_refresh()),
            incremental,
            since_state: 0,
            seen: def.dedupe.then(HashSet::new),
        }
    }

    /// Writes a record; as it came, unless custom fields are shaped or it is deleted.
    pub(super) fn emit(&mut self, out: &mut dyn Sink, record: Record) -> Result<()> {
        if let Some(seen) = &mut self.seen {
            let key: Vec<&str> = self
                .def
                .primary_key
                .iter()
                .map(|k| record.raw(k).map_or("", |v| v.get()))
                .collect();
            if !seen.insert(key.join("|")) {
                return Ok(());
            }
        }
        let deleted = self.def.deletion.is_some_and(|d| {
            d.field()
                .and_then(|f| record.get(f))
                .is_some_and(|f| d.says_deleted(&f))
        });
        if deleted || self.shaper.is_some() {
            let mut record = record.into_value();
            finish_record(self.def, self.shaper, &mut record, out.deleted_at());
            out.record_value(self.def.name, &record)?;
        } else {
            out.record(self.def.name, &record)?;
        }
        self.meter.record();
        self.since_state += 1;
        Ok(())
    }

    /// The state of this stream with its cursor at `at`, and the custom field names handed
    /// out so far, so the next sync keeps them. The cursor is never finer than the server's
    /// filter: in whole seconds, rounded down, so that a sync resumed from it reads again
    /// the records of that second that came after `at` in the list.
    fn state(&self, field: &str, at: DateTime<Utc>) -> Value {
        let mut state = json!({ field: time::format(time::floor_second(at)) });
        if let Some(s) = self.shaper {
            s.annotate_state(&mut state);
        }
        state
    }

    pub(super) fn checkpoint(&mut self, out: &mut dyn Sink, at: DateTime<Utc>) -> Result<()> {
        if !self.incremental && !out.full_refresh_states() {
            return Ok(());
        }
        if let (Some(field), true) = (self.cursor_field, self.since_state > 0) {
            let field = if self.incremental {
                field
            } else {
                super::window::FULL_REFRESH_FROM
            };
            let state = self.state(field, at);
            out.state(self.def.name, state, self.since_state)?;
            self.since_state = 0;
        }
        Ok(())
    }

    /// The stream's last STATE. Incremental: the cursor at the window's end. Full refresh: the
    /// Airbyte CDK's sentinels, which a full refresh given back starts again from `start_date`
    /// with: `__ab_full_refresh_sync_complete` where it could have resumed from a checkpoint,
    /// `__ab_no_cursor_state_message` where it cannot.
    pub(super) fn finish(&mut self, out: &mut dyn Sink, window: &Window) -> Result<()> {
        // Read whole: the whole table, unless some parents' children were left out.
        if !self.incremental && self.stats.denied_parents.is_empty() {
            out.full_table_complete(self.def.name)?;
        }
        self.close(out, window)
    }

    fn close(&mut self, out: &mut dyn Sink, window: &Window) -> Result<()> {
        if !self.incremental {
            if !out.full_refresh_states() {
                return Ok(());
            }
            let key = if self.cursor_field.is_some() {
                FULL_REFRESH_COMPLETE
            } else {
                NO_CURSOR
            };
            let mut state = json!({ key: true });
            if let Some(s) = self.shaper {
                s.annotate_state(&mut state);
            }
            out.state(self.def.name, state, self.since_state)?;
            self.since_state = 0;
            return Ok(());
        }
        if let (Some(field), Some(at)) = (self.cursor_field, window.final_cursor()) {
            let state = self.state(field, at);
            out.state(self.def.name, state.clone(), self.since_state)?;
            self.stats.state = Some(state);
            self.since_state = 0;
        }
        Ok(())
    }

    /// A stream skipped (the user may not read it): in a full refresh, its final STATE still
    /// comes, as for a stream read to the end with nothing in it; an incremental cursor does
    /// not move.
    pub(super) fn finish_skipped(&mut self, out: &mut dyn Sink, window: &Window) -> Result<()> {
        if self.incremental {
            return Ok(());
        }
        // Nothing was read: no table version is activated (a target would empty the table).
        self.close(out, window)
    }
}

/// What every record goes through before it is written, whatever brought it (a page or a
/// webhook): custom fields shaped, and the soft-delete column (`deleted_at`, the protocol's)
/// set when it says it is deleted.
pub fn finish_record(
    def: &StreamDef,
    shaper: Option<&dyn Shape>,
    record: &mut Value,
    deleted_at: &str,
) {
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
            record[deleted_at] = at;
        }
    }
}
