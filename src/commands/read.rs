//! `read`: syncs the selected streams one after the other. A stream the token's user may not
//! read is skipped with a warning; a stream that fails gets its own TRACE error and the others go
//! on; failures that would fail every stream (the key rejected, the daily budget spent, stdout
//! gone) stop the sync at once, keeping every checkpoint already written.

use anyhow::Result;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::catalog::Selected;
use crate::config::Config;
use crate::custom_fields::{Definitions, Naming};
use crate::error::{classify, FailureType, Reported};
use crate::http::{HttpError, RetryPolicy};
use crate::output::Output;
use crate::protocol::airbyte::{LogLevel, StreamStatusKind};
use crate::state::SavedState;
use crate::streams::engine::{self, StreamStats, Window};
use crate::streams::time;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    Complete,
    Skipped(String),
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct StreamReport {
    pub stream: &'static str,
    pub stats: StreamStats,
    pub outcome: StreamOutcome,
}

/// Syncs `selected`; returns one report per stream read, or a `Reported` error once every
/// failure has been written as TRACE.
pub fn read(
    config: &Config,
    selected: &[Selected],
    saved: &SavedState,
    out: &mut Output,
) -> Result<Vec<StreamReport>> {
    out.redact_config(config);
    let client = super::client(config, RetryPolicy::default());
    let upper = match client.get_json(super::WHOAMI, &[]) {
        Ok(r) => sync_upper(Utc::now(), r.date),
        Err(e) => return Err(anyhow::Error::new(e).context("checking the API key before the sync")),
    };
    out.log(LogLevel::Info, &format!("sync window ends at {} (the earlier of our clock and the server's); {} stream(s) selected", time::format(upper), selected.len()))?;

    let mut reports = Vec::new();
    let mut failed: Vec<(String, FailureType)> = Vec::new();
    let mut definitions = Definitions::default();
    for sel in selected {
        let def = sel.def;
        if sel.downgraded {
            out.log(
                LogLevel::Info,
                &format!("stream {}: has no cursor, so it runs as full refresh although incremental was asked", def.name),
            )?;
        }
        let window = if sel.incremental {
            Window::incremental(
                config.start_date,
                engine::saved_cursor(def, saved.get(def.name))?,
                upper,
            )
        } else {
            Window::full_refresh(config.start_date)
        };
        out.stream_status(def.name, StreamStatusKind::Started)?;
        out.stream_status(def.name, StreamStatusKind::Running)?;
        let pinned = sel
            .pinned
            .clone()
            .or(&Naming::from_state(saved.get(def.name)));
        let result = super::shaper(def, config, &client, &mut definitions, &pinned, false, out)
            .and_then(|shaper| {
                engine::read_stream(&client, def, sel.incremental, window, shaper.as_ref(), out)
            });
        match result {
            Ok(stats) => {
                let outcome = match &stats.skipped {
                    Some(reason) => {
                        out.log(
                            LogLevel::Warn,
                            &format!(
                                "stream {} skipped: the token's user may not read it ({reason}). The other streams go on; \
                                 use an admin user's token, or enable the feature, to sync it",
                                def.name
                            ),
                        )?;
                        StreamOutcome::Skipped(reason.clone())
                    }
                    None => StreamOutcome::Complete,
                };
                out.stream_status(def.name, StreamStatusKind::Complete)?;
                reports.push(StreamReport {
                    stream: def.name,
                    stats,
                    outcome,
                });
            }
            Err(e) => {
                if e.chain().any(|c| c.is::<std::io::Error>()) {
                    return Err(e);
                }
                let failure_type = classify(&e);
                let message = format!("stream {} failed: {e:#}", def.name);
                out.trace_error(
                    &message,
                    &format!("{e:?}"),
                    failure_type.as_str(),
                    Some(def.name),
                )?;
                out.stream_status(def.name, StreamStatusKind::Incomplete)?;
                failed.push((def.name.to_string(), failure_type));
                reports.push(StreamReport {
                    stream: def.name,
                    stats: StreamStats::default(),
                    outcome: StreamOutcome::Failed(message),
                });
                if stops_the_sync(&e) {
                    out.log(
                        LogLevel::Error,
                        "the remaining streams are not read: this failure would repeat for each",
                    )?;
                    break;
                }
            }
        }
    }
    summarize(&reports, out)?;
    out.flush()?;
    match failed.first() {
        None => Ok(reports),
        Some((_, first)) => Err(Reported {
            failure_type: *first,
            failed_streams: failed.into_iter().map(|(n, _)| n).collect(),
        }
        .into()),
    }
}

/// The end of this sync's window: now, by the server's clock when it is behind ours, in whole
/// seconds (Pipedrive's update times have no fractions).
pub fn sync_upper(local_now: DateTime<Utc>, server: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let t = server.map_or(local_now, |s| s.min(local_now));
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

fn stops_the_sync(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<HttpError>(),
            Some(HttpError::BudgetExhausted { .. })
                | Some(HttpError::Status {
                    status: 401 | 402,
                    ..
                })
        )
    })
}

fn summarize(reports: &[StreamReport], out: &mut Output) -> std::io::Result<()> {
    let mut records = 0;
    let mut requests = 0;
    let mut tokens = 0;
    for r in reports {
        let s = &r.stats;
        records += s.records;
        requests += s.requests;
        tokens += s.tokens;
        let how = match &r.outcome {
            StreamOutcome::Complete => "complete",
            StreamOutcome::Skipped(_) => "skipped",
            StreamOutcome::Failed(_) => "failed",
        };
        out.log(
            LogLevel::Info,
            &format!(
                "summary {}: {how}, {} records, {} requests, ~{} tokens",
                r.stream, s.records, s.requests, s.tokens
            ),
        )?;
    }
    out.log(
        LogLevel::Info,
        &format!("summary total: {records} records, {requests} requests, ~{tokens} tokens (+1 request, 2 tokens to check the key)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_takes_the_earlier_clock_in_whole_seconds() {
        let local: DateTime<Utc> = "2026-01-01T10:00:00.700Z".parse().unwrap();
        let behind: DateTime<Utc> = "2026-01-01T09:59:00Z".parse().unwrap();
        let ahead: DateTime<Utc> = "2026-01-01T10:05:00Z".parse().unwrap();
        assert_eq!(sync_upper(local, Some(behind)), behind);
        assert_eq!(
            sync_upper(local, Some(ahead)),
            "2026-01-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            sync_upper(local, None),
            "2026-01-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
