//! Custom fields end to end: discover types every field of the account, records validate
//! against the discovered schema in every naming mode, readable names survive a rename, option
//! labels resolve, v1 records come out in the v2 shape, and a field added after discovery still
//! arrives.

use std::collections::BTreeSet;

use pipedrive_sandbox::Resource;
use serde_json::{json, Value};
use source_pipedrive::custom_fields::{is_custom_key, KEY_ANNOTATION};
use source_pipedrive::protocol::airbyte::Message;

use crate::util::{Run, World, START};

fn config(world: &World, names: &str, labels: bool) -> std::path::PathBuf {
    world.config_with(json!({
        "api_key": world.key(), "start_date": START, "base_url": world.sandbox.base_url(),
        "custom_field_names": names, "custom_field_option_labels": labels,
    }))
}

/// The discovered catalog, as a configured catalog selecting `streams` incrementally.
fn discover(world: &World, config: &std::path::Path, streams: &[&str]) -> (Value, String) {
    let run = world.run(&["discover", "--config", config.to_str().unwrap()]);
    run.assert_ok();
    let catalog = run
        .messages
        .iter()
        .find_map(|m| match m {
            Message::Catalog { catalog } => Some(serde_json::to_value(catalog).unwrap()),
            _ => None,
        })
        .expect("a CATALOG message");
    let configured: Vec<Value> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| streams.contains(&s["name"].as_str().unwrap()))
        .map(|s| json!({"stream": s, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}))
        .collect();
    (
        catalog.clone(),
        json!({ "streams": configured }).to_string(),
    )
}

fn schema_of<'a>(catalog: &'a Value, stream: &str) -> &'a Value {
    &catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == stream)
        .unwrap()["json_schema"]
}

fn custom_defs(world: &World, fields: Resource) -> Vec<Value> {
    world
        .sandbox
        .dataset()
        .records(fields)
        .into_iter()
        .filter(|f| {
            f["is_custom_field"] == json!(true) || f["key"].as_str().is_some_and(is_custom_key)
        })
        .collect()
}

fn read(
    world: &World,
    config: &std::path::Path,
    catalog: &str,
    state: Option<&std::path::Path>,
) -> Run {
    let before = world.sandbox.requests().len();
    let run = world.read_with(config, Some(catalog), state);
    run.assert_ok();
    // The summary accounts for every request, field definitions and the key check included.
    let sent = world.sandbox.requests().len() - before;
    let total = run
        .logs()
        .into_iter()
        .find_map(|l| {
            let rest = l.split("summary total: ").nth(1)?.to_string();
            rest.split(", ")
                .nth(1)?
                .strip_suffix(" requests")?
                .parse::<usize>()
                .ok()
        })
        .expect("a summary total line");
    assert_eq!(total, sent, "{:#?}", run.logs());
    run
}

fn validate_all(run: &Run, catalog: &Value, streams: &[&str]) {
    for stream in streams {
        let schema = schema_of(catalog, stream);
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .unwrap();
        let records = run.records(stream);
        assert!(!records.is_empty(), "{stream}: no records");
        for r in records {
            let errors: Vec<String> = validator
                .iter_errors(r)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{stream}: {errors:#?}\n{r}");
        }
    }
}

#[test]
fn discover_types_every_custom_field() {
    let world = World::new(40);
    let (catalog, _) = discover(&world, &config(&world, "both", false), &[]);
    let expected = |kind: &str| -> Value {
        match kind {
            "int" => json!(["null", "integer"]),
            "double" => json!(["null", "number"]),
            "monetary" | "address" | "daterange" | "timerange" => json!(["null", "object"]),
            "set" => json!(["null", "array"]),
            "user" | "org" | "people" => json!(["null", "integer"]),
            "varchar" | "text" | "date" | "time" | "phone" | "varchar_auto" => {
                json!(["null", "string"])
            }
            "enum" => json!(["null", "integer", "string"]),
            other => panic!("the sandbox serves a field type this test does not know: {other}"),
        }
    };
    for (stream, fields) in [
        ("deals", Resource::DealFields),
        ("persons", Resource::PersonFields),
        ("organizations", Resource::OrganizationFields),
        ("products", Resource::ProductFields),
        ("leads", Resource::DealFields),
    ] {
        let schema = schema_of(&catalog, stream);
        let defs = custom_defs(&world, fields);
        assert!(
            defs.len() >= 5,
            "{stream}: the sandbox should define custom fields of many types"
        );
        let mut kinds = BTreeSet::new();
        for d in &defs {
            let key = d["field_code"].as_str().unwrap();
            let kind = d["field_type"].as_str().unwrap();
            kinds.insert(kind.to_string());
            let typed = &schema["properties"]["custom_fields"]["properties"][key];
            assert_eq!(typed["type"], expected(kind), "{stream}.{key} ({kind})");
            assert_eq!(typed["title"], d["field_name"], "{stream}.{key}");
            let readable: Vec<(&String, &Value)> = schema["properties"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, p)| p[KEY_ANNOTATION] == key)
                .collect();
            assert_eq!(readable.len(), 1, "{stream}.{key}: one readable column");
        }
        if stream == "deals" {
            for k in [
                "monetary",
                "enum",
                "set",
                "date",
                "daterange",
                "address",
                "user",
                "int",
                "double",
            ] {
                assert!(kinds.contains(k), "deals: no {k} field in the sandbox");
            }
        }
    }
}

