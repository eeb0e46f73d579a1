//! The sync benchmark: `cargo bench --bench sync -- [--size N[,N...]] [--rounds R]
//! [--streams default|all|a,b] [--baseline-bin PATH] [--oauth]`; with `--latency-ms`, the
//! real-world benchmark of `world.rs` instead.
//!
//! For each size given, starts the sandbox Pipedrive in this process with N records per main
//! resource, runs a full `read` of the real binary against it, and prints records, requests,
//! estimated tokens, wall time, the connector's CPU seconds (from `wait4`, so the sandbox's
//! own work is not counted) and
//! peak RSS (the kernel's `VmHWM` of the connector's own memory, sampled every few milliseconds:
//! `wait4`'s `ru_maxrss` cannot be used, because Linux carries the spawning process's peak over into
//! the child at `exec`, and this process holds the whole sandbox), then replays the very same requests in the same order with a bare HTTP client that
//! only downloads the bodies: the network/server limit the sync is compared with. Figures are
//! printed as ratios against that baseline, measured in the same run, because this machine is
//! shared and noisy: R rounds alternate a sync and a raw download, and medians are reported.
//! Also: `spec` start-up time and the time to the first RECORD.
//!
//! Each round also runs the sync with the progress display forced on (`--progress always`, drawn
//! into /dev/null: the whole cost of building and writing every frame), and, with
//! `--baseline-bin`, another build of the connector (say, the last release) on the same requests,
//! so that a change's cost is a ratio measured in the same run. The three take turns going first.
//!
//! `--oauth` syncs as the sandbox's OAuth private app (`credentials`, Bearer tokens, requests to
//! the token answer's `api_domain`) instead of with the API key; the raw download still uses
//! the key.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipedrive_sandbox::{Sandbox, SandboxOptions};

#[path = "proc_status.rs"]
mod proc_status;
#[path = "world.rs"]
mod world;
use source_pipedrive::streams::STREAMS;

struct Args {
    /// Records per main resource: one company per size, benchmarked one after the other.
    sizes: Vec<u64>,
    rounds: usize,
    streams: Vec<&'static str>,
    baseline_bin: Option<String>,
    oauth: bool,
    /// Real-world mode (`world.rs`): the latencies, burst limits and concurrencies to try.
    latencies_ms: Vec<u64>,
    limits: Vec<u32>,
    concurrency: Vec<usize>,
}

/// A comma list of numbers (`_` may group digits: `22_000`).
fn numbers<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Vec<T> {
    v.unwrap_or_default()
        .split(',')
        .map(|n| {
            n.trim()
                .replace('_', "")
                .parse()
                .ok()
                .unwrap_or_else(|| panic!("{flag} N[,N...]"))
        })
        .collect()
}

/// A configured catalog reading `streams` in full refresh, written to `path`.
fn write_catalog(path: &std::path::Path, streams: &[&str]) {
    let entries: Vec<serde_json::Value> = streams
        .iter()
        .map(|s| serde_json::json!({"stream": {"name": s}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}))
        .collect();
    std::fs::write(path, serde_json::json!({ "streams": entries }).to_string()).unwrap();
}

fn args() -> Args {
    let mut sizes = vec![10_000];
    let mut rounds = 3;
    let mut which = "default".to_string();
    let mut baseline_bin = None;
    let mut oauth = false;
    let mut latencies_ms = Vec::new();
    let mut limits = vec![40];
    let mut concurrency = vec![3];
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--size" => sizes = numbers("--size", it.next()),
            "--streams" => which = it.next().expect("--streams default|all|a,b"),
            "--rounds" => rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds R"),
            "--baseline-bin" => baseline_bin = Some(it.next().expect("--baseline-bin PATH")),
            "--oauth" => oauth = true,
            "--latency-ms" => latencies_ms = numbers("--latency-ms", it.next()),
            "--burst-limit" => limits = numbers("--burst-limit", it.next()),
            "--concurrency" => concurrency = numbers("--concurrency", it.next()),
            _ => {} // cargo bench passes --bench
        }
    }
    let streams = match which.as_str() {
        "default" => STREAMS
            .iter()
            .filter(|d| d.default)
            .map(|d| d.name)
            .collect(),
        "all" => STREAMS.iter().map(|d| d.name).collect(),
        list => list
            .split(',')
            .map(|n| {
                STREAMS
                    .iter()
                    .find(|d| d.name == n)
                    .expect("a stream name")
                    .name
            })
            .collect(),
    };
    Args {
        sizes,
        rounds,
        streams,
        baseline_bin,
        oauth,
        latencies_ms,
        limits,
        concurrency,
    }
}

/// What one run of the binary cost.
struct Measured {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    records: u64,
    /// What the records said, in any order: a sum of the hashes of each RECORD's line without
    /// its `emitted_at`.
    digest: u64,
    first_record: Option<Duration>,
    status: i32,
}

/// The syncs of a round: this build with progress off, with it forced on, and the baseline build.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Off,
    On,
    Baseline,
}

