//! LEGACY: persons and organizations in their v1 shapes (`MergePersonItem`,
//! `BaseOrganizationItem`), for the benchmark's Airbyte peer only.

use serde_json::{json, Map, Value};

use super::{
    copy, copy_times, fill, first_char, first_label, flat_address, owner, user_name, v1_time,
    visible_to, NEXT_ACTIVITY,
};
use crate::data::{Dataset, Resource};

impl Dataset {
    /// `MergePersonItem`, as `/v1/recents` served persons.
    pub(super) fn v1_person(&self, p: &Value, m: &mut Map<String, Value>) {
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
    pub(super) fn v1_organization(&self, o: &Value, m: &mut Map<String, Value>) {
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
}
