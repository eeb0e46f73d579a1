//! The client's requests in flight, tried through real sockets: the cap holds across threads,
//! a place is never held where holding it could deadlock or idle (a reader callback, a wait to
//! retry), and `parallelism` follows the latency and the burst limit the server shows.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pipedrive_sandbox::{Latency, Sandbox, SandboxOptions};

use super::{Client, RetryPolicy};
use crate::config::{ApiKey, TokenCaps};

const MS: Duration = Duration::from_millis(1);

fn sandbox(latency: Duration, burst_limit: u32) -> Sandbox {
    Sandbox::start(SandboxOptions {
        size: 5,
        burst_limit,
        latency: Latency::of(latency),
        ..SandboxOptions::default()
    })
    .unwrap()
}

fn client(base_url: &str, policy: RetryPolicy) -> Client {
    Client::new(
        base_url,
        ApiKey::new("sandbox-api-key"),
        policy,
        TokenCaps::default(),
    )
}

fn capped(max_in_flight: usize) -> RetryPolicy {
    RetryPolicy {
        max_in_flight,
        ..RetryPolicy::default()
    }
}

/// 32 threads through one client capped at 4, against a server that takes 50 ms: the server
/// never has more than 4 of them at once (and has 4 most of the time), and every one is
/// answered.
#[test]
fn the_cap_holds_across_threads() {
    let sandbox = sandbox(50 * MS, 100);
    let client = client(&sandbox.base_url(), capped(4));
    assert_eq!(client.max_in_flight(), 4);
    let (server_peak, client_peak, done) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    std::thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(|| {
                for _ in 0..2 {
                    client.get_json("/api/v2/stages", &[], 5).unwrap();
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        while done.load(Ordering::SeqCst) < 32 {
            server_peak.fetch_max(sandbox.in_flight() as usize, Ordering::SeqCst);
            client_peak.fetch_max(client.in_flight(), Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(500));
        }
    });
    let log = sandbox.requests();
    assert_eq!(log.len(), 64);
    assert!(log.iter().all(|r| r.status == 200));
    assert_eq!(
        server_peak.into_inner(),
        4,
        "never more than the cap, and the cap reached"
    );
    assert_eq!(client_peak.into_inner(), 4);
    assert_eq!(client.in_flight(), 0);
}

/// A page's reader callback reads its children through the same client: with a cap of one,
/// the page has given its place back before the callback runs, so the child request goes.
#[test]
fn a_reader_callback_may_make_requests_under_a_cap_of_one() {
    let sandbox = sandbox(Duration::ZERO, 100);
    let client = Arc::new(client(&sandbox.base_url(), capped(1)));
    let (tx, rx) = mpsc::channel();
    let inner = Arc::clone(&client);
    // Its own thread, so that a deadlock fails the test instead of hanging it.
    std::thread::spawn(move || {
        let page = inner.get_text("/api/v2/stages", &[], 5, |_| {
            let child = inner.get_json("/api/v2/pipelines", &[], 5).unwrap();
            Ok(child.body["success"].clone())
        });
        let _ = tx.send(page.map(|r| r.body));
    });
    let answer = rx.recv_timeout(Duration::from_secs(10));
    assert!(matches!(&answer, Ok(Ok(v)) if v == true), "{answer:?}");
    assert_eq!(sandbox.requests().len(), 2);
    assert_eq!(client.in_flight(), 0);
}

/// A loopback server answering each request by its path and how many times that path was
/// asked before; it tells each request's path on `seen` once it is read.
fn serve(answer: fn(&str, usize) -> (u16, &'static str)) -> (String, mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut asked = std::collections::HashMap::<String, usize>::new();
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let n = asked.entry(path.clone()).or_default();
            let (status, extra) = answer(&path, *n);
            *n += 1;
            let body = match status {
                200 => r#"{"success":true,"data":[]}"#,
                _ => r#"{"success":false,"error":"no"}"#,
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = seen.send(path);
        }
    });
    (url, rx)
}

