//! `demo`: the whole job against the embedded sandbox, so anyone can see a sync without a
//! Pipedrive account. It starts the fake Pipedrive on loopback, then runs spec, check, discover
//! and a read of the default catalog exactly as a real sync would.
//!
//! Where the messages go depends on who is looking. Read by a program (stdout is a pipe or a
//! file), the protocol messages go to stdout and a per-stream summary to stderr. Run by a person
//! (stdout is a terminal), fourteen thousand JSON lines would scroll by unread: the messages go
//! to a file instead (`--messages`), and the terminal shows where, the live progress, the
//! summary, a few sample records, and what to try next. Text for people goes to stderr either way:
//! stdout carries protocol messages only.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pipedrive_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

use super::StreamReport;
use crate::catalog;
use crate::config::{ApiKey, Config, NameMode, TokenCaps};
use crate::output::Output;
use crate::progress::{thousands, Board, Mode};
use crate::protocol::airbyte::{Message, Status};
use crate::state::SavedState;

/// Streams whose first record the demo shows, and how many properties of each.
const SAMPLES: &[&str] = &["deals", "persons", "activities"];
const SAMPLE_PROPERTIES: usize = 12;

/// Where the messages go when stdout is a terminal and `--messages` is not given.
pub fn default_messages_path() -> PathBuf {
    std::env::temp_dir().join("source-pipedrive-demo.jsonl")
}

