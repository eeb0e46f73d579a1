//! The configured catalog a caller hands to `read`: which streams, in which sync mode. Parsed and
//! checked in full before any request, so a typo fails fast with the file and stream named.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::custom_fields::Naming;
use crate::error::ConnectorError;
use crate::streams::{self, StreamDef};

#[derive(Debug, Clone)]
pub struct Selected {
    pub def: &'static StreamDef,
    pub incremental: bool,
    /// Incremental was asked for a stream that has no cursor: it runs as full refresh.
    pub downgraded: bool,
    /// Custom field names the catalog's schema already uses (what the destination expects).
    pub pinned: Naming,
}

#[derive(Deserialize)]
struct ConfiguredCatalog {
    streams: Vec<ConfiguredStream>,
}

#[derive(Deserialize)]
struct ConfiguredStream {
    stream: StreamRef,
    sync_mode: String,
}

#[derive(Deserialize)]
struct StreamRef {
    name: String,
    #[serde(default)]
    json_schema: Value,
}

/// The default catalog, incremental where a stream can be: what `read` syncs when no catalog is
/// given. Streams costing one request per parent record are left out unless selected.
pub fn default_streams() -> Vec<Selected> {
    streams::STREAMS
        .iter()
        .filter(|def| def.default)
        .map(|def| Selected {
            def,
            incremental: def.incremental(),
            downgraded: false,
            pinned: Naming::default(),
        })
        .collect()
}

pub fn load(path: &Path) -> Result<Vec<Selected>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        ConnectorError::config(format!("cannot read catalog file {}", path.display()))
    })?;
    parse(&text).map_err(|e| {
        ConnectorError::config(format!("catalog file {}: {e:#}", path.display())).into()
    })
}

pub fn parse(text: &str) -> Result<Vec<Selected>> {
    let value: Value = serde_json::from_str(text).context("not valid JSON")?;
    let catalog: ConfiguredCatalog = serde_json::from_value(value)
        .context("expected a configured catalog: {\"streams\": [{\"stream\": {\"name\": ...}, \"sync_mode\": ...}]}")?;
    let mut selected: Vec<Selected> = Vec::new();
    for (i, s) in catalog.streams.iter().enumerate() {
        let Some(def) = streams::find(&s.stream.name) else {
            bail!(
                "streams[{i}]: unknown stream {:?}; known streams: {}",
                s.stream.name,
                streams::names().join(", ")
            );
        };
        if selected.iter().any(|p| p.def.name == def.name) {
            bail!("streams[{i}]: stream {:?} is listed twice", def.name);
        }
        let (incremental, downgraded) = match s.sync_mode.as_str() {
            "full_refresh" => (false, false),
            "incremental" => (def.incremental(), !def.incremental()),
            other => bail!(
                "streams[{i}] ({}): sync_mode {other:?} is neither full_refresh nor incremental",
                def.name
            ),
        };
        selected.push(Selected {
            def,
            incremental,
            downgraded,
            pinned: Naming::from_schema(&s.stream.json_schema),
        });
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_downgrade() {
        let s = parse(r#"{"streams":[
            {"stream":{"name":"deals","json_schema":{}},"sync_mode":"incremental","destination_sync_mode":"append_dedup"},
            {"stream":{"name":"currencies"},"sync_mode":"incremental"},
            {"stream":{"name":"users"},"sync_mode":"full_refresh"}]}"#)
        .unwrap();
        assert_eq!(
            s.iter()
                .map(|x| (x.def.name, x.incremental, x.downgraded))
                .collect::<Vec<_>>(),
            vec![
                ("deals", true, false),
                ("currencies", false, true),
                ("users", false, false)
            ]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = parse(r#"{"streams":[{"stream":{"name":"dealz"},"sync_mode":"incremental"}]}"#)
            .unwrap_err();
        assert!(format!("{e:#}").contains("unknown stream \"dealz\""));
        assert!(parse("{").is_err());
        assert!(
            parse(r#"{"streams":[{"stream":{"name":"deals"},"sync_mode":"sometimes"}]}"#).is_err()
        );
        assert!(parse(r#"{"streams":[{"stream":{"name":"deals"},"sync_mode":"incremental"},{"stream":{"name":"deals"},"sync_mode":"incremental"}]}"#).is_err());
    }
}
