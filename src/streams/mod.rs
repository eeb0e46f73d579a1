//! Streams as data: one row per Pipedrive resource says where it lives, how it pages, how it is
//! filtered and sorted by update time, and what it costs. One engine (`engine/`) reads any row,
//! so adding a stream is adding a row and its schema, never a new code path.

pub mod engine;
pub mod page;
pub mod record;
pub mod time;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use record::Record;

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

impl Paging {
    /// Records asked for per page, for a paged list.
    pub fn limit(&self) -> Option<u32> {
        match self {
            Paging::Cursor { limit } | Paging::Offset { limit } => Some(*limit),
            Paging::Single => None,
        }
    }
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

#[derive(Debug, Clone, Copy)]
pub struct StreamDef {
    pub name: &'static str,
    /// Path of the list; for per-parent fan-out it holds `{id}` where the parent id goes.
    pub path: &'static str,
    /// Path of one record, `{id}` where its id goes: for streams that are parents, what a
    /// child stream asks when this record's children answer 404, to tell a record gone from
    /// an endpoint missing.
    pub item: Option<&'static str>,
    pub paging: Paging,
    pub primary_key: &'static [&'static str],
    /// The update-time property: the incremental cursor and the `start_date` filter. `None`:
    /// the resource has no such time, so `start_date` cannot apply to it.
    pub cursor: Option<&'static str>,
    pub filter: ServerFilter,
    /// The order the server is asked for, by update time.
    pub sort: Sort,
    /// Other fixed query parameters.
    pub params: &'static [(&'static str, &'static str)],
    /// A parameter read once per value, e.g. each mailbox folder.
    pub each: Option<(&'static str, &'static [&'static str])>,
    /// With `each`: one more pass without the parameter (what it gives that no value does,
    /// e.g. the token user's goals of types the parameter cannot name).
    pub plain_pass: bool,
    /// A record can come in several passes (goals: the user's own and everyone's of a type):
    /// each key is emitted once per sync. Keeps the keys seen, so only for small streams.
    pub dedupe: bool,
    pub records: Records,
    pub times: Times,
    /// Pipedrive tokens one request costs (the reference's cost table), for the summary.
    pub tokens: u32,
    /// Records come from the children of another stream's records.
    pub parent: Option<Parent>,
    /// How deletes show, where they can: a flag in the records, or a record leaving its list.
    pub deletion: Option<Deletion>,
    /// For deals, leads and projects: the other list of the live/archived pair, read along in
    /// incremental syncs so that an archive or an un-archive reaches both tables.
    pub archive: Option<Archive>,
    /// Where the account's custom fields of this stream are defined, and how records hold them.
    pub custom: Option<Custom>,
    /// Part of the default catalog (what `read` syncs without a catalog). Streams that cost one
    /// request per parent record are not: they are there for whoever selects them.
    pub default: bool,
    pub schema: &'static str,
}

/// A stream whose records carry custom fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Custom {
    /// The field-definition stream (e.g. `deal_fields`).
    pub fields: &'static str,
    /// v1 records hold custom fields flat at the top level; v2 records in `custom_fields`.
    pub v1: bool,
}

/// Where a page's records are in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// `data` is the list.
    Data,
    /// `data.<field>` is the list (goals).
    Nested(&'static str),
    /// `data` is one record (a user's permissions).
    Object,
}

/// A stream read through the records of other streams: their ids drive its requests, and the
/// parents are listed in this stream's window, so an incremental sync only asks for the
/// children of parents changed since the cursor.
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    /// Parent streams, read in this order; the largest goes last (only its pass checkpoints).
    pub streams: &'static [&'static str],
    pub fanout: Fanout,
    /// Child records get the parent id under this name (the API leaves it out).
    pub id_field: Option<&'static str>,
    /// Child records get the parent's update time under this name: the cursor of children that
    /// have no time of their own.
    pub time_field: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fanout {
    /// Up to `size` parent ids, comma-joined, in one query parameter.
    Batch { param: &'static str, size: usize },
    /// One request per parent, its id in the path.
    Path,
}

/// Query parameters asking for an update-time order, and what that order lets the engine do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Whatever order the server likes: filter every record, checkpoint at the end.
    None,
    /// Oldest first: every page can be a checkpoint, and paging stops at the window's end.
    Ascending(&'static [(&'static str, &'static str)]),
    /// Newest first: paging stops at the window's start. For endpoints with no server-side
    /// filter whose contract documents the direction, where an incremental sync would
    /// otherwise read the whole history again.
    Descending(&'static [(&'static str, &'static str)]),
    /// By a field no edit changes (`id`), direction unspecified: records do not move when
    /// edited, so offset pages shift only when records leave; every record is filtered, and
    /// the checkpoint comes at the end. For lists with neither a filter nor a documented
    /// direction: stopping early would rest on an order the contract does not promise.
    Stable(&'static [(&'static str, &'static str)]),
}

impl Sort {
    pub fn params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Sort::None => &[],
            Sort::Ascending(p) | Sort::Descending(p) | Sort::Stable(p) => p,
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

    /// A full refresh of this stream can resume where it was cut short: its records come
    /// oldest first by update time in one pass of its own, so each page ends in a checkpoint
    /// (`{cursor: last update time}`) that a full refresh given back reads on from.
    pub fn resumable_full_refresh(&self) -> bool {
        self.cursor.is_some()
            && self.checkpoints_per_page()
            && self.parent.is_none()
            && self.each.is_none()
    }

    /// The stream's JSON Schema, with `_ab_cdc_deleted_at` where records can be marked deleted,
    /// and `is_archived` where the connector adds it.
    pub fn schema(&self) -> Value {
        let mut schema: Value =
            serde_json::from_str(self.schema).expect("schemas are checked by tests");
        if self.marks_deletes() {
            schema["properties"][DELETED_AT] = serde_json::json!({
                "type": ["null", "string"],
                "format": "date-time",
                "airbyte_type": "timestamp_with_timezone",
                "description": "When the record was deleted, or left the archived list (its update time, or a webhook's delete time); absent while it is not."
            });
        }
        if self
            .archive
            .is_some_and(|a| a.flag == ArchiveFlag::ArchiveTime)
        {
            schema["properties"]["is_archived"] = serde_json::json!({
                "type": ["null", "boolean"],
                "description": "Whether the record is archived: set by the connector from the list it came from (Pipedrive says it with `archive_time`)."
            });
        }
        schema
    }

    /// Whether records of this stream can carry `_ab_cdc_deleted_at`: they can say they are
    /// deleted, a webhook can delete them, or, in an archived stream, they can leave the archive.
    pub fn marks_deletes(&self) -> bool {
        self.deletion.is_some() || self.archive.is_some_and(|a| a.archived)
    }

    /// Marks a record of this stream's pair as this stream emits it: `from_archive` says which
    /// list it was read from. The connector's `is_archived` (projects) follows that list, and a
    /// record the live stream reads from the archive says `is_archived: true` whatever the API
    /// wrote; a record the archived stream reads from the live list left the archive: it is
    /// deleted from this stream at its update time (`at` where the record has none).
    /// `deleted_at` is the soft-delete column of the protocol spoken (`deleted_at_column`).
    pub fn mark_archive(
        &self,
        record: &mut Record,
        from_archive: bool,
        at: Option<&str>,
        deleted_at: &str,
    ) {
        let Some(a) = self.archive else { return };
        if a.flag == ArchiveFlag::ArchiveTime || (from_archive && !a.archived) {
            record.set("is_archived", &Value::Bool(from_archive));
        }
        if a.archived && !from_archive {
            let when = self
                .cursor
                .and_then(|c| record.get(c))
                .filter(|t| !t.is_null())
                .or_else(|| at.map(|t| Value::String(t.to_string())))
                .unwrap_or(Value::Null);
            record.set(deleted_at, &when);
        }
    }

    /// The top-level date-time properties whose v1 `YYYY-MM-DD HH:MM:SS` values are rewritten
    /// (none for streams already in RFC 3339). Read off the schema once per stream per process:
    /// per-parent streams list once per parent, and must not parse their schema each time.
    pub fn v1_time_fields(&self) -> &'static [String] {
        static FIELDS: OnceLock<Mutex<HashMap<&'static str, &'static [String]>>> = OnceLock::new();
        if self.times == Times::Rfc3339 {
            return &[];
        }
        let mut known = FIELDS
            .get_or_init(Default::default)
            .lock()
            .expect("v1 time fields lock");
        known
            .entry(self.name)
            .or_insert_with(|| time::date_time_properties(&self.schema()).leak())
    }

    /// The primary key of a record as one string (components joined by `|`), for tests and logs.
    pub fn key_of(&self, record: &Value) -> String {
        let parts: Vec<String> = self
            .primary_key
            .iter()
            .map(|k| match &record[*k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        parts.join("|")
    }
}

/// Airbyte's soft-delete column, understood by destinations that apply deletions.
pub const DELETED_AT: &str = "_ab_cdc_deleted_at";
/// Singer's soft-delete column, which Singer targets (the Meltano SDK's among them) apply.
pub const SINGER_DELETED_AT: &str = "_sdc_deleted_at";

/// The soft-delete column of the protocol spoken: records say they are deleted in it.
pub fn deleted_at_column(singer: bool) -> &'static str {
    if singer {
        SINGER_DELETED_AT
    } else {
        DELETED_AT
    }
}

/// A stream's schema as Singer declares it: the soft-delete column is `_sdc_deleted_at`, a
/// plain nullable date-time (Singer targets type it from `format`), in place of Airbyte's.
pub fn singer_schema(mut schema: Value) -> Value {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        if props.shift_remove(DELETED_AT).is_some() {
            props.insert(
                SINGER_DELETED_AT.to_string(),
                serde_json::json!({
                    "type": ["null", "string"],
                    "format": "date-time",
                    "description": "When the record was deleted, or left the archived list (its update time, or a webhook's delete time); absent while it is not."
                }),
            );
        }
    }
    schema
}

/// How a stream's deletes show: v2's `is_deleted`, v1's `active_flag` (false or 0 once
/// deleted), a `deleted` status, or no flag at all (the record leaves its list). Not derived from
/// the schema: an `active_flag` can also mean "enabled" (currencies), which is no deletion.
/// Whether a list returns its deleted records at all is Pipedrive's choice; the README's
/// deletion table says, per stream, what reaches a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    IsDeleted,
    ActiveFlag,
    /// `status: "deleted"` (projects).
    Status,
    /// No flag: a deleted record leaves its list. Only a webhook's delete (`listen`) says it
    /// is gone, so records still get `_ab_cdc_deleted_at` from there.
    Vanishes,
}

impl Deletion {
    /// The property that says the record is deleted, if any.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Deletion::IsDeleted => Some("is_deleted"),
            Deletion::ActiveFlag => Some("active_flag"),
            Deletion::Status => Some("status"),
            Deletion::Vanishes => None,
        }
    }

    pub fn is_deleted(self, record: &Value) -> bool {
        self.field().is_some_and(|f| self.says_deleted(&record[f]))
    }

    /// Whether the value of `field()` marks the record deleted.
    pub fn says_deleted(self, flag: &Value) -> bool {
        match self {
            Deletion::IsDeleted => flag == &Value::Bool(true) || flag.as_i64() == Some(1),
            Deletion::ActiveFlag => flag == &Value::Bool(false) || flag.as_i64() == Some(0),
            Deletion::Status => flag == "deleted",
            Deletion::Vanishes => false,
        }
    }
}

