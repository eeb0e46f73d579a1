//! Singer mode, for Meltano: `--about`, `--discover` and a sync driven by a Singer catalog and
//! state. Same config, streams, schemas, custom fields, `start_date` rules and error policy as
//! the Airbyte commands; only the messages differ.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::catalog::Selected;
use crate::config::Config;
use crate::custom_fields::Naming;
use crate::error::ConnectorError;
use crate::output::{Output, Singer, SingerStream};
use crate::protocol::singer::{Catalog, CatalogEntry, Metadata};
use crate::state::{self, SavedState};
use crate::streams;

/// The Singer catalog: every stream with its schema and metadata breadcrumbs.
pub fn catalog(config: &Config, out: &mut Output) -> Result<Catalog> {
    let mut entries = Vec::new();
    for (def, schema) in super::fields::discovered_schemas(config, out)? {
        let schema = streams::singer_schema(schema);
        let keys: Vec<String> = def.primary_key.iter().map(|k| k.to_string()).collect();
        let method = if def.incremental() {
            "INCREMENTAL"
        } else {
            "FULL_TABLE"
        };
        let mut stream_meta = Map::new();
        stream_meta.insert("inclusion".into(), json!("available"));
        stream_meta.insert("selected-by-default".into(), json!(def.default));
        stream_meta.insert("table-key-properties".into(), json!(keys));
        stream_meta.insert("forced-replication-method".into(), json!(method));
        if let Some(c) = def.cursor {
            stream_meta.insert("valid-replication-keys".into(), json!([c]));
        }
        let mut metadata = vec![Metadata {
            breadcrumb: vec![],
            metadata: stream_meta.into_iter().collect(),
        }];
        if let Some(props) = schema["properties"].as_object() {
            for p in props.keys() {
                let automatic = keys.contains(p) || def.cursor == Some(p.as_str());
                metadata.push(Metadata {
                    breadcrumb: vec!["properties".into(), p.clone()],
                    metadata: [
                        (
                            "inclusion".to_string(),
                            json!(if automatic { "automatic" } else { "available" }),
                        ),
                        ("selected-by-default".to_string(), json!(true)),
                    ]
                    .into(),
                });
            }
        }
        entries.push(CatalogEntry {
            tap_stream_id: def.name.to_string(),
            stream: def.name.to_string(),
            schema,
            key_properties: keys,
            replication_key: def.cursor.map(str::to_string),
            replication_method: Some(method.to_string()),
            metadata,
        });
    }
    Ok(Catalog { streams: entries })
}

/// `--discover`: the catalog as one JSON document on stdout; logs go to stderr.
pub fn discover(config: &Config, out: &mut Output) -> Result<()> {
    out.speak_singer(Singer::new(HashMap::new(), Map::new()));
    let catalog = catalog(config, out)?;
    out.document(&serde_json::to_value(catalog)?)
}

/// What a Singer run starts from: the selected streams, what their SCHEMA messages say, the
/// saved states, and the whole bookmarks document to carry forward.
pub struct Start {
    pub selected: Vec<Selected>,
    pub streams: HashMap<String, SingerStream>,
    pub saved: SavedState,
    pub bookmarks: Map<String, Value>,
}

impl Start {
    pub fn load(catalog_path: Option<&Path>, state_path: Option<&Path>) -> Result<Start> {
        let (selected, streams) = match catalog_path {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    ConnectorError::config(format!("cannot read catalog file {}", path.display()))
                })?;
                parse_catalog(&text).map_err(|e| {
                    ConnectorError::config(format!("catalog file {}: {e:#}", path.display()))
                })?
            }
            None => {
                let selected = crate::catalog::default_streams();
                let streams = selected
                    .iter()
                    .map(|s| {
                        (
                            s.def.name.to_string(),
                            stream_info(s.def, s.def.schema(), Vec::new()),
                        )
                    })
                    .collect();
                (selected, streams)
            }
        };
        // The bookmarks of streams not selected are carried forward as they are, not judged.
        let defs: Vec<&streams::StreamDef> = selected.iter().map(|s| s.def).collect();
        let (saved, bookmarks) = match state_path {
            Some(path) => {
                let text = state::read(path)?;
                (
                    state::from_text(&text, path, &defs)?,
                    state::bookmarks(&text),
                )
            }
            None => (SavedState::default(), Map::new()),
        };
        Ok(Start {
            selected,
            streams,
            saved,
            bookmarks,
        })
    }

    /// Singer output for this run.
    pub fn singer(&self) -> Singer {
        Singer::new(self.streams.clone(), self.bookmarks.clone())
    }
}

