//! A sync cut short by SIGKILL at arbitrary points and resumed from the last STATE it wrote loses
//! no record; a reader that goes away ends the process quietly.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use source_pipedrive::protocol::airbyte::Message;
use source_pipedrive::streams;

use crate::util::{catalog, World, START};

/// What a destination holds after a run: the records each stream sent before its last STATE,
/// and that STATE.
#[derive(Default)]
struct Committed {
    records: BTreeMap<String, BTreeSet<String>>,
    /// Every record committed, whole, per stream.
    bodies: BTreeMap<String, Vec<serde_json::Value>>,
    states: BTreeMap<String, serde_json::Value>,
}

impl Committed {
    fn take(&mut self, lines: &[String]) {
        let mut pending: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for line in lines {
            match serde_json::from_str::<Message>(line).expect("a protocol message") {
                Message::Record { record } => {
                    pending.entry(record.stream).or_default().push(record.data);
                }
                Message::State { state } => {
                    let name = state.stream_name().unwrap().to_string();
                    let records = pending.remove(&name).unwrap_or_default();
                    let def = streams::find(&name).unwrap();
                    let keys = records.iter().map(|r| def.key_of(r));
                    self.records.entry(name.clone()).or_default().extend(keys);
                    self.bodies.entry(name.clone()).or_default().extend(records);
                    self.states
                        .insert(name, serde_json::to_value(&state).unwrap());
                }
                _ => {}
            }
        }
    }

    fn state_file(&self) -> String {
        serde_json::to_string(&self.states.values().collect::<Vec<_>>()).unwrap()
    }
}

/// Runs `read`, killing it with SIGKILL once `kill_after` lines have been read (never, if None).
fn run_until(args: &[&str], kill_after: Option<usize>) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if !line.ends_with('\n') {
            break;
        }
        lines.push(line.trim_end().to_string());
        line.clear();
        if Some(lines.len()) == kill_after {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    lines
}

#[test]
fn killed_at_arbitrary_points_and_resumed_loses_nothing() {
    let world = World::new(1_100);
    let selected = [
        "deals",
        "persons",
        "notes",
        "leads",
        "files",
        "deal_products",
    ];
    let cat = world.file("catalog.json", &catalog(&selected, "incremental"));
    let config = world.config(START);
    let full = run_until(
        &[
            "read",
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
        ],
        None,
    );
    let total = full.len();
    let whole: BTreeMap<&str, Vec<(String, serde_json::Value)>> = selected
        .iter()
        .map(|s| (*s, world.expected_incremental_records(s, START)))
        .collect();
    for seed in 1u64..=4 {
        let mut committed = Committed::default();
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Two kills at pseudo-random points, then a run to the end.
        for round in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let kill_after = (round < 2).then(|| 1 + (x % total as u64) as usize);
            let state = world.file("state.json", &committed.state_file());
            let lines = run_until(
                &[
                    "read",
                    "--config",
                    config.to_str().unwrap(),
                    "--catalog",
                    cat.to_str().unwrap(),
                    "--state",
                    state.to_str().unwrap(),
                ],
                kill_after,
            );
            committed.take(&lines);
        }
        for stream in selected {
            let expected: BTreeSet<String> = world
                .expected_incremental_ids(stream, START)
                .into_iter()
                .collect();
            let got = committed.records.get(stream).cloned().unwrap_or_default();
            assert_eq!(got, expected, "seed {seed}: {stream} lost records");
            let bodies = committed.bodies.get(stream).cloned().unwrap_or_default();
            world.assert_whole(stream, &whole[stream], &bodies.iter().collect::<Vec<_>>());
        }
    }
}

#[test]
fn a_closed_stdout_ends_the_process_quietly() {
    let world = World::new(2_000);
    let config = world.config(START);
    let mut child = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args(["read", "--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    drop(out);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        world.sandbox.requests().len() < 40,
        "it stopped soon after the reader left"
    );
}
