//! The engine's two interfaces to the layers above it: how a record is shaped (custom fields)
//! and where records and checkpoints are written (stdout). It imports neither of those layers.

use serde_json::Value;

use crate::streams::record::Record;

/// How records are shaped before they are written (their custom fields); the engine knows no
/// more of it than this. Shared by the threads that read one stream. `custom_fields::Shaper` is one.
pub trait Shape: Sync {
    /// Whether records need any work at all.
    fn needed(&self) -> bool;
    /// Shapes one record in place.
    fn apply(&self, record: &mut Value);
    /// Adds to a stream's checkpoint what a later sync needs to shape the same way.
    fn annotate_state(&self, state: &mut Value);
}

/// Where the engine's messages go: the one stdout writer, which the command layer hands over.
/// The threads of one stream write to it in turn (`parallel::SharedSink`).
pub trait Sink: Send {
    /// A record as the API sent it.
    fn record(&mut self, stream: &str, record: &Record) -> std::io::Result<()>;
    /// A record the engine changed (shaped, or marked deleted).
    fn record_value(&mut self, stream: &str, record: &Value) -> std::io::Result<()>;
    /// A checkpoint of `stream`, after `records_since_last` records.
    fn state(&mut self, stream: &str, state: Value, records_since_last: u64)
        -> std::io::Result<()>;
    /// Whether full-refresh streams write STATE too (Airbyte: yes, a cursor while they can
    /// resume and a sentinel at the end; Singer: bookmarks are for incremental streams only).
    fn full_refresh_states(&self) -> bool {
        true
    }
    /// A full-refresh stream was read whole, nothing left out: Singer's ACTIVATE_VERSION, which
    /// tells the target that this read is the whole table. Never for a stream cut short,
    /// failed or skipped.
    fn full_table_complete(&mut self, _stream: &str) -> std::io::Result<()> {
        Ok(())
    }
    /// The column a deleted record carries its delete time in: Airbyte's `_ab_cdc_deleted_at`,
    /// or Singer's `_sdc_deleted_at`.
    fn deleted_at(&self) -> &'static str {
        crate::streams::DELETED_AT
    }
}
