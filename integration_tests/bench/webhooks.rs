//! The real-time benchmark: `cargo bench --bench webhooks -- [--rate 100] [--seconds 20] [--total 100000] [--rounds 5]`.
//!
//! Starts the sandbox and `listen` (release binary), then
//! 1. delivers `rate` webhooks per second for `seconds` and reports the latency of each delivery
//!    (median, p99, max). `listen` answers only after the record is written and flushed, so this
//!    is the time from delivery to flushed RECORD, plus one loopback round trip;
//! 2. delivers `total` webhooks as fast as one sender can and samples the listener's resident
//!    memory as they accumulate (it must stay flat: its memories of recent events are bounded).
//!    The deliveries go in `rounds`, each followed by as many to a bare receiver in this process
//!    (it reads the request and answers 200, nothing else): deliveries per second are reported as
//!    a ratio to that baseline, measured in the same run on the same machine, so that runs on a
//!    busy or a quiet machine can be compared.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "proc_status.rs"]
mod proc_status;

use pipedrive_sandbox::webhooks::{deliver, event, EventMeta};
use pipedrive_sandbox::{Resource, Sandbox, SandboxOptions};
use serde_json::json;

const USER: &str = "bench-hooks";
const PASSWORD: &str = "bench-password-0123456789";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (rate, seconds, total, rounds) = (
        arg("--rate", 100),
        arg("--seconds", 20),
        arg("--total", 100_000),
        arg("--rounds", 5).max(1),
    );
    let sandbox = Sandbox::start(SandboxOptions {
        size: 50,
        burst_limit: u32::MAX,
        ..SandboxOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let config_json = json!({"api_key": SandboxOptions::default().api_key, "start_date": "2020-01-01T00:00:00Z",
        "base_url": sandbox.base_url(), "webhook_user": USER, "webhook_password": PASSWORD});
    std::fs::write(&config, config_json.to_string()).unwrap();
    let catalog = dir.path().join("catalog.json");
    std::fs::write(
        &catalog,
        json!({"streams": [{"stream": {"name": "deals"}, "sync_mode": "incremental"}]}).to_string(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args([
            "listen",
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ])
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--reconcile-every",
            "86400",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut ready = Some(ready_tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening for Pipedrive webhooks") {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("listen starts");
    let url = format!("http://127.0.0.1:{port}/hooks");
    let base = sandbox.dataset().records(Resource::Deals)[0].clone();
    let payload = |n: u64| {
        let mut deal = base.clone();
        deal["id"] = json!(10_000_000 + n);
        event("create", "deal", Some(&deal), None, EventMeta::numbered(n))
    };

    // 1. Paced deliveries: latency.
    let mut latencies = Vec::new();
    let start = Instant::now();
    let step = Duration::from_secs_f64(1.0 / rate as f64);
    for n in 0..rate * seconds {
        let due = start + step * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let d = deliver(&url, USER, PASSWORD, &payload(n), Duration::from_secs(10));
        assert_eq!(d.status, Some(200), "delivery {n}");
        latencies.push(d.latency);
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("paced: {} deliveries at {rate}/s", latencies.len());
    println!(
        "  delivery → flushed RECORD (acknowledged): median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );

    // 2. Many deliveries: memory, and throughput against the bare receiver.
    let bare = bare_receiver();
    let first = rate * seconds;
    let (mut listen_time, mut bare_time) = (Duration::ZERO, Duration::ZERO);
    let per_round = (total / rounds).max(1);
    print!("memory (listener RSS) after deliveries:");
    let mut done = 0;
    for round in 0..rounds {
        let t0 = Instant::now();
        for i in 0..per_round {
            let n = first + round * per_round + i;
            let d = deliver(&url, USER, PASSWORD, &payload(n), Duration::from_secs(10));
            assert_eq!(d.status, Some(200), "delivery {n}");
            done += 1;
            if done == 1 || done % (total / 5).max(1) == 0 {
                print!(
                    "  {done}: {:.1} MiB",
                    proc_status::kib(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0
                );
            }
        }
        listen_time += t0.elapsed();
        let t0 = Instant::now();
        for i in 0..per_round {
            let n = first + round * per_round + i;
            let d = deliver(&bare, USER, PASSWORD, &payload(n), Duration::from_secs(10));
            assert_eq!(d.status, Some(200), "bare delivery {n}");
        }
        bare_time += t0.elapsed();
    }
    println!();
    let sent = per_round * rounds;
    let (listen_rate, bare_rate) = (
        sent as f64 / listen_time.as_secs_f64(),
        sent as f64 / bare_time.as_secs_f64(),
    );
    println!(
        "  {sent} deliveries in {rounds} rounds: listen {listen_rate:.0}/s, bare receiver {bare_rate:.0}/s (one sender); ratio {:.3}",
        listen_rate / bare_rate
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// A receiver that does nothing but read one request (head, then `Content-Length` bytes) and
/// answer 200, one connection at a time: the cost of the sender, the loopback and HTTP framing,
/// against which `listen` is compared.
fn bare_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let _ = answer(conn);
        }
    });
    url
}

fn answer(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut left = (head_end + length).saturating_sub(buf.len());
    while left > 0 {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n);
    }
    let body = r#"{"status":200,"message":"ok"}"#;
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
