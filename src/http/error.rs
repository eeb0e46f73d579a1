//! The typed failure of a request, and the short texts it carries: what the retry policy and
//! the error report inspect, never holding the key and at most a short cut of a body.

use std::fmt;

use serde_json::Value;

use crate::error::FailureType;
use crate::secrets::Scrubber;

/// The longest cut of an error body a message carries, in characters.
const MAX_MESSAGE: usize = 200;
/// Pipedrive's own `error` texts are short; one that is not is cut, at this many characters.
const MAX_ERROR_FIELD: usize = 1000;

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
    /// OAuth: the token endpoint refused the app's grant or client, or a fresh token was
    /// refused. The user must re-authorize the app.
    Auth { target: String, message: String },
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
            HttpError::Transport { .. } | HttpError::OverBudget(_) | HttpError::Auth { .. } => None,
        }
    }

    pub fn failure_type(&self) -> FailureType {
        match self {
            HttpError::Status {
                status: 401 | 402, ..
            }
            | HttpError::Auth { .. } => FailureType::ConfigError,
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
            HttpError::BudgetExhausted { .. }
            | HttpError::OverBudget(_)
            | HttpError::Auth { .. } => false,
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
            HttpError::Auth { target, message } => write!(f, "{target}: {message}"),
            HttpError::OverBudget(stop) => stop.fmt(f),
            HttpError::BadBody { target, status, message } => {
                write!(f, "{target}: HTTP {status} with an unusable body: {message}")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// Pipedrive's `error` field when the body is its JSON envelope, else a short cut of the body;
/// scrubbed of the secrets before it is cut, so that a secret the body echoes leaves no part of
/// itself before the cut.
pub(super) fn error_message(bytes: &[u8], is_json: bool, scrubber: &Scrubber) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return scrubber.scrub_cut(e, MAX_ERROR_FIELD);
        }
        if let Some(e) = v.get("message").and_then(Value::as_str) {
            return scrubber.scrub_cut(e, MAX_ERROR_FIELD);
        }
    }
    if !is_json || looks_like_html(bytes) {
        return "an HTML page instead of Pipedrive's JSON error (a proxy or CDN answered; if this is a 403 after rate limiting, the token is blocked for a while)".to_string();
    }
    let text = String::from_utf8_lossy(bytes);
    let cut = scrubber.scrub_cut(&text, MAX_MESSAGE);
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
        let none = Scrubber::new();
        assert_eq!(
            error_message(
                br#"{"success":false,"error":"unauthorized access"}"#,
                true,
                &none
            ),
            "unauthorized access"
        );
        assert!(
            error_message(b"<!DOCTYPE html><html>blocked</html>", false, &none)
                .contains("HTML page")
        );
        let long = "x".repeat(5000);
        assert_eq!(error_message(long.as_bytes(), true, &none).len(), 200);
        let long_field = serde_json::json!({ "error": long }).to_string();
        assert_eq!(
            error_message(long_field.as_bytes(), true, &none).len(),
            MAX_ERROR_FIELD
        );
    }

    /// The body that leaked 33 of the key's 40 characters: the key across the cut.
    #[test]
    fn a_key_across_the_cut_leaves_nothing_of_itself() {
        let key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
        let mut scrubber = Scrubber::new();
        scrubber.add(key);
        for offset in 0..=MAX_MESSAGE {
            let body = format!("{}{key} is not a valid token", "x".repeat(offset));
            // Plain text the server calls JSON (cut), and Pipedrive's envelope (kept whole).
            for bytes in [
                body.clone(),
                serde_json::json!({ "error": body }).to_string(),
            ] {
                let message = error_message(bytes.as_bytes(), true, &scrubber);
                assert!(message.starts_with('x') || offset == 0, "{message}");
                for start in 0..=key.len() - 8 {
                    let fragment = &key[start..start + 8];
                    assert!(!message.contains(fragment), "offset {offset}: {message}");
                }
            }
        }
    }
}
