//! Definitions list system and custom fields of many types, record values fit their
//! definitions, and renamed and added fields reach both.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::*;
use crate::data::v1;

fn is_date(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::NaiveTime::parse_from_str(s, "%H:%M:%S").is_ok())
}

fn is_id(v: &Value, max: u64) -> bool {
    v.as_u64().is_some_and(|id| (1..=max).contains(&id))
}

/// Whether a v2 value has the shape its field type promises; `ids` are every option id the
/// field ever had (deleted ones included).
fn v2_fits(kind: &str, v: &Value, ids: &[u64], size: u64) -> bool {
    let range = |v: &Value, part: fn(&Value) -> bool| {
        v.as_object().is_some_and(|o| o.len() == 2) && part(&v["value"]) && part(&v["until"])
    };
    match kind {
        "varchar" | "text" | "varchar_auto" | "phone" => v.as_str().is_some_and(|s| !s.is_empty()),
        "int" => v.is_u64(),
        "double" => v.is_f64(),
        "monetary" => {
            v.as_object().is_some_and(|o| o.len() == 2)
                && v["value"].is_number()
                && v["currency"].as_str().is_some_and(|c| c.len() == 3)
        }
        "enum" => v.as_u64().is_some_and(|id| ids.contains(&id)),
        "set" => v.as_array().is_some_and(|a| {
            !a.is_empty()
                && a.iter()
                    .all(|id| id.as_u64().is_some_and(|id| ids.contains(&id)))
        }),
        "date" => is_date(v),
        "daterange" => range(v, is_date) && v["value"].as_str() < v["until"].as_str(),
        "time" => is_time(v),
        "timerange" => range(v, is_time) && v["value"].as_str() < v["until"].as_str(),
        "address" => {
            let keys: Vec<&str> = v
                .as_object()
                .map_or(Vec::new(), |o| o.keys().map(String::as_str).collect());
            keys == [
                "value",
                "route",
                "street_number",
                "locality",
                "sublocality",
                "admin_area_level_1",
                "admin_area_level_2",
                "country",
                "postal_code",
                "formatted_address",
            ] && v["value"].is_string()
        }
        "user" => is_id(v, 12),
        "org" | "people" => is_id(v, size),
        other => panic!("no check for {other}"),
    }
}

/// The option ids a definition lists and the ones it does not list any more.
fn all_option_ids(owner: Resource, def: &Value) -> Vec<u64> {
    let live: Vec<u64> = def["options"]
        .as_array()
        .map(|o| o.iter().filter_map(|o| o["id"].as_u64()).collect())
        .unwrap_or_default();
    let Some(&first) = live.first() else {
        return live;
    };
    // The table's deleted option is the one after the live ones.
    let position = (first - owner.tag() * 100_000 - 1) / 100;
    let mut all = live.clone();
    all.push(option_id(owner, position, live.len() as u64));
    all
}

fn custom_defs(data: &Dataset, list: Resource) -> Vec<Value> {
    data.records(list)
        .into_iter()
        .filter(|d| d["is_custom_field"] == true)
        .collect()
}

#[test]
fn definitions_list_system_and_custom_fields_of_many_types() {
    let data = Dataset::new(5, 50);
    let deals = custom_defs(&data, Resource::DealFields);
    let types: HashSet<&str> = deals
        .iter()
        .map(|d| d["field_type"].as_str().unwrap())
        .collect();
    for kind in Kind::ALL {
        assert!(
            types.contains(kind.name()),
            "no deal field of type {}",
            kind.name()
        );
    }
    let names: Vec<&Value> = deals.iter().map(|d| &d["field_name"]).collect();
    let unique: HashSet<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        unique.len(),
        names.len() - 1,
        "exactly two deal fields share a name"
    );
    for list in [
        Resource::DealFields,
        Resource::PersonFields,
        Resource::OrganizationFields,
        Resource::ProductFields,
        Resource::ActivityFields,
        Resource::ProjectFields,
    ] {
        let defs = data.records(list);
        let custom = custom_defs(&data, list);
        let minimum = if matches!(list, Resource::ActivityFields | Resource::ProjectFields) {
            2
        } else {
            5
        };
        assert!(custom.len() >= minimum, "{list:?}");
        assert!(defs
            .iter()
            .any(|d| d["field_code"] == "id" && d["is_custom_field"] == false));
        for d in &custom {
            let code = d["field_code"].as_str().unwrap();
            assert!(
                code.len() == 40
                    && code
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            let kind = Kind::parse(d["field_type"].as_str().unwrap()).unwrap();
            assert_eq!(
                d["options"].is_array(),
                matches!(kind, Kind::Enum | Kind::Set),
                "{d}"
            );
            assert_eq!(
                d["subfields"].is_array(),
                !kind.subfields().is_empty(),
                "{d}"
            );
        }
        let codes: HashSet<&str> = defs
            .iter()
            .map(|d| d["field_code"].as_str().unwrap())
            .collect();
        assert_eq!(codes.len(), defs.len(), "{list:?}: field codes are unique");
    }
    let money = deals
        .iter()
        .find(|d| d["field_type"] == "monetary")
        .unwrap();
    let key = money["field_code"].as_str().unwrap();
    assert_eq!(
        money["subfields"][0]["field_code"],
        format!("{key}_currency")
    );

    // Lead fields: lead system fields, then the deal custom fields in v1 form.
    let leads = data.records(Resource::LeadFields);
    let custom_keys: Vec<&Value> = leads
        .iter()
        .filter(|f| f["edit_flag"] == true)
        .map(|f| &f["key"])
        .collect();
    let deal_keys: Vec<&Value> = deals.iter().map(|d| &d["field_code"]).collect();
    assert_eq!(custom_keys, deal_keys);
    assert!(leads
        .iter()
        .any(|f| f["key"] == "title" && f["edit_flag"] == false));
    let retired = leads
        .iter()
        .filter(|f| f.get("options_deleted").is_some())
        .count();
    assert_eq!(retired, 2, "the enum and the set field each lost an option");
    let notes = data.records(Resource::NoteFields);
    assert!(notes.iter().all(|f| !is_custom_key(&f["key"])));
    assert!(notes.iter().any(|f| f["key"] == "content"));
}

