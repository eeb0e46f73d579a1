//! One delivery's exchange on one connection, apart from sockets so that tests and the fuzz
//! test can drive it with any bytes: the request is read within limits that hold before any
//! credential is checked (one deadline for head and body, `MAX_HEAD` bytes of head, so memory
//! never grows past it however long a line is), the credentials are checked on the head alone,
//! and only then is the body (at most `MAX_BODY`) read and handed over. The head is parsed by
//! `httparse`, the HTTP/1 parser of the Rust ecosystem (hyper's), which works on a byte buffer
//! and does no I/O of its own.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serde_json::json;

/// Request line and headers, blank line included: deliveries need a few hundred bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// The largest body accepted; Pipedrive's payloads are a few KiB.
pub const MAX_BODY: usize = 1024 * 1024;
/// More headers than this is a 431: a delivery sends about ten.
const MAX_HEADERS: usize = 64;
/// Bytes asked of the connection at a time while reading the head.
const CHUNK: usize = 4096;

/// A connection as the exchange sees it: bytes in, bytes out, and reads that must return in time.
pub trait Conn: Read + Write {
    /// The next read must return (with bytes, or failing) within `left`.
    fn limit(&mut self, left: Duration) -> io::Result<()>;
}

/// What an authenticated delivery's body gets: the status and the message to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub message: String,
}

impl Answer {
    pub fn new(status: u16, message: impl Into<String>) -> Answer {
        Answer {
            status,
            message: message.into(),
        }
    }
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The body was handed over and its answer sent.
    Delivered(u16),
    /// Refused before the body was read, and `status` answered: the peer may still be sending.
    Refused {
        status: u16,
        why: &'static str,
        /// Whether the credentials were right (the refusal is then worth a log line of its own).
        authenticated: bool,
    },
    /// Nothing answered: the peer closed or failed, or `admit` said no.
    Gone,
}

/// The head of a request, as far as a delivery needs it.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    post: bool,
    authorized: bool,
    length: Length,
    expect_continue: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Length {
    Missing,
    /// Chunked, or another transfer coding: not accepted.
    Coded,
    Invalid,
    Bytes(u64),
}

/// Reading the head: the bytes so far, never more than `MAX_HEAD`.
#[derive(Debug, Default)]
pub struct HeadReader {
    buf: Vec<u8>,
    /// Where the request line starts: the empty lines HTTP allows before it are no blank line
    /// that ends a head (the parser would say `Partial` for each of them).
    line_at: Option<usize>,
    /// How many times the buffer was parsed.
    #[cfg(test)]
    parses: usize,
}

/// What the head reader made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    More,
    /// The head is whole: it is the first `len` bytes of the buffer, the rest is body.
    Done(usize),
    Refused(u16, &'static str),
}

impl HeadReader {
    /// How many more bytes the head may take.
    fn room(&self) -> usize {
        MAX_HEAD - self.buf.len()
    }

    /// Takes bytes just read (at most `room()`) and says whether the head is whole. The buffer
    /// is parsed only when a blank line after the request line may have come (and the first
    /// such parse ends the head, whole or malformed), so a head that trickles in costs linear
    /// time.
    fn feed(&mut self, bytes: &[u8]) -> Progress {
        debug_assert!(bytes.len() <= self.room());
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        if self.line_at.is_none() {
            self.line_at = bytes
                .iter()
                .position(|b| !matches!(b, b'\r' | b'\n'))
                .map(|i| start + i);
        }
        let blank_line = self.line_at.is_some_and(|line_at| {
            let new = &self.buf[start.saturating_sub(2).max(line_at)..];
            new.windows(2).any(|w| w == b"\n\n") || new.windows(3).any(|w| w == b"\n\r\n")
        });
        if blank_line {
            #[cfg(test)]
            {
                self.parses += 1;
            }
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::Request::new(&mut headers).parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => return Progress::Done(len),
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Progress::Refused(431, "too many headers")
                }
                Err(_) => return Progress::Refused(400, "malformed request head"),
            }
        }
        if self.room() == 0 {
            return Progress::Refused(431, "request line and headers too large");
        }
        Progress::More
    }

    /// The head of a whole request (`Progress::Done(len)`), checked against `expected_auth`.
    fn head(&self, len: usize, expected_auth: &[u8]) -> Head {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        // Parsed before: `Done` is only said of a buffer that parses whole.
        let _ = request.parse(&self.buf[..len]);
        let method = request.method;
        let headers: &[httparse::Header<'_>] = request.headers;
        let named = |name: &'static str| {
            headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let auths: Vec<&[u8]> = named("authorization").collect();
        let authorized = match auths.as_slice() {
            [one] => same_secret(one, expected_auth),
            // None, or several: the second could be the one a proxy checked.
            _ => false,
        };
        let lengths: Vec<&[u8]> = named("content-length").collect();
        let length = if named("transfer-encoding").next().is_some() {
            Length::Coded
        } else {
            match lengths.split_first() {
                None => Length::Missing,
                Some((first, rest)) => match content_length(first) {
                    Some(n) if rest.iter().all(|l| content_length(l) == Some(n)) => {
                        Length::Bytes(n)
                    }
                    _ => Length::Invalid,
                },
            }
        };
        Head {
            post: method == Some("POST"),
            authorized,
            length,
            expect_continue: named("expect").any(|v| v.eq_ignore_ascii_case(b"100-continue")),
        }
    }
}

