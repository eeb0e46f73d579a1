//! `read`: syncs the selected streams. A stream the token's user may not read is skipped with
//! a warning; a stream that fails gets its own TRACE error and the others go on; failures that
//! would fail every stream (the key rejected, the daily budget spent, stdout gone) stop the sync
//! at once, keeping every checkpoint already written.
//!
//! A request the user's token caps hold back (`max_tokens_per_sync`,
//! `daily_budget_reserve_percent`) stops the sync the same way, but is no failure of a stream:
//! the streams it cut short end INCOMPLETE with their checkpoints so far (a full refresh without
//! its final sentinel), and one TRACE `transient_error` at the end says which limit, how far the
//! sync got, and that the next sync resumes there.
//!
//! The streams are planned into jobs, which up to `max_concurrent_streams` workers run side by
//! side, sharing one HTTP client and so one rate limiter. A job is one stream, or the parent
//! streams of some child streams (read in the children's parent order) with those children
//! riding along their passes, so that parents are listed once, not once per child stream.
//! Within a stream, records and checkpoints keep their order whatever the workers do.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::classify;
use super::fields::Definitions;
use crate::catalog::Selected;
use crate::config::Config;
use crate::custom_fields::{Naming, Shaper};
use crate::error::{stdout_gone, FailureType, Reported};
use crate::http::{BudgetStop, Client, HttpError, RetryPolicy};
use crate::output::Output;
use crate::progress::{Tally, Totals, Watch};
use crate::protocol::airbyte::{LogLevel, StreamStatusKind};
use crate::state::SavedState;
use crate::streams::engine::{self, Meter, Phase, Rider, Shape, StreamStats, Window};
use crate::streams::time;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    Complete,
    Skipped(String),
    Failed(String),
    /// Cut short by the token caps; resumes from its last STATE.
    Stopped,
}

impl StreamOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            StreamOutcome::Complete => "complete",
            StreamOutcome::Skipped(_) => "skipped",
            StreamOutcome::Failed(_) => "failed",
            StreamOutcome::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StreamReport {
    pub stream: &'static str,
    pub stats: StreamStats,
    pub outcome: StreamOutcome,
    /// Records written, requests answered and their tokens: the stream's meter at its end.
    pub records: u64,
    pub requests: u64,
    pub tokens: u64,
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
    /// That failure, for the child streams whose parents it left unread.
    halt: Mutex<Option<HttpError>>,
    tally: Arc<Tally>,
}

impl Shared<'_> {
    fn meter(&self, i: usize) -> &Meter {
        &self.tally.streams[i].meter
    }
}

/// One stream's report, where it stands in the catalog, and how it failed if it did.
type Done = (usize, StreamReport, Option<FailureType>);

