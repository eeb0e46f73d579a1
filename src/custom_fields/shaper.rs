//! Shaping one stream's records and schema per the config: v1's flat values gathered into v2's
//! `custom_fields` object, option ids labelled, readable columns added; no value is ever dropped.

use serde_json::{json, Map, Value};

use super::field::suffixes;
use super::{is_custom_key, value_schema, Field, Naming, KEY_ANNOTATION, STATE_KEY};
use crate::config::NameMode;
use crate::streams::engine::Shape;

/// Everything needed to shape one stream's custom fields.
#[derive(Debug, Clone)]
pub struct Shaper {
    pub fields: Vec<Field>,
    pub mode: NameMode,
    pub labels: bool,
    /// Records hold custom fields flat at the top level (v1), not in `custom_fields`.
    pub v1: bool,
    pub naming: Naming,
}

impl Shape for Shaper {
    /// Whether records need any work at all: v2 records in key mode without labels pass as they are.
    fn needed(&self) -> bool {
        self.v1 || self.labels || self.mode != NameMode::Key
    }

    /// Shapes one record's custom fields per the mode; values are never dropped.
    fn apply(&self, record: &mut Value) {
        let Some(obj) = record.as_object_mut() else {
            return;
        };
        // v2 records, and v1 resources delivered by webhooks v2, hold a `custom_fields` object;
        // v1 records from the API hold flat keys. Both are gathered, so neither loses a value.
        let mut custom = match obj.get_mut("custom_fields").map(Value::take) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if self.v1 {
            custom.extend(self.gather_v1(obj));
        }
        if self.labels {
            for (key, value) in custom.iter_mut() {
                if let Some(f) = self.field(key) {
                    label(f, value);
                }
            }
        }
        // A readable name never takes the place of a property the record carries (declared in
        // the schema or not): such a value stays in `custom_fields`, under its key, in every mode.
        let mut kept = Map::new();
        if self.mode != NameMode::Key {
            for (key, value) in &custom {
                let name = self
                    .naming
                    .0
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| key.clone());
                if obj.contains_key(&name) {
                    kept.insert(key.clone(), value.clone());
                } else {
                    obj.insert(name, value.clone());
                }
            }
        }
        match self.mode {
            NameMode::Name if kept.is_empty() => {
                obj.shift_remove("custom_fields");
            }
            NameMode::Name => {
                obj.insert("custom_fields".into(), Value::Object(kept));
            }
            _ => {
                obj.insert("custom_fields".into(), Value::Object(custom));
            }
        }
    }

    /// The custom field names handed out, so the next sync keeps them (key mode hands out none).
    fn annotate_state(&self, state: &mut Value) {
        if self.mode != NameMode::Key {
            state[STATE_KEY] = json!(self.naming);
        }
    }
}

impl Shaper {
    fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// Moves v1's flat custom values (and their suffixed subfields) into one v2-shaped map.
    fn gather_v1(&self, obj: &mut Map<String, Value>) -> Map<String, Value> {
        let mut custom = Map::new();
        let keys: Vec<String> = obj
            .keys()
            .filter(|k| k.len() >= 40 && is_custom_key(&k[..40]))
            .cloned()
            .collect();
        for key in keys.iter().filter(|k| k.len() == 40) {
            let value = obj.shift_remove(key).unwrap_or(Value::Null);
            let shaped = match self.field(key) {
                Some(f) => v1_value(f, value, |suffix| {
                    obj.shift_remove(&format!("{key}_{suffix}"))
                }),
                None => value,
            };
            custom.insert(key.clone(), shaped);
        }
        // Subfields of fields we have no definition for stay together under their own keys.
        for key in keys.iter().filter(|k| k.len() > 40) {
            if let Some(v) = obj.shift_remove(key) {
                custom.insert(key.clone(), v);
            }
        }
        custom
    }

    /// Adds the typed custom fields to a stream's schema, per the mode.
    pub fn extend_schema(&self, schema: &mut Value) {
        let props = &mut schema["properties"];
        let mut custom = Map::new();
        for f in &self.fields {
            custom.insert(f.key.clone(), value_schema(f, self.labels));
        }
        if self.mode != NameMode::Name {
            props["custom_fields"] = json!({
                "type": ["null", "object"],
                "additionalProperties": true,
                "description": "Custom fields by Pipedrive's field key",
                "properties": custom,
            });
        } else {
            props["custom_fields"] = json!({
                "type": ["null", "object"],
                "additionalProperties": true,
                "description": "Only where a custom field's readable name is a property the record already carries: that field's value, by Pipedrive's field key",
            });
        }
        if self.mode != NameMode::Key {
            for f in &self.fields {
                if let Some(name) = self.naming.0.get(&f.key) {
                    let mut s = value_schema(f, self.labels);
                    s[KEY_ANNOTATION] = Value::String(f.key.clone());
                    props[name.as_str()] = s;
                }
            }
        }
    }
}

