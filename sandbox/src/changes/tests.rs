use serde_json::json;

use super::*;
use crate::server::{RequestLogEntry, SandboxOptions};

fn frozen(size: u64) -> Sandbox {
    Sandbox::start(SandboxOptions {
        size,
        frozen_clock: Some("2026-02-02T09:00:00Z".parse().unwrap()),
        ..SandboxOptions::default()
    })
    .unwrap()
}

/// What the hook is told after `path` answered `body`.
fn entry(path: &str) -> RequestLogEntry {
    RequestLogEntry {
        method: "GET".into(),
        path: path.into(),
        query: vec![("limit".into(), "5".into())],
        status: 200,
        token_cost: 10,
        authorized: true,
        raw_target: format!("{path}?limit=5"),
        fault: None,
    }
}

fn page(records: &[Value]) -> String {
    json!({"success": true, "data": records}).to_string()
}

#[test]
fn one_seed_one_sequence() {
    let draws = |seed| {
        let mut rng = Rng::new(seed);
        (0..50).map(|_| rng.below(1000)).collect::<Vec<_>>()
    };
    assert_eq!(draws(7), draws(7));
    assert_ne!(draws(7), draws(8));
    let mut rng = Rng::new(1);
    assert!((0..1000).all(|_| rng.below(3) < 3));
    assert_eq!(rng.below(0), 0);
    let mut a = Rng::new(3);
    let mut forked = a.fork();
    assert_ne!(a.next_u64(), forked.next_u64());
}

#[test]
fn a_seed_replays_the_same_history_and_data() {
    let run = |seed| {
        let sandbox = frozen(40);
        let schedule = Schedule::new(seed, 50);
        let world = sandbox.world();
        schedule.offline(&world, 30);
        let notes = sandbox.dataset().records(Resource::Notes);
        let served = entry("/v1/notes");
        let body = page(&notes[..5]);
        for _ in 0..20 {
            schedule.after_request(
                &world,
                &Served {
                    request: &served,
                    body: &body,
                },
            );
        }
        let history: Vec<String> = schedule.history().iter().map(|c| c.to_string()).collect();
        let data: Vec<Vec<Value>> = DEFAULT_RESOURCES
            .iter()
            .map(|r| sandbox.dataset().records(*r))
            .collect();
        (history, data, sandbox.now())
    };
    let (history, data, now) = run(11);
    assert!(history.len() > 20, "{history:#?}");
    assert_eq!(run(11), (history.clone(), data, now));
    assert_ne!(run(12).0, history);
}

#[test]
fn a_change_aimed_at_the_page_just_served_hits_a_record_on_it() {
    let sandbox = frozen(40);
    let schedule = Schedule::new(5, 0).aimed(100);
    let notes = sandbox.dataset().records(Resource::Notes);
    let served = entry("/v1/notes");
    let body = page(&notes[..5]);
    schedule.after_request(
        &sandbox.world(),
        &Served {
            request: &served,
            body: &body,
        },
    );
    let history = schedule.history();
    assert_eq!(history.len(), 1, "{history:#?}");
    let change = &history[0];
    assert_eq!(change.aim, Aim::PageJustServed);
    assert!(notes[..5].iter().any(|n| n["id"] == change.id));
    let after = sandbox.dataset().records(Resource::Notes);
    match change.op {
        Op::Edit => {
            let edited = after.iter().find(|n| n["id"] == change.id).unwrap();
            let before = notes.iter().find(|n| n["id"] == change.id).unwrap();
            assert_ne!(edited["update_time"], before["update_time"]);
        }
        Op::Delete => assert!(!after.iter().any(|n| n["id"] == change.id)),
        other => panic!("notes are neither inserted by aim, archived, merged nor lined: {other:?}"),
    }
}

