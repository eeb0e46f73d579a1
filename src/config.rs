//! The connector's configuration: the serde/schemars type that `spec` publishes, and its validation
//! into ready-to-use values before any request is made. The API key lives in a type that cannot be
//! printed, so no log line, error or panic can leak it. Options that are plain values (how custom
//! fields are named) are defined here too; what they do is up to the modules above.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;
use crate::secrets::Scrubber;

mod base_url;
mod credentials;
mod start_date;
mod types;
pub use credentials::{
    advanced_auth, OAuthCredentials, RawCredentials, Tokens, AUTHORIZE_URL, DEFAULT_TOKEN_URL,
    OAUTH_AUTH_TYPE,
};
use start_date::parse_start_date;
pub use start_date::START_DATE_PATTERN;

pub const DEFAULT_BASE_URL: &str = "https://api.pipedrive.com";

/// The least `max_tokens_per_sync` that lets a sync read a page: the key check before the sync
/// (2 tokens) and the cheapest page of any stream (2 tokens); `commands` checks both figures.
pub const MIN_TOKENS_PER_SYNC: u64 = 4;

/// The config file as users write it. Unknown fields are ignored; the names used by Airbyte's
/// Python connector (`api_token`, `replication_start_date`) are accepted as aliases.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "Pipedrive Spec",
    description = "Syncs a whole Pipedrive company account, as seen by the API token's user."
)]
pub struct RawConfig {
    #[serde(alias = "api_token")]
    #[schemars(
        title = "API Key",
        description = "Pipedrive API token (Settings > Personal preferences > API). The sync sees what this user can see.",
        extend("airbyte_secret" = true, "order" = 0)
    )]
    pub api_key: Option<String>,

    #[serde(alias = "replication_start_date")]
    #[schemars(
        title = "Start Date",
        description = "No record updated before this moment is emitted; it is also the first cursor of every incremental stream. RFC 3339 (2024-05-01T00:00:00Z) or a bare date (2024-05-01, midnight UTC).",
        regex(pattern = START_DATE_PATTERN),
        extend("examples" = ["2024-05-01T00:00:00Z", "2024-05-01"], "order" = 1)
    )]
    pub start_date: Option<String>,

    #[schemars(
        title = "Base URL",
        description = "API root. Leave the default, or use your company domain (https://acme.pipedrive.com). Plain http is only allowed to loopback.",
        extend("default" = DEFAULT_BASE_URL, "examples" = ["https://acme.pipedrive.com"], "order" = 2)
    )]
    pub base_url: Option<String>,

    #[serde(default)]
    #[schemars(
        title = "Custom field names",
        description = "How custom fields appear in records. key: a custom_fields object keyed by Pipedrive's stable 40-character field keys. name: top-level columns with readable snake_case names (kept when a field is renamed in Pipedrive). both: the object and the columns.",
        extend("order" = 3)
    )]
    pub custom_field_names: NameMode,

    #[serde(default)]
    #[schemars(
        title = "Custom field option labels",
        description = "Single- and multiple-option custom fields come as {id, label} instead of bare option ids.",
        extend("order" = 4)
    )]
    pub custom_field_option_labels: bool,

    #[schemars(
        title = "Max requests per second",
        description = "Cap on this connector's request rate, for companies that share their Pipedrive API budget with other tools. Unset: paced only by Pipedrive's rate-limit headers.",
        range(min = 0.1),
        extend("order" = 5)
    )]
    pub max_requests_per_second: Option<f64>,

    #[schemars(
        title = "Request timeout (seconds)",
        description = "How long one request may wait for Pipedrive's answer before it is retried. Default 120.",
        range(min = 1, max = 3600),
        extend("order" = 6)
    )]
    pub request_timeout_seconds: Option<u64>,

    #[schemars(
        title = "Max retries",
        description = "How many times a request that failed for a passing reason (network, 5xx, a body cut short) is retried, with exponential backoff. Default 5.",
        range(max = 20),
        extend("order" = 7)
    )]
    pub max_retries: Option<u32>,

    #[schemars(
        title = "Concurrent streams",
        description = "How many streams are read at the same time. They share one rate limiter paced by Pipedrive's rate-limit headers; 1 reads them one after the other. Default 3.",
        range(min = 1, max = 10),
        extend("order" = 10)
    )]
    pub max_concurrent_streams: Option<usize>,

    #[schemars(
        title = "Concurrent requests",
        description = "A hard cap on the requests in flight at once, across all streams (1 to 256). Below it, the reader keeps about as many in flight as the measured latency times the allowed rate (Pipedrive's burst limit per 2 seconds): what it takes to fill the burst window at Pipedrive's latency. Lower it to be gentler on the network or the API. Default 100.",
        range(min = 1, max = 256),
        extend("order" = 17)
    )]
    pub max_concurrent_requests: Option<usize>,

    #[schemars(
        title = "Max tokens per sync",
        description = "A hard cap on the Pipedrive API tokens one sync (`read`) may spend (each request costs tokens of the company's daily budget: 10 for a v2 page, 20 for most v1 pages). A request that would take the sync over it is not sent: the sync stops, every STATE already written stays valid, and the next sync resumes there. `check` and `discover` are not capped. At least 4: the key check and the cheapest page. Unset: no cap.",
        range(min = 4),
        extend("order" = 11)
    )]
    pub max_tokens_per_sync: Option<u64>,

    #[schemars(
        title = "Daily budget reserve (%)",
        description = "Stop the sync before the company's daily API token budget left would fall under this share of its daily limit, as Pipedrive reports both in its x-daily-ratelimit-token-* headers; the budget is shared by every user, app and integration of the company. E.g. 20 keeps a fifth of the day's tokens for the other tools. Unset: no reserve.",
        range(min = 0, max = 100),
        extend("order" = 12)
    )]
    pub daily_budget_reserve_percent: Option<f64>,

    #[schemars(
        title = "Webhook user",
        description = "Real-time sync only: the HTTP basic auth user Pipedrive sends webhook deliveries with (`webhooks register`, `listen`).",
        extend("airbyte_secret" = true, "order" = 8)
    )]
    pub webhook_user: Option<String>,

    #[schemars(
        title = "Webhook password",
        description = "Real-time sync only: the HTTP basic auth password of webhook deliveries.",
        extend("airbyte_secret" = true, "order" = 9)
    )]
    pub webhook_password: Option<String>,

    #[schemars(extend("order" = 13))]
    pub credentials: Option<RawCredentials>,

    #[schemars(
        title = "OAuth token URL",
        description = "Where OAuth refreshes go. Leave the default (Pipedrive's token endpoint) unless a proxy stands in front of it. Plain http is only allowed to loopback.",
        extend("default" = DEFAULT_TOKEN_URL, "order" = 14)
    )]
    pub oauth_token_url: Option<String>,

    #[schemars(
        title = "Updated config path (Singer)",
        description = "Singer mode with OAuth only: after a refresh, the whole config with the new tokens is written to this file (atomically, mode 600), since Singer has no message to hand it back. Airbyte mode sends a CONTROL message instead.",
        extend("order" = 15)
    )]
    pub config_update_path: Option<String>,

    #[schemars(
        title = "Emit ACTIVATE_VERSION messages (Singer)",
        description = "Singer mode only: each full-table stream's records carry a table version, and once the stream has been read whole an ACTIVATE_VERSION message tells the target that this version is the whole table (targets such as target-postgres then delete, or mark deleted, the rows of older versions). Never sent by a stream that failed or was cut short. Default true.",
        extend("order" = 16)
    )]
    pub emit_activate_version_messages: Option<bool>,
}

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A personal API token, in the `x-api-token` header.
    ApiKey(ApiKey),
    /// A private app's OAuth tokens, in `Authorization: Bearer`.
    OAuth(Box<OAuthCredentials>),
}

