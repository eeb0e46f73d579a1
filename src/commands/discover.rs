//! `discover`: the catalog of every stream, with its JSON Schema (custom fields of the account
//! typed in), sync modes, cursor and key.

use anyhow::Result;

use crate::config::Config;
use crate::custom_fields::{Definitions, Naming};
use crate::http::RetryPolicy;
use crate::output::Output;
use crate::protocol::airbyte::{Catalog, Message, Stream, SyncMode};
use crate::streams::STREAMS;

/// The catalog, with the schema of each stream as `schema_of` gives it.
pub fn catalog(
    mut schema_of: impl FnMut(&'static crate::streams::StreamDef) -> Result<serde_json::Value>,
) -> Result<Catalog> {
    let mut streams = Vec::new();
    for def in STREAMS {
        let mut modes = vec![SyncMode::FullRefresh];
        if def.incremental() {
            modes.push(SyncMode::Incremental);
        }
        streams.push(Stream {
            name: def.name.to_string(),
            json_schema: schema_of(def)?,
            supported_sync_modes: modes,
            source_defined_cursor: def.incremental(),
            default_cursor_field: def.cursor.map(|c| vec![c.to_string()]).unwrap_or_default(),
            source_defined_primary_key: def
                .primary_key
                .iter()
                .map(|k| vec![k.to_string()])
                .collect(),
            is_resumable: Some(def.incremental() && def.checkpoints_per_page()),
        });
    }
    Ok(Catalog { streams })
}

/// Reads the account's field definitions (one request per entity) to type custom fields.
pub fn discover(config: &Config, out: &mut Output) -> Result<()> {
    let client = super::client(config, RetryPolicy::default());
    let mut defs = Definitions::default();
    let catalog = catalog(|def| {
        let mut schema = def.schema();
        if let Some(shaper) = super::shaper(
            def,
            config,
            &client,
            &mut defs,
            &Naming::default(),
            true,
            out,
        )? {
            shaper.extend_schema(&mut schema);
        }
        Ok(schema)
    })?;
    out.message(&Message::Catalog { catalog })?;
    out.flush()?;
    Ok(())
}
