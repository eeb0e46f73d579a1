//! Pipedrive's OAuth 2.0 server, as a private app meets it: the consent page (which here
//! consents at once and redirects with a code), the token endpoint (`authorization_code` and
//! `refresh_token` grants, form-encoded, client authentication by a Basic header), access
//! tokens that expire after a number of requests or seconds, refresh tokens that rotate or not,
//! `invalid_grant` / `invalid_client`, and scopes: an API route whose scopes the app was not
//! granted answers 403. The answer's `api_domain` is the sandbox itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64_lite::decode_basic;
use serde_json::json;

use super::http::{Request, Response};
use super::params::{percent_decode, split_target, Params};
use super::{lock, Shared};

/// The OAuth app the sandbox knows, and how its tokens behave.
#[derive(Clone, Debug)]
pub struct OAuthOptions {
    pub client_id: String,
    pub client_secret: String,
    /// The refresh token the app holds at start (as if installed already).
    pub refresh_token: String,
    /// An access token dies after this many API requests (its 401s included), if set.
    pub expire_after_requests: Option<u64>,
    /// An access token dies this long after it is issued; `expires_in` says so. Default 3600 s.
    pub expire_after: Duration,
    /// Each refresh gives a new refresh token and the old one stops working.
    pub rotate: bool,
    /// The scopes granted; API routes that need others answer 403.
    pub scopes: Vec<String>,
}

