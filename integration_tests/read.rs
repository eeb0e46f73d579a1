//! `read` end to end: exactly the sandbox's records, incremental windows, checkpoints that lose
//! nothing when a sync is cut short, `start_date` filtering, schemas, and skipped streams.

use std::collections::{BTreeMap, BTreeSet};

use pipedrive_sandbox::{Resource, SandboxOptions};
use serde_json::json;
use source_pipedrive::protocol::airbyte::{LogLevel, Message, StreamStatusKind, Trace};
use source_pipedrive::streams::{self, time, STREAMS};

use crate::util::{all_streams, default_streams, id_of, resource, Run, World, START};

/// Enough records that every paged stream needs several pages (500 for v2, 100 for files).
const SIZE: u64 = 1_234;

fn assert_no_duplicates(run: &Run, stream: &str) {
    let ids = run.ids(stream);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{stream}: duplicate records");
}

#[test]
fn full_sync_returns_exactly_the_sandbox_records() {
    let world = World::new(SIZE);
    let run = world.read(START, &default_streams(), "full_refresh", None);
    run.assert_ok();
    for def in STREAMS.iter().filter(|d| d.default) {
        let expected = world.expected_records(def.name, START);
        assert!(
            !expected.is_empty(),
            "{}: the sandbox serves no records",
            def.name
        );
        world.assert_exactly(&run, def.name, &expected);
        assert_no_duplicates(&run, def.name);
    }
    // Deleted deals are part of the extract.
    let deleted = run
        .records("deals")
        .iter()
        .filter(|d| d["is_deleted"] == json!(true))
        .count();
    assert!(deleted > 0, "deleted deals must come through");
    for d in run.records("deals") {
        let marked = d.get(streams::DELETED_AT).is_some();
        assert_eq!(marked, d["is_deleted"] == json!(true), "{}", d["id"]);
        if marked {
            assert_eq!(
                d[streams::DELETED_AT],
                d["update_time"],
                "the delete time is the update time"
            );
        }
    }
}

#[test]
fn per_parent_streams_return_exactly_the_children() {
    // One request per parent: a small company keeps this test quick.
    let world = World::new(80);
    let per_parent: Vec<&str> = STREAMS
        .iter()
        .filter(|d| !d.default)
        .map(|d| d.name)
        .collect();
    let run = world.read(START, &per_parent, "full_refresh", None);
    run.assert_ok();
    for name in per_parent {
        let expected = world.expected_records(name, START);
        assert!(
            !expected.is_empty(),
            "{name}: the sandbox serves no records"
        );
        world.assert_exactly(&run, name, &expected);
        assert_no_duplicates(&run, name);
    }
    for c in run.records("deal_changelog") {
        assert!(c["deal_id"].is_u64(), "the connector adds the deal id: {c}");
    }
}

/// The README's stream table: each stream with its endpoint, and whether its notes say "not
/// default". What the user reads, independent of the stream table's `default` flag.
fn readme_streams() -> Vec<(String, String, bool)> {
    let readme = include_str!("../README.md");
    let table = readme
        .split("\n## Streams\n")
        .nth(1)
        .expect("a Streams section");
    table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| stream "))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells[0].trim_start_matches("| ").trim_end_matches(" ⤷");
            let path = cells.get(1)?.trim_matches('`');
            path.starts_with('/').then(|| {
                let default = !l.contains("not default");
                (name.to_string(), path.to_string(), default)
            })
        })
        .collect()
}

#[test]
fn the_default_catalog_leaves_out_per_parent_streams() {
    let documented = readme_streams();
    assert_eq!(documented.len(), STREAMS.len(), "one README row per stream");
    // Those it leaves out cost one request per parent record (per user or per role, few, do
    // not count).
    for (name, path, default) in &documented {
        assert!(*default || path.contains('{'), "{name} ({path})");
    }
    let world = World::new(60);
    let run = world.read_all(START, None);
    run.assert_ok();
    for (name, _, default) in &documented {
        let read = run.messages.iter().any(|m| matches!(m, Message::Trace { trace: Trace::StreamStatus { stream_status, .. } } if stream_status.stream_descriptor.name == *name));
        assert_eq!(read, *default, "{name}: read without a catalog");
    }
    assert!(documented.iter().filter(|d| !d.2).count() >= 4);
}

