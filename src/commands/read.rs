//! `read`: syncs the selected streams. A stream the token's user may not read is skipped with
//! a warning; a stream that fails gets its own TRACE error and the others go on; failures that
//! would fail every stream (the key rejected, the daily budget spent, stdout gone) stop the sync
//! at once, keeping every checkpoint already written.
//!
//! The streams are planned into jobs, which up to `max_concurrent_streams` workers run side by
//! side, sharing one HTTP client and so one rate limiter. A job is one stream, or the parent
//! streams of some child streams (read in the children's parent order) with those children
//! riding along their passes, so that parents are listed once, not once per child stream.
//! Within a stream, records and checkpoints keep their order whatever the workers do.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Result;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::classify;
use super::fields::Definitions;
use crate::catalog::Selected;
use crate::config::Config;
use crate::custom_fields::{Naming, Shaper};
use crate::error::{stdout_gone, FailureType, Reported};
use crate::http::{Client, HttpError, RetryPolicy};
use crate::output::Output;
use crate::protocol::airbyte::{LogLevel, StreamStatusKind};
use crate::state::SavedState;
use crate::streams::engine::{self, Rider, Shape, StreamStats, Window};
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

/// Work for one worker: `streams` read one after the other, `riders` along their passes.
/// Both hold indices into the selected streams.
#[derive(Debug, Default, PartialEq, Eq)]
struct Job {
    streams: Vec<usize>,
    riders: Vec<usize>,
}

/// What every worker shares.
struct Shared<'a> {
    config: &'a Config,
    client: Client,
    selected: &'a [Selected],
    windows: Vec<Window>,
    saved: &'a SavedState,
    definitions: Mutex<Definitions>,
    /// Set by a failure that would fail every stream: no worker starts another stream.
    stop: AtomicBool,
}

/// One stream's report, where it stands in the catalog, and how it failed if it did.
type Done = (usize, StreamReport, Option<FailureType>);

/// Syncs `selected`; returns one report per stream read, or a `Reported` error once every
/// failure has been written as TRACE.
pub fn read(
    config: &Config,
    selected: &[Selected],
    saved: &SavedState,
    out: &mut Output,
) -> Result<Vec<StreamReport>> {
    super::redact(config, out);
    for warning in saved.warnings() {
        out.log(LogLevel::Warn, warning)?;
    }
    let client = super::client(config, RetryPolicy::default());
    let upper = match client.get_json(super::WHOAMI, &[]) {
        Ok(r) => sync_upper(Utc::now(), r.date),
        Err(e) => return Err(anyhow::Error::new(e).context("checking the API key before the sync")),
    };
    // Every window first: a state that cannot be read fails the sync before any stream starts.
    let windows = selected
        .iter()
        .map(|sel| {
            Ok(if sel.incremental {
                Window::incremental(
                    config.start_date,
                    engine::saved_cursor(sel.def, saved.get(sel.def.name))?,
                    upper,
                )
            } else if sel.def.resumable_full_refresh() && !out.is_singer() {
                // A full refresh cut short resumes from its last checkpoint; the CDK's
                // sentinel (no cursor) starts it again from start_date.
                Window::resumed_full_refresh(
                    config.start_date,
                    engine::saved_full_refresh_checkpoint(sel.def, saved.get(sel.def.name))?,
                )
            } else {
                Window::full_refresh(config.start_date)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let jobs = plan(selected, &windows);
    let workers = config.max_concurrent_streams.clamp(1, jobs.len().max(1));
    out.log(LogLevel::Info, &format!("sync window ends at {} (the earlier of our clock and the server's); {} stream(s) selected, in {} job(s) on {workers} worker(s)", time::format(upper), selected.len(), jobs.len()))?;
    for job in jobs.iter().filter(|j| !j.riders.is_empty()) {
        let names = |ix: &[usize]| {
            ix.iter()
                .map(|&i| selected[i].def.name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.log(
            LogLevel::Info,
            &format!(
                "{} read along the passes over {}, which are listed once for all of them",
                names(&job.riders),
                names(&job.streams)
            ),
        )?;
    }

    let shared = Shared {
        config,
        client,
        selected,
        windows,
        saved,
        definitions: Mutex::new(Definitions::default()),
        stop: AtomicBool::new(false),
    };
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Done>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let mut out = out.fork();
                let (shared, jobs, next, done) = (&shared, &jobs, &next, &done);
                scope.spawn(move || -> Result<()> {
                    while !shared.stop.load(Ordering::Relaxed) {
                        let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let reports = run_job(shared, job, &mut out);
                        out.flush()?;
                        done.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(reports?);
                    }
                    Ok(())
                })
            })
            .collect();
        let mut result = Ok(());
        for h in handles {
            let joined = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if result.is_ok() {
                result = joined;
            }
        }
        result
    })?;

    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _, _)| *i);
    let reports: Vec<StreamReport> = done.iter().map(|(_, r, _)| r.clone()).collect();
    let definitions = shared.definitions.lock().unwrap_or_else(|e| e.into_inner());
    summarize(&reports, &definitions, &shared.client, out)?;
    drop(definitions);
    out.flush()?;
    let failed: Vec<(&str, FailureType)> = done
        .iter()
        .filter_map(|(_, r, f)| f.map(|f| (r.stream, f)))
        .collect();
    match failed.first() {
        None => Ok(reports),
        Some((_, first)) => Err(Reported {
            failure_type: *first,
            failed_streams: failed.iter().map(|(n, _)| n.to_string()).collect(),
        }
        .into()),
    }
}

