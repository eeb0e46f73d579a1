//! The embedded sandbox: a fake Pipedrive API on loopback that behaves like the real one
//! (auth, v1 offset and v2 cursor pagination, update-time filters, sorting, error bodies,
//! rate-limit headers, the CDN's block after ignored 429s, custom fields, and injected faults),
//! plus the Webhooks API's writes and, in `webhooks`, deliveries shaped and retried like
//! Pipedrive's. The `demo` command syncs from it so nobody needs an account, and the
//! end-to-end tests run the real binary against it and compare with what it knows it served.
//! A few legacy v1 routes (`server/legacy.rs`) exist only for the benchmark against the Airbyte
//! connector (`integration_tests/bench/peer.sh`); our connector never calls them.

mod data;
mod server;
pub mod webhooks;

pub use data::{Dataset, Resource};
pub use server::{Faults, RequestLogEntry, Sandbox, SandboxOptions};