#[test]
fn fan_out_asks_for_a_hundred_deals_per_request() {
    let world = World::new(SIZE);
    let run = world.read(
        START,
        &["deal_products", "deal_installments"],
        "full_refresh",
        None,
    );
    run.assert_ok();
    let log = world.sandbox.requests();
    let deals = world.sandbox.dataset().records(Resource::Deals).len();
    let archived = world
        .sandbox
        .dataset()
        .records(Resource::ArchivedDeals)
        .len();
    let count = |path: &str| log.iter().filter(|r| r.path == path).count();
    for (path, stream) in [
        ("/api/v2/deals/products", "deal_products"),
        ("/api/v2/deals/installments", "deal_installments"),
    ] {
        assert_eq!(
            count(path),
            deals.div_ceil(100) + archived.div_ceil(100),
            "{path}"
        );
        world.assert_exactly(&run, stream, &world.expected_records(stream, START));
        for r in log.iter().filter(|r| r.path == path) {
            let ids = &r.query.iter().find(|(k, _)| k == "deal_ids").unwrap().1;
            assert!(ids.split(',').count() <= 100);
        }
    }
    // Parents are listed once per child stream, at 500 per page.
    assert_eq!(count("/api/v2/deals"), 2 * deals.div_ceil(500));
}

#[test]
fn child_streams_ride_along_their_parents_which_are_listed_once() {
    let world = World::new(SIZE);
    let streams = [
        "deals",
        "archived_deals",
        "deal_products",
        "deal_installments",
        "persons",
    ];
    let run = world.read(START, &streams, "incremental", None);
    run.assert_ok();
    let log = world.sandbox.requests();
    let count = |path: &str| log.iter().filter(|r| r.path == path).count();
    let deals = world.sandbox.dataset().records(Resource::Deals).len();
    let archived = world
        .sandbox
        .dataset()
        .records(Resource::ArchivedDeals)
        .len();
    // Each list is read by its own stream, and the archive once more by the live stream, which
    // follows archives that way (a first sync of the archived stream does not read the live
    // list: it would delete what its destination never held); riders add no listing of their own.
    assert_eq!(
        count("/api/v2/deals"),
        deals.div_ceil(500),
        "deals listed once"
    );
    assert_eq!(count("/api/v2/deals/archived"), 2 * archived.div_ceil(500));
    for path in ["/api/v2/deals/products", "/api/v2/deals/installments"] {
        assert_eq!(
            count(path),
            deals.div_ceil(100) + archived.div_ceil(100),
            "{path}"
        );
    }
    for stream in streams {
        world.assert_exactly(
            &run,
            stream,
            &world.expected_first_sync_records(stream, START),
        );
    }
    // However the streams interleave, each one's records all come before its last STATE.
    for stream in streams {
        let last = |want_state: bool| {
            run.messages.iter().rposition(|m| match m {
                Message::Record { record } => !want_state && record.stream == stream,
                Message::State { state } => want_state && state.stream_name().unwrap() == stream,
                _ => false,
            })
        };
        assert!(
            last(false) < last(true),
            "{stream}: a record after its last STATE"
        );
    }
    assert!(
        run.logs().iter().any(|l| l.contains(
            "deal_products, deal_installments read along the passes over archived_deals, deals"
        )),
        "{:#?}",
        run.logs()
    );
}

