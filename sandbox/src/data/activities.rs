//! Activity, note and file records: the things attached to deals, persons and organizations,
//! with the references and names v1 and v2 give them.

use serde_json::{json, Value};

use super::names::{ACTIVITY_TYPES, FIRST, LAST};
use super::{date, iso, v1, Dataset, Resource};

impl Dataset {
    pub(super) fn activity(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Activities;
        let (name, _, key) = ACTIVITY_TYPES[self.pick(r, i, 50, 8) as usize];
        let person_index = self.ref_index(r, i, 51);
        let person = if self.size == 0 || self.chance(r, i, 1051, 20) {
            Value::Null
        } else {
            json!(person_index + 1)
        };
        let (first, last) = self.person_name(person_index);
        let done = self.chance(r, i, 52, 50);
        let due = self.between(r, i, 53, add, update + 60 * 86_400);
        let owner = self.user_id(r, i, 54);
        let online = self.chance(r, i, 55, 30);
        let participants = match person {
            Value::Null => json!([]),
            ref id => json!([{"person_id": id, "primary": true}]),
        };
        json!({
            "id": i + 1,
            "subject": format!("{name} with {first} {last}"),
            "type": key,
            "owner_id": owner,
            "creator_user_id": self.user_id(r, i, 56),
            "is_deleted": false,
            "add_time": iso(add),
            "update_time": iso(update),
            "deal_id": self.ref_id(Resource::Deals, i, 57, 40),
            "lead_id": if self.size == 0 || self.chance(r, i, 58, 85) { Value::Null } else { json!(self.uuid(Resource::Leads, self.ref_index(r, i, 58))) },
            "person_id": person,
            "org_id": self.ref_id(Resource::Organizations, i, 59, 40),
            "project_id": Value::Null,
            "due_date": date(due),
            "due_time": format!("{:02}:{:02}", 8 + self.pick(r, i, 60, 10), self.pick(r, i, 61, 4) * 15),
            "duration": format!("{:02}:{:02}", self.pick(r, i, 62, 3), self.pick(r, i, 63, 4) * 15),
            "busy": self.chance(r, i, 64, 60),
            "done": done,
            "marked_as_done_time": if done { json!(iso(self.between(r, i, 65, add, update))) } else { Value::Null },
            "location": if online || self.chance(r, i, 66, 50) { Value::Null } else { self.address(r, i) },
            "participants": participants,
            "attendees": [{
                "email": format!("person{}.0@example.com", self.ref_index(r, i, 51) + 1),
                "name": format!("{first} {last}"),
                "status": self.one_of(r, i, 67, &["accepted", "tentative", "declined", "noreply"]),
                "is_organizer": false,
                "person_id": person,
                "user_id": Value::Null,
            }],
            "conference_meeting_client": if online { json!("google_meet") } else { Value::Null },
            "conference_meeting_url": if online { json!(format!("https://meet.example.com/{:x}", self.h(r, i, 68))) } else { Value::Null },
            "conference_meeting_id": if online { json!(format!("{:x}", self.h(r, i, 68) >> 32)) } else { Value::Null },
            "public_description": self.one_of(r, i, 69, &["", "Agenda: pricing & next steps", "Überprüfung des Angebots"]),
            "priority": if self.chance(r, i, 70, 50) { Value::Null } else { json!(self.pick(r, i, 71, 3) + 1) },
            "outcome": if done && self.chance(r, i, 72, 50) { json!(self.pick(r, i, 73, 3) + 1) } else { Value::Null },
            "note": if self.chance(r, i, 74, 50) { Value::Null } else { json!(format!("<p>Notes for {first} — 準備OK ✅</p>")) },
            "custom_fields": self.custom_fields(r, i),
        })
    }

