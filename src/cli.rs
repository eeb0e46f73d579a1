//! Command-line arguments: the Airbyte subcommands, parsed by clap into plain values.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "source-pipedrive",
    version,
    about = "Copies a whole Pipedrive CRM into data pipelines (Airbyte protocol on stdout)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the connection specification.
    Spec,
    /// Validate the config and try the API key with one cheap request.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the catalog of streams and their schemas.
    Discover {
        #[arg(long)]
        config: PathBuf,
    },
    /// Sync the streams of the catalog (every stream when no catalog is given).
    Read {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        catalog: Option<PathBuf>,
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Run check, discover and a full sync against an embedded sandbox Pipedrive: no account needed.
    Demo {
        /// Records per main resource (deals, persons, ...) in the sandbox.
        #[arg(long, default_value_t = 1200)]
        size: u64,
    },
}