#[test]
fn a_cut_sync_of_parents_and_riders_resumes_without_loss() {
    let world = World::new(SIZE);
    let streams = ["deals", "archived_deals", "deal_installments"];
    let full = world.read(START, &streams, "incremental", None);
    full.assert_ok();
    let whole: BTreeMap<&str, Vec<(String, serde_json::Value)>> = streams
        .iter()
        .map(|s| (*s, world.expected_incremental_records(s, START)))
        .collect();
    let mut cuts = 0;
    for (k, m) in full.messages.iter().enumerate() {
        if !matches!(m, Message::State { .. }) {
            continue;
        }
        // What a destination holds if the sync died right after message k: the records so far,
        // and each stream's last STATE so far.
        let mut states: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut before: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for m in &full.messages[..=k] {
            match m {
                Message::State { state } => {
                    let name = state.stream_name().unwrap().to_string();
                    states.insert(name, serde_json::to_value(state).unwrap());
                }
                Message::Record { record } => {
                    let key = streams::find(&record.stream).unwrap().key_of(&record.data);
                    before.entry(record.stream.clone()).or_default().insert(key);
                }
                _ => {}
            }
        }
        let state_file = world.file(
            "cut.json",
            &serde_json::to_string(&states.into_values().collect::<Vec<_>>()).unwrap(),
        );
        let resumed = world.read(START, &streams, "incremental", Some(&state_file));
        resumed.assert_ok();
        for stream in streams {
            world.assert_whole(stream, &whole[stream], &resumed.records(stream));
            let union: BTreeSet<String> = before
                .remove(stream)
                .unwrap_or_default()
                .into_iter()
                .chain(resumed.ids(stream))
                .collect();
            let expected: BTreeSet<String> = world
                .expected_incremental_ids(stream, START)
                .into_iter()
                .collect();
            if stream == "archived_deals" {
                // Resumed from a cursor, the archived stream also writes the live deals changed
                // since it (as deletions); the first sync wrote none.
                let live: BTreeSet<String> =
                    world.expected_ids("deals", START).into_iter().collect();
                assert!(
                    union.is_superset(&expected),
                    "{stream}: cut after message {k} loses records"
                );
                assert!(
                    union.difference(&expected).all(|id| live.contains(id)),
                    "{stream}: {k}"
                );
                continue;
            }
            assert_eq!(
                union, expected,
                "{stream}: cut after message {k} loses records"
            );
        }
        cuts += 1;
    }
    assert!(cuts >= 6, "only {cuts} checkpoints");
}

#[test]
fn admin_only_streams_denied_are_skipped_and_the_rest_is_intact() {
    let deny = [
        "/v1/roles",
        "/v1/permissionSets",
        "/v1/webhooks",
        "/api/v2/deals/installments",
    ];
    let world = World::with(SandboxOptions {
        size: 120,
        deny: deny.iter().map(|p| (p.to_string(), 403)).collect(),
        ..SandboxOptions::default()
    });
    let run = world.read(START, &all_streams(), "full_refresh", None);
    run.assert_ok();
    let skipped = [
        "roles",
        "role_assignments",
        "permission_sets",
        "permission_set_assignments",
        "webhooks",
        "deal_installments",
    ];
    for def in STREAMS {
        let warned = run.messages.iter().any(|m| matches!(m, Message::Log { log } if log.level == LogLevel::Warn && log.message.contains(&format!("stream {} skipped", def.name))));
        if skipped.contains(&def.name) {
            assert!(warned && run.records(def.name).is_empty(), "{}", def.name);
        } else {
            assert!(!warned, "{}", def.name);
            world.assert_exactly(&run, def.name, &world.expected_records(def.name, START));
        }
    }
}

#[test]
fn every_record_validates_against_its_stream_schema() {
    let world = World::new(120);
    let run = world.read(START, &all_streams(), "full_refresh", None);
    run.assert_ok();
    for def in STREAMS {
        let schema = def.schema();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        for record in run.records(def.name) {
            let errors: Vec<String> = validator
                .iter_errors(record)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{}: {errors:#?}\nrecord: {record}",
                def.name
            );
        }
    }
}

