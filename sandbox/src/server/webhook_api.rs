//! The two writes the sandbox accepts: `POST /v1/webhooks` and `DELETE /v1/webhooks/{id}`,
//! checked the way the Webhooks API documents them (reference §8: required fields, allowed
//! events, 40 webhooks per user), so a connector that registers its own webhook meets the
//! real rules here first.

use serde_json::{json, Map, Value};

use super::http::{error, Request, Response, ERROR_INFO};
use super::params::percent_decode;
use super::{lock, Shared};
use crate::data::Resource;
use crate::webhooks::{parse_url, ENTITIES};

const ACTIONS: [&str; 4] = ["create", "change", "delete", "*"];
const VERSIONS: [&str; 2] = ["1.0", "2.0"];
/// Webhooks per user [WH2]; the user is the one the webhook is authorized with (`user_id`),
/// as the web app's form disables a user who has reached it.
const PER_USER: usize = 40;
/// What the list shows for a set password: the sandbox never gives one back.
const MASK: &str = "********";

/// A webhook's settings as the client sent them, checked.
struct NewWebhook {
    subscription_url: String,
    event_action: String,
    event_object: String,
    name: String,
    user_id: u64,
    http_auth_user: Option<String>,
    has_password: bool,
    version: String,
}

/// Problems with a POST body, by field, in the order found.
type Problems = Vec<(&'static str, String)>;

impl Shared {
    pub(super) fn add_webhook(&self, request: &Request) -> Response {
        if request.oversized {
            return error(413, "Request entity too large");
        }
        let fields = match body_fields(request) {
            Ok(fields) => fields,
            Err(message) => return invalid(&[("body", message)]),
        };
        let users: Vec<u64> = self
            .data
            .records(Resource::Users)
            .iter()
            .filter_map(|u| u["id"].as_u64())
            .collect();
        // The token belongs to the first user (see `/v1/users/me`).
        let me = users.first().copied().unwrap_or(1);
        let hook = match self.check(&fields, me, &users) {
            Ok(hook) => hook,
            Err(problems) => return invalid(&problems),
        };
        let _writing = lock(&self.webhook_writes);
        let taken = self
            .data
            .records(Resource::Webhooks)
            .iter()
            .filter(|w| w["user_id"] == hook.user_id)
            .count();
        if taken >= PER_USER {
            return Response::json(
                422,
                json!({
                    "success": false,
                    "status": "error",
                    "error": "Webhooks limit reached",
                    "error_info": ERROR_INFO,
                    "data": null,
                    "additional_data": null,
                })
                .to_string(),
            );
        }
        let now = self.clock.now().timestamp();
        let record = self.data.insert_with(Resource::Webhooks, now, |w| {
            w.insert("owner_id".into(), json!(me));
            w.insert("admin_id".into(), json!(me));
            w.insert("user_id".into(), json!(hook.user_id));
            w.insert("event_action".into(), json!(hook.event_action));
            w.insert("event_object".into(), json!(hook.event_object));
            w.insert("subscription_url".into(), json!(hook.subscription_url));
            w.insert("version".into(), json!(hook.version));
            w.insert("is_active".into(), json!(1));
            w.insert("remove_time".into(), Value::Null);
            w.insert("type".into(), json!("general"));
            w.insert("http_auth_user".into(), json!(hook.http_auth_user));
            let password = hook.has_password.then_some(MASK);
            w.insert("http_auth_password".into(), json!(password));
            w.insert("remove_reason".into(), Value::Null);
            // Nothing has been sent to a webhook just made.
            w.insert("last_delivery_time".into(), Value::Null);
            w.insert("last_http_status".into(), Value::Null);
            w.insert("name".into(), json!(hook.name));
        });
        Response::json(
            201,
            json!({"success": true, "status": "ok", "data": record}).to_string(),
        )
    }

    pub(super) fn delete_webhook(&self, id: &str) -> Response {
        let Ok(id) = id.parse::<u64>() else {
            return error(
                400,
                &format!("Invalid value for parameter 'id': '{id}' is not an integer"),
            );
        };
        let _writing = lock(&self.webhook_writes);
        let exists = self
            .data
            .records(Resource::Webhooks)
            .iter()
            .any(|w| w["id"] == id);
        if !exists {
            return error(404, "Webhook not found");
        }
        self.data
            .delete(Resource::Webhooks, &json!(id), self.clock.now().timestamp());
        Response::json(200, json!({"success": true, "status": "ok"}).to_string())
    }

    fn check(
        &self,
        fields: &Map<String, Value>,
        me: u64,
        users: &[u64],
    ) -> Result<NewWebhook, Problems> {
        let mut problems = Problems::new();
        let required = |name: &'static str, problems: &mut Problems| -> String {
            match fields.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                None | Some(Value::Null) => {
                    problems.push((name, "is required".into()));
                    String::new()
                }
                Some(Value::String(_)) => {
                    problems.push((name, "must not be empty".into()));
                    String::new()
                }
                Some(_) => {
                    problems.push((name, "must be a string".into()));
                    String::new()
                }
            }
        };
        let subscription_url = required("subscription_url", &mut problems);
        let event_action = required("event_action", &mut problems);
        let event_object = required("event_object", &mut problems);
        let name = required("name", &mut problems);
        if !subscription_url.is_empty() {
            if let Err(message) = self.check_url(&subscription_url) {
                problems.push(("subscription_url", message));
            }
        }
        if !event_action.is_empty() && !ACTIONS.contains(&event_action.as_str()) {
            problems.push(("event_action", one_of(&ACTIONS)));
        }
        let objects: Vec<&str> = ENTITIES.iter().copied().chain(["*"]).collect();
        if !event_object.is_empty() && !objects.contains(&event_object.as_str()) {
            problems.push(("event_object", one_of(&objects)));
        }
        let user_id = match fields.get("user_id") {
            None | Some(Value::Null) => Some(me),
            Some(Value::Number(n)) => n.as_u64(),
            // A form sends every value as text.
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        };
        let user_id = match user_id {
            Some(id) if users.contains(&id) => id,
            Some(id) => {
                problems.push(("user_id", format!("User {id} not found")));
                me
            }
            None => {
                problems.push(("user_id", "must be an integer".into()));
                me
            }
        };
        let mut optional = |name: &'static str| match fields.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push((name, "must be a string".into()));
                None
            }
        };
        let http_auth_user = optional("http_auth_user");
        let has_password = optional("http_auth_password").is_some();
        let version = optional("version").unwrap_or_else(|| "2.0".into());
        if !VERSIONS.contains(&version.as_str()) {
            problems.push(("version", one_of(&VERSIONS)));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(NewWebhook {
            subscription_url,
            event_action,
            event_object,
            name,
            user_id,
            http_auth_user,
            has_password,
            version,
        })
    }

    /// A subscription URL must be absolute http(s) and no Pipedrive API endpoint, which this
    /// sandbox is too. Loopback receivers are allowed, unlike on the real service (whose URLs
    /// must be public), or no test could receive a delivery.
    fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = parse_url(url).ok_or("must be a full, valid http or https URL")?;
        let host = parsed.host.to_ascii_lowercase();
        let api_path = ["/v1/", "/api/"]
            .iter()
            .any(|p| parsed.target.starts_with(p));
        let pipedrive =
            host == "api.pipedrive.com" || (host.ends_with(".pipedrive.com") && api_path);
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let this_sandbox = loopback && parsed.port == self.addr.port();
        if pipedrive || this_sandbox {
            return Err("Pipedrive API endpoints cannot be used as the subscription_url".into());
        }
        Ok(())
    }
}

