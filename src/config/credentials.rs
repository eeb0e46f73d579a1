//! OAuth 2.0 through a company's private Pipedrive app: the `credentials` object of the config,
//! its validation, the config as it must be saved after a refresh, and the `advanced_auth`
//! block of the spec that tells Airbyte where the OAuth values live. Every value but
//! `auth_type` is a secret and is held in `ApiKey`, which cannot be printed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ApiKey;

/// Pipedrive's token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth.pipedrive.com/oauth/token";
/// Pipedrive's consent page.
pub const AUTHORIZE_URL: &str = "https://oauth.pipedrive.com/oauth/authorize";
/// The only `auth_type`.
pub const OAUTH_AUTH_TYPE: &str = "oauth2.0";

/// `credentials` as users write it.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(
    title = "OAuth 2.0 (private app)",
    description = "Authenticate as your company's own Pipedrive private app instead of `api_key`: four times the burst limit, and no personal token. `source-pipedrive oauth authorize` gets these values."
)]
pub struct RawCredentials {
    #[schemars(
        title = "Auth type",
        extend("const" = "oauth2.0", "default" = "oauth2.0", "order" = 0)
    )]
    pub auth_type: Option<String>,
    #[schemars(
        title = "Client ID",
        description = "The private app's Client ID (Developer Hub > your app > OAuth & access scopes).",
        extend("airbyte_secret" = true, "order" = 1)
    )]
    pub client_id: Option<String>,
    #[schemars(
        title = "Client secret",
        description = "The private app's Client secret.",
        extend("airbyte_secret" = true, "order" = 2)
    )]
    pub client_secret: Option<String>,
    #[schemars(
        title = "Refresh token",
        description = "The refresh token the app got when it was installed (valid 60 days from its last use).",
        extend("airbyte_secret" = true, "order" = 3)
    )]
    pub refresh_token: Option<String>,
    #[schemars(
        title = "Access token",
        description = "Optional: the current access token; a new one is obtained when it is missing or about to expire.",
        extend("airbyte_secret" = true, "order" = 4)
    )]
    pub access_token: Option<String>,
    #[schemars(
        title = "Access token expiry",
        description = "Optional: when `access_token` expires (RFC 3339).",
        extend("format" = "date-time", "airbyte_secret" = true, "order" = 5)
    )]
    pub token_expiry_date: Option<String>,
}

/// Validated OAuth credentials, and what to do with new tokens. Its `Debug` shows none of
/// the secrets (nor the config file's text, which holds them).
#[derive(Clone)]
pub struct OAuthCredentials {
    pub client_id: ApiKey,
    pub client_secret: ApiKey,
    pub refresh_token: ApiKey,
    /// An access token the config holds, and when it expires (unknown: treated as expired).
    pub access_token: Option<(ApiKey, DateTime<Utc>)>,
    /// Where refreshes go (`oauth_token_url`).
    pub token_url: String,
    /// Whether API requests go to the token answer's `api_domain` (no `base_url` in the config).
    pub follow_api_domain: bool,
    /// The whole config file as it was read, to be saved again with new tokens.
    pub source: Value,
    /// Singer mode: where the updated config is written (`config_update_path`).
    pub update_path: Option<PathBuf>,
    /// The last tokens this process obtained, and the API domain they came with: every HTTP
    /// client made from this config (each command, each reconciliation of `listen`) starts
    /// from them, so a rotated refresh token is never used twice.
    pub latest: Latest,
}

/// The last tokens obtained and their API domain (see `OAuthCredentials::latest`).
pub type Latest = Arc<Mutex<Option<(Tokens, Option<String>)>>>;

impl std::fmt::Debug for OAuthCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCredentials")
            .field("secrets", &"(redacted)")
            .field("token_url", &self.token_url)
            .field("follow_api_domain", &self.follow_api_domain)
            .field("update_path", &self.update_path)
            .finish()
    }
}

/// New tokens from a refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: ApiKey,
    pub refresh_token: ApiKey,
    pub expires_at: DateTime<Utc>,
}

