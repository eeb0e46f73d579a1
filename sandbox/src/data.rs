//! The sandbox's records: a pure function of (seed, size, index), generated when served, so a
//! million records per resource cost no memory. Only records a test edits live in a small
//! overlay, and list queries merge that overlay into the base order without scanning the base.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

mod children;
mod fields;
mod legacy;
mod lists;

pub(crate) use fields::namespaces;

/// Every resource the sandbox serves. Variants are only ever appended: a resource's position
/// seeds its data, so inserting one in the middle would change every record after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Deals,
    Persons,
    Organizations,
    Activities,
    Products,
    Pipelines,
    Stages,
    Users,
    Notes,
    Leads,
    LeadLabels,
    ActivityTypes,
    Currencies,
    Filters,
    Files,
    ArchivedDeals,
    ArchivedLeads,
    DealProducts,
    DealInstallments,
    DealChangelog,
    ProductVariations,
    LeadSources,
    Goals,
    Roles,
    RoleAssignments,
    PermissionSets,
    PermissionSetAssignments,
    CallLogs,
    MailThreads,
    MailMessages,
    Projects,
    ArchivedProjects,
    Tasks,
    ProjectBoards,
    ProjectPhases,
    ProjectTemplates,
    NoteComments,
    Webhooks,
    UserPermissions,
    DealFields,
    PersonFields,
    OrganizationFields,
    ProductFields,
    ActivityFields,
    ProjectFields,
    LeadFields,
    NoteFields,
}

impl Resource {
    pub const ALL: [Resource; 47] = [
        Resource::Deals,
        Resource::Persons,
        Resource::Organizations,
        Resource::Activities,
        Resource::Products,
        Resource::Pipelines,
        Resource::Stages,
        Resource::Users,
        Resource::Notes,
        Resource::Leads,
        Resource::LeadLabels,
        Resource::ActivityTypes,
        Resource::Currencies,
        Resource::Filters,
        Resource::Files,
        Resource::ArchivedDeals,
        Resource::ArchivedLeads,
        Resource::DealProducts,
        Resource::DealInstallments,
        Resource::DealChangelog,
        Resource::ProductVariations,
        Resource::LeadSources,
        Resource::Goals,
        Resource::Roles,
        Resource::RoleAssignments,
        Resource::PermissionSets,
        Resource::PermissionSetAssignments,
        Resource::CallLogs,
        Resource::MailThreads,
        Resource::MailMessages,
        Resource::Projects,
        Resource::ArchivedProjects,
        Resource::Tasks,
        Resource::ProjectBoards,
        Resource::ProjectPhases,
        Resource::ProjectTemplates,
        Resource::NoteComments,
        Resource::Webhooks,
        Resource::UserPermissions,
        Resource::DealFields,
        Resource::PersonFields,
        Resource::OrganizationFields,
        Resource::ProductFields,
        Resource::ActivityFields,
        Resource::ProjectFields,
        Resource::LeadFields,
        Resource::NoteFields,
    ];

    /// The connector's stream name.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Deals => "deals",
            Resource::Persons => "persons",
            Resource::Organizations => "organizations",
            Resource::Activities => "activities",
            Resource::Products => "products",
            Resource::Pipelines => "pipelines",
            Resource::Stages => "stages",
            Resource::Users => "users",
            Resource::Notes => "notes",
            Resource::Leads => "leads",
            Resource::LeadLabels => "lead_labels",
            Resource::ActivityTypes => "activity_types",
            Resource::Currencies => "currencies",
            Resource::Filters => "filters",
            Resource::Files => "files",
            Resource::ArchivedDeals => "archived_deals",
            Resource::ArchivedLeads => "archived_leads",
            Resource::DealProducts => "deal_products",
            Resource::DealInstallments => "deal_installments",
            Resource::DealChangelog => "deal_changelog",
            Resource::ProductVariations => "product_variations",
            Resource::LeadSources => "lead_sources",
            Resource::Goals => "goals",
            Resource::Roles => "roles",
            Resource::RoleAssignments => "role_assignments",
            Resource::PermissionSets => "permission_sets",
            Resource::PermissionSetAssignments => "permission_set_assignments",
            Resource::CallLogs => "call_logs",
            Resource::MailThreads => "mail_threads",
            Resource::MailMessages => "mail_messages",
            Resource::Projects => "projects",
            Resource::ArchivedProjects => "archived_projects",
            Resource::Tasks => "tasks",
            Resource::ProjectBoards => "project_boards",
            Resource::ProjectPhases => "project_phases",
            Resource::ProjectTemplates => "project_templates",
            Resource::NoteComments => "note_comments",
            Resource::Webhooks => "webhooks",
            Resource::UserPermissions => "user_permissions",
            Resource::DealFields => "deal_fields",
            Resource::PersonFields => "person_fields",
            Resource::OrganizationFields => "organization_fields",
            Resource::ProductFields => "product_fields",
            Resource::ActivityFields => "activity_fields",
            Resource::ProjectFields => "project_fields",
            Resource::LeadFields => "lead_fields",
            Resource::NoteFields => "note_fields",
        }
    }

    /// For a field-definitions list, the entity whose fields it defines.
    pub fn described(self) -> Option<Resource> {
        Some(match self {
            Resource::DealFields => Resource::Deals,
            Resource::PersonFields => Resource::Persons,
            Resource::OrganizationFields => Resource::Organizations,
            Resource::ProductFields => Resource::Products,
            Resource::ActivityFields => Resource::Activities,
            Resource::ProjectFields => Resource::Projects,
            Resource::LeadFields => Resource::Leads,
            Resource::NoteFields => Resource::Notes,
            _ => return None,
        })
    }

    fn tag(self) -> u64 {
        Resource::ALL.iter().position(|r| *r == self).unwrap_or(0) as u64 + 1
    }

    /// The field a test edit visibly changes.
    fn edited_field(self) -> &'static str {
        match self {
            Resource::Deals
            | Resource::Leads
            | Resource::ArchivedDeals
            | Resource::ArchivedLeads
            | Resource::Goals
            | Resource::Projects
            | Resource::ArchivedProjects
            | Resource::Tasks
            | Resource::ProjectTemplates => "title",
            Resource::Activities | Resource::CallLogs | Resource::MailThreads => "subject",
            Resource::Notes => "content",
            Resource::Files => "description",
            _ => "name",
        }
    }

    /// Resources whose `status` can be `deleted`: a delete keeps them listed under that status
    /// (Pipedrive's `status=deleted`) instead of dropping them from lists.
    fn has_status(self) -> bool {
        matches!(
            self,
            Resource::Deals
                | Resource::ArchivedDeals
                | Resource::Projects
                | Resource::ArchivedProjects
        )
    }
}

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
    pub include_attendees: bool,
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
            include_attendees: false,
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

#[derive(Clone)]
struct Entry {
    ordinal: u64,
    add: i64,
    update: i64,
    listed: bool,
    record: Value,
}

#[derive(Default)]
struct Layer {
    entries: BTreeMap<u64, Entry>,
    inserted: u64,
    edits: u64,
    /// Deals and archived deals: the changelog rows test edits added, by ordinal, oldest first.
    changelog: BTreeMap<u64, Vec<Value>>,
}

