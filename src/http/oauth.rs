//! The life of an OAuth access token, shared by every worker of the one client: the token and
//! the API domain in use, one refresh at a time (a worker that finds a refresh under way waits
//! for it and uses its token), a refresh before the token expires (with a margin) and once on a
//! 401, the secrets of every answer told to the scrubbers before the token is used, and the new
//! tokens handed to whoever saves the config (`on_refresh`) before any request uses them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::error::{transport_message, HttpError};
use super::retry::{backoff_delay, unit_jitter, RetryPolicy};
use crate::config::{validate_url, ApiKey, OAuthCredentials, Tokens};
use crate::secrets::{self, Scrubber};

/// Longest margin before expiry at which a token is refreshed; shorter lifetimes get a fifth of
/// theirs.
const MAX_MARGIN: Duration = Duration::from_secs(300);

/// What saves new tokens (a CONTROL message, a config file); an error stops the client, since
/// a rotated refresh token that is not saved would lock the next run out.
pub type OnRefresh = Box<dyn Fn(&Tokens) -> Result<(), String> + Send + Sync>;

/// The token a request goes out with.
pub(super) struct Grant {
    pub(super) token: ApiKey,
    /// The API root the token is for.
    pub(super) base_url: String,
    /// Which refresh gave it: a 401 refreshes only if no other worker has since.
    pub(super) generation: u64,
}

struct Current {
    /// The access token, when it expires, and how long before that it is replaced.
    access: Option<(ApiKey, DateTime<Utc>, TimeDelta)>,
    refresh: ApiKey,
    generation: u64,
    base_url: String,
    /// The scopes the last answer granted, to name what a 403 lacks.
    scope: Option<String>,
    /// Set once the token endpoint said the grant or the client is invalid: no retry helps.
    refused: Option<String>,
}

pub(super) struct Session {
    creds: OAuthCredentials,
    current: Mutex<Current>,
    /// Held for the whole of a refresh: one at a time for every worker.
    refreshing: Mutex<()>,
    /// The client's scrubber, which learns each new token before it is used.
    scrubber: Arc<RwLock<Scrubber>>,
    on_refresh: Mutex<Option<OnRefresh>>,
    pub(super) refreshes: AtomicU64,
}

impl Session {
    pub(super) fn new(
        creds: OAuthCredentials,
        base_url: &str,
        scrubber: Arc<RwLock<Scrubber>>,
    ) -> Session {
        // Without `base_url` the API domain is only known from a token answer: refresh first.
        let mut access = creds
            .access_token
            .clone()
            .filter(|_| !creds.follow_api_domain)
            .map(|(t, e)| (t, e, margin(None)));
        let mut refresh = creds.refresh_token.clone();
        let mut base_url = base_url.to_string();
        // What an earlier client of this process obtained.
        if let Some((tokens, domain)) = lock(&creds.latest).clone() {
            access = Some((tokens.access_token, tokens.expires_at, margin(None)));
            refresh = tokens.refresh_token;
            if let Some(domain) = domain.filter(|_| creds.follow_api_domain) {
                base_url = domain;
            }
        }
        Session {
            current: Mutex::new(Current {
                access,
                refresh,
                generation: 0,
                base_url,
                scope: None,
                refused: None,
            }),
            creds,
            refreshing: Mutex::new(()),
            scrubber,
            on_refresh: Mutex::new(None),
            refreshes: AtomicU64::new(0),
        }
    }

    pub(super) fn on_refresh(&self, f: OnRefresh) {
        *lock(&self.on_refresh) = Some(f);
    }

    /// The token to send now: the current one, or a fresh one when it is missing or expires
    /// within the margin.
    pub(super) fn grant(
        &self,
        agent: &ureq::Agent,
        policy: &RetryPolicy,
    ) -> Result<Grant, HttpError> {
        if let Some(g) = self.usable(Utc::now()) {
            return Ok(g);
        }
        let _one = lock(&self.refreshing);
        // Another worker may have refreshed while this one waited.
        if let Some(g) = self.usable(Utc::now()) {
            return Ok(g);
        }
        self.refresh(agent, policy)
    }

    /// A request with `generation`'s token was answered 401: refresh, unless another worker
    /// already has since that token was handed out.
    pub(super) fn rejected(
        &self,
        generation: u64,
        agent: &ureq::Agent,
        policy: &RetryPolicy,
    ) -> Result<(), HttpError> {
        let _one = lock(&self.refreshing);
        if lock(&self.current).generation != generation {
            return Ok(());
        }
        self.refresh(agent, policy).map(|_| ())
    }

