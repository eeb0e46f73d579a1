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

use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::names::{FIRST, LAST};
use super::{v1, Dataset, Resource};

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

    /// `DealStrict`, as `/v1/recents` served deals: ids as numbers.
    fn v1_deal(&self, d: &Value, m: &mut Map<String, Value>) {
        let id = d["id"].as_u64().unwrap_or(0);
        let owner_id = d["owner_id"].as_u64().unwrap_or(1);
        let status = d["status"].as_str().unwrap_or("open");
        let value = d["value"].as_f64().unwrap_or(0.0);
        let currency = d["currency"].as_str().unwrap_or("EUR");
        let probability = d["probability"].as_f64().unwrap_or(100.0);
        let weighted = (value * probability).round() / 100.0;
        let stage = d["stage_id"].as_u64().unwrap_or(1);
        copy(m, d, &["id"]);
        m.insert("creator_user_id".into(), json!(owner_id));
        m.insert("user_id".into(), json!(owner_id));
        copy(
            m,
            d,
            &[
                "person_id",
                "org_id",
                "stage_id",
                "title",
                "value",
                "currency",
            ],
        );
        copy_times(m, d, &["add_time", "update_time", "stage_change_time"]);
        m.insert("active".into(), json!(status == "open"));
        m.insert("deleted".into(), json!(status == "deleted"));
        copy(m, d, &["is_archived", "status", "probability"]);
        fill(m, &NEXT_ACTIVITY, Value::Null);
        copy(m, d, &["lost_reason"]);
        m.insert("visible_to".into(), visible_to(&d["visible_to"]));
        copy_times(m, d, &["close_time"]);
        copy(m, d, &["pipeline_id"]);
        copy_times(m, d, &["won_time"]);
        m.insert("first_won_time".into(), v1_time(&d["won_time"]));
        copy_times(m, d, &["lost_time"]);
        fill(
            m,
            &[
                "products_count",
                "files_count",
                "notes_count",
                "email_messages_count",
                "activities_count",
                "done_activities_count",
                "undone_activities_count",
            ],
            json!(0),
        );
        m.insert("followers_count".into(), json!(1));
        m.insert(
            "participants_count".into(),
            json!(u64::from(d["person_id"].is_u64())),
        );
        copy(m, d, &["expected_close_date"]);
        m.insert(
            "label".into(),
            match d["label_ids"].as_array() {
                Some(ids) if !ids.is_empty() => json!(ids
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(",")),
                _ => Value::Null,
            },
        );
        m.insert("stage_order_nr".into(), json!((stage - 1) % 5 + 1));
        m.insert("person_name".into(), self.person_full_name(&d["person_id"]));
        m.insert("org_name".into(), self.org_full_name(&d["org_id"]));
        fill(
            m,
            &[
                "next_activity_subject",
                "next_activity_type",
                "next_activity_duration",
                "next_activity_note",
            ],
            Value::Null,
        );
        m.insert(
            "formatted_value".into(),
            json!(format!("{value:.2} {currency}")),
        );
        m.insert("weighted_value".into(), json!(weighted));
        m.insert(
            "formatted_weighted_value".into(),
            json!(format!("{weighted:.2} {currency}")),
        );
        m.insert("weighted_value_currency".into(), json!(currency));
        m.insert("rotten_time".into(), Value::Null);
        m.insert("owner_name".into(), json!(user_name(owner_id)));
        m.insert(
            "cc_email".into(),
            json!(format!("sandbox+deal{id}@pipedrivemail.com")),
        );
        m.insert("org_hidden".into(), json!(false));
        m.insert("person_hidden".into(), json!(false));
        copy(
            m,
            d,
            &[
                "origin",
                "origin_id",
                "channel",
                "channel_id",
                "arr",
                "mrr",
                "acv",
            ],
        );
        for recurring in ["arr", "mrr", "acv"] {
            let c = if d[recurring].is_null() {
                Value::Null
            } else {
                json!(currency)
            };
            m.insert(format!("{recurring}_currency"), c);
        }
        self.flatten_custom_fields(Resource::Deals, &d["custom_fields"], m);
    }

    /// `MergePersonItem`, as `/v1/recents` served persons.
    fn v1_person(&self, p: &Value, m: &mut Map<String, Value>) {
        let id = p["id"].as_u64().unwrap_or(0);
        let owner_id = p["owner_id"].as_u64().unwrap_or(1);
        copy(m, p, &["id"]);
        m.insert("company_id".into(), json!(self.company_id()));
        m.insert("owner_id".into(), owner(owner_id));
        let org = match p["org_id"].as_u64() {
            Some(org) => json!({
                "name": self.org_full_name(&json!(org)),
                "people_count": 1,
                "owner_id": owner_id,
                "address": null,
                "active_flag": true,
                "cc_email": format!("sandbox+org{org}@pipedrivemail.com"),
                "value": org,
            }),
            None => Value::Null,
        };
        m.insert("org_id".into(), org);
        copy(m, p, &["name", "first_name", "last_name"]);
        fill(
            m,
            &[
                "open_deals_count",
                "related_open_deals_count",
                "closed_deals_count",
                "related_closed_deals_count",
                "participant_open_deals_count",
                "participant_closed_deals_count",
                "email_messages_count",
                "activities_count",
                "done_activities_count",
                "undone_activities_count",
                "files_count",
                "notes_count",
                "won_deals_count",
                "related_won_deals_count",
                "lost_deals_count",
                "related_lost_deals_count",
            ],
            json!(0),
        );
        m.insert("followers_count".into(), json!(1));
        m.insert("active_flag".into(), json!(p["is_deleted"] != true));
        // v1 always had at least one (empty) entry.
        let contacts = |list: &Value| {
            let items: Vec<Value> = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| json!({"label": c["label"], "value": c["value"], "primary": c["primary"]}))
                .collect();
            if items.is_empty() {
                json!([{"value": "", "primary": true}])
            } else {
                json!(items)
            }
        };
        m.insert("phone".into(), contacts(&p["phones"]));
        m.insert("email".into(), contacts(&p["emails"]));
        m.insert("first_char".into(), first_char(&p["first_name"]));
        copy_times(m, p, &["update_time"]);
        m.insert("delete_time".into(), Value::Null);
        copy_times(m, p, &["add_time"]);
        m.insert("visible_to".into(), visible_to(&p["visible_to"]));
        let picture = match p["picture_id"].as_u64() {
            Some(picture) => json!({
                "item_type": "person",
                "item_id": id,
                "active_flag": true,
                "add_time": v1_time(&p["add_time"]),
                "update_time": v1_time(&p["add_time"]),
                "added_by_user_id": owner_id,
                "pictures": {
                    "128": format!("https://pictures.example.com/{picture}_128.jpg"),
                    "512": format!("https://pictures.example.com/{picture}_512.jpg"),
                },
                "value": picture,
            }),
            None => Value::Null,
        };
        m.insert("picture_id".into(), picture);
        fill(m, &NEXT_ACTIVITY, Value::Null);
        m.insert("label".into(), first_label(&p["label_ids"]));
        copy(m, p, &["label_ids", "im", "notes", "birthday", "job_title"]);
        flat_address(m, "postal_address", &p["postal_address"]);
        m.insert("org_name".into(), self.org_full_name(&p["org_id"]));
        m.insert("owner_name".into(), json!(user_name(owner_id)));
        m.insert(
            "cc_email".into(),
            json!(format!("sandbox+person{id}@pipedrivemail.com")),
        );
        self.flatten_custom_fields(Resource::Persons, &p["custom_fields"], m);
    }

    /// `BaseOrganizationItem`, as `/v1/organizations` and `/v1/recents` served organizations.
    fn v1_organization(&self, o: &Value, m: &mut Map<String, Value>) {
        let id = o["id"].as_u64().unwrap_or(0);
        let owner_id = o["owner_id"].as_u64().unwrap_or(1);
        copy(m, o, &["id"]);
        m.insert("company_id".into(), json!(self.company_id()));
        m.insert("owner_id".into(), owner(owner_id));
        copy(m, o, &["name"]);
        fill(
            m,
            &[
                "open_deals_count",
                "related_open_deals_count",
                "closed_deals_count",
                "related_closed_deals_count",
                "email_messages_count",
                "people_count",
                "activities_count",
                "done_activities_count",
                "undone_activities_count",
                "files_count",
                "notes_count",
                "won_deals_count",
                "related_won_deals_count",
                "lost_deals_count",
                "related_lost_deals_count",
            ],
            json!(0),
        );
        m.insert("followers_count".into(), json!(1));
        m.insert("active_flag".into(), json!(o["is_deleted"] != true));
        m.insert("picture_id".into(), Value::Null);
        m.insert("country_code".into(), Value::Null);
        m.insert("first_char".into(), first_char(&o["name"]));
        copy_times(m, o, &["update_time"]);
        m.insert("delete_time".into(), Value::Null);
        copy_times(m, o, &["add_time"]);
        m.insert("visible_to".into(), visible_to(&o["visible_to"]));
        fill(m, &NEXT_ACTIVITY, Value::Null);
        m.insert("label".into(), first_label(&o["label_ids"]));
        copy(
            m,
            o,
            &[
                "label_ids",
                "website",
                "linkedin",
                "industry",
                "annual_revenue",
                "employee_count",
            ],
        );
        m.insert("owner_name".into(), json!(user_name(owner_id)));
        m.insert(
            "cc_email".into(),
            json!(format!("sandbox+org{id}@pipedrivemail.com")),
        );
        flat_address(m, "address", &o["address"]);
        self.flatten_custom_fields(Resource::Organizations, &o["custom_fields"], m);
    }

    /// `Activity`, as `/v1/recents` served activities.
    fn v1_activity(&self, a: &Value, m: &mut Map<String, Value>) {
        let owner_id = a["owner_id"].as_u64().unwrap_or(1);
        copy(m, a, &["id"]);
        m.insert("company_id".into(), json!(self.company_id()));
        m.insert("user_id".into(), json!(owner_id));
        copy(m, a, &["done", "type"]);
        m.insert("reference_type".into(), Value::Null);
        m.insert("reference_id".into(), Value::Null);
        copy(
            m,
            a,
            &[
                "conference_meeting_client",
                "conference_meeting_url",
                "conference_meeting_id",
                "due_date",
                "due_time",
                "duration",
            ],
        );
        m.insert("busy_flag".into(), a["busy"].clone());
        copy_times(m, a, &["add_time", "marked_as_done_time"]);
        fill(
            m,
            &[
                "last_notification_time",
                "last_notification_user_id",
                "notification_language_id",
                "calendar_sync_include_context",
                "update_user_id",
                "gcal_event_id",
                "google_calendar_id",
                "google_calendar_etag",
                "source_timezone",
                "rec_rule",
                "rec_rule_extension",
                "rec_master_activity_id",
                "file",
            ],
            Value::Null,
        );
        copy(
            m,
            a,
            &[
                "subject",
                "public_description",
                "org_id",
                "person_id",
                "deal_id",
                "lead_id",
                "project_id",
                "note",
                "priority",
                "outcome",
                "attendees",
            ],
        );
        m.insert("active_flag".into(), json!(a["is_deleted"] != true));
        copy_times(m, a, &["update_time"]);
        m.insert("series".into(), json!([]));
        m.insert("created_by_user_id".into(), a["creator_user_id"].clone());
        if a["location"].is_object() {
            flat_address(m, "location", &a["location"]);
        } else {
            m.insert("location".into(), Value::Null);
        }
        let participants: Vec<Value> = a["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| json!({"person_id": p["person_id"], "primary_flag": p["primary"]}))
            .collect();
        m.insert(
            "participants".into(),
            if participants.is_empty() {
                Value::Null
            } else {
                json!(participants)
            },
        );
        m.insert("org_name".into(), self.org_full_name(&a["org_id"]));
        m.insert("person_name".into(), self.person_full_name(&a["person_id"]));
        m.insert(
            "deal_title".into(),
            match a["deal_id"].as_u64() {
                Some(deal) if deal >= 1 => json!(self.deal_title(Resource::Deals, deal - 1)),
                _ => Value::Null,
            },
        );
        m.insert("owner_name".into(), json!(user_name(owner_id)));
        m.insert(
            "person_dropbox_bcc".into(),
            json!("sandbox@pipedrivemail.com"),
        );
        m.insert(
            "deal_dropbox_bcc".into(),
            match a["deal_id"].as_u64() {
                Some(deal) => json!(format!("sandbox+deal{deal}@pipedrivemail.com")),
                None => Value::Null,
            },
        );
        m.insert("assigned_to_user_id".into(), json!(owner_id));
        self.flatten_custom_fields(Resource::Activities, &a["custom_fields"], m);
    }

    /// The product of `/v1/recents` (`RecentsDataInnerAnyOf9Data`).
    fn v1_product(&self, p: &Value, m: &mut Map<String, Value>) {
        copy(
            m,
            p,
            &[
                "id",
                "name",
                "code",
                "description",
                "unit",
                "tax",
                "category",
            ],
        );
        m.insert("active_flag".into(), json!(p["is_deleted"] != true));
        m.insert("selectable".into(), p["is_linkable"].clone());
        m.insert("first_char".into(), first_char(&p["name"]));
        copy(m, p, &["visible_to", "owner_id"]);
        m.insert("files_count".into(), Value::Null);
        m.insert("followers_count".into(), json!(1));
        copy_times(m, p, &["add_time", "update_time"]);
        copy(m, p, &["billing_frequency", "billing_frequency_cycles"]);
        let id = p["id"].as_u64().unwrap_or(0);
        let prices: Vec<Value> = p["prices"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(0..)
            .map(|(price, k)| {
                json!({
                    "id": id * 10 + k,
                    "product_id": id,
                    "price": price["price"],
                    "currency": price["currency"],
                    "cost": price["cost"],
                    "overhead_cost": price["direct_cost"],
                    "notes": price["notes"],
                })
            })
            .collect();
        m.insert("prices".into(), json!(prices));
        self.flatten_custom_fields(Resource::Products, &p["custom_fields"], m);
    }
}