fn content_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Compares without stopping at the first difference, so timing tells nothing of the secret.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
    }
    diff == 0
}

/// One read before `deadline`: `Ok(0)` when the peer has closed, `TimedOut` once the deadline
/// has passed.
fn read_before<C: Conn>(conn: &mut C, deadline: Instant, buf: &mut [u8]) -> io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    conn.limit(left)?;
    conn.read(buf)
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Reads one request from `conn` before `deadline` and answers it. An authenticated request
/// with a body of an acceptable length is first `admit`ted (the server marks it as one not to
/// close for room; `false`: it was closed already), then its body is read and given to
/// `deliver`, whose answer is sent. Anything else is answered without reading further.
pub fn exchange<C: Conn>(
    conn: &mut C,
    deadline: Instant,
    expected_auth: &[u8],
    admit: &mut dyn FnMut() -> bool,
    deliver: &mut dyn FnMut(&[u8]) -> Answer,
) -> Ending {
    let mut reader = HeadReader::default();
    let mut chunk = [0u8; CHUNK];
    let head_len = loop {
        let want = reader.room().min(CHUNK);
        let n = match read_before(conn, deadline, &mut chunk[..want]) {
            Ok(0) => return Ending::Gone,
            Ok(n) => n,
            Err(e) if timed_out(&e) => {
                return refuse(conn, 408, "the request took too long", false);
            }
            Err(_) => return Ending::Gone,
        };
        match reader.feed(&chunk[..n]) {
            Progress::More => {}
            Progress::Done(len) => break len,
            Progress::Refused(status, why) => return refuse(conn, status, why, false),
        }
    };
    let head = reader.head(head_len, expected_auth);
    if !head.post {
        return refuse(conn, 405, "deliveries are POSTs", false);
    }
    if !head.authorized {
        return refuse(conn, 401, "wrong or missing credentials", false);
    }
    let length = match head.length {
        Length::Bytes(n) if n > MAX_BODY as u64 => {
            return refuse(conn, 413, "body over the 1 MiB limit", true);
        }
        Length::Bytes(n) => n as usize,
        Length::Missing | Length::Coded => {
            return refuse(conn, 411, "Content-Length required", true)
        }
        Length::Invalid => return refuse(conn, 400, "bad Content-Length", true),
    };
    if !admit() {
        return Ending::Gone;
    }
    let mut body = reader.buf.split_off(head_len);
    drop(reader);
    body.truncate(length);
    if body.len() < length && head.expect_continue && send_continue(conn).is_err() {
        return Ending::Gone;
    }
    let have = body.len();
    body.resize(length, 0);
    let mut filled = have;
    while filled < length {
        match read_before(conn, deadline, &mut body[filled..]) {
            Ok(0) => return Ending::Gone,
            Ok(n) => filled += n,
            Err(e) if timed_out(&e) => {
                return refuse(conn, 408, "the request took too long", true);
            }
            Err(_) => return Ending::Gone,
        }
    }
    let answer = deliver(&body);
    drop(body);
    match respond(conn, answer.status, &answer.message) {
        Ok(()) => Ending::Delivered(answer.status),
        Err(_) => Ending::Gone,
    }
}

