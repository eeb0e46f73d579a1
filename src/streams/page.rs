//! A page's body, parsed in one pass over its text: the envelope's small parts (`success`,
//! `error`, `additional_data`) as values, and each record of `data` as a `Record` borrowing its
//! values from the text. The HTTP client hands the text over inside its retry loop, so a body
//! cut short or not JSON fails this parse and is asked for again.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::record::Record;

pub struct Envelope<'a> {
    pub success: Option<Value>,
    pub error: Option<Value>,
    pub additional_data: Value,
    data: Data<'a>,
}

/// What `data` is.
enum Data<'a> {
    /// Not there, or `null`.
    Absent,
    List(Vec<Record<'a>>),
    Object(Record<'a>),
    /// Anything else, by kind: `a string`, `a number`...
    Other(&'static str),
}

impl<'a> Data<'a> {
    /// As a list of records.
    fn list(self) -> Found<'a> {
        match self {
            Data::Absent => Found::Nothing,
            Data::List(records) => Found::Records(records),
            Data::Object(_) => Found::Not("an object"),
            Data::Other(kind) => Found::Not(kind),
        }
    }
}

/// What `data` holds, as the engine asks for it.
pub enum Found<'a> {
    Records(Vec<Record<'a>>),
    /// Not there, or `null`.
    Nothing,
    /// Something else: its kind, for the error.
    Not(&'static str),
}

impl<'a> Envelope<'a> {
    pub fn parse(text: &'a str) -> Result<Envelope<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// `data` as a list of records.
    pub fn list(self) -> Found<'a> {
        self.data.list()
    }

    /// `data` as one record (a list is taken as records too).
    pub fn object(self) -> Found<'a> {
        match self.data {
            Data::Object(record) => Found::Records(vec![record]),
            other => other.list(),
        }
    }

    /// `data.<field>` as a list of records.
    pub fn nested(self, field: &str) -> Result<Found<'a>, serde_json::Error> {
        let Data::Object(record) = self.data else {
            return Ok(Found::Nothing);
        };
        let Some(raw) = record.into_raw(field) else {
            return Ok(Found::Nothing);
        };
        let Cow::Borrowed(raw) = raw else {
            unreachable!("a parsed record's values are borrowed");
        };
        Ok(serde_json::from_str::<DataIn>(raw.get())?.0.list())
    }
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

/// `data`, whatever it is.
struct DataIn<'a>(Data<'a>);

impl<'de> Deserialize<'de> for DataIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataIn<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`data`")
            }

            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<DataIn<'de>, S::Error> {
                let mut records = Vec::with_capacity(s.size_hint().unwrap_or(500));
                while let Some(record) = s.next_element::<Record<'de>>()? {
                    records.push(record);
                }
                Ok(DataIn(Data::List(records)))
            }

            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<DataIn<'de>, M::Error> {
                Ok(DataIn(Data::Object(Record::from_map(m)?)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<DataIn<'de>, E> {
                Ok(DataIn(Data::Absent))
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
