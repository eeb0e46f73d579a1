//! Webhook deliveries as Pipedrive sends them: webhooks v2 payloads (`{meta, data, previous}`)
//! for create, change, delete and merge events, and a std-only HTTP sender with basic auth and
//! Pipedrive's retry schedule (reference §7 and §8). Tests use them to drive a webhook receiver
//! the way the real service would, including the ways a delivery goes wrong.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::data::mix;

/// The entities webhooks v2 reports on: the ten of the 2025 guide and the 2026 additions.
pub(crate) const ENTITIES: [&str; 16] = [
    "activity",
    "deal",
    "lead",
    "note",
    "organization",
    "person",
    "pipeline",
    "product",
    "stage",
    "user",
    "deal_installment",
    "deal_product",
    "board",
    "phase",
    "project",
    "task",
];

/// No answer within this long fails a delivery [WH2].
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds Pipedrive waits before the first, second and third retry [WH2].
const RETRY_DELAYS: [u64; 3] = [3, 30, 150];
/// UNCONFIRMED: Pipedrive documents no User-Agent for its deliveries. This name stands in for
/// theirs; a receiver must not depend on it either way.
const USER_AGENT: &str = "Pipedrive Webhooks";
/// Longest answer kept from a receiver; its body is only for a test to look at.
const MAX_ANSWER: u64 = 1024 * 1024;

/// The parts of `meta` that vary from one event (or delivery attempt) to the next. The rest
/// (`action`, `entity`, `entity_id`, `type`, `version`) follows from the event itself.
#[derive(Clone, Debug, PartialEq)]
pub struct EventMeta {
    /// `meta.id`: the event's id, a UUID. Retries of one event keep it.
    pub id: String,
    /// `meta.correlation_id`: shared by the events of one operation (both halves of a merge).
    pub correlation_id: String,
    pub timestamp: DateTime<Utc>,
    /// 1 for the first try, up to 4 for the third retry.
    pub attempt: u32,
    pub company_id: u64,
    /// The user whose action triggered the event.
    pub user_id: u64,
    pub webhook_id: u64,
    pub webhook_owner_id: u64,
    pub is_bulk_edit: bool,
    /// `app` or `api`.
    pub change_source: String,
    /// `{company domain}.pipedrive.com`.
    pub host: String,
    /// Sent for every entity but `user`.
    pub permitted_user_ids: Vec<u64>,
    /// Only on the delete of a merge's loser: the survivor's id.
    pub merged_to_id: Option<String>,
    /// Only on the change of a merge's survivor: the loser's id.
    pub merged_from_id: Option<String>,
}

impl EventMeta {
    /// Meta for event number `n`: distinct, reproducible event and correlation ids, a
    /// timestamp `n` seconds into 2026, and the default sandbox's company (seed 42), admin
    /// user (1) and first webhook (1).
    pub fn numbered(n: u64) -> EventMeta {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        EventMeta {
            id: uuid(mix(n)),
            correlation_id: uuid(mix(n ^ 0xC0_44E1)),
            timestamp: start + chrono::Duration::seconds(n as i64),
            attempt: 1,
            company_id: 7_000_042,
            user_id: 1,
            webhook_id: 1,
            webhook_owner_id: 1,
            is_bulk_edit: false,
            change_source: "app".into(),
            host: "sandbox.pipedrive.com".into(),
            permitted_user_ids: vec![1],
            merged_to_id: None,
            merged_from_id: None,
        }
    }
}

impl Default for EventMeta {
    fn default() -> EventMeta {
        EventMeta::numbered(0)
    }
}

/// A UUID (version 4 layout) drawn from `z`, as event and correlation ids look.
fn uuid(z: u64) -> String {
    let w = mix(z);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        z >> 32,
        (z >> 16) & 0xffff,
        z & 0xfff,
        0x8000 | (w >> 48) & 0x3fff,
        w & 0xffff_ffff_ffff
    )
}

