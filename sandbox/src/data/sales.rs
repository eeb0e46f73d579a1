//! Deal, lead and product records (live and archived deals and leads share a model), with
//! their custom fields.

use serde_json::{json, Value};

use super::names::{DEAL_CURRENCIES, LEAD_SOURCES, VISIBLE_TO};
use super::{date, iso, Dataset, Resource, ARCHIVED_IDS};

impl Dataset {
    /// A live or archived deal: the same model, told apart by `is_archived` and `archive_time`.
    pub(super) fn deal(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        let status = self.base_status(r, i);
        let pipelines = self.base_count(Resource::Pipelines);
        let pipeline = self.pick(r, i, 50, pipelines);
        let stage = pipeline * 5 + self.pick(r, i, 51, 5) + 1;
        let closed = if status == "won" || status == "lost" {
            Some(self.between(r, i, 52, add, update))
        } else {
            None
        };
        let time = |t: Option<i64>| t.map(|t| json!(iso(t))).unwrap_or(Value::Null);
        let won = closed.filter(|_| status == "won");
        let lost = closed.filter(|_| status == "lost");
        let stage_change = if self.chance(r, i, 53, 30) {
            None
        } else {
            Some(self.between(r, i, 54, add, update))
        };
        let recurring = self.chance(r, i, 55, 20);
        let value = self.pick(r, i, 56, 5_000_000) as f64 / 100.0;
        let archived = r == Resource::ArchivedDeals;
        // References are drawn by id, so an archived deal does not copy the live deal at its index.
        let id = Self::int_id(r, i);
        let mut deal = json!({
            "id": id,
            "title": self.deal_title(r, i),
            "owner_id": self.user_id(r, i, 57),
            "person_id": self.ref_id(Resource::Persons, id - 1, 58, 10),
            "org_id": self.ref_id(Resource::Organizations, id - 1, 59, 15),
            "pipeline_id": pipeline + 1,
            "stage_id": stage,
            "value": value,
            "currency": DEAL_CURRENCIES[self.pick(r, i, 60, 5) as usize],
            "add_time": iso(add),
            "update_time": iso(update),
            "stage_change_time": time(stage_change),
            "is_deleted": status == "deleted",
            "is_archived": archived,
            "status": status,
            "probability": if self.chance(r, i, 61, 60) { Value::Null } else { json!(self.pick(r, i, 62, 101)) },
            "lost_reason": if lost.is_some() { json!(self.one_of(r, i, 63, &["Too expensive 💸", "Chose a competitor", "Pas de budget"])) } else { Value::Null },
            "visible_to": VISIBLE_TO[self.pick(r, i, 64, 4) as usize],
            "close_time": time(closed),
            "won_time": time(won),
            "lost_time": time(lost),
            "expected_close_date": if self.chance(r, i, 65, 40) { Value::Null } else { json!(date(update + 30 * 86_400)) },
            "label_ids": self.label_ids(r, i),
            "origin": self.one_of(r, i, 66, &["ManuallyCreated", "API", "Import", "WebForms"]),
            "origin_id": Value::Null,
            "channel": if self.chance(r, i, 67, 80) { Value::Null } else { json!(self.pick(r, i, 68, 5) + 1) },
            "channel_id": Value::Null,
            "source_lead_id": if self.size == 0 || self.chance(r, i, 69, 85) { Value::Null } else { json!(self.uuid(Resource::Leads, self.ref_index(r, i, 70))) },
            "arr": if recurring { json!(value * 12.0) } else { Value::Null },
            "mrr": if recurring { json!(value) } else { Value::Null },
            "acv": if recurring { json!(value * 12.0) } else { Value::Null },
            "custom_fields": self.custom_fields(r, i),
        });
        // Only archived deals carry the field; the live deals' model has none.
        if archived {
            let archived_at = self.between(r, i, 71, closed.unwrap_or(add), update);
            deal["archive_time"] = json!(iso(archived_at));
        }
        deal
    }

