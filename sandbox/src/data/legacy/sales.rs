//! LEGACY: deals and products in their v1 shapes (`DealStrict`, the recents product), for the
//! benchmark's Airbyte peer only.

use serde_json::{json, Map, Value};

use super::{copy, copy_times, fill, first_char, user_name, v1_time, visible_to, NEXT_ACTIVITY};
use crate::data::{Dataset, Resource};

impl Dataset {
    /// `DealStrict`, as `/v1/recents` served deals: ids as numbers.
    pub(super) fn v1_deal(&self, d: &Value, m: &mut Map<String, Value>) {
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

    /// The product of `/v1/recents` (`RecentsDataInnerAnyOf9Data`).
    pub(super) fn v1_product(&self, p: &Value, m: &mut Map<String, Value>) {
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