/// A webhooks v2 payload. `action` is `create` (needs `current` only), `change` (both; the
/// payload's `previous` keeps only the fields whose value differs from `current`, and of
/// `custom_fields` only the changed keys) or `delete` (needs `previous`, the last state; `data`
/// is null). Panics on any other combination or an entity webhooks v2 does not report on:
/// Pipedrive never sends those, so a test asking for one has a bug.
pub fn event(
    action: &str,
    entity: &str,
    current: Option<&Value>,
    previous: Option<&Value>,
    meta: EventMeta,
) -> Value {
    assert!(
        ENTITIES.contains(&entity),
        "sandbox: webhooks v2 has no entity {entity:?}"
    );
    let (data, previous) = match (action, current, previous) {
        ("create", Some(current), None) => (current.clone(), Value::Null),
        ("change", Some(current), Some(previous)) => {
            (current.clone(), changed_fields(previous, current))
        }
        ("delete", None, Some(previous)) => (Value::Null, previous.clone()),
        _ => panic!(
            "sandbox: a {action:?} event takes {}",
            match action {
                "create" => "the current state and no previous one",
                "change" => "both the current and the previous state",
                "delete" => "the last state as previous and no current one",
                _ => "nothing: use create, change or delete",
            }
        ),
    };
    let entity_id = [&data, &previous]
        .iter()
        .find_map(|v| match &v["id"] {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default();
    // Field order follows the guide's example; ids are strings there, and so here.
    let mut m = json!({
        "action": action,
        "entity": entity,
        "company_id": meta.company_id.to_string(),
        "correlation_id": meta.correlation_id,
        "entity_id": entity_id,
        "id": meta.id,
        "is_bulk_edit": meta.is_bulk_edit,
        "timestamp": meta.timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "type": "general",
        "user_id": meta.user_id.to_string(),
        "version": "2.0",
        "webhook_id": meta.webhook_id.to_string(),
        "webhook_owner_id": meta.webhook_owner_id.to_string(),
        "change_source": meta.change_source,
        "attempt": meta.attempt,
        "host": meta.host,
    });
    if entity != "user" {
        let ids: Vec<String> = meta.permitted_user_ids.iter().map(u64::to_string).collect();
        m["permitted_user_ids"] = json!(ids);
    }
    if let Some(id) = meta.merged_to_id {
        m["merged_to_id"] = json!(id);
    }
    if let Some(id) = meta.merged_from_id {
        m["merged_from_id"] = json!(id);
    }
    json!({"meta": m, "data": data, "previous": previous})
}

/// The old values of the fields that an edit changed; a field the edit added was null before.
fn changed_fields(before: &Value, after: &Value) -> Value {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return before.clone();
    };
    let mut out = Map::new();
    for (key, old) in before {
        match after.get(key) {
            Some(new) if new == old => {}
            // Custom fields sit in their own object in v2 [WHMIG]; each is a field of its own.
            Some(new) if key == "custom_fields" && new.is_object() && old.is_object() => {
                out.insert(key.clone(), changed_fields(old, new));
            }
            _ => {
                out.insert(key.clone(), old.clone());
            }
        }
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        out.insert(key.clone(), Value::Null);
    }
    Value::Object(out)
}

/// What v2 sends for a merge [WHMIG]: the delete of `loser` (`meta.merged_to_id` naming the
/// survivor) and the change of the survivor from `survivor_before` to `survivor_after`
/// (`meta.merged_from_id` naming the loser). Both carry `meta`'s correlation id and
/// timestamp; the delete has `meta.id` and the change an event id derived from it. Pipedrive
/// promises no order between the two.
pub fn merge(
    entity: &str,
    loser: &Value,
    survivor_before: &Value,
    survivor_after: &Value,
    meta: EventMeta,
) -> [Value; 2] {
    let id_of = |v: &Value| match &v["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let delete = EventMeta {
        merged_to_id: Some(id_of(survivor_after)),
        merged_from_id: None,
        ..meta.clone()
    };
    let seed = meta.id.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b)));
    let change = EventMeta {
        id: uuid(seed),
        merged_to_id: None,
        merged_from_id: Some(id_of(loser)),
        ..meta
    };
    [
        event("delete", entity, None, Some(loser), delete),
        event(
            "change",
            entity,
            Some(survivor_after),
            Some(survivor_before),
            change,
        ),
    ]
}