/// One stream of a live/archived pair (deals, leads, projects): Pipedrive moves a record from
/// one list to the other, under the same id, when it is archived or brought back. An
/// incremental sync of either stream also reads the other list in its window, so that the
/// destination's two tables follow the move in the same sync: the live stream writes archived
/// records as they come (archived, marked so), the archived stream writes live ones deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Archive {
    /// The other stream of the pair.
    pub twin: &'static str,
    /// This stream reads the archived list.
    pub archived: bool,
    pub flag: ArchiveFlag,
}

/// How a record of a pair says it is archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFlag {
    /// `is_archived: true` (v2 deals, v1 leads).
    IsArchived,
    /// A non-null `archive_time` (v2 projects, whose model has no `is_archived`): the connector
    /// adds `is_archived` to their records.
    ArchiveTime,
}

impl ArchiveFlag {
    /// Whether `record` (a record, or the old values of a webhook's change) says archived.
    pub fn says_archived(self, record: &Value) -> bool {
        match self {
            ArchiveFlag::IsArchived => record["is_archived"] == Value::Bool(true),
            ArchiveFlag::ArchiveTime => record["archive_time"].is_string(),
        }
    }
}

const V2_SORT: Sort = Sort::Ascending(&[("sort_by", "update_time"), ("sort_direction", "asc")]);
const V1_SORT: Sort = Sort::Ascending(&[("sort", "update_time ASC")]);

