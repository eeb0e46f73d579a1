//! LEGACY routes, for the Airbyte peer only. They exist so that
//! `integration_tests/bench/peer.sh` can run the Airbyte connector (`airbyte-source-pipedrive`
//! 2.3.7, a low-code manifest) against the same sandbox data as ours and compare CPU per record.
//! That connector still reads v1 endpoints that Pipedrive has put out of support (2026-08-01) or
//! that our connector does not use:
//!
//! - `GET /v1/recents?since_timestamp=&items=&start=&limit=`: every record changed since the
//!   timestamp, oldest change first, as `{item, id, data}` (the peer's deals, persons,
//!   activities, products, pipelines, stages, notes, files, filters and users);
//! - `GET /v1/organizations` (offset pages);
//! - `GET /v1/{deal,person,organization,product,activity}Fields` (offset pages).
//!
//! Our connector must never call them: it reads v2 wherever v2 exists. To make that hold by
//! construction, these routes answer only requests that carry the key as the `api_token`
//! query parameter, the way v1 clients such as the peer authenticate. A request authenticated
//! with the `x-api-token` header (ours) gets the same 404 these paths gave before they existed,
//! so a connector that strayed onto one would fail the end-to-end tests.
//!
//! The records are the v2 records in v1 shape (`data/legacy/`): same ids, same count, same
//! values, so both connectors read the same data.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};

use super::http::{bad_request, ok, Response};
use super::pagination::v1_page;
use super::params::{parse_v1_sort, Params};
use super::Shared;
use crate::data::{ListQuery, Resource, SortKey, Start, DEAL_STATUSES};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Legacy {
    Recents,
    Organizations,
    /// A `/v1/*Fields` list; the resource is its v2 twin (`DealFields`, …).
    Fields(Resource),
}

impl Legacy {
    /// The legacy route of a v1 path's segments (after `/v1/`), if it is one.
    pub(super) fn resolve(segments: &[&str]) -> Option<Legacy> {
        Some(match segments {
            ["recents"] => Legacy::Recents,
            ["organizations"] => Legacy::Organizations,
            ["dealFields"] => Legacy::Fields(Resource::DealFields),
            ["personFields"] => Legacy::Fields(Resource::PersonFields),
            ["organizationFields"] => Legacy::Fields(Resource::OrganizationFields),
            ["productFields"] => Legacy::Fields(Resource::ProductFields),
            ["activityFields"] => Legacy::Fields(Resource::ActivityFields),
            _ => return None,
        })
    }
}

/// `/v1/recents` item types, in the spec's order (which breaks ties between types changed in
/// the same second), with the resource each lists.
const ITEMS: [(&str, Resource); 12] = [
    ("activity", Resource::Activities),
    ("activityType", Resource::ActivityTypes),
    ("deal", Resource::Deals),
    ("file", Resource::Files),
    ("filter", Resource::Filters),
    ("note", Resource::Notes),
    ("person", Resource::Persons),
    ("organization", Resource::Organizations),
    ("pipeline", Resource::Pipelines),
    ("product", Resource::Products),
    ("stage", Resource::Stages),
    ("user", Resource::Users),
];

/// The update time of a record as a list serves it (v2 RFC 3339 or v1 time; users call it
/// `modified`; a filter never edited has none, so its add time counts).
fn update_secs(r: Resource, record: &Value) -> i64 {
    let field = if r == Resource::Users {
        "modified"
    } else {
        "update_time"
    };
    let secs = |v: &Value| {
        let s = v.as_str()?;
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp())
            .or_else(|_| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                    .map(|t| t.and_utc().timestamp())
            })
            .ok()
    };
    secs(&record[field])
        .or_else(|| secs(&record["add_time"]))
        .unwrap_or(0)
}

