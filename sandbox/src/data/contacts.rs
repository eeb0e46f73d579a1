//! Person, organization and user records: names, addresses, emails and phones in many
//! scripts, owners and references between them.

use serde_json::{json, Value};

use super::names::{DEAL_CURRENCIES, FIRST, LAST, VISIBLE_TO};
use super::{date, iso, v1, Dataset, Resource, T0, T1};

impl Dataset {
    pub(super) fn person(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Persons;
        let (first, last) = self.person_name(i);
        let contact = |salt: u64, value: String, label: &str| json!({"value": value, "primary": salt == 0, "label": label});
        let emails: Vec<Value> = (0..1 + self.pick(r, i, 50, 2))
            .map(|k| {
                contact(
                    k,
                    format!("person{}.{k}@example.com", i + 1),
                    ["work", "home"][k as usize],
                )
            })
            .collect();
        let phones: Vec<Value> = (0..self.pick(r, i, 51, 3))
            .map(|k| {
                contact(
                    k,
                    format!(
                        "+372 5{:03} {:04}",
                        (i + k) % 1000,
                        self.pick(r, i, 52 + k, 10_000)
                    ),
                    ["mobile", "work"][k as usize],
                )
            })
            .collect();
        json!({
            "id": i + 1,
            "name": format!("{first} {last}"),
            "first_name": first,
            "last_name": last,
            "owner_id": self.user_id(r, i, 55),
            "org_id": self.ref_index(r, i, 56) + 1,
            "add_time": iso(add),
            "update_time": iso(update),
            "emails": emails,
            "phones": phones,
            "is_deleted": false,
            "visible_to": VISIBLE_TO[self.pick(r, i, 57, 4) as usize],
            "label_ids": self.label_ids(r, i),
            "picture_id": i + 10_000,
            "postal_address": self.address(r, i),
            "notes": self.one_of(r, i, 58, &["Prefers email ✉️", "Spricht Deutsch", "会議は午前中", ""]),
            "im": [contact(0, format!("@person{}", i + 1), "skype")],
            "birthday": date(T0 - 20 * 365 * 86_400 - self.pick(r, i, 59, 40 * 365) as i64 * 86_400),
            "job_title": self.one_of(r, i, 60, &["CEO", "Head of Procurement", "Ingénieure", "営業部長"]),
            "custom_fields": self.custom_fields(r, i),
        })
    }

    pub(super) fn organization(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Organizations;
        let has_web = !self.chance(r, i, 50, 30);
        json!({
            "id": i + 1,
            "name": self.org_name(i),
            "owner_id": self.user_id(r, i, 51),
            "add_time": iso(add),
            "update_time": iso(update),
            "is_deleted": false,
            "visible_to": VISIBLE_TO[self.pick(r, i, 52, 4) as usize],
            "address": self.address(r, i),
            "label_ids": self.label_ids(r, i),
            "website": if has_web { json!(format!("https://org{}.example.com", i + 1)) } else { Value::Null },
            "linkedin": if has_web { json!(format!("https://www.linkedin.com/company/org{}", i + 1)) } else { Value::Null },
            "industry": if self.chance(r, i, 53, 40) { Value::Null } else { json!(self.pick(r, i, 54, 50) + 1) },
            "annual_revenue": if self.chance(r, i, 55, 50) { Value::Null } else { json!(self.pick(r, i, 56, 100_000) * 1000) },
            "employee_count": if self.chance(r, i, 57, 50) { Value::Null } else { json!(self.pick(r, i, 58, 5000) + 1) },
            "custom_fields": self.custom_fields(r, i),
        })
    }

    pub(super) fn user(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Users;
        let first = FIRST[(i % FIRST.len() as u64) as usize];
        let last = LAST[((i * 7) % LAST.len() as u64) as usize];
        let admin = self.user_is_admin(i);
        let (zone, offset) = self.one_of(
            r,
            i,
            58,
            &[
                ("Europe/Tallinn", "+02:00"),
                ("America/New_York", "-05:00"),
                ("Asia/Tokyo", "+09:00"),
            ],
        );
        json!({
            "id": i + 1,
            "name": format!("{first} {last}"),
            "default_currency": DEAL_CURRENCIES[self.pick(r, i, 51, 5) as usize],
            "locale": self.one_of(r, i, 52, &["en_US", "et_EE", "de_DE", "ja_JP"]),
            "lang": self.pick(r, i, 53, 10) + 1,
            "email": format!("user{}@sandbox-company.example", i + 1),
            "phone": if self.chance(r, i, 54, 40) { Value::Null } else { json!(format!("+44 20 7946 {:04}", i)) },
            "activated": true,
            "last_login": v1(self.between(r, i, 55, update, T1)),
            "created": v1(add),
            "modified": v1(update),
            "has_created_company": i == 0,
            "access": [
                {"app": "sales", "admin": admin, "permission_set_id": self.permission_set_id(u64::from(!admin))},
                {"app": "global", "admin": admin, "permission_set_id": self.permission_set_id(2 + u64::from(!admin))},
            ],
            "active_flag": true,
            "timezone_name": zone,
            "timezone_offset": offset,
            "role_id": self.user_role(i),
            "icon_url": if self.chance(r, i, 60, 50) { Value::Null } else { json!(format!("https://avatars.example.com/{}.png", i + 1)) },
            "is_you": i == 0,
            "is_deleted": false,
            "is_admin": u64::from(admin),
        })
    }
}
