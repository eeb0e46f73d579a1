//! Field definitions and custom-field values. The `*Fields` lists (what an entity's fields are
//! called, their types and options) are a fixed table per entity plus the few fields a test
//! renamed or added, kept as a small edit list. The custom values a record carries are drawn
//! from (seed, record, field), shaped by the field's type: the v2 `custom_fields` object, or the
//! flat v1 form leads use (reference §6).
//!
//! This module holds the custom fields' model (types, keys, option ids) and the test edits of
//! definitions; `tables` holds each entity's fixed fields, `values` the values records carry
//! and `definitions` the lists' v2 and v1 shapes.

use std::collections::HashMap;

use super::{mix, Dataset, Resource, T0};

mod definitions;
mod tables;
mod values;

use tables::{custom_table, system_table};

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

/// Option colours; later options have none.
pub(super) const COLORS: [&str; 2] = ["green", "red"];
/// Options of an option field a test added; none deleted.
const ADDED_LABELS: [&str; 3] = ["Option A", "Option B", "Option C"];
/// Added fields take key positions from here on, clear of every fixed table.
const ADDED_FROM: u64 = 500;

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
pub(super) fn option_id(owner: Resource, position: u64, option: u64) -> u64 {
    owner.tag() * 100_000 + position * 100 + option + 1
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

/// Fixed definitions were made before any record, so before T0.
pub(super) fn made_at(position: u64) -> i64 {
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

#[cfg(test)]
mod tests;
