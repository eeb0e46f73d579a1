//! `listen`: real-time sync. An HTTP server receives Pipedrive's webhook v2 deliveries and writes
//! each change as a RECORD (same streams, schemas and custom-field shape as `read`), and a
//! reconciliation `read` runs at start-up and then every `--reconcile-every`, so the destination
//! converges even when deliveries were lost (a paused webhook, the listener down).
//!
//! Rules a production receiver needs:
//! - a delivery is answered 200 only once its record is written and flushed (at least once);
//!   Pipedrive retries anything else, and answers come well within its 10 s limit;
//! - basic auth is checked in constant time; wrong or missing credentials get 401 and nothing
//!   is written; bodies over 1 MiB get 413; malformed JSON or an unknown entity gets 400;
//! - a delivery seen before (same `meta.id`, within the last 20,000) is acknowledged and dropped;
//! - a change older than one already written for the same record is dropped (logged): the
//!   reconciliation brings the latest state anyway, and downstream dedup keeps the newest
//!   `update_time`;
//! - STATE only comes from the reconciliation reads, whose cursors webhook records never move;
//! - a delete (the loser of a merge too) is written with `_ab_cdc_deleted_at`, whatever flag the
//!   stream's records have; a deal, lead or project archived goes to its archived stream and,
//!   marked archived, to its live one, and one brought back goes to its live stream and leaves
//!   the archived one (`StreamDef::mark_archive`, as `read` does).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::fields::Definitions;
use super::webhooks::OBJECTS;
use crate::catalog::Selected;
use crate::config::Config;
use crate::custom_fields::{Naming, Shaper};
use crate::http::RetryPolicy;
use crate::output::{Output, Singer};
use crate::progress::Listening;
use crate::protocol::airbyte::LogLevel;
use crate::state::SavedState;
use crate::streams::engine::{self, Shape};
use crate::streams::record::Record;
use crate::streams::{self, time, Deletion, DELETED_AT};

const MAX_BODY: usize = 1024 * 1024;
const MAX_HEADERS: usize = 16 * 1024;
const WORKERS: usize = 16;
const QUEUE: usize = 64;
/// Events remembered for de-duplication and ordering: Pipedrive retries a delivery for about
/// three minutes (3, 30, 150 s), far fewer events than this at any realistic rate.
const REMEMBERED: usize = 20_000;

/// A bounded memory of the most recent keys.
struct Recent<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> Recent<V> {
    fn new() -> Recent<V> {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, k: &str) -> Option<&V> {
        self.map.get(k)
    }

