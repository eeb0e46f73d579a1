//! Incoming state: every form callers send. Airbyte's per-stream array, an empty file or `[]`
//! (first run), null entries (PyAirbyte passes those through), and the legacy object keyed by
//! stream name. Each saved cursor is checked before any request. Nothing is dropped in
//! silence: an entry the connector cannot use is a config error naming its place, or a
//! warning saying what happens instead (`SavedState::warnings`, logged by `read`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use serde_json::Value;

use crate::error::ConnectorError;
use crate::streams::{self, StreamDef};

mod check;

/// Saved `stream_state` by stream name, and what was said about the entries it came from.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SavedState {
    streams: HashMap<String, Value>,
    warnings: Vec<String>,
}

impl SavedState {
    pub fn get(&self, stream: &str) -> Option<&Value> {
        self.streams.get(stream)
    }

    pub fn set(&mut self, stream: &str, state: Value) {
        self.streams.insert(stream.to_string(), state);
    }

    /// Entries taken in a way their sender may not have meant, or left unused, each with
    /// what happens instead: for the sync's log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Once said, not said again (a `listen` reconciles from the same state many times).
    pub fn forget_warnings(&mut self) {
        self.warnings.clear();
    }
}

/// Reads a state file, and judges the saved states of the `selected` streams (`check`); every
/// error names the file.
pub fn load(path: &Path, selected: &[&StreamDef]) -> Result<SavedState> {
    from_text(&read(path)?, path, selected)
}

/// A state file's text.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| {
        ConnectorError::config(format!("cannot read state file {}", path.display()))
    })
}

/// The state in `text`, read from the file at `path`, with the saved states of `selected`
/// judged; every error names the file.
pub fn from_text(text: &str, path: &Path, selected: &[&StreamDef]) -> Result<SavedState> {
    let judged = parse(text).and_then(|mut saved| {
        saved.check(selected, Utc::now())?;
        Ok(saved)
    });
    judged
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
    let mut warnings = Vec::new();
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
                match entry_kind(&entry) {
                    Kind::Nothing => {}
                    Kind::Stream => insert_stream(&mut saved, &mut warnings, i, &entry)?,
                    Kind::Untyped => {
                        warnings.push(format!(
                            "state entry [{i}] has no \"type\"; it names a stream, so it is read \
                             as a STREAM state"
                        ));
                        insert_stream(&mut saved, &mut warnings, i, &entry)?;
                    }
                    Kind::Legacy => insert_legacy(&mut saved, &mut warnings, &entry["data"]),
                    Kind::Global => warnings.push(format!(
                        "state entry [{i}] is a GLOBAL state, which this connector never writes: \
                         it is not used; the streams it holds start from another entry of \
                         their own or from start_date"
                    )),
                    Kind::Unknown(what) => {
                        bail!("[{i}]: {what}; expected a state message of type STREAM (or LEGACY)")
                    }
                }
            }
        }
        Value::Object(_) => insert_legacy(&mut saved, &mut warnings, &value),
        other => {
            bail!("expected a list of state messages or an object keyed by stream, got {other}")
        }
    }
    Ok(SavedState {
        streams: saved,
        warnings,
    })
}

/// What an entry of a state array is.
enum Kind {
    /// `null`: nothing (PyAirbyte's first run).
    Nothing,
    Stream,
    /// No `type`, but a stream descriptor.
    Untyped,
    Legacy,
    Global,
    /// Anything else: what it is, for the error.
    Unknown(String),
}

fn entry_kind(entry: &Value) -> Kind {
    match entry {
        Value::Null => Kind::Nothing,
        Value::Object(m) => match m.get("type") {
            Some(t) if t == "STREAM" => Kind::Stream,
            Some(t) if t == "LEGACY" => Kind::Legacy,
            Some(t) if t == "GLOBAL" => Kind::Global,
            Some(t) => Kind::Unknown(format!("a state of type {t}")),
            None if entry["stream"]["stream_descriptor"]["name"].is_string() => Kind::Untyped,
            None => Kind::Unknown(
                "an object with neither \"type\" nor stream.stream_descriptor.name".into(),
            ),
        },
        other => Kind::Unknown(format!("{other} is not a state message")),
    }
}

