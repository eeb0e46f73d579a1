//! The CRM changing under a sync. `World` is the handle through which records are edited,
//! added, deleted, archived and merged at the fake now; a test's `on_request` hook gets one after each answer is
//! made and before it is sent, so what it changes falls strictly between two requests of the
//! client, and a seeded hook replays the same history on every run.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::routes::Route;
use super::{lock, RequestLogEntry, Shared};
use crate::data::Resource;

/// Edits the sandbox's records as salespeople would, stamped with the fake clock's now.
pub struct World<'a> {
    pub(super) shared: &'a Shared,
}

/// What the hook is told of the request just answered.
pub struct Served<'a> {
    pub request: &'a RequestLogEntry,
    /// The answer's body, as it will be sent.
    pub body: &'a str,
}

impl Served<'_> {
    /// The resource whose list this answer is a page of, if it is one (and a success).
    pub fn listed(&self) -> Option<Resource> {
        if self.request.status != 200 {
            return None;
        }
        match Route::resolve(&self.request.path)? {
            Route::CursorList(r) | Route::OffsetList(r) | Route::FullList(r) => Some(r),
            _ => None,
        }
    }

    /// The records of the answer's `data` list; none when it holds no list.
    pub fn records(&self) -> Vec<Value> {
        match serde_json::from_str::<Value>(self.body) {
            Ok(Value::Object(mut body)) => match body.remove("data") {
                Some(Value::Array(records)) => records,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

/// Runs after every request is answered and before the answer is sent.
pub(super) type Hook = Arc<dyn Fn(&World, &Served) + Send + Sync>;

impl World<'_> {
    /// Edits a record: a visible field changes and update_time becomes the fake now.
    pub fn touch(&self, resource: Resource, id: &Value) -> Value {
        self.shared.data.touch(resource, id, self.now().timestamp())
    }

    /// Adds a record with a new id, created and updated at the fake now.
    pub fn insert(&self, resource: Resource) -> Value {
        self.shared.data.insert(resource, self.now().timestamp())
    }

    /// Deletes a record at the fake now, as its API does: deals and projects turn `status:
    /// deleted` and stay listed under that status; v2 persons, organizations, products,
    /// activities, pipelines and stages turn `is_deleted` and stay listed only with
    /// `SandboxOptions::v2_lists_keep_deleted`; v1 records (notes, files, filters, …) and leads
    /// leave their lists.
    pub fn delete(&self, resource: Resource, id: &Value) {
        self.shared
            .data
            .delete(resource, id, self.now().timestamp())
    }

    /// Archives a deal, lead or project (`resource` names either list of its pair): it leaves
    /// the live list for the archived one under the same id, `is_archived` turns true (deals,
    /// leads), `archive_time` is set (deals, projects) and `update_time` becomes the fake now.
    /// Panics if it is archived already.
    pub fn archive(&self, resource: Resource, id: &Value) -> Value {
        self.shared
            .data
            .set_archived(resource, id, true, self.now().timestamp())
    }

    /// The reverse of `archive`: back to the live list, `is_archived` false, no archive time.
    pub fn unarchive(&self, resource: Resource, id: &Value) -> Value {
        self.shared
            .data
            .set_archived(resource, id, false, self.now().timestamp())
    }

    /// Merges `loser` into `survivor` (persons, organizations or deals): the loser is deleted
    /// (as by `delete`) and the survivor touched. Returns the survivor.
    pub fn merge(&self, resource: Resource, loser: &Value, survivor: &Value) -> Value {
        self.shared
            .data
            .merge(resource, loser, survivor, self.now().timestamp())
    }

    /// Removes the product line `line` (a deal product's id) from the deal `deal`; the deal's
    /// `update_time` becomes the fake now unless `SandboxOptions::product_lines_touch_deal` is
    /// off.
    pub fn remove_product_line(&self, deal: &Value, line: &Value) {
        self.shared
            .data
            .remove_product_line(deal, line, self.now().timestamp())
    }

    /// The records of `child` (deal products, variations, …) under the parent `parent`.
    pub fn children(&self, child: Resource, parent: &Value) -> Vec<Value> {
        self.shared.data.children(child, parent)
    }

    /// Every record of `resource` as its list serves it now.
    pub fn records(&self, resource: Resource) -> Vec<Value> {
        self.shared.data.records(resource)
    }

    pub fn advance_clock(&self, d: chrono::Duration) {
        *lock(&self.shared.clock.advanced) += d;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }
}

impl Shared {
    /// Calls the test's hook, if one is set, on the request just answered.
    pub(super) fn after_answer(&self, request: &RequestLogEntry, body: &str) {
        let hook = lock(&self.hook).clone();
        if let Some(hook) = hook {
            hook(&World { shared: self }, &Served { request, body });
        }
    }
}
