//! OAuth 2.0 through a private app, end to end against the sandbox's OAuth server: a sync whose
//! access tokens expire several times is exact (the same records as with the API key), with one
//! refresh per expiry whatever the number of workers; each refresh is saved (a CONTROL message
//! in Airbyte mode, the `config_update_path` file in Singer mode); a revoked app is a config
//! error that says to re-authorize; a missing scope skips its stream with a WARN naming it;
//! `oauth authorize` gets the first refresh token; and no fragment of the client id, client
//! secret, refresh token or any access token appears in any output but the CONTROL message's
//! config and `oauth authorize`'s stdout, which exist to carry them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use pipedrive_sandbox::{OAuthOptions, SandboxOptions, READ_SCOPES};
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::Message;
use source_pipedrive::streams;

use crate::util::{normalized, run, Run, World, START};

fn oauth_world(app: OAuthOptions, size: u64) -> World {
    World::with(SandboxOptions {
        size,
        oauth: Some(app),
        ..SandboxOptions::default()
    })
}

/// A config for the sandbox's app, without `base_url` (requests follow `api_domain`).
fn oauth_config(world: &World, app: &OAuthOptions, extra: Value) -> Value {
    let mut config = json!({
        "start_date": START,
        "credentials": {"auth_type": "oauth2.0", "client_id": app.client_id,
                        "client_secret": app.client_secret, "refresh_token": app.refresh_token},
        "oauth_token_url": format!("{}/oauth/token", world.sandbox.base_url()),
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    config
}

fn controls(r: &Run) -> Vec<Value> {
    r.messages
        .iter()
        .filter_map(|m| match m {
            Message::Control { control } => {
                assert_eq!(control.kind, "CONNECTOR_CONFIG");
                Some(control.connector_config.config.clone())
            }
            _ => None,
        })
        .collect()
}

/// Every stream's records, normalized, by key.
fn records_by_stream(r: &Run) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut all: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for m in &r.messages {
        if let Message::Record { record } = m {
            let def = streams::find(&record.stream).unwrap();
            all.entry(record.stream.clone())
                .or_default()
                .insert(def.key_of(&record.data), normalized(def, &record.data));
        }
    }
    all
}

/// Every run of 8 characters of each secret.
fn fragments<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    secrets
        .into_iter()
        .flat_map(|s| {
            let chars: Vec<char> = s.chars().collect();
            chars
                .windows(8)
                .map(|w| w.iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// stdout and stderr but the configs of CONTROL messages, which carry the secrets on purpose.
fn said(r: &Run) -> String {
    let lines: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with(r#"{"type":"CONTROL""#))
        .collect();
    format!("{}\n{}", lines.join("\n"), r.stderr)
}

#[test]
fn tokens_that_expire_many_times_give_the_api_keys_records_with_one_refresh_per_expiry() {
    let app = OAuthOptions {
        expire_after_requests: Some(20),
        rotate: true,
        ..OAuthOptions::default()
    };
    let world = oauth_world(app.clone(), 40);
    let by_key = world.read_all(START, None);
    by_key.assert_ok();
    assert!(controls(&by_key).is_empty(), "no CONTROL with an API key");

    let config = oauth_config(&world, &app, json!({"max_concurrent_streams": 8}));
    let path = world.config_with(config.clone());
    let by_app = world.read_with(&path, None, None);
    by_app.assert_ok();
    assert_eq!(records_by_stream(&by_app), records_by_stream(&by_key));

    let report = world.sandbox.oauth_report();
    let issued = &report.access_tokens;
    assert!(
        issued.len() >= 5,
        "the token expired several times: {report:?}"
    );
    assert_eq!(report.refreshes as usize, issued.len());
    // One refresh per expiry: every token but the last served its 20 requests before the next
    // was asked for; two workers refreshing for the same expiry would leave one short.
    for (token, used) in &issued[..issued.len() - 1] {
        assert_eq!(*used, 20, "{token} was replaced early: {issued:?}");
    }
    // Each refresh saved, in order: the whole config with the new tokens, nothing else changed.
    let saved = controls(&by_app);
    assert_eq!(saved.len(), issued.len());
    for (config_saved, (token, _)) in saved.iter().zip(issued) {
        assert_eq!(config_saved["credentials"]["access_token"], json!(token));
        assert_eq!(config_saved["start_date"], config["start_date"]);
        assert_eq!(
            config_saved["credentials"]["client_secret"],
            config["credentials"]["client_secret"]
        );
    }
    let last = saved.last().unwrap();
    assert_eq!(
        last["credentials"]["refresh_token"],
        json!(report.refresh_tokens.last().unwrap()),
        "the rotated refresh token is saved"
    );
    // No secret outside the CONTROL messages' configs.
    let secrets: Vec<&str> = [app.client_id.as_str(), app.client_secret.as_str()]
        .into_iter()
        .chain(report.refresh_tokens.iter().map(String::as_str))
        .chain(issued.iter().map(|(t, _)| t.as_str()))
        .collect();
    let text = said(&by_app);
    for f in fragments(secrets) {
        assert!(!text.contains(&f), "{f} leaked");
    }

    // The saved config is the one that works now: the first refresh token was rotated away.
    let resumed = world.config_with(last.clone());
    let again = world.read_with(
        &resumed,
        Some(&crate::util::catalog(&["users"], "full_refresh")),
        None,
    );
    again.assert_ok();
    let stale = world.read_with(
        &path,
        Some(&crate::util::catalog(&["users"], "full_refresh")),
        None,
    );
    assert_eq!(stale.status, 2, "{}", stale.stderr);
    let errors = stale.trace_errors();
    assert!(
        errors.iter().any(|(_, kind, m)| kind == "config_error"
            && m.contains("invalid_grant")
            && m.contains("Re-authorize")),
        "{errors:?}"
    );
}

#[test]
fn a_valid_access_token_is_used_and_one_about_to_expire_is_replaced_before_any_request() {
    let app = OAuthOptions::default();
    let world = oauth_world(app.clone(), 5);
    let base = json!({"base_url": world.sandbox.base_url()});
    let users = crate::util::catalog(&["users"], "full_refresh");
    let first = world.read_with(
        &world.config_with(oauth_config(&world, &app, base.clone())),
        Some(&users),
        None,
    );
    first.assert_ok();
    let saved = controls(&first).pop().expect("a CONTROL message");
    assert_eq!(world.sandbox.oauth_report().refreshes, 1);

    // Its access token, an hour to live: used as it is, no refresh.
    let mut config = saved.clone();
    config["base_url"] = base["base_url"].clone();
    let second = world.read_with(&world.config_with(config.clone()), Some(&users), None);
    second.assert_ok();
    assert!(controls(&second).is_empty());
    assert_eq!(world.sandbox.oauth_report().refreshes, 1);

    // The same token said to expire within the margin: replaced before the first request.
    let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(60);
    config["credentials"]["token_expiry_date"] = json!(soon.to_rfc3339());
    let before = world.sandbox.requests().len();
    let third = world.read_with(&world.config_with(config), Some(&users), None);
    third.assert_ok();
    assert_eq!(world.sandbox.oauth_report().refreshes, 2);
    assert_eq!(controls(&third).len(), 1);
    assert!(
        world.sandbox.requests()[before..]
            .iter()
            .all(|r| r.status != 401),
        "refreshed before expiry, not after a 401"
    );
}

#[test]
fn a_missing_scope_skips_its_stream_with_a_warning_naming_the_scope() {
    let app = OAuthOptions {
        scopes: READ_SCOPES
            .iter()
            .filter(|s| **s != "goals:read")
            .map(|s| s.to_string())
            .collect(),
        ..OAuthOptions::default()
    };
    let world = oauth_world(app.clone(), 5);
    let path = world.config_with(oauth_config(&world, &app, json!({})));
    let r = world.read_with(
        &path,
        Some(&crate::util::catalog(&["goals", "deals"], "full_refresh")),
        None,
    );
    r.assert_ok();
    assert!(r.records("goals").is_empty());
    assert_eq!(r.records("deals").len(), 5);
    let warned = r.logs().into_iter().any(|l| {
        l.starts_with("Warn") && l.contains("goals") && l.contains("lacks the scope goals:read")
    });
    assert!(warned, "{:#?}", r.logs());
}

#[test]
fn a_revoked_app_is_a_config_error_that_says_to_reauthorize() {
    let app = OAuthOptions::default();
    let world = oauth_world(app.clone(), 5);
    world.sandbox.revoke_refresh_token();
    let path = world.config_with(oauth_config(&world, &app, json!({})));
    let r = world.read_with(&path, None, None);
    assert_eq!(r.status, 2);
    let errors = r.trace_errors();
    assert!(
        errors.iter().any(|(_, kind, m)| kind == "config_error"
            && m.contains("invalid_grant")
            && m.contains("oauth authorize")),
        "{errors:?}"
    );
    // A wrong client secret: invalid_client, the same advice.
    let wrong = OAuthOptions {
        client_secret: "not-the-secret-at-all".into(),
        ..app
    };
    let path = world.config_with(oauth_config(&world, &wrong, json!({})));
    let r = run(&["check", "--config", path.to_str().unwrap()]);
    assert!(
        r.stdout.contains("invalid_client") && r.stdout.contains("Re-authorize"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_config_takes_exactly_one_way_to_authenticate() {
    let world = World::new(1);
    let app = OAuthOptions::default();
    let both = oauth_config(&world, &app, json!({"api_key": "k"}));
    for (config, says) in [
        (both, "both set"),
        (json!({"start_date": START}), "`api_key` is missing"),
        (
            oauth_config(
                &world,
                &app,
                json!({"oauth_token_url": "http://oauth.example.com/token"}),
            ),
            "`oauth_token_url`",
        ),
    ] {
        let path = world.config_with(config);
        let r = run(&["check", "--config", path.to_str().unwrap()]);
        assert!(
            r.stdout.contains("FAILED") && r.stdout.contains(says),
            "{says}: {}",
            r.stdout
        );
    }
}

#[test]
fn singer_mode_writes_the_updated_config_where_asked() {
    let app = OAuthOptions {
        expire_after_requests: Some(4),
        rotate: true,
        ..OAuthOptions::default()
    };
    let world = oauth_world(app.clone(), 5);
    let saved = world.dir.path().join("saved-config.json");
    let config = oauth_config(&world, &app, json!({"config_update_path": saved}));
    let path = world.config_with(config.clone());
    let discovered = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args(["--config", path.to_str().unwrap(), "--discover"])
        .output()
        .unwrap();
    assert!(discovered.status.success());
    let catalog = world.file(
        "singer-catalog.json",
        &String::from_utf8(discovered.stdout).unwrap(),
    );
    let r = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args([
            "--config",
            path.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let report = world.sandbox.oauth_report();
    assert!(report.refreshes >= 2, "{report:?}");
    assert_eq!(
        written["credentials"]["refresh_token"],
        json!(report.refresh_tokens.last().unwrap())
    );
    assert_eq!(
        written["credentials"]["access_token"],
        json!(report.access_tokens.last().unwrap().0)
    );
    assert_eq!(written["start_date"], config["start_date"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!out.contains("CONTROL"));
    let secrets: Vec<&str> = [app.client_secret.as_str(), app.client_id.as_str()]
        .into_iter()
        .chain(report.refresh_tokens.iter().map(String::as_str))
        .chain(report.access_tokens.iter().map(|(t, _)| t.as_str()))
        .collect();
    for f in fragments(secrets) {
        assert!(!out.contains(&f), "{f} leaked");
    }
}

#[test]
fn oauth_authorize_gets_credentials_that_sync() {
    let app = OAuthOptions::default();
    let world = oauth_world(app.clone(), 5);
    let base = world.sandbox.base_url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
        .args([
            "oauth",
            "authorize",
            "--client-id",
            &app.client_id,
            "--port",
            "0",
        ])
        .args(["--authorize-url", &format!("{base}/oauth/authorize")])
        .args(["--token-url", &format!("{base}/oauth/token")])
        .env("PIPEDRIVE_CLIENT_SECRET", &app.client_secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The browser: open the consent URL, follow its redirect to the loopback listener.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut told = String::new();
    let consent = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no consent URL: {told}"
        );
        told.push_str(&line);
        if let Some(url) = line
            .trim()
            .strip_prefix(&format!("{base}/oauth/authorize?"))
        {
            break format!("{base}/oauth/authorize?{url}");
        }
    };
    assert!(
        consent.contains("redirect_uri=http%3A%2F%2Flocalhost%3A"),
        "{consent}"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent.get(&consent).call().unwrap();
    assert_eq!(answer.status().as_u16(), 302);
    let location = answer
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let landed = agent.get(&location).call().unwrap();
    assert_eq!(landed.status().as_u16(), 200);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{told}{rest}");
    let credentials: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(credentials["auth_type"], "oauth2.0");
    assert_eq!(credentials["client_secret"], json!(app.client_secret));
    assert_eq!(credentials["refresh_token"], json!(app.refresh_token));
    // stderr speaks to a person, without the secrets.
    let report = world.sandbox.oauth_report();
    let secrets: Vec<&str> = [app.client_secret.as_str(), app.refresh_token.as_str()]
        .into_iter()
        .chain(report.access_tokens.iter().map(|(t, _)| t.as_str()))
        .collect();
    for f in fragments(secrets) {
        assert!(
            !told.contains(&f) && !rest.contains(&f),
            "{f} leaked on stderr"
        );
    }
    // The credentials sync.
    let config = json!({"start_date": START, "credentials": credentials,
                        "oauth_token_url": format!("{base}/oauth/token")});
    let r = world.read_with(
        &world.config_with(config),
        Some(&crate::util::catalog(&["deals"], "full_refresh")),
        None,
    );
    r.assert_ok();
    assert_eq!(r.records("deals").len(), 5);
}

/// A token endpoint and an API that echo every secret they know back in their errors, cut at
/// `n` characters, as JSON or plain text: no part of any secret reaches any output.
fn echoing_oauth_server(answer: Arc<Mutex<(usize, bool, bool)>>, secrets: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let domain = url.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = conn.read_exact(&mut body);
            let (n, json_body, refuse_grant) = *answer.lock().unwrap();
            // A refused grant gives no access token: the connector cannot know one to hide.
            let known = if refuse_grant {
                &secrets[..3]
            } else {
                &secrets[..]
            };
            let echo: String = (0..6)
                .flat_map(|_| known.iter().map(|s| format!("bad {s}; ")))
                .collect::<String>()
                .chars()
                .take(n)
                .collect();
            let (status, text) = if head.starts_with("POST /oauth/token") && !refuse_grant {
                (
                    200,
                    json!({"access_token": secrets[3], "refresh_token": secrets[2], "expires_in": 3600,
                           "token_type": "Bearer", "scope": "base", "api_domain": domain})
                    .to_string(),
                )
            } else if head.starts_with("POST /oauth/token") {
                (
                    400,
                    json!({"error": "invalid_grant", "message": echo}).to_string(),
                )
            } else if json_body {
                (400, json!({"success": false, "error": echo}).to_string())
            } else {
                (400, echo)
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    url
}

#[test]
fn echoed_oauth_secrets_cut_at_any_length_leave_no_fragment_in_any_output() {
    let world = World::new(1);
    let secrets: Vec<String> = vec![
        "client-id-7d0c1f9e2a".into(),
        "client-secret-5b8e3f1d7c6a".into(),
        "refresh-token-9e1f2d3c4b5a".into(),
        // Obtained at run time only: the connector learns it from the token endpoint.
        "access-token-run-time-4c3b2a1f0e".into(),
    ];
    let answer = Arc::new(Mutex::new((0, false, false)));
    let url = echoing_oauth_server(Arc::clone(&answer), secrets.clone());
    let config = world.config_with(json!({
        "start_date": START,
        "credentials": {"auth_type": "oauth2.0", "client_id": secrets[0],
                        "client_secret": secrets[1], "refresh_token": secrets[2]},
        "oauth_token_url": format!("{url}/oauth/token"),
    }));
    let all_fragments = fragments(secrets.iter().map(String::as_str));
    for refuse_grant in [false, true] {
        for n in (1..=280).step_by(3) {
            for json_body in [false, true] {
                *answer.lock().unwrap() = (n, json_body, refuse_grant);
                let r = run(&["check", "--config", config.to_str().unwrap()]);
                let text = said(&r);
                let expected = if refuse_grant {
                    "invalid_grant"
                } else {
                    "HTTP 400"
                };
                assert!(text.contains(expected), "{n}: {text}");
                for f in &all_fragments {
                    assert!(
                        !text.contains(f.as_str()),
                        "cut at {n} (json {json_body}, grant refused {refuse_grant}) leaked {f:?}: {text}"
                    );
                }
            }
        }
    }
}
