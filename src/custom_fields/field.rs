//! One custom field as the account defines it (from a v1 or v2 `*_fields` item), and the JSON
//! Schema of its value, by field type.

use serde_json::{json, Map, Value};

use super::is_custom_key;

/// One custom field definition of the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
    /// (option id, label)
    pub options: Vec<(Value, String)>,
}

impl Field {
    /// From a v2 `*Fields` item; `None` for system fields.
    pub fn from_v2(item: &Value) -> Option<Field> {
        if item["is_custom_field"] != json!(true) {
            return None;
        }
        Some(Field {
            key: item["field_code"].as_str()?.to_string(),
            name: item["field_name"].as_str().unwrap_or_default().to_string(),
            kind: item["field_type"].as_str().unwrap_or_default().to_string(),
            description: item["description"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            options: options(&item["options"]),
        })
    }

    /// From a v1 `*Fields` item; custom fields are the ones with hash keys.
    pub fn from_v1(item: &Value) -> Option<Field> {
        let key = item["key"].as_str().filter(|k| is_custom_key(k))?;
        Some(Field {
            key: key.to_string(),
            name: item["name"].as_str().unwrap_or_default().to_string(),
            kind: item["field_type"].as_str().unwrap_or_default().to_string(),
            description: None,
            options: options(&item["options"]),
        })
    }

    /// The custom fields among the items of a field-definition stream (`*_fields`), as its v1
    /// or v2 endpoint lists them.
    pub fn from_items(items: &[Value], v1: bool) -> Vec<Field> {
        let from = if v1 { Field::from_v1 } else { Field::from_v2 };
        items.iter().filter_map(from).collect()
    }

    pub(super) fn label(&self, id: &Value) -> Value {
        let id = id_text(id);
        self.options
            .iter()
            .find(|(o, _)| id_text(o) == id)
            .map_or(Value::Null, |(_, l)| Value::String(l.clone()))
    }
}

fn options(v: &Value) -> Vec<(Value, String)> {
    v.as_array()
        .map(|opts| {
            opts.iter()
                .map(|o| {
                    (
                        o["id"].clone(),
                        o["label"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// v1 subfield suffixes, by field type.
pub(super) fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "monetary" => &["currency"],
        "daterange" | "timerange" => &["until"],
        "address" => &[
            "subpremise",
            "street_number",
            "route",
            "sublocality",
            "locality",
            "admin_area_level_1",
            "admin_area_level_2",
            "country",
            "postal_code",
            "formatted_address",
        ],
        _ => &[],
    }
}

fn nullable(t: &str) -> Value {
    json!({ "type": ["null", t] })
}

/// The JSON Schema of a custom field's value in v2 form (as `custom_fields` holds it).
pub fn value_schema(field: &Field, labels: bool) -> Value {
    let option = || {
        if labels {
            json!({"type": ["null", "object"], "properties": {"id": {"type": ["integer", "string"]}, "label": {"type": ["null", "string"]}}})
        } else {
            json!({"type": ["integer", "string"]})
        }
    };
    let mut schema = match field.kind.as_str() {
        "int" => nullable("integer"),
        "double" => nullable("number"),
        "boolean" => nullable("boolean"),
        "date" => json!({"type": ["null", "string"], "format": "date"}),
        "time" | "varchar" | "varchar_auto" | "varchar_options" | "text" | "phone" | "lead" => {
            nullable("string")
        }
        "user" | "org" | "people" | "deal" | "stage" | "project" | "activity" | "picture" => {
            nullable("integer")
        }
        "enum" => {
            let mut o = option();
            if !labels {
                o["type"] = json!(["null", "integer", "string"]);
            }
            o
        }
        "set" => json!({"type": ["null", "array"], "items": option()}),
        "monetary" => json!({"type": ["null", "object"], "properties": {
            "value": {"type": ["null", "number"]}, "currency": {"type": ["null", "string"]}}}),
        "daterange" => json!({"type": ["null", "object"], "properties": {
            "value": {"type": ["null", "string"], "format": "date"}, "until": {"type": ["null", "string"], "format": "date"}}}),
        "timerange" => json!({"type": ["null", "object"], "properties": {
            "value": {"type": ["null", "string"]}, "until": {"type": ["null", "string"]}}}),
        "address" => {
            let mut props = Map::new();
            props.insert("value".into(), nullable("string"));
            for s in suffixes("address") {
                props.insert((*s).into(), nullable("string"));
            }
            json!({"type": ["null", "object"], "properties": props})
        }
        // json and anything Pipedrive adds later: any value.
        _ => json!({}),
    };
    schema["title"] = Value::String(field.name.clone());
    let what = format!(
        "Custom field \"{}\" ({}), key {}",
        field.name, field.kind, field.key
    );
    schema["description"] = Value::String(match &field.description {
        Some(d) => format!("{what}. {d}"),
        None => what,
    });
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_fields::fixtures::K1;

    #[test]
    fn keys_and_definitions() {
        assert!(is_custom_key(K1));
        assert!(!is_custom_key("title"));
        assert!(!is_custom_key(&K1.to_uppercase()));
        let v2 = json!({"field_code": K1, "field_name": "Size", "field_type": "enum", "is_custom_field": true,
                        "options": [{"id": 1, "label": "S"}]});
        assert_eq!(
            Field::from_v2(&v2).unwrap().options,
            vec![(json!(1), "S".to_string())]
        );
        assert!(
            Field::from_v2(&json!({"field_code": "title", "is_custom_field": false})).is_none()
        );
        assert_eq!(
            Field::from_v1(&json!({"key": K1, "name": "Size", "field_type": "set"}))
                .unwrap()
                .kind,
            "set"
        );
        assert!(Field::from_v1(&json!({"key": "title", "name": "Title"})).is_none());
    }
}
