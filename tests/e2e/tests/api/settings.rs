//! Tenant settings and the campaign matrix: defaults before anything is saved, PUT replaces the
//! whole document, PATCH only what it names, validation names the field and changes nothing, paging, audit. The HTTP and
//! storage parts run on the embedded table and on DynamoDB in moto.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sfbridge_core::domain::{CampaignId, FlowId, TenantId};
use sfbridge_aws::DynamoTable;
use sfbridge_core::store::{
    CampaignRecord, CampaignSettings, MemoryTable, SettingsRecord, Store, StoreError, TenantSettings,
};

use crate::helpers::{moto_config, spawn_app, Backend, TestApp, MARKER};

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let response = app.admin(method, path, body).await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = call(app, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn put(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, response) = call(app, Method::PUT, path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{path} {body}: {response}");
    response
}

async fn audit_events(app: &TestApp, tenant: &str) -> Vec<Value> {
    get(app, &format!("/v1/tenants/{tenant}/audit")).await["events"].as_array().unwrap().clone()
}

fn default_settings(tenant: &str) -> Value {
    json!({
        "tenant_id": tenant,
        "configured": false,
        "match_policy": "contact_only",
        "create_missing": "never",
        "field_mapping": {"last_opened_at": null, "click_count": null, "opt_out_on_unsubscribe": true, "mark_bounced": null},
        "task_external_id_field": null,
        "api_budget_percent": 80,
        "trigger_mode": "manual",
        "sequence_id": null,
        "webhook_auth": "secret",
        "attribute_mapping": {},
        "campaign_statuses": {"aborted": "Aborted", "completed": "Completed", "planned": "Planned", "rolled_back": "Aborted",
                              "running": "In Progress"},
        "campaign_experiment_key_field": null,
        "apex_endpoints": {},
        "import": {"objects": []},
        "version": 0,
        "updated_at": null,
    })
}

fn default_campaign(tenant: &str, campaign: &str) -> Value {
    json!({
        "tenant_id": tenant,
        "campaign_id": campaign,
        "configured": false,
        "enabled": false,
        "sync_activity": true,
        "events": {"email_sent": true, "email_opened": true, "email_clicked": true, "email_replied": true,
                   "email_bounced": true, "unsubscribed": true},
        "salesforce_campaign_id": null,
        "experiment_key": null,
        "version": 0,
        "updated_at": null,
    })
}

/// The stored document of a view: everything but the metadata.
fn document(view: &Value) -> Value {
    let mut view = view.clone();
    for key in ["configured", "version", "updated_at"] {
        view.as_object_mut().unwrap().remove(key);
    }
    view
}

async fn settings_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/v1/tenants/team_42/settings";
    assert_eq!(get(&app, path).await, default_settings("team_42"));

    let saved = put(
        &app,
        path,
        json!({
            "match_policy": "contact_then_lead",
            "create_missing": "lead",
            "field_mapping": {"last_opened_at": "PenguinMails_Last_Email_Opened__c", "click_count": "PenguinMails_Total_Clicks__C",
                              "opt_out_on_unsubscribe": true, "mark_bounced": ""},
            "task_external_id_field": "Sfbridge_Event_Id__c",
            "api_budget_percent": 50,
        }),
    )
    .await;
    assert_eq!(saved["configured"], true);
    assert_eq!(saved["version"], 1);
    assert!(saved["updated_at"].is_string());
    assert_eq!(saved["field_mapping"]["click_count"], "PenguinMails_Total_Clicks__c", "the suffix is normalized");
    assert_eq!(saved["field_mapping"]["mark_bounced"], Value::Null, "an empty name means not mapped");
    assert_eq!(get(&app, path).await, saved);

    let events = audit_events(&app, "team_42").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "settings.updated");
    let detail = &events[0]["detail"];
    assert_eq!((detail["version"].clone(), detail["created"].clone()), (json!(1), json!(true)));
    assert_eq!(
        detail["changes"],
        json!({
            "match_policy": {"from": "contact_only", "to": "contact_then_lead"},
            "create_missing": {"from": "never", "to": "lead"},
            "field_mapping.last_opened_at": {"from": null, "to": "PenguinMails_Last_Email_Opened__c"},
            "field_mapping.click_count": {"from": null, "to": "PenguinMails_Total_Clicks__c"},
            "task_external_id_field": {"from": null, "to": "Sfbridge_Event_Id__c"},
            "api_budget_percent": {"from": 80, "to": 50},
        })
    );

    // The same document again: nothing is written or audited.
    let mut again = document(&saved);
    again.as_object_mut().unwrap().remove("tenant_id");
    assert_eq!(put(&app, path, again.clone()).await, saved);
    assert_eq!(audit_events(&app, "team_42").await.len(), 1);

    // A stale version is refused and changes nothing.
    let (status, body) = call(&app, Method::PUT, path, Some(json!({"version": 0, "api_budget_percent": 10}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("at version 1, not 0"), "{body}");
    assert_eq!(get(&app, path).await, saved);

    // PUT replaces the whole document: what is omitted returns to its default.
    let replaced = put(&app, path, json!({"version": 1, "api_budget_percent": 60})).await;
    let mut expected = default_settings("team_42");
    expected["api_budget_percent"] = json!(60);
    assert_eq!(document(&replaced), document(&expected));
    assert_eq!((replaced["version"].clone(), replaced["configured"].clone()), (json!(2), json!(true)));
    let events = audit_events(&app, "team_42").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["detail"]["changes"]["match_policy"], json!({"from": "contact_then_lead", "to": "contact_only"}));
    assert_eq!(events[0]["detail"]["changes"]["api_budget_percent"], json!({"from": 50, "to": 60}));
    assert_eq!(events[0]["detail"]["created"], false);

    // Another tenant still sees the defaults.
    assert_eq!(get(&app, "/v1/tenants/team_43/settings").await, default_settings("team_43"));
}

