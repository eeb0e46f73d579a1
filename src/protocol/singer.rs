//! Singer messages and catalog as serde types, as taps write them and Meltano reads them:
//! SCHEMA before a stream's first RECORD, RECORD with `time_extracted`, STATE holding the whole
//! bookmarks document; ACTIVATE_VERSION, the convention (singer-python's, tap-postgres's) by
//! which a full-table stream's records carry a table version and the tap then says that
//! version is the whole table. `RecordRef` writes a record without copying its data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Message {
    Schema {
        stream: String,
        schema: Value,
        key_properties: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bookmark_properties: Vec<String>,
    },
    Record {
        stream: String,
        record: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
        time_extracted: String,
    },
    State {
        value: Value,
    },
    ActivateVersion {
        stream: String,
        version: u64,
    },
}

/// Serializes exactly like `Message::Record`, borrowing the record.
#[derive(Serialize)]
pub struct RecordRef<'a, T: Serialize + ?Sized = Value> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stream: &'a str,
    pub record: &'a T,
    /// The table version of a full-table stream's record (`ACTIVATE_VERSION`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    pub time_extracted: &'a str,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub streams: Vec<CatalogEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub tap_stream_id: String,
    pub stream: String,
    pub schema: Value,
    #[serde(default)]
    pub key_properties: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_method: Option<String>,
    #[serde(default)]
    pub metadata: Vec<Metadata>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub breadcrumb: Vec<String>,
    pub metadata: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_forms() {
        let data = json!({"id": 1});
        let borrowed = serde_json::to_string(&RecordRef {
            kind: "RECORD",
            stream: "deals",
            record: &data,
            version: None,
            time_extracted: "2024-01-01T00:00:00Z",
        })
        .unwrap();
        let owned = serde_json::to_string(&Message::Record {
            stream: "deals".into(),
            record: data.clone(),
            version: None,
            time_extracted: "2024-01-01T00:00:00Z".into(),
        })
        .unwrap();
        assert_eq!(borrowed, owned);
        assert_eq!(
            owned,
            r#"{"type":"RECORD","stream":"deals","record":{"id":1},"time_extracted":"2024-01-01T00:00:00Z"}"#
        );
        let versioned = serde_json::to_string(&RecordRef {
            kind: "RECORD",
            stream: "roles",
            record: &data,
            version: Some(1767225600000),
            time_extracted: "2024-01-01T00:00:00Z",
        })
        .unwrap();
        assert_eq!(
            versioned,
            r#"{"type":"RECORD","stream":"roles","record":{"id":1},"version":1767225600000,"time_extracted":"2024-01-01T00:00:00Z"}"#
        );
        let activate = Message::ActivateVersion {
            stream: "roles".into(),
            version: 1767225600000,
        };
        assert_eq!(
            serde_json::to_string(&activate).unwrap(),
            r#"{"type":"ACTIVATE_VERSION","stream":"roles","version":1767225600000}"#
        );
        let schema = Message::Schema {
            stream: "deals".into(),
            schema: json!({}),
            key_properties: vec!["id".into()],
            bookmark_properties: vec!["update_time".into()],
        };
        assert_eq!(
            serde_json::to_string(&schema).unwrap(),
            r#"{"type":"SCHEMA","stream":"deals","schema":{},"key_properties":["id"],"bookmark_properties":["update_time"]}"#
        );
        let state = Message::State {
            value: json!({"bookmarks": {"deals": {"update_time": "x"}}}),
        };
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"type":"STATE","value":{"bookmarks":{"deals":{"update_time":"x"}}}}"#
        );
    }
}
