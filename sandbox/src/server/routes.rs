//! The route table: which paths exist (v2, v1 and the `/api/v1` alias), which methods each
//! answers, what each costs from the daily token budget, and which handler serves it.

use super::http::{Request, Response};
use super::legacy::Legacy;
use super::params::{split_target, Params};
use super::Shared;
use crate::data::Resource;

/// What a path serves and what it costs from the daily token budget.
pub(super) enum Route {
    CursorList(Resource),
    OffsetList(Resource),
    FullList(Resource),
    Me,
    /// A collection under the parent whose id is in the path, e.g. `/v1/notes/{id}/comments`.
    Child(Resource, String),
    /// One record of a resource children hang from, `GET {list}/{id}` (e.g.
    /// `/api/v2/products/{id}`): what a client asks to tell a parent that went away from a
    /// child endpoint it cannot use.
    Item(Resource, String),
    /// A child collection whose parents are named in the query (`deal_ids`, `board_id`).
    Children(Resource),
    /// A field-definitions list: v2 cursor pages, v1 offset pages (lead fields) or all at once
    /// (note fields).
    Fields(Resource),
    /// One webhook, `/v1/webhooks/{id}`: it can only be deleted.
    Webhook(String),
    /// LEGACY: a v1 endpoint only the Airbyte peer of the benchmark reads (`legacy.rs`),
    /// served only to requests with the key in the `api_token` query parameter.
    Legacy(Legacy),
}

impl Route {
    pub(super) fn resolve(path: &str) -> Option<Route> {
        use Resource as R;
        if let Some(rest) = path.strip_prefix("/api/v2/") {
            let segments: Vec<&str> = rest.split('/').collect();
            return Some(match segments.as_slice() {
                ["deals"] => Route::CursorList(R::Deals),
                ["persons"] => Route::CursorList(R::Persons),
                ["organizations"] => Route::CursorList(R::Organizations),
                ["activities"] => Route::CursorList(R::Activities),
                ["products"] => Route::CursorList(R::Products),
                ["pipelines"] => Route::CursorList(R::Pipelines),
                ["stages"] => Route::CursorList(R::Stages),
                ["deals", "archived"] => Route::CursorList(R::ArchivedDeals),
                ["deals", "products"] => Route::Children(R::DealProducts),
                ["deals", "installments"] => Route::Children(R::DealInstallments),
                ["deals", id, "products"] => Route::Child(R::DealProducts, id.to_string()),
                ["deals", id] => Route::Item(R::Deals, id.to_string()),
                ["products", id, "variations"] => {
                    Route::Child(R::ProductVariations, id.to_string())
                }
                ["products", id] => Route::Item(R::Products, id.to_string()),
                ["projects"] => Route::CursorList(R::Projects),
                ["projects", "archived"] => Route::CursorList(R::ArchivedProjects),
                ["tasks"] => Route::CursorList(R::Tasks),
                ["projectTemplates"] => Route::CursorList(R::ProjectTemplates),
                ["boards"] => Route::FullList(R::ProjectBoards),
                ["boards", id] => Route::Item(R::ProjectBoards, id.to_string()),
                ["phases"] => Route::Children(R::ProjectPhases),
                ["dealFields"] => Route::Fields(R::DealFields),
                ["personFields"] => Route::Fields(R::PersonFields),
                ["organizationFields"] => Route::Fields(R::OrganizationFields),
                ["productFields"] => Route::Fields(R::ProductFields),
                ["activityFields"] => Route::Fields(R::ActivityFields),
                ["projectFields"] => Route::Fields(R::ProjectFields),
                _ => return None,
            });
        }
        let v1 = path
            .strip_prefix("/v1/")
            .or_else(|| path.strip_prefix("/api/v1/"))?;
        let segments: Vec<&str> = v1.split('/').collect();
        if let Some(legacy) = Legacy::resolve(&segments) {
            return Some(Route::Legacy(legacy));
        }
        Some(match segments.as_slice() {
            ["notes"] => Route::OffsetList(R::Notes),
            ["leads"] => Route::OffsetList(R::Leads),
            ["files"] => Route::OffsetList(R::Files),
            ["users"] => Route::FullList(R::Users),
            ["leadLabels"] => Route::FullList(R::LeadLabels),
            ["activityTypes"] => Route::FullList(R::ActivityTypes),
            ["currencies"] => Route::FullList(R::Currencies),
            ["filters"] => Route::FullList(R::Filters),
            ["users", "me"] => Route::Me,
            ["users", id] => Route::Item(R::Users, id.to_string()),
            ["notes", id] => Route::Item(R::Notes, id.to_string()),
            ["roles", id] => Route::Item(R::Roles, id.to_string()),
            ["permissionSets", id] => Route::Item(R::PermissionSets, id.to_string()),
            ["mailbox", "mailThreads", id] => Route::Item(R::MailThreads, id.to_string()),
            ["leads", "archived"] => Route::OffsetList(R::ArchivedLeads),
            ["leadSources"] => Route::FullList(R::LeadSources),
            ["goals", "find"] => Route::FullList(R::Goals),
            ["roles"] => Route::OffsetList(R::Roles),
            ["permissionSets"] => Route::FullList(R::PermissionSets),
            ["callLogs"] => Route::OffsetList(R::CallLogs),
            ["mailbox", "mailThreads"] => Route::OffsetList(R::MailThreads),
            ["webhooks"] => Route::FullList(R::Webhooks),
            ["webhooks", id] => Route::Webhook(id.to_string()),
            ["deals", id, "changelog"] => Route::Child(R::DealChangelog, id.to_string()),
            ["roles", id, "assignments"] => Route::Child(R::RoleAssignments, id.to_string()),
            ["permissionSets", id, "assignments"] => {
                Route::Child(R::PermissionSetAssignments, id.to_string())
            }
            ["mailbox", "mailThreads", id, "mailMessages"] => {
                Route::Child(R::MailMessages, id.to_string())
            }
            ["notes", id, "comments"] => Route::Child(R::NoteComments, id.to_string()),
            ["users", id, "permissions"] => Route::Child(R::UserPermissions, id.to_string()),
            ["leadFields"] => Route::Fields(R::LeadFields),
            ["noteFields"] => Route::Fields(R::NoteFields),
            _ => return None,
        })
    }

