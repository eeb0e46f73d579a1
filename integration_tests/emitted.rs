//! Whole records: what the connector writes for a record the sandbox holds, as the README
//! documents its output, so that a test compares each record's body and not only its key. One
//! definition for every test: v1 times rewritten as RFC 3339, a child given its parent's id and
//! update time, `_ab_cdc_deleted_at` on a record that says it is deleted, `is_archived` where the
//! connector sets it (the list a record of a live/archived pair came from), and custom fields left
//! out of the comparison on both sides (the naming modes have their own tests, `custom_fields.rs`).

use std::sync::OnceLock;

use serde_json::Value;
use source_pipedrive::custom_fields::is_custom_key;
use source_pipedrive::streams::{self, time, ArchiveFlag, StreamDef, DELETED_AT};

use crate::util::{normalized, resource, Run, World};

/// What the endpoint of `def` documents for `include_fields` (the contract's enum): the README
/// says each stream asks for all of it.
pub fn documented_includes(def: &StreamDef) -> Vec<&'static str> {
    static CONTRACT: OnceLock<Value> = OnceLock::new();
    let contract = CONTRACT.get_or_init(|| {
        serde_json::from_str(include_str!("contract/pipedrive-contract.json")).unwrap()
    });
    contract["operations"][def.path]["query"]["include_fields"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        // Some enums list combinations too ("ui_visibility,important_fields").
        .flat_map(|v| v.split(','))
        .fold(Vec::new(), |mut all, v| {
            if !all.contains(&v) {
                all.push(v);
            }
            all
        })
}

/// The records Pipedrive holds for `def`'s own list, as served to the connector's requests.
pub fn served(world: &World, def: &StreamDef) -> Vec<Value> {
    world
        .sandbox
        .dataset()
        .records_including(resource(def.name), &documented_includes(def))
}

/// A sandbox record of `def`'s own list as `def` writes it.
pub fn as_emitted(def: &StreamDef, record: &Value) -> Value {
    let mut r = normalized(def, record);
    if let Some(a) = def.archive {
        if a.flag == ArchiveFlag::ArchiveTime {
            r["is_archived"] = Value::Bool(a.archived);
        }
    }
    if def.deletion.is_some_and(|d| d.is_deleted(&r)) {
        r[DELETED_AT] = def.cursor.map_or(Value::Null, |c| r[c].clone());
    }
    r
}

/// A record of the other list of `def`'s live/archived pair as `def` writes it in an incremental
/// sync: the live stream writes archived records marked archived; the archived stream writes
/// live ones deleted at their update time.
pub fn from_twin(def: &StreamDef, record: &Value) -> Value {
    let a = def.archive.expect("a stream of a live/archived pair");
    let twin = streams::find(a.twin).unwrap();
    let mut r = normalized(twin, record);
    if a.archived {
        if a.flag == ArchiveFlag::ArchiveTime {
            r["is_archived"] = Value::Bool(false);
        }
        r[DELETED_AT] = def.cursor.map_or(Value::Null, |c| r[c].clone());
    } else {
        r["is_archived"] = Value::Bool(true);
        if def.deletion.is_some_and(|d| d.is_deleted(&r)) {
            r[DELETED_AT] = def.cursor.map_or(Value::Null, |c| r[c].clone());
        }
    }
    r
}

/// A child record as `def` writes it, read for `parent` (a record of `pdef` as emitted).
pub fn child_as_emitted(def: &StreamDef, pdef: &StreamDef, parent: &Value, child: &Value) -> Value {
    let mut child = as_emitted(def, child);
    let p = def.parent.expect("a child stream");
    if let Some(field) = p.id_field {
        if child.get(field).is_none_or(Value::is_null) {
            child[field] = parent["id"].clone();
        }
    }
    if let Some(field) = p.time_field {
        child[field] = parent[pdef.cursor.unwrap()].clone();
    }
    child
}

/// The part of a record a test compares: everything but custom fields (the `custom_fields`
/// object, v1's flat 40-character keys and their suffixed subfields).
pub fn comparable(record: &Value) -> Value {
    let mut r = record.clone();
    if let Some(map) = r.as_object_mut() {
        map.retain(|k, _| k != "custom_fields" && !k.get(..40).is_some_and(is_custom_key));
    }
    r
}