/// The user's caps on the tokens a sync spends (the HTTP client keeps to them). Both unset: no
/// cap.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TokenCaps {
    /// `max_tokens_per_sync`.
    pub max_tokens: Option<u64>,
    /// `daily_budget_reserve_percent`, 0 to 100.
    pub reserve_percent: Option<f64>,
}

impl TokenCaps {
    /// The tokens `daily_budget_reserve_percent` keeps of a daily limit, rounded up (a whole
    /// number of tokens left is under the share exactly when it is under this), if set.
    pub fn daily_reserve(&self, daily_limit: u64) -> Option<u64> {
        self.reserve_percent
            .map(|p| (p / 100.0 * daily_limit as f64).ceil() as u64)
    }
}

/// How custom fields appear in records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameMode {
    /// A `custom_fields` object keyed by Pipedrive's stable field keys (default).
    #[default]
    Key,
    /// Top-level columns with readable names; no `custom_fields` object.
    Name,
    /// Both: the `custom_fields` object and the readable columns.
    Both,
}

/// A Pipedrive API token. It prints as `(redacted)` and offers no way to display it but the
/// header value the HTTP client asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Three streams at once keep a Lite plan's burst window (20 requests per 2 s) busy at typical
/// latencies without living at its edge.
pub const DEFAULT_CONCURRENT_STREAMS: usize = 3;
/// Enough for the highest plan's burst limit (an OAuth app on Ultimate: 480 requests per 2 s)
/// at 300 ms, which wants about 91 in flight.
pub const DEFAULT_CONCURRENT_REQUESTS: usize = 100;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub auth: Auth,
    pub start_date: DateTime<Utc>,
    /// Without a trailing slash.
    pub base_url: String,
    pub custom_field_names: NameMode,
    pub custom_field_option_labels: bool,
    pub max_requests_per_second: Option<f64>,
    pub request_timeout: std::time::Duration,
    pub max_retries: u32,
    pub max_concurrent_streams: usize,
    /// The most requests in flight at once, across all streams.
    pub max_concurrent_requests: usize,
    /// The user's token caps: `max_tokens_per_sync` and `daily_budget_reserve_percent`.
    pub token_caps: TokenCaps,
    /// Basic auth credentials of webhook deliveries, when real-time sync is set up.
    pub webhook_auth: Option<(String, ApiKey)>,
    /// Singer: full-table streams are versioned and activated (`ACTIVATE_VERSION`).
    pub emit_activate_version_messages: bool,
}

