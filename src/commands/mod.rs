//! The commands of the Airbyte protocol, plus `demo`. Each takes validated input and the one
//! stdout writer; none parses arguments or decides exit codes.

mod check;
mod demo;

mod discover;
pub mod listen;
mod read;
pub mod singer;
mod spec;
pub mod webhooks;

pub use check::check;
pub use demo::{demo, serve};

pub use discover::discover;
pub use read::{read, StreamOutcome, StreamReport};
pub use spec::spec;

use std::collections::BTreeSet;

use anyhow::Result;

use crate::config::{Config, NameMode};
use crate::custom_fields::{Definitions, Naming, Shaper};
use crate::error::{self, FailureType};
use crate::http::{Client, HttpError, RetryPolicy};
use crate::output::Output;
use crate::protocol::airbyte::LogLevel;
use crate::streams::engine::Sink;
use crate::streams::record::Record;
use crate::streams::{StreamDef, DELETED_AT};

/// The engine writes through the one stdout writer.
impl Sink for Output {
    fn record(&mut self, stream: &str, record: &Record) -> std::io::Result<()> {
        Output::record(self, stream, record)
    }

    fn record_value(&mut self, stream: &str, record: &serde_json::Value) -> std::io::Result<()> {
        Output::record(self, stream, record)
    }

    fn state(
        &mut self,
        stream: &str,
        state: serde_json::Value,
        records_since_last: u64,
    ) -> std::io::Result<()> {
        Output::state(self, stream, state, records_since_last)
    }
}

/// The failure type of an error chain: the first typed error found decides, the HTTP client's
/// errors included. Every failure a user sees is classified by this.
pub fn classify(err: &anyhow::Error) -> FailureType {
    error::classify_with(err, |cause| {
        cause
            .downcast_ref::<HttpError>()
            .map(HttpError::failure_type)
    })
}

/// Tells the writer the config's secrets, so that no text it writes can show them.
pub fn redact(config: &Config, out: &mut Output) {
    for secret in config.secrets() {
        out.redact(secret);
    }
}

/// The HTTP client for `config`: `policy` with the config's rate cap, timeout and retry count.
pub(crate) fn client(config: &Config, policy: RetryPolicy) -> Client {
    let policy = RetryPolicy {
        min_interval: config
            .max_requests_per_second
            .map(|r| std::time::Duration::from_secs_f64(1.0 / r)),
        receive_timeout: config.request_timeout,
        max_tries: policy.max_tries.min(config.max_retries + 1),
        in_flight: config.max_concurrent_streams as u64,
        ..policy
    };
    Client::new(&config.base_url, config.api_key.clone(), policy)
}

/// The cheapest authenticated request (2 tokens) that every token may make: it proves the key
/// works and tells the server's clock.
pub(crate) const WHOAMI: &str = "/v1/users/me";

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
    let client = client(config, RetryPolicy::default());
    let mut defs = Definitions::default();
    let mut all = Vec::new();
    for def in crate::streams::STREAMS {
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