/// A v1 flat value in its v2 shape.
fn v1_value(f: &Field, value: Value, mut sub: impl FnMut(&str) -> Option<Value>) -> Value {
    let id_of = |v: Value| match v {
        // v1 relation fields may embed the related object: {"value": id, "name": ...}.
        Value::Object(m) => m
            .get("value")
            .or_else(|| m.get("id"))
            .cloned()
            .unwrap_or(Value::Null),
        other => other,
    };
    let number = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.to_string()))
    };
    match f.kind.as_str() {
        "monetary" => {
            let currency = sub("currency").unwrap_or(Value::Null);
            if value.is_null() && currency.is_null() {
                Value::Null
            } else {
                json!({"value": value, "currency": currency})
            }
        }
        "daterange" | "timerange" => {
            let until = sub("until").unwrap_or(Value::Null);
            if value.is_null() && until.is_null() {
                Value::Null
            } else {
                json!({"value": value, "until": until})
            }
        }
        "address" => {
            let mut m = Map::new();
            for s in suffixes("address") {
                m.insert((*s).into(), sub(s).unwrap_or(Value::Null));
            }
            if value.is_null() && m.values().all(Value::is_null) {
                Value::Null
            } else {
                m.insert("value".into(), value);
                Value::Object(m)
            }
        }
        "enum" => match value {
            Value::String(s) => number(&s),
            other => other,
        },
        "set" => match value {
            Value::String(s) => Value::Array(
                s.split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(number)
                    .collect(),
            ),
            other => other,
        },
        "user" | "org" | "people" | "deal" | "stage" | "project" => id_of(value),
        _ => value,
    }
}

