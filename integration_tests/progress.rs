//! The live progress display, seen as a person sees it: the binary run with its stderr (and, for
//! `demo`, its stdout) on a pseudo-terminal. Progress appears on the terminal, stdout carries
//! exactly the protocol messages, the last frame agrees with the summary LOG, and a stderr that
//! is not a terminal stays as it was (empty for `read`), unless `--progress always` asks.

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

use pipedrive_sandbox::SandboxOptions;
use serde_json::json;
use source_pipedrive::protocol::airbyte::Message;

use crate::util::{catalog, default_streams, run, World, START};

const ROWS: u16 = 60;
const COLS: u16 = 160;

/// A pseudo-terminal of `ROWS` × `COLS`: (master, slave).
fn pty() -> (File, File) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: both fd pointers are to live locals; no name is asked for; default termios.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty gave us these two descriptors, each owned once from here.
    unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) }
}

/// What the terminal received: every byte until the last writer closed it.
fn drain(mut master: File) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 65536];
        // Linux answers EIO once no process holds the slave open: the end.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Terminal text without its escape sequences and carriage returns.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.next_if_eq(&'[').is_some() {
                    while chars
                        .next()
                        .is_some_and(|c| !('\x40'..='\x7e').contains(&c))
                    {}
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

struct Shown {
    status: i32,
    /// stdout, when it was a pipe.
    stdout: String,
    /// What the terminal showed, escapes removed.
    terminal: String,
    raw_terminal: String,
}

/// Runs the binary with stderr on a terminal, and stdout too when `stdout_on_terminal`.
fn on_terminal(args: &[&str], stdout_on_terminal: bool, env: &[(&str, &Path)]) -> Shown {
    let (master, slave) = pty();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_source-pipedrive"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    if stdout_on_terminal {
        cmd.stdout(Stdio::from(slave.try_clone().unwrap()));
    } else {
        cmd.stdout(Stdio::piped());
    }
    let child = cmd.spawn().expect("the binary runs");
    // The command holds copies of the slave: the terminal ends only once none is left here.
    drop(cmd);
    drop(slave);
    let terminal = drain(master);
    let out = child.wait_with_output().unwrap();
    let raw_terminal = terminal.join().unwrap();
    Shown {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        terminal: plain(&raw_terminal),
        raw_terminal,
    }
}

/// Every line of `text` is a protocol message; the messages.
fn protocol_only(text: &str) -> Vec<Message> {
    assert!(!text.is_empty());
    assert!(
        !text.contains('\x1b'),
        "no terminal escapes among the messages"
    );
    text.lines()
        .map(|l| {
            serde_json::from_str::<Message>(l)
                .unwrap_or_else(|e| panic!("not a protocol message ({e}): {l}"))
        })
        .collect()
}

fn logs(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Log { log } => Some(log.message.clone()),
            _ => None,
        })
        .collect()
}

/// The LOG line starting with `prefix`.
fn log_line(messages: &[Message], prefix: &str) -> String {
    logs(messages)
        .into_iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no LOG {prefix:?}"))
}

/// The figures of a text, in order, commas of thousands removed: `12,345 records, 7 requests`
/// gives [12345, 7].
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ','))
        .map(|w| w.trim_matches(','))
        .filter(|w| !w.is_empty())
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect()
}

/// The last frame drawn: from the last title line to the end of the drawing. indicatif pads
/// each line of a frame to the terminal's width and lets the terminal wrap it, so the lines are
/// cut back out by width (the first starts after the spinner and a space).
fn last_frame(terminal: &str, title: &str) -> Vec<String> {
    let at = terminal
        .rfind(title)
        .unwrap_or_else(|| panic!("no {title:?} on the terminal:\n{terminal}"));
    let chars: Vec<char> = terminal[at..].chars().collect();
    let cols = usize::from(COLS);
    let mut lines = vec![chars[..(cols - 2).min(chars.len())]
        .iter()
        .collect::<String>()];
    for chunk in chars[(cols - 2).min(chars.len())..].chunks(cols) {
        lines.push(chunk.iter().collect());
    }
    lines.iter().map(|l| l.trim_end().to_string()).collect()
}