    fn put(&mut self, k: String, v: V) {
        if self.map.insert(k.clone(), v).is_none() {
            self.order.push_back(k);
            if self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

/// What the webhook side keeps between deliveries.
struct Hooks {
    out: Output,
    selected: HashSet<&'static str>,
    shapers: HashMap<&'static str, Option<Shaper>>,
    seen: Recent<()>,
    last: Recent<DateTime<Utc>>,
    board: Arc<Listening>,
}

enum Verdict {
    Written,
    Duplicate,
    Dropped(String),
    Bad(String),
}

impl Hooks {
    fn accept(&mut self, event: &Value) -> Result<Verdict> {
        let meta = &event["meta"];
        let (Some(id), Some(action), Some(entity)) = (
            text(&meta["id"]),
            meta["action"].as_str(),
            meta["entity"].as_str(),
        ) else {
            return Ok(Verdict::Bad(
                "not a webhooks v2 payload: meta.id, meta.action and meta.entity are required"
                    .into(),
            ));
        };
        let Some((_, stream)) = OBJECTS.iter().find(|(o, _)| *o == entity) else {
            return Ok(Verdict::Bad(format!("unknown entity {entity:?}")));
        };
        if self.seen.get(&id).is_some() {
            return Ok(Verdict::Duplicate);
        }
        let body = match action {
            "create" | "change" => &event["data"],
            "delete" => &event["previous"],
            other => return Ok(Verdict::Bad(format!("unknown action {other:?}"))),
        };
        let Some(obj) = body.as_object() else {
            return Ok(Verdict::Bad(format!(
                "{action} event {id} has no object to write"
            )));
        };
        let live = streams::find(stream).expect("OBJECTS name streams");
        let at = meta["timestamp"].as_str().and_then(time::parse);
        let body = Value::Object(obj.clone());
        // A record of a live/archived pair goes to each stream that holds it or held it last:
        // archived, to the archive and (marked) to the live stream; brought back, to the live
        // stream and out of the archive. The same rule as `read`'s other-list passes.
        let (from_archive, targets) = match live.archive {
            None => (false, vec![live.name]),
            Some(a) if a.flag.says_archived(&body) => (true, vec![live.name, a.twin]),
            Some(a) if action == "change" && a.flag.says_archived(&event["previous"]) => {
                (false, vec![live.name, a.twin])
            }
            Some(_) => (false, vec![live.name]),
        };
        let targets: Vec<&'static str> = targets
            .into_iter()
            .filter(|t| self.selected.contains(t))
            .collect();
        if targets.is_empty() {
            self.seen.put(id, ());
            return Ok(Verdict::Dropped(format!(
                "stream {} is not in the catalog",
                live.name
            )));
        }
        let mut stale = Vec::new();
        let mut written = Vec::new();
        for stream in targets {
            let def = streams::find(stream).expect("pairs name streams");
            let mut record = body.clone();
            if action == "delete" {
                if let (Some(c), Some(at)) = (def.cursor, at) {
                    record[c] = json!(time::format(at));
                }
                // The stream's own deletion mark, so the record says what `read` would say of
                // the same delete.
                match def.deletion {
                    Some(Deletion::ActiveFlag) => record["active_flag"] = json!(false),
                    Some(Deletion::Status) => record["status"] = json!("deleted"),
                    Some(Deletion::IsDeleted | Deletion::Vanishes) | None => {
                        record["is_deleted"] = json!(true)
                    }
                }
            }
            if def.archive.is_some() {
                let text = record.to_string();
                let mut marked = Record::parse(&text)?;
                def.mark_archive(&mut marked, from_archive, at.map(time::format).as_deref());
                record = marked.into_value();
            }
            let changed = def.cursor.and_then(|c| time::of(&record, c)).or(at);
            let key = format!("{stream}/{}", def.key_of(&record));
            if let (Some(t), Some(prev)) = (changed, self.last.get(&key)) {
                if t < *prev {
                    stale.push(key);
                    continue;
                }
            }
            let shaper = self
                .shapers
                .get(stream)
                .and_then(Option::as_ref)
                .map(|s| s as &dyn Shape);
            engine::finish_record(def, shaper, &mut record);
            if action == "delete" {
                // Whatever flag the stream has, if any: a delete is a delete.
                record[DELETED_AT] = def
                    .cursor
                    .map(|c| record[c].clone())
                    .filter(|t| !t.is_null())
                    .or_else(|| at.map(|at| json!(time::format(at))))
                    .unwrap_or(Value::Null);
            }
            self.out.record(stream, &record)?;
            written.push((key, changed));
        }
        if !written.is_empty() {
            self.out.flush()?;
        }
        self.seen.put(id.clone(), ());
        if written.is_empty() {
            return Ok(Verdict::Dropped(format!(
                "event {id} for {} is older than the change already written",
                stale.join(", ")
            )));
        }
        for (key, changed) in written {
            if let Some(t) = changed {
                self.last.put(key, t);
            }
        }
        self.board
            .delivered(format!("{entity} {} {action}", body["id"]));
        Ok(Verdict::Written)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the secret.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
    }
    diff == 0
}

pub struct ListenOptions {
    pub bind: String,
    pub reconcile_every: Duration,
    /// Write Singer messages (SCHEMA, RECORD, STATE) instead of Airbyte's.
    pub singer: Option<Singer>,
    /// Whether deliveries and reconciliation reads are shown live on stderr.
    pub progress: crate::progress::Mode,
}

/// Serves deliveries until the process is stopped.
pub fn listen(
    config: &Config,
    selected: Vec<Selected>,
    mut saved: SavedState,
    opts: ListenOptions,
) -> Result<()> {
    let Some((user, password)) = config.webhook_auth.clone() else {
        bail!("set `webhook_user` and `webhook_password` in the config: deliveries are only accepted with them");
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()))
    );
    let listener =
        TcpListener::bind(&opts.bind).with_context(|| format!("listening on {}", opts.bind))?;
    let board = Listening::start(
        opts.progress,
        &listener.local_addr()?.to_string(),
        opts.reconcile_every,
    );
    // The webhook handlers and the reconciliation write through handles on one stdout.
    let mut stdout = Output::stdout();
    super::redact(config, &mut stdout);
    if let Some(singer) = &opts.singer {
        stdout.speak_singer(singer.clone());
    }
    let output = || stdout.fork();

    let mut out = output();
    let client = super::client(config, RetryPolicy::default());
    let mut defs = Definitions::default();
    let mut shapers = HashMap::new();
    for sel in &selected {
        let pinned = sel
            .pinned
            .clone()
            .or(&Naming::from_state(saved.get(sel.def.name)));
        shapers.insert(
            sel.def.name,
            super::fields::shaper(
                sel.def, config, &client, &mut defs, &pinned, false, &mut out,
            )?,
        );
    }
    let hooks = Arc::new(Mutex::new(Hooks {
        out,
        selected: selected.iter().map(|s| s.def.name).collect(),
        shapers,
        seen: Recent::new(),
        last: Recent::new(),
        board: Arc::clone(&board),
    }));
    log(
        &hooks,
        &format!(
            "listening for Pipedrive webhooks on {}",
            listener.local_addr()?
        ),
    )?;

    let mut reconcile_out = output();
    let config_for_reconcile = config.clone();
    std::thread::Builder::new()
        .name("reconcile".into())
        .spawn(move || loop {
            match super::read(
                &config_for_reconcile,
                &selected,
                &saved,
                &mut reconcile_out,
                &*board,
            ) {
                Ok(reports) => {
                    for r in reports {
                        if let Some(state) = r.stats.state {
                            saved.set(r.stream, state);
                        }
                    }
                }
                // Already reported as TRACE; the next round tries again from the last good state.
                Err(e) => {
                    let _ = reconcile_out
                        .log(LogLevel::Error, &format!("reconciliation failed: {e:#}"));
                }
            }
            std::thread::sleep(opts.reconcile_every);
        })?;

    // A fixed pool of workers and a bounded queue: memory stays flat however many deliveries
    // come, and a flood is answered 503 (Pipedrive retries) instead of piling up.
    let (queue, work) = std::sync::mpsc::sync_channel::<TcpStream>(QUEUE);
    let work = Arc::new(Mutex::new(work));
    for i in 0..WORKERS {
        let (hooks, expected, work) = (Arc::clone(&hooks), expected.clone(), Arc::clone(&work));
        std::thread::Builder::new()
            .name(format!("delivery-{i}"))
            .spawn(move || loop {
                let next = work.lock().expect("queue lock").recv();
                let Ok(conn) = next else { return };
                if let Err(e) = handle(&conn, &hooks, &expected) {
                    let _ = log(&hooks, &format!("delivery failed: {e:#}"));
                    let _ = respond(&conn, 500, "could not write the record");
                }
            })?;
    }
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if let Err(std::sync::mpsc::TrySendError::Full(conn)) = queue.try_send(conn) {
            let _ = respond(&conn, 503, "busy");
        }
    }
    Ok(())
}

