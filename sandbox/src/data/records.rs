//! A base record by resource: the dispatch from a resource to its builder, and the small lists
//! (pipelines, stages, lead labels, activity types, currencies, filters) built inline.

use serde_json::{json, Value};

use super::names::{ACTIVITY_TYPES, CURRENCIES, FILTER_TYPES, LEAD_LABELS, STAGES, VISIBLE_TO};
use super::{iso, v1, Dataset, Resource};

impl Dataset {
    pub(super) fn base_record(&self, r: Resource, i: u64) -> Value {
        self.build(r, i, self.base_add(r, i), self.base_update(r, i))
    }

    pub(super) fn build(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        match r {
            Resource::Deals | Resource::ArchivedDeals => self.deal(r, i, add, update),
            Resource::Leads | Resource::ArchivedLeads => self.lead(r, i, add, update),
            Resource::Persons => self.person(i, add, update),
            Resource::Organizations => self.organization(i, add, update),
            Resource::Activities => self.activity(i, add, update),
            Resource::Products => self.product(i, add, update),
            Resource::Pipelines => json!({
                "id": i + 1,
                "name": if i == 0 { "Sales".to_string() } else { format!("Pipeline {} 🧭", i + 1) },
                "order_nr": i + 1,
                "is_deleted": false,
                "is_deal_probability_enabled": self.chance(r, i, 50, 50),
                "add_time": iso(add),
                "update_time": iso(update),
            }),
            Resource::Stages => {
                let (name, probability) = STAGES[(i % 5) as usize];
                let rot = self.chance(r, i, 50, 40);
                json!({
                    "id": i + 1,
                    "order_nr": i % 5 + 1,
                    "name": name,
                    "is_deleted": false,
                    "deal_probability": probability,
                    "pipeline_id": Self::stage_pipeline(i),
                    "is_deal_rot_enabled": rot,
                    "days_to_rotten": if rot { json!(7 + self.pick(r, i, 51, 30)) } else { Value::Null },
                    "add_time": iso(add),
                    "update_time": iso(update),
                })
            }
            Resource::Users => self.user(i, add, update),
            Resource::Notes => self.note(i, add, update),
            Resource::LeadLabels => {
                let (name, color) = LEAD_LABELS[(i % 4) as usize];
                json!({
                    "id": self.uuid(r, i),
                    "name": if i < 4 { name.to_string() } else { format!("{name} {}", i + 1) },
                    "color": color,
                    "add_time": iso(add),
                    "update_time": iso(update),
                })
            }
            Resource::ActivityTypes => {
                let (name, icon, key) = ACTIVITY_TYPES[(i % 8) as usize];
                json!({
                    "id": i + 1,
                    "name": name,
                    "icon_key": icon,
                    "color": format!("{:06X}", self.pick(r, i, 50, 0x100_0000)),
                    "order_nr": i + 1,
                    "key_string": if i < 8 { key.to_string() } else { format!("{key}_{}", i + 1) },
                    "active_flag": true,
                    "is_custom_flag": i >= 6,
                    "add_time": v1(add),
                    "update_time": v1(update),
                })
            }
            Resource::Currencies => {
                let (code, name, decimals, symbol) = CURRENCIES[(i % 20) as usize];
                let code = if i < 20 {
                    code.to_string()
                } else {
                    format!("X{:02}", i)
                };
                json!({
                    "id": i + 1,
                    "code": code,
                    "name": name,
                    "decimal_points": decimals,
                    "symbol": symbol,
                    "active_flag": true,
                    "is_custom_flag": i >= 20,
                })
            }
            Resource::Filters => {
                let kind = FILTER_TYPES[(i % 7) as usize];
                json!({
                    "id": i + 1,
                    "name": format!("My {kind} filter {} ⭐", i + 1),
                    "filter_code": if i == 0 { json!("all_open_deals") } else { Value::Null },
                    "is_editable": i != 0,
                    "active_flag": true,
                    "type": kind,
                    "temporary_flag": if self.chance(r, i, 50, 30) { Value::Null } else { json!(false) },
                    "user_id": self.user_id(r, i, 51),
                    "add_time": v1(add),
                    "update_time": if add == update { Value::Null } else { json!(v1(update)) },
                    "visible_to": VISIBLE_TO[self.pick(r, i, 52, 4) as usize].to_string(),
                    "last_used_time": if self.chance(r, i, 53, 50) { Value::Null } else { json!(v1(update)) },
                    "custom_view_id": if self.chance(r, i, 54, 70) { Value::Null } else { json!(i + 100) },
                })
            }
            Resource::Files => self.file(i, add, update),
            _ => self.list_record(r, i, add, update),
        }
    }
}
