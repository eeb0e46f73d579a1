//! The Webhooks API: create, list and delete, the settings' checks, the request bodies it
//! accepts, the per-user cap, and the token, deny and fault rules for writes.

use super::*;

fn post_webhook(client: &mut Client, body: &Value) -> Reply {
    client.send(
        "POST",
        "/v1/webhooks",
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

fn hook(url: &str) -> Value {
    json!({
        "subscription_url": url,
        "event_action": "*",
        "event_object": "deal",
        "name": "Connector deals 🔔",
    })
}

#[test]
fn webhooks_are_created_listed_and_deleted() {
    let sandbox = start(50);
    let mut client = Client::new(&sandbox);
    let before = client.get("/v1/webhooks");
    assert_eq!(before.body["data"].as_array().unwrap().len(), 3);

    let mut body = hook("https://hooks.example.com/pipedrive?tenant=7");
    body["http_auth_user"] = json!("receiver");
    body["http_auth_password"] = json!("s3cret-pässword");
    body["version"] = json!("1.0");
    body["unknown_field"] = json!("ignored");
    let created = post_webhook(&mut client, &body);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["success"], true);
    assert_eq!(created.body["status"], "ok");
    let data = &created.body["data"];
    assert_eq!(data["id"], 4);
    assert_eq!(data["subscription_url"], body["subscription_url"]);
    assert_eq!(data["event_action"], "*");
    assert_eq!(data["event_object"], "deal");
    assert_eq!(data["name"], "Connector deals 🔔");
    assert_eq!(data["version"], "1.0");
    assert_eq!(data["user_id"], 1, "the token's user by default");
    assert_eq!(data["owner_id"], 1);
    assert_eq!(data["is_active"], 1);
    assert_eq!(data["type"], "general");
    assert_eq!(data["http_auth_user"], "receiver");
    assert_eq!(data["http_auth_password"], "********");
    assert_eq!(data["last_delivery_time"], Value::Null);
    assert_eq!(data["last_http_status"], Value::Null);
    assert!(data.get("unknown_field").is_none());
    let add_time = data["add_time"].as_str().unwrap();
    assert!(secs(&json!(add_time)).abs_diff(sandbox.now().timestamp()) <= 2);
    // Shaped like the generated webhooks, field for field.
    let generated = &before.body["data"][0];
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(data), keys(generated));

    let listed = client.get("/v1/webhooks");
    let rows = listed.body["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[3], data);
    assert_eq!(sandbox.webhooks(), rows);
    assert!(!listed.body.to_string().contains("s3cret"));
    assert!(!sandbox
        .webhooks()
        .iter()
        .any(|w| w.to_string().contains("s3cret")));

    // Defaults: version 2.0, no credentials.
    let plain = post_webhook(&mut client, &hook("http://127.0.0.1:9/in"));
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert_eq!(plain.body["data"]["id"], 5);
    assert_eq!(plain.body["data"]["version"], "2.0");
    assert_eq!(plain.body["data"]["http_auth_user"], Value::Null);
    assert_eq!(plain.body["data"]["http_auth_password"], Value::Null);

    let deleted = client.request("DELETE", "/v1/webhooks/4");
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body, json!({"success": true, "status": "ok"}));
    let again = client.request("DELETE", "/v1/webhooks/4");
    assert_eq!(again.status, 404);
    assert_eq!(again.body["success"], false);
    assert_eq!(again.body["error_info"], ERROR_INFO);
    assert_eq!(client.request("DELETE", "/v1/webhooks/99").status, 404);
    assert_eq!(client.request("DELETE", "/v1/webhooks/x").status, 400);
    // Generated webhooks can be deleted too.
    assert_eq!(client.request("DELETE", "/api/v1/webhooks/2").status, 200);
    let ids = client.get("/v1/webhooks").ids();
    assert_eq!(ids, vec![json!(1), json!(3), json!(5)]);
    assert_eq!(ids_of(&sandbox.webhooks()), ids);

    let log = sandbox.requests();
    let costs: Vec<(&str, u16, u64)> = log
        .iter()
        .map(|e| (e.method.as_str(), e.status, e.token_cost))
        .collect();
    assert_eq!(
        costs,
        [
            ("GET", 200, 10),
            ("POST", 201, 10),
            ("GET", 200, 10),
            ("POST", 201, 10),
            ("DELETE", 200, 6),
            ("DELETE", 404, 0),
            ("DELETE", 404, 0),
            ("DELETE", 400, 6),
            ("DELETE", 200, 6),
            ("GET", 200, 10),
        ]
    );
}

