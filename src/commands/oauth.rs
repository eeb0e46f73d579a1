//! OAuth 2.0 through a private app, on the commands' side: saving the tokens of each refresh
//! (Airbyte mode: a CONTROL message with the whole updated config; Singer mode and the hand-run
//! commands: the file named by `config_update_path`, written atomically), and `oauth
//! authorize`, the authorization-code flow that gets the app's first refresh token without
//! writing code.
//!
//! `oauth authorize` is the one command that prints secrets, on purpose: its stdout is the
//! `credentials` object to paste into the config (client secret and tokens included), and
//! nothing else. Everything it says to a person goes to stderr, scrubbed of those secrets.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::config::{ApiKey, Auth, Config, OAuthCredentials, Tokens, AUTHORIZE_URL};
use crate::config::{DEFAULT_TOKEN_URL, OAUTH_AUTH_TYPE};
use crate::http::{exchange_code, form_encode, Client};
use crate::output::Output;
use crate::secrets::{self, Scrubber};

/// Hands `client` what saves the tokens of each refresh: a CONTROL message when `out` speaks
/// Airbyte, else the `config_update_path` file (and, without one, a warning when the refresh
/// token changed, since the config's no longer works).
pub(crate) fn save_tokens(client: &Client, config: &Config, out: Option<&Output>) {
    let Auth::OAuth(creds) = &config.auth else {
        return;
    };
    let creds = (**creds).clone();
    match out.filter(|o| !o.is_singer()) {
        Some(out) => {
            let control = out.control_writer();
            client.on_refresh(Box::new(move |tokens| {
                control
                    .connector_config(&creds.updated_config(tokens))
                    .map_err(|e| format!("writing the CONTROL message: {e}"))
            }));
        }
        None => client.on_refresh(Box::new(move |tokens| save_file(&creds, tokens))),
    }
}

fn save_file(creds: &OAuthCredentials, tokens: &Tokens) -> Result<(), String> {
    match &creds.update_path {
        Some(path) => write_atomically(path, &creds.updated_config(tokens))
            .map_err(|e| format!("writing `config_update_path` {}: {e:#}", path.display())),
        None => {
            if tokens.refresh_token != current_refresh(creds) {
                eprintln!("WARN the OAuth app returned a new refresh token and `config_update_path` is not set: the config's refresh token no longer works; set `config_update_path` (README: OAuth) so that it is saved");
            }
            Ok(())
        }
    }
}

/// The refresh token the process held before this refresh.
fn current_refresh(creds: &OAuthCredentials) -> ApiKey {
    creds
        .latest
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or_else(
            || creds.refresh_token.clone(),
            |(t, _)| t.refresh_token.clone(),
        )
}

