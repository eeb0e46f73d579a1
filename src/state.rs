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
}

pub fn load(path: &Path) -> Result<SavedState> {
    let text = std::fs::read_to_string(path).with_context(|| {
        ConnectorError::config(format!("cannot read state file {}", path.display()))
    })?;
    parse(&text)
        .map_err(|e| ConnectorError::config(format!("state file {}: {e:#}", path.display())).into())
}

pub fn parse(text: &str) -> Result<SavedState> {
    if text.trim().is_empty() {
        return Ok(SavedState::default());
    }
    let value: Value = serde_json::from_str(text).context("not valid JSON")?;
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
    fn bad_cursors_and_shapes_are_errors() {
        let e = parse(r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"deals"},"stream_state":{"update_time":"yesterday"}}}]"#).unwrap_err();
        assert!(format!("{e:#}").contains("deals"));
        assert!(parse("{").is_err());
        assert!(parse("42").is_err());
        assert!(parse(r#"[{"type":"STREAM","stream":{}}]"#).is_err());
    }
}