#[test]
fn records_validate_against_the_discovered_schema_in_every_mode() {
    let streams = [
        "deals",
        "persons",
        "organizations",
        "products",
        "leads",
        "archived_deals",
    ];
    for (names, labels) in [
        ("key", false),
        ("name", true),
        ("both", false),
        ("both", true),
    ] {
        let world = World::new(120);
        let config = config(&world, names, labels);
        let (catalog, configured) = discover(&world, &config, &streams);
        let run = read(&world, &config, &configured, None);
        validate_all(&run, &catalog, &streams);
        for r in run.records("leads") {
            let hash_keys: Vec<&String> = r
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.len() >= 40 && is_custom_key(&k[..40]))
                .collect();
            assert!(
                hash_keys.is_empty(),
                "leads: flat v1 keys left at the top ({names}): {hash_keys:?}"
            );
            assert_eq!(r.get("custom_fields").is_some(), names != "name", "{names}");
        }
    }
}

#[test]
fn readable_names_survive_a_rename_and_values_keep_flowing() {
    let world = World::new(60);
    let config = config(&world, "both", false);
    let (catalog, configured) = discover(&world, &config, &["deals"]);
    let first = read(&world, &config, &configured, None);
    let state = world.file("state.json", &first.state_file());
    let defs = custom_defs(&world, Resource::DealFields);
    let text = defs
        .iter()
        .find(|d| d["field_type"] == "varchar")
        .expect("a text field");
    let key = text["field_code"].as_str().unwrap().to_string();
    let column = schema_of(&catalog, "deals")["properties"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| p[KEY_ANNOTATION] == key.as_str())
        .map(|(n, _)| n.clone())
        .unwrap();

    world
        .sandbox
        .rename_field(Resource::DealFields, &key, "Completely New Name");
    world.sandbox.advance_clock(chrono::Duration::seconds(3));
    let deal = world.sandbox.dataset().records(Resource::Deals)[0]["id"].clone();
    let touched = world.sandbox.touch(Resource::Deals, &deal);
    world.sandbox.advance_clock(chrono::Duration::seconds(3));

    // With the configured catalog of before the rename, and with only the state: same column.
    for catalog_text in [Some(configured.as_str()), None] {
        let run = match catalog_text {
            Some(c) => read(&world, &config, c, Some(&state)),
            None => {
                let run = world.run(&[
                    "read",
                    "--config",
                    config.to_str().unwrap(),
                    "--state",
                    state.to_str().unwrap(),
                ]);
                run.assert_ok();
                run
            }
        };
        let record = run
            .records("deals")
            .into_iter()
            .find(|r| r["id"] == deal)
            .expect("the touched deal");
        assert_eq!(
            record[&column], touched["custom_fields"][&key],
            "value under the original column name"
        );
        assert!(
            record.get("completely_new_name").is_none(),
            "the rename must not move the column"
        );
    }
    // A fresh discover names it after the new name only when nothing pins it.
    let (fresh, _) = discover(&world, &config, &[]);
    assert!(schema_of(&fresh, "deals")["properties"]["completely_new_name"].is_object());
}

#[test]
fn option_ids_resolve_to_labels_and_deleted_options_keep_their_id() {
    let world = World::new(200);
    let config = config(&world, "key", true);
    let (_, configured) = discover(&world, &config, &["deals"]);
    let run = read(&world, &config, &configured, None);
    let defs = custom_defs(&world, Resource::DealFields);
    let mut resolved = 0;
    let mut deleted = 0;
    for def in defs
        .iter()
        .filter(|d| d["field_type"] == "enum" || d["field_type"] == "set")
    {
        let key = def["field_code"].as_str().unwrap();
        let label_of = |id: &Value| {
            def["options"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["id"] == *id)
                .map(|o| o["label"].clone())
        };
        for r in run.records("deals") {
            let v = &r["custom_fields"][key];
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                Value::Null => Vec::new(),
                one => vec![one],
            };
            for item in items {
                match label_of(&item["id"]) {
                    Some(label) => {
                        assert_eq!(item["label"], label, "{key}");
                        resolved += 1;
                    }
                    None => {
                        assert_eq!(
                            item["label"],
                            Value::Null,
                            "{key}: a deleted option has no label"
                        );
                        deleted += 1;
                    }
                }
            }
        }
    }
    assert!(
        resolved > 0 && deleted > 0,
        "labels resolved: {resolved}, deleted options seen: {deleted}"
    );
}

#[test]
fn a_field_added_after_discovery_still_arrives() {
    let world = World::new(30);
    for names in ["key", "name"] {
        let config = config(&world, names, false);
        let (_, configured) = discover(&world, &config, &["deals"]);
        let first = read(&world, &config, &configured, None);
        let state = world.file("state.json", &first.state_file());
        let key = world.sandbox.add_field(
            Resource::DealFields,
            &format!("Added Later {names}"),
            "varchar",
        );
        world.sandbox.advance_clock(chrono::Duration::seconds(3));
        let deal = world.sandbox.dataset().records(Resource::Deals)[1]["id"].clone();
        let touched = world.sandbox.touch(Resource::Deals, &deal);
        assert!(
            touched["custom_fields"].get(&key).is_some(),
            "the sandbox gives the new field a value"
        );
        world.sandbox.advance_clock(chrono::Duration::seconds(3));
        let run = read(&world, &config, &configured, Some(&state));
        let record = run
            .records("deals")
            .into_iter()
            .find(|r| r["id"] == deal)
            .unwrap();
        let got = match names {
            "key" => &record["custom_fields"][&key],
            _ => &record[&format!("added_later_{names}")],
        };
        assert_eq!(got, &touched["custom_fields"][&key], "{names}");
    }
}
