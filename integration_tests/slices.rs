//! A long v2 list read in time slices side by side (the engine's `slices`), on a sandbox that
//! answers as slowly as Pipedrive and lets many requests through: every record comes once and
//! whole, a sync cut after any of its checkpoints resumes without loss, and the slices really
//! ran (the summary says so, and the requests show their update-time ranges).

use std::collections::BTreeMap;
use std::time::Duration;

use pipedrive_sandbox::{Latency, SandboxOptions};

use crate::read::every_checkpoint_resumes_without_loss;
use crate::util::{World, START};

/// 1,500 records per resource served 100 a page: 15 pages to a v2 list, each taking 20 ms, with
/// room in the burst window for far more requests than one chain sends.
fn slow_world() -> World {
    World::with(SandboxOptions {
        size: 1_500,
        v2_page_cap: Some(100),
        latency: Latency::of(Duration::from_millis(20)),
        burst_limit: 100_000,
        ..SandboxOptions::default()
    })
}

const LONG_LISTS: [&str; 3] = ["persons", "activities", "organizations"];

/// How many slices the summary says `stream` was read in (1: not cut).
fn slices(logs: &[String], stream: &str) -> usize {
    let summary = format!("summary {stream}: complete");
    let line = logs
        .iter()
        .find(|l| l.contains(&summary))
        .unwrap_or_else(|| panic!("no summary of {stream}"));
    line.split(", read in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map_or(1, |n| n.parse().unwrap())
}

#[test]
fn a_long_list_read_in_slices_gives_every_record_once() {
    let world = slow_world();
    for mode in ["full_refresh", "incremental"] {
        let run = world.read(START, &LONG_LISTS, mode, None);
        run.assert_ok();
        let logs = run.logs();
        for stream in LONG_LISTS {
            let expected = if mode == "incremental" {
                world.expected_first_sync_records(stream, START)
            } else {
                world.expected_records(stream, START)
            };
            // Exactly these keys, each once, each record whole.
            world.assert_exactly(&run, stream, &expected);
            let n = slices(&logs, stream);
            assert!(n >= 2, "{mode}: {stream} was read in one chain:\n{logs:#?}");
        }
    }
    // The slices' requests: update-time ranges of their own, each closed by `updated_until`.
    let mut ranges: BTreeMap<String, usize> = BTreeMap::new();
    for r in world.sandbox.requests() {
        let param = |k: &str| r.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if r.path == "/api/v2/persons" && param("updated_until").is_some() {
            *ranges
                .entry(param("updated_since").unwrap_or_default())
                .or_default() += 1;
        }
    }
    assert!(ranges.len() >= 3, "{ranges:?}");
}

#[test]
fn a_sync_read_in_slices_cut_after_any_checkpoint_resumes_without_loss() {
    let world = slow_world();
    every_checkpoint_resumes_without_loss(&world, &["persons"]);
}
