//! `listen`: real-time sync. An HTTP server receives Pipedrive's webhook v2 deliveries and writes
//! each change as a RECORD (same streams, schemas and custom-field shape as `read`), and a
//! reconciliation `read` runs at start-up and then every `--reconcile-every`, so the destination
//! converges even when deliveries were lost (a paused webhook, the listener down).
//!
//! Rules a production receiver needs:
//! - a delivery is answered 200 only once its record is written and flushed (at least once);
//!   Pipedrive retries anything else, and answers come well within its 10 s limit;
//! - before its credentials are checked a connection costs little and not for long (`server`,
//!   `request`): one deadline for the whole request, a cap on its head, a cap on connections;
//! - basic auth is checked in constant time; wrong or missing credentials get 401 and nothing
//!   is written; bodies over 1 MiB get 413; malformed JSON, an unknown entity or an id over
//!   `MAX_ID` bytes gets 400;
//! - a delivery seen before (same `meta.id`, within the last 20,000 and 4 MiB of ids) is
//!   acknowledged and dropped;
//! - a change older than one already written for the same record is dropped (logged): the
//!   reconciliation brings the latest state anyway, and downstream dedup keeps the newest
//!   `update_time`;
//! - STATE only comes from the reconciliation reads, whose cursors webhook records never move;
//! - a delete (the loser of a merge too) is written with `_ab_cdc_deleted_at` (`_sdc_deleted_at`
//!   in Singer), whatever flag the stream's records have; a deal, lead or project archived goes to its archived stream and,
//!   marked archived, to its live one, and one brought back goes to its live stream and leaves
//!   the archived one (`StreamDef::mark_archive`, as `read` does).

#[cfg(test)]
mod fuzz;
mod request;
mod server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
use crate::streams::{self, time, Deletion};

pub use server::{DEADLINE, MAX_CONNECTIONS};

/// Events remembered for de-duplication and ordering: Pipedrive retries a delivery for about
/// three minutes (3, 30, 150 s), far fewer events than this at any realistic rate.
const REMEMBERED: usize = 20_000;
/// Bytes of keys each memory may hold (with `ENTRY_COST` per entry): 20,000 Pipedrive event ids
/// (UUIDs) take about half of it.
const REMEMBERED_BYTES: usize = 4 * 1024 * 1024;
/// What an entry costs beyond its key's bytes: the hash table's and the queue's share.
const ENTRY_COST: usize = 64;
/// The longest event id (`meta.id`) or record key accepted, in bytes: Pipedrive's are UUIDs or
/// integers.
pub const MAX_ID: usize = 256;
/// At most one log line a second for requests refused before their credentials were checked:
/// a flood of them must not flood stdout.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);

/// A bounded memory of the most recent keys: at most `REMEMBERED` of them, and at most
/// `REMEMBERED_BYTES` counted with their keys; the oldest go first.
struct Recent<V> {
    map: HashMap<Arc<str>, V>,
    order: VecDeque<Arc<str>>,
    bytes: usize,
}

impl<V> Recent<V> {
    fn new() -> Recent<V> {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }

    fn get(&self, k: &str) -> Option<&V> {
        self.map.get(k)
    }

    fn put(&mut self, k: &str, v: V) {
        if let Some(held) = self.map.get_mut(k) {
            *held = v;
            return;
        }
        let k: Arc<str> = Arc::from(k);
        self.bytes += k.len() + ENTRY_COST;
        self.map.insert(Arc::clone(&k), v);
        self.order.push_back(k);
        while self.order.len() > REMEMBERED || self.bytes > REMEMBERED_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.bytes -= old.len() + ENTRY_COST;
            self.map.remove(&old);
        }
    }
}

