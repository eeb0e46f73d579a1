//! The connector's configuration: the serde/schemars type that `spec` publishes, and its validation
//! into ready-to-use values before any request is made. The API key lives in a type that cannot be
//! printed, so no log line, error or panic can leak it. Options that are plain values (how custom
//! fields are named) are defined here too; what they do is up to the modules above.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;
use crate::secrets::Scrubber;

pub const DEFAULT_BASE_URL: &str = "https://api.pipedrive.com";

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
        description = "No record updated before this moment is emitted; it is also the first cursor of every incremental stream. RFC 3339, e.g. 2024-05-01T00:00:00Z.",
        regex(pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
        extend("examples" = ["2024-05-01T00:00:00Z"], "format" = "date-time", "order" = 1)
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
        title = "Max tokens per sync",
        description = "A hard cap on the Pipedrive API tokens one sync may spend (each request costs tokens of the company's daily budget: 10 for a v2 page, 20 for most v1 pages). A request that would take the sync over it is not sent: the sync stops, every STATE already written stays valid, and the next sync resumes there. Unset: no cap.",
        range(min = 1),
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

    #[schemars(
        title = "Emit ACTIVATE_VERSION messages (Singer)",
        description = "Singer mode only: each full-table stream's records carry a table version, and once the stream has been read whole an ACTIVATE_VERSION message tells the target that this version is the whole table (targets such as target-postgres then delete, or mark deleted, the rows of older versions). Never sent by a stream that failed or was cut short. Default true.",
        extend("order" = 13)
    )]
    pub emit_activate_version_messages: Option<bool>,
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

/// The validated configuration.
/// Three streams at once keep a Lite plan's burst window (20 requests per 2 s) busy at typical
/// latencies without living at its edge.
pub const DEFAULT_CONCURRENT_STREAMS: usize = 3;

#[derive(Debug, Clone)]
pub struct Config {
    pub api_key: ApiKey,
    pub start_date: DateTime<Utc>,
    /// Without a trailing slash.
    pub base_url: String,
    pub custom_field_names: NameMode,
    pub custom_field_option_labels: bool,
    pub max_requests_per_second: Option<f64>,
    pub request_timeout: std::time::Duration,
    pub max_retries: u32,
    pub max_concurrent_streams: usize,
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
        std::iter::once(self.api_key.expose()).chain(password)
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
        scrubber
    }

    pub fn parse(text: &str) -> Result<Config> {
        let raw: RawConfig =
            serde_json::from_str(text).context("not a valid JSON config object")?;
        Config::validate(raw, Utc::now())
    }

    pub fn validate(raw: RawConfig, now: DateTime<Utc>) -> Result<Config> {
        let key = match raw.api_key {
            None => bail!("`api_key` is missing: set it to your Pipedrive API token"),
            Some(k) if k.trim().is_empty() => {
                bail!("`api_key` is empty: set it to your Pipedrive API token")
            }
            Some(k) => k.trim().to_string(),
        };
        if key.chars().any(|c| c.is_control()) {
            bail!("`api_key` contains control characters: paste the token alone");
        }
        let start_raw = raw.start_date.context(
            "`start_date` is missing: give an ISO 8601 date-time such as 2024-05-01T00:00:00Z",
        )?;
        let start_date = parse_start_date(&start_raw)?;
        if start_date > now {
            bail!("`start_date` {start_raw} is in the future: no record could ever be emitted");
        }
        let base_url = validate_base_url(raw.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        if let Some(rate) = raw.max_requests_per_second {
            if !(rate.is_finite() && rate >= 0.1) {
                bail!("`max_requests_per_second` {rate} must be a number of at least 0.1");
            }
        }
        if raw.max_tokens_per_sync == Some(0) {
            bail!("`max_tokens_per_sync` 0 must be at least 1: no sync could send a request");
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
            api_key: ApiKey(key),
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

fn parse_start_date(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    bail!("`start_date` {s:?} is not a date: expected ISO 8601 such as 2024-05-01T00:00:00Z or 2024-05-01")
}

/// HTTPS anywhere; plain HTTP only to loopback, so a mistyped URL cannot send the key in clear text.
fn validate_base_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").with_context(|| {
        format!("`base_url` {url:?} is not a URL: expected https://<company>.pipedrive.com")
    })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_only = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let hostname = if host_only.starts_with('[') {
        host_only
            .split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
    } else {
        host_only.split(':').next().unwrap_or("")
    };
    if hostname.is_empty() {
        bail!("`base_url` {url:?} has no host");
    }
    if host.contains('@') {
        bail!("`base_url` must not carry credentials; put the token in `api_key`");
    }
    if rest.contains(['?', '#']) {
        bail!("`base_url` {url:?} must not have a query or fragment");
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(hostname) => {}
        "http" => bail!("`base_url` {url:?} uses plain http to a non-loopback host; use https so the key is not sent in clear text"),
        other => bail!("`base_url` scheme {other:?} is not supported: use https"),
    }
    Ok(url.to_string())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
        assert_eq!(c.api_key.expose(), "k");
        assert_eq!(c.start_date.to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
    }

    #[test]
    fn start_date_forms() {
        assert_eq!(
            parse_start_date("2024-05-01").unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_start_date("2024-05-01T02:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert!(parse_start_date("yesterday").is_err());
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
    fn base_url_rules() {
        assert_eq!(
            validate_base_url("https://acme.pipedrive.com/").unwrap(),
            "https://acme.pipedrive.com"
        );
        assert!(validate_base_url("http://127.0.0.1:8080").is_ok());
        assert!(validate_base_url("http://localhost:1").is_ok());
        assert!(validate_base_url("http://[::1]:1").is_ok());
        assert!(validate_base_url("http://acme.pipedrive.com").is_err());
        assert!(validate_base_url("http://127.0.0.1.evil.com").is_err());
        assert!(validate_base_url("ftp://acme.pipedrive.com").is_err());
        assert!(validate_base_url("acme.pipedrive.com").is_err());
        assert!(validate_base_url("https://user:pw@acme.pipedrive.com").is_err());
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
        assert!(with(serde_json::json!({"daily_budget_reserve_percent": 100})).is_ok());
        for (bad, field) in [
            (
                serde_json::json!({"max_tokens_per_sync": 0}),
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
