//! Child streams read along their parents' own passes, so that parents shared by several child
//! streams are listed once: which children may ride, and how each ends.

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::emit::{Emitter, StreamStats};
use super::fanout::fan_out;
use super::interfaces::{Shape, Sink};
use super::meter::Meter;
use super::window::{Place, Window};
use crate::error::stdout_gone;
use crate::http::{Client, HttpError};
use crate::streams::{Parent, StreamDef};

/// A child stream read along its parents' own passes instead of listing the parents again: the
/// children of each page of parents are asked for right after that page is written. It sees
/// exactly the parents it would list itself when every parent stream is read in a window that
/// holds its own (`can_ride`), in the order of `Parent::streams`. As when it reads alone, only
/// the pass over its last parent checkpoints.
pub struct Rider<'a> {
    pub def: &'a StreamDef,
    pub(super) parent: Parent,
    window: Window,
    em: Emitter<'a>,
    first_child: bool,
    pub(super) end: Option<RiderEnd>,
}

pub(super) enum RiderEnd {
    Denied(String),
    Failed(anyhow::Error),
}

impl<'a> Rider<'a> {
    /// `None` when `def` has no parent. What it does is counted on `meter`.
    pub fn new(
        def: &'a StreamDef,
        incremental: bool,
        window: Window,
        shaper: Option<&'a dyn Shape>,
        meter: &'a Meter,
    ) -> Option<Rider<'a>> {
        Some(Rider {
            parent: def.parent?,
            def,
            window,
            em: Emitter::new(def, incremental, shaper, meter),
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
    /// the window of `pdef`, the parent stream), checkpointing after them when `checkpoint`.
    pub(super) fn ride(
        &mut self,
        client: &Client,
        pdef: &StreamDef,
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
            pdef,
            &self.window,
            mine,
            &mut self.first_child,
            &mut self.em,
            out,
        )
        .and_then(|refused| {
            if let Some(reason) = refused {
                self.end = Some(RiderEnd::Denied(reason));
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

    /// A parent list the user may not read (`reason` names it): the children of its records
    /// are left out, the other parents' are read.
    pub(super) fn parent_denied(&mut self, reason: String) {
        self.em.stats.denied_parents.push(reason);
    }

    pub(super) fn parent_failed(&mut self, parent: &StreamDef, e: &anyhow::Error) {
        let cause = e
            .chain()
            .find_map(|c| c.downcast_ref::<HttpError>())
            .map_or_else(|| anyhow!("{e:#}"), |h| anyhow::Error::new(h.clone()));
        self.end.get_or_insert(RiderEnd::Failed(
            cause.context(format!("its parent stream {} failed", parent.name)),
        ));
    }

    /// The sync stopped for `cause` (a failure every stream would meet, or the token budget)
    /// before its parents were all read: it ends for that cause, unless it had already ended.
    pub fn halted(&mut self, cause: anyhow::Error) {
        self.end.get_or_insert(RiderEnd::Failed(
            cause.context("the sync stopped before its parent streams were read"),
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
                self.em.finish_skipped(out, &self.window)?;
                Ok(self.em.stats)
            }
            None if self.em.stats.denied_parents.len() == self.parent.streams.len() => {
                let lists = std::mem::take(&mut self.em.stats.denied_parents);
                self.em.stats.skipped = Some(format!(
                    "the user may read none of its parent lists: {}",
                    lists.join("; ")
                ));
                self.em.finish_skipped(out, &self.window)?;
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
