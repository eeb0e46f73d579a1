//! The sandbox's HTTP side: a std-only HTTP/1.1 server on loopback that routes GET requests
//! the way Pipedrive does, and is as strict as Pipedrive about the token header, parameters,
//! burst and daily rate limits, so a connector that passes here has met the real rules.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::data::{Dataset, Key, ListQuery, Page, Resource, SortKey, Start, DEAL_STATUSES};

const WINDOW: Duration = Duration::from_secs(2);
const ERROR_INFO: &str = "Please check developers.pipedrive.com";
/// Longest request head accepted; real clients send a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
/// An idle keep-alive connection is dropped after this, like a server-side idle timeout.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SandboxOptions {
    /// Data is a pure function of (seed, size).
    pub seed: u64,
    /// Records per main resource.
    pub size: u64,
    /// The only accepted `x-api-token`.
    pub api_key: String,
    /// Requests per rolling 2 s window before 429.
    pub burst_limit: u32,
    /// Company-wide daily token budget; `None` is unlimited.
    pub daily_token_budget: Option<u64>,
    /// (path prefix, status): requests under the prefix get that status and an error body.
    pub deny: Vec<(String, u16)>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            seed: 42,
            size: 250,
            api_key: "sandbox-api-key".to_string(),
            burst_limit: 100,
            daily_token_budget: None,
            deny: Vec::new(),
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
    spent: u64,
    budget_day: NaiveDate,
}

struct Shared {
    opts: SandboxOptions,
    data: Dataset,
    clock: Clock,
    limits: Mutex<Limits>,
    log: Mutex<Vec<RequestLogEntry>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox {
    pub fn start(opts: SandboxOptions) -> io::Result<Sandbox> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let start = Utc::now() - chrono::Duration::hours(1);
        let shared = Arc::new(Shared {
            data: Dataset::new(opts.seed, opts.size),
            opts,
            clock: Clock {
                origin: Instant::now(),
                start,
                advanced: Mutex::new(chrono::Duration::zero()),
            },
            limits: Mutex::new(Limits {
                window: VecDeque::new(),
                spent: 0,
                budget_day: start.date_naive(),
            }),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
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
                let response = Response {
                    status: 400,
                    body: error_body("Bad request"),
                };
                write_response(&mut writer, shared, &response, true)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let response = shared.handle(&request);
        write_response(&mut writer, shared, &response, request.close)?;
        if request.close || shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Reads one request head and skips its body. `None` means the client closed the connection.
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
    };
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    request.close = connection.contains("close")
        || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    skip_body(reader, &request)?;
    Ok(Some(request))
}

fn skip_body(reader: &mut impl BufRead, request: &Request) -> io::Result<()> {
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = size.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            io::copy(&mut reader.take(size + 2), &mut io::sink())?;
            if size == 0 {
                return Ok(());
            }
        }
    }
    let length = match request.header("content-length") {
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| invalid("bad content-length"))?,
        None => 0,
    };
    io::copy(&mut reader.take(length), &mut io::sink())?;
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
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nDate: {}\r\n",
        response.status,
        response.body.len(),
        http_date(shared.clock.now()),
    );
    head.push_str(&shared.rate_headers());
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(response.body.as_bytes())?;
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
    Response {
        status,
        body: error_body(message),
    }
}

fn bad_request(message: impl AsRef<str>) -> Response {
    error(400, message.as_ref())
}

/// What a path serves and what it costs from the daily token budget.
#[derive(Clone, Copy)]
enum Route {
    CursorList(Resource),
    OffsetList(Resource),
    FullList(Resource),
    Me,
}

