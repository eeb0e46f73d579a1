//! The sandbox's records: a pure function of (seed, size, index), generated when served, so a
//! million records per resource cost no memory. Only records a test edits live in a small
//! overlay, and list queries merge that overlay into the base order without scanning the base.
//!
//! This module holds what every part shares: the list query and page the server asks for, the
//! dataset with its pseudo-random draws, ids and base times. Its submodules hold the resources,
//! the record builders by family, the overlay of test edits, the paging of lists, child
//! collections, field definitions and the legacy v1 shapes.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::Value;

mod activities;
mod children;
mod contacts;
mod fields;
mod include;
mod legacy;
mod lists;
mod names;
mod overlay;
mod paging;
mod records;
mod resource;
mod sales;

pub(crate) use fields::namespaces;
pub use lists::GOAL_TYPES;
use names::LEAD_SOURCES;
use overlay::Layer;
pub use resource::Resource;

/// Base record times lie in [T0, T1]: 2023-01-01T00:00:00Z to 2025-12-31T23:59:59Z.
const T0: i64 = 1_672_531_200;
const T1: i64 = 1_767_225_599;

pub const DEAL_STATUSES: [&str; 4] = ["open", "won", "lost", "deleted"];
pub const PROJECT_STATUSES: [&str; 4] = ["open", "completed", "canceled", "deleted"];
pub const MAIL_FOLDERS: [&str; 4] = ["inbox", "drafts", "sent", "archive"];

/// Archived deals and projects are other records of the same kind, so their ids must never meet
/// the live ones' (which grow with every insert): they count up from here.
const ARCHIVED_IDS: u64 = 1_000_000_000;

/// The order a list is served in. Base keys are strictly increasing with the index for every
/// sort field, which is what lets a page start anywhere by binary search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SortKey {
    Id,
    AddTime,
    UpdateTime,
}

/// Position of a row in a sort order: (time or 0, ordinal), where ordinal = id order.
pub(crate) type Key = (i64, u64);

pub(crate) struct ListQuery {
    pub key: SortKey,
    pub desc: bool,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Deals and projects: the statuses asked for; `None` means Pipedrive's default (all but
    /// deleted).
    pub statuses: Option<Vec<String>>,
    pub pipeline_id: Option<u64>,
    /// Mail threads: the index of the folder (in `MAIL_FOLDERS`) to list.
    pub folder: Option<u64>,
    /// The `include_fields` the request named.
    pub include: Vec<String>,
}

impl ListQuery {
    pub fn new(key: SortKey, desc: bool) -> ListQuery {
        ListQuery {
            key,
            desc,
            since: None,
            until: None,
            statuses: None,
            pipeline_id: None,
            folder: None,
            include: Vec::new(),
        }
    }
}

pub(crate) enum Start {
    First,
    After(Key),
    Offset(u64),
}

pub(crate) struct Page {
    pub records: Vec<Value>,
    pub last: Option<Key>,
    pub more: bool,
}

/// Where Pipedrive's behaviour decides what a client sees and the documentation cannot tell,
/// the sandbox can act either way (`SandboxOptions` sets these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Behaviour {
    /// v2 lists of persons, organizations, products, activities, pipelines and stages keep a
    /// deleted record (`is_deleted: true`, updated at its delete) instead of leaving it out.
    pub v2_lists_keep_deleted: bool,
    /// Adding, changing or removing a deal's product line bumps the deal's `update_time`.
    pub product_lines_touch_deal: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            v2_lists_keep_deleted: false,
            product_lines_touch_deal: true,
        }
    }
}

/// The data behind a sandbox: generated base records plus the overlay of test edits.
pub struct Dataset {
    seed: u64,
    size: u64,
    behaviour: Behaviour,
    overlay: Mutex<HashMap<Resource, Layer>>,
    /// Renamed and added field definitions. Taken after `overlay` when both are needed.
    fields: Mutex<fields::FieldEdits>,
    /// Lead times carry milliseconds (`SandboxOptions::lead_time_millis`).
    lead_millis: bool,
}

/// SplitMix64's finalizer: every pseudo-random choice in the sandbox goes through it.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fmt_time(t: i64, pattern: &str) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or_default()
        .format(pattern)
        .to_string()
}

/// v2 and lead times: `2024-03-05T10:20:30Z`.
fn iso(t: i64) -> String {
    fmt_time(t, "%Y-%m-%dT%H:%M:%SZ")
}

