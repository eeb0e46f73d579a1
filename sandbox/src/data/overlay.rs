//! Test edits: touching, inserting, deleting, archiving and merging records, and removing a
//! deal's product lines. Only the records a test edits live here, in a small overlay per
//! resource; deal edits also append changelog rows, as on Pipedrive. A record archived or
//! un-archived keeps living in the overlay of the list it was made in (its home), marked as
//! moved to the other list, so its id, ordinal and children stay what they were.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::{iso, v1, Dataset, Resource};

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) ordinal: u64,
    pub(super) add: i64,
    pub(super) update: i64,
    /// False once deleted where a delete drops the record from its list.
    pub(super) listed: bool,
    /// Listed in the other list of its pair (archived since it was made live, or the reverse).
    pub(super) moved: bool,
    pub(super) record: Value,
}

#[derive(Default)]
pub(super) struct Layer {
    pub(super) entries: BTreeMap<u64, Entry>,
    pub(super) inserted: u64,
    pub(super) edits: u64,
    /// Deals and archived deals: the changelog rows test edits added, by ordinal, oldest first.
    pub(super) changelog: BTreeMap<u64, Vec<Value>>,
    /// Deal products: the ids of the product lines removed from their deals.
    pub(super) removed: BTreeSet<u64>,
}

impl Dataset {
    /// Test edits: change a visible field and stamp the update time with `now`.
    pub(crate) fn touch(&self, r: Resource, id: &Value, now: i64) -> Value {
        self.edit(r, id, now, |home, entry, n| {
            let field = home.edited_field();
            let Value::Object(record) = &mut entry.record else {
                return;
            };
            let old = record
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            record.insert(field.to_string(), json!(format!("{old} ✎{n}")));
            self.fill_added(home, entry.ordinal, record);
        })
    }

    /// Deals and projects turn `deleted` and stay listed under that status; v2 persons,
    /// organizations, products, activities, pipelines and stages turn `is_deleted` and stay
    /// listed only when `Behaviour::v2_lists_keep_deleted` says so; other records leave their
    /// lists.
    pub(crate) fn delete(&self, r: Resource, id: &Value, now: i64) {
        let keep = self.behaviour.v2_lists_keep_deleted;
        self.edit(r, id, now, |home, entry, _| {
            let Value::Object(record) = &mut entry.record else {
                return;
            };
            if home.has_status() {
                record.insert("status".into(), json!("deleted"));
            }
            if record.contains_key("active_flag") {
                record.insert("active_flag".into(), json!(false));
            } else if record.contains_key("is_deleted") {
                record.insert("is_deleted".into(), json!(true));
            }
            if !(home.has_status() || (keep && home.v2_deletable())) {
                entry.listed = false;
            }
        });
    }

    /// Moves a deal, lead or project (`r` names either list of its pair) into its archived
    /// list when `archive`, or back into the live one: same id, `is_archived` (deals, leads)
    /// and `archive_time` (deals, projects) follow, and the update time becomes `now`.
    /// Panics when the record is already where it is asked to go.
    pub(crate) fn set_archived(&self, r: Resource, id: &Value, archive: bool, now: i64) -> Value {
        assert!(
            r.twin().is_some(),
            "sandbox: {} are never archived",
            r.name()
        );
        self.edit(r, id, now, |home, entry, _| {
            let archived = home.is_archive() != entry.moved;
            assert!(
                archived != archive,
                "sandbox: {} {id} is {} already",
                home.name(),
                if archive { "archived" } else { "live" }
            );
            entry.moved = !entry.moved;
            let Value::Object(record) = &mut entry.record else {
                return;
            };
            if record.contains_key("is_archived") {
                record.insert("is_archived".into(), json!(archive));
            }
            let stamp = if archive {
                json!(iso(now))
            } else {
                Value::Null
            };
            match home {
                Resource::Projects | Resource::ArchivedProjects => {
                    record.insert("archive_time".into(), stamp);
                }
                // Only archived deals carry the field.
                Resource::Deals | Resource::ArchivedDeals if archive => {
                    record.insert("archive_time".into(), stamp);
                }
                Resource::Deals | Resource::ArchivedDeals => {
                    record.remove("archive_time");
                }
                _ => {}
            }
        })
    }