    /// The scopes the app was granted, as the token endpoint last said.
    pub(super) fn granted(&self) -> Option<String> {
        lock(&self.current).scope.clone()
    }

    fn usable(&self, now: DateTime<Utc>) -> Option<Grant> {
        let c = lock(&self.current);
        let (token, expires, margin) = c.access.as_ref()?;
        (now + *margin < *expires).then(|| Grant {
            token: token.clone(),
            base_url: c.base_url.clone(),
            generation: c.generation,
        })
    }

    /// One refresh, with the policy's retries for passing failures. Called with `refreshing`
    /// held.
    fn refresh(&self, agent: &ureq::Agent, policy: &RetryPolicy) -> Result<Grant, HttpError> {
        let target = "POST oauth_token_url (refresh_token grant)".to_string();
        let refresh = {
            let c = lock(&self.current);
            if let Some(why) = &c.refused {
                return Err(HttpError::Auth {
                    target,
                    message: why.clone(),
                });
            }
            c.refresh.clone()
        };
        let mut attempt = 0;
        let answer = loop {
            let err = match self.ask(agent, &refresh, &target) {
                Ok(answer) => break answer,
                Err(e) => e,
            };
            attempt += 1;
            if let HttpError::Auth { message, .. } = &err {
                lock(&self.current).refused = Some(message.clone());
            }
            if !err.retryable() || attempt >= policy.max_tries {
                return Err(err);
            }
            std::thread::sleep(backoff_delay(policy, attempt - 1, unit_jitter()));
        };
        self.accept(answer, refresh, &target)
    }

    /// Takes a token answer in: its secrets to the scrubbers first, then the config saved,
    /// then the token made current.
    fn accept(&self, answer: Value, old_refresh: ApiKey, target: &str) -> Result<Grant, HttpError> {
        let bad = |message: String| HttpError::Auth {
            target: target.to_string(),
            message,
        };
        let text = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_string);
        let access = text("access_token").filter(|t| !t.is_empty());
        let refresh = text("refresh_token").filter(|t| !t.is_empty());
        for secret in access.iter().chain(refresh.iter()) {
            self.scrubber
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .add(secret);
            let mut one = Scrubber::new();
            one.add(secret);
            secrets::protect_process(&one);
        }
        let Some(access) = access else {
            return Err(bad(
                "the token endpoint's answer has no access_token".to_string()
            ));
        };
        let lifetime = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600);
        let expires_at = Utc::now() + TimeDelta::seconds(lifetime as i64);
        let base_url = match text("api_domain").filter(|_| self.creds.follow_api_domain) {
            Some(domain) => validate_url(&domain, "api_domain")
                .map_err(|e| bad(format!("the token endpoint's api_domain is unusable: {e}")))?,
            None => lock(&self.current).base_url.clone(),
        };
        let tokens = Tokens {
            access_token: ApiKey::new(access),
            refresh_token: refresh.map_or(old_refresh, ApiKey::new),
            expires_at,
        };
        if let Some(save) = lock(&self.on_refresh).as_ref() {
            save(&tokens)
                .map_err(|e| bad(format!("the new OAuth tokens could not be saved: {e}")))?;
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        *lock(&self.creds.latest) = Some((
            tokens.clone(),
            Some(base_url.clone()).filter(|_| self.creds.follow_api_domain),
        ));
        let mut c = lock(&self.current);
        c.generation += 1;
        c.access = Some((
            tokens.access_token.clone(),
            expires_at,
            margin(Some(lifetime)),
        ));
        c.refresh = tokens.refresh_token;
        c.base_url = base_url.clone();
        c.scope = text("scope");
        Ok(Grant {
            token: tokens.access_token,
            base_url,
            generation: c.generation,
        })
    }

    fn ask(&self, agent: &ureq::Agent, refresh: &ApiKey, target: &str) -> Result<Value, HttpError> {
        let form = format!(
            "grant_type=refresh_token&refresh_token={}",
            form_encode(refresh.expose())
        );
        let scrubber = self
            .scrubber
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        token_request(agent, &self.creds, &form, &scrubber, target)
    }
}

