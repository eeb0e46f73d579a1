//! The one HTTP client, shared by every worker of a sync. Every request to Pipedrive goes through
//! it (`get_json`, or `get_text` for pages the engine parses in place), and it owns the policy a
//! connector running unattended needs:
//!
//! - the key goes in the `x-api-token` header only, never in a URL, and never into an error;
//! - reads are GETs; the only writes (webhook registration, which the user asks for by name)
//!   go through `post_json` and `delete`, which are never retried after they may have reached
//!   the server, since repeating them is not harmless;
//! - explicit connect and receive timeouts on every request;
//! - retries with capped exponential backoff and jitter for what is worth retrying: transport
//!   failures, 5xx, and a 2xx whose body is not the JSON it should be (an HTML error page, a
//!   body cut short). Client errors (4xx) are answers, not accidents, and are not retried;
//! - rate limits: the client counts its own requests in the rolling 2-second burst window against
//!   the `x-ratelimit-limit` it is told, keeping a slot free per request in flight, so concurrent
//!   streams queue for a slot rather than meet a 429; `x-ratelimit-remaining` running low (other
//!   tools on the same token) holds everything until the reset; a burst 429 waits as the headers
//!   say; once the daily budget said no, no request goes out again; a 429 while the burst
//!   window still has room means the company's daily token budget is spent, and retrying would
//!   only get the token blocked (Pipedrive's CDN answers clients that ignore 429s with a 403
//!   HTML page), so it stops at once with an error that says so.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::ApiKey;
use crate::error::FailureType;

const USER_AGENT: &str = concat!("source-pipedrive/", env!("CARGO_PKG_VERSION"));
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

/// What the retry policy may do. `Default` is what production uses.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts for one request, the first included. The config's `max_retries` lowers it.
    pub max_tries: u32,
    /// First backoff delay; doubles each retry up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait a burst 429 may ask for before we call it something else.
    pub max_rate_limit_wait: Duration,
    pub connect_timeout: Duration,
    pub receive_timeout: Duration,
    /// Least time between two requests (`max_requests_per_second`), on top of header pacing.
    pub min_interval: Option<Duration>,
    /// Wait for the burst window when the last answer said it is used up. Only benchmarks turn
    /// this off, to count the 429s it saves.
    pub pace_from_headers: bool,
    /// Requests that may be on their way at once (concurrent streams): the burst window is
    /// waited for while fewer than this are left in it, so those in flight still fit.
    pub in_flight: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 21,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_rate_limit_wait: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(15),
            receive_timeout: Duration::from_secs(120),
            min_interval: None,
            pace_from_headers: true,
            in_flight: 1,
        }
    }
}

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
            HttpError::Transport { .. } => None,
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
            HttpError::BadBody { .. } => FailureType::TransientError,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status >= 500,
            HttpError::Transport { .. } | HttpError::BadBody { .. } => true,
            HttpError::BudgetExhausted { .. } => false,
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
            HttpError::BadBody { target, status, message } => {
                write!(f, "{target}: HTTP {status} with an unusable body: {message}")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// A successful answer: the body and the server's clock.
#[derive(Debug)]
pub struct Response<B = Value> {
    pub body: B,
    pub date: Option<DateTime<Utc>>,
}

/// Reads a successful answer's bytes. Failing means the body is unusable (cut short, not
/// JSON): it is asked for again like any passing failure.
type Reader<'r, B> = &'r mut dyn FnMut(Vec<u8>) -> Result<B, serde_json::Error>;

fn json(bytes: Vec<u8>) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(&bytes)
}

/// Counters for the end-of-sync summary and the benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
}

pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    key: ApiKey,
    policy: RetryPolicy,
    /// When the next request may go: the burst window's reset as the last answer told us, or
    /// the configured least interval after the last request.
    pace: Mutex<Pacer>,
    /// Set once the daily budget said no: requests from other threads are not sent after it.
    budget_spent: AtomicBool,
    pub counters: Counters,
}