#[test]
fn stream_messages_are_framed_by_statuses_and_states_follow_records() {
    let world = World::new(SIZE);
    let run = world.read_all(START, None);
    run.assert_ok();
    let mut status: BTreeMap<String, Vec<StreamStatusKind>> = BTreeMap::new();
    let mut cursor: BTreeMap<String, String> = BTreeMap::new();
    for m in &run.messages {
        match m {
            Message::Trace {
                trace:
                    source_pipedrive::protocol::airbyte::Trace::StreamStatus { stream_status, .. },
            } => {
                status
                    .entry(stream_status.stream_descriptor.name.clone())
                    .or_default()
                    .push(stream_status.status);
            }
            Message::Record { record } => {
                let seen = &status[&record.stream];
                assert_eq!(
                    seen.last(),
                    Some(&StreamStatusKind::Running),
                    "record outside RUNNING"
                );
                // A record never precedes a state that claims to cover it.
                let def = streams::find(&record.stream).unwrap();
                // (Child streams checkpoint their parents' position, not their own times.)
                let own = def.cursor.filter(|_| def.parent.is_none());
                if let (Some(c), Some(prev)) = (own, cursor.get(&record.stream)) {
                    let t = time::of(&record.data, c).unwrap();
                    assert!(
                        t >= time::parse(prev).unwrap(),
                        "{}: record older than the last checkpoint",
                        record.stream
                    );
                }
            }
            Message::State { state } => {
                let s = state.stream.as_ref().unwrap();
                let v = s.stream_state.as_ref().unwrap();
                let def = streams::find(&s.stream_descriptor.name).unwrap();
                match def.cursor.and_then(|c| v[c].as_str()) {
                    Some(at) => {
                        cursor.insert(def.name.to_string(), at.to_string());
                    }
                    // Streams without a cursor end their full refresh with the CDK's sentinel.
                    None => {
                        assert_eq!(v["__ab_no_cursor_state_message"], true, "{}: {v}", def.name)
                    }
                }
            }
            _ => {}
        }
    }
    for def in STREAMS.iter().filter(|d| d.default) {
        assert_eq!(
            status[def.name],
            vec![
                StreamStatusKind::Started,
                StreamStatusKind::Running,
                StreamStatusKind::Complete
            ],
            "{}",
            def.name
        );
    }
}

#[test]
fn start_date_filters_every_stream() {
    let world = World::new(300);
    let mid = "2024-07-01T00:00:00Z";
    let run = world.read(mid, &all_streams(), "full_refresh", None);
    run.assert_ok();
    let mid_t = time::parse(mid).unwrap();
    let mut filtered_somewhere = false;
    for def in STREAMS {
        let expected = world.expected_records(def.name, mid);
        filtered_somewhere |= expected.len() < world.expected_ids(def.name, START).len();
        world.assert_exactly(&run, def.name, &expected);
        if let Some(c) = def.cursor {
            for r in run.records(def.name) {
                if let Some(t) = time::of(r, c) {
                    assert!(
                        t >= mid_t,
                        "{}: {} updated {t} before start_date",
                        def.name,
                        def.key_of(r)
                    );
                }
            }
        }
    }
    assert!(
        filtered_somewhere,
        "the sandbox's data must straddle the start date for this test to mean anything"
    );
}

