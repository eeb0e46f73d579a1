//! Child streams read through their parents: the parents listed in the window, then their
//! children asked for, in batches where the API takes many ids, each child given its parent.
//!
//! A failure costs only what failed. A parent list the user may not read leaves out its own
//! parents' children, not the other parents' (the stream is skipped only when every parent
//! list is refused). A 404 or 410 on one parent's children asks for the parent itself once:
//! gone, it is a vanished parent, counted and passed over; there, the child endpoint is what
//! is missing, and the stream is skipped with that reason. A 402 or 403 on a child request
//! refuses the endpoint as a whole.

use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::emit::Emitter;
use super::interfaces::Sink;
use super::listing::{list, passes, Ended, Listed};
use super::meter::Meter;
use super::parallel;
use super::window::Window;
use crate::http::{Client, HttpError};
use crate::streams::record::Record;
use crate::streams::{self, time, Fanout, Parent, StreamDef};

/// A stream read through its parents: list the parents in the window, then ask for their
/// children, in batches where the API takes many ids. Only the last parent stream's pass
/// checkpoints: a restart from its cursor re-lists the earlier parents from there, and those
/// earlier passes had finished.
pub(super) fn read_children(
    client: &Client,
    def: &StreamDef,
    parent: Parent,
    incremental: bool,
    window: &Window,
    em: &mut Emitter,
    out: &mut dyn Sink,
) -> Result<Ended> {
    let mut first_child = true;
    let mut jobs = Vec::new();
    for name in parent.streams {
        let pdef = streams::find(name)
            .ok_or_else(|| anyhow!("{}: unknown parent stream {name}", def.name))?;
        jobs.extend(passes(pdef).into_iter().map(|extra| (pdef, extra)));
    }
    let last_job = jobs.len();
    let mut refused_lists = Vec::new();
    for (i, (pdef, extra)) in jobs.into_iter().enumerate() {
        let per_page = pdef.checkpoints_per_page() && i + 1 == last_job;
        let mut refused: Option<String> = None;
        let meter = em.meter;
        // The next page of parents is listed while this one's children are read.
        let listed = parallel::ahead(
            |hand| {
                list(
                    client,
                    pdef,
                    pdef.path,
                    &extra,
                    window,
                    incremental,
                    meter,
                    |parents, last| {
                        let ids = parents
                            .into_iter()
                            .map(|(p, t)| (p.get("id").unwrap_or(Value::Null), t))
                            .collect::<Vec<_>>();
                        hand((ids, last))
                    },
                )
            },
            |(parents, last)| {
                refused = fan_out(
                    client,
                    def,
                    parent,
                    pdef,
                    window,
                    parents,
                    &mut first_child,
                    em,
                    out,
                )?;
                if refused.is_some() {
                    return Err(anyhow!("refused"));
                }
                match (per_page, last) {
                    (true, Some(at)) => em.checkpoint(out, at.max(window.lower)),
                    _ => Ok(()),
                }
            },
        );
        if let Some(reason) = refused {
            return Ok(Ended::Skipped(reason));
        }
        if let Listed::Denied(e) = listed? {
            refused_lists.push(parent_list(pdef, &extra, &e));
        }
    }
    if refused_lists.len() == last_job {
        return Ok(Ended::Skipped(format!(
            "the user may read none of its parent lists: {}",
            refused_lists.join("; ")
        )));
    }
    em.stats.denied_parents.extend(refused_lists);
    Ok(Ended::Read)
}

/// A parent list the user may not read, and why, as a warning names it.
pub(super) fn parent_list(pdef: &StreamDef, extra: &[(&str, String)], e: &HttpError) -> String {
    let pass: Vec<String> = extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
    match pass.is_empty() {
        true => format!("{} ({e})", pdef.name),
        false => format!("{} with {} ({e})", pdef.name, pass.join("&")),
    }
}

/// Asks for the children of `parents` (ids with update times, listed by `pdef`), in batches
/// where the API takes many ids, and writes them. `Some(reason)` when the token's user may not
/// read this stream; a parent that went away since it was listed is counted and passed over.
///
/// The batches go side by side (`parallel`), their records written as they come; the caller's
/// checkpoint follows this call, so it follows every child of these parents. Until a child was
/// read, the first batch goes alone: a refusal, which holds for every parent, is known from it
/// before the others are asked.
#[allow(clippy::too_many_arguments)]
pub(super) fn fan_out(
    client: &Client,
    def: &StreamDef,
    parent: Parent,
    pdef: &StreamDef,
    window: &Window,
    parents: Vec<(Value, Option<DateTime<Utc>>)>,
    first_child: &mut bool,
    em: &mut Emitter,
    out: &mut dyn Sink,
) -> Result<Option<String>> {
    let child_window = window.children();
    let groups: Vec<Vec<(Value, Option<DateTime<Utc>>)>> = match parent.fanout {
        Fanout::Batch { size, .. } => parents.chunks(size).map(<[_]>::to_vec).collect(),
        Fanout::Path => parents.into_iter().map(|p| vec![p]).collect(),
    };
    let alone = if *first_child { groups.len().min(1) } else { 0 };
    let (first, rest) = groups.split_at(alone);
    let meter = em.meter;
    for (part, threads) in [(first, 1), (rest, parallel::width(client))] {
        let results = {
            let lock = Mutex::new((&mut *em, &mut *out as &mut dyn Sink));
            parallel::each(threads, part, Result::is_err, |group| {
                read_group(client, def, parent, &child_window, group, meter, &lock)
            })
        };
        for (group, listed) in part.iter().zip(results) {
            // Not asked: a batch after it failed, and that failure is what this call returns.
            let Some(listed) = listed else { continue };
            let e = match listed? {
                Listed::Done => {
                    *first_child = false;
                    continue;
                }
                Listed::Denied(e) => e,
            };
            if let Some(refused) = refusal(client, pdef, parent, group, e, *first_child, em)? {
                return Ok(Some(refused));
            }
        }
    }
    Ok(None)
}