impl Default for OAuthOptions {
    fn default() -> Self {
        OAuthOptions {
            client_id: "5e1f0c9a7b3d2e8f".to_string(),
            client_secret: "b7c1d9e3f5a2c4e6d8f0a1b3".to_string(),
            refresh_token: "1:9d7b5f1e3c8a6b4d2f0e7c5a".to_string(),
            expire_after_requests: None,
            expire_after: Duration::from_secs(3600),
            rotate: false,
            scopes: READ_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Every read-only scope a private app can tick, plus `admin`.
pub const READ_SCOPES: &[&str] = &[
    "base",
    "deals:read",
    "activities:read",
    "contacts:read",
    "products:read",
    "users:read",
    "leads:read",
    "goals:read",
    "projects:read",
    "mail:read",
    "recents:read",
    "phone-integration",
    "admin",
];

/// What the OAuth server has done: the tokens it issued and how each was used.
#[derive(Default)]
pub(super) struct OAuthState {
    refresh_token: Option<String>,
    /// The app was uninstalled: no refresh token works.
    revoked: bool,
    /// Access token → its life.
    access: HashMap<String, Issued>,
    /// Issued access tokens in order.
    issued: Vec<String>,
    codes: Vec<String>,
    refreshes: u64,
    next: u64,
}

struct Issued {
    at: Instant,
    /// API requests answered with it as a valid token.
    used: u64,
}

/// What a test reads back (`Sandbox::oauth_report`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OAuthReport {
    /// Successful `refresh_token` grants.
    pub refreshes: u64,
    /// Every access token issued, in order, with the API requests it was accepted for.
    pub access_tokens: Vec<(String, u64)>,
    /// Every refresh token that was valid at some point, in order.
    pub refresh_tokens: Vec<String>,
}

pub(super) type Guarded = Mutex<OAuthState>;

impl Shared {
    /// The token endpoint and the consent page; `None` for any other path.
    pub(super) fn oauth_route(&self, request: &Request, path: &str) -> Option<Response> {
        let opts = self.opts.oauth.as_ref()?;
        match path {
            "/oauth/token" => Some(self.token(request, opts)),
            "/oauth/authorize" => Some(self.authorize(request, opts)),
            _ => None,
        }
    }

    /// The consent page of a user who says yes at once: a redirect to `redirect_uri` with a
    /// code and the `state` it was given.
    fn authorize(&self, request: &Request, opts: &OAuthOptions) -> Response {
        let (_, query) = split_target(&request.target);
        let q = Params(&query);
        if q.get("client_id") != Some(opts.client_id.as_str()) {
            return oauth_error(400, "invalid_client", "Invalid client: unknown client_id");
        }
        let Some(redirect) = q.get("redirect_uri") else {
            return oauth_error(400, "invalid_request", "redirect_uri is missing");
        };
        let mut state = lock(&self.oauth);
        state.next += 1;
        let code = format!("sandbox-code-{}", state.next);
        state.codes.push(code.clone());
        let mut location = format!("{redirect}?code={code}");
        if let Some(s) = q.get("state") {
            location.push_str(&format!("&state={}", encode(s)));
        }
        let mut r = Response::json(302, json!({ "redirect": location }).to_string());
        r.location = Some(location);
        r
    }

    fn token(&self, request: &Request, opts: &OAuthOptions) -> Response {
        if request.method != "POST" {
            return oauth_error(405, "invalid_request", "Method not allowed");
        }
        let form = request
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return oauth_error(400, "invalid_request", "body must be form-encoded");
        }
        let client = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(decode_basic);
        if client != Some((opts.client_id.clone(), opts.client_secret.clone())) {
            return oauth_error(
                400,
                "invalid_client",
                "Invalid client: client authentication failed",
            );
        }
        let body = String::from_utf8_lossy(&request.body);
        let fields: Vec<(String, String)> = body
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let f = Params(&fields);
        let mut state = lock(&self.oauth);
        let current = state
            .refresh_token
            .get_or_insert_with(|| opts.refresh_token.clone())
            .clone();
        match f.get("grant_type") {
            Some("refresh_token") => {
                if state.revoked || f.get("refresh_token") != Some(current.as_str()) {
                    return oauth_error(
                        400,
                        "invalid_grant",
                        "Invalid grant: refresh_token is invalid",
                    );
                }
                state.refreshes += 1;
            }
            Some("authorization_code") => {
                let code = f.get("code").unwrap_or_default().to_string();
                let Some(i) = state.codes.iter().position(|c| *c == code) else {
                    return oauth_error(
                        400,
                        "invalid_grant",
                        "Invalid grant: authorization code is invalid",
                    );
                };
                if f.get("redirect_uri").is_none() {
                    return oauth_error(400, "invalid_request", "redirect_uri is missing");
                }
                state.codes.remove(i);
            }
            _ => return oauth_error(400, "unsupported_grant_type", "Unsupported grant type"),
        }
        state.next += 1;
        let n = state.next;
        // Like Pipedrive's: `<company>:<user>:<random>`, here random enough to tell apart.
        let access = format!("{n}:{:016x}{:016x}", mix(n), mix(n + 7));
        if opts.rotate && f.get("grant_type") == Some("refresh_token") {
            state.refresh_token = Some(format!("{n}:{:016x}{:016x}", mix(n + 3), mix(n + 5)));
        }
        let refresh = state.refresh_token.clone().unwrap_or_default();
        state.access.insert(
            access.clone(),
            Issued {
                at: Instant::now(),
                used: 0,
            },
        );
        state.issued.push(access.clone());
        Response::json(
            200,
            json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": opts.expire_after.as_secs(),
                "refresh_token": refresh,
                "scope": opts.scopes.join(","),
                "api_domain": format!("http://{}", self.addr),
            })
            .to_string(),
        )
    }

    /// Whether `Authorization: Bearer` holds a live access token; each call uses it once.
    pub(super) fn bearer_valid(&self, request: &Request) -> bool {
        let Some(opts) = self.opts.oauth.as_ref() else {
            return false;
        };
        let Some(token) = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return false;
        };
        let mut state = lock(&self.oauth);
        let Some(issued) = state.access.get_mut(token) else {
            return false;
        };
        let spent = opts.expire_after_requests.is_some_and(|n| issued.used >= n);
        if spent || issued.at.elapsed() >= opts.expire_after {
            return false;
        }
        issued.used += 1;
        true
    }

    /// A 403 for an API path whose scopes the app was not granted.
    pub(super) fn scope_refusal(&self, path: &str) -> Option<Response> {
        let opts = self.opts.oauth.as_ref()?;
        let needed = scopes_for(path);
        if needed.is_empty() || needed.iter().any(|s| opts.scopes.iter().any(|g| g == s)) {
            return None;
        }
        let body = json!({
            "success": false,
            "error": "Scope and URL mismatch",
            "errorCode": 403,
            "error_info": super::http::ERROR_INFO,
        });
        Some(Response::json(403, body.to_string()))
    }

    pub(super) fn oauth_report(&self) -> OAuthReport {
        let state = lock(&self.oauth);
        let mut refresh_tokens = Vec::new();
        if let Some(opts) = &self.opts.oauth {
            refresh_tokens.push(opts.refresh_token.clone());
        }
        if let Some(r) = &state.refresh_token {
            if !refresh_tokens.contains(r) {
                refresh_tokens.push(r.clone());
            }
        }
        OAuthReport {
            refreshes: state.refreshes,
            access_tokens: state
                .issued
                .iter()
                .map(|t| (t.clone(), state.access.get(t).map_or(0, |i| i.used)))
                .collect(),
            refresh_tokens,
        }
    }

    /// The app is uninstalled: its refresh token stops working.
    pub(super) fn revoke(&self) {
        lock(&self.oauth).revoked = true;
    }
}

