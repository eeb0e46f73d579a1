//! The contract checked on what the engine sends, not on a model of it: real reads of every
//! stream against the sandbox (full refresh; incremental from nothing, then from that state; on
//! small pages, so every list pages), then every request in the sandbox's log against the
//! official operation of its path in `contract/pipedrive-contract.json`: each query parameter
//! documented there, each value of the documented type, in its enum, under its maximum, at most
//! the documented number of comma-separated items, and every required parameter sent. The
//! sandbox ignores parameters it does not know, so only this check sees one the engine adds.

use std::collections::BTreeMap;

use pipedrive_sandbox::{RequestLogEntry, SandboxOptions};
use serde_json::Value;
use source_pipedrive::streams::{self, StreamDef};

use crate::contract::{check_values, contract, fail_on, Drifts, Sent};
use crate::util::{all_streams, World, START};

/// Whether the concrete `path` is an instance of the documented `template` (`{id}` is any one
/// segment).
fn instance_of(path: &str, template: &str) -> bool {
    let (p, t): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), template.split('/').collect());
    p.len() == t.len()
        && p.iter()
            .zip(&t)
            .all(|(p, t)| p == t || (t.starts_with('{') && !p.is_empty()))
}

/// The documented template of `path`: the most literal one that it is an instance of
/// (`/api/v2/deals/archived` rather than `/api/v2/deals/{id}`).
fn template<'a>(templates: impl Iterator<Item = &'a str>, path: &str) -> Option<&'a str> {
    templates
        .filter(|t| instance_of(path, t))
        .min_by_key(|t| t.matches('{').count())
}

/// What is wrong with one request, against the contract `c`.
fn check_request(c: &Value, r: &RequestLogEntry, failures: &mut Vec<String>) {
    let operations = c["operations"].as_object().unwrap();
    let Some(path) = template(operations.keys().map(String::as_str), &r.path) else {
        // An endpoint the distilled operations leave out (a record by id): no query at all.
        let endpoints = c["get_endpoints"].as_array().unwrap();
        let known = template(endpoints.iter().filter_map(Value::as_str), &r.path);
        if known.is_none() || !r.query.is_empty() {
            failures.push(format!(
                "GET {}: not an official GET operation with these parameters",
                r.raw_target
            ));
        }
        return;
    };
    let op = &operations[path];
    let api = format!("GET {path}");
    let query = op["query"].as_object().unwrap();
    let mut drifts = Drifts::default();
    for (name, value) in &r.query {
        let Some(doc) = query.get(name) else {
            failures.push(format!(
                "`{name}` is not a parameter of {api} (it has: {})",
                query.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        let p = Sent {
            name,
            values: vec![value.clone()],
            from: "the request log",
        };
        check_values(&r.path, &api, &p, doc, &mut drifts);
        let items = if doc["comma_list"] == true {
            value.split(',').collect()
        } else {
            vec![value.as_str()]
        };
        if let Some(max) = doc["max_items"].as_u64() {
            if items.len() as u64 > max {
                failures.push(format!(
                    "{} items in `{name}`, {api} takes at most {max}",
                    items.len()
                ));
            }
        }
        let typed = |v: &str| match doc["type"].as_str() {
            Some("number") => v.parse::<f64>().is_ok(),
            Some("boolean") => ["true", "false", "0", "1"].contains(&v),
            _ => true,
        };
        if let Some(bad) = items.iter().find(|v| !typed(v)) {
            failures.push(format!(
                "`{name}={bad}` is not of the type {api} documents ({})",
                doc["type"]
            ));
        }
    }
    for (name, doc) in query {
        if doc["required"] == true && !r.query.iter().any(|(k, _)| k == name) {
            failures.push(format!("{api} requires `{name}`"));
        }
    }
    failures.extend(drifts.0.into_iter().map(|(_, _, message)| message));
}

/// Whether `r` is a request of `def`'s own list (or, for a stream read per parent, its path).
fn reads(def: &StreamDef, r: &RequestLogEntry) -> bool {
    instance_of(&r.path, def.path)
}

#[test]
fn every_request_of_real_reads_sends_only_documented_parameters() {
    let world = World::with(SandboxOptions {
        size: 40,
        page_cap: Some(7),
        v2_page_cap: Some(9),
        ..SandboxOptions::default()
    });
    let every = all_streams();
    world.read(START, &every, "full_refresh", None).assert_ok();
    let first = world.read(START, &every, "incremental", None);
    first.assert_ok();
    let state = world.file("state.json", &first.state_file());
    world
        .read(START, &every, "incremental", Some(&state))
        .assert_ok();

    let c = contract();
    let log = world.sandbox.requests();
    // Each fault once, with the first request that shows it and how many do.
    let mut faults: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for r in &log {
        let mut found = Vec::new();
        check_request(&c, r, &mut found);
        for f in found {
            faults.entry(f).or_insert((r.raw_target.clone(), 0)).1 += 1;
        }
    }
    let mut failures: Vec<String> = faults
        .into_iter()
        .map(|(f, (target, n))| format!("{f} ({n} requests, e.g. GET {target})"))
        .collect();
    // Every stream was read: each one's requests were among those checked.
    for def in streams::STREAMS {
        if !log.iter().any(|r| reads(def, r)) {
            failures.push(format!(
                "{}: no request for {} in the log",
                def.name, def.path
            ));
        }
    }
    fail_on(failures, "requests a real read sent against the contract");
}