/// Syncs `selected`, telling `watch` how it goes; returns one report per stream read, or a
/// `Reported` error once every failure has been written as TRACE.
pub fn read(
    config: &Config,
    selected: &[Selected],
    saved: &SavedState,
    out: &mut Output,
    watch: &dyn Watch,
) -> Result<Vec<StreamReport>> {
    super::redact(config, out);
    for warning in saved.warnings() {
        out.log(LogLevel::Warn, warning)?;
    }
    let client = super::client(config, RetryPolicy::default(), Some(out));
    let names: Vec<&'static str> = selected.iter().map(|s| s.def.name).collect();
    let tally = Arc::new(Tally::new(
        &names,
        Arc::clone(&client.counters),
        client.caps(),
    ));
    watch.started(&tally);
    let upper = match client.get_json(super::WHOAMI, &[], super::WHOAMI_TOKENS) {
        Ok(r) => sync_upper(Utc::now(), r.date),
        Err(e) => {
            watch.ended(&tally);
            return Err(anyhow::Error::new(e).context("checking the API key before the sync"));
        }
    };
    // Every window first: a state that cannot be read fails the sync before any stream starts.
    let windows = selected
        .iter()
        .map(|sel| {
            Ok(if sel.incremental {
                let mut window = Window::incremental(
                    config.start_date,
                    engine::saved_cursor(sel.def, saved.get(sel.def.name))?,
                    upper,
                );
                // Any state (a full refresh's sentinel too): the destination holds the stream.
                window.from_state |= saved.get(sel.def.name).is_some();
                window
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
            .map(|mut window| {
                window.began = Some(upper);
                window
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
        halt: Mutex::new(None),
        tally,
    };
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Done>> = Mutex::new(Vec::new());
    let result = std::thread::scope(|scope| -> Result<()> {
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
    });
    watch.ended(&shared.tally);
    result?;

    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _, _)| *i);
    let reports: Vec<StreamReport> = done.iter().map(|(_, r, _)| r.clone()).collect();
    let definitions = shared.definitions.lock().unwrap_or_else(|e| e.into_inner());
    let totals = shared.tally.totals();
    summarize(&reports, &definitions, &totals, out)?;
    drop(definitions);
    let stopped_by = shared.client.budget_stop();
    if let Some(stop) = &stopped_by {
        let message = budget_message(stop, &reports, &totals);
        out.trace_error(
            &message,
            &message,
            FailureType::TransientError.as_str(),
            None,
        )?;
    }
    out.flush()?;
    let failed: Vec<(&str, FailureType)> = done
        .iter()
        .filter_map(|(_, r, f)| f.map(|f| (r.stream, f)))
        .collect();
    let stopped = reports
        .iter()
        .filter(|r| r.outcome == StreamOutcome::Stopped)
        .map(|r| r.stream);
    // A failure of its own decides the exit code; a stop for the budget alone is transient.
    let failure_type = match (failed.first(), &stopped_by) {
        (Some((_, first)), _) => *first,
        (None, Some(_)) => FailureType::TransientError,
        (None, None) => return Ok(reports),
    };
    Err(Reported {
        failure_type,
        failed_streams: failed
            .iter()
            .map(|(n, _)| *n)
            .chain(stopped)
            .map(str::to_string)
            .collect(),
    }
    .into())
}

/// What the final TRACE of a sync stopped by the token caps says: which limit, how far the sync
/// got, and where the next one resumes.
fn budget_message(stop: &BudgetStop, reports: &[StreamReport], totals: &Totals) -> String {
    let named = |o: &dyn Fn(&StreamOutcome) -> bool| -> Vec<&str> {
        reports
            .iter()
            .filter(|r| o(&r.outcome))
            .map(|r| r.stream)
            .collect()
    };
    let complete = named(&|o| matches!(o, StreamOutcome::Complete | StreamOutcome::Skipped(_)));
    let stopped = named(&|o| *o == StreamOutcome::Stopped);
    let started = reports.len();
    let not_started = totals.in_phase(Phase::Waiting);
    let total = started + not_started;
    format!(
        "the sync stopped at the token limit set by `{}`: {stop}. It got this far: {} of {total} \
         stream(s) complete, {} stopped part-way ({}), {not_started} not started; {} records \
         written, ~{} tokens spent. No request went out past the limit, and every STATE written \
         stays valid: the next sync, given the last STATE of each stream, resumes where this one \
         stopped (incremental streams from their cursor, resumable full refreshes from their last \
         page checkpoint; a stopped full refresh that cannot resume starts over, and none wrote \
         its final state)",
        stop.setting(),
        complete.len(),
        stopped.len(),
        if stopped.is_empty() {
            "none".to_string()
        } else {
            stopped.join(", ")
        },
        totals.records,
        totals.tokens,
    )
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
    // The longest chains of requests first, so that they run beside the rest instead of alone
    // at the end: lists served in small pages, then parents with children riding along; else
    // catalog order, by each job's first stream.
    jobs.sort_by_key(|j| {
        let small_pages = j
            .streams
            .iter()
            .any(|&i| selected[i].def.paging.limit().is_some_and(|l| l < 500));
        (
            !small_pages,
            j.riders.is_empty(),
            j.streams.iter().chain(&j.riders).min().copied(),
        )
    });
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
                shared.meter(*i),
            )
            .map(|r| (*i, r))
        })
        .unzip();
    let mut parents_read = true;
    for &i in &job.streams {
        if shared.stop.load(Ordering::Relaxed) {
            parents_read = false;
            let halt = shared
                .halt
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(cause) = halt {
                for r in riders.iter_mut() {
                    r.halted(anyhow::Error::new(cause.clone()));
                }
            }
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
                shared.meter(i),
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
    shared.meter(i).set_phase(Phase::Reading);
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
    let meter = shared.meter(i);
    let report = |stats: StreamStats, outcome: StreamOutcome| StreamReport {
        stream: def.name,
        stats,
        outcome,
        records: meter.records(),
        requests: meter.requests(),
        tokens: meter.tokens(),
    };
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
                    meter.set_phase(Phase::Skipped);
                    StreamOutcome::Skipped(reason.clone())
                }
                None => {
                    meter.set_phase(Phase::Done);
                    StreamOutcome::Complete
                }
            };
            out.stream_status(def.name, StreamStatusKind::Complete)?;
            Ok((i, report(stats, outcome), None))
        }
        Err(e) => {
            if stdout_gone(&e) {
                meter.set_phase(Phase::Failed);
                shared.stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
            if over_budget(&e) {
                halt(shared, &e);
                meter.set_phase(Phase::Stopped);
                out.log(
                    LogLevel::Warn,
                    &format!(
                        "stream {} stopped part-way by the token budget after {} records; its \
                         checkpoints so far stay valid and the next sync resumes from the last",
                        def.name,
                        meter.records()
                    ),
                )?;
                out.stream_status(def.name, StreamStatusKind::Incomplete)?;
                return Ok((
                    i,
                    report(StreamStats::default(), StreamOutcome::Stopped),
                    None,
                ));
            }
            meter.set_phase(Phase::Failed);
            let failure_type = classify(&e);
            let message = format!("stream {} failed: {e:#}", def.name);
            out.trace_error(
                &message,
                &format!("{e:?}"),
                failure_type.as_str(),
                Some(def.name),
            )?;
            out.stream_status(def.name, StreamStatusKind::Incomplete)?;
            if stops_the_sync(&e) && halt(shared, &e) {
                out.log(
                    LogLevel::Error,
                    "the remaining streams are not read: this failure would repeat for each",
                )?;
            }
            let report = report(StreamStats::default(), StreamOutcome::Failed(message));
            Ok((i, report, Some(failure_type)))
        }
    }
}

