//! A seeded schedule of changes: the CRM edited, added to and deleted from while a client reads
//! it, as salespeople would, plus changes aimed at the cases that break connectors (a record on
//! the page just served moves, a parent vanishes before its children are asked for, several
//! records change within one second). Installed with `Sandbox::on_request`, it acts between two
//! requests; offline, between two syncs. One seed draws every change and every tick of the
//! (frozen) fake clock, so a history that breaks a client replays exactly from its seed.
//!
//! The sandbox's data is the truth after each change: `World::records` and `Dataset::records`
//! serve it; the schedule keeps the history of what it did, for a failing test to print.

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::data::{mix, Resource};
use crate::server::{Sandbox, Served, World};

/// SplitMix64: a tiny, fast generator whose whole state is one number, so a seed names a
/// sequence of draws exactly.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        let out = mix(self.state);
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out
    }

    /// A number in [0, n); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// A generator of its own for another purpose, drawn from this one: two consumers of one
    /// seed that do not take from each other's sequence.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// What a change did to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A visible field changed; the update time is now.
    Edit,
    /// A new record, created now.
    Insert,
    /// Soft-deleted now (deals and projects turn `deleted`; other records leave their lists).
    Delete,
    /// A deal, lead or project moved to its archive list now (same id).
    Archive,
    /// Brought back from the archive to its live list now.
    Unarchive,
    /// Merged into another record (`Change::other`, the survivor, edited now) and deleted:
    /// persons, organizations and deals.
    Merge,
    /// A product line (`Change::other`) taken off the deal.
    RemoveLine,
}

/// Why the schedule made a change: at random, or aimed at a case that breaks connectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aim {
    Random,
    /// A record on the page just served changed: in a list sorted by update time it leaves
    /// its place, and every record after it shifts.
    PageJustServed,
    /// A parent on the page just served was deleted before its children are asked for.
    ParentBeforeChildren,
    /// Several records changed within one second of the fake clock: a checkpoint between
    /// them must not lose the later ones.
    SameSecond,
}

/// One change the schedule made.
#[derive(Clone, Debug)]
pub struct Change {
    /// The fake clock when it was made.
    pub at: DateTime<Utc>,
    pub op: Op,
    pub resource: Resource,
    /// The record's id (for an insert, the new record's).
    pub id: Value,
    /// The merge's survivor, or the product line removed; `None` for other changes.
    pub other: Option<Value>,
    pub aim: Aim,
    /// The request it followed (`GET path?query`), or `None` when made between syncs.
    pub after: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} {:?} {} {} ({:?})",
            self.at.format("%H:%M:%S%.3f"),
            self.op,
            self.resource.name(),
            self.id,
            self.aim
        )?;
        match (self.op, &self.other) {
            (Op::Merge, Some(other)) => write!(f, " into {other}")?,
            (Op::RemoveLine, Some(other)) => write!(f, " line {other}")?,
            _ => {}
        }
        if let Some(after) = &self.after {
            write!(f, " after {after}")?;
        }
        Ok(())
    }
}

/// Resources whose records a schedule may change by default: the main lists a sync reads
/// incrementally (their children change with them).
pub const DEFAULT_RESOURCES: &[Resource] = &[
    Resource::Deals,
    Resource::ArchivedDeals,
    Resource::Persons,
    Resource::Organizations,
    Resource::Products,
    Resource::Activities,
    Resource::Notes,
    Resource::Leads,
    Resource::ArchivedLeads,
    Resource::Files,
    Resource::Projects,
    Resource::ArchivedProjects,
];

/// Records are only ever added to live lists; an archive fills by archiving.
fn insertable(r: Resource) -> bool {
    !matches!(
        r,
        Resource::ArchivedDeals | Resource::ArchivedLeads | Resource::ArchivedProjects
    )
}

/// Deals, leads and projects live in one list and move to another when archived.
fn archivable(r: Resource) -> bool {
    matches!(r, Resource::Deals | Resource::Leads | Resource::Projects)
}

fn in_archive(r: Resource) -> bool {
    !insertable(r)
}

fn mergeable(r: Resource) -> bool {
    matches!(
        r,
        Resource::Persons | Resource::Organizations | Resource::Deals
    )
}

