//! Field-definitions lists page and cost like their endpoints.

use super::*;

#[test]
fn field_lists_page_and_cost_like_their_endpoints() {
    let sandbox = start(60);
    let mut client = Client::new(&sandbox);
    let data = sandbox.dataset();
    for (path, r) in [
        ("/api/v2/dealFields", Resource::DealFields),
        ("/api/v2/personFields", Resource::PersonFields),
        ("/api/v2/organizationFields", Resource::OrganizationFields),
        ("/api/v2/productFields", Resource::ProductFields),
        ("/api/v2/activityFields", Resource::ActivityFields),
        ("/api/v2/projectFields", Resource::ProjectFields),
    ] {
        let all = data.records(r);
        assert!(all.len() > 7, "{path}");
        assert_eq!(
            client.walk_cursor_rows(&format!("{path}?limit=7")),
            all,
            "{path}"
        );
        let one = client.get(&format!("{path}?limit=1000"));
        assert_eq!(one.body["data"], json!(all));
        assert!(one.body["additional_data"]["next_cursor"].is_null());
    }
    let leads = data.records(Resource::LeadFields);
    assert_eq!(client.walk_offset_rows("/v1/leadFields?limit=5"), leads);
    let notes = client.get("/v1/noteFields?limit=1");
    assert_eq!(
        notes.body["data"],
        json!(data.records(Resource::NoteFields))
    );
    let costs: Vec<u64> = sandbox.requests().iter().map(|e| e.token_cost).collect();
    assert_eq!(costs.last(), Some(&20));
    assert!(sandbox
        .requests()
        .iter()
        .all(|e| e.token_cost == if e.path.starts_with("/v1/") { 20 } else { 10 }));

    // Optional namespaces, where the endpoint has them.
    let full = client
        .get("/api/v2/dealFields?include_fields=ui_visibility,important_fields,required_fields");
    for def in full.body["data"].as_array().unwrap() {
        assert!(
            def["ui_visibility"]["show_in_pipelines"].is_object(),
            "{def}"
        );
        assert!(def["important_fields"]["stage_ids"].is_array());
        assert!(def["required_fields"]["enabled"].is_boolean());
    }
    let products = client.get("/api/v2/productFields?include_fields=ui_visibility");
    assert!(products.body["data"][0]["ui_visibility"].is_object());
    assert_eq!(
        client
            .get("/api/v2/productFields?include_fields=required_fields")
            .status,
        400
    );
    assert_eq!(client.get("/api/v2/dealFields?cursor=nope").status, 400);

    // Test edits show in what is served.
    let key = sandbox.add_field(Resource::DealFields, "Added later", "daterange");
    sandbox.rename_field(Resource::DealFields, &key, "Renamed later");
    let served = client.walk_cursor_rows("/api/v2/dealFields?limit=500");
    let def = served
        .iter()
        .find(|d| d["field_code"] == key.as_str())
        .unwrap();
    assert_eq!(def["field_name"], "Renamed later");
    assert_eq!(def["subfields"][0]["field_code"], format!("{key}_until"));
    let touched = sandbox.touch(Resource::Deals, &json!(3));
    // The built deal holds the one include-only property the generator makes; ask for it.
    let deal = client.get(
        "/api/v2/deals?ids=3&sort_by=update_time&sort_direction=desc&limit=1\
         &include_fields=source_lead_id",
    );
    assert_eq!(deal.body["data"][0], touched);
    assert!(touched["custom_fields"][&key]["until"].is_string());
}
