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
//!
//! Its parts: `window` (which update times a sync reads, and the saved cursor), `listing` (the
//! requests of one list, page after page) and `paging` (where the next page starts), `fanout`
//! (child streams read through their parents) and `rider` (children read along their parents'
//! own passes), `emit` (records and checkpoints written, and what a stream cost), `read` (one
//! stream from start to end). The engine knows custom fields and the stdout writer only through
//! `Shape` and `Sink` (`interfaces`), which the layers above implement.

mod emit;
mod fanout;
mod interfaces;
mod listing;
mod paging;
mod read;
mod rider;
mod window;

pub use emit::{finish_record, StreamStats};
pub use interfaces::{Shape, Sink};
pub use listing::fetch_all;
pub use read::read_stream;
pub use rider::Rider;
pub use window::{saved_cursor, Window};
