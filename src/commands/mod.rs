//! The commands of the Airbyte protocol, plus `demo`. Each takes validated input and the one
//! stdout writer; none parses arguments or exits. This layer also joins the ones below: it hands
//! the engine the stdout writer and the field definitions, and classifies every failure.

mod check;
mod demo;
mod discover;
mod fields;
pub mod listen;
mod oauth;
mod read;
pub mod singer;
mod spec;
pub mod webhooks;

pub use check::check;
pub use demo::{demo, serve};
pub use discover::discover;
pub use oauth::{authorize, write_atomically, AuthorizeOptions};
pub use read::{read, StreamOutcome, StreamReport};
pub use spec::spec;

use crate::config::{Auth, Config, TokenCaps};
use crate::error::{self, FailureType};
use crate::http::{Client, HttpError, RetryPolicy};
use crate::output::Output;
use crate::streams::engine::Sink;
use crate::streams::record::Record;

/// The engine writes through the one stdout writer.
impl Sink for Output {
    fn record(&mut self, stream: &str, record: &Record) -> std::io::Result<()> {
        Output::record(self, stream, record)
    }

    fn record_value(&mut self, stream: &str, record: &serde_json::Value) -> std::io::Result<()> {
        Output::record(self, stream, record)
    }

    fn state(
        &mut self,
        stream: &str,
        state: serde_json::Value,
        records_since_last: u64,
    ) -> std::io::Result<()> {
        Output::state(self, stream, state, records_since_last)
    }

    fn full_refresh_states(&self) -> bool {
        !self.is_singer()
    }

    fn full_table_complete(&mut self, stream: &str) -> std::io::Result<()> {
        Output::activate_version(self, stream)
    }

    fn deleted_at(&self) -> &'static str {
        crate::streams::deleted_at_column(self.is_singer())
    }
}

/// The failure type of an error chain: the first typed error found decides, the HTTP client's
/// errors included. Every failure a user sees is classified by this.
pub fn classify(err: &anyhow::Error) -> FailureType {
    error::classify_with(err, |cause| {
        cause
            .downcast_ref::<HttpError>()
            .map(HttpError::failure_type)
    })
}

/// Tells the writer the config's secrets, so that no text it writes can show them, and the
/// panic hook, so that no panic message can.
pub fn redact(config: &Config, out: &mut Output) {
    let scrubber = config.scrubber();
    out.redact_all(&scrubber);
    crate::secrets::protect_process(&scrubber);
}

/// The HTTP client for `config`: `policy` with the config's rate cap, timeout, retry count and
/// cap on requests in flight; what it tells of an answer is scrubbed of every secret of the
/// config. With OAuth, the tokens of each refresh are saved: a CONTROL message when `out`
/// speaks Airbyte, else the config's `config_update_path` (`oauth::save_tokens`).
pub(crate) fn client(config: &Config, policy: RetryPolicy, out: Option<&Output>) -> Client {
    client_capped(config, policy, config.token_caps, out)
}

/// The client of a command that is no sync (`check`, `discover`, `webhooks`):
/// `max_tokens_per_sync` caps a sync's reading only; the daily reserve still holds.
pub(crate) fn client_beside_syncs(
    config: &Config,
    policy: RetryPolicy,
    out: Option<&Output>,
) -> Client {
    let caps = TokenCaps {
        max_tokens: None,
        ..config.token_caps
    };
    client_capped(config, policy, caps, out)
}

fn client_capped(
    config: &Config,
    policy: RetryPolicy,
    caps: TokenCaps,
    out: Option<&Output>,
) -> Client {
    let policy = RetryPolicy {
        min_interval: config
            .max_requests_per_second
            .map(|r| std::time::Duration::from_secs_f64(1.0 / r)),
        receive_timeout: config.request_timeout,
        max_tries: policy.max_tries.min(config.max_retries + 1),
        max_in_flight: config.max_concurrent_requests,
        ..policy
    };
    let client = match &config.auth {
        Auth::ApiKey(key) => Client::new(&config.base_url, key.clone(), policy, caps),
        Auth::OAuth(creds) => Client::new(
            &config.base_url,
            crate::config::ApiKey::new(""),
            policy,
            caps,
        )
        .oauth((**creds).clone()),
    }
    .redacting(&config.scrubber());
    oauth::save_tokens(&client, config, out);
    client
}

/// The cheapest authenticated request (`WHOAMI_TOKENS`) that every token may make: it proves
/// the key works and tells the server's clock.
pub(crate) const WHOAMI: &str = "/v1/users/me";
pub(crate) const WHOAMI_TOKENS: u32 = 2;

#[cfg(test)]
mod tests {
    use crate::config::MIN_TOKENS_PER_SYNC;
    use crate::streams::STREAMS;

    /// The config's caps reach the client: the cap on requests in flight among them.
    #[test]
    fn the_client_keeps_to_the_configured_requests_in_flight() {
        let config = crate::config::Config::parse(
            r#"{"api_key": "k", "start_date": "2024-01-01", "max_concurrent_requests": 7}"#,
        )
        .unwrap();
        let client = super::client(&config, crate::http::RetryPolicy::default(), None);
        assert_eq!(client.max_in_flight(), 7);
    }

    /// The config's least cap is what a sync needs to read one page: the key check and the
    /// cheapest page of the stream table.
    #[test]
    fn the_least_token_cap_reads_one_page() {
        let cheapest = STREAMS.iter().map(|d| u64::from(d.tokens)).min().unwrap();
        assert_eq!(
            MIN_TOKENS_PER_SYNC,
            u64::from(super::WHOAMI_TOKENS) + cheapest
        );
    }
}