impl Client {
    pub fn new(base_url: &str, key: ApiKey, policy: RetryPolicy) -> Client {
        let in_flight = policy.in_flight as usize;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .timeout_connect(Some(policy.connect_timeout))
            .timeout_recv_response(Some(policy.receive_timeout))
            .timeout_recv_body(Some(policy.receive_timeout))
            .max_redirects(0)
            .build();
        Client {
            agent: config.into(),
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            policy,
            pace: Mutex::new(Pacer {
                spare: in_flight + 1,
                ..Pacer::default()
            }),
            budget_spent: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// GET `path` with `query`, retried and paced per the policy, parsed as JSON.
    pub fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Response, HttpError> {
        self.send(Method::Get, path, query, &mut json)
    }

    /// GET like `get_json`, handing the body's text to `read`, which parses what it needs in
    /// place. A body that is not UTF-8, or that `read` cannot parse, is asked for again; `read`
    /// runs once more for each try, so it must act only once its parse has succeeded.
    pub fn get_text<B>(
        &self,
        path: &str,
        query: &[(&str, String)],
        mut read: impl FnMut(&str) -> Result<B, serde_json::Error>,
    ) -> Result<Response<B>, HttpError> {
        self.send(
            Method::Get,
            path,
            query,
            &mut |bytes| match String::from_utf8(bytes) {
                Ok(text) => read(&text),
                // Let the parser say where the bad bytes are.
                Err(e) => Err(serde_json::from_slice::<Value>(e.as_bytes()).unwrap_err()),
            },
        )
    }

    /// POST a JSON body. Waits out a burst 429 (the request was refused, not done), but retries
    /// nothing else.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Response, HttpError> {
        self.send(Method::Post(body), path, &[], &mut json)
    }

    /// DELETE, with the same rule as `post_json`.
    pub fn delete(&self, path: &str) -> Result<Response, HttpError> {
        self.send(Method::Delete, path, &[], &mut json)
    }

    fn send<B>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        read: Reader<B>,
    ) -> Result<Response<B>, HttpError> {
        let target = format!("{} {}", method.name(), target(path, query));
        let mut attempt = 0u32;
        let mut rate_limit_waits = 0u32;
        loop {
            self.wait_for_pace();
            if self.budget_spent.load(Ordering::Relaxed) {
                return Err(HttpError::BudgetExhausted { target });
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let err = match self.attempt(method, path, query, &target, read) {
                Ok(Outcome::Done(r)) => return Ok(r),
                Ok(Outcome::BurstLimited(wait)) => {
                    self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    rate_limit_waits += 1;
                    if wait > self.policy.max_rate_limit_wait || rate_limit_waits > 10 {
                        return Err(HttpError::Status {
                            target,
                            status: 429,
                            message: format!("rate limited {rate_limit_waits} times in a row"),
                        });
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(wait + jitter_ms(250));
                    continue;
                }
                Err(e) => e,
            };
            attempt += 1;
            if !err.retryable()
                || attempt >= self.policy.max_tries
                || !matches!(method, Method::Get)
            {
                return Err(err);
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(backoff_delay(&self.policy, attempt - 1, unit_jitter()));
        }
    }

    fn attempt<B>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        target: &str,
        read: Reader<B>,
    ) -> Result<Outcome<B>, HttpError> {
        let url = format!("{}{}", self.base_url, path);
        let sent = match method {
            Method::Get => {
                let mut req = self
                    .agent
                    .get(url)
                    .header("x-api-token", self.key.expose())
                    .header("accept", "application/json");
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                req.call()
            }
            Method::Delete => self
                .agent
                .delete(url)
                .header("x-api-token", self.key.expose())
                .call(),
            Method::Post(body) => self
                .agent
                .post(url)
                .header("x-api-token", self.key.expose())
                .header("content-type", "application/json")
                .send(serde_json::to_vec(body).unwrap_or_default()),
        };
        let mut resp = sent.map_err(|e| HttpError::Transport {
            target: target.to_string(),
            message: format!("{} (base_url {})", transport_message(&e), self.base_url),
        })?;
        let status = resp.status().as_u16();
        let headers = RateHeaders::read(resp.headers());
        if self.policy.pace_from_headers {
            self.record_pace(&headers);
        }
        let date =
            header(resp.headers(), "date").and_then(|d| DateTime::parse_from_rfc2822(&d).ok());
        let is_json = header(resp.headers(), "content-type").is_none_or(|c| c.contains("json"));
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| HttpError::BadBody {
                target: target.to_string(),
                status,
                message: format!(
                    "the body could not be read in full ({})",
                    transport_message(&e)
                ),
            })?;

        if status == 429 {
            return match headers.burst_wait(&self.policy) {
                Some(wait) => Ok(Outcome::BurstLimited(wait)),
                None => {
                    self.budget_spent.store(true, Ordering::Relaxed);
                    Err(HttpError::BudgetExhausted {
                        target: target.to_string(),
                    })
                }
            };
        }
        if !(200..300).contains(&status) {
            return Err(HttpError::Status {
                target: target.to_string(),
                status,
                message: error_message(&bytes, is_json),
            });
        }
        let html = looks_like_html(&bytes);
        let length = bytes.len();
        let body = read(bytes).map_err(|e| HttpError::BadBody {
            target: target.to_string(),
            status,
            message: if html {
                "an HTML page where JSON was expected".to_string()
            } else {
                format!("not valid JSON ({e}); {length} bytes")
            },
        })?;
        Ok(Outcome::Done(Response {
            body,
            date: date.map(|d| d.with_timezone(&Utc)),
        }))
    }

    /// Holds this thread back until the next request may go; the lock is held while waiting,
    /// so concurrent requests queue up behind each other.
    fn wait_for_pace(&self) {
        let mut pace = self.pace.lock().expect("pace lock");
        let now = Instant::now();
        let at = pace.next_slot(now, self.policy.min_interval);
        if at > now {
            std::thread::sleep(at - now);
        }
        pace.sent(Instant::now());
    }

    fn record_pace(&self, h: &RateHeaders) {
        let mut pace = self.pace.lock().expect("pace lock");
        if let Some(limit) = h.limit {
            pace.limit = Some(limit as usize);
        }
        if let Some(wait) = h.pace(self.policy.in_flight) {
            let until = Instant::now() + wait;
            pace.until = Some(pace.until.map_or(until, |p| p.max(until)));
        }
    }
}

/// When requests may go. Pipedrive counts requests in a rolling 2-second window; the client
/// counts its own the same way against the limit the headers announce, so that concurrent
/// streams queue for a free slot instead of running into 429s. The headers' `remaining` is the
/// backstop for requests this process does not see (other tools on the same token).
#[derive(Debug, Default)]
struct Pacer {
    /// Nothing before this: the window is used up, or a 429 asked us to wait.
    until: Option<Instant>,
    /// `x-ratelimit-limit`, once an answer told it.
    limit: Option<usize>,
    /// Slots of the window left unused: one per request that may be in flight, plus one, so
    /// that the answers' `remaining` never falls under the backstop's threshold.
    spare: usize,
    /// When our last requests went, oldest first; at most `limit` of them.
    sent: VecDeque<Instant>,
    last: Option<Instant>,
}

impl Pacer {
    /// Our window is a little longer than Pipedrive's: a request is counted when it arrives,
    /// a little after we send it.
    const WINDOW: Duration = Duration::from_millis(2_100);

