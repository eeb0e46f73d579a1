//! Field definitions and custom-field values. The `*Fields` lists (what an entity's fields are
//! called, their types and options) are a fixed table per entity plus the few fields a test
//! renamed or added, kept as a small edit list. The custom values a record carries are drawn
//! from (seed, record, field), shaped by the field's type: the v2 `custom_fields` object, or the
//! flat v1 form leads use (reference §6).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::names::{CITIES, DEAL_CURRENCIES};
use super::{date, iso, mix, v1, Dataset, Resource, T0, T1};

/// A custom field's type: every `field_type` the sandbox gives a custom field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Varchar,
    Text,
    Int,
    Double,
    Monetary,
    Enum,
    Set,
    Date,
    Daterange,
    Time,
    Timerange,
    Address,
    User,
    Org,
    People,
    Phone,
    VarcharAuto,
}

impl Kind {
    const ALL: [Kind; 17] = [
        Kind::Varchar,
        Kind::Text,
        Kind::Int,
        Kind::Double,
        Kind::Monetary,
        Kind::Enum,
        Kind::Set,
        Kind::Date,
        Kind::Daterange,
        Kind::Time,
        Kind::Timerange,
        Kind::Address,
        Kind::User,
        Kind::Org,
        Kind::People,
        Kind::Phone,
        Kind::VarcharAuto,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Varchar => "varchar",
            Kind::Text => "text",
            Kind::Int => "int",
            Kind::Double => "double",
            Kind::Monetary => "monetary",
            Kind::Enum => "enum",
            Kind::Set => "set",
            Kind::Date => "date",
            Kind::Daterange => "daterange",
            Kind::Time => "time",
            Kind::Timerange => "timerange",
            Kind::Address => "address",
            Kind::User => "user",
            Kind::Org => "org",
            Kind::People => "people",
            Kind::Phone => "phone",
            Kind::VarcharAuto => "varchar_auto",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The parts stored under their own keys besides the main value, as (key suffix, name
    /// prefix, type), like the v1 field list names them.
    fn subfields(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Kind::Monetary => &[("currency", "Currency of", "varchar")],
            Kind::Daterange => &[("until", "End date of", "date")],
            Kind::Timerange => &[("until", "End time of", "time")],
            Kind::Address => &[
                ("street_number", "House number of", "varchar"),
                ("route", "Street/road name of", "varchar"),
                ("sublocality", "District/sublocality of", "varchar"),
                ("locality", "City/town/village/locality of", "varchar"),
                ("admin_area_level_1", "State/county of", "varchar"),
                ("admin_area_level_2", "Region of", "varchar"),
                ("country", "Country of", "varchar"),
                ("postal_code", "ZIP/Postal code of", "varchar"),
                ("formatted_address", "Full/combined address of", "varchar"),
            ],
            _ => &[],
        }
    }
}

/// A custom field of an entity's fixed table; its key is `field_key(owner, position)`. Option
/// fields list their labels; the last one has been deleted since records chose it, so records
/// still hold its id although the definition no longer lists it.
struct Spec {
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
}

const fn spec(name: &'static str, kind: Kind) -> Spec {
    Spec {
        name,
        kind,
        labels: &[],
    }
}

const fn options(name: &'static str, kind: Kind, labels: &'static [&'static str]) -> Spec {
    Spec { name, kind, labels }
}

/// The first five positions of deals, persons, organizations, products and projects keep the
/// keys and types their records had before the tables grew.
const DEAL_CUSTOM: [Spec; 18] = [
    spec("Customer reference", Kind::Varchar),
    spec("Discount rate", Kind::Double),
    spec("Budget", Kind::Monetary),
    options(
        "Priority",
        Kind::Enum,
        &["Low", "Medium", "High 🔥", "Urgent (retired)"],
    ),
    options(
        "Interests",
        Kind::Set,
        &[
            "Analytics",
            "Intégrations",
            "クラウド",
            "On-premise (retired)",
        ],
    ),
    spec("Internal notes", Kind::Text),
    spec("Seats", Kind::Int),
    spec("Contract start", Kind::Date),
    spec("Trial period", Kind::Daterange),
    spec("Preferred call time", Kind::Time),
    spec("Support hours", Kind::Timerange),
    spec("Billing address", Kind::Address),
    spec("Account manager", Kind::User),
    spec("Partner organization", Kind::Org),
    spec("Champion", Kind::People),
    spec("Hotline", Kind::Phone),
    spec("Industry tag", Kind::VarcharAuto),
    // Pipedrive lets two fields share a name; only the key tells them apart.
    spec("Customer reference", Kind::Text),
];
const PERSON_CUSTOM: [Spec; 9] = [
    spec("Nickname", Kind::Varchar),
    spec("Lead score", Kind::Double),
    spec("Lifetime value", Kind::Monetary),
    options(
        "Contact preference",
        Kind::Enum,
        &["Email ✉️", "Phone", "Teléfono móvil", "Fax (retired)"],
    ),
    options(
        "Newsletter topics",
        Kind::Set,
        &["Product news", "Events", "Webinare", "Print (retired)"],
    ),
    spec("Last contacted", Kind::Date),
    spec("Assistant phone", Kind::Phone),
    spec("Referred by", Kind::People),
    spec("Home address", Kind::Address),
];
const ORGANIZATION_CUSTOM: [Spec; 9] = [
    spec("VAT number", Kind::Varchar),
    spec("Credit rating", Kind::Double),
    spec("Annual budget", Kind::Monetary),
    options(
        "Segment",
        Kind::Enum,
        &[
            "SMB",
            "Mid-market",
            "Enterprise 🏢",
            "Public sector (retired)",
        ],
    ),
    options(
        "Regions served",
        Kind::Set,
        &["EMEA", "Americas", "APAC", "Antarctica (retired)"],
    ),
    spec("Locations", Kind::Int),
    spec("Key account owner", Kind::User),
    spec("Parent company", Kind::Org),
    spec("Company profile", Kind::Text),
];
const PRODUCT_CUSTOM: [Spec; 8] = [
    spec("Supplier code", Kind::Varchar),
    spec("Weight (kg)", Kind::Double),
    spec("List price", Kind::Monetary),
    options(
        "Tier",
        Kind::Enum,
        &["Basic", "Pro", "Enterprise", "Legacy (retired)"],
    ),
    options(
        "Compatible with",
        Kind::Set,
        &["Windows", "macOS", "Linux 🐧", "OS/2 (retired)"],
    ),
    spec("Stock", Kind::Int),
    spec("Launch date", Kind::Date),
    spec("Order cut-off", Kind::Time),
];
const ACTIVITY_CUSTOM: [Spec; 3] = [
    spec("Meeting room", Kind::Varchar),
    options(
        "Outcome rating",
        Kind::Enum,
        &["👍", "👎", "🤷", "n/a (retired)"],
    ),
    spec("Follow-up date", Kind::Date),
];
const PROJECT_CUSTOM: [Spec; 6] = [
    spec("Cost centre", Kind::Varchar),
    spec("Hours budgeted", Kind::Double),
    spec("Project budget", Kind::Monetary),
    options(
        "Delivery model",
        Kind::Enum,
        &["Remote", "On-site", "Hybrid", "Offshore (retired)"],
    ),
    options(
        "Workstreams",
        Kind::Set,
        &[
            "Data migration",
            "Training",
            "Integrations",
            "Fax setup (retired)",
        ],
    ),
    spec("Go-live", Kind::Date),
];

/// Option colours; later options have none.
const COLORS: [&str; 2] = ["green", "red"];
/// Options of an option field a test added; none deleted.
const ADDED_LABELS: [&str; 3] = ["Option A", "Option B", "Option C"];
/// Added fields take key positions from here on, clear of every fixed table.
const ADDED_FROM: u64 = 500;

/// System fields: (field code, name, type, returned only on request). The same list serves
/// v1's `key`, `name` and `field_type`.
type System = (&'static str, &'static str, &'static str, bool);

const DEAL_SYSTEM: [System; 25] = [
    ("id", "ID", "int", false),
    ("title", "Title", "varchar", false),
    ("creator_user_id", "Creator", "user", false),
    ("owner_id", "Owner", "user", false),
    ("value", "Value", "monetary", false),
    ("person_id", "Contact person", "people", false),
    ("org_id", "Organization", "org", false),
    ("stage_id", "Stage", "stage", false),
    ("status", "Status", "status", false),
    ("probability", "Probability", "double", false),
    ("expected_close_date", "Expected close date", "date", false),
    ("add_time", "Deal created", "date", false),
    ("update_time", "Update time", "date", false),
    ("stage_change_time", "Last stage change", "date", false),
    ("won_time", "Won time", "date", false),
    ("lost_time", "Lost time", "date", false),
    ("close_time", "Deal closed on", "date", false),
    ("lost_reason", "Lost reason", "varchar_options", false),
    ("visible_to", "Visible to", "visible_to", false),
    ("label_ids", "Label", "set", false),
    ("origin", "Source origin", "varchar", false),
    ("channel", "Source channel", "enum", false),
    ("source_lead_id", "Source lead", "lead", false),
    ("products_count", "Number of products", "int", true),
    ("next_activity_id", "Next activity", "activity", true),
];
const PERSON_SYSTEM: [System; 18] = [
    ("id", "ID", "int", false),
    ("name", "Name", "varchar", false),
    ("first_name", "First name", "varchar", false),
    ("last_name", "Last name", "varchar", false),
    ("owner_id", "Owner", "user", false),
    ("org_id", "Organization", "org", false),
    ("emails", "Email", "varchar", false),
    ("phones", "Phone", "phone", false),
    ("label_ids", "Labels", "set", false),
    ("visible_to", "Visible to", "visible_to", false),
    ("add_time", "Person created", "date", false),
    ("update_time", "Update time", "date", false),
    ("picture_id", "Profile picture", "picture", false),
    ("postal_address", "Postal address", "address", true),
    ("notes", "Notes", "text", true),
    ("im", "Instant messenger", "varchar", true),
    ("birthday", "Birthday", "date", true),
    ("job_title", "Job title", "varchar", true),
];
const ORGANIZATION_SYSTEM: [System; 13] = [
    ("id", "ID", "int", false),
    ("name", "Name", "varchar", false),
    ("owner_id", "Owner", "user", false),
    ("address", "Address", "address", false),
    ("label_ids", "Labels", "set", false),
    ("visible_to", "Visible to", "visible_to", false),
    ("add_time", "Organization created", "date", false),
    ("update_time", "Update time", "date", false),
    ("website", "Website", "varchar", true),
    ("linkedin", "LinkedIn profile", "varchar", true),
    ("industry", "Industry", "enum", true),
    ("annual_revenue", "Annual revenue", "double", true),
    ("employee_count", "Number of employees", "int", true),
];
const PRODUCT_SYSTEM: [System; 15] = [
    ("id", "ID", "int", false),
    ("name", "Name", "varchar", false),
    ("code", "Product code", "varchar", false),
    ("unit", "Unit", "varchar", false),
    ("tax", "Tax", "double", false),
    ("category", "Category", "enum", false),
    ("owner_id", "Owner", "user", false),
    ("visible_to", "Visible to", "visible_to", false),
    ("prices", "Unit prices", "price_list", false),
    ("description", "Description", "text", false),
    (
        "billing_frequency",
        "Billing frequency",
        "billing_frequency",
        false,
    ),
    ("billing_frequency_cycles", "Billing cycles", "int", false),
    ("is_linkable", "Linkable", "boolean", false),
    ("add_time", "Product created", "date", false),
    ("update_time", "Update time", "date", false),
];
const ACTIVITY_SYSTEM: [System; 20] = [
    ("id", "ID", "int", false),
    ("subject", "Subject", "varchar", false),
    ("type", "Type", "varchar_options", false),
    ("owner_id", "Assigned to user", "user", false),
    ("deal_id", "Deal", "deal", false),
    ("lead_id", "Lead", "lead", false),
    ("person_id", "Contact person", "people", false),
    ("org_id", "Organization", "org", false),
    ("project_id", "Project", "project", false),
    ("due_date", "Due date", "date", false),
    ("due_time", "Due time", "time", false),
    ("duration", "Duration", "time", false),
    ("busy", "Free/busy", "boolean", false),
    ("done", "Done", "boolean", false),
    ("location", "Location", "address", false),
    ("note", "Note", "text", false),
    ("public_description", "Public description", "text", false),
    ("priority", "Priority", "enum", false),
    ("add_time", "Add time", "date", false),
    ("attendees", "Attendees", "json", true),
];
const PROJECT_SYSTEM: [System; 15] = [
    ("id", "ID", "int", false),
    ("title", "Title", "varchar", false),
    ("description", "Description", "text", false),
    ("status", "Status", "status", false),
    ("board_id", "Board", "projects_board", false),
    ("phase_id", "Phase", "projects_phase", false),
    ("owner_id", "Owner", "user", false),
    ("start_date", "Start date", "date", false),
    ("end_date", "End date", "date", false),
    ("deal_ids", "Deals", "deals", false),
    ("person_ids", "Contact persons", "people", false),
    ("org_ids", "Organizations", "org", false),
    ("label_ids", "Labels", "set", false),
    ("health_status", "Health status", "enum", false),
    ("add_time", "Project created", "date", false),
];
/// v1 lead fields: the types the v1 model knows.
const LEAD_SYSTEM: [System; 11] = [
    ("title", "Title", "varchar", false),
    ("owner_id", "Owner", "user", false),
    ("person_id", "Contact person", "people", false),
    ("organization_id", "Organization", "org", false),
    ("value", "Value", "monetary", false),
    ("expected_close_date", "Expected close date", "date", false),
    ("label_ids", "Labels", "set", false),
    ("source_name", "Source", "varchar", false),
    ("visible_to", "Visible to", "visible_to", false),
    ("add_time", "Lead created", "date", false),
    ("update_time", "Update time", "date", false),
];
const NOTE_SYSTEM: [System; 13] = [
    ("id", "ID", "int", false),
    ("content", "Content", "text", false),
    ("user_id", "User", "user", false),
    ("deal_id", "Deal", "deal", false),
    ("lead_id", "Lead", "lead", false),
    ("person_id", "Person", "people", false),
    ("org_id", "Organization", "org", false),
    ("project_id", "Project", "project", false),
    ("add_time", "Add time", "date", false),
    ("update_time", "Update time", "date", false),
    ("pinned_to_deal_flag", "Pinned to deal", "enum", false),
    ("pinned_to_person_flag", "Pinned to person", "enum", false),
    (
        "pinned_to_organization_flag",
        "Pinned to organization",
        "enum",
        false,
    ),
];

/// The definitions lists' optional namespaces (`include_fields`), per list.
pub(crate) fn namespaces(list: Resource) -> &'static [&'static str] {
    match list {
        Resource::DealFields | Resource::PersonFields | Resource::OrganizationFields => {
            &["ui_visibility", "important_fields", "required_fields"]
        }
        Resource::ProductFields | Resource::ActivityFields => &["ui_visibility"],
        _ => &[],
    }
}

/// Test edits of the definitions: renames by (v2 list, key) and added fields by owner.
#[derive(Default)]
pub(super) struct FieldEdits {
    renamed: HashMap<(Resource, String), (String, i64)>,
    added: HashMap<Resource, Vec<Added>>,
}

struct Added {
    name: String,
    kind: Kind,
    time: i64,
}

/// A custom field as records and definitions see it.
struct Field {
    key: String,
    name: String,
    kind: Kind,
    /// Position in the owner's key space: the fixed table's index, or past `ADDED_FROM`.
    position: u64,
    labels: &'static [&'static str],
    /// The last label's option is deleted.
    deleted_last: bool,
    add: i64,
    /// When a test last renamed it.
    renamed: Option<i64>,
}

impl Field {
    fn added(&self) -> bool {
        self.position >= ADDED_FROM
    }

