//! End-to-end tests: the real binary against the sandbox Pipedrive, read back as typed messages.

mod util;

mod check;
mod packaging;
mod read;
mod snapshots;
