//! The OAuth server: the token endpoint's rules and grants, Bearer tokens that expire, rotation,
//! scopes, and the consent page's redirect.

use super::*;
use crate::server::oauth::OAuthOptions;

/// One request on its own connection: (status, Location header, JSON body).
fn call(
    sandbox: &Sandbox,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, Option<String>, Value) {
    let mut stream = TcpStream::connect(sandbox.addr).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .map(str::to_string);
    (
        status,
        location,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn basic(id: &str, secret: &str) -> (&'static str, String) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{id}:{secret}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    ("Authorization", format!("Basic {out}"))
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn with_app(app: OAuthOptions) -> Sandbox {
    Sandbox::start(SandboxOptions {
        size: 3,
        oauth: Some(app),
        ..SandboxOptions::default()
    })
    .unwrap()
}

fn refresh(sandbox: &Sandbox, app: &OAuthOptions, token: &str) -> (u16, Value) {
    let headers = [
        basic(&app.client_id, &app.client_secret),
        (FORM.0, FORM.1.to_string()),
    ];
    let (status, _, body) = call(
        sandbox,
        "POST",
        "/oauth/token",
        &headers,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            token.replace(':', "%3A")
        ),
    );
    (status, body)
}

fn bearer(sandbox: &Sandbox, token: &str, path: &str) -> u16 {
    call(
        sandbox,
        "GET",
        path,
        &[("Authorization", format!("Bearer {token}"))],
        "",
    )
    .0
}

#[test]
fn the_token_endpoint_wants_a_form_and_the_client_in_a_basic_header() {
    let app = OAuthOptions::default();
    let sandbox = with_app(app.clone());
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        app.refresh_token
    );
    let json = [
        basic(&app.client_id, &app.client_secret),
        ("Content-Type", "application/json".to_string()),
    ];
    assert_eq!(call(&sandbox, "POST", "/oauth/token", &json, &form).0, 400);
    let (status, _, body) = call(
        &sandbox,
        "POST",
        "/oauth/token",
        &[(FORM.0, FORM.1.to_string())],
        &form,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    let wrong = [basic(&app.client_id, "nope"), (FORM.0, FORM.1.to_string())];
    assert_eq!(
        call(&sandbox, "POST", "/oauth/token", &wrong, &form).2["error"],
        "invalid_client"
    );
    let (status, body) = refresh(&sandbox, &app, "not-the-token");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = refresh(&sandbox, &app, &app.refresh_token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        body["refresh_token"],
        json!(app.refresh_token),
        "no rotation by default"
    );
    assert_eq!(body["api_domain"], json!(sandbox.base_url()));
    assert_eq!(sandbox.oauth_report().refreshes, 1);
}

#[test]
fn an_access_token_works_until_its_requests_or_seconds_run_out() {
    let app = OAuthOptions {
        expire_after_requests: Some(3),
        ..OAuthOptions::default()
    };
    let sandbox = with_app(app.clone());
    let token = refresh(&sandbox, &app, &app.refresh_token).1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..3 {
        assert_eq!(bearer(&sandbox, &token, "/api/v2/deals"), 200);
    }
    assert_eq!(bearer(&sandbox, &token, "/api/v2/deals"), 401);
    assert_eq!(bearer(&sandbox, "made-up", "/api/v2/deals"), 401);
    assert_eq!(sandbox.oauth_report().access_tokens, vec![(token, 3)]);

    let timed = OAuthOptions {
        expire_after: Duration::from_millis(300),
        ..OAuthOptions::default()
    };
    let sandbox = with_app(timed.clone());
    let answer = refresh(&sandbox, &timed, &timed.refresh_token).1;
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(bearer(&sandbox, token, "/v1/users/me"), 200);
    thread::sleep(Duration::from_millis(400));
    assert_eq!(bearer(&sandbox, token, "/v1/users/me"), 401);
}

#[test]
fn a_rotated_refresh_token_replaces_the_old_one_and_a_revoked_one_is_refused() {
    let app = OAuthOptions {
        rotate: true,
        ..OAuthOptions::default()
    };
    let sandbox = with_app(app.clone());
    let first = refresh(&sandbox, &app, &app.refresh_token).1;
    let new = first["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new, app.refresh_token);
    assert_eq!(refresh(&sandbox, &app, &app.refresh_token).0, 400);
    assert_eq!(refresh(&sandbox, &app, &new).0, 200);
    sandbox.revoke_refresh_token();
    let latest = sandbox
        .oauth_report()
        .refresh_tokens
        .last()
        .unwrap()
        .clone();
    assert_eq!(refresh(&sandbox, &app, &latest).1["error"], "invalid_grant");
}

#[test]
fn a_route_whose_scope_was_not_granted_answers_403() {
    let app = OAuthOptions {
        scopes: vec!["base".into(), "contacts:read".into()],
        ..OAuthOptions::default()
    };
    let sandbox = with_app(app.clone());
    let token = refresh(&sandbox, &app, &app.refresh_token).1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(bearer(&sandbox, &token, "/v1/users/me"), 200);
    assert_eq!(bearer(&sandbox, &token, "/api/v2/persons"), 200);
    assert_eq!(bearer(&sandbox, &token, "/api/v2/deals"), 403);
    assert_eq!(bearer(&sandbox, &token, "/v1/roles"), 403);
    // The API key is not an OAuth app: it has no scopes to lack.
    assert_eq!(
        call(
            &sandbox,
            "GET",
            "/api/v2/deals",
            &[("x-api-token", "sandbox-api-key".into())],
            ""
        )
        .0,
        200
    );
}

#[test]
fn the_consent_page_redirects_with_a_code_that_is_exchanged_once() {
    let app = OAuthOptions::default();
    let sandbox = with_app(app.clone());
    let target = format!(
        "/oauth/authorize?client_id={}&redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fcallback&state=xyz",
        app.client_id
    );
    let (status, location, _) = call(&sandbox, "GET", &target, &[], "");
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(
        location.starts_with("http://localhost:1/callback?code=")
            && location.ends_with("&state=xyz"),
        "{location}"
    );
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let headers = [
        basic(&app.client_id, &app.client_secret),
        (FORM.0, FORM.1.to_string()),
    ];
    let form = format!("grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fcallback");
    let (status, _, body) = call(&sandbox, "POST", "/oauth/token", &headers, &form);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refresh_token"], json!(app.refresh_token));
    assert_eq!(
        call(&sandbox, "POST", "/oauth/token", &headers, &form).2["error"],
        "invalid_grant"
    );
    let stranger =
        "/oauth/authorize?client_id=someone-else&redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fcallback";
    assert_eq!(call(&sandbox, "GET", stranger, &[], "").0, 400);
}
