//! The saved state of each selected stream judged before any request: every value the
//! connector would read from it (its cursor, a full refresh's checkpoint, the Airbyte CDK's
//! sentinels, the custom field names) is read now, so that a bad one is a config error naming
//! the stream and the key, not a failure after the first request. A state that would do
//! nothing in silence is said: a cursor in the future, a bookmark in singer-sdk's shape for
//! another key, an object with none of the keys this connector saves. Streams not selected are
//! not judged: their states are kept as they are.

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SavedState;
use crate::custom_fields::STATE_KEY;
use crate::streams::engine::{self, FULL_REFRESH_COMPLETE, FULL_REFRESH_FROM, NO_CURSOR};
use crate::streams::{time, StreamDef};

/// singer-sdk's bookmark of an incremental stream: `{"replication_key": "update_time",
/// "replication_key_value": "2024-05-01T00:00:00Z"}`.
const SDK_KEY: &str = "replication_key";
const SDK_VALUE: &str = "replication_key_value";

impl SavedState {
    /// Judges the saved state of each of `selected` (see the module's note); `now` tells a
    /// cursor in the future. A bookmark in singer-sdk's shape is read as the stream's cursor.
    pub fn check(&mut self, selected: &[&StreamDef], now: DateTime<Utc>) -> Result<()> {
        for def in selected {
            let Some(state) = self.streams.get(def.name) else {
                continue;
            };
            let Some(fields) = state.as_object() else {
                bail!(
                    "stream {}: its saved state is {}, not an object",
                    def.name,
                    kind_of(state)
                );
            };
            let mut state = Value::Object(fields.clone());
            let mut warnings = Vec::new();
            let sdk_said = read_sdk_bookmark(def, &mut state, &mut warnings);
            let cursor = engine::saved_cursor(def, Some(&state))?;
            let checkpoint = engine::saved_full_refresh_checkpoint(def, Some(&state))?;
            let cursor_key = def.cursor.unwrap_or_default();
            for (key, at) in [(cursor_key, cursor), (FULL_REFRESH_FROM, checkpoint)] {
                if let Some(at) = at.filter(|&at| at > now) {
                    warnings.push(format!(
                        "stream {}: saved cursor {key} = {} is in the future, so the stream \
                         reads nothing newer until then; remove this stream's state to read it \
                         again from start_date",
                        def.name,
                        time::format(at)
                    ));
                }
            }
            for flag in [FULL_REFRESH_COMPLETE, NO_CURSOR] {
                if let Some(v) = state.get(flag).filter(|v| !v.is_boolean()) {
                    bail!(
                        "stream {}: saved {flag} is {}, not true or false",
                        def.name,
                        kind_of(v)
                    );
                }
            }
            if let Some(names) = state.get(STATE_KEY) {
                let all_strings = names
                    .as_object()
                    .is_some_and(|m| m.values().all(Value::is_string));
                if !all_strings {
                    bail!(
                        "stream {}: saved {STATE_KEY} is {}, not an object of field keys to names",
                        def.name,
                        kind_of(names)
                    );
                }
            }
            let known = [
                cursor_key,
                FULL_REFRESH_FROM,
                FULL_REFRESH_COMPLETE,
                NO_CURSOR,
                STATE_KEY,
            ];
            let keys = state.as_object().map(|m| m.keys()).into_iter().flatten();
            let saved_keys: Vec<&str> = keys.map(String::as_str).collect();
            let none_known = !saved_keys.iter().any(|k| known.contains(k));
            if !sdk_said && !saved_keys.is_empty() && none_known {
                warnings.push(format!(
                    "stream {}: its saved state has none of the keys this connector saves ({}): \
                     it is not used, and the stream starts from start_date",
                    def.name,
                    saved_keys.join(", ")
                ));
            }
            self.streams.insert(def.name.to_string(), state);
            self.warnings.extend(warnings);
        }
        Ok(())
    }
}

/// A singer-sdk bookmark becomes the stream's cursor when it is for the stream's cursor; one
/// for another key is said (true) and left unused.
fn read_sdk_bookmark(def: &StreamDef, state: &mut Value, warnings: &mut Vec<String>) -> bool {
    let Some(value) = state.get(SDK_VALUE).cloned() else {
        return false;
    };
    let key = state.get(SDK_KEY).and_then(Value::as_str);
    match def.cursor {
        Some(cursor) if state.get(cursor).is_some() => false,
        Some(cursor) if key.is_none_or(|k| k == cursor) => {
            state[cursor] = value;
            false
        }
        cursor => {
            warnings.push(format!(
                "stream {}: the saved bookmark is for replication key {:?}, not this stream's \
                 cursor ({}): it is not used, and the stream starts from start_date",
                def.name,
                key.unwrap_or("(none)"),
                cursor.unwrap_or("it has none")
            ));
            true
        }
    }
}

