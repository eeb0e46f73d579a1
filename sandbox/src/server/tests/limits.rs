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
