//! What Singer targets need to make their tables equal to Pipedrive: deletes in Singer's own
//! column (`_sdc_deleted_at`), no deletions of nothing on a first sync, and full-table streams
//! versioned with ACTIVATE_VERSION, which a read that is cut short never sends.

use std::collections::BTreeSet;
use std::path::Path;

use pipedrive_sandbox::Resource;
use serde_json::{json, Value};
use source_pipedrive::streams::{DELETED_AT, SINGER_DELETED_AT};

use crate::util::{id_of, World, START};

/// A Singer sync of `streams` (selected in a discovered catalog), from `state`; stdout lines as
/// JSON, and whether the tap exited 0.
fn singer(
    world: &World,
    config: &Path,
    streams: &[&str],
    state: Option<&str>,
) -> (Vec<Value>, bool) {
    let bin = env!("CARGO_BIN_EXE_source-pipedrive");
    let plain = world.file(
        "discover-config.json",
        &json!({"api_key": world.key(), "start_date": START, "base_url": world.sandbox.base_url()})
            .to_string(),
    );
    let out = std::process::Command::new(bin)
        .args(["--config", plain.to_str().unwrap(), "--discover"])
        .output()
        .unwrap();
    let mut catalog: Value = serde_json::from_slice(&out.stdout).expect("a catalog");
    for entry in catalog["streams"].as_array_mut().unwrap() {
        let on = streams.contains(&entry["tap_stream_id"].as_str().unwrap());
        for m in entry["metadata"].as_array_mut().unwrap() {
            m["metadata"]["selected"] = json!(on);
        }
    }
    let catalog = world.file("singer-catalog.json", &catalog.to_string());
    let mut cmd = std::process::Command::new(bin);
    cmd.args([
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    if let Some(state) = state {
        cmd.args([
            "--state",
            world.file("singer-state.json", state).to_str().unwrap(),
        ]);
    }
    let out = cmd.output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON message"))
        .collect();
    (lines, out.status.success())
}

fn of<'a>(messages: &'a [Value], kind: &str, stream: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["type"] == kind && m["stream"] == stream)
        .collect()
}

/// The last STATE's value, as a `--state` file.
fn last_state(messages: &[Value]) -> String {
    let state = messages
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .expect("a STATE");
    state["value"].to_string()
}

#[test]
fn deletes_carry_sdc_deleted_at_and_a_first_sync_deletes_nothing() {
    let world = World::new(300);
    let config = world.config(START);
    let pair = ["deals", "archived_deals"];
    let (first, ok) = singer(&world, &config, &pair, None);
    assert!(ok);
    for stream in pair {
        let schema = of(&first, "SCHEMA", stream);
        let props = &schema[0]["schema"]["properties"];
        assert!(
            props.get(DELETED_AT).is_none(),
            "{stream}: Airbyte's column in a Singer SCHEMA"
        );
        assert_eq!(props[SINGER_DELETED_AT]["type"], json!(["null", "string"]));
        assert_eq!(props[SINGER_DELETED_AT]["format"], "date-time");
    }
    let deals = of(&first, "RECORD", "deals");
    let deleted: Vec<&Value> = deals
        .iter()
        .map(|m| &m["record"])
        .filter(|r| r["is_deleted"] == true)
        .collect();
    assert!(!deleted.is_empty(), "the sandbox has deleted deals");
    for r in &deleted {
        assert!(r.get(DELETED_AT).is_none(), "{r}");
        assert_eq!(
            r[SINGER_DELETED_AT], r["update_time"],
            "a delete carries its cursor: {r}"
        );
    }
    // The archived stream's first sync holds archived deals only: no live deal written as a
    // deletion of something the destination never held.
    let archived: BTreeSet<String> = world
        .sandbox
        .dataset()
        .records(Resource::ArchivedDeals)
        .iter()
        .map(|r| id_of(&r["id"]))
        .collect();
    let written: BTreeSet<String> = of(&first, "RECORD", "archived_deals")
        .iter()
        .map(|m| id_of(&m["record"]["id"]))
        .collect();
    assert!(!written.is_empty());
    assert!(
        written.is_subset(&archived),
        "live deals in archived_deals: {:?}",
        written.difference(&archived).collect::<Vec<_>>()
    );

    // The next sync still converges: a deal brought back leaves the archive, as a delete.
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let back = archived.iter().next().unwrap().parse::<u64>().unwrap();
    world
        .sandbox
        .unarchive(Resource::ArchivedDeals, &json!(back));
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let (second, ok) = singer(&world, &config, &pair, Some(&last_state(&first)));
    assert!(ok);
    let left: Vec<&Value> = of(&second, "RECORD", "archived_deals")
        .into_iter()
        .map(|m| &m["record"])
        .filter(|r| r["id"] == json!(back))
        .collect();
    assert_eq!(left.len(), 1, "{second:?}");
    assert_eq!(left[0][SINGER_DELETED_AT], left[0]["update_time"]);
    assert!(left[0].get(DELETED_AT).is_none());
}

