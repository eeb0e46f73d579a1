//! A std-only HTTP/1.1 client just big enough for deliveries: absolute URL parsing, one
//! request per connection with a deadline on the whole exchange, answers framed by length,
//! chunks or the end of the connection, and base64 for basic auth.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Longest answer kept from a receiver; its body is only for a test to look at.
const MAX_ANSWER: u64 = 1024 * 1024;

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
pub(super) fn exchange(
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
pub(super) fn dechunk(mut raw: &[u8]) -> Vec<u8> {
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
pub(super) fn base64(bytes: &[u8]) -> String {
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
