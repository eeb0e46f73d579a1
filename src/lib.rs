//! source-pipedrive: an Airbyte source for Pipedrive, as a library so that the binary, the demo
//! and the end-to-end tests share one implementation. `run` is the whole program but for
//! argument parsing and the exit code.

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod http;
pub mod output;
pub mod protocol;
pub mod sandbox;
pub mod state;
pub mod streams;

use anyhow::Result;

use cli::Command;
use config::Config;
use output::Output;

pub fn run(command: Command, out: &mut Output) -> Result<()> {
    match command {
        Command::Spec => commands::spec(out)?,
        Command::Check { config } => commands::check(&config, out)?,
        Command::Discover { config } => {
            let config = Config::load(&config)?;
            out.redact(config.api_key.expose());
            commands::discover(out)?
        }
        Command::Read {
            config,
            catalog,
            state,
        } => {
            let config = Config::load(&config)?;
            out.redact(config.api_key.expose());
            let selected = match catalog {
                Some(path) => catalog::load(&path)?,
                None => catalog::all_streams(),
            };
            let saved = match state {
                Some(path) => state::load(&path)?,
                None => state::SavedState::default(),
            };
            commands::read(&config, &selected, &saved, out)?;
        }
        Command::Demo { size } => commands::demo(size, out)?,
    }
    out.flush()?;
    Ok(())
}
