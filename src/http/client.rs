//! The client itself: one `ureq` agent shared by every worker, the key in a header, and the
//! loop that sends a request, reads its answer, and waits, retries or gives up per the policy
//! and the token budget. Its counters are what the summary and the progress display show.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::budget::{Budget, BudgetStop, Ticket};
use super::counters::Counters;
use super::error::{error_message, looks_like_html, transport_message, HttpError};
use super::flight::{parallelism, Flight, Place};
use super::oauth::{missing_scope, Grant, OnRefresh, Session};
use super::pacing::{header, Pacer, RateHeaders};
use super::retry::{backoff_delay, jitter_ms, unit_jitter, RetryPolicy};
use crate::config::TokenCaps as Caps;
use crate::config::{ApiKey, OAuthCredentials};
use crate::secrets::Scrubber;

const USER_AGENT: &str = concat!("source-pipedrive/", env!("CARGO_PKG_VERSION"));
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;
/// 401s one request may meet with OAuth before the app is taken to have lost its access: each
/// is followed by a refresh (or the token another worker just obtained).
const MAX_REFUSED_TOKENS: u32 = 5;

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

/// How requests authenticate.
enum Auth {
    Key(ApiKey),
    OAuth(Box<Session>),
}

pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    auth: Auth,
    /// Redacts the key from what an answer says (an error body may echo it), before any cut;
    /// with OAuth it learns every token as it is obtained.
    scrubber: Arc<RwLock<Scrubber>>,
    policy: RetryPolicy,
    /// When the next request may go: the burst window's reset as the last answer told us, or
    /// the configured least interval after the last request.
    pace: Mutex<Pacer>,
    /// Held by the one request waiting for its slot, so that requests go in turn.
    turn: Mutex<()>,
    /// The requests in flight: at most `policy.max_in_flight`, and how long they take.
    flight: Flight,
    /// Set once the daily budget said no: requests from other threads are not sent after it.
    budget_spent: AtomicBool,
    /// The user's token caps, checked before each request.
    budget: Budget,
    pub counters: Arc<Counters>,
}