/// The seconds said just before `unit` in `text`: `2.4 s waiting` gives 2.4.
fn seconds_before(text: &str, unit: &str) -> f64 {
    let before = text
        .split(unit)
        .next()
        .filter(|b| b.len() < text.len())
        .unwrap_or_else(|| panic!("no {unit:?} in {text}"));
    let figure = before.rsplit(' ').next().unwrap();
    figure
        .parse()
        .unwrap_or_else(|_| panic!("{figure:?} before {unit:?} in {text}"))
}

#[test]
fn read_on_a_terminal_shows_progress_that_agrees_with_the_summary() {
    // A company whose daily budget Pipedrive reports, both token caps set far above what the
    // sync spends, and a request rate that makes the sync wait: every line of the display has
    // figures to compare.
    let world = World::with(SandboxOptions {
        size: 400,
        daily_token_budget: Some(1_000_000),
        ..SandboxOptions::default()
    });
    let config = world.config_with(json!({
        "api_key": world.key(),
        "start_date": START,
        "base_url": world.sandbox.base_url(),
        "max_tokens_per_sync": 900_000,
        "daily_budget_reserve_percent": 5,
        "max_requests_per_second": 40,
    }));
    let cat = world.file("catalog.json", &catalog(&default_streams(), "full_refresh"));
    let shown = on_terminal(
        &[
            "read",
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
        ],
        false,
        &[],
    );
    assert_eq!(shown.status, 0, "{}", shown.terminal);
    let messages = protocol_only(&shown.stdout);
    assert!(shown.raw_terminal.contains("\x1b["), "redrawn in place");
    assert!(
        !shown.terminal.contains(&world.key()),
        "the key never shows"
    );

    let frame = last_frame(&shown.terminal, "source-pipedrive read · ");
    // title · clock · records · requests · tokens, as the summary says them.
    let total = log_line(&messages, "summary total: ");
    let parts: Vec<&str> = frame[0].split(" · ").collect();
    assert_eq!(parts.len(), 5, "{frame:#?}");
    assert!(
        parts[2].ends_with(" records")
            && parts[3].ends_with(" requests")
            && parts[4].ends_with(" tokens"),
        "{}",
        frame[0]
    );
    assert_eq!(
        numbers(&parts[2..5].join(" ")),
        numbers(&total)[..3],
        "{}\n{total}",
        frame[0]
    );
    // The streams in each state, and the time held back by rate limits.
    let summaries: Vec<String> = logs(&messages)
        .into_iter()
        .filter(|l| l.starts_with("summary ") && l.contains(" records, "))
        .filter(|l| !l.starts_with("summary total: "))
        .collect();
    assert_eq!(summaries.len(), default_streams().len());
    let complete = summaries
        .iter()
        .filter(|l| l.contains(": complete,"))
        .count();
    let skipped = summaries.iter().filter(|l| l.contains(": skipped")).count();
    assert_eq!(complete + skipped, summaries.len(), "{summaries:#?}");
    let mut counts = vec![format!("{complete} done")];
    if skipped > 0 {
        counts.push(format!("{skipped} skipped"));
    }
    let http = log_line(&messages, "summary http: ");
    let held = seconds_before(&http, " s held back by rate limits");
    assert!(
        held > 0.0,
        "40 requests a second make the sync wait: {http}"
    );
    assert_eq!(
        frame[1],
        format!(
            "  streams: {} · {held:.1} s waiting on rate limits",
            counts.join(" · ")
        )
    );
    // What is left of each limit: the summary's figures after the tokens spent.
    let tokens = log_line(&messages, "summary tokens: ");
    assert!(
        frame[2].starts_with("  tokens left: ~") && frame[2].contains("daily budget "),
        "{}",
        frame[2]
    );
    assert_eq!(
        numbers(&frame[2]),
        numbers(&tokens)[1..],
        "{}\n{tokens}",
        frame[2]
    );
    // Every stream's line agrees with its summary line: state, records, requests, tokens.
    for stream in default_streams() {
        let row = frame
            .iter()
            .find(|l| l.split_whitespace().next() == Some(stream))
            .unwrap_or_else(|| panic!("{stream} not in the last frame:\n{}", frame.join("\n")));
        let summary = log_line(&messages, &format!("summary {stream}: "));
        let state = if summary.contains(": complete,") {
            "done"
        } else {
            "skipped"
        };
        assert_eq!(
            row.split_whitespace().nth(1),
            Some(state),
            "{row}\n{summary}"
        );
        assert_eq!(numbers(row), numbers(&summary), "{row}\n{summary}");
    }
}