/// At most the first 64 characters of `s`, for a message about a value a sender chose.
fn shown(s: &str) -> String {
    let mut cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        cut.push('…');
    }
    cut
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
        if id.len() > MAX_ID {
            return Ok(Verdict::Bad(format!(
                "meta.id is {} bytes long, over the {MAX_ID} accepted",
                id.len()
            )));
        }
        let Some((_, stream)) = OBJECTS.iter().find(|(o, _)| *o == entity) else {
            return Ok(Verdict::Bad(format!("unknown entity {:?}", shown(entity))));
        };
        if self.seen.get(&id).is_some() {
            return Ok(Verdict::Duplicate);
        }
        let body = match action {
            "create" | "change" => &event["data"],
            "delete" => &event["previous"],
            other => return Ok(Verdict::Bad(format!("unknown action {:?}", shown(other)))),
        };
        let Some(obj) = body.as_object() else {
            return Ok(Verdict::Bad(format!(
                "{action} event {id} has no object to write"
            )));
        };
        let live = streams::find(stream).expect("OBJECTS name streams");
        let record_key = live.key_of(body);
        if record_key.len() > MAX_ID {
            return Ok(Verdict::Bad(format!(
                "the record's key is {} bytes long, over the {MAX_ID} accepted",
                record_key.len()
            )));
        }
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
            self.seen.put(&id, ());
            return Ok(Verdict::Dropped(format!(
                "stream {} is not in the catalog",
                live.name
            )));
        }
        let mut stale = Vec::new();
        let mut written = Vec::new();
        let deleted_at = streams::deleted_at_column(self.out.is_singer());
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
                def.mark_archive(
                    &mut marked,
                    from_archive,
                    at.map(time::format).as_deref(),
                    deleted_at,
                );
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
            engine::finish_record(def, shaper, &mut record, deleted_at);
            if action == "delete" {
                // Whatever flag the stream has, if any: a delete is a delete.
                record[deleted_at] = def
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
        self.seen.put(&id, ());
        if written.is_empty() {
            return Ok(Verdict::Dropped(format!(
                "event {id} for {} is older than the change already written",
                stale.join(", ")
            )));
        }
        for (key, changed) in written {
            if let Some(t) = changed {
                self.last.put(&key, t);
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

pub struct ListenOptions {
    pub bind: String,
    pub reconcile_every: Duration,
    /// Connections held at once (`MAX_CONNECTIONS` by default).
    pub max_connections: usize,
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
    let client = super::client(config, RetryPolicy::default(), Some(&stdout));
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
            "listening for Pipedrive webhooks on {} (at most {} connections, {} s per request)",
            listener.local_addr()?,
            opts.max_connections,
            DEADLINE.as_secs()
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

    let slots = Arc::new(server::Slots::new(opts.max_connections));
    let refusals = Mutex::new(Refusals::default());
    let handler =
        move |conn: &std::net::TcpStream, deadline: Instant, admit: &mut dyn FnMut() -> bool| {
            let mut conn = conn;
            let ending = request::exchange(
                &mut conn,
                deadline,
                expected.as_bytes(),
                admit,
                &mut |body| deliver(&hooks, body),
            );
            match ending {
                request::Ending::Refused {
                    status,
                    why,
                    authenticated: true,
                } => {
                    let _ = log(&hooks, &format!("delivery refused ({status}): {why}"));
                }
                request::Ending::Refused { status, why, .. } => {
                    let line = refusals.lock().unwrap_or_else(|e| e.into_inner()).count(
                        status,
                        why,
                        Instant::now(),
                    );
                    if let Some(line) = line {
                        let _ = log(&hooks, &line);
                    }
                }
                request::Ending::Delivered(_) | request::Ending::Gone => {}
            }
            ending
        };
    server::serve(listener, slots, Arc::new(handler));
    Ok(())
}

/// An authenticated delivery's body: written, or refused, and what to answer.
fn deliver(hooks: &Mutex<Hooks>, body: &[u8]) -> request::Answer {
    let verdict = match serde_json::from_slice::<Value>(body) {
        Ok(event) => hooks.lock().expect("hooks lock").accept(&event),
        Err(e) => Ok(Verdict::Bad(format!("the body is not JSON ({e})"))),
    };
    match verdict {
        Ok(Verdict::Written | Verdict::Duplicate) => request::Answer::new(200, "ok"),
        Ok(Verdict::Dropped(why)) => {
            let _ = log(hooks, &format!("delivery acknowledged and dropped: {why}"));
            request::Answer::new(200, "ok")
        }
        Ok(Verdict::Bad(why)) => {
            let _ = log(hooks, &format!("delivery refused: {why}"));
            request::Answer::new(400, why)
        }
        Err(e) => {
            let _ = log(hooks, &format!("delivery failed: {e:#}"));
            request::Answer::new(500, "could not write the record")
        }
    }
}

/// Requests refused before their credentials were checked, told in at most one log line per
/// `REFUSAL_LOG_EVERY`: the first of a while, with how many came since the last line.
#[derive(Default)]
struct Refusals {
    last_line: Option<Instant>,
    since: u64,
}

impl Refusals {
    /// Counts one refusal; the line to log, if one is due.
    fn count(&mut self, status: u16, why: &str, now: Instant) -> Option<String> {
        self.since += 1;
        if self
            .last_line
            .is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_EVERY)
        {
            return None;
        }
        let line = if self.since > 1 {
            format!(
                "request refused ({status}): {why}; {} refused before their credentials were checked since the last such line",
                self.since
            )
        } else {
            format!("request refused ({status}): {why}")
        };
        self.last_line = Some(now);
        self.since = 0;
        Some(line)
    }
}

fn log(hooks: &Mutex<Hooks>, message: &str) -> Result<()> {
    let mut h = hooks.lock().expect("hooks lock");
    h.out.log(LogLevel::Info, message)?;
    Ok(h.out.flush()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_webhook_stream_can_carry_a_delete() {
        for (object, stream) in OBJECTS {
            let def = streams::find(stream).unwrap();
            assert!(
                def.marks_deletes(),
                "{object}: {stream} has no {}",
                streams::DELETED_AT
            );
            if let Some(a) = def.archive {
                assert!(streams::find(a.twin).unwrap().marks_deletes(), "{}", a.twin);
            }
        }
    }

    #[test]
    fn recent_is_bounded_in_count() {
        let mut r = Recent::new();
        for i in 0..REMEMBERED + 10 {
            r.put(&i.to_string(), ());
        }
        assert_eq!(r.map.len(), REMEMBERED);
        assert_eq!(r.order.len(), REMEMBERED);
        assert!(r.get("0").is_none());
        assert!(r.get(&(REMEMBERED + 9).to_string()).is_some());
    }

    #[test]
    fn recent_is_bounded_in_bytes() {
        let mut r = Recent::new();
        let long = "x".repeat(MAX_ID - 8);
        for i in 0..REMEMBERED {
            r.put(&format!("{long}{i:08}"), ());
            let held: usize = r.order.iter().map(|k| k.len() + ENTRY_COST).sum();
            assert_eq!(held, r.bytes);
            assert!(r.bytes <= REMEMBERED_BYTES);
        }
        let fits = REMEMBERED_BYTES / (MAX_ID + ENTRY_COST);
        assert_eq!(r.map.len(), fits, "as many as the bytes allow");
        assert!(r.get(&format!("{long}{:08}", REMEMBERED - 1)).is_some());
        assert!(r
            .get(&format!("{long}{:08}", REMEMBERED - 1 - fits))
            .is_none());
    }

    #[test]
    fn refusals_are_logged_at_most_once_a_second() {
        let mut r = Refusals::default();
        let t0 = Instant::now();
        assert_eq!(
            r.count(401, "wrong or missing credentials", t0).as_deref(),
            Some("request refused (401): wrong or missing credentials")
        );
        for i in 1..100 {
            assert!(r
                .count(408, "slow", t0 + Duration::from_millis(i))
                .is_none());
        }
        let line = r
            .count(431, "too large", t0 + Duration::from_secs(1))
            .unwrap();
        assert!(
            line.contains("(431)") && line.contains("100 refused"),
            "{line}"
        );
    }
}