    /// The earliest time, `now` or later, the next request may go.
    fn next_slot(&mut self, now: Instant, min_interval: Option<Duration>) -> Instant {
        let mut at = self.until.filter(|u| *u > now).unwrap_or(now);
        if let (Some(interval), Some(last)) = (min_interval, self.last) {
            at = at.max(last + interval);
        }
        while self
            .sent
            .front()
            .is_some_and(|t| at.saturating_duration_since(*t) >= Self::WINDOW)
        {
            self.sent.pop_front();
        }
        if let Some(limit) = self.limit {
            // Some slots are left to spare; the oldest sends must leave the window first.
            let cap = limit.saturating_sub(self.spare).max(1);
            if self.sent.len() >= cap {
                at = at.max(self.sent[self.sent.len() - cap] + Self::WINDOW);
            }
        }
        at
    }

    fn sent(&mut self, at: Instant) {
        self.last = Some(at);
        self.sent.push_back(at);
        let keep = self.limit.unwrap_or(0).max(1);
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }
}

enum Outcome<B> {
    Done(Response<B>),
    BurstLimited(Duration),
}

#[derive(Clone, Copy)]
enum Method<'a> {
    Get,
    Post(&'a Value),
    Delete,
}

impl Method<'_> {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post(_) => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// The rate-limit headers of one answer.
#[derive(Debug, Default, PartialEq)]
struct RateHeaders {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry_after: Option<u64>,
    daily_remaining: Option<u64>,
}

impl RateHeaders {
    fn read(h: &ureq::http::HeaderMap) -> RateHeaders {
        let num = |name: &str| {
            header(h, name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|v| v.ceil() as u64)
        };
        RateHeaders {
            limit: num("x-ratelimit-limit"),
            remaining: num("x-ratelimit-remaining"),
            reset: num("x-ratelimit-reset"),
            retry_after: num("retry-after"),
            daily_remaining: num("x-daily-ratelimit-token-remaining"),
        }
    }

