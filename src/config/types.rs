//! A config's text read into `RawConfig` with no error that quotes a value: any setting may be a
//! secret, and the scrubber cannot know the secrets of a config that does not parse. Each
//! setting's type is checked against the config's own JSON Schema (the spec's source) before
//! serde, whose messages quote the value, meets it; an error names the setting and the type.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::RawConfig;

/// The names Airbyte's Python connector gives some settings, and the settings they are.
const ALIASES: &[(&str, &str)] = &[
    ("api_token", "api_key"),
    ("replication_start_date", "start_date"),
];

/// A config's text as `RawConfig`, each setting's type checked against the config's own JSON
/// Schema first, so that serde (whose messages quote the value) never meets a wrong one.
pub(super) fn parse_raw(text: &str) -> Result<RawConfig> {
    // serde_json's syntax errors say where, never what.
    let value: Value = serde_json::from_str(text).context("not a valid JSON config object")?;
    let Some(settings) = value.as_object() else {
        bail!(
            "expected a JSON object of settings, not {}",
            kind_of(&value)
        );
    };
    let schema = schemars::SchemaGenerator::default()
        .into_root_schema_for::<RawConfig>()
        .to_value();
    for (name, setting) in settings {
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| alias == name)
            .map_or(name.as_str(), |(_, c)| c);
        let Some(prop) = schema["properties"].get(canonical) else {
            continue;
        };
        if let Err((path, expected)) = mismatch(prop, &schema, setting, name) {
            bail!(
                "`{path}` must be {expected}, not {}",
                kind_of_at(&value, &path)
            );
        }
    }
    serde_json::from_value(value).map_err(|e| {
        // Only the messages that name a setting and nothing else are passed on.
        let said = e.to_string();
        if said.starts_with("missing field") || said.starts_with("duplicate field") {
            anyhow!("{said}")
        } else {
            anyhow!("a setting does not have the type the spec gives it")
        }
    })
}

/// What a JSON value is, without what it says.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number with a fraction",
        Value::Number(n) if n.is_i64() && n.as_i64() < Some(0) => "a negative number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `kind_of` the value at a dotted `path` of `root` (a setting, or a setting's field).
fn kind_of_at(root: &Value, path: &str) -> &'static str {
    path.split('.')
        .try_fold(root, |v, key| v.get(key))
        .map_or("missing", kind_of)
}

