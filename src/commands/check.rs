//! `check`: is the config usable? It validates the config, then makes one cheap authenticated
//! request. Airbyte expects a CONNECTION_STATUS and exit code 0 whatever the verdict.

use std::io;
use std::path::Path;

use crate::config::Config;
use crate::http::RetryPolicy;
use crate::output::Output;
use crate::protocol::airbyte::{ConnectionStatus, Message, Status};

pub fn check(config_path: &Path, out: &mut Output) -> io::Result<()> {
    let status = match Config::load(config_path) {
        Err(e) => failed(format!("{e:#}")),
        Ok(config) => {
            super::redact(&config, out);
            check_config(&config, Some(out))
        }
    };
    let status = ConnectionStatus {
        status: status.status,
        message: status.message.map(|m| out.scrub(&m)),
    };
    out.message(&Message::ConnectionStatus {
        connection_status: status,
    })?;
    out.flush()
}

/// One retry at most: a user waiting on `check` wants a verdict, and Airbyte retries checks itself.
pub fn check_config(config: &Config, out: Option<&Output>) -> ConnectionStatus {
    let policy = RetryPolicy {
        max_tries: 2,
        ..RetryPolicy::default()
    };
    match super::client_beside_syncs(config, policy, out).get_json(
        super::WHOAMI,
        &[],
        super::WHOAMI_TOKENS,
    ) {
        Ok(_) => ConnectionStatus {
            status: Status::Succeeded,
            message: None,
        },
        Err(e) => failed(e.to_string()),
    }
}

fn failed(message: String) -> ConnectionStatus {
    ConnectionStatus {
        status: Status::Failed,
        message: Some(message),
    }
}
