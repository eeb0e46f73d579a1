//! Airbyte protocol messages as serde types, exactly as they appear on the wire (one JSON object
//! per line, tagged on `type`). Owned types for reading messages back; `RecordRef` to write a
//! record without copying its data.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Message {
    Record {
        record: Record,
    },
    State {
        state: State,
    },
    Log {
        log: Log,
    },
    Spec {
        spec: Spec,
    },
    ConnectionStatus {
        #[serde(rename = "connectionStatus")]
        connection_status: ConnectionStatus,
    },
    Catalog {
        catalog: Catalog,
    },
    Trace {
        trace: Trace,
    },
    /// The connector tells the platform to save a new config (OAuth tokens after a refresh).
    Control {
        control: Control,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Always `CONNECTOR_CONFIG`.
    #[serde(rename = "type")]
    pub kind: String,
    pub emitted_at: f64,
    #[serde(rename = "connectorConfig")]
    pub connector_config: ConnectorConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorConfig {
    pub config: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub stream: String,
    pub data: Value,
    pub emitted_at: i64,
}

/// Serializes exactly like `Message::Record`, borrowing the data.
#[derive(Serialize)]
pub struct RecordRef<'a, T: Serialize + ?Sized = Value> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub record: RecordBody<'a, T>,
}

#[derive(Serialize)]
pub struct RecordBody<'a, T: Serialize + ?Sized = Value> {
    pub stream: &'a str,
    pub data: &'a T,
    pub emitted_at: i64,
}

impl<'a, T: Serialize + ?Sized> RecordRef<'a, T> {
    pub fn new(stream: &'a str, data: &'a T, emitted_at: i64) -> Self {
        RecordRef {
            kind: "RECORD",
            record: RecordBody {
                stream,
                data,
                emitted_at,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "type")]
    pub kind: StateType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamState>,
    #[serde(
        rename = "sourceStats",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_stats: Option<SourceStats>,
}

impl State {
    /// The stream a per-stream state is about.
    pub fn stream_name(&self) -> Option<&str> {
        self.stream
            .as_ref()
            .map(|s| s.stream_descriptor.name.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateType {
    Stream,
    Global,
    Legacy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub stream_descriptor: StreamDescriptor,
    #[serde(default)]
    pub stream_state: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDescriptor {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl StreamDescriptor {
    pub fn new(name: &str) -> StreamDescriptor {
        StreamDescriptor {
            name: name.to_string(),
            namespace: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    #[serde(rename = "recordCount")]
    pub record_count: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    #[serde(rename = "documentationUrl")]
    pub documentation_url: String,
    #[serde(rename = "connectionSpecification")]
    pub connection_specification: Value,
    #[serde(rename = "supportsIncremental")]
    pub supports_incremental: bool,
    pub supported_destination_sync_modes: Vec<DestinationSyncMode>,
    /// How the platform runs the OAuth flow (`config::advanced_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_auth: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub streams: Vec<Stream>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub name: String,
    pub json_schema: Value,
    pub supported_sync_modes: Vec<SyncMode>,
    #[serde(default)]
    pub source_defined_cursor: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_cursor_field: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_defined_primary_key: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_resumable: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    FullRefresh,
    Incremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationSyncMode {
    Append,
    Overwrite,
    AppendDedup,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Trace {
    Error {
        emitted_at: f64,
        error: TraceError,
    },
    StreamStatus {
        emitted_at: f64,
        stream_status: StreamStatus,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_message: Option<String>,
    pub failure_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_descriptor: Option<StreamDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStatus {
    pub stream_descriptor: StreamDescriptor,
    pub status: StreamStatusKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatusKind {
    Started,
    Running,
    Complete,
    Incomplete,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_ref_serializes_like_owned_record() {
        let data = json!({"id": 1, "title": "Ünïcode ✓"});
        let borrowed = serde_json::to_string(&RecordRef::new("deals", &data, 7)).unwrap();
        let owned = serde_json::to_string(&Message::Record {
            record: Record {
                stream: "deals".into(),
                data,
                emitted_at: 7,
            },
        })
        .unwrap();
        assert_eq!(borrowed, owned);
        assert_eq!(
            owned,
            r#"{"type":"RECORD","record":{"stream":"deals","data":{"id":1,"title":"Ünïcode ✓"},"emitted_at":7}}"#
        );
    }

    #[test]
    fn exact_wire_forms() {
        let state = Message::State {
            state: State {
                kind: StateType::Stream,
                stream: Some(StreamState {
                    stream_descriptor: StreamDescriptor::new("deals"),
                    stream_state: Some(json!({"update_time": "2024-01-01T00:00:00Z"})),
                }),
                source_stats: Some(SourceStats { record_count: 3.0 }),
            },
        };
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"deals"},"stream_state":{"update_time":"2024-01-01T00:00:00Z"}},"sourceStats":{"recordCount":3.0}}}"#
        );
        let status = Message::ConnectionStatus {
            connection_status: ConnectionStatus {
                status: Status::Failed,
                message: Some("no".into()),
            },
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"type":"CONNECTION_STATUS","connectionStatus":{"status":"FAILED","message":"no"}}"#
        );
        let trace = Message::Trace {
            trace: Trace::StreamStatus {
                emitted_at: 1.0,
                stream_status: StreamStatus {
                    stream_descriptor: StreamDescriptor::new("deals"),
                    status: StreamStatusKind::Complete,
                },
            },
        };
        assert_eq!(
            serde_json::to_string(&trace).unwrap(),
            r#"{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":1.0,"stream_status":{"stream_descriptor":{"name":"deals"},"status":"COMPLETE"}}}"#
        );
        let log = Message::Log {
            log: Log {
                level: LogLevel::Warn,
                message: "m".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&log).unwrap(),
            r#"{"type":"LOG","log":{"level":"WARN","message":"m"}}"#
        );
    }
}
