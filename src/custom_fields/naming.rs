//! Readable column names for custom fields: snake_case from the field's name, unique within the
//! stream, and pinned once handed out (by the configured catalog or the state) across renames.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Field, KEY_ANNOTATION, STATE_KEY};

/// A readable column name: snake_case ASCII, not starting with a digit.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars().flat_map(fold_accent) {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push_str("field");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "f_");
    }
    out
}

/// Latin letters with accents become their base letter, so "Größe" reads as "grosse".
fn fold_accent(c: char) -> Vec<char> {
    let base = match c {
        'à'..='å' | 'À'..='Å' | 'ā' | 'ą' => 'a',
        'ç' | 'Ç' | 'č' | 'ć' => 'c',
        'è'..='ë' | 'È'..='Ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' => 'i',
        'ñ' | 'Ñ' | 'ń' | 'ň' => 'n',
        'ò'..='ö' | 'ø' | 'Ò'..='Ö' | 'Ø' | 'ő' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'š' | 'ś' | 'Š' => 's',
        'ž' | 'ź' | 'ż' | 'Ž' => 'z',
        'ł' | 'Ł' => 'l',
        'ß' => return vec!['s', 's'],
        'æ' | 'Æ' => return vec!['a', 'e'],
        other => other,
    };
    vec![base]
}

/// Field key → readable column name, for one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Naming(pub BTreeMap<String, String>);

impl Naming {
    /// Keeps every pinned name, then names each other field from its current name, avoiding
    /// `reserved` (the stream's own properties) and every name already taken. Fields are taken
    /// in key order, so the same definitions always give the same names.
    pub fn assign(pinned: &Naming, fields: &[Field], reserved: &BTreeSet<String>) -> Naming {
        let mut map = pinned.0.clone();
        let mut taken: BTreeSet<String> = reserved
            .iter()
            .cloned()
            .chain(map.values().cloned())
            .collect();
        let mut sorted: Vec<&Field> = fields.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        for f in sorted {
            if map.contains_key(&f.key) {
                continue;
            }
            let base = snake_case(&f.name);
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            taken.insert(name.clone());
            map.insert(f.key.clone(), name);
        }
        Naming(map)
    }

    /// Names pinned by a configured catalog's schema (its annotated properties).
    pub fn from_schema(schema: &Value) -> Naming {
        let mut map = BTreeMap::new();
        if let Some(props) = schema["properties"].as_object() {
            for (name, p) in props {
                if let Some(key) = p[KEY_ANNOTATION].as_str() {
                    map.insert(key.to_string(), name.clone());
                }
            }
        }
        Naming(map)
    }

    /// Names pinned by a stream's saved state.
    pub fn from_state(state: Option<&Value>) -> Naming {
        state
            .and_then(|s| s.get(STATE_KEY))
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default()
    }

    /// `self`, with `other`'s names for keys `self` does not name and names it does not use.
    pub fn or(mut self, other: &Naming) -> Naming {
        let used: BTreeSet<String> = self.0.values().cloned().collect();
        for (k, v) in &other.0 {
            if !self.0.contains_key(k) && !used.contains(v) {
                self.0.insert(k.clone(), v.clone());
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_fields::fixtures::{field, K1, K2, K3};
    use serde_json::json;

    #[test]
    fn snake_case_names() {
        assert_eq!(snake_case("Lead Source"), "lead_source");
        assert_eq!(snake_case("  Größe (cm) "), "grosse_cm");
        assert_eq!(snake_case("2nd contact"), "f_2nd_contact");
        assert_eq!(snake_case("🎉"), "field");
        assert_eq!(snake_case("Société Générale"), "societe_generale");
        assert_eq!(snake_case("名前"), "field");
    }

    #[test]
    fn names_are_unique_deterministic_and_pinned() {
        let reserved: BTreeSet<String> = ["title".to_string(), "value".to_string()].into();
        let fields = vec![
            field(K1, "Title", "varchar"),
            field(K2, "Region", "varchar"),
            field(K3, "Region", "varchar"),
        ];
        let n = Naming::assign(&Naming::default(), &fields, &reserved);
        assert_eq!(n.0[K1], "title_2", "system property names are not taken");
        assert_eq!(
            n.0[K3], "region",
            "key order decides who gets the plain name"
        );
        assert_eq!(n.0[K2], "region_2");
        let mut reversed = fields.clone();
        reversed.reverse();
        assert_eq!(Naming::assign(&Naming::default(), &reversed, &reserved), n);
        // K3 is renamed in Pipedrive: its pinned name stays; a new field cannot take it.
        let renamed = vec![
            field(K3, "Territory", "varchar"),
            field(K2, "Region", "varchar"),
            field(
                "1111111111111111111111111111111111111111",
                "Region",
                "varchar",
            ),
        ];
        let again = Naming::assign(&n, &renamed, &reserved);
        assert_eq!(again.0[K3], "region");
        assert_eq!(again.0[K2], "region_2");
        assert_eq!(
            again.0["1111111111111111111111111111111111111111"],
            "region_3"
        );
    }

    #[test]
    fn pins_from_catalog_win_over_state() {
        let schema = json!({"properties": {"region": {KEY_ANNOTATION: K1}, "x": {}}});
        let catalog = Naming::from_schema(&schema);
        let state = Naming::from_state(Some(&json!({STATE_KEY: {K1: "old", K2: "other"}})));
        let both = catalog.or(&state);
        assert_eq!(both.0[K1], "region");
        assert_eq!(both.0[K2], "other");
        assert_eq!(Naming::from_state(None), Naming::default());
    }
}
