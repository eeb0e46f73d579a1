//! The sandbox's HTTP side: a std-only HTTP/1.1 server on loopback that routes GET requests
//! (and the Webhooks API's POST and DELETE) the way Pipedrive does, and is as strict as
//! Pipedrive about the token header, parameters, burst and daily rate limits, so a connector
//! that passes here has met the real rules. Like the real service it also fails now and then
//! (5xx, bodies cut short, HTML pages, slow answers; see `Faults`), and its CDN blocks a client
//! that keeps sending through 429s.
//!
//! This module holds the running server (`Sandbox`: start, stop, the request log and the test
//! hooks that edit data or move the fake clock); its submodules hold the HTTP plumbing, the
//! route table, admission (rate limits and faults) and the handlers by kind of endpoint.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::data::{Behaviour, Dataset, Resource};

mod children;
mod faults;
mod fields;
mod handle;
mod http;
mod latency;
mod legacy;
mod limits;
mod lists;
mod oauth;
mod pagination;
mod params;
mod routes;
mod webhook_api;
mod world;

pub use faults::{Faults, Unsaid};
use http::serve_connection;
pub use latency::{Latency, Plan};
use limits::Limits;
pub use oauth::{scopes_for, OAuthOptions, OAuthReport, READ_SCOPES};
pub use world::{Served, World};

pub struct SandboxOptions {
    /// Data is a pure function of (seed, size).
    pub seed: u64,
    /// Records per main resource.
    pub size: u64,
    /// The only accepted `x-api-token`.
    pub api_key: String,
    /// Requests per rolling 2 s window before 429, for requests that carry the API token
    /// (`x-api-token`, or v1's `api_token` parameter). Default 100, or the value of the
    /// environment variable `SOURCE_PIPEDRIVE_SANDBOX_BURST_LIMIT` (the peer benchmark,
    /// `integration_tests/bench/peer.sh`, lifts the limit with it). `with_plan` sets it and
    /// `oauth_burst_limit` to a plan's.
    pub burst_limit: u32,
    /// Requests per rolling 2 s window before 429 for requests that carry an OAuth access
    /// token (`Authorization: Bearer …`), counted in a window of their own, apart from the API
    /// token's. `None`: four times `burst_limit`, as Pipedrive gives OAuth apps on every plan
    /// (Growth: 40 with the API token, 160 with OAuth; reference §4).
    pub oauth_burst_limit: Option<u32>,
    /// How long each request takes (none by default: loopback speed); see `Latency`.
    pub latency: Latency,
    /// Company-wide daily token budget at start; `None` is unlimited.
    /// `Sandbox::set_daily_token_budget` changes it later.
    pub daily_token_budget: Option<u64>,
    /// (path prefix, status): requests under the prefix get that status and an error body.
    pub deny: Vec<(String, u16)>,
    /// Failures injected into answers; none by default.
    pub faults: Faults,
    /// The largest page the v1 offset lists that document no maximum serve, whatever `limit`
    /// asks (Pipedrive documents a cap only for files and call logs, so a client may meet a
    /// lower one anywhere else). `None`: the `limit` asked, up to 500.
    pub page_cap: Option<u64>,
    /// The largest page the v2 cursor lists (deals, persons, projects, …) serve, whatever
    /// `limit` asks: 500 is the most Pipedrive documents, not what it promises. `None`: the
    /// `limit` asked.
    pub v2_page_cap: Option<u64>,
    /// Leads (live and archived) carry milliseconds in `add_time` and `update_time`
    /// (`2024-03-05T10:20:30.676Z`), as Pipedrive's leads do; `updated_since` and the sort
    /// still go by the whole second. Off: whole seconds, like the other resources.
    pub lead_time_millis: bool,
    /// Loopback port to listen on; 0 lets the system choose.
    pub port: u16,
    /// Whether `/api/v2/persons`, `organizations`, `products`, `activities`, `pipelines` and
    /// `stages` keep a deleted record in their lists (with `is_deleted: true` and the delete as
    /// its update time) instead of leaving it out. Pipedrive does not document which (reference
    /// §7); default `false`, what the connector's README assumes.
    pub v2_lists_keep_deleted: bool,
    /// Whether adding, changing or removing a product line of a deal bumps the deal's
    /// `update_time`. Pipedrive does not document it; default `true`, what the connector's
    /// README assumes.
    pub product_lines_touch_deal: bool,
    /// When set, the fake clock starts at this instant and stands still but for
    /// `advance_clock`: no time of the data then depends on how fast the machine runs, so a
    /// seeded history of changes replays exactly. Unset: an hour behind real time, ticking.
    pub frozen_clock: Option<DateTime<Utc>>,
    /// An OAuth private app (`oauth.rs`): the token endpoint, and API requests with its
    /// `Authorization: Bearer` access tokens accepted beside the API key. `None`: no OAuth.
    pub oauth: Option<OAuthOptions>,
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
            oauth_burst_limit: None,
            latency: Latency::default(),
            daily_token_budget: None,
            deny: Vec::new(),
            faults: Faults::default(),
            page_cap: None,
            v2_page_cap: None,
            lead_time_millis: false,
            port: 0,
            v2_lists_keep_deleted: false,
            product_lines_touch_deal: true,
            frozen_clock: None,
            oauth: None,
        }
    }
}

impl SandboxOptions {
    /// The burst limits of `plan`: its API token's for `x-api-token` requests, four times that
    /// for OAuth (`Authorization: Bearer`) requests.
    pub fn with_plan(self, plan: Plan) -> SandboxOptions {
        SandboxOptions {
            burst_limit: plan.api_token_burst_limit(),
            oauth_burst_limit: Some(plan.oauth_burst_limit()),
            ..self
        }
    }

