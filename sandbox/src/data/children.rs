//! Child collections: rows that hang from one parent record (a deal's products, a note's
//! comments, a mail thread's messages, …). They are derived from the parent's id and the
//! times it was created with, on demand, so a parent costs nothing until someone asks for its
//! children, and a test edit of the parent leaves them as they were (a deal's changelog
//! excepted: an edit appends to it, as on Pipedrive).

use serde_json::{json, Value};

use super::overlay::changelog_value;
use super::{date, iso, v1, Dataset, Resource, ARCHIVED_IDS, MAIL_FOLDERS};

/// `/v1/users/{id}/permissions`, in the model's order.
const PERMISSIONS: [&str; 31] = [
    "can_add_custom_fields",
    "can_add_products",
    "can_add_prospects_as_leads",
    "can_bulk_edit_items",
    "can_change_visibility_of_items",
    "can_convert_deals_to_leads",
    "can_create_own_workflow",
    "can_delete_activities",
    "can_delete_custom_fields",
    "can_delete_deals",
    "can_edit_custom_fields",
    "can_edit_deals_closed_date",
    "can_edit_products",
    "can_edit_shared_filters",
    "can_export_data_from_lists",
    "can_follow_other_users",
    "can_merge_deals",
    "can_merge_organizations",
    "can_merge_people",
    "can_modify_labels",
    "can_see_company_wide_statistics",
    "can_see_deals_list_summary",
    "can_see_hidden_items_names",
    "can_see_other_users",
    "can_see_other_users_statistics",
    "can_see_security_dashboard",
    "can_share_filters",
    "can_share_insights",
    "can_use_api",
    "can_use_email_tracking",
    "can_use_import",
];

/// Deal fields the base changelog rows speak of: (v1 field key, key in the v2 record). The
/// title and status are left to test edits, so the newest base row always matches the deal.
const LOGGED_FIELDS: [(&str, &str); 5] = [
    ("value", "value"),
    ("stage_id", "stage_id"),
    ("user_id", "owner_id"),
    ("expected_close_date", "expected_close_date"),
    ("probability", "probability"),
];

/// A parent record as its children see it.
struct Parent {
    /// The record as it is now.
    record: Value,
    ordinal: u64,
    /// Its id as an integer (0 for string ids).
    id: u64,
    /// The times it was created with (generated or inserted), which test edits do not move.
    add: i64,
    update: i64,
}

impl Dataset {
    /// The resource a child collection hangs from; `None` for top-level lists. Deal children
    /// also hang from archived deals, which are deals too.
    pub fn parent(r: Resource) -> Option<Resource> {
        Some(match r {
            Resource::DealProducts | Resource::DealInstallments | Resource::DealChangelog => {
                Resource::Deals
            }
            Resource::ProductVariations => Resource::Products,
            Resource::RoleAssignments => Resource::Roles,
            Resource::PermissionSetAssignments => Resource::PermissionSets,
            Resource::MailMessages => Resource::MailThreads,
            Resource::NoteComments => Resource::Notes,
            Resource::ProjectPhases => Resource::ProjectBoards,
            Resource::UserPermissions => Resource::Users,
            _ => return None,
        })
    }

    /// Exactly what the child endpoint serves for the parent with id `parent` by default (in
    /// its default order; user permissions as one object). Empty for an unknown parent.
    pub fn children(&self, r: Resource, parent: &Value) -> Vec<Value> {
        self.children_of(r, parent).unwrap_or_default()
    }

    /// Like `children`, but `None` when there is no such parent (the endpoint's 404).
    pub(crate) fn children_of(&self, r: Resource, parent: &Value) -> Option<Vec<Value>> {
        let kind = Dataset::parent(r)?;
        // Archived deals share the deal endpoints and have their own id range.
        let kind = match parent.as_u64() {
            Some(id) if kind == Resource::Deals && id > ARCHIVED_IDS => Resource::ArchivedDeals,
            _ => kind,
        };
        let ordinal = self.ordinal_of(kind, parent)?;
        let p = self.parent_state(kind, ordinal)?;
        Some(match r {
            Resource::DealProducts => self.deal_products(&p),
            Resource::DealInstallments => self.deal_installments(&p),
            Resource::DealChangelog => self.deal_changelog(kind, &p),
            Resource::ProductVariations => self.product_variations(&p),
            Resource::RoleAssignments => self.role_assignments(&p),
            Resource::PermissionSetAssignments => self.permission_set_assignments(&p),
            Resource::MailMessages => self.mail_messages(&p),
            Resource::NoteComments => self.note_comments(&p),
            Resource::ProjectPhases => self.project_phases(&p),
            _ => vec![self.user_permissions(&p)],
        })
    }

