//! Custom fields: each company defines its own, keyed by 40-character hashes. This module turns
//! the account's field definitions into typed JSON Schema, gives v1 records (flat hash keys and
//! suffixed subfields) the same `custom_fields` object v2 records have, resolves option ids to
//! labels, and gives each field a readable snake_case column name that stays the same when the
//! field is renamed in Pipedrive (names already handed out, found in the configured catalog or
//! the state, are never reassigned).
//!
//! A pure transformation of records and schemas: reading the definitions is the commands' job
//! (`commands/fields.rs`). Its parts: `field` (definitions, their types and value schemas),
//! `naming` (readable column names, pinned once handed out), `shaper` (records and schemas shaped
//! per the config).

mod field;
mod naming;
mod shaper;

pub use field::{value_schema, Field};
pub use naming::{snake_case, Naming};
pub use shaper::Shaper;

/// Annotation on a readable-name property: the field key it carries, so a later sync (reading
/// the configured catalog) keeps the same name for the same key.
pub const KEY_ANNOTATION: &str = "x-pipedrive-field-key";
/// Where the name mapping is kept in a stream's state.
pub const STATE_KEY: &str = "custom_field_names";

/// Pipedrive's custom field keys: 40 lowercase hex characters.
pub fn is_custom_key(k: &str) -> bool {
    k.len() == 40
        && k.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Field keys and definitions the tests of every part share.
#[cfg(test)]
mod fixtures {
    use serde_json::json;

    use super::Field;

    pub const K1: &str = "d4de1c1518b4531717c676029a45911c340390a6";
    pub const K2: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
    pub const K3: &str = "0000000000000000000000000000000000000003";

    pub fn field(key: &str, name: &str, kind: &str) -> Field {
        Field {
            key: key.into(),
            name: name.into(),
            kind: kind.into(),
            description: None,
            options: vec![(json!(1), "Hot".into()), (json!(2), "Cold".into())],
        }
    }
}