impl OAuthCredentials {
    /// Every secret the credentials hold, those of the config file included when newer ones
    /// replaced them (`adopt_saved_tokens`).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        let held = [
            Some(&self.client_id),
            Some(&self.client_secret),
            Some(&self.refresh_token),
            self.access_token.as_ref().map(|(t, _)| t),
        ]
        .into_iter()
        .flatten()
        .map(ApiKey::expose);
        let written = ["refresh_token", "access_token"]
            .into_iter()
            .filter_map(|k| self.source["credentials"][k].as_str());
        held.chain(written)
    }

    /// When `update_path` holds a config saved by an earlier run for the same app, its tokens
    /// are the current ones (the config's refresh token may have been rotated away since):
    /// Meltano hands the tap the same settings every run, so the file is where they live on.
    pub fn adopt_saved_tokens(&mut self) -> Result<()> {
        let Some(path) = &self.update_path else {
            return Ok(());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => bail!(
                "`config_update_path` {} cannot be read: {e}",
                path.display()
            ),
        };
        let saved: Value = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "`config_update_path` {} is not a JSON config: {e}",
                path.display()
            )
        })?;
        let creds = &saved["credentials"];
        if creds["client_id"].as_str() != Some(self.client_id.expose()) {
            return Ok(());
        }
        if let Some(r) = creds["refresh_token"].as_str().filter(|r| !r.is_empty()) {
            self.refresh_token = ApiKey::new(r);
        }
        let expiry = creds["token_expiry_date"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if let (Some(a), Some(e)) = (creds["access_token"].as_str(), expiry) {
            self.access_token = Some((ApiKey::new(a), e.with_timezone(&Utc)));
        }
        Ok(())
    }

    /// The config as it was read, with `tokens` in its `credentials`: what must be saved after
    /// a refresh so that the next run starts from them.
    pub fn updated_config(&self, tokens: &Tokens) -> Value {
        let mut config = self.source.clone();
        let creds = &mut config["credentials"];
        creds["access_token"] = tokens.access_token.expose().into();
        creds["refresh_token"] = tokens.refresh_token.expose().into();
        creds["token_expiry_date"] = tokens
            .expires_at
            .to_rfc3339_opts(SecondsFormat::Secs, true)
            .into();
        config
    }
}

/// Checks `credentials`; `source` is the whole config file.
pub fn validate(
    raw: RawCredentials,
    token_url: Option<&str>,
    base_url_set: bool,
    update_path: Option<String>,
    source: Value,
) -> Result<OAuthCredentials> {
    match raw.auth_type.as_deref() {
        Some(OAUTH_AUTH_TYPE) => {}
        Some(other) => bail!(
            "`credentials.auth_type` {other:?} is not supported: use \"oauth2.0\" (or `api_key` alone for an API token)"
        ),
        None => bail!("`credentials.auth_type` is missing: set it to \"oauth2.0\""),
    }
    let secret = |value: Option<String>, name: &str| -> Result<ApiKey> {
        match value.map(|v| v.trim().to_string()) {
            None => bail!(
                "`credentials.{name}` is missing: `source-pipedrive oauth authorize` gives it"
            ),
            Some(v) if v.is_empty() => bail!("`credentials.{name}` is empty"),
            Some(v) if v.chars().any(char::is_control) => {
                bail!("`credentials.{name}` contains control characters: paste the value alone")
            }
            Some(v) => Ok(ApiKey::new(v)),
        }
    };
    let client_id = secret(raw.client_id, "client_id")?;
    let client_secret = secret(raw.client_secret, "client_secret")?;
    let refresh_token = secret(raw.refresh_token, "refresh_token")?;
    let expiry = match raw.token_expiry_date.as_deref() {
        None | Some("") => None,
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => bail!(
                "`credentials.token_expiry_date` {s:?} is not an RFC 3339 time such as 2026-05-01T12:00:00Z"
            ),
        },
    };
    // Without its expiry an access token may be dead already: it is refreshed first.
    let access_token = match (raw.access_token.filter(|t| !t.trim().is_empty()), expiry) {
        (Some(t), Some(e)) => Some((secret(Some(t), "access_token")?, e)),
        _ => None,
    };
    let token_url = super::validate_url(token_url.unwrap_or(DEFAULT_TOKEN_URL), "oauth_token_url")?;
    Ok(OAuthCredentials {
        client_id,
        client_secret,
        refresh_token,
        access_token,
        token_url,
        follow_api_domain: !base_url_set,
        source,
        update_path: update_path
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from),
        latest: Arc::default(),
    })
}