/// The children of one batch of parents (or of one parent), written under `lock` as they come.
fn read_group(
    client: &Client,
    def: &StreamDef,
    parent: Parent,
    window: &Window,
    group: &[(Value, Option<DateTime<Utc>>)],
    meter: &Meter,
    lock: &Mutex<(&mut Emitter, &mut dyn Sink)>,
) -> Result<Listed> {
    let (path, extra) = match parent.fanout {
        Fanout::Batch { param, .. } => {
            let ids: Vec<String> = group.iter().map(|(id, _)| id_text(id)).collect();
            (def.path.to_string(), vec![(param, ids.join(","))])
        }
        Fanout::Path => (def.path.replace("{id}", &id_text(&group[0].0)), Vec::new()),
    };
    // Only a first page is ever refused: records arrive only once the listing is allowed.
    list(
        client,
        def,
        &path,
        &extra,
        window,
        false,
        meter,
        |records, _| {
            let mut held = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (em, out) = &mut *held;
            for (mut child, _) in records {
                adopt(&mut child, parent, group);
                em.emit(&mut **out, child)?;
            }
            Ok(())
        },
    )
}

/// What a refused batch means: `None` for a parent gone since it was listed (counted, passed
/// over), `Some(reason)` when the user may not read the stream, an error when the endpoint
/// refuses one parent after serving others.
fn refusal(
    client: &Client,
    pdef: &StreamDef,
    parent: Parent,
    group: &[(Value, Option<DateTime<Utc>>)],
    e: HttpError,
    first_child: bool,
    em: &mut Emitter,
) -> Result<Option<String>> {
    match (e.status(), parent.fanout) {
        (Some(404 | 410), Fanout::Path) => {
            let id = &group[0].0;
            if !parent_exists(client, pdef, id, em)? {
                // Gone since it was listed: it has no children to read.
                em.stats.vanished_parents += 1;
                return Ok(None);
            }
            if !first_child {
                bail!(
                    "{e}, although {} {} exists and the children of other parents were read",
                    pdef.name,
                    id_text(id)
                );
            }
            Ok(Some(format!(
                "{e}, although {} {} exists: the endpoint is unavailable to this account",
                pdef.name,
                id_text(id)
            )))
        }
        // 402, 403, or a batch of parents answering 404: the endpoint as a whole.
        (Some(402 | 403), _) => Ok(Some(e.to_string())),
        _ if first_child => Ok(Some(e.to_string())),
        _ => bail!("{e}, although the children of other parents were read"),
    }
}

/// Whether a parent whose children answered 404 still exists: one request for the parent
/// itself (1 token in v2, 2 in v1), counted with the stream.
fn parent_exists(client: &Client, pdef: &StreamDef, id: &Value, em: &mut Emitter) -> Result<bool> {
    let item = pdef.item.ok_or_else(|| {
        anyhow!(
            "{} has no single-record path to tell a vanished record from a missing endpoint",
            pdef.name
        )
    })?;
    let path = item.replace("{id}", &id_text(id));
    // One record costs 1 token in v2, 2 in v1.
    let tokens = if path.starts_with("/api/v2/") { 1 } else { 2 };
    let asked = client.get_json(&path, &[], tokens);
    em.meter.answered(tokens, &asked);
    match asked {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.status(), Some(404 | 410)) => Ok(false),
        Err(e) => Err(e).with_context(|| {
            format!(
                "asking whether {} {} still exists, as its children answered 404",
                pdef.name,
                id_text(id)
            )
        }),
    }
}

/// Gives a child record its parent's id and update time where the stream asks for them.
fn adopt(child: &mut Record, parent: Parent, group: &[(Value, Option<DateTime<Utc>>)]) {
    let own = match (parent.id_field, group) {
        (_, [only]) => Some(only),
        (Some(field), _) => child
            .get(field)
            .and_then(|id| group.iter().find(|(p, _)| id_text(p) == id_text(&id))),
        (None, _) => None,
    };
    let Some((id, t)) = own else { return };
    if let Some(field) = parent.id_field {
        if child.get(field).is_none_or(|v| v.is_null()) {
            child.set(field, id);
        }
    }
    if let Some(field) = parent.time_field {
        child.set(
            field,
            &t.map_or(Value::Null, |t| Value::String(time::format(t))),
        );
    }
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
