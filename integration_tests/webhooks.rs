//! Real-time sync end to end: `webhooks register` is idempotent and the only writer, `listen`
//! turns each valid delivery into exactly one record and refuses the rest, and its
//! reconciliation read fills in a change that was never delivered.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pipedrive_sandbox::webhooks::{deliver, deliver_raw, event, merge, EventMeta};
use pipedrive_sandbox::Resource;
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::Message;

use crate::util::{catalog, poll, World, PATIENCE, START};

pub(crate) const USER: &str = "pipedrive-hooks";
pub(crate) const PASSWORD: &str = "correct-horse-battery-staple";

fn config(world: &World) -> std::path::PathBuf {
    world.config_with(json!({
        "api_key": world.key(), "start_date": START, "base_url": world.sandbox.base_url(),
        "webhook_user": USER, "webhook_password": PASSWORD,
    }))
}

fn secrets_absent(world: &World, text: &str) {
    assert!(
        !text.contains(&world.key()) && !text.contains(PASSWORD),
        "a secret leaked: {text}"
    );
}

#[test]
fn register_is_idempotent_and_remove_takes_only_ours() {
    let world = World::new(10);
    let config = config(&world);
    let config = config.to_str().unwrap();
    let before = world.sandbox.webhooks().len();
    let url = "https://hooks.example.com/pipedrive";
    for round in 0..2 {
        let r = world.run(&[
            "webhooks",
            "register",
            "--config",
            config,
            "--url",
            url,
            "--objects",
            "deal,person",
        ]);
        r.assert_ok();
        secrets_absent(&world, &(r.stdout.clone() + &r.stderr));
        let expected = if round == 0 {
            "2 created, 0 already there"
        } else {
            "0 created, 2 already there"
        };
        assert!(
            r.logs().iter().any(|l| l.contains(expected)),
            "{:#?}",
            r.logs()
        );
    }
    let posts: Vec<_> = world
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2, "the second run creates nothing");
    let ours: Vec<Value> = world
        .sandbox
        .webhooks()
        .into_iter()
        .filter(|w| w["subscription_url"] == url)
        .collect();
    assert_eq!(ours.len(), 2);
    for w in &ours {
        assert_eq!(
            (
                w["event_action"].as_str(),
                w["version"].as_str(),
                w["http_auth_user"].as_str()
            ),
            (Some("*"), Some("2.0"), Some(USER))
        );
    }

    let listed = world.run(&["webhooks", "list", "--config", config]);
    listed.assert_ok();
    assert_eq!(listed.records("webhooks").len(), before + 2);

    let removed = world.run(&["webhooks", "remove", "--config", config, "--all"]);
    removed.assert_ok();
    assert_eq!(
        world.sandbox.webhooks().len(),
        before,
        "only the connector's own webhooks are removed"
    );
    let deletes = world
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 2);

    let no_auth = world.config(START);
    let r = world.run(&[
        "webhooks",
        "register",
        "--config",
        no_auth.to_str().unwrap(),
        "--url",
        url,
    ]);
    assert_eq!(r.status, 1);
    assert!(
        r.logs().iter().any(|l| l.contains("webhook_user")),
        "{:#?}",
        r.logs()
    );
}

/// Lines a child process writes to one pipe, as a thread reads them.
#[derive(Default)]
pub(crate) struct Pipe {
    lines: Mutex<Vec<String>>,
    /// Set once the pipe has reached its end: every line it will ever give is in `lines`.
    closed: AtomicBool,
}

impl Pipe {
    fn collect(from: impl Read + Send + 'static) -> Arc<Pipe> {
        let pipe = Arc::new(Pipe::default());
        let sink = Arc::clone(&pipe);
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                sink.lines.lock().unwrap().push(line);
            }
            sink.closed.store(true, Ordering::SeqCst);
        });
        pipe
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

/// What `listen` logs once it is bound, followed by the address.
const LISTENING: &str = "listening for Pipedrive webhooks on ";

/// Deals delivered as fences (see `Listening::fence`) have ids from here up: neither the
/// sandbox nor any test delivery uses them.
const FENCE_IDS: u64 = 990_900;

