//! Wire types of the protocols the connector speaks, kept apart from the logic that produces them.

pub mod airbyte;
pub mod singer;
