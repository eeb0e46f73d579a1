//! Records of the top-level lists beyond the core CRM entities: projects and their boards,
//! tasks and templates, mail threads, call logs, goals, roles, permission sets, lead sources
//! and webhooks. Like the core records they are pure functions of (seed, index), shaped after
//! the official client's models.

use serde_json::{json, Value};

use super::names::{FIRST, LAST, LEAD_SOURCES, PRODUCT};
use super::{date, iso, v1, Dataset, Resource, MAIL_FOLDERS, T1};

const PERMISSION_APPS: [&str; 7] = [
    "sales",
    "global",
    "projects",
    "campaigns",
    "account_settings",
    "partnership",
    "nova",
];
const ROLES: [&str; 5] = [
    "Sales director",
    "Account executive",
    "SDR 📞",
    "Customer success",
    "Partner manager",
];
const BOARDS: [&str; 3] = ["Onboarding", "Delivery 🚚", "Renewals"];
const PHASES: [&str; 5] = ["Backlog", "Kick-off", "In progress", "Review", "Done ✅"];
/// (goal type, tracking metric, title)
const GOALS: [(&str, &str, &str); 5] = [
    ("deals_won", "quantity", "Deals won per quarter"),
    ("activities_completed", "quantity", "Calls per week ☎️"),
    ("revenue_forecast", "sum", "Umsatzprognose"),
    ("deals_started", "quantity", "New deals"),
    ("deals_progressed", "quantity", "Deals to proposal stage"),
];

/// Who goal `i` is assigned to: the token user (person 1) for every other goal and every
/// revenue forecast, else another user or a team.
fn goal_assignee(kind: &str, i: u64) -> Value {
    match (kind, i % 4) {
        ("revenue_forecast", _) | (_, 0 | 2) => json!({ "id": 1, "type": "person" }),
        (_, 1) => json!({ "id": 2 + i % 3, "type": "person" }),
        _ => json!({ "id": 1 + i % 2, "type": "team" }),
    }
}

/// The goal types `/v1/goals/find` takes in `type.name` (the official definition's enum).
pub const GOAL_TYPES: [&str; 5] = [
    "deals_won",
    "deals_progressed",
    "activities_completed",
    "activities_added",
    "deals_started",
];

impl Dataset {
    /// Built for `build`, which already handles the core resources.
    pub(super) fn list_record(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        match r {
            Resource::LeadSources => json!({ "name": self.lead_source(i) }),
            Resource::Goals => self.goal(i, add),
            Resource::Roles => self.role(i),
            Resource::PermissionSets => self.permission_set(i),
            Resource::CallLogs => self.call_log(i, update),
            Resource::MailThreads => self.mail_thread(i, add, update),
            Resource::Projects | Resource::ArchivedProjects => self.project(r, i, add, update),
            Resource::Tasks => self.task(i, add, update),
            Resource::ProjectBoards => json!({
                "id": i + 1,
                "name": numbered(&BOARDS, i),
                "order_nr": i + 1,
                "add_time": iso(add),
                "update_time": iso(update),
            }),
            Resource::ProjectTemplates => json!({
                "id": i + 1,
                "title": format!("{} template {}", numbered(&BOARDS, i), i + 1),
                "description": self.one_of(r, i, 50, &["", "Standard rollout — 6 weeks", "Plantilla básica"]),
                "projects_board_id": self.pick(r, i, 51, self.base_count(Resource::ProjectBoards)) + 1,
                "owner_id": self.user_id(r, i, 52),
                "add_time": iso(add),
                "update_time": iso(update),
            }),
            Resource::Webhooks => self.webhook(i, add, update),
            _ => unreachable!("sandbox: {} are derived per parent", r.name()),
        }
    }

    /// The account's company id, as `/v1/users/me` and the records that carry one report it.
    pub(crate) fn company_id(&self) -> u64 {
        7_000_000 + self.seed % 1_000_000
    }

    pub(super) fn lead_source(&self, i: u64) -> String {
        numbered(&LEAD_SOURCES, i)
    }

