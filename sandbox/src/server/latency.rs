//! What makes the sandbox feel like Pipedrive across the internet rather than on loopback: each
//! answer takes a while (a fixed part, a part per KB of body, seeded jitter), and each plan and
//! kind of token has its own burst limit. A connector's pacing and concurrency are only proved
//! against a server that is slow and strict like the real one.

use std::time::Duration;

use crate::data::mix;

/// How long a request takes, end to end, as seen by the client. Half of the fixed part and of
/// the jitter passes before the request arrives (where the burst window counts it); the rest,
/// with the part per KB of the answer's body, passes before the answer is sent. Each connection
/// has its own thread, so waiting holds no other request back: concurrent requests overlap as
/// they would against a remote server. `Latency::default()` is none (loopback speed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Every request's round trip (Pipedrive: 100–300 ms).
    pub fixed: Duration,
    /// Added per KiB of the answer's body (transfer and server time growing with the page).
    pub per_kb: Duration,
    /// At most this much more, drawn per request from `seed` (uniform).
    pub jitter: Duration,
    pub seed: u64,
}

impl Latency {
    /// `fixed` per request, with a tenth of it as jitter.
    pub fn of(fixed: Duration) -> Latency {
        Latency {
            fixed,
            jitter: fixed / 10,
            ..Latency::default()
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Latency::default()
    }

    /// The wait before request number `n` arrives.
    pub(super) fn inbound(&self, n: u64) -> Duration {
        self.fixed / 2 + self.jitter.mul_f64(draw(self.seed, 2 * n)) / 2
    }

    /// The wait before the answer to request number `n`, of `bytes` bytes, is sent.
    pub(super) fn outbound(&self, n: u64, bytes: usize) -> Duration {
        self.fixed - self.fixed / 2
            + self.jitter.mul_f64(draw(self.seed, 2 * n + 1)) / 2
            + self.per_kb.mul_f64(bytes as f64 / 1024.0)
    }
}

/// A number in [0, 1) from (seed, n).
fn draw(seed: u64, n: u64) -> f64 {
    (mix(seed ^ mix(n)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Pipedrive's plans, for their burst limits per rolling 2 s (reference §4): with the API token
/// 20, 40, 100 and 120 requests; an OAuth app four times that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Lite,
    Growth,
    Premium,
    Ultimate,
}

impl Plan {
    /// Requests per rolling 2 s with the company's API token (`x-api-token`).
    pub fn api_token_burst_limit(self) -> u32 {
        match self {
            Plan::Lite => 20,
            Plan::Growth => 40,
            Plan::Premium => 100,
            Plan::Ultimate => 120,
        }
    }

    /// Requests per rolling 2 s with an OAuth app's access token (`Authorization: Bearer`).
    pub fn oauth_burst_limit(self) -> u32 {
        self.api_token_burst_limit() * OAUTH_FACTOR
    }

    /// The plan named (case-insensitive), as the `sandbox` command takes it.
    pub fn parse(name: &str) -> Option<Plan> {
        match name.to_ascii_lowercase().as_str() {
            "lite" | "essential" => Some(Plan::Lite),
            "growth" | "advanced" => Some(Plan::Growth),
            "premium" => Some(Plan::Premium),
            "ultimate" | "enterprise" => Some(Plan::Ultimate),
            _ => None,
        }
    }
}

/// An OAuth app's burst limit over the API token's, on every plan.
pub(super) const OAUTH_FACTOR: u32 = 4;

/// The kind of token a request carries, which decides the burst window it is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// `x-api-token` (or v1's `api_token` query parameter).
    ApiToken,
    /// `Authorization: Bearer …`, an OAuth app's access token.
    OAuth,
}

impl TokenKind {
    pub(super) fn of(authorization: Option<&str>) -> TokenKind {
        match authorization {
            Some(a)
                if a.trim_start().len() > 7
                    && a.trim_start()[..7].eq_ignore_ascii_case("bearer ") =>
            {
                TokenKind::OAuth
            }
            _ => TokenKind::ApiToken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_fixed_plus_size_plus_seeded_jitter() {
        let l = Latency {
            fixed: Duration::from_millis(150),
            per_kb: Duration::from_millis(2),
            jitter: Duration::from_millis(20),
            seed: 7,
        };
        for n in 0..100 {
            let total = l.inbound(n) + l.outbound(n, 10 * 1024);
            assert!(total >= Duration::from_millis(170), "{total:?}");
            assert!(total < Duration::from_millis(190), "{total:?}");
            assert_eq!(l.inbound(n), l.inbound(n), "seeded");
        }
        let spread: Vec<_> = (0..100).map(|n| l.inbound(n)).collect();
        assert!(spread.iter().any(|d| *d != spread[0]), "jitter varies");
        assert_eq!(Latency::default().inbound(3), Duration::ZERO);
    }

    #[test]
    fn plans_and_kinds_of_token() {
        assert_eq!(Plan::Growth.api_token_burst_limit(), 40);
        assert_eq!(Plan::Growth.oauth_burst_limit(), 160);
        assert_eq!(Plan::Ultimate.oauth_burst_limit(), 480);
        assert_eq!(Plan::parse("LITE"), Some(Plan::Lite));
        assert_eq!(TokenKind::of(Some("Bearer abc")), TokenKind::OAuth);
        assert_eq!(TokenKind::of(Some("bearer abc")), TokenKind::OAuth);
        assert_eq!(TokenKind::of(Some("Basic abc")), TokenKind::ApiToken);
        assert_eq!(TokenKind::of(None), TokenKind::ApiToken);
    }
}
