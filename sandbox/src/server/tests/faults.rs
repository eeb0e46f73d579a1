//! Injected faults follow their rates and seed; truncated and slow answers reach the client as
//! the real ones do.

use super::*;

/// Sends a request on a fresh connection and returns everything until the server closes.
fn raw_get(sandbox: &Sandbox, target: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(sandbox.addr).unwrap();
    stream
        .write_all(format!("GET {target} HTTP/1.1\r\nx-api-token: sandbox-api-key\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn faults_follow_their_rates_and_seed() {
    let faults = Faults {
        seed: 7,
        server_error_rate: 0.1,
        html_rate: 0.05,
        slow_rate: 0.05,
        slow_by: Duration::from_millis(1),
        ..Faults::default()
    };
    let run = || {
        let sandbox = faulty(faults.clone());
        let mut client = Client::new(&sandbox);
        for k in 0..2000 {
            let reply = client.get(if k % 2 == 0 {
                "/api/v2/stages"
            } else {
                "/v1/users/me"
            });
            let entry = sandbox.requests().pop().unwrap();
            assert_eq!(reply.status, entry.status);
            match entry.fault.as_deref() {
                Some("html") => {
                    assert_eq!(
                        (reply.status, reply.header("Content-Type")),
                        (200, Some("text/html; charset=UTF-8"))
                    );
                    assert!(reply.header("x-ratelimit-remaining").is_none());
                    assert_eq!(entry.token_cost, 0);
                }
                Some("server_error_503_html") => {
                    assert!(reply.body.as_str().unwrap().contains("maintenance"))
                }
                Some(f) if f.starts_with("server_error_") => {
                    assert_eq!(f, format!("server_error_{}", reply.status));
                    assert_eq!(reply.body["error_info"], ERROR_INFO);
                    assert_eq!(entry.token_cost, 0);
                }
                Some(f) => {
                    assert_eq!((f, reply.status, entry.token_cost), ("slow", 200, 5));
                }
                None => assert_eq!(reply.status, 200),
            }
        }
        sandbox.requests()
    };
    let log = run();
    let share = |name: &str| {
        log.iter()
            .filter(|e| e.fault.as_deref().is_some_and(|f| f.starts_with(name)))
            .count() as f64
            / 1000.0
    };
    // Only the data endpoint (every other request) can fail.
    assert!(log
        .iter()
        .filter(|e| e.path == "/v1/users/me")
        .all(|e| e.fault.is_none()));
    assert!(
        (0.07..0.13).contains(&share("server_error")),
        "{}",
        share("server_error")
    );
    assert!((0.03..0.07).contains(&share("html")), "{}", share("html"));
    assert!((0.03..0.07).contains(&share("slow")), "{}", share("slow"));
    for status in [500, 502, 503] {
        assert!(log.iter().any(|e| e.status == status), "{status}");
    }
    assert!(log
        .iter()
        .any(|e| e.fault.as_deref() == Some("server_error_503_html")));
    let faults_of =
        |log: &[RequestLogEntry]| log.iter().map(|e| e.fault.clone()).collect::<Vec<_>>();
    assert_eq!(faults_of(&run()), faults_of(&log), "same seed, same faults");
    let other = Faults {
        seed: 8,
        ..faults.clone()
    };
    let sandbox = faulty(other);
    let mut client = Client::new(&sandbox);
    for _ in 0..200 {
        client.get("/api/v2/stages");
    }
    assert_ne!(
        faults_of(&sandbox.requests()),
        faults_of(&log)[..200].to_vec()
    );
}

#[test]
fn truncated_and_slow_answers() {
    let sandbox = faulty(Faults {
        seed: 1,
        truncate_rate: 1.0,
        ..Faults::default()
    });
    let response = raw_get(&sandbox, "/api/v2/deals?limit=20");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(body.len() < length, "{} of {length} bytes", body.len());
    assert!(serde_json::from_str::<Value>(body).is_err());
    // A client reading Content-Length bytes meets the end of the stream.
    let stream = TcpStream::connect(sandbox.addr).unwrap();
    let mut reader = BufReader::new(stream);
    reader
        .get_mut()
        .write_all(b"GET /api/v2/deals HTTP/1.1\r\nx-api-token: sandbox-api-key\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    let mut length = 0;
    while reader.read_line(&mut line).unwrap() > 2 {
        if let Some(v) = line.trim_end().strip_prefix("Content-Length: ") {
            length = v.parse().unwrap();
        }
        line.clear();
    }
    let mut body = vec![0; length];
    let err = reader.read_exact(&mut body).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    let log = sandbox.requests();
    assert!(log
        .iter()
        .all(|e| e.fault.as_deref() == Some("truncate") && e.token_cost == 10));
    // `/v1/users/me` is spared unless asked for.
    assert!(String::from_utf8_lossy(&raw_get(&sandbox, "/v1/users/me")).ends_with('}'));
    let me = faulty(Faults {
        html_rate: 1.0,
        include_users_me: true,
        ..Faults::default()
    });
    assert!(String::from_utf8_lossy(&raw_get(&me, "/v1/users/me")).contains("text/html"));

    // Slow by far more than the read timeout, and timed from before the request is written, so a
    // loaded machine pausing this thread cannot make the answer look early or on time.
    let slow = faulty(Faults {
        slow_rate: 1.0,
        slow_by: Duration::from_secs(3),
        ..Faults::default()
    });
    let mut stream = TcpStream::connect(slow.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /api/v2/stages HTTP/1.1\r\nx-api-token: sandbox-api-key\r\n\r\n")
        .unwrap();
    let err = stream.read(&mut [0; 16]).unwrap_err();
    assert!(matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ));
    stream.set_read_timeout(None).unwrap();
    let mut first = [0; 12];
    stream.read_exact(&mut first).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(&first, b"HTTP/1.1 200");
    assert_eq!(slow.requests()[0].fault.as_deref(), Some("slow"));
}

#[test]
fn a_cursor_cycle_pages_in_a_circle() {
    let sandbox = Sandbox::start(SandboxOptions {
        size: 40,
        burst_limit: 100_000,
        faults: Faults {
            cursor_cycle: Some("/api/v2/deals".into()),
            ..Faults::default()
        },
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let next = |reply: &Reply| reply.body["additional_data"]["next_cursor"].clone();
    let a = next(&client.get("/api/v2/deals?limit=5"));
    let b = next(&client.get(&format!(
        "/api/v2/deals?limit=5&cursor={}",
        a.as_str().unwrap()
    )));
    assert_ne!(a, b);
    for _ in 0..3 {
        let again = client.get(&format!(
            "/api/v2/deals?limit=5&cursor={}",
            b.as_str().unwrap()
        ));
        assert_eq!(next(&again), a, "page B points back at A");
        let page_a = client.get(&format!(
            "/api/v2/deals?limit=5&cursor={}",
            a.as_str().unwrap()
        ));
        assert_eq!(next(&page_a), b);
    }
    // Other lists page as usual.
    assert_eq!(client.walk_cursor("/api/v2/persons?limit=7").len(), 40);
}

#[test]
fn an_unsaid_list_leaves_out_additional_data_on_every_page_or_the_last() {
    let start = |unsaid: Unsaid| {
        Sandbox::start(SandboxOptions {
            size: 12,
            burst_limit: 100_000,
            faults: Faults {
                unsaid: Some(unsaid),
                ..Faults::default()
            },
            ..SandboxOptions::default()
        })
        .unwrap()
    };
    let every = start(Unsaid::every_page("/api/v2/persons"));
    let mut client = Client::new(&every);
    let first = client.get("/api/v2/persons?limit=5");
    assert_eq!(first.body["data"].as_array().unwrap().len(), 5);
    assert!(
        first.body.get("additional_data").is_none(),
        "{}",
        first.body
    );
    assert_eq!(
        client.walk_cursor("/api/v2/deals?limit=5").len(),
        12,
        "other lists page as usual"
    );

    let last = start(Unsaid::last_page("/api/v2/persons"));
    let mut client = Client::new(&last);
    let mut pages = Vec::new();
    let mut target = "/api/v2/persons?limit=5".to_string();
    loop {
        let reply = client.get(&target);
        pages.push(reply.body.clone());
        match reply.body["additional_data"]["next_cursor"].as_str() {
            Some(c) => target = format!("/api/v2/persons?limit=5&cursor={c}"),
            None => break,
        }
    }
    let lengths: Vec<usize> = pages
        .iter()
        .map(|p| p["data"].as_array().unwrap().len())
        .collect();
    assert_eq!(lengths, [5, 5, 2]);
    assert!(pages[2].get("additional_data").is_none(), "{}", pages[2]);
}
