//! The typed failure of a request, and the short texts it carries: what the retry policy and
//! the error report inspect, never holding the key and at most a short cut of a body.

use std::fmt;

use serde_json::Value;

use crate::error::FailureType;

/// A failed request, typed so the retry policy and the error report can inspect it. It holds the
/// request's path and query (which never carry the key) and at most a short cut of the body.
#[derive(Debug, Clone)]
pub enum HttpError {
    /// Pipedrive answered with a status we do not retry (or stopped retrying).
    Status {
        target: String,
        status: u16,
        message: String,
    },
    /// 429 while the burst window still had room: the daily token budget is spent.
    BudgetExhausted { target: String },
    /// Not sent: it would cross one of the user's token caps (`budget`).
    OverBudget(super::budget::BudgetStop),
    /// No answer: DNS, connect, TLS, reset, timeout.
    Transport { target: String, message: String },
    /// An answer we cannot use: not JSON, cut short, or not the envelope we expect.
    BadBody {
        target: String,
        status: u16,
        message: String,
    },
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } | HttpError::BadBody { status, .. } => Some(*status),
            HttpError::BudgetExhausted { .. } => Some(429),
            HttpError::Transport { .. } | HttpError::OverBudget(_) => None,
        }
    }

    pub fn failure_type(&self) -> FailureType {
        match self {
            HttpError::Status {
                status: 401 | 402, ..
            } => FailureType::ConfigError,
            HttpError::Status {
                status: 429 | 500..=599,
                ..
            } => FailureType::TransientError,
            HttpError::Status {
                status: 403,
                message,
                ..
            } if message.contains("HTML") => FailureType::TransientError,
            HttpError::Status { .. } => FailureType::SystemError,
            HttpError::BudgetExhausted { .. } | HttpError::Transport { .. } => {
                FailureType::TransientError
            }
            HttpError::BadBody { .. } | HttpError::OverBudget(_) => FailureType::TransientError,
        }
    }

    pub(super) fn retryable(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status >= 500,
            HttpError::Transport { .. } | HttpError::BadBody { .. } => true,
            HttpError::BudgetExhausted { .. } | HttpError::OverBudget(_) => false,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Status { target, status: 401, message } => write!(
                f,
                "{target}: HTTP 401 ({message}): Pipedrive rejected the API key; check `api_key` (Settings > Personal preferences > API)"
            ),
            HttpError::Status { target, status: 402, message } => write!(
                f,
                "{target}: HTTP 402 ({message}): the Pipedrive company account is not open (trial ended or payment missing)"
            ),
            HttpError::Status { target, status, message } => write!(f, "{target}: HTTP {status}: {message}"),
            HttpError::BudgetExhausted { target } => write!(
                f,
                "{target}: HTTP 429 while the burst window had room: the company's daily Pipedrive API token \
                 budget is spent; it resets at midnight in Pipedrive's server time zone. The sync stopped \
                 cleanly; run it again after the reset to resume from the saved state"
            ),
            HttpError::Transport { target, message } => write!(f, "{target}: no answer: {message}"),
            HttpError::OverBudget(stop) => stop.fmt(f),
            HttpError::BadBody { target, status, message } => {
                write!(f, "{target}: HTTP {status} with an unusable body: {message}")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// Pipedrive's `error` field when the body is its JSON envelope, else a short cut of the body.
pub(super) fn error_message(bytes: &[u8], is_json: bool) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return e.to_string();
        }
        if let Some(e) = v.get("message").and_then(Value::as_str) {
            return e.to_string();
        }
    }
    if !is_json || looks_like_html(bytes) {
        return "an HTML page instead of Pipedrive's JSON error (a proxy or CDN answered; if this is a 403 after rate limiting, the token is blocked for a while)".to_string();
    }
    let text = String::from_utf8_lossy(bytes);
    let cut: String = text.chars().take(200).collect();
    if cut.is_empty() {
        "empty body".to_string()
    } else {
        cut
    }
}

pub(super) fn looks_like_html(bytes: &[u8]) -> bool {
    let start: Vec<u8> = bytes
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .copied()
        .collect();
    let start = String::from_utf8_lossy(&start).to_ascii_lowercase();
    start.starts_with("<!doctype") || start.starts_with("<html") || start.starts_with('<')
}

pub(super) fn transport_message(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found; check `base_url`".to_string(),
        ureq::Error::ConnectionFailed => {
            "connection failed; check `base_url` and the network".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_short_and_typed() {
        assert_eq!(
            error_message(br#"{"success":false,"error":"unauthorized access"}"#, true),
            "unauthorized access"
        );
        assert!(error_message(b"<!DOCTYPE html><html>blocked</html>", false).contains("HTML page"));
        let long = "x".repeat(5000);
        assert_eq!(error_message(long.as_bytes(), true).len(), 200);
    }
}
