//! Singer mode end to end: a discover Meltano can read, SCHEMA before RECORD, records that
//! validate against their SCHEMA as draft 4, STATE at the same checkpoints ending every run,
//! resumption from bookmarks, property deselection, and `--about`.

use std::collections::{BTreeMap, BTreeSet};

use pipedrive_sandbox::Resource;
use serde_json::{json, Value};
use source_pipedrive::protocol::singer::Message;
use source_pipedrive::streams;

use crate::util::{World, START};

fn messages(stdout: &str) -> Vec<Message> {
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a Singer message ({e}): {l}"))
        })
        .collect()
}

/// Meltano's way: `selected` on the stream breadcrumb and on each property breadcrumb.
fn select(catalog: &mut Value, streams: &[&str], deselect: &[(&str, &str)]) {
    for entry in catalog["streams"].as_array_mut().unwrap() {
        let name = entry["tap_stream_id"].as_str().unwrap().to_string();
        let on = streams.contains(&name.as_str());
        for m in entry["metadata"].as_array_mut().unwrap() {
            let crumb: Vec<String> = serde_json::from_value(m["breadcrumb"].clone()).unwrap();
            let off = crumb.len() == 2 && deselect.contains(&(name.as_str(), crumb[1].as_str()));
            m["metadata"]["selected"] = json!(on && !off);
        }
    }
}

#[test]
fn discover_is_one_json_document_with_breadcrumbs() {
    let world = World::new(20);
    let config = world.config(START);
    let state = world.file("state.json", "{}");
    // Meltano may pass --state to discovery.
    let r = raw(&[
        "--config",
        config.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--discover",
    ]);
    let catalog: Value = serde_json::from_str(&r).expect("stdout is one JSON document");
    let entries = catalog["streams"].as_array().unwrap();
    assert_eq!(entries.len(), streams::STREAMS.len());
    let deals = entries
        .iter()
        .find(|e| e["tap_stream_id"] == "deals")
        .unwrap();
    assert_eq!(deals["key_properties"], json!(["id"]));
    assert_eq!(deals["replication_key"], "update_time");
    assert_eq!(deals["replication_method"], "INCREMENTAL");
    let meta = |crumb: Value| {
        deals["metadata"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["breadcrumb"] == crumb)
            .unwrap()["metadata"]
            .clone()
    };
    assert_eq!(
        meta(json!([]))["valid-replication-keys"],
        json!(["update_time"])
    );
    assert_eq!(meta(json!([]))["selected-by-default"], json!(true));
    assert_eq!(meta(json!(["properties", "id"]))["inclusion"], "automatic");
    assert_eq!(
        meta(json!(["properties", "update_time"]))["inclusion"],
        "automatic"
    );
    assert_eq!(
        meta(json!(["properties", "title"]))["inclusion"],
        "available"
    );
    let changelog = entries
        .iter()
        .find(|e| e["tap_stream_id"] == "deal_changelog")
        .unwrap();
    assert_eq!(
        changelog["metadata"][0]["metadata"]["selected-by-default"],
        json!(false)
    );
}

/// Runs the binary; its stdout is not Airbyte messages, so it is returned as text.
fn raw(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sync_resume_and_schemas() {
    let world = World::new(700);
    let config = world.config(START);
    let mut catalog: Value =
        serde_json::from_str(&raw(&["--config", config.to_str().unwrap(), "--discover"])).unwrap();
    select(
        &mut catalog,
        &["deals", "notes", "currencies"],
        &[("deals", "title")],
    );
    let cat = world.file("catalog.json", &catalog.to_string());

    let first = std::process::Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = messages(&String::from_utf8(first.stdout).unwrap());

    let mut schema_seen = BTreeSet::new();
    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut states = 0;
    for m in &first {
        match m {
            Message::Schema {
                stream,
                schema,
                key_properties,
                ..
            } => {
                assert!(schema_seen.insert(stream.clone()), "one SCHEMA per stream");
                assert!(!key_properties.is_empty());
                schemas.insert(stream.clone(), schema.clone());
            }
            Message::Record {
                stream,
                record,
                time_extracted,
                ..
            } => {
                assert!(
                    schema_seen.contains(stream),
                    "SCHEMA precedes the first RECORD of {stream}"
                );
                assert!(chrono::DateTime::parse_from_rfc3339(time_extracted).is_ok());
                let validator = jsonschema::draft4::new(&schemas[stream]).unwrap();
                assert!(validator.is_valid(record), "{stream}: {record}");
                if stream == "deals" {
                    assert!(
                        record.get("title").is_none(),
                        "a deselected property is left out"
                    );
                    assert!(
                        schemas[stream]["properties"].get("title").is_none(),
                        "and the SCHEMA does not declare it"
                    );
                }
                ids.entry(stream.clone())
                    .or_default()
                    .insert(streams::find(stream).unwrap().key_of(record));
            }
            Message::State { value } => {
                states += 1;
                assert!(value["bookmarks"].is_object());
            }
            Message::ActivateVersion { stream, .. } => {
                assert_eq!(stream, "currencies", "full-table streams only");
            }
        }
    }
    assert!(
        matches!(first.last(), Some(Message::State { .. })),
        "the run ends with a STATE"
    );
    assert!(states >= 4, "checkpoints as in Airbyte mode");
    for stream in ["deals", "notes", "currencies"] {
        let want: BTreeSet<String> = world
            .expected_incremental_ids(stream, START)
            .into_iter()
            .collect();
        assert_eq!(ids[stream], want, "{stream}");
    }
    assert!(
        !ids.contains_key("persons"),
        "unselected streams are not synced"
    );

    // Resume from the last STATE's value, as Meltano does.
    let Some(Message::State { value }) = first.last() else {
        unreachable!()
    };
    let state = world.file("state.json", &value.to_string());
    world.sandbox.advance_clock(chrono::Duration::seconds(3));
    let deal = world.sandbox.dataset().records(Resource::Deals)[5]["id"].clone();
    world.sandbox.touch(Resource::Deals, &deal);
    world.sandbox.advance_clock(chrono::Duration::seconds(3));
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(second.status.success());
    let second = messages(&String::from_utf8(second.stdout).unwrap());
    let deals: Vec<&Value> = second
        .iter()
        .filter_map(|m| match m {
            Message::Record { stream, record, .. } if stream == "deals" => Some(record),
            _ => None,
        })
        .collect();
    assert_eq!(deals.len(), 1, "only the changed deal");
    assert_eq!(deals[0]["id"], deal);
    let Some(Message::State { value }) = second.last() else {
        panic!("ends with STATE")
    };
    assert!(value["bookmarks"]["notes"]["update_time"].is_string());
}

#[test]
fn about_describes_the_tap() {
    let about: Value = serde_json::from_str(&raw(&["--about", "--format", "json"])).unwrap();
    assert_eq!(about["name"], "source-pipedrive");
    assert_eq!(
        about["capabilities"],
        json!(["catalog", "discover", "state", "about", "activate-version"])
    );
    assert_eq!(
        about["settings"]["properties"]["api_key"]["airbyte_secret"],
        json!(true)
    );
    assert!(raw(&["--about"]).contains("api_key (string, one of api_key / credentials, secret)"));
}
