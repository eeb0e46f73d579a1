//! The generator's own tests: times and ids follow their orders, records fit the models, offset
//! and keyset walks match brute force with edits in the overlay, and children agree with their
//! parents.

use serde_json::json;

use super::*;

fn seconds(v: &Value) -> i64 {
    let s = v.as_str().unwrap();
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.timestamp(),
        Err(_) => chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp(),
    }
}

/// Every page of a v1-style offset walk, concatenated.
fn walk_offsets(data: &Dataset, r: Resource, q: &ListQuery, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = data.page(r, q, Start::Offset(all.len() as u64), limit);
        all.extend(page.records);
        if !page.more {
            return all;
        }
    }
}

fn walk_keys(data: &Dataset, r: Resource, q: &ListQuery, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut start = Start::First;
    loop {
        let page = data.page(r, q, start, limit);
        all.extend(page.records);
        match (page.more, page.last) {
            (true, Some(last)) => start = Start::After(last),
            _ => return all,
        }
    }
}

fn expected(
    data: &Dataset,
    r: Resource,
    key: SortKey,
    desc: bool,
    since: Option<i64>,
) -> Vec<Value> {
    let mut records = data.records(r);
    records.retain(|v| since.is_none_or(|t| seconds(&v["update_time"]) >= t));
    let ord = |v: &Value| data.ordinal_of(r, &v["id"]).unwrap();
    records.sort_by_key(|v| match key {
        SortKey::Id => (0, ord(v)),
        SortKey::AddTime => (seconds(&v["add_time"]), ord(v)),
        SortKey::UpdateTime => (seconds(&v["update_time"]), ord(v)),
    });
    if desc {
        records.reverse();
    }
    records
}

#[test]
fn times_are_monotone_with_ties_across_page_edges() {
    let data = Dataset::new(7, 1200);
    let r = Resource::Deals;
    for i in 1..1200 {
        assert!(data.base_update(r, i - 1) <= data.base_update(r, i));
        assert!(data.base_add(r, i - 1) <= data.base_add(r, i));
        assert!(data.base_add(r, i) <= data.base_update(r, i));
    }
    for edge in [100, 500, 1000] {
        assert_eq!(data.base_update(r, edge - 1), data.base_update(r, edge));
    }
    let first = data.base_update(r, 0);
    let last = data.base_update(r, 1199);
    assert!(first >= T0 && last <= T1);
}

#[test]
fn records_follow_the_models() {
    let data = Dataset::new(1, 300);
    let deals = data.records(Resource::Deals);
    assert_eq!(deals.len(), 300);
    let deleted = deals.iter().filter(|d| d["status"] == "deleted").count();
    assert!((3..40).contains(&deleted), "{deleted} deleted deals");
    for d in &deals {
        assert_eq!(d["is_deleted"], d["status"] == "deleted");
        assert_eq!(d["won_time"].is_null(), d["status"] != "won");
        assert_eq!(d["custom_fields"].as_object().unwrap().len(), 18);
    }
    let lead = &data.records(Resource::Leads)[0];
    let id = lead["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(data.ordinal_of(Resource::Leads, &lead["id"]), Some(0));
    assert!(lead["update_time"].as_str().unwrap().ends_with('Z'));
    let note = &data.records(Resource::Notes)[0];
    assert_eq!(note["update_time"].as_str().unwrap().len(), 19);
    assert_eq!(data.records(Resource::Stages).len(), 15);
    assert_eq!(data.records(Resource::Currencies)[3]["code"], "JPY");
    let text: String = data
        .records(Resource::Persons)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!text.is_ascii());
    assert_eq!(
        Dataset::new(1, 300).records(Resource::Activities),
        data.records(Resource::Activities)
    );
}