/// `Err((path, what it must be))` when `value` (at `path`) is not of the schema's type. Types,
/// enums and the ranges of integer formats are checked; bounds are `Config::validate`'s.
fn mismatch(
    schema: &Value,
    root: &Value,
    value: &Value,
    path: &str,
) -> Result<(), (String, String)> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r
            .trim_start_matches('#')
            .split('/')
            .filter(|p| !p.is_empty())
            .try_fold(root, |v, key| v.get(key));
        return match target {
            Some(t) => mismatch(t, root, value, path),
            None => Ok(()),
        };
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let mut expected = Vec::new();
            for option in options {
                match mismatch(option, root, value, path) {
                    Ok(()) => return Ok(()),
                    Err((p, e)) if p != path => return Err((p, e)),
                    Err((_, e)) => expected.push(e),
                }
            }
            return Err((path.to_string(), expected.join(" or ")));
        }
    }
    if let Some(c) = schema.get("const") {
        return if c == value {
            Ok(())
        } else {
            Err((path.to_string(), c.to_string()))
        };
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if options.contains(value) {
            return Ok(());
        }
        let listed: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err((path.to_string(), format!("one of {}", listed.join(", "))));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let format = schema.get("format").and_then(Value::as_str);
    let mut expected = Vec::new();
    for t in types {
        let fits = match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "integer" => {
                let max = match format {
                    Some("uint8") => Some(u8::MAX as u64),
                    Some("uint16") => Some(u16::MAX as u64),
                    Some("uint32") => Some(u32::MAX as u64),
                    Some("uint" | "uint64") => Some(u64::MAX),
                    _ => None,
                };
                match max {
                    Some(max) => value.as_u64().is_some_and(|n| n <= max),
                    None => value.is_i64() || value.is_u64(),
                }
            }
            "object" => match value.as_object() {
                None => false,
                Some(fields) => {
                    let props = schema.get("properties");
                    for (name, field) in fields {
                        if let Some(p) = props.and_then(|p| p.get(name)) {
                            mismatch(p, root, field, &format!("{path}.{name}"))?;
                        }
                    }
                    true
                }
            },
            _ => true,
        };
        if fits {
            return Ok(());
        }
        expected.push(match (t, format) {
            ("null", _) => "left out".to_string(),
            ("integer", Some(f)) if f.starts_with("uint") => {
                "a whole number of at least 0 (no fraction, no quotes)".to_string()
            }
            ("integer", _) => "a whole number (no fraction, no quotes)".to_string(),
            ("number", _) => "a number (no quotes)".to_string(),
            ("boolean", _) => "true or false".to_string(),
            ("array", _) => "an array".to_string(),
            ("object", _) => "an object".to_string(),
            (other, _) => format!("a {other}"),
        });
    }
    Err((path.to_string(), expected.join(" or ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every setting given every wrong kind of value: the error names the setting and never
    /// shows the value (a secret given as a number must not come back in the message).
    #[test]
    fn a_wrong_type_names_the_setting_and_never_the_value() {
        let schema = schemars::SchemaGenerator::default()
            .into_root_schema_for::<RawConfig>()
            .to_value();
        let wrong = [
            json!(904417730251u64),
            json!(-904417730251i64),
            json!(9044.17730251),
            json!("s3cr3t-v4lue-quoted"),
            json!(true),
            json!(["s3cr3t-v4lue-in-array"]),
            json!({"s3cr3t-v4lue-key": 1}),
            json!(18446744073709551615u64),
        ];
        let names = schema["properties"].as_object().unwrap().keys();
        let names: Vec<&str> = names
            .map(String::as_str)
            .chain(ALIASES.iter().map(|(a, _)| *a))
            .collect();
        let mut refused = 0;
        for name in &names {
            for value in &wrong {
                let text = json!({ *name: value }).to_string();
                let Err(e) = parse_raw(&text) else {
                    continue;
                };
                refused += 1;
                let e = format!("{e:#}");
                assert!(e.starts_with(&format!("`{name}` must be ")), "{text}: {e}");
                for part in ["904417730251", "9044", "s3cr3t", "18446744073709551615"] {
                    assert!(!e.contains(part), "{text}: {e}");
                }
            }
        }
        // Each setting takes at most two of the kinds (a string, or a number and a fraction).
        assert!(refused >= names.len() * (wrong.len() - 3), "{refused}");
    }

    /// A setting that is an object (OAuth credentials, say) is checked field by field, through
    /// schemars' `$ref`s and `anyOf`s, and the error names the field by its path.
    #[test]
    fn nested_settings_are_named_by_their_path() {
        let root = json!({"$defs": {"Creds": {"type": "object", "properties": {
            "client_secret": {"type": "string"}, "kind": {"oneOf": [{"const": "oauth"}, {"const": "token"}]}}}}});
        let schema = json!({"anyOf": [{"$ref": "#/$defs/Creds"}, {"type": "null"}]});
        let value = json!({"credentials": {"client_secret": 904417730251u64}});
        let e = mismatch(&schema, &root, &value["credentials"], "credentials").unwrap_err();
        assert_eq!(
            e,
            (
                "credentials.client_secret".to_string(),
                "a string".to_string()
            )
        );
        assert_eq!(kind_of_at(&value, &e.0), "a number");
        let kind = json!({"kind": "other"});
        let e = mismatch(&schema, &root, &kind, "credentials").unwrap_err();
        assert_eq!(
            e,
            (
                "credentials.kind".to_string(),
                "\"oauth\" or \"token\"".to_string()
            )
        );
        assert!(mismatch(&schema, &root, &json!(null), "credentials").is_ok());
        assert!(mismatch(
            &schema,
            &root,
            &json!({"client_secret": "s", "kind": "oauth"}),
            "credentials"
        )
        .is_ok());
        let e = mismatch(&schema, &root, &json!("s3cr3t"), "credentials").unwrap_err();
        assert_eq!(
            e,
            (
                "credentials".to_string(),
                "an object or left out".to_string()
            )
        );
    }

    #[test]
    fn the_issue_cases_say_the_type() {
        let e = parse_raw(r#"{"webhook_password": 904417730251}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`webhook_password` must be a string or left out, not a number"
        );
        let e = parse_raw(r#"{"api_token": 904417730251}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`api_token` must be a string or left out, not a number"
        );
        let e = parse_raw(r#"{"custom_field_names": "label"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("`custom_field_names` must be "),
            "{e}"
        );
        let e = parse_raw(r#"{"max_retries": 4294967296}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("`max_retries` must be a whole number"),
            "{e}"
        );
        let e = parse_raw(r#"{"max_tokens_per_sync": -5}"#).unwrap_err();
        assert!(e.to_string().ends_with("not a negative number"), "{e}");
        assert!(parse_raw("[1]")
            .unwrap_err()
            .to_string()
            .contains("not an array"));
        assert!(parse_raw(r#"{"max_retries": 3, "custom_field_names": "both", "x": [1]}"#).is_ok());
    }
}
