//! The engine's two interfaces to the layers above it: how a record is shaped (custom fields)
//! and where records and checkpoints are written (stdout). It imports neither of those layers.

use serde_json::Value;

use crate::streams::record::Record;

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
    /// Whether full-refresh streams write STATE too (Airbyte: yes, a cursor while they can
    /// resume and a sentinel at the end; Singer: bookmarks are for incremental streams only).
    fn full_refresh_states(&self) -> bool {
        true
    }
}
