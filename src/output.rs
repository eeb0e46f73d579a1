//! The only writer of stdout. Protocol messages go out one JSON object per line through a large
//! buffer that is flushed at each STATE checkpoint (so a destination never holds a state whose
//! records it has not been sent) and at the end, not after every record.
//! Text that a person reads (LOG, TRACE, connection status) passes through a scrubber that
//! replaces the API key, as a last line of defence behind the rule that it never enters a message.

use std::io::{self, BufWriter, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::protocol::airbyte::{
    Log, LogLevel, Message, RecordRef, SourceStats, State, StateType, StreamDescriptor,
    StreamState, StreamStatus, StreamStatusKind, Trace, TraceError,
};

const BUFFER_BYTES: usize = 256 * 1024;

pub struct Output {
    out: BufWriter<Box<dyn Write + Send>>,
    secret: Option<String>,
}

impl Output {
    pub fn stdout() -> Output {
        Output::new(Box::new(io::stdout()))
    }

    pub fn new(w: Box<dyn Write + Send>) -> Output {
        Output {
            out: BufWriter::with_capacity(BUFFER_BYTES, w),
            secret: None,
        }
    }

    /// Text equal to this is replaced by `(redacted)` in every human-readable message.
    pub fn redact(&mut self, secret: &str) {
        if !secret.is_empty() {
            self.secret = Some(secret.to_string());
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        match &self.secret {
            Some(s) if text.contains(s.as_str()) => text.replace(s.as_str(), "(redacted)"),
            _ => text.to_string(),
        }
    }

    pub fn message(&mut self, m: &Message) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, m)?;
        self.out.write_all(b"\n")
    }

    pub fn record(&mut self, stream: &str, data: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &RecordRef::new(stream, data, now_ms()))?;
        self.out.write_all(b"\n")
    }

    /// A per-stream checkpoint; flushed so the records before it are out first.
    pub fn state(&mut self, stream: &str, state: Value, records_since_last: u64) -> io::Result<()> {
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

    pub fn log(&mut self, level: LogLevel, message: &str) -> io::Result<()> {
        let message = self.scrub(message);
        self.message(&Message::Log {
            log: Log { level, message },
        })
    }

    pub fn stream_status(&mut self, stream: &str, status: StreamStatusKind) -> io::Result<()> {
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
        self.out.flush()
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
        out.record("deals", &serde_json::json!({"id": 1})).unwrap();
        assert!(
            sink.0.lock().unwrap().is_empty(),
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
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(r#"{"type":"RECORD""#));
        assert!(lines[1].starts_with(r#"{"type":"STATE""#));
    }

    #[test]
    fn secrets_are_scrubbed_from_text() {
        let sink = Shared::default();
        let mut out = Output::new(Box::new(sink.clone()));
        out.redact("k3y");
        out.log(LogLevel::Error, "bad k3y here").unwrap();
        out.trace_error("k3y", "k3y!", "system_error", None)
            .unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("k3y"));
        assert!(text.contains("(redacted)"));
    }
}
