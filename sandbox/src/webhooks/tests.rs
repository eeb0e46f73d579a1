//! Payloads for every action and a merge, and deliveries against a local receiver: JSON with
//! basic auth, raw bytes, timeouts, the retry schedule, and the URL and encoding helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::{base64, dechunk};
use super::delivery::{retry_delay, USER_AGENT};
use super::*;

/// One request as the test receiver got it.
struct Received {
    head: String,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver that answers one connection per entry of `answers` (status, delay before
/// answering) and reports each request it read, in order. Slow answers wait in threads of
/// their own, so they hold up no later connection. Returns its URL.
fn receiver(answers: Vec<(u16, Duration)>) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook?tenant=7", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (status, delay) in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = tx.send(Received { head, body });
            thread::spawn(move || {
                thread::sleep(delay);
                let answer = format!("{{\"status\":{status}}}");
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                // The sender may have given up on a slow answer and gone.
                let _ = reader.get_mut().write_all(response.as_bytes());
            });
        }
    });
    (url, rx)
}

fn deal(id: u64, title: &str, value: f64) -> Value {
    json!({
        "id": id,
        "title": title,
        "value": value,
        "owner_id": 1,
        "update_time": "2026-01-01T00:00:00Z",
        "custom_fields": {"a1b2": "gold", "c3d4": 5},
    })
}

#[test]
fn create_change_and_delete_payloads() {
    let before = deal(7, "Big deal", 1000.0);
    let created = event(
        "create",
        "deal",
        Some(&before),
        None,
        EventMeta::numbered(5),
    );
    assert_eq!(created["data"], before);
    assert_eq!(created["previous"], Value::Null);
    let meta = &created["meta"];
    let keys: Vec<&str> = meta
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "action",
            "entity",
            "company_id",
            "correlation_id",
            "entity_id",
            "id",
            "is_bulk_edit",
            "timestamp",
            "type",
            "user_id",
            "version",
            "webhook_id",
            "webhook_owner_id",
            "change_source",
            "attempt",
            "host",
            "permitted_user_ids",
        ]
    );
    assert_eq!(meta["action"], "create");
    assert_eq!(meta["entity"], "deal");
    assert_eq!(meta["entity_id"], "7");
    assert_eq!(meta["company_id"], "7000042");
    assert_eq!(meta["timestamp"], "2026-01-01T00:00:05.000Z");
    assert_eq!(meta["version"], "2.0");
    assert_eq!(meta["type"], "general");
    assert_eq!(meta["attempt"], 1);
    assert_eq!(meta["permitted_user_ids"], json!(["1"]));
    let id = meta["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert_ne!(meta["id"], EventMeta::numbered(6).id.as_str());
    assert_ne!(meta["id"], meta["correlation_id"]);

    let mut after = before.clone();
    after["title"] = json!("Bigger deal");
    after["update_time"] = json!("2026-01-02T00:00:00Z");
    after["custom_fields"]["c3d4"] = json!(6);
    after["label_ids"] = json!([3]);
    let changed = event(
        "change",
        "deal",
        Some(&after),
        Some(&before),
        EventMeta::default(),
    );
    assert_eq!(changed["data"], after);
    assert_eq!(
        changed["previous"],
        json!({
            "title": "Big deal",
            "update_time": "2026-01-01T00:00:00Z",
            "custom_fields": {"c3d4": 5},
            "label_ids": null,
        })
    );

    let deleted = event("delete", "deal", None, Some(&after), EventMeta::default());
    assert_eq!(deleted["data"], Value::Null);
    assert_eq!(deleted["previous"], after);
    assert_eq!(deleted["meta"]["entity_id"], "7");
    assert!(deleted["meta"].get("merged_to_id").is_none());

    // Leads have UUIDs; users get no permitted_user_ids.
    let lead = json!({"id": "adf21080-0e10-11eb-879b-05d71fb426ec", "title": "L"});
    let lead_event = event("create", "lead", Some(&lead), None, EventMeta::default());
    assert_eq!(lead_event["meta"]["entity_id"], lead["id"]);
    let user = json!({"id": 3, "name": "Ann"});
    let user_event = event("delete", "user", None, Some(&user), EventMeta::default());
    assert!(user_event["meta"].get("permitted_user_ids").is_none());
}

