//! `demo`: the whole job against the embedded sandbox, so anyone can see a sync without a
//! Pipedrive account. It starts the fake Pipedrive on loopback, then runs spec, check, discover
//! and an incremental read of every stream exactly as a real sync would: protocol messages on
//! stdout, a per-stream summary on stderr.

use std::io::Write;

use anyhow::{Context, Result};
use pipedrive_sandbox::{Sandbox, SandboxOptions};

use crate::catalog;
use crate::config::{ApiKey, Config, NameMode};
use crate::output::Output;
use crate::protocol::airbyte::{Message, Status};
use crate::state::SavedState;

pub fn demo(size: u64, out: &mut Output) -> Result<()> {
    let options = SandboxOptions {
        size,
        ..SandboxOptions::default()
    };
    let key = options.api_key.clone();
    let sandbox = Sandbox::start(options).context("starting the sandbox Pipedrive on loopback")?;
    let config = Config {
        api_key: ApiKey::new(key),
        start_date: "2020-01-01T00:00:00Z".parse().expect("a valid date"),
        base_url: sandbox.base_url(),
        custom_field_names: NameMode::Both,
        custom_field_option_labels: true,
        max_requests_per_second: None,
        request_timeout: std::time::Duration::from_secs(30),
        max_retries: 5,
        max_concurrent_streams: crate::config::DEFAULT_CONCURRENT_STREAMS,
        token_caps: crate::config::TokenCaps::default(),
        webhook_auth: None,
    };
    eprintln!(
        "sandbox Pipedrive listening on {} ({size} records per main resource)",
        sandbox.base_url()
    );

    super::spec(out)?;
    let status = super::check::check_config(&config);
    let ok = status.status == Status::Succeeded;
    out.message(&Message::ConnectionStatus {
        connection_status: status,
    })?;
    anyhow::ensure!(ok, "check against the sandbox failed");
    super::discover(&config, out)?;
    let reports = super::read(
        &config,
        &catalog::default_streams(),
        &SavedState::default(),
        out,
        &crate::progress::Nobody,
    )?;
    out.flush()?;

    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "\n{:<16} {:>9} {:>9} {:>8}  outcome",
        "stream", "records", "requests", "tokens"
    )?;
    let (mut records, mut requests, mut tokens) = (0, 1, 2);
    for r in &reports {
        writeln!(
            err,
            "{:<16} {:>9} {:>9} {:>8}  {:?}",
            r.stream, r.records, r.requests, r.tokens, r.outcome
        )?;
        records += r.records;
        requests += r.requests;
        tokens += r.tokens;
    }
    writeln!(
        err,
        "{:<16} {:>9} {:>9} {:>8}  (totals include the key check)",
        "total", records, requests, tokens
    )?;
    Ok(())
}

/// `sandbox`: the fake Pipedrive alone, on loopback, until the process is stopped. Prints a config
/// that points at it (to stderr: stdout is for protocol messages only).
pub fn serve(port: u16, size: u64) -> Result<()> {
    let options = SandboxOptions {
        size,
        port,
        ..SandboxOptions::default()
    };
    let key = options.api_key.clone();
    let sandbox = Sandbox::start(options).context("starting the sandbox Pipedrive on loopback")?;
    let config = serde_json::json!({"api_key": key, "start_date": "2020-01-01T00:00:00Z", "base_url": sandbox.base_url()});
    eprintln!("sandbox Pipedrive listening on {} ({size} records per main resource); a config for it:\n{config}", sandbox.base_url());
    loop {
        std::thread::park();
    }
}