impl Config {
    /// Reads and validates a config file; every error names the file and the field.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            ConnectorError::config(format!("cannot read config file {}", path.display()))
        })?;
        Config::parse(&text).map_err(|e| {
            ConnectorError::config(format!("config file {}: {e:#}", path.display())).into()
        })
    }

    /// Every secret of the config: the key, and the webhook password if any. The stdout writer
    /// is told them (`Output::redact`) before anything is written.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        let password = self.webhook_auth.iter().map(|(_, p)| p.expose());
        let (key, oauth) = match &self.auth {
            Auth::ApiKey(key) => (Some(key.expose()), None),
            Auth::OAuth(o) => (None, Some(o.secrets())),
        };
        key.into_iter()
            .chain(oauth.into_iter().flatten())
            .chain(password)
    }

    /// What redacts the config's secrets from any text: the key, the webhook password and the
    /// basic-auth header value that carries it, in part or whole, plain or encoded.
    pub fn scrubber(&self) -> Scrubber {
        let mut scrubber = Scrubber::new();
        for secret in self.secrets() {
            scrubber.add(secret);
        }
        if let Some((user, password)) = &self.webhook_auth {
            scrubber.add_basic_auth(user, password.expose());
        }
        if let Auth::OAuth(o) = &self.auth {
            scrubber.add_basic_auth(o.client_id.expose(), o.client_secret.expose());
        }
        scrubber
    }

    /// Parses a config's text. No error quotes a value (any of them may be a secret that a
    /// scrubber does not know yet): each names the setting and the type it should have.
    pub fn parse(text: &str) -> Result<Config> {
        let mut config = Config::validate(types::parse_raw(text)?, Utc::now())?;
        if let Auth::OAuth(o) = &mut config.auth {
            // The whole file, kept so that a refresh can write it back with the new tokens.
            o.source = serde_json::from_str(text).context("not a valid JSON config object")?;
            o.adopt_saved_tokens()?;
        }
        Ok(config)
    }

    pub fn validate(mut raw: RawConfig, now: DateTime<Utc>) -> Result<Config> {
        let auth = match (raw.api_key.take(), raw.credentials.take()) {
            (Some(_), Some(_)) => bail!(
                "`api_key` and `credentials` are both set: keep one (an API token, or the OAuth private app's credentials)"
            ),
            (None, Some(c)) => Auth::OAuth(Box::new(credentials::validate(
                c,
                raw.oauth_token_url.as_deref(),
                raw.base_url.is_some(),
                raw.config_update_path.take(),
                serde_json::Value::Null,
            )?)),
            (key, None) => Auth::ApiKey(validate_key(key)?),
        };
        let start_raw = raw.start_date.context(
            "`start_date` is missing: give an ISO 8601 date-time such as 2024-05-01T00:00:00Z",
        )?;
        let start_date = parse_start_date(&start_raw)?;
        if start_date > now {
            bail!("`start_date` {start_raw} is in the future: no record could ever be emitted");
        }
        let base_url = base_url::validate(raw.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        if let Some(rate) = raw.max_requests_per_second {
            if !(rate.is_finite() && rate >= 0.1) {
                bail!("`max_requests_per_second` {rate} must be a number of at least 0.1");
            }
        }
        if let Some(cap) = raw.max_tokens_per_sync.filter(|&c| c < MIN_TOKENS_PER_SYNC) {
            bail!(
                "`max_tokens_per_sync` {cap} is below {MIN_TOKENS_PER_SYNC}, the least a sync \
                 spends to read a page (2 tokens for the key check, 2 for the cheapest page): \
                 no sync could read anything; raise it or leave it unset"
            );
        }
        if let Some(p) = raw.daily_budget_reserve_percent {
            if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
                bail!("`daily_budget_reserve_percent` {p} must be a number from 0 to 100");
            }
        }
        let timeout = raw.request_timeout_seconds.unwrap_or(120);
        if !(1..=3600).contains(&timeout) {
            bail!("`request_timeout_seconds` {timeout} must be between 1 and 3600");
        }
        Ok(Config {
            auth,
            start_date,
            base_url,
            custom_field_names: raw.custom_field_names,
            custom_field_option_labels: raw.custom_field_option_labels,
            max_requests_per_second: raw.max_requests_per_second,
            request_timeout: std::time::Duration::from_secs(timeout),
            max_retries: match raw.max_retries {
                Some(n) if n > 20 => bail!("`max_retries` {n} must be at most 20"),
                Some(n) => n,
                None => 5,
            },
            max_concurrent_streams: match raw.max_concurrent_streams {
                Some(n) if !(1..=10).contains(&n) => {
                    bail!("`max_concurrent_streams` {n} must be between 1 and 10")
                }
                Some(n) => n,
                None => DEFAULT_CONCURRENT_STREAMS,
            },
            max_concurrent_requests: match raw.max_concurrent_requests {
                Some(n) if !(1..=256).contains(&n) => {
                    bail!("`max_concurrent_requests` {n} must be between 1 and 256")
                }
                Some(n) => n,
                None => DEFAULT_CONCURRENT_REQUESTS,
            },
            token_caps: TokenCaps {
                max_tokens: raw.max_tokens_per_sync,
                reserve_percent: raw.daily_budget_reserve_percent,
            },
            webhook_auth: match (raw.webhook_user, raw.webhook_password) {
                (None, None) => None,
                (Some(u), Some(p)) if !u.is_empty() && p.len() >= 12 && !u.contains(':') => Some((u, ApiKey(p))),
                _ => bail!(
                    "`webhook_user` and `webhook_password` go together: a user without ':' and a password of at least 12 characters"
                ),
            },
            emit_activate_version_messages: raw.emit_activate_version_messages.unwrap_or(true),
        })
    }
}

