//! Webhooks v2 payloads: `meta` (ids, times, attempt, company and user), the event's `data`
//! and `previous`, for create, change and delete, and the pair of events a merge sends.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::data::mix;

/// The entities webhooks v2 reports on: the ten of the 2025 guide and the 2026 additions.
pub(crate) const ENTITIES: [&str; 16] = [
    "activity",
    "deal",
    "lead",
    "note",
    "organization",
    "person",
    "pipeline",
    "product",
    "stage",
    "user",
    "deal_installment",
    "deal_product",
    "board",
    "phase",
    "project",
    "task",
];

/// The parts of `meta` that vary from one event (or delivery attempt) to the next. The rest
/// (`action`, `entity`, `entity_id`, `type`, `version`) follows from the event itself.
#[derive(Clone, Debug, PartialEq)]
pub struct EventMeta {
    /// `meta.id`: the event's id, a UUID. Retries of one event keep it.
    pub id: String,
    /// `meta.correlation_id`: shared by the events of one operation (both halves of a merge).
    pub correlation_id: String,
    pub timestamp: DateTime<Utc>,
    /// 1 for the first try, up to 4 for the third retry.
    pub attempt: u32,
    pub company_id: u64,
    /// The user whose action triggered the event.
    pub user_id: u64,
    pub webhook_id: u64,
    pub webhook_owner_id: u64,
    pub is_bulk_edit: bool,
    /// `app` or `api`.
    pub change_source: String,
    /// `{company domain}.pipedrive.com`.
    pub host: String,
    /// Sent for every entity but `user`.
    pub permitted_user_ids: Vec<u64>,
    /// Only on the delete of a merge's loser: the survivor's id.
    pub merged_to_id: Option<String>,
    /// Only on the change of a merge's survivor: the loser's id.
    pub merged_from_id: Option<String>,
}

impl EventMeta {
    /// Meta for event number `n`: distinct, reproducible event and correlation ids, a
    /// timestamp `n` seconds into 2026, and the default sandbox's company (seed 42), admin
    /// user (1) and first webhook (1).
    pub fn numbered(n: u64) -> EventMeta {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        EventMeta {
            id: uuid(mix(n)),
            correlation_id: uuid(mix(n ^ 0xC0_44E1)),
            timestamp: start + chrono::Duration::seconds(n as i64),
            attempt: 1,
            company_id: 7_000_042,
            user_id: 1,
            webhook_id: 1,
            webhook_owner_id: 1,
            is_bulk_edit: false,
            change_source: "app".into(),
            host: "sandbox.pipedrive.com".into(),
            permitted_user_ids: vec![1],
            merged_to_id: None,
            merged_from_id: None,
        }
    }
}

impl Default for EventMeta {
    fn default() -> EventMeta {
        EventMeta::numbered(0)
    }
}

/// A UUID (version 4 layout) drawn from `z`, as event and correlation ids look.
fn uuid(z: u64) -> String {
    let w = mix(z);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        z >> 32,
        (z >> 16) & 0xffff,
        z & 0xfff,
        0x8000 | (w >> 48) & 0x3fff,
        w & 0xffff_ffff_ffff
    )
}

/// A webhooks v2 payload. `action` is `create` (needs `current` only), `change` (both; the
/// payload's `previous` keeps only the fields whose value differs from `current`, and of
/// `custom_fields` only the changed keys) or `delete` (needs `previous`, the last state; `data`
/// is null). Panics on any other combination or an entity webhooks v2 does not report on:
/// Pipedrive never sends those, so a test asking for one has a bug.
pub fn event(
    action: &str,
    entity: &str,
    current: Option<&Value>,
    previous: Option<&Value>,
    meta: EventMeta,
) -> Value {
    assert!(
        ENTITIES.contains(&entity),
        "sandbox: webhooks v2 has no entity {entity:?}"
    );
    let (data, previous) = match (action, current, previous) {
        ("create", Some(current), None) => (current.clone(), Value::Null),
        ("change", Some(current), Some(previous)) => {
            (current.clone(), changed_fields(previous, current))
        }
        ("delete", None, Some(previous)) => (Value::Null, previous.clone()),
        _ => panic!(
            "sandbox: a {action:?} event takes {}",
            match action {
                "create" => "the current state and no previous one",
                "change" => "both the current and the previous state",
                "delete" => "the last state as previous and no current one",
                _ => "nothing: use create, change or delete",
            }
        ),
    };
    let entity_id = [&data, &previous]
        .iter()
        .find_map(|v| match &v["id"] {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default();
    // Field order follows the guide's example; ids are strings there, and so here.
    let mut m = json!({
        "action": action,
        "entity": entity,
        "company_id": meta.company_id.to_string(),
        "correlation_id": meta.correlation_id,
        "entity_id": entity_id,
        "id": meta.id,
        "is_bulk_edit": meta.is_bulk_edit,
        "timestamp": meta.timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "type": "general",
        "user_id": meta.user_id.to_string(),
        "version": "2.0",
        "webhook_id": meta.webhook_id.to_string(),
        "webhook_owner_id": meta.webhook_owner_id.to_string(),
        "change_source": meta.change_source,
        "attempt": meta.attempt,
        "host": meta.host,
    });
    if entity != "user" {
        let ids: Vec<String> = meta.permitted_user_ids.iter().map(u64::to_string).collect();
        m["permitted_user_ids"] = json!(ids);
    }
    if let Some(id) = meta.merged_to_id {
        m["merged_to_id"] = json!(id);
    }
    if let Some(id) = meta.merged_from_id {
        m["merged_from_id"] = json!(id);
    }
    json!({"meta": m, "data": data, "previous": previous})
}

/// The old values of the fields that an edit changed; a field the edit added was null before.
fn changed_fields(before: &Value, after: &Value) -> Value {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return before.clone();
    };
    let mut out = Map::new();
    for (key, old) in before {
        match after.get(key) {
            Some(new) if new == old => {}
            // Custom fields sit in their own object in v2 [WHMIG]; each is a field of its own.
            Some(new) if key == "custom_fields" && new.is_object() && old.is_object() => {
                out.insert(key.clone(), changed_fields(old, new));
            }
            _ => {
                out.insert(key.clone(), old.clone());
            }
        }
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        out.insert(key.clone(), Value::Null);
    }
    Value::Object(out)
}

/// What v2 sends for a merge [WHMIG]: the delete of `loser` (`meta.merged_to_id` naming the
/// survivor) and the change of the survivor from `survivor_before` to `survivor_after`
/// (`meta.merged_from_id` naming the loser). Both carry `meta`'s correlation id and
/// timestamp; the delete has `meta.id` and the change an event id derived from it. Pipedrive
/// promises no order between the two.
pub fn merge(
    entity: &str,
    loser: &Value,
    survivor_before: &Value,
    survivor_after: &Value,
    meta: EventMeta,
) -> [Value; 2] {
    let id_of = |v: &Value| match &v["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let delete = EventMeta {
        merged_to_id: Some(id_of(survivor_after)),
        merged_from_id: None,
        ..meta.clone()
    };
    let seed = meta.id.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b)));
    let change = EventMeta {
        id: uuid(seed),
        merged_to_id: None,
        merged_from_id: Some(id_of(loser)),
        ..meta
    };
    [
        event("delete", entity, None, Some(loser), delete),
        event(
            "change",
            entity,
            Some(survivor_after),
            Some(survivor_before),
            change,
        ),
    ]
}
