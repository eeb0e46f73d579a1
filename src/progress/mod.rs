//! What a person at the terminal sees while a sync runs. Protocol messages go to stdout, as
//! Airbyte and Singer want, so without this a sync run by hand is silent on the terminal until it
//! ends. The figures come from one place (`tally`), which the engine and the HTTP client keep
//! whether or not anyone watches; a `Watch` is told when a sync starts and ends.

mod tally;

use std::sync::Arc;

pub use tally::{StreamTally, Tally, Totals};

/// Who is told of a sync's progress.
pub trait Watch: Sync {
    /// A sync starts; `tally` fills up as it runs.
    fn started(&self, tally: &Arc<Tally>);
    /// The sync ended: `tally` holds its final figures.
    fn ended(&self, tally: &Tally);
}

/// Nobody watches: nothing is drawn, nothing costs anything.
pub struct Nobody;

impl Watch for Nobody {
    fn started(&self, _: &Arc<Tally>) {}
    fn ended(&self, _: &Tally) {}
}
