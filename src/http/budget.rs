//! The user's caps on what a sync may spend of the company's daily token budget. That budget
//! is shared by every user, app and integration of the company, and once it is spent all of
//! them get 429s until midnight: a sync must be able to stop short of it. Two caps, both
//! checked here, in the one client, before a request is sent, against what that request costs
//! (the stream table's token cost):
//!
//! - `max_tokens_per_sync`: the request would take this sync's tokens above the cap;
//! - `daily_budget_reserve_percent`: the request would take the company's daily tokens left
//!   under that share of its daily limit, both as Pipedrive last reported them
//!   (`x-daily-ratelimit-token-limit`, `x-daily-ratelimit-token-remaining`), less what our own
//!   requests on their way will cost. Pipedrive does not always send these headers (not at all
//!   on some accounts, not for the first requests after a long pause): without both, this cap
//!   cannot be checked, and is not.
//!
//! Once a request is held back, every later one is too (the stop is latched), so a cheaper
//! request cannot slip out after a dearer one was refused: the sync stops where it is. What a
//! request costs is counted when it is sent (so concurrent requests cannot together overshoot a
//! cap) and given back when it is answered 429 (a refused request costs nothing); one that got no
//! answer at all stays counted, as it may have reached Pipedrive.
//!
//! Answers to concurrent requests arrive in any order, so the last daily figure received is not
//! always the newest: a request Pipedrive charged first may be answered last, and its figure then
//! leaves out our requests it charged after. Taken as the truth, it would overstate what is left
//! and let a request through past the reserve. So a figure no higher than the one we hold is
//! believed (it is newer, or other tools spent); a higher one is older, and dropped, unless our
//! requests in flight alongside it cannot explain the rise, with a tenth of the daily limit to
//! spare for other tools: then it is a new day's budget (or a new limit).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use super::counters::Counters;
use crate::config::TokenCaps as Caps;

/// The limit that held a request back.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// `max_tokens_per_sync`.
    Sync { max: u64 },
    /// `daily_budget_reserve_percent` of the daily limit Pipedrive reported.
    DailyReserve {
        percent: f64,
        daily_limit: u64,
        /// The daily tokens left before the request, as reported less our requests in flight.
        left: u64,
        /// The reserve in tokens: `percent` of `daily_limit`, rounded up.
        reserve: u64,
    },
}

/// A request the budget held back, which stops the sync: which limit, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStop {
    pub limit: Limit,
    /// The request held back (path and query, never the key).
    pub target: String,
    /// What it would have cost.
    pub cost: u32,
    /// Tokens the sync had spent when it stopped.
    pub spent: u64,
}

impl BudgetStop {
    /// The config key of the limit, as users know it.
    pub fn setting(&self) -> &'static str {
        match self.limit {
            Limit::Sync { .. } => "max_tokens_per_sync",
            Limit::DailyReserve { .. } => "daily_budget_reserve_percent",
        }
    }
}

impl fmt::Display for BudgetStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (target, cost, spent) = (&self.target, self.cost, self.spent);
        match &self.limit {
            Limit::Sync { max } => write!(
                f,
                "{target} was not sent: at ~{cost} tokens it would take this sync from ~{spent} to \
                 ~{} tokens, over `max_tokens_per_sync` ({max})",
                spent + u64::from(cost)
            ),
            Limit::DailyReserve {
                percent,
                daily_limit,
                left,
                reserve,
            } => write!(
                f,
                "{target} was not sent: Pipedrive reports ~{left} of the company's {daily_limit} daily \
                 tokens left, and at ~{cost} tokens it would leave fewer than the reserve of \
                 `daily_budget_reserve_percent` ({percent}%: {reserve} tokens), which the company's \
                 other tools keep"
            ),
        }
    }
}

/// What the daily headers said, less our requests sent since.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Daily {
    limit: u64,
    /// Tokens left: as reported, less what our requests in flight will cost (may go negative
    /// when other tools spend too).
    left: i64,
}

