//! The update-time window of one stream in one sync, and the saved cursor it starts from: the
//! incremental rules every stream shares, in one place.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::streams::{time, StreamDef};

/// The update-time window of one stream in one sync: `[lower, upper)`, `upper` open for full
/// refresh. `start` is `start_date`, which no emitted record may precede.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub lower: DateTime<Utc>,
    pub upper: Option<DateTime<Utc>>,
    /// Whether the stream's sync starts from a saved state (a cursor, or a full refresh's
    /// sentinel): false on its first sync, whose destination holds nothing of it yet.
    pub from_state: bool,
    /// When the sync began (`upper` of its incremental windows), where it is known: a full
    /// refresh read in time slices cuts there (`slices`).
    pub began: Option<DateTime<Utc>>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Place {
    Before,
    In,
    After,
}

impl Window {
    /// The window of an incremental stream given `start_date`, the saved cursor and the sync's
    /// start. A cursor finer than a second (as older versions saved them) is rounded down:
    /// Pipedrive filters by the second, and the records of the cursor's second that come
    /// after it in the list were not read.
    pub fn incremental(
        start: DateTime<Utc>,
        cursor: Option<DateTime<Utc>>,
        upper: DateTime<Utc>,
    ) -> Window {
        Window {
            start,
            lower: cursor.map_or(start, |c| time::floor_second(c).max(start)),
            upper: Some(upper),
            from_state: cursor.is_some(),
            began: Some(upper),
        }
    }

    pub fn full_refresh(start: DateTime<Utc>) -> Window {
        Window {
            start,
            lower: start,
            upper: None,
            from_state: false,
            began: None,
        }
    }

    /// A full refresh resumed from a checkpoint at `cursor`: `[cursor, ∞)`, in whole seconds
    /// as the checkpoint's second is read again; `start_date` still bounds it.
    pub fn resumed_full_refresh(start: DateTime<Utc>, cursor: Option<DateTime<Utc>>) -> Window {
        Window {
            start,
            lower: cursor.map_or(start, |c| time::floor_second(c).max(start)),
            upper: None,
            from_state: false,
            began: None,
        }
    }

    /// A record without a readable update time cannot be shown to be outside: it is kept.
    pub(super) fn place(&self, t: Option<DateTime<Utc>>) -> Place {
        match t {
            Some(t) if t < self.lower => Place::Before,
            Some(t) if self.upper.is_some_and(|u| t >= u) => Place::After,
            _ => Place::In,
        }
    }

    /// The cursor saved once the whole window has been read. Never moves backwards.
    pub(super) fn final_cursor(&self) -> Option<DateTime<Utc>> {
        self.upper.map(|u| u.max(self.lower))
    }

    /// Children of parents in this window: all of them, but for `start_date`.
    pub(super) fn children(&self) -> Window {
        Window::full_refresh(self.start)
    }
}

/// Reads the saved cursor of a stream from its `stream_state`, if any.
pub fn saved_cursor(def: &StreamDef, state: Option<&Value>) -> Result<Option<DateTime<Utc>>> {
    saved_time(def, state, def.cursor)
}

/// Where a full refresh cut short stopped: its last checkpoint, kept under its own key so that
/// an incremental sync given that state never takes it for its cursor (it reads from
/// `start_date` instead), nor a full refresh an incremental cursor.
pub fn saved_full_refresh_checkpoint(
    def: &StreamDef,
    state: Option<&Value>,
) -> Result<Option<DateTime<Utc>>> {
    saved_time(def, state, Some(FULL_REFRESH_FROM))
}

/// The state key of a full refresh's page checkpoints.
pub const FULL_REFRESH_FROM: &str = "full_refresh_from";

fn saved_time(
    def: &StreamDef,
    state: Option<&Value>,
    field: Option<&str>,
) -> Result<Option<DateTime<Utc>>> {
    let (Some(field), Some(state)) = (field, state) else {
        return Ok(None);
    };
    match state.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => time::parse(s).map(Some).with_context(|| {
            format!(
                "stream {}: saved cursor {field} = {s:?} is not a date-time",
                def.name
            )
        }),
        Some(other) => bail!(
            "stream {}: saved cursor {field} = {other} is not a date-time string",
            def.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn window_rules() {
        let w = Window::incremental(
            t("2024-01-01T00:00:00Z"),
            Some(t("2023-06-01T00:00:00Z")),
            t("2025-01-01T00:00:00Z"),
        );
        assert_eq!(
            w.lower,
            t("2024-01-01T00:00:00Z"),
            "start_date wins over an older cursor"
        );
        assert_eq!(w.place(Some(t("2023-12-31T23:59:59Z"))), Place::Before);
        assert_eq!(
            w.place(Some(t("2024-01-01T00:00:00Z"))),
            Place::In,
            "lower bound is inclusive"
        );
        assert_eq!(
            w.place(Some(t("2025-01-01T00:00:00Z"))),
            Place::After,
            "upper bound is exclusive"
        );
        assert_eq!(w.place(None), Place::In);
        let fine = Window::incremental(
            t("2024-01-01T00:00:00Z"),
            Some(t("2024-06-01T10:20:12.676Z")),
            t("2025-01-01T00:00:00Z"),
        );
        assert_eq!(
            fine.place(Some(t("2024-06-01T10:20:12.100Z"))),
            Place::In,
            "a cursor is read in whole seconds"
        );
        assert_eq!(w.final_cursor(), Some(t("2025-01-01T00:00:00Z")));
        let ahead = Window::incremental(
            t("2024-01-01T00:00:00Z"),
            Some(t("2026-01-01T00:00:00Z")),
            t("2025-01-01T00:00:00Z"),
        );
        assert_eq!(
            ahead.final_cursor(),
            Some(t("2026-01-01T00:00:00Z")),
            "a cursor never moves back"
        );
        assert_eq!(
            Window::full_refresh(t("2024-01-01T00:00:00Z")).place(Some(t("2099-01-01T00:00:00Z"))),
            Place::In
        );
    }

    #[test]
    fn a_resumed_full_refresh_reads_from_its_checkpoint_on() {
        let start = t("2024-01-01T00:00:00Z");
        let w = Window::resumed_full_refresh(start, Some(t("2025-03-01T10:00:00.500Z")));
        assert_eq!(w.lower, t("2025-03-01T10:00:00Z"));
        assert_eq!(w.upper, None);
        assert_eq!(w.place(Some(t("2025-03-01T09:59:59Z"))), Place::Before);
        assert_eq!(w.place(Some(t("2099-01-01T00:00:00Z"))), Place::In);
        assert_eq!(
            Window::resumed_full_refresh(start, None),
            Window::full_refresh(start)
        );
        let old = Window::resumed_full_refresh(start, Some(t("2020-01-01T00:00:00Z")));
        assert_eq!(old.lower, start, "start_date still bounds it");
    }

    #[test]
    fn saved_cursor_forms() {
        let deals = crate::streams::find("deals").unwrap();
        assert_eq!(saved_cursor(deals, None).unwrap(), None);
        assert_eq!(
            saved_cursor(deals, Some(&json!({"update_time": "2024-01-01 00:00:00"}))).unwrap(),
            Some(t("2024-01-01T00:00:00Z"))
        );
        assert!(saved_cursor(deals, Some(&json!({"update_time": "never"}))).is_err());
        assert!(saved_cursor(deals, Some(&json!({"update_time": 5}))).is_err());
    }
}
