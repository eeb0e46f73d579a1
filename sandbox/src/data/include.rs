//! Properties that v2 lists return only when the request names them in `include_fields`, as the
//! official definitions say: a client that forgets to ask gets none of them, here as there.

use serde_json::{json, Value};

use super::{iso, Resource};

const DEALS: &[&str] = &[
    "next_activity_id",
    "last_activity_id",
    "first_won_time",
    "products_count",
    "files_count",
    "notes_count",
    "followers_count",
    "email_messages_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "participants_count",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
    "smart_bcc_email",
    "source_lead_id",
];

const PERSONS: &[&str] = &[
    "next_activity_id",
    "last_activity_id",
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
    "followers_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
    "marketing_status",
    "doi_status",
    "smart_bcc_email",
];

const ORGANIZATIONS: &[&str] = &[
    "next_activity_id",
    "last_activity_id",
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
    "followers_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
    "smart_bcc_email",
];

/// The properties of `r`'s records that only `include_fields` brings.
pub(super) fn include_only(r: Resource) -> &'static [&'static str] {
    match r {
        Resource::Deals | Resource::ArchivedDeals => DEALS,
        Resource::Persons => PERSONS,
        Resource::Organizations => ORGANIZATIONS,
        Resource::Activities => &["attendees"],
        _ => &[],
    }
}

/// Gives a listed record exactly the include-only properties `asked` names: those the record
/// was built with stay only when asked; the others are made from its id when asked.
pub(super) fn apply(r: Resource, asked: &[String], record: &mut Value) {
    let Value::Object(map) = record else { return };
    let id = map.get("id").and_then(Value::as_u64).unwrap_or(0);
    let update = map
        .get("update_time")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp());
    for name in include_only(r) {
        if !asked.iter().any(|a| a == name) {
            map.remove(*name);
        } else if !map.contains_key(*name) {
            map.insert((*name).to_string(), made_up(r, name, id, update));
        }
    }
}

/// A plausible value of an include-only property, the same for the same record every time.
fn made_up(r: Resource, name: &str, id: u64, update: i64) -> Value {
    let spread = |salt: u64| (id.wrapping_mul(2_654_435_761).wrapping_add(salt) >> 7) % 9;
    match name {
        n if n.ends_with("_count") => json!(spread(n.len() as u64)),
        "next_activity_id" | "last_activity_id" if spread(3) < 3 => Value::Null,
        "next_activity_id" | "last_activity_id" => json!(id * 3 + spread(5)),
        "first_won_time" | "last_incoming_mail_time" | "last_outgoing_mail_time"
            if spread(name.len() as u64) < 4 =>
        {
            Value::Null
        }
        "first_won_time" | "last_incoming_mail_time" | "last_outgoing_mail_time" => {
            json!(iso(update - 3_600 * (1 + spread(11) as i64)))
        }
        "smart_bcc_email" => json!(format!(
            "sandbox+{}{id}@pipedrivemail.com",
            r.name().trim_end_matches('s')
        )),
        "source_lead_id" => Value::Null,
        "marketing_status" => {
            json!(["no_consent", "unsubscribed", "subscribed", "archived"][(id % 4) as usize])
        }
        "doi_status" => json!(["pending", "confirmed"][(id % 2) as usize]),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn only_what_is_asked_is_there() {
        let mut deal = json!({"id": 7, "update_time": "2025-03-01T10:00:00Z", "title": "x"});
        apply(Resource::Deals, &[], &mut deal);
        assert_eq!(
            deal.as_object().unwrap().len(),
            3,
            "nothing unasked: {deal}"
        );
        let asked: Vec<String> = DEALS.iter().map(|s| s.to_string()).collect();
        apply(Resource::Deals, &asked, &mut deal);
        for name in DEALS {
            assert!(deal.get(*name).is_some(), "{name} asked for");
        }
        assert!(deal["products_count"].is_u64());
        let mut activity: Map<String, Value> = Map::new();
        activity.insert("id".into(), json!(1));
        activity.insert("attendees".into(), json!([]));
        let mut activity = Value::Object(activity);
        apply(Resource::Activities, &[], &mut activity);
        assert!(activity.get("attendees").is_none());
    }
}
