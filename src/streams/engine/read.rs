//! Reading one stream from start to end: its own list (with the riders along its pages, and,
//! for a stream of a live/archived pair read incrementally, the other list of the pair first),
//! or its parents' lists fanned out to their children; then its final checkpoint.

use std::sync::mpsc;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::emit::{Emitter, StreamStats};
use super::fanout::{parent_list, read_children};
use super::interfaces::{Shape, Sink};
use super::listing::{list, passes, Ended, Listed};
use super::meter::Meter;
use super::parallel::SharedSink;
use super::rider::Rider;
use super::slices;
use super::window::Window;
use crate::http::{Client, HttpError};
use crate::streams::{self, StreamDef};

/// Reads one stream in `window`, writing its records (and checkpoints when `incremental`),
/// their custom fields shaped by `shaper`, counting what it does on `meter`. `riders` are child
/// streams read during this stream's pass (see `Rider`); a stream with a parent of its own
/// takes none.
#[allow(clippy::too_many_arguments)]
pub fn read_stream(
    client: &Client,
    def: &StreamDef,
    incremental: bool,
    window: Window,
    shaper: Option<&dyn Shape>,
    meter: &Meter,
    riders: &mut [Rider],
    out: &mut dyn Sink,
) -> Result<StreamStats> {
    let mut em = Emitter::new(def, incremental, shaper, meter);
    let ended = match def.parent {
        None => read_list(client, def, incremental, &window, &mut em, riders, out),
        Some(parent) => read_children(client, def, parent, incremental, &window, &mut em, out),
    };
    let ended = match ended {
        Ok(ended) => ended,
        Err(e) => {
            for r in riders.iter_mut() {
                r.parent_failed(def, &e);
            }
            return Err(e);
        }
    };
    if let Ended::Skipped(reason) = ended {
        em.stats.skipped = Some(reason);
        em.finish_skipped(out, &window)?;
        return Ok(em.stats);
    }
    em.finish(out, &window)?;
    Ok(em.stats)
}

/// A stream of its own: every page's records in the window, a checkpoint after each page when
/// the records come oldest first and the stream is read in one pass; then each rider's
/// children of that page, on the rider's own thread, while the list goes on to its next page.
fn read_list(
    client: &Client,
    def: &StreamDef,
    incremental: bool,
    window: &Window,
    em: &mut Emitter,
    riders: &mut [Rider],
    out: &mut dyn Sink,
) -> Result<Ended> {
    // An archived stream's first sync skips the live list: it would write every live record
    // as the deletion of a row its destination never held.
    let first_archive = def.archive.is_some_and(|a| a.archived) && !window.from_state;
    if incremental && !first_archive {
        if let Some(e) = read_twin(client, def, window, em, out)? {
            em.stats.warnings.push(format!(
                "archives and un-archives are not followed: the token's user may not read {}: {e}",
                def.archive.map_or("", |a| a.twin)
            ));
        }
    }
    if riders.is_empty() {
        return read_passes(client, def, incremental, window, em, &mut [], out);
    }
    let shared = SharedSink::new(out);
    std::thread::scope(|s| {
        let mut lanes = Vec::new();
        let mut threads = Vec::new();
        for rider in riders.iter_mut() {
            let (tx, rx) = mpsc::sync_channel::<ToRider>(1);
            let mut out = shared.handle();
            lanes.push(Lane {
                tx,
                last_parent: rider.parent.streams.last() == Some(&def.name),
            });
            threads.push(s.spawn(move || -> Result<()> {
                for msg in rx {
                    match msg {
                        ToRider::Page(parents, checkpoint) => {
                            rider.ride(client, def, &parents, checkpoint, &mut out)?
                        }
                        ToRider::Denied(reason) => rider.parent_denied(reason),
                    }
                }
                Ok(())
            }));
        }
        let mut out = shared.handle();
        let ended = read_passes(client, def, incremental, window, em, &mut lanes, &mut out);
        drop(lanes);
        // A rider fails only when stdout is gone: nothing else can be written either.
        for t in threads {
            t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        }
        ended
    })
}

