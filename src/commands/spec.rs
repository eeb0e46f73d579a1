//! `spec`: the connection specification, generated from the config type so the two cannot drift.

use std::io;

use schemars::generate::SchemaSettings;

use crate::config::{advanced_auth, RawConfig, RawCredentials};
use crate::output::Output;
use crate::protocol::airbyte::{DestinationSyncMode, Message, Spec};

pub const DOCUMENTATION_URL: &str = "https://github.com/source-pipedrive/source-pipedrive#readme";

pub fn connection_specification() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<RawConfig>().to_value();
    // The Option fields exist to give clear errors for missing values; the spec states the truth.
    // `api_key` or `credentials`: exactly one of the two (the config check says so).
    schema["required"] = serde_json::json!(["start_date"]);
    let props = schema["properties"]
        .as_object_mut()
        .expect("an object schema");
    for (name, prop) in props.iter_mut() {
        let p = prop.as_object_mut().expect("a property schema");
        // Airbyte's form builder wants one plain type, and no Rust-specific number formats.
        let kind = match name.as_str() {
            "custom_field_option_labels" | "emit_activate_version_messages" => "boolean",
            "max_requests_per_second" | "daily_budget_reserve_percent" => "number",
            "request_timeout_seconds"
            | "max_retries"
            | "max_concurrent_streams"
            | "max_concurrent_requests"
            | "max_tokens_per_sync" => "integer",
            _ => "string",
        };
        p.insert("type".into(), kind.into());
        if kind != "string" {
            p.shift_remove("format");
        }
        if name == "credentials" {
            *prop = credentials_schema();
            continue;
        }
        if name == "custom_field_names" {
            p.shift_remove("allOf");
            p.insert("enum".into(), serde_json::json!(["key", "name", "both"]));
        }
    }
    if let Some(s) = schema.as_object_mut() {
        s.shift_remove("definitions");
    }
    schema["additionalProperties"] = true.into();
    schema
}

/// `credentials`, inline: one plain type per property, as Airbyte's form builder wants.
fn credentials_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let mut schema = generator
        .into_root_schema_for::<RawCredentials>()
        .to_value();
    let object = schema.as_object_mut().expect("an object schema");
    object.shift_remove("$schema");
    object.insert("type".into(), "object".into());
    object.insert(
        "required".into(),
        serde_json::json!(["auth_type", "client_id", "client_secret", "refresh_token"]),
    );
    object.insert("order".into(), 13.into());
    for prop in object["properties"]
        .as_object_mut()
        .expect("properties")
        .values_mut()
    {
        prop["type"] = "string".into();
    }
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
            advanced_auth: Some(advanced_auth()),
        },
    })?;
    out.flush()
}