fn is_custom_key(v: &Value) -> bool {
    v.as_str().is_some_and(|k| k.len() == 40)
}

#[test]
fn record_values_fit_their_definitions() {
    let size = 300;
    let data = Dataset::new(9, size);
    for (list, owner, entities) in [
        (
            Resource::DealFields,
            Resource::Deals,
            &[Resource::Deals, Resource::ArchivedDeals][..],
        ),
        (
            Resource::PersonFields,
            Resource::Persons,
            &[Resource::Persons],
        ),
        (
            Resource::OrganizationFields,
            Resource::Organizations,
            &[Resource::Organizations],
        ),
        (
            Resource::ProductFields,
            Resource::Products,
            &[Resource::Products],
        ),
        (
            Resource::ActivityFields,
            Resource::Activities,
            &[Resource::Activities],
        ),
        (
            Resource::ProjectFields,
            Resource::Projects,
            &[Resource::Projects, Resource::ArchivedProjects],
        ),
    ] {
        let defs = custom_defs(&data, list);
        let (mut nulls, mut deleted) = (0, 0);
        for r in entities {
            for record in data.records(*r) {
                let values = record["custom_fields"].as_object().unwrap();
                assert_eq!(
                    values.len(),
                    defs.len(),
                    "{r:?}: one value per custom field"
                );
                for d in &defs {
                    let kind = d["field_type"].as_str().unwrap();
                    let v = &values[d["field_code"].as_str().unwrap()];
                    if v.is_null() {
                        nulls += 1;
                        continue;
                    }
                    let ids = all_option_ids(owner, d);
                    assert!(v2_fits(kind, v, &ids, size), "{r:?} {kind}: {v}");
                    let listed = |id: &Value| {
                        d["options"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|o| o["id"] == *id)
                    };
                    deleted += match v {
                        Value::Array(a) => a.iter().filter(|id| !listed(id)).count(),
                        id if kind == "enum" => usize::from(!listed(id)),
                        _ => 0,
                    };
                }
            }
        }
        assert!(nulls > 0, "{list:?}: some values are unset");
        assert!(deleted > 0, "{list:?}: some values name a deleted option");
    }

    // Leads: the deal custom fields flat, as v1 has them, unset ones left out.
    let defs = custom_defs(&data, Resource::DealFields);
    let mut seen = HashSet::new();
    for lead in data
        .records(Resource::Leads)
        .iter()
        .chain(&data.records(Resource::ArchivedLeads))
    {
        let lead = lead.as_object().unwrap();
        let mut expected_keys = 0;
        for d in &defs {
            let key = d["field_code"].as_str().unwrap();
            let kind = d["field_type"].as_str().unwrap();
            let Some(v) = lead.get(key) else {
                assert!(
                    !lead.keys().any(|k| k.starts_with(key)),
                    "{key}: parts of an unset field"
                );
                continue;
            };
            seen.insert(kind);
            let part = |suffix: &str| lead.get(&format!("{key}_{suffix}"));
            let parts = lead
                .keys()
                .filter(|k| k.len() > 40 && k.starts_with(key))
                .count();
            let ids = all_option_ids(Resource::Deals, d);
            let ok = match kind {
                "monetary" => {
                    v.is_number() && part("currency").is_some_and(|c| c.is_string()) && parts == 1
                }
                "daterange" => is_date(v) && part("until").is_some_and(is_date) && parts == 1,
                "timerange" => is_time(v) && part("until").is_some_and(is_time) && parts == 1,
                "address" => {
                    v.is_string()
                        && part("formatted_address") == Some(v)
                        && [
                            "route",
                            "street_number",
                            "locality",
                            "country",
                            "postal_code",
                        ]
                        .iter()
                        .all(|p| part(p).is_some_and(Value::is_string))
                }
                "enum" => v
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|id| ids.contains(&id)),
                "set" => v.as_str().is_some_and(|s| {
                    s.split(',')
                        .all(|id| id.parse::<u64>().is_ok_and(|id| ids.contains(&id)))
                }),
                _ => parts == 0 && v2_fits(kind, v, &ids, size),
            };
            assert!(
                ok,
                "lead {kind}: {v} {:?}",
                lead.iter()
                    .filter(|(k, _)| k.starts_with(key))
                    .collect::<Vec<_>>()
            );
            expected_keys += 1 + parts;
        }
        let custom_keys = lead.keys().filter(|k| k.len() >= 40).count();
        assert_eq!(custom_keys, expected_keys, "no stray custom keys");
    }
    assert_eq!(
        seen.len(),
        Kind::ALL.len(),
        "leads carry every type: {seen:?}"
    );
}

