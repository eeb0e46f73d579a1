//! Custom field definitions as this run needs them: read once per field-definition stream (a
//! read of the `*_fields` stream like any other, through the engine), handed to `custom_fields`
//! to type and name the fields, and turned into each stream's `Shaper` and discovered schema.

use std::collections::{BTreeSet, HashMap};

use anyhow::{anyhow, Result};

use crate::config::{Config, NameMode};
use crate::custom_fields::{Field, Naming, Shaper};
use crate::http::{Client, RetryPolicy};
use crate::output::Output;
use crate::protocol::airbyte::LogLevel;
use crate::streams::engine::{self, Meter};
use crate::streams::{self, StreamDef, DELETED_AT};

/// The account's custom field definitions, read once per field-definition stream per run.
#[derive(Default)]
pub(crate) struct Definitions {
    loaded: HashMap<&'static str, std::result::Result<Vec<Field>, String>>,
    /// What reading them cost, for the end-of-sync summary.
    pub meter: Meter,
}

impl Definitions {
    /// The custom fields defined by `fields_stream`, or why they could not be read.
    pub fn get(
        &mut self,
        client: &Client,
        fields_stream: &'static str,
    ) -> Result<&std::result::Result<Vec<Field>, String>> {
        if !self.loaded.contains_key(fields_stream) {
            let def =
                streams::find(fields_stream).ok_or_else(|| anyhow!("no stream {fields_stream}"))?;
            let fetched = engine::fetch_all(client, def, &self.meter);
            let v1 = def.path.starts_with("/v1/");
            let fields = fetched?.map(|items| Field::from_items(&items, v1));
            self.loaded.insert(fields_stream, fields);
        }
        Ok(&self.loaded[fields_stream])
    }
}

/// How `def`'s custom fields are shaped in this run, or `None` when it has none. Definitions are
/// read only when `always` (discover types every field) or when records need them. Names already
/// handed out (`pinned`) are kept.
pub(crate) fn shaper(
    def: &StreamDef,
    config: &Config,
    client: &Client,
    defs: &mut Definitions,
    pinned: &Naming,
    always: bool,
    out: &mut Output,
) -> Result<Option<Shaper>> {
    let Some(custom) = def.custom else {
        return Ok(None);
    };
    let (mode, labels) = (config.custom_field_names, config.custom_field_option_labels);
    let needs_definitions = always || custom.v1 || labels || mode != NameMode::Key;
    let fields = if needs_definitions {
        match defs.get(client, custom.fields)? {
            Ok(fields) => fields.clone(),
            Err(reason) => {
                out.log(
                    LogLevel::Warn,
                    &format!(
                        "stream {}: custom fields are not typed because {} could not be read ({reason}); their values still arrive",
                        def.name, custom.fields
                    ),
                )?;
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let schema = def.schema();
    let mut reserved: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    reserved.insert(DELETED_AT.to_string());
    reserved.insert(streams::SINGER_DELETED_AT.to_string());
    let naming = Naming::assign(pinned, &fields, &reserved);
    Ok(Some(Shaper {
        fields,
        mode,
        labels,
        v1: custom.v1,
        naming,
    }))
}

/// Every stream with the JSON Schema discovery gives it: its own, with the account's custom
/// fields typed in (one request per entity's field definitions). Airbyte's and Singer's
/// discover both list these.
pub(crate) fn discovered_schemas(
    config: &Config,
    out: &mut Output,
) -> Result<Vec<(&'static StreamDef, serde_json::Value)>> {
    let client = super::client_beside_syncs(config, RetryPolicy::default(), Some(out));
    let mut defs = Definitions::default();
    let mut all = Vec::new();
    for def in streams::STREAMS {
        let mut schema = def.schema();
        if let Some(shaper) = shaper(
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
        all.push((def, schema));
    }
    Ok(all)
}
