//! Sending an event as Pipedrive does: a JSON POST with basic auth, any 2xx counted as
//! delivered, and the retry schedule (3, 30 and 150 s) with `meta.attempt` counting up.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::{base64, exchange};

/// No answer within this long fails a delivery [WH2].
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds Pipedrive waits before the first, second and third retry [WH2].
const RETRY_DELAYS: [u64; 3] = [3, 30, 150];
/// UNCONFIRMED: Pipedrive documents no User-Agent for its deliveries. This name stands in for
/// theirs; a receiver must not depend on it either way.
pub(super) const USER_AGENT: &str = "Pipedrive Webhooks";

/// The outcome of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The receiver's status; `None` when no complete answer came within the timeout or the
    /// connection failed.
    pub status: Option<u16>,
    /// From starting to connect to the whole answer (or the failure).
    pub latency: Duration,
    /// The answer's body, lossily decoded; empty without an answer.
    pub body: String,
}

impl Delivery {
    /// Pipedrive takes any 2xx as delivered; anything else, or no answer, is a failure [WH2].
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
}

/// POSTs `payload` to `url` (plain `http://`) as Pipedrive does: JSON, with basic auth unless
/// both `user` and `password` are empty (a webhook without `http_auth_*` sends none).
pub fn deliver(
    url: &str,
    user: &str,
    password: &str,
    payload: &Value,
    timeout: Duration,
) -> Delivery {
    let auth = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("User-Agent", USER_AGENT),
    ];
    if !user.is_empty() || !password.is_empty() {
        headers.push(("Authorization", auth.as_str()));
    }
    deliver_raw(url, &headers, payload.to_string().as_bytes(), timeout)
}

/// POSTs `body` to `url` with exactly `headers`, adding only the framing HTTP needs (`Host`,
/// `Content-Length`, `Connection: close`) where `headers` does not set it: for malformed
/// bodies, wrong or missing credentials, or a lying Content-Length.
pub fn deliver_raw(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Delivery {
    let started = Instant::now();
    let answer = exchange(url, headers, body, started + timeout);
    let latency = started.elapsed();
    match answer {
        Ok((status, body)) => Delivery {
            status: Some(status),
            latency,
            body,
        },
        Err(_) => Delivery {
            status: None,
            latency,
            body: String::new(),
        },
    }
}

/// Delivers `payload` on Pipedrive's schedule [WH2]: a try, then up to three retries after 3,
/// 30 and 150 s, each failing on a non-2xx answer or none within 10 s, with `meta.attempt`
/// counting 1 to 4. `scale` multiplies every delay and timeout (at 0.01 four failed attempts
/// take at most 2.3 s; it must be finite and not negative). Returns every attempt made, up to
/// and including the first that succeeded.
pub fn deliver_with_retries(
    url: &str,
    user: &str,
    password: &str,
    payload: &Value,
    scale: f64,
) -> Vec<Delivery> {
    let mut attempts = Vec::new();
    let mut payload = payload.clone();
    for attempt in 1u32.. {
        payload["meta"]["attempt"] = json!(attempt);
        let delivery = deliver(
            url,
            user,
            password,
            &payload,
            DELIVERY_TIMEOUT.mul_f64(scale),
        );
        let done = delivery.succeeded();
        attempts.push(delivery);
        match retry_delay(attempt) {
            Some(delay) if !done => thread::sleep(delay.mul_f64(scale)),
            _ => break,
        }
    }
    attempts
}

/// How long Pipedrive waits after failed attempt `attempt` (1-based) before the next one;
/// `None` after the last.
pub(super) fn retry_delay(attempt: u32) -> Option<Duration> {
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    RETRY_DELAYS.get(index).map(|s| Duration::from_secs(*s))
}
