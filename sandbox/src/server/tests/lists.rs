//! List endpoints: every record once whatever the page size and sort, filters as brute force
//! computes them, parameter checks, edits showing up, and large datasets paging quickly.

use super::*;

#[test]
fn cursor_pagination_visits_every_deal_once() {
    let sandbox = start(1234);
    let mut client = Client::new(&sandbox);
    let deals = sandbox.dataset().records(Resource::Deals);
    let live = |d: &Value| d["status"] != "deleted";
    for limit in [100, 500] {
        for desc in [false, true] {
            let direction = if desc { "desc" } else { "asc" };
            let got = client.walk_cursor(&format!(
                "/api/v2/deals?sort_by=update_time&sort_direction={direction}&limit={limit}"
            ));
            assert_eq!(got, brute(&deals, live, true, desc));
        }
    }
    assert_eq!(
        client.walk_cursor("/api/v2/deals?limit=100"),
        brute(&deals, live, false, false)
    );
    assert_eq!(client.walk_cursor("/api/v2/stages?pipeline_id=2").len(), 5);
    assert_eq!(
        client
            .walk_cursor("/api/v2/pipelines?sort_by=update_time")
            .len(),
        3
    );
}

#[test]
fn filters_match_brute_force() {
    let sandbox = start(900);
    let mut client = Client::new(&sandbox);
    let deals = sandbox.dataset().records(Resource::Deals);
    let (since, until) = (
        secs(&deals[200]["update_time"]),
        secs(&deals[700]["update_time"]),
    );
    let fmt = |t: i64| {
        DateTime::<Utc>::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let target = format!(
        "/api/v2/deals?sort_by=update_time&sort_direction=desc&limit=50&status=won,deleted&updated_since={}&updated_until={}",
        fmt(since).replace(':', "%3A"),
        fmt(until)
    );
    let want = brute(
        &deals,
        |d| {
            let t = secs(&d["update_time"]);
            (d["status"] == "won" || d["status"] == "deleted") && t >= since && t < until
        },
        true,
        true,
    );
    assert!(want.len() > 50);
    assert_eq!(client.walk_cursor(&target), want);

    let notes = sandbox.dataset().records(Resource::Notes);
    let since = secs(&notes[450]["update_time"]);
    let target = format!(
        "/v1/notes?limit=100&sort=update_time%20DESC&updated_since={}",
        fmt(since)
    );
    let want = brute(&notes, |n| secs(&n["update_time"]) >= since, true, true);
    assert_eq!(client.walk_offset(&target), want);
    let leads = client.walk_offset("/api/v1/leads?limit=100&sort=update_time+ASC");
    assert_eq!(leads.len(), 900);
    assert_eq!(client.walk_offset("/v1/files?limit=100").len(), 900);
}

#[test]
fn limits_are_capped_and_validated() {
    let sandbox = start(700);
    let mut client = Client::new(&sandbox);
    assert_eq!(client.get("/api/v2/persons?limit=1000").ids().len(), 500);
    assert_eq!(client.get("/api/v2/persons").ids().len(), 100);
    for bad in [
        "limit=0",
        "limit=abc",
        "limit=-1",
        "sort_by=name",
        "sort_direction=up",
        "cursor=%%%",
        "updated_since=yesterday",
    ] {
        let reply = client.get(&format!("/api/v2/persons?{bad}"));
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.body["success"], false);
        assert_eq!(reply.body["error_info"], ERROR_INFO);
    }
    assert_eq!(client.get("/api/v2/deals?status=archived").status, 400);
    let files = client.get("/v1/files?limit=500");
    assert_eq!(files.ids().len(), 100);
    assert_eq!(files.body["additional_data"]["pagination"]["limit"], 100);
    assert_eq!(
        files.body["additional_data"]["pagination"]["next_start"],
        100
    );
    // `/v1/files` documents `sort` as a field name: no direction, as the contract says.
    for bad in ["update_time%20DESC", "id%20ASC", "name"] {
        assert_eq!(
            client.get(&format!("/v1/files?sort={bad}")).status,
            400,
            "{bad}"
        );
    }
    let by_id: Vec<i64> = (client.get("/v1/files?sort=id&limit=100").ids().iter())
        .map(|id| id.as_i64().unwrap())
        .collect();
    assert!(
        by_id.len() > 1 && by_id.windows(2).all(|w| w[0] < w[1]),
        "{by_id:?}"
    );
    let cursor = client.get("/api/v2/persons?sort_by=update_time").body["additional_data"]
        ["next_cursor"]
        .clone();
    let reuse = client.get(&format!(
        "/api/v2/persons?sort_by=id&cursor={}",
        cursor.as_str().unwrap()
    ));
    assert_eq!(reuse.status, 400);
}

