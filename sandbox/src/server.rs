//! The sandbox's HTTP side: a std-only HTTP/1.1 server on loopback that routes GET requests
//! (and the Webhooks API's POST and DELETE) the way Pipedrive does, and is as strict as Pipedrive about the token header, parameters,
//! burst and daily rate limits, so a connector that passes here has met the real rules. Like
//! the real service it also fails now and then (5xx, bodies cut short, HTML pages, slow
//! answers; see `Faults`), and its CDN blocks a client that keeps sending through 429s.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::data::{
    mix, namespaces, Dataset, Key, ListQuery, Page, Resource, SortKey, Start, DEAL_STATUSES,
    MAIL_FOLDERS, PROJECT_STATUSES,
};

mod legacy;
mod webhook_api;

use legacy::Legacy;

const WINDOW: Duration = Duration::from_secs(2);
/// Burst 429s within one window that the CDN tolerates before it blocks the client.
const TOLERATED_429S: usize = 3;
/// How long (on the fake clock) the CDN blocks a client that kept sending through 429s.
const BLOCK: chrono::TimeDelta = chrono::TimeDelta::seconds(10);
const ERROR_INFO: &str = "Please check developers.pipedrive.com";
/// Longest request head accepted; real clients send a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
/// Longest request body kept; a webhook's settings take a few hundred bytes, and anything
/// longer is read past (so the connection stays usable) and refused with 413.
const MAX_BODY: u64 = 1024 * 1024;
/// An idle keep-alive connection is dropped after this, like a server-side idle timeout.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SandboxOptions {
    /// Data is a pure function of (seed, size).
    pub seed: u64,
    /// Records per main resource.
    pub size: u64,
    /// The only accepted `x-api-token`.
    pub api_key: String,
    /// Requests per rolling 2 s window before 429. Default 100, or the value of the
    /// environment variable `SOURCE_PIPEDRIVE_SANDBOX_BURST_LIMIT`: the `sandbox` command has
    /// no flag for it, and the peer benchmark (`integration_tests/bench/peer.sh`) lifts the
    /// limit with it.
    pub burst_limit: u32,
    /// Company-wide daily token budget at start; `None` is unlimited.
    /// `Sandbox::set_daily_token_budget` changes it later.
    pub daily_token_budget: Option<u64>,
    /// (path prefix, status): requests under the prefix get that status and an error body.
    pub deny: Vec<(String, u16)>,
    /// Failures injected into answers; none by default.
    pub faults: Faults,
    /// Loopback port to listen on; 0 lets the system choose.
    pub port: u16,
}

/// Failures of the kind a client meets on the real API now and then, injected at the given
/// rates (each a probability per request; together at most 1). Whether request number `n`
/// (counted from 0 over every request the sandbox receives) gets one is a pure function of
/// (`seed`, `n`), so a run with one client is reproducible.
///
/// The rule for which requests can fail: authorized GETs of the data endpoints, i.e. every
/// path the sandbox serves except `/v1/users/me` (which connectors use as their connection
/// check) unless `include_users_me` is set. Requests refused before that (401, 403 from the
/// CDN, 429, `deny`, 404, 405) never carry a fault.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub seed: u64,
    /// 500 or 502 with the JSON error envelope, or 503 (scheduled maintenance) as JSON or as
    /// an HTML page. Costs no tokens: the request never reached the API.
    pub server_error_rate: f64,
    /// A 200 whose headers promise the whole body (Content-Length) but whose connection closes
    /// after part of it.
    pub truncate_rate: f64,
    /// A 200 with Content-Type text/html and an HTML error page instead of JSON. Costs no tokens.
    pub html_rate: f64,
    /// The right answer, sent after `slow_by`, to run into client read timeouts.
    pub slow_rate: f64,
    pub slow_by: Duration,
    /// Let `/v1/users/me` fail too.
    pub include_users_me: bool,
}

/// A fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    ServerError(u16),
    /// A 503 answered with the maintenance page rather than JSON.
    Maintenance,
    Truncate,
    Html,
    Slow,
}

impl Fault {
    fn name(self) -> String {
        match self {
            Fault::ServerError(status) => format!("server_error_{status}"),
            Fault::Maintenance => "server_error_503_html".into(),
            Fault::Truncate => "truncate".into(),
            Fault::Html => "html".into(),
            Fault::Slow => "slow".into(),
        }
    }

    /// Whether the fault replaces the API's answer (so no tokens are spent).
    fn replaces_answer(self) -> bool {
        !matches!(self, Fault::Truncate | Fault::Slow)
    }
}