/// The `authorization_code` grant: the tokens for a code the consent page gave to
/// `redirect_uri`. What the answer or an error says is scrubbed with `scrubber`.
pub fn exchange_code(
    creds: &OAuthCredentials,
    code: &str,
    redirect_uri: &str,
    scrubber: &Scrubber,
) -> Result<Value, HttpError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .max_redirects(0)
        .build()
        .into();
    let form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        form_encode(code),
        form_encode(redirect_uri)
    );
    token_request(
        &agent,
        creds,
        &form,
        scrubber,
        "POST oauth_token_url (authorization_code grant)",
    )
}

/// One POST to the token endpoint: `form` form-encoded, the client in a Basic header.
fn token_request(
    agent: &ureq::Agent,
    creds: &OAuthCredentials,
    form: &str,
    scrubber: &Scrubber,
    target: &str,
) -> Result<Value, HttpError> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        creds.client_id.expose(),
        creds.client_secret.expose()
    ));
    let sent = agent
        .post(&creds.token_url)
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .send(form);
    let mut resp = sent.map_err(|e| HttpError::Transport {
        target: target.to_string(),
        message: format!(
            "{} (oauth_token_url {})",
            transport_message(&e),
            creds.token_url
        ),
    })?;
    let status = resp.status().as_u16();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
    if (200..300).contains(&status) {
        return answer.ok_or_else(|| HttpError::BadBody {
            target: target.to_string(),
            status,
            message: "the token endpoint's answer is not JSON".to_string(),
        });
    }
    let field = |k: &str| {
        answer
            .as_ref()
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .map(|s| scrubber.scrub_cut(s, 200))
    };
    let code = field("error").unwrap_or_default();
    let said = field("message")
        .or_else(|| field("error_description"))
        .unwrap_or_default();
    if status >= 500 || status == 429 {
        return Err(HttpError::Status {
            target: target.to_string(),
            status,
            message: format!("the token endpoint failed: {code} {said}"),
        });
    }
    let what = if code.contains("invalid_grant") || said.contains("Invalid grant") {
        "Pipedrive refused the grant (invalid_grant: a refresh token revoked, unused for 60 days or replaced, or an authorization code expired or used)"
    } else if code.contains("invalid_client") || said.contains("Invalid client") {
        "Pipedrive refused the app's client_id / client_secret (invalid_client)"
    } else {
        "Pipedrive's token endpoint refused the request"
    };
    Err(HttpError::Auth {
        target: target.to_string(),
        message: format!(
            "{what}: HTTP {status} {code} {said}. Re-authorize the app (`source-pipedrive oauth authorize`, see the README) and put the new `credentials` in the config"
        ),
    })
}

/// How long before its expiry a token of `lifetime` seconds is replaced: a fifth of its life,
/// at most `MAX_MARGIN` (unknown lifetime: `MAX_MARGIN`), so that a request sent just before
/// the expiry still arrives in time.
fn margin(lifetime: Option<u64>) -> TimeDelta {
    let max = MAX_MARGIN.as_millis() as i64;
    TimeDelta::milliseconds(lifetime.map_or(max, |s| (s as i64 * 1000 / 5).min(max)))
}

