//! HTTP/1.1 on a socket, std only: reading a request's head and body (chunked or sized, with
//! limits), writing an answer with the API's headers, and the JSON error envelope every refusal
//! uses. Keep-alive connections are served one request at a time until the client hangs up.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::faults::Fault;
use super::latency::TokenKind;
use super::Shared;

pub(super) const ERROR_INFO: &str = "Please check developers.pipedrive.com";
/// Longest request head accepted; real clients send a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
/// Longest request body kept; a webhook's settings take a few hundred bytes, and anything
/// longer is read past (so the connection stays usable) and refused with 413.
const MAX_BODY: u64 = 1024 * 1024;
/// An idle keep-alive connection is dropped after this, like a server-side idle timeout.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) close: bool,
    /// The body, if it was at most `MAX_BODY` bytes.
    pub(super) body: Vec<u8>,
    /// The body was longer than `MAX_BODY` and was read past, not kept.
    pub(super) oversized: bool,
}

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) body: String,
    /// An HTML page from something in front of the API (the CDN, a proxy, the maintenance
    /// page): Content-Type text/html and none of the API's rate-limit headers.
    pub(super) html: bool,
    pub(super) fault: Option<Fault>,
    /// A redirect's target (the OAuth consent page's answer).
    pub(super) location: Option<String>,
    /// A 429 of the burst window: its headers say no request is left in it, even if one left
    /// the window since it was refused.
    pub(super) burst_refused: bool,
}

impl Response {
    pub(super) fn json(status: u16, body: String) -> Response {
        Response {
            status,
            body,
            html: false,
            fault: None,
            location: None,
            burst_refused: false,
        }
    }

    pub(super) fn html(status: u16, body: String) -> Response {
        Response {
            status,
            body,
            html: true,
            fault: None,
            location: None,
            burst_refused: false,
        }
    }
}

pub(super) fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let response = Response::json(400, error_body("Bad request"));
                let rate = shared.rate_headers(TokenKind::ApiToken, false);
                write_response(&mut writer, shared, &response, &rate, true)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // The request travels to the server (where the burst window counts it), is answered,
        // and the answer travels back: this connection's thread waits, no other.
        let latency = shared.opts.latency;
        let draw = shared.latency_draws.fetch_add(1, Ordering::SeqCst);
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        thread::sleep(latency.inbound(draw));
        let response = shared.handle(&request);
        // The rate-limit headers as the window stood when the request was answered.
        let kind = TokenKind::of(request.header("authorization"));
        let rate = shared.rate_headers(kind, response.burst_refused);
        thread::sleep(latency.outbound(draw, response.body.len()));
        if response.fault == Some(Fault::Slow) {
            thread::sleep(shared.opts.faults.slow_by);
        }
        let written = write_response(&mut writer, shared, &response, &rate, request.close);
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        written?;
        // A truncated answer ends with the connection, as when a proxy drops it mid-body.
        if request.close
            || response.fault == Some(Fault::Truncate)
            || shared.stop.load(Ordering::SeqCst)
        {
            return Ok(());
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Reads one request, head and body. `None` means the client closed the connection.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.take(MAX_HEAD as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let line = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if line.is_empty() {
            if head.is_empty() {
                continue; // tolerate stray CRLF between requests (RFC 9112 §2.2)
            }
            break;
        }
        head.push(line);
        if head.iter().map(String::len).sum::<usize>() > MAX_HEAD {
            return Err(invalid("request head too large"));
        }
    }
    let mut parts = head[0].split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    let mut headers = Vec::new();
    for line in &head[1..] {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        close: false,
        body: Vec::new(),
        oversized: false,
    };
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    request.close = connection.contains("close")
        || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    read_body(reader, &mut request)?;
    Ok(Some(request))
}

/// Reads the body framed by chunks or Content-Length, keeping at most `MAX_BODY` bytes.
fn read_body(reader: &mut impl BufRead, request: &mut Request) -> io::Result<()> {
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = match request.header("content-length") {
        Some(v) if !chunked => v
            .parse::<u64>()
            .map_err(|_| invalid("bad content-length"))?,
        _ => 0,
    };
    let mut body = Vec::new();
    let mut oversized = false;
    let mut keep = |reader: &mut dyn Read, n: u64| -> io::Result<()> {
        let room = MAX_BODY.saturating_sub(body.len() as u64);
        let expected = body.len() as u64 + n.min(room);
        reader.take(n.min(room)).read_to_end(&mut body)?;
        if (body.len() as u64) < expected {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if n > room {
            oversized = true;
            io::copy(&mut reader.take(n - room), &mut io::sink())?;
        }
        Ok(())
    };
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = size.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            keep(reader, size)?;
            io::copy(&mut reader.take(2), &mut io::sink())?;
            if size == 0 {
                break;
            }
        }
    } else {
        keep(reader, length)?;
    }
    request.body = body;
    request.oversized = oversized;
    Ok(())
}

fn write_response(
    w: &mut impl Write,
    shared: &Shared,
    response: &Response,
    rate_headers: &str,
    close: bool,
) -> io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let content_type = if response.html {
        "text/html; charset=UTF-8"
    } else {
        "application/json"
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nDate: {}\r\n",
        response.status,
        response.body.len(),
        http_date(shared.clock.now()),
    );
    if response.html {
        head.push_str("Server: cloudflare\r\n");
    } else {
        head.push_str(rate_headers);
    }
    if let Some(location) = &response.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    let body = response.body.as_bytes();
    let sent = if response.fault == Some(Fault::Truncate) {
        &body[..body.len() / 2]
    } else {
        body
    };
    w.write_all(sent)?;
    w.flush()
}

/// RFC 7231 IMF-fixdate.
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn error_body(message: &str) -> String {
    json!({
        "success": false,
        "error": message,
        "error_info": ERROR_INFO,
        "data": null,
        "additional_data": null,
    })
    .to_string()
}

pub(super) fn error(status: u16, message: &str) -> Response {
    Response::json(status, error_body(message))
}

pub(super) fn bad_request(message: impl AsRef<str>) -> Response {
    error(400, message.as_ref())
}

pub(super) fn ok(body: Value) -> Response {
    Response::json(200, body.to_string())
}
