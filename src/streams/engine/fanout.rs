//! Child streams read through their parents: the parents listed in the window, then their
//! children asked for, in batches where the API takes many ids, each child given its parent.

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::emit::Emitter;
use super::interfaces::Sink;
use super::listing::{list, passes, Listed};
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
) -> Result<Listed> {
    let mut first_child = true;
    let mut jobs = Vec::new();
    for name in parent.streams {
        let pdef = streams::find(name)
            .ok_or_else(|| anyhow!("{}: unknown parent stream {name}", def.name))?;
        jobs.extend(passes(pdef).into_iter().map(|extra| (pdef, extra)));
    }
    let last_job = jobs.len();
    for (i, (pdef, extra)) in jobs.into_iter().enumerate() {
        let per_page = pdef.checkpoints_per_page() && i + 1 == last_job;
        let mut parent_requests = 0;
        let mut denied: Option<HttpError> = None;
        let listed = list(
            client,
            pdef,
            pdef.path,
            &extra,
            window,
            incremental,
            &mut parent_requests,
            |parents, last| {
                let parents = parents
                    .into_iter()
                    .map(|(p, t)| (p.get("id").unwrap_or(Value::Null), t))
                    .collect();
                denied = fan_out(
                    client,
                    def,
                    parent,
                    window,
                    parents,
                    &mut first_child,
                    em,
                    out,
                )?;
                if denied.is_some() {
                    return Err(anyhow!("denied"));
                }
                match (per_page, last) {
                    (true, Some(at)) => em.checkpoint(out, at.max(window.lower)),
                    _ => Ok(()),
                }
            },
        );
        em.count(parent_requests, pdef.tokens);
        if let Some(e) = denied {
            return Ok(Listed::Denied(e));
        }
        match listed? {
            Listed::Done => {}
            Listed::Denied(e) => return Ok(Listed::Denied(e)),
        }
    }
    Ok(Listed::Done)
}

/// Asks for the children of `parents` (ids with update times), in batches where the API takes
/// many ids, and writes them. `Some` when the stream's very first request says the token's user
/// may not read it; a parent that went away since it was listed is counted and passed over.
#[allow(clippy::too_many_arguments)]
pub(super) fn fan_out(
    client: &Client,
    def: &StreamDef,
    parent: Parent,
    window: &Window,
    parents: Vec<(Value, Option<DateTime<Utc>>)>,
    first_child: &mut bool,
    em: &mut Emitter,
    out: &mut dyn Sink,
) -> Result<Option<HttpError>> {
    let child_window = window.children();
    let groups: Vec<Vec<(Value, Option<DateTime<Utc>>)>> = match parent.fanout {
        Fanout::Batch { size, .. } => parents.chunks(size).map(<[_]>::to_vec).collect(),
        Fanout::Path => parents.into_iter().map(|p| vec![p]).collect(),
    };
    for group in groups {
        let (path, extra) = match parent.fanout {
            Fanout::Batch { param, .. } => {
                let ids: Vec<String> = group.iter().map(|(id, _)| id_text(id)).collect();
                (def.path.to_string(), vec![(param, ids.join(","))])
            }
            Fanout::Path => (def.path.replace("{id}", &id_text(&group[0].0)), Vec::new()),
        };
        let mut requests = 0;
        // Only a first page is ever refused: records arrive only once the listing is allowed.
        let listed = list(
            client,
            def,
            &path,
            &extra,
            &child_window,
            false,
            &mut requests,
            |records, _| {
                for (mut child, _) in records {
                    adopt(&mut child, parent, &group);
                    em.emit(out, child)?;
                }
                Ok(())
            },
        );
        em.count(requests, def.tokens);
        match listed? {
            Listed::Done => {}
            Listed::Denied(e) if *first_child => return Ok(Some(e)),
            // The parent went away since it was listed: nothing to read for it.
            Listed::Denied(_) => {
                em.stats.vanished_parents += 1;
                continue;
            }
        }
        *first_child = false;
    }
    Ok(None)
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
