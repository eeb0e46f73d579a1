//! Inputs that are no error but used to do something other than what they said, in silence:
//! a saved cursor in the future (a WARN naming the stream and the cursor), a singer-sdk bookmark
//! (read as the cursor), a bad bookmark of a stream the catalog does not select (kept, not
//! judged), a token cap smaller than `discover` needs (it caps syncs only); and a server that
//! echoes the webhook password in an error body, escaped as JSON encoders do (no part of it
//! comes out).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use pipedrive_sandbox::SandboxOptions;
use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::Message;
use source_pipedrive::streams::time;

use crate::bad_inputs::{assert_no_secret, escape};
use crate::util::{World, START};

/// A key that an HTTP header can carry, with characters JSON escapes.
const KEY: &str = r#"Q"7\x"9\k"2\m"4/key-0123456789"#;

fn world() -> World {
    World::with(SandboxOptions {
        size: 30,
        api_key: KEY.to_string(),
        ..SandboxOptions::default()
    })
}

fn config(world: &World, extra: Value) -> std::path::PathBuf {
    let mut c = json!({"api_key": KEY, "start_date": START, "base_url": world.sandbox.base_url()});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    world.config_with(c)
}

#[test]
fn a_cursor_in_the_future_is_a_warning_naming_the_stream_and_the_cursor() {
    let world = world();
    let state = world.file(
        "state.json",
        &json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "deals"},
                 "stream_state": {"update_time": "2099-01-01T00:00:00Z"}}}])
        .to_string(),
    );
    let catalog = world.file(
        "catalog.json",
        &crate::util::catalog(&["deals"], "incremental"),
    );
    let c = config(&world, json!({}));
    let r = world.run(&[
        "read",
        "--config",
        c.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    r.assert_ok();
    assert!(r.records("deals").is_empty());
    let said: Vec<String> = r
        .logs()
        .into_iter()
        .filter(|l| l.starts_with("Warn stream deals: saved cursor update_time = 2099-01-01T00:00:00Z is in the future"))
        .collect();
    assert_eq!(said.len(), 1, "{:#?}", r.logs());
    assert_no_secret("future cursor", &r.stdout);
}

/// Singer runs of deals: a singer-sdk bookmark resumes from its value; a bad bookmark of a
/// stream not selected neither fails the run nor is lost.
#[test]
fn a_singer_sdk_bookmark_is_read_and_a_bookmark_not_selected_is_kept() {
    let world = world();
    let c = config(&world, json!({}));
    let catalog = world.file(
        "catalog.json",
        &json!({"streams": [{"tap_stream_id": "deals", "stream": "deals", "schema": {},
                "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]}]})
        .to_string(),
    );
    let singer = |state: &str| {
        let s = world.file("state.json", state);
        let args = [
            "--config",
            c.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ];
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
            .args(args)
            .args(["--state", s.to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let messages: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (messages, stderr)
    };
    let times = |messages: &[Value]| -> Vec<String> {
        let mut t: Vec<String> = messages
            .iter()
            .filter(|m| m["type"] == "RECORD" && m["stream"] == "deals")
            .map(|m| m["record"]["update_time"].as_str().unwrap().to_string())
            .collect();
        t.sort_by_key(|s| time::parse(s).unwrap());
        t
    };
    let (all, _) = singer("{}");
    let all = times(&all);
    assert!(all.len() >= 10, "{}", all.len());
    let since = time::format(time::floor_second(
        time::parse(&all[all.len() / 2]).unwrap(),
    ));
    let state = json!({"bookmarks": {
        "deals": {"replication_key": "update_time", "replication_key_value": since},
        "notes": {"update_time": "not a date", "kept": true}}});
    let (resumed, stderr) = singer(&state.to_string());
    let resumed_times = times(&resumed);
    assert!(
        !resumed_times.is_empty() && resumed_times.len() < all.len(),
        "{stderr}"
    );
    let since = time::parse(&since).unwrap();
    for t in &resumed_times {
        assert!(
            time::parse(t).unwrap() >= since,
            "{t} is before the bookmark"
        );
    }
    let last_state = resumed.iter().rev().find(|m| m["type"] == "STATE").unwrap();
    assert_eq!(
        last_state["value"]["bookmarks"]["notes"],
        json!({"update_time": "not a date", "kept": true}),
        "the bookmark of a stream not selected is carried forward as it was"
    );
}

/// `discover` reads the field definitions (far more than 4 tokens) and `check` the key: a cap
/// on a sync's tokens does not apply to them.
#[test]
fn discover_and_check_are_not_capped_by_max_tokens_per_sync() {
    let world = world();
    let c = config(&world, json!({"max_tokens_per_sync": 4}));
    let d = world.run(&["discover", "--config", c.to_str().unwrap()]);
    d.assert_ok();
    assert!(matches!(d.messages.last(), Some(Message::Catalog { .. })));
    let k = world.run(&["check", "--config", c.to_str().unwrap()]);
    k.assert_ok();
    assert!(
        k.stdout.contains("\"status\":\"SUCCEEDED\""),
        "{}",
        k.stdout
    );
    let tokens = world.sandbox.requests().len();
    assert!(tokens > 2, "discover made {tokens} requests");
}

/// A stand-in server: GET lists no webhooks; a POST is answered 400 with the request body
/// echoed under `errors` (`error` null), escaped with `style`'s rules.
fn echo_server(style: (bool, bool, bool)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line);
                    }
                    let length = head
                        .iter()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let (status, answer) = if head[0].starts_with("GET") {
                        ("200 OK", r#"{"success":true,"data":[]}"#.to_string())
                    } else {
                        let (slash, ascii, upper) = style;
                        let echoed = escape(&String::from_utf8_lossy(&body), slash, ascii, upper);
                        let password = serde_json::from_slice::<Value>(&body).unwrap()
                            ["http_auth_password"]
                            .as_str()
                            .unwrap()
                            .to_string();
                        let password = escape(&password, slash, ascii, upper);
                        let answer = format!(
                            r#"{{"success":false,"error":null,"errors":{{"http_auth_password":["{password} is not allowed"],"request":"{echoed}"}}}}"#
                        );
                        ("400 Bad Request", answer)
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Case 1 of issue 24: the webhook password came out whole, as JSON escapes, on stderr and in
/// the TRACE. Each encoder's escapes: serde's, Python's (`\u` lower case), PHP's (`\/`, `\u`).
#[test]
fn a_password_echoed_escaped_in_an_error_body_shows_no_part_of_itself() {
    for password in [r#"Q"7\x"9\k"2\m"4"#, "пароль-вебхука-2024/😀"] {
        for style in [
            (false, false, false),
            (false, true, false),
            (true, true, true),
        ] {
            let base_url = echo_server(style);
            let dir = tempfile::tempdir().unwrap();
            let c = dir.path().join("config.json");
            let text = json!({"api_key": KEY, "start_date": START, "base_url": base_url,
                              "webhook_user": "hooks", "webhook_password": password});
            std::fs::write(&c, text.to_string()).unwrap();
            let r = crate::util::run(&[
                "webhooks",
                "register",
                "--config",
                c.to_str().unwrap(),
                "--url",
                "https://hooks.example.com/pipedrive",
                "--objects",
                "deal",
            ]);
            assert_ne!(r.status, 0, "{}", r.stderr);
            let errors = r.trace_errors();
            assert_eq!(errors.len(), 1, "{:?}", r.logs());
            assert!(errors[0].2.contains("HTTP 400"), "{}", errors[0].2);
            assert!(
                errors[0].2.contains("(redacted)"),
                "the echo was seen: {}",
                errors[0].2
            );
            for (what, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                for form in crate::bad_inputs::forms(password) {
                    let chars: Vec<char> = form.chars().collect();
                    for w in chars.windows(8) {
                        let run: String = w.iter().collect();
                        assert!(
                            !text.contains(&run),
                            "{what}, {style:?}: {run:?} of {form}:\n{text}"
                        );
                    }
                }
            }
        }
    }
}