fn one_of(values: &[&str]) -> String {
    format!("must be one of {}", values.join(", "))
}

/// 400 in Pipedrive's envelope, plus the `errors` the Webhooks API adds (reference §10).
fn invalid(problems: &[(&'static str, String)]) -> Response {
    let mut errors = Map::new();
    for (field, message) in problems {
        let list = errors.entry(*field).or_insert_with(|| json!([]));
        if let Value::Array(list) = list {
            list.push(json!(message));
        }
    }
    let summary: Vec<String> = problems.iter().map(|(f, m)| format!("{f} {m}")).collect();
    Response::json(
        400,
        json!({
            "success": false,
            "status": "error",
            "error": format!("Validation failed: {}", summary.join("; ")),
            "error_info": ERROR_INFO,
            "data": null,
            "additional_data": null,
            "errors": errors,
        })
        .to_string(),
    )
}

/// The body's fields: a JSON object, or a form. Other content types are not parsed, as by
/// the real API's body parsers, so their fields count as missing.
fn body_fields(request: &Request) -> Result<Map<String, Value>, String> {
    let content_type = request
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("must be a JSON object".into()),
            Err(e) => Err(format!("is not valid JSON: {e}")),
        },
        "application/x-www-form-urlencoded" => {
            let text = String::from_utf8_lossy(&request.body);
            let mut map = Map::new();
            for pair in text.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                // The first value wins, as with query parameters.
                map.entry(percent_decode(k))
                    .or_insert_with(|| json!(percent_decode(v)));
            }
            Ok(map)
        }
        _ => Ok(Map::new()),
    }
}