    /// Salts of its null roll and its value, apart from every record field's.
    fn salts(&self) -> (u64, u64) {
        (3000 + 2 * self.position, 3001 + 2 * self.position)
    }

    /// (option index, id) of the options definitions still list.
    fn live_options(&self, owner: Resource) -> impl Iterator<Item = (u64, u64)> + '_ {
        let live = self.labels.len() - usize::from(self.deleted_last);
        (0..live as u64).map(move |o| (o, option_id(owner, self.position, o)))
    }
}

/// A custom field's 40-character key: fixed per entity and position (not per seed), like a
/// company's field keys, which never change once created.
fn field_key(owner: Resource, position: u64) -> String {
    let mut s = String::new();
    let mut z = mix(owner.tag() * 1000 + position);
    while s.len() < 40 {
        z = mix(z);
        s.push_str(&format!("{z:016x}"));
    }
    s.truncate(40);
    s
}

/// Option ids are unique across the company, like Pipedrive's.
fn option_id(owner: Resource, position: u64, option: u64) -> u64 {
    owner.tag() * 100_000 + position * 100 + option + 1
}

fn custom_table(owner: Resource) -> &'static [Spec] {
    match owner {
        Resource::Deals => &DEAL_CUSTOM,
        Resource::Persons => &PERSON_CUSTOM,
        Resource::Organizations => &ORGANIZATION_CUSTOM,
        Resource::Products => &PRODUCT_CUSTOM,
        Resource::Activities => &ACTIVITY_CUSTOM,
        Resource::Projects => &PROJECT_CUSTOM,
        _ => &[],
    }
}