#[derive(Debug, Default)]
struct Ledger {
    /// Tokens of the requests sent and not refused.
    spent: u64,
    /// Tokens of the requests sent and not answered yet.
    in_flight: u64,
    /// Tokens of every request sent, and of every request settled (answered or given up), since
    /// the client started: what was in flight alongside a request is told from these.
    sent_total: u64,
    settled_total: u64,
    daily: Option<Daily>,
    /// The daily limit and tokens left of the newest report, as Pipedrive sent them.
    reported: Option<(u64, u64)>,
    stopped: Option<BudgetStop>,
}

/// A request let through: what it costs, and what had been settled when it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ticket {
    cost: u32,
    settled_before: u64,
}

/// Whether a daily report `(limit, remaining)` is newer than the one we hold (`known`).
/// `alongside` is the cost of our other requests in flight while the reporting one was: our
/// requests Pipedrive may have charged after it, which an older report leaves out.
fn is_newer(known: Option<(u64, u64)>, report: (u64, u64), alongside: u64) -> bool {
    match known {
        Some((limit, remaining)) if limit == report.0 && report.1 > remaining => {
            report.1 - remaining > alongside + limit / 10
        }
        _ => true,
    }
}

/// The limit a request of `cost` tokens would cross, if any. `spent` is this sync's tokens so
/// far, `daily` the company's daily limit and tokens left as last known.
fn crossed(caps: &Caps, spent: u64, daily: Option<Daily>, cost: u32) -> Option<Limit> {
    let cost = u64::from(cost);
    if let Some(max) = caps.max_tokens {
        if spent + cost > max {
            return Some(Limit::Sync { max });
        }
    }
    let (Some(percent), Some(d)) = (caps.reserve_percent, daily) else {
        return None;
    };
    let reserve = caps.daily_reserve(d.limit)?;
    if d.left - (cost as i64) < reserve as i64 {
        return Some(Limit::DailyReserve {
            percent,
            daily_limit: d.limit,
            left: d.left.max(0) as u64,
            reserve,
        });
    }
    None
}

/// A request target cut to a readable length: a batch of children names up to 100 parent ids.
fn short(target: &str) -> String {
    const MAX: usize = 120;
    match target.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &target[..end]),
        None => target.to_string(),
    }
}

/// The ledger of one client: what its requests cost, checked against the caps.
#[derive(Debug, Default)]
pub(super) struct Budget {
    caps: Caps,
    ledger: Mutex<Ledger>,
}

impl Budget {
    pub(super) fn new(caps: Caps) -> Budget {
        Budget {
            caps,
            ledger: Mutex::default(),
        }
    }

