//! Child endpoints: what they serve matches the dataset's children, edits reach the changelog,
//! parameters are checked and tokens charged like Pipedrive's.

use super::*;

#[test]
fn child_endpoints_serve_what_children_says() {
    let sandbox = start(300);
    let mut client = Client::new(&sandbox);
    let data = sandbox.dataset();
    let deals: Vec<Value> = ids_of(&data.records(Resource::Deals));
    let archived: Vec<Value> = ids_of(&data.records(Resource::ArchivedDeals));

    for id in deals.iter().take(20).chain(&archived[..3]) {
        let products = data.children(Resource::DealProducts, id);
        assert_eq!(
            client.walk_cursor_rows(&format!("/api/v2/deals/{id}/products?limit=1")),
            products
        );
        assert_eq!(
            client.walk_cursor_rows(&format!("/v1/deals/{id}/changelog?limit=1")),
            data.children(Resource::DealChangelog, id)
        );
    }
    // Batches: every product of every deal named, once, in the order asked for.
    let batch: Vec<Value> = deals[..99].iter().chain(&archived[..1]).cloned().collect();
    let list = batch
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(",");
    for (r, path, sort) in [
        (Resource::DealProducts, "products", "update_time"),
        (Resource::DealProducts, "products", "deal_id"),
        (Resource::DealProducts, "products", "order_nr"),
        (Resource::DealInstallments, "installments", "billing_date"),
        (Resource::DealInstallments, "installments", "deal_id"),
    ] {
        let mut want: Vec<Value> = batch.iter().flat_map(|d| data.children(r, d)).collect();
        let value = |v: &Value| match &v[sort] {
            Value::String(s) => s.clone(),
            other => format!("{:020}", other.as_u64().unwrap()),
        };
        want.sort_by_key(|v| (value(v), v["id"].as_u64()));
        want.reverse();
        assert!(want.len() > 20, "{path}");
        let got = client.walk_cursor_rows(&format!(
            "/api/v2/deals/{path}?deal_ids={list}&limit=7&sort_by={sort}&sort_direction=desc"
        ));
        assert_eq!(ids_of(&got), ids_of(&want), "{path} by {sort}");
        let mut by_id = ids_of(&want);
        by_id.sort_by_key(Value::as_u64);
        assert_eq!(
            client.walk_cursor(&format!("/api/v2/deals/{path}?deal_ids={list}&limit=11")),
            by_id
        );
    }

    for product in ids_of(&data.records(Resource::Products)).iter().take(20) {
        assert_eq!(
            client.walk_cursor_rows(&format!("/api/v2/products/{product}/variations?limit=1")),
            data.children(Resource::ProductVariations, product)
        );
    }
    for role in ids_of(&data.records(Resource::Roles)) {
        assert_eq!(
            client.walk_offset_rows(&format!("/v1/roles/{role}/assignments?limit=1")),
            data.children(Resource::RoleAssignments, &role)
        );
    }
    for set in ids_of(&data.records(Resource::PermissionSets)) {
        let set = set.as_str().unwrap().to_string();
        assert_eq!(
            client.walk_blind(&format!("/v1/permissionSets/{set}/assignments?x=1"), 1),
            data.children(Resource::PermissionSetAssignments, &json!(set))
        );
    }
    for thread in ids_of(&data.records(Resource::MailThreads)) {
        let reply = client.get(&format!("/v1/mailbox/mailThreads/{thread}/mailMessages"));
        assert_eq!(
            reply.body["data"],
            json!(data.children(Resource::MailMessages, &thread))
        );
    }
    for note in ids_of(&data.records(Resource::Notes)).iter().take(30) {
        assert_eq!(
            client.walk_offset_rows(&format!("/v1/notes/{note}/comments?limit=1")),
            data.children(Resource::NoteComments, note)
        );
    }
    for board in ids_of(&data.records(Resource::ProjectBoards)) {
        let reply = client.get(&format!("/api/v2/phases?board_id={board}"));
        assert_eq!(
            reply.body,
            json!({"success": true, "data": data.children(Resource::ProjectPhases, &board), "additional_data": null})
        );
    }
    for user in ids_of(&data.records(Resource::Users)) {
        let reply = client.get(&format!("/v1/users/{user}/permissions"));
        assert_eq!(
            vec![reply.body["data"].clone()],
            data.children(Resource::UserPermissions, &user)
        );
    }

    for missing in [
        "/v1/deals/301/changelog",
        "/api/v2/deals/0/products",
        "/api/v2/products/999/variations",
        "/v1/notes/301/comments",
        "/v1/users/13/permissions",
        "/v1/roles/6/assignments",
        "/v1/permissionSets/nope/assignments",
        "/v1/mailbox/mailThreads/31/mailMessages",
    ] {
        let reply = client.get(missing);
        assert_eq!(reply.status, 404, "{missing}");
        assert_eq!(reply.body["success"], false);
    }
    assert_eq!(client.get("/v1/deals/abc/changelog").status, 400);
}

