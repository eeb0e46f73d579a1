//! Faults injected into the sandbox: flaky servers, cut bodies, HTML where JSON belongs, slow
//! answers, a tight burst limit, a spent daily budget and list pages that do not say whether
//! more follow. The sync ends with exactly the records of a clean run, or stops cleanly (and
//! resumes), never silently short; the key never shows in any output.

use std::collections::BTreeSet;
use std::time::Duration;

use pipedrive_sandbox::{Faults, SandboxOptions, Unsaid};
use serde_json::json;
use source_pipedrive::protocol::airbyte::{Message, Status, StreamStatusKind};
use source_pipedrive::streams::STREAMS;

use crate::util::{default_streams, Run, World, START};

/// The TRACE errors: (failure type, message).
fn trace_errors(run: &Run) -> Vec<(String, String)> {
    run.trace_errors()
        .into_iter()
        .map(|(_, failure_type, message)| (failure_type, message))
        .collect()
}

#[test]
fn a_flaky_server_with_a_tight_burst_limit_gives_exactly_the_clean_records() {
    let world = World::with(SandboxOptions {
        size: 700,
        burst_limit: 20,
        faults: Faults {
            seed: 7,
            server_error_rate: 0.05,
            truncate_rate: 0.02,
            html_rate: 0.01,
            ..Faults::default()
        },
        ..SandboxOptions::default()
    });
    let run = world.read(START, &default_streams(), "full_refresh", None);
    run.assert_ok();
    for def in STREAMS.iter().filter(|d| d.default) {
        world.assert_exactly(&run, def.name, &world.expected_records(def.name, START));
    }
    let log = world.sandbox.requests();
    let faults = log.iter().filter(|r| r.fault.is_some()).count();
    assert!(
        faults >= 3,
        "only {faults} faults were injected: the test proves nothing"
    );
    assert!(
        !log.iter().any(|r| r.status == 403),
        "paced by the headers, the CDN never blocks us"
    );
}

#[test]
fn a_spent_daily_budget_stops_cleanly_and_the_next_run_resumes() {
    let world = World::with(SandboxOptions {
        size: 1_300,
        daily_token_budget: Some(100),
        ..SandboxOptions::default()
    });
    let streams = ["deals", "persons", "organizations", "notes"];
    let first = world.read(START, &streams, "incremental", None);
    assert_eq!(
        first.status, 3,
        "a transient error: try again after the reset"
    );
    let errors = trace_errors(&first);
    assert!(
        errors
            .iter()
            .any(|(t, m)| t == "transient_error" && m.contains("daily") && m.contains("resets")),
        "{errors:?}"
    );
    let spent_requests = world
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    // Streams are read three at a time: each may have had one request on its way when the
    // budget said no, and none is sent after.
    assert!(
        (1..=source_pipedrive::config::DEFAULT_CONCURRENT_STREAMS).contains(&spent_requests),
        "no request after the budget said no: {spent_requests} got a 429"
    );

    world.sandbox.set_daily_token_budget(None);
    let state = world.file("state.json", &first.state_file());
    let second = world.read(START, &streams, "incremental", Some(&state));
    second.assert_ok();
    for stream in streams {
        let got: BTreeSet<String> = first
            .ids(stream)
            .into_iter()
            .chain(second.ids(stream))
            .collect();
        let want: BTreeSet<String> = world
            .expected_incremental_ids(stream, START)
            .into_iter()
            .collect();
        assert_eq!(got, want, "{stream}");
        let both: Vec<&serde_json::Value> = first
            .records(stream)
            .into_iter()
            .chain(second.records(stream))
            .collect();
        let expected = world.expected_incremental_records(stream, START);
        world.assert_whole(stream, &expected, &both);
    }
}

#[test]
fn a_stream_that_keeps_failing_does_not_stop_the_others() {
    let world = World::with(SandboxOptions {
        size: 40,
        deny: vec![("/v1/notes".into(), 500)],
        ..SandboxOptions::default()
    });
    let config = world.config_with(json!({"api_key": world.key(), "start_date": START, "base_url": world.sandbox.base_url(), "max_retries": 2}));
    let cat = world.file(
        "c.json",
        &crate::util::catalog(&["deals", "notes", "persons"], "incremental"),
    );
    let run = world.run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    assert_ne!(run.status, 0);
    let errors = trace_errors(&run);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].1.contains("notes") && errors[0].0 == "transient_error",
        "{errors:?}"
    );
    let deals = world.expected_incremental_records("deals", START);
    world.assert_exactly(&run, "deals", &deals);
    world.assert_exactly(&run, "persons", &world.expected_records("persons", START));
    let notes_requests = world
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/notes")
        .count();
    assert!(
        (2..=6).contains(&notes_requests),
        "bounded retries, not {notes_requests}"
    );
}