    /// A live or archived lead (`r` is `Leads` or `ArchivedLeads`).
    pub(super) fn lead(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        let archived = r == Resource::ArchivedLeads;
        // References are drawn past the live leads' indexes so archived leads do not copy them.
        let k = if archived { ARCHIVED_IDS + i } else { i };
        let with_person = self.chance(r, i, 50, 70);
        let person = if with_person {
            self.ref_id(Resource::Persons, k, 51, 0)
        } else {
            Value::Null
        };
        let org = if with_person && self.chance(r, i, 52, 50) {
            Value::Null
        } else {
            self.ref_id(Resource::Organizations, k, 53, 0)
        };
        let labels: Vec<String> = (0..self.pick(r, i, 54, 3))
            .map(|k| self.uuid(Resource::LeadLabels, (self.pick(r, i, 55, 4) + k) % 4))
            .collect();
        let id = self.uuid(r, i);
        let mut record = json!({
            "id": id,
            "title": self.lead_title(r, i),
            "owner_id": self.user_id(r, i, 56),
            "creator_id": self.user_id(r, i, 57),
            "label_ids": labels,
            "person_id": person,
            "organization_id": org,
            "source_name": self.one_of(r, i, 58, &LEAD_SOURCES[..4]),
            "origin": self.one_of(r, i, 58, &["ManuallyCreated", "API", "WebForms", "Prospector"]),
            "origin_id": Value::Null,
            "channel": if self.chance(r, i, 59, 80) { Value::Null } else { json!(self.pick(r, i, 60, 5) + 1) },
            "channel_id": Value::Null,
            "source_deal_id": Value::Null,
            "is_archived": archived,
            "was_seen": self.chance(r, i, 61, 60),
            "value": if self.chance(r, i, 62, 30) { Value::Null } else { json!({"amount": self.pick(r, i, 63, 100_000), "currency": DEAL_CURRENCIES[self.pick(r, i, 64, 5) as usize]}) },
            "expected_close_date": if self.chance(r, i, 65, 50) { Value::Null } else { json!(date(update + 45 * 86_400)) },
            "next_activity_id": if self.chance(r, i, 66, 60) { Value::Null } else { self.ref_id(Resource::Activities, k, 67, 0) },
            "add_time": self.lead_time(r, i, add, 72),
            "update_time": self.lead_time(r, i, update, 73),
            "visible_to": VISIBLE_TO[self.pick(r, i, 68, 4) as usize].to_string(),
            "cc_email": if archived { format!("sandbox+archived-lead{}@pipedrivemail.com", i + 1) } else { format!("sandbox+lead{}@pipedrivemail.com", i + 1) },
        });
        if let Value::Object(map) = &mut record {
            self.lead_custom_fields(r, i, map);
        }
        record
    }

    /// A lead's time: whole seconds, or with a drawn millisecond when leads carry them.
    fn lead_time(&self, r: Resource, i: u64, t: i64, salt: u64) -> String {
        if self.lead_millis {
            format!("{}.{:03}Z", &iso(t)[..19], self.pick(r, i, salt, 1000))
        } else {
            iso(t)
        }
    }

    pub(super) fn product(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Products;
        let prices: Vec<Value> = (0..1 + self.pick(r, i, 50, 3))
            .map(|k| {
                let price = self.pick(r, i, 51 + k, 100_000) as f64 / 100.0;
                json!({
                    "product_id": i + 1,
                    "currency": DEAL_CURRENCIES[((self.pick(r, i, 55, 5)) + k) as usize % 5],
                    "price": price,
                    "cost": price / 2.0,
                    "direct_cost": if self.chance(r, i, 56 + k, 50) { Value::Null } else { json!(price / 4.0) },
                    "notes": (["", "Volume discount ≥ 10 units", "年間契約"][(k % 3) as usize]),
                })
            })
            .collect();
        let frequency = [
            "one-time",
            "annually",
            "semi-annually",
            "quarterly",
            "monthly",
            "weekly",
        ][self.pick(r, i, 60, 6) as usize];
        json!({
            "id": i + 1,
            "name": self.product_name(i),
            "code": format!("SKU-{:05}", i + 1),
            "unit": self.one_of(r, i, 61, &["pcs", "licence", "hour", "kg"]),
            "tax": self.one_of(r, i, 62, &[0.0, 9.0, 20.0, 22.0]),
            "is_deleted": false,
            "is_linkable": true,
            "visible_to": VISIBLE_TO[self.pick(r, i, 63, 4) as usize],
            "owner_id": self.user_id(r, i, 64),
            "add_time": iso(add),
            "update_time": iso(update),
            "description": self.one_of(r, i, 65, &["", "Handmade in Tartu 🇪🇪", "Garantie 2 ans"]),
            "category": if self.chance(r, i, 66, 40) { Value::Null } else { json!(self.one_of(r, i, 67, &["Hardware", "Services", "Software"])) },
            "custom_fields": self.custom_fields(r, i),
            "billing_frequency": frequency,
            "billing_frequency_cycles": if frequency == "one-time" || self.chance(r, i, 68, 50) { Value::Null } else { json!(self.pick(r, i, 69, 24) + 1) },
            "prices": prices,
        })
    }
}
