//! Property-based fuzzing of a delivery's whole handling, from the bytes a connection gives to
//! the records written: arbitrary bytes, well-formed deliveries with arbitrary payloads, and
//! deliveries with random edits, each split into arbitrary reads. Whatever comes, nothing
//! panics, not a byte past the limits is read, exactly one answer is written, nothing is
//! written without the right credentials, and the answer does not depend on how the bytes
//! were split. `fuzz_for_a_while` (ignored; `FUZZ_SECONDS`, default 180) runs it for minutes.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

use super::request::tests::{request, Scripted, AUTH};
use super::request::{exchange, Ending, MAX_BODY, MAX_HEAD};
use super::{deliver, Hooks, Recent};
use crate::output::Output;
use crate::progress::{Listening, Mode};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn hooks(sink: &Sink) -> Mutex<Hooks> {
    Mutex::new(Hooks {
        out: Output::new(Box::new(sink.clone())),
        selected: ["deals", "persons", "leads"].into_iter().collect(),
        shapers: Default::default(),
        seen: Recent::new(),
        last: Recent::new(),
        board: Listening::start(Mode::Never, "fuzz", Duration::from_secs(60)),
    })
}

/// Strings a sender might choose: short, long, odd characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{0,40}",
        any::<String>(),
        (0usize..400).prop_map(|n| "x".repeat(n)),
    ]
}

/// A webhooks v2 payload with arbitrary parts.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let action = prop_oneof![
        Just("create".to_string()),
        Just("change".to_string()),
        Just("delete".to_string()),
        text()
    ];
    let entity = prop_oneof![
        Just("deal".to_string()),
        Just("person".to_string()),
        Just("lead".to_string()),
        Just("product".to_string()),
        text()
    ];
    let id = prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        text().prop_map(|s| json!(s)),
        Just(json!(null)),
    ];
    let time = prop_oneof![
        Just(json!("2026-06-01T10:00:00Z")),
        Just(json!("2026-06-01 10:00:00")),
        text().prop_map(|s| json!(s)),
    ];
    (action, entity, id.clone(), id, time.clone(), time, any::<bool>()).prop_map(
        |(action, entity, event_id, record_id, at, updated, archived)| {
            let record = json!({"id": record_id, "update_time": updated, "is_archived": archived, "title": "t"});
            json!({
                "meta": {"id": event_id, "action": action, "entity": entity, "timestamp": at},
                "data": record, "previous": record,
            })
            .to_string()
            .into_bytes()
        },
    )
}

/// Random edits of a request: a byte replaced, inserted or removed at a place.
fn edited(bytes: Vec<u8>, edits: Vec<(usize, u8, u8)>) -> Vec<u8> {
    let mut bytes = bytes;
    for (at, kind, b) in edits {
        let at = at % (bytes.len() + 1);
        match kind % 3 {
            0 if at < bytes.len() => bytes[at] = b,
            1 => bytes.insert(at, b),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {}
        }
    }
    bytes
}

/// The bytes a connection gives, and the sizes of the reads that give them.
fn input() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4096),
        payload().prop_map(|body| request(AUTH, &body)),
        (
            payload(),
            proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
        )
            .prop_map(|(body, edits)| edited(request(AUTH, &body), edits)),
        (payload(), text()).prop_map(|(body, auth)| request(&auth, &body)),
        // A head that never ends.
        (1usize..3 * MAX_HEAD)
            .prop_map(|n| [b"POST / HTTP/1.1\r\nX: ".to_vec(), vec![b'a'; n]].concat()),
        // A body at the cap, just under or just over it, and whatever comes after.
        (
            payload(),
            0usize..2048,
            proptest::collection::vec(any::<u8>(), 0..600)
        )
            .prop_map(|(body, around, after)| {
                let len = MAX_BODY - 1024 + around;
                let mut body = body;
                body.resize(len.max(body.len()), b' ');
                [request(AUTH, &body), after].concat()
            }),
    ];
    (bytes, proptest::collection::vec(1usize..600, 1..40))
}

fn split(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = (at + size).min(bytes.len());
        chunks.push(bytes[at..end].to_vec());
        at = end;
    }
    chunks
}

/// One exchange over `chunks`: how it ended, what was answered, how many bytes were read, and
/// what reached stdout.
fn handle(chunks: Vec<Vec<u8>>) -> (Ending, Vec<u8>, usize, Vec<u8>) {
    let total: usize = chunks.iter().map(Vec::len).sum();
    let sink = Sink::default();
    let hooks = hooks(&sink);
    let mut conn = Scripted::new(chunks);
    let ending = exchange(
        &mut conn,
        Instant::now() + Duration::from_secs(3600),
        AUTH.as_bytes(),
        &mut || true,
        &mut |body| deliver(&hooks, body),
    );
    let read = total - conn.reads.iter().map(Vec::len).sum::<usize>();
    let stdout = sink.0.lock().unwrap().clone();
    (ending, conn.written, read, stdout)
}

fn check((bytes, sizes): (Vec<u8>, Vec<usize>)) -> Result<(), TestCaseError> {
    let (ending, written, read, stdout) = handle(split(&bytes, &sizes));
    let answers = written
        .windows(9)
        .filter(|w| *w == b"HTTP/1.1 ".as_slice())
        .count();
    let continues = written
        .windows(12)
        .filter(|w| *w == b"HTTP/1.1 100".as_slice())
        .count();
    match &ending {
        Ending::Gone => prop_assert_eq!(answers - continues, 0),
        Ending::Delivered(_) | Ending::Refused { .. } => {
            prop_assert_eq!(answers - continues, 1, "{:?}", ending)
        }
    }
    if let Ending::Delivered(status) = ending {
        prop_assert!(matches!(status, 200 | 400), "{}", status);
        // Not a byte of body past the cap, whatever the head said.
        let head = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(MAX_HEAD, |at| at + 4);
        prop_assert!(
            read <= head + MAX_BODY,
            "{} bytes read, a head of {}",
            read,
            head
        );
    } else {
        prop_assert!(read <= MAX_HEAD, "{} bytes read without a delivery", read);
    }
    let authorized = bytes.windows(AUTH.len()).any(|w| w == AUTH.as_bytes());
    let records = String::from_utf8_lossy(&stdout)
        .matches(r#""type":"RECORD""#)
        .count();
    if !authorized || !matches!(ending, Ending::Delivered(200)) {
        prop_assert_eq!(records, 0, "nothing written without an accepted delivery");
    }
    // The same bytes in one read get the same answer.
    let (whole, ..) = handle(vec![bytes]);
    let status = |e: &Ending| match e {
        Ending::Delivered(s) | Ending::Refused { status: s, .. } => Some(*s),
        Ending::Gone => None,
    };
    prop_assert_eq!(status(&whole), status(&ending));
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn any_bytes_are_handled_within_the_rules() {
    runner(600).run(&input(), check).unwrap();
}

/// `FUZZ_SECONDS=600 cargo test --lib fuzz_for_a_while -- --ignored --nocapture`
#[test]
#[ignore = "minutes long: run on demand"]
fn fuzz_for_a_while() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut executions, mut rounds) = (0u64, 0u64);
    while Instant::now() < until {
        // A fresh runner per round: a new random seed.
        runner(1000).run(&input(), check).unwrap();
        executions += 1000;
        rounds += 1;
    }
    println!(
        "fuzz: {executions} executions in {rounds} rounds of fresh seeds, {seconds} s, no failure"
    );
}