fn log(hooks: &Mutex<Hooks>, message: &str) -> Result<()> {
    let mut h = hooks.lock().expect("hooks lock");
    h.out.log(LogLevel::Info, message)?;
    Ok(h.out.flush()?)
}

/// One delivery: read it within the limits, check it, write it, then answer.
fn handle(conn: &TcpStream, hooks: &Mutex<Hooks>, expected_auth: &str) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = String::new();
    let mut headers = HashMap::new();
    let mut read = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        read += line.len();
        if read > MAX_HEADERS {
            return respond(conn, 431, "headers too large");
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if head.is_empty() {
            head = line.to_string();
        } else if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    if !head.starts_with("POST ") {
        return respond(conn, 405, "deliveries are POSTs");
    }
    let auth = headers
        .get("authorization")
        .map(String::as_bytes)
        .unwrap_or_default();
    if !same_secret(auth, expected_auth.as_bytes()) {
        log(hooks, "delivery refused: wrong or missing credentials")?;
        return respond(conn, 401, "unauthorized");
    }
    let length: usize = match headers.get("content-length").map(|l| l.parse()) {
        Some(Ok(n)) => n,
        _ => return respond(conn, 411, "Content-Length required"),
    };
    if length > MAX_BODY {
        log(
            hooks,
            &format!("delivery refused: body of {length} bytes is over the 1 MiB limit"),
        )?;
        // Read past a moderately large body so the sender sees the 413 rather than a reset.
        if length <= 8 * MAX_BODY {
            std::io::copy(&mut (&mut reader).take(length as u64), &mut std::io::sink())?;
        }
        return respond(conn, 413, "body too large");
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let verdict = match serde_json::from_slice::<Value>(&body) {
        Ok(event) => hooks.lock().expect("hooks lock").accept(&event)?,
        Err(e) => Verdict::Bad(format!("the body is not JSON ({e})")),
    };
    match verdict {
        Verdict::Written | Verdict::Duplicate => respond(conn, 200, "ok"),
        Verdict::Dropped(why) => {
            log(hooks, &format!("delivery acknowledged and dropped: {why}"))?;
            respond(conn, 200, "ok")
        }
        Verdict::Bad(why) => {
            log(hooks, &format!("delivery refused: {why}"))?;
            respond(conn, 400, &why)
        }
    }
}

fn respond(mut conn: &TcpStream, status: u16, message: &str) -> Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let body = json!({ "status": status, "message": message }).to_string();
    let auth = if status == 401 {
        "WWW-Authenticate: Basic realm=\"source-pipedrive\"\r\n"
    } else {
        ""
    };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"Basic abc", b"Basic abc"));
        assert!(!same_secret(b"Basic abd", b"Basic abc"));
        assert!(!same_secret(b"Basic ab", b"Basic abc"));
        assert!(!same_secret(b"", b"Basic abc"));
    }

    #[test]
    fn every_webhook_stream_can_carry_a_delete() {
        for (object, stream) in OBJECTS {
            let def = streams::find(stream).unwrap();
            assert!(
                def.marks_deletes(),
                "{object}: {stream} has no {DELETED_AT}"
            );
            if let Some(a) = def.archive {
                assert!(streams::find(a.twin).unwrap().marks_deletes(), "{}", a.twin);
            }
        }
    }

    #[test]
    fn recent_is_bounded() {
        let mut r = Recent::new();
        for i in 0..REMEMBERED + 10 {
            r.put(i.to_string(), ());
        }
        assert_eq!(r.map.len(), REMEMBERED);
        assert!(r.get("0").is_none());
        assert!(r.get(&(REMEMBERED + 9).to_string()).is_some());
    }
}