/// The spec's `advanced_auth`: the OAuth flow applies when `credentials.auth_type` is
/// `oauth2.0`; the platform holds the app's client id and secret and gets back the tokens,
/// each saved at its place in the config.
pub fn advanced_auth() -> Value {
    let string = |path: &[&str]| json!({"type": "string", "path_in_connector_config": path});
    json!({
        "auth_flow_type": "oauth2.0",
        "predicate_key": ["credentials", "auth_type"],
        "predicate_value": OAUTH_AUTH_TYPE,
        "oauth_config_specification": {
            "complete_oauth_output_specification": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "refresh_token": string(&["credentials", "refresh_token"]),
                    "access_token": string(&["credentials", "access_token"]),
                    "token_expiry_date": {
                        "type": "string",
                        "format": "date-time",
                        "path_in_connector_config": ["credentials", "token_expiry_date"]
                    }
                }
            },
            "complete_oauth_server_input_specification": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"}
                }
            },
            "complete_oauth_server_output_specification": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "client_id": string(&["credentials", "client_id"]),
                    "client_secret": string(&["credentials", "client_secret"])
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(v: Value) -> Result<OAuthCredentials> {
        let raw: RawCredentials = serde_json::from_value(v.clone()).unwrap();
        validate(
            raw,
            None,
            false,
            None,
            json!({"credentials": v, "start_date": "2024-01-01"}),
        )
    }

    #[test]
    fn every_value_is_checked_and_named() {
        let good = json!({"auth_type": "oauth2.0", "client_id": "id", "client_secret": "s", "refresh_token": "r"});
        let c = creds(good.clone()).unwrap();
        assert_eq!(c.token_url, DEFAULT_TOKEN_URL);
        assert!(c.follow_api_domain && c.access_token.is_none());
        for (field, bad) in [
            ("auth_type", json!("oauth")),
            ("client_id", json!("")),
            ("client_secret", Value::Null),
            ("refresh_token", json!("a\nb")),
            ("token_expiry_date", json!("tomorrow")),
        ] {
            let mut v = good.clone();
            if bad.is_null() {
                v.as_object_mut().unwrap().remove(field);
            } else {
                v[field] = bad;
            }
            let e = creds(v).unwrap_err().to_string();
            assert!(e.contains(&format!("credentials.{field}")), "{field}: {e}");
        }
        // An access token without its expiry is not trusted.
        let mut v = good.clone();
        v["access_token"] = json!("a");
        assert!(creds(v.clone()).unwrap().access_token.is_none());
        v["token_expiry_date"] = json!("2030-01-01T00:00:00Z");
        assert_eq!(creds(v).unwrap().access_token.unwrap().0.expose(), "a");
    }

    #[test]
    fn the_updated_config_keeps_everything_else() {
        let c = creds(json!({"auth_type": "oauth2.0", "client_id": "id", "client_secret": "s", "refresh_token": "r"})).unwrap();
        let updated = c.updated_config(&Tokens {
            access_token: ApiKey::new("new-access"),
            refresh_token: ApiKey::new("new-refresh"),
            expires_at: "2030-01-01T00:00:00Z".parse().unwrap(),
        });
        assert_eq!(
            updated,
            json!({"credentials": {"auth_type": "oauth2.0", "client_id": "id", "client_secret": "s",
                   "refresh_token": "new-refresh", "access_token": "new-access",
                   "token_expiry_date": "2030-01-01T00:00:00Z"}, "start_date": "2024-01-01"})
        );
    }

    #[test]
    fn oauth_secrets_never_debug_printed() {
        let text = r#"{"start_date": "2024-01-01", "credentials": {"auth_type": "oauth2.0",
            "client_id": "id-0f1e2d3c", "client_secret": "secret-4b5a6978", "refresh_token": "refresh-8a9b0c1d",
            "access_token": "access-2e3f4a5b", "token_expiry_date": "2030-01-01T00:00:00Z"}}"#;
        let c = crate::config::Config::parse(text).unwrap();
        let shown = format!("{c:?}");
        for secret in [
            "id-0f1e2d3c",
            "secret-4b5a6978",
            "refresh-8a9b0c1d",
            "access-2e3f4a5b",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        // All four are told to the scrubber, as is the Basic header that carries two of them.
        let scrubbed = c.scrubber().scrub(text).into_owned();
        assert_eq!(scrubbed.matches("(redacted)").count(), 4, "{scrubbed}");
    }
}
