//! The user's token caps against the sandbox, which charges each request its token cost and
//! reports the company's daily budget in `x-daily-ratelimit-token-*` headers: a sync stops at
//! `max_tokens_per_sync` and at `daily_budget_reserve_percent` with no request past the limit,
//! ends with one TRACE `transient_error` and exit 3, leaves no final state for a stream it cut
//! short, and the next sync completes the set without losing a record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use pipedrive_sandbox::SandboxOptions;
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::{Message, StreamStatusKind, Trace};
use source_pipedrive::streams::{self, time};

use crate::util::{catalog, Run, World, START};

/// The dearest request of the streams these tests read (a v1 page: 20 tokens).
const DEAREST: u64 = 20;
/// `max_concurrent_streams` by default: at most this many requests in flight at once.
const WORKERS: u64 = 3;

fn config(world: &World, caps: Value) -> PathBuf {
    let mut config =
        json!({"api_key": world.key(), "start_date": START, "base_url": world.sandbox.base_url()});
    config
        .as_object_mut()
        .unwrap()
        .extend(caps.as_object().unwrap().clone());
    world.config_with(config)
}

/// Tokens the sandbox charged, and requests it was sent, from its log.
fn charged(world: &World) -> (u64, usize) {
    let log = world.sandbox.requests();
    (log.iter().map(|r| r.token_cost).sum(), log.len())
}

/// Each stream's last STREAM_STATUS.
fn last_status(run: &Run) -> BTreeMap<String, StreamStatusKind> {
    let mut last = BTreeMap::new();
    for m in &run.messages {
        if let Message::Trace {
            trace: Trace::StreamStatus { stream_status, .. },
        } = m
        {
            last.insert(
                stream_status.stream_descriptor.name.clone(),
                stream_status.status,
            );
        }
    }
    last
}

/// Each stream's STATEs (`stream_state`), in order.
fn states(run: &Run) -> BTreeMap<String, Vec<Value>> {
    let mut by_stream: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in &run.messages {
        if let Message::State { state } = m {
            let v = serde_json::to_value(state).unwrap();
            by_stream
                .entry(state.stream_name().unwrap().to_string())
                .or_default()
                .push(v["stream"]["stream_state"].clone());
        }
    }
    by_stream
}