fn v1_time(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

impl Shared {
    pub(super) fn legacy(&self, route: Legacy, params: &Params) -> Result<Response, Response> {
        match route {
            Legacy::Recents => self.recents(params),
            Legacy::Organizations => {
                let r = Resource::Organizations;
                let limit = params.limit(500)?;
                let start = params.number("start")?.unwrap_or(0);
                let (key, desc) = parse_v1_sort(params.get("sort").unwrap_or("id ASC"), r)?;
                let page = self.data.page(
                    r,
                    &ListQuery::new(key, desc),
                    Start::Offset(start),
                    limit as usize,
                );
                let records = page
                    .records
                    .into_iter()
                    .map(|record| self.data.v1_record(r, record))
                    .collect();
                Ok(v1_page(r, records, start, limit, page.more))
            }
            Legacy::Fields(list) => {
                let definitions = self.data.v1_definitions(list).unwrap_or_default();
                let limit = params.limit(500)?;
                let start = params.number("start")?.unwrap_or(0);
                let page: Vec<Value> = definitions
                    .iter()
                    .skip(start as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                let more = start + limit < definitions.len() as u64;
                Ok(v1_page(list, page, start, limit, more))
            }
        }
    }

    /// `/v1/recents`: the records of the asked item types (all by default) whose update time
    /// is at or after `since_timestamp`, oldest first, ties by type then id; offset pages of
    /// at most 500. Deals come whatever their status (a delete is a change too).
    fn recents(&self, params: &Params) -> Result<Response, Response> {
        let since_raw = params
            .get("since_timestamp")
            .ok_or_else(|| bad_request("Parameter 'since_timestamp' is required"))?;
        let since = NaiveDateTime::parse_from_str(since_raw, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| {
                bad_request(
                    "Invalid value for parameter 'since_timestamp': expected YYYY-MM-DD HH:MM:SS",
                )
            })?
            .and_utc()
            .timestamp();
        let mut items: Vec<(&str, Resource)> = Vec::new();
        match params.get("items").map(str::trim) {
            None | Some("") => items.extend(ITEMS),
            Some(list) => {
                for name in list.split(',').map(str::trim) {
                    let item = ITEMS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                        bad_request(format!("Invalid value for parameter 'items': '{name}'"))
                    })?;
                    if !items.contains(item) {
                        items.push(*item);
                    }
                }
                items.sort_by_key(|item| ITEMS.iter().position(|i| i == item));
            }
        }
        let limit = params.limit(500)?;
        let start = params.number("start")?.unwrap_or(0);
        let query = |r: Resource| {
            let mut q = ListQuery::new(SortKey::UpdateTime, false);
            q.since = Some(since);
            if r == Resource::Deals {
                q.statuses = Some(DEAL_STATUSES.iter().map(|s| s.to_string()).collect());
            }
            if r == Resource::Activities {
                q.include = vec!["attendees".to_string()];
            }
            q
        };
        let (rows, more): (Vec<(&str, Resource, Value)>, bool) = if let [(name, r)] = items[..] {
            let page = self
                .data
                .page(r, &query(r), Start::Offset(start), limit as usize);
            let rows = page.records.into_iter().map(|v| (name, r, v)).collect();
            (rows, page.more)
        } else {
            // Row `start + limit` of the merged order is among the first `start + limit + 1`
            // rows of its own type, so those are all a page needs.
            let want = (start + limit + 1) as usize;
            let mut merged = Vec::new();
            for (k, (name, r)) in items.iter().enumerate() {
                let page = self.data.page(*r, &query(*r), Start::First, want);
                for (position, record) in page.records.into_iter().enumerate() {
                    let key = (update_secs(*r, &record), k, position);
                    merged.push((key, *name, *r, record));
                }
            }
            merged.sort_by_key(|(key, ..)| *key);
            let mut rows: Vec<(&str, Resource, Value)> = merged
                .into_iter()
                .skip(start as usize)
                .take(limit as usize + 1)
                .map(|(_, name, r, record)| (name, r, record))
                .collect();
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            (rows, more)
        };
        let last = rows.iter().map(|(_, r, v)| update_secs(*r, v)).max();
        let data: Vec<Value> = rows
            .into_iter()
            .map(|(name, r, record)| {
                let id = record["id"].clone();
                let record = self.data.v1_record(r, record);
                // A user comes in a one-element list: the peer's selector for users
                // (`data.*.data.*`) reads it so, though the client's model has an object.
                let data = if r == Resource::Users {
                    json!([record])
                } else {
                    record
                };
                json!({"item": name, "id": id, "data": data})
            })
            .collect();
        let mut pagination = json!({
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        });
        if more {
            pagination["next_start"] = json!(start + limit);
        }
        Ok(ok(json!({
            "success": true,
            "data": if data.is_empty() { Value::Null } else { json!(data) },
            "additional_data": {
                "since_timestamp": v1_time(since),
                "last_timestamp_on_page": last.map(v1_time),
                "pagination": pagination,
            },
        })))
    }
}
