//! The connector against Pipedrive's published contract, without network.
//!
//! `contract/pipedrive-contract.json` holds facts distilled from the official Node client
//! (`bash integration_tests/contract/distill.sh` refreshes it). These tests check the stream table
//! (`source_pipedrive::streams::STREAMS`), `schemas/` and README.md against it:
//! - every stream reads an official GET endpoint, not a deprecated one, where its records are,
//!   with only the query parameters that endpoint documents (names; enum values, v1 `sort` fields
//!   and directions; documented maxima of `limit` and of batched ids), every parameter it
//!   requires, and the paging it documents. What is sent is what `streams/engine/` builds from the
//!   row: paging, sort, params, server filter, `each` and a batch fan-out. Disagreements awaiting
//!   a code fix are listed in `contract/open-disagreements.json`, each with why;
//! - every property of the official response model is in the stream's schema with a type that
//!   accepts the model's (integer or number for number, null where the model says nullable), down
//!   to two levels below the record; every property the schema declares is in the model, is a
//!   value of the endpoint's `include_fields` (sent when asked for), or is in
//!   `contract/known-extras.json` with the source that says the API sends it ("connector" for
//!   what the stream table adds itself);
//! - every official GET list endpoint is a stream or named in README.md's "Left out, and why",
//!   and everything named there is an official GET endpoint.
//!
//! Each check collects every drift it finds and fails once, naming stream, property or
//! endpoint, and what to do. Entries of the two committed lists that no longer match a drift
//! fail too, so the lists only hold what is still true.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use source_pipedrive::streams::{self, Fanout, Paging, Records, ServerFilter, StreamDef};

const CONTRACT: &str = include_str!("contract/pipedrive-contract.json");
const KNOWN_EXTRAS: &str = include_str!("contract/known-extras.json");
const OPEN: &str = include_str!("contract/open-disagreements.json");
const README: &str = include_str!("../README.md");

const DISTILL: &str = "bash integration_tests/contract/distill.sh";
const TABLE: &str = "the stream table (src/streams/mod.rs)";
const EXTRAS_FILE: &str = "integration_tests/contract/known-extras.json";
const OPEN_FILE: &str = "integration_tests/contract/open-disagreements.json";

pub(crate) fn contract() -> Value {
    serde_json::from_str(CONTRACT).expect("contract/pipedrive-contract.json is JSON")
}

fn client(c: &Value) -> String {
    format!(
        "{}@{}",
        c["client"]["package"].as_str().unwrap(),
        c["client"]["version"].as_str().unwrap()
    )
}

/// `{id}`, `{field_code}`, ...: any path parameter is one segment.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(ch),
        }
    }
    out
}

/// The official GET operation a stream reads, found by path shape.
fn operation<'a>(c: &'a Value, path: &str) -> Option<&'a Value> {
    let want = shape(path);
    c["operations"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(p, _)| shape(p) == want)
        .map(|(_, op)| op)
}

pub(crate) fn fail_on(failures: Vec<String>, what: &str) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n- {}",
        failures.len(),
        failures.join("\n- ")
    );
}

/// A query parameter the engine sends for a stream, with the values it can take and why.
pub(crate) struct Sent<'a> {
    pub(crate) name: &'a str,
    pub(crate) values: Vec<String>,
    pub(crate) from: &'a str,
}

/// What the engine (`streams/engine/`) puts in a stream's query (see `base_query`, `list`, `passes`, `fan_out`).
fn sent(def: &StreamDef) -> Vec<Sent<'static>> {
    let mut q = Vec::new();
    let mut add = |name: &'static str, values: Vec<String>, from: &'static str| {
        q.push(Sent { name, values, from })
    };
    match def.paging {
        Paging::Cursor { limit } => {
            add(
                "limit",
                vec![limit.to_string()],
                "its paging, Paging::Cursor",
            );
            add("cursor", vec![], "its paging, Paging::Cursor");
        }
        Paging::Offset { limit } => {
            add(
                "limit",
                vec![limit.to_string()],
                "its paging, Paging::Offset",
            );
            add("start", vec!["0".into()], "its paging, Paging::Offset");
        }
        Paging::Single => {}
    }
    for (k, v) in def.sort.params() {
        add(k, vec![v.to_string()], "its sort");
    }
    for (k, v) in def.params {
        add(k, vec![v.to_string()], "its params");
    }
    match def.filter {
        ServerFilter::None => {}
        ServerFilter::Since => add("updated_since", vec![], "its filter, ServerFilter::Since"),
        ServerFilter::SinceUntil => {
            add(
                "updated_since",
                vec![],
                "its filter, ServerFilter::SinceUntil",
            );
            add(
                "updated_until",
                vec![],
                "its filter, ServerFilter::SinceUntil",
            );
        }
    }
    if let Some((param, values)) = def.each {
        add(
            param,
            values.iter().map(|v| v.to_string()).collect(),
            "its `each`",
        );
    }
    if let Some(p) = def.parent {
        if let Fanout::Batch { param, .. } = p.fanout {
            add(param, vec![], "its parent fan-out, Fanout::Batch");
        }
    }
    q
}

