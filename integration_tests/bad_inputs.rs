//! Input mistakes, made as a careless user would, in both protocols: each is one clear
//! `config_error` naming the file and the field, with exit code 2, before any request (the
//! sandbox's log stays empty), and no 8-character run of any secret, in any form a text can
//! carry it (plain, percent-encoded, base64, JSON-escaped), in stdout or stderr. Then the inputs
//! that are not errors but did nothing in silence: a cursor in the future, a singer-sdk
//! bookmark, a bad bookmark of a stream not selected, and a token cap too small for `discover`.

use base64::Engine;
use pipedrive_sandbox::SandboxOptions;
use serde_json::{json, Value};

use crate::util::{Run, World, START};

/// Secrets with characters every encoder escapes its own way: quotes, backslashes, a slash,
/// Cyrillic, an emoji (a surrogate pair in `\u` form).
const KEY: &str = r#"Q"7\x"9\k"2\m"4/key-ключ-😀-0123"#;
const PASSWORD: &str = r#"пароль\"webhook"/😀-secret"#;
/// A secret given as a number (a numeric password), as its digits.
const NUMERIC: &str = "904417730251";

fn world() -> World {
    World::with(SandboxOptions {
        size: 10,
        api_key: KEY.to_string(),
        ..SandboxOptions::default()
    })
}

fn good_config(world: &World) -> Value {
    json!({"api_key": KEY, "start_date": START, "base_url": world.sandbox.base_url(),
           "webhook_user": "hooks", "webhook_password": PASSWORD})
}

/// `base` with `changes` set over it.
fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn singer_catalog(streams: &[&str]) -> String {
    let entries: Vec<Value> = streams
        .iter()
        .map(|s| {
            json!({"tap_stream_id": s, "stream": s, "schema": {},
                        "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]})
        })
        .collect();
    json!({ "streams": entries }).to_string()
}

fn airbyte_state(stream: &str, state: Value) -> String {
    json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": state}}])
        .to_string()
}

/// Every form of `secret` a text may carry: plain, percent-encoded (upper and lower case hex,
/// `+` for a space), base64 (standard and URL-safe, at each alignment) and JSON-escaped (with
/// and without `\/`, characters beyond ASCII as `\u` in either case, escaped once and twice).
pub fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    for upper in [true, false] {
        let mut pct = String::new();
        for b in secret.bytes() {
            match b {
                b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => pct.push(b as char),
                b if upper => pct.push_str(&format!("%{b:02X}")),
                b => pct.push_str(&format!("%{b:02x}")),
            }
        }
        forms.push(pct);
    }
    for offset in 0..3 {
        let mut bytes = vec![b'x'; offset];
        bytes.extend_from_slice(secret.as_bytes());
        for engine in [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let encoded = engine.encode(&bytes);
            // Leave out the characters that mix in the prefix's bits and the end's.
            forms.push(encoded[[0, 2, 3][offset]..encoded.len() - 1].to_string());
        }
    }
    for slash in [false, true] {
        for ascii in [false, true] {
            for upper in [false, true] {
                let once = escape(secret, slash, ascii, upper);
                forms.push(escape(&once, slash, ascii, upper));
                forms.push(once);
            }
        }
    }
    forms
}

/// `s` as a JSON string's content, escaped as encoders do: `\/` for `/` if `slash`, every
/// character beyond ASCII as `\uXXXX` (upper or lower case hex) if `ascii`.
pub fn escape(s: &str, slash: bool, ascii: bool, upper: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            c if c.is_ascii() || !ascii => out.push(c),
            c => {
                for unit in c.encode_utf16(&mut [0u16; 2]) {
                    match upper {
                        true => out.push_str(&format!("\\u{unit:04X}")),
                        false => out.push_str(&format!("\\u{unit:04x}")),
                    }
                }
            }
        }
    }
    out
}

