//! The legacy routes for the benchmark's Airbyte peer (`server/legacy.rs`): served only to the
//! `api_token` query parameter, and holding exactly the records the v2 routes hold.

use super::*;

const SINCE: &str = "since_timestamp=2020-01-01+00:00:00";

/// A client that authenticates the v1 way, with the key in the query, as the peer does.
fn peer(sandbox: &Sandbox) -> Client {
    let mut client = Client::new(sandbox);
    client.token = None;
    client
}

fn with_key(target: &str) -> String {
    let sep = if target.contains('?') { '&' } else { '?' };
    format!("{target}{sep}api_token=sandbox-api-key")
}

fn v1_secs(v: &Value) -> i64 {
    chrono::NaiveDateTime::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp()
}

#[test]
fn legacy_routes_answer_only_the_key_in_the_query() {
    let sandbox = start(30);
    let legacy = [
        format!("/v1/recents?{SINCE}"),
        "/v1/organizations?limit=5".to_string(),
        "/v1/dealFields?limit=5".to_string(),
        "/api/v1/activityFields?limit=5".to_string(),
    ];
    // Our connector's way, the header: the paths stay unknown, as they were before.
    let mut client = Client::new(&sandbox);
    for target in &legacy {
        let reply = client.get(target);
        assert_eq!(reply.status, 404, "{target}: {}", reply.body);
    }
    // The peer's way, the query parameter: served.
    let mut client = peer(&sandbox);
    for target in &legacy {
        let reply = client.get(&with_key(target));
        assert_eq!(reply.status, 200, "{target}: {}", reply.body);
        assert_eq!(reply.body["success"], true);
    }
    // The query parameter is v1's: any v1 path takes it, v2 does not, and a wrong key is refused.
    assert_eq!(client.get(&with_key("/v1/currencies")).status, 200);
    assert_eq!(client.get(&with_key("/api/v2/deals")).status, 401);
    let reply = client.get(&format!("/v1/recents?{SINCE}&api_token=wrong"));
    assert_eq!(reply.status, 401);
    let log = sandbox.requests();
    assert!(log[..legacy.len()]
        .iter()
        .all(|e| e.authorized && e.status == 404 && e.token_cost == 0));
    assert!(log[legacy.len()..2 * legacy.len()]
        .iter()
        .all(|e| e.authorized && e.status == 200 && e.token_cost == 20));
}