/// A running `listen`, its stdout and stderr collected line by line.
pub(crate) struct Listening {
    pub(crate) child: Child,
    pub(crate) stdout: Arc<Pipe>,
    pub(crate) stderr: Arc<Pipe>,
    pub(crate) url: String,
    /// Fences delivered so far.
    fences: Cell<u64>,
}

impl Listening {
    /// `listen` in Airbyte mode, with a catalog of `streams`.
    pub(crate) fn start(world: &World, streams: &[&str], reconcile_every: u64) -> Listening {
        let cat = world.file("listen-catalog.json", &catalog(streams, "incremental"));
        Listening::spawn(
            world,
            &["--catalog", cat.to_str().unwrap()],
            reconcile_every,
        )
    }

    /// `listen` with `args`, on a port the system picks: the listener binds port 0 and says
    /// which port it got, so that no other process can take the port between the pick and the
    /// bind.
    pub(crate) fn spawn(world: &World, args: &[&str], reconcile_every: u64) -> Listening {
        let config = config(world);
        let mut child = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
            .args(["listen", "--config", config.to_str().unwrap()])
            .args(args)
            .args([
                "--bind",
                "127.0.0.1:0",
                "--reconcile-every",
                &reconcile_every.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Pipe::collect(child.stdout.take().unwrap());
        let stderr = Pipe::collect(child.stderr.take().unwrap());
        let mut listening = Listening {
            child,
            stdout,
            stderr,
            url: String::new(),
            fences: Cell::new(0),
        };
        // Airbyte mode logs on stdout, Singer mode on stderr.
        let addr = listening.wait("listen to say where it listens", |l| {
            l.stdout
                .lines()
                .iter()
                .chain(&l.stderr.lines())
                .find_map(|line| {
                    let rest = &line[line.find(LISTENING)? + LISTENING.len()..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
                        .unwrap_or(rest.len());
                    Some(rest[..end].to_string())
                })
        });
        listening.url = format!("http://{addr}/pipedrive");
        listening
    }

    /// Polls `probe` over what the listener has written until it gives a value; fails the test
    /// if it has given none after `PATIENCE`, or once the listener's output has ended without
    /// one.
    pub(crate) fn wait<T>(&self, what: &str, probe: impl Fn(&Listening) -> Option<T>) -> T {
        // Some(Ok): found; Some(Err): the output ended without it; None: out of patience.
        let outcome = poll(|| {
            // Read before probing: a pipe that had ended holds no line the probe does not see.
            let ended = self.stdout.closed.load(Ordering::SeqCst)
                && self.stderr.closed.load(Ordering::SeqCst);
            match probe(self) {
                Some(v) => Some(Ok(v)),
                None => ended.then_some(Err(())),
            }
        });
        match outcome {
            Some(Ok(v)) => v,
            ended => {
                let out = self.stdout.lines();
                panic!(
                    "waited for {what} {}; the last lines of stdout:\n{}\nstderr:\n{}",
                    if ended.is_some() {
                        "until listen's output ended".to_string()
                    } else {
                        format!("for {PATIENCE:?}")
                    },
                    out[out.len().saturating_sub(20)..].join("\n"),
                    self.stderr.lines().join("\n")
                )
            }
        }
    }

    pub(crate) fn messages(&self) -> Vec<Message> {
        self.stdout
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).expect("a protocol message"))
            .collect()
    }

    /// Every record written so far but the fences', as (stream, data).
    pub(crate) fn written(&self) -> Vec<(String, Value)> {
        self.messages()
            .into_iter()
            .filter_map(|m| match m {
                Message::Record { record } => Some((record.stream, record.data)),
                _ => None,
            })
            .filter(|(stream, data)| {
                !(stream == "deals" && data["id"].as_u64().is_some_and(|id| id > FENCE_IDS))
            })
            .collect()
    }

    pub(crate) fn records(&self, stream: &str, id: &Value) -> Vec<Value> {
        self.written()
            .into_iter()
            .filter(|(s, data)| s == stream && data["id"] == *id)
            .map(|(_, data)| data)
            .collect()
    }

    /// Every record of `id`, once at least `n` have been read and then a fence: any record of
    /// it written before the fence is counted too, so an extra one cannot go unseen.
    pub(crate) fn records_when(&self, stream: &str, id: &Value, n: usize) -> Vec<Value> {
        self.wait(&format!("{n} record(s) of {stream} {id}"), |l| {
            (l.records(stream, id).len() >= n).then_some(())
        });
        self.fence();
        self.records(stream, id)
    }

    /// Returns once every line the listener wrote before this call has been read. A fence is
    /// one more delivery, of a deal of its own, and the wait for its record: a delivery is
    /// answered only once its record is flushed, and stdout is one pipe read in order, so all
    /// that was written before the fence's record has been read when it has.
    pub(crate) fn fence(&self) {
        let n = self.fences.get() + 1;
        self.fences.set(n);
        let id = json!(FENCE_IDS + n);
        let deal = json!({"id": id, "title": "fence", "update_time": "2026-06-01T10:00:00Z"});
        let fence = event(
            "create",
            "deal",
            Some(&deal),
            None,
            meta(FENCE_IDS + n, "2026-06-01T10:00:00Z"),
        );
        assert_eq!(self.send(&fence), 200, "fence {n} is acknowledged");
        self.wait(&format!("the record of fence {n}"), |l| {
            l.messages()
                .iter()
                .any(|m| {
                    matches!(m, Message::Record { record }
                        if record.stream == "deals" && record.data["id"] == id)
                })
                .then_some(())
        });
    }

    /// Waits until `rounds` reconciliation reads have ended: each ends with its summary, after
    /// all its records and STATEs.
    fn reconciled(&self, rounds: usize) {
        self.wait(&format!("{rounds} reconciliation(s) to end"), |l| {
            let summaries = l
                .messages()
                .iter()
                .filter(|m| matches!(m, Message::Log { log } if log.message.starts_with("summary total: ")))
                .count();
            (summaries >= rounds).then_some(())
        });
    }

    pub(crate) fn send(&self, payload: &Value) -> u16 {
        deliver(&self.url, USER, PASSWORD, payload, PATIENCE)
            .status
            .expect("an answer")
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn meta(n: u64, at: &str) -> EventMeta {
    EventMeta {
        timestamp: at.parse().unwrap(),
        ..EventMeta::numbered(n)
    }
}

#[test]
fn every_valid_delivery_yields_exactly_one_record() {
    let world = World::new(20);
    let listening = Listening::start(&world, &["deals", "persons"], 3600);
    // Records the sandbox does not hold, so the start-up reconciliation cannot produce them.
    let mut deal = world.sandbox.dataset().records(Resource::Deals)[0].clone();
    deal["id"] = json!(990_001);
    deal["update_time"] = json!("2026-06-01T10:00:00Z");
    let mut changed = deal.clone();
    changed["title"] = json!("Renamed ✓");
    changed["update_time"] = json!("2026-06-01T11:00:00Z");

    let create = event(
        "create",
        "deal",
        Some(&deal),
        None,
        meta(1, "2026-06-01T10:00:00Z"),
    );
    assert_eq!(listening.send(&create), 200);
    assert_eq!(
        listening.records_when("deals", &deal["id"], 1).len(),
        1,
        "acknowledged means written"
    );

    let change = event(
        "change",
        "deal",
        Some(&changed),
        Some(&json!({"title": deal["title"]})),
        meta(2, "2026-06-01T11:00:00Z"),
    );
    assert_eq!(listening.send(&change), 200);
    // Pipedrive's retry of the same event (attempt 2, same meta.id) is acknowledged, not written.
    let mut retry = change.clone();
    retry["meta"]["attempt"] = json!(2);
    assert_eq!(listening.send(&retry), 200);
    // A change older than what was written is dropped.
    let mut stale = deal.clone();
    stale["update_time"] = json!("2026-06-01T10:30:00Z");
    assert_eq!(
        listening.send(&event(
            "change",
            "deal",
            Some(&stale),
            Some(&json!({})),
            meta(3, "2026-06-01T10:30:00Z")
        )),
        200
    );
    let deal_records = listening.records_when("deals", &deal["id"], 2);
    assert_eq!(deal_records.len(), 2, "create and change, once each");
    assert_eq!(deal_records[1]["title"], "Renamed ✓");

    let delete = event(
        "delete",
        "deal",
        None,
        Some(&changed),
        meta(4, "2026-06-01T12:00:00Z"),
    );
    assert_eq!(listening.send(&delete), 200);
    let mut deal_records = listening.records_when("deals", &deal["id"], 3);
    assert_eq!(
        deal_records.len(),
        3,
        "create, change and delete, once each"
    );
    let gone = deal_records.pop().unwrap();
    assert_eq!(gone["is_deleted"], json!(true));
    assert_eq!(gone["_ab_cdc_deleted_at"], "2026-06-01T12:00:00Z");

    // A merge: the loser's delete, the survivor's change.
    let mut loser = world.sandbox.dataset().records(Resource::Persons)[0].clone();
    loser["id"] = json!(990_101);
    let mut survivor = loser.clone();
    survivor["id"] = json!(990_102);
    let mut merged = survivor.clone();
    merged["update_time"] = json!("2026-06-02T09:00:00Z");
    for e in merge(
        "person",
        &loser,
        &survivor,
        &merged,
        meta(5, "2026-06-02T09:00:00Z"),
    ) {
        assert_eq!(listening.send(&e), 200);
    }
    // Both were acknowledged, so both are written; the fence makes sure they have been read.
    listening.fence();
    let lost = listening.records("persons", &loser["id"]);
    assert_eq!(lost.len(), 1, "the loser's delete, once");
    assert_eq!(lost[0]["is_deleted"], json!(true));
    assert_eq!(
        listening.records("persons", &survivor["id"]).len(),
        1,
        "the survivor's change, once"
    );

    // Events for streams not in the catalog are acknowledged and dropped.
    let product = json!({"id": 990_201, "name": "x", "update_time": "2026-06-01T10:00:00Z"});
    assert_eq!(
        listening.send(&event(
            "create",
            "product",
            Some(&product),
            None,
            meta(6, "2026-06-01T10:00:00Z")
        )),
        200
    );

    // Refused: wrong or missing credentials, malformed JSON, an unknown entity, a 2 MB body.
    // Nothing else may write meanwhile: the start-up reconciliation is over (the next is an
    // hour away), and what was acknowledged so far has been read.
    listening.reconciled(1);
    listening.fence();
    assert!(
        !listening
            .written()
            .iter()
            .any(|(_, r)| r["id"] == product["id"]),
        "nothing written for a stream not in the catalog"
    );
    let written_before = listening.written().len();
    let another = event(
        "create",
        "deal",
        Some(&json!({"id": 990_002, "update_time": "2026-06-01T10:00:00Z"})),
        None,
        meta(7, "2026-06-01T10:00:00Z"),
    );
    let wrong = deliver(&listening.url, USER, "not-the-password", &another, PATIENCE);
    assert_eq!(wrong.status, Some(401));
    let anonymous = deliver(&listening.url, "", "", &another, PATIENCE);
    assert_eq!(anonymous.status, Some(401));
    let auth = format!("Basic {}", base64_of(&format!("{USER}:{PASSWORD}")));
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    assert_eq!(
        deliver_raw(&listening.url, &headers, b"{not json", PATIENCE).status,
        Some(400)
    );
    let unknown = json!({"meta": {"id": "e-unknown", "action": "create", "entity": "spaceship"}, "data": {"id": 1}});
    assert_eq!(
        deliver_raw(
            &listening.url,
            &headers,
            unknown.to_string().as_bytes(),
            PATIENCE
        )
        .status,
        Some(400)
    );
    let huge = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(
        deliver_raw(&listening.url, &headers, &huge, PATIENCE).status,
        Some(413)
    );
    listening.fence();
    assert_eq!(
        listening.written().len(),
        written_before,
        "nothing written for refused deliveries"
    );
    assert!(listening.records("deals", &json!(990_002)).is_empty());

    let all = listening.stdout.lines().join("\n") + &listening.stderr.lines().join("\n");
    secrets_absent(&world, &all);
}

#[test]
fn archives_and_deletes_reach_every_stream_that_holds_the_record() {
    let world = World::new(40);
    let streams = [
        "deals",
        "archived_deals",
        "projects",
        "archived_projects",
        "leads",
        "deal_products",
        "notes",
    ];
    let listening = Listening::start(&world, &streams, 3600);
    let data = world.sandbox.dataset();
    // Records the sandbox does not hold, so the reconciliation cannot produce them.
    let fake = |r: Resource, id: Value, at: &str| {
        let mut v = data.records(r)[0].clone();
        v["id"] = id;
        v["update_time"] = json!(at);
        for (flag, alive) in [
            ("is_deleted", json!(false)),
            ("active_flag", json!(true)),
            ("status", json!("open")),
        ] {
            if v.get(flag).is_some() {
                v[flag] = alive;
            }
        }
        v
    };
    let at = "2026-06-01T10:00:00Z";
    let mut n = 0;
    let mut send = |action: &str, entity: &str, current: Option<&Value>, previous: &Value| {
        n += 1;
        let current = current.cloned();
        assert_eq!(
            listening.send(&event(
                action,
                entity,
                current.as_ref(),
                Some(previous),
                meta(n, at)
            )),
            200
        );
    };

    // Archived: the archive gets the deal, and the live stream, where the destination last
    // saw it, gets it marked archived.
    let live = fake(Resource::Deals, json!(990_401), at);
    let mut archived = live.clone();
    archived["is_archived"] = json!(true);
    send("change", "deal", Some(&archived), &live);
    // Brought back: live again, and deleted from the archive.
    let was = fake(Resource::ArchivedDeals, json!(990_402), at);
    let mut back = was.clone();
    back["is_archived"] = json!(false);
    send("change", "deal", Some(&back), &was);
    // Projects say it with `archive_time`; the connector adds `is_archived`.
    let project = fake(Resource::Projects, json!(990_403), at);
    let mut shelved = project.clone();
    shelved["archive_time"] = json!(at);
    send("change", "project", Some(&shelved), &project);
    // Deletes of records whose lists carry no deletion flag still say they are deleted.
    let lead = fake(
        Resource::Leads,
        json!("00000000-0000-4000-8000-000000990404"),
        at,
    );
    send("delete", "lead", None, &lead);
    let line = json!({"id": 990_405, "deal_id": 1, "product_id": 1, "update_time": at});
    send("delete", "deal_product", None, &line);
    let note = fake(Resource::Notes, json!(990_406), "2026-06-01 10:00:00");
    send("delete", "note", None, &note);

    // One record of `id` in `stream` (records_when counts that stream's records only).
    let one = |stream: &str, id: &Value| {
        let mut got = listening.records_when(stream, id, 1);
        assert_eq!(got.len(), 1, "{stream}: {id}");
        got.pop().unwrap()
    };
    let in_deals = one("deals", &archived["id"]);
    assert_eq!(in_deals["is_archived"], true);
    assert!(in_deals.get(DELETED).is_none());
    assert!(one("archived_deals", &archived["id"])
        .get(DELETED)
        .is_none());
    assert_eq!(one("deals", &back["id"])["is_archived"], false);
    assert_eq!(one("archived_deals", &back["id"])[DELETED], at);
    assert_eq!(one("projects", &shelved["id"])["is_archived"], true);
    assert_eq!(
        one("archived_projects", &shelved["id"])["is_archived"],
        true
    );
    for (stream, id) in [
        ("leads", &lead["id"]),
        ("deal_products", &line["id"]),
        ("notes", &note["id"]),
    ] {
        assert_eq!(one(stream, id)[DELETED], at, "{stream}");
    }
}

const DELETED: &str = source_pipedrive::streams::DELETED_AT;

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn reconciliation_fills_in_a_change_never_delivered() {
    let world = World::new(30);
    let listening = Listening::start(&world, &["deals"], 1);
    let all = world.sandbox.dataset().records(Resource::Deals).len();
    listening.wait("the start-up reconciliation to read every deal", |l| {
        (l.written().len() >= all).then_some(())
    });
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let id = world.sandbox.dataset().records(Resource::Deals)[2]["id"].clone();
    let touched = world.sandbox.touch(Resource::Deals, &id);
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    listening.wait(
        "the touched deal to come through the next reconciliation",
        |l| {
            l.records("deals", &id)
                .iter()
                .any(|r| r["update_time"] == touched["update_time"])
                .then_some(())
        },
    );
    listening.wait("each reconciliation to end with its STATE", |l| {
        let states = l
            .messages()
            .iter()
            .filter(|m| matches!(m, Message::State { .. }))
            .count();
        (states >= 2).then_some(())
    });
}

#[test]
fn listen_speaks_singer_when_asked() {
    let world = World::new(10);
    let listening = Listening::spawn(&world, &["--singer"], 3600);
    let mut deal = world.sandbox.dataset().records(Resource::Deals)[0].clone();
    deal["id"] = json!(990_301);
    let create = event(
        "create",
        "deal",
        Some(&deal),
        None,
        meta(9, "2026-06-01T10:00:00Z"),
    );
    assert_eq!(listening.send(&create), 200);
    listening.wait("the delivered deal's RECORD", |l| {
        l.stdout
            .lines()
            .iter()
            .any(|line| line.contains(r#""type":"RECORD""#) && line.contains(r#""id":990301"#))
            .then_some(())
    });
    listening.wait("the reconciliation's STATE", |l| {
        l.stdout
            .lines()
            .iter()
            .any(|line| line.starts_with(r#"{"type":"STATE","value""#))
            .then_some(())
    });
    // Taken while listen runs: only whole lines, none cut short by its end.
    let lines = listening.stdout.lines();
    drop(listening);
    let messages: Vec<source_pipedrive::protocol::singer::Message> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not Singer ({e}): {l}")))
        .collect();
    let record_at = lines
        .iter()
        .position(|l| l.contains(r#""id":990301"#))
        .expect("the delivered deal");
    let schema_at = lines
        .iter()
        .position(|l| l.starts_with(r#"{"type":"SCHEMA","stream":"deals""#))
        .expect("a deals SCHEMA");
    assert!(schema_at < record_at, "SCHEMA precedes the record");
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, source_pipedrive::protocol::singer::Message::State { .. })),
        "reconciliation STATE"
    );
}

/// A delete delivered to `listen` carries the deletion marks the same delete carries when `read`
/// sees it (the stream's own flag, `active_flag`, `status` or `is_deleted`, from which the one
/// `finish_record` sets the soft-delete column), set to the delete time; streams whose lists
/// never show deletes get the column too.
#[test]
fn a_delivered_delete_carries_the_marks_read_would_give_it() {
    let world = World::new(20);
    // deals: the fence (see `Listening::fence`) is a deal delivery.
    let streams = [
        "deals",
        "notes",
        "leads",
        "projects",
        "deal_products",
        "persons",
    ];
    let listening = Listening::start(&world, &streams, 3600);
    let at = "2026-06-03T08:00:00Z";
    let cases = [
        (
            "note",
            "notes",
            json!(990_401),
            Some(("active_flag", json!(false))),
        ),
        (
            "lead",
            "leads",
            json!("9c1d4f0e-0000-4000-8000-000000990402"),
            None,
        ),
        (
            "project",
            "projects",
            json!(990_403),
            Some(("status", json!("deleted"))),
        ),
        ("deal_product", "deal_products", json!(990_404), None),
        (
            "person",
            "persons",
            json!(990_405),
            Some(("is_deleted", json!(true))),
        ),
    ];
    for (n, (entity, stream, id, flag)) in cases.iter().enumerate() {
        let previous = json!({
            "id": id, "update_time": "2026-06-01T10:00:00Z", "active_flag": true,
            "status": "open", "is_deleted": false, "title": "gone soon",
        });
        let delete = event(
            "delete",
            entity,
            None,
            Some(&previous),
            meta(600 + n as u64, at),
        );
        assert_eq!(listening.send(&delete), 200, "{entity}");
        let written = listening.records_when(stream, id, 1).pop().unwrap();
        assert_eq!(written["_ab_cdc_deleted_at"], at, "{stream}: {written}");
        if let Some((field, value)) = flag {
            assert_eq!(&written[*field], value, "{stream}: {written}");
        }
    }
}
