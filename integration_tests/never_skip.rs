//! The CRM changes under a sync, and no record is skipped: records edited, deleted or gone
//! between two requests of a sync (through the sandbox's `on_request` hook), pages smaller
//! than asked for, milliseconds finer than the server's filter, a parent that vanishes, a
//! parent list the user may not read, a cursor that comes back, a state entry without a type.
//! Each test names the defect of issue 13 (or the list-ending rule of issue 14) it guards.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pipedrive_sandbox::{Faults, Resource, SandboxOptions};
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::{LogLevel, Message, StreamStatusKind};
use source_pipedrive::streams::{self, time, STREAMS};

use crate::util::{all_streams, id_of, Run, World, START};

fn set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

fn warnings(run: &Run) -> Vec<String> {
    run.messages
        .iter()
        .filter_map(|m| match m {
            Message::Log { log } if log.level == LogLevel::Warn => Some(log.message.clone()),
            _ => None,
        })
        .collect()
}

fn complete(run: &Run, stream: &str) {
    assert_eq!(
        run.statuses(stream).last(),
        Some(&StreamStatusKind::Complete),
        "{stream}: {:#?}",
        run.logs()
    );
    assert!(
        !warnings(run)
            .iter()
            .any(|w| w.contains(&format!("stream {stream} skipped"))),
        "{stream}: {:#?}",
        run.logs()
    );
}

/// A sandbox whose v1 lists serve `cap` records a page, whatever the connector asks.
fn capped(size: u64, cap: u64) -> World {
    World::with(SandboxOptions {
        size,
        page_cap: Some(cap),
        ..SandboxOptions::default()
    })
}

/// A change to the CRM made with a page the sandbox just served.
type Change = fn(&pipedrive_sandbox::World, &Value);