#[test]
fn a_merge_is_a_delete_and_a_change() {
    let loser = deal(9, "Duplicate", 10.0);
    let before = deal(4, "Survivor", 500.0);
    let mut after = before.clone();
    after["value"] = json!(510.0);
    let meta = EventMeta {
        attempt: 2,
        ..EventMeta::numbered(11)
    };
    let [delete, change] = merge("deal", &loser, &before, &after, meta.clone());
    assert_eq!(delete["meta"]["action"], "delete");
    assert_eq!(delete["meta"]["entity_id"], "9");
    assert_eq!(delete["meta"]["merged_to_id"], "4");
    assert!(delete["meta"].get("merged_from_id").is_none());
    assert_eq!(delete["data"], Value::Null);
    assert_eq!(delete["previous"], loser);
    assert_eq!(change["meta"]["action"], "change");
    assert_eq!(change["meta"]["entity_id"], "4");
    assert_eq!(change["meta"]["merged_from_id"], "9");
    assert!(change["meta"].get("merged_to_id").is_none());
    assert_eq!(change["data"], after);
    assert_eq!(change["previous"], json!({"value": 500.0}));
    assert_eq!(delete["meta"]["id"], meta.id.as_str());
    assert_ne!(change["meta"]["id"], delete["meta"]["id"]);
    assert_eq!(
        change["meta"]["correlation_id"],
        delete["meta"]["correlation_id"]
    );
    assert_eq!(change["meta"]["attempt"], 2);
}

#[test]
#[should_panic(expected = "a \"create\" event takes")]
fn a_create_needs_the_current_state() {
    event("create", "deal", None, None, EventMeta::default());
}

#[test]
#[should_panic(expected = "no entity")]
fn unknown_entities_are_refused() {
    event(
        "create",
        "deals",
        Some(&json!({"id": 1})),
        None,
        EventMeta::default(),
    );
}

#[test]
fn deliver_posts_json_with_basic_auth() {
    let (url, requests) = receiver(vec![(200, Duration::ZERO), (202, Duration::ZERO)]);
    let payload = event(
        "create",
        "deal",
        Some(&deal(1, "Ä ✓", 1.0)),
        None,
        EventMeta::default(),
    );
    let delivery = deliver(&url, "user", "pass", &payload, Duration::from_secs(5));
    assert_eq!(delivery.status, Some(200));
    assert!(delivery.succeeded());
    assert_eq!(delivery.body, "{\"status\":200}");
    let got = requests.recv().unwrap();
    assert!(
        got.head.starts_with("POST /hook?tenant=7 HTTP/1.1\r\n"),
        "{}",
        got.head
    );
    assert_eq!(got.header("authorization"), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("user-agent"), Some(USER_AGENT));
    assert!(got.header("host").unwrap().starts_with("127.0.0.1:"));
    assert_eq!(got.json(), payload);

    // A webhook without credentials sends no Authorization header.
    let delivery = deliver(&url, "", "", &payload, Duration::from_secs(5));
    assert_eq!(delivery.status, Some(202));
    assert_eq!(requests.recv().unwrap().header("authorization"), None);
}

#[test]
fn raw_deliveries_send_any_bytes() {
    let (url, requests) = receiver(vec![(400, Duration::ZERO), (200, Duration::ZERO)]);
    let malformed = b"{\"meta\": {\"action\": \"create\"";
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", "Basic d3Jvbmc6Y3JlZHM="),
    ];
    let delivery = deliver_raw(&url, &headers, malformed, Duration::from_secs(5));
    assert_eq!(delivery.status, Some(400));
    assert!(!delivery.succeeded());
    let got = requests.recv().unwrap();
    assert_eq!(got.body, malformed);
    assert_eq!(got.header("authorization"), Some("Basic d3Jvbmc6Y3JlZHM="));
    assert_eq!(got.header("user-agent"), None);

    let big = vec![b'x'; 2 << 20];
    let delivery = deliver_raw(
        &url,
        &[("Content-Type", "application/json")],
        &big,
        Duration::from_secs(10),
    );
    assert_eq!(delivery.status, Some(200));
    assert_eq!(requests.recv().unwrap().body.len(), 2 << 20);
}