/// Asserts that no 8-character run of any form of any secret is in `text`.
pub fn assert_no_secret(what: &str, text: &str) {
    for secret in [KEY, PASSWORD, NUMERIC] {
        for form in forms(secret) {
            let chars: Vec<char> = form.chars().collect();
            for w in chars.windows(8) {
                let run: String = w.iter().collect();
                assert!(
                    !text.contains(&run),
                    "{what}: {run:?} of {form:?} in:\n{text}"
                );
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Protocol {
    Airbyte,
    Singer,
}

struct Case {
    name: &'static str,
    protocol: Protocol,
    /// The config: the good one with these settings over it.
    config: Value,
    catalog: Option<String>,
    state: Option<String>,
    /// The file the error must name ("config", "catalog" or "state"), and what it must say
    /// of the field.
    file: &'static str,
    says: &'static str,
}

fn cases() -> Vec<Case> {
    use Protocol::{Airbyte, Singer};
    let deals = || Some(crate::util::catalog(&["deals", "users"], "incremental"));
    let case = |name, protocol, config: Value, file, says| Case {
        name,
        protocol,
        config,
        catalog: None,
        state: None,
        file,
        says,
    };
    let mut all = vec![
        // 2. Secrets given as numbers.
        case(
            "numeric webhook password",
            Airbyte,
            json!({"webhook_password": 904417730251u64}),
            "config",
            "`webhook_password` must be a string",
        ),
        case(
            "numeric api_key",
            Airbyte,
            json!({"api_key": 904417730251u64}),
            "config",
            "`api_key` must be a string",
        ),
        case(
            "numeric api_token (alias)",
            Singer,
            json!({"api_key": null, "api_token": 904417730251u64}),
            "config",
            "`api_token` must be a string",
        ),
        case(
            "numeric webhook password, Singer",
            Singer,
            json!({"webhook_password": 904417730251u64}),
            "config",
            "`webhook_password` must be a string",
        ),
        case(
            "api_key as an object",
            Airbyte,
            json!({"api_key": {"key": NUMERIC}}),
            "config",
            "`api_key` must be a string",
        ),
        // 4. A token cap no sync could read a page with.
        case(
            "max_tokens_per_sync 1",
            Airbyte,
            json!({"max_tokens_per_sync": 1}),
            "config",
            "`max_tokens_per_sync` 1 is below 4",
        ),
        case(
            "max_tokens_per_sync 3, Singer",
            Singer,
            json!({"max_tokens_per_sync": 3}),
            "config",
            "`max_tokens_per_sync` 3 is below 4",
        ),
        // 6. Malformed base URLs.
        case(
            "base_url with a space",
            Airbyte,
            json!({"base_url": "https://exa mple.com"}),
            "config",
            "`base_url` \"https://exa mple.com\" has a space",
        ),
        case(
            "base_url with a unicode host",
            Airbyte,
            json!({"base_url": "https://exämple.com"}),
            "config",
            "`base_url` \"https://exämple.com\" has the character 'ä'",
        ),
        case(
            "base_url with a bad port",
            Singer,
            json!({"base_url": "https://acme.pipedrive.com:99999"}),
            "config",
            "`base_url`",
        ),
        // And the other config mistakes.
        case(
            "start_date not a date",
            Airbyte,
            json!({"start_date": "last tuesday"}),
            "config",
            "`start_date` \"last tuesday\" is not a date",
        ),
        case(
            "custom_field_names unknown",
            Airbyte,
            json!({"custom_field_names": "label"}),
            "config",
            "`custom_field_names` must be ",
        ),
        case(
            "max_retries a string",
            Singer,
            json!({"max_retries": "5"}),
            "config",
            "`max_retries` must be a whole number",
        ),
    ];
    // 3. A stream listed twice, in either protocol's catalog.
    all.push(Case {
        catalog: Some(crate::util::catalog(&["deals", "deals"], "incremental")),
        ..case(
            "stream listed twice",
            Airbyte,
            json!({}),
            "catalog",
            "streams[1]: stream \"deals\" is listed twice",
        )
    });
    all.push(Case {
        catalog: Some(singer_catalog(&["deals", "notes", "deals"])),
        ..case(
            "stream listed twice, Singer",
            Singer,
            json!({}),
            "catalog",
            "streams[2]: stream \"deals\" is listed twice",
        )
    });
    // 5. and 7. Saved values that cannot be read.
    for (name, protocol, state, says) in [
        ("malformed full_refresh_from", Airbyte, airbyte_state("users", json!({"full_refresh_from": "2024-13-45"})), "stream users: saved cursor full_refresh_from = \"2024-13-45\""),
        ("malformed update_time", Airbyte, airbyte_state("deals", json!({"update_time": "yesterday"})), "stream deals: saved cursor update_time = \"yesterday\""),
        ("numeric update_time", Airbyte, airbyte_state("deals", json!({"update_time": 1714521600})), "stream deals: saved cursor update_time = 1714521600"),
        ("bad sentinel", Airbyte, airbyte_state("users", json!({"__ab_full_refresh_sync_complete": "yes"})), "stream users: saved __ab_full_refresh_sync_complete is a string"),
        ("bad custom field names", Airbyte, airbyte_state("deals", json!({"update_time": START, "custom_field_names": ["x"]})), "stream deals: saved custom_field_names is an array"),
        ("stream_state not an object", Airbyte, airbyte_state("deals", json!("2024-01-01")), "stream deals: its saved state is a string"),
        ("malformed bookmark, Singer", Singer, json!({"bookmarks": {"deals": {"update_time": "soon"}}}).to_string(), "stream deals: saved cursor update_time = \"soon\""),
        ("malformed singer-sdk bookmark", Singer, json!({"bookmarks": {"deals": {"replication_key": "update_time", "replication_key_value": "soon"}}}).to_string(), "stream deals: saved cursor update_time = \"soon\""),
        ("state not JSON, Singer", Singer, "{\"bookmarks\": ".to_string(), "not valid JSON"),
    ] {
        all.push(Case {
            catalog: match protocol {
                Airbyte => deals(),
                Singer => Some(singer_catalog(&["deals", "users"])),
            },
            state: Some(state),
            ..case(name, protocol, json!({}), "state", says)
        });
    }
    all
}

/// The one error a run reports: an Airbyte TRACE on stdout, or a Singer run's `ERROR` line on
/// stderr (its stdout carries Singer messages only, and none here).
fn the_one_config_error(case: &Case, r: &Run) -> String {
    match case.protocol {
        Protocol::Airbyte => {
            let errors = r.trace_errors();
            assert_eq!(
                errors.len(),
                1,
                "{}: one TRACE error: {:?}",
                case.name,
                r.logs()
            );
            let (stream, failure_type, message) = errors.into_iter().next().unwrap();
            assert_eq!(failure_type, "config_error", "{}", case.name);
            assert_eq!(stream, None, "{}", case.name);
            assert_eq!(r.messages.len(), 1, "{}: nothing but the TRACE", case.name);
            message
        }
        Protocol::Singer => {
            assert_eq!(
                r.stdout, "",
                "{}: a Singer stdout has no Airbyte TRACE",
                case.name
            );
            let lines: Vec<&str> = r
                .stderr
                .lines()
                .filter(|l| l.starts_with("ERROR ("))
                .collect();
            assert_eq!(
                lines.len(),
                1,
                "{}: one ERROR line: {}",
                case.name,
                r.stderr
            );
            let message = lines[0].strip_prefix("ERROR (config_error) ");
            message
                .unwrap_or_else(|| panic!("{}: a config_error: {}", case.name, lines[0]))
                .to_string()
        }
    }
}

#[test]
fn every_input_mistake_is_one_config_error_before_any_request_and_shows_no_secret() {
    let world = world();
    let cases = cases();
    assert!(cases.len() >= 24, "{}", cases.len());
    for case in &cases {
        let config = world.file(
            "config.json",
            &with(good_config(&world), case.config.clone()).to_string(),
        );
        let catalog = case.catalog.as_ref().map(|c| world.file("catalog.json", c));
        let state = case.state.as_ref().map(|s| world.file("state.json", s));
        let mut args: Vec<&str> = match case.protocol {
            Protocol::Airbyte => vec!["read"],
            Protocol::Singer => vec![],
        };
        args.extend(["--config", config.to_str().unwrap()]);
        if let Some(c) = &catalog {
            args.extend(["--catalog", c.to_str().unwrap()]);
        }
        if let Some(s) = &state {
            args.extend(["--state", s.to_str().unwrap()]);
        }
        let r = match case.protocol {
            Protocol::Airbyte => world.run(&args),
            // Not read as Airbyte messages: a Singer stdout is checked to be empty.
            Protocol::Singer => {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_source-pipedrive"))
                    .args(&args)
                    .output()
                    .unwrap();
                Run {
                    status: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    messages: Vec::new(),
                }
            }
        };
        assert_eq!(
            r.status, 2,
            "{}: exit code; stderr: {}",
            case.name, r.stderr
        );
        let message = the_one_config_error(case, &r);
        let file = world.dir.path().join(format!("{}.json", case.file));
        let names = format!("{} file {}: ", case.file, file.display());
        assert!(
            message.starts_with(&names),
            "{}: names the file: {message}",
            case.name
        );
        assert!(
            message.contains(case.says),
            "{}: says {:?}: {message}",
            case.name,
            case.says
        );
        assert!(
            world.sandbox.requests().is_empty(),
            "{}: no request is sent: {:?}",
            case.name,
            world.sandbox.requests()
        );
        assert_no_secret(case.name, &r.stdout);
        assert_no_secret(case.name, &r.stderr);
    }
}

/// `check` reports the same mistakes as a FAILED status, and quotes no secret either.
#[test]
fn check_names_a_secret_given_as_a_number_by_its_type() {
    let world = world();
    for (changes, says) in [
        (
            json!({"webhook_password": 904417730251u64}),
            "`webhook_password` must be a string or left out, not a number",
        ),
        (
            json!({"api_key": 904417730251u64}),
            "`api_key` must be a string or left out, not a number",
        ),
        (
            json!({"max_tokens_per_sync": 1}),
            "`max_tokens_per_sync` 1 is below 4",
        ),
    ] {
        let config = world.config_with(with(good_config(&world), changes));
        let r = world.run(&["check", "--config", config.to_str().unwrap()]);
        assert_eq!(r.status, 0);
        assert!(
            r.stdout.contains("\"status\":\"FAILED\"") && r.stdout.contains(says),
            "{}",
            r.stdout
        );
        assert_no_secret("check", &r.stdout);
        assert_no_secret("check", &r.stderr);
    }
    assert!(world.sandbox.requests().is_empty());
}