#[test]
fn webhook_settings_are_validated() {
    let sandbox = start(50);
    let own_url = format!("{}/hooks", sandbox.base_url());
    let mut client = Client::new(&sandbox);
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({}),
            &["subscription_url", "event_action", "event_object", "name"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal"}),
            &["name"],
        ),
        (
            json!({"subscription_url": "", "event_action": "*", "event_object": "deal", "name": "n"}),
            &["subscription_url"],
        ),
        (
            json!({"subscription_url": 7, "event_action": "*", "event_object": "deal", "name": "n"}),
            &["subscription_url"],
        ),
        (hook("/relative/path"), &["subscription_url"]),
        (hook("ftp://files.example.com/in"), &["subscription_url"]),
        (
            hook("https://user:pw@hooks.example.com/in"),
            &["subscription_url"],
        ),
        (
            hook("https://api.pipedrive.com/v1/deals"),
            &["subscription_url"],
        ),
        (
            hook("https://acme.pipedrive.com/api/v2/deals"),
            &["subscription_url"],
        ),
        (hook(&own_url), &["subscription_url"]),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "updated", "event_object": "deal", "name": "n"}),
            &["event_action"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deals", "name": "n"}),
            &["event_object"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "activityType", "name": "n"}),
            &["event_object"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "version": "3.0"}),
            &["version"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "version": 2}),
            &["version"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "user_id": 999}),
            &["user_id"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "user_id": "two"}),
            &["user_id"],
        ),
        (
            json!({"subscription_url": "https://x.example/h", "event_action": "*", "event_object": "deal", "name": "n", "http_auth_user": ["a"]}),
            &["http_auth_user"],
        ),
    ];
    for (body, fields) in &cases {
        let reply = post_webhook(&mut client, body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.body["success"], false);
        assert_eq!(reply.body["status"], "error");
        assert_eq!(reply.body["error_info"], ERROR_INFO);
        assert!(reply.body["error"]
            .as_str()
            .unwrap()
            .starts_with("Validation failed"));
        let mut named: Vec<&str> = reply.body["errors"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        named.sort_unstable();
        let mut expected = fields.to_vec();
        expected.sort_unstable();
        assert_eq!(named, expected, "{body}");
    }
    // Bodies that are not a JSON object, or are not declared as JSON or a form.
    let valid = hook("https://x.example/h").to_string();
    let raw: [(Option<&str>, &[u8]); 4] = [
        (Some("application/json"), b"{\"name\": "),
        (Some("application/json"), b"[1, 2]"),
        (Some("text/plain"), valid.as_bytes()),
        (None, valid.as_bytes()),
    ];
    for (content_type, body) in raw {
        let reply = client.send("POST", "/v1/webhooks", content_type, body);
        assert_eq!(reply.status, 400, "{content_type:?}: {}", reply.body);
        assert!(reply.body["errors"].is_object());
    }
    // Every 2026 entity and the wildcards are accepted.
    for object in [
        "deal_installment",
        "deal_product",
        "board",
        "phase",
        "project",
        "task",
        "*",
    ] {
        let mut body = hook("https://x.example/h");
        body["event_object"] = json!(object);
        body["event_action"] = json!("delete");
        assert_eq!(post_webhook(&mut client, &body).status, 201, "{object}");
    }
    assert_eq!(sandbox.webhooks().len(), 3 + 7);
}

#[test]
fn webhooks_come_as_forms_and_chunks_and_not_too_big() {
    let sandbox = start(50);
    let mut client = Client::new(&sandbox);
    let form = "subscription_url=https%3A%2F%2Fhooks.example.com%2Fin%3Fa%3D1&event_action=change\
                &event_object=person&name=Form+hook+%E2%9C%93&user_id=2&http_auth_user=u&http_auth_password=p";
    let reply = client.send(
        "POST",
        "/v1/webhooks",
        Some("application/x-www-form-urlencoded"),
        form.as_bytes(),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(data["subscription_url"], "https://hooks.example.com/in?a=1");
    assert_eq!(data["name"], "Form hook ✓");
    assert_eq!(data["user_id"], 2);
    assert_eq!(data["http_auth_password"], "********");

    // A chunked JSON body, sent by hand.
    let body = hook("https://hooks.example.com/chunked").to_string();
    let (a, b) = body.split_at(10);
    let request = format!(
        "POST /v1/webhooks HTTP/1.1\r\nHost: sandbox\r\nx-api-token: sandbox-api-key\r\n\
         Content-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let mut stream = TcpStream::connect(sandbox.addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201 Created"), "{answer}");

    // A 2 MB body is read past and refused; the connection stays usable.
    let mut huge = hook("https://hooks.example.com/huge");
    huge["name"] = json!("x".repeat(2 << 20));
    let reply = post_webhook(&mut client, &huge);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body["success"], false);
    assert_eq!(client.get("/v1/webhooks").status, 200);
    assert_eq!(sandbox.webhooks().len(), 5);
}

