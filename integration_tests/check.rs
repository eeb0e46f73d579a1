//! `check`: a verdict a user can act on, exit code 0 either way, and never the key in the output.

use serde_json::json;
use source_pipedrive::protocol::airbyte::{Message, Status};

use crate::util::{World, START};

fn verdict(r: &crate::util::Run) -> (Status, String) {
    assert_eq!(
        r.status, 0,
        "check exits 0 whatever the verdict; stderr: {}",
        r.stderr
    );
    assert_eq!(r.messages.len(), 1, "one message: {}", r.stdout);
    match &r.messages[0] {
        Message::ConnectionStatus { connection_status } => (
            connection_status.status,
            connection_status.message.clone().unwrap_or_default(),
        ),
        other => panic!("expected CONNECTION_STATUS, got {other:?}"),
    }
}

#[test]
fn a_good_key_succeeds_with_one_request() {
    let world = World::new(10);
    let config = world.config(START);
    let r = world.run(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(verdict(&r).0, Status::Succeeded);
    let log = world.sandbox.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/v1/users/me");
}

#[test]
fn a_wrong_key_fails_and_is_never_printed() {
    let world = World::new(10);
    let wrong = "wrong-key-0123456789abcdef";
    let config = world.config_with(
        json!({"api_key": wrong, "start_date": START, "base_url": world.sandbox.base_url()}),
    );
    let r = world.run(&["check", "--config", config.to_str().unwrap()]);
    let (status, message) = verdict(&r);
    assert_eq!(status, Status::Failed);
    assert!(
        message.contains("401") && message.contains("api_key"),
        "actionable message: {message}"
    );
    assert!(!r.stdout.contains(wrong) && !r.stderr.contains(wrong));
    for req in world.sandbox.requests() {
        assert!(
            !req.raw_target.contains(wrong),
            "the key travelled in a URL: {}",
            req.raw_target
        );
    }
}

#[test]
fn bad_configs_fail_before_any_request() {
    let world = World::new(10);
    let url = world.sandbox.base_url();
    let cases = [
        ("{not json", "not a valid JSON"),
        (
            &json!({"start_date": START, "base_url": url}).to_string(),
            "`api_key` is missing",
        ),
        (
            &json!({"api_key": "", "start_date": START, "base_url": url}).to_string(),
            "`api_key` is empty",
        ),
        (
            &json!({"api_key": "k", "start_date": "last tuesday", "base_url": url}).to_string(),
            "is not a date",
        ),
        (
            &json!({"api_key": "k", "start_date": "2999-01-01T00:00:00Z", "base_url": url})
                .to_string(),
            "in the future",
        ),
        (
            &json!({"api_key": "k", "start_date": START, "base_url": "http://example.com"})
                .to_string(),
            "plain http",
        ),
        (
            &json!({"api_key": "k", "start_date": START, "base_url": "gopher://x"}).to_string(),
            "scheme",
        ),
    ];
    for (text, expected) in cases {
        let config = world.file("config.json", text);
        let r = world.run(&["check", "--config", config.to_str().unwrap()]);
        let (status, message) = verdict(&r);
        assert_eq!(status, Status::Failed, "{text}");
        assert!(message.contains(expected), "{text}: {message}");
        assert!(message.contains("config.json"), "names the file: {message}");
    }
    assert!(world.sandbox.requests().is_empty());
}

#[test]
fn an_unreachable_host_fails_clearly() {
    let world = World::new(10);
    let config = world.config_with(
        json!({"api_key": "k", "start_date": START, "base_url": "http://127.0.0.1:9"}),
    );
    let (status, message) = verdict(&world.run(&["check", "--config", config.to_str().unwrap()]));
    assert_eq!(status, Status::Failed);
    assert!(message.contains("base_url"), "{message}");
}
