//! `spec`: the connection specification, generated from the config type so the two cannot drift.

use std::io;

use schemars::generate::SchemaSettings;

use crate::config::RawConfig;
use crate::output::Output;
use crate::protocol::airbyte::{DestinationSyncMode, Message, Spec};

pub const DOCUMENTATION_URL: &str = "https://github.com/source-pipedrive/source-pipedrive#readme";

pub fn connection_specification() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<RawConfig>().to_value();
    // The Option fields exist to give clear errors for missing values; the spec states the truth.
    schema["required"] = serde_json::json!(["api_key", "start_date"]);
    for field in ["api_key", "start_date", "base_url"] {
        schema["properties"][field]["type"] = "string".into();
    }
    schema["additionalProperties"] = true.into();
    schema
}

pub fn spec(out: &mut Output) -> io::Result<()> {
    out.message(&Message::Spec {
        spec: Spec {
            documentation_url: DOCUMENTATION_URL.to_string(),
            connection_specification: connection_specification(),
            supports_incremental: true,
            supported_destination_sync_modes: vec![
                DestinationSyncMode::Overwrite,
                DestinationSyncMode::Append,
                DestinationSyncMode::AppendDedup,
            ],
        },
    })?;
    out.flush()
}
