//! The only writer of stdout. Protocol messages go out one JSON object per line through a large
//! buffer that is flushed at each STATE checkpoint (so a destination never holds a state whose
//! records it has not been sent) and at the end, not after every record. The same calls write
//! Airbyte or Singer messages, so the read engine does not know which protocol it speaks.
//! Streams read on several threads each write through their own handle (`fork`): a handle
//! buffers whole messages and hands them to the one stdout under a lock, so lines never mix and
//! each stream's messages keep their order.
//! Text that a person reads (LOG, TRACE, connection status, stderr) passes through a scrubber
//! (`secrets::Scrubber`) that redacts the secrets and any fragment of them, as a last line of
//! defence behind the rule that they never enter a message.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::protocol::airbyte::{
    ConnectorConfig, Control, Log, LogLevel, Message, RecordRef, SourceStats, State, StateType,
    StreamDescriptor, StreamState, StreamStatus, StreamStatusKind, Trace, TraceError,
};
use crate::protocol::singer;
use crate::secrets::Scrubber;

const BUFFER_BYTES: usize = 256 * 1024;

/// Where every handle's messages end up.
type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

pub struct Output {
    /// Whole messages not yet handed to the sink.
    buf: Vec<u8>,
    sink: Sink,
    scrubber: Scrubber,
    /// Shared by every handle: the bookmarks document is one for the whole run.
    singer: Option<Arc<Mutex<Singer>>>,
    /// Whether this handle has written a record yet: the first goes out at once, so that a
    /// destination sees data as soon as there is some, not a buffer later.
    recorded: bool,
}

#[derive(Clone)]
/// What Singer output needs beyond the messages: each stream's SCHEMA (sent once, before its
/// first record), the properties the catalog deselected, and the whole bookmarks document,
/// which every STATE carries (a target keeps only the latest).
pub struct Singer {
    pub streams: HashMap<String, SingerStream>,
    pub bookmarks: Map<String, Value>,
    schema_sent: HashSet<String>,
    /// The table version of each full-table stream this run (`ACTIVATE_VERSION`), on its
    /// every record; none when the convention is off.
    versions: HashMap<String, u64>,
    /// Full-table streams with no version saved (their first run): activated before their
    /// first record too, as tap-postgres does, so the table is there from the start.
    first_runs: HashSet<String>,
}

#[derive(Clone)]
pub struct SingerStream {
    pub schema: Value,
    pub key_properties: Vec<String>,
    pub replication_key: Option<String>,
    /// Properties the catalog deselected: left out of records.
    pub deselected: Vec<String>,
}

impl Singer {
    pub fn new(streams: HashMap<String, SingerStream>, bookmarks: Map<String, Value>) -> Singer {
        Singer {
            streams,
            bookmarks,
            schema_sent: HashSet::new(),
            versions: HashMap::new(),
            first_runs: HashSet::new(),
        }
    }

    /// Versions `full_tables` with `version`: their records carry it, and each is activated
    /// once read whole (`Output::activate_version`). A stream whose bookmark holds no
    /// `version` yet is activated before its first record as well.
    pub fn versioned(mut self, full_tables: &[&str], version: u64) -> Singer {
        for &stream in full_tables {
            let saved = self.bookmarks.get(stream).and_then(|b| b.get("version"));
            if saved.is_none() {
                self.first_runs.insert(stream.to_string());
            }
            self.versions.insert(stream.to_string(), version);
        }
        self
    }

    /// The SCHEMA of `stream`, once; then, on a full-table stream's first run, its first
    /// ACTIVATE_VERSION.
    fn open(&mut self, stream: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        if self.schema_sent.contains(stream) {
            return Ok(());
        }
        if let Some(info) = self.streams.get(stream) {
            let schema = singer::Message::Schema {
                stream: stream.to_string(),
                schema: info.schema.clone(),
                key_properties: info.key_properties.clone(),
                bookmark_properties: info.replication_key.iter().cloned().collect(),
            };
            serde_json::to_writer(&mut *buf, &schema)?;
            buf.push(b'\n');
        }
        self.schema_sent.insert(stream.to_string());
        if let (Some(&version), true) = (self.versions.get(stream), self.first_runs.remove(stream))
        {
            let activate = singer::Message::ActivateVersion {
                stream: stream.to_string(),
                version,
            };
            serde_json::to_writer(&mut *buf, &activate)?;
            buf.push(b'\n');
        }
        Ok(())
    }
}

