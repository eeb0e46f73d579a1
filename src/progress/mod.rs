//! What a person at the terminal sees while a sync runs. Protocol messages go to stdout, as
//! Airbyte and Singer want, so without this a sync run by hand is silent on the terminal until
//! it ends, and a working sync cannot be told from a hung one.
//!
//! The display is drawn on stderr, and only when stderr is a terminal (`--progress auto`), so
//! that Airbyte, Meltano and pipes, which read stderr as a file, see exactly what they saw before;
//! `--progress always` draws on any stderr, `never` on none. Off, nothing runs: no thread, no
//! terminal call. The figures come from one place (`tally`), which the engine and the HTTP
//! client keep whether or not anyone watches; a `Watch` is told when a sync starts and ends.
//!
//! Its parts: `tally` (a sync's live figures and their totals), `board` (the display of a
//! `read`), `listening` (the display of `listen`), `draw` (the ticker that redraws in place,
//! at most four times a second, through indicatif).

mod board;
mod draw;
mod listening;
mod tally;

use std::io::IsTerminal;
use std::sync::Arc;

pub use board::Board;
pub use draw::clock;
pub use listening::Listening;
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

/// `--progress`: whether the display is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// When stderr is a terminal.
    #[default]
    Auto,
    /// On stderr whatever it is (a file gets every redraw).
    Always,
    /// Never.
    Never,
}

/// Where a display is drawn, once it is to be drawn at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// stderr is a terminal.
    Terminal,
    /// stderr is not a terminal, but the display was asked for.
    Forced,
}

impl Mode {
    /// Where to draw, given whether stderr is a terminal; `None`: not at all.
    pub fn target_for(self, stderr_is_terminal: bool) -> Option<Target> {
        match (self, stderr_is_terminal) {
            (Mode::Never, _) | (Mode::Auto, false) => None,
            (_, true) => Some(Target::Terminal),
            (Mode::Always, false) => Some(Target::Forced),
        }
    }

    /// The mode when the command's logs go to stderr too (Singer's do): `auto` draws nothing,
    /// as the logs would tear the display apart; `always` still draws, as asked.
    pub fn beside_logs(self) -> Mode {
        match self {
            Mode::Auto => Mode::Never,
            m => m,
        }
    }

    /// Where to draw on this process's stderr.
    pub fn target(self) -> Option<Target> {
        self.target_for(std::io::stderr().is_terminal())
    }
}

/// Groups digits by thousands, as the display and the demo show counts: `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_draws_only_on_a_terminal_always_anywhere_never_nowhere() {
        assert_eq!(Mode::Auto.target_for(true), Some(Target::Terminal));
        assert_eq!(Mode::Auto.target_for(false), None);
        assert_eq!(Mode::Always.target_for(true), Some(Target::Terminal));
        assert_eq!(Mode::Always.target_for(false), Some(Target::Forced));
        assert_eq!(Mode::Never.target_for(true), None);
        assert_eq!(Mode::Never.target_for(false), None);
    }

    #[test]
    fn beside_logs_only_what_was_asked_for_is_drawn() {
        assert_eq!(Mode::Auto.beside_logs().target_for(true), None);
        assert_eq!(
            Mode::Always.beside_logs().target_for(true),
            Some(Target::Terminal)
        );
        assert_eq!(Mode::Never.beside_logs(), Mode::Never);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(114_034), "114,034");
        assert_eq!(thousands(11_363_173), "11,363,173");
    }
}