#[test]
fn no_answer_in_time_is_no_status() {
    // An answer far later than the timeout, so giving up at the timeout shows even on a loaded
    // machine.
    let (url, _requests) = receiver(vec![(200, Duration::from_secs(10))]);
    let timeout = Duration::from_millis(150);
    let delivery = deliver(&url, "u", "p", &json!({}), timeout);
    assert_eq!(delivery.status, None);
    assert!(!delivery.succeeded());
    assert!(delivery.latency >= timeout && delivery.latency < Duration::from_secs(5));

    // Nobody listening: the discard port, which no test binds (a port picked and released could
    // be taken by another process before the delivery).
    let refused = deliver("http://127.0.0.1:9/", "u", "p", &json!({}), timeout);
    assert_eq!(refused.status, None);
    assert_eq!(refused.body, "");
}

#[test]
fn retries_follow_the_schedule_with_attempt_numbers() {
    let payload = event(
        "create",
        "person",
        Some(&json!({"id": 3})),
        None,
        EventMeta::default(),
    );
    let fast = Duration::ZERO;
    let (url, requests) = receiver(vec![(500, fast), (503, fast), (204, fast)]);
    // Scaled by 0.05: 500 ms to answer (so a loaded machine's fast answers count), waits of 150
    // ms and 1.5 s (3 and 30 s scaled).
    let started = Instant::now();
    let attempts = deliver_with_retries(&url, "u", "p", &payload, 0.05);
    let statuses: Vec<Option<u16>> = attempts.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(204)]);
    assert!(started.elapsed() >= Duration::from_millis(1650));
    let sent: Vec<Value> = requests.iter().take(3).map(|r| r.json()).collect();
    let numbers: Vec<&Value> = sent.iter().map(|p| &p["meta"]["attempt"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(2), &json!(3)]);
    assert!(sent
        .iter()
        .all(|p| p["meta"]["id"] == payload["meta"]["id"]));

    // A slow first answer counts as a failure; after four failures Pipedrive gives up.
    let slow = Duration::from_secs(3);
    let (url, requests) = receiver(vec![(200, slow), (500, fast), (404, fast), (302, fast)]);
    let attempts = deliver_with_retries(&url, "u", "p", &payload, 0.05);
    let statuses: Vec<Option<u16>> = attempts.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [None, Some(500), Some(404), Some(302)]);
    let numbers: Vec<Value> = requests
        .iter()
        .take(4)
        .map(|r| r.json()["meta"]["attempt"].clone())
        .collect();
    assert_eq!(numbers, [json!(1), json!(2), json!(3), json!(4)]);
}

#[test]
fn schedule_encoding_and_urls() {
    let delays: Vec<Option<Duration>> = (0..=4).map(retry_delay).collect();
    assert_eq!(
        delays,
        [
            None,
            Some(Duration::from_secs(3)),
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(150)),
            None
        ]
    );
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64("ü:p?>".as_bytes()), "w7w6cD8+");
    let url = parse_url("HTTPS://[::1]:8443").unwrap();
    assert_eq!((url.host, url.port, url.target), ("::1", 8443, "/"));
    let url = parse_url("http://hooks.example.com/in?x=1#frag").unwrap();
    assert_eq!(
        (url.host, url.port, url.target),
        ("hooks.example.com", 80, "/in?x=1")
    );
    for bad in [
        "hooks.example.com/in",
        "ws://x/",
        "http:///in",
        "http://x:99999/",
        "http://a b/",
        "http://u:p@x/",
    ] {
        assert!(parse_url(bad).is_none(), "{bad}");
    }
    assert_eq!(dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"), b"abcde");
}