impl Faults {
    /// One uniform draw per request against the rates laid end to end.
    fn pick(&self, sequence: u64) -> Option<Fault> {
        let z = mix(self.seed ^ mix(sequence));
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        let server_error = match z % 3 {
            0 => Fault::ServerError(500),
            1 => Fault::ServerError(502),
            _ if (z >> 2) & 1 == 0 => Fault::ServerError(503),
            _ => Fault::Maintenance,
        };
        let mut edge = 0.0;
        for (rate, fault) in [
            (self.server_error_rate, server_error),
            (self.truncate_rate, Fault::Truncate),
            (self.html_rate, Fault::Html),
            (self.slow_rate, Fault::Slow),
        ] {
            edge += rate;
            if u < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// Environment variable that overrides the default `burst_limit` (a whole number).
const BURST_LIMIT_ENV: &str = "SOURCE_PIPEDRIVE_SANDBOX_BURST_LIMIT";

fn default_burst_limit() -> u32 {
    match std::env::var(BURST_LIMIT_ENV) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{BURST_LIMIT_ENV} must be a whole number, not {v:?}")),
        Err(_) => 100,
    }
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            seed: 42,
            size: 250,
            api_key: "sandbox-api-key".to_string(),
            burst_limit: default_burst_limit(),
            daily_token_budget: None,
            deny: Vec::new(),
            faults: Faults::default(),
            port: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLogEntry {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query, percent-decoded, in the order sent.
    pub query: Vec<(String, String)>,
    pub status: u16,
    pub token_cost: u64,
    pub authorized: bool,
    /// The request target exactly as received.
    pub raw_target: String,
    /// The fault injected into the answer (`server_error_500`, `server_error_502`,
    /// `server_error_503`, `server_error_503_html`, `truncate`, `html`, `slow`), if any.
    pub fault: Option<String>,
}

/// A running sandbox. Dropping it stops accepting connections.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

/// The fake clock: an hour behind real time, so a client that trusts the server's `Date`
/// header sees the difference, plus whatever a test added.
struct Clock {
    origin: Instant,
    start: DateTime<Utc>,
    advanced: Mutex<chrono::Duration>,
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.origin.elapsed()).unwrap_or_default();
        self.start + elapsed + *lock(&self.advanced)
    }
}

struct Limits {
    window: VecDeque<Instant>,
    /// Company-wide daily token budget; `None` is unlimited.
    budget: Option<u64>,
    spent: u64,
    budget_day: NaiveDate,
    /// Fake-clock times of the recent burst 429s, for the CDN's escalation.
    burst_429s: VecDeque<DateTime<Utc>>,
    /// The CDN answers 403 until this fake-clock time.
    blocked_until: Option<DateTime<Utc>>,
}

struct Shared {
    opts: SandboxOptions,
    /// Where the sandbox listens: its own URL is a Pipedrive API URL, which no webhook may use.
    addr: SocketAddr,
    data: Dataset,
    clock: Clock,
    limits: Mutex<Limits>,
    log: Mutex<Vec<RequestLogEntry>>,
    /// Requests received so far; a request's number decides its fault.
    received: AtomicU64,
    stop: AtomicBool,
    /// Held while a webhook is added or deleted, so two POSTs cannot both take the last of a
    /// user's 40 places.
    webhook_writes: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox {
    pub fn start(opts: SandboxOptions) -> io::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", opts.port))?;
        let addr = listener.local_addr()?;
        let start = Utc::now() - chrono::Duration::hours(1);
        let budget = opts.daily_token_budget;
        let shared = Arc::new(Shared {
            data: Dataset::new(opts.seed, opts.size),
            opts,
            addr,
            clock: Clock {
                origin: Instant::now(),
                start,
                advanced: Mutex::new(chrono::Duration::zero()),
            },
            limits: Mutex::new(Limits {
                window: VecDeque::new(),
                budget,
                spent: 0,
                budget_day: start.date_naive(),
                burst_429s: VecDeque::new(),
                blocked_until: None,
            }),
            log: Mutex::new(Vec::new()),
            received: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            webhook_writes: Mutex::new(()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("sandbox-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(Sandbox {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<RequestLogEntry> {
        lock(&self.shared.log).clone()
    }

    pub fn dataset(&self) -> &Dataset {
        &self.shared.data
    }

    /// The webhooks `GET /v1/webhooks` lists now: the generated ones and those created through
    /// `POST /v1/webhooks`, minus the deleted ones; passwords masked.
    pub fn webhooks(&self) -> Vec<Value> {
        self.shared.data.records(Resource::Webhooks)
    }

    /// Edits a record: a visible field changes and update_time becomes the fake now.
    pub fn touch(&self, resource: Resource, id: &Value) -> Value {
        self.shared.data.touch(resource, id, self.now().timestamp())
    }

    /// Adds a record with a new id, created and updated at the fake now.
    pub fn insert(&self, resource: Resource) -> Value {
        self.shared.data.insert(resource, self.now().timestamp())
    }

    /// Soft-deletes a record at the fake now: deals turn `deleted`, other records leave lists.
    pub fn delete(&self, resource: Resource, id: &Value) {
        self.shared
            .data
            .delete(resource, id, self.now().timestamp())
    }

    /// Renames a field definition of `fields` (a definitions list such as `DealFields`): its
    /// v2 `field_name` or v1 `name` is `new_name` from now on. A deal custom field's rename
    /// shows in `LeadFields` too. Panics on an unknown key.
    pub fn rename_field(&self, fields: Resource, key: &str, new_name: &str) {
        self.shared
            .data
            .rename_field(fields, key, new_name, self.now().timestamp())
    }

    /// Adds a custom field of type `field_type` (a v2 `field_type` such as `varchar`, `enum`
    /// or `monetary`) to the entity `fields` defines (`LeadFields`: to the deals, whose fields
    /// leads inherit) and returns its new 40-character key. Records made before it hold no
    /// value for it until touched; touched and inserted records get one.
    pub fn add_field(&self, fields: Resource, name: &str, field_type: &str) -> String {
        self.shared
            .data
            .add_field(fields, name, field_type, self.now().timestamp())
    }

    /// Sets the daily token budget (`None`: unlimited) and starts counting afresh, as if the
    /// day had just turned: a test that spent the budget gives the next run a new one.
    pub fn set_daily_token_budget(&self, tokens: Option<u64>) {
        let mut limits = lock(&self.shared.limits);
        limits.budget = tokens;
        limits.spent = 0;
        limits.budget_day = self.now().date_naive();
    }

    pub fn advance_clock(&self, d: chrono::Duration) {
        *lock(&self.shared.clock.advanced) += d;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The accept loop blocks in accept(); a connection of our own wakes it to see the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("sandbox-conn".into())
            .spawn(move || {
                // A client hanging up mid-request is normal; the connection just ends.
                let _ = serve_connection(stream, &shared);
            });
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    close: bool,
    /// The body, if it was at most `MAX_BODY` bytes.
    body: Vec<u8>,
    /// The body was longer than `MAX_BODY` and was read past, not kept.
    oversized: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: u16,
    body: String,
    /// An HTML page from something in front of the API (the CDN, a proxy, the maintenance
    /// page): Content-Type text/html and none of the API's rate-limit headers.
    html: bool,
    fault: Option<Fault>,
}

impl Response {
    fn json(status: u16, body: String) -> Response {
        Response {
            status,
            body,
            html: false,
            fault: None,
        }
    }

    fn html(status: u16, body: String) -> Response {
        Response {
            status,
            body,
            html: true,
            fault: None,
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let response = Response::json(400, error_body("Bad request"));
                write_response(&mut writer, shared, &response, true)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let response = shared.handle(&request);
        if response.fault == Some(Fault::Slow) {
            thread::sleep(shared.opts.faults.slow_by);
        }
        write_response(&mut writer, shared, &response, request.close)?;
        // A truncated answer ends with the connection, as when a proxy drops it mid-body.
        if request.close
            || response.fault == Some(Fault::Truncate)
            || shared.stop.load(Ordering::SeqCst)
        {
            return Ok(());
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Reads one request, head and body. `None` means the client closed the connection.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.take(MAX_HEAD as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let line = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if line.is_empty() {
            if head.is_empty() {
                continue; // tolerate stray CRLF between requests (RFC 9112 §2.2)
            }
            break;
        }
        head.push(line);
        if head.iter().map(String::len).sum::<usize>() > MAX_HEAD {
            return Err(invalid("request head too large"));
        }
    }
    let mut parts = head[0].split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    let mut headers = Vec::new();
    for line in &head[1..] {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        close: false,
        body: Vec::new(),
        oversized: false,
    };
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    request.close = connection.contains("close")
        || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    read_body(reader, &mut request)?;
    Ok(Some(request))
}

/// Reads the body framed by chunks or Content-Length, keeping at most `MAX_BODY` bytes.
fn read_body(reader: &mut impl BufRead, request: &mut Request) -> io::Result<()> {
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = match request.header("content-length") {
        Some(v) if !chunked => v
            .parse::<u64>()
            .map_err(|_| invalid("bad content-length"))?,
        _ => 0,
    };
    let mut body = Vec::new();
    let mut oversized = false;
    let mut keep = |reader: &mut dyn Read, n: u64| -> io::Result<()> {
        let room = MAX_BODY.saturating_sub(body.len() as u64);
        let expected = body.len() as u64 + n.min(room);
        reader.take(n.min(room)).read_to_end(&mut body)?;
        if (body.len() as u64) < expected {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if n > room {
            oversized = true;
            io::copy(&mut reader.take(n - room), &mut io::sink())?;
        }
        Ok(())
    };
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = size.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            keep(reader, size)?;
            io::copy(&mut reader.take(2), &mut io::sink())?;
            if size == 0 {
                break;
            }
        }
    } else {
        keep(reader, length)?;
    }
    request.body = body;
    request.oversized = oversized;
    Ok(())
}

fn write_response(
    w: &mut impl Write,
    shared: &Shared,
    response: &Response,
    close: bool,
) -> io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let content_type = if response.html {
        "text/html; charset=UTF-8"
    } else {
        "application/json"
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nDate: {}\r\n",
        response.status,
        response.body.len(),
        http_date(shared.clock.now()),
    );
    if response.html {
        head.push_str("Server: cloudflare\r\n");
    } else {
        head.push_str(&shared.rate_headers());
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    let body = response.body.as_bytes();
    let sent = if response.fault == Some(Fault::Truncate) {
        &body[..body.len() / 2]
    } else {
        body
    };
    w.write_all(sent)?;
    w.flush()
}

/// RFC 7231 IMF-fixdate.
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn error_body(message: &str) -> String {
    json!({
        "success": false,
        "error": message,
        "error_info": ERROR_INFO,
        "data": null,
        "additional_data": null,
    })
    .to_string()
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, error_body(message))
}

/// What Cloudflare answers a client it has blocked for ignoring 429s (reference §4).
fn cdn_block_page(ray: u64) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<title>Access denied | api.pipedrive.com used Cloudflare to restrict access</title>\n<meta charset=\"UTF-8\" />\n</head>\n<body>\n<div id=\"cf-wrapper\">\n<div id=\"cf-error-details\" class=\"cf-error-details-wrapper\">\n<h1><span class=\"cf-error-type\">Error</span> <span class=\"cf-error-code\">1015</span></h1>\n<h2 class=\"cf-subheadline\">Access denied: you are being rate limited</h2>\n<p>The owner of this website (api.pipedrive.com) has banned you temporarily from accessing this website.</p>\n<p>Cloudflare Ray ID: <strong class=\"font-semibold\">{ray:016x}</strong></p>\n</div>\n</div>\n</body>\n</html>\n"
    )
}

/// The page a proxy in front of the API serves when it cannot reach it.
const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Pipedrive</title></head>\n<body>\n<h1>Something went wrong</h1>\n<p>We could not complete your request. Please try again in a moment.</p>\n</body>\n</html>\n";

/// Pipedrive's scheduled-maintenance page.
const MAINTENANCE_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Pipedrive is under maintenance</title></head>\n<body>\n<h1>We&rsquo;ll be back shortly</h1>\n<p>Pipedrive is undergoing scheduled maintenance.</p>\n</body>\n</html>\n";

/// The answer a fault that replaces the API's puts in its place.
fn fault_response(fault: Fault) -> Response {
    let mut response = match fault {
        Fault::ServerError(500) => error(500, "Internal server error"),
        Fault::ServerError(502) => error(502, "Bad gateway"),
        Fault::ServerError(status) => error(status, "Service unavailable: scheduled maintenance"),
        Fault::Maintenance => Response::html(503, MAINTENANCE_PAGE.to_string()),
        // Truncated and slow answers keep the API's answer and never come here.
        Fault::Html | Fault::Truncate | Fault::Slow => {
            Response::html(200, HTML_ERROR_PAGE.to_string())
        }
    };
    response.fault = Some(fault);
    response
}

fn bad_request(message: impl AsRef<str>) -> Response {
    error(400, message.as_ref())
}

/// What a path serves and what it costs from the daily token budget.
enum Route {
    CursorList(Resource),
    OffsetList(Resource),
    FullList(Resource),
    Me,
    /// A collection under the parent whose id is in the path, e.g. `/v1/notes/{id}/comments`.
    Child(Resource, String),
    /// A child collection whose parents are named in the query (`deal_ids`, `board_id`).
    Children(Resource),
    /// A field-definitions list: v2 cursor pages, v1 offset pages (lead fields) or all at once
    /// (note fields).
    Fields(Resource),
    /// One webhook, `/v1/webhooks/{id}`: it can only be deleted.
    Webhook(String),
    /// LEGACY: a v1 endpoint only the Airbyte peer of the benchmark reads (`legacy.rs`),
    /// served only to requests with the key in the `api_token` query parameter.
    Legacy(Legacy),
}

impl Route {
    fn resolve(path: &str) -> Option<Route> {
        use Resource as R;
        if let Some(rest) = path.strip_prefix("/api/v2/") {
            let segments: Vec<&str> = rest.split('/').collect();
            return Some(match segments.as_slice() {
                ["deals"] => Route::CursorList(R::Deals),
                ["persons"] => Route::CursorList(R::Persons),
                ["organizations"] => Route::CursorList(R::Organizations),
                ["activities"] => Route::CursorList(R::Activities),
                ["products"] => Route::CursorList(R::Products),
                ["pipelines"] => Route::CursorList(R::Pipelines),
                ["stages"] => Route::CursorList(R::Stages),
                ["deals", "archived"] => Route::CursorList(R::ArchivedDeals),
                ["deals", "products"] => Route::Children(R::DealProducts),
                ["deals", "installments"] => Route::Children(R::DealInstallments),
                ["deals", id, "products"] => Route::Child(R::DealProducts, id.to_string()),
                ["products", id, "variations"] => {
                    Route::Child(R::ProductVariations, id.to_string())
                }
                ["projects"] => Route::CursorList(R::Projects),
                ["projects", "archived"] => Route::CursorList(R::ArchivedProjects),
                ["tasks"] => Route::CursorList(R::Tasks),
                ["projectTemplates"] => Route::CursorList(R::ProjectTemplates),
                ["boards"] => Route::FullList(R::ProjectBoards),
                ["phases"] => Route::Children(R::ProjectPhases),
                ["dealFields"] => Route::Fields(R::DealFields),
                ["personFields"] => Route::Fields(R::PersonFields),
                ["organizationFields"] => Route::Fields(R::OrganizationFields),
                ["productFields"] => Route::Fields(R::ProductFields),
                ["activityFields"] => Route::Fields(R::ActivityFields),
                ["projectFields"] => Route::Fields(R::ProjectFields),
                _ => return None,
            });
        }
        let v1 = path
            .strip_prefix("/v1/")
            .or_else(|| path.strip_prefix("/api/v1/"))?;
        let segments: Vec<&str> = v1.split('/').collect();
        if let Some(legacy) = Legacy::resolve(&segments) {
            return Some(Route::Legacy(legacy));
        }
        Some(match segments.as_slice() {
            ["notes"] => Route::OffsetList(R::Notes),
            ["leads"] => Route::OffsetList(R::Leads),
            ["files"] => Route::OffsetList(R::Files),
            ["users"] => Route::FullList(R::Users),
            ["leadLabels"] => Route::FullList(R::LeadLabels),
            ["activityTypes"] => Route::FullList(R::ActivityTypes),
            ["currencies"] => Route::FullList(R::Currencies),
            ["filters"] => Route::FullList(R::Filters),
            ["users", "me"] => Route::Me,
            ["leads", "archived"] => Route::OffsetList(R::ArchivedLeads),
            ["leadSources"] => Route::FullList(R::LeadSources),
            ["goals", "find"] => Route::FullList(R::Goals),
            ["roles"] => Route::OffsetList(R::Roles),
            ["permissionSets"] => Route::FullList(R::PermissionSets),
            ["callLogs"] => Route::OffsetList(R::CallLogs),
            ["mailbox", "mailThreads"] => Route::OffsetList(R::MailThreads),
            ["webhooks"] => Route::FullList(R::Webhooks),
            ["webhooks", id] => Route::Webhook(id.to_string()),
            ["deals", id, "changelog"] => Route::Child(R::DealChangelog, id.to_string()),
            ["roles", id, "assignments"] => Route::Child(R::RoleAssignments, id.to_string()),
            ["permissionSets", id, "assignments"] => {
                Route::Child(R::PermissionSetAssignments, id.to_string())
            }
            ["mailbox", "mailThreads", id, "mailMessages"] => {
                Route::Child(R::MailMessages, id.to_string())
            }
            ["notes", id, "comments"] => Route::Child(R::NoteComments, id.to_string()),
            ["users", id, "permissions"] => Route::Child(R::UserPermissions, id.to_string()),
            ["leadFields"] => Route::Fields(R::LeadFields),
            ["noteFields"] => Route::Fields(R::NoteFields),
            _ => return None,
        })
    }

    /// Whether the route answers `method`. The sandbox is read-only but for the Webhooks API,
    /// whose list also takes POST and whose items take DELETE (reference §8).
    fn allows(&self, method: &str) -> bool {
        match self {
            Route::FullList(Resource::Webhooks) => matches!(method, "GET" | "POST"),
            Route::Webhook(_) => method == "DELETE",
            _ => method == "GET",
        }
    }

    /// Token costs as Pipedrive's spec lists them (reference §4); creating a webhook costs
    /// what listing them does.
    fn cost(&self) -> u64 {
        use Resource as R;
        let r = match self {
            Route::Me => return 2,
            // "Delete single" in the generic table; the spec's own figure is not public.
            Route::Webhook(_) => return 6,
            // v1 lists.
            Route::Legacy(_) => return 20,
            Route::CursorList(r)
            | Route::OffsetList(r)
            | Route::FullList(r)
            | Route::Child(r, _)
            | Route::Children(r)
            | Route::Fields(r) => *r,
        };
        match r {
            R::LeadSources => 2,
            R::Pipelines | R::Stages | R::ProjectBoards | R::ProjectPhases => 5,
            R::Deals
            | R::Persons
            | R::Organizations
            | R::Activities
            | R::Products
            | R::LeadLabels
            | R::DealProducts
            | R::DealInstallments
            | R::ProductVariations
            | R::Projects
            | R::ArchivedProjects
            | R::Tasks
            | R::ProjectTemplates
            | R::Webhooks
            | R::DealFields
            | R::PersonFields
            | R::OrganizationFields
            | R::ProductFields
            | R::ActivityFields
            | R::ProjectFields => 10,
            R::ArchivedLeads => 40,
            // v1 lists and per-entity reads; `/api/v2/deals/archived` is priced like a search.
            R::ArchivedDeals
            | R::Notes
            | R::Leads
            | R::Files
            | R::Users
            | R::ActivityTypes
            | R::Currencies
            | R::Filters
            | R::DealChangelog
            | R::Goals
            | R::Roles
            | R::RoleAssignments
            | R::PermissionSets
            | R::PermissionSetAssignments
            | R::CallLogs
            | R::MailThreads
            | R::MailMessages
            | R::NoteComments
            | R::UserPermissions
            | R::LeadFields
            | R::NoteFields => 20,
        }
    }
}

/// Splits a request target into its path and percent-decoded query pairs.
fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let target = match target.find("://") {
        Some(scheme) => {
            let rest = &target[scheme + 3..];
            rest.find('/').map_or("/", |slash| &rest[slash..])
        }
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (percent_decode(path), pairs)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(a), Some(b)) => {
                    out.push((a * 16 + b) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read access to the query the way Pipedrive treats it: the first value wins, unknown
/// parameters are ignored.
struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str) -> Result<Option<u64>, Response> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                bad_request(format!(
                    "Invalid value for parameter '{name}': expected a non-negative integer"
                ))
            }),
        }
    }

    /// `limit`: default 100, at least 1, larger values capped at `max`.
    fn limit(&self, max: u64) -> Result<u64, Response> {
        match self.number("limit")? {
            None => Ok(100.min(max)),
            Some(0) => Err(bad_request(
                "Invalid value for parameter 'limit': must be at least 1",
            )),
            Some(n) => Ok(n.min(max)),
        }
    }

    /// An RFC 3339 time, rounded up to the whole second (record times are whole seconds).
    fn time(&self, name: &str) -> Result<Option<i64>, Response> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let t = DateTime::parse_from_rfc3339(v).map_err(|_| {
            bad_request(format!("Invalid value for parameter '{name}': expected RFC 3339 date-time, e.g. 2025-01-01T10:20:00Z"))
        })?;
        Ok(Some(
            t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0),
        ))
    }
}

impl Shared {
    fn handle(&self, request: &Request) -> Response {
        let sequence = self.received.fetch_add(1, Ordering::SeqCst);
        let (path, query) = split_target(&request.target);
        let key = self.opts.api_key.as_str();
        // v1 also took the key as the `api_token` query parameter (v2 here only in the header).
        let query_token = (path.starts_with("/v1/") || path.starts_with("/api/v1/"))
            && Params(&query).get("api_token") == Some(key);
        let authorized = request.header("x-api-token") == Some(key) || query_token;
        // Legacy routes exist only for the benchmark's Airbyte peer, which sends the key in
        // the query; to anyone else (our connector sends the header) they stay unknown paths.
        let route = Route::resolve(&path).filter(|r| query_token || !matches!(r, Route::Legacy(_)));
        let (response, cost) = if authorized {
            self.admit(request, &path, &query, route, sequence)
        } else {
            let body = json!({
                "success": false,
                "error": "unauthorized access",
                "errorCode": 401,
                "error_info": ERROR_INFO,
            });
            (Response::json(401, body.to_string()), 0)
        };
        lock(&self.log).push(RequestLogEntry {
            method: request.method.clone(),
            path,
            query,
            status: response.status,
            token_cost: cost,
            authorized,
            raw_target: request.target.clone(),
            fault: response.fault.map(Fault::name),
        });
        response
    }

    /// Applies the CDN's block, the burst window and the daily budget, then routes (or injects
    /// a fault). Returns the tokens spent.
    fn admit(
        &self,
        request: &Request,
        path: &str,
        query: &[(String, String)],
        route: Option<Route>,
        sequence: u64,
    ) -> (Response, u64) {
        {
            let mut limits = lock(&self.limits);
            let clock = self.clock.now();
            if limits.blocked_until.is_some_and(|until| clock < until) {
                // Cloudflare answers before the API sees the request: nothing is counted.
                return (Response::html(403, cdn_block_page(mix(sequence))), 0);
            }
            let now = Instant::now();
            while limits
                .window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
            {
                limits.window.pop_front();
            }
            if limits.window.len() >= self.opts.burst_limit as usize {
                // A client that keeps sending through burst 429s gets blocked by the CDN.
                let window = chrono::TimeDelta::from_std(WINDOW).unwrap_or_default();
                limits.burst_429s.push_back(clock);
                while limits
                    .burst_429s
                    .front()
                    .is_some_and(|t| clock - *t >= window)
                {
                    limits.burst_429s.pop_front();
                }
                if limits.burst_429s.len() > TOLERATED_429S {
                    limits.blocked_until = Some(clock + BLOCK);
                    limits.burst_429s.clear();
                }
                return (error(429, "Request over limit. Please try again later."), 0);
            }
            limits.window.push_back(now);
            if let Some(budget) = limits.budget {
                let today = clock.date_naive();
                if today != limits.budget_day {
                    limits.budget_day = today;
                    limits.spent = 0;
                }
                if limits.spent >= budget {
                    // Not counted against the burst window, so `x-ratelimit-remaining` stays
                    // above 0: that is how clients tell this 429 from a burst one (§4).
                    limits.window.pop_back();
                    return (
                        error(
                            429,
                            "Daily API token limit reached. Please try again tomorrow.",
                        ),
                        0,
                    );
                }
            }
        }
        let cost = route.as_ref().map_or(0, Route::cost);
        let v1_alias = path.strip_prefix("/api");
        let denied = self.opts.deny.iter().find(|(prefix, _)| {
            path.starts_with(prefix.as_str())
                || v1_alias.is_some_and(|p| p.starts_with(prefix.as_str()))
        });
        // Unknown paths answer 404 to a GET and 405 to any other method.
        let allowed = route
            .as_ref()
            .map_or(request.method == "GET", |r| r.allows(&request.method));
        let faults = &self.opts.faults;
        let fault = match &route {
            Some(Route::Me) if !faults.include_users_me => None,
            Some(_) if allowed && request.method == "GET" && denied.is_none() => {
                faults.pick(sequence)
            }
            _ => None,
        };
        let mut response = if !allowed {
            error(405, "Method not allowed")
        } else if let Some((_, status)) = denied {
            error(*status, deny_message(*status))
        } else if let Some(f) = fault.filter(|f| f.replaces_answer()) {
            fault_response(f)
        } else if let Some(route) = &route {
            self.serve(route, request, &Params(query))
        } else {
            error(404, "Unknown method .")
        };
        response.fault = fault;
        let charged =
            allowed && response.status != 404 && !fault.is_some_and(Fault::replaces_answer);
        let cost = if charged { cost } else { 0 };
        lock(&self.limits).spent += cost;
        (response, cost)
    }

