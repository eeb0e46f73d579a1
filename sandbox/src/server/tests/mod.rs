//! The server's tests: a small keep-alive client, and the helpers the topic modules share
//! (walking pages, brute-force expectations, sandboxes with faults).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use chrono::DateTime;
use serde_json::{json, Value};

use super::http::ERROR_INFO;
use super::pagination::{decode_cursor, encode_cursor};
use super::params::split_target;
use super::*;
use crate::data::MAIL_FOLDERS;

mod children;
mod faults;
mod fields;
mod legacy_routes;
mod limits;
mod lists;
mod oauth;
mod routing;
mod webhook_api;

/// A keep-alive HTTP/1.1 client just big enough to talk to the sandbox.
struct Client {
    reader: BufReader<TcpStream>,
    token: Option<String>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn ids(&self) -> Vec<Value> {
        self.body["data"]
            .as_array()
            .map(|d| d.iter().map(|r| r["id"].clone()).collect())
            .unwrap_or_default()
    }
}

impl Client {
    fn new(sandbox: &Sandbox) -> Client {
        let stream = TcpStream::connect(sandbox.addr).unwrap();
        Client {
            reader: BufReader::new(stream),
            token: Some(sandbox.shared.opts.api_key.clone()),
        }
    }

    fn request(&mut self, method: &str, target: &str) -> Reply {
        self.send(method, target, None, b"")
    }

    /// A request with a body of `content_type` (none: no Content-Type header).
    fn send(
        &mut self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: sandbox\r\n");
        if let Some(token) = &self.token {
            head.push_str(&format!("x-api-token: {token}\r\n"));
        }
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let Some((k, v)) = line.trim_end().split_once(": ") else {
                break;
            };
            headers.push((k.to_string(), v.to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "Content-Length")
            .unwrap()
            .1
            .parse()
            .unwrap();
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        // HTML pages (the CDN's, injected faults) come back as a JSON string.
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
        Reply {
            status,
            headers,
            body,
        }
    }

    fn get(&mut self, target: &str) -> Reply {
        self.request("GET", target)
    }

    /// Follows next_cursor to the end and returns every id served.
    fn walk_cursor(&mut self, target: &str) -> Vec<Value> {
        ids_of(&self.walk_cursor_rows(target))
    }

    /// Follows next_cursor to the end and returns every row served.
    fn walk_cursor_rows(&mut self, target: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{target}&cursor={c}"),
                None => target.to_string(),
            };
            let reply = self.get(&url);
            assert_eq!(reply.status, 200, "{url}: {}", reply.body);
            rows.extend(reply.body["data"].as_array().cloned().unwrap_or_default());
            match reply.body["additional_data"]["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return rows,
            }
        }
    }

    fn walk_offset(&mut self, target: &str) -> Vec<Value> {
        ids_of(&self.walk_offset_rows(target))
    }

    fn walk_offset_rows(&mut self, target: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut start = 0;
        loop {
            let reply = self.get(&format!("{target}&start={start}"));
            assert_eq!(reply.status, 200, "{}", reply.body);
            rows.extend(reply.body["data"].as_array().cloned().unwrap_or_default());
            let extra = &reply.body["additional_data"];
            let pagination = if target.contains("/leads") {
                assert!(extra.get("pagination").is_none(), "leads paginate flat");
                extra
            } else {
                &extra["pagination"]
            };
            if pagination["more_items_in_collection"] != true {
                assert!(pagination.get("next_start").is_none());
                return rows;
            }
            start = match pagination["next_start"].as_u64() {
                Some(next) => next,
                None => {
                    pagination["start"].as_u64().unwrap() + pagination["limit"].as_u64().unwrap()
                }
            };
        }
    }

    /// For v1 lists whose responses carry no pagination block: asks for the next `limit`
    /// rows until a page comes back empty.
    fn walk_blind(&mut self, target: &str, limit: u64) -> Vec<Value> {
        let mut rows = Vec::new();
        loop {
            let url = format!("{target}&limit={limit}&start={}", rows.len());
            let reply = self.get(&url);
            assert_eq!(reply.status, 200, "{url}: {}", reply.body);
            assert!(reply.body.get("additional_data").is_none(), "{url}");
            match reply.body["data"].as_array() {
                Some(page) => rows.extend(page.iter().cloned()),
                None => return rows,
            }
        }
    }
}

fn ids_of(rows: &[Value]) -> Vec<Value> {
    rows.iter().map(|r| r["id"].clone()).collect()
}

fn start(size: u64) -> Sandbox {
    Sandbox::start(SandboxOptions {
        size,
        burst_limit: 100_000,
        ..SandboxOptions::default()
    })
    .unwrap()
}

fn secs(v: &Value) -> i64 {
    let s = v.as_str().unwrap();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .unwrap_or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp()
        })
}

/// The ids a filter should return, computed the slow way from `records()`.
fn brute(
    records: &[Value],
    keep: impl Fn(&Value) -> bool,
    by_update: bool,
    desc: bool,
) -> Vec<Value> {
    let mut rows: Vec<&Value> = records.iter().filter(|r| keep(r)).collect();
    rows.sort_by_key(|r| {
        (
            if by_update {
                secs(&r["update_time"])
            } else {
                0
            },
            r["id"].as_u64(),
        )
    });
    if desc {
        rows.reverse();
    }
    rows.iter().map(|r| r["id"].clone()).collect()
}

/// Rows minus the ones an endpoint leaves out by default (deleted deals and projects).
fn listed(records: Vec<Value>) -> Vec<Value> {
    ids_of(
        &records
            .into_iter()
            .filter(|r| r["status"] != "deleted")
            .collect::<Vec<_>>(),
    )
}

/// A sandbox that injects faults, with limits out of the way.
fn faulty(faults: Faults) -> Sandbox {
    Sandbox::start(SandboxOptions {
        size: 20,
        burst_limit: 100_000,
        faults,
        ..SandboxOptions::default()
    })
    .unwrap()
}