#[test]
fn incremental_reads_only_what_changed() {
    let world = World::new(600);
    let incremental: Vec<&str> = STREAMS
        .iter()
        .filter(|d| d.incremental())
        .map(|d| d.name)
        .collect();
    let first = world.read(START, &incremental, "incremental", None);
    first.assert_ok();
    let state = world.file("state.json", &first.state_file());

    // Changes on the sandbox, after the first sync's window.
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let mut changed: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    let sb = &world.sandbox;
    for (stream, resource) in [
        ("deals", Resource::Deals),
        ("archived_deals", Resource::ArchivedDeals),
        ("persons", Resource::Persons),
        ("notes", Resource::Notes),
        ("leads", Resource::Leads),
        ("files", Resource::Files),
        ("projects", Resource::Projects),
    ] {
        let records = sb.dataset().records(resource);
        for r in [&records[0], &records[records.len() / 2]] {
            changed
                .entry(stream)
                .or_default()
                .push(sb.touch(resource, &r["id"])["id"].clone());
        }
        changed
            .entry(stream)
            .or_default()
            .push(sb.insert(resource)["id"].clone());
    }
    let victim = sb.dataset().records(Resource::Deals)[3]["id"].clone();
    sb.delete(Resource::Deals, &victim);
    changed.entry("deals").or_default().push(victim.clone());
    world.sandbox.advance_clock(chrono::Duration::seconds(5));

    let requests_before = world.sandbox.requests().len();
    let second = world.read(START, &incremental, "incremental", Some(&state));
    second.assert_ok();
    // The key check, and the field definitions that v1 records need to be given the v2 shape.
    let mut fields_streams: Vec<&str> = incremental
        .iter()
        .filter_map(|n| {
            streams::find(n)
                .unwrap()
                .custom
                .filter(|c| c.v1)
                .map(|c| c.fields)
        })
        .collect();
    fields_streams.sort();
    fields_streams.dedup();
    let mut expected_requests = 1 + fields_streams.len();
    for name in &incremental {
        let def = streams::find(name).unwrap();
        let got: BTreeSet<String> = second.ids(name).into_iter().collect();
        let want: BTreeSet<String> = match def.parent {
            None => {
                // Mail threads' answers say nothing of a next page: a page with nothing new
                // ends each folder's list, not a short one.
                // A list read whole in a stable order (files) costs every page, every sync.
                let pages = if *name == "mail_threads" {
                    2
                } else if let (streams::Sort::Stable(_), streams::Paging::Offset { limit }) =
                    (def.sort, def.paging)
                {
                    let n = sb.dataset().records(crate::util::resource(name)).len();
                    n.div_ceil(limit as usize).max(1)
                } else {
                    1
                };
                expected_requests += pages * def.each.map_or(1, |(_, values)| values.len());
                let mut lists = vec![*name];
                // A stream of a live/archived pair reads the other list too (one page here).
                if let Some(a) = def.archive {
                    expected_requests += 1;
                    lists.push(a.twin);
                }
                lists
                    .iter()
                    .flat_map(|l| changed.get(l).into_iter().flatten())
                    .map(id_of)
                    .collect()
            }
            // A child stream returns the children of the changed parents, and asks for nothing else.
            // Its parents are listed once, by their own streams, when all of them are synced too.
            Some(parent) => {
                let rides = parent
                    .streams
                    .iter()
                    .all(|p| incremental.contains(p) && streams::find(p).unwrap().parent.is_none());
                let mut keys = BTreeSet::new();
                for pname in parent.streams {
                    let ids = changed.get(pname).cloned().unwrap_or_default();
                    let passes = streams::find(pname)
                        .unwrap()
                        .each
                        .map_or(1, |(_, v)| v.len());
                    expected_requests += (if rides { 0 } else { passes })
                        + match parent.fanout {
                            streams::Fanout::Batch { size, .. } => ids.len().div_ceil(size),
                            streams::Fanout::Path => ids.len(),
                        };
                    for id in ids {
                        for child in sb.dataset().children(crate::util::resource(name), &id) {
                            let mut child = crate::util::normalized(def, &child);
                            if let Some(f) = parent.id_field {
                                if child.get(f).is_none_or(serde_json::Value::is_null) {
                                    child[f] = id.clone();
                                }
                            }
                            keys.insert(def.key_of(&child));
                        }
                    }
                }
                keys
            }
        };
        assert_eq!(
            got, want,
            "{name}: the second sync must emit exactly the changed records"
        );
    }
    assert!(
        !second.records("deal_changelog").is_empty() && !second.records("deal_products").is_empty()
    );
    let deleted = second
        .records("deals")
        .into_iter()
        .find(|d| d["id"] == victim)
        .unwrap()
        .clone();
    assert_eq!(deleted["is_deleted"], json!(true));
    assert!(deleted.get(streams::DELETED_AT).is_some());
    // Server-side filters, newest-first order and batched fan-out keep an almost empty
    // incremental sync to one request per stream and per changed parent batch (files: its
    // whole list).
    let log = world.sandbox.requests();
    // Plain offset lists may ask for a few pages past their end ahead of time.
    let past_the_end = |r: &&pipedrive_sandbox::RequestLogEntry| {
        let Some(def) = STREAMS.iter().find(|d| d.path == r.path) else {
            return false;
        };
        let total = world.sandbox.dataset().records(resource(def.name)).len();
        r.query.iter().any(|(k, _)| k == "start") && start_of(r) >= total
    };
    let ahead = log[requests_before..].iter().filter(past_the_end).count();
    assert!(
        ahead <= 2 * LOOKAHEAD,
        "{ahead} pages asked for past the end"
    );
    let paths: Vec<&str> = log[requests_before..]
        .iter()
        .filter(|r| !past_the_end(r))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        paths.len(),
        expected_requests,
        "requests for an almost empty incremental sync: {paths:?}"
    );
}