/// Disagreements of the stream table with the contract, keyed by stream and subject (a
/// parameter, or `path`, `paging`, `records`), so that the ones awaiting a code fix can be listed
/// in `contract/open-disagreements.json` without hiding new ones.
#[derive(Default)]
pub(crate) struct Drifts(pub(crate) Vec<(String, String, String)>);

impl Drifts {
    fn push(&mut self, stream: &str, subject: &str, message: String) {
        self.0
            .push((stream.to_string(), subject.to_string(), message));
    }

    fn finish(self, what: &str) {
        let open: Vec<Value> =
            serde_json::from_str(OPEN).expect("contract/open-disagreements.json is JSON");
        let key = |e: &Value| {
            (
                e["stream"].as_str().unwrap_or_default().to_string(),
                e["subject"].as_str().unwrap_or_default().to_string(),
            )
        };
        let mut failures = Vec::new();
        for e in &open {
            if e["why"].as_str().unwrap_or_default().trim().is_empty() {
                failures.push(format!("{OPEN_FILE}: {e} needs a `why`"));
            }
            let (stream, subject) = key(e);
            if !self.0.iter().any(|(s, t, _)| *s == stream && *t == subject) {
                failures.push(format!(
                    "{OPEN_FILE}: {stream} / {subject} agrees with the contract now: remove the entry"
                ));
            }
        }
        for (stream, subject, message) in self.0 {
            if !open
                .iter()
                .any(|e| key(e) == (stream.clone(), subject.clone()))
            {
                failures.push(message);
            }
        }
        fail_on(failures, what);
    }
}