/// What a JSON value is, without what it says.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::parse;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    fn def(name: &str) -> &'static StreamDef {
        crate::streams::find(name).unwrap()
    }

    /// `{stream: state}` judged for `selected`.
    fn judged(states: Value, selected: &[&str]) -> Result<SavedState> {
        let mut saved = parse(&states.to_string()).unwrap();
        let defs: Vec<&StreamDef> = selected.iter().map(|n| def(n)).collect();
        saved.check(&defs, now()).map(|_| saved)
    }

    #[test]
    fn every_saved_value_is_read_now_and_named_when_bad() {
        for (state, says) in [
            (
                json!({"update_time": "yesterday"}),
                "saved cursor update_time = \"yesterday\"",
            ),
            (json!({"update_time": 5}), "saved cursor update_time = 5"),
            (
                json!({"full_refresh_from": "soon"}),
                "saved cursor full_refresh_from = \"soon\"",
            ),
            (
                json!({"full_refresh_from": []}),
                "saved cursor full_refresh_from = []",
            ),
            (
                json!({"__ab_full_refresh_sync_complete": "yes"}),
                "__ab_full_refresh_sync_complete is a string",
            ),
            (
                json!({"__ab_no_cursor_state_message": 1}),
                "__ab_no_cursor_state_message is a number",
            ),
            (
                json!({"update_time": "2024-01-01T00:00:00Z", "custom_field_names": [1]}),
                "custom_field_names is an array",
            ),
            (
                json!({"custom_field_names": {"k": 1}}),
                "custom_field_names is an object",
            ),
            (
                json!({"replication_key": "update_time", "replication_key_value": "then"}),
                "saved cursor update_time = \"then\"",
            ),
        ] {
            let e = format!(
                "{:#}",
                judged(json!({ "deals": state }), &["deals"]).unwrap_err()
            );
            assert!(
                e.starts_with("stream deals: ") && e.contains(says),
                "{state}: {e}"
            );
            // A stream not selected: kept, not judged.
            let kept = judged(json!({ "deals": state }), &["notes"]).unwrap();
            assert_eq!(kept.get("deals"), Some(&state));
        }
        let e = parse(r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"deals"},"stream_state":7}}]"#)
            .unwrap()
            .check(&[def("deals")], now())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "stream deals: its saved state is a number, not an object"
        );
    }

    #[test]
    fn a_cursor_in_the_future_is_said_naming_stream_and_cursor() {
        let saved = judged(
            json!({"deals": {"update_time": "2099-01-01T00:00:00Z"},
                   "users": {"full_refresh_from": "2099-01-01T00:00:00Z"},
                   "notes": {"update_time": "2026-05-01T00:00:00Z"}}),
            &["deals", "users", "notes"],
        )
        .unwrap();
        let w = saved.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with(
                "stream deals: saved cursor update_time = 2099-01-01T00:00:00Z is in the future"
            ),
            "{w:?}"
        );
        assert!(w[1].starts_with("stream users: saved cursor full_refresh_from = 2099-01-01T00:00:00Z is in the future"), "{w:?}");
    }

    #[test]
    fn a_singer_sdk_bookmark_is_read_or_said() {
        let saved = judged(
            json!({"bookmarks": {"deals": {"replication_key": "update_time", "replication_key_value": "2024-03-01T00:00:00Z"},
                                 "notes": {"replication_key_value": "2024-04-01T00:00:00Z"},
                                 "persons": {"replication_key": "id", "replication_key_value": "991"},
                                 "activities": {"partitions": []}}}),
            &["deals", "notes", "persons", "activities"],
        )
        .unwrap();
        let cursor = |s: &str| {
            engine::saved_cursor(def(s), saved.get(s))
                .unwrap()
                .map(time::format)
        };
        assert_eq!(cursor("deals").as_deref(), Some("2024-03-01T00:00:00Z"));
        assert_eq!(cursor("notes").as_deref(), Some("2024-04-01T00:00:00Z"));
        assert_eq!(cursor("persons"), None);
        let w = saved.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w.iter().any(|w| w
                .starts_with("stream persons: the saved bookmark is for replication key \"id\"")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.starts_with("stream activities: its saved state has none of the keys this connector saves (partitions)")), "{w:?}");
    }
}