/// Makes each change once, with the n-th page (counted from 1) its path serves. Gives the
/// number of changes made so far: a test asserts that its changes happened.
fn on_page(world: &World, pages: Vec<(&'static str, usize, Change)>) -> Arc<AtomicUsize> {
    let served: Arc<Vec<AtomicUsize>> =
        Arc::new(pages.iter().map(|_| AtomicUsize::new(0)).collect());
    let made = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&made);
    world.sandbox.on_request(move |w, s| {
        for (k, (path, nth, change)) in pages.iter().enumerate() {
            if s.request.path == *path
                && s.request.status == 200
                && served[k].fetch_add(1, Ordering::SeqCst) + 1 == *nth
            {
                change(w, &serde_json::from_str(s.body).unwrap());
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    made
}

/// A sync, then the next incremental sync from its last STATE (after the clock moved on):
/// what the two emitted together.
fn sync_twice(world: &World, streams: &[&str]) -> (Run, Run) {
    let first = world.read(START, streams, "incremental", None);
    first.assert_ok();
    world.sandbox.still();
    world.sandbox.advance_clock(chrono::Duration::seconds(5));
    let state = world.file("state.json", &first.state_file());
    let second = world.read(START, streams, "incremental", Some(&state));
    second.assert_ok();
    (first, second)
}

/// Defect 1: notes are read with `start` offsets over a list sorted by update time. A note
/// of the first page edited right after that page is served moves to the end; on the old
/// engine every later note shifted one place earlier and the one at the page edge was never
/// read, by this sync nor (its time being before the final STATE) by the next.
#[test]
fn notes_edited_during_a_sync_shift_no_note_past_a_page_edge() {
    let world = capped(60, 5);
    let before = set(world.expected_ids("notes", START));
    let made = on_page(
        &world,
        vec![
            ("/v1/notes", 1, |w, page| {
                w.touch(Resource::Notes, &page["data"][0]["id"]);
            }),
            ("/v1/notes", 3, |w, page| {
                w.touch(Resource::Notes, &page["data"][2]["id"]);
            }),
        ],
    );
    let (first, second) = sync_twice(&world, &["notes"]);
    assert_eq!(made.load(Ordering::SeqCst), 2, "both notes were edited");
    let got: BTreeSet<String> = set(first.ids("notes"))
        .union(&set(second.ids("notes")))
        .cloned()
        .collect();
    let lost: Vec<&String> = before.difference(&got).collect();
    assert!(lost.is_empty(), "notes never emitted: {lost:?}");
    assert_eq!(
        second.ids("notes").len(),
        2,
        "the two edited notes, once more"
    );
}

/// Defect 1, leads: a lead of the first page edited, one of the second deleted.
#[test]
fn leads_edited_or_deleted_during_a_sync_shift_no_lead_past_a_page_edge() {
    let world = capped(60, 5);
    let before = set(world.expected_ids("leads", START));
    let made = on_page(
        &world,
        vec![
            ("/v1/leads", 1, |w, page| {
                w.touch(Resource::Leads, &page["data"][1]["id"]);
            }),
            ("/v1/leads", 2, |w, page| {
                w.delete(Resource::Leads, &page["data"][0]["id"]);
            }),
        ],
    );
    let (first, second) = sync_twice(&world, &["leads"]);
    assert_eq!(made.load(Ordering::SeqCst), 2, "a lead edited, one deleted");
    let deleted = set(world.expected_ids("leads", START));
    assert_eq!(deleted.len() + 1, before.len(), "one lead deleted");
    assert_eq!(
        second.ids("leads").len(),
        1,
        "the edited lead, once more in the next sync"
    );
    let got: BTreeSet<String> = set(first.ids("leads"))
        .union(&set(second.ids("leads")))
        .cloned()
        .collect();
    let lost: Vec<&String> = before
        .iter()
        .filter(|id| deleted.contains(*id) && !got.contains(*id))
        .collect();
    assert!(lost.is_empty(), "leads never emitted: {lost:?}");
}

/// Defect 1, newest-first lists without a server filter: files (100 a page) lose the first
/// file of their first page, archived leads (5 a page here) the last archived lead of theirs,
/// the very record the next page is checked against, so they are read again from the start.
#[test]
fn newest_first_lists_losing_a_record_during_a_sync_skip_no_other() {
    let world = capped(250, 5);
    let before_files = set(world.expected_ids("files", START));
    let before_archived = set(world.expected_ids("archived_leads", START));
    let made = on_page(
        &world,
        vec![
            ("/v1/files", 1, |w, page| {
                w.delete(Resource::Files, &page["data"][0]["id"]);
            }),
            ("/v1/leads/archived", 1, |w, page| {
                let last = page["data"].as_array().unwrap().last().unwrap();
                w.delete(Resource::ArchivedLeads, &last["id"]);
            }),
        ],
    );
    let run = world.read(START, &["files", "archived_leads"], "incremental", None);
    run.assert_ok();
    world.sandbox.still();
    assert_eq!(
        made.load(Ordering::SeqCst),
        2,
        "a file and an archived lead deleted"
    );
    for (stream, before) in [("files", before_files), ("archived_leads", before_archived)] {
        let now = set(world.expected_ids(stream, START));
        assert_eq!(now.len() + 1, before.len(), "{stream}: one record deleted");
        let got = set(run.ids(stream));
        let lost: Vec<&String> = now.difference(&got).collect();
        assert!(lost.is_empty(), "{stream}: never emitted: {lost:?}");
    }
    assert!(
        world
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/leads/archived")
            .count()
            > 25 / 4 + 1,
        "archived leads were read again from the start"
    );
}

/// `/v1/files` has no update-time filter, and its `sort` documents field names with no
/// direction: an incremental sync cannot stop at its cursor on an order the contract does not
/// promise. It reads the list whole, by id (which no edit moves), and filters: the oldest
/// file, edited after a sync, reaches the next one, wherever it sits in the list.
#[test]
fn files_read_whole_by_id_so_an_old_file_edited_reaches_the_next_sync() {
    let world = capped(250, 1000);
    let first = world.read(START, &["files"], "incremental", None);
    first.assert_ok();
    assert_eq!(
        set(first.ids("files")),
        set(world.expected_ids("files", START))
    );
    let oldest = world
        .sandbox
        .dataset()
        .records(Resource::Files)
        .into_iter()
        .min_by_key(|f| f["id"].as_i64())
        .unwrap();
    world.sandbox.touch(Resource::Files, &oldest["id"]);
    // The next window ends at the sync's start by the server's clock, in whole seconds: a
    // file edited within that second belongs to the sync after it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let state = world.file("state.json", &first.state_file());
    let before = world.sandbox.requests().len();
    let second = world.read(START, &["files"], "incremental", Some(&state));
    second.assert_ok();
    assert_eq!(second.ids("files"), vec![id_of(&oldest["id"])]);
    let listed: Vec<_> = world.sandbox.requests()[before..]
        .iter()
        .filter(|r| r.path == "/v1/files")
        .map(|r| r.query.clone())
        .collect();
    let sorted_by =
        |q: &Vec<(String, String)>| q.iter().find(|(k, _)| k == "sort").map(|(_, v)| v.clone());
    let pages = world
        .sandbox
        .dataset()
        .records(Resource::Files)
        .len()
        .div_ceil(100);
    assert!(listed.len() >= pages, "the whole list is read: {listed:?}");
    assert!(
        listed.iter().all(|q| sorted_by(q).as_deref() == Some("id")),
        "{listed:?}"
    );
}

/// Defect 2: leads carry milliseconds, Pipedrive filters by the second, and within a second
/// the order is not by milliseconds. A checkpoint must be whole seconds, rounded down, or a
/// sync resumed from it drops the leads of that second that come after it.
#[test]
fn a_sync_resumed_from_any_lead_checkpoint_loses_no_lead_of_its_second() {
    let world = World::with(SandboxOptions {
        size: 100,
        page_cap: Some(5),
        lead_time_millis: true,
        ..SandboxOptions::default()
    });
    // Incremental: the archived leads of the window come first (the other list of the pair).
    let expected = set(world.expected_incremental_ids("leads", START));
    let full = world.read(START, &["leads"], "incremental", None);
    full.assert_ok();
    assert_eq!(set(full.ids("leads")), expected);
    let mut cuts = 0;
    for (k, m) in full.messages.iter().enumerate() {
        let Message::State { state } = m else {
            continue;
        };
        let before: BTreeSet<String> = full.messages[..k]
            .iter()
            .filter_map(|m| match m {
                Message::Record { record } => Some(id_of(&record.data["id"])),
                _ => None,
            })
            .collect();
        let state_file = world.file(
            "cut.json",
            &serde_json::to_string(&vec![serde_json::to_value(state).unwrap()]).unwrap(),
        );
        let resumed = world.read(START, &["leads"], "incremental", Some(&state_file));
        resumed.assert_ok();
        let union: BTreeSet<String> = before.union(&set(resumed.ids("leads"))).cloned().collect();
        let lost: Vec<&String> = expected.difference(&union).collect();
        assert!(
            lost.is_empty(),
            "cut after message {k}: leads lost {lost:?}"
        );
        let cursor = serde_json::to_value(state).unwrap()["stream"]["stream_state"]["update_time"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            !cursor.contains('.'),
            "a checkpoint finer than the server's filter: {cursor}"
        );
        cuts += 1;
    }
    assert!(cuts >= 15, "only {cuts} checkpoints");
}

/// Defect 3: a product deleted during the sync answers 404 to its variations request. It
/// was the first child request, and the old engine took the 404 for "may not read": 0
/// variations, COMPLETE, exit 0. Now one request for the product tells it is gone: its
/// variations alone are missing, and the summary counts it.
#[test]
fn a_product_deleted_during_a_sync_costs_only_its_own_variations() {
    let world = World::new(80);
    let made = on_page(
        &world,
        vec![("/api/v2/products", 1, |w, page| {
            w.delete(Resource::Products, &page["data"][0]["id"]);
        })],
    );
    let run = world.read(START, &["product_variations"], "incremental", None);
    run.assert_ok();
    world.sandbox.still();
    assert_eq!(made.load(Ordering::SeqCst), 1, "a product deleted");
    complete(&run, "product_variations");
    let expected = set(world.expected_ids("product_variations", START));
    assert!(expected.len() > 50);
    assert_eq!(set(run.ids("product_variations")), expected);
    let log = world.sandbox.requests();
    let checks: Vec<&str> = log
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/products/") && !r.path.ends_with("/variations"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(checks.len(), 1, "one parent check, for the 404: {checks:?}");
    assert!(
        run.logs()
            .iter()
            .any(|l| l.contains("summary product_variations: complete")
                && l.contains("1 vanished parent")),
        "{:#?}",
        run.logs()
    );
}

/// Defect 3, the other side: when a child endpoint answers 404 for a parent that is there, the
/// endpoint is what is missing, and the stream is skipped with that reason.
#[test]
fn a_child_endpoint_missing_for_an_existing_parent_skips_the_stream_with_the_reason() {
    let world = World::with(SandboxOptions {
        size: 40,
        deny: vec![("/v1/deals/".into(), 404)],
        ..SandboxOptions::default()
    });
    let run = world.read(START, &["deal_changelog"], "full_refresh", None);
    run.assert_ok();
    assert!(run.records("deal_changelog").is_empty());
    let warned = warnings(&run);
    assert!(
        warned
            .iter()
            .any(|w| w.contains("stream deal_changelog skipped") && w.contains("exists")),
        "{warned:#?}"
    );
    let log = world.sandbox.requests();
    let checks = log
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/deals/") && r.path != "/api/v2/deals/archived")
        .count();
    assert_eq!(checks, 1, "one parent check");
    assert_eq!(
        log.iter()
            .filter(|r| r.path.ends_with("/changelog"))
            .count(),
        1,
        "nothing more once the endpoint is known to be missing"
    );
}

/// Defect 4: a 403 on `/api/v2/deals/archived` skipped `deal_products` and
/// `deal_installments`, although every deal in `/api/v2/deals` is readable. Read alone or
/// along their parents' passes, they now read the deals' children, end COMPLETE and warn
/// about the archived deals.
#[test]
fn a_denied_parent_list_leaves_the_children_of_the_readable_ones() {
    let world = World::with(SandboxOptions {
        size: 300,
        deny: vec![("/api/v2/deals/archived".into(), 403)],
        ..SandboxOptions::default()
    });
    let data = world.sandbox.dataset();
    let children = |stream: &str| -> BTreeSet<String> {
        let def = streams::find(stream).unwrap();
        data.records(Resource::Deals)
            .iter()
            .flat_map(|d| data.children(crate::util::resource(stream), &d["id"]))
            .map(|c| def.key_of(&c))
            .collect()
    };
    let alone = world.read(
        START,
        &["deal_products", "deal_installments"],
        "full_refresh",
        None,
    );
    let riding = world.read(
        START,
        &[
            "deals",
            "archived_deals",
            "deal_products",
            "deal_installments",
        ],
        "incremental",
        None,
    );
    for run in [&alone, &riding] {
        run.assert_ok();
        for stream in ["deal_products", "deal_installments"] {
            complete(run, stream);
            let want = children(stream);
            assert!(!want.is_empty());
            assert_eq!(set(run.ids(stream)), want, "{stream}");
            assert!(
                warnings(run).iter().any(
                    |w| w.contains(&format!("stream {stream}")) && w.contains("archived_deals")
                ),
                "{stream}: {:#?}",
                warnings(run)
            );
        }
    }
    assert_eq!(
        riding.statuses("archived_deals").last(),
        Some(&StreamStatusKind::Complete)
    );
    // Its own list is refused; what it wrote comes from the live list read in its window (live
    // deals, written as having left the archive), never from the refused list.
    assert!(riding
        .records("archived_deals")
        .iter()
        .all(|d| d["_ab_cdc_deleted_at"].is_string() && d["is_archived"] == json!(false)));

    // Every parent list denied: then the child has nothing it may read, and is skipped.
    let none = World::with(SandboxOptions {
        size: 40,
        deny: vec![("/api/v2/deals".into(), 403)],
        ..SandboxOptions::default()
    });
    let run = none.read(START, &["deal_changelog"], "full_refresh", None);
    run.assert_ok();
    assert!(warnings(&run)
        .iter()
        .any(|w| w.contains("stream deal_changelog skipped")));
}

/// Defect 5, and the rule behind it: every record of every incremental stream carries the
/// cursor its stream declares (`deal_installments` declared `deal_update_time` and no record
/// had it).
#[test]
fn every_record_of_every_incremental_stream_carries_its_cursor() {
    let world = World::new(60);
    let run = world.read(START, &all_streams(), "incremental", None);
    run.assert_ok();
    for def in STREAMS.iter().filter(|d| d.incremental()) {
        let field = def.cursor.unwrap();
        let records = run.records(def.name);
        assert!(!records.is_empty(), "{}: no records to check", def.name);
        for r in records {
            assert!(
                time::of(r, field).is_some(),
                "{}: {} has no {field}: {r}",
                def.name,
                def.key_of(r)
            );
        }
    }
}

/// Defect 6: an API answering next_cursor A, then B, then A again was paged for ever (only an
/// immediate repeat was caught). Now the stream fails with a TRACE error and the others go on.
/// (The daily budget ends the loop of an engine that would not stop.)
#[test]
fn a_cursor_that_comes_back_fails_its_stream_and_only_it() {
    let world = World::with(SandboxOptions {
        size: 1_234,
        daily_token_budget: Some(3_000),
        faults: Faults {
            cursor_cycle: Some("/api/v2/deals".into()),
            ..Faults::default()
        },
        ..SandboxOptions::default()
    });
    let run = world.read(START, &["deals", "persons"], "full_refresh", None);
    assert_eq!(run.status, 1, "{:#?}", run.logs());
    let errors = run.trace_errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let (stream, failure, message) = &errors[0];
    assert_eq!(stream.as_deref(), Some("deals"));
    assert_eq!(failure, "system_error");
    assert!(
        message.contains("next_cursor") && message.contains("again"),
        "{message}"
    );
    complete(&run, "persons");
    assert_eq!(
        set(run.ids("persons")),
        set(world.expected_ids("persons", START))
    );
    let deal_pages = world
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/deals")
        .count();
    assert_eq!(
        deal_pages, 3,
        "the first page, A, and B, which points back at A"
    );
}

/// Defect 7: a state entry without `"type"` was dropped in silence, and its stream read again
/// from `start_date`. With a stream descriptor it is a STREAM state, said in a WARN; an entry
/// that cannot be understood is a config error naming its place.
#[test]
fn a_state_entry_without_a_type_is_used_and_said_or_refused() {
    let world = World::new(300);
    let mid = "2024-07-01T00:00:00Z";
    let state = world.file(
        "state.json",
        &json!([{"stream": {"stream_descriptor": {"name": "deals"}, "stream_state": {"update_time": mid}}}])
            .to_string(),
    );
    let run = world.read(START, &["deals"], "incremental", Some(&state));
    run.assert_ok();
    let since = time::parse(mid).unwrap();
    assert!(!run.records("deals").is_empty());
    assert!(run
        .records("deals")
        .iter()
        .all(|d| time::of(d, "update_time").unwrap() >= since));
    assert_eq!(
        set(run.ids("deals")),
        set(world.expected_incremental_ids("deals", mid))
    );
    assert!(
        warnings(&run)
            .iter()
            .any(|w| w.contains("[0]") && w.contains("STREAM")),
        "{:#?}",
        run.logs()
    );

    let requests = world.sandbox.requests().len();
    let bad = world.file(
        "bad.json",
        &json!([{"deals": {"update_time": mid}}]).to_string(),
    );
    let refused = world.read(START, &["deals"], "incremental", Some(&bad));
    assert_eq!(refused.status, 2, "{:#?}", refused.logs());
    let errors = refused.trace_errors();
    assert!(
        errors.len() == 1 && errors[0].1 == "config_error" && errors[0].2.contains("[0]"),
        "{errors:#?}"
    );
    assert_eq!(
        world.sandbox.requests().len(),
        requests,
        "refused before any request"
    );
}

/// Issue 14: lists end when the server says so (`more_items_in_collection` false), or by an
/// empty page where it says nothing (mail threads, permission-set assignments), never by a
/// short page: a server serving 3 records a page gives every record.
#[test]
fn lists_end_where_the_server_says_not_at_a_short_page() {
    let world = capped(200, 3);
    let streams = [
        "notes",
        "leads",
        "archived_leads",
        "files",
        "roles",
        "role_assignments",
        "permission_set_assignments",
        "mail_threads",
        "lead_fields",
    ];
    let run = world.read(START, &streams, "full_refresh", None);
    run.assert_ok();
    for stream in streams {
        let want = world.expected_ids(stream, START);
        assert!(
            want.len() > 3,
            "{stream}: {} records prove nothing",
            want.len()
        );
        assert_eq!(run.ids(stream), want, "{stream}");
    }
}