#[tokio::test]
async fn settings_default_round_trip_and_audit_on_the_embedded_table() {
    settings_round_trip(Backend::Memory).await;
}

#[tokio::test]
async fn settings_default_round_trip_and_audit_on_dynamodb_in_moto() {
    settings_round_trip(Backend::Moto).await;
}

async fn patch(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, response) = call(app, Method::PATCH, path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{path} {body}: {response}");
    response
}

/// PATCH changes only what it names: turning on Closed Won triggers must not quietly turn a
/// tenant's signed webhooks back to plain secrets, nor drop its field mapping.
async fn patch_changes_only_the_named_settings(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/v1/tenants/team_42/settings";

    // On the defaults (nothing saved yet).
    let first = patch(&app, path, json!({"webhook_auth": "signature"})).await;
    let mut expected = default_settings("team_42");
    expected["webhook_auth"] = json!("signature");
    assert_eq!(document(&first), document(&expected));
    assert_eq!((first["version"].clone(), first["configured"].clone()), (json!(1), json!(true)));

    let mapped = patch(&app, path, json!({"field_mapping": {"click_count": "Total_Clicks__c"}, "api_budget_percent": 40})).await;
    let triggered = patch(&app, path, json!({"trigger_mode": "auto", "sequence_id": "seq_1"})).await;
    assert_eq!(triggered["webhook_auth"], "signature");
    assert_eq!(triggered["field_mapping"]["click_count"], "Total_Clicks__c");
    assert_eq!(triggered["field_mapping"]["opt_out_on_unsubscribe"], true, "field_mapping merges key by key");
    assert_eq!(triggered["api_budget_percent"], 40);
    assert_eq!((triggered["trigger_mode"].clone(), triggered["sequence_id"].clone()), (json!("auto"), json!("seq_1")));
    assert_eq!(triggered["version"], json!(mapped["version"].as_u64().unwrap() + 1));
    assert_eq!(get(&app, path).await, triggered);
    let events = audit_events(&app, "team_42").await;
    assert_eq!(
        events[0]["detail"]["changes"],
        json!({"trigger_mode": {"from": "manual", "to": "auto"}, "sequence_id": {"from": null, "to": "seq_1"}}),
        "the audit names only what the patch changed"
    );

    // null returns a setting to its default.
    let reset = patch(&app, path, json!({"api_budget_percent": null, "field_mapping": {"click_count": null}})).await;
    assert_eq!((reset["api_budget_percent"].clone(), reset["field_mapping"]["click_count"].clone()), (json!(80), Value::Null));
    assert_eq!(reset["webhook_auth"], "signature");

    // Refusals change nothing and say what to do.
    let before = get(&app, path).await;
    for (body, status, code, hint) in [
        (json!({"trigger_mode": "auto", "sequence_id": null}), StatusCode::BAD_REQUEST, "invalid_request", "sequence_id"),
        (json!({"trigermode": "auto"}), StatusCode::BAD_REQUEST, "invalid_request", "trigermode"),
        (json!(["trigger_mode"]), StatusCode::BAD_REQUEST, "invalid_request", "JSON object"),
        (json!({"version": "x"}), StatusCode::BAD_REQUEST, "invalid_request", "version"),
        (json!({"version": 1, "api_budget_percent": 10}), StatusCode::CONFLICT, "version_conflict", "GET"),
    ] {
        let (got, response) = call(&app, Method::PATCH, path, Some(body.clone())).await;
        assert_eq!((got, response["error"]["code"].as_str()), (status, Some(code)), "{body}: {response}");
        assert!(response["error"]["message"].as_str().unwrap().contains(hint), "{body}: {response}");
    }
    assert_eq!(get(&app, path).await, before);
    let current = before["version"].clone();
    let conditional = patch(&app, path, json!({"version": current, "api_budget_percent": 10})).await;
    assert_eq!(conditional["api_budget_percent"], 10);
}