/// How `got` differs from `want`, property by property (custom fields aside).
pub fn differences(got: &Value, want: &Value) -> Vec<String> {
    let (got, want) = (comparable(got), comparable(want));
    let (Some(g), Some(w)) = (got.as_object(), want.as_object()) else {
        return vec![format!("{got} instead of {want}")];
    };
    let mut out = Vec::new();
    for (k, v) in w {
        match g.get(k) {
            None => out.push(format!("{k} missing (want {v})")),
            Some(have) if have != v => out.push(format!("{k}: {have} instead of {v}")),
            Some(_) => {}
        }
    }
    for (k, v) in g {
        if !w.contains_key(k) {
            out.push(format!("{k}: {v} added"));
        }
    }
    out
}

impl World {
    /// The records the sandbox holds for `stream`, updated at or after `since`, as the connector
    /// writes them, each with its key; for a child stream, the children of the parents updated at
    /// or after `since`.
    pub fn expected_records(&self, stream: &str, since: &str) -> Vec<(String, Value)> {
        let since = time::parse(since).unwrap();
        let def = streams::find(stream).unwrap();
        let data = self.sandbox.dataset();
        let recent = |d: &StreamDef, r: &Value| {
            d.cursor
                .and_then(|c| time::of(r, c))
                .is_none_or(|t| t >= since)
        };
        let mut out = Vec::new();
        match def.parent {
            None => {
                for r in served(self, def) {
                    let r = as_emitted(def, &r);
                    if recent(def, &r) {
                        out.push((def.key_of(&r), r));
                    }
                }
            }
            Some(parent) => {
                for pname in parent.streams {
                    let pdef = streams::find(pname).unwrap();
                    for p in served(self, pdef) {
                        let p = as_emitted(pdef, &p);
                        if !recent(pdef, &p) {
                            continue;
                        }
                        for child in data.children(resource(stream), &p["id"]) {
                            let child = child_as_emitted(def, pdef, &p, &child);
                            if parent.time_field.is_none() && !recent(def, &child) {
                                continue;
                            }
                            out.push((def.key_of(&child), child));
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// What an incremental sync of `stream` from `since` emits: `expected_records`, and for a
    /// stream of a live/archived pair the other list's records, marked as the stream writes them.
    pub fn expected_incremental_records(&self, stream: &str, since: &str) -> Vec<(String, Value)> {
        let def = streams::find(stream).unwrap();
        let mut out = self.expected_records(stream, since);
        if let Some(a) = def.archive {
            for (key, r) in self.expected_records(a.twin, since) {
                out.push((key, from_twin(def, &r)));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out
    }

    /// What a first incremental sync of `stream` (no state) from `since` emits: as
    /// `expected_incremental_records`, but an archived stream writes nothing of its live twin's
    /// list, which would only delete rows its destination never held.
    pub fn expected_first_sync_records(&self, stream: &str, since: &str) -> Vec<(String, Value)> {
        let def = streams::find(stream).unwrap();
        match def.archive {
            Some(a) if a.archived => self.expected_records(stream, since),
            _ => self.expected_incremental_records(stream, since),
        }
    }

    /// Every record of `got` is, whole, the one the sandbox holds under its key (`expected`:
    /// `expected_records` or `expected_incremental_records`). Keys are compared elsewhere.
    pub fn assert_whole(&self, stream: &str, expected: &[(String, Value)], got: &[&Value]) {
        let def = streams::find(stream).unwrap();
        let want: std::collections::BTreeMap<&String, &Value> =
            expected.iter().map(|(k, v)| (k, v)).collect();
        let mut wrong = Vec::new();
        for r in got {
            let key = def.key_of(r);
            let Some(w) = want.get(&key) else {
                wrong.push(format!("{key}: not in the sandbox"));
                continue;
            };
            let d = differences(r, w);
            if !d.is_empty() {
                wrong.push(format!("{key}: {}", d.join("; ")));
            }
        }
        assert!(
            wrong.is_empty(),
            "{stream}: {} of {} records differ from the sandbox's, e.g.\n{}",
            wrong.len(),
            got.len(),
            wrong[..wrong.len().min(5)].join("\n")
        );
    }

    /// `run`'s records of `stream` are exactly `expected`: the same keys, and each record whole.
    pub fn assert_exactly(&self, run: &Run, stream: &str, expected: &[(String, Value)]) {
        let keys: Vec<String> = expected.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(run.ids(stream), keys, "{stream}: keys");
        self.assert_whole(stream, expected, &run.records(stream));
    }
}