/// The v2 definitions list that holds `owner`'s custom fields.
fn list_of(owner: Resource) -> Resource {
    match owner {
        Resource::Persons => Resource::PersonFields,
        Resource::Organizations => Resource::OrganizationFields,
        Resource::Products => Resource::ProductFields,
        Resource::Activities => Resource::ActivityFields,
        Resource::Projects => Resource::ProjectFields,
        _ => Resource::DealFields,
    }
}

fn system_table(list: Resource) -> &'static [System] {
    match list {
        Resource::DealFields => &DEAL_SYSTEM,
        Resource::PersonFields => &PERSON_SYSTEM,
        Resource::OrganizationFields => &ORGANIZATION_SYSTEM,
        Resource::ProductFields => &PRODUCT_SYSTEM,
        Resource::ActivityFields => &ACTIVITY_SYSTEM,
        Resource::ProjectFields => &PROJECT_SYSTEM,
        Resource::LeadFields => &LEAD_SYSTEM,
        _ => &NOTE_SYSTEM,
    }
}

/// Built-in option lists: (id, label). Built-in option ids are strings unless the records
/// hold numbers (labels, channels, …), as the v2 model allows both.
fn system_options(list: Resource, code: &str) -> Value {
    let numbered = |labels: &[&str]| -> Value {
        labels
            .iter()
            .enumerate()
            .map(|(k, l)| json!({"id": k + 1, "label": l}))
            .collect()
    };
    match code {
        "status" if list == Resource::ProjectFields => json!([
            {"id": "open", "label": "Open"},
            {"id": "completed", "label": "Completed"},
            {"id": "canceled", "label": "Canceled"},
            {"id": "deleted", "label": "Deleted"},
        ]),
        "status" => json!([
            {"id": "open", "label": "Open"},
            {"id": "won", "label": "Won"},
            {"id": "lost", "label": "Lost"},
            {"id": "deleted", "label": "Deleted"},
        ]),
        "visible_to" => json!([
            {"id": "1", "label": "Owner & followers"},
            {"id": "3", "label": "Entire company"},
            {"id": "5", "label": "Owner's visibility group"},
            {"id": "7", "label": "Owner's visibility group and sub-groups"},
        ]),
        "label_ids" if list == Resource::LeadFields => {
            numbered(&["Hot", "Warm", "Cold", "Follow-up ✅"])
        }
        "label_ids" => numbered(&["Hot", "Warm", "Cold", "Customer", "Partner", "VIP ⭐"]),
        "channel" => numbered(&["Email", "Phone", "Website", "Event", "Referral"]),
        "priority" | "health_status" => numbered(&["Low", "Medium", "High"]),
        "category" => json!([
            {"id": "Hardware", "label": "Hardware"},
            {"id": "Services", "label": "Services"},
            {"id": "Software", "label": "Software"},
        ]),
        "industry" => (1..=50)
            .map(|k| json!({"id": k, "label": format!("Industry {k}")}))
            .collect(),
        code if code.starts_with("pinned_to_") => {
            json!([{"id": 0, "label": "False"}, {"id": 1, "label": "True"}])
        }
        _ => Value::Null,
    }
}

/// Fixed definitions were made before any record, so before T0.
fn made_at(position: u64) -> i64 {
    T0 - 86_400 * (60 - position as i64)
}

impl Dataset {
    /// The entity whose custom fields records of `r` carry: archived records and leads share
    /// their live kind's (leads inherit the deal fields).
    pub(super) fn custom_owner(r: Resource) -> Option<Resource> {
        Some(match r {
            Resource::Deals
            | Resource::ArchivedDeals
            | Resource::Leads
            | Resource::ArchivedLeads => Resource::Deals,
            Resource::Projects | Resource::ArchivedProjects => Resource::Projects,
            Resource::Persons
            | Resource::Organizations
            | Resource::Products
            | Resource::Activities => r,
            _ => return None,
        })
    }

