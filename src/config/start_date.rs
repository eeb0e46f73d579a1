//! What `start_date` may be: RFC 3339, or a bare ISO date meaning its midnight UTC. The spec
//! publishes the same rule as a pattern, so that a form refuses what the connector would.

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, Utc};

/// What `start_date` may look like, as the spec publishes it: RFC 3339 (`T`, `t` or a space
/// between date and time, as chrono reads it), or a bare date.
pub const START_DATE_PATTERN: &str =
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$";

/// `start_date` as the connector reads it; an error names the setting and the forms it takes.
pub(super) fn parse_start_date(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    // A bare date in its one ISO form (chrono alone would read `2024-5-1` too).
    let iso_date = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if let Some(d) = iso_date
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
    {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    bail!("`start_date` {s:?} is not a date: expected ISO 8601 such as 2024-05-01T00:00:00Z or 2024-05-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_date_forms() {
        assert_eq!(
            parse_start_date("2024-05-01").unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_start_date("2024-05-01T02:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert!(parse_start_date("yesterday").is_err());
    }

    /// The spec's `start_date` pattern accepts what the connector reads, and refuses what it
    /// refuses (a date that does not exist aside: a pattern cannot know the calendar).
    #[test]
    fn the_start_date_pattern_is_what_the_connector_reads() {
        let pattern = serde_json::json!({"type": "string", "pattern": START_DATE_PATTERN});
        let pattern = jsonschema::validator_for(&pattern).unwrap();
        for s in [
            "2024-05-01",
            "2024-05-01T00:00:00Z",
            "2024-05-01t00:00:00z",
            "2024-05-01 00:00:00Z",
            "2024-05-01T00:00:00.123456Z",
            "2024-05-01T02:00:00+02:00",
            "2024-05-01T02:00:00-05:30",
            "2024-05-01T00:00",
            "2024-05-01T00:00:00",
            "2024-5-1",
            "May 1st",
            "2024-05-01Z",
            "20240501",
            " 2024-05-01",
        ] {
            let accepted = pattern.is_valid(&serde_json::json!(s));
            assert_eq!(accepted, parse_start_date(s).is_ok(), "{s}");
        }
    }
}
