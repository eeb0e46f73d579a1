//! The changing world of the connector's warehouse suite (`integration_tests/warehouse/run.sh`): the sandbox
//! Pipedrive on loopback, and, between two syncs, a step of changes made to it, as salespeople
//! and admins would: edits, inserts, deletes, archives and un-archives, merges, a custom field
//! added then renamed, records of full-table streams deleted. Each step is the same for the same
//! size, so every loader loads the same history.
//!
//! Reads commands on stdin, one a line, and answers each with one JSON line on stdout:
//! `config` (the connector config for this sandbox), `step N` (makes step N's changes; says
//! which), `archive archived_deals` (the ids that archive serves now), `quit`.

use std::io::{BufRead, Write};

use chrono::Duration;
use pipedrive_sandbox::{Resource, Sandbox, SandboxOptions};
use serde_json::{json, Value};

fn main() {
    let size = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let options = SandboxOptions {
        size,
        // Deleted records stay listed with `is_deleted` (as Pipedrive may): deletes of persons,
        // organizations, activities and products can reach a warehouse.
        v2_lists_keep_deleted: true,
        ..SandboxOptions::default()
    };
    let key = options.api_key.clone();
    let sandbox = Sandbox::start(options).expect("the sandbox starts");
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let answer = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["config"] => json!({
                "api_key": key,
                "start_date": "2020-01-01T00:00:00Z",
                "base_url": sandbox.base_url(),
                "custom_field_names": "name",
            }),
            ["step", n] => json!({ "changes": step(&sandbox, n.parse().expect("a step number")) }),
            // The ids an archive list serves now, deleted ones too: what an archived stream's
            // table may hold after a first sync.
            ["archive", name] => {
                let r = match *name {
                    "archived_deals" => Resource::ArchivedDeals,
                    "archived_projects" => Resource::ArchivedProjects,
                    _ => Resource::ArchivedLeads,
                };
                let ids: Vec<Value> = sandbox
                    .dataset()
                    .records(r)
                    .into_iter()
                    .map(|x| x["id"].clone())
                    .collect();
                json!({ "ids": ids })
            }
            ["quit"] => break,
            _ => json!({ "error": format!("unknown command {line:?}") }),
        };
        let mut out = stdout.lock();
        writeln!(out, "{answer}").expect("stdout");
        out.flush().expect("stdout");
    }
}

/// Ids of the records of `r` that are not deleted, in list order.
fn live(sandbox: &Sandbox, r: Resource) -> Vec<Value> {
    sandbox
        .dataset()
        .records(r)
        .into_iter()
        .filter(|x| x["is_deleted"] != json!(true) && x["status"] != json!("deleted"))
        .filter(|x| x["active_flag"] != json!(false))
        .map(|x| x["id"].clone())
        .collect()
}

/// Makes step `n`'s changes between two ticks of the clock (so they fall in the next sync's
/// window), and says what it did.
fn step(sandbox: &Sandbox, n: u32) -> Vec<String> {
    sandbox.advance_clock(Duration::seconds(5));
    let mut done = Vec::new();
    let mut did = |what: String| done.push(what);
    match n {
        1 => {
            let deals = live(sandbox, Resource::Deals);
            for id in &deals[10..15] {
                sandbox.touch(Resource::Deals, id);
                did(format!("edit deal {id}"));
            }
            for id in &deals[20..22] {
                sandbox.delete(Resource::Deals, id);
                did(format!("delete deal {id}"));
            }
            for id in &deals[30..32] {
                sandbox.archive(Resource::Deals, id);
                did(format!("archive deal {id}"));
            }
            sandbox.merge(Resource::Deals, &deals[40], &deals[41]);
            did(format!("merge deal {} into {}", deals[40], deals[41]));
            for _ in 0..3 {
                let d = sandbox.insert(Resource::Deals);
                did(format!("insert deal {}", d["id"]));
            }
            let persons = live(sandbox, Resource::Persons);
            for id in &persons[5..9] {
                sandbox.touch(Resource::Persons, id);
                did(format!("edit person {id}"));
            }
            sandbox.delete(Resource::Persons, &persons[12]);
            did(format!("delete person {}", persons[12]));
            sandbox.merge(Resource::Persons, &persons[14], &persons[15]);
            did(format!("merge person {} into {}", persons[14], persons[15]));
            let orgs = live(sandbox, Resource::Organizations);
            sandbox.merge(Resource::Organizations, &orgs[3], &orgs[4]);
            did(format!("merge organization {} into {}", orgs[3], orgs[4]));
            let projects = live(sandbox, Resource::Projects);
            sandbox.archive(Resource::Projects, &projects[2]);
            did(format!("archive project {}", projects[2]));
            let key = sandbox.add_field(Resource::DealFields, "Warehouse score", "varchar");
            did(format!("add deal custom field {key} \"Warehouse score\""));
            for id in &deals[50..53] {
                sandbox.touch(Resource::Deals, id);
                did(format!("edit deal {id} (now with the new field)"));
            }
            let roles = live(sandbox, Resource::Roles);
            let role = roles.last().expect("roles");
            sandbox.delete(Resource::Roles, role);
            did(format!("delete role {role} (full table)"));
        }
        2 => {
            let archived = live(sandbox, Resource::ArchivedDeals);
            for id in archived.iter().take(2) {
                sandbox.unarchive(Resource::ArchivedDeals, id);
                did(format!("un-archive deal {id}"));
            }
            let archived = live(sandbox, Resource::ArchivedProjects);
            if let Some(id) = archived.first() {
                sandbox.unarchive(Resource::ArchivedProjects, id);
                did(format!("un-archive project {id}"));
            }
            let fields = sandbox.dataset().records(Resource::DealFields);
            let added = fields
                .iter()
                .find(|f| f["field_name"] == "Warehouse score")
                .expect("the field added in step 1");
            let key = added["field_code"].as_str().expect("a key").to_string();
            sandbox.rename_field(Resource::DealFields, &key, "Warehouse rating");
            did(format!(
                "rename deal custom field {key} to \"Warehouse rating\""
            ));
            let deals = live(sandbox, Resource::Deals);
            for id in &deals[60..63] {
                sandbox.touch(Resource::Deals, id);
                did(format!("edit deal {id}"));
            }
            sandbox.delete(Resource::Deals, &deals[70]);
            did(format!("delete deal {}", deals[70]));
            let activities = live(sandbox, Resource::Activities);
            sandbox.delete(Resource::Activities, &activities[3]);
            did(format!("delete activity {}", activities[3]));
            let products = live(sandbox, Resource::Products);
            sandbox.touch(Resource::Products, &products[1]);
            did(format!("edit product {}", products[1]));
            let goals = live(sandbox, Resource::Goals);
            let goal = goals.last().expect("goals");
            sandbox.delete(Resource::Goals, goal);
            did(format!("delete goal {goal} (full table)"));
        }
        _ => did(format!("no step {n}")),
    }
    sandbox.advance_clock(Duration::seconds(5));
    done
}
