//! The list endpoints of the main records: v2 cursor lists (deals, persons, organizations,
//! activities, products, pipelines, stages, projects, tasks, …), v1 offset lists (notes,
//! leads, files, roles, call logs, mail threads) and v1 lists served whole, plus `/v1/users/me`.

use serde_json::{json, Value};

use super::http::{bad_request, ok, Response};
use super::pagination::{decode_cursor, encode_cursor, v1_page};
use super::params::{parse_v1_sort, sort_params, Params};
use super::Shared;
use crate::data::{
    ListQuery, Page, Resource, SortKey, Start, DEAL_STATUSES, GOAL_TYPES, MAIL_FOLDERS,
    PROJECT_STATUSES,
};

impl Shared {
    pub(super) fn cursor_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        use Resource as R;
        let limit = params
            .limit(500)?
            .min(self.opts.v2_page_cap.unwrap_or(u64::MAX).max(1));
        // The project endpoints take no sort parameters; like Pipedrive, ignore them there.
        let sortable = matches!(
            r,
            R::Deals
                | R::ArchivedDeals
                | R::Persons
                | R::Organizations
                | R::Activities
                | R::Products
                | R::Pipelines
                | R::Stages
        );
        let (field, desc) = if sortable {
            sort_params(params, &["id", "update_time", "add_time"])?
        } else {
            ("id", false)
        };
        let key = match field {
            "update_time" => SortKey::UpdateTime,
            "add_time" => SortKey::AddTime,
            _ => SortKey::Id,
        };
        let mut q = ListQuery::new(key, desc);
        if matches!(
            r,
            R::Deals
                | R::ArchivedDeals
                | R::Persons
                | R::Organizations
                | R::Activities
                | R::Products
        ) {
            q.since = params.time("updated_since")?;
        }
        if matches!(
            r,
            R::Deals | R::ArchivedDeals | R::Persons | R::Organizations | R::Activities
        ) {
            q.until = params.time("updated_until")?;
        }
        let allowed: &[&str] = match r {
            R::Deals | R::ArchivedDeals => &DEAL_STATUSES,
            R::Projects | R::ArchivedProjects => &PROJECT_STATUSES,
            _ => &[],
        };
        if let (false, Some(list)) = (allowed.is_empty(), params.get("status")) {
            let statuses: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
            if let Some(bad) = statuses.iter().find(|s| !allowed.contains(&s.as_str())) {
                return Err(bad_request(format!(
                    "Invalid value for parameter 'status': '{bad}'; use {}",
                    allowed.join(", ")
                )));
            }
            q.statuses = Some(statuses);
        }
        if r == R::Stages {
            q.pipeline_id = params.number("pipeline_id")?;
        }
        q.include = params
            .get("include_fields")
            .map(|f| f.split(',').map(|f| f.trim().to_string()).collect())
            .unwrap_or_default();
        let start = match params.get("cursor") {
            None => Start::First,
            Some(cursor) => Start::After(
                decode_cursor(cursor, field, desc).ok_or_else(|| bad_request("Invalid cursor"))?,
            ),
        };
        let page = self.data.page(r, &q, start, limit as usize);
        let next_cursor = match (page.more, page.last) {
            (true, Some(last)) => json!(encode_cursor(last, field, desc)),
            _ => Value::Null,
        };
        Ok(ok(json!({
            "success": true,
            "data": page.records,
            "additional_data": {"next_cursor": next_cursor},
        })))
    }

    pub(super) fn offset_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        use Resource as R;
        let max = match r {
            R::Files => 100,
            R::CallLogs => 50,
            _ => 500,
        };
        let limit = self.v1_page_size(r, params.limit(max)?);
        let start = params.number("start")?.unwrap_or(0);
        let mut q = match r {
            R::Notes | R::Leads | R::ArchivedLeads | R::Files => {
                let default = if r == R::Notes || r == R::Files {
                    "id"
                } else {
                    "add_time ASC"
                };
                let (key, desc) = parse_v1_sort(params.get("sort").unwrap_or(default), r)?;
                ListQuery::new(key, desc)
            }
            // Roles, call logs and mail threads take no `sort`.
            _ => ListQuery::new(SortKey::Id, false),
        };
        // `/v1/leads/archived` has no `updated_since`; like Pipedrive, ignore it there.
        if matches!(r, R::Notes | R::Leads) {
            q.since = params.time("updated_since")?;
        }
        if r == R::MailThreads {
            let folder = params
                .get("folder")
                .ok_or_else(|| bad_request("Parameter 'folder' is required"))?;
            let f = MAIL_FOLDERS
                .iter()
                .position(|x| *x == folder)
                .ok_or_else(|| {
                    bad_request(format!(
                        "Invalid value for parameter 'folder': '{folder}'; use inbox, drafts, sent or archive"
                    ))
                })?;
            q.folder = Some(f as u64);
        }
        let Page { records, more, .. } =
            self.data.page(r, &q, Start::Offset(start), limit as usize);
        Ok(v1_page(r, records, start, limit, more))
    }

    pub(super) fn full_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        let mut records = self.data.records(r);
        if r == Resource::Goals {
            // Like Pipedrive: `type.name` (one of its enum) gives everyone's goals of that type;
            // without it, only the token user's (person 1).
            match params.get("type.name") {
                Some(kind) if !GOAL_TYPES.contains(&kind) => {
                    return Err(bad_request(format!(
                        "Invalid value for parameter 'type.name': '{kind}'; use {}",
                        GOAL_TYPES.join(", ")
                    )));
                }
                Some(kind) => records.retain(|g| g["type"]["name"] == kind),
                None => records.retain(|g| g["assignee"] == json!({"id": 1, "type": "person"})),
            }
        }
        let filter = match r {
            Resource::Filters => Some(("type", params.get("type"))),
            Resource::PermissionSets => Some(("app", params.get("app"))),
            _ => None,
        };
        if let Some((field, Some(value))) = filter {
            records.retain(|f| f[field] == value);
        }
        Ok(ok(match r {
            Resource::Goals => json!({"success": true, "data": {"goals": records}}),
            Resource::ProjectBoards => {
                json!({"success": true, "data": records, "additional_data": null})
            }
            _ => json!({"success": true, "data": records}),
        }))
    }

    pub(super) fn me(&self) -> Response {
        let mut user = self
            .data
            .records(Resource::Users)
            .into_iter()
            .next()
            .unwrap_or_else(|| json!({}));
        user["company_id"] = json!(self.data.company_id());
        user["company_name"] = json!("Sandbox Company Ö");
        user["company_domain"] = json!("sandbox");
        user["company_country"] = json!("EE");
        user["company_industry"] = json!("Software");
        user["language"] = json!({"language_code": "en", "country_code": "US"});
        ok(json!({"success": true, "data": user}))
    }
}