/// Groups the selected streams into jobs, in catalog order. A child stream rides along its
/// parents when every parent is selected, is a stream of its own, is read in a window that holds
/// the child's, and is not already in a job with other parents; otherwise it reads alone.
fn plan(selected: &[Selected], windows: &[Window]) -> Vec<Job> {
    let position = |name: &str| selected.iter().position(|s| s.def.name == name);
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: Vec<Option<usize>> = vec![None; selected.len()];
    for (i, sel) in selected.iter().enumerate() {
        let Some(parent) = sel.def.parent else {
            continue;
        };
        let parents: Option<Vec<usize>> = parent
            .streams
            .iter()
            .map(|name| {
                position(name).filter(|&p| {
                    selected[p].def.parent.is_none() && Rider::can_ride(&windows[i], &windows[p])
                })
            })
            .collect();
        let Some(parents) = parents else {
            continue;
        };
        let j = match job_of[parents[0]] {
            Some(j) if jobs[j].streams == parents => j,
            Some(_) => continue,
            None if parents.iter().any(|p| job_of[*p].is_some()) => continue,
            None => {
                jobs.push(Job {
                    streams: parents.clone(),
                    riders: Vec::new(),
                });
                jobs.len() - 1
            }
        };
        jobs[j].riders.push(i);
        for &p in &parents {
            job_of[p] = Some(j);
        }
        job_of[i] = Some(j);
    }
    for (i, job) in job_of.iter().enumerate() {
        if job.is_none() {
            jobs.push(Job {
                streams: vec![i],
                riders: Vec::new(),
            });
        }
    }
    // Catalog order, by each job's first stream.
    jobs.sort_by_key(|j| j.streams.iter().chain(&j.riders).min().copied());
    jobs
}