#[test]
fn renamed_and_added_fields_reach_definitions_and_records() {
    let data = Dataset::new(3, 40);
    let now = 1_800_000_000;
    let deals = custom_defs(&data, Resource::DealFields);
    let key = deals[0]["field_code"].as_str().unwrap().to_string();
    data.rename_field(Resource::DealFields, &key, "Kundenreferenz", now);
    data.rename_field(Resource::LeadFields, "title", "Lead title", now);
    let renamed = data
        .records(Resource::DealFields)
        .into_iter()
        .find(|d| d["field_code"] == key.as_str())
        .unwrap();
    assert_eq!(renamed["field_name"], "Kundenreferenz");
    let lead_field = data
        .records(Resource::LeadFields)
        .into_iter()
        .find(|d| d["key"] == key.as_str())
        .unwrap();
    assert_eq!(lead_field["name"], "Kundenreferenz");
    assert_eq!(lead_field["update_time"], v1(now));
    let titles: Vec<Value> = data
        .records(Resource::LeadFields)
        .into_iter()
        .filter(|d| d["key"] == "title")
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(titles, [json!("Lead title")]);
    assert_eq!(
        data.records(Resource::DealFields)[1]["field_name"],
        "Title",
        "deal title untouched"
    );

    let before = data.records(Resource::Deals);
    let added: Vec<(String, &str)> = ["varchar", "monetary", "enum", "address"]
        .into_iter()
        .map(|t| {
            (
                data.add_field(Resource::DealFields, &format!("Added {t}"), t, now),
                t,
            )
        })
        .collect();
    let person_key = data.add_field(Resource::PersonFields, "Added to persons", "set", now);
    let defs = data.records(Resource::DealFields);
    for (key, kind) in &added {
        assert_eq!(key.len(), 40);
        let def = defs
            .iter()
            .find(|d| d["field_code"] == key.as_str())
            .expect("listed");
        assert_eq!(def["field_type"], *kind);
        assert!(data
            .records(Resource::LeadFields)
            .iter()
            .any(|d| d["key"] == key.as_str()));
    }
    assert!(custom_defs(&data, Resource::PersonFields)
        .iter()
        .any(|d| d["field_code"] == person_key.as_str()));

    // Records made before the fields hold no value for them until an edit fills them in.
    let untouched = &data.records(Resource::Deals)[5];
    assert!(added
        .iter()
        .all(|(k, _)| untouched["custom_fields"][k].is_null()));
    assert_eq!(before[5]["update_time"], untouched["update_time"]);
    let touched = data.touch(Resource::Deals, &json!(6), now + 1);
    let inserted = data.insert(Resource::Deals, now + 2);
    for record in [&touched, &inserted] {
        for (key, kind) in &added {
            let def = defs
                .iter()
                .find(|d| d["field_code"] == key.as_str())
                .unwrap();
            let ids = all_option_ids(Resource::Deals, def);
            assert!(
                v2_fits(kind, &record["custom_fields"][key], &ids, 40),
                "{kind}: {record}"
            );
        }
    }
    let lead_id = data.records(Resource::Leads)[0]["id"].clone();
    let lead = data.touch(Resource::Leads, &lead_id, now + 3);
    let (money, _) = &added[1];
    assert!(lead[money].is_number() && lead[format!("{money}_currency")].is_string());
    let person = data.touch(Resource::Persons, &json!(1), now + 4);
    assert!(person["custom_fields"][&person_key].is_array());
    // Deterministic: the same edit on another dataset gives the same values.
    let again = Dataset::new(3, 40);
    again.rename_field(Resource::DealFields, &key, "Kundenreferenz", now);
    for (_, kind) in &added {
        again.add_field(Resource::DealFields, &format!("Added {kind}"), kind, now);
    }
    assert_eq!(again.touch(Resource::Deals, &json!(6), now + 1), touched);
}
