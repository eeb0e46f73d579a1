//! Test edits: touching, inserting and deleting records. Only the records a test edits live
//! here, in a small overlay per resource; deal edits also append changelog rows, as on
//! Pipedrive.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{iso, v1, Dataset, Resource};

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) ordinal: u64,
    pub(super) add: i64,
    pub(super) update: i64,
    pub(super) listed: bool,
    pub(super) record: Value,
}

#[derive(Default)]
pub(super) struct Layer {
    pub(super) entries: BTreeMap<u64, Entry>,
    pub(super) inserted: u64,
    pub(super) edits: u64,
    /// Deals and archived deals: the changelog rows test edits added, by ordinal, oldest first.
    pub(super) changelog: BTreeMap<u64, Vec<Value>>,
}

impl Dataset {
    /// Test edits: change a visible field and stamp the update time with `now`.
    pub(crate) fn touch(&self, r: Resource, id: &Value, now: i64) -> Value {
        self.edit(r, id, now, |record, n, ordinal| {
            let field = r.edited_field();
            let old = record
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            record.insert(field.to_string(), json!(format!("{old} ✎{n}")));
            self.fill_added(r, ordinal, record);
        })
    }

    /// Deals and projects turn `deleted` and stay listed under that status; other records
    /// leave their lists.
    pub(crate) fn delete(&self, r: Resource, id: &Value, now: i64) {
        self.edit(r, id, now, |record, _, _| {
            if r.has_status() {
                record.insert("status".into(), json!("deleted"));
            }
            if record.contains_key("active_flag") {
                record.insert("active_flag".into(), json!(false));
            } else if record.contains_key("is_deleted") {
                record.insert("is_deleted".into(), json!(true));
            }
        });
        if !r.has_status() {
            let ordinal = self.ordinal_of(r, id).unwrap_or(u64::MAX);
            let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = overlay.entry(r).or_default().entries.get_mut(&ordinal) {
                entry.listed = false;
            }
        }
    }

    pub(crate) fn insert(&self, r: Resource, now: i64) -> Value {
        self.insert_with(r, now, |_| {})
    }

    /// Adds a record like `insert`, then lets `shape` set fields a client chose (a webhook
    /// created through the API keeps the URL and events it was given).
    pub(crate) fn insert_with(
        &self,
        r: Resource,
        now: i64,
        shape: impl FnOnce(&mut Map<String, Value>),
    ) -> Value {
        assert!(
            Dataset::parent(r).is_none(),
            "sandbox: {} are derived from their parent; edit the parent instead",
            r.name()
        );
        assert!(
            r.described().is_none(),
            "sandbox: {} are field definitions; use rename_field or add_field",
            r.name()
        );
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let layer = overlay.entry(r).or_default();
        let ordinal = self.base_count(r) + layer.inserted;
        layer.inserted += 1;
        let mut record = self.build(r, ordinal, now, now);
        if let Value::Object(map) = &mut record {
            set_times(r, map, Some(now), now);
            self.fill_added(r, ordinal, map);
            shape(map);
        }
        layer.entries.insert(
            ordinal,
            Entry {
                ordinal,
                add: now,
                update: now,
                listed: true,
                record: record.clone(),
            },
        );
        record
    }

    fn edit(
        &self,
        r: Resource,
        id: &Value,
        now: i64,
        change: impl FnOnce(&mut Map<String, Value>, u64, u64),
    ) -> Value {
        assert!(
            r.described().is_none(),
            "sandbox: {} are field definitions; use rename_field or add_field",
            r.name()
        );
        let ordinal = self
            .ordinal_of(r, id)
            .unwrap_or_else(|| panic!("sandbox: {id} is not a {} id", r.name()));
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let layer = overlay.entry(r).or_default();
        let base_count = self.base_count(r);
        if ordinal >= base_count + layer.inserted {
            panic!("sandbox: no {} with id {id}", r.name());
        }
        layer.edits += 1;
        let edits = layer.edits;
        let entry = layer.entries.entry(ordinal).or_insert_with(|| Entry {
            ordinal,
            add: self.base_add(r, ordinal),
            update: self.base_update(r, ordinal),
            listed: true,
            record: self.base_record(r, ordinal),
        });
        let before = entry.record.clone();
        entry.update = now.max(entry.update);
        if let Value::Object(map) = &mut entry.record {
            change(map, edits, ordinal);
            set_times(r, map, None, entry.update);
        }
        if matches!(r, Resource::Deals | Resource::ArchivedDeals) {
            let rows = changelog_rows(&before, &entry.record, entry.update);
            layer.changelog.entry(ordinal).or_default().extend(rows);
        }
        entry.record.clone()
    }
}

/// Writes the record's time fields in the resource's own format.
fn set_times(r: Resource, map: &mut Map<String, Value>, add: Option<i64>, update: i64) {
    let (add_field, update_field, format): (&str, Option<&str>, fn(i64) -> String) = match r {
        Resource::Users => ("created", Some("modified"), v1),
        Resource::Notes
        | Resource::ActivityTypes
        | Resource::Filters
        | Resource::Files
        | Resource::MailThreads => ("add_time", Some("update_time"), v1),
        // A webhook records only when it was made.
        Resource::Webhooks => ("add_time", None, v1),
        Resource::Currencies
        | Resource::LeadSources
        | Resource::Goals
        | Resource::Roles
        | Resource::PermissionSets
        | Resource::CallLogs => return,
        _ => ("add_time", Some("update_time"), iso),
    };
    if let Some(add) = add {
        map.insert(add_field.into(), json!(format(add)));
    }
    if let Some(field) = update_field {
        map.insert(field.into(), json!(format(update)));
    }
}

/// The changelog rows for an edit: one per top-level field whose value changed.
fn changelog_rows(before: &Value, after: &Value, time: i64) -> Vec<Value> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return Vec::new();
    };
    // The times change with every edit and `is_deleted` mirrors `status`, so neither is logged.
    after
        .iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "update_time" | "is_deleted")
                && before.get(k.as_str()) != Some(*v)
        })
        .map(|(k, v)| {
            json!({
                "field_key": k,
                "old_value": changelog_value(before.get(k.as_str()).unwrap_or(&Value::Null)),
                "new_value": changelog_value(v),
                "actor_user_id": 1,
                "time": v1(time),
                "change_source": "api",
                "change_source_user_agent": "sandbox-test",
                "is_bulk_update_flag": false,
            })
        })
        .collect()
}

/// Changelog values are strings (or null), whatever the field's type.
pub(super) fn changelog_value(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    }
}
