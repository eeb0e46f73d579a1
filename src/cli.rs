//! Command-line arguments: the Airbyte subcommands, and Singer's flags (`--config`, `--discover`,
//! `--catalog`/`--properties`, `--state`, `--about`) for Meltano, parsed by clap into plain values.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::progress::Mode;

#[derive(Debug, Parser)]
#[command(
    name = "source-pipedrive",
    version,
    about = "Copies a whole Pipedrive CRM into data pipelines: Airbyte commands below, or Singer with --config"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Singer: the config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Singer: print the catalog.
    #[arg(long)]
    pub discover: bool,
    /// Singer: the catalog of the streams to sync.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Singer: the catalog, under its older name.
    #[arg(long, conflicts_with = "catalog")]
    pub properties: Option<PathBuf>,
    /// Singer: the state to resume from.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Singer: describe this tap.
    #[arg(long)]
    pub about: bool,
    /// Singer: with --about, `json` or `markdown`.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum WebhookAction {
    /// WRITES to Pipedrive: create a webhook (v2, every action) per object that has none for --url.
    Register {
        /// The config file (JSON): api_key, and webhook_user / webhook_password for the deliveries.
        #[arg(long)]
        config: PathBuf,
        /// The public URL Pipedrive delivers to (where `listen` is reachable).
        #[arg(long)]
        url: String,
        /// Objects to subscribe to, comma-separated; default every object with a stream.
        #[arg(long, value_delimiter = ',')]
        objects: Vec<String>,
    },
    /// List the company's webhooks (as RECORD messages of the webhooks stream).
    List {
        /// The config file (JSON) with the api_key.
        #[arg(long)]
        config: PathBuf,
    },
    /// WRITES to Pipedrive: remove webhooks by id, or --all of those this connector registered.
    Remove {
        /// The config file (JSON) with the api_key.
        #[arg(long)]
        config: PathBuf,
        /// Remove every webhook this connector registered (names starting with `source-pipedrive`).
        #[arg(long)]
        all: bool,
        /// Ids of the webhooks to remove (see `webhooks list`).
        ids: Vec<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OAuthAction {
    /// Get the app's first refresh token: prints a consent URL (stderr), receives the code on
    /// a loopback redirect, and prints the `credentials` object for the config (stdout, SECRETS
    /// INCLUDED). The client secret is read from PIPEDRIVE_CLIENT_SECRET or, without it, from
    /// the first line of stdin.
    Authorize {
        /// The private app's Client ID.
        #[arg(long)]
        client_id: String,
        /// The loopback port of the app's callback URL, http://localhost:PORT/callback.
        #[arg(long, default_value_t = 8976)]
        port: u16,
        /// The consent page (default Pipedrive's).
        #[arg(long)]
        authorize_url: Option<String>,
        /// The token endpoint (default Pipedrive's).
        #[arg(long)]
        token_url: Option<String>,
        /// Seconds to wait for the browser's redirect.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

/// What to do, once the arguments are read.
#[derive(Debug)]
pub enum Job {
    Airbyte(Command),
    SingerAbout {
        json: bool,
    },
    SingerDiscover {
        config: PathBuf,
    },
    SingerSync {
        config: PathBuf,
        catalog: Option<PathBuf>,
        state: Option<PathBuf>,
    },
}

impl Cli {
    pub fn job(self) -> Result<Job, String> {
        if let Some(command) = self.command {
            return Ok(Job::Airbyte(command));
        }
        if self.about {
            return Ok(Job::SingerAbout {
                json: self.format.as_deref() == Some("json"),
            });
        }
        let Some(config) = self.config else {
            return Err("give an Airbyte command (spec, check, discover, read, demo) or Singer's --config FILE; see --help".into());
        };
        if self.discover {
            return Ok(Job::SingerDiscover { config });
        }
        Ok(Job::SingerSync {
            config,
            catalog: self.catalog.or(self.properties),
            state: self.state,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the connection specification.
    Spec,
    /// Validate the config and try the API key with one cheap request.
    Check {
        /// The config file (JSON): api_key, start_date and the optional settings (see `spec`).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the catalog of streams and their schemas.
    Discover {
        /// The config file (JSON); the account's custom fields are read to type the schemas.
        #[arg(long)]
        config: PathBuf,
    },
    /// Sync the streams of the catalog (the default catalog when none is given).
    Read {
        /// The config file (JSON): api_key, start_date and the optional settings (see `spec`).
        #[arg(long)]
        config: PathBuf,
        /// The configured catalog (JSON) naming the streams and sync modes; default: every default
        /// stream, incremental where it has a cursor.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// The state to resume from: a JSON array of the last STATE message's `state` of each
        /// stream, or the legacy object `{"stream": {"cursor": "value"}}`.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Live progress on stderr: auto (when stderr is a terminal), always, never.
        #[arg(long, value_enum, default_value_t = Mode::Auto)]
        progress: Mode,
    },
    /// Manage the webhooks that feed `listen`. register and remove WRITE to Pipedrive: they are
    /// the only commands that do.
    Webhooks {
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// Real-time sync: receive Pipedrive's webhook deliveries and write them as records, with a
    /// reconciliation read at start-up and every --reconcile-every seconds. Reads only.
    Listen {
        /// The config file (JSON), with webhook_user and webhook_password to check deliveries.
        #[arg(long)]
        config: PathBuf,
        /// The configured catalog: deliveries of streams outside it are acknowledged and dropped.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// The state the first reconciliation read resumes from (as for `read`).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Address to listen on; put a TLS-terminating proxy in front of it.
        #[arg(long, default_value = "127.0.0.1:8787")]
        bind: String,
        /// Seconds between reconciliation reads.
        #[arg(long, default_value_t = 3600)]
        reconcile_every: u64,
        /// Connections held at once; when all are taken, the oldest that has not yet proved its
        /// credentials is closed to make room.
        #[arg(long, default_value_t = crate::commands::listen::MAX_CONNECTIONS, value_parser = clap::value_parser!(usize))]
        max_connections: usize,
        /// Speak Singer (the catalog and state are then Singer's).
        #[arg(long)]
        singer: bool,
        /// Live deliveries and reconciliation reads on stderr: auto (when stderr is a
        /// terminal), always, never.
        #[arg(long, value_enum, default_value_t = Mode::Auto)]
        progress: Mode,
    },
    /// Serve the sandbox Pipedrive on loopback until stopped, for trying clients against it.
    Sandbox {
        /// Loopback port; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Records per main resource.
        #[arg(long, default_value_t = 1200)]
        size: u64,
        /// The company's daily token budget, reported in x-daily-ratelimit-token-* headers and
        /// answered with 429s once spent (default: unlimited, and no such headers).
        #[arg(long)]
        daily_token_budget: Option<u64>,
        /// Also serve an OAuth private app (token endpoint, Bearer tokens), and print a config
        /// with its `credentials` too.
        #[arg(long)]
        oauth: bool,
        /// With --oauth: an access token stops working after this many API requests.
        #[arg(long, requires = "oauth")]
        oauth_token_requests: Option<u64>,
    },
    /// OAuth 2.0 through your company's private Pipedrive app.
    Oauth {
        #[command(subcommand)]
        action: OAuthAction,
    },
    /// Run check, discover and a full sync against an embedded sandbox Pipedrive: no account needed.
    /// On a terminal, the protocol messages go to a file and the terminal shows the progress,
    /// a summary and sample records; otherwise they go to stdout.
    Demo {
        /// Records per main resource (deals, persons, ...) in the sandbox.
        #[arg(long, default_value_t = 1200)]
        size: u64,
        /// Live progress on stderr: auto (when stderr is a terminal), always, never.
        #[arg(long, value_enum, default_value_t = Mode::Auto)]
        progress: Mode,
        /// When stdout is a terminal: the file the protocol messages are written to (default:
        /// source-pipedrive-demo.jsonl in the temporary directory).
        #[arg(long)]
        messages: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every option and argument of every subcommand says what it is for in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "source-pipedrive", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
