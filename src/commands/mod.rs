//! The commands of the Airbyte protocol, plus `demo`. Each takes validated input and the one
//! stdout writer; none parses arguments or decides exit codes.

mod check;
mod demo;

mod discover;
mod read;
mod spec;

pub use check::check;
pub use demo::demo;

pub use discover::discover;
pub use read::{read, StreamOutcome, StreamReport};
pub use spec::spec;

use crate::config::Config;
use crate::http::{Client, RetryPolicy};

pub(crate) fn client(config: &Config, policy: RetryPolicy) -> Client {
    Client::new(&config.base_url, config.api_key.clone(), policy)
}

/// The cheapest authenticated request (2 tokens) that every token may make: it proves the key
/// works and tells the server's clock.
pub(crate) const WHOAMI: &str = "/v1/users/me";
