//! source-pipedrive: an Airbyte source for Pipedrive, as a library so that the binary, the demo
//! and the end-to-end tests share one implementation. `run` is the whole program but for
//! argument parsing and the exit code.

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod custom_fields;
pub mod error;
pub mod http;
pub mod memory;
pub mod output;
pub mod progress;
pub mod protocol;
pub mod secrets;
pub mod state;
pub mod streams;

use anyhow::Result;

use cli::Command;
use config::Config;
use output::Output;

/// Reads and checks the config, and tells the writer its secrets before anything is written.
fn load_config(path: &std::path::Path, out: &mut Output) -> Result<Config> {
    let config = Config::load(path)?;
    commands::redact(&config, out);
    Ok(config)
}

/// An Airbyte run's streams and saved state: the catalog's (the default catalog without one).
fn airbyte_inputs(
    catalog: Option<std::path::PathBuf>,
    state: Option<std::path::PathBuf>,
) -> Result<(Vec<catalog::Selected>, state::SavedState)> {
    let selected = match catalog {
        Some(path) => catalog::load(&path)?,
        None => catalog::default_streams(),
    };
    let defs: Vec<&streams::StreamDef> = selected.iter().map(|s| s.def).collect();
    let saved = match state {
        Some(path) => state::load(&path, &defs)?,
        None => state::SavedState::default(),
    };
    Ok((selected, saved))
}

/// A Singer run's stdout carries Singer messages only, from the start: an error with its
/// inputs goes to stderr, not out as an Airbyte TRACE.
fn speak_singer(out: &mut Output) {
    out.speak_singer(output::Singer::new(Default::default(), Default::default()));
}

pub fn run(job: cli::Job, out: &mut Output) -> Result<()> {
    let command = match job {
        cli::Job::Airbyte(command) => command,
        cli::Job::SingerAbout { json } => return commands::singer::about(json, out),
        cli::Job::SingerDiscover { config } => {
            speak_singer(out);
            let config = load_config(&config, out)?;
            return commands::singer::discover(&config, out);
        }
        cli::Job::SingerSync {
            config,
            catalog,
            state,
        } => {
            speak_singer(out);
            let config = load_config(&config, out)?;
            return commands::singer::sync(&config, catalog.as_deref(), state.as_deref(), out);
        }
    };
    match command {
        Command::Spec => commands::spec(out)?,
        Command::Check { config } => commands::check(&config, out)?,
        Command::Discover { config } => commands::discover(&load_config(&config, out)?, out)?,
        Command::Read {
            config,
            catalog,
            state,
            progress,
        } => {
            let config = load_config(&config, out)?;
            let (selected, saved) = airbyte_inputs(catalog, state)?;
            let board = progress::Board::new(progress, "source-pipedrive read");
            commands::read(&config, &selected, &saved, out, &board)?;
        }
        Command::Demo {
            size,
            progress,
            messages,
        } => commands::demo(size, progress, messages, out)?,
        Command::Sandbox {
            port,
            size,
            daily_token_budget,
            oauth,
            oauth_token_requests,
        } => {
            let oauth = oauth.then(|| pipedrive_sandbox::OAuthOptions {
                expire_after_requests: oauth_token_requests,
                ..Default::default()
            });
            commands::serve(port, size, daily_token_budget, oauth)?
        }
        Command::Oauth {
            action:
                cli::OAuthAction::Authorize {
                    client_id,
                    port,
                    authorize_url,
                    token_url,
                    timeout,
                },
        } => {
            let client_secret = match std::env::var("PIPEDRIVE_CLIENT_SECRET") {
                Ok(s) => s,
                Err(_) => {
                    eprintln!("Client secret (PIPEDRIVE_CLIENT_SECRET is not set; reading one line from stdin):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim().to_string()
                }
            };
            let opts = commands::AuthorizeOptions {
                client_id,
                client_secret,
                port,
                authorize_url,
                token_url,
                timeout: std::time::Duration::from_secs(timeout),
            };
            commands::authorize(opts, out)?
        }
        Command::Webhooks { action } => match action {
            cli::WebhookAction::Register {
                config,
                url,
                objects,
            } => commands::webhooks::register(&load_config(&config, out)?, &url, &objects, out)?,
            cli::WebhookAction::List { config } => {
                commands::webhooks::list(&load_config(&config, out)?, out)?
            }
            cli::WebhookAction::Remove { config, all, ids } => {
                commands::webhooks::remove(&load_config(&config, out)?, all, &ids, out)?
            }
        },
        Command::Listen {
            config,
            catalog,
            state,
            bind,
            reconcile_every,
            max_connections,
            singer,
            progress,
        } => {
            let config = load_config(&config, out)?;
            let (selected, saved, singer) = if singer {
                let start = commands::singer::Start::load(catalog.as_deref(), state.as_deref())?;
                let singer = start.singer();
                (start.selected, start.saved, Some(singer))
            } else {
                let (selected, saved) = airbyte_inputs(catalog, state)?;
                (selected, saved, None)
            };
            let reconcile_every = std::time::Duration::from_secs(reconcile_every);
            let progress = match singer {
                Some(_) => progress.beside_logs(),
                None => progress,
            };
            let opts = commands::listen::ListenOptions {
                bind,
                reconcile_every,
                max_connections,
                singer,
                progress,
            };
            commands::listen::listen(&config, selected, saved, opts)?
        }
    }
    out.flush()?;
    Ok(())
}