/// A figure of the summary LOG line starting with `prefix`: the number before `unit`.
fn summary_figure(run: &Run, prefix: &str, unit: &str) -> u64 {
    let line = run
        .logs()
        .into_iter()
        .find(|l| l.contains(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line: {:#?}", run.logs()));
    let before = line.split(unit).next().unwrap();
    let number = before
        .rsplit([' ', '~'])
        .next()
        .unwrap_or_else(|| panic!("{line}"));
    number.parse().unwrap_or_else(|_| panic!("{line}"))
}

/// The one TRACE a stopped sync ends with: transient, for the whole sync, naming the limit.
fn assert_stopped_by(run: &Run, setting: &str) {
    assert_eq!(run.status, 3, "exit 3, try later: {:#?}", run.logs());
    let errors = run.trace_errors();
    assert_eq!(errors.len(), 1, "one TRACE error: {errors:#?}");
    let (stream, failure, message) = &errors[0];
    assert_eq!(stream, &None, "about the sync, not a stream");
    assert_eq!(failure, "transient_error");
    for part in [setting, "was not sent", "stopped part-way", "resumes"] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert!(
        matches!(
            run.messages.last(),
            Some(Message::Trace {
                trace: Trace::Error { .. }
            })
        ),
        "the TRACE ends the output"
    );
}

fn union(a: &Run, b: &Run, stream: &str) -> BTreeSet<String> {
    a.ids(stream).into_iter().chain(b.ids(stream)).collect()
}

#[test]
fn max_tokens_per_sync_stops_the_sync_and_the_next_one_completes_it() {
    let world = World::new(1_300);
    let streams = ["deals", "deal_products", "persons", "notes"];
    let cap = 150;
    let capped = config(&world, json!({"max_tokens_per_sync": cap}));
    let first = world.read_with(&capped, Some(&catalog(&streams, "incremental")), None);
    assert_stopped_by(&first, "max_tokens_per_sync");

    let (spent, sent) = charged(&world);
    assert!(
        spent <= cap,
        "no request past the cap: {spent} tokens charged"
    );
    assert!(
        spent + DEAREST > cap,
        "it stopped only when the next request would cross the cap: {spent}"
    );
    assert!(
        !world.sandbox.requests().iter().any(|r| r.status == 429),
        "the daily budget never ran out"
    );
    // The summary's figures are the sandbox's.
    assert_eq!(summary_figure(&first, "summary tokens: ", " spent"), spent);
    assert_eq!(
        summary_figure(&first, "summary total: ", " requests") as usize,
        sent
    );
    assert_eq!(
        summary_figure(&first, "summary tokens: ", " left of max_tokens_per_sync"),
        cap - spent
    );

    let status = last_status(&first);
    let stopped: Vec<&String> = status
        .iter()
        .filter(|(_, s)| **s == StreamStatusKind::Incomplete)
        .map(|(n, _)| n)
        .collect();
    assert!(!stopped.is_empty(), "{status:?}");
    let final_cursors = states(&first);
    for name in &stopped {
        // An incremental stream cut short keeps its page checkpoints, never the sync's end.
        let def = streams::find(name).unwrap();
        for s in final_cursors.get(*name).into_iter().flatten() {
            assert!(
                def.cursor.is_some_and(|c| time::of(s, c).is_some()),
                "{name}: {s}"
            );
        }
    }

    // The next sync, from the last STATEs and without the cap, completes the set.
    let state = world.file("state.json", &first.state_file());
    let free = config(&world, json!({}));
    let second = world.read_with(&free, Some(&catalog(&streams, "incremental")), Some(&state));
    second.assert_ok();
    for stream in streams {
        let want: BTreeSet<String> = world
            .expected_incremental_ids(stream, START)
            .into_iter()
            .collect();
        assert_eq!(union(&first, &second, stream), want, "{stream}");
    }
}

#[test]
fn the_daily_reserve_stops_the_sync_and_a_stopped_full_refresh_never_looks_complete() {
    let budget = 1_000;
    let world = World::with(SandboxOptions {
        size: 1_300,
        daily_token_budget: Some(budget),
        ..SandboxOptions::default()
    });
    // deals and persons resume from a page checkpoint; files (read whole, in id order) cannot.
    let streams = ["deals", "persons", "files", "notes"];
    let reserve_percent = 70;
    let reserve = budget * reserve_percent / 100;
    let capped = config(
        &world,
        json!({"daily_budget_reserve_percent": reserve_percent}),
    );
    let full = catalog(&streams, "full_refresh");
    let first = world.read_with(&capped, Some(&full), None);
    assert_stopped_by(&first, "daily_budget_reserve_percent");

    let (spent, _) = charged(&world);
    let left = budget - spent;
    assert!(
        left >= reserve,
        "no request took the daily budget under the reserve: {left} left"
    );
    // The daily figure comes with answers, while the other workers' requests are in flight:
    // the connector counts those off what Pipedrive reported, though Pipedrive may have charged
    // some already, so it may stop up to one request per worker early, never late.
    assert!(
        left < reserve + DEAREST * WORKERS,
        "it stopped only when the next request of some worker would: {left} left"
    );
    assert!(!world.sandbox.requests().iter().any(|r| r.status == 429));
    assert_eq!(
        summary_figure(&first, "summary tokens: ", " of the company's"),
        left,
        "the summary says what Pipedrive reported left"
    );

    let status = last_status(&first);
    let states = states(&first);
    let mut stopped = Vec::new();
    for stream in streams {
        let def = streams::find(stream).unwrap();
        let sentinel = if def.resumable_full_refresh() {
            "__ab_full_refresh_sync_complete"
        } else {
            "__ab_no_cursor_state_message"
        };
        let list = states.get(stream).cloned().unwrap_or_default();
        let ended = list.last().is_some_and(|s| s[sentinel] == true);
        match status.get(stream) {
            Some(StreamStatusKind::Complete) => assert!(ended, "{stream}: {list:?}"),
            Some(StreamStatusKind::Incomplete) => {
                stopped.push(stream);
                assert!(!ended, "{stream} was cut short: {list:?}");
                // Only page checkpoints, under their own key.
                assert!(
                    list.iter()
                        .all(|s| time::of(s, "full_refresh_from").is_some()),
                    "{stream}: {list:?}"
                );
            }
            other => assert!(
                other.is_none() && list.is_empty(),
                "{stream}: {other:?} {list:?}"
            ),
        }
    }
    assert!(!stopped.is_empty(), "{status:?}");

    // A new day: the next full refresh, given the last STATEs, completes the set. A stopped
    // stream with a checkpoint resumes from it instead of starting over.
    world.sandbox.set_daily_token_budget(None);
    let state = world.file("state.json", &first.state_file());
    let second = world.read_with(&capped, Some(&full), Some(&state));
    second.assert_ok();
    for stream in streams {
        let want: BTreeSet<String> = world.expected_ids(stream, START).into_iter().collect();
        assert_eq!(union(&first, &second, stream), want, "{stream}");
    }
    for stream in stopped {
        let Some(from) = states
            .get(stream)
            .and_then(|l| l.last())
            .and_then(|s| time::of(s, "full_refresh_from"))
        else {
            continue;
        };
        let cursor = streams::find(stream).unwrap().cursor.unwrap();
        assert!(
            second
                .records(stream)
                .iter()
                .all(|r| time::of(r, cursor).unwrap() >= from),
            "{stream} resumed from its checkpoint {from}"
        );
    }
}
