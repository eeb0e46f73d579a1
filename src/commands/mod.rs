//! The commands of the Airbyte protocol, plus `demo`. Each takes validated input and the one
//! stdout writer; none parses arguments or exits. This layer also joins the ones below: it hands
//! the engine the stdout writer and the field definitions, and classifies every failure.

mod check;
mod demo;
mod discover;
mod fields;
pub mod listen;
mod read;
pub mod singer;
mod spec;
pub mod webhooks;

pub use check::check;
pub use demo::{demo, serve};
pub use discover::discover;
pub use read::{read, StreamOutcome, StreamReport};
pub use spec::spec;

use crate::config::Config;
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

/// The HTTP client for `config`: `policy` with the config's rate cap, timeout and retry count;
/// what it tells of an answer is scrubbed of every secret of the config.
pub(crate) fn client(config: &Config, policy: RetryPolicy) -> Client {
    let policy = RetryPolicy {
        min_interval: config
            .max_requests_per_second
            .map(|r| std::time::Duration::from_secs_f64(1.0 / r)),
        receive_timeout: config.request_timeout,
        max_tries: policy.max_tries.min(config.max_retries + 1),
        ..policy
    };
    Client::new(
        &config.base_url,
        config.api_key.clone(),
        policy,
        config.token_caps,
    )
    .redacting(&config.scrubber())
}

/// The cheapest authenticated request (`WHOAMI_TOKENS`) that every token may make: it proves
/// the key works and tells the server's clock.
pub(crate) const WHOAMI: &str = "/v1/users/me";
pub(crate) const WHOAMI_TOKENS: u32 = 2;
