//! pipedrive-sandbox: the fake Pipedrive used by the connector's `demo` and `sandbox` commands,
//! its end-to-end tests and its benchmarks. It knows nothing of the connector: like Pipedrive, it
//! only speaks HTTP and JSON, so a connector that passes against it has met the real API's rules.
//!
//! A loopback API that behaves like the real one (auth, v1 offset and v2 cursor pagination,
//! update-time filters, sorting, error bodies, rate-limit headers, the CDN's block after ignored
//! 429s, custom fields, and injected faults), plus the Webhooks API's writes and, in `webhooks`,
//! deliveries shaped and retried like Pipedrive's. A few legacy v1 routes (`server/legacy.rs`)
//! exist only for the benchmark against the Airbyte connector (`integration_tests/bench/peer.sh`);
//! our connector never calls them.

pub mod changes;
mod data;
mod server;
pub mod webhooks;

pub use data::{Dataset, Resource};
pub use server::{
    scopes_for, Faults, Latency, OAuthOptions, OAuthReport, Plan, RequestLogEntry, Sandbox,
    SandboxOptions, Served, Unsaid, World, READ_SCOPES,
};