#[tokio::test]
async fn patch_changes_only_the_named_settings_on_the_embedded_table() {
    patch_changes_only_the_named_settings(Backend::Memory).await;
}

#[tokio::test]
async fn patch_changes_only_the_named_settings_on_dynamodb_in_moto() {
    patch_changes_only_the_named_settings(Backend::Moto).await;
}

async fn campaign_matrix(backend: Backend) {
    let app = spawn_app(backend).await;
    let list = "/v1/tenants/team_42/campaigns";
    assert_eq!(get(&app, list).await, json!({"campaigns": [], "next_cursor": null}));
    // An unknown campaign is not a 404: it has the defaults, which sync nothing.
    assert_eq!(get(&app, &format!("{list}/cmp_new")).await, default_campaign("team_42", "cmp_new"));

    let saved = put(
        &app,
        &format!("{list}/cmp_3"),
        json!({"enabled": true, "events": {"email_opened": false}, "salesforce_campaign_id": "701000000000001",
               "experiment_key": " exp-q1 "}),
    )
    .await;
    let mut expected = default_campaign("team_42", "cmp_3");
    expected["configured"] = json!(true);
    expected["enabled"] = json!(true);
    expected["events"]["email_opened"] = json!(false);
    expected["salesforce_campaign_id"] = json!("701000000000001AAA");
    expected["experiment_key"] = json!("exp-q1");
    expected["version"] = json!(1);
    expected["updated_at"] = saved["updated_at"].clone();
    assert_eq!(saved, expected);
    assert_eq!(get(&app, &format!("{list}/cmp_3")).await, saved);

    let events = audit_events(&app, "team_42").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "campaign.updated");
    assert_eq!(events[0]["detail"]["campaign_id"], "cmp_3");
    assert_eq!(
        events[0]["detail"]["changes"],
        json!({
            "enabled": {"from": false, "to": true},
            "events.email_opened": {"from": true, "to": false},
            "salesforce_campaign_id": {"from": null, "to": "701000000000001AAA"},
            "experiment_key": {"from": null, "to": "exp-q1"},
        })
    );

    // PUT semantics: the omitted toggle and link return to their defaults.
    let replaced = put(&app, &format!("{list}/cmp_3"), json!({"enabled": true, "version": 1})).await;
    assert_eq!(replaced["events"]["email_opened"], true);
    assert_eq!(replaced["salesforce_campaign_id"], Value::Null);
    assert_eq!(replaced["version"], 2);
    let (status, body) = call(&app, Method::PUT, &format!("{list}/cmp_3"), Some(json!({"enabled": false, "version": 1}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")), "{body}");

    // The matrix pages in campaign id order.
    for c in ["cmp_5", "cmp_1", "cmp_4", "cmp_2"] {
        put(&app, &format!("{list}/{c}"), json!({"enabled": c != "cmp_4"})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = cursor.as_ref().map_or("?limit=2".to_owned(), |c| format!("?limit=2&cursor={c}"));
        let page = get(&app, &format!("{list}{query}")).await;
        let ids: Vec<String> =
            page["campaigns"].as_array().unwrap().iter().map(|c| c["campaign_id"].as_str().unwrap().to_owned()).collect();
        assert!(ids.len() <= 2);
        assert!(page["campaigns"].as_array().unwrap().iter().all(|c| c["configured"] == true && c["tenant_id"] == "team_42"));
        seen.extend(ids);
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["cmp_1", "cmp_2", "cmp_3", "cmp_4", "cmp_5"]);
    assert_eq!(pages, 3, "the last page carries no cursor");
    let all = get(&app, list).await;
    assert_eq!(all["campaigns"].as_array().unwrap().len(), 5);
    assert_eq!(all["campaigns"][3]["enabled"], false);

    // Other tenants (even one whose id extends this one's) see none of it.
    assert_eq!(get(&app, "/v1/tenants/team_4/campaigns").await["campaigns"], json!([]));
    assert_eq!(get(&app, "/v1/tenants/team_420/campaigns").await["campaigns"], json!([]));
    assert_eq!(get(&app, "/v1/tenants/team_43/campaigns/cmp_3").await["configured"], false);
    assert_eq!(audit_events(&app, "team_42").await.len(), 6);
}

#[tokio::test]
async fn campaign_matrix_defaults_round_trip_and_paging_on_the_embedded_table() {
    campaign_matrix(Backend::Memory).await;
}

#[tokio::test]
async fn campaign_matrix_defaults_round_trip_and_paging_on_dynamodb_in_moto() {
    campaign_matrix(Backend::Moto).await;
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let app = spawn_app(Backend::Memory).await;
    let canary = format!("{MARKER}-not-a-boolean");
    let settings = "/v1/tenants/t1/settings";
    let campaign = "/v1/tenants/t1/campaigns/c1";
    let cases = [
        (settings, json!({"field_mapping": {"click_count": "Total Clicks"}}), StatusCode::BAD_REQUEST, "invalid_request",
         "field_mapping.click_count: \"Total Clicks\" is not a Salesforce field API name; use the API name from Setup → Object Manager, e.g. Total_Clicks__c"),
        (settings, json!({"field_mapping": {"last_opened_at": "pi__last__open__c"}}), StatusCode::BAD_REQUEST, "invalid_request", "field_mapping.last_opened_at: "),
        (settings, json!({"field_mapping": {"mark_bounced": "HasOptedOutOfEmail"}}), StatusCode::BAD_REQUEST, "invalid_request", "field_mapping.mark_bounced: "),
        (settings, json!({"field_mapping": {"last_opened_at": "Opened__c", "click_count": "opened__c"}}), StatusCode::BAD_REQUEST, "invalid_request", "field_mapping.click_count: "),
        (settings, json!({"api_budget_percent": 150}), StatusCode::BAD_REQUEST, "invalid_request", "api_budget_percent: 150 is out of range"),
        (settings, json!({"api_budget_percent": 0}), StatusCode::BAD_REQUEST, "invalid_request", "api_budget_percent: 0 is out of range"),
        (settings, json!({"create_missing": "lead"}), StatusCode::BAD_REQUEST, "invalid_request", "create_missing: "),
        (settings, json!({"task_external_id_field": "Subject"}), StatusCode::BAD_REQUEST, "invalid_request", "task_external_id_field: "),
        (settings, json!({"api_budget_percent": "80"}), StatusCode::BAD_REQUEST, "invalid_request", "api_budget_percent: wrong type"),
        (settings, json!({"api_budget_percent": 12.5}), StatusCode::BAD_REQUEST, "invalid_request", "api_budget_percent: wrong type"),
        (settings, json!({"match_policy": "email"}), StatusCode::BAD_REQUEST, "invalid_request", "match_policy: unknown variant"),
        // serde_json calls this one a syntax error; the body is JSON all the same.
        (settings, json!({"match_policy": 5}), StatusCode::BAD_REQUEST, "invalid_request", "match_policy: wrong type or value"),
        (settings, json!({"field_mapping": {"opt_out_on_unsubscribe": canary}}), StatusCode::BAD_REQUEST, "invalid_request",
         "field_mapping.opt_out_on_unsubscribe: wrong type or value, expected a boolean"),
        (settings, json!({"field_mapping": {"clicks": "Total_Clicks__c"}}), StatusCode::BAD_REQUEST, "invalid_request", "field_mapping.clicks: unknown field `clicks`"),
        (settings, json!({"configured": true}), StatusCode::BAD_REQUEST, "invalid_request", "configured: unknown field `configured`"),
        (settings, json!({"field_mapping": []}), StatusCode::BAD_REQUEST, "invalid_request", "field_mapping: wrong type or value, expected a JSON object"),
        (settings, json!([]), StatusCode::BAD_REQUEST, "invalid_request", "the body must be a JSON object"),
        (campaign, json!({"enabled": "true"}), StatusCode::BAD_REQUEST, "invalid_request", "enabled: wrong type or value, expected a boolean"),
        (campaign, json!({"events": {"email_delivered": true}}), StatusCode::BAD_REQUEST, "invalid_request", "events.email_delivered: unknown field `email_delivered`"),
        (campaign, json!({"salesforce_campaign_id": "003RO0000035WQg"}), StatusCode::BAD_REQUEST, "invalid_request", "salesforce_campaign_id: 003RO0000035WQgYAM is not a Campaign id"),
        (campaign, json!({"salesforce_campaign_id": "701-nope"}), StatusCode::BAD_REQUEST, "invalid_request", "salesforce_campaign_id: "),
        (campaign, json!({"experiment_key": "a\nb"}), StatusCode::BAD_REQUEST, "invalid_request", "experiment_key: "),
        (campaign, json!({"version": -1}), StatusCode::BAD_REQUEST, "invalid_request", "version: wrong type"),
        ("/v1/tenants/t1/campaigns/c%231", json!({"enabled": true}), StatusCode::BAD_REQUEST, "invalid_campaign_id", "campaign id must be"),
        ("/v1/tenants/t%231/campaigns/c1", json!({"enabled": true}), StatusCode::BAD_REQUEST, "invalid_tenant_id", "tenant id must be"),
        ("/v1/tenants/t%231/settings", json!({}), StatusCode::BAD_REQUEST, "invalid_tenant_id", "tenant id must be"),
    ];
    for (path, body, expected_status, expected_code, expected_message) in cases {
        let (status, response) = call(&app, Method::PUT, path, Some(body.clone())).await;
        let message = response["error"]["message"].as_str().unwrap_or_default();
        assert_eq!((status, response["error"]["code"].as_str()), (expected_status, Some(expected_code)), "{path} {body}: {response}");
        assert!(message.starts_with(expected_message), "{path} {body}: {message}");
        assert!(!message.contains(MARKER), "an error echoes no value of the wrong type: {message}");
    }
    // Several problems are reported together.
    let (_, response) = call(&app, Method::PUT, settings, Some(json!({"api_budget_percent": 0, "field_mapping": {"click_count": "a b"}}))).await;
    let message = response["error"]["message"].as_str().unwrap();
    assert!(message.contains("field_mapping.click_count: ") && message.contains("; api_budget_percent: "), "{message}");

    for (method, path, expected_status, expected_code) in [
        (Method::GET, "/v1/tenants/t1/campaigns/c%231", StatusCode::BAD_REQUEST, "invalid_campaign_id"),
        (Method::GET, "/v1/tenants/t1/campaigns?limit=0", StatusCode::BAD_REQUEST, "invalid_limit"),
        (Method::GET, "/v1/tenants/t1/campaigns?limit=101", StatusCode::BAD_REQUEST, "invalid_limit"),
        (Method::GET, "/v1/tenants/t1/campaigns?limit=ten", StatusCode::BAD_REQUEST, "invalid_limit"),
        (Method::GET, "/v1/tenants/t1/campaigns?cursor=CAMPAIGN%23c1", StatusCode::BAD_REQUEST, "invalid_cursor"),
        (Method::GET, "/v1/tenants/t1/campaigns?cursor=c1", StatusCode::BAD_REQUEST, "invalid_cursor"),
        (Method::DELETE, "/v1/tenants/t1/settings", StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::POST, "/v1/tenants/t1/campaigns", StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ] {
        let (status, response) = call(&app, method.clone(), path, None).await;
        assert_eq!((status, response["error"]["code"].as_str()), (expected_status, Some(expected_code)), "{method} {path}: {response}");
    }
    let not_json = app.api.put(app.url(settings)).bearer_auth(&app.admin_token).body("{}").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unauthenticated = app.api.get(app.url(settings)).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    // Nothing was stored or audited.
    assert_eq!(get(&app, settings).await, default_settings("t1"));
    assert_eq!(get(&app, campaign).await, default_campaign("t1", "c1"));
    assert_eq!(get(&app, "/v1/tenants/t1/campaigns").await["campaigns"], json!([]));
    assert!(audit_events(&app, "t1").await.is_empty());
    assert!(!app.raw_items_text().await.contains("SETTINGS"));
    assert!(!app.raw_items_text().await.contains("CAMPAIGN#"));
}

// --- the Store operations, on both adapters --------------------------------------------------------

async fn moto_store() -> Store {
    let aws = moto_config().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!("sfbridge-settings-{}", &FlowId::random().to_string()[..12]);
    DynamoTable::create_table(&client, &table).await.unwrap();
    Store::new(Arc::new(DynamoTable::new(client, table)))
}

fn campaign_record(c: &str, version: u64) -> CampaignRecord {
    CampaignRecord {
        campaign_id: CampaignId::parse(c).unwrap(),
        settings: CampaignSettings { enabled: true, ..CampaignSettings::default() },
        version,
        updated_at: chrono::Utc::now(),
    }
}

async fn settings_store_contract(store: Store) {
    let t = TenantId::parse("contract").unwrap();
    assert!(store.settings(&t).await.unwrap().is_none());
    let first = SettingsRecord { settings: TenantSettings::default(), version: 1, updated_at: chrono::Utc::now() };
    store.save_settings(&t, &first, None).await.unwrap();
    // Version-checked: a second first write and a write from a stale version both conflict.
    assert!(matches!(store.save_settings(&t, &first, None).await, Err(StoreError::Conflict)));
    let mut second = first.clone();
    second.version = 2;
    second.settings.api_budget_percent = 55;
    assert!(matches!(store.save_settings(&t, &second, Some(7)).await, Err(StoreError::Conflict)));
    store.save_settings(&t, &second, Some(1)).await.unwrap();
    assert_eq!(store.settings(&t).await.unwrap(), Some(second));

    let c = CampaignId::parse("c01").unwrap();
    assert!(store.campaign(&t, &c).await.unwrap().is_none());
    store.save_campaign(&t, &campaign_record("c01", 1), None).await.unwrap();
    assert!(matches!(store.save_campaign(&t, &campaign_record("c01", 1), None).await, Err(StoreError::Conflict)));
    assert!(matches!(store.save_campaign(&t, &campaign_record("c01", 3), Some(2)).await, Err(StoreError::Conflict)));
    store.save_campaign(&t, &campaign_record("c01", 2), Some(1)).await.unwrap();
    assert_eq!(store.campaign(&t, &c).await.unwrap().map(|r| r.version), Some(2));

    // Paging: ascending, `limit` at a time, no cursor on the last page even when it is full.
    for i in [6, 3, 5, 2, 4] {
        store.save_campaign(&t, &campaign_record(&format!("c0{i}"), 1), None).await.unwrap();
    }
    let other = TenantId::parse("contract2").unwrap();
    store.save_campaign(&other, &campaign_record("c00", 1), None).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.campaigns(&t, 3, after.as_ref()).await.unwrap();
        seen.extend(page.campaigns.iter().map(|r| r.campaign_id.to_string()));
        pages += 1;
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["c01", "c02", "c03", "c04", "c05", "c06"]);
    assert_eq!(pages, 2);
    let rest = store.campaigns(&t, 4, Some(&CampaignId::parse("c035").unwrap())).await.unwrap();
    let ids: Vec<_> = rest.campaigns.iter().map(|r| r.campaign_id.to_string()).collect();
    assert_eq!((ids, rest.next_cursor), (vec!["c04".to_owned(), "c05".to_owned(), "c06".to_owned()], None));
    let one = store.campaigns(&t, 1, None).await.unwrap();
    assert_eq!(one.next_cursor.map(|c| c.to_string()).as_deref(), Some("c01"));
    let theirs = store.campaigns(&other, 10, None).await.unwrap();
    assert_eq!(theirs.campaigns.len(), 1);
    assert!(store.campaigns(&TenantId::parse("nobody").unwrap(), 10, None).await.unwrap().campaigns.is_empty());
}

#[tokio::test]
async fn settings_and_campaign_store_contract_on_the_embedded_table() {
    settings_store_contract(Store::new(Arc::new(MemoryTable::new()))).await;
}

#[tokio::test]
async fn settings_and_campaign_store_contract_on_dynamodb_in_moto() {
    settings_store_contract(moto_store().await).await;
}