#[test]
fn a_sync_cut_after_any_checkpoint_resumes_without_loss() {
    let world = World::new(SIZE);
    every_checkpoint_resumes_without_loss(
        &world,
        &["deals", "notes", "leads", "files", "products"],
    );
}

/// An incremental sync of `streams_under_test`, cut after each of its STATE messages in turn
/// and resumed from it: together the two hold every record, whole, and the resumed one did not
/// start over.
pub fn every_checkpoint_resumes_without_loss(world: &World, streams_under_test: &[&str]) {
    let full = world.read(START, streams_under_test, "incremental", None);
    full.assert_ok();
    let whole: BTreeMap<String, Vec<(String, serde_json::Value)>> = streams_under_test
        .iter()
        .map(|s| (s.to_string(), world.expected_incremental_records(s, START)))
        .collect();
    let mut cuts = 0;
    for (k, m) in full.messages.iter().enumerate() {
        let Message::State { state } = m else {
            continue;
        };
        let stream = state.stream_name().unwrap().to_string();
        // What a destination holds if the sync died right after message k.
        let before: BTreeSet<String> = full.messages[..k]
            .iter()
            .filter_map(|m| match m {
                Message::Record { record } if record.stream == stream => {
                    Some(streams::find(&stream).unwrap().key_of(&record.data))
                }
                _ => None,
            })
            .collect();
        let state_file = world.file(
            "cut.json",
            &serde_json::to_string(&vec![serde_json::to_value(state).unwrap()]).unwrap(),
        );
        let resumed = world.read(START, &[&stream], "incremental", Some(&state_file));
        resumed.assert_ok();
        world.assert_whole(&stream, &whole[&stream], &resumed.records(&stream));
        let after: BTreeSet<String> = resumed.ids(&stream).into_iter().collect();
        let expected: BTreeSet<String> = world
            .expected_incremental_ids(&stream, START)
            .into_iter()
            .collect();
        let union: BTreeSet<String> = before.union(&after).cloned().collect();
        assert_eq!(
            union, expected,
            "{stream}: cut after message {k} loses records"
        );
        assert!(
            after.len() < expected.len() || before.is_empty(),
            "{stream}: the resumed sync started over instead of from the checkpoint"
        );
        cuts += 1;
    }
    assert!(
        cuts >= 10,
        "only {cuts} checkpoints: every page should end in one"
    );
}

/// The most pages of one list the connector asks for ahead of the one it reads.
const LOOKAHEAD: usize = 6;

/// The `start` a v1 request asked for.
fn start_of(r: &pipedrive_sandbox::RequestLogEntry) -> usize {
    r.query
        .iter()
        .find(|(k, _)| k == "start")
        .map_or(0, |(_, v)| v.parse().unwrap())
}

#[test]
fn paged_streams_use_the_largest_pages() {
    let world = World::new(SIZE);
    world
        .read(START, &["deals", "files", "notes"], "full_refresh", None)
        .assert_ok();
    let log = world.sandbox.requests();
    let count = |path: &str| log.iter().filter(|r| r.path == path).count() as u64;
    let n = |stream: &str| world.expected_ids(stream, START).len() as u64;
    assert_eq!(count("/api/v2/deals"), n("deals").div_ceil(500));
    assert_eq!(count("/v1/notes"), n("notes").div_ceil(500).max(1));
    // Pages of files may be asked for ahead of the one read (a plain offset list, whose next
    // page is known before the one before it is read); past the end of the list, a few.
    let files: Vec<usize> = log
        .iter()
        .filter(|r| r.path == "/v1/files")
        .map(start_of)
        .collect();
    let total = n("files") as usize;
    assert_eq!(
        files.iter().filter(|s| **s < total).count() as u64,
        n("files").div_ceil(100).max(1)
    );
    assert!(files.iter().filter(|s| **s >= total).count() <= LOOKAHEAD);
    assert!(
        log.iter().all(|r| r.method == "GET"),
        "the connector only reads"
    );
}