    pub(super) fn note(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Notes;
        let deal = self.ref_id(Resource::Deals, i, 50, 50);
        let person = self.ref_id(Resource::Persons, i, 51, 50);
        let org = self.ref_id(Resource::Organizations, i, 52, 60);
        let lead = if self.size == 0 || self.chance(r, i, 53, 80) {
            Value::Null
        } else {
            json!(self.uuid(Resource::Leads, self.ref_index(r, i, 53)))
        };
        let user = self.user_id(r, i, 54);
        let name_of = |id: &Value, f: &dyn Fn(u64) -> String, key: &str| match id.as_u64() {
            Some(id) => json!({ key: f(id - 1) }),
            None => Value::Null,
        };
        let person_name = |p: u64| {
            let (first, last) = self.person_name(p);
            format!("{first} {last}")
        };
        json!({
            "id": i + 1,
            "active_flag": true,
            "add_time": v1(add),
            "content": self.one_of(r, i, 55, &[
                "<p>Discussed pricing — très bien 👍</p>",
                "<p>次回の打ち合わせは来週です。</p>",
                "<p>Sent the <b>proposal</b>; waiting for the CFO's answer.</p>",
                "<ul><li>Demo ✔</li><li>Trial 🚀</li></ul>",
            ]),
            "deal": name_of(&deal, &|d| self.deal_title(Resource::Deals, d), "title"),
            "lead_id": lead,
            "deal_id": deal,
            "last_update_user_id": if add == update { Value::Null } else { json!(self.user_id(r, i, 56)) },
            "org_id": org,
            "organization": name_of(&org, &|o| self.org_name(o), "name"),
            "person": name_of(&person, &person_name, "name"),
            "person_id": person,
            "project_id": Value::Null,
            "project": Value::Null,
            "task_id": Value::Null,
            "task": Value::Null,
            "pinned_to_deal_flag": deal.is_u64() && self.chance(r, i, 57, 20),
            "pinned_to_organization_flag": false,
            "pinned_to_person_flag": person.is_u64() && self.chance(r, i, 58, 10),
            "pinned_to_project_flag": false,
            "pinned_to_task_flag": false,
            "update_time": v1(update),
            "user": {
                "email": format!("user{user}@sandbox-company.example"),
                "icon_url": Value::Null,
                "is_you": user == 1,
                "name": format!("{} {}", FIRST[((user - 1) % FIRST.len() as u64) as usize], LAST[(((user - 1) * 7) % LAST.len() as u64) as usize]),
            },
            "user_id": user,
        })
    }

    pub(super) fn file(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Files;
        let deal = self.ref_id(Resource::Deals, i, 50, 50);
        let person = self.ref_id(Resource::Persons, i, 51, 60);
        let org = self.ref_id(Resource::Organizations, i, 52, 60);
        let product = self.ref_id(Resource::Products, i, 53, 90);
        let (file_name, kind) = self.one_of(
            r,
            i,
            54,
            &[
                ("contract", "pdf"),
                ("Angebot_Müller", "docx"),
                ("見積書", "xlsx"),
                ("photo 📷", "jpg"),
            ],
        );
        let file_name = format!("{file_name}_{}.{kind}", i + 1);
        let remote_id = format!("{:016x}", self.h(r, i, 55));
        let name_of = |id: &Value, f: &dyn Fn(u64) -> String| match id.as_u64() {
            Some(id) => json!(f(id - 1)),
            None => Value::Null,
        };
        json!({
            "id": i + 1,
            "user_id": self.user_id(r, i, 56),
            "deal_id": deal,
            "person_id": person,
            "org_id": org,
            "product_id": product,
            "activity_id": Value::Null,
            "lead_id": Value::Null,
            "project_id": Value::Null,
            "add_time": v1(add),
            "update_time": v1(update),
            "file_name": file_name,
            "file_size": 1024 + self.pick(r, i, 57, 5_000_000),
            "active_flag": true,
            "inline_flag": false,
            "remote_location": "s3",
            "remote_id": remote_id,
            "cid": Value::Null,
            "s3_bucket": Value::Null,
            "mail_message_id": Value::Null,
            "mail_template_id": Value::Null,
            "deal_name": name_of(&deal, &|d| self.deal_title(Resource::Deals, d)),
            "person_name": name_of(&person, &|p| { let (f, l) = self.person_name(p); format!("{f} {l}") }),
            "org_name": name_of(&org, &|o| self.org_name(o)),
            "product_name": name_of(&product, &|p| self.product_name(p)),
            "lead_name": Value::Null,
            "project_name": Value::Null,
            "url": format!("https://sandbox.pipedrive.example/api/v1/files/{}/download", i + 1),
            "name": file_name,
            "description": self.one_of(r, i, 58, &["", "Signed copy ✍️", "Version finale"]),
        })
    }
}
