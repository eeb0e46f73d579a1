//! The resilience benchmark: `cargo bench --bench faults -- [--size N]`.
//!
//! 1. A full sync of the default catalog against a clean sandbox and against a faulty one (5%
//!    5xx, 2% bodies cut short, 1% HTML pages), both with a burst limit of 20 requests per 2 s:
//!    records (which must be equal), requests, faults met, 429s, the CDN's 403s, wall time.
//! 2. The same 120 page requests through the connector's HTTP client with pacing from the
//!    rate-limit headers on and off, against a burst limit of 20 per 2 s: how many 429s each met.

use std::time::Instant;

use pipedrive_sandbox::{Faults, Sandbox, SandboxOptions};
use source_pipedrive::config::{ApiKey, TokenCaps};
use source_pipedrive::http::{Client, RetryPolicy};

fn size() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn sync(options: SandboxOptions) -> (u64, Vec<pipedrive_sandbox::RequestLogEntry>, f64) {
    let key = options.api_key.clone();
    let sandbox = Sandbox::start(options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let json = serde_json::json!({"api_key": key, "start_date": "2020-01-01T00:00:00Z", "base_url": sandbox.base_url()});
    std::fs::write(&config, json.to_string()).unwrap();
    let start = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args(["read", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "the sync failed: {}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("TRACE"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let records = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(br#"{"type":"RECORD""#))
        .count() as u64;
    (records, sandbox.requests(), wall)
}

fn main() {
    let size = size();
    let clean = || SandboxOptions {
        size,
        burst_limit: 20,
        ..SandboxOptions::default()
    };
    let faults = Faults {
        seed: 11,
        server_error_rate: 0.05,
        truncate_rate: 0.02,
        html_rate: 0.01,
        ..Faults::default()
    };
    let faulty = SandboxOptions { faults, ..clean() };
    println!("full sync of the default catalog, {size} records per main resource, burst limit 20 per 2 s");
    println!(
        "{:<8} {:>9} {:>9} {:>7} {:>6} {:>6} {:>9}",
        "run", "records", "requests", "faults", "429s", "403s", "wall s"
    );
    let mut counts = Vec::new();
    for (name, options) in [("clean", clean()), ("faulty", faulty)] {
        let (records, log, wall) = sync(options);
        let faults = log.iter().filter(|r| r.fault.is_some()).count();
        let limited = log.iter().filter(|r| r.status == 429).count();
        let blocked = log.iter().filter(|r| r.status == 403).count();
        println!(
            "{name:<8} {records:>9} {:>9} {faults:>7} {limited:>6} {blocked:>6} {wall:>9.2}",
            log.len()
        );
        counts.push(records);
    }
    assert_eq!(
        counts[0], counts[1],
        "the faulty run must give the clean run's records"
    );

    println!("\n120 page requests through the HTTP client, burst limit 20 per 2 s");
    for pace in [true, false] {
        let options = SandboxOptions {
            size: 5000,
            burst_limit: 20,
            ..SandboxOptions::default()
        };
        let key = options.api_key.clone();
        let sandbox = Sandbox::start(options).unwrap();
        let policy = RetryPolicy {
            pace_from_headers: pace,
            ..RetryPolicy::default()
        };
        let client = Client::new(
            &sandbox.base_url(),
            ApiKey::new(key),
            policy,
            TokenCaps::default(),
        );
        let start = Instant::now();
        for i in 0..120 {
            client
                .get_json(
                    "/api/v2/deals",
                    &[
                        ("limit", "50".to_string()),
                        ("sort_by", "id".to_string()),
                        ("ids", (i % 100 + 1).to_string()),
                    ],
                    10,
                )
                .unwrap();
        }
        let log = sandbox.requests();
        println!(
            "pacing from headers {:<3}: {} requests sent, {} answered 429, {} answered 403, {:.1} s",
            if pace { "on" } else { "off" },
            log.len(),
            log.iter().filter(|r| r.status == 429).count(),
            log.iter().filter(|r| r.status == 403).count(),
            start.elapsed().as_secs_f64()
        );
    }
}