/// A request waiting to be tried again, after a 5xx (the backoff) or a burst 429 (the wait the
/// headers ask for), holds no place: with a cap of one, none is held while it waits, and
/// another request goes meanwhile.
#[test]
fn no_place_is_held_while_waiting_to_try_again() {
    let (url, seen) = serve(|path, n| match (path, n) {
        ("/fail", 0) => (500, ""),
        ("/busy", 0) => (
            429,
            "x-ratelimit-limit: 20\r\nx-ratelimit-remaining: 0\r\nx-ratelimit-reset: 1\r\n",
        ),
        _ => (200, ""),
    });
    let policy = RetryPolicy {
        base_delay: Duration::from_secs(1),
        ..capped(1)
    };
    let client = client(&url, policy);
    std::thread::scope(|s| {
        for path in ["/fail", "/busy"] {
            let started = Instant::now();
            let waiting = s.spawn(|| client.get_json(path, &[], 2).map(|_| ()));
            assert_eq!(seen.recv_timeout(Duration::from_secs(5)).unwrap(), path);
            // The answer is read (the backoff is at least half a second, the 429's wait a
            // second): the place is back.
            std::thread::sleep(150 * MS);
            assert!(!waiting.is_finished(), "{path}: still waiting to try again");
            assert_eq!(client.in_flight(), 0, "{path}: no place held while waiting");
            if path == "/fail" {
                // The 429's wait holds every request (the window is used up), the backoff
                // only its own: another request goes at once.
                client.get_json("/other", &[], 2).unwrap();
                assert!(!waiting.is_finished());
                assert!(started.elapsed() < 400 * MS, "{:?}", started.elapsed());
            }
            waiting.join().unwrap().unwrap();
            // What came after: `/other`, and the one tried again. The server tells of an
            // answer just after writing it, so that may come after the join: wait for it.
            while seen.recv_timeout(Duration::from_secs(5)).unwrap() != path {}
        }
    });
}

/// `parallelism` follows latency × rate: more with a slower server, more with a higher burst
/// limit, and never more than `max_concurrent_requests`.
#[test]
fn parallelism_follows_latency_and_the_burst_limit() {
    let measure = |latency: Duration, limit: u32, cap: usize| {
        let sandbox = sandbox(latency, limit);
        let client = client(&sandbox.base_url(), capped(cap));
        for _ in 0..4 {
            client.get_json("/api/v2/stages", &[], 5).unwrap();
        }
        let measured = client.latency().unwrap();
        assert!(
            measured >= latency && measured < latency + 50 * MS,
            "{latency:?}: {measured:?}"
        );
        client.parallelism()
    };
    let cases = [
        (50, 40, 100),
        (50, 160, 100),
        (300, 40, 100),
        (300, 160, 100),
        (300, 160, 10),
    ];
    let p: Vec<usize> = std::thread::scope(|s| {
        let runs: Vec<_> = cases
            .iter()
            .map(|&(ms, limit, cap)| s.spawn(move || measure(ms * MS, limit, cap)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let [fast_low, fast_high, slow_low, slow_high, slow_high_capped] = p[..] else {
        unreachable!()
    };
    // 50 ms at 20/s wants 1.25 (so 3); 300 ms at 80/s wants 30 (so 32 or so).
    assert!((2..=4).contains(&fast_low), "{p:?}");
    assert!(fast_low < fast_high && fast_high < slow_high, "{p:?}");
    assert!(fast_low < slow_low && slow_low < slow_high, "{p:?}");
    assert!((31..=40).contains(&slow_high), "{p:?}");
    assert_eq!(slow_high_capped, 10, "{p:?}");
    // Before any answer: 300 ms assumed, at the lowest plan's 20 per 2 s.
    assert_eq!(client("http://127.0.0.1:9", capped(100)).parallelism(), 5);
}