/// The data behind a sandbox: generated base records plus the overlay of test edits.
pub struct Dataset {
    seed: u64,
    size: u64,
    overlay: Mutex<HashMap<Resource, Layer>>,
    /// Renamed and added field definitions. Taken after `overlay` when both are needed.
    fields: Mutex<fields::FieldEdits>,
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

const FIRST: [&str; 24] = [
    "Ana",
    "José",
    "Zoë",
    "Søren",
    "Łukasz",
    "Björn",
    "Amélie",
    "Chloé",
    "Mateo",
    "Aiyana",
    "Olúwaseun",
    "Nguyễn",
    "Siobhán",
    "Jürgen",
    "Ingrid",
    "Rafael",
    "Priya",
    "Kenji",
    "Мария",
    "Ahmed",
    "美咲",
    "Иван",
    "Élodie",
    "Ngozi",
];
const LAST: [&str; 20] = [
    "García",
    "Müller",
    "O'Brien",
    "Kowalski",
    "Núñez",
    "Johansson",
    "Dubois",
    "田中",
    "Smith",
    "Øvergaard",
    "Şahin",
    "van der Berg",
    "Costa",
    "Popescu",
    "Иванова",
    "王",
    "Björklund",
    "Nakamura",
    "Đorđević",
    "Fernández",
];
const ORG: [&str; 15] = [
    "Acme",
    "Café Ñandú",
    "Müller & Söhne",
    "北京科技",
    "Nordlys",
    "Zürich Analytics",
    "Blue Harbor",
    "Fjäll Partners",
    "さくらロボティクス",
    "Łódź Logistics",
    "Ōtsuka Trading",
    "Crème Brûlée Co.",
    "Hélios",
    "Quantum Leap 🚀",
    "Green Leaf 🌿",
];
const ORG_SUFFIX: [&str; 8] = [
    "GmbH",
    "Ltd",
    "SA",
    "Inc.",
    "OÜ",
    "株式会社",
    "AB",
    "S.r.l.",
];
const PRODUCT: [&str; 10] = [
    "Widget",
    "Café crème",
    "Licence Pro",
    "Support Plus",
    "クラウド Storage",
    "Premium Seat 💺",
    "Onboarding",
    "Gadget Ü",
    "Analytics Add-on",
    "Data Pack",
];
const CITIES: [(&str, &str, &str, &str); 6] = [
    ("Tallinn", "Estonia", "Harju maakond", "10111"),
    ("München", "Germany", "Bayern", "80331"),
    ("São Paulo", "Brazil", "São Paulo", "01310-100"),
    ("東京", "Japan", "東京都", "100-0001"),
    ("New York", "United States", "New York", "10001"),
    ("Kraków", "Poland", "Małopolskie", "31-001"),
];
const DEAL_CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "JPY", "SEK"];
const CURRENCIES: [(&str, &str, u64, &str); 20] = [
    ("EUR", "Euro", 2, "€"),
    ("USD", "US Dollar", 2, "$"),
    ("GBP", "Pound Sterling", 2, "£"),
    ("JPY", "Japanese Yen", 0, "¥"),
    ("CHF", "Swiss Franc", 2, "CHF"),
    ("SEK", "Swedish Krona", 2, "kr"),
    ("NOK", "Norwegian Krone", 2, "kr"),
    ("DKK", "Danish Krone", 2, "kr"),
    ("PLN", "Polish Złoty", 2, "zł"),
    ("CZK", "Czech Koruna", 2, "Kč"),
    ("HUF", "Hungarian Forint", 2, "Ft"),
    ("BRL", "Brazilian Real", 2, "R$"),
    ("INR", "Indian Rupee", 2, "₹"),
    ("CNY", "Chinese Yuan", 2, "¥"),
    ("AUD", "Australian Dollar", 2, "A$"),
    ("CAD", "Canadian Dollar", 2, "C$"),
    ("KRW", "South Korean Won", 0, "₩"),
    ("BHD", "Bahraini Dinar", 3, ".د.ب"),
    ("MXN", "Mexican Peso", 2, "$"),
    ("ZAR", "South African Rand", 2, "R"),
];
const ACTIVITY_TYPES: [(&str, &str, &str); 8] = [
    ("Call", "call", "call"),
    ("Meeting", "meeting", "meeting"),
    ("Task", "task", "task"),
    ("Deadline", "deadline", "deadline"),
    ("Email", "email", "email"),
    ("Lunch", "lunch", "lunch"),
    ("Demo 🎥", "camera", "demo"),
    ("Site visit", "calendar", "site_visit"),
];
const LEAD_LABELS: [(&str, &str); 4] = [
    ("Hot", "red"),
    ("Warm", "yellow"),
    ("Cold", "blue"),
    ("Follow-up ✅", "green"),
];
const FILTER_TYPES: [&str; 7] = [
    "deals", "leads", "org", "people", "products", "activity", "projects",
];
const STAGES: [(&str, u64); 5] = [
    ("Qualified", 10),
    ("Contact made", 25),
    ("Demo scheduled", 50),
    ("Proposal made", 75),
    ("Negotiations started", 90),
];
const VISIBLE_TO: [u64; 4] = [1, 3, 5, 7];
/// `/v1/leadSources`; leads draw their `source_name` from the first four.
const LEAD_SOURCES: [&str; 10] = [
    "Manually created",
    "API",
    "Web forms",
    "Prospector",
    "Leadbooster",
    "Live chat",
    "Import",
    "Website visitors",
    "Workflow automation",
    "Deal",
];

impl Dataset {
    pub(crate) fn new(seed: u64, size: u64) -> Dataset {
        Dataset {
            seed,
            size,
            overlay: Mutex::new(HashMap::new()),
            fields: Mutex::new(fields::FieldEdits::default()),
        }
    }

