//! Real-time sync end to end: `webhooks register` is idempotent and the only writer, `listen`
//! turns each valid delivery into exactly one record and refuses the rest, and its
//! reconciliation read fills in a change that was never delivered.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipedrive_sandbox::webhooks::{deliver, deliver_raw, event, merge, EventMeta};
use pipedrive_sandbox::Resource;
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::Message;

use crate::util::{catalog, World, START};

const USER: &str = "pipedrive-hooks";
const PASSWORD: &str = "correct-horse-battery-staple";

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

/// A running `listen`, its stdout collected line by line.
struct Listening {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    url: String,
}

impl Listening {
    fn start(world: &World, streams: &[&str], reconcile_every: u64) -> Listening {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = config(world);
        let cat = world.file("listen-catalog.json", &catalog(streams, "incremental"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
            .args([
                "listen",
                "--config",
                config.to_str().unwrap(),
                "--catalog",
                cat.to_str().unwrap(),
            ])
            .args([
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--reconcile-every",
                &reconcile_every.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let listening = Listening {
            child,
            lines,
            url: format!("http://127.0.0.1:{port}/pipedrive"),
        };
        assert!(
            listening.wait_for(|l| l
                .iter()
                .any(|m| m.contains("listening for Pipedrive webhooks"))),
            "listen did not start"
        );
        listening
    }

    fn messages(&self) -> Vec<Message> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).expect("a protocol message"))
            .collect()
    }

    fn records(&self, stream: &str, id: &Value) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter_map(|m| match m {
                Message::Record { record }
                    if record.stream == stream && record.data["id"] == *id =>
                {
                    Some(record.data)
                }
                _ => None,
            })
            .collect()
    }

    /// The records of `id` once `n` have arrived (the reader thread may lag the pipe a little).
    fn records_when(&self, stream: &str, id: &Value, n: usize) -> Vec<Value> {
        let needle = format!(r#""id":{id}"#);
        self.wait_for(|lines| {
            lines
                .iter()
                .filter(|l| l.contains(r#""type":"RECORD""#) && l.contains(&needle))
                .count()
                >= n
        });
        std::thread::sleep(Duration::from_millis(50));
        self.records(stream, id)
    }

    fn wait_for(&self, done: impl Fn(&[String]) -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if done(&self.lines.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn send(&self, payload: &Value) -> u16 {
        deliver(&self.url, USER, PASSWORD, payload, Duration::from_secs(10))
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
    let gone = listening
        .records_when("deals", &deal["id"], 3)
        .pop()
        .unwrap();
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
    assert_eq!(
        listening.records("persons", &loser["id"])[0]["is_deleted"],
        json!(true)
    );
    assert_eq!(listening.records("persons", &survivor["id"]).len(), 1);

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
    let lines_before = listening
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("RECORD"))
        .count();
    let another = event(
        "create",
        "deal",
        Some(&json!({"id": 990_002, "update_time": "2026-06-01T10:00:00Z"})),
        None,
        meta(7, "2026-06-01T10:00:00Z"),
    );
    let wrong = deliver(
        &listening.url,
        USER,
        "not-the-password",
        &another,
        Duration::from_secs(5),
    );
    assert_eq!(wrong.status, Some(401));
    let anonymous = deliver(&listening.url, "", "", &another, Duration::from_secs(5));
    assert_eq!(anonymous.status, Some(401));
    let auth = format!("Basic {}", base64_of(&format!("{USER}:{PASSWORD}")));
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    assert_eq!(
        deliver_raw(
            &listening.url,
            &headers,
            b"{not json",
            Duration::from_secs(5)
        )
        .status,
        Some(400)
    );
    let unknown = json!({"meta": {"id": "e-unknown", "action": "create", "entity": "spaceship"}, "data": {"id": 1}});
    assert_eq!(
        deliver_raw(
            &listening.url,
            &headers,
            unknown.to_string().as_bytes(),
            Duration::from_secs(5)
        )
        .status,
        Some(400)
    );
    let huge = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(
        deliver_raw(&listening.url, &headers, &huge, Duration::from_secs(5)).status,
        Some(413)
    );
    let lines_after = listening
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("RECORD"))
        .count();
    assert_eq!(
        lines_before, lines_after,
        "nothing written for refused deliveries"
    );
    assert!(listening.records("deals", &json!(990_002)).is_empty());

    let all = listening.lines.lock().unwrap().join("\n");
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

    let one = |stream: &str, id: &Value, n: usize| {
        let mut got = listening.records_when(stream, id, n);
        assert_eq!(got.len(), 1, "{stream}: {id}");
        got.pop().unwrap()
    };
    let in_deals = one("deals", &archived["id"], 2);
    assert_eq!(in_deals["is_archived"], true);
    assert!(in_deals.get(DELETED).is_none());
    assert!(one("archived_deals", &archived["id"], 2)
        .get(DELETED)
        .is_none());
    assert_eq!(one("deals", &back["id"], 2)["is_archived"], false);
    assert_eq!(one("archived_deals", &back["id"], 2)[DELETED], at);
    assert_eq!(one("projects", &shelved["id"], 2)["is_archived"], true);
    assert_eq!(
        one("archived_projects", &shelved["id"], 2)["is_archived"],
        true
    );
    for (stream, id) in [
        ("leads", &lead["id"]),
        ("deal_products", &line["id"]),
        ("notes", &note["id"]),
    ] {
        assert_eq!(one(stream, id, 1)[DELETED], at, "{stream}");
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
    assert!(
        listening.wait_for(|l| l
            .iter()
            .filter(|m| m.contains(r#""type":"RECORD""#))
            .count()
            >= all),
        "the start-up reconciliation reads every deal"
    );
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let id = world.sandbox.dataset().records(Resource::Deals)[2]["id"].clone();
    let touched = world.sandbox.touch(Resource::Deals, &id);
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let found = listening.wait_for(|lines| {
        lines.iter().any(|l| {
            l.contains(r#""type":"RECORD""#)
                && l.contains(touched["update_time"].as_str().unwrap())
                && l.contains(&format!(r#""id":{id}"#))
        })
    });
    assert!(
        found,
        "the touched deal comes through the next reconciliation"
    );
    let states = listening
        .messages()
        .iter()
        .filter(|m| matches!(m, Message::State { .. }))
        .count();
    assert!(states >= 2, "each reconciliation ends with its STATE");
}

#[test]
fn listen_speaks_singer_when_asked() {
    let world = World::new(10);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config(&world);
    let mut child = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args(["listen", "--singer", "--config", config.to_str().unwrap()])
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--reconcile-every",
            "3600",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let url = format!("http://127.0.0.1:{port}/hooks");
    let until = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut deal = world.sandbox.dataset().records(Resource::Deals)[0].clone();
    deal["id"] = json!(990_301);
    let create = event(
        "create",
        "deal",
        Some(&deal),
        None,
        meta(9, "2026-06-01T10:00:00Z"),
    );
    assert_eq!(
        deliver(&url, USER, PASSWORD, &create, Duration::from_secs(10)).status,
        Some(200)
    );
    let seen = |lines: &[String]| {
        lines
            .iter()
            .any(|l| l.contains(r#""type":"RECORD""#) && l.contains(r#""id":990301"#))
    };
    let until = Instant::now() + Duration::from_secs(30);
    while !seen(&lines.lock().unwrap()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let until = Instant::now() + Duration::from_secs(30);
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with(r#"{"type":"STATE","value""#))
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.lock().unwrap().clone();
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