/// v1 times: `2024-03-05 10:20:30`.
fn v1(t: i64) -> String {
    fmt_time(t, "%Y-%m-%d %H:%M:%S")
}

fn date(t: i64) -> String {
    fmt_time(t, "%Y-%m-%d")
}

impl Dataset {
    #[cfg(test)]
    pub(crate) fn new(seed: u64, size: u64) -> Dataset {
        Dataset::with_behaviour(seed, size, Behaviour::default())
    }

    pub(crate) fn with_behaviour(seed: u64, size: u64, behaviour: Behaviour) -> Dataset {
        Dataset {
            seed,
            size,
            behaviour,
            overlay: Mutex::new(HashMap::new()),
            fields: Mutex::new(fields::FieldEdits::default()),
            lead_millis: false,
        }
    }

    /// Lead times with milliseconds, which neither filters nor sorts look at: Pipedrive
    /// compares them by the second.
    pub(crate) fn with_lead_millis(mut self, on: bool) -> Dataset {
        self.lead_millis = on;
        self
    }

    /// Every record the API holds for `r` right now, as its list endpoint serves it by
    /// default (deals and projects: including deleted ones; mail threads: every folder), in id
    /// order. For a child collection: the children of every parent, parent by parent. For a
    /// field-definitions list: the definitions as served without optional namespaces.
    pub fn records(&self, r: Resource) -> Vec<Value> {
        self.records_including(r, &[])
    }

    /// `records` as served to a request whose `include_fields` names `include`: the
    /// include-only properties of v2 lists, a field-definitions list's optional namespaces.
    pub fn records_including(&self, r: Resource, include: &[&str]) -> Vec<Value> {
        if let Some(definitions) = self.definitions(r, include) {
            return definitions;
        }
        if let Some(parent) = Dataset::parent(r) {
            return self.all_children(r, parent);
        }
        let mut q = ListQuery::new(SortKey::Id, false);
        q.statuses = Some(
            DEAL_STATUSES
                .iter()
                .chain(&PROJECT_STATUSES)
                .map(|s| s.to_string())
                .collect(),
        );
        q.include = include.iter().map(|s| s.to_string()).collect();
        self.page(r, &q, Start::First, usize::MAX).records
    }

    /// Number of generated (base) records for `r`; 0 for child collections, which are derived
    /// from each parent instead.
    pub fn base_count(&self, r: Resource) -> u64 {
        match r {
            Resource::Pipelines => (self.size / 500).max(3),
            Resource::Stages => self.base_count(Resource::Pipelines) * 5,
            Resource::Users => 12,
            Resource::LeadLabels => 4,
            Resource::ActivityTypes => 8,
            Resource::Currencies => 20,
            Resource::Filters => 10,
            Resource::ArchivedDeals | Resource::ArchivedLeads => (self.size / 10).max(3),
            Resource::CallLogs | Resource::MailThreads | Resource::Tasks => self.size / 10,
            Resource::Projects | Resource::ArchivedProjects => self.size / 20,
            Resource::LeadSources => LEAD_SOURCES.len() as u64,
            Resource::Goals => 12,
            Resource::Roles | Resource::ProjectTemplates => 5,
            Resource::PermissionSets => 4,
            Resource::Webhooks | Resource::ProjectBoards => 3,
            _ if Dataset::parent(r).is_some() || r.described().is_some() => 0,
            _ => self.size,
        }
    }

    fn h(&self, r: Resource, i: u64, salt: u64) -> u64 {
        mix(self.seed ^ mix(r.tag() << 56 ^ i) ^ mix(salt.wrapping_mul(0xA24B_AED4_963E_E407)))
    }

    /// A number in [0, n).
    fn pick(&self, r: Resource, i: u64, salt: u64, n: u64) -> u64 {
        self.h(r, i, salt) % n.max(1)
    }

    fn one_of<T: Copy>(&self, r: Resource, i: u64, salt: u64, options: &[T]) -> T {
        options[self.pick(r, i, salt, options.len() as u64) as usize]
    }

    /// True with probability `pct`/100.
    fn chance(&self, r: Resource, i: u64, salt: u64, pct: u64) -> bool {
        self.pick(r, i, salt, 100) < pct
    }

