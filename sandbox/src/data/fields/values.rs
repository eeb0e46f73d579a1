//! The custom values a record carries: drawn from (seed, record, field) and shaped by the
//! field's type, as the v2 `custom_fields` object or flat at the top level the v1 way.

use serde_json::{json, Map, Value};

use super::{option_id, Field, Kind};
use crate::data::names::{CITIES, DEAL_CURRENCIES};
use crate::data::{date, Dataset, Resource, T0, T1};

impl Dataset {
    /// A value of `field` for record `i` of `r`, in the v2 shape; null only where nothing can
    /// be referenced (no persons or organizations at all).
    fn custom_value(&self, r: Resource, i: u64, owner: Resource, field: &Field) -> Value {
        let n = self.h(r, i, field.salts().1);
        let pick = |k: u64, m: u64| (n >> (8 * k)) % m.max(1);
        let day = |k: u64| T0 + pick(k, ((T1 - T0) / 86_400) as u64) as i64 * 86_400;
        let clock = |minutes: u64| format!("{:02}:{:02}:00", minutes / 60, minutes % 60);
        match field.kind {
            Kind::Varchar => {
                json!(["Référence client", "優先度: 高", "Renewal ✔", "n/a"][pick(0, 4) as usize])
            }
            Kind::Text => json!(
                [
                    "Met at Web Summit — très intéressé.\nFollow up in Q3.",
                    "予算は来期に確定します。",
                    "Needs SSO 🔐 and an EU data centre",
                ][pick(0, 3) as usize]
            ),
            Kind::VarcharAuto => {
                json!(["SaaS", "Manufacturing", "Logística", "金融"][pick(0, 4) as usize])
            }
            Kind::Phone => json!(format!("+372 5{:03} {:04}", pick(0, 1000), pick(2, 10_000))),
            Kind::Int => json!(pick(0, 500)),
            Kind::Double => json!(pick(0, 100_000) as f64 / 100.0),
            Kind::Monetary => json!({
                "value": pick(0, 1_000_000) as f64 / 100.0,
                "currency": DEAL_CURRENCIES[pick(4, 5) as usize],
            }),
            Kind::Enum => json!(option_id(
                owner,
                field.position,
                pick(0, field.labels.len() as u64)
            )),
            Kind::Set => {
                // A non-empty subset of the options, deleted ones included, in option order.
                let count = field.labels.len() as u64;
                let mask = 1 + pick(0, (1 << count) - 1);
                json!((0..count)
                    .filter(|o| mask & (1 << o) != 0)
                    .map(|o| option_id(owner, field.position, o))
                    .collect::<Vec<_>>())
            }
            Kind::Date => json!(date(day(0))),
            Kind::Daterange => {
                let from = day(0);
                json!({"value": date(from), "until": date(from + (1 + pick(3, 90)) as i64 * 86_400)})
            }
            Kind::Time => json!(clock(8 * 60 + 15 * pick(0, 40))),
            Kind::Timerange => {
                let from = 7 * 60 + 30 * pick(0, 12);
                json!({"value": clock(from), "until": clock(from + 30 * (1 + pick(1, 8)))})
            }
            Kind::Address => {
                let (city, country, area, postal) = CITIES[pick(0, CITIES.len() as u64) as usize];
                let route = [
                    "Main Street",
                    "Rue de la Paix",
                    "Kärntner Straße",
                    "Ulica Długa",
                ][pick(1, 4) as usize];
                let number = (pick(2, 200) + 1).to_string();
                let full = format!("{route} {number}, {postal} {city}, {country}");
                json!({
                    "value": full,
                    "route": route,
                    "street_number": number,
                    "locality": city,
                    "sublocality": if pick(3, 2) == 0 { Value::Null } else { json!("Centrum") },
                    "admin_area_level_1": area,
                    "admin_area_level_2": Value::Null,
                    "country": country,
                    "postal_code": postal,
                    "formatted_address": full,
                })
            }
            Kind::User => json!(pick(0, self.base_count(Resource::Users)) + 1),
            Kind::Org | Kind::People if self.size == 0 => Value::Null,
            Kind::Org | Kind::People => json!(pick(0, self.size) + 1),
        }
    }