impl Route {
    fn resolve(path: &str) -> Option<Route> {
        let v2 = |name: &str| match name {
            "deals" => Some(Resource::Deals),
            "persons" => Some(Resource::Persons),
            "organizations" => Some(Resource::Organizations),
            "activities" => Some(Resource::Activities),
            "products" => Some(Resource::Products),
            "pipelines" => Some(Resource::Pipelines),
            "stages" => Some(Resource::Stages),
            _ => None,
        };
        if let Some(name) = path.strip_prefix("/api/v2/") {
            return v2(name).map(Route::CursorList);
        }
        let v1 = path
            .strip_prefix("/v1/")
            .or_else(|| path.strip_prefix("/api/v1/"))?;
        Some(match v1 {
            "notes" => Route::OffsetList(Resource::Notes),
            "leads" => Route::OffsetList(Resource::Leads),
            "files" => Route::OffsetList(Resource::Files),
            "users" => Route::FullList(Resource::Users),
            "leadLabels" => Route::FullList(Resource::LeadLabels),
            "activityTypes" => Route::FullList(Resource::ActivityTypes),
            "currencies" => Route::FullList(Resource::Currencies),
            "filters" => Route::FullList(Resource::Filters),
            "users/me" => Route::Me,
            _ => return None,
        })
    }