/// A world of 1,423 persons (pages of 500) whose persons list answers as `unsaid` says, read
/// with deals beside it.
fn read_persons_unsaid(unsaid: Unsaid) -> (World, Run) {
    let world = World::with(SandboxOptions {
        size: 1_423,
        faults: Faults {
            unsaid: Some(unsaid),
            ..Faults::default()
        },
        ..SandboxOptions::default()
    });
    assert_eq!(world.expected_ids("persons", START).len(), 1_423);
    let run = world.read(START, &["persons", "deals"], "full_refresh", None);
    (world, run)
}

/// Issue 22, item 6: `/api/v2/persons` pages of 500 without `additional_data` ended the stream
/// after the first page, 500 of 1,423 persons, exit 0. A full page that does not say whether
/// more follow fails its stream, and only it.
#[test]
fn a_full_page_that_does_not_say_whether_more_follow_fails_its_stream() {
    let (world, run) = read_persons_unsaid(Unsaid::every_page("/api/v2/persons"));
    assert_eq!(run.status, 1, "{:#?}", run.logs());
    let errors = run.trace_errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let (stream, failure, message) = &errors[0];
    assert_eq!(stream.as_deref(), Some("persons"));
    assert_eq!(failure, "system_error");
    assert!(
        message.contains("next_cursor") && message.contains("does not say whether more follow"),
        "{message}"
    );
    assert_eq!(
        run.statuses("persons").last(),
        Some(&StreamStatusKind::Incomplete),
        "{:#?}",
        run.logs()
    );
    let persons_pages = requests_to(&world, "/api/v2/persons");
    assert_eq!(persons_pages, 1, "the first page alone, full and mute");
    assert_eq!(
        run.statuses("deals").last(),
        Some(&StreamStatusKind::Complete)
    );
    world.assert_exactly(&run, "deals", &world.expected_records("deals", START));
}