#[test]
fn streams_read_official_endpoints_with_documented_parameters() {
    let c = contract();
    let who = client(&c);
    let mut failures = Drifts::default();
    for def in streams::STREAMS {
        let s = def.name;
        if let Some(item) = def.item {
            let documented = c["get_endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p.as_str().map(shape) == Some(shape(item)));
            if !documented {
                failures.push(
                    s,
                    "item",
                    format!(
                        "{s}: GET {item} (one of its records, asked when children answer 404) is \
                         not an endpoint of {who}: fix the stream's item in {TABLE}"
                    ),
                );
            }
        }
        let Some(op) = operation(&c, def.path) else {
            failures.push(
                s,
                "path",
                format!(
                    "{s}: GET {} is not an operation of {who}: fix the stream's path in {TABLE} \
                     (or, if the client is older than the stream, re-run {DISTILL})",
                    def.path
                ),
            );
            continue;
        };
        let api = format!("GET {}", op["path"].as_str().unwrap());
        if op["deprecated"] == true {
            failures.push(
                s,
                "path",
                format!("{s}: {api} is deprecated in {who}: move the stream to its replacement"),
            );
        }
        let query = op["query"].as_object().unwrap();
        let sent = sent(def);
        for p in &sent {
            let Some(doc) = query.get(p.name) else {
                failures.push(
                    s,
                    p.name,
                    format!(
                        "{s}: sends `{}` ({}) but {api} has no such parameter in {who}: \
                         remove it from {TABLE}, or use the parameter the endpoint documents \
                         (it has: {})",
                        p.name,
                        p.from,
                        query.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
                continue;
            };
            check_values(s, &api, p, doc, &mut failures);
        }
        if let Some(Fanout::Batch { param, size }) = def.parent.map(|p| p.fanout) {
            if let Some(max) = query.get(param).and_then(|d| d["max_items"].as_u64()) {
                if size as u64 > max {
                    failures.push(
                        s,
                        param,
                        format!(
                            "{s}: batches {size} parent ids in `{param}`, but {api} takes at most \
                             {max}: lower the batch size in {TABLE}"
                        ),
                    );
                }
            }
        }
        for (name, doc) in query {
            if doc["required"] == true && !sent.iter().any(|p| p.name == name) {
                failures.push(
                    s,
                    name,
                    format!(
                        "{s}: {api} requires `{name}`, which the stream does not send: add it to \
                         {TABLE} (params, each or a batch fan-out)"
                    ),
                );
            }
        }
        let pages = |q: &str| query.contains_key(q);
        let paging = match def.paging {
            Paging::Cursor { .. } => "cursor",
            Paging::Offset { .. } => "offset",
            Paging::Single => "single",
        };
        let documented = if pages("cursor") {
            "cursor"
        } else if pages("start") {
            "offset"
        } else {
            "single"
        };
        if paging != documented {
            failures.push(
                s,
                "paging",
                format!(
                "{s}: reads {api} with {paging} paging, but the endpoint documents {documented} \
                 paging (query: {}): set the stream's paging in {TABLE} to match",
                query.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            );
        }
        check_records_place(def, &api, op, &mut failures);
    }
    failures.finish("streams disagree with the official endpoints");
}

pub(crate) fn check_values(s: &str, api: &str, p: &Sent, doc: &Value, failures: &mut Drifts) {
    let name = p.name;
    // The values a parameter takes: its enum, or the fields a v1 `sort` lists in prose.
    let allowed = doc["enum"].as_array().or(doc["fields"].as_array());
    // v1 `sort` takes "field ASC, field DESC" where its documentation says so.
    let directional = doc["with_direction"] == true;
    let sorts = doc.get("fields").is_some() || directional;
    let comma = doc["comma_list"] == true || directional;
    for v in &p.values {
        let parts: Vec<&str> = if comma {
            v.split(',').map(str::trim).collect()
        } else {
            vec![v.as_str()]
        };
        if !comma && allowed.is_some() && v.contains(',') {
            failures.push(s, name, format!(
                "{s}: sends several values in `{name}={v}` ({}), but {api} documents one: fix {TABLE}",
                p.from
            ));
            continue;
        }
        for part in parts {
            let (value, direction) = match part.split_once(' ') {
                Some((field, dir)) if sorts => (field, Some(dir.trim())),
                _ => (part, None),
            };
            if let Some(dir) = direction {
                if !directional {
                    failures.push(
                        s,
                        name,
                        format!(
                        "{s}: sends `{name}={v}` ({}), but {api} documents `{name}` as a field \
                         name only, with no sort direction: fix {TABLE}",
                        p.from
                    ),
                    );
                } else if !["ASC", "DESC"].contains(&dir.to_ascii_uppercase().as_str()) {
                    failures.push(
                        s,
                        name,
                        format!(
                        "{s}: sends `{name}={v}` ({}), whose direction is neither ASC nor DESC: \
                         fix {TABLE}",
                        p.from
                    ),
                    );
                }
            }
            let Some(allowed) = allowed else { continue };
            if !allowed.iter().any(|a| {
                a.as_str() == Some(value) || (a.is_number() && a.as_f64() == value.parse().ok())
            }) {
                failures.push(
                    s,
                    name,
                    format!(
                    "{s}: sends `{name}={v}` ({}), but {api} allows `{name}` only in {}: fix the \
                     value in {TABLE}",
                    p.from,
                    Value::Array(allowed.clone())
                ),
                );
            }
        }
    }
    if let Some(max) = doc["maximum"].as_u64() {
        for v in &p.values {
            if v.parse::<u64>().is_ok_and(|n| n > max) {
                failures.push(
                    s,
                    name,
                    format!(
                        "{s}: sends `{name}={v}` ({}), above the maximum of {max} that {api} \
                         documents: lower it in {TABLE}",
                        p.from
                    ),
                );
            }
        }
    }
}

/// The stream's `records` must point at the list in the official response.
fn check_records_place(def: &StreamDef, api: &str, op: &Value, failures: &mut Drifts) {
    let s = def.name;
    let data = &op["response"]["data"];
    let kind = |v: &Value| v["type"].as_str().unwrap_or("?").to_string();
    let ok = match def.records {
        Records::Data => kind(data) == "array",
        Records::Nested(field) => kind(&data["properties"][field]) == "array",
        Records::Object => kind(data) == "object",
    };
    if !ok {
        failures.push(
            s,
            "records",
            format!(
                "{s}: reads its records as {:?}, but the official response of {api} has data of \
                 type {}: fix `records` in {TABLE}",
                def.records,
                kind(data)
            ),
        );
    }
}

/// The model of one record of a stream: the item of the list, or the object.
fn record_model<'a>(def: &StreamDef, op: &'a Value) -> &'a Value {
    let data = &op["response"]["data"];
    match def.records {
        Records::Data => &data["items"],
        Records::Nested(field) => &data["properties"][field]["items"],
        Records::Object => data,
    }
}

/// The JSON types a schema property accepts; `None` when it declares none (accepts anything).
fn schema_types(prop: &Value) -> Option<BTreeSet<String>> {
    match &prop["type"] {
        Value::String(t) => Some(BTreeSet::from([t.clone()])),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

fn model_types(m: &Value) -> Vec<String> {
    match &m["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => vec!["any".into()],
    }
}

/// Why the schema's type does not accept every value the model allows, if it does not.
fn incompatible(model: &Value, prop: &Value) -> Option<String> {
    let wanted = model_types(model);
    if wanted.iter().any(|t| t == "any") {
        return None;
    }
    let Some(have) = schema_types(prop) else {
        return Some(format!(
            "declares no type, while the model says {}",
            describe(model)
        ));
    };
    for t in &wanted {
        let accepted = match t.as_str() {
            "number" => have.contains("number") || have.contains("integer"),
            other => have.contains(other),
        };
        if !accepted {
            return Some(format!(
                "is {}, while the model says {}",
                have.iter().cloned().collect::<Vec<_>>().join(" | "),
                describe(model)
            ));
        }
    }
    if model["nullable"] == true && !have.contains("null") {
        return Some(format!(
            "does not allow null, while the model says {}",
            describe(model)
        ));
    }
    None
}

fn describe(model: &Value) -> String {
    let mut t = model_types(model).join(" | ");
    if let Some(items) = model.get("items") {
        t = format!("{t} of {}", model_types(items).join(" | "));
    }
    if let Some(e) = model.get("enum") {
        t = format!("{t} {e}");
    }
    if model["nullable"] == true {
        t.push_str(" | null");
    }
    t
}

/// One stream's comparison of schema against model.
struct Comparison<'a> {
    stream: &'a str,
    api: String,
    /// Values of the endpoint's `include_fields`: top-level properties the API sends when asked.
    on_request: BTreeSet<String>,
    /// (stream, property path) → source, from `contract/known-extras.json`.
    extras: &'a BTreeMap<(String, String), String>,
    used: &'a mut BTreeSet<(String, String)>,
    failures: &'a mut Vec<String>,
}

impl Comparison<'_> {
    /// Compares one level of properties, then the levels below where the model describes them.
    fn level(
        &mut self,
        prefix: &str,
        model: &Map<String, Value>,
        schema: Option<&Map<String, Value>>,
    ) {
        let s = self.stream;
        let api = self.api.clone();
        let file = format!("schemas/{s}.json");
        let empty = Map::new();
        let schema = schema.unwrap_or(&empty);
        for (name, m) in model {
            let path = format!("{prefix}{name}");
            let Some(prop) = schema.get(name) else {
                self.failures.push(format!(
                    "{s}: {file} lacks `{path}`, which the official model of {api} has ({}): add \
                     it with that type",
                    describe(m)
                ));
                continue;
            };
            if let Some(why) = incompatible(m, prop) {
                self.failures.push(format!(
                    "{s}: `{path}` in {file} {why}: make its type accept the model's"
                ));
            }
            if let Some(inner) = m["properties"].as_object() {
                self.level(&format!("{path}."), inner, prop["properties"].as_object());
            }
            if let Some(inner) = m["items"]["properties"].as_object() {
                self.level(
                    &format!("{path}[]."),
                    inner,
                    prop["items"]["properties"].as_object(),
                );
            }
        }
        for name in schema.keys() {
            if model.contains_key(name) || (prefix.is_empty() && self.on_request.contains(name)) {
                continue;
            }
            let path = format!("{prefix}{name}");
            let key = (s.to_string(), path.clone());
            if self.extras.contains_key(&key) {
                self.used.insert(key);
                continue;
            }
            self.failures.push(format!(
                "{s}: {file} declares `{path}`, which the official model of {api} lacks: remove \
                 it, or, if a source confirms the API sends it, list it in {EXTRAS_FILE} with \
                 that source"
            ));
        }
    }
}

#[test]
fn schemas_follow_the_official_models() {
    let c = contract();
    let mut extras = BTreeMap::new();
    let mut used = BTreeSet::new();
    let mut failures = Vec::new();
    let listed: Vec<Value> =
        serde_json::from_str(KNOWN_EXTRAS).expect("contract/known-extras.json is JSON");
    for e in &listed {
        let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        let (stream, property, source) = (field("stream"), field("property"), field("source"));
        if stream.is_empty() || property.is_empty() || source.trim().is_empty() {
            failures.push(format!(
                "{EXTRAS_FILE}: {e} needs a stream, a property and a source"
            ));
            continue;
        }
        if streams::find(&stream).is_none() {
            failures.push(format!(
                "{EXTRAS_FILE}: no stream {stream}: remove the entry for `{property}`"
            ));
        }
        if source == "connector" && !injected(&stream, &property) {
            failures.push(format!(
                "{EXTRAS_FILE}: {stream}.`{property}` says source \"connector\", but the stream \
                 table does not add it (parent id_field/time_field, a deletion column or an \
                 archive flag): give the \
                 API source instead, or remove it"
            ));
        }
        if extras
            .insert((stream.clone(), property.clone()), source)
            .is_some()
        {
            failures.push(format!(
                "{EXTRAS_FILE}: {stream}.`{property}` is listed twice"
            ));
        }
    }
    for def in streams::STREAMS {
        let Some(op) = operation(&c, def.path) else {
            continue; // reported by streams_read_official_endpoints_with_documented_parameters
        };
        let api = format!("GET {}", op["path"].as_str().unwrap());
        let schema = def.schema();
        let model = record_model(def, op);
        let Some(props) = model["properties"].as_object() else {
            failures.push(format!(
                "{}: the official model of {api} describes no record properties: check \
                 `records` in {TABLE} and the contract",
                def.name
            ));
            continue;
        };
        let on_request = op["query"]["include_fields"]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Comparison {
            stream: def.name,
            api,
            on_request,
            extras: &extras,
            used: &mut used,
            failures: &mut failures,
        }
        .level("", props, schema["properties"].as_object());
    }
    for (key, source) in &extras {
        if !used.contains(key) {
            failures.push(format!(
                "{EXTRAS_FILE}: {}.`{}` (source: {source}) is no extra any more (the official \
                 model has it, or the schema does not declare it): remove the entry",
                key.0, key.1
            ));
        }
    }
    fail_on(
        failures,
        "schema properties disagree with the official models",
    );
}

/// Properties the connector adds to a stream's records itself.
fn injected(stream: &str, property: &str) -> bool {
    let Some(def) = streams::find(stream) else {
        return false;
    };
    (property == streams::DELETED_AT && def.marks_deletes())
        || (property == "is_archived"
            && def
                .archive
                .is_some_and(|a| a.flag == streams::ArchiveFlag::ArchiveTime))
        || def
            .parent
            .is_some_and(|p| p.id_field == Some(property) || p.time_field == Some(property))
}

/// The backticked paths in README.md's "Left out, and why" list (`*` stands for one segment).
fn left_out() -> Vec<String> {
    let mut lines = README
        .lines()
        .skip_while(|l| !l.starts_with("Left out, and why"))
        .skip(1);
    let mut paths = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 1 && part.starts_with('/') {
                paths.push(part.to_string());
            }
        }
    }
    assert!(
        !paths.is_empty(),
        "README.md has no \"Left out, and why\" list with backticked paths"
    );
    paths
}

