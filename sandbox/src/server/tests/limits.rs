//! The token header, the burst window, the daily budget and the CDN's block, and the headers
//! that tell them apart.

use super::*;

/// v2 takes the token only from the header (v1 also from `api_token`: `legacy_routes`).
#[test]
fn token_only_from_the_header() {
    let sandbox = start(10);
    let mut client = Client::new(&sandbox);
    client.token = None;
    let reply = client.get("/api/v2/deals?api_token=sandbox-api-key");
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.body,
        json!({"success": false, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO})
    );
    client.token = Some("wrong".into());
    assert_eq!(client.get("/v1/users").status, 401);
    let log = sandbox.requests();
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|e| !e.authorized && e.token_cost == 0 && e.status == 401));
    assert_eq!(log[0].raw_target, "/api/v2/deals?api_token=sandbox-api-key");
    assert_eq!(
        log[0].query,
        vec![("api_token".to_string(), "sandbox-api-key".to_string())]
    );
}

#[test]
fn burst_limit_answers_429_with_headers() {
    let sandbox = Sandbox::start(SandboxOptions {
        burst_limit: 5,
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    for k in 0..5 {
        let reply = client.get("/api/v2/pipelines");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some((4 - k).to_string().as_str())
        );
    }
    let reply = client.get("/api/v2/pipelines");
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    let reset: u64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=2).contains(&reset));
    assert_eq!(reply.body["success"], false);
    assert_eq!(sandbox.requests().last().unwrap().token_cost, 0);
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(client.get("/api/v2/pipelines").status, 200);
}