impl Output {
    pub fn stdout() -> Output {
        Output::new(Box::new(io::stdout()))
    }

    pub fn new(w: Box<dyn Write + Send>) -> Output {
        Output {
            buf: Vec::with_capacity(BUFFER_BYTES + 4096),
            sink: Arc::new(Mutex::new(w)),
            scrubber: Scrubber::new(),
            singer: None,
            recorded: false,
        }
    }

    /// Another handle on the same stdout, for another thread: same secrets, same protocol, same
    /// Singer bookmarks. Flush this handle before it is dropped.
    pub fn fork(&self) -> Output {
        Output {
            buf: Vec::with_capacity(BUFFER_BYTES + 4096),
            sink: Arc::clone(&self.sink),
            scrubber: self.scrubber.clone(),
            singer: self.singer.clone(),
            recorded: false,
        }
    }

    /// From now on, write Singer messages; logs go to stderr.
    pub fn speak_singer(&mut self, singer: Singer) {
        self.singer = Some(Arc::new(Mutex::new(singer)));
    }

    /// Whether this output speaks Singer.
    pub fn is_singer(&self) -> bool {
        self.singer.is_some()
    }

    fn singer(&self) -> Option<MutexGuard<'_, Singer>> {
        self.singer
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Ends the message just written: the buffer goes to stdout once it is large.
    fn end(&mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        if self.buf.len() >= BUFFER_BYTES {
            self.drain()?;
        }
        Ok(())
    }

    /// Hands every whole message buffered so far to stdout, under its lock.
    fn drain(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let written = sink.write_all(&self.buf);
        self.buf.clear();
        written
    }

    /// `secret`, any fragment of it and its encoded forms are replaced by `(redacted)` in every
    /// human-readable message (`secrets::Scrubber::add`).
    pub fn redact(&mut self, secret: &str) {
        self.scrubber.add(secret);
    }

    /// Everything `scrubber` redacts is redacted in every human-readable message too.
    pub fn redact_all(&mut self, scrubber: &Scrubber) {
        self.scrubber.merge(scrubber);
    }

    /// `text` without the secrets this writer was told, nor those the process learnt since
    /// (OAuth access tokens obtained at run time: `secrets::protect_process`).
    pub fn scrub(&self, text: &str) -> String {
        crate::secrets::scrub_process(&self.scrubber.scrub(text))
    }

    /// A handle that writes CONTROL messages straight to stdout from any thread (the HTTP
    /// client's OAuth refresh): each goes out whole and at once, so it precedes every record
    /// read with the tokens it carries.
    pub fn control_writer(&self) -> ControlWriter {
        ControlWriter {
            sink: Arc::clone(&self.sink),
        }
    }