/// Writes `value` to `path` so that a reader sees the old file or the new one, never a part:
/// a temporary file beside it (mode 600: it holds secrets), synced, then renamed over it.
pub fn write_atomically(path: &Path, value: &Value) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().context("the path names no file")?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let written = serde_json::to_writer_pretty(&mut file, value)
        .map_err(anyhow::Error::from)
        .and_then(|_| Ok(file.write_all(b"\n")?))
        .and_then(|_| Ok(file.sync_all()?));
    if let Err(e) = written.and_then(|_| Ok(std::fs::rename(&tmp, path)?)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself survives a crash once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What `oauth authorize` needs.
pub struct AuthorizeOptions {
    pub client_id: String,
    /// Read from the environment or stdin, never from the command line (where `ps` shows it).
    pub client_secret: String,
    /// The loopback port of the redirect URL registered with the app.
    pub port: u16,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    /// How long to wait for the browser to come back.
    pub timeout: Duration,
}

/// The authorization-code flow: the consent URL on stderr, the code received on a loopback
/// redirect, exchanged for tokens, and the `credentials` object on stdout.
pub fn authorize(opts: AuthorizeOptions, out: &mut Output) -> Result<()> {
    let mut scrubber = Scrubber::new();
    for secret in [&opts.client_id, &opts.client_secret] {
        scrubber.add(secret);
    }
    scrubber.add_basic_auth(&opts.client_id, &opts.client_secret);
    out.redact_all(&scrubber);
    secrets::protect_process(&scrubber);
    if opts.client_id.trim().is_empty() || opts.client_secret.trim().is_empty() {
        bail!("the client id and the client secret are both needed (Developer Hub > your app > OAuth & access scopes)");
    }
    let token_url = crate::config::validate_url(
        opts.token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL),
        "--token-url",
    )?;
    let authorize_url = crate::config::validate_url(
        opts.authorize_url.as_deref().unwrap_or(AUTHORIZE_URL),
        "--authorize-url",
    )?;
    let listener = TcpListener::bind(("127.0.0.1", opts.port)).with_context(|| {
        format!(
            "listening on 127.0.0.1:{} for the redirect (another process has the port? use --port)",
            opts.port
        )
    })?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://localhost:{port}/callback");
    let state = random_state();
    let url = format!(
        "{authorize_url}?client_id={}&redirect_uri={}&state={state}",
        form_encode(&opts.client_id),
        form_encode(&redirect_uri)
    );
    eprintln!(
        "Open this URL in a browser, signed in to Pipedrive as an admin, and allow the app:\n\n  {url}\n\nWaiting for Pipedrive to redirect to {redirect_uri} (the app's callback URL must be exactly that) ..."
    );
    let code = receive_code(&listener, &state, opts.timeout, out)?;
    scrubber.add(&code);
    out.redact(&code);
    secrets::protect_process(&scrubber);
    let creds = OAuthCredentials {
        client_id: ApiKey::new(opts.client_id.clone()),
        client_secret: ApiKey::new(opts.client_secret.clone()),
        refresh_token: ApiKey::new(""),
        access_token: None,
        token_url,
        follow_api_domain: true,
        source: Value::Null,
        update_path: None,
        latest: Default::default(),
    };
    let answer = exchange_code(&creds, &code, &redirect_uri, &scrubber)
        .context("exchanging the authorization code for tokens")?;
    let text = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or_default();
    for secret in [text("access_token"), text("refresh_token")] {
        out.redact(secret);
        let mut one = Scrubber::new();
        one.add(secret);
        secrets::protect_process(&one);
    }
    if text("refresh_token").is_empty() || text("access_token").is_empty() {
        bail!("the token endpoint's answer has no refresh_token or access_token");
    }
    let lifetime = answer
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let expiry =
        (Utc::now() + TimeDelta::seconds(lifetime)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let credentials = json!({
        "auth_type": OAUTH_AUTH_TYPE,
        "client_id": opts.client_id,
        "client_secret": opts.client_secret,
        "refresh_token": text("refresh_token"),
        "access_token": text("access_token"),
        "token_expiry_date": expiry,
    });
    eprintln!(
        "Authorized. The app was granted the scopes: {}. API domain: {}.\nstdout holds the `credentials` object, SECRETS INCLUDED: put it in the config as \"credentials\" (in place of \"api_key\") and keep it where only the connector can read it.",
        out.scrub(text("scope")),
        out.scrub(text("api_domain"))
    );
    // The one deliberate output of secrets: stdout, the object alone.
    out.document(&credentials)
}

/// Waits for the browser's redirect to `/callback` with `state`; answers it with a short page.
fn receive_code(
    listener: &TcpListener,
    state: &str,
    timeout: Duration,
    out: &Output,
) -> Result<String> {
    let until = Instant::now() + timeout;
    listener.set_nonblocking(true)?;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= until {
                    bail!(
                        "no redirect came back within {} s; run `oauth authorize` again",
                        timeout.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        match read_callback(&stream, state) {
            Ok(Some(code)) => {
                answer(
                    stream,
                    200,
                    "Authorized: the connector has the code. You may close this tab.",
                );
                return Ok(code);
            }
            // Not the redirect (a favicon, a probe): ignored.
            Ok(None) => answer(stream, 404, "Not found."),
            Err(e) => {
                answer(stream, 400, "The authorization failed: see the terminal.");
                bail!("{}", out.scrub(&format!("{e:#}")));
            }
        }
    }
}

/// The code of a `GET /callback?code=..&state=..`, `None` for any other request.
fn read_callback(stream: &TcpStream, state: &str) -> Result<Option<String>> {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let Some(query) = target.strip_prefix("/callback?") else {
        return Ok(None);
    };
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(error) = get("error") {
        bail!("Pipedrive did not authorize the app: {error}");
    }
    if get("state").as_deref() != Some(state) {
        bail!("the redirect's state does not match this run's: it came from another authorization; run `oauth authorize` again");
    }
    get("code")
        .filter(|c| !c.is_empty())
        .map(Some)
        .context("the redirect carries no code")
}

fn answer(mut stream: TcpStream, status: u16, text: &str) {
    let body = format!("<!doctype html><title>source-pipedrive</title><p>{text}</p>");
    let _ = write!(
        stream,
        "HTTP/1.1 {status} OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A value an attacker cannot guess, to tie the redirect to this run (CSRF): the standard
/// library's randomly seeded hasher, twice, with the time and the process id.
fn random_state() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut parts = Vec::new();
    for salt in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128);
        h.write_u32(std::process::id());
        parts.push(format!("{:016x}", h.finish()));
    }
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_updated_config_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, &json!({"a": 1})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"a": 1})
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    /// What the browser brings back to the loopback listener.
    fn callback(request_line: &str, state: &str) -> Result<Option<String>> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        write!(client, "{request_line}\r\nHost: localhost\r\n\r\n").unwrap();
        let (server, _) = listener.accept().unwrap();
        read_callback(&server, state)
    }

    /// The code is taken only from a redirect that carries this run's state (a page of another
    /// site cannot slip its own code in), and an `error` from the consent page is said.
    #[test]
    fn the_redirect_must_carry_this_runs_state() {
        let ok = callback("GET /callback?code=c%2F1&state=s1 HTTP/1.1", "s1").unwrap();
        assert_eq!(ok.as_deref(), Some("c/1"));
        let forged = callback("GET /callback?code=evil&state=other HTTP/1.1", "s1");
        assert!(forged.unwrap_err().to_string().contains("state"));
        let denied = callback("GET /callback?error=user_denied&state=s1 HTTP/1.1", "s1");
        assert!(denied.unwrap_err().to_string().contains("user_denied"));
        assert!(callback("GET /favicon.ico HTTP/1.1", "s1")
            .unwrap()
            .is_none());
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(decode("a%20b+c%3D"), "a b c=");
        assert_eq!(decode("100%"), "100%");
    }
}