    /// The record `GET {list}/{id}` serves, where `kind` is a resource children hang from:
    /// `None` exactly when its child endpoints answer 404 (no such record, or it left its
    /// list). Archived deals are served under the deals' path, like their children.
    /// `include` is what the request's `include_fields` named, as for lists.
    pub(crate) fn item(&self, kind: Resource, id: &Value, include: &[String]) -> Option<Value> {
        let kind = match id.as_u64() {
            Some(id) if kind == Resource::Deals && id > ARCHIVED_IDS => Resource::ArchivedDeals,
            _ => kind,
        };
        let ordinal = self.ordinal_of(kind, id)?;
        let mut record = self.parent_state(kind, ordinal)?.record;
        super::include::apply(kind, include, &mut record);
        Some(record)
    }

    /// Every child of every parent, parent by parent (`records` of a child collection).
    pub(super) fn all_children(&self, r: Resource, parent: Resource) -> Vec<Value> {
        let mut parents = self.records(parent);
        if parent == Resource::Deals {
            parents.extend(self.records(Resource::ArchivedDeals));
        }
        parents
            .iter()
            .flat_map(|p| self.children(r, &p["id"]))
            .collect()
    }

    /// The parent at `ordinal` if it exists and is listed.
    fn parent_state(&self, r: Resource, ordinal: u64) -> Option<Parent> {
        let base = ordinal < self.base_count(r);
        let overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let (record, add, update) = match overlay.get(&r).and_then(|l| l.entries.get(&ordinal)) {
            Some(entry) if !entry.listed => return None,
            Some(entry) if base => (
                entry.record.clone(),
                self.base_add(r, ordinal),
                self.base_update(r, ordinal),
            ),
            Some(entry) => (entry.record.clone(), entry.add, entry.add),
            None if base => {
                drop(overlay);
                (
                    self.base_record(r, ordinal),
                    self.base_add(r, ordinal),
                    self.base_update(r, ordinal),
                )
            }
            None => return None,
        };
        Some(Parent {
            id: record["id"].as_u64().unwrap_or(0),
            record,
            ordinal,
            add,
            update,
        })
    }

    /// Variations of the product at index `product`: 0 to 2.
    fn variation_count(&self, product: u64) -> u64 {
        self.pick(Resource::ProductVariations, product, 1, 3)
    }

    fn variation_id(product: u64, k: u64) -> u64 {
        product * 2 + k + 1
    }

    fn deal_products(&self, p: &Parent) -> Vec<Value> {
        let r = Resource::DealProducts;
        if self.size == 0 {
            return Vec::new(); // no products to attach
        }
        let cents = |x: f64| (x * 100.0).round() / 100.0;
        (0..self.pick(r, p.id, 1, 4))
            .map(|k| {
                let key = p.id * 4 + k;
                let product = self.ref_index(r, key, 2);
                let add = self.between(r, key, 3, p.add, p.update);
                let update = self.between(r, key, 4, add, p.update);
                let price = self.pick(r, key, 5, 100_000) as f64 / 100.0;
                let quantity = (1 + self.pick(r, key, 6, 10)) as f64;
                let percentage = self.chance(r, key, 7, 50);
                let discount = if self.chance(r, key, 8, 60) {
                    0.0
                } else {
                    self.pick(r, key, 9, 20) as f64
                };
                let tax = self.one_of(r, key, 10, &[0.0, 9.0, 20.0]);
                let tax_method = self.one_of(r, key, 11, &["exclusive", "inclusive", "none"]);
                let gross = price * quantity;
                let net = if percentage {
                    gross * (1.0 - discount / 100.0)
                } else {
                    (gross - discount).max(0.0)
                };
                let sum = if tax_method == "exclusive" {
                    net * (1.0 + tax / 100.0)
                } else {
                    net
                };
                let variations = self.variation_count(product);
                let frequency = self.one_of(
                    r,
                    key,
                    12,
                    &["one-time", "annually", "quarterly", "monthly"],
                );
                let recurring = frequency != "one-time";
                json!({
                    "id": (p.id - 1) * 3 + k + 1,
                    "sum": cents(sum),
                    "tax": tax,
                    "deal_id": p.id,
                    "name": self.product_name(product),
                    "product_id": product + 1,
                    "product_variation_id": if variations > 0 && self.chance(r, key, 13, 50) {
                        json!(Self::variation_id(product, self.pick(r, key, 14, variations)))
                    } else {
                        Value::Null
                    },
                    "order_nr": k + 1,
                    "add_time": iso(add),
                    "update_time": iso(update),
                    "comments": self.one_of(r, key, 15, &["", "Rabatt vereinbart", "初年度割引 🎁"]),
                    "currency": p.record["currency"].clone(),
                    "discount": discount,
                    "discount_type": if percentage { "percentage" } else { "amount" },
                    "quantity": quantity,
                    "item_price": price,
                    "tax_method": tax_method,
                    "is_enabled": true,
                    "billing_frequency": frequency,
                    "billing_frequency_cycles": if recurring && self.chance(r, key, 16, 50) { json!(1 + self.pick(r, key, 17, 24)) } else { Value::Null },
                    "billing_start_date": if recurring { json!(date(update)) } else { Value::Null },
                })
            })
            .collect()
    }

