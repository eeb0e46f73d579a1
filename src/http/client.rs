//! The client itself: one `ureq` agent shared by every worker, the key in a header, and the
//! loop that sends a request, reads its answer, and waits, retries or gives up per the policy.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::{error_message, looks_like_html, transport_message, HttpError};
use super::pacing::{header, Pacer, RateHeaders};
use super::retry::{backoff_delay, jitter_ms, unit_jitter, RetryPolicy};
use crate::config::ApiKey;
use crate::secrets::Scrubber;

const USER_AGENT: &str = concat!("source-pipedrive/", env!("CARGO_PKG_VERSION"));
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

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
    /// Redacts the key from what an answer says (an error body may echo it), before any cut.
    scrubber: Scrubber,
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
        let mut scrubber = Scrubber::new();
        scrubber.add(key.expose());
        Client {
            agent: config.into(),
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            scrubber,
            policy,
            pace: Mutex::new(Pacer::new(in_flight)),
            budget_spent: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// Also redacts what `scrubber` redacts from what an answer says (the webhook password,
    /// which the webhooks API is sent, may come back in an error body too).
    pub fn redacting(mut self, scrubber: &Scrubber) -> Client {
        self.scrubber.merge(scrubber);
        self
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
                message: error_message(&bytes, is_json, &self.scrubber),
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

/// The request target as it appears in errors and logs: path and query, never the host's
/// credentials nor the key (which only travels in a header).
fn target(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error body that echoes the webhook password (which the webhooks API is sent) across
    /// the message's cut: scrubbed before the cut, so no fragment of it is left.
    #[test]
    fn an_error_body_is_scrubbed_of_every_secret_told_before_its_cut() {
        use std::io::{Read, Write};
        let password = "correct-horse-battery-staple";
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for mut conn in listener.incoming().map_while(Result::ok) {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                // The password straddles the 200 characters the message keeps.
                let body = format!("{}{password}", "x".repeat(190));
                let _ = write!(
                    conn,
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let mut told = Scrubber::new();
        told.add(password);
        let client = Client::new(&url, ApiKey::new("k"), RetryPolicy::default()).redacting(&told);
        let message = client
            .get_json("/v1/users/me", &[])
            .unwrap_err()
            .to_string();
        assert!(message.contains("xxx(redacte"), "{message}");
        for start in 0..=password.len() - 8 {
            let fragment = &password[start..start + 8];
            assert!(!message.contains(fragment), "{fragment}: {message}");
        }
    }

    #[test]
    fn targets_carry_no_key() {
        assert_eq!(
            target("/api/v2/deals", &[("limit", "500".into())]),
            "/api/v2/deals?limit=500"
        );
    }
}