    /// Whether the route answers `method`. The sandbox is read-only but for the Webhooks API,
    /// whose list also takes POST and whose items take DELETE (reference §8).
    pub(super) fn allows(&self, method: &str) -> bool {
        match self {
            Route::FullList(Resource::Webhooks) => matches!(method, "GET" | "POST"),
            Route::Webhook(_) => method == "DELETE",
            _ => method == "GET",
        }
    }

    /// Token costs as Pipedrive's spec lists them (reference §4); creating a webhook costs
    /// what listing them does.
    pub(super) fn cost(&self) -> u64 {
        use Resource as R;
        let r = match self {
            Route::Me => return 2,
            // "Delete single" in the generic table; the spec's own figure is not public.
            Route::Webhook(_) => return 6,
            // v1 lists.
            Route::Legacy(_) => return 20,
            // "Get single entity": 2 in v1, half that in v2.
            Route::Item(R::Deals | R::Products | R::ProjectBoards, _) => return 1,
            Route::Item(..) => return 2,
            Route::CursorList(r)
            | Route::OffsetList(r)
            | Route::FullList(r)
            | Route::Child(r, _)
            | Route::Children(r)
            | Route::Fields(r) => *r,
        };
        match r {
            R::LeadSources => 2,
            R::Pipelines | R::Stages | R::ProjectBoards | R::ProjectPhases => 5,
            R::Deals
            | R::Persons
            | R::Organizations
            | R::Activities
            | R::Products
            | R::LeadLabels
            | R::DealProducts
            | R::DealInstallments
            | R::ProductVariations
            | R::Projects
            | R::ArchivedProjects
            | R::Tasks
            | R::ProjectTemplates
            | R::Webhooks
            | R::DealFields
            | R::PersonFields
            | R::OrganizationFields
            | R::ProductFields
            | R::ActivityFields
            | R::ProjectFields => 10,
            R::ArchivedLeads => 40,
            // v1 lists and per-entity reads; `/api/v2/deals/archived` is priced like a search.
            R::ArchivedDeals
            | R::Notes
            | R::Leads
            | R::Files
            | R::Users
            | R::ActivityTypes
            | R::Currencies
            | R::Filters
            | R::DealChangelog
            | R::Goals
            | R::Roles
            | R::RoleAssignments
            | R::PermissionSets
            | R::PermissionSetAssignments
            | R::CallLogs
            | R::MailThreads
            | R::MailMessages
            | R::NoteComments
            | R::UserPermissions
            | R::LeadFields
            | R::NoteFields => 20,
        }
    }
}

impl Shared {
    /// Runs the route's handler; a handler's refusal (a 400 or 404) is an answer like any other.
    pub(super) fn serve(&self, route: &Route, request: &Request, params: &Params) -> Response {
        let result = match route {
            Route::FullList(Resource::Webhooks) if request.method == "POST" => {
                Ok(self.add_webhook(request))
            }
            Route::Webhook(id) => Ok(self.delete_webhook(id)),
            Route::CursorList(r) => {
                let path = split_target(&request.target).0;
                let faults = &self.opts.faults;
                self.cursor_list(*r, params).map(|page| {
                    let page = match faults.cursor_cycle.as_deref() {
                        Some(p) if p == path => self.cycle_cursor(params.get("cursor"), page),
                        _ => page,
                    };
                    match &faults.unsaid {
                        Some(unsaid) if unsaid.path == path => unsaid.apply(page),
                        _ => page,
                    }
                })
            }
            Route::OffsetList(r) => self.offset_list(*r, params),
            Route::FullList(r) => self.full_list(*r, params),
            Route::Me => Ok(self.me()),
            Route::Child(r, id) => self.child(*r, id, params),
            Route::Item(r, id) => self.item(*r, id, params),
            Route::Children(r) => self.children(*r, params),
            Route::Fields(r) => self.field_list(*r, params),
            Route::Legacy(legacy) => self.legacy(*legacy, params),
        };
        result.unwrap_or_else(|e| e)
    }
}