    /// Every record the API holds for `r` right now, as its list endpoint serves it by
    /// default (deals and projects: including deleted ones; mail threads: every folder), in id
    /// order. For a child collection: the children of every parent, parent by parent. For a
    /// field-definitions list: the definitions as served without optional namespaces.
    pub fn records(&self, r: Resource) -> Vec<Value> {
        if let Some(definitions) = self.definitions(r, &[]) {
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
            Resource::Goals | Resource::Roles | Resource::ProjectTemplates => 5,
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

    fn person_name(&self, i: u64) -> (String, String) {
        let first = FIRST[self.pick(Resource::Persons, i, 10, FIRST.len() as u64) as usize];
        let last = LAST[self.pick(Resource::Persons, i, 11, LAST.len() as u64) as usize];
        (first.to_string(), last.to_string())
    }

    fn org_name(&self, i: u64) -> String {
        let r = Resource::Organizations;
        let base = ORG[self.pick(r, i, 10, ORG.len() as u64) as usize];
        let suffix = ORG_SUFFIX[self.pick(r, i, 11, ORG_SUFFIX.len() as u64) as usize];
        format!("{base} {suffix} #{}", i + 1)
    }

    /// A deal's title; `r` is `Deals` or `ArchivedDeals`.
    fn deal_title(&self, r: Resource, i: u64) -> String {
        let product = PRODUCT[self.pick(r, i, 10, PRODUCT.len() as u64) as usize];
        format!(
            "{product} deal — {}",
            self.org_name(self.ref_index(r, i, 12))
        )
    }

    fn product_name(&self, i: u64) -> String {
        let base = PRODUCT[self.pick(Resource::Products, i, 10, PRODUCT.len() as u64) as usize];
        format!("{base} {}", i + 1)
    }

    /// A lead's title; `r` is `Leads` or `ArchivedLeads`.
    fn lead_title(&self, r: Resource, i: u64) -> String {
        format!("{} lead", self.org_name(self.ref_index(r, i, 12)))
    }

    /// An index into one of the main resources (which all have `size` records).
    fn ref_index(&self, r: Resource, i: u64, salt: u64) -> u64 {
        self.pick(r, i, salt, self.size)
    }

    /// A reference id to a main resource, or null `pct_null` percent of the time.
    fn ref_id(&self, r: Resource, i: u64, salt: u64, pct_null: u64) -> Value {
        if self.size == 0 || self.chance(r, i, salt + 1000, pct_null) {
            Value::Null
        } else {
            json!(self.ref_index(r, i, salt) + 1)
        }
    }

    fn user_id(&self, r: Resource, i: u64, salt: u64) -> u64 {
        self.pick(r, i, salt, 12) + 1
    }

    fn address(&self, r: Resource, i: u64) -> Value {
        let (city, country, area, postal) =
            CITIES[self.pick(r, i, 20, CITIES.len() as u64) as usize];
        let number = self.pick(r, i, 21, 200) + 1;
        let route = [
            "Main Street",
            "Rue de la Paix",
            "Kärntner Straße",
            "Ulica Długa",
        ][self.pick(r, i, 22, 4) as usize];
        json!({
            "value": format!("{route} {number}, {postal} {city}, {country}"),
            "country": country,
            "admin_area_level_1": area,
            "admin_area_level_2": null,
            "locality": city,
            "sublocality": null,
            "route": route,
            "street_number": number.to_string(),
            "subpremise": null,
            "postal_code": postal,
        })
    }

    fn label_ids(&self, r: Resource, i: u64) -> Value {
        let n = self.pick(r, i, 30, 3);
        json!((0..n)
            .map(|k| k + 1 + self.pick(r, i, 31, 3) * 2)
            .collect::<Vec<_>>())
    }

    /// A time between `a` and `b`.
    fn between(&self, r: Resource, i: u64, salt: u64, a: i64, b: i64) -> i64 {
        a + self.pick(r, i, salt, (b - a).max(0) as u64 + 1) as i64
    }

    fn base_record(&self, r: Resource, i: u64) -> Value {
        self.build(r, i, self.base_add(r, i), self.base_update(r, i))
    }

    fn build(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        match r {
            Resource::Deals | Resource::ArchivedDeals => self.deal(r, i, add, update),
            Resource::Leads | Resource::ArchivedLeads => self.lead(r, i, add, update),
            Resource::Persons => self.person(i, add, update),
            Resource::Organizations => self.organization(i, add, update),
            Resource::Activities => self.activity(i, add, update),
            Resource::Products => self.product(i, add, update),
            Resource::Pipelines => json!({
                "id": i + 1,
                "name": if i == 0 { "Sales".to_string() } else { format!("Pipeline {} 🧭", i + 1) },
                "order_nr": i + 1,
                "is_deleted": false,
                "is_deal_probability_enabled": self.chance(r, i, 50, 50),
                "add_time": iso(add),
                "update_time": iso(update),
            }),
            Resource::Stages => {
                let (name, probability) = STAGES[(i % 5) as usize];
                let rot = self.chance(r, i, 50, 40);
                json!({
                    "id": i + 1,
                    "order_nr": i % 5 + 1,
                    "name": name,
                    "is_deleted": false,
                    "deal_probability": probability,
                    "pipeline_id": Self::stage_pipeline(i),
                    "is_deal_rot_enabled": rot,
                    "days_to_rotten": if rot { json!(7 + self.pick(r, i, 51, 30)) } else { Value::Null },
                    "add_time": iso(add),
                    "update_time": iso(update),
                })
            }
            Resource::Users => self.user(i, add, update),
            Resource::Notes => self.note(i, add, update),
            Resource::LeadLabels => {
                let (name, color) = LEAD_LABELS[(i % 4) as usize];
                json!({
                    "id": self.uuid(r, i),
                    "name": if i < 4 { name.to_string() } else { format!("{name} {}", i + 1) },
                    "color": color,
                    "add_time": iso(add),
                    "update_time": iso(update),
                })
            }
            Resource::ActivityTypes => {
                let (name, icon, key) = ACTIVITY_TYPES[(i % 8) as usize];
                json!({
                    "id": i + 1,
                    "name": name,
                    "icon_key": icon,
                    "color": format!("{:06X}", self.pick(r, i, 50, 0x100_0000)),
                    "order_nr": i + 1,
                    "key_string": if i < 8 { key.to_string() } else { format!("{key}_{}", i + 1) },
                    "active_flag": true,
                    "is_custom_flag": i >= 6,
                    "add_time": v1(add),
                    "update_time": v1(update),
                })
            }
            Resource::Currencies => {
                let (code, name, decimals, symbol) = CURRENCIES[(i % 20) as usize];
                let code = if i < 20 {
                    code.to_string()
                } else {
                    format!("X{:02}", i)
                };
                json!({
                    "id": i + 1,
                    "code": code,
                    "name": name,
                    "decimal_points": decimals,
                    "symbol": symbol,
                    "active_flag": true,
                    "is_custom_flag": i >= 20,
                })
            }
            Resource::Filters => {
                let kind = FILTER_TYPES[(i % 7) as usize];
                json!({
                    "id": i + 1,
                    "name": format!("My {kind} filter {} ⭐", i + 1),
                    "filter_code": if i == 0 { json!("all_open_deals") } else { Value::Null },
                    "is_editable": i != 0,
                    "active_flag": true,
                    "type": kind,
                    "temporary_flag": if self.chance(r, i, 50, 30) { Value::Null } else { json!(false) },
                    "user_id": self.user_id(r, i, 51),
                    "add_time": v1(add),
                    "update_time": if add == update { Value::Null } else { json!(v1(update)) },
                    "visible_to": VISIBLE_TO[self.pick(r, i, 52, 4) as usize].to_string(),
                    "last_used_time": if self.chance(r, i, 53, 50) { Value::Null } else { json!(v1(update)) },
                    "custom_view_id": if self.chance(r, i, 54, 70) { Value::Null } else { json!(i + 100) },
                })
            }
            Resource::Files => self.file(i, add, update),
            _ => self.list_record(r, i, add, update),
        }
    }

    /// A live or archived deal: the same model, told apart by `is_archived` and `archive_time`.
    fn deal(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        let status = self.base_status(r, i);
        let pipelines = self.base_count(Resource::Pipelines);
        let pipeline = self.pick(r, i, 50, pipelines);
        let stage = pipeline * 5 + self.pick(r, i, 51, 5) + 1;
        let closed = if status == "won" || status == "lost" {
            Some(self.between(r, i, 52, add, update))
        } else {
            None
        };
        let time = |t: Option<i64>| t.map(|t| json!(iso(t))).unwrap_or(Value::Null);
        let won = closed.filter(|_| status == "won");
        let lost = closed.filter(|_| status == "lost");
        let stage_change = if self.chance(r, i, 53, 30) {
            None
        } else {
            Some(self.between(r, i, 54, add, update))
        };
        let recurring = self.chance(r, i, 55, 20);
        let value = self.pick(r, i, 56, 5_000_000) as f64 / 100.0;
        let archived = r == Resource::ArchivedDeals;
        // References are drawn by id, so an archived deal does not copy the live deal at its index.
        let id = Self::int_id(r, i);
        let mut deal = json!({
            "id": id,
            "title": self.deal_title(r, i),
            "owner_id": self.user_id(r, i, 57),
            "person_id": self.ref_id(Resource::Persons, id - 1, 58, 10),
            "org_id": self.ref_id(Resource::Organizations, id - 1, 59, 15),
            "pipeline_id": pipeline + 1,
            "stage_id": stage,
            "value": value,
            "currency": DEAL_CURRENCIES[self.pick(r, i, 60, 5) as usize],
            "add_time": iso(add),
            "update_time": iso(update),
            "stage_change_time": time(stage_change),
            "is_deleted": status == "deleted",
            "is_archived": archived,
            "status": status,
            "probability": if self.chance(r, i, 61, 60) { Value::Null } else { json!(self.pick(r, i, 62, 101)) },
            "lost_reason": if lost.is_some() { json!(self.one_of(r, i, 63, &["Too expensive 💸", "Chose a competitor", "Pas de budget"])) } else { Value::Null },
            "visible_to": VISIBLE_TO[self.pick(r, i, 64, 4) as usize],
            "close_time": time(closed),
            "won_time": time(won),
            "lost_time": time(lost),
            "expected_close_date": if self.chance(r, i, 65, 40) { Value::Null } else { json!(date(update + 30 * 86_400)) },
            "label_ids": self.label_ids(r, i),
            "origin": self.one_of(r, i, 66, &["ManuallyCreated", "API", "Import", "WebForms"]),
            "origin_id": Value::Null,
            "channel": if self.chance(r, i, 67, 80) { Value::Null } else { json!(self.pick(r, i, 68, 5) + 1) },
            "channel_id": Value::Null,
            "source_lead_id": if self.size == 0 || self.chance(r, i, 69, 85) { Value::Null } else { json!(self.uuid(Resource::Leads, self.ref_index(r, i, 70))) },
            "arr": if recurring { json!(value * 12.0) } else { Value::Null },
            "mrr": if recurring { json!(value) } else { Value::Null },
            "acv": if recurring { json!(value * 12.0) } else { Value::Null },
            "custom_fields": self.custom_fields(r, i),
        });
        // Only archived deals carry the field; the live deals' model has none.
        if archived {
            let archived_at = self.between(r, i, 71, closed.unwrap_or(add), update);
            deal["archive_time"] = json!(iso(archived_at));
        }
        deal
    }

    fn person(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Persons;
        let (first, last) = self.person_name(i);
        let contact = |salt: u64, value: String, label: &str| json!({"value": value, "primary": salt == 0, "label": label});
        let emails: Vec<Value> = (0..1 + self.pick(r, i, 50, 2))
            .map(|k| {
                contact(
                    k,
                    format!("person{}.{k}@example.com", i + 1),
                    ["work", "home"][k as usize],
                )
            })
            .collect();
        let phones: Vec<Value> = (0..self.pick(r, i, 51, 3))
            .map(|k| {
                contact(
                    k,
                    format!(
                        "+372 5{:03} {:04}",
                        (i + k) % 1000,
                        self.pick(r, i, 52 + k, 10_000)
                    ),
                    ["mobile", "work"][k as usize],
                )
            })
            .collect();
        json!({
            "id": i + 1,
            "name": format!("{first} {last}"),
            "first_name": first,
            "last_name": last,
            "owner_id": self.user_id(r, i, 55),
            "org_id": self.ref_index(r, i, 56) + 1,
            "add_time": iso(add),
            "update_time": iso(update),
            "emails": emails,
            "phones": phones,
            "is_deleted": false,
            "visible_to": VISIBLE_TO[self.pick(r, i, 57, 4) as usize],
            "label_ids": self.label_ids(r, i),
            "picture_id": i + 10_000,
            "postal_address": self.address(r, i),
            "notes": self.one_of(r, i, 58, &["Prefers email ✉️", "Spricht Deutsch", "会議は午前中", ""]),
            "im": [contact(0, format!("@person{}", i + 1), "skype")],
            "birthday": date(T0 - 20 * 365 * 86_400 - self.pick(r, i, 59, 40 * 365) as i64 * 86_400),
            "job_title": self.one_of(r, i, 60, &["CEO", "Head of Procurement", "Ingénieure", "営業部長"]),
            "custom_fields": self.custom_fields(r, i),
        })
    }

    fn organization(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Organizations;
        let has_web = !self.chance(r, i, 50, 30);
        json!({
            "id": i + 1,
            "name": self.org_name(i),
            "owner_id": self.user_id(r, i, 51),
            "add_time": iso(add),
            "update_time": iso(update),
            "is_deleted": false,
            "visible_to": VISIBLE_TO[self.pick(r, i, 52, 4) as usize],
            "address": self.address(r, i),
            "label_ids": self.label_ids(r, i),
            "website": if has_web { json!(format!("https://org{}.example.com", i + 1)) } else { Value::Null },
            "linkedin": if has_web { json!(format!("https://www.linkedin.com/company/org{}", i + 1)) } else { Value::Null },
            "industry": if self.chance(r, i, 53, 40) { Value::Null } else { json!(self.pick(r, i, 54, 50) + 1) },
            "annual_revenue": if self.chance(r, i, 55, 50) { Value::Null } else { json!(self.pick(r, i, 56, 100_000) * 1000) },
            "employee_count": if self.chance(r, i, 57, 50) { Value::Null } else { json!(self.pick(r, i, 58, 5000) + 1) },
            "custom_fields": self.custom_fields(r, i),
        })
    }

    fn activity(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Activities;
        let (name, _, key) = ACTIVITY_TYPES[self.pick(r, i, 50, 8) as usize];
        let person_index = self.ref_index(r, i, 51);
        let person = if self.size == 0 || self.chance(r, i, 1051, 20) {
            Value::Null
        } else {
            json!(person_index + 1)
        };
        let (first, last) = self.person_name(person_index);
        let done = self.chance(r, i, 52, 50);
        let due = self.between(r, i, 53, add, update + 60 * 86_400);
        let owner = self.user_id(r, i, 54);
        let online = self.chance(r, i, 55, 30);
        let participants = match person {
            Value::Null => json!([]),
            ref id => json!([{"person_id": id, "primary": true}]),
        };
        json!({
            "id": i + 1,
            "subject": format!("{name} with {first} {last}"),
            "type": key,
            "owner_id": owner,
            "creator_user_id": self.user_id(r, i, 56),
            "is_deleted": false,
            "add_time": iso(add),
            "update_time": iso(update),
            "deal_id": self.ref_id(Resource::Deals, i, 57, 40),
            "lead_id": if self.size == 0 || self.chance(r, i, 58, 85) { Value::Null } else { json!(self.uuid(Resource::Leads, self.ref_index(r, i, 58))) },
            "person_id": person,
            "org_id": self.ref_id(Resource::Organizations, i, 59, 40),
            "project_id": Value::Null,
            "due_date": date(due),
            "due_time": format!("{:02}:{:02}", 8 + self.pick(r, i, 60, 10), self.pick(r, i, 61, 4) * 15),
            "duration": format!("{:02}:{:02}", self.pick(r, i, 62, 3), self.pick(r, i, 63, 4) * 15),
            "busy": self.chance(r, i, 64, 60),
            "done": done,
            "marked_as_done_time": if done { json!(iso(self.between(r, i, 65, add, update))) } else { Value::Null },
            "location": if online || self.chance(r, i, 66, 50) { Value::Null } else { self.address(r, i) },
            "participants": participants,
            "attendees": [{
                "email": format!("person{}.0@example.com", self.ref_index(r, i, 51) + 1),
                "name": format!("{first} {last}"),
                "status": self.one_of(r, i, 67, &["accepted", "tentative", "declined", "noreply"]),
                "is_organizer": false,
                "person_id": person,
                "user_id": Value::Null,
            }],
            "conference_meeting_client": if online { json!("google_meet") } else { Value::Null },
            "conference_meeting_url": if online { json!(format!("https://meet.example.com/{:x}", self.h(r, i, 68))) } else { Value::Null },
            "conference_meeting_id": if online { json!(format!("{:x}", self.h(r, i, 68) >> 32)) } else { Value::Null },
            "public_description": self.one_of(r, i, 69, &["", "Agenda: pricing & next steps", "Überprüfung des Angebots"]),
            "priority": if self.chance(r, i, 70, 50) { Value::Null } else { json!(self.pick(r, i, 71, 3) + 1) },
            "outcome": if done && self.chance(r, i, 72, 50) { json!(self.pick(r, i, 73, 3) + 1) } else { Value::Null },
            "note": if self.chance(r, i, 74, 50) { Value::Null } else { json!(format!("<p>Notes for {first} — 準備OK ✅</p>")) },
            "custom_fields": self.custom_fields(r, i),
        })
    }

    fn product(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Products;
        let prices: Vec<Value> = (0..1 + self.pick(r, i, 50, 3))
            .map(|k| {
                let price = self.pick(r, i, 51 + k, 100_000) as f64 / 100.0;
                json!({
                    "product_id": i + 1,
                    "currency": DEAL_CURRENCIES[((self.pick(r, i, 55, 5)) + k) as usize % 5],
                    "price": price,
                    "cost": price / 2.0,
                    "direct_cost": if self.chance(r, i, 56 + k, 50) { Value::Null } else { json!(price / 4.0) },
                    "notes": (["", "Volume discount ≥ 10 units", "年間契約"][(k % 3) as usize]),
                })
            })
            .collect();
        let frequency = [
            "one-time",
            "annually",
            "semi-annually",
            "quarterly",
            "monthly",
            "weekly",
        ][self.pick(r, i, 60, 6) as usize];
        json!({
            "id": i + 1,
            "name": self.product_name(i),
            "code": format!("SKU-{:05}", i + 1),
            "unit": self.one_of(r, i, 61, &["pcs", "licence", "hour", "kg"]),
            "tax": self.one_of(r, i, 62, &[0.0, 9.0, 20.0, 22.0]),
            "is_deleted": false,
            "is_linkable": true,
            "visible_to": VISIBLE_TO[self.pick(r, i, 63, 4) as usize],
            "owner_id": self.user_id(r, i, 64),
            "add_time": iso(add),
            "update_time": iso(update),
            "description": self.one_of(r, i, 65, &["", "Handmade in Tartu 🇪🇪", "Garantie 2 ans"]),
            "category": if self.chance(r, i, 66, 40) { Value::Null } else { json!(self.one_of(r, i, 67, &["Hardware", "Services", "Software"])) },
            "custom_fields": self.custom_fields(r, i),
            "billing_frequency": frequency,
            "billing_frequency_cycles": if frequency == "one-time" || self.chance(r, i, 68, 50) { Value::Null } else { json!(self.pick(r, i, 69, 24) + 1) },
            "prices": prices,
        })
    }

    fn user(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Users;
        let first = FIRST[(i % FIRST.len() as u64) as usize];
        let last = LAST[((i * 7) % LAST.len() as u64) as usize];
        let admin = self.user_is_admin(i);
        let (zone, offset) = self.one_of(
            r,
            i,
            58,
            &[
                ("Europe/Tallinn", "+02:00"),
                ("America/New_York", "-05:00"),
                ("Asia/Tokyo", "+09:00"),
            ],
        );
        json!({
            "id": i + 1,
            "name": format!("{first} {last}"),
            "default_currency": DEAL_CURRENCIES[self.pick(r, i, 51, 5) as usize],
            "locale": self.one_of(r, i, 52, &["en_US", "et_EE", "de_DE", "ja_JP"]),
            "lang": self.pick(r, i, 53, 10) + 1,
            "email": format!("user{}@sandbox-company.example", i + 1),
            "phone": if self.chance(r, i, 54, 40) { Value::Null } else { json!(format!("+44 20 7946 {:04}", i)) },
            "activated": true,
            "last_login": v1(self.between(r, i, 55, update, T1)),
            "created": v1(add),
            "modified": v1(update),
            "has_created_company": i == 0,
            "access": [
                {"app": "sales", "admin": admin, "permission_set_id": self.permission_set_id(u64::from(!admin))},
                {"app": "global", "admin": admin, "permission_set_id": self.permission_set_id(2 + u64::from(!admin))},
            ],
            "active_flag": true,
            "timezone_name": zone,
            "timezone_offset": offset,
            "role_id": self.user_role(i),
            "icon_url": if self.chance(r, i, 60, 50) { Value::Null } else { json!(format!("https://avatars.example.com/{}.png", i + 1)) },
            "is_you": i == 0,
            "is_deleted": false,
            "is_admin": u64::from(admin),
        })
    }

    fn note(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Notes;
        let deal = self.ref_id(Resource::Deals, i, 50, 50);
        let person = self.ref_id(Resource::Persons, i, 51, 50);
        let org = self.ref_id(Resource::Organizations, i, 52, 60);
        let lead = if self.size == 0 || self.chance(r, i, 53, 80) {
            Value::Null
        } else {
            json!(self.uuid(Resource::Leads, self.ref_index(r, i, 53)))
        };
        let user = self.user_id(r, i, 54);
        let name_of = |id: &Value, f: &dyn Fn(u64) -> String, key: &str| match id.as_u64() {
            Some(id) => json!({ key: f(id - 1) }),
            None => Value::Null,
        };
        let person_name = |p: u64| {
            let (first, last) = self.person_name(p);
            format!("{first} {last}")
        };
        json!({
            "id": i + 1,
            "active_flag": true,
            "add_time": v1(add),
            "content": self.one_of(r, i, 55, &[
                "<p>Discussed pricing — très bien 👍</p>",
                "<p>次回の打ち合わせは来週です。</p>",
                "<p>Sent the <b>proposal</b>; waiting for the CFO's answer.</p>",
                "<ul><li>Demo ✔</li><li>Trial 🚀</li></ul>",
            ]),
            "deal": name_of(&deal, &|d| self.deal_title(Resource::Deals, d), "title"),
            "lead_id": lead,
            "deal_id": deal,
            "last_update_user_id": if add == update { Value::Null } else { json!(self.user_id(r, i, 56)) },
            "org_id": org,
            "organization": name_of(&org, &|o| self.org_name(o), "name"),
            "person": name_of(&person, &person_name, "name"),
            "person_id": person,
            "project_id": Value::Null,
            "project": Value::Null,
            "task_id": Value::Null,
            "task": Value::Null,
            "pinned_to_deal_flag": deal.is_u64() && self.chance(r, i, 57, 20),
            "pinned_to_organization_flag": false,
            "pinned_to_person_flag": person.is_u64() && self.chance(r, i, 58, 10),
            "pinned_to_project_flag": false,
            "pinned_to_task_flag": false,
            "update_time": v1(update),
            "user": {
                "email": format!("user{user}@sandbox-company.example"),
                "icon_url": Value::Null,
                "is_you": user == 1,
                "name": format!("{} {}", FIRST[((user - 1) % FIRST.len() as u64) as usize], LAST[(((user - 1) * 7) % LAST.len() as u64) as usize]),
            },
            "user_id": user,
        })
    }

    /// A live or archived lead (`r` is `Leads` or `ArchivedLeads`).
    fn lead(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        let archived = r == Resource::ArchivedLeads;
        // References are drawn past the live leads' indexes so archived leads do not copy them.
        let k = if archived { ARCHIVED_IDS + i } else { i };
        let with_person = self.chance(r, i, 50, 70);
        let person = if with_person {
            self.ref_id(Resource::Persons, k, 51, 0)
        } else {
            Value::Null
        };
        let org = if with_person && self.chance(r, i, 52, 50) {
            Value::Null
        } else {
            self.ref_id(Resource::Organizations, k, 53, 0)
        };
        let labels: Vec<String> = (0..self.pick(r, i, 54, 3))
            .map(|k| self.uuid(Resource::LeadLabels, (self.pick(r, i, 55, 4) + k) % 4))
            .collect();
        let id = self.uuid(r, i);
        let mut record = json!({
            "id": id,
            "title": self.lead_title(r, i),
            "owner_id": self.user_id(r, i, 56),
            "creator_id": self.user_id(r, i, 57),
            "label_ids": labels,
            "person_id": person,
            "organization_id": org,
            "source_name": self.one_of(r, i, 58, &LEAD_SOURCES[..4]),
            "origin": self.one_of(r, i, 58, &["ManuallyCreated", "API", "WebForms", "Prospector"]),
            "origin_id": Value::Null,
            "channel": if self.chance(r, i, 59, 80) { Value::Null } else { json!(self.pick(r, i, 60, 5) + 1) },
            "channel_id": Value::Null,
            "source_deal_id": Value::Null,
            "is_archived": archived,
            "was_seen": self.chance(r, i, 61, 60),
            "value": if self.chance(r, i, 62, 30) { Value::Null } else { json!({"amount": self.pick(r, i, 63, 100_000), "currency": DEAL_CURRENCIES[self.pick(r, i, 64, 5) as usize]}) },
            "expected_close_date": if self.chance(r, i, 65, 50) { Value::Null } else { json!(date(update + 45 * 86_400)) },
            "next_activity_id": if self.chance(r, i, 66, 60) { Value::Null } else { self.ref_id(Resource::Activities, k, 67, 0) },
            "add_time": iso(add),
            "update_time": iso(update),
            "visible_to": VISIBLE_TO[self.pick(r, i, 68, 4) as usize].to_string(),
            "cc_email": if archived { format!("sandbox+archived-lead{}@pipedrivemail.com", i + 1) } else { format!("sandbox+lead{}@pipedrivemail.com", i + 1) },
        });
        if let Value::Object(map) = &mut record {
            self.lead_custom_fields(r, i, map);
        }
        record
    }

    fn file(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Files;
        let deal = self.ref_id(Resource::Deals, i, 50, 50);
        let person = self.ref_id(Resource::Persons, i, 51, 60);
        let org = self.ref_id(Resource::Organizations, i, 52, 60);
        let product = self.ref_id(Resource::Products, i, 53, 90);
        let (file_name, kind) = self.one_of(
            r,
            i,
            54,
            &[
                ("contract", "pdf"),
                ("Angebot_Müller", "docx"),
                ("見積書", "xlsx"),
                ("photo 📷", "jpg"),
            ],
        );
        let file_name = format!("{file_name}_{}.{kind}", i + 1);
        let remote_id = format!("{:016x}", self.h(r, i, 55));
        let name_of = |id: &Value, f: &dyn Fn(u64) -> String| match id.as_u64() {
            Some(id) => json!(f(id - 1)),
            None => Value::Null,
        };
        json!({
            "id": i + 1,
            "user_id": self.user_id(r, i, 56),
            "deal_id": deal,
            "person_id": person,
            "org_id": org,
            "product_id": product,
            "activity_id": Value::Null,
            "lead_id": Value::Null,
            "project_id": Value::Null,
            "add_time": v1(add),
            "update_time": v1(update),
            "file_name": file_name,
            "file_size": 1024 + self.pick(r, i, 57, 5_000_000),
            "active_flag": true,
            "inline_flag": false,
            "remote_location": "s3",
            "remote_id": remote_id,
            "cid": Value::Null,
            "s3_bucket": Value::Null,
            "mail_message_id": Value::Null,
            "mail_template_id": Value::Null,
            "deal_name": name_of(&deal, &|d| self.deal_title(Resource::Deals, d)),
            "person_name": name_of(&person, &|p| { let (f, l) = self.person_name(p); format!("{f} {l}") }),
            "org_name": name_of(&org, &|o| self.org_name(o)),
            "product_name": name_of(&product, &|p| self.product_name(p)),
            "lead_name": Value::Null,
            "project_name": Value::Null,
            "url": format!("https://sandbox.pipedrive.example/api/v1/files/{}/download", i + 1),
            "name": file_name,
            "description": self.one_of(r, i, 58, &["", "Signed copy ✍️", "Version finale"]),
        })
    }

    /// Test edits: change a visible field and stamp the update time with `now`.
    pub(crate) fn touch(&self, r: Resource, id: &Value, now: i64) -> Value {
        self.edit(r, id, now, |record, n, ordinal| {
            let field = r.edited_field();
            let old = record
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            record.insert(field.to_string(), json!(format!("{old} ✎{n}")));
            self.fill_added(r, ordinal, record);
        })
    }

    /// Deals and projects turn `deleted` and stay listed under that status; other records
    /// leave their lists.
    pub(crate) fn delete(&self, r: Resource, id: &Value, now: i64) {
        self.edit(r, id, now, |record, _, _| {
            if r.has_status() {
                record.insert("status".into(), json!("deleted"));
            }
            if record.contains_key("active_flag") {
                record.insert("active_flag".into(), json!(false));
            } else if record.contains_key("is_deleted") {
                record.insert("is_deleted".into(), json!(true));
            }
        });
        if !r.has_status() {
            let ordinal = self.ordinal_of(r, id).unwrap_or(u64::MAX);
            let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = overlay.entry(r).or_default().entries.get_mut(&ordinal) {
                entry.listed = false;
            }
        }
    }

    pub(crate) fn insert(&self, r: Resource, now: i64) -> Value {
        self.insert_with(r, now, |_| {})
    }

    /// Adds a record like `insert`, then lets `shape` set fields a client chose (a webhook
    /// created through the API keeps the URL and events it was given).
    pub(crate) fn insert_with(
        &self,
        r: Resource,
        now: i64,
        shape: impl FnOnce(&mut Map<String, Value>),
    ) -> Value {
        assert!(
            Dataset::parent(r).is_none(),
            "sandbox: {} are derived from their parent; edit the parent instead",
            r.name()
        );
        assert!(
            r.described().is_none(),
            "sandbox: {} are field definitions; use rename_field or add_field",
            r.name()
        );
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let layer = overlay.entry(r).or_default();
        let ordinal = self.base_count(r) + layer.inserted;
        layer.inserted += 1;
        let mut record = self.build(r, ordinal, now, now);
        if let Value::Object(map) = &mut record {
            set_times(r, map, Some(now), now);
            self.fill_added(r, ordinal, map);
            shape(map);
        }
        layer.entries.insert(
            ordinal,
            Entry {
                ordinal,
                add: now,
                update: now,
                listed: true,
                record: record.clone(),
            },
        );
        record
    }

    fn edit(
        &self,
        r: Resource,
        id: &Value,
        now: i64,
        change: impl FnOnce(&mut Map<String, Value>, u64, u64),
    ) -> Value {
        assert!(
            r.described().is_none(),
            "sandbox: {} are field definitions; use rename_field or add_field",
            r.name()
        );
        let ordinal = self
            .ordinal_of(r, id)
            .unwrap_or_else(|| panic!("sandbox: {id} is not a {} id", r.name()));
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let layer = overlay.entry(r).or_default();
        let base_count = self.base_count(r);
        if ordinal >= base_count + layer.inserted {
            panic!("sandbox: no {} with id {id}", r.name());
        }
        layer.edits += 1;
        let edits = layer.edits;
        let entry = layer.entries.entry(ordinal).or_insert_with(|| Entry {
            ordinal,
            add: self.base_add(r, ordinal),
            update: self.base_update(r, ordinal),
            listed: true,
            record: self.base_record(r, ordinal),
        });
        let before = entry.record.clone();
        entry.update = now.max(entry.update);
        if let Value::Object(map) = &mut entry.record {
            change(map, edits, ordinal);
            set_times(r, map, None, entry.update);
        }
        if matches!(r, Resource::Deals | Resource::ArchivedDeals) {
            let rows = changelog_rows(&before, &entry.record, entry.update);
            layer.changelog.entry(ordinal).or_default().extend(rows);
        }
        entry.record.clone()
    }

    /// One page of `r` in the query's order, starting at `start`.
    pub(crate) fn page(&self, r: Resource, q: &ListQuery, start: Start, limit: usize) -> Page {
        let view = self.view(r, q);
        let filtered = r.has_status() || q.pipeline_id.is_some();
        let mut cursor = match start {
            Start::First => view.first(q.desc),
            Start::After(key) => view.after(self, r, q, key),
            Start::Offset(offset) if !filtered => match view.at_offset(self, r, q, offset) {
                Some(position) => position,
                None => {
                    return Page {
                        records: Vec::new(),
                        last: None,
                        more: false,
                    }
                }
            },
            Start::Offset(offset) => {
                let mut position = view.first(q.desc);
                let mut skipped = 0;
                while skipped < offset {
                    match view.next(self, r, q, &mut position) {
                        Some(row) if self.matches(r, q, &view, row) => skipped += 1,
                        Some(_) => {}
                        None => break,
                    }
                }
                position
            }
        };
        let mut rows = Vec::new();
        while rows.len() <= limit {
            match view.next(self, r, q, &mut cursor) {
                Some(row) if self.matches(r, q, &view, row) => rows.push(row),
                Some(_) => {}
                None => break,
            }
        }
        let more = rows.len() > limit;
        rows.truncate(limit);
        let last = rows.last().map(|row| view.key(self, r, q.key, *row));
        let records = rows
            .into_iter()
            .map(|row| {
                let mut record = match row {
                    Row::Base(i) => self.base_record(r, i),
                    Row::Over(k) => view.over[k].record.clone(),
                };
                if r == Resource::Activities && !q.include_attendees {
                    if let Value::Object(map) = &mut record {
                        map.remove("attendees");
                    }
                }
                record
            })
            .collect();
        Page {
            records,
            last,
            more,
        }
    }

    fn matches(&self, r: Resource, q: &ListQuery, view: &View, row: Row) -> bool {
        let field = |name: &str| match row {
            Row::Over(k) => view.over[k]
                .record
                .get(name)
                .cloned()
                .unwrap_or(Value::Null),
            Row::Base(i) => match name {
                "status" => json!(self.base_status(r, i)),
                _ => json!(Self::stage_pipeline(i)),
            },
        };
        if r.has_status() {
            let status = field("status");
            let status = status.as_str().unwrap_or("");
            let wanted = match &q.statuses {
                Some(list) => list.iter().any(|s| s == status),
                None => status != "deleted",
            };
            if !wanted {
                return false;
            }
        }
        match q.pipeline_id {
            Some(p) if r == Resource::Stages => field("pipeline_id").as_u64() == Some(p),
            _ => true,
        }
    }

    fn view(&self, r: Resource, q: &ListQuery) -> View {
        let n = self.base_count(r);
        // A mail folder is a block of base indexes, so it narrows the range like a time filter.
        let (first, end) = match q.folder {
            Some(f) => self.folder_range(f),
            None => (0, n),
        };
        let lo = match q.since {
            Some(t) => partition_point(first, end, |i| self.base_update(r, i) < t),
            None => first,
        };
        let hi = match q.until {
            Some(t) => partition_point(lo, end, |i| self.base_update(r, i) < t),
            None => end,
        };
        let overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let (mut hidden, mut over) = (Vec::new(), Vec::new());
        if let Some(layer) = overlay.get(&r) {
            for entry in layer.entries.values() {
                if entry.ordinal < n {
                    hidden.push(entry.ordinal);
                }
                let in_range = q.since.is_none_or(|t| entry.update >= t)
                    && q.until.is_none_or(|t| entry.update < t)
                    && q.folder.is_none_or(|f| self.folder_of(entry.ordinal) == f);
                if entry.listed && in_range {
                    over.push(entry.clone());
                }
            }
        }
        drop(overlay);
        over.sort_by_key(|e| entry_key(e, q.key));
        View {
            lo,
            hi,
            hidden,
            over,
        }
    }
}

fn entry_key(e: &Entry, key: SortKey) -> Key {
    match key {
        SortKey::Id => (0, e.ordinal),
        SortKey::AddTime => (e.add, e.ordinal),
        SortKey::UpdateTime => (e.update, e.ordinal),
    }
}

/// Writes the record's time fields in the resource's own format.
fn set_times(r: Resource, map: &mut Map<String, Value>, add: Option<i64>, update: i64) {
    let (add_field, update_field, format): (&str, Option<&str>, fn(i64) -> String) = match r {
        Resource::Users => ("created", Some("modified"), v1),
        Resource::Notes
        | Resource::ActivityTypes
        | Resource::Filters
        | Resource::Files
        | Resource::MailThreads => ("add_time", Some("update_time"), v1),
        // A webhook records only when it was made.
        Resource::Webhooks => ("add_time", None, v1),
        Resource::Currencies
        | Resource::LeadSources
        | Resource::Goals
        | Resource::Roles
        | Resource::PermissionSets
        | Resource::CallLogs => return,
        _ => ("add_time", Some("update_time"), iso),
    };
    if let Some(add) = add {
        map.insert(add_field.into(), json!(format(add)));
    }
    if let Some(field) = update_field {
        map.insert(field.into(), json!(format(update)));
    }
}

/// The changelog rows for an edit: one per top-level field whose value changed.
fn changelog_rows(before: &Value, after: &Value, time: i64) -> Vec<Value> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return Vec::new();
    };
    // The times change with every edit and `is_deleted` mirrors `status`, so neither is logged.
    after
        .iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "update_time" | "is_deleted")
                && before.get(k.as_str()) != Some(*v)
        })
        .map(|(k, v)| {
            json!({
                "field_key": k,
                "old_value": changelog_value(before.get(k.as_str()).unwrap_or(&Value::Null)),
                "new_value": changelog_value(v),
                "actor_user_id": 1,
                "time": v1(time),
                "change_source": "api",
                "change_source_user_agent": "sandbox-test",
                "is_bulk_update_flag": false,
            })
        })
        .collect()
}

