//! Change safety: a model-based test of the sync rules while the CRM changes. For each seed, a
//! random history of changes between syncs and of syncs (full refresh and incremental, some with
//! the CRM changing between their requests, some killed with SIGKILL and resumed from the last
//! STATE of each stream), every RECORD replayed into an in-memory destination, which must end
//! up holding exactly what the sandbox holds, each record whole (`emitted.rs`), with no row
//! Pipedrive does not hold unless the API hides its delete. No sync may crash (a panic, a signal
//! other than the test's SIGKILL); one that fails says why in a TRACE error, and only the errors
//! the README documents pass; the last sync, on a still world, completes every stream. A run
//! must have killed syncs, changed the CRM under them and aimed changes at page edges (counted
//! over the seeds). One seed draws every choice (the changes, the syncs, where a sync dies), so
//! a failure replays from its seed: `CHANGE_SEED=<seed> cargo test --test integration
//! change_safety -- --nocapture`.
//!
//! The default run takes a few dozen seeds; `cargo test --release --test integration --
//! --ignored change_safety` takes `CHANGE_SEEDS` of them (default 1,000). With
//! `CHANGE_HISTORY_DIR=<dir>`, every seed's history is written there, failing or not: what the
//! seeds cover.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use pipedrive_sandbox::changes::{Aim, Op, Rng, Schedule};
use pipedrive_sandbox::{Faults, Resource, SandboxOptions};
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::{LogLevel, Message, StreamStatusKind, Trace};
use source_pipedrive::streams::{self, time, StreamDef, DELETED_AT};

use crate::emitted::{self, as_emitted, child_as_emitted, comparable};
use crate::util::{catalog, id_of, World, START};

/// The streams at risk when records move under a sync: offset and newest-first lists, parents
/// and their children, live lists and their archives.
const CATALOG: &[&str] = &[
    "deals",
    "archived_deals",
    "persons",
    "organizations",
    "products",
    "activities",
    "notes",
    "leads",
    "archived_leads",
    "files",
    "deal_products",
    "deal_installments",
    "product_variations",
    "deal_changelog",
    "projects",
    "archived_projects",
];

/// The catalog without the streams that cost one request per parent record.
const LISTS: &[&str] = &[
    "deals",
    "archived_deals",
    "persons",
    "organizations",
    "products",
    "activities",
    "notes",
    "leads",
    "archived_leads",
    "files",
    "deal_products",
    "deal_installments",
    "projects",
    "archived_projects",
];

/// The size of a seed's company and what its syncs read.
#[derive(Clone, Copy, Debug)]
struct Shape {
    /// Records per main resource.
    size: u64,
    streams: &'static [&'static str],
}

/// Most seeds: few enough records that the streams read per parent stay cheap.
const SMALL: Shape = Shape {
    size: 30,
    streams: CATALOG,
};

/// Some seeds: more files than one page holds (Pipedrive serves 100 a page whatever the
/// client asks), without the per-parent streams that would make them slow.
const WIDE: Shape = Shape {
    size: 130,
    streams: LISTS,
};

/// Seeds of the default run.
const DEFAULT_SEEDS: u64 = 24;

/// Where the frozen fake clock starts: after every generated record (2023 to 2025).
const CLOCK: &str = "2026-02-02T09:00:00Z";

/// Streams whose deletes the API does not show (README, "Deletions"): a destination keeps a
/// deleted row until a full refresh overwrites the table, so it is only checked to hold every
/// record Pipedrive holds, each as it is now.
const DELETES_UNSEEN: &[&str] = &[
    "persons",
    "organizations",
    "products",
    "activities",
    "notes",
    "leads",
    "archived_leads",
    "files",
    "product_variations",
];

#[test]
fn a_few_dozen_seeds() {
    let seeds = match std::env::var("CHANGE_SEED") {
        Ok(seed) => {
            let seed = seed.parse().expect("CHANGE_SEED is a whole number");
            seed..seed + 1
        }
        Err(_) => 0..DEFAULT_SEEDS,
    };
    run_seeds(seeds);
}

#[test]
#[ignore = "a thousand seeds take minutes: cargo test --release --test integration -- --ignored change_safety"]
fn a_thousand_seeds() {
    let n: u64 = std::env::var("CHANGE_SEEDS")
        .map(|n| n.parse().expect("CHANGE_SEEDS is a whole number"))
        .unwrap_or(1_000);
    run_seeds(0..n);
}

