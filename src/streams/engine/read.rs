//! Reading one stream from start to end: its own list (with the riders along its pages, and,
//! for a stream of a live/archived pair read incrementally, the other list of the pair first),
//! or its parents' lists fanned out to their children; then its final checkpoint.

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::emit::{Emitter, StreamStats};
use super::fanout::{parent_list, read_children};
use super::interfaces::{Shape, Sink};
use super::listing::{list, passes, Ended, Listed};
use super::meter::Meter;
use super::rider::Rider;
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
/// children of that page.
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
    let from_archive = def.archive.is_some_and(|a| a.archived);
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
        let listed = list(
            client,
            def,
            def.path,
            &extra,
            window,
            incremental,
            em.meter,
            |records, last| {
                let parents: Vec<(Value, Option<DateTime<Utc>>)> = if riders.is_empty() {
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
                for (rider, checkpoint) in riders.iter_mut().zip(&rider_checkpoints) {
                    rider.ride(client, def, &parents, *checkpoint, out)?;
                }
                Ok(())
            },
        );
        if let Listed::Denied(e) = listed? {
            // The riders read the children of this stream's records: none of them.
            for r in riders.iter_mut() {
                r.parent_denied(parent_list(def, &extra, &e));
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