/// The read-only scopes (any one of them is enough) a GET path needs, after the scopes of
/// Pipedrive's published API definition (`../shared/pipedrive-api.md`, Appendix A). Empty: no
/// rule here (unknown paths answer 404 anyway).
pub fn scopes_for(path: &str) -> &'static [&'static str] {
    let p = path
        .strip_prefix("/api")
        .filter(|p| p.starts_with("/v1/"))
        .unwrap_or(path);
    let segments: Vec<&str> = p.split('/').skip(1).collect();
    match segments.as_slice() {
        ["v1", "users", "me"] | ["v1", "currencies"] => &["base"],
        ["api", "v2", "deals", "products"] | ["api", "v2", "deals", _, "products"] => {
            &["products:read", "deals:read"]
        }
        ["api", "v2", "deals", ..] => &["deals:read"],
        ["api", "v2", "pipelines" | "stages"] => &["deals:read", "admin"],
        ["api", "v2", "dealFields"] => &["deals:read", "admin"],
        ["api", "v2", "persons" | "organizations", ..] => &["contacts:read"],
        ["api", "v2", "personFields" | "organizationFields"] => &["contacts:read", "admin"],
        ["api", "v2", "activities", ..] => &["activities:read"],
        ["api", "v2", "activityFields"] => &["admin"],
        ["api", "v2", "products", ..] | ["api", "v2", "productFields"] => &["products:read"],
        ["api", "v2", "projects" | "tasks" | "boards" | "phases" | "projectTemplates" | "projectFields", ..] => {
            &["projects:read"]
        }
        ["v1", "deals", _, "changelog"] => &["recents:read"],
        ["v1", "users", _, "permissions"] | ["v1", "users", ..] => &["users:read"],
        ["v1", "notes" | "noteFields", ..] => &["deals:read", "contacts:read"],
        ["v1", "leads" | "leadLabels" | "leadSources", ..] => &["leads:read"],
        ["v1", "leadFields"] => &["leads:read", "admin"],
        ["v1", "activityTypes"] => &["activities:read", "admin"],
        ["v1", "files" | "filters", ..] => &["deals:read", "activities:read", "contacts:read"],
        ["v1", "goals", ..] => &["goals:read"],
        ["v1", "roles" | "permissionSets" | "webhooks", ..] => &["admin"],
        ["v1", "callLogs", ..] => &["phone-integration"],
        ["v1", "mailbox", ..] => &["mail:read"],
        _ => &[],
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    Response::json(
        status,
        json!({ "success": false, "error": error, "message": description }).to_string(),
    )
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Token suffixes that look random but replay: a splitmix step.
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Just enough base64 to read a Basic header (the sandbox depends on no base64 crate).
mod base64_lite {
    pub(super) fn decode_basic(encoded: &str) -> Option<(String, String)> {
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in encoded.trim().bytes().filter(|c| *c != b'=') {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            bits = (bits << 6) | u32::from(v);
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        let text = String::from_utf8(out).ok()?;
        let (id, secret) = text.split_once(':')?;
        Some((id.to_string(), secret.to_string()))
    }
}