    /// A permission set's id, as users' `access` entries name it: sets come in (admin,
    /// regular) pairs per app, so sets 0 to 3 are sales admin, sales regular, global admin
    /// and global regular.
    pub(super) fn permission_set_id(&self, i: u64) -> String {
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            self.h(Resource::Users, 0, 56 + i / 2) >> 32,
            i % 2 + 1
        )
    }

    pub(super) fn permission_set_name(i: u64) -> String {
        let app = PERMISSION_APPS[(i / 2 % PERMISSION_APPS.len() as u64) as usize];
        let kind = if i % 2 == 0 { "admin" } else { "regular user" };
        format!("{app} {kind}")
    }

    fn permission_set(&self, i: u64) -> Value {
        let id = self.permission_set_id(i);
        // Counted over the base users; the assignments endpoint reads the current ones.
        let assigned = (0..self.base_count(Resource::Users))
            .filter(|u| {
                let admin = self.user_is_admin(*u);
                (i == u64::from(!admin)) || (i == 2 + u64::from(!admin))
            })
            .count();
        json!({
            "id": id,
            "name": Self::permission_set_name(i),
            "description": format!("Default {} permissions", Self::permission_set_name(i)),
            "app": PERMISSION_APPS[(i / 2 % PERMISSION_APPS.len() as u64) as usize],
            "type": if i % 2 == 0 { "admin" } else { "regular" },
            "assignment_count": assigned,
        })
    }

    /// Roles form a binary tree: role k reports to role k / 2.
    pub(super) fn role_parent(id: u64) -> Value {
        if id <= 1 {
            Value::Null
        } else {
            json!(id / 2)
        }
    }

    pub(super) fn role_name(i: u64) -> String {
        numbered(&ROLES, i)
    }

    fn role(&self, i: u64) -> Value {
        let id = i + 1;
        let users = self.base_count(Resource::Users);
        let assigned = (0..users).filter(|u| self.user_role(*u) == id).count();
        let roles = self.base_count(Resource::Roles);
        let sub_roles = [2 * id, 2 * id + 1].iter().filter(|k| **k <= roles).count();
        // The model has both counts as strings.
        json!({
            "id": id,
            "parent_role_id": Self::role_parent(id),
            "name": Self::role_name(i),
            "active_flag": true,
            "assignment_count": assigned.to_string(),
            "sub_role_count": sub_roles.to_string(),
            "level": u64::BITS - id.leading_zeros(),
        })
    }

    fn goal(&self, i: u64, add: i64) -> Value {
        let r = Resource::Goals;
        let (kind, metric, title) = GOALS[(i % GOALS.len() as u64) as usize];
        let params = match kind {
            "activities_completed" => json!({ "activity_type_id": [1, 2] }),
            "deals_progressed" => json!({ "pipeline_id": [1], "stage_id": 4 }),
            _ => json!({ "pipeline_id": [1] }),
        };
        let interval = self.one_of(r, i, 50, &["weekly", "monthly", "quarterly", "yearly"]);
        json!({
            "id": self.uuid(r, i),
            "owner_id": 1,
            "title": if i < GOALS.len() as u64 { title.to_string() } else { format!("{title} {}", i + 1) },
            "type": { "name": kind, "params": params },
            // Goals of the token user (person 1), of other users and of teams: without
            // `type.name` `/v1/goals/find` returns the caller's only. Revenue forecasts, which
            // `type.name` cannot ask for, are all the token user's, so every goal can be read.
            "assignee": goal_assignee(kind, i),
            "interval": interval,
            "duration": {
                "start": date(add),
                "end": if self.chance(r, i, 51, 30) { Value::Null } else { json!(date(add + 365 * 86_400)) },
            },
            "expected_outcome": {
                "target": 10 * (1 + self.pick(r, i, 52, 50)),
                "tracking_metric": metric,
                "currency_id": if metric == "sum" { json!(1) } else { Value::Null },
            },
            "is_active": !self.chance(r, i, 53, 20),
            "report_ids": [format!("{:08x}-{:04x}", self.h(r, i, 54) >> 32, i + 1)],
        })
    }

    fn call_log(&self, i: u64, update: i64) -> Value {
        let r = Resource::CallLogs;
        let seconds = self.pick(r, i, 50, 1800);
        let outcome = self.one_of(
            r,
            i,
            51,
            &[
                "connected",
                "no_answer",
                "left_message",
                "left_voicemail",
                "wrong_number",
                "busy",
            ],
        );
        let person = self.ref_id(Resource::Persons, i, 152, 20);
        json!({
            "id": self.uuid(r, i),
            "outcome": outcome,
            "to_phone_number": format!("+372 5{:03} {:04}", i % 1000, self.pick(r, i, 53, 10_000)),
            "from_phone_number": "+44 20 7946 0000",
            "start_time": v1(update),
            "end_time": v1(update + seconds as i64),
            "duration": seconds.to_string(),
            // `/v1/callLogs` lists only the token user's calls.
            "user_id": 1,
            "activity_id": self.ref_id(Resource::Activities, i, 154, 60),
            "subject": format!("Call — {}", self.one_of(r, i, 55, &["follow-up", "Angebot", "見積もり", "demo 🎥"])),
            "person_id": person,
            "org_id": self.ref_id(Resource::Organizations, i, 156, 40),
            "deal_id": self.ref_id(Resource::Deals, i, 157, 50),
            "lead_id": if self.size == 0 || self.chance(r, i, 58, 85) { Value::Null } else { json!(self.uuid(Resource::Leads, self.ref_index(r, i, 59))) },
            "note": if outcome == "connected" { json!("<p>Spoke about renewal — 好感触</p>") } else { Value::Null },
            "has_recording": outcome == "connected" && self.chance(r, i, 60, 50),
            "company_id": self.company_id(),
        })
    }

    /// The range of base indexes in folder `f`: each folder is one contiguous block.
    pub(super) fn folder_range(&self, f: u64) -> (u64, u64) {
        let n = self.base_count(Resource::MailThreads);
        let block = n.div_ceil(MAIL_FOLDERS.len() as u64);
        ((f * block).min(n), ((f + 1) * block).min(n))
    }

    /// The folder a thread sits in; new threads arrive in the inbox.
    pub(super) fn folder_of(&self, i: u64) -> u64 {
        let n = self.base_count(Resource::MailThreads);
        if i >= n {
            return 0;
        }
        i / n.div_ceil(MAIL_FOLDERS.len() as u64)
    }

    /// Messages in thread `i`: 1 to 3.
    pub(super) fn message_count(&self, i: u64) -> u64 {
        1 + self.pick(Resource::MailThreads, i, 1, 3)
    }

    /// A mail party: the token user (`None`) or a person.
    pub(super) fn party(&self, person: Option<u64>, id: u64, time: i64) -> Value {
        let (name, email, linked) = match person {
            Some(p) => {
                let (first, last) = self.person_name(p);
                (
                    format!("{first} {last}"),
                    format!("person{}.0@example.com", p + 1),
                    json!(p + 1),
                )
            }
            None => (
                format!("{} {}", FIRST[0], LAST[0]),
                "user1@sandbox-company.example".to_string(),
                Value::Null,
            ),
        };
        json!({
            "id": id,
            "name": name,
            "latest_sent": false,
            "email_address": email,
            "message_time": time * 1000,
            "linked_person_id": linked,
            "linked_person_name": if linked.is_null() { Value::Null } else { json!(name) },
            "mail_message_party_id": id,
            "linked_organization_id": Value::Null,
        })
    }

    /// The thread's correspondent, or none when there are no persons at all.
    pub(super) fn thread_person(&self, i: u64) -> Option<u64> {
        (self.size > 0).then(|| self.ref_index(Resource::MailThreads, i, 50))
    }

    /// The flags a thread and each of its messages share.
    pub(super) fn mail_flags(&self, i: u64) -> Value {
        let r = Resource::MailThreads;
        let attachments = u64::from(self.chance(r, i, 51, 20));
        json!({
            "account_id": format!("acct-{:012x}", self.h(r, 0, 52) >> 16),
            "user_id": 1,
            "subject": self.thread_subject(i),
            "snippet": self.one_of(r, i, 53, &["Hi, following up on our call…", "Danke für das Angebot", "ご確認ください 🙏"]),
            "read_flag": u64::from(self.chance(r, i, 54, 70)),
            "mail_tracking_status": if self.chance(r, i, 55, 70) { Value::Null } else { json!("opened") },
            "has_attachments_flag": attachments,
            "has_inline_attachments_flag": 0,
            "has_real_attachments_flag": attachments,
            "deleted_flag": 0,
            "synced_flag": 1,
            "smart_bcc_flag": 0,
            "mail_link_tracking_enabled_flag": u64::from(self.chance(r, i, 56, 30)),
        })
    }

    fn thread_subject(&self, i: u64) -> String {
        let product =
            PRODUCT[self.pick(Resource::MailThreads, i, 57, PRODUCT.len() as u64) as usize];
        format!("Re: {product} — #{}", i + 1)
    }

    fn mail_thread(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::MailThreads;
        let folder = MAIL_FOLDERS[self.folder_of(i) as usize];
        let flag = |on: bool| u64::from(on);
        let person = self.thread_person(i);
        let (to, from) = if folder == "sent" || folder == "drafts" {
            (person, None)
        } else {
            (None, person)
        };
        let deal = self.ref_id(Resource::Deals, i, 160, 60);
        let mut thread = self.mail_flags(i);
        let extra = json!({
            "id": i + 1,
            "parties": {
                "to": [self.party(to, 2 * i + 1, update)],
                "from": [self.party(from, 2 * i + 2, update)],
            },
            "drafts_parties": [],
            "folders": [folder],
            "version": 1 + self.pick(r, i, 61, 5),
            "snippet_draft": if folder == "drafts" { json!("Draft: let me check with the team") } else { Value::Null },
            "snippet_sent": if folder == "sent" { "Thanks, talk soon!" } else { "" },
            "message_count": self.message_count(i),
            "has_draft_flag": flag(folder == "drafts"),
            "has_sent_flag": flag(folder == "sent"),
            "archived_flag": flag(folder == "archive"),
            "shared_flag": flag(self.chance(r, i, 62, 30)),
            "external_deleted_flag": 0,
            "first_message_to_me_flag": flag(folder == "inbox" || folder == "archive"),
            "last_message_timestamp": v1(update),
            "first_message_timestamp": v1(add),
            "last_message_sent_timestamp": if folder == "sent" { json!(v1(update)) } else { Value::Null },
            "last_message_received_timestamp": v1(update),
            "add_time": v1(add),
            "update_time": v1(update),
            "deal_id": deal,
            "deal_status": match deal.as_u64() {
                Some(d) => json!(self.base_status(Resource::Deals, d - 1)),
                None => Value::Null,
            },
            "lead_id": Value::Null,
            "all_messages_sent_flag": flag(folder == "sent"),
        });
        if let (Value::Object(thread), Value::Object(extra)) = (&mut thread, extra) {
            thread.extend(extra);
        }
        thread
    }

    /// Phases on board `b` (an index): 3 to 5.
    pub(super) fn phase_count(&self, b: u64) -> u64 {
        3 + self.pick(Resource::ProjectBoards, b, 60, 3)
    }

    pub(super) fn phase_name(k: u64) -> &'static str {
        PHASES[k as usize % PHASES.len()]
    }

    /// Phase ids leave room for five phases per board.
    pub(super) fn phase_id(b: u64, k: u64) -> u64 {
        b * PHASES.len() as u64 + k + 1
    }

    fn project(&self, r: Resource, i: u64, add: i64, update: i64) -> Value {
        let id = Self::int_id(r, i);
        let archived = r == Resource::ArchivedProjects;
        let board = self.pick(r, i, 50, self.base_count(Resource::ProjectBoards));
        let phase = self.pick(r, i, 51, self.phase_count(board));
        let refs = |salt: u64| -> Vec<u64> {
            if self.size == 0 {
                return Vec::new();
            }
            (0..self.pick(r, i, salt, 3))
                .map(|k| self.pick(r, i, salt + 1 + k, self.size) + 1)
                .collect()
        };
        let title = format!(
            "{} — {}",
            self.one_of(r, i, 52, &["Rollout", "Migration", "Einführung", "導入"]),
            self.org_name(self.ref_index(r, i, 53))
        );
        json!({
            "id": id,
            "title": title,
            "description": if self.chance(r, i, 54, 40) { Value::Null } else { json!("Kick-off with the customer's team ✅") },
            "status": self.base_status(r, i),
            "board_id": board + 1,
            "phase_id": Self::phase_id(board, phase),
            "owner_id": self.user_id(r, i, 55),
            "start_date": date(add),
            "end_date": if self.chance(r, i, 56, 30) { Value::Null } else { json!(date(update + 60 * 86_400)) },
            "deal_ids": refs(60),
            "person_ids": refs(65),
            "org_ids": refs(70),
            "label_ids": if self.chance(r, i, 57, 60) { json!([]) } else { json!([self.pick(r, i, 58, 3) + 1]) },
            "health_status": if self.chance(r, i, 59, 50) { Value::Null } else { json!(self.pick(r, i, 75, 3) + 1) },
            "add_time": iso(add),
            "update_time": iso(update),
            "status_change_time": iso(self.between(r, i, 76, add, update)),
            "archive_time": if archived { json!(iso(self.between(r, i, 77, add, update))) } else { Value::Null },
            "custom_fields": self.custom_fields(r, i),
        })
    }

    fn task(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Tasks;
        let projects = self.base_count(Resource::Projects);
        let done = self.chance(r, i, 50, 40);
        json!({
            "id": i + 1,
            "title": format!("{} #{}", self.one_of(r, i, 51, &["Send kick-off deck", "Datenmigration prüfen", "トレーニング", "Sign-off ✍️"]), i + 1),
            "creator_id": self.user_id(r, i, 52),
            "description": if self.chance(r, i, 53, 50) { Value::Null } else { json!("See the project plan") },
            "project_id": if projects == 0 { Value::Null } else { json!(self.pick(r, i, 54, projects) + 1) },
            "is_done": done,
            "is_milestone": self.chance(r, i, 55, 10),
            "due_date": if self.chance(r, i, 56, 30) { Value::Null } else { json!(date(update + 14 * 86_400)) },
            "start_date": if self.chance(r, i, 57, 50) { Value::Null } else { json!(date(add)) },
            "parent_task_id": if i == 0 || self.chance(r, i, 58, 80) { Value::Null } else { json!(self.pick(r, i, 59, i) + 1) },
            "assignee_ids": [self.user_id(r, i, 60)],
            "priority": if self.chance(r, i, 61, 50) { Value::Null } else { json!(self.pick(r, i, 62, 3) + 1) },
            "add_time": iso(add),
            "update_time": iso(update),
            "marked_as_done_time": if done { json!(iso(self.between(r, i, 63, add, update))) } else { Value::Null },
        })
    }

    fn webhook(&self, i: u64, add: i64, update: i64) -> Value {
        let r = Resource::Webhooks;
        let delivered = !self.chance(r, i, 50, 20);
        let (action, object) =
            [("*", "deal"), ("change", "person"), ("delete", "*")][(i % 3) as usize];
        json!({
            "id": i + 1,
            "company_id": self.company_id(),
            "owner_id": 1,
            "user_id": 1,
            "event_action": action,
            "event_object": object,
            "subscription_url": format!("https://hooks.example.com/pipedrive/{}", i + 1),
            "version": "2.0",
            "is_active": 1,
            "add_time": v1(add),
            "remove_time": Value::Null,
            "type": "general",
            "http_auth_user": if i == 0 { json!("sandbox") } else { Value::Null },
            "http_auth_password": if i == 0 { json!("********") } else { Value::Null },
            "remove_reason": Value::Null,
            "last_delivery_time": if delivered { json!(v1(self.between(r, i, 51, update, T1))) } else { Value::Null },
            "last_http_status": if delivered { json!(200) } else { Value::Null },
            "admin_id": 1,
            "name": format!("Sandbox hook {} 🔔", i + 1),
        })
    }

    /// Users' `role_id` (1 to 3), as the user records carry it.
    pub(super) fn user_role(&self, u: u64) -> u64 {
        self.pick(Resource::Users, u, 59, 3) + 1
    }

    /// Whether user `u` is an admin, as the user records say.
    pub(super) fn user_is_admin(&self, u: u64) -> bool {
        u == 0 || self.chance(Resource::Users, u, 50, 20)
    }
}

/// A fixed name for the first entries and a numbered one for any after them.
fn numbered(names: &[&str], i: u64) -> String {
    let name = names[(i % names.len() as u64) as usize];
    if i < names.len() as u64 {
        name.to_string()
    } else {
        format!("{name} {}", i + 1)
    }
}