#[test]
fn recents_list_every_record_of_a_type_oldest_change_first() {
    let sandbox = start(640);
    let mut client = peer(&sandbox);
    let types = [
        ("activity", Resource::Activities),
        ("activityType", Resource::ActivityTypes),
        ("deal", Resource::Deals),
        ("file", Resource::Files),
        ("filter", Resource::Filters),
        ("note", Resource::Notes),
        ("person", Resource::Persons),
        ("organization", Resource::Organizations),
        ("pipeline", Resource::Pipelines),
        ("product", Resource::Products),
        ("stage", Resource::Stages),
        ("user", Resource::Users),
    ];
    for (item, r) in types {
        // Deals whatever their status: `records` lists deleted deals too.
        let records = sandbox.dataset().records(r);
        let rows = client.walk_offset_rows(&with_key(&format!(
            "/v1/recents?{SINCE}&items={item}&limit=97"
        )));
        assert_eq!(rows.len(), records.len(), "{item}");
        assert!(rows.iter().all(|row| row["item"] == item), "{item}");
        let mut got: Vec<Value> = ids_of(&rows);
        let mut want = ids_of(&records);
        got.sort_by_key(|id| id.as_u64());
        want.sort_by_key(|id| id.as_u64());
        assert_eq!(got, want, "{item}");
        // Users come in a one-element list (the peer's selector reads them so).
        let record = |row: &Value| {
            if r == Resource::Users {
                assert_eq!(row["data"].as_array().map(Vec::len), Some(1));
                row["data"][0].clone()
            } else {
                row["data"].clone()
            }
        };
        let field = if r == Resource::Users {
            "modified"
        } else {
            "update_time"
        };
        let times: Vec<i64> = rows
            .iter()
            .map(|row| {
                let rec = record(row);
                assert_eq!(rec["id"], row["id"], "{item}");
                match &rec[field] {
                    Value::Null => v1_secs(&rec["add_time"]),
                    t => v1_secs(t),
                }
            })
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{item}: oldest first"
        );
    }

    // `since_timestamp` is inclusive, pages end with their last time.
    let persons = sandbox.dataset().records(Resource::Persons);
    let since = secs(&persons[300]["update_time"]);
    let stamp = DateTime::<Utc>::from_timestamp(since, 0)
        .unwrap()
        .format("%Y-%m-%d+%H:%M:%S");
    let target = with_key(&format!(
        "/v1/recents?since_timestamp={stamp}&items=person&limit=500"
    ));
    let reply = client.get(&target);
    let want = brute(&persons, |p| secs(&p["update_time"]) >= since, true, false);
    assert_eq!(reply.ids(), want);
    let extra = &reply.body["additional_data"];
    let last =
        reply.body["data"].as_array().unwrap().last().unwrap()["data"]["update_time"].clone();
    assert_eq!(extra["last_timestamp_on_page"], last);
    assert_eq!(extra["pagination"]["more_items_in_collection"], false);
    assert!(extra["pagination"].get("next_start").is_none());

    // Several types merge by time; every page is a slice of the one order.
    let rows = client.walk_offset_rows(&with_key(&format!(
        "/v1/recents?{SINCE}&items=stage,deal,user&limit=33"
    )));
    let count = |r| sandbox.dataset().records(r).len();
    assert_eq!(
        rows.len(),
        count(Resource::Stages) + count(Resource::Deals) + count(Resource::Users)
    );
    let times: Vec<i64> = rows
        .iter()
        .map(|row| match row["item"].as_str().unwrap() {
            "user" => v1_secs(&row["data"][0]["modified"]),
            _ => v1_secs(&row["data"]["update_time"]),
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let all = client.walk_offset_rows(&with_key(&format!("/v1/recents?{SINCE}&limit=500")));
    let every: usize = types.iter().map(|(_, r)| count(*r)).sum();
    assert_eq!(all.len(), every);

    for bad in [
        "/v1/recents?items=deal",
        "/v1/recents?since_timestamp=2020-01-01T00:00:00Z",
        "/v1/recents?since_timestamp=2020-01-01+00:00:00&items=lead",
        "/v1/recents?since_timestamp=2020-01-01+00:00:00&limit=0",
    ] {
        assert_eq!(client.get(&with_key(bad)).status, 400, "{bad}");
    }
}

#[test]
fn legacy_records_are_the_v2_records_in_v1_shape() {
    let sandbox = start(120);
    let mut client = peer(&sandbox);
    let v2 = sandbox.dataset().records(Resource::Deals);
    let rows = client.walk_offset_rows(&with_key(&format!(
        "/v1/recents?{SINCE}&items=deal&limit=500"
    )));
    for row in rows {
        let deal = &row["data"];
        let twin = v2.iter().find(|d| d["id"] == deal["id"]).unwrap();
        assert_eq!(deal["title"], twin["title"]);
        assert_eq!(deal["user_id"], twin["owner_id"]);
        assert!(deal.get("owner_id").is_none() && deal.get("custom_fields").is_none());
        assert_eq!(deal["deleted"], twin["status"] == "deleted");
        assert_eq!(v1_secs(&deal["update_time"]), secs(&twin["update_time"]));
        // Custom fields flat at the top level, monetary parts under suffixed keys.
        for (key, value) in twin["custom_fields"].as_object().unwrap() {
            match value {
                Value::Object(parts) if parts.contains_key("currency") => {
                    assert_eq!(deal[key], parts["value"]);
                    assert_eq!(deal[format!("{key}_currency")], parts["currency"]);
                }
                Value::Object(_) | Value::Array(_) => assert!(deal.get(key).is_some()),
                Value::Number(n) if deal[key].is_string() => {
                    assert_eq!(deal[key], n.to_string(), "option ids as strings")
                }
                v => assert_eq!(&deal[key], v),
            }
        }
    }
    let persons = client.walk_offset_rows(&with_key(&format!(
        "/v1/recents?{SINCE}&items=person&limit=500"
    )));
    let person = &persons[0]["data"];
    assert!(person["owner_id"]["id"].is_u64() && person["owner_id"]["name"].is_string());
    assert!(person["email"].is_array() && person["visible_to"].is_string());

    // Organizations: offset pages of the v2 records.
    let orgs = client.walk_offset_rows(&with_key("/v1/organizations?limit=50"));
    assert_eq!(
        ids_of(&orgs),
        ids_of(&sandbox.dataset().records(Resource::Organizations))
    );
    assert!(orgs.iter().all(|o| o["owner_id"].is_object()));

    // Field lists: the v2 definitions, same keys in the same order, in v1 shape.
    let mut header = Client::new(&sandbox);
    for (v1, v2) in [
        ("dealFields", "dealFields"),
        ("personFields", "personFields"),
        ("organizationFields", "organizationFields"),
        ("productFields", "productFields"),
        ("activityFields", "activityFields"),
    ] {
        let old = client.walk_offset_rows(&with_key(&format!("/v1/{v1}?limit=7")));
        let new = header.walk_cursor_rows(&format!("/api/v2/{v2}?limit=500"));
        let keys: Vec<&Value> = old.iter().map(|f| &f["key"]).collect();
        let codes: Vec<&Value> = new.iter().map(|f| &f["field_code"]).collect();
        assert_eq!(keys, codes, "{v1}");
        assert!(old
            .iter()
            .all(|f| f["name"].is_string() && f["id"].is_u64()));
    }
}
