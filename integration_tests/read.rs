//! `read` end to end: exactly the sandbox's records, incremental windows, checkpoints that lose
//! nothing when a sync is cut short, `start_date` filtering, schemas, and skipped streams.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use source_pipedrive::protocol::airbyte::{LogLevel, Message, StreamStatusKind};
use source_pipedrive::sandbox::{Resource, SandboxOptions};
use source_pipedrive::streams::{self, time, STREAMS};

use crate::util::{catalog, id_of, Run, World, START};

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
    let run = world.read_all(START, None);
    run.assert_ok();
    for def in STREAMS {
        let expected = world.expected_ids(def.name, START);
        assert!(
            !expected.is_empty(),
            "{}: the sandbox serves no records",
            def.name
        );
        assert_eq!(run.ids(def.name), expected, "{}", def.name);
        assert_no_duplicates(&run, def.name);
    }
    // Deleted deals are part of the extract.
    let deleted = run
        .records("deals")
        .iter()
        .filter(|d| d["is_deleted"] == json!(true))
        .count();
    assert!(deleted > 0, "deleted deals must come through");
}

#[test]
fn every_record_validates_against_its_stream_schema() {
    let world = World::new(300);
    let run = world.read_all(START, None);
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
                if let (Some(c), Some(prev)) = (def.cursor, cursor.get(&record.stream)) {
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
                cursor.insert(
                    def.name.to_string(),
                    v[def.cursor.unwrap()].as_str().unwrap().to_string(),
                );
            }
            _ => {}
        }
    }
    for def in STREAMS {
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
    let world = World::new(SIZE);
    let mid = "2024-07-01T00:00:00Z";
    let run = world.read_all(mid, None);
    run.assert_ok();
    let mid_t = time::parse(mid).unwrap();
    let mut filtered_somewhere = false;
    for def in STREAMS {
        let expected = world.expected_ids(def.name, mid);
        filtered_somewhere |= expected.len() < world.expected_ids(def.name, START).len();
        assert_eq!(run.ids(def.name), expected, "{}", def.name);
        if let Some(c) = def.cursor {
            for r in run.records(def.name) {
                if let Some(t) = time::of(r, c) {
                    assert!(
                        t >= mid_t,
                        "{}: {} updated {t} before start_date",
                        def.name,
                        r[def.primary_key]
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
    let world = World::new(SIZE);
    let first = world.read_all(START, None);
    first.assert_ok();
    let state = world.file("state.json", &first.state_file());

    // Changes on the sandbox, after the first sync's window.
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let mut changed: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let sb = &world.sandbox;
    for (stream, resource) in [
        ("deals", Resource::Deals),
        ("persons", Resource::Persons),
        ("notes", Resource::Notes),
        ("leads", Resource::Leads),
        ("files", Resource::Files),
    ] {
        let records = sb.dataset().records(resource);
        let pk = streams::find(stream).unwrap().primary_key;
        for r in [&records[0], &records[records.len() / 2]] {
            let touched = sb.touch(resource, &r[pk]);
            changed
                .entry(stream)
                .or_default()
                .insert(id_of(&touched[pk]));
        }
        let new = sb.insert(resource);
        changed.entry(stream).or_default().insert(id_of(&new[pk]));
    }
    let victim = sb.dataset().records(Resource::Deals)[3]["id"].clone();
    sb.delete(Resource::Deals, &victim);
    changed.entry("deals").or_default().insert(id_of(&victim));
    world.sandbox.advance_clock(chrono::Duration::seconds(5));

    let requests_before = world.sandbox.requests().len();
    let second = world.read_all(START, Some(&state));
    second.assert_ok();
    for def in STREAMS.iter().filter(|d| d.incremental()) {
        let got: BTreeSet<String> = second.ids(def.name).into_iter().collect();
        let want = changed.get(def.name).cloned().unwrap_or_default();
        assert_eq!(
            got, want,
            "{}: the second sync must emit exactly the changed records",
            def.name
        );
    }
    let deleted = second
        .records("deals")
        .into_iter()
        .find(|d| d["id"] == victim)
        .unwrap()
        .clone();
    assert_eq!(deleted["is_deleted"], json!(true));
    // Server-side filters (or newest-first order) keep the second sync to one request per
    // stream, plus the key check.
    let requests = world.sandbox.requests().len() - requests_before;
    assert_eq!(
        requests,
        STREAMS.len() + 1,
        "requests for an almost empty incremental sync"
    );
}

#[test]
fn a_sync_cut_after_any_checkpoint_resumes_without_loss() {
    let world = World::new(SIZE);
    let streams_under_test = ["deals", "notes", "leads", "files", "products"];
    let cat = world.file("catalog.json", &catalog(&streams_under_test, "incremental"));
    let config = world.config(START);
    let full = world.run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    full.assert_ok();
    let mut cuts = 0;
    for (k, m) in full.messages.iter().enumerate() {
        let Message::State { state } = m else {
            continue;
        };
        let stream = state
            .stream
            .as_ref()
            .unwrap()
            .stream_descriptor
            .name
            .clone();
        // What a destination holds if the sync died right after message k.
        let before: BTreeSet<String> = full.messages[..k]
            .iter()
            .filter_map(|m| match m {
                Message::Record { record } if record.stream == stream => Some(id_of(
                    &record.data[streams::find(&stream).unwrap().primary_key],
                )),
                _ => None,
            })
            .collect();
        let state_file = world.file(
            "cut.json",
            &serde_json::to_string(&vec![serde_json::to_value(state).unwrap()]).unwrap(),
        );
        let one = world.file("one.json", &catalog(&[&stream], "incremental"));
        let resumed = world.run(&[
            "read",
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            one.to_str().unwrap(),
            "--state",
            state_file.to_str().unwrap(),
        ]);
        resumed.assert_ok();
        let after: BTreeSet<String> = resumed.ids(&stream).into_iter().collect();
        let expected: BTreeSet<String> = world.expected_ids(&stream, START).into_iter().collect();
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

#[test]
fn paged_streams_use_the_largest_pages() {
    let world = World::new(SIZE);
    let cat = world.file(
        "catalog.json",
        &catalog(&["deals", "files", "notes"], "full_refresh"),
    );
    let config = world.config(START);
    world
        .run(&[
            "read",
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
        ])
        .assert_ok();
    let log = world.sandbox.requests();
    let count = |path: &str| log.iter().filter(|r| r.path == path).count() as u64;
    let n = |stream: &str| world.expected_ids(stream, START).len() as u64;
    assert_eq!(count("/api/v2/deals"), n("deals").div_ceil(500));
    assert_eq!(count("/v1/notes"), n("notes").div_ceil(500).max(1));
    assert_eq!(count("/v1/files"), n("files").div_ceil(100).max(1));
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
    assert_eq!(
        run.ids("deals"),
        world.expected_ids("deals", START),
        "other streams are intact"
    );
}

#[test]
fn incremental_on_a_stream_without_cursor_runs_as_full_refresh() {
    let world = World::new(20);
    let cat = world.file("catalog.json", &catalog(&["currencies"], "incremental"));
    let config = world.config(START);
    let run = world.run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
        "--state",
        world.file("s.json", "[]").to_str().unwrap(),
    ]);
    run.assert_ok();
    assert_eq!(
        run.ids("currencies"),
        world.expected_ids("currencies", START)
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
