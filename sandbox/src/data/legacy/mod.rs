//! LEGACY, for the Airbyte peer only: the v1 shapes of records the sandbox otherwise serves in
//! v2 shape, for the routes in `server/legacy.rs` (`/v1/recents`, `/v1/organizations`). They
//! exist only so `integration_tests/bench/peer.sh` can run the Airbyte connector
//! (`airbyte-source-pipedrive`), which still reads v1 endpoints that are out of support since
//! 2026-08-01, against the same data as ours; our connector never calls them.
//!
//! Every v1 record is made from the v2 record at the same id, so both views hold the same
//! records and values; only names and shapes differ, after the official client's v1 models
//! (`DealStrict`, `MergePersonItem`, `BaseOrganizationItem`, `Activity`, the recents product,
//! `BasePipeline`, `BaseStage`): v1 times (`YYYY-MM-DD HH:MM:SS`), `user_id` for `owner_id`,
//! owner and organization objects where v1 had them, flags for booleans, `visible_to` as a
//! string, custom fields flat at the top level, and the counters and names v1 added. Records
//! that were v1 already (notes, files, filters, users, activity types) pass through as they are.
//! The shapes are approximate: close enough for a CPU benchmark, not a contract.
//!
//! This module holds the shared v1 conventions (times, owners, flags, flat addresses) and the
//! dispatch by resource; the shapes themselves are in `sales` (deals, products), `contacts`
//! (persons, organizations) and `activities`.

use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::names::{FIRST, LAST};
use super::{v1, Dataset, Resource};

mod activities;
mod contacts;
mod sales;

/// A v2 time (RFC 3339) in the v1 form; null stays null.
fn v1_time(v: &Value) -> Value {
    match v
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => json!(v1(t.timestamp())),
        None => Value::Null,
    }
}

fn user_name(id: u64) -> String {
    let k = id.saturating_sub(1);
    format!(
        "{} {}",
        FIRST[(k % FIRST.len() as u64) as usize],
        LAST[((k * 7) % LAST.len() as u64) as usize]
    )
}

fn user_email(id: u64) -> String {
    format!("user{id}@sandbox-company.example")
}

/// The owner object v1 lists embedded for `owner_id` (`Owner`).
fn owner(id: u64) -> Value {
    json!({
        "id": id,
        "name": user_name(id),
        "email": user_email(id),
        "has_pic": 0,
        "pic_hash": null,
        "active_flag": true,
        "value": id,
    })
}

/// `Hot` → `h`: v1's `first_char`.
fn first_char(name: &Value) -> Value {
    match name.as_str().and_then(|s| s.chars().next()) {
        Some(c) => json!(c.to_lowercase().to_string()),
        None => Value::Null,
    }
}

/// v1 wrote `label_ids` also as `label`, the first one (or null).
fn first_label(ids: &Value) -> Value {
    ids.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null)
}

fn visible_to(v: &Value) -> Value {
    match v.as_u64() {
        Some(n) => json!(n.to_string()),
        None => v.clone(),
    }
}

/// Copies `fields` unchanged from `from`.
fn copy(to: &mut Map<String, Value>, from: &Value, fields: &[&str]) {
    for f in fields {
        to.insert(f.to_string(), from[*f].clone());
    }
}

/// Copies time `fields` from `from`, in the v1 form.
fn copy_times(to: &mut Map<String, Value>, from: &Value, fields: &[&str]) {
    for f in fields {
        to.insert(f.to_string(), v1_time(&from[*f]));
    }
}

/// Sets each of `fields` to `value` (the counters and next-activity fields v1 lists carried).
fn fill(to: &mut Map<String, Value>, fields: &[&str], value: Value) {
    for f in fields {
        to.insert(f.to_string(), value.clone());
    }
}

const NEXT_ACTIVITY: [&str; 7] = [
    "next_activity_date",
    "next_activity_time",
    "next_activity_id",
    "last_activity_id",
    "last_activity_date",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
];

/// The address of a v2 `address` object as v1's flat `{prefix}_{part}` fields.
fn flat_address(to: &mut Map<String, Value>, prefix: &str, address: &Value) {
    to.insert(prefix.to_string(), address["value"].clone());
    for part in [
        "subpremise",
        "street_number",
        "route",
        "sublocality",
        "locality",
        "admin_area_level_1",
        "admin_area_level_2",
        "country",
        "postal_code",
    ] {
        to.insert(format!("{prefix}_{part}"), address[part].clone());
    }
    to.insert(
        format!("{prefix}_formatted_address"),
        address["value"].clone(),
    );
}

impl Dataset {
    /// The v1 shape of `record`, a record of `r` as the v2 (or v1) list serves it.
    pub(crate) fn v1_record(&self, r: Resource, record: Value) -> Value {
        let mut m = Map::new();
        match r {
            Resource::Deals => self.v1_deal(&record, &mut m),
            Resource::Persons => self.v1_person(&record, &mut m),
            Resource::Organizations => self.v1_organization(&record, &mut m),
            Resource::Activities => self.v1_activity(&record, &mut m),
            Resource::Products => self.v1_product(&record, &mut m),
            Resource::Pipelines => {
                copy(&mut m, &record, &["id", "name"]);
                let slug: String = record["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join("-");
                m.insert("url_title".into(), json!(slug));
                copy(&mut m, &record, &["order_nr"]);
                m.insert("active".into(), json!(record["is_deleted"] != true));
                m.insert(
                    "deal_probability".into(),
                    record["is_deal_probability_enabled"].clone(),
                );
                copy_times(&mut m, &record, &["add_time", "update_time"]);
                m.insert("selected".into(), json!(record["id"] == 1));
            }
            Resource::Stages => {
                copy(&mut m, &record, &["id", "order_nr", "name"]);
                m.insert("active_flag".into(), json!(record["is_deleted"] != true));
                copy(&mut m, &record, &["deal_probability", "pipeline_id"]);
                m.insert("rotten_flag".into(), record["is_deal_rot_enabled"].clone());
                m.insert("rotten_days".into(), record["days_to_rotten"].clone());
                copy_times(&mut m, &record, &["add_time", "update_time"]);
                let pipeline = record["pipeline_id"].as_u64().unwrap_or(1);
                let name = if pipeline == 1 {
                    "Sales".to_string()
                } else {
                    format!("Pipeline {pipeline} 🧭")
                };
                m.insert("pipeline_name".into(), json!(name));
                m.insert("pipeline_deal_probability".into(), json!(true));
            }
            // Already v1.
            _ => return record,
        }
        Value::Object(m)
    }

    fn person_full_name(&self, id: &Value) -> Value {
        match id.as_u64() {
            Some(id) if id >= 1 => {
                let (first, last) = self.person_name(id - 1);
                json!(format!("{first} {last}"))
            }
            _ => Value::Null,
        }
    }

    fn org_full_name(&self, id: &Value) -> Value {
        match id.as_u64() {
            Some(id) if id >= 1 => json!(self.org_name(id - 1)),
            _ => Value::Null,
        }
    }
}
