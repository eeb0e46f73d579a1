//! Routing and HTTP plumbing: unknown paths and methods, error bodies and headers, `users/me`,
//! and connections that close or hang up.

use super::*;

#[test]
fn routes_errors_and_headers() {
    let sandbox = Sandbox::start(SandboxOptions {
        deny: vec![("/v1/users".into(), 403)],
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let missing = client.get("/api/v2/nothing");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"], "Unknown method .");
    assert_eq!(client.request("POST", "/api/v2/deals").status, 405);
    assert_eq!(client.get("/api/v1/users/me").status, 403);
    let labels = client.get("/api/v1/leadLabels");
    assert_eq!(labels.ids().len(), 4);
    assert!(labels.body.get("additional_data").is_none());
    let date = labels.header("Date").unwrap();
    let served = DateTime::parse_from_rfc2822(date).unwrap();
    assert!((served.timestamp() - sandbox.now().timestamp()).abs() <= 2);
    assert!(Utc::now().timestamp() - served.timestamp() >= 3599);
    assert_eq!(labels.header("Content-Type"), Some("application/json"));
    assert_eq!(client.get("/v1/filters?type=deals").ids().len(), 2);
    let log = sandbox.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(log[2].path, "/api/v1/users/me");
    assert_eq!(log[2].status, 403);
}

#[test]
fn users_me_is_the_first_user_with_company_fields() {
    let sandbox = start(10);
    let me = Client::new(&sandbox).get("/v1/users/me").body["data"].clone();
    assert_eq!(me["id"], 1);
    assert_eq!(me["is_you"], true);
    assert_eq!(me["company_domain"], "sandbox");
    assert!(me["company_id"].is_u64());
}

#[test]
fn connection_close_and_hangups_are_tolerated() {
    let sandbox = start(10);
    let mut stream = TcpStream::connect(sandbox.addr).unwrap();
    stream
        .write_all(
            b"GET /v1/users HTTP/1.1\r\nx-api-token: sandbox-api-key\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(response.contains("Connection: close\r\n"));
    let mut half = TcpStream::connect(sandbox.addr).unwrap();
    half.write_all(b"GET /v1/us").unwrap();
    drop(half);
    assert_eq!(Client::new(&sandbox).get("/v1/users").status, 200);
}

#[test]
fn writes_are_refused_and_logged_with_their_method() {
    let sandbox = faulty(Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    });
    let mut client = Client::new(&sandbox);
    let mut refused = Vec::new();
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        for path in ["/api/v2/deals", "/v1/notes/1", "/api/v2/dealFields"] {
            refused.push((method, path));
        }
    }
    // The Webhooks API takes POST on the list and DELETE on an item, and nothing else.
    refused.extend([
        ("PUT", "/v1/webhooks"),
        ("PATCH", "/v1/webhooks"),
        ("GET", "/v1/webhooks/1"),
        ("POST", "/v1/webhooks/1"),
        ("PUT", "/v1/webhooks/1"),
    ]);
    for (method, path) in &refused {
        let reply = client.request(method, path);
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.body["success"], false);
    }
    let log = sandbox.requests();
    assert_eq!(log.len(), refused.len());
    assert!(log
        .iter()
        .all(|e| e.status == 405 && e.token_cost == 0 && e.fault.is_none()));
    let methods: Vec<&str> = log.iter().map(|e| e.method.as_str()).collect();
    let sent: Vec<&str> = refused.iter().map(|(method, _)| *method).collect();
    assert_eq!(methods, sent);
}