#[test]
fn lead_ids_sort_like_their_index() {
    let data = Dataset::new(99, 50);
    let ids: Vec<String> = data
        .records(Resource::Leads)
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn offset_and_keyset_walks_match_brute_force_with_overlay() {
    let data = Dataset::new(3, 1234);
    let now = 1_800_000_000;
    for r in [Resource::Notes, Resource::Persons, Resource::Leads] {
        let ids: Vec<Value> = data.records(r).iter().map(|v| v["id"].clone()).collect();
        data.touch(r, &ids[10], now);
        data.touch(r, &ids[499], now);
        data.touch(r, &ids[500], now + 5);
        data.delete(r, &ids[100], now + 1);
        data.delete(r, &ids[777], now + 2);
        data.insert(r, now + 3);
        data.insert(r, now + 3);
        for key in [SortKey::Id, SortKey::AddTime, SortKey::UpdateTime] {
            for desc in [false, true] {
                for since in [None, Some(data.base_update(r, 600)), Some(now + 1)] {
                    let mut q = ListQuery::new(key, desc);
                    q.since = since;
                    let want = expected(&data, r, key, desc, since);
                    for limit in [7, 100, 500] {
                        assert_eq!(
                            walk_offsets(&data, r, &q, limit),
                            want,
                            "{r:?} {key:?} {desc} {since:?} {limit}"
                        );
                        assert_eq!(
                            walk_keys(&data, r, &q, limit),
                            want,
                            "{r:?} {key:?} {desc} {since:?} {limit}"
                        );
                    }
                }
            }
        }
        assert_eq!(data.records(r).len(), 1234);
    }
}

#[test]
fn children_agree_with_their_parents() {
    let data = Dataset::new(11, 400);
    let mut seen = std::collections::HashSet::new();
    let deals = data
        .records(Resource::Deals)
        .into_iter()
        .chain(data.records(Resource::ArchivedDeals));
    for deal in deals {
        let update = seconds(&deal["update_time"]);
        let products = data.children(Resource::DealProducts, &deal["id"]);
        assert!(products.len() <= 3);
        for p in &products {
            assert!(seen.insert(p["id"].as_u64().unwrap()), "{p}");
            assert_eq!(p["deal_id"], deal["id"]);
            assert!(seconds(&p["add_time"]) <= seconds(&p["update_time"]));
            assert!(seconds(&p["update_time"]) <= update);
            if let Some(v) = p["product_variation_id"].as_u64() {
                let variations = data.children(Resource::ProductVariations, &p["product_id"]);
                assert!(variations.iter().any(|x| x["id"] == v));
            }
        }
        assert!(data.children(Resource::DealInstallments, &deal["id"]).len() <= 2);
        let log = data.children(Resource::DealChangelog, &deal["id"]);
        assert!((1..=4).contains(&log.len()));
        assert_eq!(seconds(&log.last().unwrap()["time"]), update);
    }
    let users = data.records(Resource::Users);
    for role in data.records(Resource::Roles) {
        let assigned = data.children(Resource::RoleAssignments, &role["id"]);
        assert_eq!(role["assignment_count"], assigned.len().to_string());
    }
    let mut assignments = 0;
    for set in data.records(Resource::PermissionSets) {
        let assigned = data.children(Resource::PermissionSetAssignments, &set["id"]);
        assert_eq!(set["assignment_count"], assigned.len());
        assignments += assigned.len();
    }
    // Every user's sales and global access point at a listed permission set.
    assert_eq!(assignments, users.len() * 2);
    let threads = data.records(Resource::MailThreads);
    let (mut next, mut total) = (0, 0);
    for (f, folder) in MAIL_FOLDERS.iter().enumerate() {
        let (lo, hi) = data.folder_range(f as u64);
        assert_eq!(lo, next);
        next = hi;
        for t in &threads[lo as usize..hi as usize] {
            assert_eq!(t["folders"], json!([folder]));
            let messages = data.children(Resource::MailMessages, &t["id"]);
            assert_eq!(t["message_count"], messages.len());
            total += messages.len();
            let last = &messages.last().unwrap()["message_time"];
            assert_eq!(last, &t["last_message_timestamp"]);
        }
    }
    assert_eq!(next, threads.len() as u64);
    assert_eq!(data.records(Resource::MailMessages).len(), total);
    for note in data.records(Resource::Notes).iter().take(50) {
        for c in data.children(Resource::NoteComments, &note["id"]) {
            assert_eq!(c["object_id"], note["id"].to_string());
            assert!(seconds(&c["update_time"]) <= seconds(&note["update_time"]));
        }
    }
    for p in data.records(Resource::Projects) {
        let phases = data.children(Resource::ProjectPhases, &p["board_id"]);
        assert!(phases.iter().any(|ph| ph["id"] == p["phase_id"]));
    }
    for r in Resource::ALL {
        assert_eq!(
            Dataset::parent(r).is_some() || r.described().is_some(),
            data.base_count(r) == 0,
            "{r:?}"
        );
    }
    assert!(data.children(Resource::Deals, &json!(1)).is_empty());
    assert!(data
        .children(Resource::NoteComments, &json!(401))
        .is_empty());
}

#[test]
fn deleted_projects_stay_listed_under_status_deleted() {
    let data = Dataset::new(2, 400);
    let r = Resource::Projects;
    let open = data
        .records(r)
        .into_iter()
        .find(|p| p["status"] == "open")
        .unwrap();
    data.delete(r, &open["id"], 1_800_000_000);
    let touched = data.touch(r, &json!(1), 1_800_000_001);
    let inserted = data.insert(r, 1_800_000_002);
    assert_eq!(inserted["id"], 21);
    let mut q = ListQuery::new(SortKey::Id, false);
    let listed = data.page(r, &q, Start::First, 500).records;
    assert!(!listed.contains(&data.records(r)[open["id"].as_u64().unwrap() as usize - 1]));
    assert!(listed.contains(&inserted));
    assert!(listed.iter().all(|p| p["status"] != "deleted"));
    q.statuses = Some(vec!["deleted".into()]);
    let deleted = data.page(r, &q, Start::First, 500).records;
    assert!(deleted.iter().any(|p| p["id"] == open["id"]));
    assert_eq!(touched["update_time"], iso(1_800_000_001));
    let archived = data.insert(Resource::ArchivedProjects, 1_800_000_003);
    assert_eq!(archived["id"], ARCHIVED_IDS + 21);
    assert_eq!(archived["archive_time"], iso(1_800_000_003));
}

#[test]
fn deleted_deals_stay_listed_under_status_deleted() {
    let data = Dataset::new(5, 200);
    let id = data
        .records(Resource::Deals)
        .into_iter()
        .find(|d| d["status"] == "open")
        .unwrap()["id"]
        .clone();
    data.delete(Resource::Deals, &id, 1_800_000_000);
    let mut q = ListQuery::new(SortKey::UpdateTime, false);
    let open = data.page(Resource::Deals, &q, Start::First, 500).records;
    assert!(open.iter().all(|d| d["status"] != "deleted"));
    q.statuses = Some(vec!["deleted".into()]);
    let deleted = data.page(Resource::Deals, &q, Start::First, 500).records;
    assert!(deleted.iter().all(|d| d["is_deleted"] == true));
    assert_eq!(deleted.last().unwrap()["id"], id);
    assert_eq!(
        deleted.last().unwrap()["update_time"],
        "2027-01-15T08:00:00Z"
    );
}

/// The ids a list serves with every status, by update time, walked with keyset and offset
/// pages alike.
fn served(data: &Dataset, r: Resource) -> (Vec<Value>, Vec<Value>) {
    let mut q = ListQuery::new(SortKey::UpdateTime, false);
    if r.has_status() {
        q.statuses = Some(
            DEAL_STATUSES
                .iter()
                .chain(&PROJECT_STATUSES)
                .map(|s| s.to_string())
                .collect(),
        );
    }
    let ids = |rows: Vec<Value>| rows.iter().map(|v| v["id"].clone()).collect();
    (
        ids(walk_keys(data, r, &q, 7)),
        ids(walk_offsets(data, r, &q, 7)),
    )
}

#[test]
fn archiving_moves_a_record_between_its_two_lists_under_the_same_id() {
    let data = Dataset::new(8, 120);
    let now = 1_800_000_000;
    for (live, archived) in [
        (Resource::Deals, Resource::ArchivedDeals),
        (Resource::Leads, Resource::ArchivedLeads),
        (Resource::Projects, Resource::ArchivedProjects),
    ] {
        let id = data.records(live)[3]["id"].clone();
        let back_id = data.records(archived)[1]["id"].clone();
        let moved = data.set_archived(live, &id, true, now);
        let back = data.set_archived(archived, &back_id, false, now + 1);
        assert_eq!(moved["id"], id);
        assert_eq!(moved["update_time"], iso(now));
        assert_eq!(back["update_time"], iso(now + 1));
        if live == Resource::Projects {
            assert_eq!(moved["archive_time"], iso(now));
            assert_eq!(back["archive_time"], Value::Null);
        } else {
            assert_eq!(moved["is_archived"], true, "{}", live.name());
            assert_eq!(back["is_archived"], false, "{}", live.name());
        }
        for (list, gone, came) in [(live, &id, &back_id), (archived, &back_id, &id)] {
            let (keys, offsets) = served(&data, list);
            assert_eq!(keys, offsets, "{}", list.name());
            assert!(!keys.contains(gone), "{}: {gone} still listed", list.name());
            assert_eq!(keys.last(), Some(came), "{}: the newest", list.name());
            let all: Vec<Value> = data.records(list).iter().map(|r| r["id"].clone()).collect();
            assert_eq!(all.len(), keys.len(), "{}", list.name());
        }
        // Edits find the record wherever it is now, and it can go back.
        let touched = data.touch(archived, &id, now + 2);
        assert_eq!(touched["id"], id);
        let again = data.set_archived(archived, &id, false, now + 3);
        assert!(served(&data, live).0.contains(&again["id"]));
    }
    // A moved deal keeps its children.
    let deal = data.records(Resource::ArchivedDeals)[0]["id"].clone();
    let children = data.children(Resource::DealInstallments, &deal);
    data.set_archived(Resource::ArchivedDeals, &deal, false, now + 5);
    assert_eq!(data.children(Resource::DealInstallments, &deal), children);
}

#[test]
#[should_panic(expected = "archived already")]
fn archiving_twice_is_a_test_bug() {
    let data = Dataset::new(8, 50);
    let id = data.records(Resource::Deals)[0]["id"].clone();
    data.set_archived(Resource::Deals, &id, true, 1_800_000_000);
    data.set_archived(Resource::ArchivedDeals, &id, true, 1_800_000_001);
}

#[test]
fn v2_lists_keep_deleted_records_only_when_asked() {
    for keep in [false, true] {
        let data = Dataset::with_behaviour(
            4,
            60,
            Behaviour {
                v2_lists_keep_deleted: keep,
                ..Behaviour::default()
            },
        );
        let id = data.records(Resource::Persons)[5]["id"].clone();
        data.delete(Resource::Persons, &id, 1_800_000_000);
        let listed: Vec<Value> = data
            .records(Resource::Persons)
            .into_iter()
            .filter(|p| p["id"] == id)
            .collect();
        if keep {
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0]["is_deleted"], true);
            assert_eq!(listed[0]["update_time"], iso(1_800_000_000));
        } else {
            assert!(listed.is_empty());
        }
        // v1 records leave their lists either way.
        let note = data.records(Resource::Notes)[0]["id"].clone();
        data.delete(Resource::Notes, &note, 1_800_000_000);
        assert!(!data
            .records(Resource::Notes)
            .iter()
            .any(|n| n["id"] == note));
    }
}