    /// How long to hold every request back after this answer, with `in_flight` requests
    /// possibly on their way: fewer than that left in the burst window means it is used up
    /// (by us or by other tools on the same token) until its reset.
    fn pace(&self, in_flight: u64) -> Option<Duration> {
        (self.remaining? < in_flight).then(|| Duration::from_secs(self.reset.unwrap_or(2).max(1)))
    }

    /// How long a 429 asks us to wait, or `None` when it is the daily budget: the daily token
    /// headers say none is left, or the burst window still had room when the 429 came.
    fn burst_wait(&self, policy: &RetryPolicy) -> Option<Duration> {
        if self.daily_remaining == Some(0) {
            return None;
        }
        if self.remaining.is_some_and(|r| r > 0) {
            return None;
        }
        let secs = self.retry_after.or(self.reset).unwrap_or(2).max(1);
        Some(Duration::from_secs(secs).min(policy.max_rate_limit_wait + Duration::from_secs(1)))
    }
}

fn header(h: &ureq::http::HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The request target as it appears in errors and logs: path and query, never the host's
/// credentials nor the key (which only travels in a header).
fn target(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", q.join("&"))
}

/// Pipedrive's `error` field when the body is its JSON envelope, else a short cut of the body.
fn error_message(bytes: &[u8], is_json: bool) -> String {
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

fn looks_like_html(bytes: &[u8]) -> bool {
    let start: Vec<u8> = bytes
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .copied()
        .collect();
    let start = String::from_utf8_lossy(&start).to_ascii_lowercase();
    start.starts_with("<!doctype") || start.starts_with("<html") || start.starts_with('<')
}

fn transport_message(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found; check `base_url`".to_string(),
        ureq::Error::ConnectionFailed => {
            "connection failed; check `base_url` and the network".to_string()
        }
        other => other.to_string(),
    }
}

/// Capped exponential backoff with "equal jitter": half the step is fixed so retries never bunch
/// at zero, half is random so many clients do not retry in lockstep. `jitter` is in [0, 1).
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, jitter: f64) -> Duration {
    let step = policy
        .base_delay
        .saturating_mul(1u32 << retry.min(16))
        .min(policy.max_delay);
    step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in [0, 1) that differs between calls and processes; jitter needs no better.
fn unit_jitter() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn jitter_ms(max: u64) -> Duration {
    Duration::from_millis((unit_jitter() * max as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(backoff_delay(&p, 0, 0.0), Duration::from_millis(500));
        assert_eq!(
            backoff_delay(&p, 0, 0.999_999),
            Duration::from_micros(999_999) + Duration::from_nanos(500)
        );
        assert_eq!(backoff_delay(&p, 1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 2, 0.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(&p, 5, 0.0), Duration::from_secs(5));
        assert_eq!(backoff_delay(&p, 40, 1.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..1000 {
            let j = unit_jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }

    #[test]
    fn a_used_up_window_holds_requests_until_its_reset() {
        let h = |remaining| RateHeaders {
            remaining: Some(remaining),
            reset: Some(2),
            ..Default::default()
        };
        assert_eq!(h(0).pace(1), Some(Duration::from_secs(2)));
        assert_eq!(h(1).pace(1), None);
        // Three streams at once: fewer than three left means the window is used up.
        assert_eq!(h(2).pace(3), Some(Duration::from_secs(2)));
        assert_eq!(h(3).pace(3), None);
        assert_eq!(RateHeaders::default().pace(3), None);
    }

    #[test]
    fn the_pacer_keeps_our_own_count_under_the_limit() {
        let t0 = Instant::now();
        let mut p = Pacer {
            limit: Some(5),
            spare: 1,
            ..Default::default()
        };
        let mut sent = Vec::new();
        for _ in 0..12 {
            let at = p.next_slot(t0, None);
            p.sent(at);
            sent.push(at);
        }
        // Four go at once (one slot spare), then each waits for the oldest to leave the window.
        assert!(sent[..4].iter().all(|t| *t == t0));
        assert_eq!(sent[4], t0 + Pacer::WINDOW);
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[..i]
                .iter()
                .filter(|s| t.duration_since(**s) < Pacer::WINDOW)
                .count();
            assert!(
                in_window < 4,
                "request {i} had {in_window} before it in one window"
            );
        }
        // A configured rate spaces requests on top of that; a 429's wait holds them all.
        let mut q = Pacer::default();
        q.sent(t0);
        let interval = Duration::from_millis(250);
        assert_eq!(q.next_slot(t0, Some(interval)), t0 + interval);
        q.until = Some(t0 + Duration::from_secs(3));
        assert_eq!(q.next_slot(t0, Some(interval)), t0 + Duration::from_secs(3));
    }

    #[test]
    fn burst_or_budget() {
        let p = RetryPolicy::default();
        let burst = RateHeaders {
            remaining: Some(0),
            reset: Some(2),
            ..Default::default()
        };
        assert_eq!(burst.burst_wait(&p), Some(Duration::from_secs(2)));
        let retry_after = RateHeaders {
            remaining: Some(0),
            reset: Some(2),
            retry_after: Some(5),
            ..Default::default()
        };
        assert_eq!(retry_after.burst_wait(&p), Some(Duration::from_secs(5)));
        let budget = RateHeaders {
            remaining: Some(37),
            reset: Some(1),
            ..Default::default()
        };
        assert_eq!(budget.burst_wait(&p), None);
        let daily = RateHeaders {
            remaining: Some(0),
            reset: Some(1),
            daily_remaining: Some(0),
            ..Default::default()
        };
        assert_eq!(daily.burst_wait(&p), None);
        let bare = RateHeaders::default();
        assert_eq!(bare.burst_wait(&p), Some(Duration::from_secs(2)));
    }

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

    #[test]
    fn targets_carry_no_key() {
        assert_eq!(
            target("/api/v2/deals", &[("limit", "500".into())]),
            "/api/v2/deals?limit=500"
        );
    }
}