fn matches(pattern: &str, path: &str) -> bool {
    let (p, q) = (shape(pattern), shape(path));
    let (p, q): (Vec<&str>, Vec<&str>) = (p.split('/').collect(), q.split('/').collect());
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| *a == "*" || a == b)
}

#[test]
fn every_official_list_endpoint_is_a_stream_or_left_out_with_a_reason() {
    let c = contract();
    let who = client(&c);
    let left = left_out();
    let ours: BTreeSet<String> = streams::STREAMS.iter().map(|d| shape(d.path)).collect();
    let official: Vec<&str> = c["list_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let mut failures = Vec::new();
    for path in &official {
        if !ours.contains(&shape(path)) && !left.iter().any(|l| matches(l, path)) {
            failures.push(format!(
                "GET {path} is a list endpoint of {who}, neither a stream nor named in \
                 README.md's \"Left out, and why\": add a stream, or name it there with the reason"
            ));
        }
    }
    let every_get: Vec<&str> = c["get_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for l in &left {
        if !every_get.iter().any(|p| matches(l, p)) {
            failures.push(format!(
                "README.md's \"Left out, and why\" names `{l}`, which is no GET endpoint of \
                 {who}: correct or remove it"
            ));
        }
    }
    fail_on(failures, "list endpoints are not accounted for");
}

#[test]
fn the_contract_is_the_distilled_form() {
    let c = contract();
    assert!(c["client"]["version"].is_string(), "the client's version");
    let ops = c["operations"].as_object().unwrap();
    assert!(
        ops.keys().zip(ops.keys().skip(1)).all(|(a, b)| a < b),
        "operations in path order (re-run {DISTILL})"
    );
    for e in c["list_endpoints"].as_array().unwrap() {
        let p = e["path"].as_str().unwrap();
        assert!(
            ops.contains_key(p),
            "list endpoint {p} has its operation (re-run {DISTILL})"
        );
    }
}

/// Every include-only property a schema declares is asked for: v2 sends it only when the
/// request's `include_fields` names it, so a stream that does not ask declares a column that is
/// always null.
#[test]
fn every_declared_include_only_property_is_asked_for() {
    let c = contract();
    let mut failures = Vec::new();
    for def in streams::STREAMS {
        let Some(op) = operation(&c, def.path) else {
            continue;
        };
        let offered: BTreeSet<String> = op["query"]["include_fields"]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_string())
            .collect();
        let asked: BTreeSet<&str> = def
            .params
            .iter()
            .filter(|(k, _)| *k == "include_fields")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .collect();
        let schema = def.schema();
        for name in &offered {
            if schema["properties"].get(name).is_some() && !asked.contains(name.as_str()) {
                failures.push(format!(
                    "{}: schemas/{}.json declares `{name}`, which GET {} returns only when \
                     `include_fields` names it, and the stream does not ask: add it to the \
                     stream's include_fields in {TABLE}",
                    def.name,
                    def.name,
                    op["path"].as_str().unwrap_or(def.path)
                ));
            }
        }
    }
    fail_on(failures, "include-only properties that are never asked for");
}

/// The include-only properties do arrive: the sandbox, like Pipedrive, sends them only when
/// asked, so a sync that forgot `include_fields` would leave these columns null.
#[test]
fn include_only_properties_arrive_in_records() {
    let world = crate::util::World::new(40);
    let wanted: &[(&str, &[&str])] = &[
        (
            "deals",
            &["products_count", "smart_bcc_email", "first_won_time"],
        ),
        (
            "persons",
            &["open_deals_count", "marketing_status", "doi_status"],
        ),
        ("organizations", &["people_count", "followers_count"]),
        ("activities", &["attendees"]),
        (
            "deal_fields",
            &["ui_visibility", "important_fields", "required_fields"],
        ),
        ("product_fields", &["ui_visibility"]),
    ];
    let names: Vec<&str> = wanted.iter().map(|(s, _)| *s).collect();
    let run = world.read(crate::util::START, &names, "full_refresh", None);
    run.assert_ok();
    for (stream, properties) in wanted {
        let records = run.records(stream);
        assert!(!records.is_empty(), "{stream}: no records");
        for p in *properties {
            assert!(
                records.iter().any(|r| !r[*p].is_null()),
                "{stream}: `{p}` is null or missing in every record"
            );
        }
    }
}
