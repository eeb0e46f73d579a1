//! How failures are classified for users: Airbyte's failure types and the process exit codes are
//! defined here and nowhere else. Typed errors say their own type (`HttpError` in `http`); the
//! first typed error of an `anyhow` chain decides (`classify_with`, which `commands` completes).

use std::fmt;

/// Airbyte's failure types, which decide whether the platform asks the user to fix something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureType {
    ConfigError,
    SystemError,
    TransientError,
}

impl FailureType {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureType::ConfigError => "config_error",
            FailureType::SystemError => "system_error",
            FailureType::TransientError => "transient_error",
        }
    }

    /// Exit codes: 0 success, 1 a system error (a bug or an API answer we cannot use),
    /// 2 the user must fix the config, catalog or state, 3 try again later (network, rate limit).
    pub fn exit_code(self) -> i32 {
        match self {
            FailureType::SystemError => 1,
            FailureType::ConfigError => 2,
            FailureType::TransientError => 3,
        }
    }
}

/// Whether writing stdout failed (the reader went away): every stream would fail the same way,
/// so the sync stops rather than reporting each.
pub fn stdout_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<std::io::Error>())
}

/// An error whose class is known where it is raised (bad input files, mostly).
#[derive(Debug)]
pub struct ConnectorError {
    pub failure_type: FailureType,
    pub message: String,
}

impl ConnectorError {
    pub fn config(message: impl Into<String>) -> ConnectorError {
        ConnectorError {
            failure_type: FailureType::ConfigError,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectorError {}

/// A failure already written out as TRACE messages (one per failed stream); only its exit code
/// is left to give.
#[derive(Debug)]
pub struct Reported {
    pub failure_type: FailureType,
    pub failed_streams: Vec<String>,
}

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} stream(s) failed: {}",
            self.failed_streams.len(),
            self.failed_streams.join(", ")
        )
    }
}

impl std::error::Error for Reported {}

/// The failure type of an error chain: the first typed error found decides. `typed` tells the
/// type of the errors defined above this module (the HTTP client's), `None` for any other.
pub fn classify_with(
    err: &anyhow::Error,
    typed: impl Fn(&(dyn std::error::Error + 'static)) -> Option<FailureType>,
) -> FailureType {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Reported>() {
            return e.failure_type;
        }
        if let Some(e) = cause.downcast_ref::<ConnectorError>() {
            return e.failure_type;
        }
        if let Some(t) = typed(cause) {
            return t;
        }
    }
    if let Some(e) = err.downcast_ref::<ConnectorError>() {
        return e.failure_type;
    }
    FailureType::SystemError
}