/// Runs every seed, two at a time, and fails with the lowest failing seed's story.
fn run_seeds(seeds: std::ops::Range<u64>) {
    let started = Instant::now();
    let next = AtomicU64::new(seeds.start);
    let tally = Tally::default();
    let failures: Mutex<BTreeMap<u64, Failure>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= seeds.end {
                    return;
                }
                let outcome = Sim::new(seed).run();
                tally.add(&outcome);
                if let Some(failure) = outcome.failure {
                    failures.lock().unwrap().insert(seed, failure);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    // Straight to stderr, past the test harness's capture: the count is the point of a long run.
    let _ = writeln!(
        std::io::stderr(),
        "change safety: {} seeds, {} syncs ({} killed), {} changes applied ({} during syncs, {} aimed), {} failing, in {:.1} s",
        seeds.end - seeds.start,
        tally.get(&tally.syncs),
        tally.get(&tally.kills),
        tally.get(&tally.changes),
        tally.get(&tally.live_changes),
        tally.get(&tally.aimed),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some((seed, first)) = failures.iter().next() {
        let all: Vec<String> = failures
            .iter()
            .map(|(seed, f)| format!("{seed}: {}", f.what.lines().next().unwrap_or("")))
            .collect();
        panic!(
            "seed {seed} fails; replay it with CHANGE_SEED={seed}\n{}\n{}\n\nfailing seeds:\n{}",
            first.history,
            first.what,
            all.join("\n")
        );
    }
    // A run that did not kill, change or aim proves nothing of what the test names.
    if seeds.end - seeds.start >= MIN_SEEDS_FOR_TALLY {
        for (what, n) in [
            ("syncs killed", &tally.kills),
            ("changes during syncs", &tally.live_changes),
            ("aimed changes", &tally.aimed),
        ] {
            assert!(tally.get(n) > 0, "no {what} over the seeds");
        }
    }
}

/// From this many seeds on, a run must have killed syncs and changed the CRM under them.
const MIN_SEEDS_FOR_TALLY: u64 = 8;

/// What the seeds did, added up: the test counts what it claims to exercise.
#[derive(Default)]
struct Tally {
    syncs: AtomicU64,
    kills: AtomicU64,
    changes: AtomicU64,
    live_changes: AtomicU64,
    aimed: AtomicU64,
}

impl Tally {
    fn add(&self, o: &Outcome) {
        for (sum, n) in [
            (&self.syncs, o.syncs),
            (&self.kills, o.kills),
            (&self.changes, o.changes),
            (&self.live_changes, o.live_changes),
            (&self.aimed, o.aimed),
        ] {
            sum.fetch_add(n, Ordering::SeqCst);
        }
    }

    fn get(&self, n: &AtomicU64) -> u64 {
        n.load(Ordering::SeqCst)
    }
}

/// What one seed gave.
struct Outcome {
    changes: u64,
    /// Changes made between a sync's requests.
    live_changes: u64,
    /// Changes aimed at a case that breaks connectors (`Aim`), not drawn at random.
    aimed: u64,
    syncs: u64,
    /// Syncs killed with SIGKILL.
    kills: u64,
    failure: Option<Failure>,
}

/// A seed's history, and what went wrong at its end.
struct Failure {
    history: String,
    what: String,
}

/// How one sync runs.
#[derive(Clone, Copy, Debug)]
struct Plan {
    incremental: bool,
    /// The CRM changes between the sync's requests.
    changing: bool,
    /// Killed with SIGKILL while it waits for the answer to this request; a sync that makes
    /// fewer requests ends normally.
    kill_at: Option<Kill>,
    /// What of a killed sync's stdout reaches the destination.
    cut: Cut,
    /// Incremental, but from no state: the connection's state was reset (the destination
    /// keeps its tables).
    reset: bool,
    /// The state file's entries leave out `"type"`, as some callers write them.
    untyped_state: bool,
}

/// One seed's world and history.
struct Sim {
    seed: u64,
    rng: Rng,
    world: World,
    schedule: Arc<Schedule>,
    shape: Shape,
    /// The stream this seed's kills aim at most.
    focus: &'static str,
    /// The token's user may not read archived deals (403), as on some accounts.
    archive_denied: bool,
    /// The stream whose v2 list pages in a circle (`Faults::cursor_cycle`).
    cycled: Option<&'static str>,
    /// The last STATE of each stream, as Airbyte keeps it between syncs.
    saved: BTreeMap<String, Value>,
    destination: Destination,
    /// Per archive stream, the rows its table held when the state was reset: the first sync
    /// of an archive writes no deletions (its destination may hold nothing), so a row archived
    /// before the reset and un-archived since stays until a full refresh (README, "Deletions
    /// and archives").
    kept_through_reset: BTreeMap<String, BTreeSet<String>>,
    history: Vec<String>,
    syncs: u64,
    kills: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let data_seed = rng.next_u64();
        let schedule_seed = rng.next_u64();
        let shape = if rng.chance(20) { WIDE } else { SMALL };
        let archive_denied = rng.chance(15);
        // Pages of 2 to 6 records: every list needs several, so records move across page
        // edges while they are read. Some companies' v2 lists page too.
        let page_cap = 2 + rng.below(5);
        let v2_page_cap = rng.chance(40).then(|| 3 + rng.below(8));
        // A v2 list whose pages go round in a circle (A, B, A): its stream must fail, not
        // page for ever, and only it.
        let cycled = if v2_page_cap.is_some() && rng.chance(25) {
            rng.pick(&["persons", "organizations", "activities"])
                .copied()
        } else {
            None
        };
        let world = World::with(SandboxOptions {
            seed: data_seed,
            size: shape.size,
            page_cap: Some(page_cap),
            v2_page_cap,
            lead_time_millis: true,
            burst_limit: u32::MAX,
            deny: if archive_denied {
                vec![("/api/v2/deals/archived".into(), 403)]
            } else {
                Vec::new()
            },
            faults: Faults {
                cursor_cycle: cycled.map(|s| streams::find(s).unwrap().path.to_string()),
                ..Faults::default()
            },
            frozen_clock: Some(CLOCK.parse().unwrap()),
            ..SandboxOptions::default()
        });
        let rate = 5 + rng.below(25);
        let focus = *rng.pick(shape.streams).unwrap();
        let schedule = Arc::new(Schedule::new(schedule_seed, rate));
        let mut header = format!(
            "seed {seed}: sandbox data seed {data_seed}, {} records per resource, v1 pages of {page_cap}, {} streams (focus {focus}), {rate}% changes per request",
            shape.size,
            shape.streams.len(),
        );
        if let Some(cap) = v2_page_cap {
            let _ = write!(header, ", v2 pages of {cap}");
        }
        if archive_denied {
            header.push_str(", archived deals denied (403)");
        }
        if let Some(stream) = cycled {
            let _ = write!(header, ", {stream} paged in a circle");
        }
        let mut history = vec![header];
        history.push(String::new());
        Sim {
            seed,
            rng,
            world,
            shape,
            focus,
            schedule,
            archive_denied,
            cycled,
            saved: BTreeMap::new(),
            destination: Destination::default(),
            kept_through_reset: BTreeMap::new(),
            history,
            syncs: 0,
            kills: 0,
        }
    }

    fn run(mut self) -> Outcome {
        let steps = 2 + self.rng.below(4);
        let mut failure = None;
        for _ in 0..steps {
            let result = if self.rng.chance(35) {
                self.offline();
                Ok(())
            } else {
                let plan = self.plan();
                self.sync(plan).map(drop)
            };
            if let Err(e) = result {
                failure = Some(e);
                break;
            }
        }
        if failure.is_none() {
            // The last sync runs on a still world, to the end, a second or more after the last
            // change (a sync reads up to the second it starts in): afterwards the destination
            // must hold what Pipedrive holds.
            self.world
                .sandbox
                .advance_clock(Duration::milliseconds(1_000 + self.rng.below(2_000) as i64));
            let last = Plan {
                incremental: true,
                changing: false,
                kill_at: None,
                cut: Cut::Nothing,
                reset: false,
                untyped_state: false,
            };
            failure = self
                .sync(last)
                .and_then(|messages| self.every_stream_completes(&messages))
                .err()
                .or_else(|| self.compare().err());
        }
        if let Ok(dir) = std::env::var("CHANGE_HISTORY_DIR") {
            let path = format!("{dir}/seed-{}.txt", self.seed);
            std::fs::write(path, self.history.join("\n")).expect("history written");
        }
        let changes = self.schedule.history();
        Outcome {
            changes: changes.len() as u64,
            live_changes: changes.iter().filter(|c| c.after.is_some()).count() as u64,
            aimed: changes.iter().filter(|c| c.aim != Aim::Random).count() as u64,
            syncs: self.syncs,
            kills: self.kills,
            failure: failure.map(|what| Failure {
                history: self.history.join("\n"),
                what,
            }),
        }
    }

    fn plan(&mut self) -> Plan {
        let incremental = self.rng.chance(70);
        let changing = self.rng.chance(60);
        let kill_at = self.rng.chance(45).then(|| match self.rng.below(100) {
            0..=24 => Kill::Request(1 + self.rng.below(120)),
            25..=74 => {
                // In the middle of a list, where records move while they are read: mostly
                // the seed's focus.
                let lists: Vec<&'static str> =
                    self.shape.streams.iter().map(|s| list_path(s)).collect();
                let path = if self.rng.chance(60) {
                    list_path(self.focus)
                } else {
                    self.rng.pick(&lists).copied().unwrap_or("/v1/leads")
                };
                Kill::Page(path, 1 + self.rng.below(8))
            }
            _ => Kill::AtEnd,
        });
        let cut = match self.rng.below(100) {
            0..=29 => Cut::Nothing,
            30..=54 => Cut::Prefix(self.rng.below(101)),
            _ => Cut::AfterState(
                self.rng.chance(60).then_some(self.focus),
                self.rng.next_u64(),
            ),
        };
        let reset = incremental && self.rng.chance(15);
        let untyped_state = self.rng.chance(10);
        Plan {
            incremental,
            changing,
            kill_at,
            cut,
            reset,
            untyped_state,
        }
    }

    fn offline(&mut self) {
        let before = self.schedule.applied();
        let count = 1 + self.rng.below(12) as usize;
        self.schedule.offline(&self.world.sandbox.world(), count);
        // Between syncs, time passes.
        self.world
            .sandbox
            .advance_clock(Duration::milliseconds(self.rng.below(3_000) as i64));
        self.history
            .push(format!("offline, {count} change(s) at random:"));
        self.note_changes(before);
    }

    fn note_changes(&mut self, since: usize) {
        for change in &self.schedule.history()[since..] {
            self.history.push(format!("    {change}"));
        }
    }

    /// One sync by the plan, its output replayed into the destination; `Err` when it broke a
    /// rule that does not wait for the end (a crash, an error the plan does not explain, a
    /// record older than its cursor). `Ok`: the messages that reached the destination.
    fn sync(&mut self, plan: Plan) -> Result<Vec<Message>, String> {
        self.syncs += 1;
        let n = self.syncs;
        let state_text = if plan.reset {
            "[]".to_string()
        } else {
            self.state_file(plan.untyped_state)
        };
        let config = self.world.config_with(json!({
            "api_key": self.world.key(),
            "start_date": START,
            "base_url": self.world.sandbox.base_url(),
            // One stream at a time: requests come in one order, so the changes do too.
            "max_concurrent_streams": 1,
        }));
        let mode = if plan.incremental {
            "incremental"
        } else {
            "full_refresh"
        };
        let catalog_path = self
            .world
            .file("catalog.json", &catalog(self.shape.streams, mode));
        let state_path = plan
            .incremental
            .then(|| self.world.file("state.json", &state_text));
        let before = self.schedule.applied();
        let schedule = plan.changing.then(|| Arc::clone(&self.schedule));
        let kill = plan.kill_at.filter(|k| !matches!(k, Kill::AtEnd));
        let mut run = run_binary(
            &self.world,
            &config,
            &catalog_path,
            state_path.as_deref(),
            schedule,
            kill,
        );
        let sigkilled = run.killed;
        self.kills += sigkilled as u64;
        run.killed |= matches!(plan.kill_at, Some(Kill::AtEnd));
        let total = run.lines.len();
        let kept = if run.killed {
            plan.cut.apply(&run.lines)
        } else {
            total
        };
        let mut line = format!(
            "sync {n}: {mode}, {}",
            if plan.changing {
                "CRM changing"
            } else {
                "CRM still"
            }
        );
        if plan.reset {
            line.push_str(", state reset");
        } else if plan.incremental {
            let _ = write!(
                line,
                ", state{}: {}",
                if plan.untyped_state {
                    " (entries without \"type\")"
                } else {
                    ""
                },
                self.cursors()
            );
        }
        if run.killed {
            let _ = write!(
                line,
                "; killed at {}, destination got {kept} of {total} lines ({:?})",
                plan.kill_at.map_or(String::new(), |k| k.to_string()),
                plan.cut
            );
        } else {
            let _ = write!(line, "; exit {:?}, {total} lines", run.status);
        }
        self.history.push(line);
        self.note_changes(before);

        // Everything the process wrote, and the part of it that reached the destination.
        let written: Vec<Message> = run
            .lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a message ({e}): {l}")))
            .collect();
        let messages = written[..kept].to_vec();
        if run.runaway {
            return Err(format!(
                "sync {n} was still paging after {RUNAWAY} requests; the last ones: {:#?}",
                last_requests(&self.world, 6)
            ));
        }
        self.exit_rules(n, plan, &run, sigkilled, &written)?;
        // A stream is skipped as unreadable only where this seed denies it: a parent that
        // vanished, or a parent list denied, never passes for a stream the user may not read.
        for (stream, warning) in skipped(&messages) {
            if !(self.archive_denied && stream == "archived_deals") {
                return Err(format!(
                    "sync {n} skipped {stream}, which this seed lets the user read: {warning}"
                ));
            }
        }
        if plan.incremental {
            every_record_carries_its_cursor(n, &messages)?;
        }
        if plan.incremental && !plan.reset {
            self.no_record_behind_its_cursor(n, &messages)?;
        }
        for name in self.shape.streams {
            let archive = streams::find(name).unwrap().archive;
            if plan.reset && archive.is_some_and(|a| a.archived) {
                let rows = self.destination.rows(name).into_keys();
                self.kept_through_reset
                    .entry(name.to_string())
                    .or_default()
                    .extend(rows);
            }
            if !plan.incremental && !run.killed {
                self.kept_through_reset.remove(*name);
            }
        }
        self.destination
            .replay(&messages, plan.incremental, !run.killed);
        for m in &messages {
            if let Message::State { state } = m {
                let name = state.stream_name().expect("per-stream state").to_string();
                self.saved
                    .insert(name, serde_json::to_value(state).unwrap());
            }
        }
        Ok(messages)
    }

    /// How a sync may end. Only the test's own SIGKILL stops it from outside; a panic (exit
    /// 101) or any other signal is a crash. A sync that exits by itself exits 0 exactly when
    /// it wrote no TRACE error. Under changes a stream may give up with the documented error
    /// (an offset list that keeps moving under it, README "How incremental sync works") rather
    /// than risk skipping a record: what it wrote still counts, as a killed sync's does, and a
    /// later sync makes up for it. The stream whose list pages in a circle fails, whenever its
    /// list gets that far. No other error passes, killed or not.
    fn exit_rules(
        &mut self,
        n: u64,
        plan: Plan,
        run: &BinaryRun,
        sigkilled: bool,
        messages: &[Message],
    ) -> Result<(), String> {
        let errors = errors(messages);
        let fail = |why: String| {
            Err(format!(
                "sync {n} {why}\nerrors: {errors:#?}\nstderr: {}",
                run.stderr
            ))
        };
        match (run.status, run.signal) {
            (Some(101), _) => return fail("panicked (exit 101)".into()),
            (_, Some(SIGKILL)) if sigkilled => {}
            (_, Some(signal)) => return fail(format!("died of signal {signal}")),
            (None, None) => return fail("ended with neither a code nor a signal".into()),
            (Some(code), _) if sigkilled => {
                return fail(format!("exited {code} before the test killed it"))
            }
            (Some(0), _) if !errors.is_empty() => {
                return fail("exited 0 after TRACE errors".into())
            }
            (Some(code), _) if code != 0 && errors.is_empty() => {
                return fail(format!("exited {code} without a TRACE error"))
            }
            (Some(_), _) => {}
        }
        let expected = |(stream, message): &(Option<String>, String)| {
            (plan.changing && message.contains(LIST_CHANGED))
                || (stream.is_some()
                    && stream.as_deref() == self.cycled
                    && message.contains(CIRCLE))
        };
        if let Some(e) = errors.iter().find(|e| !expected(e)) {
            return fail(format!("wrote an error its plan does not explain: {e:?}"));
        }
        for (_, e) in &errors {
            self.history.push(format!("    (failed) {e}"));
        }
        Ok(())
    }

    /// The last sync, on a still world, ends every stream: each one's status is COMPLETE (the
    /// one paged in a circle aside, which fails by design; `exit_rules` checked its error).
    fn every_stream_completes(&self, messages: &[Message]) -> Result<(), String> {
        let complete: Vec<&str> = messages
            .iter()
            .filter_map(|m| match m {
                Message::Trace {
                    trace: Trace::StreamStatus { stream_status, .. },
                } if stream_status.status == StreamStatusKind::Complete => {
                    Some(stream_status.stream_descriptor.name.as_str())
                }
                _ => None,
            })
            .collect();
        let missing: Vec<&str> = self
            .shape
            .streams
            .iter()
            .copied()
            .filter(|s| Some(*s) != self.cycled && !complete.contains(s))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the last sync, on a still world, did not complete {missing:?}"
            ))
        }
    }

    /// The state file Airbyte would pass: the last STATE of each stream.
    fn state_file(&self, untyped: bool) -> String {
        let entries: Vec<Value> = self
            .saved
            .values()
            .map(|s| {
                let mut s = s.clone();
                if untyped {
                    s.as_object_mut().unwrap().remove("type");
                }
                s
            })
            .collect();
        Value::Array(entries).to_string()
    }

    /// Each stream's saved cursor, for the history.
    fn cursors(&self) -> String {
        if self.saved.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = self
            .saved
            .iter()
            .map(|(name, s)| {
                let state = &s["stream"]["stream_state"];
                let cursor = streams::find(name)
                    .and_then(|d| d.cursor)
                    .map_or(Value::Null, |c| state[c].clone());
                format!("{name}={}", cursor.as_str().unwrap_or("?"))
            })
            .collect();
        parts.join(" ")
    }

    /// An incremental sync given a cursor emits nothing updated more than a second before it
    /// (a second: checkpoints may be rounded down to what the server's filter takes). A stream
    /// read again from `start_date` shows here.
    fn no_record_behind_its_cursor(&self, n: u64, messages: &[Message]) -> Result<(), String> {
        for m in messages {
            let Message::Record { record } = m else {
                continue;
            };
            let def = streams::find(&record.stream).unwrap();
            let Some(field) = def.cursor else { continue };
            // Children of a changed parent come whatever their own times; only a cursor that
            // is the parent's time says which parents were read.
            if def.parent.is_some_and(|p| p.time_field != Some(field)) {
                continue;
            }
            let Some(saved) = self
                .saved
                .get(def.name)
                .and_then(|s| s["stream"]["stream_state"][field].as_str())
                .and_then(time::parse)
            else {
                continue;
            };
            if let Some(t) = time::of(&record.data, field) {
                if t < saved - Duration::seconds(1) {
                    return Err(format!(
                        "sync {n}: {} emitted {} updated {t}, more than a second before its saved cursor {saved}: the stream was read again from the start",
                        def.name,
                        def.key_of(&record.data)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The rows of `got` whose record the history deleted or merged away: of the stream or its
    /// twin, or, for a child stream, its parent.
    fn deleted(&self, def: &StreamDef, got: &BTreeMap<String, Row>) -> Vec<String> {
        let history = self.schedule.history();
        let gone = |stream: &str, id: &str| {
            let r = crate::util::resource(stream);
            history.iter().any(|c| {
                matches!(c.op, Op::Delete | Op::Merge) && c.resource == r && id_of(&c.id) == id
            })
        };
        let mut own = vec![def.name];
        own.extend(def.archive.map(|a| a.twin));
        got.iter()
            .filter(|(key, row)| {
                own.iter().any(|s| gone(s, key))
                    || def.parent.is_some_and(|p| {
                        let field = p.id_field.unwrap_or("id");
                        p.streams.iter().any(|s| gone(s, &id_of(&row.body[field])))
                    })
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// The destination against the sandbox, stream by stream.
    fn compare(&self) -> Result<(), String> {
        let truth = Truth::of(self);
        let whole = Truth::whole(self);
        let mut report = String::new();
        for name in self.shape.streams {
            if (self.archive_denied && *name == "archived_deals") || Some(*name) == self.cycled {
                continue;
            }
            let def = streams::find(name).unwrap();
            let want = truth.rows(def);
            let got = self.destination.rows(name);
            // A live stream of a pair keeps, marked archived, the records Pipedrive moved to its
            // archive (README, "Deletions and archives"): they are right when Pipedrive's
            // archive holds them, as the destination last saw them.
            let archived = match def.archive {
                Some(a) if !a.archived => truth.rows(streams::find(a.twin).unwrap()),
                _ => BTreeMap::new(),
            };
            // A user who may not read archived deals cannot see a deal leave for the archive:
            // to the API it vanishes from `/api/v2/deals` without a trace (README, "Deletions
            // and archives"). The destination may keep it, and its children, as last seen.
            let mut unseen: BTreeMap<String, Row> = if self.archive_denied {
                let archive = streams::find("archived_deals").unwrap();
                match name {
                    // What the archive holds now, and whatever went there since: a deal
                    // archived, then deleted there, is gone from both lists unseen.
                    &"deals" => {
                        let mut rows = truth.rows(archive);
                        for change in self.schedule.history() {
                            if change.op == Op::Archive && change.resource == Resource::Deals {
                                rows.insert(id_of(&change.id), Row::of(def, &json!({})));
                            }
                        }
                        rows
                    }
                    _ if def
                        .parent
                        .is_some_and(|p| p.streams.contains(&"archived_deals")) =>
                    {
                        whole.rows(def)
                    }
                    _ => BTreeMap::new(),
                }
            } else {
                BTreeMap::new()
            };
            // A product line taken off a deal leaves the deal's list without a trace (README,
            // the deletions table): the destination may keep the line.
            if *name == "deal_products" {
                for change in self.schedule.history() {
                    if let (Op::RemoveLine, Some(line)) = (change.op, &change.other) {
                        unseen.insert(id_of(line), Row::of(def, &json!({})));
                    }
                }
            }
            // Where the API does not show deletes, the destination keeps a deleted row until a
            // full refresh: a row Pipedrive does not hold is right only if it was deleted.
            if DELETES_UNSEEN.contains(name) {
                for key in self.deleted(def, &got) {
                    unseen.insert(key, Row::of(def, &json!({})));
                }
            }
            for key in self.kept_through_reset.get(*name).into_iter().flatten() {
                if !want.contains_key(key) {
                    unseen.insert(key.clone(), Row::of(def, &json!({})));
                }
            }
            let differences = differences(&want, &got, &archived, &unseen);
            if !differences.is_empty() {
                let _ = writeln!(report, "{name}: destination differs from Pipedrive:");
                for d in differences.iter().take(6) {
                    let _ = writeln!(report, "    {d}");
                }
                if differences.len() > 6 {
                    let _ = writeln!(report, "    … {} more", differences.len() - 6);
                }
            }
        }
        if report.is_empty() {
            Ok(())
        } else {
            Err(report)
        }
    }
}

/// The path of the list a stream's pages come from: its parents' for streams read one request
/// per parent.
fn list_path(stream: &str) -> &'static str {
    let def = streams::find(stream).unwrap();
    match def.parent {
        Some(p) if def.path.contains('{') => streams::find(p.streams[0]).unwrap().path,
        _ => def.path,
    }
}

/// The last `n` requests the sandbox answered: path and where in the list.
fn last_requests(world: &World, n: usize) -> Vec<String> {
    let log = world.sandbox.requests();
    log[log.len().saturating_sub(n)..]
        .iter()
        .map(|r| {
            let at: Vec<String> = r
                .query
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "cursor" | "start" | "updated_since"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{} {}", r.path, at.join(" "))
        })
        .collect()
}

/// The TRACE errors among `messages`.
fn errors(messages: &[Message]) -> Vec<(Option<String>, String)> {
    crate::util::trace_errors(messages)
        .into_iter()
        .map(|(stream, _, message)| (stream, message))
        .collect()
}

/// A destination keeps the latest version of a record by its cursor: an incremental sync's
/// records all carry their stream's.
fn every_record_carries_its_cursor(n: u64, messages: &[Message]) -> Result<(), String> {
    for m in messages {
        let Message::Record { record } = m else {
            continue;
        };
        let def = streams::find(&record.stream).unwrap();
        if let Some(field) = def.cursor {
            if time::of(&record.data, field).is_none() {
                return Err(format!(
                    "sync {n}: {} emitted {} without its cursor {field}",
                    def.name,
                    def.key_of(&record.data)
                ));
            }
        }
    }
    Ok(())
}

/// The streams a sync skipped as ones the token's user may not read, with its warning.
fn skipped(messages: &[Message]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Log { log } if log.level == LogLevel::Warn => {
                let rest = log.message.strip_prefix("stream ")?;
                let (stream, why) = rest.split_once(' ')?;
                why.starts_with("skipped:")
                    .then(|| (stream.to_string(), log.message.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The documented error of a stream whose list kept changing under it (`paging::Offsets`).
const LIST_CHANGED: &str = "the list changed under the sync";
/// The documented error of a v2 list whose cursors go round in a circle.
const CIRCLE: &str = "its pages go round in a circle";
const SIGKILL: i32 = 9;

/// What a run of the binary gave.
struct BinaryRun {
    lines: Vec<String>,
    /// Killed by the test with SIGKILL.
    killed: bool,
    /// Stopped after `RUNAWAY` requests.
    runaway: bool,
    status: Option<i32>,
    /// The signal that ended the process, if one did.
    signal: Option<i32>,
    stderr: String,
}

/// More requests than any sync of this test needs: a sync that gets there is paging for ever,
/// and is stopped like a killed one (counted, not timed, so it stops at the same request on
/// every run).
const RUNAWAY: u64 = 3_000;

/// Where a sync is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kill {
    /// At its n-th request (1 is the key check).
    Request(u64),
    /// At its n-th request for this path.
    Page(&'static str, u64),
    /// After its last line, before it exits.
    AtEnd,
}

impl std::fmt::Display for Kill {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Kill::Request(n) => write!(f, "request {n}"),
            Kill::Page(path, n) => write!(f, "request {n} of {path}"),
            Kill::AtEnd => write!(f, "its end"),
        }
    }
}

/// What of a killed sync's stdout reaches the destination: the process may have died between
/// any two writes, and right after a checkpoint is where it hurts most.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Everything it wrote.
    Nothing,
    /// This share of its lines, in percent.
    Prefix(u64),
    /// Up to a STATE: of the given stream if it wrote one (else of the stream the number
    /// picks among those that did), the one the number picks.
    AfterState(Option<&'static str>, u64),
}

impl Cut {
    /// How many of `lines` reach the destination.
    fn apply(self, lines: &[String]) -> usize {
        match self {
            Cut::Nothing => lines.len(),
            Cut::Prefix(percent) => lines.len() * percent as usize / 100,
            Cut::AfterState(stream, pick) => {
                let mut states: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                for (i, line) in lines.iter().enumerate() {
                    if let Ok(Message::State { state }) = serde_json::from_str(line) {
                        let name = state.stream_name().unwrap_or("").to_string();
                        states.entry(name).or_default().push(i + 1);
                    }
                }
                let chosen = stream.and_then(|s| states.get(s)).or_else(|| {
                    let n = states.len().max(1);
                    states.values().nth((pick >> 32) as usize % n)
                });
                match chosen {
                    Some(ends) => ends[pick as usize % ends.len()],
                    None => lines.len(),
                }
            }
        }
    }
}

/// Holds the sandbox's answer to the request `kill_at` names (or to request `RUNAWAY`) until
/// the test has killed the process that asked, so that it dies at that exact point whatever
/// the machine's speed.
struct Gate {
    kill_at: Option<Kill>,
    /// Requests so far, those of the `Kill::Page` path so far, and whether released.
    state: Mutex<(u64, u64, bool)>,
    released: Condvar,
}

impl Gate {
    /// Counts a request; at `kill_at` or `RUNAWAY`, says so and waits to be released.
    fn arrive(&self, path: &str, tell: &mpsc::Sender<Event>) {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        let here = match self.kill_at {
            Some(Kill::Request(n)) => state.0 == n,
            Some(Kill::Page(p, n)) if p == path => {
                state.1 += 1;
                state.1 == n
            }
            _ => false,
        };
        let event = if here {
            Event::Held
        } else if state.0 == RUNAWAY {
            Event::Runaway
        } else {
            return;
        };
        let _ = tell.send(event);
        while !state.2 {
            state = self.released.wait(state).unwrap();
        }
    }

    fn release(&self) {
        self.state.lock().unwrap().2 = true;
        self.released.notify_all();
    }
}

/// Releases the gate however the test leaves the sync, so no server thread waits for ever.
struct Release<'a>(&'a Gate);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

enum Event {
    Held,
    Runaway,
    StdoutClosed,
}

/// Runs `read`, with `schedule` changing the CRM between its requests, killed with SIGKILL
/// while it waits for the answer to the request `kill_at` names.
fn run_binary(
    world: &World,
    config: &std::path::Path,
    catalog: &std::path::Path,
    state: Option<&std::path::Path>,
    schedule: Option<Arc<Schedule>>,
    kill_at: Option<Kill>,
) -> BinaryRun {
    let gate = Arc::new(Gate {
        kill_at,
        state: Mutex::new((0, 0, false)),
        released: Condvar::new(),
    });
    let _release = Release(&gate);
    let (tell, events) = mpsc::channel();
    {
        let gate = Arc::clone(&gate);
        let tell = Mutex::new(tell.clone());
        world.sandbox.on_request(move |w, served| {
            if let Some(schedule) = &schedule {
                schedule.after_request(w, served);
            }
            let tell = tell.lock().unwrap().clone();
            gate.arrive(&served.request.path, &tell);
        });
    }
    let stderr_path = world.dir.path().join("stderr.txt");
    let mut command = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"));
    command.args([
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    if let Some(s) = state {
        command.args(["--state", s.to_str().unwrap()]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("binary runs");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let _ = tell.send(Event::StdoutClosed);
        lines
    });
    let event = events.recv().expect("an event");
    if !matches!(event, Event::StdoutClosed) {
        child.kill().expect("SIGKILL");
    }
    let status = child.wait().expect("the process ends");
    gate.release();
    let lines = reader.join().expect("stdout read");
    world.sandbox.still();
    BinaryRun {
        lines,
        killed: matches!(event, Event::Held),
        runaway: matches!(event, Event::Runaway),
        status: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

/// A destination's view of one row: the record whole (`emitted::comparable`), and what the
/// test reads of it.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    cursor: Option<DateTime<Utc>>,
    archived: bool,
    body: Value,
}

impl Row {
    fn of(def: &StreamDef, record: &Value) -> Row {
        Row {
            cursor: def.cursor.and_then(|c| time::of(record, c)),
            archived: record["is_archived"] == true,
            body: comparable(record),
        }
    }
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.cursor {
            Some(t) => write!(f, "cursor {}", time::format(t))?,
            None => write!(f, "no cursor")?,
        }
        if self.archived {
            write!(f, ", archived")?;
        }
        Ok(())
    }
}

/// An in-memory destination, per stream: incremental records deduplicated on the primary key
/// (the latest cursor wins; a record with `_ab_cdc_deleted_at` deletes the row); a full refresh
/// that ran to the end overwrites its streams' tables, one that was killed changes nothing.
#[derive(Default)]
struct Destination {
    /// Per stream, per key: the row and whether its latest record was a delete.
    tables: BTreeMap<String, BTreeMap<String, (Row, bool)>>,
}

impl Destination {
    fn replay(&mut self, messages: &[Message], incremental: bool, finished: bool) {
        if !incremental && !finished {
            return;
        }
        let mut fresh: BTreeMap<String, BTreeMap<String, (Row, bool)>> = BTreeMap::new();
        let mut complete: Vec<String> = Vec::new();
        for m in messages {
            match m {
                Message::Record { record } => {
                    let def = streams::find(&record.stream).unwrap();
                    let table = if incremental {
                        self.tables.entry(record.stream.clone()).or_default()
                    } else {
                        fresh.entry(record.stream.clone()).or_default()
                    };
                    let row = Row::of(def, &record.data);
                    let deleted = record.data.get(DELETED_AT).is_some_and(|d| !d.is_null());
                    let key = def.key_of(&record.data);
                    let newer = table
                        .get(&key)
                        .is_none_or(|(old, _)| row.cursor >= old.cursor);
                    if newer {
                        table.insert(key, (row, deleted));
                    }
                }
                Message::Trace {
                    trace: Trace::StreamStatus { stream_status, .. },
                } if stream_status.status == StreamStatusKind::Complete => {
                    complete.push(stream_status.stream_descriptor.name.clone());
                }
                _ => {}
            }
        }
        if !incremental {
            for name in complete {
                let table = fresh.remove(&name).unwrap_or_default();
                self.tables.insert(name, table);
            }
        }
    }

    /// The rows of a stream's table, deleted ones left out.
    fn rows(&self, stream: &str) -> BTreeMap<String, Row> {
        self.tables
            .get(stream)
            .into_iter()
            .flatten()
            .filter(|(_, (_, deleted))| !deleted)
            .map(|(k, (row, _))| (k.clone(), row.clone()))
            .collect()
    }
}

/// What Pipedrive (the sandbox) holds now, as rows of each stream.
struct Truth<'a> {
    sim: &'a Sim,
    /// Whether the children of archived deals count when the token's user may not read the
    /// archive: what Pipedrive holds, rather than what the user can see of it.
    whole: bool,
}

impl Truth<'_> {
    fn of(sim: &Sim) -> Truth<'_> {
        Truth { sim, whole: false }
    }

    /// Everything Pipedrive holds, whether the user may read it or not.
    fn whole(sim: &Sim) -> Truth<'_> {
        Truth { sim, whole: true }
    }

    /// The records of a top-level stream, as the connector writes them (`emitted`).
    fn records(&self, def: &StreamDef) -> Vec<Value> {
        emitted::served(&self.sim.world, def)
            .iter()
            .map(|r| as_emitted(def, r))
            .collect()
    }

    /// The rows a destination must hold for `def`: every record not deleted; for a child
    /// stream, every child of the parents Pipedrive holds (and the token's user may read).
    fn rows(&self, def: &StreamDef) -> BTreeMap<String, Row> {
        let Some(parent) = def.parent else {
            // Every record of an archive list is archived, whether or not the API says so in
            // `is_archived` (projects say it with `archive_time`; the connector marks them).
            let in_archive = def.archive.is_some_and(|a| a.archived);
            return self
                .records(def)
                .iter()
                .filter(|r| !def.deletion.is_some_and(|d| d.is_deleted(r)))
                .map(|r| {
                    let mut row = Row::of(def, r);
                    row.archived |= in_archive;
                    (def.key_of(r), row)
                })
                .collect();
        };
        let data = self.sim.world.sandbox.dataset();
        let mut rows = BTreeMap::new();
        for pname in parent.streams {
            if self.sim.archive_denied && !self.whole && *pname == "archived_deals" {
                continue;
            }
            let pdef = streams::find(pname).unwrap();
            for p in self.records(pdef) {
                for child in data.children(crate::util::resource(def.name), &p["id"]) {
                    let child = child_as_emitted(def, pdef, &p, &child);
                    rows.insert(def.key_of(&child), Row::of(def, &child));
                }
            }
        }
        rows
    }
}

/// How the destination's rows of `stream` differ from Pipedrive's, worst first.
fn differences(
    want: &BTreeMap<String, Row>,
    got: &BTreeMap<String, Row>,
    archived: &BTreeMap<String, Row>,
    unseen: &BTreeMap<String, Row>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (key, row) in want {
        match got.get(key) {
            None => out.push(format!("{key}: missing (Pipedrive: {row})")),
            Some(have) if (&have.cursor, have.archived) != (&row.cursor, row.archived) => {
                out.push(format!("{key}: destination {have}, Pipedrive {row}"))
            }
            Some(have) if have.body != row.body => out.push(format!(
                "{key}: destination's record differs from Pipedrive's ({row}): {}",
                emitted::differences(&have.body, &row.body).join("; ")
            )),
            Some(_) => {}
        }
    }
    for (key, have) in got {
        if have.archived && archived.get(key) == Some(have) || unseen.contains_key(key) {
            continue;
        }
        if !want.contains_key(key) {
            out.push(format!(
                "{key}: in the destination ({have}) but not in Pipedrive (deleted?)"
            ));
        }
    }
    out
}
