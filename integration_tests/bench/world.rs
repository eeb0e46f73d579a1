//! The sync benchmark in the real world's conditions: `cargo bench --bench sync -- --size
//! N[,N...] --latency-ms 50,150,300 --burst-limit 20,40,160,480 [--concurrency 3,10]
//! [--rounds R] [--baseline-bin PATH]`.
//!
//! Against Pipedrive the limit is not CPU but latency and the rolling 2-second burst window.
//! For each size, latency and burst limit this starts a sandbox that answers every request that
//! much later (a tenth of it as seeded jitter) and refuses with 429 what goes over the limit,
//! runs a full `read` of the default catalog with each `max_concurrent_streams` given, by this
//! build and by the baseline build in turn (which goes first alternates from one configuration
//! and round to the next, so the machine's noise hits both alike), and prints per sync: wall
//! time over the physical minimum (the requests answered over the allowed rate, `limit / 2 s`),
//! the 429s, the requests in flight (mean, most, and the mean over each tenth of the run,
//! sampled at the sandbox every 20 ms), requests per 1,000 records, CPU per record and peak RSS.
//! Every sync of a configuration must read the same records (a digest of every RECORD's stream
//! and data, in any order) as its first one. At the end, a compact table: one row per latency and
//! limit, and for each size the builds' wall time over the minimum side by side, and the 429s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipedrive_sandbox::{Latency, OAuthOptions, Sandbox, SandboxOptions};

use super::{measure_bin, write_catalog, Measured};

pub struct Grid {
    /// Records per main resource, one company per size.
    pub sizes: Vec<u64>,
    pub rounds: usize,
    pub latencies_ms: Vec<u64>,
    pub limits: Vec<u32>,
    pub concurrency: Vec<usize>,
    pub baseline_bin: Option<String>,
    pub streams: Vec<&'static str>,
    /// Sync as the sandbox's OAuth private app: Bearer tokens, whose burst window is the
    /// OAuth app's (4x the API token's `limit` of the same plan).
    pub oauth: bool,
}

/// The median sync of one build in one configuration, for the compact table.
struct Cell {
    size: u64,
    latency: u64,
    limit: u32,
    streams: usize,
    build: String,
    records: u64,
    wall: f64,
    minimum: f64,
    refused: u64,
}

/// One sync's figures.
struct Sync {
    label: String,
    m: Measured,
    answered: u64,
    refused: u64,
    in_flight: Vec<u64>,
}

pub fn run(grid: &Grid) {
    let this = env!("CARGO_BIN_EXE_source-pipedrive").to_string();
    let mut bins = Vec::new();
    if let Some(b) = &grid.baseline_bin {
        bins.push(("before".to_string(), b.clone()));
    }
    bins.push(("after".to_string(), this));
    let sizes: Vec<String> = grid.sizes.iter().map(u64::to_string).collect();
    println!(
        "real-world sync benchmark{}: {} records per main resource, {} streams, {} round(s)",
        if grid.oauth {
            " as an OAuth app (limit: the app's window, 4x the API token's)"
        } else {
            ""
        },
        sizes.join(", "),
        grid.streams.len(),
        grid.rounds
    );
    // Both builds of a configuration run one after the other, their rows next to each other.
    let mut runs = Vec::new();
    for &streams in &grid.concurrency {
        for (build, bin) in &bins {
            runs.push((build.clone(), bin.clone(), streams));
        }
    }
    let mut cells = Vec::new();
    let mut configuration = 0;
    for &size in &grid.sizes {
        println!();
        println!("| size | latency | limit / 2 s | build | streams | records | requests | physical minimum | wall | wall / minimum | 429s | in flight mean / max | in flight by tenth of the run | requests / 1,000 records | CPU / record | peak RSS |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for &latency in &grid.latencies_ms {
            for &limit in &grid.limits {
                let c = Configuration {
                    size,
                    latency,
                    limit,
                };
                cells.extend(configuration_run(grid, &c, &runs, configuration));
                configuration += 1;
            }
        }
    }
    println!();
    compact_table(grid, &cells);
}