    fn field_edits(&self) -> std::sync::MutexGuard<'_, FieldEdits> {
        self.fields.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `owner`'s custom fields now: the fixed table, then those a test added, renames applied.
    fn custom_of(&self, owner: Resource) -> Vec<Field> {
        let edits = self.field_edits();
        let list = list_of(owner);
        let renamed = |key: &str, name: &str| match edits.renamed.get(&(list, key.to_string())) {
            Some((name, time)) => (name.clone(), Some(*time)),
            None => (name.to_string(), None),
        };
        let fixed = custom_table(owner).iter().zip(0..).map(|(s, position)| {
            let key = field_key(owner, position);
            let (name, time) = renamed(&key, s.name);
            Field {
                key,
                name,
                kind: s.kind,
                position,
                labels: s.labels,
                deleted_last: !s.labels.is_empty(),
                add: made_at(position),
                renamed: time,
            }
        });
        let added = edits
            .added
            .get(&owner)
            .into_iter()
            .flatten()
            .zip(ADDED_FROM..)
            .map(|(a, position)| {
                let key = field_key(owner, position);
                let (name, time) = renamed(&key, &a.name);
                let options = matches!(a.kind, Kind::Enum | Kind::Set);
                Field {
                    key,
                    name,
                    kind: a.kind,
                    position,
                    labels: if options { &ADDED_LABELS } else { &[] },
                    deleted_last: false,
                    add: a.time,
                    renamed: time,
                }
            });
        fixed.chain(added).collect()
    }

    /// A value of `field` for record `i` of `r`, in the v2 shape; null only where nothing can
    /// be referenced (no persons or organizations at all).
    fn custom_value(&self, r: Resource, i: u64, owner: Resource, field: &Field) -> Value {
        let n = self.h(r, i, field.salts().1);
        let pick = |k: u64, m: u64| (n >> (8 * k)) % m.max(1);
        let day = |k: u64| T0 + pick(k, ((T1 - T0) / 86_400) as u64) as i64 * 86_400;
        let clock = |minutes: u64| format!("{:02}:{:02}:00", minutes / 60, minutes % 60);
        match field.kind {
            Kind::Varchar => {
                json!(["Référence client", "優先度: 高", "Renewal ✔", "n/a"][pick(0, 4) as usize])
            }
            Kind::Text => json!(
                [
                    "Met at Web Summit — très intéressé.\nFollow up in Q3.",
                    "予算は来期に確定します。",
                    "Needs SSO 🔐 and an EU data centre",
                ][pick(0, 3) as usize]
            ),
            Kind::VarcharAuto => {
                json!(["SaaS", "Manufacturing", "Logística", "金融"][pick(0, 4) as usize])
            }
            Kind::Phone => json!(format!("+372 5{:03} {:04}", pick(0, 1000), pick(2, 10_000))),
            Kind::Int => json!(pick(0, 500)),
            Kind::Double => json!(pick(0, 100_000) as f64 / 100.0),
            Kind::Monetary => json!({
                "value": pick(0, 1_000_000) as f64 / 100.0,
                "currency": DEAL_CURRENCIES[pick(4, 5) as usize],
            }),
            Kind::Enum => json!(option_id(
                owner,
                field.position,
                pick(0, field.labels.len() as u64)
            )),
            Kind::Set => {
                // A non-empty subset of the options, deleted ones included, in option order.
                let count = field.labels.len() as u64;
                let mask = 1 + pick(0, (1 << count) - 1);
                json!((0..count)
                    .filter(|o| mask & (1 << o) != 0)
                    .map(|o| option_id(owner, field.position, o))
                    .collect::<Vec<_>>())
            }
            Kind::Date => json!(date(day(0))),
            Kind::Daterange => {
                let from = day(0);
                json!({"value": date(from), "until": date(from + (1 + pick(3, 90)) as i64 * 86_400)})
            }
            Kind::Time => json!(clock(8 * 60 + 15 * pick(0, 40))),
            Kind::Timerange => {
                let from = 7 * 60 + 30 * pick(0, 12);
                json!({"value": clock(from), "until": clock(from + 30 * (1 + pick(1, 8)))})
            }
            Kind::Address => {
                let (city, country, area, postal) = CITIES[pick(0, CITIES.len() as u64) as usize];
                let route = [
                    "Main Street",
                    "Rue de la Paix",
                    "Kärntner Straße",
                    "Ulica Długa",
                ][pick(1, 4) as usize];
                let number = (pick(2, 200) + 1).to_string();
                let full = format!("{route} {number}, {postal} {city}, {country}");
                json!({
                    "value": full,
                    "route": route,
                    "street_number": number,
                    "locality": city,
                    "sublocality": if pick(3, 2) == 0 { Value::Null } else { json!("Centrum") },
                    "admin_area_level_1": area,
                    "admin_area_level_2": Value::Null,
                    "country": country,
                    "postal_code": postal,
                    "formatted_address": full,
                })
            }
            Kind::User => json!(pick(0, self.base_count(Resource::Users)) + 1),
            Kind::Org | Kind::People if self.size == 0 => Value::Null,
            Kind::Org | Kind::People => json!(pick(0, self.size) + 1),
        }
    }

    /// The v2 `custom_fields` object: every field of the owner, some unset. Fields a test added
    /// are unset on records made before them until an edit fills them in.
    pub(super) fn custom_fields(&self, r: Resource, i: u64) -> Value {
        let Some(owner) = Self::custom_owner(r) else {
            return Value::Null;
        };
        let mut values = Map::new();
        for field in self.custom_of(owner) {
            let unset = field.added() || self.chance(r, i, field.salts().0, 25);
            let value = if unset {
                Value::Null
            } else {
                self.custom_value(r, i, owner, &field)
            };
            values.insert(field.key, value);
        }
        Value::Object(values)
    }

    /// Leads inherit the deal custom fields in the flat v1 format, leaving out unset ones.
    pub(super) fn lead_custom_fields(&self, r: Resource, i: u64, record: &mut Map<String, Value>) {
        for field in self.custom_of(Resource::Deals) {
            if field.added() || self.chance(r, i, field.salts().0, 40) {
                continue;
            }
            let value = self.custom_value(r, i, Resource::Deals, &field);
            flatten(&field, value, record);
        }
    }

    /// Fills the fields a test added on a record being edited or inserted, as the user would
    /// with that edit, so the new field's values start flowing.
    pub(super) fn fill_added(&self, r: Resource, i: u64, record: &mut Map<String, Value>) {
        let Some(owner) = Self::custom_owner(r) else {
            return;
        };
        let lead = matches!(r, Resource::Leads | Resource::ArchivedLeads);
        for field in self.custom_of(owner).into_iter().filter(Field::added) {
            let value = self.custom_value(r, i, owner, &field);
            if lead {
                if !record.contains_key(&field.key) {
                    flatten(&field, value, record);
                }
            } else if let Some(Value::Object(values)) = record.get_mut("custom_fields") {
                if values.get(&field.key).is_none_or(Value::is_null) {
                    values.insert(field.key.clone(), value);
                }
            }
        }
    }

