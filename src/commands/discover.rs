//! `discover`: the catalog of every stream, with its JSON Schema, sync modes, cursor and key.

use crate::output::Output;
use crate::protocol::airbyte::{Catalog, Message, Stream, SyncMode};
use crate::streams::STREAMS;

pub fn catalog() -> Catalog {
    let streams = STREAMS
        .iter()
        .map(|def| {
            let mut modes = vec![SyncMode::FullRefresh];
            if def.incremental() {
                modes.push(SyncMode::Incremental);
            }
            Stream {
                name: def.name.to_string(),
                json_schema: def.schema(),
                supported_sync_modes: modes,
                source_defined_cursor: def.incremental(),
                default_cursor_field: def.cursor.map(|c| vec![c.to_string()]).unwrap_or_default(),
                source_defined_primary_key: vec![vec![def.primary_key.to_string()]],
                is_resumable: Some(def.incremental() && def.checkpoints_per_page()),
            }
        })
        .collect();
    Catalog { streams }
}

pub fn discover(out: &mut Output) -> std::io::Result<()> {
    out.message(&Message::Catalog { catalog: catalog() })?;
    out.flush()
}