/// The common shape of a row; each row states what differs.
const ROW: StreamDef = StreamDef {
    name: "",
    path: "",
    item: None,
    paging: Paging::Single,
    primary_key: &["id"],
    cursor: None,
    filter: ServerFilter::None,
    sort: Sort::None,
    params: &[],
    each: None,
    plain_pass: false,
    dedupe: false,
    records: Records::Data,
    times: Times::Rfc3339,
    tokens: 20,
    parent: None,
    deletion: None,
    archive: None,
    custom: None,
    default: true,
    schema: "",
};

/// A v2 list, oldest first, with the update-time window filtered by the server.
const V2_LIST: StreamDef = StreamDef {
    paging: Paging::Cursor { limit: 500 },
    cursor: Some("update_time"),
    filter: ServerFilter::SinceUntil,
    sort: V2_SORT,
    tokens: 10,
    deletion: Some(Deletion::IsDeleted),
    ..ROW
};

/// A v2 field-definition list: the account's fields of one entity, custom ones included.
const FIELDS: StreamDef = StreamDef {
    paging: Paging::Cursor { limit: 500 },
    primary_key: &["field_code"],
    tokens: 10,
    ..ROW
};

const DEAL_PARENTS: &[&str] = &["archived_deals", "deals"];

// v2 returns these properties only when `include_fields` names them (the official
// definitions' parameter descriptions); no documentation says asking changes a request's cost.
const DEAL_INCLUDE: (&str, &str) = (
    "include_fields",
    "next_activity_id,last_activity_id,first_won_time,products_count,files_count,notes_count,\
     followers_count,email_messages_count,activities_count,done_activities_count,\
     undone_activities_count,participants_count,last_incoming_mail_time,last_outgoing_mail_time,\
     smart_bcc_email,source_lead_id",
);
const PERSON_INCLUDE: (&str, &str) = (
    "include_fields",
    "next_activity_id,last_activity_id,open_deals_count,related_open_deals_count,\
     closed_deals_count,related_closed_deals_count,participant_open_deals_count,\
     participant_closed_deals_count,email_messages_count,activities_count,done_activities_count,\
     undone_activities_count,files_count,notes_count,followers_count,won_deals_count,\
     related_won_deals_count,lost_deals_count,related_lost_deals_count,last_incoming_mail_time,\
     last_outgoing_mail_time,marketing_status,doi_status,smart_bcc_email",
);
const ORGANIZATION_INCLUDE: (&str, &str) = (
    "include_fields",
    "next_activity_id,last_activity_id,open_deals_count,related_open_deals_count,\
     closed_deals_count,related_closed_deals_count,email_messages_count,people_count,\
     activities_count,done_activities_count,undone_activities_count,files_count,notes_count,\
     followers_count,won_deals_count,related_won_deals_count,lost_deals_count,\
     related_lost_deals_count,smart_bcc_email",
);
const FIELDS_INCLUDE_ALL: &[(&str, &str)] = &[(
    "include_fields",
    "ui_visibility,important_fields,required_fields",
)];
const FIELDS_INCLUDE_VISIBILITY: &[(&str, &str)] = &[("include_fields", "ui_visibility")];

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
        item: Some("/api/v2/deals/{id}"),
        // Deleted deals (kept 30 days by Pipedrive) only come back when asked for.
        params: &[("status", "open,won,lost,deleted"), DEAL_INCLUDE],
        schema: schema!("deals"),
        archive: Some(Archive {
            twin: "archived_deals",
            archived: false,
            flag: ArchiveFlag::IsArchived,
        }),
        custom: Some(Custom {
            fields: "deal_fields",
            v1: false,
        }),
        ..V2_LIST
    },
    StreamDef {
        name: "archived_deals",
        path: "/api/v2/deals/archived",
        item: Some("/api/v2/deals/{id}"),
        // Priced like a search (reference §4).
        tokens: 20,
        params: &[("status", "open,won,lost,deleted"), DEAL_INCLUDE],
        schema: schema!("archived_deals"),
        archive: Some(Archive {
            twin: "deals",
            archived: true,
            flag: ArchiveFlag::IsArchived,
        }),
        custom: Some(Custom {
            fields: "deal_fields",
            v1: false,
        }),
        ..V2_LIST
    },
    StreamDef {
        name: "persons",
        path: "/api/v2/persons",
        params: &[PERSON_INCLUDE],
        schema: schema!("persons"),
        custom: Some(Custom {
            fields: "person_fields",
            v1: false,
        }),
        ..V2_LIST
    },
    StreamDef {
        name: "organizations",
        path: "/api/v2/organizations",
        params: &[ORGANIZATION_INCLUDE],
        schema: schema!("organizations"),
        custom: Some(Custom {
            fields: "organization_fields",
            v1: false,
        }),
        ..V2_LIST
    },
    StreamDef {
        name: "activities",
        path: "/api/v2/activities",
        params: &[("include_fields", "attendees")],
        schema: schema!("activities"),
        custom: Some(Custom {
            fields: "activity_fields",
            v1: false,
        }),
        ..V2_LIST
    },
    StreamDef {
        name: "products",
        path: "/api/v2/products",
        item: Some("/api/v2/products/{id}"),
        filter: ServerFilter::Since,
        schema: schema!("products"),
        custom: Some(Custom {
            fields: "product_fields",
            v1: false,
        }),
        ..V2_LIST
    },
    StreamDef {
        name: "pipelines",
        path: "/api/v2/pipelines",
        filter: ServerFilter::None,
        tokens: 5,
        schema: schema!("pipelines"),
        ..V2_LIST
    },
    StreamDef {
        name: "stages",
        path: "/api/v2/stages",
        filter: ServerFilter::None,
        tokens: 5,
        schema: schema!("stages"),
        ..V2_LIST
    },
    StreamDef {
        name: "deal_products",
        path: "/api/v2/deals/products",
        filter: ServerFilter::None,
        sort: Sort::None,
        parent: Some(Parent {
            streams: DEAL_PARENTS,
            fanout: Fanout::Batch {
                param: "deal_ids",
                size: 100,
            },
            id_field: None,
            time_field: None,
        }),
        schema: schema!("deal_products"),
        // Lines removed from a deal leave the list; only a webhook says so.
        deletion: Some(Deletion::Vanishes),
        ..V2_LIST
    },
    StreamDef {
        name: "deal_installments",
        path: "/api/v2/deals/installments",
        cursor: Some("deal_update_time"),
        filter: ServerFilter::None,
        sort: Sort::None,
        parent: Some(Parent {
            streams: DEAL_PARENTS,
            fanout: Fanout::Batch {
                param: "deal_ids",
                size: 100,
            },
            // Installments carry their deal's id: how each is matched to its deal's time.
            id_field: Some("deal_id"),
            time_field: Some("deal_update_time"),
        }),
        schema: schema!("deal_installments"),
        deletion: Some(Deletion::Vanishes),
        ..V2_LIST
    },
    StreamDef {
        name: "deal_changelog",
        path: "/v1/deals/{id}/changelog",
        primary_key: &["deal_id", "time", "field_key"],
        cursor: Some("time"),
        filter: ServerFilter::None,
        sort: Sort::None,
        times: Times::V1,
        tokens: 20,
        parent: Some(Parent {
            streams: DEAL_PARENTS,
            fanout: Fanout::Path,
            id_field: Some("deal_id"),
            time_field: None,
        }),
        default: false,
        schema: schema!("deal_changelog"),
        deletion: None,
        ..V2_LIST
    },
    StreamDef {
        name: "product_variations",
        path: "/api/v2/products/{id}/variations",
        cursor: Some("product_update_time"),
        filter: ServerFilter::None,
        sort: Sort::None,
        parent: Some(Parent {
            streams: &["products"],
            fanout: Fanout::Path,
            id_field: Some("product_id"),
            time_field: Some("product_update_time"),
        }),
        default: false,
        schema: schema!("product_variations"),
        deletion: None,
        ..V2_LIST
    },
    StreamDef {
        name: "users",
        path: "/v1/users",
        item: Some("/v1/users/{id}"),
        cursor: Some("modified"),
        times: Times::V1,
        schema: schema!("users"),
        deletion: Some(Deletion::IsDeleted),
        ..ROW
    },
    StreamDef {
        name: "user_permissions",
        path: "/v1/users/{id}/permissions",
        primary_key: &["user_id"],
        records: Records::Object,
        parent: Some(Parent {
            streams: &["users"],
            fanout: Fanout::Path,
            id_field: Some("user_id"),
            time_field: None,
        }),
        schema: schema!("user_permissions"),
        ..ROW
    },
    StreamDef {
        name: "notes",
        path: "/v1/notes",
        item: Some("/v1/notes/{id}"),
        paging: Paging::Offset { limit: 500 },
        cursor: Some("update_time"),
        filter: ServerFilter::Since,
        sort: V1_SORT,
        times: Times::V1,
        schema: schema!("notes"),
        deletion: Some(Deletion::ActiveFlag),
        custom: Some(Custom {
            fields: "note_fields",
            v1: true,
        }),
        ..ROW
    },
    StreamDef {
        name: "note_comments",
        path: "/v1/notes/{id}/comments",
        paging: Paging::Offset { limit: 500 },
        primary_key: &["uuid"],
        cursor: Some("update_time"),
        times: Times::V1,
        parent: Some(Parent {
            streams: &["notes"],
            fanout: Fanout::Path,
            id_field: None,
            time_field: None,
        }),
        default: false,
        schema: schema!("note_comments"),
        deletion: Some(Deletion::ActiveFlag),
        ..ROW
    },
    StreamDef {
        name: "leads",
        path: "/v1/leads",
        paging: Paging::Offset { limit: 500 },
        cursor: Some("update_time"),
        filter: ServerFilter::Since,
        sort: V1_SORT,
        schema: schema!("leads"),
        deletion: Some(Deletion::Vanishes),
        archive: Some(Archive {
            twin: "archived_leads",
            archived: false,
            flag: ArchiveFlag::IsArchived,
        }),
        custom: Some(Custom {
            fields: "deal_fields",
            v1: true,
        }),
        ..ROW
    },
    StreamDef {
        name: "archived_leads",
        path: "/v1/leads/archived",
        paging: Paging::Offset { limit: 500 },
        cursor: Some("update_time"),
        // No update-time filter on this endpoint: newest first, stop at the cursor.
        sort: Sort::Descending(&[("sort", "update_time DESC")]),
        tokens: 40,
        schema: schema!("archived_leads"),
        deletion: Some(Deletion::Vanishes),
        archive: Some(Archive {
            twin: "leads",
            archived: true,
            flag: ArchiveFlag::IsArchived,
        }),
        custom: Some(Custom {
            fields: "deal_fields",
            v1: true,
        }),
        ..ROW
    },
    StreamDef {
        name: "lead_labels",
        path: "/v1/leadLabels",
        cursor: Some("update_time"),
        tokens: 10,
        schema: schema!("lead_labels"),
        ..ROW
    },
    StreamDef {
        name: "lead_sources",
        path: "/v1/leadSources",
        primary_key: &["name"],
        tokens: 2,
        schema: schema!("lead_sources"),
        ..ROW
    },
    StreamDef {
        name: "activity_types",
        path: "/v1/activityTypes",
        cursor: Some("update_time"),
        times: Times::V1,
        schema: schema!("activity_types"),
        deletion: Some(Deletion::ActiveFlag),
        ..ROW
    },
    StreamDef {
        name: "currencies",
        path: "/v1/currencies",
        times: Times::V1,
        schema: schema!("currencies"),
        ..ROW
    },
    StreamDef {
        name: "filters",
        path: "/v1/filters",
        cursor: Some("update_time"),
        times: Times::V1,
        schema: schema!("filters"),
        deletion: Some(Deletion::ActiveFlag),
        ..ROW
    },
    StreamDef {
        name: "files",
        path: "/v1/files",
        // Pipedrive caps this endpoint at 100 per page.
        paging: Paging::Offset { limit: 100 },
        cursor: Some("update_time"),
        // No update-time filter, and `sort` takes a field with no direction: the whole list
        // is read and filtered, in id order so that edits during the sync move nothing.
        sort: Sort::Stable(&[("sort", "id")]),
        times: Times::V1,
        schema: schema!("files"),
        deletion: Some(Deletion::ActiveFlag),
        ..ROW
    },
    StreamDef {
        name: "goals",
        path: "/v1/goals/find",
        // Without `type.name` the endpoint gives the token user's goals only; with it,
        // everyone's of that type. The plain pass brings the user's goals of other types
        // (revenue forecasts); the user's own come twice, so they are deduplicated.
        each: Some((
            "type.name",
            &[
                "deals_won",
                "deals_progressed",
                "activities_completed",
                "activities_added",
                "deals_started",
            ],
        )),
        plain_pass: true,
        dedupe: true,
        records: Records::Nested("goals"),
        schema: schema!("goals"),
        ..ROW
    },
    StreamDef {
        name: "roles",
        path: "/v1/roles",
        item: Some("/v1/roles/{id}"),
        paging: Paging::Offset { limit: 500 },
        schema: schema!("roles"),
        deletion: Some(Deletion::ActiveFlag),
        ..ROW
    },
    StreamDef {
        name: "role_assignments",
        path: "/v1/roles/{id}/assignments",
        paging: Paging::Offset { limit: 500 },
        primary_key: &["role_id", "user_id"],
        parent: Some(Parent {
            streams: &["roles"],
            fanout: Fanout::Path,
            id_field: Some("role_id"),
            time_field: None,
        }),
        schema: schema!("role_assignments"),
        deletion: Some(Deletion::ActiveFlag),
        ..ROW
    },
    StreamDef {
        name: "permission_sets",
        path: "/v1/permissionSets",
        item: Some("/v1/permissionSets/{id}"),
        schema: schema!("permission_sets"),
        ..ROW
    },
    StreamDef {
        name: "permission_set_assignments",
        path: "/v1/permissionSets/{id}/assignments",
        paging: Paging::Offset { limit: 500 },
        primary_key: &["permission_set_id", "user_id"],
        parent: Some(Parent {
            streams: &["permission_sets"],
            fanout: Fanout::Path,
            id_field: Some("permission_set_id"),
            time_field: None,
        }),
        schema: schema!("permission_set_assignments"),
        ..ROW
    },
    StreamDef {
        name: "call_logs",
        path: "/v1/callLogs",
        // Pipedrive caps this endpoint at 50 per page.
        paging: Paging::Offset { limit: 50 },
        schema: schema!("call_logs"),
        times: Times::V1,
        ..ROW
    },
    StreamDef {
        name: "mail_threads",
        path: "/v1/mailbox/mailThreads",
        item: Some("/v1/mailbox/mailThreads/{id}"),
        paging: Paging::Offset { limit: 500 },
        cursor: Some("update_time"),
        each: Some(("folder", &["inbox", "drafts", "sent", "archive"])),
        times: Times::V1,
        schema: schema!("mail_threads"),
        ..ROW
    },
    StreamDef {
        name: "mail_messages",
        path: "/v1/mailbox/mailThreads/{id}/mailMessages",
        cursor: Some("update_time"),
        times: Times::V1,
        parent: Some(Parent {
            streams: &["mail_threads"],
            fanout: Fanout::Path,
            id_field: None,
            time_field: None,
        }),
        default: false,
        schema: schema!("mail_messages"),
        ..ROW
    },
    StreamDef {
        name: "projects",
        path: "/api/v2/projects",
        paging: Paging::Cursor { limit: 500 },
        cursor: Some("update_time"),
        tokens: 10,
        schema: schema!("projects"),
        custom: Some(Custom {
            fields: "project_fields",
            v1: false,
        }),
        // Deleted projects only come back when asked for.
        params: &[("status", "open,completed,canceled,deleted")],
        deletion: Some(Deletion::Status),
        archive: Some(Archive {
            twin: "archived_projects",
            archived: false,
            flag: ArchiveFlag::ArchiveTime,
        }),
        ..ROW
    },
    StreamDef {
        name: "archived_projects",
        path: "/api/v2/projects/archived",
        paging: Paging::Cursor { limit: 500 },
        cursor: Some("update_time"),
        tokens: 10,
        schema: schema!("archived_projects"),
        custom: Some(Custom {
            fields: "project_fields",
            v1: false,
        }),
        // Deleted projects only come back when asked for.
        params: &[("status", "open,completed,canceled,deleted")],
        deletion: Some(Deletion::Status),
        archive: Some(Archive {
            twin: "projects",
            archived: true,
            flag: ArchiveFlag::ArchiveTime,
        }),
        ..ROW
    },
    StreamDef {
        name: "tasks",
        path: "/api/v2/tasks",
        paging: Paging::Cursor { limit: 500 },
        cursor: Some("update_time"),
        tokens: 10,
        schema: schema!("tasks"),
        deletion: Some(Deletion::Vanishes),
        ..ROW
    },
    StreamDef {
        name: "project_boards",
        path: "/api/v2/boards",
        item: Some("/api/v2/boards/{id}"),
        cursor: Some("update_time"),
        tokens: 5,
        schema: schema!("project_boards"),
        deletion: Some(Deletion::Vanishes),
        ..ROW
    },
    StreamDef {
        name: "project_phases",
        path: "/api/v2/phases",
        cursor: Some("update_time"),
        tokens: 5,
        parent: Some(Parent {
            streams: &["project_boards"],
            fanout: Fanout::Batch {
                param: "board_id",
                size: 1,
            },
            id_field: None,
            time_field: None,
        }),
        schema: schema!("project_phases"),
        deletion: Some(Deletion::Vanishes),
        ..ROW
    },
    StreamDef {
        name: "project_templates",
        path: "/api/v2/projectTemplates",
        paging: Paging::Cursor { limit: 500 },
        cursor: Some("update_time"),
        tokens: 10,
        schema: schema!("project_templates"),
        ..ROW
    },
    StreamDef {
        name: "deal_fields",
        path: "/api/v2/dealFields",
        params: FIELDS_INCLUDE_ALL,
        schema: schema!("deal_fields"),
        ..FIELDS
    },
    StreamDef {
        name: "person_fields",
        path: "/api/v2/personFields",
        params: FIELDS_INCLUDE_ALL,
        schema: schema!("person_fields"),
        ..FIELDS
    },
    StreamDef {
        name: "organization_fields",
        path: "/api/v2/organizationFields",
        params: FIELDS_INCLUDE_ALL,
        schema: schema!("organization_fields"),
        ..FIELDS
    },
    StreamDef {
        name: "product_fields",
        path: "/api/v2/productFields",
        params: FIELDS_INCLUDE_VISIBILITY,
        schema: schema!("product_fields"),
        ..FIELDS
    },
    StreamDef {
        name: "activity_fields",
        path: "/api/v2/activityFields",
        params: FIELDS_INCLUDE_VISIBILITY,
        schema: schema!("activity_fields"),
        ..FIELDS
    },
    StreamDef {
        name: "project_fields",
        path: "/api/v2/projectFields",
        schema: schema!("project_fields"),
        ..FIELDS
    },
    StreamDef {
        name: "lead_fields",
        path: "/v1/leadFields",
        paging: Paging::Offset { limit: 500 },
        primary_key: &["key"],
        times: Times::V1,
        schema: schema!("lead_fields"),
        ..ROW
    },
    StreamDef {
        name: "note_fields",
        path: "/v1/noteFields",
        primary_key: &["key"],
        schema: schema!("note_fields"),
        ..ROW
    },
    StreamDef {
        name: "webhooks",
        path: "/v1/webhooks",
        tokens: 10,
        schema: schema!("webhooks"),
        times: Times::V1,
        ..ROW
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
            for k in s.primary_key {
                assert!(
                    props.get(*k).is_some(),
                    "{}: primary key {k} not in schema",
                    s.name
                );
            }
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
            if s.path.starts_with("/api/v2/") && s.paging != Paging::Single {
                assert_eq!(s.paging, Paging::Cursor { limit: 500 }, "{}", s.name);
            }
        }
    }

    #[test]
    fn parents_exist_and_fan_out_where_ids_go() {
        for s in STREAMS {
            let Some(p) = s.parent else { continue };
            for name in p.streams {
                let parent =
                    find(name).unwrap_or_else(|| panic!("{}: no parent stream {name}", s.name));
                assert!(
                    parent.parent.is_none(),
                    "{}: parents are top-level streams",
                    s.name
                );
                assert!(
                    parent.item.is_some_and(|i| i.ends_with("/{id}")),
                    "{name}: a parent says where one of its records is read"
                );
            }
            assert_eq!(
                s.path.contains("{id}"),
                p.fanout == Fanout::Path,
                "{}",
                s.name
            );
            if let Some(t) = p.time_field {
                assert_eq!(
                    s.cursor,
                    Some(t),
                    "{}: the injected parent time is the cursor",
                    s.name
                );
                // A batch's children are matched to their parent by the id they carry.
                if matches!(p.fanout, Fanout::Batch { size, .. } if size > 1) {
                    assert!(
                        p.id_field.is_some(),
                        "{}: no way to give a child its parent's time",
                        s.name
                    );
                }
            }
        }
    }

    #[test]
    fn custom_fields_point_at_field_streams() {
        for s in STREAMS {
            if let Some(c) = s.custom {
                let fields =
                    find(c.fields).unwrap_or_else(|| panic!("{}: no stream {}", s.name, c.fields));
                assert!(fields.name.ends_with("_fields"), "{}", s.name);
                assert_eq!(
                    c.v1,
                    s.path.starts_with("/v1/"),
                    "{}: v1 records are flat",
                    s.name
                );
            }
        }
    }

    #[test]
    fn deletion_flags_exist_in_schemas() {
        for s in STREAMS {
            if let Some(field) = s.deletion.and_then(Deletion::field) {
                let schema: Value = serde_json::from_str(s.schema).unwrap();
                assert!(
                    schema["properties"].get(field).is_some(),
                    "{}: no {field} in its schema",
                    s.name,
                );
            }
            assert_eq!(
                s.schema()["properties"][DELETED_AT].is_object(),
                s.marks_deletes(),
                "{}",
                s.name
            );
        }
        assert!(!Deletion::Vanishes.is_deleted(&serde_json::json!({"is_deleted": true})));
        assert!(Deletion::ActiveFlag.is_deleted(&serde_json::json!({"active_flag": 0})));
        assert!(Deletion::ActiveFlag.is_deleted(&serde_json::json!({"active_flag": false})));
        assert!(!Deletion::ActiveFlag.is_deleted(&serde_json::json!({"active_flag": true})));
        assert!(Deletion::IsDeleted.is_deleted(&serde_json::json!({"is_deleted": true})));
        assert!(!Deletion::IsDeleted.is_deleted(&serde_json::json!({})));
        assert_eq!(
            find("currencies").unwrap().deletion,
            None,
            "an inactive currency is not a deleted one"
        );
    }

    #[test]
    fn archive_pairs_point_at_each_other() {
        let mut pairs = 0;
        for s in STREAMS {
            let Some(a) = s.archive else { continue };
            let twin = find(a.twin).unwrap_or_else(|| panic!("{}: no stream {}", s.name, a.twin));
            let back = twin.archive.expect("the twin is in the pair too");
            assert_eq!(
                (back.twin, back.archived, back.flag),
                (s.name, !a.archived, a.flag),
                "{}",
                s.name
            );
            assert_eq!(a.archived, s.name.starts_with("archived_"), "{}", s.name);
            assert_eq!(
                (s.cursor, s.custom),
                (twin.cursor, twin.custom),
                "{}",
                s.name
            );
            assert!(s.parent.is_none() && s.each.is_none(), "{}", s.name);
            pairs += 1;
        }
        assert_eq!(pairs, 6);
    }

    #[test]
    fn records_of_a_pair_are_marked_by_the_list_they_come_from() {
        let text = r#"{"id":1,"update_time":"2026-01-02T03:04:05Z","archive_time":null}"#;
        let projects = find("projects").unwrap();
        let archived = find("archived_projects").unwrap();
        let mark = |def: &StreamDef, from_archive: bool| {
            let mut r = Record::parse(text).unwrap();
            def.mark_archive(
                &mut r,
                from_archive,
                Some("2026-09-09T00:00:00Z"),
                DELETED_AT,
            );
            r.into_value()
        };
        assert_eq!(mark(projects, false)["is_archived"], false);
        assert_eq!(mark(projects, true)["is_archived"], true);
        assert!(mark(projects, true).get(DELETED_AT).is_none());
        assert!(mark(archived, true).get(DELETED_AT).is_none());
        // Read by the archived stream from the live list: it left the archive.
        assert_eq!(mark(archived, false)[DELETED_AT], "2026-01-02T03:04:05Z");
        // Deals and leads say it themselves; the live stream makes sure of it for what it reads
        // from the archive, the archived stream adds the deletion of what it reads live.
        let mut from_archive = Record::parse(r#"{"id":1}"#).unwrap();
        find("deals")
            .unwrap()
            .mark_archive(&mut from_archive, true, None, DELETED_AT);
        assert_eq!(from_archive.into_value()["is_archived"], true);
        let mut own = Record::parse(r#"{"id":1}"#).unwrap();
        find("deals")
            .unwrap()
            .mark_archive(&mut own, false, None, DELETED_AT);
        assert!(own.into_value().get("is_archived").is_none());
        let mut deal = Record::parse(r#"{"id":1,"is_archived":false}"#).unwrap();
        find("archived_deals").unwrap().mark_archive(
            &mut deal,
            false,
            Some("2026-09-09T00:00:00Z"),
            SINGER_DELETED_AT,
        );
        assert_eq!(
            deal.into_value(),
            serde_json::json!({"id": 1, "is_archived": false, SINGER_DELETED_AT: "2026-09-09T00:00:00Z"})
        );
        assert!(ArchiveFlag::ArchiveTime
            .says_archived(&serde_json::json!({"archive_time": "2026-01-01T00:00:00Z"})));
        assert!(!ArchiveFlag::ArchiveTime.says_archived(&serde_json::json!({"archive_time": null})));
        assert!(ArchiveFlag::IsArchived.says_archived(&serde_json::json!({"is_archived": true})));
    }
}
