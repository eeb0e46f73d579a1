//! Streams as data: one row per Pipedrive resource says where it lives, how it pages, how it is
//! filtered and sorted by update time, and what it costs. One engine (`engine.rs`) reads any row,
//! so adding a stream is adding a row and its schema, never a new code path.

pub mod engine;
pub mod time;

use serde_json::Value;

/// How an endpoint splits its results into pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `cursor` + `limit`, `additional_data.next_cursor` (all v2 lists).
    Cursor { limit: u32 },
    /// `start` + `limit`, `additional_data.pagination.more_items_in_collection` / `next_start` (v1).
    Offset { limit: u32 },
    /// Everything in one answer (v1 lists that take no paging parameters).
    Single,
}

/// What the server can filter on update time, so fewer pages are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFilter {
    None,
    /// `updated_since` (≥).
    Since,
    /// `updated_since` (≥) and `updated_until` (<).
    SinceUntil,
}

/// How the API writes timestamps in this stream's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// RFC 3339 already (v2, and v1 leads): records pass through untouched.
    Rfc3339,
    /// v1 `YYYY-MM-DD HH:MM:SS` in UTC: the schema's date-time properties are rewritten to RFC 3339.
    V1,
}

#[derive(Debug)]
pub struct StreamDef {
    pub name: &'static str,
    pub path: &'static str,
    pub paging: Paging,
    pub primary_key: &'static str,
    /// The update-time property: the incremental cursor and the `start_date` filter. `None`:
    /// the resource has no such time, so it is full refresh only and `start_date` cannot apply.
    pub cursor: Option<&'static str>,
    pub filter: ServerFilter,
    /// The order the server is asked for, by update time.
    pub sort: Sort,
    /// Other fixed query parameters.
    pub params: &'static [(&'static str, &'static str)],
    pub times: Times,
    /// Pipedrive tokens one request costs (the reference's cost table), for the summary.
    pub tokens: u32,
    pub schema: &'static str,
}

/// Query parameters asking for an update-time order, and what that order lets the engine do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Whatever order the server likes: filter every record, checkpoint at the end.
    None,
    /// Oldest first: every page can be a checkpoint, and paging stops at the window's end.
    Ascending(&'static [(&'static str, &'static str)]),
    /// Newest first: paging stops at the window's start. For endpoints with no server-side
    /// filter, where an incremental sync would otherwise read the whole history again.
    Descending(&'static [(&'static str, &'static str)]),
}

impl Sort {
    pub fn params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Sort::None => &[],
            Sort::Ascending(p) | Sort::Descending(p) => p,
        }
    }
}

impl StreamDef {
    pub fn incremental(&self) -> bool {
        self.cursor.is_some()
    }

    /// Records arrive oldest first, so each page can end in a checkpoint.
    pub fn checkpoints_per_page(&self) -> bool {
        matches!(self.sort, Sort::Ascending(_))
    }

    pub fn schema(&self) -> Value {
        serde_json::from_str(self.schema).expect("schemas are checked by tests")
    }
}

const V2_SORT: Sort = Sort::Ascending(&[("sort_by", "update_time"), ("sort_direction", "asc")]);
const V1_SORT: Sort = Sort::Ascending(&[("sort", "update_time ASC")]);

macro_rules! schema {
    ($name:literal) => {
        include_str!(concat!("../../schemas/", $name, ".json"))
    };
}