/// What the list tells each rider: a page of parents (ids with update times) and whether the
/// rider checkpoints after their children, or a parent list the user may not read.
/// The way to one rider's thread, and whether this stream is the rider's last parent.
struct Lane {
    tx: mpsc::SyncSender<ToRider>,
    last_parent: bool,
}

enum ToRider {
    Page(Vec<(Value, Option<DateTime<Utc>>)>, bool),
    Denied(String),
}

/// The passes over a stream's own list, each page written then handed to the riders' `lanes`
/// (one per rider, in the order of the job's riders).
fn read_passes(
    client: &Client,
    def: &StreamDef,
    incremental: bool,
    window: &Window,
    em: &mut Emitter,
    lanes: &mut [Lane],
    out: &mut dyn Sink,
) -> Result<Ended> {
    let from_archive = def.archive.is_some_and(|a| a.archived);
    let passes = passes(def);
    let per_page = def.checkpoints_per_page() && passes.len() == 1;
    let last_pass = passes.len();
    for (i, extra) in passes.into_iter().enumerate() {
        if lanes.is_empty() && per_page && slices::sliceable(def) {
            let listed = slices::read(client, def, incremental, window, from_archive, em, out)?;
            if let Listed::Denied(e) = listed {
                return Ok(Ended::Skipped(e.to_string()));
            }
            continue;
        }
        let listed = list(
            client,
            def,
            def.path,
            &extra,
            window,
            incremental,
            em.meter,
            |records, last| {
                let parents: Vec<(Value, Option<DateTime<Utc>>)> = if lanes.is_empty() {
                    Vec::new()
                } else {
                    records
                        .iter()
                        .map(|(r, t)| (r.get("id").unwrap_or(Value::Null), *t))
                        .collect()
                };
                for (mut record, _) in records {
                    def.mark_archive(&mut record, from_archive, None, out.deleted_at());
                    em.emit(out, record)?;
                }
                if let (true, Some(at)) = (per_page, last) {
                    em.checkpoint(out, at.max(window.lower))?;
                }
                // A rider checkpoints only on the last pass over its last parent, as when it
                // reads alone.
                for lane in lanes.iter() {
                    let checkpoint =
                        lane.last_parent && def.checkpoints_per_page() && i + 1 == last_pass;
                    lane.tx
                        .send(ToRider::Page(parents.clone(), checkpoint))
                        .map_err(|_| anyhow!("a rider of {} stopped", def.name))?;
                }
                Ok(())
            },
        );
        if let Listed::Denied(e) = listed? {
            // The riders read the children of this stream's records: none of them.
            for lane in lanes.iter() {
                let _ = lane.tx.send(ToRider::Denied(parent_list(def, &extra, &e)));
            }
            return Ok(Ended::Skipped(e.to_string()));
        }
    }
    Ok(Ended::Read)
}

/// The other list of a live/archived pair (`StreamDef::archive`), read in this stream's window
/// and written into this stream, each record marked by the list it came from: archived records
/// reach the live stream as archived, live ones leave the archived stream as deletions. It runs
/// before the stream's own list, without checkpoints of its own, so the first checkpoint of
/// the stream's own pass covers it too: a sync resumed from any checkpoint has written every
/// record of this pass (records read again after a restart are allowed, skipped ones are not).
/// Riders do not ride along it: they see the other list's records through its own stream.
/// `Some` when the user may not read the other list.
fn read_twin(
    client: &Client,
    def: &StreamDef,
    window: &Window,
    em: &mut Emitter,
    out: &mut dyn Sink,
) -> Result<Option<HttpError>> {
    let Some(a) = def.archive else {
        return Ok(None);
    };
    let twin = streams::find(a.twin)
        .ok_or_else(|| anyhow!("{}: unknown archive twin {}", def.name, a.twin))?;
    for extra in passes(twin) {
        let listed = list(
            client,
            twin,
            twin.path,
            &extra,
            window,
            true,
            em.meter,
            |records, _| {
                for (mut record, _) in records {
                    def.mark_archive(&mut record, !a.archived, None, out.deleted_at());
                    em.emit(out, record)?;
                }
                Ok(())
            },
        );
        if let Listed::Denied(e) = listed? {
            return Ok(Some(e));
        }
    }
    Ok(None)
}