/// Per full-table stream: the versions of its ACTIVATE_VERSION messages before its first
/// RECORD and after its last, and the versions its records carry.
fn versions(messages: &[Value], stream: &str) -> (Vec<u64>, Vec<u64>, BTreeSet<Option<u64>>) {
    let at = |kind: &str| -> Vec<usize> {
        messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m["type"] == kind && m["stream"] == stream)
            .map(|(i, _)| i)
            .collect()
    };
    let records = at("RECORD");
    let (first, last) = (
        records.first().copied().unwrap_or(usize::MAX),
        records.last().copied().unwrap_or(0),
    );
    let activations = at("ACTIVATE_VERSION");
    let version = |i: &usize| messages[*i]["version"].as_u64().unwrap();
    let before = activations
        .iter()
        .filter(|i| **i < first)
        .map(version)
        .collect();
    let after = activations
        .iter()
        .filter(|i| **i > last && !records.is_empty())
        .map(version)
        .collect();
    let carried = records
        .iter()
        .map(|i| messages[*i]["version"].as_u64())
        .collect();
    (before, after, carried)
}

#[test]
fn full_tables_are_versioned_and_activated_only_when_read_whole() {
    let world = World::new(300);
    let config = world.config(START);
    let full = ["goals", "roles"];
    let (first, ok) = singer(&world, &config, &full, None);
    assert!(ok);
    let state: Value = serde_json::from_str(&last_state(&first)).unwrap();
    for stream in full {
        let (before, after, carried) = versions(&first, stream);
        assert_eq!(
            before.len(),
            1,
            "{stream}: a first run activates before its records"
        );
        assert_eq!(
            after, before,
            "{stream}: and after its last, the same version"
        );
        assert_eq!(
            carried,
            BTreeSet::from([Some(before[0])]),
            "{stream}: every record carries it"
        );
        assert_eq!(
            state["bookmarks"][stream]["version"],
            json!(before[0]),
            "{stream}"
        );
        let schema = first
            .iter()
            .position(|m| m["type"] == "SCHEMA" && m["stream"] == stream);
        let activate = first
            .iter()
            .position(|m| m["type"] == "ACTIVATE_VERSION" && m["stream"] == stream);
        assert!(schema < activate, "{stream}: SCHEMA first");
    }

    // A later run: no activation before the records (they would delete rows a cut read would
    // not bring back), one after them.
    let (second, ok) = singer(&world, &config, &full, Some(&state.to_string()));
    assert!(ok);
    for stream in full {
        let (before, after, _) = versions(&second, stream);
        assert!(before.is_empty(), "{stream}: {before:?}");
        assert_eq!(after.len(), 1, "{stream}");
    }

    // Cut short by the token cap after two of the goals' requests: no activation at all.
    let key = world.key();
    let capped = world.file(
        "capped.json",
        &json!({
            "api_key": key, "start_date": START, "base_url": world.sandbox.base_url(),
            "max_tokens_per_sync": 42, "max_concurrent_streams": 1,
        })
        .to_string(),
    );
    let (cut, ok) = singer(&world, &capped, &["goals"], Some(&state.to_string()));
    assert!(!ok, "the cap stops the sync");
    assert!(
        !of(&cut, "RECORD", "goals").is_empty(),
        "part of the goals were written"
    );
    assert!(of(&cut, "ACTIVATE_VERSION", "goals").is_empty(), "{cut:?}");

    // Turned off: no versions, no activation.
    let off = world.file(
        "off.json",
        &json!({
            "api_key": key, "start_date": START, "base_url": world.sandbox.base_url(),
            "emit_activate_version_messages": false,
        })
        .to_string(),
    );
    let (plain, ok) = singer(&world, &off, &full, None);
    assert!(ok);
    assert!(plain.iter().all(|m| m["type"] != "ACTIVATE_VERSION"));
    assert!(plain
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .all(|m| m.get("version").is_none()));
    // Incremental streams are never versioned.
    let (incr, _) = singer(&world, &config, &["deals"], None);
    assert!(incr
        .iter()
        .all(|m| m["type"] != "ACTIVATE_VERSION" && m.get("version").is_none()));
}
