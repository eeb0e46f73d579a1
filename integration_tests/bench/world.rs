//! The sync benchmark in the real world's conditions: `cargo bench --bench sync -- --size N
//! --latency-ms 50,150,300 --burst-limit 20,40,160,480 [--concurrency 3,10] [--rounds R]
//! [--baseline-bin PATH]`.
//!
//! Against Pipedrive the limit is not CPU but latency and the rolling 2-second burst window.
//! For each latency and burst limit this starts a sandbox that answers every request that much
//! later (a tenth of it as seeded jitter) and refuses with 429 what goes over the limit, runs a
//! full `read` of the default catalog with each `max_concurrent_streams` given (and the
//! baseline build's, in the same run, taking turns), and prints per sync: wall time over the
//! physical minimum (the requests answered over the allowed rate, `limit / 2 s`), the 429s,
//! the requests in flight (mean, most, and the mean over each tenth of the run, sampled at the
//! sandbox every 20 ms), requests per 1,000 records, CPU per record and peak RSS. Every sync
//! must read the same records (a digest of every RECORD's stream and data, in any order) as the
//! first one of its company.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipedrive_sandbox::{Latency, OAuthOptions, Sandbox, SandboxOptions};

use super::{measure_bin, write_catalog, Measured};

pub struct Grid {
    pub size: u64,
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
    let mut bins = vec![("after".to_string(), this)];
    if let Some(b) = &grid.baseline_bin {
        bins.push(("before".to_string(), b.clone()));
    }
    println!(
        "real-world sync benchmark{}: {} records per main resource, {} streams, {} round(s)",
        if grid.oauth {
            " as an OAuth app (limit: the app's window, 4x the API token's)"
        } else {
            ""
        },
        grid.size,
        grid.streams.len(),
        grid.rounds
    );
    println!("| latency | limit / 2 s | build | streams | records | requests | physical minimum | wall | wall / minimum | 429s | in flight mean / max | in flight by tenth of the run | requests / 1,000 records | CPU / record | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &latency in &grid.latencies_ms {
        for &limit in &grid.limits {
            let options = SandboxOptions {
                size: grid.size,
                burst_limit: limit,
                latency: Latency::of(Duration::from_millis(latency)),
                oauth: grid.oauth.then(OAuthOptions::default),
                ..SandboxOptions::default()
            };
            let key = options.api_key.clone();
            // The window the sync's token kind meets.
            let limit = if grid.oauth {
                options.oauth_burst_limit.unwrap_or(4 * limit)
            } else {
                limit
            };
            let sandbox = Sandbox::start(options).expect("sandbox");
            let dir = tempfile::tempdir().unwrap();
            let catalog = dir.path().join("catalog.json");
            write_catalog(&catalog, &grid.streams);
            let mut runs = Vec::new();
            for (build, bin) in &bins {
                for &streams in &grid.concurrency {
                    runs.push((build.clone(), bin.clone(), streams));
                }
            }
            let mut results: Vec<Sync> = Vec::new();
            let mut digest: Option<(u64, u64)> = None;
            for round in 0..grid.rounds {
                let mut order = runs.clone();
                order.rotate_left(round % runs.len().max(1));
                for (build, bin, streams) in order {
                    let config = dir.path().join(format!("config-{streams}.json"));
                    let mut settings = serde_json::json!({"start_date": "2020-01-01T00:00:00Z", "base_url": sandbox.base_url(), "max_concurrent_streams": streams});
                    if grid.oauth {
                        let app = OAuthOptions::default();
                        settings["credentials"] = serde_json::json!({"auth_type": "oauth2.0", "client_id": app.client_id, "client_secret": app.client_secret, "refresh_token": app.refresh_token});
                        settings["oauth_token_url"] =
                            format!("{}/oauth/token", sandbox.base_url()).into();
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
            for (build, _, streams) in &runs {
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
                    "| {latency} ms | {limit} | {build} | {streams} | {} | {} | {minimum:.1} s | {wall:.1} s | {:.2} | {} | {mean:.1} / {most} | {} | {:.2} | {:.2} µs | {:.1} MiB |",
                    s.m.records,
                    s.answered,
                    wall / minimum,
                    s.refused,
                    tenths.join(" "),
                    s.answered as f64 * 1000.0 / s.m.records.max(1) as f64,
                    s.m.cpu.as_secs_f64() * 1e6 / s.m.records.max(1) as f64,
                    s.m.max_rss_kib as f64 / 1024.0,
                );
            }
        }
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
