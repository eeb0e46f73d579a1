//! A record as the engine handles it: its top-level properties, each value still the JSON text
//! the API sent, borrowed from the page. Most records are written out exactly as they came, so
//! building a tree of every value only to serialize it again would be most of the CPU a sync
//! costs. What the engine reads or changes (the cursor, the id, a deletion flag, v1 times, a
//! parent's id) is all top-level; a record that needs more (custom-field shaping, the
//! soft-delete column) becomes a `Value` first.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::time;

/// One record: its properties in the order the API sent them.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    props: Vec<(Cow<'a, str>, Cow<'a, RawValue>)>,
}

impl<'a> Record<'a> {
    /// The record whose JSON text is `text`: an object, or an error saying what it is instead.
    /// (Pages parse their records in place: `page::Envelope`.)
    pub fn parse(text: &'a str) -> Result<Record<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A property's JSON text.
    pub fn raw(&self, key: &str) -> Option<&RawValue> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// A property's JSON text, taken out of the record.
    pub fn into_raw(self, key: &str) -> Option<Cow<'a, RawValue>> {
        self.props
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// A property's value.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.raw(key)
            .and_then(|r| serde_json::from_str(r.get()).ok())
    }

    /// A string property's text (unescaped).
    pub fn str(&self, key: &str) -> Option<Cow<'_, str>> {
        let raw = self.raw(key)?.get();
        if !raw.starts_with('"') {
            return None;
        }
        match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) if !inner.contains('\\') => Some(Cow::Borrowed(inner)),
            _ => serde_json::from_str::<String>(raw).ok().map(Cow::Owned),
        }
    }

    /// A date-time property, in any of Pipedrive's forms.
    pub fn time(&self, key: &str) -> Option<DateTime<Utc>> {
        self.str(key).and_then(|s| time::parse(&s))
    }

    /// Sets a property, in place when it exists, last otherwise.
    pub fn set(&mut self, key: &str, value: &Value) {
        let raw = Cow::Owned(to_raw(value));
        match self.props.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = raw,
            None => self.props.push((Cow::Owned(key.to_string()), raw)),
        }
    }

    /// Rewrites v1's `YYYY-MM-DD HH:MM:SS` (UTC) times in `fields` as RFC 3339, like v2's.
    pub fn normalize_v1(&mut self, fields: &[String]) {
        for f in fields {
            let Some(s) = self.str(f) else { continue };
            if let Some(t) = time::v1_to_rfc3339(&s) {
                self.set(f, &Value::String(t));
            }
        }
    }

    /// The whole record as a tree, for the changes that need one.
    pub fn into_value(self) -> Value {
        let mut map = serde_json::Map::with_capacity(self.props.len());
        for (k, v) in self.props {
            let value = serde_json::from_str(v.get()).unwrap_or(Value::Null);
            map.insert(k.into_owned(), value);
        }
        Value::Object(map)
    }
}

fn to_raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a Value serializes")
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.props.len()))?;
        for (k, v) in &self.props {
            map.serialize_entry(k.as_ref(), v.as_ref())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Props;
        impl<'de> Visitor<'de> for Props {
            type Value = Record<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a record (a JSON object)")
            }

            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<Record<'de>, M::Error> {
                Record::from_map(m)
            }
        }
        d.deserialize_map(Props)
    }
}

impl<'de> Record<'de> {
    /// The record a JSON object being parsed holds, its values borrowed from the text.
    pub fn from_map<M: MapAccess<'de>>(mut m: M) -> Result<Record<'de>, M::Error> {
        let mut props = Vec::with_capacity(m.size_hint().unwrap_or(48));
        while let Some(key) = m.next_key::<Key<'de>>()? {
            let value: &'de RawValue = m.next_value()?;
            props.push((key.0, Cow::Borrowed(value)));
        }
        Ok(Record { props })
    }
}

/// A property name, borrowed unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct K;
        impl<'de> Visitor<'de> for K {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a property name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_untouched_record_is_written_as_it_came() {
        let text = r#"{"id":7,"title":"caf\u00e9 \"x\"","nested":{"b":[1,2.50,null]},"update_time":"2024-01-02T03:04:05Z"}"#;
        let rec = Record::parse(text).unwrap();
        assert_eq!(serde_json::to_string(&rec).unwrap(), text);
        assert_eq!(rec.get("id"), Some(json!(7)));
        assert_eq!(rec.str("title").as_deref(), Some("café \"x\""));
        assert_eq!(
            rec.time("update_time"),
            Some("2024-01-02T03:04:05Z".parse().unwrap())
        );
        assert_eq!(rec.str("id"), None);
        assert_eq!(rec.raw("missing").map(RawValue::get), None);
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(rec.into_value(), value);
    }

    #[test]
    fn changes_keep_the_order_and_append_new_properties() {
        let text = r#"{"id":1,"add_time":"2024-01-02 03:04:05","update_time":"2024-01-02 03:04:06","deal_id":null}"#;
        let mut rec = Record::parse(text).unwrap();
        rec.normalize_v1(&["add_time".into(), "update_time".into(), "absent".into()]);
        rec.set("deal_id", &json!(9));
        rec.set("_ab_cdc_deleted_at", &json!("x"));
        assert_eq!(
            serde_json::to_string(&rec).unwrap(),
            r#"{"id":1,"add_time":"2024-01-02T03:04:05Z","update_time":"2024-01-02T03:04:06Z","deal_id":9,"_ab_cdc_deleted_at":"x"}"#
        );
    }

    #[test]
    fn normalizes_only_named_v1_fields() {
        let text = r#"{"update_time":"2024-03-05 10:20:30","add_time":null,"title":"2024-03-05 10:20:30","x":"2024-03-05T10:20:30Z"}"#;
        let mut rec = Record::parse(text).unwrap();
        rec.normalize_v1(&["update_time".into(), "add_time".into(), "x".into()]);
        assert_eq!(
            rec.into_value(),
            json!({"update_time": "2024-03-05T10:20:30Z", "add_time": null, "title": "2024-03-05 10:20:30", "x": "2024-03-05T10:20:30Z"})
        );
    }

    #[test]
    fn escaped_names_and_non_objects() {
        let rec = Record::parse(r#"{"a\"b":1}"#).unwrap();
        assert_eq!(rec.get("a\"b"), Some(json!(1)));
        assert_eq!(serde_json::to_string(&rec).unwrap(), r#"{"a\"b":1}"#);
        for bad in ["[1]", "3", "\"s\"", "null"] {
            assert!(Record::parse(bad).is_err(), "{bad}");
        }
    }
}