/// The read-only scopes (any one is enough) Pipedrive accepts for a GET path (its published
/// API definition; `../shared/pipedrive-api.md`, Appendix A). Empty: not known here.
pub fn scopes_for(path: &str) -> &'static [&'static str] {
    let p = path
        .strip_prefix("/api")
        .filter(|p| p.starts_with("/v1/"))
        .unwrap_or(path);
    let segments: Vec<&str> = p.split('/').skip(1).collect();
    match segments.as_slice() {
        ["v1", "users", "me"] | ["v1", "currencies"] => &["base"],
        ["api", "v2", "deals", "products"] | ["api", "v2", "deals", _, "products"] => {
            &["deals:read", "products:read"]
        }
        ["api", "v2", "deals", ..] => &["deals:read"],
        ["api", "v2", "pipelines" | "stages" | "dealFields"] => &["deals:read", "admin"],
        ["api", "v2", "persons" | "organizations", ..] => &["contacts:read"],
        ["api", "v2", "personFields" | "organizationFields"] => &["contacts:read", "admin"],
        ["api", "v2", "activities", ..] => &["activities:read"],
        ["api", "v2", "activityFields"] => &["admin"],
        ["api", "v2", "products" | "productFields", ..] => &["products:read"],
        ["api", "v2", "projects" | "tasks" | "boards" | "phases" | "projectTemplates" | "projectFields", ..] => {
            &["projects:read"]
        }
        ["v1", "deals", _, "changelog"] => &["recents:read"],
        ["v1", "users", ..] => &["users:read"],
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

/// What a 403 on `path` says when the app was granted `granted`: the scope it lacks.
pub(super) fn missing_scope(path: &str, granted: Option<&str>) -> String {
    let needed = scopes_for(path);
    if needed.is_empty() {
        return "the OAuth app may lack this endpoint's scope".to_string();
    }
    let granted = granted.map_or(String::new(), |g| format!(" (granted: {g})"));
    format!(
        "the OAuth app lacks the scope {}{granted}; tick it in the app's OAuth & access scopes and install the app again",
        needed.join(" or ")
    )
}

/// `application/x-www-form-urlencoded` for one value.
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_replaced_a_fifth_of_its_life_before_expiry_at_most_five_minutes() {
        assert_eq!(margin(Some(3599)), TimeDelta::seconds(300));
        assert_eq!(margin(Some(10)), TimeDelta::seconds(2));
        assert_eq!(margin(None), TimeDelta::seconds(300));
    }

    #[test]
    fn a_403_names_the_scope() {
        assert_eq!(scopes_for("/api/v2/deals"), ["deals:read"]);
        assert_eq!(scopes_for("/v1/roles/7/assignments"), ["admin"]);
        assert_eq!(scopes_for("/api/v1/leads"), ["leads:read"]);
        let m = missing_scope("/v1/goals/find", Some("base,deals:read"));
        assert!(m.contains("goals:read (granted: base,deals:read)"), "{m}");
    }

    fn session() -> Session {
        let creds = OAuthCredentials {
            client_id: ApiKey::new("id"),
            client_secret: ApiKey::new("secret"),
            refresh_token: ApiKey::new("refresh"),
            access_token: None,
            token_url: "http://127.0.0.1:1/token".into(),
            follow_api_domain: true,
            source: serde_json::json!({"credentials": {}}),
            update_path: None,
            latest: Default::default(),
        };
        Session::new(creds, "https://api.pipedrive.com", Arc::default())
    }

    /// A token answer's secrets are redacted everywhere (the client's messages, the panic
    /// hook, every writer's text) before the tokens are saved, and saved before any request
    /// can use them.
    #[test]
    fn new_tokens_are_secret_before_they_are_saved_and_saved_before_they_are_used() {
        let s = Arc::new(session());
        let access = "at-run-time-5f0c2e9b7d1a";
        let rotated = "rotated-refresh-8c1d3f5a";
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (check, log) = (Arc::clone(&s), Arc::clone(&seen));
        s.on_refresh(Box::new(move |tokens| {
            let said = format!(
                "{} {}",
                tokens.access_token.expose(),
                tokens.refresh_token.expose()
            );
            log.lock().unwrap().push((
                secrets::scrub_process(&said),
                check.scrubber.read().unwrap().scrub(&said).into_owned(),
                check.usable(Utc::now()).is_some(),
            ));
            Ok(())
        }));
        let answer = serde_json::json!({"access_token": access, "refresh_token": rotated,
            "expires_in": 3599, "api_domain": "https://acme.pipedrive.com"});
        let grant = s.accept(answer, ApiKey::new("refresh"), "t").unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [(
                "(redacted) (redacted)".to_string(),
                "(redacted) (redacted)".to_string(),
                false
            )]
        );
        assert_eq!(
            (grant.token.expose(), grant.base_url.as_str()),
            (access, "https://acme.pipedrive.com")
        );
        assert!(s.usable(Utc::now()).is_some());
    }

    /// An API domain the token endpoint names gets `base_url`'s rule: no plain http but to
    /// loopback, so a tampered answer cannot send the token in clear text.
    #[test]
    fn an_api_domain_in_clear_text_is_refused() {
        let answer = serde_json::json!({"access_token": "a-token-of-some-length", "api_domain": "http://acme.pipedrive.com"});
        let e = session()
            .accept(answer, ApiKey::new("r"), "t")
            .err()
            .unwrap();
        assert!(e.to_string().contains("api_domain"), "{e}");
    }

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("a b:c/d=e&f"), "a%20b%3Ac%2Fd%3De%26f");
    }
}
