//! STATE in full refresh, as Airbyte's acceptance tests ask: every stream ends with the CDK's
//! sentinel (`__ab_full_refresh_sync_complete` where a full refresh can resume,
//! `__ab_no_cursor_state_message` where it cannot), resumable streams checkpoint every page,
//! and a full refresh cut after a checkpoint and given it back loses nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use source_pipedrive::protocol::airbyte::Message;
use source_pipedrive::streams::{self, time};

use crate::util::{all_streams, run, Run, World, START};

const COMPLETE: &str = "__ab_full_refresh_sync_complete";
const NO_CURSOR: &str = "__ab_no_cursor_state_message";
/// The key of a full refresh's page checkpoints.
const FULL_REFRESH_FROM: &str = "full_refresh_from";

/// Each stream's STATEs (their `stream_state`), in order, with the index of their message.
fn states(run: &Run) -> BTreeMap<String, Vec<(usize, Value)>> {
    let mut by_stream: BTreeMap<String, Vec<(usize, Value)>> = BTreeMap::new();
    for (k, m) in run.messages.iter().enumerate() {
        if let Message::State { state } = m {
            let v = serde_json::to_value(state).unwrap();
            by_stream
                .entry(state.stream_name().unwrap().to_string())
                .or_default()
                .push((k, v["stream"]["stream_state"].clone()));
        }
    }
    by_stream
}

#[test]
fn a_full_refresh_writes_state_for_every_stream_ending_in_a_sentinel() {
    let world = World::new(600);
    let all = all_streams();
    let read = world.read(START, &all, "full_refresh", None);
    read.assert_ok();
    let states = states(&read);
    let config = world.config(START);
    let discovered = run(&["discover", "--config", config.to_str().unwrap()]);
    discovered.assert_ok();
    let Some(Message::Catalog { catalog }) = discovered.messages.first() else {
        panic!("no catalog");
    };
    let resumable: BTreeMap<&str, bool> = catalog
        .streams
        .iter()
        .map(|s| (s.name.as_str(), s.is_resumable == Some(true)))
        .collect();
    let mut checkpointed = 0;
    for name in &all {
        let def = streams::find(name).unwrap();
        let list = states
            .get(*name)
            .unwrap_or_else(|| panic!("{name}: no STATE in a full refresh"));
        let (_, last) = list.last().unwrap();
        let sentinel = if def.resumable_full_refresh() {
            COMPLETE
        } else {
            NO_CURSOR
        };
        assert_eq!(last[sentinel], true, "{name}: last STATE {last}");
        assert_eq!(
            resumable[name],
            def.resumable_full_refresh(),
            "{name}: discover's is_resumable"
        );
        for (_, s) in &list[..list.len() - 1] {
            assert!(def.resumable_full_refresh(), "{name}: a checkpoint {s}");
            // Under its own key: an incremental sync given it must not take it for its cursor.
            assert!(
                time::of(s, FULL_REFRESH_FROM).is_some(),
                "{name}: checkpoint {s}"
            );
            assert!(
                def.cursor.is_some_and(|c| s.get(c).is_none()),
                "{name}: {s}"
            );
            checkpointed += 1;
        }
    }
    assert!(checkpointed >= 5, "only {checkpointed} per-page STATEs");
    assert_eq!(
        resumable.values().filter(|r| **r).count(),
        all.iter()
            .filter(|n| streams::find(n).unwrap().resumable_full_refresh())
            .count()
    );
}

#[test]
fn a_full_refresh_cut_after_a_checkpoint_resumes_without_loss() {
    let world = World::new(1_234);
    let under_test = ["deals", "notes", "products"];
    let full = world.read(START, &under_test, "full_refresh", None);
    full.assert_ok();
    let mut cuts = 0;
    for (stream, list) in states(&full) {
        let def = streams::find(&stream).unwrap();
        let cursor = def.cursor.unwrap();
        let complete: BTreeSet<String> = full.ids(&stream).into_iter().collect();
        let whole = world.expected_records(&stream, START);
        world.assert_exactly(&full, &stream, &whole);
        for (k, state) in list {
            let at = time::of(&state, FULL_REFRESH_FROM);
            // What a destination holds if the sync died right after message k.
            let before: BTreeSet<String> = full.messages[..k]
                .iter()
                .filter_map(|m| match m {
                    Message::Record { record } if record.stream == stream => {
                        Some(def.key_of(&record.data))
                    }
                    _ => None,
                })
                .collect();
            let entry = serde_json::json!([{"type": "STREAM", "stream": {
                "stream_descriptor": {"name": stream}, "stream_state": state}}]);
            let file = world.file("cut.json", &entry.to_string());
            let resumed = world.read(START, &[&stream], "full_refresh", Some(&file));
            resumed.assert_ok();
            world.assert_whole(&stream, &whole, &resumed.records(&stream));
            let after: BTreeSet<String> = resumed.ids(&stream).into_iter().collect();
            match at {
                // A checkpoint: the rest from its second on, nothing before it again.
                Some(at) => {
                    let union: BTreeSet<String> = before.union(&after).cloned().collect();
                    assert_eq!(
                        union, complete,
                        "{stream}: cut after message {k} loses records"
                    );
                    for r in resumed.records(&stream) {
                        let t = time::of(r, cursor).unwrap();
                        assert!(
                            t >= at,
                            "{stream}: {t} read again before the checkpoint {at}"
                        );
                    }
                    assert!(after.len() < complete.len(), "{stream}: started over");
                    cuts += 1;
                }
                // The sentinel: a new full refresh from start_date.
                None => {
                    assert_eq!(state[COMPLETE], true);
                    assert_eq!(after, complete, "{stream}: after the sentinel");
                }
            }
            let last = states(&resumed)[&stream].last().unwrap().1.clone();
            assert_eq!(last[COMPLETE], true, "{stream}");
        }
    }
    assert!(cuts >= 6, "only {cuts} checkpoints");
}
