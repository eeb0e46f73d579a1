//! Each entity's fixed fields: the custom fields a company made (name, type, option labels) and
//! the system fields Pipedrive defines (code, name, type, whether only returned on request),
//! with the built-in option lists of the system fields that have them.

use serde_json::{json, Value};

use super::Kind;
use crate::data::Resource;

/// A custom field of an entity's fixed table; its key is `field_key(owner, position)`. Option
/// fields list their labels; the last one has been deleted since records chose it, so records
/// still hold its id although the definition no longer lists it.
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) labels: &'static [&'static str],
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

/// System fields: (field code, name, type, returned only on request). The same list serves
/// v1's `key`, `name` and `field_type`.
pub(super) type System = (&'static str, &'static str, &'static str, bool);

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

pub(super) fn custom_table(owner: Resource) -> &'static [Spec] {
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

pub(super) fn system_table(list: Resource) -> &'static [System] {
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
pub(super) fn system_options(list: Resource, code: &str) -> Value {
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