    /// The definitions `list` serves, with the optional namespaces asked for; `None` when
    /// `list` is not a definitions list.
    pub(crate) fn definitions(&self, list: Resource, include: &[&str]) -> Option<Vec<Value>> {
        let entity = list.described()?;
        let system = system_table(list);
        let mut defs: Vec<Value> = match list {
            Resource::LeadFields | Resource::NoteFields => {
                let renamed = |key: &str| {
                    self.field_edits()
                        .renamed
                        .get(&(list, key.to_string()))
                        .cloned()
                };
                let mut defs: Vec<Value> = system
                    .iter()
                    .zip(1..)
                    .map(|(s, id)| v1_system(list, s, id, renamed(s.0)))
                    .collect();
                if list == Resource::LeadFields {
                    let first = defs.len() as u64 + 1;
                    defs.extend(
                        self.custom_of(Resource::Deals)
                            .iter()
                            .zip(first..)
                            .map(|(f, order)| v1_custom(Resource::Deals, f, order)),
                    );
                }
                defs
            }
            _ => {
                let renamed = |key: &str| {
                    self.field_edits()
                        .renamed
                        .get(&(list, key.to_string()))
                        .cloned()
                };
                let mut defs: Vec<Value> = system
                    .iter()
                    .map(|s| v2_system(list, s, renamed(s.0)))
                    .collect();
                defs.extend(
                    self.custom_of(entity)
                        .iter()
                        .map(|f| v2_custom(list, entity, f)),
                );
                defs
            }
        };
        if !include.is_empty() {
            for (position, def) in defs.iter_mut().enumerate() {
                for namespace in include {
                    def[*namespace] = extra(list, namespace, position as u64);
                }
            }
        }
        Some(defs)
    }

    /// Legacy, for the Airbyte peer only (see `server/legacy.rs`): the definitions of a v2
    /// list (deal, person, organization, product or activity fields) in the v1 shape its
    /// `/v1/*Fields` twin serves, the same fields in the same order; `None` for other lists.
    pub(crate) fn v1_definitions(&self, list: Resource) -> Option<Vec<Value>> {
        if !matches!(
            list,
            Resource::DealFields
                | Resource::PersonFields
                | Resource::OrganizationFields
                | Resource::ProductFields
                | Resource::ActivityFields
        ) {
            return None;
        }
        let entity = list.described()?;
        let renamed = |key: &str| {
            self.field_edits()
                .renamed
                .get(&(list, key.to_string()))
                .cloned()
        };
        let mut defs: Vec<Value> = system_table(list)
            .iter()
            .zip(1..)
            .map(|(s, id)| v1_system(list, s, id, renamed(s.0)))
            .collect();
        let first = defs.len() as u64 + 1;
        defs.extend(
            self.custom_of(entity)
                .iter()
                .zip(first..)
                .map(|(f, order)| v1_custom(entity, f, order)),
        );
        Some(defs)
    }

    /// Legacy, for the Airbyte peer only: writes the v2 `custom_fields` object of a record of
    /// `owner`'s in the flat v1 form, each field under its key (null when unset, as v1 lists
    /// other than leads did) and its parts under suffixed keys.
    pub(super) fn flatten_custom_fields(
        &self,
        owner: Resource,
        custom: &Value,
        record: &mut Map<String, Value>,
    ) {
        for field in self.custom_of(owner) {
            let value = custom.get(&field.key).cloned().unwrap_or(Value::Null);
            if value.is_null() {
                record.insert(field.key.clone(), Value::Null);
            } else {
                flatten(&field, value, record);
            }
        }
    }

    /// Renames a field of `list` (system or custom) from `now` on; a deal field's rename shows
    /// in the lead fields too, which are the same fields.
    pub(crate) fn rename_field(&self, list: Resource, key: &str, name: &str, now: i64) {
        let entity = list
            .described()
            .unwrap_or_else(|| panic!("sandbox: {} is not a field-definitions list", list.name()));
        let owner = Self::custom_owner(entity);
        let custom = owner.is_some_and(|o| self.custom_of(o).iter().any(|f| f.key == key));
        let scope = match owner {
            Some(o) if custom => list_of(o),
            _ => list,
        };
        if !custom && !system_table(list).iter().any(|s| s.0 == key) {
            panic!("sandbox: {} has no field {key}", list.name());
        }
        self.field_edits()
            .renamed
            .insert((scope, key.to_string()), (name.to_string(), now));
    }

    /// Adds a custom field to the entity `list` defines (leads: to the deals, whose fields
    /// they inherit) and returns its new key.
    pub(crate) fn add_field(
        &self,
        list: Resource,
        name: &str,
        field_type: &str,
        now: i64,
    ) -> String {
        let kind = Kind::parse(field_type)
            .unwrap_or_else(|| panic!("sandbox: custom fields cannot be of type {field_type}"));
        let owner = list
            .described()
            .and_then(Self::custom_owner)
            .unwrap_or_else(|| panic!("sandbox: {} take no custom fields", list.name()));
        let mut edits = self.field_edits();
        let added = edits.added.entry(owner).or_default();
        assert!(
            (added.len() as u64) < ADDED_FROM,
            "sandbox: too many added fields"
        );
        let position = ADDED_FROM + added.len() as u64;
        added.push(Added {
            name: name.to_string(),
            kind,
            time: now,
        });
        field_key(owner, position)
    }
}

/// Writes a v2 value in the flat v1 form under `field`'s key: subparts under suffixed keys,
/// option ids as strings, unset parts left out.
fn flatten(field: &Field, value: Value, record: &mut Map<String, Value>) {
    let key = &field.key;
    match (field.kind, value) {
        (_, Value::Null) => {}
        (Kind::Enum, Value::Number(id)) => {
            record.insert(key.clone(), json!(id.to_string()));
        }
        (Kind::Set, Value::Array(ids)) => {
            let ids: Vec<String> = ids.iter().map(Value::to_string).collect();
            record.insert(key.clone(), json!(ids.join(",")));
        }
        (
            Kind::Monetary | Kind::Daterange | Kind::Timerange | Kind::Address,
            Value::Object(parts),
        ) => {
            for (part, v) in parts {
                match (part.as_str(), v) {
                    (_, Value::Null) => {}
                    ("value", v) => {
                        record.insert(key.clone(), v);
                    }
                    (part, v) => {
                        record.insert(format!("{key}_{part}"), v);
                    }
                }
            }
        }
        (_, v) => {
            record.insert(key.clone(), v);
        }
    }
}

fn v2_options(owner: Resource, f: &Field) -> Value {
    if f.labels.is_empty() {
        return Value::Null;
    }
    f.live_options(owner)
        .map(|(o, id)| {
            json!({
                "id": id,
                "label": f.labels[o as usize],
                "color": COLORS.get(o as usize),
                "add_time": iso(f.add),
                "update_time": iso(f.add + o as i64 * 3600),
            })
        })
        .collect()
}