pub fn demo(size: u64, progress: Mode, messages: Option<PathBuf>, out: &mut Output) -> Result<()> {
    let options = SandboxOptions {
        size,
        ..SandboxOptions::default()
    };
    let key = options.api_key.clone();
    let sandbox = Sandbox::start(options).context("starting the sandbox Pipedrive on loopback")?;
    let config = Config {
        auth: crate::config::Auth::ApiKey(ApiKey::new(key)),
        start_date: "2020-01-01T00:00:00Z".parse().expect("a valid date"),
        base_url: sandbox.base_url(),
        custom_field_names: NameMode::Both,
        custom_field_option_labels: true,
        max_requests_per_second: None,
        request_timeout: std::time::Duration::from_secs(30),
        max_retries: 5,
        max_concurrent_streams: crate::config::DEFAULT_CONCURRENT_STREAMS,
        max_concurrent_requests: crate::config::DEFAULT_CONCURRENT_REQUESTS,
        token_caps: TokenCaps::default(),
        webhook_auth: None,
        emit_activate_version_messages: true,
    };
    let board = Board::new(progress, "source-pipedrive demo");
    let path = match messages {
        Some(path) => path,
        None if std::io::stdout().is_terminal() => default_messages_path(),
        None => {
            eprintln!(
                "sandbox Pipedrive listening on {} ({size} records per main resource)",
                sandbox.base_url()
            );
            let reports = sync(&config, out, &board)?;
            return table(&reports, &board, &mut std::io::stderr().lock());
        }
    };

    let file = std::fs::File::create(&path)
        .with_context(|| format!("creating the messages file {}", path.display()))?;
    let mut to_file = Output::new(Box::new(file));
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "source-pipedrive demo: a sandbox Pipedrive on {}\n\
         with {} records per main resource, synced as Airbyte runs it: spec, check, discover, read.\n\
         The protocol messages (what Airbyte reads on stdout) go to {}\n",
        sandbox.base_url(),
        thousands(size),
        path.display()
    )?;
    drop(err);
    let reports = sync(&config, &mut to_file, &board)?;
    to_file.flush()?;
    let mut err = std::io::stderr().lock();
    if !board.drawing() {
        table(&reports, &board, &mut err)?;
    }
    if let Some(t) = board.last_totals() {
        let outcomes: Vec<String> = ["complete", "skipped", "failed", "stopped"]
            .iter()
            .map(|o| {
                (
                    o,
                    reports.iter().filter(|r| r.outcome.as_str() == *o).count(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .map(|(o, n)| format!("{n} {o}"))
            .collect();
        // The display's last line fills the terminal's width: the cursor stays on it.
        let gap = if board.drawing() { "\n\n" } else { "\n" };
        writeln!(
            err,
            "{gap}Synced in {}: {} streams ({}), {} records, {} requests, ~{} tokens.",
            crate::progress::clock(t.elapsed),
            reports.len(),
            outcomes.join(", "),
            thousands(t.records),
            thousands(t.requests),
            thousands(t.tokens)
        )?;
    }
    samples(&path, &mut err)?;
    let shown = path.display();
    writeln!(
        err,
        "\nTry next:\n  \
         # the records in the messages file\n  \
         grep -c '\"type\":\"RECORD\"' {shown}\n  \
         # the messages on stdout, as Airbyte reads them\n  \
         source-pipedrive demo > messages.jsonl\n  \
         # this sandbox on loopback, for any client (it prints a config for it)\n  \
         source-pipedrive sandbox --port 8765\n  \
         # every config key (README: Config), then a sync of your own account\n  \
         source-pipedrive spec\n  \
         source-pipedrive read --config config.json > messages.jsonl"
    )?;
    Ok(())
}

/// spec, check, discover and a read of the default catalog, all written to `out`.
fn sync(config: &Config, out: &mut Output, board: &Board) -> Result<Vec<StreamReport>> {
    super::spec(out)?;
    let status = super::check::check_config(config, None);
    let ok = status.status == Status::Succeeded;
    out.message(&Message::ConnectionStatus {
        connection_status: status,
    })?;
    anyhow::ensure!(ok, "check against the sandbox failed");
    super::discover(config, out)?;
    let reports = super::read(
        config,
        &catalog::default_streams(),
        &SavedState::default(),
        out,
        board,
    )?;
    out.flush()?;
    Ok(reports)
}

/// The per-stream summary, with the totals the progress display and the summary LOG show.
fn table(reports: &[StreamReport], board: &Board, err: &mut dyn Write) -> Result<()> {
    writeln!(
        err,
        "\n{:<26} {:>9} {:>9} {:>8}  outcome",
        "stream", "records", "requests", "~tokens"
    )?;
    for r in reports {
        writeln!(
            err,
            "{:<26} {:>9} {:>9} {:>8}  {}",
            r.stream,
            thousands(r.records),
            thousands(r.requests),
            thousands(r.tokens),
            r.outcome.as_str()
        )?;
    }
    if let Some(t) = board.last_totals() {
        writeln!(
            err,
            "{:<26} {:>9} {:>9} {:>8}  (all requests, retries included)",
            "total",
            thousands(t.records),
            thousands(t.requests),
            thousands(t.tokens)
        )?;
    }
    Ok(())
}

/// The first record of each of `SAMPLES`, read back from the messages file.
fn samples(path: &Path, err: &mut dyn Write) -> Result<()> {
    let width = usize::from(console::Term::stderr().size().1);
    let file =
        std::fs::File::open(path).with_context(|| format!("reading back {}", path.display()))?;
    let mut wanted: Vec<&str> = SAMPLES.to_vec();
    let mut found: Vec<(String, Value)> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        if wanted.is_empty() {
            break;
        }
        let line = line?;
        if !line.starts_with(r#"{"type":"RECORD""#) {
            continue;
        }
        let Ok(Message::Record { record }) = serde_json::from_str::<Message>(&line) else {
            continue;
        };
        if let Some(at) = wanted.iter().position(|s| *s == record.stream) {
            wanted.remove(at);
            found.push((record.stream, record.data));
        }
    }
    found.sort_by_key(|(s, _)| SAMPLES.iter().position(|n| n == s));
    for (stream, data) in found {
        writeln!(
            err,
            "\nA record of {stream}:\n{}",
            sample(&data, SAMPLE_PROPERTIES, width)
        )?;
    }
    Ok(())
}

/// `record` for a person: its first `max` properties, one a line, each value on one line cut to
/// `width`, and how many more there are.
pub fn sample(record: &Value, max: usize, width: usize) -> String {
    let Some(obj) = record.as_object() else {
        return record.to_string();
    };
    let mut lines = vec!["{".to_string()];
    for (k, v) in obj.iter().take(max) {
        let line = format!("  {}: {v},", Value::String(k.clone()));
        lines.push(console::truncate_str(&line, width.max(20), "…").into_owned());
    }
    if obj.len() > max {
        lines.push(format!("  … {} more properties", obj.len() - max));
    }
    lines.push("}".to_string());
    lines.join("\n")
}

/// `sandbox`: the fake Pipedrive alone, on loopback, until the process is stopped. Prints a config
/// that points at it (to stderr: stdout is for protocol messages only).
pub fn serve(
    port: u16,
    size: u64,
    daily_token_budget: Option<u64>,
    oauth: Option<pipedrive_sandbox::OAuthOptions>,
) -> Result<()> {
    let options = SandboxOptions {
        size,
        port,
        daily_token_budget,
        oauth: oauth.clone(),
        ..SandboxOptions::default()
    };
    let key = options.api_key.clone();
    let sandbox = Sandbox::start(options).context("starting the sandbox Pipedrive on loopback")?;
    let config = serde_json::json!({"api_key": key, "start_date": "2020-01-01T00:00:00Z", "base_url": sandbox.base_url()});
    eprintln!("sandbox Pipedrive listening on {} ({size} records per main resource); a config for it:\n{config}", sandbox.base_url());
    if let Some(app) = oauth {
        // No base_url: requests go to the token answer's api_domain, the sandbox itself.
        let config = serde_json::json!({
            "credentials": {"auth_type": "oauth2.0", "client_id": app.client_id,
                            "client_secret": app.client_secret, "refresh_token": app.refresh_token},
            "oauth_token_url": format!("{}/oauth/token", sandbox.base_url()),
            "start_date": "2020-01-01T00:00:00Z",
        });
        eprintln!(
            "and one for its OAuth private app (consent page {}/oauth/authorize):\n{config}",
            sandbox.base_url()
        );
    }
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_shows_the_first_properties_one_a_line() {
        let record = serde_json::json!({"id": 7, "title": "Big deal", "custom_fields": {"a": [1, 2]}, "x": 1, "y": 2});
        assert_eq!(
            sample(&record, 3, 80),
            "{\n  \"id\": 7,\n  \"title\": \"Big deal\",\n  \"custom_fields\": {\"a\":[1,2]},\n  … 2 more properties\n}"
        );
        let long = serde_json::json!({"note": "x".repeat(500)});
        let cut = sample(&long, 3, 40);
        assert!(
            cut.lines().all(|l| console::measure_text_width(l) <= 40),
            "{cut}"
        );
        assert!(!cut.contains("more properties"));
    }
}