    fn rate_headers(&self) -> String {
        let mut limits = lock(&self.limits);
        let now = Instant::now();
        while limits
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            limits.window.pop_front();
        }
        let limit = self.opts.burst_limit as usize;
        let remaining = limit.saturating_sub(limits.window.len());
        let reset = limits.window.front().map_or(0, |oldest| {
            let left = WINDOW.saturating_sub(now.duration_since(*oldest));
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        });
        let mut headers = format!(
            "x-ratelimit-limit: {limit}\r\nx-ratelimit-remaining: {remaining}\r\nx-ratelimit-reset: {}\r\n",
            reset.max(1)
        );
        if let Some(budget) = limits.budget {
            headers.push_str(&format!(
                "x-daily-ratelimit-token-limit: {budget}\r\nx-daily-ratelimit-token-remaining: {}\r\n",
                budget.saturating_sub(limits.spent)
            ));
        }
        headers
    }

    fn serve(&self, route: &Route, request: &Request, params: &Params) -> Response {
        let result = match route {
            Route::FullList(Resource::Webhooks) if request.method == "POST" => {
                Ok(self.add_webhook(request))
            }
            Route::Webhook(id) => Ok(self.delete_webhook(id)),
            Route::CursorList(r) => self.cursor_list(*r, params),
            Route::OffsetList(r) => self.offset_list(*r, params),
            Route::FullList(r) => Ok(self.full_list(*r, params)),
            Route::Me => Ok(self.me()),
            Route::Child(r, id) => self.child(*r, id, params),
            Route::Children(r) => self.children(*r, params),
            Route::Fields(r) => self.field_list(*r, params),
            Route::Legacy(legacy) => self.legacy(*legacy, params),
        };
        result.unwrap_or_else(|e| e)
    }

    fn cursor_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        use Resource as R;
        let limit = params.limit(500)?;
        // The project endpoints take no sort parameters; like Pipedrive, ignore them there.
        let sortable = matches!(
            r,
            R::Deals
                | R::ArchivedDeals
                | R::Persons
                | R::Organizations
                | R::Activities
                | R::Products
                | R::Pipelines
                | R::Stages
        );
        let (field, desc) = if sortable {
            sort_params(params, &["id", "update_time", "add_time"])?
        } else {
            ("id", false)
        };
        let key = match field {
            "update_time" => SortKey::UpdateTime,
            "add_time" => SortKey::AddTime,
            _ => SortKey::Id,
        };
        let mut q = ListQuery::new(key, desc);
        if matches!(
            r,
            R::Deals
                | R::ArchivedDeals
                | R::Persons
                | R::Organizations
                | R::Activities
                | R::Products
        ) {
            q.since = params.time("updated_since")?;
        }
        if matches!(
            r,
            R::Deals | R::ArchivedDeals | R::Persons | R::Organizations | R::Activities
        ) {
            q.until = params.time("updated_until")?;
        }
        let allowed: &[&str] = match r {
            R::Deals | R::ArchivedDeals => &DEAL_STATUSES,
            R::Projects | R::ArchivedProjects => &PROJECT_STATUSES,
            _ => &[],
        };
        if let (false, Some(list)) = (allowed.is_empty(), params.get("status")) {
            let statuses: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
            if let Some(bad) = statuses.iter().find(|s| !allowed.contains(&s.as_str())) {
                return Err(bad_request(format!(
                    "Invalid value for parameter 'status': '{bad}'; use {}",
                    allowed.join(", ")
                )));
            }
            q.statuses = Some(statuses);
        }
        if r == R::Stages {
            q.pipeline_id = params.number("pipeline_id")?;
        }
        if r == R::Activities {
            q.include_attendees = params
                .get("include_fields")
                .is_some_and(|f| f.split(',').any(|f| f.trim() == "attendees"));
        }
        let start = match params.get("cursor") {
            None => Start::First,
            Some(cursor) => Start::After(
                decode_cursor(cursor, field, desc).ok_or_else(|| bad_request("Invalid cursor"))?,
            ),
        };
        let page = self.data.page(r, &q, start, limit as usize);
        let next_cursor = match (page.more, page.last) {
            (true, Some(last)) => json!(encode_cursor(last, field, desc)),
            _ => Value::Null,
        };
        Ok(ok(json!({
            "success": true,
            "data": page.records,
            "additional_data": {"next_cursor": next_cursor},
        })))
    }

    fn offset_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        use Resource as R;
        let max = match r {
            R::Files => 100,
            R::CallLogs => 50,
            _ => 500,
        };
        let limit = params.limit(max)?;
        let start = params.number("start")?.unwrap_or(0);
        let mut q = match r {
            R::Notes | R::Leads | R::ArchivedLeads | R::Files => {
                let default = if r == R::Notes || r == R::Files {
                    "id ASC"
                } else {
                    "add_time ASC"
                };
                let (key, desc) = parse_v1_sort(params.get("sort").unwrap_or(default), r)?;
                ListQuery::new(key, desc)
            }
            // Roles, call logs and mail threads take no `sort`.
            _ => ListQuery::new(SortKey::Id, false),
        };
        // `/v1/leads/archived` has no `updated_since`; like Pipedrive, ignore it there.
        if matches!(r, R::Notes | R::Leads) {
            q.since = params.time("updated_since")?;
        }
        if r == R::MailThreads {
            let folder = params
                .get("folder")
                .ok_or_else(|| bad_request("Parameter 'folder' is required"))?;
            let f = MAIL_FOLDERS
                .iter()
                .position(|x| *x == folder)
                .ok_or_else(|| {
                    bad_request(format!(
                        "Invalid value for parameter 'folder': '{folder}'; use inbox, drafts, sent or archive"
                    ))
                })?;
            q.folder = Some(f as u64);
        }
        let Page { records, more, .. } =
            self.data.page(r, &q, Start::Offset(start), limit as usize);
        Ok(v1_page(r, records, start, limit, more))
    }

    fn full_list(&self, r: Resource, params: &Params) -> Response {
        let mut records = self.data.records(r);
        let filter = match r {
            Resource::Filters => Some(("type", params.get("type"))),
            Resource::PermissionSets => Some(("app", params.get("app"))),
            _ => None,
        };
        if let Some((field, Some(value))) = filter {
            records.retain(|f| f[field] == value);
        }
        ok(match r {
            Resource::Goals => json!({"success": true, "data": {"goals": records}}),
            Resource::ProjectBoards => {
                json!({"success": true, "data": records, "additional_data": null})
            }
            _ => json!({"success": true, "data": records}),
        })
    }

    /// A child endpoint with the parent's id in the path.
    fn child(&self, r: Resource, id: &str, params: &Params) -> Result<Response, Response> {
        use Resource as R;
        // Only permission sets have string ids.
        let parent = if r == R::PermissionSetAssignments {
            json!(id)
        } else {
            json!(id.parse::<u64>().map_err(|_| bad_request(format!(
                "Invalid value for parameter 'id': '{id}' is not an integer"
            )))?)
        };
        let rows = self
            .data
            .children_of(r, &parent)
            .ok_or_else(|| error(404, &format!("{} not found", parent_noun(r))))?;
        match r {
            R::DealProducts => {
                let (field, desc) =
                    sort_params(params, &["id", "add_time", "update_time", "order_nr"])?;
                child_page(rows, field, desc, params)
            }
            R::ProductVariations => child_page(rows, "id", false, params),
            R::DealChangelog => changelog_page(rows, params),
            R::RoleAssignments | R::PermissionSetAssignments | R::NoteComments => {
                let limit = params.limit(500)?;
                let start = params.number("start")?.unwrap_or(0);
                let page: Vec<Value> = rows
                    .iter()
                    .skip(start as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                let more = (start + limit) < rows.len() as u64;
                Ok(v1_page(r, page, start, limit, more))
            }
            // The permissions endpoint answers one object, not a list.
            R::UserPermissions => Ok(ok(json!({"success": true, "data": rows[0]}))),
            _ => Ok(ok(json!({"success": true, "data": rows}))),
        }
    }

    /// A child endpoint with the parents in the query.
    fn children(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        if r == Resource::ProjectPhases {
            let board = params
                .number("board_id")?
                .ok_or_else(|| bad_request("Parameter 'board_id' is required"))?;
            let phases = self.data.children(r, &json!(board));
            return Ok(ok(
                json!({"success": true, "data": phases, "additional_data": null}),
            ));
        }
        let raw = params
            .get("deal_ids")
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad_request("Parameter 'deal_ids' is required"))?;
        let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
        if parts.len() > 100 {
            return Err(bad_request(
                "Invalid value for parameter 'deal_ids': a maximum of 100 deal IDs can be provided",
            ));
        }
        let mut ids: Vec<u64> = Vec::new();
        for part in parts {
            let id = part.parse::<u64>().map_err(|_| {
                bad_request(format!(
                    "Invalid value for parameter 'deal_ids': '{part}' is not an integer"
                ))
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let allowed: &[&str] = if r == Resource::DealProducts {
            &["id", "deal_id", "add_time", "update_time", "order_nr"]
        } else {
            &["id", "billing_date", "deal_id"]
        };
        let (field, desc) = sort_params(params, allowed)?;
        // Deals that do not exist simply contribute nothing, as with any filter.
        let rows = ids
            .iter()
            .flat_map(|id| self.data.children(r, &json!(id)))
            .collect();
        child_page(rows, field, desc, params)
    }

    /// A field-definitions list, paged the way its endpoint pages.
    fn field_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        let allowed = namespaces(r);
        let mut include = Vec::new();
        // Lists without optional namespaces take no `include_fields`; like Pipedrive, ignore it.
        if let (false, Some(list)) = (allowed.is_empty(), params.get("include_fields")) {
            for part in list.split(',').map(str::trim) {
                if !allowed.contains(&part) {
                    return Err(bad_request(format!(
                        "Invalid value for parameter 'include_fields': '{part}'; use {}",
                        allowed.join(", ")
                    )));
                }
                include.push(part);
            }
        }
        let definitions = self.data.definitions(r, &include).unwrap_or_default();
        match r {
            Resource::NoteFields => Ok(ok(json!({"success": true, "data": definitions}))),
            Resource::LeadFields => {
                let limit = params.limit(500)?;
                let start = params.number("start")?.unwrap_or(0);
                let page: Vec<Value> = definitions
                    .iter()
                    .skip(start as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                let more = start + limit < definitions.len() as u64;
                Ok(v1_page(r, page, start, limit, more))
            }
            _ => {
                // Definitions are only ever appended, so a position is a stable keyset cursor.
                let limit = params.limit(500)? as usize;
                let from = match params.get("cursor") {
                    None => 0,
                    Some(cursor) => {
                        decode_cursor(cursor, "id", false)
                            .ok_or_else(|| bad_request("Invalid cursor"))?
                            .1 as usize
                            + 1
                    }
                };
                let page: Vec<Value> = definitions.iter().skip(from).take(limit).cloned().collect();
                let next = from + page.len();
                let next_cursor = if next < definitions.len() {
                    json!(encode_cursor((0, next as u64 - 1), "id", false))
                } else {
                    Value::Null
                };
                Ok(ok(json!({
                    "success": true,
                    "data": page,
                    "additional_data": {"next_cursor": next_cursor},
                })))
            }
        }
    }

    fn me(&self) -> Response {
        let mut user = self
            .data
            .records(Resource::Users)
            .into_iter()
            .next()
            .unwrap_or_else(|| json!({}));
        user["company_id"] = json!(self.data.company_id());
        user["company_name"] = json!("Sandbox Company Ö");
        user["company_domain"] = json!("sandbox");
        user["company_country"] = json!("EE");
        user["company_industry"] = json!("Software");
        user["language"] = json!({"language_code": "en", "country_code": "US"});
        ok(json!({"success": true, "data": user}))
    }
}

/// What a child endpoint's 404 calls its parent.
fn parent_noun(r: Resource) -> &'static str {
    match Dataset::parent(r) {
        Some(Resource::Deals) => "Deal",
        Some(Resource::Products) => "Product",
        Some(Resource::Roles) => "Role",
        Some(Resource::PermissionSets) => "Permission set",
        Some(Resource::MailThreads) => "Mail thread",
        Some(Resource::Notes) => "Note",
        Some(Resource::Users) => "User",
        _ => "Item",
    }
}

/// `sort_by` (one of `allowed`, default `id`) and `sort_direction` (default `asc`).
fn sort_params<'a>(params: &'a Params<'a>, allowed: &[&str]) -> Result<(&'a str, bool), Response> {
    let field = params.get("sort_by").unwrap_or("id");
    if !allowed.contains(&field) {
        return Err(bad_request(format!(
            "Invalid value for parameter 'sort_by': '{field}' is not supported; use {}",
            allowed.join(", ")
        )));
    }
    let desc = match params.get("sort_direction").unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(bad_request(format!(
                "Invalid value for parameter 'sort_direction': '{other}'; use asc or desc"
            )))
        }
    };
    Ok((field, desc))
}

