//! Injected failures: which request gets one (a pure function of the fault seed and the request's
//! number) and the answer that takes the API's place, so clients meet the 5xx, HTML pages, cut
//! bodies and slow answers of the real service in a reproducible way; and the lists that page
//! wrongly (cursors in a circle, pages that do not say whether more follow).

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{error, Response};
use super::{lock, Shared};
use crate::data::mix;

/// Failures of the kind a client meets on the real API now and then, injected at the given
/// rates (each a probability per request; together at most 1). Whether request number `n`
/// (counted from 0 over every request the sandbox receives) gets one is a pure function of
/// (`seed`, `n`), so a run with one client is reproducible.
///
/// The rule for which requests can fail: authorized GETs of the data endpoints, i.e. every
/// path the sandbox serves except `/v1/users/me` (which connectors use as their connection
/// check) unless `include_users_me` is set. Requests refused before that (401, 403 from the
/// CDN, 429, `deny`, 404, 405) never carry a fault.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub seed: u64,
    /// 500 or 502 with the JSON error envelope, or 503 (scheduled maintenance) as JSON or as
    /// an HTML page. Costs no tokens: the request never reached the API.
    pub server_error_rate: f64,
    /// A 200 whose headers promise the whole body (Content-Length) but whose connection closes
    /// after part of it.
    pub truncate_rate: f64,
    /// A 200 with Content-Type text/html and an HTML error page instead of JSON. Costs no tokens.
    pub html_rate: f64,
    /// The right answer, sent after `slow_by`, to run into client read timeouts.
    pub slow_rate: f64,
    pub slow_by: Duration,
    /// Let `/v1/users/me` fail too.
    pub include_users_me: bool,
    /// The path of a v2 cursor list that pages in a circle, as a buggy API could: its first
    /// page answers `next_cursor` A, page A answers B, and page B answers A again, for ever.
    pub cursor_cycle: Option<String>,
    /// A v2 cursor list whose answers come without `additional_data`, so without
    /// `next_cursor`: they do not say whether more pages follow.
    pub unsaid: Option<Unsaid>,
}

/// Which answers of one v2 cursor list leave out `additional_data` (`Faults::unsaid`). The
/// pages themselves are cut as usual; only what they say of the pages after them is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsaid {
    /// The list's path, e.g. `/api/v2/persons`.
    pub path: String,
    /// Only the last page (the one whose `next_cursor` would be null) loses it; otherwise
    /// every page does.
    pub last_page_only: bool,
}

impl Unsaid {
    /// Every page of the list at `path` comes without `additional_data`.
    pub fn every_page(path: &str) -> Unsaid {
        Unsaid {
            path: path.to_string(),
            last_page_only: false,
        }
    }

    /// Only the last page of the list at `path` comes without `additional_data`.
    pub fn last_page(path: &str) -> Unsaid {
        Unsaid {
            path: path.to_string(),
            last_page_only: true,
        }
    }

    /// A page of its list, without `additional_data` if this page is to lose it.
    pub(super) fn apply(&self, mut response: Response) -> Response {
        let Ok(mut body) = serde_json::from_str::<Value>(&response.body) else {
            return response;
        };
        let last = body["additional_data"]["next_cursor"].is_null();
        if let (true, Some(envelope)) = (last || !self.last_page_only, body.as_object_mut()) {
            envelope.remove("additional_data");
            response.body = body.to_string();
        }
        response
    }
}

/// A fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    ServerError(u16),
    /// A 503 answered with the maintenance page rather than JSON.
    Maintenance,
    Truncate,
    Html,
    Slow,
}

impl Fault {
    pub(super) fn name(self) -> String {
        match self {
            Fault::ServerError(status) => format!("server_error_{status}"),
            Fault::Maintenance => "server_error_503_html".into(),
            Fault::Truncate => "truncate".into(),
            Fault::Html => "html".into(),
            Fault::Slow => "slow".into(),
        }
    }

    /// Whether the fault replaces the API's answer (so no tokens are spent).
    pub(super) fn replaces_answer(self) -> bool {
        !matches!(self, Fault::Truncate | Fault::Slow)
    }
}

impl Faults {
    /// One uniform draw per request against the rates laid end to end.
    pub(super) fn pick(&self, sequence: u64) -> Option<Fault> {
        let z = mix(self.seed ^ mix(sequence));
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        let server_error = match z % 3 {
            0 => Fault::ServerError(500),
            1 => Fault::ServerError(502),
            _ if (z >> 2) & 1 == 0 => Fault::ServerError(503),
            _ => Fault::Maintenance,
        };
        let mut edge = 0.0;
        for (rate, fault) in [
            (self.server_error_rate, server_error),
            (self.truncate_rate, Fault::Truncate),
            (self.html_rate, Fault::Html),
            (self.slow_rate, Fault::Slow),
        ] {
            edge += rate;
            if u < edge {
                return Some(fault);
            }
        }
        None
    }
}

impl Shared {
    /// A page of the list `Faults::cursor_cycle` names, its `next_cursor` bent into a circle:
    /// the page after cursor B points back at A, so A, B, A, B, … never ends.
    pub(super) fn cycle_cursor(&self, asked: Option<&str>, mut response: Response) -> Response {
        let Ok(mut body) = serde_json::from_str::<Value>(&response.body) else {
            return response;
        };
        let mut served = lock(&self.cycle);
        let next = &mut body["additional_data"]["next_cursor"];
        if served.len() == 2 && asked == Some(served[1].as_str()) {
            *next = json!(served[0]);
        } else if let (true, Some(c)) = (served.len() < 2, next.as_str()) {
            if !served.iter().any(|s| s == c) {
                served.push(c.to_string());
            }
        }
        response.body = body.to_string();
        response
    }
}

/// The page a proxy in front of the API serves when it cannot reach it.
const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Pipedrive</title></head>\n<body>\n<h1>Something went wrong</h1>\n<p>We could not complete your request. Please try again in a moment.</p>\n</body>\n</html>\n";

/// Pipedrive's scheduled-maintenance page.
const MAINTENANCE_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Pipedrive is under maintenance</title></head>\n<body>\n<h1>We&rsquo;ll be back shortly</h1>\n<p>Pipedrive is undergoing scheduled maintenance.</p>\n</body>\n</html>\n";

/// The answer a fault that replaces the API's puts in its place.
pub(super) fn fault_response(fault: Fault) -> Response {
    let mut response = match fault {
        Fault::ServerError(500) => error(500, "Internal server error"),
        Fault::ServerError(502) => error(502, "Bad gateway"),
        Fault::ServerError(status) => error(status, "Service unavailable: scheduled maintenance"),
        Fault::Maintenance => Response::html(503, MAINTENANCE_PAGE.to_string()),
        // Truncated and slow answers keep the API's answer and never come here.
        Fault::Html | Fault::Truncate | Fault::Slow => {
            Response::html(200, HTML_ERROR_PAGE.to_string())
        }
    };
    response.fault = Some(fault);
    response
}
