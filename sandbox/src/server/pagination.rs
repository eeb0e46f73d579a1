//! Page shapes and cursors: the v1 pagination block each endpoint's model promises, keyset pages
//! of in-memory children, the changelog's position cursor, and opaque base64 cursors shaped like
//! Pipedrive's that are valid only for the sort they were made for.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::http::{bad_request, ok, Response};
use super::params::Params;
use super::Shared;
use crate::data::{Key, Resource};

impl Shared {
    /// How many records a v1 offset page of `r` holds when `limit` are asked for: fewer when
    /// `SandboxOptions::page_cap` says so, except on the endpoints whose maximum Pipedrive
    /// documents (files 100, call logs 50), which the limit check already enforces.
    pub(super) fn v1_page_size(&self, r: Resource, limit: u64) -> u64 {
        match (r, self.opts.page_cap) {
            (Resource::Files | Resource::CallLogs, _) | (_, None) => limit,
            (_, Some(cap)) => limit.min(cap.max(1)),
        }
    }
}

/// The pagination block of a v1 offset list, in the form the client's model gives for that
/// endpoint; a client that relies on more than the model promises fails here.
pub(super) fn v1_page(
    r: Resource,
    records: Vec<Value>,
    start: u64,
    limit: u64,
    more: bool,
) -> Response {
    let mut pagination = json!({
        "start": start,
        "limit": limit,
        "more_items_in_collection": more,
    });
    let additional_data = match r {
        // Flat in `additional_data`, no `next_start`.
        Resource::Leads | Resource::ArchivedLeads => Some(pagination),
        // Nested, but the models have no `next_start`.
        Resource::Roles | Resource::RoleAssignments | Resource::CallLogs => {
            Some(json!({ "pagination": pagination }))
        }
        // The models have no `additional_data` at all.
        Resource::MailThreads | Resource::PermissionSetAssignments => None,
        _ => {
            if more {
                pagination["next_start"] = json!(start + limit);
            }
            Some(json!({ "pagination": pagination }))
        }
    };
    let mut body = json!({
        "success": true,
        "data": if records.is_empty() { Value::Null } else { json!(records) },
    });
    if let Some(extra) = additional_data {
        body["additional_data"] = extra;
    }
    ok(body)
}

/// A page of one parent's (or a few parents') children, sorted and cut by keyset like the
/// big lists. Children are few per parent, so they are sorted in memory.
pub(super) fn child_page(
    rows: Vec<Value>,
    field: &str,
    desc: bool,
    params: &Params,
) -> Result<Response, Response> {
    let limit = params.limit(500)? as usize;
    let after = match params.get("cursor") {
        None => None,
        Some(cursor) => {
            Some(decode_cursor(cursor, field, desc).ok_or_else(|| bad_request("Invalid cursor"))?)
        }
    };
    let mut rows: Vec<(Key, Value)> = rows
        .into_iter()
        .map(|row| {
            let id = row["id"].as_u64().unwrap_or(0).saturating_sub(1);
            ((sort_value(&row, field), id), row)
        })
        .collect();
    rows.sort_by_key(|(key, _)| *key);
    if desc {
        rows.reverse();
    }
    let mut page: Vec<(Key, Value)> = rows
        .into_iter()
        .filter(|(key, _)| after.is_none_or(|a| if desc { *key < a } else { *key > a }))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_cursor = match (more, page.last()) {
        (true, Some((last, _))) => json!(encode_cursor(*last, field, desc)),
        _ => Value::Null,
    };
    let data: Vec<Value> = page.into_iter().map(|(_, row)| row).collect();
    Ok(ok(json!({
        "success": true,
        "data": data,
        "additional_data": {"next_cursor": next_cursor},
    })))
}

/// A deal's changelog, paged by the v1 cursor. Rows are only ever appended, so the cursor is
/// the position of the next row.
pub(super) fn changelog_page(rows: Vec<Value>, params: &Params) -> Result<Response, Response> {
    let limit = params.limit(500)? as usize;
    let start = match params.get("cursor") {
        None => 0,
        Some(cursor) => unbase64url(cursor)
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|c| c["position"].as_u64())
            .ok_or_else(|| bad_request("Invalid cursor"))? as usize,
    };
    let data: Vec<Value> = rows.iter().skip(start).take(limit).cloned().collect();
    let next_cursor = if start + limit < rows.len() {
        json!(base64url(
            json!({"position": start + limit}).to_string().as_bytes()
        ))
    } else {
        Value::Null
    };
    Ok(ok(json!({
        "success": true,
        "data": data,
        "additional_data": {"next_cursor": next_cursor},
    })))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, b)| n | (u32::from(*b) << (16 - 8 * k)));
        for k in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    out
}

fn unbase64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A sort value as a cursor carries it: times as RFC 3339, dates as `YYYY-MM-DD`, numbers
/// as themselves.
fn cursor_value(field: &str, last: Key) -> Value {
    let at = |pattern: &str| {
        DateTime::<Utc>::from_timestamp(last.0, 0)
            .unwrap_or_default()
            .format(pattern)
            .to_string()
    };
    match field {
        "id" => json!(last.1 + 1),
        "add_time" | "update_time" => json!(at("%Y-%m-%dT%H:%M:%SZ")),
        "billing_date" => json!(at("%Y-%m-%d")),
        _ => json!(last.0),
    }
}

/// The sort value of an in-memory row, on the same scale as `cursor_value` reads it back.
fn sort_value(row: &Value, field: &str) -> i64 {
    let text = row[field].as_str().unwrap_or("");
    match field {
        "id" => 0,
        "add_time" | "update_time" => {
            DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp())
        }
        "billing_date" => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_or(0, |d| d.and_time(Default::default()).and_utc().timestamp()),
        _ => row[field].as_i64().unwrap_or(0),
    }
}

/// An opaque keyset cursor shaped like Pipedrive's (base64 of a small JSON object): the sort
/// field, its value and the id of the last row served.
pub(super) fn encode_cursor(last: Key, field: &str, desc: bool) -> String {
    let cursor = json!({
        "field": field,
        "fieldValue": cursor_value(field, last),
        "sortDirection": if desc { "desc" } else { "asc" },
        "id": last.1 + 1,
    });
    base64url(cursor.to_string().as_bytes())
}

/// A cursor is valid only for the sort it was made for.
pub(super) fn decode_cursor(cursor: &str, field: &str, desc: bool) -> Option<Key> {
    let cursor: Value = serde_json::from_slice(&unbase64url(cursor)?).ok()?;
    let direction = if desc { "desc" } else { "asc" };
    if cursor["field"] != field || cursor["sortDirection"] != direction {
        return None;
    }
    let ordinal = cursor["id"].as_u64()?.checked_sub(1)?;
    let value = &cursor["fieldValue"];
    let value = match field {
        "id" => 0,
        "add_time" | "update_time" => DateTime::parse_from_rfc3339(value.as_str()?)
            .ok()?
            .timestamp(),
        "billing_date" => NaiveDate::parse_from_str(value.as_str()?, "%Y-%m-%d")
            .ok()?
            .and_time(Default::default())
            .and_utc()
            .timestamp(),
        _ => value.as_i64()?,
    };
    Some((value, ordinal))
}