#[test]
fn forty_webhooks_per_user() {
    let sandbox = start(50);
    let mut client = Client::new(&sandbox);
    // The three generated webhooks belong to user 1.
    for n in 4..=40 {
        let reply = post_webhook(&mut client, &hook(&format!("https://x.example/{n}")));
        assert_eq!(reply.status, 201, "{n}: {}", reply.body);
    }
    let full = post_webhook(&mut client, &hook("https://x.example/41"));
    assert_eq!(full.status, 422);
    assert_eq!(full.body["success"], false);
    assert_eq!(full.body["error"], "Webhooks limit reached");
    assert_eq!(sandbox.webhooks().len(), 40);
    // Another user has places of their own, and a deletion frees one.
    let mut other = hook("https://x.example/other");
    other["user_id"] = json!(2);
    assert_eq!(post_webhook(&mut client, &other).status, 201);
    assert_eq!(client.request("DELETE", "/v1/webhooks/7").status, 200);
    assert_eq!(
        post_webhook(&mut client, &hook("https://x.example/again")).status,
        201
    );
    assert_eq!(
        post_webhook(&mut client, &hook("https://x.example/no")).status,
        422
    );
    // A refused creation still spends its tokens, like any answered request.
    let log = sandbox.requests();
    assert!(log
        .iter()
        .filter(|e| e.status == 422)
        .all(|e| e.token_cost == 10));
}

#[test]
fn webhook_writes_meet_the_token_deny_and_fault_rules() {
    let sandbox = Sandbox::start(SandboxOptions {
        size: 50,
        deny: vec![("/v1/webhooks".into(), 403)],
        faults: Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        },
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut client = Client::new(&sandbox);
    // A token without the admin scope is refused writes as well as reads.
    assert_eq!(
        post_webhook(&mut client, &hook("https://x.example/h")).status,
        403
    );
    assert_eq!(client.request("DELETE", "/v1/webhooks/1").status, 403);
    client.token = Some("wrong".into());
    assert_eq!(
        post_webhook(&mut client, &hook("https://x.example/h")).status,
        401
    );
    assert_eq!(sandbox.webhooks().len(), 3);

    // Faults hit GETs only, so a write is answered for real.
    let sandbox = faulty(Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    });
    let mut client = Client::new(&sandbox);
    assert_eq!(
        post_webhook(&mut client, &hook("https://x.example/h")).status,
        201
    );
    assert_eq!(client.request("DELETE", "/v1/webhooks/4").status, 200);
    assert!(client.get("/v1/webhooks").status >= 500);
    assert!(sandbox.requests()[..2].iter().all(|e| e.fault.is_none()));
}

/// Every property a listed webhook has matches the JSON type the connector's schema allows.
#[test]
fn created_webhooks_fit_the_connector_schema() {
    // The connector's schema, read from the workspace root: the one file of the connector the
    // sandbox's tests look at, as the contract between what it serves and what is expected.
    let schema: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/webhooks.json"
    )))
    .unwrap();
    let sandbox = start(50);
    let mut client = Client::new(&sandbox);
    let mut full = hook("https://x.example/h");
    full["http_auth_user"] = json!("u");
    full["http_auth_password"] = json!("p");
    post_webhook(&mut client, &full);
    post_webhook(&mut client, &hook("https://x.example/plain"));
    let rows = client.get("/v1/webhooks").body["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 5);
    let properties = schema["properties"].as_object().unwrap();
    for row in &rows {
        for (name, spec) in properties {
            let value = &row[name];
            let kind = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let allowed: Vec<&str> = match &spec["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => unreachable!("{name}"),
            };
            assert!(allowed.contains(&kind), "{name}: {value} in {row}");
        }
    }
}