fn v2_subfields(key: &str, name: &str, kind: Kind) -> Value {
    let parts = kind.subfields();
    if parts.is_empty() {
        return Value::Null;
    }
    parts
        .iter()
        .map(|(suffix, prefix, t)| {
            json!({"field_code": format!("{key}_{suffix}"), "field_name": format!("{prefix} {name}"), "field_type": t})
        })
        .collect()
}

fn v2_custom(list: Resource, owner: Resource, f: &Field) -> Value {
    let mut def = json!({
        "field_name": f.name,
        "field_code": f.key,
        "field_type": f.kind.name(),
        "is_custom_field": true,
        "is_optional_response_field": false,
        "options": v2_options(owner, f),
        "subfields": v2_subfields(&f.key, &f.name, f.kind),
    });
    // Only the deal fields' model has a description.
    if list == Resource::DealFields {
        def["description"] = json!(format!("{} — used by the sales team", f.name));
    }
    def
}

fn v2_system(list: Resource, s: &System, renamed: Option<(String, i64)>) -> Value {
    let (code, name, kind, optional) = *s;
    let name = renamed.map_or(name.to_string(), |(n, _)| n);
    let subfields = match kind {
        "monetary" => {
            json!([{"field_code": "currency", "field_name": "Currency", "field_type": "varchar_options"}])
        }
        _ => Value::Null,
    };
    json!({
        "field_name": name,
        "field_code": code,
        "field_type": kind,
        "is_custom_field": false,
        "is_optional_response_field": optional,
        "options": system_options(list, code),
        "subfields": subfields,
    })
}

/// The v1 flags every field carries; system fields cannot be edited or deleted.
fn v1_field(
    id: u64,
    key: &str,
    name: &str,
    kind: &str,
    custom: bool,
    add: i64,
    update: Option<i64>,
) -> Value {
    json!({
        "id": id,
        "key": key,
        "name": name,
        "order_nr": id,
        "field_type": kind,
        "add_time": v1(add),
        "update_time": update.map(v1),
        "last_updated_by_user_id": if custom { json!(1) } else { Value::Null },
        "created_by_user_id": if custom { json!(1) } else { Value::Null },
        "active_flag": true,
        "edit_flag": custom,
        "index_visible_flag": true,
        "details_visible_flag": true,
        "add_visible_flag": true,
        "important_flag": false,
        "bulk_edit_allowed": true,
        "searchable_flag": custom && kind == "varchar",
        "filtering_allowed": true,
        "sortable_flag": true,
        "mandatory_flag": false,
        "options": Value::Null,
    })
}

fn v1_system(list: Resource, s: &System, id: u64, renamed: Option<(String, i64)>) -> Value {
    let (key, name, kind, _) = *s;
    let update = renamed.as_ref().map(|(_, t)| *t);
    let name = renamed.map_or(name.to_string(), |(n, _)| n);
    let mut def = v1_field(id, key, &name, kind, false, made_at(0), update);
    let options = system_options(list, key);
    if list == Resource::NoteFields {
        // The note fields' model has only these.
        let keep = [
            "id",
            "key",
            "name",
            "field_type",
            "active_flag",
            "edit_flag",
            "bulk_edit_allowed",
            "mandatory_flag",
        ];
        let mut slim: Map<String, Value> = keep
            .iter()
            .map(|k| (k.to_string(), def[*k].clone()))
            .collect();
        slim.insert("options".into(), options);
        return Value::Object(slim);
    }
    def["options"] = options;
    def
}

/// A custom field of `owner` in the v1 shape: a deal field as `/v1/leadFields` lists it, or
/// (legacy, for the Airbyte peer only) any owner's as its `/v1/*Fields` list did.
fn v1_custom(owner: Resource, f: &Field, order: u64) -> Value {
    let mut def = v1_field(
        12_000 + f.position,
        &f.key,
        &f.name,
        f.kind.name(),
        true,
        f.add,
        Some(f.renamed.unwrap_or(f.add)),
    );
    def["order_nr"] = json!(order);
    if !f.labels.is_empty() {
        def["options"] = f
            .live_options(owner)
            .map(|(o, id)| json!({"id": id, "label": f.labels[o as usize]}))
            .collect();
        if f.deleted_last {
            let o = f.labels.len() as u64 - 1;
            def["options_deleted"] =
                json!([{"id": option_id(owner, f.position, o), "label": f.labels[o as usize]}]);
        }
    }
    let parts = f.kind.subfields();
    if !parts.is_empty() {
        def["subfields"] = parts
            .iter()
            .map(|(suffix, prefix, t)| {
                json!({"key": format!("{}_{suffix}", f.key), "name": format!("{prefix} {}", f.name), "field_type": t})
            })
            .collect();
    }
    def
}