/// Reads one job's streams, then closes its riders. `Err` only when stdout is gone.
fn run_job(shared: &Shared, job: &Job, out: &mut Output) -> Result<Vec<Done>> {
    let mut done = Vec::new();
    let mut rider_shapers: Vec<(usize, Option<Shaper>)> = Vec::new();
    for &i in &job.riders {
        start(shared, i, out)?;
        match shaper(shared, i, out) {
            Ok(shaper) => rider_shapers.push((i, shaper)),
            Err(e) => done.push(report(shared, i, Err(e), out)?),
        }
    }
    // The riders borrow their shapers, so these live in their own vector.
    let (rider_ix, mut riders): (Vec<usize>, Vec<Rider>) = rider_shapers
        .iter()
        .filter_map(|(i, shaper)| {
            let sel = &shared.selected[*i];
            Rider::new(
                sel.def,
                sel.incremental,
                shared.windows[*i],
                shaper.as_ref().map(|s| s as &dyn Shape),
            )
            .map(|r| (*i, r))
        })
        .unzip();
    let mut parents_read = true;
    for &i in &job.streams {
        if shared.stop.load(Ordering::Relaxed) {
            parents_read = false;
            break;
        }
        start(shared, i, out)?;
        let sel = &shared.selected[i];
        let result = shaper(shared, i, out).and_then(|shaper| {
            engine::read_stream(
                &shared.client,
                sel.def,
                sel.incremental,
                shared.windows[i],
                shaper.as_ref().map(|s| s as &dyn Shape),
                &mut riders,
                out,
            )
        });
        parents_read &= result.is_ok();
        done.push(report(shared, i, result, out)?);
    }
    for (i, rider) in rider_ix.into_iter().zip(riders) {
        let result = rider.finish(out, parents_read);
        done.push(report(shared, i, result, out)?);
    }
    Ok(done)
}

/// The messages that open a stream.
fn start(shared: &Shared, i: usize, out: &mut Output) -> Result<()> {
    let def = shared.selected[i].def;
    if shared.selected[i].downgraded {
        out.log(
            LogLevel::Info,
            &format!("stream {}: has no cursor, so it runs as full refresh although incremental was asked", def.name),
        )?;
    }
    out.stream_status(def.name, StreamStatusKind::Started)?;
    out.stream_status(def.name, StreamStatusKind::Running)?;
    Ok(())
}

/// The custom-field shaping of stream `i`, its names pinned by the catalog or else the state.
fn shaper(shared: &Shared, i: usize, out: &mut Output) -> Result<Option<Shaper>> {
    let sel = &shared.selected[i];
    let pinned = sel
        .pinned
        .clone()
        .or(&Naming::from_state(shared.saved.get(sel.def.name)));
    let mut definitions = shared.definitions.lock().unwrap_or_else(|e| e.into_inner());
    super::fields::shaper(
        sel.def,
        shared.config,
        &shared.client,
        &mut definitions,
        &pinned,
        false,
        out,
    )
}