/// Runs this build's binary, reading its stdout in this process, and collects its resource usage.
fn measure(args: &[&str]) -> Measured {
    measure_bin(env!("CARGO_BIN_EXE_source-pipedrive"), args)
}

/// Runs `bin` as `measure` does.
// The child is reaped by `wait4`, which also gives its rusage; `Child::wait` cannot.
#[allow(clippy::zombie_processes)]
fn measure_bin(bin: &str, args: &[&str]) -> Measured {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut records = 0u64;
        let mut digest = 0u64;
        let mut first = None;
        let mut out = BufReader::with_capacity(1 << 20, stdout);
        let mut line = Vec::new();
        while out.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if line.starts_with(br#"{"type":"RECORD""#) {
                records += 1;
                first.get_or_insert_with(|| start.elapsed());
                digest = digest.wrapping_add(record_hash(&line));
            }
            line.clear();
        }
        (records, digest, first)
    });
    let pid = child.id() as libc::pid_t;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(proc_status::kib(pid as u32, "VmHWM").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    let wall = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_rss_kib = sampler.join().unwrap();
    let (records, digest, first_record) = reader.join().unwrap();
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib,
        records,
        digest,
        first_record,
        status: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

/// A RECORD line's hash, its `emitted_at` (the one part that differs between runs) left out.
fn record_hash(line: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let text = String::from_utf8_lossy(line);
    let kept = match text.rfind(r#","emitted_at":"#) {
        Some(at) => &text[..at],
        None => &text[..],
    };
    let mut h = DefaultHasher::new();
    h.write(kept.as_bytes());
    h.finish()
}

/// Downloads `targets` in order over one keep-alive connection, reading every body in full.
fn raw_download(base: &str, key: &str, targets: &[String]) -> (Duration, u64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    for t in targets {
        let mut resp = agent
            .get(format!("{base}{t}"))
            .header("x-api-token", key)
            .call()
            .expect("raw GET");
        let mut body = resp.body_mut().with_config().limit(u64::MAX).reader();
        loop {
            let n = body.read(&mut buf).expect("raw body");
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
    }
    (start.elapsed(), bytes)
}

fn main() {
    let args = args();
    if args.latencies_ms.is_empty() {
        for &size in &args.sizes {
            loopback(size, &args);
        }
        return;
    }
    let Args {
        sizes,
        rounds,
        streams,
        baseline_bin,
        oauth,
        latencies_ms,
        limits,
        concurrency,
    } = args;
    world::run(&world::Grid {
        sizes,
        rounds,
        latencies_ms,
        limits,
        concurrency,
        baseline_bin,
        streams,
        oauth,
    });
}

/// The loopback benchmark of one company of `size` records per main resource.
fn loopback(size: u64, args: &Args) {
    let Args {
        rounds,
        streams,
        baseline_bin,
        oauth,
        ..
    } = args;
    let (rounds, oauth) = (*rounds, *oauth);
    let app = pipedrive_sandbox::OAuthOptions::default();
    let options = SandboxOptions {
        size,
        burst_limit: u32::MAX,
        oauth: oauth.then(|| app.clone()),
        ..SandboxOptions::default()
    };
    let key = options.api_key.clone();
    let sandbox = Sandbox::start(options).expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let config_json = if oauth {
        serde_json::json!({"start_date": "2020-01-01T00:00:00Z",
            "credentials": {"auth_type": "oauth2.0", "client_id": app.client_id,
                            "client_secret": app.client_secret, "refresh_token": app.refresh_token},
            "oauth_token_url": format!("{}/oauth/token", sandbox.base_url())})
    } else {
        serde_json::json!({"api_key": key, "start_date": "2020-01-01T00:00:00Z", "base_url": sandbox.base_url()})
    };
    std::fs::write(&config, config_json.to_string()).unwrap();
    let catalog = dir.path().join("catalog.json");
    write_catalog(&catalog, streams);

    // Start-up: the median of 21 `spec` runs.
    let mut spec: Vec<Duration> = (0..21).map(|_| measure(&["spec"]).wall).collect();
    spec.sort();

    let read = [
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ];
    let first = measure(&read);
    assert_eq!(first.status, 0, "the sync failed");
    let log = sandbox.requests();
    let requests = log.len() as u64;
    let tokens: u64 = log.iter().map(|r| r.token_cost).sum();
    let targets: Vec<String> = log.iter().map(|r| r.raw_target.clone()).collect();
    // One request's latency: the first data page (the key check before it is tiny).
    let single = raw_download(&sandbox.base_url(), &key, &targets[1..2]).0;
    let mut with_progress = read.to_vec();
    with_progress.extend(["--progress", "always"]);
    let mut syncs = Vec::new();
    let mut drawn = Vec::new();
    let mut baselines = Vec::new();
    let mut raws = Vec::new();
    let mut bytes = 0;
    // The syncs of a round take turns going first, so that none gains from its place (a warm
    // sandbox, a quiet moment of this shared machine).
    let mut kinds = vec![Kind::Off, Kind::On];
    if baseline_bin.is_some() {
        kinds.push(Kind::Baseline);
    }
    for round in 0..rounds {
        let (raw, b) = raw_download(&sandbox.base_url(), &key, &targets);
        raws.push(raw);
        bytes = b;
        let mut order = kinds.clone();
        order.rotate_left(round % kinds.len());
        for kind in order {
            match kind {
                Kind::Off => {
                    let m = measure(&read);
                    assert_eq!(
                        m.records, first.records,
                        "every sync reads the same records"
                    );
                    syncs.push(m);
                }
                Kind::On => {
                    let d = measure(&with_progress);
                    assert_eq!(d.records, first.records, "the display changes no record");
                    drawn.push(d);
                }
                Kind::Baseline => {
                    let bin = baseline_bin.as_deref().expect("a baseline");
                    let b = measure_bin(bin, &read);
                    assert_eq!(b.status, 0, "the baseline's sync failed");
                    assert_eq!(
                        b.records, first.records,
                        "the baseline reads the same records"
                    );
                    baselines.push(b);
                }
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let wall = median(syncs.iter().map(|m| m.wall.as_secs_f64()).collect());
    let baseline = median(raws.iter().map(Duration::as_secs_f64).collect());
    // A series' wall time over the raw download of the same round, per round, then the median.
    let over_raw = |series: &[Measured]| {
        median(
            series
                .iter()
                .zip(&raws)
                .map(|(m, r)| m.wall.as_secs_f64() / r.as_secs_f64())
                .collect(),
        )
    };
    let ratio = over_raw(&syncs);
    let cpu = median(syncs.iter().map(|m| m.cpu.as_secs_f64()).collect());
    let rss = syncs.iter().map(|m| m.max_rss_kib).max().unwrap_or(0);
    let first_record = median(
        syncs
            .iter()
            .filter_map(|m| m.first_record)
            .map(|d| d.as_secs_f64())
            .collect(),
    );
    let records = first.records;
    // Per-round ratios of two series, then their median.
    let versus = |a: &[Measured], b: &[Measured], f: fn(&Measured) -> f64| {
        median(a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect())
    };
    let wall_of = |m: &Measured| m.wall.as_secs_f64();
    let cpu_of = |m: &Measured| m.cpu.as_secs_f64();
    let peak_mib =
        |v: &[Measured]| v.iter().map(|m| m.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0;

    println!("source-pipedrive sync benchmark: {size} records per main resource, {} streams, median of {rounds} rounds", streams.len());
    println!("records              {records:>12}");
    println!(
        "requests             {requests:>12}   ({:.2} per 1,000 records)",
        requests as f64 * 1000.0 / records as f64
    );
    println!(
        "estimated tokens     {tokens:>12}   ({:.1} per 1,000 records)",
        tokens as f64 * 1000.0 / records as f64
    );
    println!("bytes downloaded     {bytes:>12}");
    println!("wall time            {wall:>12.3} s");
    println!("raw download         {baseline:>12.3} s   (same {requests} requests, same order, bodies read, not parsed)");
    println!("wall / raw download  {ratio:>12.3}   (median of the per-round ratios)");
    println!(
        "connector CPU        {cpu:>12.3} s   ({:.2} µs per record)",
        cpu * 1e6 / records.max(1) as f64
    );
    println!("records per second   {:>12.0}", records as f64 / wall);
    println!(
        "peak RSS             {:>12.1} MiB   (VmHWM, largest of the rounds)",
        rss as f64 / 1024.0
    );
    println!(
        "spec (median of 21)  {:>12.2} ms",
        spec[10].as_secs_f64() * 1e3
    );
    println!(
        "first RECORD after   {:>12.2} ms   ({:.2} single-request latencies)",
        first_record * 1e3,
        first_record / single.as_secs_f64()
    );
    let drawn_ratio = over_raw(&drawn);
    println!(
        "progress on: wall / raw download {drawn_ratio:>6.3}; vs progress off: wall {:.3}×, CPU {:.3}× (median of per-round ratios; CPU {:.3} s, peak RSS {:.1} MiB)",
        versus(&drawn, &syncs, wall_of),
        versus(&drawn, &syncs, cpu_of),
        median(drawn.iter().map(cpu_of).collect()),
        peak_mib(&drawn)
    );
    if let Some(bin) = &baseline_bin {
        let base_ratio = over_raw(&baselines);
        println!(
            "baseline {bin}: wall / raw download {base_ratio:>6.3}; this build (progress off) vs it: wall {:.3}×, CPU {:.3}× (baseline CPU {:.3} s, peak RSS {:.1} MiB)",
            versus(&syncs, &baselines, wall_of),
            versus(&syncs, &baselines, cpu_of),
            median(baselines.iter().map(cpu_of).collect()),
            peak_mib(&baselines)
        );
    }
}