/// An optional namespace's object for the definition at `position`.
fn extra(list: Resource, namespace: &str, position: u64) -> Value {
    let deals = list == Resource::DealFields;
    match namespace {
        "ui_visibility" => {
            let mut ui =
                json!({"add_visible_flag": position % 3 != 0, "details_visible_flag": true});
            match list {
                Resource::DealFields => {
                    ui["projects_detail_visible_flag"] = json!(false);
                    ui["show_in_pipelines"] = json!({"show_in_all": position % 4 != 0, "pipeline_ids": if position % 4 == 0 { json!([1]) } else { json!([]) }});
                }
                Resource::PersonFields => {
                    ui["show_in_add_deal_dialog"] =
                        json!({"show": position % 2 == 0, "order": position});
                }
                Resource::OrganizationFields => {
                    for flag in [
                        "org_detail_visible_flag",
                        "person_detail_visible_flag",
                        "deal_detail_visible_flag",
                    ] {
                        ui[flag] = json!(true);
                    }
                    ui["show_in_add_deal_dialog"] =
                        json!({"show": position % 2 == 0, "order": position});
                    ui["show_in_add_person_dialog"] = json!({"show": false, "order": position});
                }
                _ => {}
            }
            ui
        }
        "important_fields" => {
            let enabled = position % 5 == 1;
            if deals {
                json!({"enabled": enabled, "stage_ids": if enabled { json!([1, 2]) } else { json!([]) }})
            } else {
                json!({"enabled": enabled})
            }
        }
        _ => {
            let enabled = position == 1;
            if deals {
                json!({"enabled": enabled, "stage_ids": [], "statuses": {}})
            } else {
                json!({"enabled": enabled})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn is_date(v: &Value) -> bool {
        v.as_str()
            .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
    }

    fn is_time(v: &Value) -> bool {
        v.as_str()
            .is_some_and(|s| chrono::NaiveTime::parse_from_str(s, "%H:%M:%S").is_ok())
    }

    fn is_id(v: &Value, max: u64) -> bool {
        v.as_u64().is_some_and(|id| (1..=max).contains(&id))
    }

    /// Whether a v2 value has the shape its field type promises; `ids` are every option id the
    /// field ever had (deleted ones included).
    fn v2_fits(kind: &str, v: &Value, ids: &[u64], size: u64) -> bool {
        let range = |v: &Value, part: fn(&Value) -> bool| {
            v.as_object().is_some_and(|o| o.len() == 2) && part(&v["value"]) && part(&v["until"])
        };
        match kind {
            "varchar" | "text" | "varchar_auto" | "phone" => {
                v.as_str().is_some_and(|s| !s.is_empty())
            }
            "int" => v.is_u64(),
            "double" => v.is_f64(),
            "monetary" => {
                v.as_object().is_some_and(|o| o.len() == 2)
                    && v["value"].is_number()
                    && v["currency"].as_str().is_some_and(|c| c.len() == 3)
            }
            "enum" => v.as_u64().is_some_and(|id| ids.contains(&id)),
            "set" => v.as_array().is_some_and(|a| {
                !a.is_empty()
                    && a.iter()
                        .all(|id| id.as_u64().is_some_and(|id| ids.contains(&id)))
            }),
            "date" => is_date(v),
            "daterange" => range(v, is_date) && v["value"].as_str() < v["until"].as_str(),
            "time" => is_time(v),
            "timerange" => range(v, is_time) && v["value"].as_str() < v["until"].as_str(),
            "address" => {
                let keys: Vec<&str> = v
                    .as_object()
                    .map_or(Vec::new(), |o| o.keys().map(String::as_str).collect());
                keys == [
                    "value",
                    "route",
                    "street_number",
                    "locality",
                    "sublocality",
                    "admin_area_level_1",
                    "admin_area_level_2",
                    "country",
                    "postal_code",
                    "formatted_address",
                ] && v["value"].is_string()
            }
            "user" => is_id(v, 12),
            "org" | "people" => is_id(v, size),
            other => panic!("no check for {other}"),
        }
    }

    /// The option ids a definition lists and the ones it does not list any more.
    fn all_option_ids(owner: Resource, def: &Value) -> Vec<u64> {
        let live: Vec<u64> = def["options"]
            .as_array()
            .map(|o| o.iter().filter_map(|o| o["id"].as_u64()).collect())
            .unwrap_or_default();
        let Some(&first) = live.first() else {
            return live;
        };
        // The table's deleted option is the one after the live ones.
        let position = (first - owner.tag() * 100_000 - 1) / 100;
        let mut all = live.clone();
        all.push(option_id(owner, position, live.len() as u64));
        all
    }

    fn custom_defs(data: &Dataset, list: Resource) -> Vec<Value> {
        data.records(list)
            .into_iter()
            .filter(|d| d["is_custom_field"] == true)
            .collect()
    }

    #[test]
    fn definitions_list_system_and_custom_fields_of_many_types() {
        let data = Dataset::new(5, 50);
        let deals = custom_defs(&data, Resource::DealFields);
        let types: HashSet<&str> = deals
            .iter()
            .map(|d| d["field_type"].as_str().unwrap())
            .collect();
        for kind in Kind::ALL {
            assert!(
                types.contains(kind.name()),
                "no deal field of type {}",
                kind.name()
            );
        }
        let names: Vec<&Value> = deals.iter().map(|d| &d["field_name"]).collect();
        let unique: HashSet<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            unique.len(),
            names.len() - 1,
            "exactly two deal fields share a name"
        );
        for list in [
            Resource::DealFields,
            Resource::PersonFields,
            Resource::OrganizationFields,
            Resource::ProductFields,
            Resource::ActivityFields,
            Resource::ProjectFields,
        ] {
            let defs = data.records(list);
            let custom = custom_defs(&data, list);
            let minimum = if matches!(list, Resource::ActivityFields | Resource::ProjectFields) {
                2
            } else {
                5
            };
            assert!(custom.len() >= minimum, "{list:?}");
            assert!(defs
                .iter()
                .any(|d| d["field_code"] == "id" && d["is_custom_field"] == false));
            for d in &custom {
                let code = d["field_code"].as_str().unwrap();
                assert!(
                    code.len() == 40
                        && code
                            .bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                let kind = Kind::parse(d["field_type"].as_str().unwrap()).unwrap();
                assert_eq!(
                    d["options"].is_array(),
                    matches!(kind, Kind::Enum | Kind::Set),
                    "{d}"
                );
                assert_eq!(
                    d["subfields"].is_array(),
                    !kind.subfields().is_empty(),
                    "{d}"
                );
            }
            let codes: HashSet<&str> = defs
                .iter()
                .map(|d| d["field_code"].as_str().unwrap())
                .collect();
            assert_eq!(codes.len(), defs.len(), "{list:?}: field codes are unique");
        }
        let money = deals
            .iter()
            .find(|d| d["field_type"] == "monetary")
            .unwrap();
        let key = money["field_code"].as_str().unwrap();
        assert_eq!(
            money["subfields"][0]["field_code"],
            format!("{key}_currency")
        );

        // Lead fields: lead system fields, then the deal custom fields in v1 form.
        let leads = data.records(Resource::LeadFields);
        let custom_keys: Vec<&Value> = leads
            .iter()
            .filter(|f| f["edit_flag"] == true)
            .map(|f| &f["key"])
            .collect();
        let deal_keys: Vec<&Value> = deals.iter().map(|d| &d["field_code"]).collect();
        assert_eq!(custom_keys, deal_keys);
        assert!(leads
            .iter()
            .any(|f| f["key"] == "title" && f["edit_flag"] == false));
        let retired = leads
            .iter()
            .filter(|f| f.get("options_deleted").is_some())
            .count();
        assert_eq!(retired, 2, "the enum and the set field each lost an option");
        let notes = data.records(Resource::NoteFields);
        assert!(notes.iter().all(|f| !is_custom_key(&f["key"])));
        assert!(notes.iter().any(|f| f["key"] == "content"));
    }

    fn is_custom_key(v: &Value) -> bool {
        v.as_str().is_some_and(|k| k.len() == 40)
    }

    #[test]
    fn record_values_fit_their_definitions() {
        let size = 300;
        let data = Dataset::new(9, size);
        for (list, owner, entities) in [
            (
                Resource::DealFields,
                Resource::Deals,
                &[Resource::Deals, Resource::ArchivedDeals][..],
            ),
            (
                Resource::PersonFields,
                Resource::Persons,
                &[Resource::Persons],
            ),
            (
                Resource::OrganizationFields,
                Resource::Organizations,
                &[Resource::Organizations],
            ),
            (
                Resource::ProductFields,
                Resource::Products,
                &[Resource::Products],
            ),
            (
                Resource::ActivityFields,
                Resource::Activities,
                &[Resource::Activities],
            ),
            (
                Resource::ProjectFields,
                Resource::Projects,
                &[Resource::Projects, Resource::ArchivedProjects],
            ),
        ] {
            let defs = custom_defs(&data, list);
            let (mut nulls, mut deleted) = (0, 0);
            for r in entities {
                for record in data.records(*r) {
                    let values = record["custom_fields"].as_object().unwrap();
                    assert_eq!(
                        values.len(),
                        defs.len(),
                        "{r:?}: one value per custom field"
                    );
                    for d in &defs {
                        let kind = d["field_type"].as_str().unwrap();
                        let v = &values[d["field_code"].as_str().unwrap()];
                        if v.is_null() {
                            nulls += 1;
                            continue;
                        }
                        let ids = all_option_ids(owner, d);
                        assert!(v2_fits(kind, v, &ids, size), "{r:?} {kind}: {v}");
                        let listed = |id: &Value| {
                            d["options"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|o| o["id"] == *id)
                        };
                        deleted += match v {
                            Value::Array(a) => a.iter().filter(|id| !listed(id)).count(),
                            id if kind == "enum" => usize::from(!listed(id)),
                            _ => 0,
                        };
                    }
                }
            }
            assert!(nulls > 0, "{list:?}: some values are unset");
            assert!(deleted > 0, "{list:?}: some values name a deleted option");
        }

        // Leads: the deal custom fields flat, as v1 has them, unset ones left out.
        let defs = custom_defs(&data, Resource::DealFields);
        let mut seen = HashSet::new();
        for lead in data
            .records(Resource::Leads)
            .iter()
            .chain(&data.records(Resource::ArchivedLeads))
        {
            let lead = lead.as_object().unwrap();
            let mut expected_keys = 0;
            for d in &defs {
                let key = d["field_code"].as_str().unwrap();
                let kind = d["field_type"].as_str().unwrap();
                let Some(v) = lead.get(key) else {
                    assert!(
                        !lead.keys().any(|k| k.starts_with(key)),
                        "{key}: parts of an unset field"
                    );
                    continue;
                };
                seen.insert(kind);
                let part = |suffix: &str| lead.get(&format!("{key}_{suffix}"));
                let parts = lead
                    .keys()
                    .filter(|k| k.len() > 40 && k.starts_with(key))
                    .count();
                let ids = all_option_ids(Resource::Deals, d);
                let ok = match kind {
                    "monetary" => {
                        v.is_number()
                            && part("currency").is_some_and(|c| c.is_string())
                            && parts == 1
                    }
                    "daterange" => is_date(v) && part("until").is_some_and(is_date) && parts == 1,
                    "timerange" => is_time(v) && part("until").is_some_and(is_time) && parts == 1,
                    "address" => {
                        v.is_string()
                            && part("formatted_address") == Some(v)
                            && [
                                "route",
                                "street_number",
                                "locality",
                                "country",
                                "postal_code",
                            ]
                            .iter()
                            .all(|p| part(p).is_some_and(Value::is_string))
                    }
                    "enum" => v
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .is_some_and(|id| ids.contains(&id)),
                    "set" => v.as_str().is_some_and(|s| {
                        s.split(',')
                            .all(|id| id.parse::<u64>().is_ok_and(|id| ids.contains(&id)))
                    }),
                    _ => parts == 0 && v2_fits(kind, v, &ids, size),
                };
                assert!(
                    ok,
                    "lead {kind}: {v} {:?}",
                    lead.iter()
                        .filter(|(k, _)| k.starts_with(key))
                        .collect::<Vec<_>>()
                );
                expected_keys += 1 + parts;
            }
            let custom_keys = lead.keys().filter(|k| k.len() >= 40).count();
            assert_eq!(custom_keys, expected_keys, "no stray custom keys");
        }
        assert_eq!(
            seen.len(),
            Kind::ALL.len(),
            "leads carry every type: {seen:?}"
        );
    }

    #[test]
    fn renamed_and_added_fields_reach_definitions_and_records() {
        let data = Dataset::new(3, 40);
        let now = 1_800_000_000;
        let deals = custom_defs(&data, Resource::DealFields);
        let key = deals[0]["field_code"].as_str().unwrap().to_string();
        data.rename_field(Resource::DealFields, &key, "Kundenreferenz", now);
        data.rename_field(Resource::LeadFields, "title", "Lead title", now);
        let renamed = data
            .records(Resource::DealFields)
            .into_iter()
            .find(|d| d["field_code"] == key.as_str())
            .unwrap();
        assert_eq!(renamed["field_name"], "Kundenreferenz");
        let lead_field = data
            .records(Resource::LeadFields)
            .into_iter()
            .find(|d| d["key"] == key.as_str())
            .unwrap();
        assert_eq!(lead_field["name"], "Kundenreferenz");
        assert_eq!(lead_field["update_time"], v1(now));
        let titles: Vec<Value> = data
            .records(Resource::LeadFields)
            .into_iter()
            .filter(|d| d["key"] == "title")
            .map(|d| d["name"].clone())
            .collect();
        assert_eq!(titles, [json!("Lead title")]);
        assert_eq!(
            data.records(Resource::DealFields)[1]["field_name"],
            "Title",
            "deal title untouched"
        );

        let before = data.records(Resource::Deals);
        let added: Vec<(String, &str)> = ["varchar", "monetary", "enum", "address"]
            .into_iter()
            .map(|t| {
                (
                    data.add_field(Resource::DealFields, &format!("Added {t}"), t, now),
                    t,
                )
            })
            .collect();
        let person_key = data.add_field(Resource::PersonFields, "Added to persons", "set", now);
        let defs = data.records(Resource::DealFields);
        for (key, kind) in &added {
            assert_eq!(key.len(), 40);
            let def = defs
                .iter()
                .find(|d| d["field_code"] == key.as_str())
                .expect("listed");
            assert_eq!(def["field_type"], *kind);
            assert!(data
                .records(Resource::LeadFields)
                .iter()
                .any(|d| d["key"] == key.as_str()));
        }
        assert!(custom_defs(&data, Resource::PersonFields)
            .iter()
            .any(|d| d["field_code"] == person_key.as_str()));

        // Records made before the fields hold no value for them until an edit fills them in.
        let untouched = &data.records(Resource::Deals)[5];
        assert!(added
            .iter()
            .all(|(k, _)| untouched["custom_fields"][k].is_null()));
        assert_eq!(before[5]["update_time"], untouched["update_time"]);
        let touched = data.touch(Resource::Deals, &json!(6), now + 1);
        let inserted = data.insert(Resource::Deals, now + 2);
        for record in [&touched, &inserted] {
            for (key, kind) in &added {
                let def = defs
                    .iter()
                    .find(|d| d["field_code"] == key.as_str())
                    .unwrap();
                let ids = all_option_ids(Resource::Deals, def);
                assert!(
                    v2_fits(kind, &record["custom_fields"][key], &ids, 40),
                    "{kind}: {record}"
                );
            }
        }
        let lead_id = data.records(Resource::Leads)[0]["id"].clone();
        let lead = data.touch(Resource::Leads, &lead_id, now + 3);
        let (money, _) = &added[1];
        assert!(lead[money].is_number() && lead[format!("{money}_currency")].is_string());
        let person = data.touch(Resource::Persons, &json!(1), now + 4);
        assert!(person["custom_fields"][&person_key].is_array());
        // Deterministic: the same edit on another dataset gives the same values.
        let again = Dataset::new(3, 40);
        again.rename_field(Resource::DealFields, &key, "Kundenreferenz", now);
        for (_, kind) in &added {
            again.add_field(Resource::DealFields, &format!("Added {kind}"), kind, now);
        }
        assert_eq!(again.touch(Resource::Deals, &json!(6), now + 1), touched);
    }
}