    /// The burst limit of requests with a token of `kind`.
    fn burst_limit_of(&self, kind: latency::TokenKind) -> u32 {
        match kind {
            latency::TokenKind::ApiToken => self.burst_limit,
            latency::TokenKind::OAuth => self
                .oauth_burst_limit
                .unwrap_or_else(|| self.burst_limit.saturating_mul(latency::OAUTH_FACTOR)),
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
/// header sees the difference, plus whatever a test added; or, frozen, only what a test added.
struct Clock {
    origin: Instant,
    start: DateTime<Utc>,
    frozen: bool,
    advanced: Mutex<chrono::Duration>,
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = if self.frozen {
            chrono::Duration::zero()
        } else {
            chrono::Duration::from_std(self.origin.elapsed()).unwrap_or_default()
        };
        self.start + elapsed + *lock(&self.advanced)
    }
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
    /// Requests read from their connection and not yet answered in full.
    in_flight: AtomicU64,
    /// Requests whose latency has been drawn, in the order they were read.
    latency_draws: AtomicU64,
    stop: AtomicBool,
    /// Held while a webhook is added or deleted, so two POSTs cannot both take the last of a
    /// user's 40 places.
    webhook_writes: Mutex<()>,
    /// A test's changes to the data between requests (`Sandbox::on_request`).
    hook: Mutex<Option<world::Hook>>,
    /// The first two cursors the list of `Faults::cursor_cycle` answered (A and B).
    cycle: Mutex<Vec<String>>,
    /// The OAuth server's tokens and counts.
    oauth: oauth::Guarded,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox {
    pub fn start(opts: SandboxOptions) -> io::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", opts.port))?;
        let addr = listener.local_addr()?;
        let start = opts
            .frozen_clock
            .unwrap_or_else(|| Utc::now() - chrono::Duration::hours(1));
        let frozen = opts.frozen_clock.is_some();
        let budget = opts.daily_token_budget;
        let shared = Arc::new(Shared {
            data: Dataset::with_behaviour(
                opts.seed,
                opts.size,
                Behaviour {
                    v2_lists_keep_deleted: opts.v2_lists_keep_deleted,
                    product_lines_touch_deal: opts.product_lines_touch_deal,
                },
            )
            .with_lead_millis(opts.lead_time_millis),
            opts,
            addr,
            clock: Clock {
                origin: Instant::now(),
                start,
                frozen,
                advanced: Mutex::new(chrono::Duration::zero()),
            },
            limits: Mutex::new(Limits {
                window: VecDeque::new(),
                oauth_window: VecDeque::new(),
                budget,
                spent: 0,
                budget_day: start.date_naive(),
                burst_429s: VecDeque::new(),
                blocked_until: None,
            }),
            log: Mutex::new(Vec::new()),
            received: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            latency_draws: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            webhook_writes: Mutex::new(()),
            hook: Mutex::new(None),
            cycle: Mutex::new(Vec::new()),
            oauth: Default::default(),
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

    /// Requests read and not yet answered in full, now (latency included): what a benchmark
    /// samples to show the requests in flight over time.
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    pub fn dataset(&self) -> &Dataset {
        &self.shared.data
    }

    /// The webhooks `GET /v1/webhooks` lists now: the generated ones and those created through
    /// `POST /v1/webhooks`, minus the deleted ones; passwords masked.
    pub fn webhooks(&self) -> Vec<Value> {
        self.shared.data.records(Resource::Webhooks)
    }

    /// The handle that edits records as salespeople would (see `World`).
    pub fn world(&self) -> World<'_> {
        World {
            shared: &self.shared,
        }
    }

    /// From now on, `hook` runs after each request is answered and before the answer is sent:
    /// the place for a test to change the CRM under a sync, deterministically.
    pub fn on_request(&self, hook: impl Fn(&World, &Served) + Send + Sync + 'static) {
        *lock(&self.shared.hook) = Some(Arc::new(hook));
    }

    /// Stops calling the hook set by `on_request`.
    pub fn still(&self) {
        *lock(&self.shared.hook) = None;
    }

    /// Edits a record: a visible field changes and update_time becomes the fake now.
    pub fn touch(&self, resource: Resource, id: &Value) -> Value {
        self.world().touch(resource, id)
    }

    /// Adds a record with a new id, created and updated at the fake now.
    pub fn insert(&self, resource: Resource) -> Value {
        self.world().insert(resource)
    }

    /// Deletes a record at the fake now (see `World::delete`).
    pub fn delete(&self, resource: Resource, id: &Value) {
        self.world().delete(resource, id)
    }

    /// Archives a deal, lead or project at the fake now (see `World::archive`).
    pub fn archive(&self, resource: Resource, id: &Value) -> Value {
        self.world().archive(resource, id)
    }

    /// Brings an archived deal, lead or project back at the fake now (see `World::unarchive`).
    pub fn unarchive(&self, resource: Resource, id: &Value) -> Value {
        self.world().unarchive(resource, id)
    }

    /// Merges two persons, organizations or deals at the fake now (see `World::merge`).
    pub fn merge(&self, resource: Resource, loser: &Value, survivor: &Value) -> Value {
        self.world().merge(resource, loser, survivor)
    }

    /// Removes a product line from a deal at the fake now (see `World::remove_product_line`).
    pub fn remove_product_line(&self, deal: &Value, line: &Value) {
        self.world().remove_product_line(deal, line)
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

    /// What the OAuth server issued and how its tokens were used.
    pub fn oauth_report(&self) -> OAuthReport {
        self.shared.oauth_report()
    }

    /// The OAuth app is uninstalled: its refresh token answers `invalid_grant` from now on.
    pub fn revoke_refresh_token(&self) {
        self.shared.revoke()
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

#[cfg(test)]
mod tests;