#[test]
fn without_a_terminal_stderr_stays_silent_unless_progress_is_asked_for() {
    let world = World::new(60);
    let config = world.config(START);
    let args = ["read", "--config", config.to_str().unwrap()];
    // stdout and stderr are pipes: as before, nothing on stderr.
    let quiet = run(&args);
    quiet.assert_ok();
    assert_eq!(quiet.stderr, "");
    // Asked for, the display is drawn on a pipe too; stdout is the same kind of messages.
    let mut always = args.to_vec();
    always.extend(["--progress", "always"]);
    let drawn = run(&always);
    drawn.assert_ok();
    assert!(
        plain(&drawn.stderr).contains("source-pipedrive read · "),
        "{}",
        drawn.stderr
    );
    assert_eq!(drawn.records("deals").len(), quiet.records("deals").len());
    assert!(!drawn.stdout.contains('\x1b'));
    // On a terminal, never means never.
    let mut never = args.to_vec();
    never.extend(["--progress", "never"]);
    let shown = on_terminal(&never, false, &[]);
    assert_eq!(shown.status, 0);
    assert_eq!(shown.raw_terminal, "", "nothing drawn");
    protocol_only(&shown.stdout);
}

#[test]
fn demo_on_a_terminal_writes_the_messages_to_a_file_and_shows_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let shown = on_terminal(&["demo", "--size", "150"], true, &[("TMPDIR", dir.path())]);
    assert_eq!(shown.status, 0, "{}", shown.terminal);
    let file = dir.path().join("source-pipedrive-demo.jsonl");
    let t = &shown.terminal;
    assert!(t.contains(&format!("go to {}", file.display())), "{t}");
    assert!(
        !t.contains(r#"{"type":"RECORD""#),
        "no flood of messages on the terminal"
    );
    for part in [
        "source-pipedrive demo · ",
        "Synced in ",
        "A record of deals:\n{\n  \"id\": ",
        "A record of persons:",
        "more properties",
        "Try next:",
    ] {
        assert!(t.contains(part), "{part:?} on the terminal:\n{t}");
    }
    let messages = protocol_only(&std::fs::read_to_string(&file).unwrap());
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| match m {
            Message::Spec { .. } => "SPEC",
            Message::ConnectionStatus { .. } => "CONNECTION_STATUS",
            Message::Catalog { .. } => "CATALOG",
            Message::Record { .. } => "RECORD",
            Message::State { .. } => "STATE",
            _ => "other",
        })
        .collect();
    for k in ["SPEC", "CONNECTION_STATUS", "CATALOG", "RECORD", "STATE"] {
        assert!(kinds.contains(&k), "{k} in the messages file");
    }
    // The terminal's summary is the LOG's.
    let synced = t.lines().find(|l| l.starts_with("Synced in ")).unwrap();
    let total = numbers(&log_line(&messages, "summary total: "));
    let said = numbers(synced.split("), ").nth(1).unwrap());
    assert_eq!(said, total[..3], "{synced}");
}

#[test]
fn demo_into_a_pipe_writes_the_messages_to_stdout_as_before() {
    let r = run(&["demo", "--size", "40"]);
    r.assert_ok();
    assert!(!r.records("deals").is_empty());
    assert!(
        r.stderr.contains("sandbox Pipedrive listening on"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\ntotal "),
        "the summary table: {}",
        r.stderr
    );
    assert!(
        !r.stderr.contains('\x1b'),
        "no progress on a stderr that is not a terminal"
    );
}
