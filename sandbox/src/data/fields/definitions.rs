//! The definitions lists as their endpoints serve them: v2 `field_code`/`field_type` objects
//! with options, subfields and optional namespaces, and the v1 shape of the lead and note
//! fields (and, for the benchmark's peer only, of every entity's).

use serde_json::{json, Map, Value};

use super::tables::{system_options, system_table, System};
use super::{made_at, option_id, Field, Kind, COLORS};
use crate::data::{iso, v1, Dataset, Resource};

impl Dataset {
    /// The definitions `list` serves, with the optional namespaces asked for; `None` when
    /// `list` is not a definitions list.
    pub(crate) fn definitions(&self, list: Resource, include: &[&str]) -> Option<Vec<Value>> {
        let entity = list.described()?;
        let system = system_table(list);
        let mut defs: Vec<Value> = match list {
            Resource::LeadFields | Resource::NoteFields => {
                let renamed = |key: &str| {
                    self.field_edits()
                        .renamed
                        .get(&(list, key.to_string()))
                        .cloned()
                };
                let mut defs: Vec<Value> = system
                    .iter()
                    .zip(1..)
                    .map(|(s, id)| v1_system(list, s, id, renamed(s.0)))
                    .collect();
                if list == Resource::LeadFields {
                    let first = defs.len() as u64 + 1;
                    defs.extend(
                        self.custom_of(Resource::Deals)
                            .iter()
                            .zip(first..)
                            .map(|(f, order)| v1_custom(Resource::Deals, f, order)),
                    );
                }
                defs
            }
            _ => {
                let renamed = |key: &str| {
                    self.field_edits()
                        .renamed
                        .get(&(list, key.to_string()))
                        .cloned()
                };
                let mut defs: Vec<Value> = system
                    .iter()
                    .map(|s| v2_system(list, s, renamed(s.0)))
                    .collect();
                defs.extend(
                    self.custom_of(entity)
                        .iter()
                        .map(|f| v2_custom(list, entity, f)),
                );
                defs
            }
        };
        if !include.is_empty() {
            for (position, def) in defs.iter_mut().enumerate() {
                for namespace in include {
                    def[*namespace] = extra(list, namespace, position as u64);
                }
            }
        }
        Some(defs)
    }

    /// Legacy, for the Airbyte peer only (see `server/legacy.rs`): the definitions of a v2
    /// list (deal, person, organization, product or activity fields) in the v1 shape its
    /// `/v1/*Fields` twin serves, the same fields in the same order; `None` for other lists.
    pub(crate) fn v1_definitions(&self, list: Resource) -> Option<Vec<Value>> {
        if !matches!(
            list,
            Resource::DealFields
                | Resource::PersonFields
                | Resource::OrganizationFields
                | Resource::ProductFields
                | Resource::ActivityFields
        ) {
            return None;
        }
        let entity = list.described()?;
        let renamed = |key: &str| {
            self.field_edits()
                .renamed
                .get(&(list, key.to_string()))
                .cloned()
        };
        let mut defs: Vec<Value> = system_table(list)
            .iter()
            .zip(1..)
            .map(|(s, id)| v1_system(list, s, id, renamed(s.0)))
            .collect();
        let first = defs.len() as u64 + 1;
        defs.extend(
            self.custom_of(entity)
                .iter()
                .zip(first..)
                .map(|(f, order)| v1_custom(entity, f, order)),
        );
        Some(defs)
    }
}

fn v2_options(owner: Resource, f: &Field) -> Value {
    if f.labels.is_empty() {
        return Value::Null;
    }
    f.live_options(owner)
        .map(|(o, id)| {
            json!({
                "id": id,
                "label": f.labels[o as usize],
                "color": COLORS.get(o as usize),
                "add_time": iso(f.add),
                "update_time": iso(f.add + o as i64 * 3600),
            })
        })
        .collect()
}

fn v2_subfields(key: &str, name: &str, kind: Kind) -> Value {
    let parts = kind.subfields();
    if parts.is_empty() {
        return Value::Null;
    }
    parts
        .iter()
        .map(|(suffix, prefix, t)| {
            json!({"field_code": format!("{key}_{suffix}"), "field_name": format!("{prefix} {name}"), "field_type": t})
        })
        .collect()
}

fn v2_custom(list: Resource, owner: Resource, f: &Field) -> Value {
    let mut def = json!({
        "field_name": f.name,
        "field_code": f.key,
        "field_type": f.kind.name(),
        "is_custom_field": true,
        "is_optional_response_field": false,
        "options": v2_options(owner, f),
        "subfields": v2_subfields(&f.key, &f.name, f.kind),
    });
    // Only the deal fields' model has a description.
    if list == Resource::DealFields {
        def["description"] = json!(format!("{} — used by the sales team", f.name));
    }
    def
}

fn v2_system(list: Resource, s: &System, renamed: Option<(String, i64)>) -> Value {
    let (code, name, kind, optional) = *s;
    let name = renamed.map_or(name.to_string(), |(n, _)| n);
    let subfields = match kind {
        "monetary" => {
            json!([{"field_code": "currency", "field_name": "Currency", "field_type": "varchar_options"}])
        }
        _ => Value::Null,
    };
    json!({
        "field_name": name,
        "field_code": code,
        "field_type": kind,
        "is_custom_field": false,
        "is_optional_response_field": optional,
        "options": system_options(list, code),
        "subfields": subfields,
    })
}

