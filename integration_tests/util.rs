//! Helpers shared by the end-to-end tests: a sandbox per test, temporary input files, running
//! the binary and reading its stdout back as typed protocol messages, and a destination that
//! applies them (`Destination`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pipedrive_sandbox::{Resource, Sandbox, SandboxOptions};
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::{Message, StreamStatusKind, Trace};
use source_pipedrive::streams::record::Record;
use source_pipedrive::streams::{self, time};

pub const START: &str = "2020-01-01T00:00:00Z";

/// How long a test waits for what another process or thread is doing (an answer, a line of
/// output): far longer than it takes on a loaded machine, so that only a real failure runs into
/// it. Tests wait for the condition itself, never for a fixed time.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `probe` until it gives a value; `None` once `PATIENCE` has passed without one.
pub fn poll<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct World {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new(size: u64) -> World {
        World::with(SandboxOptions {
            size,
            ..SandboxOptions::default()
        })
    }

    pub fn with(options: SandboxOptions) -> World {
        let sandbox = Sandbox::start(options).expect("sandbox starts");
        World {
            sandbox,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn key(&self) -> String {
        SandboxOptions::default().api_key
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }

    pub fn config(&self, start_date: &str) -> PathBuf {
        self.config_with(json!({"api_key": self.key(), "start_date": start_date, "base_url": self.sandbox.base_url()}))
    }

    pub fn config_with(&self, config: Value) -> PathBuf {
        self.file("config.json", &config.to_string())
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run(args)
    }

    /// `read` of `streams` in `mode`, optionally from a state file.
    pub fn read(
        &self,
        start_date: &str,
        streams: &[&str],
        mode: &str,
        state: Option<&Path>,
    ) -> Run {
        let config = self.config(start_date);
        self.read_with(&config, Some(&catalog(streams, mode)), state)
    }

    /// `read` of the default catalog (no catalog given), optionally from a state file.
    pub fn read_all(&self, start_date: &str, state: Option<&Path>) -> Run {
        let config = self.config(start_date);
        self.read_with(&config, None, state)
    }

    /// `read` with a config file, a configured catalog's text (none: the default catalog) and
    /// optionally a state file.
    pub fn read_with(&self, config: &Path, catalog: Option<&str>, state: Option<&Path>) -> Run {
        let cat = catalog.map(|text| self.file("catalog.json", text));
        let mut args = vec!["read", "--config", config.to_str().unwrap()];
        if let Some(c) = &cat {
            args.extend(["--catalog", c.to_str().unwrap()]);
        }
        if let Some(s) = state {
            args.extend(["--state", s.to_str().unwrap()]);
        }
        run(&args)
    }

    /// The keys of the records the sandbox holds for `stream`, updated at or after `since`; for
    /// a child stream, the children of the parents updated at or after `since`
    /// (`expected_records`, in `emitted.rs`, holds the records whole).
    pub fn expected_ids(&self, stream: &str, since: &str) -> Vec<String> {
        self.expected_records(stream, since)
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    }

    /// What an incremental sync of `stream` from `since` emits: `expected_ids`, and for a stream
    /// of a live/archived pair the other list's records too (the live stream writes archived
    /// records marked archived, the archived stream writes live ones as deletions, except on
    /// its first sync, `since` = `START` without a state: no deletions of nothing).
    pub fn expected_incremental_ids(&self, stream: &str, since: &str) -> Vec<String> {
        let mut ids = self.expected_ids(stream, since);
        let archive = streams::find(stream).unwrap().archive;
        let first_archive = archive.is_some_and(|a| a.archived) && since == START;
        if let Some(a) = archive.filter(|_| !first_archive) {
            ids.extend(self.expected_ids(a.twin, since));
            ids.sort();
        }
        ids
    }
}

/// The streams of the default catalog.
pub fn default_streams() -> Vec<&'static str> {
    streams::STREAMS
        .iter()
        .filter(|d| d.default)
        .map(|d| d.name)
        .collect()
}

/// Every stream's name: the whole catalog.
pub fn all_streams() -> Vec<&'static str> {
    streams::STREAMS.iter().map(|d| d.name).collect()
}

/// A record with its v1 times rewritten as RFC 3339, as the connector writes it.
pub fn normalized(def: &streams::StreamDef, record: &Value) -> Value {
    let text = record.to_string();
    let mut r = Record::parse(&text).expect("a record is an object");
    r.normalize_v1(&time::date_time_properties(&def.schema()));
    r.into_value()
}

pub fn resource(stream: &str) -> Resource {
    *Resource::ALL
        .iter()
        .find(|r| r.name() == stream)
        .unwrap_or_else(|| panic!("no sandbox resource {stream}"))
}

pub fn id_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub messages: Vec<Message>,
}

pub fn run(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args(args)
        .output()
        .expect("binary runs");
    Run::from_output("", out)
}

impl Run {
    /// A finished connector's output, its stdout read as protocol messages (`label`, if any,
    /// names the run in the panic of a line that is not one).
    pub fn from_output(label: &str, out: Output) -> Run {
        let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
        let messages = stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<Message>(l)
                    .unwrap_or_else(|e| panic!("{label}: not a protocol message ({e}): {l}"))
            })
            .collect();
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            messages,
        }
    }
}