#[test]
fn daily_budget_spends_token_costs() {
    let sandbox = Sandbox::start(SandboxOptions {
        daily_token_budget: Some(25),
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let first = client.get("/api/v2/deals");
    assert_eq!(first.header("x-daily-ratelimit-token-limit"), Some("25"));
    assert_eq!(
        first.header("x-daily-ratelimit-token-remaining"),
        Some("15")
    );
    assert_eq!(client.get("/api/v2/stages").status, 200);
    assert_eq!(client.get("/v1/users/me").status, 200);
    assert_eq!(client.get("/v1/leadLabels").status, 200);
    let spent = client.get("/api/v2/deals");
    assert_eq!(spent.status, 429);
    assert_eq!(spent.header("x-daily-ratelimit-token-remaining"), Some("0"));
    assert_ne!(spent.header("x-ratelimit-remaining"), Some("0"));
    let costs: Vec<u64> = sandbox.requests().iter().map(|e| e.token_cost).collect();
    assert_eq!(costs, [10, 5, 2, 10, 0]);
    sandbox.advance_clock(chrono::Duration::days(1));
    assert_eq!(client.get("/api/v2/deals").status, 200);
}

#[test]
fn the_cdn_blocks_a_client_that_ignores_429s() {
    let sandbox = Sandbox::start(SandboxOptions {
        burst_limit: 2,
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let statuses: Vec<u16> = (0..7)
        .map(|_| client.get("/api/v2/stages").status)
        .collect();
    // Two answered, four 429s tolerated up to three, then the CDN's page.
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429, 403]);
    let blocked = client.get("/v1/users/me");
    assert_eq!(blocked.status, 403);
    assert_eq!(
        blocked.header("Content-Type"),
        Some("text/html; charset=UTF-8")
    );
    assert!(blocked.header("x-ratelimit-remaining").is_none());
    let page = blocked.body.as_str().unwrap();
    assert!(page.contains("Access denied") && page.contains("Cloudflare"));
    let log = sandbox.requests();
    assert_eq!(log.iter().filter(|e| e.status == 403).count(), 2);
    assert!(log.iter().all(|e| e.status == 200 || e.token_cost == 0));
    // The block outlives the burst window; it ends 10 s later on the fake clock (which
    // also moves with real time).
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(client.get("/api/v2/stages").status, 403);
    sandbox.advance_clock(chrono::Duration::seconds(6));
    assert_eq!(client.get("/api/v2/stages").status, 403);
    sandbox.advance_clock(chrono::Duration::seconds(3));
    assert_eq!(client.get("/api/v2/stages").status, 200);
    // Three 429s in a window are tolerated.
    let statuses: Vec<u16> = (0..4)
        .map(|_| client.get("/api/v2/stages").status)
        .collect();
    assert_eq!(statuses, [200, 429, 429, 429]);
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(client.get("/api/v2/stages").status, 200);
}

#[test]
fn budget_and_burst_429s_are_told_apart_by_their_headers() {
    let sandbox = Sandbox::start(SandboxOptions {
        burst_limit: 2,
        daily_token_budget: Some(20),
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    assert_eq!(client.get("/api/v2/deals").status, 200);
    assert_eq!(client.get("/api/v2/deals").status, 200);
    // Over the burst limit: the window's `x-ratelimit-remaining` is 0.
    let burst = client.get("/api/v2/deals");
    assert_eq!(burst.status, 429);
    assert_eq!(burst.header("x-ratelimit-remaining"), Some("0"));
    // Over the budget with room in the window: remaining stays above 0.
    thread::sleep(Duration::from_millis(2100));
    for _ in 0..3 {
        let budget = client.get("/api/v2/deals");
        assert_eq!(budget.status, 429);
        assert_eq!(budget.header("x-ratelimit-remaining"), Some("2"));
        assert_eq!(
            budget.header("x-daily-ratelimit-token-remaining"),
            Some("0")
        );
        assert!(budget.body["error"].as_str().unwrap().contains("Daily"));
    }
    // A new budget for the next run: counting starts afresh.
    thread::sleep(Duration::from_millis(2100));
    sandbox.set_daily_token_budget(Some(15));
    let fresh = client.get("/api/v2/deals");
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.header("x-daily-ratelimit-token-limit"), Some("15"));
    assert_eq!(fresh.header("x-daily-ratelimit-token-remaining"), Some("5"));
    sandbox.set_daily_token_budget(None);
    let unlimited = client.get("/api/v2/deals");
    assert_eq!(unlimited.status, 200);
    assert!(unlimited.header("x-daily-ratelimit-token-limit").is_none());
}

/// Each kind of token has its own window: a plan's API token limit for `x-api-token`
/// requests, four times that for OAuth (`Authorization: Bearer`) ones, and the headers tell
/// each its own.
#[test]
fn api_token_and_oauth_requests_have_windows_and_limits_of_their_own() {
    let sandbox = Sandbox::start(SandboxOptions::default().with_plan(Plan::Lite)).unwrap();
    let shared = &sandbox.shared;
    use super::latency::TokenKind::{ApiToken, OAuth};
    let admitted = |kind, n: u64| {
        (0..n)
            .filter(|i| shared.throttle(*i, kind).is_none())
            .count()
    };
    assert_eq!(
        admitted(ApiToken, 22),
        20,
        "Lite: 20 per 2 s with the API token"
    );
    assert!(shared
        .rate_headers(ApiToken, false)
        .contains("x-ratelimit-remaining: 0\r\n"));
    // The API token's full window leaves the OAuth window untouched.
    assert!(shared
        .rate_headers(OAuth, false)
        .contains("x-ratelimit-limit: 80\r\nx-ratelimit-remaining: 80\r\n"));
    // The CDN would block after a few 429s; these counts stay under its tolerance per kind.
    assert_eq!(admitted(OAuth, 80), 80, "four times that with OAuth");
    let refused = shared.throttle(0, OAuth).expect("the 81st is refused");
    assert_eq!(refused.status, 429);
    // A burst 429 says none is left, even once a request has left the window since.
    assert!(refused.burst_refused);
    assert!(shared
        .rate_headers(ApiToken, true)
        .contains("x-ratelimit-remaining: 0\r\n"));
    // Unset, the OAuth limit is four times the API token's.
    let options = SandboxOptions {
        burst_limit: 7,
        ..SandboxOptions::default()
    };
    assert_eq!(options.burst_limit_of(OAuth), 28);
    assert_eq!(options.burst_limit_of(ApiToken), 7);
}

/// Latency holds only the request's own connection: requests sent at once on separate
/// connections are answered together, one latency later, as by a remote server.
#[test]
fn latency_delays_each_answer_without_serialising_concurrent_requests() {
    let latency = Duration::from_millis(300);
    let sandbox = Sandbox::start(SandboxOptions {
        size: 10,
        burst_limit: 1000,
        latency: Latency::of(latency),
        ..SandboxOptions::default()
    })
    .unwrap();
    let one = Instant::now();
    assert_eq!(Client::new(&sandbox).get("/api/v2/stages").status, 200);
    let single = one.elapsed();
    assert!(single >= latency, "{single:?}");
    let peak = std::sync::atomic::AtomicU64::new(0);
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| assert_eq!(Client::new(&sandbox).get("/api/v2/stages").status, 200));
        }
        s.spawn(|| {
            while start.elapsed() < latency {
                peak.fetch_max(sandbox.in_flight(), std::sync::atomic::Ordering::SeqCst);
                thread::sleep(Duration::from_millis(5));
            }
        });
    });
    let eight = start.elapsed();
    assert!(eight >= latency, "{eight:?}");
    assert!(
        eight < latency * 2,
        "eight at once took {eight:?}: serialised"
    );
    assert_eq!(peak.into_inner(), 8, "all eight were in flight together");
    // A connection leaves the count just after its answer is written, so a client can read the
    // answer a moment before: give the count a second to come back to zero.
    let settle = Instant::now();
    while sandbox.in_flight() != 0 && settle.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(sandbox.in_flight(), 0);
}