/// Every stream, in the order `discover` lists them and a catalog-less `read` syncs them.
pub static STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "deals",
        path: "/api/v2/deals",
        paging: Paging::Cursor { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::SinceUntil,
        sort: V2_SORT,
        // Deleted deals (kept 30 days by Pipedrive) only come back when asked for.
        params: &[("status", "open,won,lost,deleted")],
        times: Times::Rfc3339,
        tokens: 10,
        schema: schema!("deals"),
    },
    StreamDef {
        name: "persons",
        path: "/api/v2/persons",
        paging: Paging::Cursor { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::SinceUntil,
        sort: V2_SORT,
        params: &[],
        times: Times::Rfc3339,
        tokens: 10,
        schema: schema!("persons"),
    },
    StreamDef {
        name: "organizations",
        path: "/api/v2/organizations",
        paging: Paging::Cursor { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::SinceUntil,
        sort: V2_SORT,
        params: &[],
        times: Times::Rfc3339,
        tokens: 10,
        schema: schema!("organizations"),
    },
    StreamDef {
        name: "activities",
        path: "/api/v2/activities",
        paging: Paging::Cursor { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::SinceUntil,
        sort: V2_SORT,
        params: &[],
        times: Times::Rfc3339,
        tokens: 10,
        schema: schema!("activities"),
    },
    StreamDef {
        name: "products",
        path: "/api/v2/products",
        paging: Paging::Cursor { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::Since,
        sort: V2_SORT,
        params: &[],
        times: Times::Rfc3339,
        tokens: 10,
        schema: schema!("products"),
    },
    StreamDef {
        name: "pipelines",
        path: "/api/v2/pipelines",
        paging: Paging::Cursor { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::None,
        sort: V2_SORT,
        params: &[],
        times: Times::Rfc3339,
        tokens: 5,
        schema: schema!("pipelines"),
    },
    StreamDef {
        name: "stages",
        path: "/api/v2/stages",
        paging: Paging::Cursor { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::None,
        sort: V2_SORT,
        params: &[],
        times: Times::Rfc3339,
        tokens: 5,
        schema: schema!("stages"),
    },
    StreamDef {
        name: "users",
        path: "/v1/users",
        paging: Paging::Single,
        primary_key: "id",
        cursor: Some("modified"),
        filter: ServerFilter::None,
        sort: Sort::None,
        params: &[],
        times: Times::V1,
        tokens: 20,
        schema: schema!("users"),
    },
    StreamDef {
        name: "notes",
        path: "/v1/notes",
        paging: Paging::Offset { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::Since,
        sort: V1_SORT,
        params: &[],
        times: Times::V1,
        tokens: 20,
        schema: schema!("notes"),
    },
    StreamDef {
        name: "leads",
        path: "/v1/leads",
        paging: Paging::Offset { limit: 500 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::Since,
        sort: V1_SORT,
        params: &[],
        times: Times::Rfc3339,
        tokens: 20,
        schema: schema!("leads"),
    },
    StreamDef {
        name: "lead_labels",
        path: "/v1/leadLabels",
        paging: Paging::Single,
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::None,
        sort: Sort::None,
        params: &[],
        times: Times::Rfc3339,
        tokens: 10,
        schema: schema!("lead_labels"),
    },
    StreamDef {
        name: "activity_types",
        path: "/v1/activityTypes",
        paging: Paging::Single,
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::None,
        sort: Sort::None,
        params: &[],
        times: Times::V1,
        tokens: 20,
        schema: schema!("activity_types"),
    },
    StreamDef {
        name: "currencies",
        path: "/v1/currencies",
        paging: Paging::Single,
        primary_key: "id",
        cursor: None,
        filter: ServerFilter::None,
        sort: Sort::None,
        params: &[],
        times: Times::V1,
        tokens: 20,
        schema: schema!("currencies"),
    },
    StreamDef {
        name: "filters",
        path: "/v1/filters",
        paging: Paging::Single,
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::None,
        sort: Sort::None,
        params: &[],
        times: Times::V1,
        tokens: 20,
        schema: schema!("filters"),
    },
    StreamDef {
        name: "files",
        path: "/v1/files",
        // Pipedrive caps this endpoint at 100 per page.
        paging: Paging::Offset { limit: 100 },
        primary_key: "id",
        cursor: Some("update_time"),
        filter: ServerFilter::None,
        // No update-time filter: newest first, so an incremental sync stops at its cursor
        // instead of paging through every file ever uploaded.
        sort: Sort::Descending(&[("sort", "update_time DESC")]),
        params: &[],
        times: Times::V1,
        tokens: 20,
        schema: schema!("files"),
    },
];

pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().find(|s| s.name == name)
}

pub fn names() -> Vec<&'static str> {
    STREAMS.iter().map(|s| s.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_parses_and_declares_its_keys() {
        for s in STREAMS {
            let schema = s.schema();
            let props = &schema["properties"];
            assert!(
                props.get(s.primary_key).is_some(),
                "{}: primary key {} not in schema",
                s.name,
                s.primary_key
            );
            if let Some(c) = s.cursor {
                assert_eq!(
                    props[c]["format"], "date-time",
                    "{}: cursor {c} must be a date-time",
                    s.name
                );
            }
        }
    }

    #[test]
    fn names_are_unique_and_v2_pages_are_full_size() {
        let mut names = names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), STREAMS.len());
        for s in STREAMS {
            if s.path.starts_with("/api/v2/") {
                assert_eq!(s.paging, Paging::Cursor { limit: 500 }, "{}", s.name);
            }
        }
    }
}