    fn deal_installments(&self, p: &Parent) -> Vec<Value> {
        let r = Resource::DealInstallments;
        let n = self.pick(r, p.id, 1, 3);
        (0..n)
            .map(|k| {
                json!({
                    "id": (p.id - 1) * 2 + k + 1,
                    "amount": (1 + self.pick(r, p.id * 2 + k, 2, 500_000)) as f64 / 100.0,
                    "billing_date": date(p.add + (k as i64 + 1) * 30 * 86_400),
                    "description": format!("Installment {} of {n}", k + 1),
                    "deal_id": p.id,
                })
            })
            .collect()
    }

    /// Oldest first; the newest base row is at the time the deal was last updated before any
    /// test edit, and each edit appends rows at its own time.
    fn deal_changelog(&self, kind: Resource, p: &Parent) -> Vec<Value> {
        let r = Resource::DealChangelog;
        let n = 1 + self.pick(r, p.id, 1, 4);
        let mut rows: Vec<Value> = (0..n)
            .map(|k| {
                let key = p.id * 4 + k;
                let (field, record_key) = self.one_of(r, key, 2, &LOGGED_FIELDS);
                let fake = |salt: u64| -> Value {
                    let x = self.pick(r, key, salt, 100);
                    match field {
                        "value" => json!(format!("{}", x * 100)),
                        "stage_id" => json!((x % 5 + 1).to_string()),
                        "user_id" => json!((x % 12 + 1).to_string()),
                        "probability" => json!(x.to_string()),
                        _ => json!(date(p.add + x as i64 * 86_400)),
                    }
                };
                let new = if k + 1 == n {
                    changelog_value(&p.record[record_key])
                } else {
                    fake(3)
                };
                let api = self.chance(r, key, 5, 30);
                json!({
                    "field_key": field,
                    "old_value": if k == 0 { Value::Null } else { fake(4) },
                    "new_value": new,
                    "actor_user_id": self.user_id(r, key, 6),
                    "time": v1(p.add + (p.update - p.add) * (k as i64 + 1) / n as i64),
                    "change_source": if api { "api" } else { "app" },
                    "change_source_user_agent": if api { json!("node-fetch/1.0") } else { Value::Null },
                    "is_bulk_update_flag": self.chance(r, key, 7, 10),
                })
            })
            .collect();
        let overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(edits) = overlay
            .get(&kind)
            .and_then(|layer| layer.changelog.get(&p.ordinal))
        {
            rows.extend(edits.iter().cloned());
        }
        rows
    }

