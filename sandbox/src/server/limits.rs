//! Pipedrive's rate limits: the rolling burst window, the company's daily token budget, the
//! CDN's block of a client that keeps sending through 429s, and the `x-ratelimit-*` headers
//! that tell a client where it stands.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};

use super::http::{error, Response};
use super::latency::TokenKind;
use super::{lock, Shared};
use crate::data::mix;

/// The rolling window the burst limit counts requests in.
const WINDOW: Duration = Duration::from_secs(2);
/// Burst 429s within one window that the CDN tolerates before it blocks the client.
const TOLERATED_429S: usize = 3;
/// How long (on the fake clock) the CDN blocks a client that kept sending through 429s.
const BLOCK: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

pub(super) struct Limits {
    /// When the requests of the API token's window arrived.
    pub(super) window: VecDeque<Instant>,
    /// The same for OAuth requests (`Authorization: Bearer`): a window of their own.
    pub(super) oauth_window: VecDeque<Instant>,
    /// Company-wide daily token budget; `None` is unlimited.
    pub(super) budget: Option<u64>,
    pub(super) spent: u64,
    pub(super) budget_day: NaiveDate,
    /// Fake-clock times of the recent burst 429s, for the CDN's escalation.
    pub(super) burst_429s: VecDeque<DateTime<Utc>>,
    /// The CDN answers 403 until this fake-clock time.
    pub(super) blocked_until: Option<DateTime<Utc>>,
}

/// What Cloudflare answers a client it has blocked for ignoring 429s (reference §4).
fn cdn_block_page(ray: u64) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<title>Access denied | api.pipedrive.com used Cloudflare to restrict access</title>\n<meta charset=\"UTF-8\" />\n</head>\n<body>\n<div id=\"cf-wrapper\">\n<div id=\"cf-error-details\" class=\"cf-error-details-wrapper\">\n<h1><span class=\"cf-error-type\">Error</span> <span class=\"cf-error-code\">1015</span></h1>\n<h2 class=\"cf-subheadline\">Access denied: you are being rate limited</h2>\n<p>The owner of this website (api.pipedrive.com) has banned you temporarily from accessing this website.</p>\n<p>Cloudflare Ray ID: <strong class=\"font-semibold\">{ray:016x}</strong></p>\n</div>\n</div>\n</body>\n</html>\n"
    )
}

impl Shared {
    /// The CDN's block, the burst window and the daily budget, in that order: the answer that
    /// refuses the request before the API sees it, if any. A refused request costs no tokens.
    pub(super) fn throttle(&self, sequence: u64, kind: TokenKind) -> Option<Response> {
        let mut guard = lock(&self.limits);
        let limits = &mut *guard;
        let clock = self.clock.now();
        if limits.blocked_until.is_some_and(|until| clock < until) {
            // Cloudflare answers before the API sees the request: nothing is counted.
            return Some(Response::html(403, cdn_block_page(mix(sequence))));
        }
        let now = Instant::now();
        let window = match kind {
            TokenKind::ApiToken => &mut limits.window,
            TokenKind::OAuth => &mut limits.oauth_window,
        };
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= self.opts.burst_limit_of(kind) as usize {
            // A client that keeps sending through burst 429s gets blocked by the CDN.
            let span = chrono::TimeDelta::from_std(WINDOW).unwrap_or_default();
            limits.burst_429s.push_back(clock);
            while limits
                .burst_429s
                .front()
                .is_some_and(|t| clock - *t >= span)
            {
                limits.burst_429s.pop_front();
            }
            if limits.burst_429s.len() > TOLERATED_429S {
                limits.blocked_until = Some(clock + BLOCK);
                limits.burst_429s.clear();
            }
            let mut refused = error(429, "Request over limit. Please try again later.");
            refused.burst_refused = true;
            return Some(refused);
        }
        window.push_back(now);
        if let Some(budget) = limits.budget {
            let today = clock.date_naive();
            if today != limits.budget_day {
                limits.budget_day = today;
                limits.spent = 0;
            }
            if limits.spent >= budget {
                // Not counted against the burst window, so `x-ratelimit-remaining` stays
                // above 0: that is how clients tell this 429 from a burst one (§4).
                window.pop_back();
                return Some(error(
                    429,
                    "Daily API token limit reached. Please try again tomorrow.",
                ));
            }
        }
        None
    }

    /// The `x-ratelimit-*` headers (and the daily budget's, where there is one) of the
    /// window of requests with a token of `kind`, as it stands now.
    pub(super) fn rate_headers(&self, kind: TokenKind, burst_refused: bool) -> String {
        let mut guard = lock(&self.limits);
        let limits = &mut *guard;
        let now = Instant::now();
        let window = match kind {
            TokenKind::ApiToken => &mut limits.window,
            TokenKind::OAuth => &mut limits.oauth_window,
        };
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        let limit = self.opts.burst_limit_of(kind) as usize;
        let remaining = match burst_refused {
            true => 0,
            false => limit.saturating_sub(window.len()),
        };
        let reset = window.front().map_or(0, |oldest| {
            let left = WINDOW.saturating_sub(now.duration_since(*oldest));
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        });
        let mut headers = format!(
            "x-ratelimit-limit: {limit}\r\nx-ratelimit-remaining: {remaining}\r\nx-ratelimit-reset: {}\r\n",
            reset.max(1)
        );
        if let Some(budget) = limits.budget {
            headers.push_str(&format!(
                "x-daily-ratelimit-token-limit: {budget}\r\nx-daily-ratelimit-token-remaining: {}\r\n",
                budget.saturating_sub(limits.spent)
            ));
        }
        headers
    }
}