#[test]
fn a_stream_the_user_may_not_read_is_skipped_with_a_warning() {
    let world = World::with(SandboxOptions {
        size: 50,
        deny: vec![("/v1/filters".into(), 403), ("/v1/files".into(), 404)],
        ..SandboxOptions::default()
    });
    let run = world.read_all(START, None);
    run.assert_ok();
    for skipped in ["filters", "files"] {
        assert!(run.records(skipped).is_empty());
        let warned = run.messages.iter().any(|m| matches!(m, Message::Log { log } if log.level == LogLevel::Warn && log.message.contains(&format!("stream {skipped} skipped"))));
        assert!(warned, "{skipped}: no warning in {:#?}", run.logs());
    }
    // Other streams are intact.
    world.assert_exactly(
        &run,
        "deals",
        &world.expected_incremental_records("deals", START),
    );
}

#[test]
fn incremental_on_a_stream_without_cursor_runs_as_full_refresh() {
    let world = World::new(20);
    let state = world.file("s.json", "[]");
    let run = world.read(START, &["currencies"], "incremental", Some(&state));
    run.assert_ok();
    world.assert_exactly(
        &run,
        "currencies",
        &world.expected_records("currencies", START),
    );
    assert!(run
        .logs()
        .iter()
        .any(|l| l.contains("runs as full refresh")));
}

#[test]
fn a_rejected_key_stops_the_sync_with_a_config_error() {
    let world = World::new(20);
    let config = world.config_with(json!({"api_key": "nope-not-the-key", "start_date": START, "base_url": world.sandbox.base_url()}));
    let run = world.run(&["read", "--config", config.to_str().unwrap()]);
    assert_eq!(run.status, 2, "config errors exit 2");
    let errors: Vec<String> = run
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::Trace {
                trace: source_pipedrive::protocol::airbyte::Trace::Error { error, .. },
            } => Some(format!("{} {}", error.failure_type, error.message)),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("config_error") && errors[0].contains("401"),
        "{errors:?}"
    );
    assert!(!run.stdout.contains("nope-not-the-key") && !run.stderr.contains("nope-not-the-key"));
    assert_eq!(
        world.sandbox.requests().len(),
        1,
        "nothing after the key is rejected"
    );
}

#[test]
fn goals_are_everyones_each_once() {
    let world = World::new(50);
    let run = world.read(START, &["goals"], "full_refresh", None);
    run.assert_ok();
    let data = world.sandbox.dataset();
    let all = data.records(Resource::Goals);
    let def = streams::find("goals").unwrap();
    let mut want: Vec<String> = all.iter().map(|g| def.key_of(g)).collect();
    want.sort();
    // Every goal of the sandbox, once: the user's own come in the plain pass and in their
    // type's pass, and are written once.
    assert_eq!(run.ids("goals"), want);
    assert_no_duplicates(&run, "goals");
    // What only `type.name` brings: goals of other users and of teams. The plain request
    // alone (the token user's goals) would miss them.
    let others: Vec<&serde_json::Value> = run
        .records("goals")
        .into_iter()
        .filter(|g| g["assignee"] != json!({"id": 1, "type": "person"}))
        .collect();
    assert!(!others.is_empty(), "no goal of another user or team");
    assert!(others.iter().any(|g| g["assignee"]["type"] == "team"));
    // What only the plain request brings: the user's revenue forecasts.
    assert!(run
        .records("goals")
        .iter()
        .any(|g| g["type"]["name"] == "revenue_forecast"));
}
