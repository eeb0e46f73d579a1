//! Custom fields: each company defines its own, keyed by 40-character hashes. This module turns
//! the account's field definitions into typed JSON Schema, gives v1 records (flat hash keys and
//! suffixed subfields) the same `custom_fields` object v2 records have, resolves option ids to
//! labels, and gives each field a readable snake_case column name that stays the same when the
//! field is renamed in Pipedrive (names already handed out, found in the configured catalog or
//! the state, are never reassigned).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::NameMode;
use crate::streams::engine::Shape;

/// Annotation on a readable-name property: the field key it carries, so a later sync (reading
/// the configured catalog) keeps the same name for the same key.
pub const KEY_ANNOTATION: &str = "x-pipedrive-field-key";
/// Where the name mapping is kept in a stream's state.
pub const STATE_KEY: &str = "custom_field_names";

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

    fn label(&self, id: &Value) -> Value {
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

/// Pipedrive's custom field keys: 40 lowercase hex characters.
pub fn is_custom_key(k: &str) -> bool {
    k.len() == 40
        && k.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// v1 subfield suffixes, by field type.
fn suffixes(kind: &str) -> &'static [&'static str] {
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

/// A readable column name: snake_case ASCII, not starting with a digit.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars().flat_map(fold_accent) {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push_str("field");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "f_");
    }
    out
}

/// Latin letters with accents become their base letter, so "Größe" reads as "grosse".
fn fold_accent(c: char) -> Vec<char> {
    let base = match c {
        'à'..='å' | 'À'..='Å' | 'ā' | 'ą' => 'a',
        'ç' | 'Ç' | 'č' | 'ć' => 'c',
        'è'..='ë' | 'È'..='Ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' => 'i',
        'ñ' | 'Ñ' | 'ń' | 'ň' => 'n',
        'ò'..='ö' | 'ø' | 'Ò'..='Ö' | 'Ø' | 'ő' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'š' | 'ś' | 'Š' => 's',
        'ž' | 'ź' | 'ż' | 'Ž' => 'z',
        'ł' | 'Ł' => 'l',
        'ß' => return vec!['s', 's'],
        'æ' | 'Æ' => return vec!['a', 'e'],
        other => other,
    };
    vec![base]
}

/// Field key → readable column name, for one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Naming(pub BTreeMap<String, String>);

impl Naming {
    /// Keeps every pinned name, then names each other field from its current name, avoiding
    /// `reserved` (the stream's own properties) and every name already taken. Fields are taken
    /// in key order, so the same definitions always give the same names.
    pub fn assign(pinned: &Naming, fields: &[Field], reserved: &BTreeSet<String>) -> Naming {
        let mut map = pinned.0.clone();
        let mut taken: BTreeSet<String> = reserved
            .iter()
            .cloned()
            .chain(map.values().cloned())
            .collect();
        let mut sorted: Vec<&Field> = fields.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        for f in sorted {
            if map.contains_key(&f.key) {
                continue;
            }
            let base = snake_case(&f.name);
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            taken.insert(name.clone());
            map.insert(f.key.clone(), name);
        }
        Naming(map)
    }

    /// Names pinned by a configured catalog's schema (its annotated properties).
    pub fn from_schema(schema: &Value) -> Naming {
        let mut map = BTreeMap::new();
        if let Some(props) = schema["properties"].as_object() {
            for (name, p) in props {
                if let Some(key) = p[KEY_ANNOTATION].as_str() {
                    map.insert(key.to_string(), name.clone());
                }
            }
        }
        Naming(map)
    }

    /// Names pinned by a stream's saved state.
    pub fn from_state(state: Option<&Value>) -> Naming {
        state
            .and_then(|s| s.get(STATE_KEY))
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default()
    }

    /// `self`, with `other`'s names for keys `self` does not name and names it does not use.
    pub fn or(mut self, other: &Naming) -> Naming {
        let used: BTreeSet<String> = self.0.values().cloned().collect();
        for (k, v) in &other.0 {
            if !self.0.contains_key(k) && !used.contains(v) {
                self.0.insert(k.clone(), v.clone());
            }
        }
        self
    }
}

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
        if self.mode != NameMode::Key {
            for (key, value) in &custom {
                let name = self
                    .naming
                    .0
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| key.clone());
                obj.insert(name, value.clone());
            }
        }
        if self.mode == NameMode::Name {
            obj.shift_remove("custom_fields");
        } else {
            obj.insert("custom_fields".into(), Value::Object(custom));
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
        } else if let Some(p) = props.as_object_mut() {
            p.shift_remove("custom_fields");
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

    const K1: &str = "d4de1c1518b4531717c676029a45911c340390a6";
    const K2: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
    const K3: &str = "0000000000000000000000000000000000000003";

    fn field(key: &str, name: &str, kind: &str) -> Field {
        Field {
            key: key.into(),
            name: name.into(),
            kind: kind.into(),
            description: None,
            options: vec![(json!(1), "Hot".into()), (json!(2), "Cold".into())],
        }
    }

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

    #[test]
    fn snake_case_names() {
        assert_eq!(snake_case("Lead Source"), "lead_source");
        assert_eq!(snake_case("  Größe (cm) "), "grosse_cm");
        assert_eq!(snake_case("2nd contact"), "f_2nd_contact");
        assert_eq!(snake_case("🎉"), "field");
        assert_eq!(snake_case("Société Générale"), "societe_generale");
        assert_eq!(snake_case("名前"), "field");
    }

    #[test]
    fn names_are_unique_deterministic_and_pinned() {
        let reserved: BTreeSet<String> = ["title".to_string(), "value".to_string()].into();
        let fields = vec![
            field(K1, "Title", "varchar"),
            field(K2, "Region", "varchar"),
            field(K3, "Region", "varchar"),
        ];
        let n = Naming::assign(&Naming::default(), &fields, &reserved);
        assert_eq!(n.0[K1], "title_2", "system property names are not taken");
        assert_eq!(
            n.0[K3], "region",
            "key order decides who gets the plain name"
        );
        assert_eq!(n.0[K2], "region_2");
        let mut reversed = fields.clone();
        reversed.reverse();
        assert_eq!(Naming::assign(&Naming::default(), &reversed, &reserved), n);
        // K3 is renamed in Pipedrive: its pinned name stays; a new field cannot take it.
        let renamed = vec![
            field(K3, "Territory", "varchar"),
            field(K2, "Region", "varchar"),
            field(
                "1111111111111111111111111111111111111111",
                "Region",
                "varchar",
            ),
        ];
        let again = Naming::assign(&n, &renamed, &reserved);
        assert_eq!(again.0[K3], "region");
        assert_eq!(again.0[K2], "region_2");
        assert_eq!(
            again.0["1111111111111111111111111111111111111111"],
            "region_3"
        );
    }

    #[test]
    fn pins_from_catalog_win_over_state() {
        let schema = json!({"properties": {"region": {KEY_ANNOTATION: K1}, "x": {}}});
        let catalog = Naming::from_schema(&schema);
        let state = Naming::from_state(Some(&json!({STATE_KEY: {K1: "old", K2: "other"}})));
        let both = catalog.or(&state);
        assert_eq!(both.0[K1], "region");
        assert_eq!(both.0[K2], "other");
        assert_eq!(Naming::from_state(None), Naming::default());
    }

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