/// Option ids become `{id, label}`; an id no longer among the options keeps a null label.
fn label(f: &Field, value: &mut Value) {
    let one = |id: &Value| json!({"id": id, "label": f.label(id)});
    match (f.kind.as_str(), &*value) {
        ("enum", Value::Null) | ("set", Value::Null) => {}
        ("enum", id) => *value = one(id),
        ("set", Value::Array(ids)) => *value = Value::Array(ids.iter().map(one).collect()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_fields::fixtures::{field, K1, K2, K3};
    use std::collections::BTreeSet;

    #[test]
    fn v1_records_get_v2_shapes() {
        let fields = vec![
            field(K1, "Budget", "monetary"),
            field(K2, "Tags", "set"),
            field(K3, "Heat", "enum"),
            field(
                "4444444444444444444444444444444444444444",
                "Period",
                "daterange",
            ),
            field("5555555555555555555555555555555555555555", "HQ", "address"),
            field("6666666666666666666666666666666666666666", "Owner", "user"),
        ];
        let shaper = Shaper {
            fields,
            mode: NameMode::Key,
            labels: false,
            v1: true,
            naming: Naming::default(),
        };
        let mut r = json!({
            "id": "abc", "title": "t",
            K1: 12.5, format!("{K1}_currency"): "EUR",
            K2: "1,2",
            K3: "2",
            "4444444444444444444444444444444444444444": "2024-01-01", "4444444444444444444444444444444444444444_until": "2024-02-01",
            "5555555555555555555555555555555555555555": "Main St 1", "5555555555555555555555555555555555555555_locality": "Tallinn",
            "6666666666666666666666666666666666666666": {"value": 7, "name": "Ann"},
            "9999999999999999999999999999999999999999": "unknown field",
            "9999999999999999999999999999999999999999_currency": "USD",
        });
        shaper.apply(&mut r);
        let c = &r["custom_fields"];
        assert_eq!(c[K1], json!({"value": 12.5, "currency": "EUR"}));
        assert_eq!(c[K2], json!([1, 2]));
        assert_eq!(c[K3], json!(2));
        assert_eq!(
            c["4444444444444444444444444444444444444444"],
            json!({"value": "2024-01-01", "until": "2024-02-01"})
        );
        assert_eq!(
            c["5555555555555555555555555555555555555555"]["locality"],
            "Tallinn"
        );
        assert_eq!(
            c["5555555555555555555555555555555555555555"]["value"],
            "Main St 1"
        );
        assert_eq!(c["6666666666666666666666666666666666666666"], json!(7));
        assert_eq!(
            c["9999999999999999999999999999999999999999"], "unknown field",
            "values of unknown fields are kept"
        );
        assert_eq!(
            c["9999999999999999999999999999999999999999_currency"],
            "USD"
        );
        let top: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(
            top,
            vec!["id", "title", "custom_fields"],
            "no hash keys left at the top"
        );
    }

    #[test]
    fn labels_and_names() {
        let fields = vec![field(K1, "Heat", "enum"), field(K2, "Tags", "set")];
        let naming = Naming::assign(&Naming::default(), &fields, &BTreeSet::new());
        let shaper = Shaper {
            fields,
            mode: NameMode::Both,
            labels: true,
            v1: false,
            naming,
        };
        let mut r = json!({"id": 1, "custom_fields": {K1: 1, K2: [2, 9], "ffffffffffffffffffffffffffffffffffffffff": "new"}});
        shaper.apply(&mut r);
        assert_eq!(r["custom_fields"][K1], json!({"id": 1, "label": "Hot"}));
        assert_eq!(
            r["tags"],
            json!([{"id": 2, "label": "Cold"}, {"id": 9, "label": null}]),
            "deleted option keeps its id"
        );
        assert_eq!(r["heat"], r["custom_fields"][K1]);
        assert_eq!(
            r["ffffffffffffffffffffffffffffffffffffffff"], "new",
            "a field unknown at discovery still arrives"
        );

        let name_only = Shaper {
            mode: NameMode::Name,
            labels: false,
            ..shaper.clone()
        };
        let mut r = json!({"id": 1, "custom_fields": {K1: 1}});
        name_only.apply(&mut r);
        assert_eq!(r, json!({"id": 1, "heat": 1}));
    }

    /// A custom field named like a property the record carries (declared or not) never takes
    /// its place: the native value stays, the custom one stays under `custom_fields`.
    #[test]
    fn a_readable_name_never_overwrites_a_property_the_record_carries() {
        let fields = vec![
            field(K1, "Local won date", "date"),
            field(K2, "Tags", "set"),
        ];
        // Nothing reserved: the schema does not declare `local_won_date`, records carry it.
        let naming = Naming::assign(&Naming::default(), &fields, &BTreeSet::new());
        assert_eq!(naming.0[K1], "local_won_date");
        for mode in [NameMode::Name, NameMode::Both] {
            let shaper = Shaper {
                fields: fields.clone(),
                mode,
                labels: false,
                v1: false,
                naming: naming.clone(),
            };
            let mut r = json!({"id": 1, "local_won_date": "2025-01-02", "custom_fields": {K1: "2024-12-31", K2: [2]}});
            shaper.apply(&mut r);
            assert_eq!(r["local_won_date"], "2025-01-02", "{mode:?}");
            assert_eq!(r["custom_fields"][K1], "2024-12-31", "{mode:?}");
            assert_eq!(r["tags"], json!([2]), "{mode:?}");
        }
        let name_only = Shaper {
            fields,
            mode: NameMode::Name,
            labels: false,
            v1: true,
            naming,
        };
        // v1: the flat value is gathered, and still does not overwrite.
        let mut r = json!({"id": 1, "local_won_date": "2025-01-02", K1: "2024-12-31"});
        name_only.apply(&mut r);
        assert_eq!(
            r,
            json!({"id": 1, "local_won_date": "2025-01-02", "custom_fields": {K1: "2024-12-31"}})
        );
    }

    #[test]
    fn schemas_are_typed_titled_and_annotated() {
        let fields = vec![field(K1, "Heat", "enum"), field(K2, "Budget", "monetary")];
        let naming = Naming::assign(&Naming::default(), &fields, &BTreeSet::new());
        let shaper = Shaper {
            fields,
            mode: NameMode::Both,
            labels: false,
            v1: false,
            naming,
        };
        let mut schema = json!({"properties": {"id": {"type": "integer"}, "custom_fields": {}}});
        shaper.extend_schema(&mut schema);
        let p = &schema["properties"];
        assert_eq!(
            p["custom_fields"]["properties"][K2]["properties"]["currency"]["type"],
            json!(["null", "string"])
        );
        assert_eq!(p["heat"]["title"], "Heat");
        assert_eq!(p["heat"][KEY_ANNOTATION], K1);
        assert!(p["budget"]["description"].as_str().unwrap().contains(K2));
        for kind in [
            "int",
            "double",
            "date",
            "time",
            "set",
            "address",
            "daterange",
            "timerange",
            "user",
            "json",
            "brand_new",
        ] {
            let s = value_schema(&field(K1, "x", kind), true);
            assert_eq!(s["title"], "x", "{kind}");
        }
    }
}