    /// Token costs as Pipedrive's spec lists them (reference §4).
    fn cost(self) -> u64 {
        match self {
            Route::CursorList(Resource::Pipelines | Resource::Stages) => 5,
            Route::CursorList(_) => 10,
            Route::FullList(Resource::LeadLabels) => 10,
            Route::OffsetList(_) | Route::FullList(_) => 20,
            Route::Me => 2,
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
        let (path, query) = split_target(&request.target);
        let route = Route::resolve(&path);
        let authorized = request.header("x-api-token") == Some(self.opts.api_key.as_str());
        let (response, cost) = if authorized {
            self.admit(request, &path, &query, route)
        } else {
            let body = json!({
                "success": false,
                "error": "unauthorized access",
                "errorCode": 401,
                "error_info": ERROR_INFO,
            });
            (
                Response {
                    status: 401,
                    body: body.to_string(),
                },
                0,
            )
        };
        lock(&self.log).push(RequestLogEntry {
            method: request.method.clone(),
            path,
            query,
            status: response.status,
            token_cost: cost,
            authorized,
            raw_target: request.target.clone(),
        });
        response
    }

    /// Applies the burst window and the daily budget, then routes. Returns the tokens spent.
    fn admit(
        &self,
        request: &Request,
        path: &str,
        query: &[(String, String)],
        route: Option<Route>,
    ) -> (Response, u64) {
        {
            let mut limits = lock(&self.limits);
            let now = Instant::now();
            while limits
                .window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
            {
                limits.window.pop_front();
            }
            if limits.window.len() >= self.opts.burst_limit as usize {
                return (error(429, "Request over limit. Please try again later."), 0);
            }
            limits.window.push_back(now);
            if let Some(budget) = self.opts.daily_token_budget {
                let today = self.clock.now().date_naive();
                if today != limits.budget_day {
                    limits.budget_day = today;
                    limits.spent = 0;
                }
                if limits.spent >= budget {
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
        let cost = route.map_or(0, Route::cost);
        let v1_alias = path.strip_prefix("/api");
        let denied = self.opts.deny.iter().find(|(prefix, _)| {
            path.starts_with(prefix.as_str())
                || v1_alias.is_some_and(|p| p.starts_with(prefix.as_str()))
        });
        let response = if request.method != "GET" {
            error(405, "Method not allowed")
        } else if let Some((_, status)) = denied {
            error(*status, deny_message(*status))
        } else if let Some(route) = route {
            self.serve(route, &Params(query))
        } else {
            error(404, "Unknown method .")
        };
        let cost = if request.method == "GET" && response.status != 404 {
            cost
        } else {
            0
        };
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
        if let Some(budget) = self.opts.daily_token_budget {
            headers.push_str(&format!(
                "x-daily-ratelimit-token-limit: {budget}\r\nx-daily-ratelimit-token-remaining: {}\r\n",
                budget.saturating_sub(limits.spent)
            ));
        }
        headers
    }

    fn serve(&self, route: Route, params: &Params) -> Response {
        let result = match route {
            Route::CursorList(r) => self.cursor_list(r, params),
            Route::OffsetList(r) => self.offset_list(r, params),
            Route::FullList(r) => Ok(self.full_list(r, params)),
            Route::Me => Ok(self.me()),
        };
        result.unwrap_or_else(|e| e)
    }

    fn cursor_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        let limit = params.limit(500)?;
        let key = match params.get("sort_by").unwrap_or("id") {
            "id" => SortKey::Id,
            "update_time" => SortKey::UpdateTime,
            "add_time" => SortKey::AddTime,
            other => return Err(bad_request(format!("Invalid value for parameter 'sort_by': '{other}' is not supported; use id, update_time or add_time"))),
        };
        let desc = match params.get("sort_direction").unwrap_or("asc") {
            "asc" => false,
            "desc" => true,
            other => {
                return Err(bad_request(format!(
                    "Invalid value for parameter 'sort_direction': '{other}'; use asc or desc"
                )))
            }
        };
        let mut q = ListQuery::new(key, desc);
        if matches!(
            r,
            Resource::Deals
                | Resource::Persons
                | Resource::Organizations
                | Resource::Activities
                | Resource::Products
        ) {
            q.since = params.time("updated_since")?;
        }
        if matches!(
            r,
            Resource::Deals | Resource::Persons | Resource::Organizations | Resource::Activities
        ) {
            q.until = params.time("updated_until")?;
        }
        if r == Resource::Deals {
            if let Some(list) = params.get("status") {
                let statuses: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = statuses
                    .iter()
                    .find(|s| !DEAL_STATUSES.contains(&s.as_str()))
                {
                    return Err(bad_request(format!("Invalid value for parameter 'status': '{bad}'; use open, won, lost or deleted")));
                }
                q.deal_statuses = Some(statuses);
            }
        }
        if r == Resource::Stages {
            q.pipeline_id = params.number("pipeline_id")?;
        }
        if r == Resource::Activities {
            q.include_attendees = params
                .get("include_fields")
                .is_some_and(|f| f.split(',').any(|f| f.trim() == "attendees"));
        }
        let start = match params.get("cursor") {
            None => Start::First,
            Some(cursor) => Start::After(
                decode_cursor(cursor, key, desc).ok_or_else(|| bad_request("Invalid cursor"))?,
            ),
        };
        let page = self.data.page(r, &q, start, limit as usize);
        let next_cursor = match (page.more, page.last) {
            (true, Some(last)) => json!(encode_cursor(last, key, desc)),
            _ => Value::Null,
        };
        Ok(ok(json!({
            "success": true,
            "data": page.records,
            "additional_data": {"next_cursor": next_cursor},
        })))
    }

    fn offset_list(&self, r: Resource, params: &Params) -> Result<Response, Response> {
        let max = if r == Resource::Files { 100 } else { 500 };
        let limit = params.limit(max)?;
        let start = params.number("start")?.unwrap_or(0);
        let default = if r == Resource::Leads {
            "add_time ASC"
        } else {
            "id ASC"
        };
        let (key, desc) = parse_v1_sort(params.get("sort").unwrap_or(default), r)?;
        let mut q = ListQuery::new(key, desc);
        if r != Resource::Files {
            q.since = params.time("updated_since")?;
        }
        let Page { records, more, .. } =
            self.data.page(r, &q, Start::Offset(start), limit as usize);
        let mut pagination = json!({
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        });
        // The SDK's model of GET /v1/leads has the pagination fields flat in `additional_data`
        // and no `next_start`; the other v1 lists nest them under `pagination`.
        let additional_data = if r == Resource::Leads {
            pagination
        } else {
            if more {
                pagination["next_start"] = json!(start + limit);
            }
            json!({ "pagination": pagination })
        };
        Ok(ok(json!({
            "success": true,
            "data": if records.is_empty() { Value::Null } else { json!(records) },
            "additional_data": additional_data,
        })))
    }

    fn full_list(&self, r: Resource, params: &Params) -> Response {
        let mut records = self.data.records(r);
        if let (Resource::Filters, Some(kind)) = (r, params.get("type")) {
            records.retain(|f| f["type"] == kind);
        }
        ok(json!({"success": true, "data": records}))
    }

    fn me(&self) -> Response {
        let mut user = self
            .data
            .records(Resource::Users)
            .into_iter()
            .next()
            .unwrap_or_else(|| json!({}));
        user["company_id"] = json!(7_000_000 + self.opts.seed % 1_000_000);
        user["company_name"] = json!("Sandbox Company Ö");
        user["company_domain"] = json!("sandbox");
        user["company_country"] = json!("EE");
        user["company_industry"] = json!("Software");
        user["language"] = json!({"language_code": "en", "country_code": "US"});
        ok(json!({"success": true, "data": user}))
    }
}

fn ok(body: Value) -> Response {
    Response {
        status: 200,
        body: body.to_string(),
    }
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

fn field_name(key: SortKey) -> &'static str {
    match key {
        SortKey::Id => "id",
        SortKey::AddTime => "add_time",
        SortKey::UpdateTime => "update_time",
    }
}

/// An opaque keyset cursor shaped like Pipedrive's (base64 of a small JSON object): the sort
/// field, its value and the id of the last row served.
fn encode_cursor(last: Key, key: SortKey, desc: bool) -> String {
    let value = match key {
        SortKey::Id => json!(last.1 + 1),
        _ => json!(DateTime::<Utc>::from_timestamp(last.0, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()),
    };
    let cursor = json!({
        "field": field_name(key),
        "fieldValue": value,
        "sortDirection": if desc { "desc" } else { "asc" },
        "id": last.1 + 1,
    });
    base64url(cursor.to_string().as_bytes())
}

/// A cursor is valid only for the sort it was made for.
fn decode_cursor(cursor: &str, key: SortKey, desc: bool) -> Option<Key> {
    let cursor: Value = serde_json::from_slice(&unbase64url(cursor)?).ok()?;
    let direction = if desc { "desc" } else { "asc" };
    if cursor["field"] != field_name(key) || cursor["sortDirection"] != direction {
        return None;
    }
    let ordinal = cursor["id"].as_u64()?.checked_sub(1)?;
    let value = match key {
        SortKey::Id => 0,
        _ => DateTime::parse_from_rfc3339(cursor["fieldValue"].as_str()?)
            .ok()?
            .timestamp(),
    };
    Some((value, ordinal))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let mut head = format!("{method} {target} HTTP/1.1\r\nHost: sandbox\r\n");
            if let Some(token) = &self.token {
                head.push_str(&format!("x-api-token: {token}\r\n"));
            }
            head.push_str("\r\n");
            self.reader.get_mut().write_all(head.as_bytes()).unwrap();
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
            Reply {
                status,
                headers,
                body: serde_json::from_slice(&body).unwrap(),
            }
        }

        fn get(&mut self, target: &str) -> Reply {
            self.request("GET", target)
        }

        /// Follows next_cursor to the end and returns every id served.
        fn walk_cursor(&mut self, target: &str) -> Vec<Value> {
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let url = match &cursor {
                    Some(c) => format!("{target}&cursor={c}"),
                    None => target.to_string(),
                };
                let reply = self.get(&url);
                assert_eq!(reply.status, 200, "{url}: {}", reply.body);
                ids.extend(reply.ids());
                match reply.body["additional_data"]["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => return ids,
                }
            }
        }

        fn walk_offset(&mut self, target: &str) -> Vec<Value> {
            let mut ids = Vec::new();
            let mut start = 0;
            loop {
                let reply = self.get(&format!("{target}&start={start}"));
                assert_eq!(reply.status, 200, "{}", reply.body);
                ids.extend(reply.ids());
                let extra = &reply.body["additional_data"];
                let pagination = if target.contains("/leads") {
                    assert!(extra.get("pagination").is_none(), "leads paginate flat");
                    extra
                } else {
                    &extra["pagination"]
                };
                if pagination["more_items_in_collection"] != true {
                    assert!(pagination.get("next_start").is_none());
                    return ids;
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
        let cursor = encode_cursor((1_700_000_000, 41), SortKey::UpdateTime, true);
        assert_eq!(
            decode_cursor(&cursor, SortKey::UpdateTime, true),
            Some((1_700_000_000, 41))
        );
        assert_eq!(decode_cursor(&cursor, SortKey::UpdateTime, false), None);
        assert_eq!(decode_cursor("bm90IGpzb24", SortKey::Id, false), None);
    }
}
