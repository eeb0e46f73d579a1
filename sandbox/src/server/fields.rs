//! The field-definitions lists (`/api/v2/*Fields`, `/v1/leadFields`, `/v1/noteFields`): their
//! optional namespaces and their three ways of paging (v2 cursor, v1 offset, all at once).

use serde_json::{json, Value};

use super::http::{bad_request, ok, Response};
use super::pagination::{decode_cursor, encode_cursor, v1_page};
use super::params::Params;
use super::Shared;
use crate::data::{namespaces, Resource};

impl Shared {
    /// A field-definitions list, paged the way its endpoint pages.
    pub(super) fn field_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        let allowed = namespaces(r);
        let mut include = Vec::new();
        // Lists without optional namespaces take no `include_fields`; like Pipedrive, ignore it.
        if let (false, Some(list)) = (allowed.is_empty(), params.get("include_fields")) {
            for part in list.split(',').map(str::trim) {
                if !allowed.contains(&part) {
                    return Err(bad_request(format!(
                        "Invalid value for parameter 'include_fields': '{part}'; use {}",
                        allowed.join(", ")
                    )));
                }
                include.push(part);
            }
        }
        let definitions = self.data.definitions(r, &include).unwrap_or_default();
        match r {
            Resource::NoteFields => Ok(ok(json!({"success": true, "data": definitions}))),
            Resource::LeadFields => {
                let limit = self.v1_page_size(r, params.limit(500)?);
                let start = params.number("start")?.unwrap_or(0);
                let page: Vec<Value> = definitions
                    .iter()
                    .skip(start as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                let more = start + limit < definitions.len() as u64;
                Ok(v1_page(r, page, start, limit, more))
            }
            _ => {
                // Definitions are only ever appended, so a position is a stable keyset cursor.
                let limit = params.limit(500)? as usize;
                let from = match params.get("cursor") {
                    None => 0,
                    Some(cursor) => {
                        decode_cursor(cursor, "id", false)
                            .ok_or_else(|| bad_request("Invalid cursor"))?
                            .1 as usize
                            + 1
                    }
                };
                let page: Vec<Value> = definitions.iter().skip(from).take(limit).cloned().collect();
                let next = from + page.len();
                let next_cursor = if next < definitions.len() {
                    json!(encode_cursor((0, next as u64 - 1), "id", false))
                } else {
                    Value::Null
                };
                Ok(ok(json!({
                    "success": true,
                    "data": page,
                    "additional_data": {"next_cursor": next_cursor},
                })))
            }
        }
    }
}