    fn product_variations(&self, p: &Parent) -> Vec<Value> {
        let r = Resource::ProductVariations;
        let product = p.ordinal;
        let name = p.record["name"].as_str().unwrap_or("");
        (0..self.variation_count(product))
            .map(|k| {
                let id = Self::variation_id(product, k);
                let markup = 1.0 + 0.1 * (k + 1) as f64;
                let prices: Vec<Value> = p.record["prices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|price| {
                        let amount = price["price"].as_f64().unwrap_or(0.0) * markup;
                        json!({
                            "product_variation_id": id,
                            "currency": price["currency"].clone(),
                            "price": (amount * 100.0).round() / 100.0,
                            "cost": (amount * 50.0).round() / 100.0,
                            "direct_cost": Value::Null,
                            "notes": "",
                        })
                    })
                    .collect();
                json!({
                    "id": id,
                    "name": format!("{name} — {}", self.one_of(r, id, 1, &["XL", "Bleu", "年間", "Pro ⭐"])),
                    "product_id": p.id,
                    "prices": prices,
                })
            })
            .collect()
    }

    fn role_assignments(&self, p: &Parent) -> Vec<Value> {
        self.records(Resource::Users)
            .iter()
            .filter(|u| u["role_id"] == p.id)
            .map(|u| {
                json!({
                    "user_id": u["id"].clone(),
                    "role_id": p.id,
                    "parent_role_id": p.record["parent_role_id"].clone(),
                    "name": p.record["name"].clone(),
                    "active_flag": true,
                    "type": "1",
                })
            })
            .collect()
    }

    fn permission_set_assignments(&self, p: &Parent) -> Vec<Value> {
        let id = &p.record["id"];
        self.records(Resource::Users)
            .iter()
            .filter(|u| {
                u["access"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| &x["permission_set_id"] == id))
            })
            .map(|u| {
                json!({
                    "user_id": u["id"].clone(),
                    "permission_set_id": id.clone(),
                    "name": p.record["name"].clone(),
                })
            })
            .collect()
    }

    /// Oldest first, the newest at the thread's last message time.
    fn mail_messages(&self, p: &Parent) -> Vec<Value> {
        let i = p.ordinal;
        let n = self.message_count(i);
        let folder = MAIL_FOLDERS[self.folder_of(i) as usize];
        let person = self.thread_person(i);
        (0..n)
            .map(|k| {
                let time = if n == 1 {
                    p.update
                } else {
                    p.add + (p.update - p.add) * k as i64 / (n - 1) as i64
                };
                // Inbox threads start with the customer writing; every other message is a reply.
                let outgoing = match folder {
                    "sent" | "drafts" => k % 2 == 0,
                    _ => k % 2 == 1,
                };
                let id = i * 3 + k + 1;
                let (from, to) = if outgoing {
                    (None, person)
                } else {
                    (person, None)
                };
                let draft = folder == "drafts" && k + 1 == n;
                let mut message = self.mail_flags(i);
                let extra = json!({
                    "id": id,
                    "from": [self.party(from, 2 * id + 1, time)],
                    "to": [self.party(to, 2 * id + 2, time)],
                    "cc": [],
                    "bcc": [],
                    "body_url": format!("https://sandbox.pipedrive.example/mail/{id}.html"),
                    "mail_thread_id": p.id,
                    "draft": if draft { json!("<p>Draft — not sent yet</p>") } else { Value::Null },
                    "has_body_flag": 1,
                    "sent_flag": u64::from(outgoing && !draft),
                    "sent_from_pipedrive_flag": u64::from(outgoing && !draft),
                    "message_time": v1(time),
                    "add_time": v1(time),
                    "update_time": v1(time),
                });
                if let (Value::Object(message), Value::Object(extra)) = (&mut message, extra) {
                    message.extend(extra);
                }
                message
            })
            .collect()
    }

    fn note_comments(&self, p: &Parent) -> Vec<Value> {
        let r = Resource::NoteComments;
        (0..self.pick(r, p.id, 1, 3))
            .map(|k| {
                let key = p.ordinal * 2 + k;
                let add = self.between(r, key, 2, p.add, p.update);
                let update = self.between(r, key, 3, add, p.update);
                json!({
                    "uuid": self.uuid(r, key),
                    "active_flag": true,
                    "add_time": v1(add),
                    "update_time": v1(update),
                    "content": self.one_of(r, key, 4, &["<p>Agreed 👍</p>", "<p>Bitte nachfassen</p>", "<p>了解です</p>"]),
                    "object_id": p.id.to_string(),
                    "object_type": "note",
                    "user_id": self.user_id(r, key, 5),
                    "updater_id": self.user_id(r, key, 6),
                    "company_id": self.company_id(),
                })
            })
            .collect()
    }

    fn project_phases(&self, p: &Parent) -> Vec<Value> {
        let r = Resource::ProjectPhases;
        let b = p.ordinal;
        (0..self.phase_count(b))
            .map(|k| {
                json!({
                    "id": Self::phase_id(b, k),
                    "name": Self::phase_name(k),
                    "board_id": p.id,
                    "order_nr": k + 1,
                    "add_time": iso(p.add),
                    "update_time": iso(self.between(r, b * 8 + k, 1, p.add, p.update)),
                })
            })
            .collect()
    }

    fn user_permissions(&self, p: &Parent) -> Value {
        let r = Resource::UserPermissions;
        let admin = p.record["is_admin"] == 1;
        let flags = PERMISSIONS.iter().enumerate().map(|(k, name)| {
            // Admins hold every permission; the token's user can at least use the API.
            let granted = admin || *name == "can_use_api" || self.chance(r, p.id, k as u64, 60);
            (name.to_string(), json!(granted))
        });
        Value::Object(flags.collect())
    }
}
