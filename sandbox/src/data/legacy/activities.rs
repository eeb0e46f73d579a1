//! LEGACY: activities in their v1 shape (`Activity`), for the benchmark's Airbyte peer only.

use serde_json::{json, Map, Value};

use super::{copy, copy_times, fill, flat_address, user_name};
use crate::data::{Dataset, Resource};

impl Dataset {
    /// `Activity`, as `/v1/recents` served activities.
    pub(super) fn v1_activity(&self, a: &Value, m: &mut Map<String, Value>) {
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
}