/// Stops the sync for a failure that would repeat for every stream (`e`): no worker starts
/// another stream, and children whose parents are left unread end for the same cause. Whether
/// this call was the first to stop it.
fn halt(shared: &Shared, e: &anyhow::Error) -> bool {
    let cause = e
        .chain()
        .find_map(|c| c.downcast_ref::<HttpError>())
        .cloned();
    let mut halt = shared.halt.lock().unwrap_or_else(|e| e.into_inner());
    if halt.is_none() {
        *halt = cause;
    }
    !shared.stop.swap(true, Ordering::Relaxed)
}

/// Whether `e` is a request the token caps held back.
fn over_budget(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<HttpError>(),
            Some(HttpError::OverBudget(_))
        )
    })
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
                | Some(HttpError::Auth { .. })
                | Some(HttpError::Status {
                    status: 401 | 402,
                    ..
                })
        )
    })
}

/// The summary LOG lines: per stream, then the totals, which the progress display shows too
/// (`Tally::totals`).
fn summarize(
    reports: &[StreamReport],
    definitions: &Definitions,
    totals: &Totals,
    out: &mut Output,
) -> std::io::Result<()> {
    let mut requests = 0;
    let mut tokens = 0;
    for r in reports {
        let s = &r.stats;
        requests += r.requests;
        tokens += r.tokens;
        let how = r.outcome.as_str();
        let vanished = match s.vanished_parents {
            0 => String::new(),
            1 => ", 1 vanished parent (gone before its children were read)".to_string(),
            n => format!(", {n} vanished parents (gone before their children were read)"),
        };
        let sliced = match s.time_slices {
            0 | 1 => String::new(),
            n => format!(", read in {n} time slices side by side"),
        };
        out.log(
            LogLevel::Info,
            &format!(
                "summary {}: {how}, {} records, {} requests, ~{} tokens{vanished}{sliced}",
                r.stream, r.records, r.requests, r.tokens
            ),
        )?;
    }
    let d = &definitions.meter;
    out.log(
        LogLevel::Info,
        &format!(
            "summary total: {} records, {} requests, ~{} tokens (streams {requests} requests, ~{tokens} tokens; \
             custom-field definitions {} requests, ~{} tokens; the key check 1 request, {} tokens; retries {})",
            totals.records,
            totals.requests,
            totals.tokens,
            d.requests(),
            d.tokens(),
            super::WHOAMI_TOKENS,
            totals.retries,
        ),
    )?;
    out.log(
        LogLevel::Info,
        &format!(
            "summary http: {} requests sent, {} of them retries, {} answered 429 (burst limit), \
             {:.1} s held back by rate limits",
            totals.requests,
            totals.retries,
            totals.rate_limited,
            totals.rate_limit_wait.as_secs_f64()
        ),
    )?;
    out.log(
        LogLevel::Info,
        &format!("summary tokens: {}", token_line(totals)),
    )
}

/// Tokens spent and left, as the summary and the progress display say them.
pub fn token_line(t: &Totals) -> String {
    let mut line = format!("~{} spent by this sync", t.tokens);
    if let (Some(max), Some(left)) = (t.caps.max_tokens, t.sync_tokens_left()) {
        line.push_str(&format!("; ~{left} left of max_tokens_per_sync {max}"));
    }
    match t.daily {
        Some((limit, remaining)) => {
            line.push_str(&format!(
                "; Pipedrive reports {remaining} of the company's {limit} daily tokens left"
            ));
            if let (Some(p), Some(reserve)) = (t.caps.reserve_percent, t.daily_reserve()) {
                line.push_str(&format!(" (reserve {p}%: {reserve})"));
            }
        }
        None => line.push_str("; Pipedrive did not report the daily budget"),
    }
    line
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
            // Parents with riders next, as their chains are the longer.
            Job {
                streams: vec![5],
                riders: vec![6],
            },
            Job {
                streams: vec![1],
                riders: vec![],
            },
            // Its parent (roles) is not selected: it lists it itself.
            Job {
                streams: vec![7],
                riders: vec![],
            },
        ];
        assert_eq!(jobs, want);
        // A list served in small pages (files: 100 a page) is the longest chain: it goes first.
        let sel = selected(&["persons", "users", "user_permissions", "files"]);
        let first: Vec<Vec<usize>> = plan(&sel, &windows(&[None; 4]))
            .into_iter()
            .map(|j| j.streams)
            .collect();
        assert_eq!(first, [vec![3], vec![1], vec![0]]);
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