/// A STREAM entry's state, under its stream's name; a stream this connector does not have is
/// said and left out.
fn insert_stream(
    saved: &mut HashMap<String, Value>,
    warnings: &mut Vec<String>,
    i: usize,
    entry: &Value,
) -> Result<()> {
    let stream = &entry["stream"];
    let Some(name) = stream["stream_descriptor"]["name"].as_str() else {
        bail!("[{i}]: a STREAM state without stream.stream_descriptor.name");
    };
    if streams::find(name).is_none() {
        warnings.push(format!(
            "state entry [{i}] is for stream {name:?}, which this connector does not have: it is not used"
        ));
    } else if !stream["stream_state"].is_null() {
        saved.insert(name.to_string(), stream["stream_state"].clone());
    }
    Ok(())
}

/// The legacy form, an object keyed by stream name (Singer bookmarks too). Other tools'
/// bookmarks share the object, so names this connector does not have are passed over quietly.
fn insert_legacy(saved: &mut HashMap<String, Value>, warnings: &mut Vec<String>, data: &Value) {
    let Some(map) = data.as_object() else {
        return;
    };
    for (name, state) in map {
        match (streams::find(name), state.is_object()) {
            (Some(_), true) => {
                saved.insert(name.clone(), state.clone());
            }
            (Some(_), false) => warnings.push(format!(
                "the saved state of stream {name} is {state}, not an object: it is not used, and \
                 the stream starts from start_date"
            )),
            (None, _) => {}
        }
    }
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
        let global = parse("[null, {\"type\": \"GLOBAL\", \"global\": {}}]").unwrap();
        assert_eq!(global.get("deals"), None);
        assert!(global.warnings()[0].contains("[1] is a GLOBAL state"));
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
    fn an_entry_without_a_type_is_a_stream_state_said_or_an_error_named() {
        let s = parse(r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"notes"},"stream_state":{"update_time":"2024-02-01T00:00:00Z"}}},
                          {"stream":{"stream_descriptor":{"name":"deals"},"stream_state":{"update_time":"2024-01-01T00:00:00Z"}}}]"#).unwrap();
        assert_eq!(
            s.get("deals"),
            Some(&json!({"update_time": "2024-01-01T00:00:00Z"}))
        );
        assert_eq!(s.warnings().len(), 1);
        assert!(
            s.warnings()[0].contains("[1] has no \"type\""),
            "{:?}",
            s.warnings()
        );
        for (bad, says) in [
            (
                r#"[null, {"deals": {"update_time": "2024-01-01T00:00:00Z"}}]"#,
                "[1]: an object with neither",
            ),
            (
                r#"[{"type": "SOMETHING"}]"#,
                "[0]: a state of type \"SOMETHING\"",
            ),
            (r#"[{"type": 7}]"#, "[0]: a state of type 7"),
            (r#"[[]]"#, "[0]: [] is not a state message"),
            (r#"["deals"]"#, "[0]: \"deals\" is not a state message"),
        ] {
            let e = format!("{:#}", parse(bad).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
        let unknown = parse(r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"gone"},"stream_state":{}}}]"#).unwrap();
        assert!(unknown.warnings()[0].contains("\"gone\", which this connector does not have"));
        let odd = parse(r#"{"deals": 5}"#).unwrap();
        assert_eq!(odd.get("deals"), None);
        assert!(odd.warnings()[0].contains("stream deals is 5"));
    }

    #[test]
    fn bad_cursors_and_shapes_are_errors() {
        let text = r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"deals"},"stream_state":{"update_time":"yesterday"}}}]"#;
        let deals = streams::find("deals").unwrap();
        let e = from_text(text, Path::new("s.json"), &[deals]).unwrap_err();
        assert!(
            format!("{e:#}").contains("state file s.json: stream deals: saved cursor update_time"),
            "{e:#}"
        );
        // Not judged when the stream is not selected.
        let notes = streams::find("notes").unwrap();
        assert!(from_text(text, Path::new("s.json"), &[notes]).is_ok());
        assert!(parse("{").is_err());
        assert!(parse("42").is_err());
        assert!(parse(r#"[{"type":"STREAM","stream":{}}]"#).is_err());
    }
}