fn validate_key(key: Option<String>) -> Result<ApiKey> {
    let key = match key {
        None => bail!("`api_key` is missing: set it to your Pipedrive API token (or set `credentials` for OAuth)"),
        Some(k) if k.trim().is_empty() => {
            bail!("`api_key` is empty: set it to your Pipedrive API token")
        }
        Some(k) => k.trim().to_string(),
    };
    if key.chars().any(|c| c.is_control()) {
        bail!("`api_key` contains control characters: paste the token alone");
    }
    Ok(ApiKey(key))
}

/// `base_url`'s rule (`base_url::validate`) for any URL a secret is sent to; `field` names it
/// in errors.
pub fn validate_url(url: &str, field: &str) -> Result<String> {
    base_url::validate(url).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            format!("{e:#}").replace("`base_url`", &format!("`{field}`"))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: serde_json::Value) -> RawConfig {
        serde_json::from_value(v).unwrap()
    }
    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn accepts_python_connector_aliases_and_ignores_unknown_fields() {
        let c = Config::validate(
            raw(serde_json::json!({"api_token": "k", "replication_start_date": "2024-05-01T00:00:00Z", "x": 1})),
            now(),
        )
        .unwrap();
        assert!(matches!(&c.auth, Auth::ApiKey(k) if k.expose() == "k"));
        assert_eq!(c.start_date.to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
    }

    #[test]
    fn a_start_date_in_the_future_is_refused() {
        let future = Config::validate(
            raw(serde_json::json!({"api_key": "k", "start_date": "2027-01-01"})),
            now(),
        );
        assert!(format!("{:#}", future.unwrap_err()).contains("future"));
    }

    #[test]
    fn missing_and_empty_key() {
        let e = Config::validate(raw(serde_json::json!({"start_date": "2024-01-01"})), now())
            .unwrap_err();
        assert!(e.to_string().contains("`api_key` is missing"));
        let e = Config::validate(
            raw(serde_json::json!({"api_key": " ", "start_date": "2024-01-01"})),
            now(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`api_key` is empty"));
    }

    #[test]
    fn custom_field_and_rate_options() {
        let c = Config::validate(
            raw(serde_json::json!({"api_key": "k", "start_date": "2024-01-01", "custom_field_names": "both",
                                   "custom_field_option_labels": true, "max_requests_per_second": 2.5})),
            now(),
        )
        .unwrap();
        assert_eq!(c.custom_field_names, NameMode::Both);
        assert!(c.custom_field_option_labels);
        assert_eq!(c.max_requests_per_second, Some(2.5));
        let defaults = Config::validate(
            raw(serde_json::json!({"api_key": "k", "start_date": "2024-01-01"})),
            now(),
        )
        .unwrap();
        assert_eq!(defaults.custom_field_names, NameMode::Key);
        assert!(serde_json::from_value::<RawConfig>(
            serde_json::json!({"custom_field_names": "label"})
        )
        .is_err());
        let slow = Config::validate(
            raw(
                serde_json::json!({"api_key": "k", "start_date": "2024-01-01", "max_requests_per_second": 0}),
            ),
            now(),
        );
        assert!(slow
            .unwrap_err()
            .to_string()
            .contains("max_requests_per_second"));
    }

    #[test]
    fn token_caps_are_checked() {
        let base = serde_json::json!({"api_key": "k", "start_date": "2024-01-01"});
        let with = |extra: serde_json::Value| {
            let mut v = base.clone();
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            Config::validate(raw(v), now())
        };
        let c = with(
            serde_json::json!({"max_tokens_per_sync": 5000, "daily_budget_reserve_percent": 12.5}),
        )
        .unwrap();
        assert_eq!(
            c.token_caps,
            TokenCaps {
                max_tokens: Some(5000),
                reserve_percent: Some(12.5)
            }
        );
        assert_eq!(
            with(serde_json::json!({})).unwrap().token_caps,
            TokenCaps::default()
        );
        assert!(with(serde_json::json!({"daily_budget_reserve_percent": 0})).is_ok());
        assert!(with(serde_json::json!({"max_tokens_per_sync": MIN_TOKENS_PER_SYNC})).is_ok());
        assert!(with(serde_json::json!({"daily_budget_reserve_percent": 100})).is_ok());
        for (bad, field) in [
            (
                serde_json::json!({"max_tokens_per_sync": 0}),
                "max_tokens_per_sync",
            ),
            (
                serde_json::json!({"max_tokens_per_sync": MIN_TOKENS_PER_SYNC - 1}),
                "max_tokens_per_sync",
            ),
            (
                serde_json::json!({"daily_budget_reserve_percent": 100.5}),
                "daily_budget_reserve_percent",
            ),
            (
                serde_json::json!({"daily_budget_reserve_percent": -1}),
                "daily_budget_reserve_percent",
            ),
        ] {
            let e = with(bad.clone()).unwrap_err();
            assert!(e.to_string().contains(field), "{bad}: {e}");
        }
        // Negative or fractional token counts are not numbers of tokens at all.
        assert!(serde_json::from_value::<RawConfig>(
            serde_json::json!({"max_tokens_per_sync": -5})
        )
        .is_err());
    }

    #[test]
    fn concurrency_is_bounded() {
        let with = |extra: &str| {
            let text = format!(r#"{{"api_key": "k", "start_date": "2024-01-01"{extra}}}"#);
            Config::validate(types::parse_raw(&text).unwrap(), now())
        };
        let defaults = with("").unwrap();
        assert_eq!(defaults.max_concurrent_streams, DEFAULT_CONCURRENT_STREAMS);
        assert_eq!(
            defaults.max_concurrent_requests,
            DEFAULT_CONCURRENT_REQUESTS
        );
        for n in [1, 256] {
            let c = with(&format!(r#", "max_concurrent_requests": {n}"#)).unwrap();
            assert_eq!(c.max_concurrent_requests, n);
        }
        for (bad, field) in [
            (
                r#", "max_concurrent_requests": 0"#,
                "`max_concurrent_requests` 0",
            ),
            (
                r#", "max_concurrent_requests": 257"#,
                "`max_concurrent_requests` 257",
            ),
            (
                r#", "max_concurrent_streams": 11"#,
                "`max_concurrent_streams` 11",
            ),
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains(field), "{bad}: {e}");
        }
        // Not a whole number of requests: refused by type, naming the setting.
        let e = types::parse_raw(r#"{"max_concurrent_requests": -1}"#).unwrap_err();
        assert!(e.to_string().contains("`max_concurrent_requests`"), "{e}");
    }

    #[test]
    fn secrets_are_the_key_and_the_webhook_password() {
        let c = Config::validate(
            raw(serde_json::json!({"api_key": "k", "start_date": "2024-01-01"})),
            now(),
        )
        .unwrap();
        assert_eq!(c.secrets().collect::<Vec<_>>(), ["k"]);
        let c = Config::validate(
            raw(
                serde_json::json!({"api_key": "k", "start_date": "2024-01-01",
                                   "webhook_user": "u", "webhook_password": "pw-of-12-chars"}),
            ),
            now(),
        )
        .unwrap();
        assert_eq!(c.secrets().collect::<Vec<_>>(), ["k", "pw-of-12-chars"]);
    }

    #[test]
    fn key_never_debug_printed() {
        let c = Config::validate(
            raw(serde_json::json!({"api_key": "s3cret", "start_date": "2024-01-01"})),
            now(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
