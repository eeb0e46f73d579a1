//! End-to-end tests: the real binary against the sandbox Pipedrive, read back as typed messages.

mod emitted;
mod util;

mod bad_inputs;
mod budget;
mod change_safety;
mod check;
mod contract;
mod custom_fields;
mod deletions;
mod faults;
mod full_refresh_state;
mod image;
mod layers;
mod listen_attacks;
mod never_skip;
mod oauth;
mod packaging;
mod parsers;
mod progress;
mod quiet_inputs;
mod read;
mod requests_sent;
mod resilience;
mod singer;
mod singer_tables;
mod slices;
mod snapshots;
mod webhooks;