/// The v1 flags every field carries; system fields cannot be edited or deleted.
fn v1_field(
    id: u64,
    key: &str,
    name: &str,
    kind: &str,
    custom: bool,
    add: i64,
    update: Option<i64>,
) -> Value {
    json!({
        "id": id,
        "key": key,
        "name": name,
        "order_nr": id,
        "field_type": kind,
        "add_time": v1(add),
        "update_time": update.map(v1),
        "last_updated_by_user_id": if custom { json!(1) } else { Value::Null },
        "created_by_user_id": if custom { json!(1) } else { Value::Null },
        "active_flag": true,
        "edit_flag": custom,
        "index_visible_flag": true,
        "details_visible_flag": true,
        "add_visible_flag": true,
        "important_flag": false,
        "bulk_edit_allowed": true,
        "searchable_flag": custom && kind == "varchar",
        "filtering_allowed": true,
        "sortable_flag": true,
        "mandatory_flag": false,
        "options": Value::Null,
    })
}

fn v1_system(list: Resource, s: &System, id: u64, renamed: Option<(String, i64)>) -> Value {
    let (key, name, kind, _) = *s;
    let update = renamed.as_ref().map(|(_, t)| *t);
    let name = renamed.map_or(name.to_string(), |(n, _)| n);
    let mut def = v1_field(id, key, &name, kind, false, made_at(0), update);
    let options = system_options(list, key);
    if list == Resource::NoteFields {
        // The note fields' model has only these.
        let keep = [
            "id",
            "key",
            "name",
            "field_type",
            "active_flag",
            "edit_flag",
            "bulk_edit_allowed",
            "mandatory_flag",
        ];
        let mut slim: Map<String, Value> = keep
            .iter()
            .map(|k| (k.to_string(), def[*k].clone()))
            .collect();
        slim.insert("options".into(), options);
        return Value::Object(slim);
    }
    def["options"] = options;
    def
}

/// A custom field of `owner` in the v1 shape: a deal field as `/v1/leadFields` lists it, or
/// (legacy, for the Airbyte peer only) any owner's as its `/v1/*Fields` list did.
fn v1_custom(owner: Resource, f: &Field, order: u64) -> Value {
    let mut def = v1_field(
        12_000 + f.position,
        &f.key,
        &f.name,
        f.kind.name(),
        true,
        f.add,
        Some(f.renamed.unwrap_or(f.add)),
    );
    def["order_nr"] = json!(order);
    if !f.labels.is_empty() {
        def["options"] = f
            .live_options(owner)
            .map(|(o, id)| json!({"id": id, "label": f.labels[o as usize]}))
            .collect();
        if f.deleted_last {
            let o = f.labels.len() as u64 - 1;
            def["options_deleted"] =
                json!([{"id": option_id(owner, f.position, o), "label": f.labels[o as usize]}]);
        }
    }
    let parts = f.kind.subfields();
    if !parts.is_empty() {
        def["subfields"] = parts
            .iter()
            .map(|(suffix, prefix, t)| {
                json!({"key": format!("{}_{suffix}", f.key), "name": format!("{prefix} {}", f.name), "field_type": t})
            })
            .collect();
    }
    def
}

/// An optional namespace's object for the definition at `position`.
fn extra(list: Resource, namespace: &str, position: u64) -> Value {
    let deals = list == Resource::DealFields;
    match namespace {
        "ui_visibility" => {
            let mut ui =
                json!({"add_visible_flag": position % 3 != 0, "details_visible_flag": true});
            match list {
                Resource::DealFields => {
                    ui["projects_detail_visible_flag"] = json!(false);
                    ui["show_in_pipelines"] = json!({"show_in_all": position % 4 != 0, "pipeline_ids": if position % 4 == 0 { json!([1]) } else { json!([]) }});
                }
                Resource::PersonFields => {
                    ui["show_in_add_deal_dialog"] =
                        json!({"show": position % 2 == 0, "order": position});
                }
                Resource::OrganizationFields => {
                    for flag in [
                        "org_detail_visible_flag",
                        "person_detail_visible_flag",
                        "deal_detail_visible_flag",
                    ] {
                        ui[flag] = json!(true);
                    }
                    ui["show_in_add_deal_dialog"] =
                        json!({"show": position % 2 == 0, "order": position});
                    ui["show_in_add_person_dialog"] = json!({"show": false, "order": position});
                }
                _ => {}
            }
            ui
        }
        "important_fields" => {
            let enabled = position % 5 == 1;
            if deals {
                json!({"enabled": enabled, "stage_ids": if enabled { json!([1, 2]) } else { json!([]) }})
            } else {
                json!({"enabled": enabled})
            }
        }
        _ => {
            let enabled = position == 1;
            if deals {
                json!({"enabled": enabled, "stage_ids": [], "statuses": {}})
            } else {
                json!({"enabled": enabled})
            }
        }
    }
}
