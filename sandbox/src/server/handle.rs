//! One request from its head to its answer: the token check, the request log, admission (rate
//! limits, `deny` rules, injected faults, 404 and 405) and the token cost, before the route's
//! handler runs.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::faults::{fault_response, Fault};
use super::http::{error, Request, Response, ERROR_INFO};
use super::latency::TokenKind;
use super::params::{split_target, Params};
use super::routes::Route;
use super::{lock, RequestLogEntry, Shared};

impl Shared {
    pub(super) fn handle(&self, request: &Request) -> Response {
        let sequence = self.received.fetch_add(1, Ordering::SeqCst);
        let (path, query) = split_target(&request.target);
        if let Some(response) = self.oauth_route(request, &path) {
            return response;
        }
        let key = self.opts.api_key.as_str();
        // v1 also took the key as the `api_token` query parameter (v2 here only in the header).
        let query_token = (path.starts_with("/v1/") || path.starts_with("/api/v1/"))
            && Params(&query).get("api_token") == Some(key);
        let bearer =
            !query_token && request.header("x-api-token").is_none() && self.bearer_valid(request);
        let authorized = request.header("x-api-token") == Some(key) || query_token || bearer;
        // Legacy routes exist only for the benchmark's Airbyte peer, which sends the key in
        // the query; to anyone else (our connector sends the header) they stay unknown paths.
        let route = Route::resolve(&path).filter(|r| query_token || !matches!(r, Route::Legacy(_)));
        let (response, cost) = if let Some(refused) = self.scope_refusal(&path).filter(|_| bearer) {
            (refused, 0)
        } else if authorized {
            self.admit(request, &path, &query, route, sequence)
        } else {
            let body = json!({
                "success": false,
                "error": "unauthorized access",
                "errorCode": 401,
                "error_info": ERROR_INFO,
            });
            (Response::json(401, body.to_string()), 0)
        };
        let entry = RequestLogEntry {
            method: request.method.clone(),
            path,
            query,
            status: response.status,
            token_cost: cost,
            authorized,
            raw_target: request.target.clone(),
            fault: response.fault.map(Fault::name),
        };
        self.after_answer(&entry, &response.body);
        lock(&self.log).push(entry);
        response
    }

    /// Applies the CDN's block, the burst window and the daily budget (`throttle`), then routes
    /// (or injects a fault). Returns the tokens spent.
    fn admit(
        &self,
        request: &Request,
        path: &str,
        query: &[(String, String)],
        route: Option<Route>,
        sequence: u64,
    ) -> (Response, u64) {
        let kind = TokenKind::of(request.header("authorization"));
        if let Some(refused) = self.throttle(sequence, kind) {
            return (refused, 0);
        }
        let cost = route.as_ref().map_or(0, Route::cost);
        let v1_alias = path.strip_prefix("/api");
        let denied = self.opts.deny.iter().find(|(prefix, _)| {
            path.starts_with(prefix.as_str())
                || v1_alias.is_some_and(|p| p.starts_with(prefix.as_str()))
        });
        // Unknown paths answer 404 to a GET and 405 to any other method.
        let allowed = route
            .as_ref()
            .map_or(request.method == "GET", |r| r.allows(&request.method));
        let faults = &self.opts.faults;
        let fault = match &route {
            Some(Route::Me) if !faults.include_users_me => None,
            Some(_) if allowed && request.method == "GET" && denied.is_none() => {
                faults.pick(sequence)
            }
            _ => None,
        };
        let mut response = if !allowed {
            error(405, "Method not allowed")
        } else if let Some((_, status)) = denied {
            error(*status, deny_message(*status))
        } else if let Some(f) = fault.filter(|f| f.replaces_answer()) {
            fault_response(f)
        } else if let Some(route) = &route {
            self.serve(route, request, &Params(query))
        } else {
            error(404, "Unknown method .")
        };
        response.fault = fault;
        let charged =
            allowed && response.status != 404 && !fault.is_some_and(Fault::replaces_answer);
        let cost = if charged { cost } else { 0 };
        lock(&self.limits).spent += cost;
        (response, cost)
    }
}

fn deny_message(status: u16) -> &'static str {
    match status {
        401 => "unauthorized access",
        402 => "Payment required: this feature is not available on your plan",
        403 => "You do not have permission to access this resource",
        404 => "Unknown method .",
        410 => "This endpoint is no longer available",
        _ => "Request could not be completed",
    }
}
