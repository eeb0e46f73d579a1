//! The query string as Pipedrive reads it: percent-decoding, first value wins, and the checks
//! of `limit`, numbers, RFC 3339 times and the v1 and v2 sort parameters, each failing with
//! Pipedrive's 400 message.

use chrono::DateTime;

use super::http::{bad_request, Response};
use crate::data::{Resource, SortKey};

/// Splits a request target into its path and percent-decoded query pairs.
pub(super) fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let target = match target.find("://") {
        Some(scheme) => {
            let rest = &target[scheme + 3..];
            rest.find('/').map_or("/", |slash| &rest[slash..])
        }
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (percent_decode(path), pairs)
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(a), Some(b)) => {
                    out.push((a * 16 + b) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read access to the query the way Pipedrive treats it: the first value wins, unknown
/// parameters are ignored.
pub(super) struct Params<'a>(pub(super) &'a [(String, String)]);

impl Params<'_> {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn number(&self, name: &str) -> Result<Option<u64>, Response> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                bad_request(format!(
                    "Invalid value for parameter '{name}': expected a non-negative integer"
                ))
            }),
        }
    }

    /// `limit`: default 100, at least 1, larger values capped at `max`.
    pub(super) fn limit(&self, max: u64) -> Result<u64, Response> {
        match self.number("limit")? {
            None => Ok(100.min(max)),
            Some(0) => Err(bad_request(
                "Invalid value for parameter 'limit': must be at least 1",
            )),
            Some(n) => Ok(n.min(max)),
        }
    }

    /// An RFC 3339 time, rounded up to the whole second (record times are whole seconds).
    pub(super) fn time(&self, name: &str) -> Result<Option<i64>, Response> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let t = DateTime::parse_from_rfc3339(v).map_err(|_| {
            bad_request(format!("Invalid value for parameter '{name}': expected RFC 3339 date-time, e.g. 2025-01-01T10:20:00Z"))
        })?;
        Ok(Some(
            t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0),
        ))
    }
}

/// `sort_by` (one of `allowed`, default `id`) and `sort_direction` (default `asc`).
pub(super) fn sort_params<'a>(
    params: &'a Params<'a>,
    allowed: &[&str],
) -> Result<(&'a str, bool), Response> {
    let field = params.get("sort_by").unwrap_or("id");
    if !allowed.contains(&field) {
        return Err(bad_request(format!(
            "Invalid value for parameter 'sort_by': '{field}' is not supported; use {}",
            allowed.join(", ")
        )));
    }
    let desc = match params.get("sort_direction").unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(bad_request(format!(
                "Invalid value for parameter 'sort_direction': '{other}'; use asc or desc"
            )))
        }
    };
    Ok((field, desc))
}

/// The v1 `sort` parameter, e.g. `update_time DESC` or `update_time ASC, id ASC`. The first
/// field sets the order; ties always break on id in the same direction, so only `id` may
/// follow it (other fields are real Pipedrive options the sandbox does not model).
pub(super) fn parse_v1_sort(sort: &str, r: Resource) -> Result<(SortKey, bool), Response> {
    let mut order = None;
    for part in sort.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let field = words.next().unwrap_or("");
        let desc = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None => false,
            // `/v1/files` documents `sort` as a field name only: a direction there is an
            // order the contract does not promise, so the sandbox refuses to honour it.
            Some(_) if r == Resource::Files => {
                return Err(bad_request(format!(
                "Invalid value for parameter 'sort': '{part}'; supported fields: id, update_time"
            )))
            }
            Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => return Err(bad_request(format!("Invalid sort direction '{other}'"))),
        };
        let key = match field {
            "id" => SortKey::Id,
            "update_time" => SortKey::UpdateTime,
            "add_time" if r != Resource::Files => SortKey::AddTime,
            other => return Err(bad_request(format!("Invalid sort field '{other}'"))),
        };
        match order {
            None => order = Some((key, desc)),
            Some((_, first_desc)) if key == SortKey::Id && desc == first_desc => {}
            Some(_) => return Err(bad_request(format!("Unsupported secondary sort '{part}'"))),
        }
    }
    order.ok_or_else(|| bad_request("Invalid value for parameter 'sort'"))
}
