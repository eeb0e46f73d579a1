//! Child endpoints: collections under one parent named in the path (a deal's products or
//! changelog, a role's assignments, a mail thread's messages, …) or under parents named in the
//! query (`deal_ids`, `board_id`), each paged the way its endpoint pages.

use serde_json::{json, Value};

use super::http::{bad_request, error, ok, Response};
use super::pagination::{changelog_page, child_page, v1_page};
use super::params::{sort_params, Params};
use super::Shared;
use crate::data::{Dataset, Resource};

impl Shared {
    /// A child endpoint with the parent's id in the path.
    pub(super) fn child(
        &self,
        r: Resource,
        id: &str,
        params: &Params,
    ) -> Result<Response, Response> {
        use Resource as R;
        // Only permission sets have string ids.
        let parent = if r == R::PermissionSetAssignments {
            json!(id)
        } else {
            json!(id.parse::<u64>().map_err(|_| bad_request(format!(
                "Invalid value for parameter 'id': '{id}' is not an integer"
            )))?)
        };
        let rows = self
            .data
            .children_of(r, &parent)
            .ok_or_else(|| error(404, &format!("{} not found", parent_noun(r))))?;
        match r {
            R::DealProducts => {
                let (field, desc) =
                    sort_params(params, &["id", "add_time", "update_time", "order_nr"])?;
                child_page(rows, field, desc, params)
            }
            R::ProductVariations => child_page(rows, "id", false, params),
            R::DealChangelog => changelog_page(rows, params),
            R::RoleAssignments | R::PermissionSetAssignments | R::NoteComments => {
                let limit = self.v1_page_size(r, params.limit(500)?);
                let start = params.number("start")?.unwrap_or(0);
                let page: Vec<Value> = rows
                    .iter()
                    .skip(start as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                let more = (start + limit) < rows.len() as u64;
                Ok(v1_page(r, page, start, limit, more))
            }
            // The permissions endpoint answers one object, not a list.
            R::UserPermissions => Ok(ok(json!({"success": true, "data": rows[0]}))),
            _ => Ok(ok(json!({"success": true, "data": rows}))),
        }
    }

    /// One record of a resource children hang from, `GET {list}/{id}`; 404 once it is gone
    /// (unknown, or deleted and out of its list), exactly when its child endpoints say so.
    pub(super) fn item(
        &self,
        r: Resource,
        id: &str,
        params: &Params,
    ) -> Result<Response, Response> {
        let key = if r == Resource::PermissionSets {
            json!(id)
        } else {
            json!(id.parse::<u64>().map_err(|_| bad_request(format!(
                "Invalid value for parameter 'id': '{id}' is not an integer"
            )))?)
        };
        let include: Vec<String> = params
            .get("include_fields")
            .map(|f| f.split(',').map(|f| f.trim().to_string()).collect())
            .unwrap_or_default();
        let record = self
            .data
            .item(r, &key, &include)
            .ok_or_else(|| error(404, &format!("{} not found", noun(r))))?;
        Ok(ok(json!({"success": true, "data": record})))
    }

    /// A child endpoint with the parents in the query.
    pub(super) fn children(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        if r == Resource::ProjectPhases {
            let board = params
                .number("board_id")?
                .ok_or_else(|| bad_request("Parameter 'board_id' is required"))?;
            let phases = self.data.children(r, &json!(board));
            return Ok(ok(
                json!({"success": true, "data": phases, "additional_data": null}),
            ));
        }
        let raw = params
            .get("deal_ids")
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad_request("Parameter 'deal_ids' is required"))?;
        let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
        if parts.len() > 100 {
            return Err(bad_request(
                "Invalid value for parameter 'deal_ids': a maximum of 100 deal IDs can be provided",
            ));
        }
        let mut ids: Vec<u64> = Vec::new();
        for part in parts {
            let id = part.parse::<u64>().map_err(|_| {
                bad_request(format!(
                    "Invalid value for parameter 'deal_ids': '{part}' is not an integer"
                ))
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let allowed: &[&str] = if r == Resource::DealProducts {
            &["id", "deal_id", "add_time", "update_time", "order_nr"]
        } else {
            &["id", "billing_date", "deal_id"]
        };
        let (field, desc) = sort_params(params, allowed)?;
        // Deals that do not exist simply contribute nothing, as with any filter.
        let rows = ids
            .iter()
            .flat_map(|id| self.data.children(r, &json!(id)))
            .collect();
        child_page(rows, field, desc, params)
    }
}

/// What a child endpoint's 404 calls its parent.
fn parent_noun(r: Resource) -> &'static str {
    Dataset::parent(r).map_or("Item", noun)
}

/// What a 404 calls a record of `r`.
fn noun(r: Resource) -> &'static str {
    match r {
        Resource::Deals => "Deal",
        Resource::Products => "Product",
        Resource::Roles => "Role",
        Resource::PermissionSets => "Permission set",
        Resource::MailThreads => "Mail thread",
        Resource::Notes => "Note",
        Resource::Users => "User",
        Resource::ProjectBoards => "Board",
        _ => "Item",
    }
}