    pub(super) fn caps(&self) -> Caps {
        self.caps
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a request of `cost` tokens go, counting it, or holds it back (and every later one).
    /// The ticket goes back with its answer (`answered`) or its failure (`unanswered`).
    pub(super) fn admit(
        &self,
        cost: u32,
        target: &str,
        counters: &Counters,
    ) -> Result<Ticket, BudgetStop> {
        let mut l = self.ledger();
        if let Some(stop) = &l.stopped {
            return Err(stop.clone());
        }
        if let Some(limit) = crossed(&self.caps, l.spent, l.daily, cost) {
            let stop = BudgetStop {
                limit,
                target: short(target),
                cost,
                spent: l.spent,
            };
            l.stopped = Some(stop.clone());
            return Err(stop);
        }
        l.spent += u64::from(cost);
        l.in_flight += u64::from(cost);
        l.sent_total += u64::from(cost);
        if let Some(d) = &mut l.daily {
            d.left -= i64::from(cost);
        }
        counters.tokens.store(l.spent, Ordering::Relaxed);
        Ok(Ticket {
            cost,
            settled_before: l.settled_total,
        })
    }

    /// The request of `ticket` was answered: `refused` (429) gives its tokens back; the daily
    /// headers, when both came and are not older than what we know, less our other requests in
    /// flight, are the new figures.
    pub(super) fn answered(
        &self,
        ticket: Ticket,
        refused: bool,
        daily: Option<(u64, u64)>,
        counters: &Counters,
    ) {
        let mut l = self.ledger();
        let cost = u64::from(ticket.cost);
        l.in_flight = l.in_flight.saturating_sub(cost);
        l.settled_total += cost;
        if refused {
            l.spent = l.spent.saturating_sub(cost);
            if let Some(d) = &mut l.daily {
                d.left += cost as i64;
            }
        }
        if let Some((limit, remaining)) = daily {
            // Sent before its answer came, not settled before it went: ours alongside it.
            let alongside = l.sent_total - ticket.settled_before - cost;
            if is_newer(l.reported, (limit, remaining), alongside) {
                l.reported = Some((limit, remaining));
                l.daily = Some(Daily {
                    limit,
                    left: remaining as i64 - l.in_flight as i64,
                });
                counters.daily_limit.store(limit, Ordering::Relaxed);
                counters.daily_remaining.store(remaining, Ordering::Relaxed);
            } else if let Some(d) = &mut l.daily {
                // Charged before the newer report's request, it is in that report already; it
                // was in flight when that report came, and counted off a second time then.
                d.left += cost as i64;
            }
        }
        counters.tokens.store(l.spent, Ordering::Relaxed);
    }

    /// The request of `ticket` got no answer: it may have reached Pipedrive, so it stays
    /// counted.
    pub(super) fn unanswered(&self, ticket: Ticket) {
        let mut l = self.ledger();
        l.in_flight = l.in_flight.saturating_sub(u64::from(ticket.cost));
        l.settled_total += u64::from(ticket.cost);
    }

    /// The stop, once a request was held back.
    pub(super) fn stopped(&self) -> Option<BudgetStop> {
        self.ledger().stopped.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daily(limit: u64, left: i64) -> Option<Daily> {
        Some(Daily { limit, left })
    }

    #[test]
    fn the_sync_cap_lets_a_request_reach_it_but_not_cross_it() {
        let caps = Caps {
            max_tokens: Some(100),
            reserve_percent: None,
        };
        assert_eq!(
            crossed(&caps, 90, None, 10),
            None,
            "exactly the cap is allowed"
        );
        assert_eq!(crossed(&caps, 91, None, 10), Some(Limit::Sync { max: 100 }));
        assert_eq!(crossed(&Caps::default(), u64::MAX / 2, None, 40), None);
    }

    #[test]
    fn the_daily_reserve_needs_both_figures_and_keeps_its_share() {
        let caps = Caps {
            max_tokens: None,
            reserve_percent: Some(25.0),
        };
        // Without the headers, nothing to check.
        assert_eq!(crossed(&caps, 0, None, 10), None);
        // 1000 × 25% = 250 kept: from 260, a 10-token request leaves 250 (allowed), 11 would not.
        assert_eq!(crossed(&caps, 0, daily(1000, 260), 10), None);
        assert_eq!(
            crossed(&caps, 0, daily(1000, 260), 11),
            Some(Limit::DailyReserve {
                percent: 25.0,
                daily_limit: 1000,
                left: 260,
                reserve: 250
            })
        );
        // Other tools spent past the reserve: nothing more goes.
        assert!(crossed(&caps, 0, daily(1000, -5), 1).is_some());
        // 0%: anything up to the last token.
        let zero = Caps {
            reserve_percent: Some(0.0),
            ..caps
        };
        assert_eq!(crossed(&zero, 0, daily(1000, 10), 10), None);
        assert!(crossed(&zero, 0, daily(1000, 10), 11).is_some());
        // The sync cap is checked first.
        let both = Caps {
            max_tokens: Some(5),
            reserve_percent: Some(25.0),
        };
        assert_eq!(
            crossed(&both, 0, daily(1000, 0), 10),
            Some(Limit::Sync { max: 5 })
        );
    }

    #[test]
    fn the_ledger_counts_in_flight_refunds_429s_and_latches_a_stop() {
        let counters = Counters::default();
        let b = Budget::new(Caps {
            max_tokens: Some(50),
            reserve_percent: Some(50.0),
        });
        let a = b.admit(20, "/a", &counters).unwrap();
        let bb = b.admit(20, "/b", &counters).unwrap();
        assert_eq!(counters.tokens.load(Ordering::Relaxed), 40);
        // /a answered: 200 of 1000 left, /b (20) still on its way, so 180 really.
        b.answered(a, false, Some((1000, 200)), &counters);
        assert_eq!(counters.daily(), Some((1000, 200)));
        // /b refused with a 429: its tokens come back.
        b.answered(bb, true, None, &counters);
        assert_eq!(counters.tokens.load(Ordering::Relaxed), 20);
        // 200 left, 500 kept: the daily reserve is already crossed.
        let stop = b.admit(1, "/c", &counters).unwrap_err();
        assert_eq!(stop.setting(), "daily_budget_reserve_percent");
        assert_eq!(stop.spent, 20);
        assert!(stop.to_string().contains("/c was not sent"), "{stop}");
        let long = format!("/api/v2/deals/products?deal_ids={}", "1,".repeat(200));
        assert_eq!(short(&long).chars().count(), 121);
        assert_eq!(short("/a"), "/a");
        // Latched: nothing goes after it, however cheap, and the first stop is what is said.
        let again = b.admit(1, "/d", &counters).unwrap_err();
        assert_eq!(again, stop);
        assert_eq!(b.stopped(), Some(stop));
        assert_eq!(counters.tokens.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn concurrent_requests_cannot_overshoot_together() {
        let counters = Counters::default();
        let b = Budget::new(Caps {
            max_tokens: Some(100),
            reserve_percent: None,
        });
        let admitted = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..10)
                            .filter(|_| b.admit(10, "/x", &counters).is_ok())
                            .count()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum::<usize>()
        });
        assert_eq!(admitted, 10, "exactly the cap's worth went");
        assert_eq!(counters.tokens.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn an_answer_that_comes_late_cannot_raise_the_daily_figures() {
        let counters = Counters::default();
        let b = Budget::new(Caps {
            max_tokens: None,
            reserve_percent: Some(70.0),
        });
        // A first answer tells the figures: 1000 of 1000.
        let first = b.admit(10, "/first", &counters).unwrap();
        b.answered(first, false, Some((1000, 1000)), &counters);
        // /a and /b go together; Pipedrive charges /a (740 left) then /b (720 left), but /b's
        // answer comes first.
        let a = b.admit(20, "/a", &counters).unwrap();
        let bb = b.admit(20, "/b", &counters).unwrap();
        b.answered(bb, false, Some((1000, 720)), &counters);
        b.answered(a, false, Some((1000, 740)), &counters);
        assert_eq!(counters.daily(), Some((1000, 720)), "/a's figure is older");
        // 720 left, 700 kept: a 21-token request may not go (had /a's late 740 been believed,
        // a 40-token one would have gone and left 680), a 20-token one may.
        assert!(crossed(&b.caps, 0, b.ledger().daily, 21).is_some());
        assert!(b.admit(20, "/c", &counters).is_ok());
        assert!(b.admit(1, "/d", &counters).is_err());
    }

    #[test]
    fn a_late_answer_is_told_from_a_new_day() {
        let counters = Counters::default();
        let b = Budget::new(Caps {
            max_tokens: None,
            reserve_percent: Some(50.0),
        });
        let first = b.admit(10, "/first", &counters).unwrap();
        b.answered(first, false, Some((1000, 600)), &counters);
        // Alongside 10 tokens of ours, a figure up to 10 + 100 (a tenth of the limit) higher
        // is an older one.
        let x = b.admit(10, "/x", &counters).unwrap();
        let y = b.admit(10, "/y", &counters).unwrap();
        b.answered(y, false, Some((1000, 580)), &counters);
        b.answered(x, false, Some((1000, 690)), &counters);
        assert_eq!(counters.daily(), Some((1000, 580)));
        assert_eq!(b.ledger().daily.map(|d| d.left), Some(580));
        // More than that is a new day's budget.
        let x = b.admit(10, "/x", &counters).unwrap();
        let y = b.admit(10, "/y", &counters).unwrap();
        b.answered(y, false, Some((1000, 560)), &counters);
        b.answered(x, false, Some((1000, 990)), &counters);
        assert_eq!(counters.daily(), Some((1000, 990)));
        // A new limit is new figures, whatever they say.
        let z = b.admit(10, "/z", &counters).unwrap();
        b.answered(z, false, Some((2000, 1200)), &counters);
        assert_eq!(counters.daily(), Some((2000, 1200)));
        assert_eq!(b.ledger().daily.map(|d| d.left), Some(1200));
    }
}
