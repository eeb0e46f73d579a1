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
//! - A cursor is never finer than the server's filter: checkpoints and final cursors are whole
//!   seconds, rounded down, and a finer saved cursor is rounded down when read.
//! - When the server sorts by update time, each page ends with a checkpoint at the second of
//!   its last record. That second's records are read again after a restart (`updated_since` is
//!   inclusive): re-emitting is allowed, skipping is not. A STATE never precedes its records.
//!   The last STATE of a stream sets the cursor to `upper`.
//!
//! Why no record is skipped while the CRM changes under a sync. A record that existed when
//! the sync started is updated before `upper`. Edited during the sync, it is updated at or
//! after `upper`: out of this window, in the next one (which starts at this one's `upper`),
//! so it is this sync's to miss. Deleted, it is nobody's to read. Every other record stays as
//! it was, and only those must be read, however the others move around them in the lists:
//! - v2 cursor lists: a cursor is a keyset (the last record's sort value and id, in Pipedrive
//!   as in the sandbox), so the next page is every record after it in the order, wherever the
//!   others went; `updated_until = upper` keeps edited records out of the list (products,
//!   without it, are sorted oldest first and cut at `upper` by the engine). Correctness rests
//!   on those two. A cursor answered twice fails the listing (`paging`).
//! - Offset lists filtered by `updated_since`, oldest first (notes, leads), page by keyset:
//!   a page asks from the second S of the last record read, at its place within S, and must
//!   begin with it. Only records of S come before it there; they can leave (edited, deleted)
//!   but not join (an edit moves a record to now). So either the page begins with it and the
//!   rest follows, or one before it left and S is read again from its start. What is kept is
//!   one record and a count within one second.
//! - Other offset lists (newest first without a filter, or unsorted) look for the last record
//!   read in the next page, then further back, so records added or removed before it cannot
//!   hide one after it; when it is gone itself, the list is read again from the start. At
//!   most 10 such restarts a listing, then the stream fails: never a silent skip.
//! - Every list ends where the server says (`next_cursor` null or absent,
//!   `more_items_in_collection` false), or at a page with nothing new where it says nothing;
//!   never at a short page: a server may serve fewer records than asked.
//! - A checkpoint at second S follows every record updated before S (oldest-first order); a
//!   sync resumed from it reads S again. A final cursor, `upper`, follows a whole window read.
//! - Children: a parent gone since it was listed costs its own children only, and a parent
//!   list the user may not read costs only its records' children (`fanout`).
//!
//! - Side by side (`parallel`): the child batches of a page of parents go at once, the next
//!   page of parents is listed meanwhile, and a long v2 list is cut into update-time slices,
//!   each a chain of its own (`slices`), while the client has room in the burst window. Records
//!   of a stream are written under one lock; a checkpoint follows every record before it (the
//!   children of its page, the earliest unfinished slice), so the rules above hold as they do
//!   for one chain.
//!
//! Its parts: `window` (which update times a sync reads, and the saved cursor), `listing` (the
//! requests of one list, page after page) and `paging` (where the next page starts, and where a list ends), `fanout`
//! (child streams read through their parents) and `rider` (children read along their parents'
//! own passes), `parallel` (requests side by side) and `slices` (a long list in time slices),
//! `emit` (records and checkpoints written), `meter` (what a stream has done so
//! far, live), `read` (one stream from start to end). The engine knows custom fields and the stdout writer only through
//! `Shape` and `Sink` (`interfaces`), which the layers above implement.

mod emit;
mod fanout;
mod interfaces;
mod listing;
mod meter;
mod paging;
mod parallel;
mod read;
mod rider;
mod slices;
mod window;

pub use emit::{finish_record, StreamStats, FULL_REFRESH_COMPLETE, NO_CURSOR};
pub use interfaces::{Shape, Sink};
pub use listing::fetch_all;
pub use meter::{Meter, Phase};
pub use read::read_stream;
pub use rider::Rider;
pub use window::{saved_cursor, saved_full_refresh_checkpoint, Window, FULL_REFRESH_FROM};