/// Where one set of syncs runs: the company's size, the latency, the burst limit.
struct Configuration {
    size: u64,
    latency: u64,
    limit: u32,
}

/// Runs every (build, streams) of `runs` in configuration `c` for the grid's rounds, prints
/// the median sync of each and gives it for the compact table. `k` counts the configurations
/// run so far: it and the round choose which run goes first.
fn configuration_run(
    grid: &Grid,
    c: &Configuration,
    runs: &[(String, String, usize)],
    k: usize,
) -> Vec<Cell> {
    let options = SandboxOptions {
        size: c.size,
        burst_limit: c.limit,
        latency: Latency::of(Duration::from_millis(c.latency)),
        oauth: grid.oauth.then(OAuthOptions::default),
        ..SandboxOptions::default()
    };
    let key = options.api_key.clone();
    // The window the sync's token kind meets.
    let limit = if grid.oauth {
        options.oauth_burst_limit.unwrap_or(4 * c.limit)
    } else {
        c.limit
    };
    let sandbox = Sandbox::start(options).expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    write_catalog(&catalog, &grid.streams);
    let mut results: Vec<Sync> = Vec::new();
    let mut digest: Option<(u64, u64)> = None;
    for round in 0..grid.rounds {
        let mut order = runs.to_vec();
        order.rotate_left((k + round) % runs.len().max(1));
        for (build, bin, streams) in order {
            let config = dir.path().join(format!("config-{streams}.json"));
            let mut settings = serde_json::json!({"start_date": "2020-01-01T00:00:00Z", "base_url": sandbox.base_url(), "max_concurrent_streams": streams});
            if grid.oauth {
                let app = OAuthOptions::default();
                settings["credentials"] = serde_json::json!({"auth_type": "oauth2.0", "client_id": app.client_id, "client_secret": app.client_secret, "refresh_token": app.refresh_token});
                settings["oauth_token_url"] = format!("{}/oauth/token", sandbox.base_url()).into();
            } else {
                settings["api_key"] = key.clone().into();
            }
            std::fs::write(&config, settings.to_string()).unwrap();
            // Let the window empty between two syncs.
            std::thread::sleep(Duration::from_millis(2_100));
            let s = one_sync(&sandbox, &bin, &config, &catalog);
            assert_eq!(s.m.status, 0, "{build} sync failed");
            let d = (s.m.records, s.m.digest);
            assert_eq!(
                *digest.get_or_insert(d),
                d,
                "{build}: every sync reads the same records"
            );
            results.push(Sync {
                label: format!("{build}|{streams}"),
                ..s
            });
        }
    }
    let mut cells = Vec::new();
    for (build, _, streams) in runs {
        let label = format!("{build}|{streams}");
        let mut mine: Vec<&Sync> = results.iter().filter(|s| s.label == label).collect();
        mine.sort_by_key(|s| s.m.wall);
        let s = mine[mine.len() / 2];
        let minimum = s.answered as f64 * 2.0 / f64::from(limit);
        let wall = s.m.wall.as_secs_f64();
        let mean = s.in_flight.iter().sum::<u64>() as f64 / s.in_flight.len().max(1) as f64;
        let most = s.in_flight.iter().max().copied().unwrap_or(0);
        let tenths: Vec<String> = tenths(&s.in_flight)
            .iter()
            .map(|v| format!("{v:.1}"))
            .collect();
        println!(
            "| {} | {} ms | {limit} | {build} | {streams} | {} | {} | {minimum:.1} s | {wall:.1} s | {:.2} | {} | {mean:.1} / {most} | {} | {:.2} | {:.2} µs | {:.1} MiB |",
            c.size,
            c.latency,
            s.m.records,
            s.answered,
            wall / minimum,
            s.refused,
            tenths.join(" "),
            s.answered as f64 * 1000.0 / s.m.records.max(1) as f64,
            s.m.cpu.as_secs_f64() * 1e6 / s.m.records.max(1) as f64,
            s.m.max_rss_kib as f64 / 1024.0,
        );
        cells.push(Cell {
            size: c.size,
            latency: c.latency,
            limit,
            streams: *streams,
            build: build.clone(),
            records: s.m.records,
            wall,
            minimum,
            refused: s.refused,
        });
    }
    cells
}

