//! Where the next page starts: a page's records found in its envelope, and the cursor or offset
//! of the page after it, refusing answers that would loop.

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::streams::page::{Envelope, Found};
use crate::streams::record::Record;
use crate::streams::{Paging, Records};

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PageToken {
    First,
    Cursor(String),
    Start(u64),
}

pub(super) struct Page<'a> {
    pub(super) records: Vec<Record<'a>>,
    pub(super) next: Option<PageToken>,
}

pub(super) fn parse_page<'a>(
    paging: Paging,
    shape: Records,
    mut envelope: Envelope<'a>,
    token: &PageToken,
) -> Result<Page<'a>> {
    if envelope.success == Some(json!(false)) {
        let err = envelope
            .error
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        bail!("Pipedrive answered success=false: {err}");
    }
    let extra = std::mem::take(&mut envelope.additional_data);
    let (at, found) = match shape {
        Records::Data => ("data", envelope.list()),
        Records::Nested(field) => ("data.<field>", envelope.nested(field)?),
        Records::Object => ("data", envelope.object()),
    };
    let records = match found {
        Found::Records(r) => r,
        Found::Nothing => Vec::new(),
        Found::Not(kind) => bail!("`{at}` is {kind}, not a list"),
    };
    next_page(paging, &extra, records, token)
}

/// Where the page after this one starts, from its `additional_data`.
fn next_page<'a>(
    paging: Paging,
    extra: &Value,
    records: Vec<Record<'a>>,
    token: &PageToken,
) -> Result<Page<'a>> {
    let next = match paging {
        Paging::Single => None,
        Paging::Cursor { .. } => match &extra["next_cursor"] {
            Value::String(c) if !c.is_empty() => {
                if *token == PageToken::Cursor(c.clone()) {
                    bail!("the API returned the same next_cursor twice ({c}); stopping instead of looping");
                }
                Some(PageToken::Cursor(c.clone()))
            }
            Value::Null | Value::String(_) => None,
            other => bail!(
                "`additional_data.next_cursor` is {}, not a string",
                kind(other)
            ),
        },
        Paging::Offset { limit } => {
            // Most v1 lists nest `pagination`; leads put its fields in `additional_data` itself;
            // a few (mail threads, permission set assignments) say nothing, so a full page
            // means there may be more.
            let p = if extra["pagination"].is_object() {
                &extra["pagination"]
            } else {
                extra
            };
            let current = match token {
                PageToken::Start(s) => *s,
                _ => 0,
            };
            let more = match p["more_items_in_collection"].as_bool() {
                Some(more) => more,
                None => records.len() as u64 >= u64::from(limit),
            };
            if more {
                let next = p["next_start"].as_u64().unwrap_or_else(|| {
                    p["start"].as_u64().unwrap_or(current) + records.len() as u64
                });
                if next <= current {
                    bail!("the API's next_start ({next}) does not move past start ({current}); stopping instead of looping");
                }
                Some(PageToken::Start(next))
            } else {
                None
            }
        }
    };
    Ok(Page { records, next })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page's records (as text) and next token, from a body given as a `Value`.
    struct Parsed {
        records: Vec<String>,
        next: Option<PageToken>,
    }

    fn page(paging: Paging, shape: Records, body: Value, token: &PageToken) -> Result<Parsed> {
        let text = body.to_string();
        let p = parse_page(paging, shape, Envelope::parse(&text)?, token)?;
        Ok(Parsed {
            records: p
                .records
                .iter()
                .map(|r| serde_json::to_string(r).unwrap())
                .collect(),
            next: p.next,
        })
    }

    #[test]
    fn every_shape_of_data() {
        let nested = page(
            Paging::Single,
            Records::Nested("goals"),
            json!({"success": true, "data": {"goals": [{"id": "g1"}, {"id": "g2"}]}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(nested.records, [r#"{"id":"g1"}"#, r#"{"id":"g2"}"#]);
        let one = page(
            Paging::Single,
            Records::Object,
            json!({"success": true, "data": {"can_add": true}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(one.records, [r#"{"can_add":true}"#]);
        for empty in [
            json!({"success": true, "data": null}),
            json!({"success": true}),
        ] {
            for shape in [Records::Data, Records::Nested("goals"), Records::Object] {
                let p = page(Paging::Single, shape, empty.clone(), &PageToken::First).unwrap();
                assert!(p.records.is_empty(), "{empty} {shape:?}");
            }
        }
        let no_goals = json!({"success": true, "data": {"goals": null}});
        let p = page(
            Paging::Single,
            Records::Nested("goals"),
            no_goals,
            &PageToken::First,
        );
        assert!(p.unwrap().records.is_empty());
        let err = page(
            Paging::Single,
            Records::Data,
            json!({"data": {"a": 1}}),
            &PageToken::First,
        );
        assert!(format!("{:#}", err.err().unwrap()).contains("is an object, not a list"));
    }

    #[test]
    fn v2_cursor_pages() {
        let p = page(
            Paging::Cursor { limit: 500 },
            Records::Data,
            json!({"success": true, "data": [{"id": 1}], "additional_data": {"next_cursor": "abc"}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.next, Some(PageToken::Cursor("abc".into())));
        let end = page(
            Paging::Cursor { limit: 500 },
            Records::Data,
            json!({"success": true, "data": [], "additional_data": {"next_cursor": null}}),
            &PageToken::Cursor("abc".into()),
        )
        .unwrap();
        assert_eq!(end.next, None);
        let looping = page(
            Paging::Cursor { limit: 500 },
            Records::Data,
            json!({"success": true, "data": [], "additional_data": {"next_cursor": "abc"}}),
            &PageToken::Cursor("abc".into()),
        );
        assert!(looping.is_err());
    }

    #[test]
    fn v1_offset_pages() {
        let p = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": [{"id": 1}, {"id": 2}], "additional_data": {"pagination": {"start": 0, "limit": 2, "more_items_in_collection": true, "next_start": 2}}}),
            &PageToken::First,
        )
        .unwrap();
        assert_eq!(p.next, Some(PageToken::Start(2)));
        let empty = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": null, "additional_data": {"pagination": {"start": 2, "limit": 2, "more_items_in_collection": false}}}),
            &PageToken::Start(2),
        )
        .unwrap();
        assert!(empty.records.is_empty());
        assert_eq!(empty.next, None);
        let flat = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": [{"id": "a"}, {"id": "b"}], "additional_data": {"start": 2, "limit": 2, "more_items_in_collection": true}}),
            &PageToken::Start(2),
        )
        .unwrap();
        assert_eq!(
            flat.next,
            Some(PageToken::Start(4)),
            "leads' flat form, without next_start"
        );
        let stuck = page(
            Paging::Offset { limit: 2 },
            Records::Data,
            json!({"success": true, "data": [{"id": 1}], "additional_data": {"pagination": {"more_items_in_collection": true, "next_start": 2}}}),
            &PageToken::Start(2),
        );
        assert!(stuck.is_err());
    }

    #[test]
    fn unusable_pages_are_errors() {
        assert!(page(Paging::Single, Records::Data, json!([1]), &PageToken::First).is_err());
        assert!(page(
            Paging::Single,
            Records::Data,
            json!({"success": false, "error": "x"}),
            &PageToken::First
        )
        .is_err());
        assert!(page(
            Paging::Single,
            Records::Data,
            json!({"success": true, "data": "x"}),
            &PageToken::First
        )
        .is_err());
    }
}