    /// Merges two persons, organizations or deals as Pipedrive does: the loser is deleted
    /// (see `delete`), the survivor is touched. Returns the survivor.
    pub(crate) fn merge(&self, r: Resource, loser: &Value, survivor: &Value, now: i64) -> Value {
        assert!(
            matches!(
                r,
                Resource::Persons | Resource::Organizations | Resource::Deals
            ),
            "sandbox: {} are never merged",
            r.name()
        );
        assert_ne!(
            loser, survivor,
            "sandbox: a record is not merged into itself"
        );
        self.delete(r, loser, now);
        self.touch(r, survivor, now)
    }

    /// Removes the product line `line` from the deal `deal` (live or archived). The deal's
    /// update time becomes `now` when `Behaviour::product_lines_touch_deal` says so.
    pub(crate) fn remove_product_line(&self, deal: &Value, line: &Value, now: i64) {
        let lines = self.children(Resource::DealProducts, deal);
        let id = line
            .as_u64()
            .filter(|_| lines.iter().any(|l| l["id"] == *line))
            .unwrap_or_else(|| panic!("sandbox: deal {deal} has no product line {line}"));
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        overlay
            .entry(Resource::DealProducts)
            .or_default()
            .removed
            .insert(id);
        drop(overlay);
        if self.behaviour.product_lines_touch_deal {
            self.edit(Resource::Deals, deal, now, |_, _, _| {});
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
                moved: false,
                record: record.clone(),
            },
        );
        record
    }

    /// Where the record `id` of `r` lives: its home resource (where it was made, which for a
    /// deal, lead or project since archived or un-archived is the other list of the pair) and
    /// its ordinal there.
    fn locate(&self, r: Resource, id: &Value) -> Option<(Resource, u64)> {
        std::iter::once(r).chain(r.twin()).find_map(|home| {
            let ordinal = self.ordinal_of(home, id)?;
            let exists = ordinal < self.count_with_inserted(home)
                && (home.twin().is_none() || self.pair_id(home, ordinal) == *id);
            exists.then_some((home, ordinal))
        })
    }

    /// The id of the record at `ordinal` of a resource kept in two lists.
    fn pair_id(&self, home: Resource, ordinal: u64) -> Value {
        match home {
            Resource::Leads | Resource::ArchivedLeads => json!(self.uuid(home, ordinal)),
            _ => json!(Self::int_id(home, ordinal)),
        }
    }

    /// Applies `change` to the record `id` of `r` (given its home resource, its overlay entry
    /// and the number of this edit), then stamps its update time with `now`.
    fn edit(
        &self,
        r: Resource,
        id: &Value,
        now: i64,
        change: impl FnOnce(Resource, &mut Entry, u64),
    ) -> Value {
        assert!(
            r.described().is_none(),
            "sandbox: {} are field definitions; use rename_field or add_field",
            r.name()
        );
        let (home, ordinal) = self
            .locate(r, id)
            .unwrap_or_else(|| panic!("sandbox: no {} with id {id}", r.name()));
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let layer = overlay.entry(home).or_default();
        layer.edits += 1;
        let edits = layer.edits;
        let entry = layer.entries.entry(ordinal).or_insert_with(|| Entry {
            ordinal,
            add: self.base_add(home, ordinal),
            update: self.base_update(home, ordinal),
            listed: true,
            moved: false,
            record: self.base_record(home, ordinal),
        });
        let before = entry.record.clone();
        entry.update = now.max(entry.update);
        change(home, entry, edits);
        if let Value::Object(map) = &mut entry.record {
            set_times(home, map, None, entry.update);
        }
        if matches!(home, Resource::Deals | Resource::ArchivedDeals) {
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
