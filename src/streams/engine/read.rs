//! Reading one stream from start to end: its own list (with the riders along its pages), or its
//! parents' lists fanned out to their children; then its final checkpoint.

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::emit::{Emitter, StreamStats};
use super::fanout::{parent_list, read_children};
use super::interfaces::{Shape, Sink};
use super::listing::{list, passes, Ended, Listed};
use super::rider::Rider;
use super::window::Window;
use crate::http::Client;
use crate::streams::StreamDef;

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
                    rider.ride(client, def, &parents, *checkpoint, out)?;
                }
                Ok(())
            },
        );
        em.count(requests, def.tokens);
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