#[test]
fn a_touched_deal_logs_the_change() {
    let sandbox = start(50);
    let mut client = Client::new(&sandbox);
    let before = sandbox
        .dataset()
        .children(Resource::DealChangelog, &json!(5));
    let deal = &sandbox.dataset().records(Resource::Deals)[4];
    let last = before.last().unwrap()["time"]
        .as_str()
        .unwrap()
        .replace(' ', "T")
        + "Z";
    assert_eq!(last, deal["update_time"]);
    assert!(before.iter().all(|row| row.get("deal_id").is_none()));
    sandbox.advance_clock(chrono::Duration::minutes(3));
    let touched = sandbox.touch(Resource::Deals, &json!(5));
    let rows = client.walk_cursor_rows("/v1/deals/5/changelog?limit=500");
    assert_eq!(rows.len(), before.len() + 1);
    let row = rows.last().unwrap();
    assert_eq!(row["field_key"], "title");
    assert_eq!(row["new_value"], touched["title"]);
    assert_eq!(row["old_value"], deal["title"]);
    assert_eq!(
        row["time"],
        sandbox.now().format("%Y-%m-%d %H:%M:%S").to_string()
    );
    // Children derived from the deal's original times do not move with the edit.
    assert_eq!(
        sandbox
            .dataset()
            .children(Resource::DealProducts, &json!(5)),
        client.walk_cursor_rows("/api/v2/deals/5/products?limit=500")
    );
}

#[test]
fn new_endpoints_validate_their_parameters() {
    let sandbox = start(300);
    let mut client = Client::new(&sandbox);
    let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let hundred = hundred.join(",");
    for path in ["/api/v2/deals/products", "/api/v2/deals/installments"] {
        for bad in [
            String::new(),
            "deal_ids=".into(),
            "deal_ids=1,x".into(),
            format!("deal_ids={hundred},101"),
            "deal_ids=1&sort_by=name".into(),
        ] {
            let reply = client.get(&format!("{path}?{bad}"));
            assert_eq!(reply.status, 400, "{path}?{bad}");
            assert_eq!(reply.body["error_info"], ERROR_INFO);
        }
        assert_eq!(
            client.get(&format!("{path}?deal_ids={hundred}")).status,
            200
        );
    }
    assert_eq!(
        client
            .get("/api/v2/deals/1/products?sort_by=deal_id")
            .status,
        400
    );
    assert_eq!(
        client
            .get("/api/v2/deals/installments?deal_ids=1&sort_by=order_nr")
            .status,
        400
    );
    for bad in ["", "?folder=spam", "?folder="] {
        assert_eq!(
            client.get(&format!("/v1/mailbox/mailThreads{bad}")).status,
            400
        );
    }
    assert_eq!(client.get("/api/v2/phases").status, 400);
    assert_eq!(client.get("/api/v2/phases?board_id=x").status, 400);
    assert_eq!(client.get("/api/v2/projects?status=archived").status, 400);
    assert_eq!(client.get("/v1/deals/1/changelog?cursor=zzz").status, 400);

    let many = start(1000);
    let mut other = Client::new(&many);
    let capped = other.get("/v1/callLogs?limit=500");
    assert_eq!(capped.ids().len(), 50);
    let pagination = &capped.body["additional_data"]["pagination"];
    assert_eq!(pagination["limit"], 50);
    assert_eq!(pagination["more_items_in_collection"], true);
    assert!(pagination.get("next_start").is_none());
    assert_eq!(other.get("/v1/callLogs").ids().len(), 50);

    // `/v1/leads/archived` has no `updated_since`: the parameter changes nothing.
    assert_eq!(
        client
            .get("/v1/leads/archived?updated_since=2030-01-01T00:00:00Z")
            .body,
        client.get("/v1/leads/archived").body
    );
}