/// How many requests the sandbox answered on `path`.
fn requests_to(world: &World, path: &str) -> usize {
    world
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

/// The short last page of a list without `additional_data` ends the list as a null
/// `next_cursor` would (some official models have none): every person, complete.
#[test]
fn a_short_last_page_that_does_not_say_whether_more_follow_ends_the_list() {
    let (world, run) = read_persons_unsaid(Unsaid::last_page("/api/v2/persons"));
    run.assert_ok();
    assert_eq!(
        run.statuses("persons").last(),
        Some(&StreamStatusKind::Complete)
    );
    world.assert_exactly(&run, "persons", &world.expected_records("persons", START));
    let persons_pages = requests_to(&world, "/api/v2/persons");
    assert_eq!(persons_pages, 3, "500, 500 and 423, the last one mute");
    world.assert_exactly(&run, "deals", &world.expected_records("deals", START));
}

#[test]
fn the_key_never_appears_in_any_output_on_any_error_path() {
    let key = "s3cr3t-KEY-9f8e7d6c5b4a";
    let opts = |f: Faults| SandboxOptions {
        size: 30,
        api_key: key.to_string(),
        faults: f,
        ..SandboxOptions::default()
    };
    let worlds: Vec<(&str, World)> = vec![
        (
            "5xx",
            World::with(opts(Faults {
                seed: 1,
                server_error_rate: 1.0,
                ..Faults::default()
            })),
        ),
        (
            "truncated",
            World::with(opts(Faults {
                seed: 1,
                truncate_rate: 1.0,
                ..Faults::default()
            })),
        ),
        (
            "html",
            World::with(opts(Faults {
                seed: 1,
                html_rate: 1.0,
                ..Faults::default()
            })),
        ),
        (
            "slow",
            World::with(opts(Faults {
                seed: 1,
                slow_rate: 1.0,
                slow_by: Duration::from_secs(3),
                ..Faults::default()
            })),
        ),
        (
            "burst",
            World::with(SandboxOptions {
                burst_limit: 1,
                ..opts(Faults::default())
            }),
        ),
        (
            "budget",
            World::with(SandboxOptions {
                daily_token_budget: Some(3),
                ..opts(Faults::default())
            }),
        ),
        (
            "denied",
            World::with(SandboxOptions {
                deny: vec![("/api/v2".into(), 403), ("/v1".into(), 403)],
                ..opts(Faults::default())
            }),
        ),
    ];
    for (what, world) in &worlds {
        let good = world.config_with(json!({"api_key": key, "start_date": START, "base_url": world.sandbox.base_url(), "request_timeout_seconds": 1, "max_retries": 1}));
        let cat = world.file(
            "c.json",
            &crate::util::catalog(&["deals", "notes"], "incremental"),
        );
        for args in [
            vec!["check", "--config", good.to_str().unwrap()],
            vec!["discover", "--config", good.to_str().unwrap()],
            vec![
                "read",
                "--config",
                good.to_str().unwrap(),
                "--catalog",
                cat.to_str().unwrap(),
            ],
        ] {
            let r = world.run(&args);
            assert!(
                !r.stdout.contains(key) && !r.stderr.contains(key),
                "{what} {args:?} printed the key"
            );
        }
        for req in world.sandbox.requests() {
            assert!(
                !req.raw_target.contains(key),
                "{what}: the key travelled in a URL"
            );
        }
    }
    // Errors before any request, and a rejected key.
    let world = World::new(5);
    for config in [
        json!({"api_key": key, "start_date": "not a date", "base_url": world.sandbox.base_url()}),
        json!({"api_key": key, "start_date": START, "base_url": "http://example.com"}),
        json!({"api_key": key, "start_date": START, "base_url": "http://127.0.0.1:9"}),
        json!({"api_key": key, "start_date": START, "base_url": world.sandbox.base_url()}),
        json!({"api_key": key}),
    ] {
        let path = world.config_with(config.clone());
        for cmd in ["check", "discover", "read"] {
            let r = world.run(&[cmd, "--config", path.to_str().unwrap()]);
            assert!(
                !r.stdout.contains(key) && !r.stderr.contains(key),
                "{cmd} with {config} printed the key"
            );
        }
    }
}

#[test]
fn bad_input_files_are_config_errors_before_any_request() {
    let world = World::new(5);
    let good = world.config(START);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--catalog".into(), world.file("cat1.json", "{nope").display().to_string()], "catalog file"),
        (vec!["--catalog".into(), world.file("cat2.json", &crate::util::catalog(&["dealz"], "incremental")).display().to_string()], "unknown stream \"dealz\""),
        (vec!["--state".into(), world.file("st1.json", "[{").display().to_string()], "state file"),
        (
            vec!["--state".into(), world.file("st2.json", r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"deals"},"stream_state":{"update_time":"soon"}}}]"#).display().to_string()],
            "not a date-time",
        ),
        (vec!["--state".into(), world.dir.path().join("missing.json").display().to_string()], "cannot read state file"),
    ];
    for (extra, expected) in cases {
        let mut args = vec![
            "read".to_string(),
            "--config".into(),
            good.display().to_string(),
        ];
        args.extend(extra.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = world.run(&args);
        assert_eq!(r.status, 2, "{extra:?}: config errors exit 2");
        let errors = trace_errors(&r);
        assert!(
            errors.len() == 1 && errors[0].0 == "config_error" && errors[0].1.contains(expected),
            "{extra:?}: {errors:?}"
        );
        let sent = world.sandbox.requests();
        assert!(
            sent.is_empty(),
            "{extra:?}: a bad input file must stop the sync before any request, not after {:?}",
            sent.iter().map(|r| &r.path).collect::<Vec<_>>()
        );
    }
    for text in ["", "[]", "[null]", r#"[{"type":"GLOBAL","global":{}}]"#] {
        let state = world.file("empty.json", text);
        let r = world.run(&[
            "read",
            "--config",
            good.to_str().unwrap(),
            "--catalog",
            world
                .file(
                    "c.json",
                    &crate::util::catalog(&["currencies"], "incremental"),
                )
                .to_str()
                .unwrap(),
            "--state",
            state.to_str().unwrap(),
        ]);
        r.assert_ok();
    }
    let log = world.sandbox.requests();
    assert!(
        log.iter().any(|r| r.path == "/v1/currencies"),
        "the good runs read (the sandbox's log is not empty for nothing)"
    );
    // check answers bad configs with a FAILED status, not a crash.
    let r = world.run(&[
        "check",
        "--config",
        world.file("bad.json", "[1,2]").to_str().unwrap(),
    ]);
    assert!(
        matches!(&r.messages[..], [Message::ConnectionStatus { connection_status }] if connection_status.status == Status::Failed)
    );
}