/// The outcome of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The receiver's status; `None` when no complete answer came within the timeout or the
    /// connection failed.
    pub status: Option<u16>,
    /// From starting to connect to the whole answer (or the failure).
    pub latency: Duration,
    /// The answer's body, lossily decoded; empty without an answer.
    pub body: String,
}

impl Delivery {
    /// Pipedrive takes any 2xx as delivered; anything else, or no answer, is a failure [WH2].
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
}

/// POSTs `payload` to `url` (plain `http://`) as Pipedrive does: JSON, with basic auth unless
/// both `user` and `password` are empty (a webhook without `http_auth_*` sends none).
pub fn deliver(
    url: &str,
    user: &str,
    password: &str,
    payload: &Value,
    timeout: Duration,
) -> Delivery {
    let auth = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("User-Agent", USER_AGENT),
    ];
    if !user.is_empty() || !password.is_empty() {
        headers.push(("Authorization", auth.as_str()));
    }
    deliver_raw(url, &headers, payload.to_string().as_bytes(), timeout)
}

/// POSTs `body` to `url` with exactly `headers`, adding only the framing HTTP needs (`Host`,
/// `Content-Length`, `Connection: close`) where `headers` does not set it: for malformed
/// bodies, wrong or missing credentials, or a lying Content-Length.
pub fn deliver_raw(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Delivery {
    let started = Instant::now();
    let answer = exchange(url, headers, body, started + timeout);
    let latency = started.elapsed();
    match answer {
        Ok((status, body)) => Delivery {
            status: Some(status),
            latency,
            body,
        },
        Err(_) => Delivery {
            status: None,
            latency,
            body: String::new(),
        },
    }
}

/// Delivers `payload` on Pipedrive's schedule [WH2]: a try, then up to three retries after 3,
/// 30 and 150 s, each failing on a non-2xx answer or none within 10 s, with `meta.attempt`
/// counting 1 to 4. `scale` multiplies every delay and timeout (at 0.01 four failed attempts
/// take at most 2.3 s; it must be finite and not negative). Returns every attempt made, up to
/// and including the first that succeeded.
pub fn deliver_with_retries(
    url: &str,
    user: &str,
    password: &str,
    payload: &Value,
    scale: f64,
) -> Vec<Delivery> {
    let mut attempts = Vec::new();
    let mut payload = payload.clone();
    for attempt in 1u32.. {
        payload["meta"]["attempt"] = json!(attempt);
        let delivery = deliver(
            url,
            user,
            password,
            &payload,
            DELIVERY_TIMEOUT.mul_f64(scale),
        );
        let done = delivery.succeeded();
        attempts.push(delivery);
        match retry_delay(attempt) {
            Some(delay) if !done => thread::sleep(delay.mul_f64(scale)),
            _ => break,
        }
    }
    attempts
}

/// How long Pipedrive waits after failed attempt `attempt` (1-based) before the next one;
/// `None` after the last.
fn retry_delay(attempt: u32) -> Option<Duration> {
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    RETRY_DELAYS.get(index).map(|s| Duration::from_secs(*s))
}

/// The parts of an `http(s)://host[:port]/path` URL the sandbox needs.
pub(crate) struct Url<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
    /// Path and query as written (so `?q` when the URL has a query but no path); `/` when it
    /// has neither.
    pub target: &'a str,
}

