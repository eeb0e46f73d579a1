//! Pipedrive writes times three ways (RFC 3339 in v2, `YYYY-MM-DD HH:MM:SS` UTC in most of v1,
//! ISO 8601 in leads); cursors, filters and emitted records use one: RFC 3339 in UTC. The rules
//! for reading, writing and rewriting times live here, each a pure function.

use chrono::{DateTime, DurationRound, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

pub const V1_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Reads any of Pipedrive's time forms, and a bare date as its midnight UTC.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, V1_FORMAT) {
        return Some(t.and_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// The one way the connector writes a time: RFC 3339, UTC, `Z`, fractions only when present.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The whole second `t` falls in, rounded down: what Pipedrive's `updated_since` and
/// `updated_until` compare, and so the finest a cursor may be.
pub fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

/// A record's update time: `None` when the field is missing, null or unreadable.
pub fn of(record: &Value, field: &str) -> Option<DateTime<Utc>> {
    record.get(field).and_then(Value::as_str).and_then(parse)
}

/// v1's `YYYY-MM-DD HH:MM:SS` (UTC) as RFC 3339, or `None` when `s` is not that. Read by hand:
/// every v1 record has several of these, and a format-string parser costs more than the record.
pub fn v1_to_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let shape = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse().ok())
            .flatten()
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(format!("{}T{}Z", &s[..10], &s[11..]))
}

/// The top-level properties a schema declares as date-times: the fields `Record::normalize_v1`
/// rewrites.
pub fn date_time_properties(schema: &Value) -> Vec<String> {
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .filter(|(_, p)| p["format"] == "date-time")
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_times_read_by_hand_agree_with_chrono() {
        for s in [
            "2024-03-05 10:20:30",
            "1999-12-31 23:59:59",
            "2024-02-29 00:00:00",
            "2023-02-29 00:00:00",
            "2024-13-01 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01T00:00:00",
            "2024-1-01 00:00:00 ",
            "2024-01-01 00:00:0x",
            "",
        ] {
            let chrono = NaiveDateTime::parse_from_str(s, V1_FORMAT)
                .ok()
                .map(|t| format(t.and_utc()));
            assert_eq!(v1_to_rfc3339(s), chrono, "{s:?}");
        }
    }

    #[test]
    fn parses_every_pipedrive_form() {
        let want: DateTime<Utc> = "2024-03-05T10:20:30Z".parse().unwrap();
        for s in [
            "2024-03-05T10:20:30Z",
            "2024-03-05T10:20:30.000Z",
            "2024-03-05 10:20:30",
            "2024-03-05T12:20:30+02:00",
        ] {
            assert_eq!(parse(s), Some(want), "{s}");
        }
        assert_eq!(
            parse("2024-03-05"),
            Some("2024-03-05T00:00:00Z".parse().unwrap())
        );
        assert_eq!(parse("soon"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn seconds_are_rounded_down() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            floor_second(t("2024-03-05T10:20:12.676Z")),
            t("2024-03-05T10:20:12Z")
        );
        assert_eq!(
            floor_second(t("2024-03-05T10:20:12Z")),
            t("2024-03-05T10:20:12Z")
        );
        assert_eq!(
            floor_second(t("1969-12-31T23:59:59.5Z")),
            t("1969-12-31T23:59:59Z")
        );
    }

    #[test]
    fn formats_as_rfc3339_utc() {
        assert_eq!(
            format("2024-03-05T10:20:30Z".parse().unwrap()),
            "2024-03-05T10:20:30Z"
        );
        assert_eq!(
            format("2024-03-05T10:20:30.250Z".parse().unwrap()),
            "2024-03-05T10:20:30.250Z"
        );
    }

    #[test]
    fn finds_date_time_properties() {
        let s =
            json!({"properties": {"a": {"format": "date-time"}, "b": {"format": "date"}, "c": {}}});
        assert_eq!(date_time_properties(&s), vec!["a".to_string()]);
    }
}