    fn slot_time(&self, r: Resource, j: u64) -> i64 {
        let n = self.base_count(r).max(1) as i128;
        let span = (T1 - T0) as i128;
        let base = T0 + (j as i128 * span / n) as i64;
        let width = (span / n) as u64;
        let jitter = if width > 1 {
            self.pick(r, j, 1, width)
        } else {
            0
        };
        base + jitter as i64
    }

    /// Base update_time: non-decreasing with the index. A record may share its second with the
    /// one before; every index that is a multiple of 100 does, so ties straddle page edges.
    fn base_update(&self, r: Resource, i: u64) -> i64 {
        let mut leader = i;
        while leader > 0 && (leader % 100 == 0 || self.chance(r, leader, 2, 30)) {
            leader -= 1;
        }
        self.slot_time(r, leader)
    }

    /// Base add_time: also non-decreasing with the index (ids are handed out in creation order)
    /// and never after update_time.
    fn base_add(&self, r: Resource, i: u64) -> i64 {
        T0 + (self.base_update(r, i) - T0) * 2 / 3
    }

    fn base_key(&self, r: Resource, key: SortKey, i: u64) -> Key {
        match key {
            SortKey::Id => (0, i),
            SortKey::AddTime => (self.base_add(r, i), i),
            SortKey::UpdateTime => (self.base_update(r, i), i),
        }
    }

    /// The status a base record was generated with; inserted records start open.
    fn base_status(&self, r: Resource, i: u64) -> &'static str {
        if i >= self.base_count(r) {
            return "open";
        }
        let roll = self.pick(r, i, 3, 100);
        match r {
            Resource::Projects | Resource::ArchivedProjects => match roll {
                0..=4 => "deleted",
                5..=64 => "open",
                65..=89 => "completed",
                _ => "canceled",
            },
            // Deals are mostly archived once closed.
            Resource::ArchivedDeals => match roll {
                0..=4 => "deleted",
                5..=19 => "open",
                20..=59 => "won",
                _ => "lost",
            },
            _ => match roll {
                0..=4 => "deleted",
                5..=54 => "open",
                55..=79 => "won",
                _ => "lost",
            },
        }
    }

    fn stage_pipeline(i: u64) -> u64 {
        i / 5 + 1
    }

    fn uuid(&self, r: Resource, ordinal: u64) -> String {
        let prefix = (mix(self.seed ^ r.tag()) & 0x3FFF_FFFF_0000) + ordinal;
        let tail = self.h(r, ordinal, 4);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            prefix >> 16,
            prefix & 0xFFFF,
            tail & 0xFFF,
            8 + ((tail >> 12) & 3),
            (tail >> 14) & 0xFFF,
            (tail >> 26) & 0xFFFF_FFFF_FFFF
        )
    }

    fn uuid_ordinal(&self, r: Resource, id: &str) -> Option<u64> {
        let hex: String = id.split('-').take(2).collect();
        let value = u64::from_str_radix(&hex, 16).ok()?;
        let prefix = mix(self.seed ^ r.tag()) & 0x3FFF_FFFF_0000;
        value.checked_sub(prefix)
    }

    fn ordinal_of(&self, r: Resource, id: &Value) -> Option<u64> {
        match r {
            Resource::Leads
            | Resource::LeadLabels
            | Resource::ArchivedLeads
            | Resource::CallLogs
            | Resource::Goals => self.uuid_ordinal(r, id.as_str()?),
            Resource::ArchivedDeals | Resource::ArchivedProjects => {
                id.as_u64()?.checked_sub(ARCHIVED_IDS + 1)
            }
            Resource::PermissionSets => {
                let id = id.as_str()?;
                (0..self.count_with_inserted(r)).find(|i| self.permission_set_id(*i) == id)
            }
            Resource::LeadSources => {
                let name = id.as_str()?;
                (0..self.count_with_inserted(r)).find(|i| self.lead_source(*i) == name)
            }
            _ if Dataset::parent(r).is_some() => None,
            _ => id.as_u64()?.checked_sub(1),
        }
    }

    /// The integer id of the record at `ordinal`.
    fn int_id(r: Resource, ordinal: u64) -> u64 {
        match r {
            Resource::ArchivedDeals | Resource::ArchivedProjects => ARCHIVED_IDS + ordinal + 1,
            _ => ordinal + 1,
        }
    }

    /// Base records plus those inserted so far.
    fn count_with_inserted(&self, r: Resource) -> u64 {
        let overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        self.base_count(r) + overlay.get(&r).map_or(0, |layer| layer.inserted)
    }
}

#[cfg(test)]
mod tests;