/// Tells a client that waits for it (`Expect: 100-continue`) to send the body.
fn send_continue<C: Conn>(conn: &mut C) -> io::Result<()> {
    conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    conn.flush()
}

fn refuse<C: Conn>(conn: &mut C, status: u16, why: &'static str, authenticated: bool) -> Ending {
    match respond(conn, status, why) {
        Ok(()) => Ending::Refused {
            status,
            why,
            authenticated,
        },
        Err(_) => Ending::Gone,
    }
}

/// Writes a whole answer: `status`, and a small JSON body saying `message`.
pub fn respond<W: Write>(conn: &mut W, status: u16, message: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let body = json!({ "status": status, "message": message }).to_string();
    let auth = if status == 401 {
        "WWW-Authenticate: Basic realm=\"source-pipedrive\"\r\n"
    } else {
        ""
    };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A connection made of given reads (each `Vec` one read's bytes), keeping what is written.
    pub struct Scripted {
        pub reads: std::collections::VecDeque<Vec<u8>>,
        pub written: Vec<u8>,
    }

    impl Scripted {
        pub fn new(chunks: Vec<Vec<u8>>) -> Scripted {
            Scripted {
                reads: chunks.into(),
                written: Vec::new(),
            }
        }

        /// The status of the last answer written, if any.
        pub fn status(&self) -> Option<u16> {
            let text = String::from_utf8_lossy(&self.written);
            let last = text.rfind("HTTP/1.1 ")?;
            text[last + 9..].get(..3)?.parse().ok()
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut next) = self.reads.pop_front() else {
                return Ok(0);
            };
            let n = next.len().min(buf.len());
            buf[..n].copy_from_slice(&next[..n]);
            if n < next.len() {
                self.reads.push_front(next.split_off(n));
            }
            Ok(n)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Conn for Scripted {
        fn limit(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    pub const AUTH: &str = "Basic dXNlcjpwYXNzd29yZC0xMjM0";

    pub fn request(auth: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "POST /hooks HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    /// Runs one exchange over `chunks`; the bodies delivered, and the connection.
    pub fn run(chunks: Vec<Vec<u8>>) -> (Ending, Vec<Vec<u8>>, Scripted) {
        let mut conn = Scripted::new(chunks);
        let mut delivered = Vec::new();
        let ending = exchange(
            &mut conn,
            Instant::now() + Duration::from_secs(3600),
            AUTH.as_bytes(),
            &mut || true,
            &mut |body| {
                delivered.push(body.to_vec());
                Answer::new(200, "ok")
            },
        );
        (ending, delivered, conn)
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"Basic abc", b"Basic abc"));
        assert!(!same_secret(b"Basic abd", b"Basic abc"));
        assert!(!same_secret(b"Basic ab", b"Basic abc"));
        assert!(!same_secret(b"", b"Basic abc"));
    }

    #[test]
    fn a_delivery_in_any_pieces_is_handed_over_whole() {
        let body = br#"{"meta":{"id":"1"}}"#;
        let whole = request(AUTH, body);
        for size in [1, 2, 3, 7, 64, whole.len()] {
            let chunks = whole.chunks(size).map(<[u8]>::to_vec).collect();
            let (ending, delivered, conn) = run(chunks);
            assert_eq!(ending, Ending::Delivered(200), "pieces of {size}");
            assert_eq!(delivered, vec![body.to_vec()]);
            assert_eq!(conn.status(), Some(200));
        }
    }

    #[test]
    fn refusals_come_before_the_body_is_read() {
        let body = b"{}".to_vec();
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (request("Basic d3Jvbmc=", &body), 401),
            (
                b"GET /hooks HTTP/1.1\r\nAuthorization: x\r\n\r\n".to_vec(),
                405,
            ),
            (
                format!("POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\n\r\n").into_bytes(),
                411,
            ),
            (
                format!(
                    "POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                .into_bytes(),
                411,
            ),
            (
                format!("POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}")
                    .into_bytes(),
                400,
            ),
            (
                format!("POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\nContent-Length: -1\r\n\r\n")
                    .into_bytes(),
                400,
            ),
            (
                format!(
                    "POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\nContent-Length: 1048577\r\n\r\n"
                )
                .into_bytes(),
                413,
            ),
            (
                format!("POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\nAuthorization: {AUTH}\r\nContent-Length: 2\r\n\r\n{{}}")
                    .into_bytes(),
                401,
            ),
            (b"\x00\x01 nonsense\r\n\r\n".to_vec(), 400),
        ];
        for (bytes, status) in cases {
            let (ending, delivered, conn) = run(vec![bytes.clone()]);
            assert!(
                matches!(ending, Ending::Refused { status: s, .. } if s == status),
                "{}: {ending:?}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(conn.status(), Some(status));
            assert!(delivered.is_empty());
        }
    }

    #[test]
    fn a_head_without_end_is_cut_at_the_cap() {
        // One endless header line, fed as fast as it comes: the reader stops at MAX_HEAD.
        let mut conn = Scripted::new(Vec::new());
        let line = b"POST / HTTP/1.1\r\nX-Long: ".to_vec();
        let sent = line.len() + 1000 * 1000;
        conn.reads.push_back(line);
        for _ in 0..1000 {
            conn.reads.push_back(vec![b'a'; 1000]);
        }
        let ending = exchange(
            &mut conn,
            Instant::now() + Duration::from_secs(3600),
            AUTH.as_bytes(),
            &mut || true,
            &mut |_| unreachable!("nothing is delivered"),
        );
        assert!(matches!(ending, Ending::Refused { status: 431, .. }));
        let read = sent - conn.reads.iter().map(Vec::len).sum::<usize>();
        assert_eq!(read, MAX_HEAD, "not a byte past the cap is read");
    }

    #[test]
    fn a_head_is_parsed_once_however_it_trickles() {
        // Empty lines before the request line (HTTP allows them), then a head whose lines end
        // in every way, each byte a read of its own.
        let mut bytes = b"\r\n\n".repeat(2000);
        bytes.extend_from_slice(b"POST / HTTP/1.1\nHost: x\r\nX: a\n\r\n");
        let mut reader = HeadReader::default();
        let mut progress = Vec::new();
        for b in &bytes {
            progress.push(reader.feed(&[*b]));
        }
        assert_eq!(progress.last(), Some(&Progress::Done(bytes.len())));
        assert!(progress[..bytes.len() - 1]
            .iter()
            .all(|p| *p == Progress::More));
        assert_eq!(reader.parses, 1);
        // Nothing but empty lines: no parse at all, and the cap still holds.
        let mut reader = HeadReader::default();
        let mut last = Progress::More;
        while last == Progress::More {
            last = reader.feed(b"\r\n");
        }
        assert_eq!(
            last,
            Progress::Refused(431, "request line and headers too large")
        );
        assert_eq!(reader.parses, 0);
    }

    #[test]
    fn expect_continue_is_answered_before_the_body() {
        let body = b"{}";
        let head = format!(
            "POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        );
        let (ending, delivered, conn) = run(vec![head.into_bytes(), body.to_vec()]);
        assert_eq!(ending, Ending::Delivered(200));
        assert_eq!(delivered, vec![body.to_vec()]);
        assert!(conn
            .written
            .starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"));
    }

    #[test]
    fn the_deadline_covers_head_and_body() {
        struct Slow(Scripted);
        impl Read for Slow {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_millis(30));
                self.0.read(&mut buf[..1])
            }
        }
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Conn for Slow {
            fn limit(&mut self, _: Duration) -> io::Result<()> {
                Ok(())
            }
        }
        // Every read brings a byte, so no read times out: only the whole request's deadline
        // can end it.
        let mut conn = Slow(Scripted::new(vec![request(AUTH, &[b' '; 100])]));
        let started = Instant::now();
        let ending = exchange(
            &mut conn,
            started + Duration::from_millis(300),
            AUTH.as_bytes(),
            &mut || true,
            &mut |_| unreachable!("the deadline passes first"),
        );
        assert!(matches!(ending, Ending::Refused { status: 408, .. }));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(conn.0.status(), Some(408));
    }

    #[test]
    fn a_delivery_not_admitted_is_left_unread() {
        let mut conn = Scripted::new(vec![request(AUTH, b"{}")]);
        let ending = exchange(
            &mut conn,
            Instant::now() + Duration::from_secs(60),
            AUTH.as_bytes(),
            &mut || false,
            &mut |_| unreachable!("not admitted"),
        );
        assert_eq!(ending, Ending::Gone);
        assert!(conn.written.is_empty());
    }
}