/// The kind of change at random for a record of `r`: mostly edits, then deletes and inserts,
/// and the moves only some resources know (archives, merges, product lines).
fn draw_op(rng: &mut Rng, r: Resource) -> Op {
    let weights = [
        (Op::Edit, 45),
        (Op::Delete, 18),
        (Op::Insert, if insertable(r) { 20 } else { 0 }),
        (Op::Archive, if archivable(r) { 12 } else { 0 }),
        (Op::Unarchive, if in_archive(r) { 25 } else { 0 }),
        (Op::Merge, if mergeable(r) { 8 } else { 0 }),
        (Op::RemoveLine, if r == Resource::Deals { 8 } else { 0 }),
    ];
    let mut roll = rng.below(weights.iter().map(|(_, w)| w).sum());
    for (op, w) in weights {
        if roll < w {
            return op;
        }
        roll -= w;
    }
    Op::Edit
}

/// Whether a record still counts as there: not marked deleted in any of Pipedrive's ways.
fn live(record: &Value) -> bool {
    record["status"] != "deleted" && record["active_flag"] != false && record["is_deleted"] != true
}

/// A seeded schedule of changes. Build it, `install` it on a sandbox (changes between the
/// requests of a sync), call `offline` between syncs, and read `history` when a test fails.
pub struct Schedule {
    /// Percent chance, after each request, of one change at random.
    rate: u64,
    /// Percent chance, after each page of a list, of a change aimed at that page.
    aimed: u64,
    /// The largest tick of the fake clock after a request, in milliseconds.
    tick_ms: u64,
    resources: Vec<Resource>,
    state: Mutex<State>,
}

struct State {
    rng: Rng,
    history: Vec<Change>,
}

impl Schedule {
    /// A schedule drawn from `seed`: after each request, a change at random with probability
    /// `rate` percent, a change aimed at the page just served with probability `rate` percent,
    /// and a tick of the fake clock of up to 400 ms.
    pub fn new(seed: u64, rate: u64) -> Schedule {
        Schedule {
            rate,
            aimed: rate,
            tick_ms: 400,
            resources: DEFAULT_RESOURCES.to_vec(),
            state: Mutex::new(State {
                rng: Rng::new(seed),
                history: Vec::new(),
            }),
        }
    }

    /// The percent chance of a change aimed at each page served.
    pub fn aimed(mut self, percent: u64) -> Schedule {
        self.aimed = percent;
        self
    }

    /// The largest tick of the fake clock after each request.
    pub fn tick(mut self, max: Duration) -> Schedule {
        self.tick_ms = max.num_milliseconds().max(0) as u64;
        self
    }

    /// The resources whose records change.
    pub fn resources(mut self, resources: &[Resource]) -> Schedule {
        self.resources = resources.to_vec();
        self
    }

    /// From now on, changes fall between the requests `sandbox` answers.
    pub fn install(self: &Arc<Self>, sandbox: &Sandbox) {
        let schedule = Arc::clone(self);
        sandbox.on_request(move |world, served| schedule.after_request(world, served));
    }

    /// What the hook does after each request: a tick of the clock, maybe a change aimed at
    /// the page just served, maybe a change at random.
    pub fn after_request(&self, world: &World, served: &Served) {
        let mut state = self.lock();
        let tick = state.rng.below(self.tick_ms + 1);
        world.advance_clock(Duration::milliseconds(tick as i64));
        let request = served.request;
        let after = Some(if request.query.is_empty() {
            request.path.clone()
        } else {
            let query: Vec<String> = request
                .query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{}?{}", request.path, query.join("&"))
        });
        if let Some(r) = served.listed().filter(|r| self.resources.contains(r)) {
            let page = served.records();
            if !page.is_empty() && state.rng.chance(self.aimed) {
                self.aim_at_page(&mut state, world, r, &page, &after);
            }
        }
        if state.rng.chance(self.rate) {
            self.random_change(&mut state, world, after);
        }
    }

    /// `count` changes at random, each after a tick of the clock (mostly under a second, now
    /// and then several seconds): what happens between two syncs.
    pub fn offline(&self, world: &World, count: usize) {
        let mut state = self.lock();
        for _ in 0..count {
            let tick = if state.rng.chance(10) {
                1_000 * (1 + state.rng.below(30))
            } else {
                state.rng.below(self.tick_ms + 1)
            };
            world.advance_clock(Duration::milliseconds(tick as i64));
            if state.rng.chance(15) {
                self.same_second(&mut state, world, Resource::Leads, None);
            } else {
                self.random_change(&mut state, world, None);
            }
        }
    }

    /// Every change made so far, oldest first.
    pub fn history(&self) -> Vec<Change> {
        self.lock().history.clone()
    }

    /// How many changes were made so far.
    pub fn applied(&self) -> usize {
        self.lock().history.len()
    }