/// The pagination block of a v1 offset list, in the form the client's model gives for that
/// endpoint; a client that relies on more than the model promises fails here.
fn v1_page(r: Resource, records: Vec<Value>, start: u64, limit: u64, more: bool) -> Response {
    let mut pagination = json!({
        "start": start,
        "limit": limit,
        "more_items_in_collection": more,
    });
    let additional_data = match r {
        // Flat in `additional_data`, no `next_start`.
        Resource::Leads | Resource::ArchivedLeads => Some(pagination),
        // Nested, but the models have no `next_start`.
        Resource::Roles | Resource::RoleAssignments | Resource::CallLogs => {
            Some(json!({ "pagination": pagination }))
        }
        // The models have no `additional_data` at all.
        Resource::MailThreads | Resource::PermissionSetAssignments => None,
        _ => {
            if more {
                pagination["next_start"] = json!(start + limit);
            }
            Some(json!({ "pagination": pagination }))
        }
    };
    let mut body = json!({
        "success": true,
        "data": if records.is_empty() { Value::Null } else { json!(records) },
    });
    if let Some(extra) = additional_data {
        body["additional_data"] = extra;
    }
    ok(body)
}

/// A page of one parent's (or a few parents') children, sorted and cut by keyset like the
/// big lists. Children are few per parent, so they are sorted in memory.
fn child_page(
    rows: Vec<Value>,
    field: &str,
    desc: bool,
    params: &Params,
) -> Result<Response, Response> {
    let limit = params.limit(500)? as usize;
    let after = match params.get("cursor") {
        None => None,
        Some(cursor) => {
            Some(decode_cursor(cursor, field, desc).ok_or_else(|| bad_request("Invalid cursor"))?)
        }
    };
    let mut rows: Vec<(Key, Value)> = rows
        .into_iter()
        .map(|row| {
            let id = row["id"].as_u64().unwrap_or(0).saturating_sub(1);
            ((sort_value(&row, field), id), row)
        })
        .collect();
    rows.sort_by_key(|(key, _)| *key);
    if desc {
        rows.reverse();
    }
    let mut page: Vec<(Key, Value)> = rows
        .into_iter()
        .filter(|(key, _)| after.is_none_or(|a| if desc { *key < a } else { *key > a }))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_cursor = match (more, page.last()) {
        (true, Some((last, _))) => json!(encode_cursor(*last, field, desc)),
        _ => Value::Null,
    };
    let data: Vec<Value> = page.into_iter().map(|(_, row)| row).collect();
    Ok(ok(json!({
        "success": true,
        "data": data,
        "additional_data": {"next_cursor": next_cursor},
    })))
}

/// A deal's changelog, paged by the v1 cursor. Rows are only ever appended, so the cursor is
/// the position of the next row.
fn changelog_page(rows: Vec<Value>, params: &Params) -> Result<Response, Response> {
    let limit = params.limit(500)? as usize;
    let start = match params.get("cursor") {
        None => 0,
        Some(cursor) => unbase64url(cursor)
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|c| c["position"].as_u64())
            .ok_or_else(|| bad_request("Invalid cursor"))? as usize,
    };
    let data: Vec<Value> = rows.iter().skip(start).take(limit).cloned().collect();
    let next_cursor = if start + limit < rows.len() {
        json!(base64url(
            json!({"position": start + limit}).to_string().as_bytes()
        ))
    } else {
        Value::Null
    };
    Ok(ok(json!({
        "success": true,
        "data": data,
        "additional_data": {"next_cursor": next_cursor},
    })))
}

fn ok(body: Value) -> Response {
    Response::json(200, body.to_string())
}

fn deny_message(status: u16) -> &'static str {
    match status {
        401 => "unauthorized access",
        402 => "Payment required: this feature is not available on your plan",
        403 => "You do not have permission to access this resource",
        404 => "Unknown method .",
        410 => "This endpoint is no longer available",
        _ => "Request could not be completed",
    }
}

/// The v1 `sort` parameter, e.g. `update_time DESC` or `update_time ASC, id ASC`. The first
/// field sets the order; ties always break on id in the same direction, so only `id` may
/// follow it (other fields are real Pipedrive options the sandbox does not model).
fn parse_v1_sort(sort: &str, r: Resource) -> Result<(SortKey, bool), Response> {
    let mut order = None;
    for part in sort.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let field = words.next().unwrap_or("");
        let desc = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => return Err(bad_request(format!("Invalid sort direction '{other}'"))),
        };
        let key = match field {
            "id" => SortKey::Id,
            "update_time" => SortKey::UpdateTime,
            "add_time" if r != Resource::Files => SortKey::AddTime,
            other => return Err(bad_request(format!("Invalid sort field '{other}'"))),
        };
        match order {
            None => order = Some((key, desc)),
            Some((_, first_desc)) if key == SortKey::Id && desc == first_desc => {}
            Some(_) => return Err(bad_request(format!("Unsupported secondary sort '{part}'"))),
        }
    }
    order.ok_or_else(|| bad_request("Invalid value for parameter 'sort'"))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, b)| n | (u32::from(*b) << (16 - 8 * k)));
        for k in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    out
}

fn unbase64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A sort value as a cursor carries it: times as RFC 3339, dates as `YYYY-MM-DD`, numbers
/// as themselves.
fn cursor_value(field: &str, last: Key) -> Value {
    let at = |pattern: &str| {
        DateTime::<Utc>::from_timestamp(last.0, 0)
            .unwrap_or_default()
            .format(pattern)
            .to_string()
    };
    match field {
        "id" => json!(last.1 + 1),
        "add_time" | "update_time" => json!(at("%Y-%m-%dT%H:%M:%SZ")),
        "billing_date" => json!(at("%Y-%m-%d")),
        _ => json!(last.0),
    }
}

/// The sort value of an in-memory row, on the same scale as `cursor_value` reads it back.
fn sort_value(row: &Value, field: &str) -> i64 {
    let text = row[field].as_str().unwrap_or("");
    match field {
        "id" => 0,
        "add_time" | "update_time" => {
            DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp())
        }
        "billing_date" => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_or(0, |d| d.and_time(Default::default()).and_utc().timestamp()),
        _ => row[field].as_i64().unwrap_or(0),
    }
}

/// An opaque keyset cursor shaped like Pipedrive's (base64 of a small JSON object): the sort
/// field, its value and the id of the last row served.
fn encode_cursor(last: Key, field: &str, desc: bool) -> String {
    let cursor = json!({
        "field": field,
        "fieldValue": cursor_value(field, last),
        "sortDirection": if desc { "desc" } else { "asc" },
        "id": last.1 + 1,
    });
    base64url(cursor.to_string().as_bytes())
}

/// A cursor is valid only for the sort it was made for.
fn decode_cursor(cursor: &str, field: &str, desc: bool) -> Option<Key> {
    let cursor: Value = serde_json::from_slice(&unbase64url(cursor)?).ok()?;
    let direction = if desc { "desc" } else { "asc" };
    if cursor["field"] != field || cursor["sortDirection"] != direction {
        return None;
    }
    let ordinal = cursor["id"].as_u64()?.checked_sub(1)?;
    let value = &cursor["fieldValue"];
    let value = match field {
        "id" => 0,
        "add_time" | "update_time" => DateTime::parse_from_rfc3339(value.as_str()?)
            .ok()?
            .timestamp(),
        "billing_date" => NaiveDate::parse_from_str(value.as_str()?, "%Y-%m-%d")
            .ok()?
            .and_time(Default::default())
            .and_utc()
            .timestamp(),
        _ => value.as_i64()?,
    };
    Some((value, ordinal))
}

#[cfg(test)]
mod tests {
    use super::*;

    mod legacy_routes;

