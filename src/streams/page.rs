//! A page's body, read once where it arrives: the envelope's small parts (`success`, `error`,
//! `additional_data`) as values, and where in the text each record of `data` is. Parsing it
//! in the HTTP client's retry loop means a body cut short or not JSON is asked for again, and
//! the records are not scanned a second time to find them: the engine reads each one in place.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::record::Record;
use crate::http::Body;

#[derive(Debug)]
pub struct PageBody {
    text: String,
    pub success: Option<Value>,
    pub error: Option<Value>,
    pub additional_data: Value,
    data: Data<Range<usize>>,
}

/// What `data` is: `T` locates a value (borrowed text while parsing, a range of the body after).
#[derive(Debug)]
enum Data<T> {
    Absent,
    List(Vec<T>),
    Object(Vec<(String, T)>),
    /// Anything else, by kind: `null`, `a string`...
    Other(&'static str),
}

/// What `data` holds, as the engine asks for it.
pub enum Found<'a> {
    Records(Vec<Record<'a>>),
    /// Not there, or `null`.
    Nothing,
    /// Something else: its kind, for the error.
    Not(&'static str),
}

impl PageBody {
    fn at(&self, r: &Range<usize>) -> &str {
        &self.text[r.clone()]
    }

    /// `data` as a list of records.
    pub fn list(&self) -> Result<Found<'_>, serde_json::Error> {
        match &self.data {
            Data::Absent | Data::Other("null") => Ok(Found::Nothing),
            Data::List(items) => Ok(Found::Records(
                items
                    .iter()
                    .map(|r| Record::parse_str(self.at(r)))
                    .collect::<Result<_, _>>()?,
            )),
            Data::Object(_) => Ok(Found::Not("an object")),
            Data::Other(kind) => Ok(Found::Not(kind)),
        }
    }

    /// `data` as one record (a list is taken as records too).
    pub fn object(&self) -> Result<Found<'_>, serde_json::Error> {
        match &self.data {
            Data::Object(_) => Ok(Found::Records(vec![self.data_record()?])),
            _ => self.list(),
        }
    }

    /// `data.<field>` as a list of records.
    pub fn nested(&self, field: &str) -> Result<Found<'_>, serde_json::Error> {
        let Data::Object(entries) = &self.data else {
            return Ok(Found::Nothing);
        };
        let Some((_, r)) = entries.iter().find(|(k, _)| k == field) else {
            return Ok(Found::Nothing);
        };
        match serde_json::from_str::<Option<Vec<&RawValue>>>(self.at(r)) {
            Ok(None) => Ok(Found::Nothing),
            Ok(Some(items)) => Ok(Found::Records(
                items
                    .into_iter()
                    .map(|i| Record::parse_str(i.get()))
                    .collect::<Result<_, _>>()?,
            )),
            Err(_) => Ok(Found::Not(kind_of(self.at(r)))),
        }
    }

    fn data_record(&self) -> Result<Record<'_>, serde_json::Error> {
        let Data::Object(entries) = &self.data else {
            unreachable!("only called on an object");
        };
        let props = entries
            .iter()
            .map(|(k, r)| {
                let raw: &RawValue = serde_json::from_str(self.at(r))?;
                Ok((Cow::Owned(k.clone()), Cow::Borrowed(raw)))
            })
            .collect::<Result<_, serde_json::Error>>()?;
        Ok(Record::from_props(props))
    }
}

impl Body for PageBody {
    fn decode(bytes: Vec<u8>) -> Result<Self, serde_json::Error> {
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            // Let the parser say where the bad bytes are.
            Err(e) => return Err(serde_json::from_slice::<Value>(e.as_bytes()).unwrap_err()),
        };
        let envelope: Envelope = serde_json::from_str(&text)?;
        let base = text.as_ptr() as usize;
        let range = |raw: &RawValue| {
            let start = raw.get().as_ptr() as usize - base;
            start..start + raw.get().len()
        };
        let data = match envelope.data {
            Data::Absent => Data::Absent,
            Data::List(items) => Data::List(items.into_iter().map(range).collect()),
            Data::Object(entries) => {
                Data::Object(entries.into_iter().map(|(k, v)| (k, range(v))).collect())
            }
            Data::Other(kind) => Data::Other(kind),
        };
        Ok(PageBody {
            success: envelope.success,
            error: envelope.error,
            additional_data: envelope.additional_data,
            data,
            text,
        })
    }
}

fn kind_of(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

/// The envelope as parsed, borrowing `data`'s parts from the body.
struct Envelope<'a> {
    success: Option<Value>,
    error: Option<Value>,
    additional_data: Value,
    data: Data<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("Pipedrive's answer (a JSON object)")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Envelope<'de>, M::Error> {
                let mut e = Envelope {
                    success: None,
                    error: None,
                    additional_data: Value::Null,
                    data: Data::Absent,
                };
                while let Some(key) = m.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "success" => e.success = Some(m.next_value()?),
                        "error" => e.error = Some(m.next_value()?),
                        "additional_data" => e.additional_data = m.next_value()?,
                        "data" => e.data = m.next_value::<DataIn>()?.0,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(e)
            }
        }
        d.deserialize_map(V)
    }
}

/// `data`, whatever it is, its parts borrowed.
struct DataIn<'a>(Data<&'a RawValue>);

impl<'de> Deserialize<'de> for DataIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataIn<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`data`")
            }

            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<DataIn<'de>, S::Error> {
                let mut items = Vec::with_capacity(s.size_hint().unwrap_or(500));
                while let Some(item) = s.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(DataIn(Data::List(items)))
            }

            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<DataIn<'de>, M::Error> {
                let mut entries = Vec::new();
                while let Some(key) = m.next_key::<String>()? {
                    entries.push((key, m.next_value::<&'de RawValue>()?));
                }
                Ok(DataIn(Data::Object(entries)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Other("null")))
            }

            fn visit_none<E: de::Error>(self) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Other("null")))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Other("a boolean")))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Other("a number")))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Other("a number")))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Other("a number")))
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Other("a string")))
            }
        }
        d.deserialize_any(V)
    }
}