impl Client {
    /// A client spending at most what `caps` allow (`Caps::default()`: no cap).
    pub fn new(base_url: &str, key: ApiKey, policy: RetryPolicy, caps: Caps) -> Client {
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
            auth: Auth::Key(key),
            scrubber: Arc::new(RwLock::new(scrubber)),
            flight: Flight::new(policy.max_in_flight),
            policy,
            pace: Mutex::new(Pacer::new()),
            turn: Mutex::new(()),
            budget_spent: AtomicBool::new(false),
            budget: Budget::new(caps),
            counters: Arc::default(),
        }
    }

    /// The token caps this client keeps to.
    pub fn caps(&self) -> Caps {
        self.budget.caps()
    }

    /// Why the token budget stopped this client's requests, once it has.
    pub fn budget_stop(&self) -> Option<BudgetStop> {
        self.budget.stopped()
    }

    /// Also redacts what `scrubber` redacts from what an answer says (the webhook password,
    /// which the webhooks API is sent, may come back in an error body too).
    pub fn redacting(self, scrubber: &Scrubber) -> Client {
        self.scrubber
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .merge(scrubber);
        self
    }

    /// Authenticates as an OAuth app with `creds` instead of the key: Bearer access tokens,
    /// refreshed as they expire, sent to the token answer's `api_domain` unless
    /// `creds.follow_api_domain` is off.
    pub fn oauth(mut self, creds: OAuthCredentials) -> Client {
        let session = Session::new(creds, &self.base_url, Arc::clone(&self.scrubber));
        self.auth = Auth::OAuth(Box::new(session));
        self
    }

    /// With OAuth: `save` is handed the tokens of each refresh before any request uses them.
    pub fn on_refresh(&self, save: OnRefresh) {
        if let Auth::OAuth(session) = &self.auth {
            session.on_refresh(save);
        }
    }

    /// Access tokens obtained so far (0 with an API key).
    pub fn oauth_refreshes(&self) -> u64 {
        match &self.auth {
            Auth::OAuth(session) => session.refreshes.load(Ordering::Relaxed),
            Auth::Key(_) => 0,
        }
    }

    /// The moving average of how long a request takes, from sending it to having its answer's
    /// body (answers of any status), once one came.
    pub fn latency(&self) -> Option<Duration> {
        self.flight.latency()
    }

    /// How many requests a reader should keep ready at once to fill the burst window: the
    /// latency times the allowed rate, with a quarter more and one more, at least 2 and at most
    /// `max_in_flight` (see `flight::parallelism` for why). The rate is the burst limit the
    /// answers told (`x-ratelimit-limit`, else the lowest plan's) per 2-second window, or
    /// `max_requests_per_second` when that is lower; the latency is 300 ms until one is
    /// measured. It changes as answers come: ask again as work is handed out.
    pub fn parallelism(&self) -> usize {
        let limit = self.pace.lock().expect("pace lock").limit;
        let mut rate = limit.unwrap_or(Pacer::ASSUMED_LIMIT) as f64 / 2.0;
        if let Some(interval) = self.policy.min_interval {
            rate = rate.min(1.0 / interval.as_secs_f64());
        }
        parallelism(self.latency(), rate, self.flight.cap())
    }

    /// The most requests in flight at once (`max_concurrent_requests`).
    pub fn max_in_flight(&self) -> usize {
        self.flight.cap()
    }

    /// Requests in flight now: from before waiting for their slot of the burst window until
    /// their answer is read.
    pub fn in_flight(&self) -> usize {
        self.flight.held()
    }

    /// The OAuth token to send now (`None` with an API key).
    fn grant(&self) -> Result<Option<Grant>, HttpError> {
        match &self.auth {
            Auth::Key(_) => Ok(None),
            Auth::OAuth(session) => session.grant(&self.agent, &self.policy).map(Some),
        }
    }

    /// GET `path` with `query`, which costs `tokens`, retried and paced per the policy, parsed
    /// as JSON.
    pub fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
        tokens: u32,
    ) -> Result<Response, HttpError> {
        self.send(Method::Get, path, query, tokens, &mut json)
    }

    /// GET like `get_json`, handing the body's text to `read`, which parses what it needs in
    /// place. A body that is not UTF-8, or that `read` cannot parse, is asked for again; `read`
    /// runs once more for each try, so it must act only once its parse has succeeded.
    pub fn get_text<B>(
        &self,
        path: &str,
        query: &[(&str, String)],
        tokens: u32,
        mut read: impl FnMut(&str) -> Result<B, serde_json::Error>,
    ) -> Result<Response<B>, HttpError> {
        self.send(
            Method::Get,
            path,
            query,
            tokens,
            &mut |bytes| match String::from_utf8(bytes) {
                Ok(text) => read(&text),
                // Let the parser say where the bad bytes are.
                Err(e) => Err(serde_json::from_slice::<Value>(e.as_bytes()).unwrap_err()),
            },
        )
    }

    /// POST a JSON body, which costs `tokens`. Waits out a burst 429 (the request was refused,
    /// not done), but retries nothing else.
    pub fn post_json(&self, path: &str, body: &Value, tokens: u32) -> Result<Response, HttpError> {
        self.send(Method::Post(body), path, &[], tokens, &mut json)
    }

    /// DELETE, with the same rule as `post_json`.
    pub fn delete(&self, path: &str, tokens: u32) -> Result<Response, HttpError> {
        self.send(Method::Delete, path, &[], tokens, &mut json)
    }

    fn send<B>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        tokens: u32,
        read: Reader<B>,
    ) -> Result<Response<B>, HttpError> {
        let target = format!("{} {}", method.name(), target(path, query));
        let mut attempt = 0u32;
        let mut rate_limit_waits = 0u32;
        let mut refused_tokens = 0u32;
        loop {
            // Held until the answer is read, given back before `read` runs (which may make
            // requests of its own) and before any wait for a retry.
            let place = self.flight.enter();
            let grant = self.grant()?;
            self.wait_for_pace();
            if self.budget_spent.load(Ordering::Relaxed) {
                return Err(HttpError::BudgetExhausted { target });
            }
            let ticket = self
                .budget
                .admit(tokens, &target, &self.counters)
                .map_err(HttpError::OverBudget)?;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let generation = grant.as_ref().map(|g| g.generation);
            let pass = Pass {
                ticket,
                grant,
                place,
            };
            let err = match self.attempt(method, path, query, pass, &target, read) {
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
                    let wait = wait + jitter_ms(250);
                    // The window is used up (by us or another client of the token): every
                    // request waits, not only this one.
                    let until = Instant::now() + wait;
                    self.pace.lock().expect("pace lock").burst_refused(until);
                    std::thread::sleep(wait);
                    self.counters.waited(wait);
                    continue;
                }
                Err(e) => e,
            };
            // An access token refused: expired or revoked early. One refresh for all workers
            // (none if another worker refreshed since this token was handed out), then again
            // with the new token; tokens refused again and again mean the app lost its access.
            if let (Auth::OAuth(session), Some(generation), Some(401)) =
                (&self.auth, generation, err.status())
            {
                refused_tokens += 1;
                if refused_tokens > MAX_REFUSED_TOKENS {
                    return Err(HttpError::Auth {
                        target,
                        message: format!("Pipedrive refused {refused_tokens} OAuth access tokens in a row (HTTP 401), fresh ones included: the app may have been uninstalled; re-authorize it (`source-pipedrive oauth authorize`, see the README)"),
                    });
                }
                session.rejected(generation, &self.agent, &self.policy)?;
                continue;
            }
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
        pass: Pass<'_>,
        target: &str,
        read: Reader<B>,
    ) -> Result<Outcome<B>, HttpError> {
        let Pass {
            ticket,
            grant,
            place,
        } = pass;
        let base_url = grant.as_ref().map_or(&self.base_url, |g| &g.base_url);
        let url = format!("{base_url}{path}");
        let (name, value) = match (&grant, &self.auth) {
            (Some(g), _) => ("authorization", format!("Bearer {}", g.token.expose())),
            (None, Auth::Key(key)) => ("x-api-token", key.expose().to_string()),
            (None, Auth::OAuth(_)) => unreachable!("an OAuth client always has a grant"),
        };
        let start = Instant::now();
        let sent = match method {
            Method::Get => {
                let mut req = self
                    .agent
                    .get(url)
                    .header(name, &value)
                    .header("accept", "application/json");
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                req.call()
            }
            Method::Delete => self.agent.delete(url).header(name, &value).call(),
            Method::Post(body) => self
                .agent
                .post(url)
                .header(name, &value)
                .header("content-type", "application/json")
                .send(serde_json::to_vec(body).unwrap_or_default()),
        };
        let mut resp = sent.map_err(|e| {
            self.budget.unanswered(ticket);
            self.pace.lock().expect("pace lock").unanswered();
            HttpError::Transport {
                target: target.to_string(),
                message: format!("{} (base_url {base_url})", transport_message(&e)),
            }
        })?;
        let status = resp.status().as_u16();
        let headers = RateHeaders::read(resp.headers());
        self.budget
            .answered(ticket, status == 429, headers.daily(), &self.counters);
        {
            let mut pace = self.pace.lock().expect("pace lock");
            match self.policy.pace_from_headers {
                true => pace.answered(&headers, Instant::now()),
                false => pace.unanswered(),
            }
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
        self.flight.answered(start.elapsed());
        drop(place);

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
            let scrubber = self.scrubber.read().unwrap_or_else(|e| e.into_inner());
            let mut message = error_message(&bytes, is_json, &scrubber);
            if let Auth::OAuth(session) = &self.auth {
                if status == 403 && !message.contains("HTML page") {
                    message = format!(
                        "{message}: {}",
                        missing_scope(path, session.granted().as_deref())
                    );
                }
            }
            return Err(HttpError::Status {
                target: target.to_string(),
                status,
                message,
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

    /// Holds this thread back until the next request may go. One
    /// request at a time waits for its slot, the others queue behind it for the lock, so
    /// requests go in the order they came; answers are recorded between two waits.
    fn wait_for_pace(&self) {
        let _turn = self.turn.lock().expect("turn lock");
        loop {
            let mut pace = self.pace.lock().expect("pace lock");
            let now = Instant::now();
            let at = pace.next_slot(now, self.policy.min_interval);
            if at <= now {
                pace.sent(now);
                return;
            }
            drop(pace);
            // Not past `at` in one sleep: an answer meanwhile may move it (another client's
            // use of the window, a 429's wait).
            let wait = (at - now).min(Duration::from_millis(50));
            std::thread::sleep(wait);
            self.counters.waited(wait);
        }
    }
}

/// What lets one attempt go: its place in the token budget, its OAuth access token, and its
/// place among the requests in flight.
struct Pass<'c> {
    ticket: Ticket,
    grant: Option<Grant>,
    place: Place<'c>,
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
        let client = Client::new(
            &url,
            ApiKey::new("k"),
            RetryPolicy::default(),
            Caps::default(),
        )
        .redacting(&told);
        let message = client
            .get_json("/v1/users/me", &[], 2)
            .unwrap_err()
            .to_string();
        assert!(message.contains("xxx(redacte"), "{message}");
        for start in 0..=password.len() - 8 {
            let fragment = &password[start..start + 8];
            assert!(!message.contains(fragment), "{fragment}: {message}");
        }
    }

    /// Many threads through one client, against a server that takes a while to answer and
    /// counts a rolling 2-second window as Pipedrive does: every request is answered, none
    /// with a 429, although the window is filled (no slot is kept spare per request in
    /// flight, and more threads wait than the window holds).
    #[test]
    fn concurrent_requests_fill_the_burst_window_without_a_429() {
        use pipedrive_sandbox::{Latency, Sandbox, SandboxOptions};
        let sandbox = Sandbox::start(SandboxOptions {
            size: 5,
            burst_limit: 8,
            latency: Latency::of(Duration::from_millis(80)),
            ..SandboxOptions::default()
        })
        .unwrap();
        let client = Client::new(
            &sandbox.base_url(),
            ApiKey::new("sandbox-api-key"),
            RetryPolicy::default(),
            Caps::default(),
        );
        std::thread::scope(|s| {
            for _ in 0..12 {
                s.spawn(|| {
                    for _ in 0..2 {
                        client.get_json("/api/v2/stages", &[], 5).unwrap();
                    }
                });
            }
        });
        let log = sandbox.requests();
        assert_eq!(log.len(), 24);
        assert!(
            log.iter().all(|r| r.status == 200),
            "{:?}",
            log.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert_eq!(client.counters.rate_limited.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn targets_carry_no_key() {
        assert_eq!(
            target("/api/v2/deals", &[("limit", "500".into())]),
            "/api/v2/deals?limit=500"
        );
    }
}