#[test]
fn a_merge_deletes_the_loser_and_touches_the_survivor() {
    let data = Dataset::new(6, 80);
    let deals = data.records(Resource::Deals);
    let open: Vec<&Value> = deals.iter().filter(|d| d["status"] == "open").collect();
    let (loser, survivor) = (open[0]["id"].clone(), open[1]["id"].clone());
    let kept = data.merge(Resource::Deals, &loser, &survivor, 1_800_000_000);
    assert_eq!(kept["update_time"], iso(1_800_000_000));
    let after = data.records(Resource::Deals);
    let gone = after.iter().find(|d| d["id"] == loser).unwrap();
    assert_eq!(gone["status"], "deleted");
    assert_eq!(gone["is_deleted"], true);
    let persons = data.records(Resource::Persons);
    let (loser, survivor) = (persons[0]["id"].clone(), persons[1]["id"].clone());
    data.merge(Resource::Persons, &loser, &survivor, 1_800_000_001);
    assert!(!data
        .records(Resource::Persons)
        .iter()
        .any(|p| p["id"] == loser));
}

#[test]
fn a_removed_product_line_leaves_its_deal_which_may_be_touched() {
    for touch in [true, false] {
        let data = Dataset::with_behaviour(
            9,
            100,
            Behaviour {
                product_lines_touch_deal: touch,
                ..Behaviour::default()
            },
        );
        let deal = data
            .records(Resource::Deals)
            .into_iter()
            .find(|d| data.children(Resource::DealProducts, &d["id"]).len() >= 2)
            .unwrap();
        let lines = data.children(Resource::DealProducts, &deal["id"]);
        data.remove_product_line(&deal["id"], &lines[0]["id"], 1_800_000_000);
        assert_eq!(
            data.children(Resource::DealProducts, &deal["id"]),
            lines[1..].to_vec()
        );
        let now = data
            .records(Resource::Deals)
            .into_iter()
            .find(|d| d["id"] == deal["id"])
            .unwrap();
        assert_eq!(now["update_time"] == iso(1_800_000_000), touch);
    }
}
