//! The connector's configuration: the serde/schemars type that `spec` publishes, and its validation
//! into ready-to-use values before any request is made. The API key lives in a type that cannot be
//! printed, so no log line, error or panic can leak it.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::ConnectorError;

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
#[derive(Debug, Clone)]
pub struct Config {
    pub api_key: ApiKey,
    pub start_date: DateTime<Utc>,
    /// Without a trailing slash.
    pub base_url: String,
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

    pub fn parse(text: &str) -> Result<Config> {
        let raw: RawConfig = serde_json::from_str(text).context("not a valid JSON object")?;
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
        Ok(Config {
            api_key: ApiKey(key),
            start_date,
            base_url,
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
    fn key_never_debug_printed() {
        let c = Config::validate(
            raw(serde_json::json!({"api_key": "s3cret", "start_date": "2024-01-01"})),
            now(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