impl Run {
    pub fn records(&self, stream: &str) -> Vec<&Value> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                Message::Record { record } if record.stream == stream => Some(&record.data),
                _ => None,
            })
            .collect()
    }

    pub fn ids(&self, stream: &str) -> Vec<String> {
        let def = streams::find(stream).unwrap();
        let mut ids: Vec<String> = self.records(stream).iter().map(|r| def.key_of(r)).collect();
        ids.sort();
        ids
    }

    /// The last STATE of each stream, as a state file's array.
    pub fn state_file(&self) -> String {
        let mut last: BTreeMap<String, Value> = BTreeMap::new();
        for m in &self.messages {
            if let Message::State { state } = m {
                last.insert(
                    state.stream_name().unwrap().to_string(),
                    serde_json::to_value(state).unwrap(),
                );
            }
        }
        serde_json::to_string(&last.into_values().collect::<Vec<_>>()).unwrap()
    }

    /// The statuses a stream went through, in order.
    pub fn statuses(&self, stream: &str) -> Vec<StreamStatusKind> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                Message::Trace {
                    trace: Trace::StreamStatus { stream_status, .. },
                } if stream_status.stream_descriptor.name == stream => Some(stream_status.status),
                _ => None,
            })
            .collect()
    }

    /// The TRACE errors: (stream, failure type, message).
    pub fn trace_errors(&self) -> Vec<(Option<String>, String, String)> {
        trace_errors(&self.messages)
    }

    /// LOG lines and TRACE errors, for assertion messages.
    pub fn logs(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                Message::Log { log } => Some(format!("{:?} {}", log.level, log.message)),
                Message::Trace {
                    trace: Trace::Error { error, .. },
                } => Some(format!("TRACE {} {}", error.failure_type, error.message)),
                _ => None,
            })
            .collect()
    }

    pub fn assert_ok(&self) {
        assert_eq!(
            self.status,
            0,
            "exit status; stderr: {}\nlogs: {:#?}",
            self.stderr,
            self.logs()
        );
    }
}

/// The TRACE errors among `messages`: (stream, failure type, message).
pub fn trace_errors(messages: &[Message]) -> Vec<(Option<String>, String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Trace {
                trace: Trace::Error { error, .. },
            } => Some((
                error.stream_descriptor.as_ref().map(|d| d.name.clone()),
                error.failure_type.clone(),
                error.message.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// A configured catalog selecting `streams` in `mode`.
pub fn catalog(streams: &[&str], mode: &str) -> String {
    let entries: Vec<Value> = streams
        .iter()
        .map(|s| json!({"stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]}, "sync_mode": mode, "destination_sync_mode": "append"}))
        .collect();
    json!({ "streams": entries }).to_string()
}

/// A destination that applies records by primary key, as Airbyte's "incremental, deduped"
/// destinations do: per stream and key, the record with the latest cursor wins (a tie goes to
/// the later message; streams without a cursor keep the last record), and a winning record that
/// carries `_ab_cdc_deleted_at` deletes the row. A deletion is remembered with its cursor, so an
/// older record arriving later does not bring the row back. Feed it whole runs, in order.
///
/// Live streams hold archived records too, marked `is_archived: true` (the connector's archive
/// rule); `live` leaves them out.
#[derive(Debug, Default)]
pub struct Destination {
    /// stream → key → (the winning record, whether it deleted the row).
    tables: BTreeMap<String, BTreeMap<String, (Value, bool)>>,
}

impl Destination {
    /// Applies every RECORD of `run`, in order.
    pub fn apply(&mut self, run: &Run) {
        for m in &run.messages {
            if let Message::Record { record } = m {
                self.put(&record.stream, &record.data);
            }
        }
    }

    /// Applies one record of `stream`.
    pub fn put(&mut self, stream: &str, record: &Value) {
        let def = streams::find(stream).unwrap_or_else(|| panic!("no stream {stream}"));
        let key = def.key_of(record);
        let row = self
            .tables
            .entry(stream.to_string())
            .or_default()
            .entry(key);
        let cursor = |r: &Value| def.cursor.and_then(|c| time::of(r, c));
        let deletes = record
            .get(streams::DELETED_AT)
            .is_some_and(|d| !d.is_null());
        match row {
            std::collections::btree_map::Entry::Occupied(mut held)
                if cursor(&held.get().0) <= cursor(record) =>
            {
                held.insert((record.clone(), deletes));
            }
            std::collections::btree_map::Entry::Occupied(_) => {}
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((record.clone(), deletes));
            }
        }
    }

    /// The rows of `stream` that are not deleted, by key.
    pub fn rows(&self, stream: &str) -> BTreeMap<String, &Value> {
        self.tables
            .get(stream)
            .into_iter()
            .flatten()
            .filter(|(_, (_, deleted))| !deleted)
            .map(|(k, (r, _))| (k.clone(), r))
            .collect()
    }

    /// The row of `key` in `stream`, unless absent or deleted.
    pub fn row(&self, stream: &str, key: &str) -> Option<&Value> {
        self.rows(stream).get(key).copied()
    }

    /// The keys of the rows of `stream` that are neither deleted nor marked archived.
    pub fn live(&self, stream: &str) -> BTreeSet<String> {
        self.rows(stream)
            .into_iter()
            .filter(|(_, r)| r["is_archived"] != true)
            .map(|(k, _)| k)
            .collect()
    }
}
