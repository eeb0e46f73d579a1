//! Property tests of the input parsers: no config, catalog or state text, however broken, makes
//! the connector panic; each is either accepted or refused with a message.

use proptest::prelude::*;
use serde_json::{json, Value};
use source_pipedrive::{catalog, config::Config, state};

/// JSON values of any shape, a few levels deep, with keys the parsers look for.
fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "api_key",
        "api_token",
        "start_date",
        "base_url",
        "streams",
        "stream",
        "name",
        "sync_mode",
        "type",
        "stream_descriptor",
        "stream_state",
        "update_time",
        "data",
        "state",
        "custom_field_names",
        "max_requests_per_second",
        "json_schema",
        "x-pipedrive-field-key",
        "deals",
        "STREAM",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "deals",
            "incremental",
            "full_refresh",
            "STREAM",
            "2024-01-01T00:00:00Z",
            "2024-01-01 00:00:00",
            "http://127.0.0.1:1",
            "https://x.pipedrive.com",
            "ftp://x",
            "name",
            "both"
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// A valid document with some characters cut or replaced.
fn mangled(valid: String) -> impl Strategy<Value = String> {
    let len = valid.len();
    prop::collection::vec((0..len.max(1), any::<char>(), any::<bool>()), 0..4).prop_map(
        move |edits| {
            let mut chars: Vec<char> = valid.chars().collect();
            for (at, c, cut) in edits {
                let at = at % chars.len().max(1);
                if chars.is_empty() {
                    break;
                }
                if cut {
                    chars.truncate(at);
                } else {
                    chars[at] = c;
                }
            }
            chars.into_iter().collect()
        },
    )
}

fn all_parsers(text: &str) {
    let _ = Config::parse(text);
    let _ = catalog::parse(text);
    let _ = state::parse(text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        all_parsers(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        all_parsers(&value.to_string());
    }

    #[test]
    fn mangled_valid_inputs_never_panic(
        config in mangled(json!({"api_key": "k", "start_date": "2024-01-01T00:00:00Z", "custom_field_names": "both"}).to_string()),
        catalog in mangled(json!({"streams": [{"stream": {"name": "deals", "json_schema": {"properties": {"x": {"x-pipedrive-field-key": "k"}}}}, "sync_mode": "incremental"}]}).to_string()),
        state in mangled(json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "deals"}, "stream_state": {"update_time": "2024-01-01T00:00:00Z", "custom_field_names": {"a": "b"}}}}]).to_string()),
    ) {
        all_parsers(&config);
        all_parsers(&catalog);
        all_parsers(&state);
    }
}