#[test]
fn new_endpoints_cost_their_tokens() {
    let sandbox = start(30);
    let mut client = Client::new(&sandbox);
    let targets = [
        ("/api/v2/deals/archived", 20),
        ("/v1/leads/archived", 40),
        ("/api/v2/deals/products?deal_ids=1", 10),
        ("/api/v2/deals/1/products", 10),
        ("/api/v2/deals/installments?deal_ids=1", 10),
        ("/v1/deals/1/changelog", 20),
        ("/api/v2/products/1/variations", 10),
        ("/v1/leadSources", 2),
        ("/v1/goals/find", 20),
        ("/v1/roles", 20),
        ("/v1/roles/1/assignments", 20),
        ("/v1/permissionSets", 20),
        ("/v1/callLogs", 20),
        ("/v1/mailbox/mailThreads?folder=inbox", 20),
        ("/v1/mailbox/mailThreads/1/mailMessages", 20),
        ("/api/v2/projects", 10),
        ("/api/v2/projects/archived", 10),
        ("/api/v2/tasks", 10),
        ("/api/v2/boards", 5),
        ("/api/v2/phases?board_id=1", 5),
        ("/api/v2/projectTemplates", 10),
        ("/v1/notes/1/comments", 20),
        ("/v1/webhooks", 10),
        ("/v1/users/1/permissions", 20),
    ];
    for (target, _) in targets {
        assert_eq!(client.get(target).status, 200, "{target}");
    }
    let costs: Vec<u64> = sandbox.requests().iter().map(|e| e.token_cost).collect();
    assert_eq!(costs, targets.map(|(_, cost)| cost));
}

#[test]
fn single_records_of_parents_are_served_until_they_are_gone() {
    let sandbox = start(60);
    let mut client = Client::new(&sandbox);
    let data = sandbox.dataset();
    for (r, path) in [
        (Resource::Deals, "/api/v2/deals"),
        (Resource::ArchivedDeals, "/api/v2/deals"),
        (Resource::Products, "/api/v2/products"),
        (Resource::ProjectBoards, "/api/v2/boards"),
        (Resource::Users, "/v1/users"),
        (Resource::Notes, "/v1/notes"),
        (Resource::Roles, "/v1/roles"),
        (Resource::PermissionSets, "/v1/permissionSets"),
        (Resource::MailThreads, "/v1/mailbox/mailThreads"),
    ] {
        let record = data.records(r)[1].clone();
        let id = record["id"]
            .as_str()
            .map_or(record["id"].to_string(), str::to_string);
        let reply = client.get(&format!("{path}/{id}"));
        assert_eq!(reply.status, 200, "{path}/{id}: {}", reply.body);
        assert_eq!(
            reply.body,
            json!({"success": true, "data": record}),
            "{path}"
        );
        let cost = sandbox.requests().last().unwrap().token_cost;
        assert_eq!(cost, if path.starts_with("/v1/") { 2 } else { 1 }, "{path}");
    }
    let unknown = client.get("/api/v2/products/99999");
    assert_eq!(
        (unknown.status, unknown.body["error"].as_str()),
        (404, Some("Product not found"))
    );
    assert_eq!(unknown.body["error_info"], ERROR_INFO);
    assert_eq!(client.get("/api/v2/products/abc").status, 400);

    // A product deleted leaves its list: it and its variations answer 404 from then on.
    let product = data.records(Resource::Products)[3]["id"].clone();
    sandbox.delete(Resource::Products, &product);
    for path in [
        format!("/api/v2/products/{product}"),
        format!("/api/v2/products/{product}/variations"),
    ] {
        let reply = client.get(&path);
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.body["success"], false);
    }
    // A deleted deal stays listed (`status=deleted`), and so readable.
    let deal = data.records(Resource::Deals)[2]["id"].clone();
    sandbox.delete(Resource::Deals, &deal);
    let reply = client.get(&format!("/api/v2/deals/{deal}"));
    assert_eq!(reply.body["data"]["status"], "deleted");
}