/// Changelog values are strings (or null), whatever the field's type.
fn changelog_value(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    }
}

/// First index in [lo, hi) where `below` turns false; `below` must be monotone.
fn partition_point(mut lo: u64, mut hi: u64, below: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[derive(Clone, Copy)]
enum Row {
    Base(u64),
    Over(usize),
}

/// Where a scan stands: the next base index and overlay slot to consider. Ascending scans
/// read `base` and `over` upwards; descending scans read `base - 1` and `over - 1` downwards.
struct Position {
    base: u64,
    over: usize,
}

/// A request's snapshot of one resource: the base index range inside the update-time filter,
/// the base records an edit has hidden, and the overlay records to merge in, sorted.
struct View {
    lo: u64,
    hi: u64,
    hidden: Vec<u64>,
    over: Vec<Entry>,
}

impl View {
    fn key(&self, data: &Dataset, r: Resource, key: SortKey, row: Row) -> Key {
        match row {
            Row::Base(i) => data.base_key(r, key, i),
            Row::Over(k) => entry_key(&self.over[k], key),
        }
    }

    fn first(&self, desc: bool) -> Position {
        if desc {
            Position {
                base: self.hi,
                over: self.over.len(),
            }
        } else {
            Position {
                base: self.lo,
                over: 0,
            }
        }
    }

    fn base_below(&self, data: &Dataset, r: Resource, key: SortKey, bound: Key) -> u64 {
        partition_point(self.lo, self.hi, |i| data.base_key(r, key, i) < bound)
    }

    fn over_below(&self, key: SortKey, bound: Key) -> usize {
        self.over.partition_point(|e| entry_key(e, key) < bound)
    }

    /// The position just past `bound` in the scan direction.
    fn after(&self, data: &Dataset, r: Resource, q: &ListQuery, bound: Key) -> Position {
        if q.desc {
            Position {
                base: self.base_below(data, r, q.key, bound),
                over: self.over_below(q.key, bound),
            }
        } else {
            let next = (bound.0, bound.1.saturating_add(1));
            Position {
                base: self.base_below(data, r, q.key, next),
                over: self.over_below(q.key, next),
            }
        }
    }

    fn hidden_between(&self, a: u64, b: u64) -> u64 {
        (self.hidden.partition_point(|h| *h < b) - self.hidden.partition_point(|h| *h < a)) as u64
    }

    /// The position of the `offset`-th row in scan order, found without walking the base.
    fn at_offset(
        &self,
        data: &Dataset,
        r: Resource,
        q: &ListQuery,
        offset: u64,
    ) -> Option<Position> {
        let total =
            self.hi - self.lo - self.hidden_between(self.lo, self.hi) + self.over.len() as u64;
        if offset >= total {
            return None;
        }
        let s = if q.desc { total - 1 - offset } else { offset };
        let merged_position = |j: usize| {
            let bound = entry_key(&self.over[j], q.key);
            let below = self.base_below(data, r, q.key, bound);
            j as u64 + below - self.lo - self.hidden_between(self.lo, below)
        };
        let c = (0..self.over.len())
            .take_while(|j| merged_position(*j) < s)
            .count();
        let (base, over) = if c < self.over.len() && merged_position(c) == s {
            let bound = entry_key(&self.over[c], q.key);
            (self.base_below(data, r, q.key, bound), c)
        } else {
            let mut i = self.lo + (s - c as u64);
            for h in self.hidden.iter().filter(|h| **h >= self.lo) {
                if *h <= i {
                    i += 1;
                } else {
                    break;
                }
            }
            (i, self.over_below(q.key, data.base_key(r, q.key, i)))
        };
        let over_is_next = c < self.over.len() && merged_position(c) == s;
        Some(match (q.desc, over_is_next) {
            (false, _) => Position { base, over },
            (true, true) => Position {
                base,
                over: over + 1,
            },
            (true, false) => Position {
                base: base + 1,
                over,
            },
        })
    }

    fn next(&self, data: &Dataset, r: Resource, q: &ListQuery, p: &mut Position) -> Option<Row> {
        if q.desc {
            while p.base > self.lo && self.hidden.binary_search(&(p.base - 1)).is_ok() {
                p.base -= 1;
            }
            let base = (p.base > self.lo).then(|| p.base - 1);
            let over = (p.over > 0).then(|| p.over - 1);
            match (base, over) {
                (Some(i), Some(k))
                    if data.base_key(r, q.key, i) > entry_key(&self.over[k], q.key) =>
                {
                    p.base -= 1;
                    Some(Row::Base(i))
                }
                (_, Some(k)) => {
                    p.over -= 1;
                    Some(Row::Over(k))
                }
                (Some(i), None) => {
                    p.base -= 1;
                    Some(Row::Base(i))
                }
                (None, None) => None,
            }
        } else {
            while p.base < self.hi && self.hidden.binary_search(&p.base).is_ok() {
                p.base += 1;
            }
            let base = (p.base < self.hi).then_some(p.base);
            let over = (p.over < self.over.len()).then_some(p.over);
            match (base, over) {
                (Some(i), Some(k))
                    if data.base_key(r, q.key, i) < entry_key(&self.over[k], q.key) =>
                {
                    p.base += 1;
                    Some(Row::Base(i))
                }
                (_, Some(k)) => {
                    p.over += 1;
                    Some(Row::Over(k))
                }
                (Some(i), None) => {
                    p.base += 1;
                    Some(Row::Base(i))
                }
                (None, None) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(v: &Value) -> i64 {
        let s = v.as_str().unwrap();
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.timestamp(),
            Err(_) => chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp(),
        }
    }

    /// Every page of a v1-style offset walk, concatenated.
    fn walk_offsets(data: &Dataset, r: Resource, q: &ListQuery, limit: usize) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let page = data.page(r, q, Start::Offset(all.len() as u64), limit);
            all.extend(page.records);
            if !page.more {
                return all;
            }
        }
    }

    fn walk_keys(data: &Dataset, r: Resource, q: &ListQuery, limit: usize) -> Vec<Value> {
        let mut all = Vec::new();
        let mut start = Start::First;
        loop {
            let page = data.page(r, q, start, limit);
            all.extend(page.records);
            match (page.more, page.last) {
                (true, Some(last)) => start = Start::After(last),
                _ => return all,
            }
        }
    }

    fn expected(
        data: &Dataset,
        r: Resource,
        key: SortKey,
        desc: bool,
        since: Option<i64>,
    ) -> Vec<Value> {
        let mut records = data.records(r);
        records.retain(|v| since.is_none_or(|t| seconds(&v["update_time"]) >= t));
        let ord = |v: &Value| data.ordinal_of(r, &v["id"]).unwrap();
        records.sort_by_key(|v| match key {
            SortKey::Id => (0, ord(v)),
            SortKey::AddTime => (seconds(&v["add_time"]), ord(v)),
            SortKey::UpdateTime => (seconds(&v["update_time"]), ord(v)),
        });
        if desc {
            records.reverse();
        }
        records
    }

    #[test]
    fn times_are_monotone_with_ties_across_page_edges() {
        let data = Dataset::new(7, 1200);
        let r = Resource::Deals;
        for i in 1..1200 {
            assert!(data.base_update(r, i - 1) <= data.base_update(r, i));
            assert!(data.base_add(r, i - 1) <= data.base_add(r, i));
            assert!(data.base_add(r, i) <= data.base_update(r, i));
        }
        for edge in [100, 500, 1000] {
            assert_eq!(data.base_update(r, edge - 1), data.base_update(r, edge));
        }
        let first = data.base_update(r, 0);
        let last = data.base_update(r, 1199);
        assert!(first >= T0 && last <= T1);
    }

    #[test]
    fn records_follow_the_models() {
        let data = Dataset::new(1, 300);
        let deals = data.records(Resource::Deals);
        assert_eq!(deals.len(), 300);
        let deleted = deals.iter().filter(|d| d["status"] == "deleted").count();
        assert!((3..40).contains(&deleted), "{deleted} deleted deals");
        for d in &deals {
            assert_eq!(d["is_deleted"], d["status"] == "deleted");
            assert_eq!(d["won_time"].is_null(), d["status"] != "won");
            assert_eq!(d["custom_fields"].as_object().unwrap().len(), 18);
        }
        let lead = &data.records(Resource::Leads)[0];
        let id = lead["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(data.ordinal_of(Resource::Leads, &lead["id"]), Some(0));
        assert!(lead["update_time"].as_str().unwrap().ends_with('Z'));
        let note = &data.records(Resource::Notes)[0];
        assert_eq!(note["update_time"].as_str().unwrap().len(), 19);
        assert_eq!(data.records(Resource::Stages).len(), 15);
        assert_eq!(data.records(Resource::Currencies)[3]["code"], "JPY");
        let text: String = data
            .records(Resource::Persons)
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert!(!text.is_ascii());
        assert_eq!(
            Dataset::new(1, 300).records(Resource::Activities),
            data.records(Resource::Activities)
        );
    }

    #[test]
    fn lead_ids_sort_like_their_index() {
        let data = Dataset::new(99, 50);
        let ids: Vec<String> = data
            .records(Resource::Leads)
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn offset_and_keyset_walks_match_brute_force_with_overlay() {
        let data = Dataset::new(3, 1234);
        let now = 1_800_000_000;
        for r in [Resource::Notes, Resource::Persons, Resource::Leads] {
            let ids: Vec<Value> = data.records(r).iter().map(|v| v["id"].clone()).collect();
            data.touch(r, &ids[10], now);
            data.touch(r, &ids[499], now);
            data.touch(r, &ids[500], now + 5);
            data.delete(r, &ids[100], now + 1);
            data.delete(r, &ids[777], now + 2);
            data.insert(r, now + 3);
            data.insert(r, now + 3);
            for key in [SortKey::Id, SortKey::AddTime, SortKey::UpdateTime] {
                for desc in [false, true] {
                    for since in [None, Some(data.base_update(r, 600)), Some(now + 1)] {
                        let mut q = ListQuery::new(key, desc);
                        q.since = since;
                        let want = expected(&data, r, key, desc, since);
                        for limit in [7, 100, 500] {
                            assert_eq!(
                                walk_offsets(&data, r, &q, limit),
                                want,
                                "{r:?} {key:?} {desc} {since:?} {limit}"
                            );
                            assert_eq!(
                                walk_keys(&data, r, &q, limit),
                                want,
                                "{r:?} {key:?} {desc} {since:?} {limit}"
                            );
                        }
                    }
                }
            }
            assert_eq!(data.records(r).len(), 1234);
        }
    }

    #[test]
    fn children_agree_with_their_parents() {
        let data = Dataset::new(11, 400);
        let mut seen = std::collections::HashSet::new();
        let deals = data
            .records(Resource::Deals)
            .into_iter()
            .chain(data.records(Resource::ArchivedDeals));
        for deal in deals {
            let update = seconds(&deal["update_time"]);
            let products = data.children(Resource::DealProducts, &deal["id"]);
            assert!(products.len() <= 3);
            for p in &products {
                assert!(seen.insert(p["id"].as_u64().unwrap()), "{p}");
                assert_eq!(p["deal_id"], deal["id"]);
                assert!(seconds(&p["add_time"]) <= seconds(&p["update_time"]));
                assert!(seconds(&p["update_time"]) <= update);
                if let Some(v) = p["product_variation_id"].as_u64() {
                    let variations = data.children(Resource::ProductVariations, &p["product_id"]);
                    assert!(variations.iter().any(|x| x["id"] == v));
                }
            }
            assert!(data.children(Resource::DealInstallments, &deal["id"]).len() <= 2);
            let log = data.children(Resource::DealChangelog, &deal["id"]);
            assert!((1..=4).contains(&log.len()));
            assert_eq!(seconds(&log.last().unwrap()["time"]), update);
        }
        let users = data.records(Resource::Users);
        for role in data.records(Resource::Roles) {
            let assigned = data.children(Resource::RoleAssignments, &role["id"]);
            assert_eq!(role["assignment_count"], assigned.len().to_string());
        }
        let mut assignments = 0;
        for set in data.records(Resource::PermissionSets) {
            let assigned = data.children(Resource::PermissionSetAssignments, &set["id"]);
            assert_eq!(set["assignment_count"], assigned.len());
            assignments += assigned.len();
        }
        // Every user's sales and global access point at a listed permission set.
        assert_eq!(assignments, users.len() * 2);
        let threads = data.records(Resource::MailThreads);
        let (mut next, mut total) = (0, 0);
        for (f, folder) in MAIL_FOLDERS.iter().enumerate() {
            let (lo, hi) = data.folder_range(f as u64);
            assert_eq!(lo, next);
            next = hi;
            for t in &threads[lo as usize..hi as usize] {
                assert_eq!(t["folders"], json!([folder]));
                let messages = data.children(Resource::MailMessages, &t["id"]);
                assert_eq!(t["message_count"], messages.len());
                total += messages.len();
                let last = &messages.last().unwrap()["message_time"];
                assert_eq!(last, &t["last_message_timestamp"]);
            }
        }
        assert_eq!(next, threads.len() as u64);
        assert_eq!(data.records(Resource::MailMessages).len(), total);
        for note in data.records(Resource::Notes).iter().take(50) {
            for c in data.children(Resource::NoteComments, &note["id"]) {
                assert_eq!(c["object_id"], note["id"].to_string());
                assert!(seconds(&c["update_time"]) <= seconds(&note["update_time"]));
            }
        }
        for p in data.records(Resource::Projects) {
            let phases = data.children(Resource::ProjectPhases, &p["board_id"]);
            assert!(phases.iter().any(|ph| ph["id"] == p["phase_id"]));
        }
        for r in Resource::ALL {
            assert_eq!(
                Dataset::parent(r).is_some() || r.described().is_some(),
                data.base_count(r) == 0,
                "{r:?}"
            );
        }
        assert!(data.children(Resource::Deals, &json!(1)).is_empty());
        assert!(data
            .children(Resource::NoteComments, &json!(401))
            .is_empty());
    }

    #[test]
    fn deleted_projects_stay_listed_under_status_deleted() {
        let data = Dataset::new(2, 400);
        let r = Resource::Projects;
        let open = data
            .records(r)
            .into_iter()
            .find(|p| p["status"] == "open")
            .unwrap();
        data.delete(r, &open["id"], 1_800_000_000);
        let touched = data.touch(r, &json!(1), 1_800_000_001);
        let inserted = data.insert(r, 1_800_000_002);
        assert_eq!(inserted["id"], 21);
        let mut q = ListQuery::new(SortKey::Id, false);
        let listed = data.page(r, &q, Start::First, 500).records;
        assert!(!listed.contains(&data.records(r)[open["id"].as_u64().unwrap() as usize - 1]));
        assert!(listed.contains(&inserted));
        assert!(listed.iter().all(|p| p["status"] != "deleted"));
        q.statuses = Some(vec!["deleted".into()]);
        let deleted = data.page(r, &q, Start::First, 500).records;
        assert!(deleted.iter().any(|p| p["id"] == open["id"]));
        assert_eq!(touched["update_time"], iso(1_800_000_001));
        let archived = data.insert(Resource::ArchivedProjects, 1_800_000_003);
        assert_eq!(archived["id"], ARCHIVED_IDS + 21);
        assert_eq!(archived["archive_time"], iso(1_800_000_003));
    }

    #[test]
    fn deleted_deals_stay_listed_under_status_deleted() {
        let data = Dataset::new(5, 200);
        let id = data
            .records(Resource::Deals)
            .into_iter()
            .find(|d| d["status"] == "open")
            .unwrap()["id"]
            .clone();
        data.delete(Resource::Deals, &id, 1_800_000_000);
        let mut q = ListQuery::new(SortKey::UpdateTime, false);
        let open = data.page(Resource::Deals, &q, Start::First, 500).records;
        assert!(open.iter().all(|d| d["status"] != "deleted"));
        q.statuses = Some(vec!["deleted".into()]);
        let deleted = data.page(Resource::Deals, &q, Start::First, 500).records;
        assert!(deleted.iter().all(|d| d["is_deleted"] == true));
        assert_eq!(deleted.last().unwrap()["id"], id);
        assert_eq!(
            deleted.last().unwrap()["update_time"],
            "2027-01-15T08:00:00Z"
        );
    }
}