    /// A hook that panicked (it runs on the server's threads) must not stop the others.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn random_change(&self, state: &mut State, world: &World, after: Option<String>) {
        let Some(&r) = state.rng.pick(&self.resources) else {
            return;
        };
        let op = draw_op(&mut state.rng, r);
        let target = if op == Op::Insert {
            Value::Null
        } else {
            let records: Vec<Value> = world.records(r).into_iter().filter(live).collect();
            let Some(target) = state.rng.pick(&records) else {
                return;
            };
            target["id"].clone()
        };
        self.make(state, world, op, r, &target, Aim::Random, after);
    }

    /// Makes the change `op` to the record `id` of `r` (ignored by an insert), drawing what
    /// else it needs (a merge's survivor, a deal's product line), and writes it in the
    /// history; a change with nothing to act on (no other record, no line) is not made.
    #[allow(clippy::too_many_arguments)]
    fn make(
        &self,
        state: &mut State,
        world: &World,
        op: Op,
        r: Resource,
        id: &Value,
        aim: Aim,
        after: Option<String>,
    ) {
        let mut other = None;
        let id = match op {
            Op::Edit => {
                world.touch(r, id);
                id.clone()
            }
            Op::Delete => {
                world.delete(r, id);
                id.clone()
            }
            Op::Insert => world.insert(r)["id"].clone(),
            Op::Archive => {
                world.archive(r, id);
                id.clone()
            }
            Op::Unarchive => {
                world.unarchive(r, id);
                id.clone()
            }
            Op::Merge => {
                let others: Vec<Value> = (world.records(r).into_iter())
                    .filter(|o| live(o) && o["id"] != *id)
                    .map(|o| o["id"].clone())
                    .collect();
                let Some(survivor) = state.rng.pick(&others).cloned() else {
                    return;
                };
                world.merge(r, id, &survivor);
                other = Some(survivor);
                id.clone()
            }
            Op::RemoveLine => {
                let lines: Vec<Value> = (world.children(Resource::DealProducts, id).into_iter())
                    .map(|l| l["id"].clone())
                    .collect();
                let Some(line) = state.rng.pick(&lines).cloned() else {
                    return;
                };
                world.remove_product_line(id, &line);
                other = Some(line);
                id.clone()
            }
        };
        state.history.push(Change {
            at: world.now(),
            op,
            resource: r,
            id,
            other,
            aim,
            after,
        });
    }

    /// A change to a record on the page of `r` just served.
    fn aim_at_page(
        &self,
        state: &mut State,
        world: &World,
        r: Resource,
        page: &[Value],
        after: &Option<String>,
    ) {
        let live_on_page: Vec<&Value> = page.iter().filter(|p| live(p)).collect();
        if live_on_page.is_empty() {
            return;
        }
        // Products are parents (variations): the first on the page is the first whose
        // children are asked for next.
        if r == Resource::Products && state.rng.chance(50) {
            let first = &live_on_page[0]["id"];
            let aim = Aim::ParentBeforeChildren;
            self.make(state, world, Op::Delete, r, first, aim, after.clone());
            return;
        }
        if r == Resource::Leads && state.rng.chance(30) {
            self.same_second(state, world, r, after.clone());
            return;
        }
        let target = live_on_page[state.rng.below(live_on_page.len() as u64) as usize];
        // It leaves its place: edited (to the end of an update-time order), deleted, moved to
        // the other list of its pair, or merged away.
        let op = match state.rng.below(100) {
            0..=19 if archivable(r) => Op::Archive,
            0..=29 if in_archive(r) => Op::Unarchive,
            0..=14 if mergeable(r) => Op::Merge,
            0..=59 => Op::Edit,
            _ => Op::Delete,
        };
        let aim = Aim::PageJustServed;
        self.make(state, world, op, r, &target["id"], aim, after.clone());
    }

    /// Two to four records of `r` edited within what is left of the current second of the
    /// fake clock.
    fn same_second(&self, state: &mut State, world: &World, r: Resource, after: Option<String>) {
        let records: Vec<Value> = world.records(r).into_iter().filter(live).collect();
        let n = 2 + state.rng.below(3);
        for _ in 0..n {
            let Some(target) = state.rng.pick(&records) else {
                return;
            };
            self.make(
                state,
                world,
                Op::Edit,
                r,
                &target["id"],
                Aim::SameSecond,
                after.clone(),
            );
            let left = 999 - u64::from(world.now().timestamp_subsec_millis());
            let step = state.rng.below(left / 2 + 1);
            world.advance_clock(Duration::milliseconds(step as i64));
        }
    }
}

#[cfg(test)]
mod tests;