/// Archives, un-archives, merges and product lines taken off deals: each kind of change is
/// drawn, and each leaves the sandbox as Pipedrive would be after it.
#[test]
fn moves_between_lists_merges_and_removed_lines_leave_a_consistent_crm() {
    let sandbox = frozen(40);
    let schedule = Schedule::new(3, 0);
    schedule.offline(&sandbox.world(), 600);
    let history = schedule.history();
    let ids = |r: Resource| -> Vec<Value> {
        let records = sandbox.dataset().records(r);
        records.iter().map(|x| x["id"].clone()).collect()
    };
    let seen: std::collections::BTreeSet<String> =
        history.iter().map(|c| format!("{:?}", c.op)).collect();
    // Where a record is now: said by the last change that moved it (an edit moves nothing).
    let moves = |c: &Change| matches!(c.op, Op::Archive | Op::Unarchive | Op::Delete | Op::Merge);
    let last_move = |k: usize, c: &Change| {
        !history[k + 1..]
            .iter()
            .any(|d| moves(d) && (d.id == c.id || d.other.as_ref() == Some(&c.id)))
    };
    for (k, change) in history.iter().enumerate() {
        if change.op != Op::RemoveLine && !last_move(k, change) {
            continue;
        }
        let pair = |r: Resource| match r {
            Resource::Deals | Resource::ArchivedDeals => (Resource::Deals, Resource::ArchivedDeals),
            Resource::Leads | Resource::ArchivedLeads => (Resource::Leads, Resource::ArchivedLeads),
            _ => (Resource::Projects, Resource::ArchivedProjects),
        };
        match change.op {
            Op::Archive => {
                let (live, archive) = pair(change.resource);
                assert!(ids(archive).contains(&change.id), "{change}");
                assert!(!ids(live).contains(&change.id), "{change}");
            }
            Op::Unarchive => {
                let (live, archive) = pair(change.resource);
                assert!(ids(live).contains(&change.id), "{change}");
                assert!(!ids(archive).contains(&change.id), "{change}");
            }
            Op::Merge => {
                let records = sandbox.dataset().records(change.resource);
                let loser = records.iter().find(|r| r["id"] == change.id);
                assert!(
                    loser.is_none_or(|l| !live(l)),
                    "{change}: the loser is deleted"
                );
            }
            Op::RemoveLine => {
                let lines = sandbox
                    .dataset()
                    .children(Resource::DealProducts, &change.id);
                let line = change.other.as_ref().unwrap();
                assert!(!lines.iter().any(|l| l["id"] == *line), "{change}");
            }
            _ => {}
        }
    }
    for op in ["Archive", "Unarchive", "Merge", "RemoveLine"] {
        assert!(seen.contains(op), "no {op} in {} changes", history.len());
    }
}

#[test]
fn a_parent_just_listed_can_vanish_before_its_children_are_asked_for() {
    let sandbox = frozen(40);
    let products = sandbox.dataset().records(Resource::Products);
    let served = entry("/api/v2/products");
    let body = page(&products[..5]);
    // Some seed aims at the first product; its variations are then gone (the endpoint's 404).
    let seed = (0..100)
        .find(|seed| {
            let sandbox = frozen(40);
            let schedule = Schedule::new(*seed, 0).aimed(100);
            schedule.after_request(
                &sandbox.world(),
                &Served {
                    request: &served,
                    body: &body,
                },
            );
            schedule.history()[0].aim == Aim::ParentBeforeChildren
        })
        .expect("one seed in a hundred aims at the parent");
    let schedule = Schedule::new(seed, 0).aimed(100);
    schedule.after_request(
        &sandbox.world(),
        &Served {
            request: &served,
            body: &body,
        },
    );
    let change = &schedule.history()[0];
    assert_eq!(change.id, products[0]["id"]);
    assert_eq!(
        sandbox
            .dataset()
            .children_of(Resource::ProductVariations, &change.id),
        None
    );
}

#[test]
fn same_second_changes_share_one_second_of_the_fake_clock() {
    let sandbox = frozen(40);
    let schedule = Schedule::new(3, 0);
    let world = sandbox.world();
    let mut state = schedule.lock();
    schedule.same_second(&mut state, &world, Resource::Leads, None);
    let seconds: Vec<i64> = state.history.iter().map(|c| c.at.timestamp()).collect();
    assert!(seconds.len() >= 2);
    assert!(seconds.iter().all(|s| *s == seconds[0]), "{seconds:?}");
}

#[test]
fn served_pages_name_their_list_and_records() {
    let body = page(&[json!({"id": 1}), json!({"id": 2})]);
    for (path, want) in [
        ("/api/v2/deals", Some(Resource::Deals)),
        ("/api/v2/deals/archived", Some(Resource::ArchivedDeals)),
        ("/v1/leads/archived", Some(Resource::ArchivedLeads)),
        ("/v1/files", Some(Resource::Files)),
        ("/api/v2/products/3/variations", None),
        ("/api/v2/deals/products", None),
    ] {
        let request = entry(path);
        let served = Served {
            request: &request,
            body: &body,
        };
        assert_eq!(served.listed(), want, "{path}");
        assert_eq!(served.records().len(), 2);
    }
    let mut refused = entry("/api/v2/deals");
    refused.status = 403;
    let served = Served {
        request: &refused,
        body: "{}",
    };
    assert_eq!(served.listed(), None);
    assert!(served.records().is_empty());
}