#[test]
fn empty_v1_page_has_null_data() {
    let sandbox = start(30);
    let mut client = Client::new(&sandbox);
    let reply = client.get("/v1/notes?start=30");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"success": true, "data": null, "additional_data": {"pagination": {"start": 30, "limit": 100, "more_items_in_collection": false}}})
    );
    assert!(client
        .get("/v1/leads?updated_since=2030-01-01T00:00:00Z")
        .body["data"]
        .is_null());
    assert_eq!(
        client
            .get("/api/v2/deals?updated_since=2030-01-01T00:00:00Z")
            .body["data"],
        json!([])
    );
}

#[test]
fn overlay_changes_show_up_in_incremental_reads() {
    let sandbox = start(300);
    let mut client = Client::new(&sandbox);
    let since = sandbox.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    sandbox.advance_clock(chrono::Duration::minutes(5));
    let before_touch = sandbox.now().timestamp();
    let touched = sandbox.touch(Resource::Persons, &json!(7));
    let after_touch = sandbox.now().timestamp();
    let inserted = sandbox.insert(Resource::Persons);
    sandbox.delete(Resource::Persons, &json!(8));
    sandbox.delete(Resource::Deals, &json!(9));
    assert_eq!(inserted["id"], 301);
    // Stamped with the fake now of the edit: between the clock read just before and just after
    // (a second may tick over during the edit).
    let stamped = chrono::DateTime::parse_from_rfc3339(touched["update_time"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!((before_touch..=after_touch).contains(&stamped), "{touched}");
    let changed = client.walk_cursor(&format!(
        "/api/v2/persons?sort_by=update_time&updated_since={since}"
    ));
    assert_eq!(changed, vec![json!(7), json!(301)]);
    let all = client.walk_cursor("/api/v2/persons?limit=500");
    assert_eq!(all.len(), 300);
    assert!(!all.contains(&json!(8)));
    let deleted = client.walk_cursor(&format!(
        "/api/v2/deals?status=deleted&updated_since={since}"
    ));
    assert_eq!(deleted, vec![json!(9)]);
    assert!(!client
        .walk_cursor(&format!("/api/v2/deals?updated_since={since}"))
        .contains(&json!(9)));
    let people = sandbox.dataset().records(Resource::Persons);
    assert_eq!(people.iter().find(|p| p["id"] == 7).unwrap(), &touched);
    let note = sandbox.insert(Resource::Notes);
    let served = client.get("/v1/notes?sort=update_time%20DESC&limit=1").body["data"][0].clone();
    assert_eq!(served, note);
}

#[test]
fn a_million_records_page_quickly() {
    let sandbox = start(1_000_000);
    let mut client = Client::new(&sandbox);
    let first = client
        .get("/api/v2/deals?sort_by=update_time&limit=500&updated_since=2024-06-01T00:00:00Z");
    assert_eq!(first.ids().len(), 500);
    let cursor = first.body["additional_data"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let next = client.get(&format!("/api/v2/deals?sort_by=update_time&limit=500&updated_since=2024-06-01T00:00:00Z&cursor={cursor}"));
    assert_eq!(next.ids().len(), 500);
    let last = client.get("/v1/notes?start=999900&limit=500");
    assert_eq!(last.ids().len(), 100);
    assert_eq!(last.ids()[99], 1_000_000);
    let deleted = client.get("/api/v2/deals?status=deleted&sort_direction=desc&limit=500");
    assert_eq!(deleted.ids().len(), 500);

    // The lists added later stay as cheap: no request walks the base records.
    let archived = client.get(
        "/api/v2/deals/archived?sort_by=update_time&sort_direction=desc&limit=500&updated_until=2025-06-01T00:00:00Z",
    );
    assert_eq!(archived.ids().len(), 500);
    let cursor = archived.body["additional_data"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let next = client.get(&format!("/api/v2/deals/archived?sort_by=update_time&sort_direction=desc&limit=500&updated_until=2025-06-01T00:00:00Z&cursor={cursor}"));
    assert_eq!(next.ids().len(), 500);
    let threads = client.get("/v1/mailbox/mailThreads?folder=archive&start=24900&limit=500");
    assert_eq!(threads.ids().len(), 100);
    assert_eq!(threads.ids()[99], 100_000);
    assert_eq!(
        client.get("/v1/callLogs?start=99990&limit=50").ids().len(),
        10
    );
    assert_eq!(
        client
            .get("/v1/leads/archived?start=99900&limit=500&sort=update_time%20DESC")
            .body["data"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
    for target in [
        "/api/v2/projects?limit=500&status=deleted",
        "/api/v2/tasks?limit=500",
    ] {
        assert_eq!(client.get(target).ids().len(), 500, "{target}");
    }
    let ids: Vec<String> = (999_901..=1_000_000).map(|i| i.to_string()).collect();
    let products = client.get(&format!(
        "/api/v2/deals/products?limit=500&sort_by=update_time&deal_ids={}",
        ids.join(",")
    ));
    assert_eq!(products.status, 200);
    assert!(products.ids().len() > 50);
    assert_eq!(
        client.get("/v1/deals/1000000/changelog?limit=500").status,
        200
    );
}

#[test]
fn new_lists_serve_every_record_exactly_once() {
    let sandbox = start(1234);
    let mut client = Client::new(&sandbox);
    let data = sandbox.dataset();

    let archived = data.records(Resource::ArchivedDeals);
    assert_eq!(archived.len(), 123);
    let by_update = brute(&archived, |d| d["status"] != "deleted", true, true);
    assert_eq!(
        client
            .walk_cursor("/api/v2/deals/archived?sort_by=update_time&sort_direction=desc&limit=7"),
        by_update
    );
    assert_eq!(
        client.walk_cursor("/api/v2/deals/archived?limit=10&status=open,won,lost,deleted"),
        ids_of(&archived)
    );
    let since = secs(&archived[40]["update_time"]);
    let until = secs(&archived[90]["update_time"]);
    assert_eq!(
        client.walk_cursor(&format!(
            "/api/v2/deals/archived?limit=9&sort_by=update_time&status=won&updated_since={}&updated_until={}",
            archived[40]["update_time"].as_str().unwrap(),
            archived[90]["update_time"].as_str().unwrap()
        )),
        brute(
            &archived,
            |d| d["status"] == "won" && (since..until).contains(&secs(&d["update_time"])),
            true,
            false
        )
    );

    for (path, r) in [
        ("/api/v2/projects", Resource::Projects),
        ("/api/v2/projects/archived", Resource::ArchivedProjects),
    ] {
        let want = listed(data.records(r));
        assert!(want.len() > 40, "{path}");
        // No sort or update filters on these endpoints: the parameters are ignored.
        let target = format!(
            "{path}?limit=6&sort_by=update_time&sort_direction=desc&updated_since=2030-01-01T00:00:00Z"
        );
        assert_eq!(client.walk_cursor(&target), want, "{path}");
        let deleted = client.walk_cursor(&format!("{path}?limit=500&status=deleted"));
        assert_eq!(
            deleted,
            ids_of(
                &data
                    .records(r)
                    .into_iter()
                    .filter(|p| p["status"] == "deleted")
                    .collect::<Vec<_>>()
            )
        );
    }
    assert_eq!(
        client.walk_cursor("/api/v2/tasks?limit=13"),
        ids_of(&data.records(Resource::Tasks))
    );
    assert_eq!(
        client.walk_cursor("/api/v2/projectTemplates?limit=2"),
        ids_of(&data.records(Resource::ProjectTemplates))
    );

    let leads = data.records(Resource::ArchivedLeads);
    assert!(leads.iter().all(|l| l["is_archived"] == true));
    let live: Vec<Value> = ids_of(&data.records(Resource::Leads));
    assert!(leads.iter().all(|l| !live.contains(&l["id"])));
    assert_eq!(
        client.walk_offset("/v1/leads/archived?limit=9"),
        ids_of(&leads)
    );
    let mut newest = ids_of(&leads);
    newest.reverse();
    assert_eq!(
        client.walk_offset("/v1/leads/archived?limit=50&sort=update_time%20DESC"),
        newest
    );
    assert_eq!(
        client.walk_offset("/v1/roles?limit=2"),
        ids_of(&data.records(Resource::Roles))
    );
    assert_eq!(
        client.walk_offset("/v1/callLogs?limit=500"),
        ids_of(&data.records(Resource::CallLogs))
    );

    let threads = data.records(Resource::MailThreads);
    let mut seen = Vec::new();
    for folder in MAIL_FOLDERS {
        let rows = client.walk_blind(&format!("/v1/mailbox/mailThreads?folder={folder}"), 7);
        assert!(!rows.is_empty(), "{folder}");
        assert!(rows.iter().all(|t| t["folders"] == json!([folder])));
        seen.extend(ids_of(&rows));
    }
    assert_eq!(seen, ids_of(&threads));

    for (path, r) in [
        ("/v1/leadSources", Resource::LeadSources),
        ("/v1/permissionSets", Resource::PermissionSets),
        ("/v1/webhooks", Resource::Webhooks),
        ("/api/v2/boards", Resource::ProjectBoards),
    ] {
        let reply = client.get(path);
        assert_eq!(reply.body["data"], json!(data.records(r)), "{path}");
    }
    // Without `type.name`: the token user's goals only; with it, everyone's of that type.
    let all_goals = data.records(Resource::Goals);
    let mine: Vec<&Value> = all_goals
        .iter()
        .filter(|g| g["assignee"] == json!({"id": 1, "type": "person"}))
        .collect();
    assert!(mine.len() < all_goals.len() && !mine.is_empty());
    let goals = client.get("/v1/goals/find");
    assert_eq!(goals.body["data"]["goals"], json!(mine));
    let won = client.get("/v1/goals/find?type.name=deals_won");
    let want: Vec<&Value> = all_goals
        .iter()
        .filter(|g| g["type"]["name"] == "deals_won")
        .collect();
    assert_eq!(won.body["data"]["goals"], json!(want));
    assert!(want.iter().any(|g| g["assignee"]["id"] != 1));
    assert!(mine.iter().any(|g| g["type"]["name"] == "revenue_forecast"));
    assert_eq!(
        client
            .get("/v1/goals/find?type.name=revenue_forecast")
            .status,
        400
    );
    assert!(client.get("/api/v2/boards").body["additional_data"].is_null());
    assert_eq!(client.get("/v1/permissionSets?app=global").ids().len(), 2);
    assert_eq!(
        client.get("/v1/leadSources").body["data"][0],
        json!({"name": "Manually created"})
    );
}

#[test]
fn archived_deals_are_other_deals() {
    let sandbox = start(500);
    let mut client = Client::new(&sandbox);
    let all = "status=open,won,lost,deleted&limit=500";
    let live = client.walk_cursor(&format!("/api/v2/deals?{all}"));
    let archived = client.walk_cursor(&format!("/api/v2/deals/archived?{all}"));
    assert_eq!((live.len(), archived.len()), (500, 50));
    assert!(archived.iter().all(|id| !live.contains(id)));
    for d in sandbox.dataset().records(Resource::ArchivedDeals) {
        assert_eq!(d["is_archived"], true);
        assert!(secs(&d["archive_time"]) <= secs(&d["update_time"]));
    }
    assert!(sandbox
        .dataset()
        .records(Resource::Deals)
        .iter()
        .all(|d| d["is_archived"] == false && d["archive_time"].is_null()));

    // Test edits work on archived deals as on deals, and never leak into /deals.
    let since = sandbox.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    sandbox.advance_clock(chrono::Duration::minutes(1));
    let touched = sandbox.touch(Resource::ArchivedDeals, &archived[0]);
    let inserted = sandbox.insert(Resource::ArchivedDeals);
    sandbox.delete(Resource::ArchivedDeals, &archived[1]);
    assert_eq!(inserted["is_archived"], true);
    let changed = client.walk_cursor(&format!(
        "/api/v2/deals/archived?sort_by=update_time&{all}&updated_since={since}"
    ));
    assert_eq!(
        changed,
        vec![
            touched["id"].clone(),
            archived[1].clone(),
            inserted["id"].clone()
        ]
    );
    assert!(!client
        .walk_cursor(&format!(
            "/api/v2/deals/archived?updated_since={since}&limit=500"
        ))
        .contains(&archived[1]));
    assert!(!client
        .walk_cursor(&format!("/api/v2/deals?{all}&updated_since={since}"))
        .contains(&inserted["id"]));
}

#[test]
fn percent_decoding_and_cursors_round_trip() {
    let (path, query) = split_target("/v1/notes?sort=update_time+DESC&x=%E2%9C%93%3D&flag");
    assert_eq!(path, "/v1/notes");
    assert_eq!(
        query,
        vec![
            ("sort".into(), "update_time DESC".into()),
            ("x".into(), "✓=".into()),
            ("flag".into(), String::new())
        ]
    );
    let cursor = encode_cursor((1_700_000_000, 41), "update_time", true);
    assert_eq!(
        decode_cursor(&cursor, "update_time", true),
        Some((1_700_000_000, 41))
    );
    assert_eq!(decode_cursor(&cursor, "update_time", false), None);
    assert_eq!(decode_cursor("bm90IGpzb24", "id", false), None);
    let cursor = encode_cursor((1_700_000_000, 7), "billing_date", false);
    assert_eq!(
        decode_cursor(&cursor, "billing_date", false),
        Some((1_700_000_000 - 1_700_000_000 % 86_400, 7))
    );
}

#[test]
fn a_hook_changes_the_data_between_two_requests() {
    let sandbox = start(300);
    let mut client = Client::new(&sandbox);
    sandbox.on_request(|world, served| {
        // After the first page of persons, the first person on it is edited.
        if served.request.path == "/api/v2/persons" && served.request.query.len() == 1 {
            let page: Value = serde_json::from_str(served.body).unwrap();
            world.touch(Resource::Persons, &page["data"][0]["id"]);
        }
    });
    let first = client.get("/api/v2/persons?limit=2");
    let id = first.body["data"][0]["id"].clone();
    let before = first.body["data"][0]["update_time"].clone();
    // The page was answered before the edit: what it served is the old record.
    assert_ne!(before, Value::Null);
    sandbox.still();
    let after = sandbox
        .dataset()
        .records(Resource::Persons)
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap();
    assert_ne!(
        after["update_time"], before,
        "the hook's edit is in the data"
    );
    assert_eq!(sandbox.requests().len(), 1);
    // Once still, requests change nothing.
    client.get("/api/v2/persons?limit=2");
    let again = sandbox.world().records(Resource::Persons);
    assert_eq!(
        again.iter().find(|p| p["id"] == id).unwrap()["update_time"],
        after["update_time"]
    );
}

#[test]
fn a_frozen_clock_moves_only_when_advanced() {
    let at: DateTime<chrono::Utc> = "2026-02-02T09:00:00Z".parse().unwrap();
    let sandbox = Sandbox::start(SandboxOptions {
        size: 10,
        frozen_clock: Some(at),
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let reply = client.get("/api/v2/persons?limit=2");
    assert_eq!(reply.header("date"), Some("Mon, 02 Feb 2026 09:00:00 GMT"));
    assert_eq!(sandbox.now(), at);
    sandbox.advance_clock(chrono::Duration::milliseconds(1_500));
    assert_eq!(sandbox.now(), at + chrono::Duration::milliseconds(1_500));
    let touched = sandbox.touch(Resource::Persons, &json!(1));
    assert_eq!(touched["update_time"], "2026-02-02T09:00:01Z");
}

#[test]
fn a_page_cap_serves_fewer_rows_than_asked_where_no_maximum_is_documented() {
    let sandbox = Sandbox::start(SandboxOptions {
        size: 260,
        burst_limit: 100_000,
        page_cap: Some(7),
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let notes = client.get("/v1/notes?limit=500&start=0");
    assert_eq!(notes.ids().len(), 7);
    assert_eq!(
        notes.body["additional_data"]["pagination"],
        json!({"start": 0, "limit": 7, "more_items_in_collection": true, "next_start": 7})
    );
    let data = sandbox.dataset();
    assert_eq!(
        client.walk_offset("/v1/notes?limit=500").len(),
        data.records(Resource::Notes).len()
    );
    assert_eq!(
        client
            .walk_blind("/v1/mailbox/mailThreads?folder=inbox", 500)
            .len(),
        client
            .walk_blind("/v1/mailbox/mailThreads?folder=inbox", 3)
            .len()
    );
    let role = data.records(Resource::Roles)[0]["id"].clone();
    let assignments = client.get(&format!("/v1/roles/{role}/assignments?limit=500"));
    assert!(assignments.ids().len() <= 7);
    // Documented maximums are the server's only caps there.
    assert_eq!(client.get("/v1/files?limit=100").ids().len(), 100);
    assert_eq!(client.get("/v1/callLogs?limit=50").ids().len(), 26);
    assert_eq!(client.get("/api/v2/persons?limit=500").ids().len(), 260);
}

#[test]
fn lead_times_can_carry_milliseconds_that_filters_ignore() {
    let sandbox = Sandbox::start(SandboxOptions {
        size: 120,
        lead_time_millis: true,
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let leads = client.walk_offset_rows("/v1/leads?limit=500&sort=update_time%20ASC");
    assert_eq!(leads.len(), 120);
    let millis = |l: &Value| l["update_time"].as_str().unwrap()[20..23].to_string();
    assert!(leads
        .iter()
        .all(|l| l["update_time"].as_str().unwrap().len() == 24));
    assert!(leads.iter().any(|l| millis(l) != "000"));
    // The order and the filter go by the whole second.
    let seconds: Vec<i64> = leads.iter().map(|l| secs(&l["update_time"])).collect();
    assert!(seconds.windows(2).all(|w| w[0] <= w[1]));
    let mid = &leads[60]["update_time"];
    let since = format!("{}Z", &mid.as_str().unwrap()[..19]);
    let from = client.walk_offset(&format!("/v1/leads?limit=500&updated_since={since}"));
    let want = seconds.iter().filter(|s| **s >= secs(mid)).count();
    assert_eq!(from.len(), want);
    let archived = client.get("/v1/leads/archived?limit=5");
    assert_eq!(
        archived.body["data"][0]["update_time"]
            .as_str()
            .unwrap()
            .len(),
        24
    );
}

#[test]
fn a_v2_page_cap_serves_fewer_rows_than_asked() {
    let sandbox = Sandbox::start(SandboxOptions {
        size: 40,
        v2_page_cap: Some(6),
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    let page = client.get("/api/v2/persons?limit=500");
    assert_eq!(page.ids().len(), 6);
    assert!(page.body["additional_data"]["next_cursor"].is_string());
    assert_eq!(client.walk_cursor("/api/v2/persons?limit=500").len(), 40);
    // v1 lists are not its business.
    assert_eq!(client.get("/v1/notes?limit=500").ids().len(), 40);
}
