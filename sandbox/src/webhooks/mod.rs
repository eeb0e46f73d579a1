//! Webhook deliveries as Pipedrive sends them: webhooks v2 payloads (`{meta, data, previous}`)
//! for create, change, delete and merge events, and a std-only HTTP sender with basic auth and
//! Pipedrive's retry schedule (reference §7 and §8). Tests use them to drive a webhook receiver
//! the way the real service would, including the ways a delivery goes wrong.
//!
//! `payload` makes the events, `delivery` sends them on Pipedrive's terms and `client` is the
//! small HTTP client underneath (also the URL check the Webhooks API uses).

mod client;
mod delivery;
mod payload;

pub(crate) use client::parse_url;
pub use delivery::{deliver, deliver_raw, deliver_with_retries, Delivery};
pub(crate) use payload::ENTITIES;
pub use payload::{event, merge, EventMeta};

#[cfg(test)]
mod tests;
