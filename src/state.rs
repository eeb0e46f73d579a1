//! Incoming state: every form callers send. Airbyte's per-stream array, an empty file or `[]`
//! (first run), null or unknown entries (PyAirbyte passes those through), and the legacy object
//! keyed by stream name. Each saved cursor is checked before any request.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::error::ConnectorError;
use crate::streams::{self, engine};

/// Saved `stream_state` by stream name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SavedState(HashMap<String, Value>);

impl SavedState {
    pub fn get(&self, stream: &str) -> Option<&Value> {
        self.0.get(stream)
    }

    pub fn set(&mut self, stream: &str, state: Value) {
        self.0.insert(stream.to_string(), state);
    }
}

pub fn load(path: &Path) -> Result<SavedState> {
    let text = std::fs::read_to_string(path).with_context(|| {
        ConnectorError::config(format!("cannot read state file {}", path.display()))
    })?;
    parse(&text)
        .map_err(|e| ConnectorError::config(format!("state file {}: {e:#}", path.display())).into())
}

/// Singer state (`{"bookmarks": {...}}`, possibly inside a STATE message's `value`): the
/// bookmarks, which are the per-stream states.
fn singer_bookmarks(value: &Value) -> Option<&serde_json::Map<String, Value>> {
    let value = value
        .get("value")
        .filter(|v| v.get("bookmarks").is_some())
        .unwrap_or(value);
    value.get("bookmarks").and_then(Value::as_object)
}

/// The bookmarks of a Singer state text, to carry into every STATE a Singer run writes.
pub fn bookmarks(text: &str) -> serde_json::Map<String, Value> {
    serde_json::from_str::<Value>(text)
        .ok()
        .as_ref()
        .and_then(singer_bookmarks)
        .cloned()
        .unwrap_or_default()
}

pub fn parse(text: &str) -> Result<SavedState> {
    if text.trim().is_empty() {
        return Ok(SavedState::default());
    }
    let mut value: Value = serde_json::from_str(text).context("not valid JSON")?;
    if let Some(b) = singer_bookmarks(&value) {
        value = Value::Object(b.clone());
    }
    let mut saved = HashMap::new();
    match value {
        Value::Null => {}
        Value::Array(entries) => {
            for (i, entry) in entries.into_iter().enumerate() {
                // A whole AirbyteMessage is accepted as well as its `state` part.
                let entry = match entry {
                    Value::Object(mut m) if m.get("type") == Some(&Value::from("STATE")) => {
                        m.remove("state").unwrap_or(Value::Null)
                    }
                    other => other,
                };
                match entry.get("type").and_then(Value::as_str) {
                    Some("STREAM") => {
                        let stream = &entry["stream"];
                        let Some(name) = stream["stream_descriptor"]["name"].as_str() else {
                            bail!("[{i}]: a STREAM state without stream.stream_descriptor.name");
                        };
                        if !stream["stream_state"].is_null() {
                            saved.insert(name.to_string(), stream["stream_state"].clone());
                        }
                    }
                    Some("LEGACY") => insert_legacy(&mut saved, &entry["data"])?,
                    // GLOBAL and anything else: not a form this connector writes.
                    _ => {}
                }
            }
        }
        Value::Object(_) => insert_legacy(&mut saved, &value)?,
        other => {
            bail!("expected a list of state messages or an object keyed by stream, got {other}")
        }
    }
    let saved = SavedState(saved);
    for def in streams::STREAMS {
        engine::saved_cursor(def, saved.get(def.name))?;
    }
    Ok(saved)
}

fn insert_legacy(saved: &mut HashMap<String, Value>, data: &Value) -> Result<()> {
    let Some(map) = data.as_object() else {
        return Ok(());
    };
    for (name, state) in map {
        if streams::find(name).is_some() && state.is_object() {
            saved.insert(name.clone(), state.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_forms() {
        assert_eq!(parse("").unwrap(), SavedState::default());
        assert_eq!(parse("  \n").unwrap(), SavedState::default());
        assert_eq!(parse("[]").unwrap(), SavedState::default());
        assert_eq!(parse("{}").unwrap(), SavedState::default());
        assert_eq!(parse("null").unwrap(), SavedState::default());
        assert_eq!(
            parse("[null, {\"type\": \"GLOBAL\", \"global\": {}}]").unwrap(),
            SavedState::default()
        );
    }

    #[test]
    fn stream_and_legacy_forms() {
        let s = parse(r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"deals"},"stream_state":{"update_time":"2024-01-01T00:00:00Z"}}},
                          {"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"notes"},"stream_state":{"update_time":"2024-02-01T00:00:00Z"}}}}]"#).unwrap();
        assert_eq!(
            s.get("deals"),
            Some(&json!({"update_time": "2024-01-01T00:00:00Z"}))
        );
        assert_eq!(
            s.get("notes"),
            Some(&json!({"update_time": "2024-02-01T00:00:00Z"}))
        );
        let legacy =
            parse(r#"{"deals": {"update_time": "2024-01-01 00:00:00"}, "gone": {"x": 1}}"#)
                .unwrap();
        assert_eq!(
            legacy.get("deals"),
            Some(&json!({"update_time": "2024-01-01 00:00:00"}))
        );
        assert_eq!(legacy.get("gone"), None);
    }

    #[test]
    fn singer_bookmarks() {
        let text = r#"{"bookmarks": {"deals": {"update_time": "2024-01-01T00:00:00Z"}, "other": {"x": 1}}}"#;
        assert_eq!(
            parse(text).unwrap().get("deals"),
            Some(&json!({"update_time": "2024-01-01T00:00:00Z"}))
        );
        assert_eq!(
            bookmarks(text).len(),
            2,
            "all bookmarks are carried forward"
        );
        let wrapped =
            r#"{"value": {"bookmarks": {"notes": {"update_time": "2024-01-01T00:00:00Z"}}}}"#;
        assert!(parse(wrapped).unwrap().get("notes").is_some());
        assert!(bookmarks("[]").is_empty());
    }

    #[test]
    fn bad_cursors_and_shapes_are_errors() {
        let e = parse(r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"deals"},"stream_state":{"update_time":"yesterday"}}}]"#).unwrap_err();
        assert!(format!("{e:#}").contains("deals"));
        assert!(parse("{").is_err());
        assert!(parse("42").is_err());
        assert!(parse(r#"[{"type":"STREAM","stream":{}}]"#).is_err());
    }
}
