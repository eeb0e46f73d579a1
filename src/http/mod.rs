//! The one HTTP client, shared by every worker of a sync. Every request to Pipedrive goes through
//! it (`get_json`, or `get_text` for pages the engine parses in place), and it owns the policy a
//! connector running unattended needs:
//!
//! - the key goes in the `x-api-token` header only, never in a URL, and never into an error;
//!   with a private OAuth app, a Bearer access token instead, refreshed once for all workers
//!   before it expires and once on a 401 (`oauth`);
//! - reads are GETs; the only writes (webhook registration, which the user asks for by name)
//!   go through `post_json` and `delete`, which are never retried after they may have reached
//!   the server, since repeating them is not harmless;
//! - explicit connect and receive timeouts on every request;
//! - retries with capped exponential backoff and jitter for what is worth retrying: transport
//!   failures, 5xx, and a 2xx whose body is not the JSON it should be (an HTML error page, a
//!   body cut short). Client errors (4xx) are answers, not accidents, and are not retried;
//! - rate limits: the client counts its own requests in the rolling 2-second burst window against
//!   the `x-ratelimit-limit` it is told and lets a request go whenever the window has a free
//!   slot, so concurrent requests queue for a slot rather than meet a 429 and no slot is left
//!   unused while work waits; slots the headers show taken by other tools on the same token are
//!   left to them for a window; a burst 429 holds everything, and waits as the headers
//!   say; once the daily budget said no, no request goes out again; a 429 while the burst
//!   window still has room means the company's daily token budget is spent, and retrying would
//!   only get the token blocked (Pipedrive's CDN answers clients that ignore 429s with a 403
//!   HTML page), so it stops at once with an error that says so.
//!
//! - requests in flight: at most `max_concurrent_requests` at once (a place is held from before
//!   the wait for a slot of the window until the answer is read, never across a wait to retry
//!   nor across the caller's reading of the body, which may make requests of its own); the
//!   latency is measured, and `parallelism` tells the reader how many to keep ready;
//!
//! - the user's token caps (`max_tokens_per_sync`, `daily_budget_reserve_percent`): each
//!   request's cost is checked before it is sent, and none goes out past either cap.
//!
//! Its parts: `client` sends requests and reads answers, `retry` is the policy and its backoff,
//! `pacing` keeps to the rate limits, `flight` to the cap on requests in flight, `budget` to
//! the token caps, `counters` counts what was done, `error` is the typed failure every caller
//! inspects, `oauth` the life of OAuth access tokens.

mod budget;
mod client;
mod counters;
mod error;
mod flight;
#[cfg(test)]
mod in_flight_tests;
mod oauth;
mod pacing;
mod retry;

pub use budget::{BudgetStop, Limit};
pub use client::{Client, Response};
pub use counters::Counters;
pub use error::HttpError;
pub use oauth::{exchange_code, form_encode, scopes_for, OnRefresh};
pub use retry::{backoff_delay, RetryPolicy};
