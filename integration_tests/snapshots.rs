//! `spec` and `discover` as insta snapshots: any change to what users and Airbyte see is reviewed.

use serde_json::Value;

use crate::util::{run, World};

fn single_message(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one message expected");
    serde_json::from_str(lines[0]).unwrap()
}

#[test]
fn spec() {
    let r = run(&["spec"]);
    r.assert_ok();
    insta::assert_json_snapshot!("spec", single_message(&r.stdout));
}

#[test]
fn discover() {
    let world = World::new(10);
    let config = world.config(crate::util::START);
    let r = run(&["discover", "--config", config.to_str().unwrap()]);
    r.assert_ok();
    insta::assert_json_snapshot!("discover", single_message(&r.stdout));
}

#[test]
fn the_spec_accepts_real_configs_and_refuses_broken_ones() {
    let spec = single_message(&run(&["spec"]).stdout);
    let schema = &spec["spec"]["connectionSpecification"];
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap();
    let good = serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "custom_field_names": "both",
                                  "max_requests_per_second": 2.5, "max_retries": 3, "request_timeout_seconds": 30,
                                  "max_concurrent_streams": 4, "max_concurrent_requests": 256, "max_tokens_per_sync": 5000,
                                  "daily_budget_reserve_percent": 20});
    assert!(validator.is_valid(&good));
    assert_eq!(
        schema["properties"]["max_concurrent_requests"]["type"],
        "integer"
    );
    // A bare date, as the README allows.
    assert!(validator.is_valid(&serde_json::json!({"api_key": "k", "start_date": "2024-05-01"})));
    let oauth = serde_json::json!({"start_date": "2024-05-01T00:00:00Z",
        "credentials": {"auth_type": "oauth2.0", "client_id": "i", "client_secret": "s", "refresh_token": "r",
                        "access_token": "a", "token_expiry_date": "2026-01-01T00:00:00Z"}});
    assert!(validator.is_valid(&oauth));
    // Neither or both of api_key and credentials: the config check refuses it (`check`), the
    // form cannot say "exactly one" in a way Airbyte's form builder draws.
    for bad in [
        serde_json::json!({"start_date": "2024-05-01T00:00:00Z", "credentials": {"auth_type": "oauth2.0", "client_id": "i", "refresh_token": "r"}}),
        serde_json::json!({"start_date": "2024-05-01T00:00:00Z", "credentials": {"auth_type": "api_key", "client_id": "i", "client_secret": "s", "refresh_token": "r"}}),
        serde_json::json!({"api_key": "k", "start_date": "May 1st"}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "custom_field_names": "label"}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_retries": 99}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_concurrent_streams": 0}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_concurrent_requests": 0}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_concurrent_requests": 257}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_concurrent_requests": 2.5}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_tokens_per_sync": 0}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_tokens_per_sync": 3}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "max_tokens_per_sync": 2.5}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "daily_budget_reserve_percent": 101}),
        serde_json::json!({"api_key": "k", "start_date": "2024-05-01T00:00:00Z", "daily_budget_reserve_percent": -1}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
    let walk = serde_json::to_string(schema).unwrap();
    assert!(
        !walk.contains("$ref") && !walk.contains("uint"),
        "plain JSON Schema for Airbyte's form builder"
    );
}