    /// A keep-alive HTTP/1.1 client just big enough to talk to the sandbox.
    struct Client {
        reader: BufReader<TcpStream>,
        token: Option<String>,
    }

    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Value,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn ids(&self) -> Vec<Value> {
            self.body["data"]
                .as_array()
                .map(|d| d.iter().map(|r| r["id"].clone()).collect())
                .unwrap_or_default()
        }
    }

    impl Client {
        fn new(sandbox: &Sandbox) -> Client {
            let stream = TcpStream::connect(sandbox.addr).unwrap();
            Client {
                reader: BufReader::new(stream),
                token: Some(sandbox.shared.opts.api_key.clone()),
            }
        }

        fn request(&mut self, method: &str, target: &str) -> Reply {
            self.send(method, target, None, b"")
        }

        /// A request with a body of `content_type` (none: no Content-Type header).
        fn send(
            &mut self,
            method: &str,
            target: &str,
            content_type: Option<&str>,
            body: &[u8],
        ) -> Reply {
            let mut head = format!("{method} {target} HTTP/1.1\r\nHost: sandbox\r\n");
            if let Some(token) = &self.token {
                head.push_str(&format!("x-api-token: {token}\r\n"));
            }
            if let Some(content_type) = content_type {
                head.push_str(&format!("Content-Type: {content_type}\r\n"));
            }
            if !body.is_empty() {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            head.push_str("\r\n");
            let stream = self.reader.get_mut();
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body).unwrap();
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            let mut headers = Vec::new();
            loop {
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                let Some((k, v)) = line.trim_end().split_once(": ") else {
                    break;
                };
                headers.push((k.to_string(), v.to_string()));
            }
            let length: usize = headers
                .iter()
                .find(|(k, _)| k == "Content-Length")
                .unwrap()
                .1
                .parse()
                .unwrap();
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body).unwrap();
            // HTML pages (the CDN's, injected faults) come back as a JSON string.
            let body = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
            Reply {
                status,
                headers,
                body,
            }
        }

        fn get(&mut self, target: &str) -> Reply {
            self.request("GET", target)
        }

        /// Follows next_cursor to the end and returns every id served.
        fn walk_cursor(&mut self, target: &str) -> Vec<Value> {
            ids_of(&self.walk_cursor_rows(target))
        }

        /// Follows next_cursor to the end and returns every row served.
        fn walk_cursor_rows(&mut self, target: &str) -> Vec<Value> {
            let mut rows = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let url = match &cursor {
                    Some(c) => format!("{target}&cursor={c}"),
                    None => target.to_string(),
                };
                let reply = self.get(&url);
                assert_eq!(reply.status, 200, "{url}: {}", reply.body);
                rows.extend(reply.body["data"].as_array().cloned().unwrap_or_default());
                match reply.body["additional_data"]["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => return rows,
                }
            }
        }

        fn walk_offset(&mut self, target: &str) -> Vec<Value> {
            ids_of(&self.walk_offset_rows(target))
        }

        fn walk_offset_rows(&mut self, target: &str) -> Vec<Value> {
            let mut rows = Vec::new();
            let mut start = 0;
            loop {
                let reply = self.get(&format!("{target}&start={start}"));
                assert_eq!(reply.status, 200, "{}", reply.body);
                rows.extend(reply.body["data"].as_array().cloned().unwrap_or_default());
                let extra = &reply.body["additional_data"];
                let pagination = if target.contains("/leads") {
                    assert!(extra.get("pagination").is_none(), "leads paginate flat");
                    extra
                } else {
                    &extra["pagination"]
                };
                if pagination["more_items_in_collection"] != true {
                    assert!(pagination.get("next_start").is_none());
                    return rows;
                }
                start = match pagination["next_start"].as_u64() {
                    Some(next) => next,
                    None => {
                        pagination["start"].as_u64().unwrap()
                            + pagination["limit"].as_u64().unwrap()
                    }
                };
            }
        }

        /// For v1 lists whose responses carry no pagination block: asks for the next `limit`
        /// rows until a page comes back empty.
        fn walk_blind(&mut self, target: &str, limit: u64) -> Vec<Value> {
            let mut rows = Vec::new();
            loop {
                let url = format!("{target}&limit={limit}&start={}", rows.len());
                let reply = self.get(&url);
                assert_eq!(reply.status, 200, "{url}: {}", reply.body);
                assert!(reply.body.get("additional_data").is_none(), "{url}");
                match reply.body["data"].as_array() {
                    Some(page) => rows.extend(page.iter().cloned()),
                    None => return rows,
                }
            }
        }
    }

    fn ids_of(rows: &[Value]) -> Vec<Value> {
        rows.iter().map(|r| r["id"].clone()).collect()
    }

    fn start(size: u64) -> Sandbox {
        Sandbox::start(SandboxOptions {
            size,
            burst_limit: 100_000,
            ..SandboxOptions::default()
        })
        .unwrap()
    }

    fn secs(v: &Value) -> i64 {
        let s = v.as_str().unwrap();
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp())
            .unwrap_or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                    .unwrap()
                    .and_utc()
                    .timestamp()
            })
    }

    /// The ids a filter should return, computed the slow way from `records()`.
    fn brute(
        records: &[Value],
        keep: impl Fn(&Value) -> bool,
        by_update: bool,
        desc: bool,
    ) -> Vec<Value> {
        let mut rows: Vec<&Value> = records.iter().filter(|r| keep(r)).collect();
        rows.sort_by_key(|r| {
            (
                if by_update {
                    secs(&r["update_time"])
                } else {
                    0
                },
                r["id"].as_u64(),
            )
        });
        if desc {
            rows.reverse();
        }
        rows.iter().map(|r| r["id"].clone()).collect()
    }

    #[test]
    fn cursor_pagination_visits_every_deal_once() {
        let sandbox = start(1234);
        let mut client = Client::new(&sandbox);
        let deals = sandbox.dataset().records(Resource::Deals);
        let live = |d: &Value| d["status"] != "deleted";
        for limit in [100, 500] {
            for desc in [false, true] {
                let direction = if desc { "desc" } else { "asc" };
                let got = client.walk_cursor(&format!(
                    "/api/v2/deals?sort_by=update_time&sort_direction={direction}&limit={limit}"
                ));
                assert_eq!(got, brute(&deals, live, true, desc));
            }
        }
        assert_eq!(
            client.walk_cursor("/api/v2/deals?limit=100"),
            brute(&deals, live, false, false)
        );
        assert_eq!(client.walk_cursor("/api/v2/stages?pipeline_id=2").len(), 5);
        assert_eq!(
            client
                .walk_cursor("/api/v2/pipelines?sort_by=update_time")
                .len(),
            3
        );
    }

    #[test]
    fn filters_match_brute_force() {
        let sandbox = start(900);
        let mut client = Client::new(&sandbox);
        let deals = sandbox.dataset().records(Resource::Deals);
        let (since, until) = (
            secs(&deals[200]["update_time"]),
            secs(&deals[700]["update_time"]),
        );
        let fmt = |t: i64| {
            DateTime::<Utc>::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let target = format!(
            "/api/v2/deals?sort_by=update_time&sort_direction=desc&limit=50&status=won,deleted&updated_since={}&updated_until={}",
            fmt(since).replace(':', "%3A"),
            fmt(until)
        );
        let want = brute(
            &deals,
            |d| {
                let t = secs(&d["update_time"]);
                (d["status"] == "won" || d["status"] == "deleted") && t >= since && t < until
            },
            true,
            true,
        );
        assert!(want.len() > 50);
        assert_eq!(client.walk_cursor(&target), want);

        let notes = sandbox.dataset().records(Resource::Notes);
        let since = secs(&notes[450]["update_time"]);
        let target = format!(
            "/v1/notes?limit=100&sort=update_time%20DESC&updated_since={}",
            fmt(since)
        );
        let want = brute(&notes, |n| secs(&n["update_time"]) >= since, true, true);
        assert_eq!(client.walk_offset(&target), want);
        let leads = client.walk_offset("/api/v1/leads?limit=100&sort=update_time+ASC");
        assert_eq!(leads.len(), 900);
        assert_eq!(client.walk_offset("/v1/files?limit=100").len(), 900);
    }

    /// v2 takes the token only from the header (v1 also from `api_token`: `legacy_routes`).
    #[test]
    fn token_only_from_the_header() {
        let sandbox = start(10);
        let mut client = Client::new(&sandbox);
        client.token = None;
        let reply = client.get("/api/v2/deals?api_token=sandbox-api-key");
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.body,
            json!({"success": false, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO})
        );
        client.token = Some("wrong".into());
        assert_eq!(client.get("/v1/users").status, 401);
        let log = sandbox.requests();
        assert_eq!(log.len(), 2);
        assert!(log
            .iter()
            .all(|e| !e.authorized && e.token_cost == 0 && e.status == 401));
        assert_eq!(log[0].raw_target, "/api/v2/deals?api_token=sandbox-api-key");
        assert_eq!(
            log[0].query,
            vec![("api_token".to_string(), "sandbox-api-key".to_string())]
        );
    }

    #[test]
    fn limits_are_capped_and_validated() {
        let sandbox = start(700);
        let mut client = Client::new(&sandbox);
        assert_eq!(client.get("/api/v2/persons?limit=1000").ids().len(), 500);
        assert_eq!(client.get("/api/v2/persons").ids().len(), 100);
        for bad in [
            "limit=0",
            "limit=abc",
            "limit=-1",
            "sort_by=name",
            "sort_direction=up",
            "cursor=%%%",
            "updated_since=yesterday",
        ] {
            let reply = client.get(&format!("/api/v2/persons?{bad}"));
            assert_eq!(reply.status, 400, "{bad}");
            assert_eq!(reply.body["success"], false);
            assert_eq!(reply.body["error_info"], ERROR_INFO);
        }
        assert_eq!(client.get("/api/v2/deals?status=archived").status, 400);
        let files = client.get("/v1/files?limit=500");
        assert_eq!(files.ids().len(), 100);
        assert_eq!(files.body["additional_data"]["pagination"]["limit"], 100);
        assert_eq!(
            files.body["additional_data"]["pagination"]["next_start"],
            100
        );
        let cursor = client.get("/api/v2/persons?sort_by=update_time").body["additional_data"]
            ["next_cursor"]
            .clone();
        let reuse = client.get(&format!(
            "/api/v2/persons?sort_by=id&cursor={}",
            cursor.as_str().unwrap()
        ));
        assert_eq!(reuse.status, 400);
    }

    #[test]
    fn burst_limit_answers_429_with_headers() {
        let sandbox = Sandbox::start(SandboxOptions {
            burst_limit: 5,
            ..SandboxOptions::default()
        })
        .unwrap();
        let mut client = Client::new(&sandbox);
        for k in 0..5 {
            let reply = client.get("/api/v2/pipelines");
            assert_eq!(reply.status, 200);
            assert_eq!(reply.header("x-ratelimit-limit"), Some("5"));
            assert_eq!(
                reply.header("x-ratelimit-remaining"),
                Some((4 - k).to_string().as_str())
            );
        }
        let reply = client.get("/api/v2/pipelines");
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
        let reset: u64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=2).contains(&reset));
        assert_eq!(reply.body["success"], false);
        assert_eq!(sandbox.requests().last().unwrap().token_cost, 0);
        thread::sleep(Duration::from_millis(2100));
        assert_eq!(client.get("/api/v2/pipelines").status, 200);
    }

    #[test]
    fn daily_budget_spends_token_costs() {
        let sandbox = Sandbox::start(SandboxOptions {
            daily_token_budget: Some(25),
            ..SandboxOptions::default()
        })
        .unwrap();
        let mut client = Client::new(&sandbox);
        let first = client.get("/api/v2/deals");
        assert_eq!(first.header("x-daily-ratelimit-token-limit"), Some("25"));
        assert_eq!(
            first.header("x-daily-ratelimit-token-remaining"),
            Some("15")
        );
        assert_eq!(client.get("/api/v2/stages").status, 200);
        assert_eq!(client.get("/v1/users/me").status, 200);
        assert_eq!(client.get("/v1/leadLabels").status, 200);
        let spent = client.get("/api/v2/deals");
        assert_eq!(spent.status, 429);
        assert_eq!(spent.header("x-daily-ratelimit-token-remaining"), Some("0"));
        assert_ne!(spent.header("x-ratelimit-remaining"), Some("0"));
        let costs: Vec<u64> = sandbox.requests().iter().map(|e| e.token_cost).collect();
        assert_eq!(costs, [10, 5, 2, 10, 0]);
        sandbox.advance_clock(chrono::Duration::days(1));
        assert_eq!(client.get("/api/v2/deals").status, 200);
    }

    #[test]
    fn empty_v1_page_has_null_data() {
        let sandbox = start(30);
        let mut client = Client::new(&sandbox);
        let reply = client.get("/v1/notes?start=30");
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            json!({"success": true, "data": null, "additional_data": {"pagination": {"start": 30, "limit": 100, "more_items_in_collection": false}}})
        );
        assert!(client
            .get("/v1/leads?updated_since=2030-01-01T00:00:00Z")
            .body["data"]
            .is_null());
        assert_eq!(
            client
                .get("/api/v2/deals?updated_since=2030-01-01T00:00:00Z")
                .body["data"],
            json!([])
        );
    }

    #[test]
    fn overlay_changes_show_up_in_incremental_reads() {
        let sandbox = start(300);
        let mut client = Client::new(&sandbox);
        let since = sandbox.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        sandbox.advance_clock(chrono::Duration::minutes(5));
        let touched = sandbox.touch(Resource::Persons, &json!(7));
        let inserted = sandbox.insert(Resource::Persons);
        sandbox.delete(Resource::Persons, &json!(8));
        sandbox.delete(Resource::Deals, &json!(9));
        assert_eq!(inserted["id"], 301);
        assert_eq!(
            touched["update_time"],
            sandbox.now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
        );
        let changed = client.walk_cursor(&format!(
            "/api/v2/persons?sort_by=update_time&updated_since={since}"
        ));
        assert_eq!(changed, vec![json!(7), json!(301)]);
        let all = client.walk_cursor("/api/v2/persons?limit=500");
        assert_eq!(all.len(), 300);
        assert!(!all.contains(&json!(8)));
        let deleted = client.walk_cursor(&format!(
            "/api/v2/deals?status=deleted&updated_since={since}"
        ));
        assert_eq!(deleted, vec![json!(9)]);
        assert!(!client
            .walk_cursor(&format!("/api/v2/deals?updated_since={since}"))
            .contains(&json!(9)));
        let people = sandbox.dataset().records(Resource::Persons);
        assert_eq!(people.iter().find(|p| p["id"] == 7).unwrap(), &touched);
        let note = sandbox.insert(Resource::Notes);
        let served =
            client.get("/v1/notes?sort=update_time%20DESC&limit=1").body["data"][0].clone();
        assert_eq!(served, note);
    }

    #[test]
    fn routes_errors_and_headers() {
        let sandbox = Sandbox::start(SandboxOptions {
            deny: vec![("/v1/users".into(), 403)],
            ..SandboxOptions::default()
        })
        .unwrap();
        let mut client = Client::new(&sandbox);
        let missing = client.get("/api/v2/nothing");
        assert_eq!(missing.status, 404);
        assert_eq!(missing.body["error"], "Unknown method .");
        assert_eq!(client.request("POST", "/api/v2/deals").status, 405);
        assert_eq!(client.get("/api/v1/users/me").status, 403);
        let labels = client.get("/api/v1/leadLabels");
        assert_eq!(labels.ids().len(), 4);
        assert!(labels.body.get("additional_data").is_none());
        let date = labels.header("Date").unwrap();
        let served = DateTime::parse_from_rfc2822(date).unwrap();
        assert!((served.timestamp() - sandbox.now().timestamp()).abs() <= 2);
        assert!(Utc::now().timestamp() - served.timestamp() >= 3599);
        assert_eq!(labels.header("Content-Type"), Some("application/json"));
        assert_eq!(client.get("/v1/filters?type=deals").ids().len(), 2);
        let log = sandbox.requests();
        assert_eq!(log.len(), 5);
        assert_eq!(log[2].path, "/api/v1/users/me");
        assert_eq!(log[2].status, 403);
    }

    #[test]
    fn users_me_is_the_first_user_with_company_fields() {
        let sandbox = start(10);
        let me = Client::new(&sandbox).get("/v1/users/me").body["data"].clone();
        assert_eq!(me["id"], 1);
        assert_eq!(me["is_you"], true);
        assert_eq!(me["company_domain"], "sandbox");
        assert!(me["company_id"].is_u64());
    }

    #[test]
    fn connection_close_and_hangups_are_tolerated() {
        let sandbox = start(10);
        let mut stream = TcpStream::connect(sandbox.addr).unwrap();
        stream.write_all(b"GET /v1/users HTTP/1.1\r\nx-api-token: sandbox-api-key\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(response.contains("Connection: close\r\n"));
        let mut half = TcpStream::connect(sandbox.addr).unwrap();
        half.write_all(b"GET /v1/us").unwrap();
        drop(half);
        assert_eq!(Client::new(&sandbox).get("/v1/users").status, 200);
    }

    #[test]
    fn a_million_records_page_quickly() {
        let sandbox = start(1_000_000);
        let mut client = Client::new(&sandbox);
        let first = client
            .get("/api/v2/deals?sort_by=update_time&limit=500&updated_since=2024-06-01T00:00:00Z");
        assert_eq!(first.ids().len(), 500);
        let cursor = first.body["additional_data"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_string();
        let next = client.get(&format!("/api/v2/deals?sort_by=update_time&limit=500&updated_since=2024-06-01T00:00:00Z&cursor={cursor}"));
        assert_eq!(next.ids().len(), 500);
        let last = client.get("/v1/notes?start=999900&limit=500");
        assert_eq!(last.ids().len(), 100);
        assert_eq!(last.ids()[99], 1_000_000);
        let deleted = client.get("/api/v2/deals?status=deleted&sort_direction=desc&limit=500");
        assert_eq!(deleted.ids().len(), 500);

        // The lists added later stay as cheap: no request walks the base records.
        let archived = client.get(
            "/api/v2/deals/archived?sort_by=update_time&sort_direction=desc&limit=500&updated_until=2025-06-01T00:00:00Z",
        );
        assert_eq!(archived.ids().len(), 500);
        let cursor = archived.body["additional_data"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_string();
        let next = client.get(&format!("/api/v2/deals/archived?sort_by=update_time&sort_direction=desc&limit=500&updated_until=2025-06-01T00:00:00Z&cursor={cursor}"));
        assert_eq!(next.ids().len(), 500);
        let threads = client.get("/v1/mailbox/mailThreads?folder=archive&start=24900&limit=500");
        assert_eq!(threads.ids().len(), 100);
        assert_eq!(threads.ids()[99], 100_000);
        assert_eq!(
            client.get("/v1/callLogs?start=99990&limit=50").ids().len(),
            10
        );
        assert_eq!(
            client
                .get("/v1/leads/archived?start=99900&limit=500&sort=update_time%20DESC")
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            100
        );
        for target in [
            "/api/v2/projects?limit=500&status=deleted",
            "/api/v2/tasks?limit=500",
        ] {
            assert_eq!(client.get(target).ids().len(), 500, "{target}");
        }
        let ids: Vec<String> = (999_901..=1_000_000).map(|i| i.to_string()).collect();
        let products = client.get(&format!(
            "/api/v2/deals/products?limit=500&sort_by=update_time&deal_ids={}",
            ids.join(",")
        ));
        assert_eq!(products.status, 200);
        assert!(products.ids().len() > 50);
        assert_eq!(
            client.get("/v1/deals/1000000/changelog?limit=500").status,
            200
        );
    }

    /// Rows minus the ones an endpoint leaves out by default (deleted deals and projects).
    fn listed(records: Vec<Value>) -> Vec<Value> {
        ids_of(
            &records
                .into_iter()
                .filter(|r| r["status"] != "deleted")
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn new_lists_serve_every_record_exactly_once() {
        let sandbox = start(1234);
        let mut client = Client::new(&sandbox);
        let data = sandbox.dataset();

        let archived = data.records(Resource::ArchivedDeals);
        assert_eq!(archived.len(), 123);
        let by_update = brute(&archived, |d| d["status"] != "deleted", true, true);
        assert_eq!(
            client.walk_cursor(
                "/api/v2/deals/archived?sort_by=update_time&sort_direction=desc&limit=7"
            ),
            by_update
        );
        assert_eq!(
            client.walk_cursor("/api/v2/deals/archived?limit=10&status=open,won,lost,deleted"),
            ids_of(&archived)
        );
        let since = secs(&archived[40]["update_time"]);
        let until = secs(&archived[90]["update_time"]);
        assert_eq!(
            client.walk_cursor(&format!(
                "/api/v2/deals/archived?limit=9&sort_by=update_time&status=won&updated_since={}&updated_until={}",
                archived[40]["update_time"].as_str().unwrap(),
                archived[90]["update_time"].as_str().unwrap()
            )),
            brute(
                &archived,
                |d| d["status"] == "won" && (since..until).contains(&secs(&d["update_time"])),
                true,
                false
            )
        );

        for (path, r) in [
            ("/api/v2/projects", Resource::Projects),
            ("/api/v2/projects/archived", Resource::ArchivedProjects),
        ] {
            let want = listed(data.records(r));
            assert!(want.len() > 40, "{path}");
            // No sort or update filters on these endpoints: the parameters are ignored.
            let target = format!(
                "{path}?limit=6&sort_by=update_time&sort_direction=desc&updated_since=2030-01-01T00:00:00Z"
            );
            assert_eq!(client.walk_cursor(&target), want, "{path}");
            let deleted = client.walk_cursor(&format!("{path}?limit=500&status=deleted"));
            assert_eq!(
                deleted,
                ids_of(
                    &data
                        .records(r)
                        .into_iter()
                        .filter(|p| p["status"] == "deleted")
                        .collect::<Vec<_>>()
                )
            );
        }
        assert_eq!(
            client.walk_cursor("/api/v2/tasks?limit=13"),
            ids_of(&data.records(Resource::Tasks))
        );
        assert_eq!(
            client.walk_cursor("/api/v2/projectTemplates?limit=2"),
            ids_of(&data.records(Resource::ProjectTemplates))
        );

        let leads = data.records(Resource::ArchivedLeads);
        assert!(leads.iter().all(|l| l["is_archived"] == true));
        let live: Vec<Value> = ids_of(&data.records(Resource::Leads));
        assert!(leads.iter().all(|l| !live.contains(&l["id"])));
        assert_eq!(
            client.walk_offset("/v1/leads/archived?limit=9"),
            ids_of(&leads)
        );
        let mut newest = ids_of(&leads);
        newest.reverse();
        assert_eq!(
            client.walk_offset("/v1/leads/archived?limit=50&sort=update_time%20DESC"),
            newest
        );
        assert_eq!(
            client.walk_offset("/v1/roles?limit=2"),
            ids_of(&data.records(Resource::Roles))
        );
        assert_eq!(
            client.walk_offset("/v1/callLogs?limit=500"),
            ids_of(&data.records(Resource::CallLogs))
        );

        let threads = data.records(Resource::MailThreads);
        let mut seen = Vec::new();
        for folder in MAIL_FOLDERS {
            let rows = client.walk_blind(&format!("/v1/mailbox/mailThreads?folder={folder}"), 7);
            assert!(!rows.is_empty(), "{folder}");
            assert!(rows.iter().all(|t| t["folders"] == json!([folder])));
            seen.extend(ids_of(&rows));
        }
        assert_eq!(seen, ids_of(&threads));

        for (path, r) in [
            ("/v1/leadSources", Resource::LeadSources),
            ("/v1/permissionSets", Resource::PermissionSets),
            ("/v1/webhooks", Resource::Webhooks),
            ("/api/v2/boards", Resource::ProjectBoards),
        ] {
            let reply = client.get(path);
            assert_eq!(reply.body["data"], json!(data.records(r)), "{path}");
        }
        let goals = client.get("/v1/goals/find");
        assert_eq!(
            goals.body["data"]["goals"],
            json!(data.records(Resource::Goals))
        );
        assert!(client.get("/api/v2/boards").body["additional_data"].is_null());
        assert_eq!(client.get("/v1/permissionSets?app=global").ids().len(), 2);
        assert_eq!(
            client.get("/v1/leadSources").body["data"][0],
            json!({"name": "Manually created"})
        );
    }

    #[test]
    fn archived_deals_are_other_deals() {
        let sandbox = start(500);
        let mut client = Client::new(&sandbox);
        let all = "status=open,won,lost,deleted&limit=500";
        let live = client.walk_cursor(&format!("/api/v2/deals?{all}"));
        let archived = client.walk_cursor(&format!("/api/v2/deals/archived?{all}"));
        assert_eq!((live.len(), archived.len()), (500, 50));
        assert!(archived.iter().all(|id| !live.contains(id)));
        for d in sandbox.dataset().records(Resource::ArchivedDeals) {
            assert_eq!(d["is_archived"], true);
            assert!(secs(&d["archive_time"]) <= secs(&d["update_time"]));
        }
        assert!(sandbox
            .dataset()
            .records(Resource::Deals)
            .iter()
            .all(|d| d["is_archived"] == false && d["archive_time"].is_null()));

        // Test edits work on archived deals as on deals, and never leak into /deals.
        let since = sandbox.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        sandbox.advance_clock(chrono::Duration::minutes(1));
        let touched = sandbox.touch(Resource::ArchivedDeals, &archived[0]);
        let inserted = sandbox.insert(Resource::ArchivedDeals);
        sandbox.delete(Resource::ArchivedDeals, &archived[1]);
        assert_eq!(inserted["is_archived"], true);
        let changed = client.walk_cursor(&format!(
            "/api/v2/deals/archived?sort_by=update_time&{all}&updated_since={since}"
        ));
        assert_eq!(
            changed,
            vec![
                touched["id"].clone(),
                archived[1].clone(),
                inserted["id"].clone()
            ]
        );
        assert!(!client
            .walk_cursor(&format!(
                "/api/v2/deals/archived?updated_since={since}&limit=500"
            ))
            .contains(&archived[1]));
        assert!(!client
            .walk_cursor(&format!("/api/v2/deals?{all}&updated_since={since}"))
            .contains(&inserted["id"]));
    }

    #[test]
    fn child_endpoints_serve_what_children_says() {
        let sandbox = start(300);
        let mut client = Client::new(&sandbox);
        let data = sandbox.dataset();
        let deals: Vec<Value> = ids_of(&data.records(Resource::Deals));
        let archived: Vec<Value> = ids_of(&data.records(Resource::ArchivedDeals));

        for id in deals.iter().take(20).chain(&archived[..3]) {
            let products = data.children(Resource::DealProducts, id);
            assert_eq!(
                client.walk_cursor_rows(&format!("/api/v2/deals/{id}/products?limit=1")),
                products
            );
            assert_eq!(
                client.walk_cursor_rows(&format!("/v1/deals/{id}/changelog?limit=1")),
                data.children(Resource::DealChangelog, id)
            );
        }
        // Batches: every product of every deal named, once, in the order asked for.
        let batch: Vec<Value> = deals[..99].iter().chain(&archived[..1]).cloned().collect();
        let list = batch
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(",");
        for (r, path, sort) in [
            (Resource::DealProducts, "products", "update_time"),
            (Resource::DealProducts, "products", "deal_id"),
            (Resource::DealProducts, "products", "order_nr"),
            (Resource::DealInstallments, "installments", "billing_date"),
            (Resource::DealInstallments, "installments", "deal_id"),
        ] {
            let mut want: Vec<Value> = batch.iter().flat_map(|d| data.children(r, d)).collect();
            let value = |v: &Value| match &v[sort] {
                Value::String(s) => s.clone(),
                other => format!("{:020}", other.as_u64().unwrap()),
            };
            want.sort_by_key(|v| (value(v), v["id"].as_u64()));
            want.reverse();
            assert!(want.len() > 20, "{path}");
            let got = client.walk_cursor_rows(&format!(
                "/api/v2/deals/{path}?deal_ids={list}&limit=7&sort_by={sort}&sort_direction=desc"
            ));
            assert_eq!(ids_of(&got), ids_of(&want), "{path} by {sort}");
            let mut by_id = ids_of(&want);
            by_id.sort_by_key(Value::as_u64);
            assert_eq!(
                client.walk_cursor(&format!("/api/v2/deals/{path}?deal_ids={list}&limit=11")),
                by_id
            );
        }

        for product in ids_of(&data.records(Resource::Products)).iter().take(20) {
            assert_eq!(
                client.walk_cursor_rows(&format!("/api/v2/products/{product}/variations?limit=1")),
                data.children(Resource::ProductVariations, product)
            );
        }
        for role in ids_of(&data.records(Resource::Roles)) {
            assert_eq!(
                client.walk_offset_rows(&format!("/v1/roles/{role}/assignments?limit=1")),
                data.children(Resource::RoleAssignments, &role)
            );
        }
        for set in ids_of(&data.records(Resource::PermissionSets)) {
            let set = set.as_str().unwrap().to_string();
            assert_eq!(
                client.walk_blind(&format!("/v1/permissionSets/{set}/assignments?x=1"), 1),
                data.children(Resource::PermissionSetAssignments, &json!(set))
            );
        }
        for thread in ids_of(&data.records(Resource::MailThreads)) {
            let reply = client.get(&format!("/v1/mailbox/mailThreads/{thread}/mailMessages"));
            assert_eq!(
                reply.body["data"],
                json!(data.children(Resource::MailMessages, &thread))
            );
        }
        for note in ids_of(&data.records(Resource::Notes)).iter().take(30) {
            assert_eq!(
                client.walk_offset_rows(&format!("/v1/notes/{note}/comments?limit=1")),
                data.children(Resource::NoteComments, note)
            );
        }
        for board in ids_of(&data.records(Resource::ProjectBoards)) {
            let reply = client.get(&format!("/api/v2/phases?board_id={board}"));
            assert_eq!(
                reply.body,
                json!({"success": true, "data": data.children(Resource::ProjectPhases, &board), "additional_data": null})
            );
        }
        for user in ids_of(&data.records(Resource::Users)) {
            let reply = client.get(&format!("/v1/users/{user}/permissions"));
            assert_eq!(
                vec![reply.body["data"].clone()],
                data.children(Resource::UserPermissions, &user)
            );
        }

        for missing in [
            "/v1/deals/301/changelog",
            "/api/v2/deals/0/products",
            "/api/v2/products/999/variations",
            "/v1/notes/301/comments",
            "/v1/users/13/permissions",
            "/v1/roles/6/assignments",
            "/v1/permissionSets/nope/assignments",
            "/v1/mailbox/mailThreads/31/mailMessages",
        ] {
            let reply = client.get(missing);
            assert_eq!(reply.status, 404, "{missing}");
            assert_eq!(reply.body["success"], false);
        }
        assert_eq!(client.get("/v1/deals/abc/changelog").status, 400);
    }

    #[test]
    fn a_touched_deal_logs_the_change() {
        let sandbox = start(50);
        let mut client = Client::new(&sandbox);
        let before = sandbox
            .dataset()
            .children(Resource::DealChangelog, &json!(5));
        let deal = &sandbox.dataset().records(Resource::Deals)[4];
        let last = before.last().unwrap()["time"]
            .as_str()
            .unwrap()
            .replace(' ', "T")
            + "Z";
        assert_eq!(last, deal["update_time"]);
        assert!(before.iter().all(|row| row.get("deal_id").is_none()));
        sandbox.advance_clock(chrono::Duration::minutes(3));
        let touched = sandbox.touch(Resource::Deals, &json!(5));
        let rows = client.walk_cursor_rows("/v1/deals/5/changelog?limit=500");
        assert_eq!(rows.len(), before.len() + 1);
        let row = rows.last().unwrap();
        assert_eq!(row["field_key"], "title");
        assert_eq!(row["new_value"], touched["title"]);
        assert_eq!(row["old_value"], deal["title"]);
        assert_eq!(
            row["time"],
            sandbox.now().format("%Y-%m-%d %H:%M:%S").to_string()
        );
        // Children derived from the deal's original times do not move with the edit.
        assert_eq!(
            sandbox
                .dataset()
                .children(Resource::DealProducts, &json!(5)),
            client.walk_cursor_rows("/api/v2/deals/5/products?limit=500")
        );
    }

    #[test]
    fn new_endpoints_validate_their_parameters() {
        let sandbox = start(300);
        let mut client = Client::new(&sandbox);
        let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
        let hundred = hundred.join(",");
        for path in ["/api/v2/deals/products", "/api/v2/deals/installments"] {
            for bad in [
                String::new(),
                "deal_ids=".into(),
                "deal_ids=1,x".into(),
                format!("deal_ids={hundred},101"),
                "deal_ids=1&sort_by=name".into(),
            ] {
                let reply = client.get(&format!("{path}?{bad}"));
                assert_eq!(reply.status, 400, "{path}?{bad}");
                assert_eq!(reply.body["error_info"], ERROR_INFO);
            }
            assert_eq!(
                client.get(&format!("{path}?deal_ids={hundred}")).status,
                200
            );
        }
        assert_eq!(
            client
                .get("/api/v2/deals/1/products?sort_by=deal_id")
                .status,
            400
        );
        assert_eq!(
            client
                .get("/api/v2/deals/installments?deal_ids=1&sort_by=order_nr")
                .status,
            400
        );
        for bad in ["", "?folder=spam", "?folder="] {
            assert_eq!(
                client.get(&format!("/v1/mailbox/mailThreads{bad}")).status,
                400
            );
        }
        assert_eq!(client.get("/api/v2/phases").status, 400);
        assert_eq!(client.get("/api/v2/phases?board_id=x").status, 400);
        assert_eq!(client.get("/api/v2/projects?status=archived").status, 400);
        assert_eq!(client.get("/v1/deals/1/changelog?cursor=zzz").status, 400);

        let many = start(1000);
        let mut other = Client::new(&many);
        let capped = other.get("/v1/callLogs?limit=500");
        assert_eq!(capped.ids().len(), 50);
        let pagination = &capped.body["additional_data"]["pagination"];
        assert_eq!(pagination["limit"], 50);
        assert_eq!(pagination["more_items_in_collection"], true);
        assert!(pagination.get("next_start").is_none());
        assert_eq!(other.get("/v1/callLogs").ids().len(), 50);

        // `/v1/leads/archived` has no `updated_since`: the parameter changes nothing.
        assert_eq!(
            client
                .get("/v1/leads/archived?updated_since=2030-01-01T00:00:00Z")
                .body,
            client.get("/v1/leads/archived").body
        );
    }

    #[test]
    fn new_endpoints_cost_their_tokens() {
        let sandbox = start(30);
        let mut client = Client::new(&sandbox);
        let targets = [
            ("/api/v2/deals/archived", 20),
            ("/v1/leads/archived", 40),
            ("/api/v2/deals/products?deal_ids=1", 10),
            ("/api/v2/deals/1/products", 10),
            ("/api/v2/deals/installments?deal_ids=1", 10),
            ("/v1/deals/1/changelog", 20),
            ("/api/v2/products/1/variations", 10),
            ("/v1/leadSources", 2),
            ("/v1/goals/find", 20),
            ("/v1/roles", 20),
            ("/v1/roles/1/assignments", 20),
            ("/v1/permissionSets", 20),
            ("/v1/callLogs", 20),
            ("/v1/mailbox/mailThreads?folder=inbox", 20),
            ("/v1/mailbox/mailThreads/1/mailMessages", 20),
            ("/api/v2/projects", 10),
            ("/api/v2/projects/archived", 10),
            ("/api/v2/tasks", 10),
            ("/api/v2/boards", 5),
            ("/api/v2/phases?board_id=1", 5),
            ("/api/v2/projectTemplates", 10),
            ("/v1/notes/1/comments", 20),
            ("/v1/webhooks", 10),
            ("/v1/users/1/permissions", 20),
        ];
        for (target, _) in targets {
            assert_eq!(client.get(target).status, 200, "{target}");
        }
        let costs: Vec<u64> = sandbox.requests().iter().map(|e| e.token_cost).collect();
        assert_eq!(costs, targets.map(|(_, cost)| cost));
    }

    #[test]
    fn field_lists_page_and_cost_like_their_endpoints() {
        let sandbox = start(60);
        let mut client = Client::new(&sandbox);
        let data = sandbox.dataset();
        for (path, r) in [
            ("/api/v2/dealFields", Resource::DealFields),
            ("/api/v2/personFields", Resource::PersonFields),
            ("/api/v2/organizationFields", Resource::OrganizationFields),
            ("/api/v2/productFields", Resource::ProductFields),
            ("/api/v2/activityFields", Resource::ActivityFields),
            ("/api/v2/projectFields", Resource::ProjectFields),
        ] {
            let all = data.records(r);
            assert!(all.len() > 7, "{path}");
            assert_eq!(
                client.walk_cursor_rows(&format!("{path}?limit=7")),
                all,
                "{path}"
            );
            let one = client.get(&format!("{path}?limit=1000"));
            assert_eq!(one.body["data"], json!(all));
            assert!(one.body["additional_data"]["next_cursor"].is_null());
        }
        let leads = data.records(Resource::LeadFields);
        assert_eq!(client.walk_offset_rows("/v1/leadFields?limit=5"), leads);
        let notes = client.get("/v1/noteFields?limit=1");
        assert_eq!(
            notes.body["data"],
            json!(data.records(Resource::NoteFields))
        );
        let costs: Vec<u64> = sandbox.requests().iter().map(|e| e.token_cost).collect();
        assert_eq!(costs.last(), Some(&20));
        assert!(sandbox
            .requests()
            .iter()
            .all(|e| e.token_cost == if e.path.starts_with("/v1/") { 20 } else { 10 }));

        // Optional namespaces, where the endpoint has them.
        let full = client.get(
            "/api/v2/dealFields?include_fields=ui_visibility,important_fields,required_fields",
        );
        for def in full.body["data"].as_array().unwrap() {
            assert!(
                def["ui_visibility"]["show_in_pipelines"].is_object(),
                "{def}"
            );
            assert!(def["important_fields"]["stage_ids"].is_array());
            assert!(def["required_fields"]["enabled"].is_boolean());
        }
        let products = client.get("/api/v2/productFields?include_fields=ui_visibility");
        assert!(products.body["data"][0]["ui_visibility"].is_object());
        assert_eq!(
            client
                .get("/api/v2/productFields?include_fields=required_fields")
                .status,
            400
        );
        assert_eq!(client.get("/api/v2/dealFields?cursor=nope").status, 400);

        // Test edits show in what is served.
        let key = sandbox.add_field(Resource::DealFields, "Added later", "daterange");
        sandbox.rename_field(Resource::DealFields, &key, "Renamed later");
        let served = client.walk_cursor_rows("/api/v2/dealFields?limit=500");
        let def = served
            .iter()
            .find(|d| d["field_code"] == key.as_str())
            .unwrap();
        assert_eq!(def["field_name"], "Renamed later");
        assert_eq!(def["subfields"][0]["field_code"], format!("{key}_until"));
        let touched = sandbox.touch(Resource::Deals, &json!(3));
        let deal =
            client.get("/api/v2/deals?ids=3&sort_by=update_time&sort_direction=desc&limit=1");
        assert_eq!(deal.body["data"][0], touched);
        assert!(touched["custom_fields"][&key]["until"].is_string());
    }

    /// A sandbox that injects faults, with limits out of the way.
    fn faulty(faults: Faults) -> Sandbox {
        Sandbox::start(SandboxOptions {
            size: 20,
            burst_limit: 100_000,
            faults,
            ..SandboxOptions::default()
        })
        .unwrap()
    }

    /// Sends a request on a fresh connection and returns everything until the server closes.
    fn raw_get(sandbox: &Sandbox, target: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(sandbox.addr).unwrap();
        stream
            .write_all(format!("GET {target} HTTP/1.1\r\nx-api-token: sandbox-api-key\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn faults_follow_their_rates_and_seed() {
        let faults = Faults {
            seed: 7,
            server_error_rate: 0.1,
            html_rate: 0.05,
            slow_rate: 0.05,
            slow_by: Duration::from_millis(1),
            ..Faults::default()
        };
        let run = || {
            let sandbox = faulty(faults.clone());
            let mut client = Client::new(&sandbox);
            for k in 0..2000 {
                let reply = client.get(if k % 2 == 0 {
                    "/api/v2/stages"
                } else {
                    "/v1/users/me"
                });
                let entry = sandbox.requests().pop().unwrap();
                assert_eq!(reply.status, entry.status);
                match entry.fault.as_deref() {
                    Some("html") => {
                        assert_eq!(
                            (reply.status, reply.header("Content-Type")),
                            (200, Some("text/html; charset=UTF-8"))
                        );
                        assert!(reply.header("x-ratelimit-remaining").is_none());
                        assert_eq!(entry.token_cost, 0);
                    }
                    Some("server_error_503_html") => {
                        assert!(reply.body.as_str().unwrap().contains("maintenance"))
                    }
                    Some(f) if f.starts_with("server_error_") => {
                        assert_eq!(f, format!("server_error_{}", reply.status));
                        assert_eq!(reply.body["error_info"], ERROR_INFO);
                        assert_eq!(entry.token_cost, 0);
                    }
                    Some(f) => {
                        assert_eq!((f, reply.status, entry.token_cost), ("slow", 200, 5));
                    }
                    None => assert_eq!(reply.status, 200),
                }
            }
            sandbox.requests()
        };
        let log = run();
        let share = |name: &str| {
            log.iter()
                .filter(|e| e.fault.as_deref().is_some_and(|f| f.starts_with(name)))
                .count() as f64
                / 1000.0
        };
        // Only the data endpoint (every other request) can fail.
        assert!(log
            .iter()
            .filter(|e| e.path == "/v1/users/me")
            .all(|e| e.fault.is_none()));
        assert!(
            (0.07..0.13).contains(&share("server_error")),
            "{}",
            share("server_error")
        );
        assert!((0.03..0.07).contains(&share("html")), "{}", share("html"));
        assert!((0.03..0.07).contains(&share("slow")), "{}", share("slow"));
        for status in [500, 502, 503] {
            assert!(log.iter().any(|e| e.status == status), "{status}");
        }
        assert!(log
            .iter()
            .any(|e| e.fault.as_deref() == Some("server_error_503_html")));
        let faults_of =
            |log: &[RequestLogEntry]| log.iter().map(|e| e.fault.clone()).collect::<Vec<_>>();
        assert_eq!(faults_of(&run()), faults_of(&log), "same seed, same faults");
        let other = Faults {
            seed: 8,
            ..faults.clone()
        };
        let sandbox = faulty(other);
        let mut client = Client::new(&sandbox);
        for _ in 0..200 {
            client.get("/api/v2/stages");
        }
        assert_ne!(
            faults_of(&sandbox.requests()),
            faults_of(&log)[..200].to_vec()
        );
    }

    #[test]
    fn truncated_and_slow_answers() {
        let sandbox = faulty(Faults {
            seed: 1,
            truncate_rate: 1.0,
            ..Faults::default()
        });
        let response = raw_get(&sandbox, "/api/v2/deals?limit=20");
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK"));
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(body.len() < length, "{} of {length} bytes", body.len());
        assert!(serde_json::from_str::<Value>(body).is_err());
        // A client reading Content-Length bytes meets the end of the stream.
        let stream = TcpStream::connect(sandbox.addr).unwrap();
        let mut reader = BufReader::new(stream);
        reader
            .get_mut()
            .write_all(b"GET /api/v2/deals HTTP/1.1\r\nx-api-token: sandbox-api-key\r\n\r\n")
            .unwrap();
        let mut line = String::new();
        let mut length = 0;
        while reader.read_line(&mut line).unwrap() > 2 {
            if let Some(v) = line.trim_end().strip_prefix("Content-Length: ") {
                length = v.parse().unwrap();
            }
            line.clear();
        }
        let mut body = vec![0; length];
        let err = reader.read_exact(&mut body).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let log = sandbox.requests();
        assert!(log
            .iter()
            .all(|e| e.fault.as_deref() == Some("truncate") && e.token_cost == 10));
        // `/v1/users/me` is spared unless asked for.
        assert!(String::from_utf8_lossy(&raw_get(&sandbox, "/v1/users/me")).ends_with('}'));
        let me = faulty(Faults {
            html_rate: 1.0,
            include_users_me: true,
            ..Faults::default()
        });
        assert!(String::from_utf8_lossy(&raw_get(&me, "/v1/users/me")).contains("text/html"));

        let slow = faulty(Faults {
            slow_rate: 1.0,
            slow_by: Duration::from_millis(400),
            ..Faults::default()
        });
        let mut stream = TcpStream::connect(slow.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        stream
            .write_all(b"GET /api/v2/stages HTTP/1.1\r\nx-api-token: sandbox-api-key\r\n\r\n")
            .unwrap();
        let started = Instant::now();
        let err = stream.read(&mut [0; 16]).unwrap_err();
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        stream.set_read_timeout(None).unwrap();
        let mut first = [0; 12];
        stream.read_exact(&mut first).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(&first, b"HTTP/1.1 200");
        assert_eq!(slow.requests()[0].fault.as_deref(), Some("slow"));
    }

    #[test]
    fn the_cdn_blocks_a_client_that_ignores_429s() {
        let sandbox = Sandbox::start(SandboxOptions {
            burst_limit: 2,
            ..SandboxOptions::default()
        })
        .unwrap();
        let mut client = Client::new(&sandbox);
        let statuses: Vec<u16> = (0..7)
            .map(|_| client.get("/api/v2/stages").status)
            .collect();
        // Two answered, four 429s tolerated up to three, then the CDN's page.
        assert_eq!(statuses, [200, 200, 429, 429, 429, 429, 403]);
        let blocked = client.get("/v1/users/me");
        assert_eq!(blocked.status, 403);
        assert_eq!(
            blocked.header("Content-Type"),
            Some("text/html; charset=UTF-8")
        );
        assert!(blocked.header("x-ratelimit-remaining").is_none());
        let page = blocked.body.as_str().unwrap();
        assert!(page.contains("Access denied") && page.contains("Cloudflare"));
        let log = sandbox.requests();
        assert_eq!(log.iter().filter(|e| e.status == 403).count(), 2);
        assert!(log.iter().all(|e| e.status == 200 || e.token_cost == 0));
        // The block outlives the burst window; it ends 10 s later on the fake clock (which
        // also moves with real time).
        thread::sleep(Duration::from_millis(2100));
        assert_eq!(client.get("/api/v2/stages").status, 403);
        sandbox.advance_clock(chrono::Duration::seconds(6));
        assert_eq!(client.get("/api/v2/stages").status, 403);
        sandbox.advance_clock(chrono::Duration::seconds(3));
        assert_eq!(client.get("/api/v2/stages").status, 200);
        // Three 429s in a window are tolerated.
        let statuses: Vec<u16> = (0..4)
            .map(|_| client.get("/api/v2/stages").status)
            .collect();
        assert_eq!(statuses, [200, 429, 429, 429]);
        thread::sleep(Duration::from_millis(2100));
        assert_eq!(client.get("/api/v2/stages").status, 200);
    }

    #[test]
    fn budget_and_burst_429s_are_told_apart_by_their_headers() {
        let sandbox = Sandbox::start(SandboxOptions {
            burst_limit: 2,
            daily_token_budget: Some(20),
            ..SandboxOptions::default()
        })
        .unwrap();
        let mut client = Client::new(&sandbox);
        assert_eq!(client.get("/api/v2/deals").status, 200);
        assert_eq!(client.get("/api/v2/deals").status, 200);
        // Over the burst limit: the window's `x-ratelimit-remaining` is 0.
        let burst = client.get("/api/v2/deals");
        assert_eq!(burst.status, 429);
        assert_eq!(burst.header("x-ratelimit-remaining"), Some("0"));
        // Over the budget with room in the window: remaining stays above 0.
        thread::sleep(Duration::from_millis(2100));
        for _ in 0..3 {
            let budget = client.get("/api/v2/deals");
            assert_eq!(budget.status, 429);
            assert_eq!(budget.header("x-ratelimit-remaining"), Some("2"));
            assert_eq!(
                budget.header("x-daily-ratelimit-token-remaining"),
                Some("0")
            );
            assert!(budget.body["error"].as_str().unwrap().contains("Daily"));
        }
        // A new budget for the next run: counting starts afresh.
        thread::sleep(Duration::from_millis(2100));
        sandbox.set_daily_token_budget(Some(15));
        let fresh = client.get("/api/v2/deals");
        assert_eq!(fresh.status, 200);
        assert_eq!(fresh.header("x-daily-ratelimit-token-limit"), Some("15"));
        assert_eq!(fresh.header("x-daily-ratelimit-token-remaining"), Some("5"));
        sandbox.set_daily_token_budget(None);
        let unlimited = client.get("/api/v2/deals");
        assert_eq!(unlimited.status, 200);
        assert!(unlimited.header("x-daily-ratelimit-token-limit").is_none());
    }

    #[test]
    fn writes_are_refused_and_logged_with_their_method() {
        let sandbox = faulty(Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        });
        let mut client = Client::new(&sandbox);
        let mut refused = Vec::new();
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            for path in ["/api/v2/deals", "/v1/notes/1", "/api/v2/dealFields"] {
                refused.push((method, path));
            }
        }
        // The Webhooks API takes POST on the list and DELETE on an item, and nothing else.
        refused.extend([
            ("PUT", "/v1/webhooks"),
            ("PATCH", "/v1/webhooks"),
            ("GET", "/v1/webhooks/1"),
            ("POST", "/v1/webhooks/1"),
            ("PUT", "/v1/webhooks/1"),
        ]);
        for (method, path) in &refused {
            let reply = client.request(method, path);
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.body["success"], false);
        }
        let log = sandbox.requests();
        assert_eq!(log.len(), refused.len());
        assert!(log
            .iter()
            .all(|e| e.status == 405 && e.token_cost == 0 && e.fault.is_none()));
        let methods: Vec<&str> = log.iter().map(|e| e.method.as_str()).collect();
        let sent: Vec<&str> = refused.iter().map(|(method, _)| *method).collect();
        assert_eq!(methods, sent);
    }

    #[test]
    fn percent_decoding_and_cursors_round_trip() {
        let (path, query) = split_target("/v1/notes?sort=update_time+DESC&x=%E2%9C%93%3D&flag");
        assert_eq!(path, "/v1/notes");
        assert_eq!(
            query,
            vec![
                ("sort".into(), "update_time DESC".into()),
                ("x".into(), "✓=".into()),
                ("flag".into(), String::new())
            ]
        );
        let cursor = encode_cursor((1_700_000_000, 41), "update_time", true);
        assert_eq!(
            decode_cursor(&cursor, "update_time", true),
            Some((1_700_000_000, 41))
        );
        assert_eq!(decode_cursor(&cursor, "update_time", false), None);
        assert_eq!(decode_cursor("bm90IGpzb24", "id", false), None);
        let cursor = encode_cursor((1_700_000_000, 7), "billing_date", false);
        assert_eq!(
            decode_cursor(&cursor, "billing_date", false),
            Some((1_700_000_000 - 1_700_000_000 % 86_400, 7))
        );
    }

    fn post_webhook(client: &mut Client, body: &Value) -> Reply {
        client.send(
            "POST",
            "/v1/webhooks",
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    fn hook(url: &str) -> Value {
        json!({
            "subscription_url": url,
            "event_action": "*",
            "event_object": "deal",
            "name": "Connector deals 🔔",
        })
    }

    #[test]
    fn webhooks_are_created_listed_and_deleted() {
        let sandbox = start(50);
        let mut client = Client::new(&sandbox);
        let before = client.get("/v1/webhooks");
        assert_eq!(before.body["data"].as_array().unwrap().len(), 3);

        let mut body = hook("https://hooks.example.com/pipedrive?tenant=7");
        body["http_auth_user"] = json!("receiver");
        body["http_auth_password"] = json!("s3cret-pässword");
        body["version"] = json!("1.0");
        body["unknown_field"] = json!("ignored");
        let created = post_webhook(&mut client, &body);
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["success"], true);
        assert_eq!(created.body["status"], "ok");
        let data = &created.body["data"];
        assert_eq!(data["id"], 4);
        assert_eq!(data["subscription_url"], body["subscription_url"]);
        assert_eq!(data["event_action"], "*");
        assert_eq!(data["event_object"], "deal");
        assert_eq!(data["name"], "Connector deals 🔔");
        assert_eq!(data["version"], "1.0");
        assert_eq!(data["user_id"], 1, "the token's user by default");
        assert_eq!(data["owner_id"], 1);
        assert_eq!(data["is_active"], 1);
        assert_eq!(data["type"], "general");
        assert_eq!(data["http_auth_user"], "receiver");
        assert_eq!(data["http_auth_password"], "********");
        assert_eq!(data["last_delivery_time"], Value::Null);
        assert_eq!(data["last_http_status"], Value::Null);
        assert!(data.get("unknown_field").is_none());
        let add_time = data["add_time"].as_str().unwrap();
        assert!(secs(&json!(add_time)).abs_diff(sandbox.now().timestamp()) <= 2);
        // Shaped like the generated webhooks, field for field.
        let generated = &before.body["data"][0];
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(data), keys(generated));

        let listed = client.get("/v1/webhooks");
        let rows = listed.body["data"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 4);
        assert_eq!(&rows[3], data);
        assert_eq!(sandbox.webhooks(), rows);
        assert!(!listed.body.to_string().contains("s3cret"));
        assert!(!sandbox
            .webhooks()
            .iter()
            .any(|w| w.to_string().contains("s3cret")));

        // Defaults: version 2.0, no credentials.
        let plain = post_webhook(&mut client, &hook("http://127.0.0.1:9/in"));
        assert_eq!(plain.status, 201, "{}", plain.body);
        assert_eq!(plain.body["data"]["id"], 5);
        assert_eq!(plain.body["data"]["version"], "2.0");
        assert_eq!(plain.body["data"]["http_auth_user"], Value::Null);
        assert_eq!(plain.body["data"]["http_auth_password"], Value::Null);

        let deleted = client.request("DELETE", "/v1/webhooks/4");
        assert_eq!(deleted.status, 200, "{}", deleted.body);
        assert_eq!(deleted.body, json!({"success": true, "status": "ok"}));
        let again = client.request("DELETE", "/v1/webhooks/4");
        assert_eq!(again.status, 404);
        assert_eq!(again.body["success"], false);
        assert_eq!(again.body["error_info"], ERROR_INFO);
        assert_eq!(client.request("DELETE", "/v1/webhooks/99").status, 404);
        assert_eq!(client.request("DELETE", "/v1/webhooks/x").status, 400);
        // Generated webhooks can be deleted too.
        assert_eq!(client.request("DELETE", "/api/v1/webhooks/2").status, 200);
        let ids = client.get("/v1/webhooks").ids();
        assert_eq!(ids, vec![json!(1), json!(3), json!(5)]);
        assert_eq!(ids_of(&sandbox.webhooks()), ids);

        let log = sandbox.requests();
        let costs: Vec<(&str, u16, u64)> = log
            .iter()
            .map(|e| (e.method.as_str(), e.status, e.token_cost))
            .collect();
        assert_eq!(
            costs,
            [
                ("GET", 200, 10),
                ("POST", 201, 10),
                ("GET", 200, 10),
                ("POST", 201, 10),
                ("DELETE", 200, 6),
                ("DELETE", 404, 0),
                ("DELETE", 404, 0),
                ("DELETE", 400, 6),
                ("DELETE", 200, 6),
                ("GET", 200, 10),
            ]
        );
    }

    #[test]
    fn webhook_settings_are_validated() {
        let sandbox = start(50);
        let own_url = format!("{}/hooks", sandbox.base_url());
        let mut client = Client::new(&sandbox);
        let cases: Vec<(Value, &[&str])> = vec![
            (
                json!({}),
                &["subscription_url", "event_action", "event_object", "name"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal"}),
                &["name"],
            ),
            (
                json!({"subscription_url": "", "event_action": "*", "event_object": "deal", "name": "n"}),
                &["subscription_url"],
            ),
            (
                json!({"subscription_url": 7, "event_action": "*", "event_object": "deal", "name": "n"}),
                &["subscription_url"],
            ),
            (hook("/relative/path"), &["subscription_url"]),
            (hook("ftp://files.example.com/in"), &["subscription_url"]),
            (
                hook("https://user:pw@hooks.example.com/in"),
                &["subscription_url"],
            ),
            (
                hook("https://api.pipedrive.com/v1/deals"),
                &["subscription_url"],
            ),
            (
                hook("https://acme.pipedrive.com/api/v2/deals"),
                &["subscription_url"],
            ),
            (hook(&own_url), &["subscription_url"]),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "updated", "event_object": "deal", "name": "n"}),
                &["event_action"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deals", "name": "n"}),
                &["event_object"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "activityType", "name": "n"}),
                &["event_object"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "version": "3.0"}),
                &["version"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "version": 2}),
                &["version"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "user_id": 999}),
                &["user_id"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "user_id": "two"}),
                &["user_id"],
            ),
            (
                json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "http_auth_user": ["a"]}),
                &["http_auth_user"],
            ),
        ];
        for (body, fields) in &cases {
            let reply = post_webhook(&mut client, body);
            assert_eq!(reply.status, 400, "{body}: {}", reply.body);
            assert_eq!(reply.body["success"], false);
            assert_eq!(reply.body["status"], "error");
            assert_eq!(reply.body["error_info"], ERROR_INFO);
            assert!(reply.body["error"]
                .as_str()
                .unwrap()
                .starts_with("Validation failed"));
            let mut named: Vec<&str> = reply.body["errors"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            named.sort_unstable();
            let mut expected = fields.to_vec();
            expected.sort_unstable();
            assert_eq!(named, expected, "{body}");
        }
        // Bodies that are not a JSON object, or are not declared as JSON or a form.
        let valid = hook("https://x.example/h").to_string();
        let raw: [(Option<&str>, &[u8]); 4] = [
            (Some("application/json"), b"{\"name\": "),
            (Some("application/json"), b"[1, 2]"),
            (Some("text/plain"), valid.as_bytes()),
            (None, valid.as_bytes()),
        ];
        for (content_type, body) in raw {
            let reply = client.send("POST", "/v1/webhooks", content_type, body);
            assert_eq!(reply.status, 400, "{content_type:?}: {}", reply.body);
            assert!(reply.body["errors"].is_object());
        }
        // Every 2026 entity and the wildcards are accepted.
        for object in [
            "deal_installment",
            "deal_product",
            "board",
            "phase",
            "project",
            "task",
            "*",
        ] {
            let mut body = hook("https://x.example/h");
            body["event_object"] = json!(object);
            body["event_action"] = json!("delete");
            assert_eq!(post_webhook(&mut client, &body).status, 201, "{object}");
        }
        assert_eq!(sandbox.webhooks().len(), 3 + 7);
    }

    #[test]
    fn webhooks_come_as_forms_and_chunks_and_not_too_big() {
        let sandbox = start(50);
        let mut client = Client::new(&sandbox);
        let form = "subscription_url=https%3A%2F%2Fhooks.example.com%2Fin%3Fa%3D1&event_action=change\
                    &event_object=person&name=Form+hook+%E2%9C%93&user_id=2&http_auth_user=u&http_auth_password=p";
        let reply = client.send(
            "POST",
            "/v1/webhooks",
            Some("application/x-www-form-urlencoded"),
            form.as_bytes(),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        let data = &reply.body["data"];
        assert_eq!(data["subscription_url"], "https://hooks.example.com/in?a=1");
        assert_eq!(data["name"], "Form hook ✓");
        assert_eq!(data["user_id"], 2);
        assert_eq!(data["http_auth_password"], "********");

        // A chunked JSON body, sent by hand.
        let body = hook("https://hooks.example.com/chunked").to_string();
        let (a, b) = body.split_at(10);
        let request = format!(
            "POST /v1/webhooks HTTP/1.1\r\nHost: sandbox\r\nx-api-token: sandbox-api-key\r\n\
             Content-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        let mut stream = TcpStream::connect(sandbox.addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 201 Created"), "{answer}");

        // A 2 MB body is read past and refused; the connection stays usable.
        let mut huge = hook("https://hooks.example.com/huge");
        huge["name"] = json!("x".repeat(2 << 20));
        let reply = post_webhook(&mut client, &huge);
        assert_eq!(reply.status, 413);
        assert_eq!(reply.body["success"], false);
        assert_eq!(client.get("/v1/webhooks").status, 200);
        assert_eq!(sandbox.webhooks().len(), 5);
    }

    #[test]
    fn forty_webhooks_per_user() {
        let sandbox = start(50);
        let mut client = Client::new(&sandbox);
        // The three generated webhooks belong to user 1.
        for n in 4..=40 {
            let reply = post_webhook(&mut client, &hook(&format!("https://x.example/{n}")));
            assert_eq!(reply.status, 201, "{n}: {}", reply.body);
        }
        let full = post_webhook(&mut client, &hook("https://x.example/41"));
        assert_eq!(full.status, 422);
        assert_eq!(full.body["success"], false);
        assert_eq!(full.body["error"], "Webhooks limit reached");
        assert_eq!(sandbox.webhooks().len(), 40);
        // Another user has places of their own, and a deletion frees one.
        let mut other = hook("https://x.example/other");
        other["user_id"] = json!(2);
        assert_eq!(post_webhook(&mut client, &other).status, 201);
        assert_eq!(client.request("DELETE", "/v1/webhooks/7").status, 200);
        assert_eq!(
            post_webhook(&mut client, &hook("https://x.example/again")).status,
            201
        );
        assert_eq!(
            post_webhook(&mut client, &hook("https://x.example/no")).status,
            422
        );
        // A refused creation still spends its tokens, like any answered request.
        let log = sandbox.requests();
        assert!(log
            .iter()
            .filter(|e| e.status == 422)
            .all(|e| e.token_cost == 10));
    }

    #[test]
    fn webhook_writes_meet_the_token_deny_and_fault_rules() {
        let sandbox = Sandbox::start(SandboxOptions {
            size: 50,
            deny: vec![("/v1/webhooks".into(), 403)],
            faults: Faults {
                server_error_rate: 1.0,
                ..Faults::default()
            },
            ..SandboxOptions::default()
        })
        .unwrap();
        let mut client = Client::new(&sandbox);
        // A token without the admin scope is refused writes as well as reads.
        assert_eq!(
            post_webhook(&mut client, &hook("https://x.example/h")).status,
            403
        );
        assert_eq!(client.request("DELETE", "/v1/webhooks/1").status, 403);
        client.token = Some("wrong".into());
        assert_eq!(
            post_webhook(&mut client, &hook("https://x.example/h")).status,
            401
        );
        assert_eq!(sandbox.webhooks().len(), 3);

        // Faults hit GETs only, so a write is answered for real.
        let sandbox = faulty(Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        });
        let mut client = Client::new(&sandbox);
        assert_eq!(
            post_webhook(&mut client, &hook("https://x.example/h")).status,
            201
        );
        assert_eq!(client.request("DELETE", "/v1/webhooks/4").status, 200);
        assert!(client.get("/v1/webhooks").status >= 500);
        assert!(sandbox.requests()[..2].iter().all(|e| e.fault.is_none()));
    }

    /// Every property a listed webhook has matches the JSON type the connector's schema allows.
    #[test]
    fn created_webhooks_fit_the_connector_schema() {
        let schema: Value =
            serde_json::from_str(include_str!("../../schemas/webhooks.json")).unwrap();
        let sandbox = start(50);
        let mut client = Client::new(&sandbox);
        let mut full = hook("https://x.example/h");
        full["http_auth_user"] = json!("u");
        full["http_auth_password"] = json!("p");
        post_webhook(&mut client, &full);
        post_webhook(&mut client, &hook("https://x.example/plain"));
        let rows = client.get("/v1/webhooks").body["data"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(rows.len(), 5);
        let properties = schema["properties"].as_object().unwrap();
        for row in &rows {
            for (name, spec) in properties {
                let value = &row[name];
                let kind = match value {
                    Value::Null => "null",
                    Value::Bool(_) => "boolean",
                    Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                let allowed: Vec<&str> = match &spec["type"] {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => unreachable!("{name}"),
                };
                assert!(allowed.contains(&kind), "{name}: {value} in {row}");
            }
        }
    }
}