    /// One whole JSON document (Singer's `--discover`, `--about --format json`), pretty-printed.
    pub fn document(&mut self, doc: &Value) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut self.buf, doc)?;
        self.end()?;
        Ok(self.flush()?)
    }

    /// Plain text for a person (`--about`).
    pub fn text(&mut self, text: &str) -> anyhow::Result<()> {
        self.buf.extend_from_slice(text.as_bytes());
        Ok(self.flush()?)
    }

    /// Singer targets save only what a STATE message carries: every run ends with one.
    pub fn final_singer_state(&mut self) -> io::Result<()> {
        let bookmarks = self
            .singer()
            .map(|s| serde_json::json!({ "bookmarks": s.bookmarks }));
        if let Some(value) = bookmarks {
            serde_json::to_writer(&mut self.buf, &singer::Message::State { value })?;
            self.end()?;
        }
        self.flush()
    }

    pub fn message(&mut self, m: &Message) -> io::Result<()> {
        serde_json::to_writer(&mut self.buf, m)?;
        self.end()
    }

    /// One record: a `Value`, or anything else that serializes as the record's object.
    pub fn record<T: serde::Serialize + ?Sized>(
        &mut self,
        stream: &str,
        data: &T,
    ) -> io::Result<()> {
        if !self.recorded {
            self.recorded = true;
            self.write_record(stream, data)?;
            return self.flush();
        }
        self.write_record(stream, data)
    }

    fn write_record<T: serde::Serialize + ?Sized>(
        &mut self,
        stream: &str,
        data: &T,
    ) -> io::Result<()> {
        let Some(shared) = self.singer.clone() else {
            serde_json::to_writer(&mut self.buf, &RecordRef::new(stream, data, now_ms()))?;
            return self.end();
        };
        let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
        let singer = &mut *guard;
        if !singer.schema_sent.contains(stream) {
            singer.open(stream, &mut self.buf)?;
            // Out before the lock is let go: another handle that finds the SCHEMA sent may
            // write this stream's records at once, and they must not overtake it.
            self.drain()?;
        }
        let version = singer.versions.get(stream).copied();
        let info = singer.streams.get(stream);
        // Only what the catalog deselected is copied out: most streams have nothing to drop.
        let projected = info.filter(|i| !i.deselected.is_empty()).map(|i| {
            let mut r = serde_json::to_value(data).unwrap_or(Value::Null);
            if let Some(obj) = r.as_object_mut() {
                for p in &i.deselected {
                    obj.shift_remove(p);
                }
            }
            r
        });
        drop(guard);
        let time_extracted =
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match &projected {
            Some(record) => serde_json::to_writer(
                &mut self.buf,
                &singer::RecordRef {
                    kind: "RECORD",
                    stream,
                    record,
                    version,
                    time_extracted: &time_extracted,
                },
            )?,
            None => serde_json::to_writer(
                &mut self.buf,
                &singer::RecordRef {
                    kind: "RECORD",
                    stream,
                    record: data,
                    version,
                    time_extracted: &time_extracted,
                },
            )?,
        }
        self.end()
    }

    /// A per-stream checkpoint; flushed so the records before it are out first.
    pub fn state(&mut self, stream: &str, state: Value, records_since_last: u64) -> io::Result<()> {
        if let Some(shared) = self.singer.clone() {
            // The lock is held until this handle's records are out: another thread's STATE,
            // which carries this stream's bookmark too, can never overtake them.
            let mut singer = shared.lock().unwrap_or_else(|e| e.into_inner());
            singer.bookmarks.insert(stream.to_string(), state);
            let value = serde_json::json!({ "bookmarks": singer.bookmarks });
            serde_json::to_writer(&mut self.buf, &singer::Message::State { value })?;
            self.end()?;
            return self.flush();
        }
        self.message(&Message::State {
            state: State {
                kind: StateType::Stream,
                stream: Some(StreamState {
                    stream_descriptor: StreamDescriptor::new(stream),
                    stream_state: Some(state),
                }),
                source_stats: Some(SourceStats {
                    record_count: records_since_last as f64,
                }),
            },
        })?;
        self.flush()
    }

    /// A full-table stream read whole, in Singer with versions on: its ACTIVATE_VERSION (after
    /// its SCHEMA, sent now if it had no record), then a STATE keeping the version. Never
    /// called for a stream that failed, was cut short or skipped: the target would delete the
    /// rows the read did not bring.
    pub fn activate_version(&mut self, stream: &str) -> io::Result<()> {
        let Some(shared) = self.singer.clone() else {
            return Ok(());
        };
        let mut singer = shared.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&version) = singer.versions.get(stream) else {
            return Ok(());
        };
        // Already activated before its records (a first run): no second one at the start.
        singer.first_runs.remove(stream);
        singer.open(stream, &mut self.buf)?;
        let activate = singer::Message::ActivateVersion {
            stream: stream.to_string(),
            version,
        };
        serde_json::to_writer(&mut self.buf, &activate)?;
        self.buf.push(b'\n');
        singer.bookmarks.insert(
            stream.to_string(),
            serde_json::json!({ "version": version }),
        );
        let value = serde_json::json!({ "bookmarks": singer.bookmarks });
        serde_json::to_writer(&mut self.buf, &singer::Message::State { value })?;
        self.end()?;
        self.flush()
    }

    pub fn log(&mut self, level: LogLevel, message: &str) -> io::Result<()> {
        let message = self.scrub(message);
        if self.singer.is_some() {
            eprintln!("{level:?} {message}");
            return Ok(());
        }
        self.message(&Message::Log {
            log: Log { level, message },
        })
    }

    pub fn stream_status(&mut self, stream: &str, status: StreamStatusKind) -> io::Result<()> {
        if self.singer.is_some() {
            return Ok(());
        }
        self.message(&Message::Trace {
            trace: Trace::StreamStatus {
                emitted_at: now_ms() as f64,
                stream_status: StreamStatus {
                    stream_descriptor: StreamDescriptor::new(stream),
                    status,
                },
            },
        })
    }

    /// An error TRACE: `message` for the user, `internal` for whoever debugs it.
    pub fn trace_error(
        &mut self,
        message: &str,
        internal: &str,
        failure_type: &str,
        stream: Option<&str>,
    ) -> io::Result<()> {
        if self.singer.is_some() {
            eprintln!("ERROR ({failure_type}) {}", self.scrub(message));
            return self.flush();
        }
        let error = TraceError {
            message: self.scrub(message),
            internal_message: Some(self.scrub(internal)),
            failure_type: failure_type.to_string(),
            stream_descriptor: stream.map(StreamDescriptor::new),
        };
        self.message(&Message::Trace {
            trace: Trace::Error {
                emitted_at: now_ms() as f64,
                error,
            },
        })?;
        self.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.sink.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// See `Output::control_writer`.
#[derive(Clone)]
pub struct ControlWriter {
    sink: Sink,
}

impl ControlWriter {
    /// A CONTROL message of type CONNECTOR_CONFIG: the platform saves `config` as the
    /// connector's config from now on.
    pub fn connector_config(&self, config: &Value) -> io::Result<()> {
        let message = Message::Control {
            control: Control {
                kind: "CONNECTOR_CONFIG".to_string(),
                emitted_at: now_ms() as f64,
                connector_config: ConnectorConfig {
                    config: config.clone(),
                },
            },
        };
        let mut line = serde_json::to_vec(&message)?;
        line.push(b'\n');
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        sink.write_all(&line)?;
        sink.flush()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_are_buffered_until_state() {
        let sink = Shared::default();
        let mut out = Output::new(Box::new(sink.clone()));
        out.record("deals", &serde_json::json!({"id": 0})).unwrap();
        let first = sink.0.lock().unwrap().len();
        assert!(first > 0, "the very first record goes out at once");
        out.record("deals", &serde_json::json!({"id": 1})).unwrap();
        assert_eq!(
            sink.0.lock().unwrap().len(),
            first,
            "a record alone must not force a flush"
        );
        out.state(
            "deals",
            serde_json::json!({"update_time": "2024-01-01T00:00:00Z"}),
            1,
        )
        .unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with(r#"{"type":"RECORD""#));
        assert!(lines[2].starts_with(r#"{"type":"STATE""#));
    }

    #[test]
    fn singer_mode_sends_schema_once_and_whole_bookmarks() {
        let sink = Shared::default();
        let mut out = Output::new(Box::new(sink.clone()));
        let mut streams = HashMap::new();
        streams.insert(
            "deals".to_string(),
            SingerStream {
                schema: serde_json::json!({"type": "object"}),
                key_properties: vec!["id".into()],
                replication_key: Some("update_time".into()),
                deselected: vec!["secret_field".into()],
            },
        );
        let mut bookmarks = Map::new();
        bookmarks.insert(
            "notes".into(),
            serde_json::json!({"update_time": "2024-01-01T00:00:00Z"}),
        );
        out.speak_singer(Singer::new(streams, bookmarks));
        out.record("deals", &serde_json::json!({"id": 1, "secret_field": 2}))
            .unwrap();
        out.record("deals", &serde_json::json!({"id": 2})).unwrap();
        out.stream_status("deals", StreamStatusKind::Complete)
            .unwrap();
        out.state(
            "deals",
            serde_json::json!({"update_time": "2025-01-01T00:00:00Z"}),
            2,
        )
        .unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["type"], "SCHEMA");
        assert_eq!(lines[0]["key_properties"], serde_json::json!(["id"]));
        assert_eq!(
            lines[1]["record"],
            serde_json::json!({"id": 1}),
            "deselected properties are left out"
        );
        assert_eq!(lines[2]["type"], "RECORD");
        assert_eq!(
            lines[3]["value"]["bookmarks"],
            serde_json::json!({"notes": {"update_time": "2024-01-01T00:00:00Z"}, "deals": {"update_time": "2025-01-01T00:00:00Z"}}),
            "the bookmarks of streams not synced this run are kept"
        );
    }

    /// Keeps each write it is given apart, to see what one handle hands over at a time.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);
    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn handles_on_threads_hand_over_whole_lines_in_order() {
        let sink = Writes::default();
        let out = Output::new(Box::new(sink.clone()));
        std::thread::scope(|s| {
            for stream in ["a", "b", "c"] {
                let mut mine = out.fork();
                s.spawn(move || {
                    // Large records, so the buffer fills and is handed over mid-stream too.
                    let pad = "x".repeat(3000);
                    for i in 0..400 {
                        mine.record(stream, &serde_json::json!({"i": i, "pad": pad}))
                            .unwrap();
                        if i % 150 == 0 {
                            mine.state(stream, serde_json::json!({"i": i}), 1).unwrap();
                        }
                    }
                    mine.flush().unwrap();
                });
            }
        });
        let writes = sink.0.lock().unwrap().clone();
        assert!(writes.len() > 3, "buffers are handed over more than once");
        let mut next = HashMap::new();
        for w in &writes {
            assert_eq!(w.last(), Some(&b'\n'), "a write ends with a whole line");
            for line in w.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let m: Value = serde_json::from_slice(line).expect("a whole message");
                if m["type"] == "RECORD" {
                    let stream = m["record"]["stream"].as_str().unwrap().to_string();
                    let i = m["record"]["data"]["i"].as_u64().unwrap();
                    let expected = next.entry(stream).or_insert(0);
                    assert_eq!(i, *expected, "each stream's records keep their order");
                    *expected += 1;
                }
            }
        }
        assert_eq!(next.values().sum::<u64>(), 1200);
    }

    #[test]
    fn a_schema_is_out_before_any_handle_writes_its_stream() {
        let sink = Shared::default();
        let mut a = Output::new(Box::new(sink.clone()));
        let info = SingerStream {
            schema: serde_json::json!({"type": "object"}),
            key_properties: vec!["id".into()],
            replication_key: None,
            deselected: Vec::new(),
        };
        let streams = HashMap::from([
            ("notes".to_string(), info.clone()),
            ("deals".to_string(), info),
        ]);
        a.speak_singer(Singer::new(streams, Map::new()));
        let mut b = a.fork();
        // A's first record goes out at once; its next ones (deals, a SCHEMA first) are buffered.
        a.record("notes", &serde_json::json!({"id": 1})).unwrap();
        a.record("deals", &serde_json::json!({"id": 2})).unwrap();
        // B's first record goes out at once, without a SCHEMA of its own.
        b.record("deals", &serde_json::json!({"id": 3})).unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let schema = text
            .lines()
            .position(|l| l.starts_with(r#"{"type":"SCHEMA","stream":"deals""#));
        let record = text
            .lines()
            .position(|l| l.starts_with(r#"{"type":"RECORD","stream":"deals""#));
        assert!(record.is_some(), "{text}");
        assert!(schema < record && schema.is_some(), "{text}");
    }

    #[test]
    fn secrets_are_scrubbed_from_text() {
        let sink = Shared::default();
        let mut out = Output::new(Box::new(sink.clone()));
        out.redact("k3y");
        let key = "0123456789abcdef0123456789abcdef01234567";
        out.redact(key);
        out.log(LogLevel::Error, "bad k3y here").unwrap();
        out.trace_error("k3y", "k3y!", "system_error", None)
            .unwrap();
        // Part of the key, as a body cut short would hold it.
        let mut fork = out.fork();
        fork.log(LogLevel::Error, &format!("echoed {}", &key[..9]))
            .unwrap();
        fork.flush().unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("k3y"));
        assert!(!text.contains(&key[..9]), "{text}");
        assert_eq!(text.matches("(redacted)").count(), 4, "{text}");
    }
}