    /// The v2 `custom_fields` object: every field of the owner, some unset. Fields a test added
    /// are unset on records made before them until an edit fills them in.
    pub(in crate::data) fn custom_fields(&self, r: Resource, i: u64) -> Value {
        let Some(owner) = Self::custom_owner(r) else {
            return Value::Null;
        };
        let mut values = Map::new();
        for field in self.custom_of(owner) {
            let unset = field.added() || self.chance(r, i, field.salts().0, 25);
            let value = if unset {
                Value::Null
            } else {
                self.custom_value(r, i, owner, &field)
            };
            values.insert(field.key, value);
        }
        Value::Object(values)
    }

    /// Leads inherit the deal custom fields in the flat v1 format, leaving out unset ones.
    pub(in crate::data) fn lead_custom_fields(
        &self,
        r: Resource,
        i: u64,
        record: &mut Map<String, Value>,
    ) {
        for field in self.custom_of(Resource::Deals) {
            if field.added() || self.chance(r, i, field.salts().0, 40) {
                continue;
            }
            let value = self.custom_value(r, i, Resource::Deals, &field);
            flatten(&field, value, record);
        }
    }

    /// Fills the fields a test added on a record being edited or inserted, as the user would
    /// with that edit, so the new field's values start flowing.
    pub(in crate::data) fn fill_added(&self, r: Resource, i: u64, record: &mut Map<String, Value>) {
        let Some(owner) = Self::custom_owner(r) else {
            return;
        };
        let lead = matches!(r, Resource::Leads | Resource::ArchivedLeads);
        for field in self.custom_of(owner).into_iter().filter(Field::added) {
            let value = self.custom_value(r, i, owner, &field);
            if lead {
                if !record.contains_key(&field.key) {
                    flatten(&field, value, record);
                }
            } else if let Some(Value::Object(values)) = record.get_mut("custom_fields") {
                if values.get(&field.key).is_none_or(Value::is_null) {
                    values.insert(field.key.clone(), value);
                }
            }
        }
    }

    /// Legacy, for the Airbyte peer only: writes the v2 `custom_fields` object of a record of
    /// `owner`'s in the flat v1 form, each field under its key (null when unset, as v1 lists
    /// other than leads did) and its parts under suffixed keys.
    pub(in crate::data) fn flatten_custom_fields(
        &self,
        owner: Resource,
        custom: &Value,
        record: &mut Map<String, Value>,
    ) {
        for field in self.custom_of(owner) {
            let value = custom.get(&field.key).cloned().unwrap_or(Value::Null);
            if value.is_null() {
                record.insert(field.key.clone(), Value::Null);
            } else {
                flatten(&field, value, record);
            }
        }
    }
}

/// Writes a v2 value in the flat v1 form under `field`'s key: subparts under suffixed keys,
/// option ids as strings, unset parts left out.
pub(super) fn flatten(field: &Field, value: Value, record: &mut Map<String, Value>) {
    let key = &field.key;
    match (field.kind, value) {
        (_, Value::Null) => {}
        (Kind::Enum, Value::Number(id)) => {
            record.insert(key.clone(), json!(id.to_string()));
        }
        (Kind::Set, Value::Array(ids)) => {
            let ids: Vec<String> = ids.iter().map(Value::to_string).collect();
            record.insert(key.clone(), json!(ids.join(",")));
        }
        (
            Kind::Monetary | Kind::Daterange | Kind::Timerange | Kind::Address,
            Value::Object(parts),
        ) => {
            for (part, v) in parts {
                match (part.as_str(), v) {
                    (_, Value::Null) => {}
                    ("value", v) => {
                        record.insert(key.clone(), v);
                    }
                    (part, v) => {
                        record.insert(format!("{key}_{part}"), v);
                    }
                }
            }
        }
        (_, v) => {
            record.insert(key.clone(), v);
        }
    }
}