/// The README's table: a row per latency and limit (and streams, when more than one is tried),
/// and for each size the builds' wall time over the physical minimum side by side, with the
/// 429s of each.
fn compact_table(grid: &Grid, cells: &[Cell]) {
    let builds: Vec<&str> = match grid.baseline_bin {
        Some(_) => vec!["before", "after"],
        None => vec!["after"],
    };
    let by_streams = grid.concurrency.len() > 1;
    let mut head = vec!["latency".to_string(), "limit / 2 s".to_string()];
    if by_streams {
        head.push("streams".into());
    }
    for &size in &grid.sizes {
        let records = cells
            .iter()
            .find(|c| c.size == size)
            .map_or(0, |c| c.records);
        for build in &builds {
            head.push(format!("{build}: wall / minimum, {records} records"));
        }
        head.push(format!("429s ({}), {records} records", builds.join(" / ")));
    }
    println!(
        "wall time over the physical minimum (wall / minimum), median of {} round(s):",
        grid.rounds
    );
    println!();
    println!("| {} |", head.join(" | "));
    println!("|{}", "---|".repeat(head.len()));
    let mut rows: Vec<(u64, u32, usize)> = cells
        .iter()
        .map(|c| (c.latency, c.limit, c.streams))
        .collect();
    rows.sort();
    rows.dedup();
    for (latency, limit, streams) in rows {
        let mut row = vec![format!("{latency} ms"), limit.to_string()];
        if by_streams {
            row.push(streams.to_string());
        }
        for &size in &grid.sizes {
            let cell = |build: &str| {
                cells.iter().find(|c| {
                    (c.size, c.latency, c.limit, c.streams, c.build.as_str())
                        == (size, latency, limit, streams, build)
                })
            };
            for build in &builds {
                row.push(cell(build).map_or("–".into(), |c| {
                    format!(
                        "{:.2} ({:.1} s / {:.1} s)",
                        c.wall / c.minimum,
                        c.wall,
                        c.minimum
                    )
                }));
            }
            let refused: Vec<String> = builds
                .iter()
                .map(|b| cell(b).map_or("–".into(), |c| c.refused.to_string()))
                .collect();
            row.push(refused.join(" / "));
        }
        println!("| {} |", row.join(" | "));
    }
}

/// Runs one sync against `sandbox`, sampling its requests in flight.
fn one_sync(
    sandbox: &Sandbox,
    bin: &str,
    config: &std::path::Path,
    catalog: &std::path::Path,
) -> Sync {
    let before = sandbox.requests().len();
    let done = Arc::new(AtomicBool::new(false));
    let m = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut samples = Vec::new();
            let start = Instant::now();
            let mut next = start;
            while !done.load(Ordering::Relaxed) {
                samples.push(sandbox.in_flight());
                next += Duration::from_millis(20);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        });
        let m = measure_bin(
            bin,
            &[
                "read",
                "--config",
                config.to_str().unwrap(),
                "--catalog",
                catalog.to_str().unwrap(),
            ],
        );
        done.store(true, Ordering::Relaxed);
        (m, sampler.join().unwrap())
    });
    let (m, in_flight) = m;
    let log = sandbox.requests();
    let mine = &log[before..];
    let refused = mine.iter().filter(|r| r.status == 429).count() as u64;
    Sync {
        label: String::new(),
        m,
        answered: mine.len() as u64 - refused,
        refused,
        in_flight,
    }
}

/// The mean of the samples in each tenth of the run.
fn tenths(samples: &[u64]) -> Vec<f64> {
    if samples.is_empty() {
        return Vec::new();
    }
    (0..10)
        .map(|k| {
            let a = samples.len() * k / 10;
            let b = (samples.len() * (k + 1) / 10).max(a + 1).min(samples.len());
            let part = &samples[a.min(b - 1)..b];
            part.iter().sum::<u64>() as f64 / part.len() as f64
        })
        .collect()
}