/// A sync in Singer: the streams the catalog selects, resumed from the bookmarks of `state`.
/// Ends with a STATE message, which Singer targets need to save anything.
pub fn sync(
    config: &Config,
    catalog_path: Option<&Path>,
    state_path: Option<&Path>,
    out: &mut Output,
) -> Result<()> {
    let start = Start::load(catalog_path, state_path)?;
    let mut singer = start.singer();
    if config.emit_activate_version_messages {
        let full_tables: Vec<&str> = start
            .selected
            .iter()
            .filter(|s| !s.incremental)
            .map(|s| s.def.name)
            .collect();
        // Milliseconds since the epoch at the sync's start, as singer-python's taps version.
        let version = u64::try_from(crate::output::now_ms()).unwrap_or(0);
        singer = singer.versioned(&full_tables, version);
    }
    out.speak_singer(singer);
    let result = super::read(
        config,
        &start.selected,
        &start.saved,
        out,
        &crate::progress::Nobody,
    );
    out.final_singer_state()?;
    result.map(|_| ())
}

/// What a stream's SCHEMA and RECORD messages say; the SCHEMA declares only the properties the
/// records carry (the deselected ones are left out of both).
fn stream_info(
    def: &streams::StreamDef,
    mut schema: Value,
    deselected: Vec<String>,
) -> SingerStream {
    // `get_mut`: indexing an object by a key it lacks would add the key.
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|p, _| !deselected.contains(p));
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|p| {
            !p.as_str()
                .is_some_and(|p| deselected.iter().any(|d| d == p))
        });
    }
    SingerStream {
        // Catalogs discovered by older versions still name Airbyte's soft-delete column.
        schema: streams::singer_schema(schema),
        key_properties: def.primary_key.iter().map(|k| k.to_string()).collect(),
        replication_key: def.cursor.map(str::to_string),
        deselected,
    }
}

/// The streams a Singer catalog selects (`selected` on the stream's empty breadcrumb, or on its
/// schema in older catalogs), with the properties it deselects.
fn parse_catalog(text: &str) -> Result<(Vec<Selected>, HashMap<String, SingerStream>)> {
    let catalog: Catalog =
        serde_json::from_str(text).context("not a Singer catalog: {\"streams\": [...]}")?;
    let mut selected = Vec::new();
    let mut infos = HashMap::new();
    let mut listed = Vec::new();
    for (i, entry) in catalog.streams.into_iter().enumerate() {
        let Some(def) =
            streams::find(&entry.tap_stream_id).or_else(|| streams::find(&entry.stream))
        else {
            anyhow::bail!(
                "streams[{i}]: unknown stream {:?}; known streams: {}",
                entry.tap_stream_id,
                streams::names().join(", ")
            );
        };
        // Listed twice, it would be read twice at once: every record twice, twice the tokens.
        if listed.contains(&def.name) {
            anyhow::bail!("streams[{i}]: stream {:?} is listed twice", def.name);
        }
        listed.push(def.name);
        let stream_meta = entry.metadata.iter().find(|m| m.breadcrumb.is_empty());
        let chosen = stream_meta
            .and_then(|m| m.metadata.get("selected"))
            .or_else(|| entry.schema.get("selected"));
        if chosen != Some(&json!(true)) {
            continue;
        }
        let deselected: Vec<String> = entry
            .metadata
            .iter()
            .filter(|m| m.breadcrumb.len() == 2 && m.breadcrumb[0] == "properties")
            .filter(|m| {
                m.metadata.get("selected") == Some(&json!(false))
                    && m.metadata.get("inclusion") != Some(&json!("automatic"))
            })
            .map(|m| m.breadcrumb[1].clone())
            .collect();
        let full_table = entry.replication_method.as_deref() == Some("FULL_TABLE")
            || stream_meta.and_then(|m| m.metadata.get("replication-method"))
                == Some(&json!("FULL_TABLE"));
        let pinned = Naming::from_schema(&entry.schema);
        infos.insert(
            def.name.to_string(),
            stream_info(def, entry.schema.clone(), deselected),
        );
        selected.push(Selected {
            def,
            incremental: def.incremental() && !full_table,
            downgraded: false,
            pinned,
        });
    }
    Ok((selected, infos))
}

/// `--about`: what this tap is and how to configure it, as text or JSON (as Meltano SDK taps do).
pub fn about(json_format: bool, out: &mut Output) -> Result<()> {
    let settings = super::spec::connection_specification();
    if json_format {
        return out.document(&json!({
            "name": "source-pipedrive",
            "description": env!("CARGO_PKG_DESCRIPTION"),
            "version": env!("CARGO_PKG_VERSION"),
            "capabilities": ["catalog", "discover", "state", "about", "activate-version"],
            "settings": settings,
        }));
    }
    let mut text = format!(
        "Name: source-pipedrive\nVersion: {}\nDescription: {}\nCapabilities: catalog, discover, state, about, activate-version\nSettings:\n",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_DESCRIPTION")
    );
    let required: Vec<&str> = settings["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, s) in settings["properties"].as_object().into_iter().flatten() {
        let secret = if s["airbyte_secret"] == json!(true) {
            ", secret"
        } else {
            ""
        };
        let req = if required.contains(&name.as_str()) {
            ", required"
        } else if matches!(name.as_str(), "api_key" | "credentials") {
            ", one of api_key / credentials"
        } else {
            ""
        };
        text.push_str(&format!(
            "  - {name} ({}{req}{secret}): {}\n",
            s["type"].as_str().unwrap_or("string"),
            s["description"].as_str().unwrap_or("")
        ));
    }
    out.text(&text)
}