/// Writes how stream `i` ended (a warning when skipped, a TRACE when failed) and stops the
/// other workers when its failure would repeat for every stream. `Err` only when stdout is gone.
fn report(
    shared: &Shared,
    i: usize,
    result: Result<StreamStats>,
    out: &mut Output,
) -> Result<Done> {
    let def = shared.selected[i].def;
    match result {
        Ok(stats) => {
            for list in &stats.denied_parents {
                out.log(
                    LogLevel::Warn,
                    &format!(
                        "stream {}: the children of {list} are left out, as the token's user may not \
                         read that parent list; the children of its other parents are read, and the \
                         stream is complete without them",
                        def.name
                    ),
                )?;
            }
            for warning in &stats.warnings {
                out.log(LogLevel::Warn, &format!("stream {}: {warning}", def.name))?;
            }
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
            Ok((
                i,
                StreamReport {
                    stream: def.name,
                    stats,
                    outcome,
                },
                None,
            ))
        }
        Err(e) => {
            if stdout_gone(&e) {
                shared.stop.store(true, Ordering::Relaxed);
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
            if stops_the_sync(&e) && !shared.stop.swap(true, Ordering::Relaxed) {
                out.log(
                    LogLevel::Error,
                    "the remaining streams are not read: this failure would repeat for each",
                )?;
            }
            let report = StreamReport {
                stream: def.name,
                stats: StreamStats::default(),
                outcome: StreamOutcome::Failed(message),
            };
            Ok((i, report, Some(failure_type)))
        }
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

fn summarize(
    reports: &[StreamReport],
    definitions: &Definitions,
    client: &Client,
    out: &mut Output,
) -> std::io::Result<()> {
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
        let vanished = match s.vanished_parents {
            0 => String::new(),
            1 => ", 1 vanished parent (gone before its children were read)".to_string(),
            n => format!(", {n} vanished parents (gone before their children were read)"),
        };
        out.log(
            LogLevel::Info,
            &format!(
                "summary {}: {how}, {} records, {} requests, ~{} tokens{vanished}",
                r.stream, s.records, s.requests, s.tokens
            ),
        )?;
    }
    out.log(
        LogLevel::Info,
        &format!(
            "summary total: {records} records, {} requests, ~{} tokens (streams {requests} requests, ~{tokens} tokens; \
             custom-field definitions {} requests, ~{} tokens; the key check 1 request, 2 tokens)",
            requests + definitions.requests + 1,
            tokens + definitions.tokens + 2,
            definitions.requests,
            definitions.tokens
        ),
    )?;
    let c = &client.counters;
    out.log(
        LogLevel::Info,
        &format!(
            "summary http: {} requests sent, {} of them retries, {} answered 429 (burst limit)",
            c.requests.load(Ordering::Relaxed),
            c.retries.load(Ordering::Relaxed),
            c.rate_limited.load(Ordering::Relaxed)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(names: &[&str]) -> Vec<Selected> {
        names
            .iter()
            .map(|n| Selected {
                def: crate::streams::find(n).unwrap(),
                incremental: true,
                downgraded: false,
                pinned: Naming::default(),
            })
            .collect()
    }

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    fn windows(cursors: &[Option<&str>]) -> Vec<Window> {
        let upper = at("2026-06-01T00:00:00Z");
        cursors
            .iter()
            .map(|c| Window::incremental(at("2024-01-01T00:00:00Z"), c.map(at), upper))
            .collect()
    }

    #[test]
    fn children_ride_along_parents_that_are_read_anyway() {
        let sel = selected(&[
            "deals",
            "persons",
            "deal_products",
            "archived_deals",
            "deal_installments",
            "users",
            "user_permissions",
            "role_assignments",
        ]);
        let jobs = plan(&sel, &windows(&[None; 8]));
        let want = [
            // The deal children ride along archived deals then deals (their parent order).
            Job {
                streams: vec![3, 0],
                riders: vec![2, 4],
            },
            Job {
                streams: vec![1],
                riders: vec![],
            },
            Job {
                streams: vec![5],
                riders: vec![6],
            },
            // Its parent (roles) is not selected: it lists it itself.
            Job {
                streams: vec![7],
                riders: vec![],
            },
        ];
        assert_eq!(jobs, want);
    }

    #[test]
    fn a_child_behind_its_parents_reads_alone() {
        let sel = selected(&[
            "deals",
            "archived_deals",
            "deal_products",
            "deal_installments",
        ]);
        // deal_products was cut before the deals' last checkpoint: the deals' pass would miss
        // parents it needs. deal_installments is ahead of them: the pass holds its window.
        let w = windows(&[
            Some("2025-03-01T00:00:00Z"),
            Some("2025-03-01T00:00:00Z"),
            Some("2025-02-01T00:00:00Z"),
            Some("2025-04-01T00:00:00Z"),
        ]);
        let jobs = plan(&sel, &w);
        assert_eq!(
            jobs,
            [
                Job {
                    streams: vec![1, 0],
                    riders: vec![3]
                },
                Job {
                    streams: vec![2],
                    riders: vec![]
                },
            ]
        );
        assert!(Rider::can_ride(&w[3], &w[0]));
        assert!(!Rider::can_ride(&w[2], &w[0]));
        // A full-refresh child needs every parent: an incremental parent pass does not hold it.
        let full = Window::full_refresh(at("2024-01-01T00:00:00Z"));
        assert!(!Rider::can_ride(&full, &w[0]));
        assert!(Rider::can_ride(&w[0], &full));
    }

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