/// Splits an absolute http(s) URL; `None` for anything else (relative, other schemes, user
/// info, spaces, a bad port).
pub(crate) fn parse_url(url: &str) -> Option<Url<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal has colons of its own; a port follows its closing bracket.
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    let target = match target.split('#').next().unwrap_or("") {
        "" => "/",
        t => t,
    };
    Some(Url {
        scheme,
        host,
        port,
        target,
    })
}

fn timed_out() -> io::Error {
    io::ErrorKind::TimedOut.into()
}

/// Sends one request and reads the whole answer before `deadline`.
fn exchange(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    deadline: Instant,
) -> io::Result<(u16, String)> {
    let parsed =
        parse_url(url).unwrap_or_else(|| panic!("sandbox: {url:?} is not an absolute http URL"));
    assert!(
        parsed.scheme.eq_ignore_ascii_case("http"),
        "sandbox: deliveries go over plain http; std has no TLS for {url:?}"
    );
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)
    };
    let mut stream = None;
    for addr in (parsed.host, parsed.port).to_socket_addrs()? {
        if let Ok(s) = TcpStream::connect_timeout(&addr, left()?) {
            stream = Some(s);
            break;
        }
    }
    let mut stream = stream.ok_or_else(|| io::Error::from(io::ErrorKind::ConnectionRefused))?;
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let slash = if parsed.target.starts_with('/') {
        ""
    } else {
        "/"
    };
    let mut head = format!("POST {slash}{} HTTP/1.1\r\n", parsed.target);
    if !has("host") {
        let host = if parsed.host.contains(':') {
            format!("[{}]", parsed.host)
        } else {
            parsed.host.to_string()
        };
        head.push_str(&format!("Host: {host}:{}\r\n", parsed.port));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has("content-length") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !has("connection") {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    stream.set_write_timeout(Some(left()?))?;
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    // A receiver may answer (413, 401) and stop reading before the body is in; its answer
    // still counts, so read it whatever the write did.
    let answer = read_answer(&mut stream, &left);
    match (answer, sent) {
        (Ok(answer), _) => Ok(answer),
        (Err(e), Ok(())) | (Err(_), Err(e)) => Err(e),
    }
}

/// Reads a status line, headers and a body framed by Content-Length, chunks or the end of
/// the connection.
fn read_answer(
    stream: &mut TcpStream,
    left: &dyn Fn() -> io::Result<Duration>,
) -> io::Result<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut read_more = |stream: &mut TcpStream, buf: &mut Vec<u8>| -> io::Result<bool> {
        stream.set_read_timeout(Some(left()?))?;
        match stream.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock) => Err(timed_out()),
            Err(e) => Err(e),
        }
    };
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() as u64 > MAX_ANSWER || !read_more(stream, &mut buf)? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    loop {
        let body = &buf[head_end..];
        let complete = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete || body.len() as u64 > MAX_ANSWER {
            break;
        }
        if !read_more(stream, &mut buf)? {
            if length.is_some() || chunked {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            break;
        }
    }
    let body = &buf[head_end..];
    let body = match length {
        Some(n) => body[..n.min(body.len())].to_vec(),
        None if chunked => dechunk(body),
        None => body.to_vec(),
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The payload of a chunked body (extensions and trailers dropped).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&raw[..eol]);
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        let start = eol + 2;
        if size == 0 || start + size > raw.len() {
            break;
        }
        out.extend_from_slice(&raw[start..start + size]);
        raw = raw.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// Standard base64 with padding, as basic auth wants it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, b)| n | (u32::from(*b) << (16 - 8 * k)));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::io::BufReader;
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// One request as the test receiver got it.
    struct Received {
        head: String,
        body: Vec<u8>,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.split("\r\n").skip(1).find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }

        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    /// A receiver that answers one connection per entry of `answers` (status, delay before
    /// answering) and reports each request it read, in order. Slow answers wait in threads of
    /// their own, so they hold up no later connection. Returns its URL.
    fn receiver(answers: Vec<(u16, Duration)>) -> (String, mpsc::Receiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook?tenant=7", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for (status, delay) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    head.push_str(&line);
                }
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let _ = tx.send(Received { head, body });
                thread::spawn(move || {
                    thread::sleep(delay);
                    let answer = format!("{{\"status\":{status}}}");
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    // The sender may have given up on a slow answer and gone.
                    let _ = reader.get_mut().write_all(response.as_bytes());
                });
            }
        });
        (url, rx)
    }

    fn deal(id: u64, title: &str, value: f64) -> Value {
        json!({
            "id": id,
            "title": title,
            "value": value,
            "owner_id": 1,
            "update_time": "2026-01-01T00:00:00Z",
            "custom_fields": {"a1b2": "gold", "c3d4": 5},
        })
    }

    #[test]
    fn create_change_and_delete_payloads() {
        let before = deal(7, "Big deal", 1000.0);
        let created = event(
            "create",
            "deal",
            Some(&before),
            None,
            EventMeta::numbered(5),
        );
        assert_eq!(created["data"], before);
        assert_eq!(created["previous"], Value::Null);
        let meta = &created["meta"];
        let keys: Vec<&str> = meta
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "action",
                "entity",
                "company_id",
                "correlation_id",
                "entity_id",
                "id",
                "is_bulk_edit",
                "timestamp",
                "type",
                "user_id",
                "version",
                "webhook_id",
                "webhook_owner_id",
                "change_source",
                "attempt",
                "host",
                "permitted_user_ids",
            ]
        );
        assert_eq!(meta["action"], "create");
        assert_eq!(meta["entity"], "deal");
        assert_eq!(meta["entity_id"], "7");
        assert_eq!(meta["company_id"], "7000042");
        assert_eq!(meta["timestamp"], "2026-01-01T00:00:05.000Z");
        assert_eq!(meta["version"], "2.0");
        assert_eq!(meta["type"], "general");
        assert_eq!(meta["attempt"], 1);
        assert_eq!(meta["permitted_user_ids"], json!(["1"]));
        let id = meta["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(meta["id"], EventMeta::numbered(6).id.as_str());
        assert_ne!(meta["id"], meta["correlation_id"]);

        let mut after = before.clone();
        after["title"] = json!("Bigger deal");
        after["update_time"] = json!("2026-01-02T00:00:00Z");
        after["custom_fields"]["c3d4"] = json!(6);
        after["label_ids"] = json!([3]);
        let changed = event(
            "change",
            "deal",
            Some(&after),
            Some(&before),
            EventMeta::default(),
        );
        assert_eq!(changed["data"], after);
        assert_eq!(
            changed["previous"],
            json!({
                "title": "Big deal",
                "update_time": "2026-01-01T00:00:00Z",
                "custom_fields": {"c3d4": 5},
                "label_ids": null,
            })
        );

        let deleted = event("delete", "deal", None, Some(&after), EventMeta::default());
        assert_eq!(deleted["data"], Value::Null);
        assert_eq!(deleted["previous"], after);
        assert_eq!(deleted["meta"]["entity_id"], "7");
        assert!(deleted["meta"].get("merged_to_id").is_none());

        // Leads have UUIDs; users get no permitted_user_ids.
        let lead = json!({"id": "adf21080-0e10-11eb-879b-05d71fb426ec", "title": "L"});
        let lead_event = event("create", "lead", Some(&lead), None, EventMeta::default());
        assert_eq!(lead_event["meta"]["entity_id"], lead["id"]);
        let user = json!({"id": 3, "name": "Ann"});
        let user_event = event("delete", "user", None, Some(&user), EventMeta::default());
        assert!(user_event["meta"].get("permitted_user_ids").is_none());
    }

    #[test]
    fn a_merge_is_a_delete_and_a_change() {
        let loser = deal(9, "Duplicate", 10.0);
        let before = deal(4, "Survivor", 500.0);
        let mut after = before.clone();
        after["value"] = json!(510.0);
        let meta = EventMeta {
            attempt: 2,
            ..EventMeta::numbered(11)
        };
        let [delete, change] = merge("deal", &loser, &before, &after, meta.clone());
        assert_eq!(delete["meta"]["action"], "delete");
        assert_eq!(delete["meta"]["entity_id"], "9");
        assert_eq!(delete["meta"]["merged_to_id"], "4");
        assert!(delete["meta"].get("merged_from_id").is_none());
        assert_eq!(delete["data"], Value::Null);
        assert_eq!(delete["previous"], loser);
        assert_eq!(change["meta"]["action"], "change");
        assert_eq!(change["meta"]["entity_id"], "4");
        assert_eq!(change["meta"]["merged_from_id"], "9");
        assert!(change["meta"].get("merged_to_id").is_none());
        assert_eq!(change["data"], after);
        assert_eq!(change["previous"], json!({"value": 500.0}));
        assert_eq!(delete["meta"]["id"], meta.id.as_str());
        assert_ne!(change["meta"]["id"], delete["meta"]["id"]);
        assert_eq!(
            change["meta"]["correlation_id"],
            delete["meta"]["correlation_id"]
        );
        assert_eq!(change["meta"]["attempt"], 2);
    }

    #[test]
    #[should_panic(expected = "a \"create\" event takes")]
    fn a_create_needs_the_current_state() {
        event("create", "deal", None, None, EventMeta::default());
    }

    #[test]
    #[should_panic(expected = "no entity")]
    fn unknown_entities_are_refused() {
        event(
            "create",
            "deals",
            Some(&json!({"id": 1})),
            None,
            EventMeta::default(),
        );
    }

    #[test]
    fn deliver_posts_json_with_basic_auth() {
        let (url, requests) = receiver(vec![(200, Duration::ZERO), (202, Duration::ZERO)]);
        let payload = event(
            "create",
            "deal",
            Some(&deal(1, "Ä ✓", 1.0)),
            None,
            EventMeta::default(),
        );
        let delivery = deliver(&url, "user", "pass", &payload, Duration::from_secs(5));
        assert_eq!(delivery.status, Some(200));
        assert!(delivery.succeeded());
        assert_eq!(delivery.body, "{\"status\":200}");
        let got = requests.recv().unwrap();
        assert!(
            got.head.starts_with("POST /hook?tenant=7 HTTP/1.1\r\n"),
            "{}",
            got.head
        );
        assert_eq!(got.header("authorization"), Some("Basic dXNlcjpwYXNz"));
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert_eq!(got.header("user-agent"), Some(USER_AGENT));
        assert!(got.header("host").unwrap().starts_with("127.0.0.1:"));
        assert_eq!(got.json(), payload);

        // A webhook without credentials sends no Authorization header.
        let delivery = deliver(&url, "", "", &payload, Duration::from_secs(5));
        assert_eq!(delivery.status, Some(202));
        assert_eq!(requests.recv().unwrap().header("authorization"), None);
    }

    #[test]
    fn raw_deliveries_send_any_bytes() {
        let (url, requests) = receiver(vec![(400, Duration::ZERO), (200, Duration::ZERO)]);
        let malformed = b"{\"meta\": {\"action\": \"create\"";
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", "Basic d3Jvbmc6Y3JlZHM="),
        ];
        let delivery = deliver_raw(&url, &headers, malformed, Duration::from_secs(5));
        assert_eq!(delivery.status, Some(400));
        assert!(!delivery.succeeded());
        let got = requests.recv().unwrap();
        assert_eq!(got.body, malformed);
        assert_eq!(got.header("authorization"), Some("Basic d3Jvbmc6Y3JlZHM="));
        assert_eq!(got.header("user-agent"), None);

        let big = vec![b'x'; 2 << 20];
        let delivery = deliver_raw(
            &url,
            &[("Content-Type", "application/json")],
            &big,
            Duration::from_secs(10),
        );
        assert_eq!(delivery.status, Some(200));
        assert_eq!(requests.recv().unwrap().body.len(), 2 << 20);
    }

    #[test]
    fn no_answer_in_time_is_no_status() {
        let (url, _requests) = receiver(vec![(200, Duration::from_millis(600))]);
        let timeout = Duration::from_millis(150);
        let delivery = deliver(&url, "u", "p", &json!({}), timeout);
        assert_eq!(delivery.status, None);
        assert!(!delivery.succeeded());
        assert!(delivery.latency >= timeout && delivery.latency < Duration::from_millis(550));

        // Nobody listening.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = deliver(
            &format!("http://127.0.0.1:{port}/"),
            "u",
            "p",
            &json!({}),
            timeout,
        );
        assert_eq!(refused.status, None);
        assert_eq!(refused.body, "");
    }

    #[test]
    fn retries_follow_the_schedule_with_attempt_numbers() {
        let payload = event(
            "create",
            "person",
            Some(&json!({"id": 3})),
            None,
            EventMeta::default(),
        );
        let fast = Duration::ZERO;
        let (url, requests) = receiver(vec![(500, fast), (503, fast), (204, fast)]);
        let started = Instant::now();
        let attempts = deliver_with_retries(&url, "u", "p", &payload, 0.01);
        let statuses: Vec<Option<u16>> = attempts.iter().map(|d| d.status).collect();
        assert_eq!(statuses, [Some(500), Some(503), Some(204)]);
        // Waits of 30 and 300 ms (3 and 30 s scaled).
        assert!(started.elapsed() >= Duration::from_millis(330));
        let sent: Vec<Value> = requests.iter().take(3).map(|r| r.json()).collect();
        let numbers: Vec<&Value> = sent.iter().map(|p| &p["meta"]["attempt"]).collect();
        assert_eq!(numbers, [&json!(1), &json!(2), &json!(3)]);
        assert!(sent
            .iter()
            .all(|p| p["meta"]["id"] == payload["meta"]["id"]));

        // A slow first answer counts as a failure; after four failures Pipedrive gives up.
        let slow = Duration::from_millis(400);
        let (url, requests) = receiver(vec![(200, slow), (500, fast), (404, fast), (302, fast)]);
        let attempts = deliver_with_retries(&url, "u", "p", &payload, 0.01);
        let statuses: Vec<Option<u16>> = attempts.iter().map(|d| d.status).collect();
        assert_eq!(statuses, [None, Some(500), Some(404), Some(302)]);
        let numbers: Vec<Value> = requests
            .iter()
            .take(4)
            .map(|r| r.json()["meta"]["attempt"].clone())
            .collect();
        assert_eq!(numbers, [json!(1), json!(2), json!(3), json!(4)]);
    }

    #[test]
    fn schedule_encoding_and_urls() {
        let delays: Vec<Option<Duration>> = (0..=4).map(retry_delay).collect();
        assert_eq!(
            delays,
            [
                None,
                Some(Duration::from_secs(3)),
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(150)),
                None
            ]
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64("ü:p?>".as_bytes()), "w7w6cD8+");
        let url = parse_url("HTTPS://[::1]:8443").unwrap();
        assert_eq!((url.host, url.port, url.target), ("::1", 8443, "/"));
        let url = parse_url("http://hooks.example.com/in?x=1#frag").unwrap();
        assert_eq!(
            (url.host, url.port, url.target),
            ("hooks.example.com", 80, "/in?x=1")
        );
        for bad in [
            "hooks.example.com/in",
            "ws://x/",
            "http:///in",
            "http://x:99999/",
            "http://a b/",
            "http://u:p@x/",
        ] {
            assert!(parse_url(bad).is_none(), "{bad}");
        }
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}
