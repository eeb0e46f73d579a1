//! `discover`: the catalog of every stream, with its JSON Schema (custom fields of the account
//! typed in), sync modes, cursor and key.

use anyhow::Result;

use crate::config::Config;
use crate::output::Output;
use crate::protocol::airbyte::{Catalog, Message, Stream, SyncMode};
use crate::streams::StreamDef;

/// The Airbyte catalog of the streams and their schemas.
pub fn catalog(schemas: Vec<(&'static StreamDef, serde_json::Value)>) -> Catalog {
    let streams = schemas
        .into_iter()
        .map(|(def, json_schema)| {
            let mut modes = vec![SyncMode::FullRefresh];
            if def.incremental() {
                modes.push(SyncMode::Incremental);
            }
            Stream {
                name: def.name.to_string(),
                json_schema,
                supported_sync_modes: modes,
                source_defined_cursor: def.incremental(),
                default_cursor_field: def.cursor.map(|c| vec![c.to_string()]).unwrap_or_default(),
                source_defined_primary_key: def
                    .primary_key
                    .iter()
                    .map(|k| vec![k.to_string()])
                    .collect(),
                is_resumable: Some(def.resumable_full_refresh()),
            }
        })
        .collect();
    Catalog { streams }
}

/// Reads the account's field definitions (one request per entity) to type custom fields.
pub fn discover(config: &Config, out: &mut Output) -> Result<()> {
    let catalog = catalog(super::fields::discovered_schemas(config, out)?);
    out.message(&Message::Catalog { catalog })?;
    out.flush()?;
    Ok(())
}
