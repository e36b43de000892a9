//! Dead letters a tenant can see and replay: a command activity sync can never run as it is (a
//! permanent Salesforce refusal, a command this release cannot run) is held under its tenant,
//! logged `dead_lettered`, listed by `GET /v1/tenants/{t}/dead-letters`, and put back on the
//! activity queue by `POST .../dead-letters/replay` once the cause is fixed, where it syncs once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use salesforce_sim::{FieldKind, FieldSpec};
use serde_json::{json, Value};
use sfbridge_aws::DynamoTable;
use sfbridge_core::clock::Clock;
use sfbridge_core::domain::{EventId, FlowId, TenantId};
use sfbridge_core::store::{DeadLetterRecord, MemoryTable, Store};

use crate::helpers::{moto_config, spawn_app, Backend, TestApp};
use crate::sync::{activity, CAMPAIGN, TENANT};

impl TestApp {
    /// `GET /v1/tenants/{tenant}/dead-letters` with `query`, expecting 200.
    pub async fn dead_letters_page(&self, tenant: &str, query: &str) -> Value {
        let response = self.admin(Method::GET, &format!("/v1/tenants/{tenant}/dead-letters{query}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Every dead letter of the tenant (one page of 100).
    pub async fn dead_letters(&self, tenant: &str) -> Vec<Value> {
        self.dead_letters_page(tenant, "?limit=100").await["dead_letters"].as_array().unwrap().clone()
    }

    pub async fn replay(&self, tenant: &str, body: Value) -> (StatusCode, Value) {
        let response = self.admin(Method::POST, &format!("/v1/tenants/{tenant}/dead-letters/replay"), Some(body)).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

/// The newest delivery-log entry of an event (the log is newest first).
fn newest<'a>(log: &'a [Value], event_id: &str) -> &'a Value {
    log.iter().find(|d| d["event_id"] == event_id).unwrap_or_else(|| panic!("no delivery for {event_id}: {log:?}"))
}

fn tasks_of(app: &TestApp, event_id: &str) -> usize {
    app.tasks().iter().filter(|t| t["Description"].as_str().unwrap_or_default().contains(&format!("event {event_id}"))).count()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not the error shape: {body}"))
}

/// The acceptance scenario: a poison command (a mapped field the org does not have, which
/// Salesforce refuses for good) shows in the delivery log and the dead-letter API, not on the
/// dead-letter queue; after the settings are fixed a replay syncs it exactly once.
async fn a_poison_command_is_visible_and_syncs_once_after_the_fix_and_a_replay(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.sim.add_custom_field("Contact", "Clicks__c", FieldSpec::new(FieldKind::Double));
    app.ready_tenant(json!({"field_mapping": {"click_count": "No_Such_Field__c"}})).await;
    let poison = activity("e_poison", "email_clicked", "ada@example.com");
    assert!(app.sync(std::slice::from_ref(&poison)).await.is_empty(), "dead-lettered, not retried");
    assert_eq!(tasks_of(&app, "e_poison"), 0);
    assert!(app.queues.take(true).await.is_empty(), "a tenant's dead letter is held under the tenant, not on the operator's queue");

    let log = app.deliveries(TENANT).await;
    let entry = newest(&log, "e_poison");
    assert_eq!((entry["outcome"].as_str(), entry["code"].as_str()), (Some("dead_lettered"), Some("INVALID_FIELD")), "{entry}");
    assert!(entry["reason"].as_str().unwrap().contains("No_Such_Field__c"), "{entry}");
    assert_eq!((entry["type"].as_str(), entry["activity"].as_str(), entry["email"].as_str()), (Some("activity"), Some("email_clicked"), Some("ada@example.com")));

    let page = app.dead_letters_page(TENANT, "").await;
    assert!(page["next_cursor"].is_null(), "{page}");
    let listed = page["dead_letters"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{page}");
    let dead = &listed[0];
    assert_eq!((dead["event_id"].as_str(), dead["code"].as_str()), (Some("e_poison"), Some("INVALID_FIELD")), "{dead}");
    assert_eq!(dead["reason"], entry["reason"]);
    assert_eq!((dead["type"].as_str(), dead["campaign_id"].as_str(), dead["activity"].as_str()), (Some("activity"), Some(CAMPAIGN), Some("email_clicked")));
    assert_eq!((dead["email"].as_str(), dead["source_message_id"].as_str()), (Some("ada@example.com"), Some("m0")));
    assert_eq!(dead["body_bytes"].as_u64(), Some(poison.to_string().len() as u64));
    assert!(dead.get("body").is_none(), "the list does not repeat the body");
    let at = dead["dead_lettered_at"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().unwrap();
    assert_eq!(at, app.clock.now());
    assert_eq!(dead["expires_at"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().unwrap(), at + Duration::days(30));

    // Another tenant neither sees nor replays it.
    app.connect_tenant("team_other").await;
    assert!(app.dead_letters("team_other").await.is_empty());
    let (status, report) = app.replay("team_other", json!({"event_ids": ["e_poison"]})).await;
    assert_eq!((status, report["replayed"].clone(), report["not_found"].clone()), (StatusCode::OK, json!([]), json!(["e_poison"])));
    assert_eq!(app.dead_letters(TENANT).await.len(), 1);

    // Fix the cause, then replay it (and an id that is no dead letter).
    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"field_mapping": {"click_count": "Clicks__c"}})).await;
    app.clock.advance(Duration::minutes(1));
    let (status, report) = app.replay(TENANT, json!({"event_ids": ["e_poison", "e_never_dead"]})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report, json!({"replayed": ["e_poison"], "not_found": ["e_never_dead"], "failed": [], "more": false}));
    assert!(app.dead_letters(TENANT).await.is_empty(), "forgotten once the queue has it");
    assert!(app.audit_types(TENANT).await.contains(&"dead_letters.replayed".to_owned()));

    let replayed = app.queues.take(false).await;
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(replayed[0].body, poison.to_string(), "sent back exactly as it arrived");
    assert!(app.sync_raw(&[replayed[0].body.clone()]).await.is_empty());
    assert_eq!(tasks_of(&app, "e_poison"), 1, "synced exactly once");
    assert_eq!(app.record("Contact", &ada)["Clicks__c"].as_f64(), Some(1.0));
    let log = app.deliveries(TENANT).await;
    assert_eq!(newest(&log, "e_poison")["outcome"], "synced", "{log:?}");
    assert!(app.dead_letters(TENANT).await.is_empty());

    // Replayed twice, or redelivered: nothing more.
    let (status, report) = app.replay(TENANT, json!({"event_ids": ["e_poison"]})).await;
    assert_eq!((status, report["not_found"].clone()), (StatusCode::OK, json!(["e_poison"])));
    assert!(app.queues.take(false).await.is_empty());
    assert!(app.sync_raw(&[replayed[0].body.clone()]).await.is_empty());
    assert_eq!((tasks_of(&app, "e_poison"), app.record("Contact", &ada)["Clicks__c"].as_f64()), (1, Some(1.0)));
}

#[tokio::test]
async fn a_poison_command_is_visible_and_syncs_once_after_the_fix_and_a_replay_embedded() {
    a_poison_command_is_visible_and_syncs_once_after_the_fix_and_a_replay(Backend::Memory).await;
}

#[tokio::test]
async fn a_poison_command_is_visible_and_syncs_once_after_the_fix_and_a_replay_on_moto() {
    a_poison_command_is_visible_and_syncs_once_after_the_fix_and_a_replay(Backend::Moto).await;
}

/// A command this release cannot run is its tenant's dead letter when it names one; a body that
/// names nobody goes to the dead-letter queue with the reason, for the operator.
async fn unrunnable_commands_are_held_by_tenant_or_left_to_the_operator(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({})).await;
    let mut future = activity("e_future", "email_sent", "ada@example.com");
    future["version"] = json!(2);
    assert!(app.sync_raw(&[future.to_string(), "{not json".to_owned()]).await.is_empty());

    let listed = app.dead_letters(TENANT).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0]["event_id"].as_str(), listed[0]["code"].as_str()), (Some("e_future"), Some("unsupported_command")));
    assert_eq!(listed[0]["type"], "activity");
    assert_eq!(newest(&app.deliveries(TENANT).await, "e_future")["outcome"], "dead_lettered");
    let queued = app.queues.take(true).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!((queued[0].body.as_str(), queued[0].attributes["sfbridge_error_code"].as_str()), ("{not json", "malformed_command"));

    // Replaying what this release still cannot run dead-letters it again, with the same reason.
    let (status, _) = app.replay(TENANT, json!({"all": true})).await;
    assert_eq!(status, StatusCode::OK);
    let again = app.queues.take(false).await;
    assert_eq!(again.len(), 1);
    assert!(app.sync_raw(&[again[0].body.clone()]).await.is_empty());
    assert_eq!(app.dead_letters(TENANT).await.len(), 1, "held again");
    assert!(app.queues.take(true).await.is_empty());
}

#[tokio::test]
async fn unrunnable_commands_are_held_by_tenant_or_left_to_the_operator_embedded() {
    unrunnable_commands_are_held_by_tenant_or_left_to_the_operator(Backend::Memory).await;
}

#[tokio::test]
async fn unrunnable_commands_are_held_by_tenant_or_left_to_the_operator_on_moto() {
    unrunnable_commands_are_held_by_tenant_or_left_to_the_operator(Backend::Moto).await;
}

/// `all` pages through every dead letter; the list pages in event id order; what the queue does
/// not take stays a dead letter and is reported per id in the error shape.
#[tokio::test]
async fn replay_all_pages_through_every_dead_letter_and_keeps_what_the_queue_refused() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({"field_mapping": {"click_count": "No_Such_Field__c"}})).await;
    let events: Vec<Value> = (0..130).map(|i| activity(&format!("e_{i:03}"), "email_clicked", "ada@example.com")).collect();
    assert!(app.sync(&events).await.is_empty());

    let mut listed = Vec::new();
    let mut query = "?limit=50".to_owned();
    let mut pages = 0;
    loop {
        let page = app.dead_letters_page(TENANT, &query).await;
        pages += 1;
        listed.extend(page["dead_letters"].as_array().unwrap().iter().map(|d| d["event_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=50&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..130).map(|i| format!("e_{i:03}")).collect();
    assert_eq!((pages, &listed), (3, &expected), "in event id order, each once");

    app.activity_faults.fail_every(3);
    let (status, report) = app.replay(TENANT, json!({"all": true})).await;
    assert_eq!((status, error_code(&report)), (StatusCode::SERVICE_UNAVAILABLE, "replay_incomplete"), "{report}");
    let replayed: BTreeSet<String> = report["replayed"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_owned()).collect();
    let failed: Vec<&Value> = report["failed"].as_array().unwrap().iter().collect();
    assert!(!replayed.is_empty() && !failed.is_empty(), "{report}");
    assert!(failed.iter().all(|f| f["code"] == "queue_unavailable" && f["message"].as_str().unwrap().contains("still a dead letter")));
    assert_eq!(report["more"], true, "stopped at the queue's first refusal");
    let left: BTreeSet<String> = app.dead_letters_all(TENANT).await;
    assert!(left.is_disjoint(&replayed), "what the queue took is forgotten");
    assert!(failed.iter().all(|f| left.contains(f["event_id"].as_str().unwrap())), "what it refused stays");
    assert_eq!(left.len() + replayed.len(), 130);

    app.activity_faults.fail_every(0);
    let (status, second) = app.replay(TENANT, json!({"all": true})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!((second["more"].as_bool(), second["failed"].as_array().map(Vec::len)), (Some(false), Some(0)));
    assert_eq!(second["replayed"].as_array().unwrap().len(), left.len());
    assert!(app.dead_letters(TENANT).await.is_empty());
    let bodies: BTreeSet<String> = app.queues.take(false).await.into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, events.iter().map(Value::to_string).collect(), "every one on the queue, once each");
    assert_eq!(app.audit_types(TENANT).await.iter().filter(|t| *t == "dead_letters.replayed").count(), 2);
}

impl TestApp {
    /// Every dead letter's event id, all pages.
    async fn dead_letters_all(&self, tenant: &str) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        let mut query = "?limit=100".to_owned();
        loop {
            let page = self.dead_letters_page(tenant, &query).await;
            ids.extend(page["dead_letters"].as_array().unwrap().iter().map(|d| d["event_id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("?limit=100&cursor={cursor}"),
                None => return ids,
            }
        }
    }
}

#[tokio::test]
async fn replay_requests_are_checked_and_refusals_keep_the_json_shape() {
    let app = spawn_app(Backend::Memory).await;
    let path = format!("/v1/tenants/{TENANT}/dead-letters/replay");

    // Without a connection a replay would be skipped for good: refused.
    let (status, body) = app.replay(TENANT, json!({"all": true})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "not_connected"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("POST /v1/tenants/team_42/connect"));
    app.connect_tenant(TENANT).await;

    let many: Vec<String> = (0..101).map(|i| format!("e{i}")).collect();
    for (request, fragment) in [
        (json!({}), "nothing to replay"),
        (json!({"all": true, "event_ids": ["e1"]}), "not both"),
        (json!({"all": false}), "all: must be true"),
        (json!({"event_ids": []}), "1 to 100"),
        (json!({"event_ids": many}), "101 given, at most 100"),
        (json!({"event_ids": ["ok", "CANARY#sneaky", "with space"]}), "event_ids[1]: event_id must be 1 to 64"),
    ] {
        let (status, body) = app.replay(TENANT, request.clone()).await;
        assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{request}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{request}: {message}");
        assert!(!message.contains("CANARY"), "ids are not echoed: {message}");
    }
    for request in [json!({"event_ids": "all"}), json!({"all": "yes"}), json!({"ids": ["e1"]}), json!(["e1"])] {
        let (status, body) = app.replay(TENANT, request.clone()).await;
        assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{request}: {body}");
    }
    let not_json = app.api.post(app.url(&path)).bearer_auth(&app.admin_token).header("content-type", "application/json").body("{all").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let no_type = app.api.post(app.url(&path)).bearer_auth(&app.admin_token).body(r#"{"all": true}"#).send().await.unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let anonymous = app.api.post(app.url(&path)).json(&json!({"all": true})).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let get = app.admin(Method::GET, &path, None).await;
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = app.replay("bad%20tenant", json!({"all": true})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_tenant_id"));
    // Nothing to replay is not an error, and records nothing.
    let (status, body) = app.replay(TENANT, json!({"all": true})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"replayed": [], "not_found": [], "failed": [], "more": false})));
    assert!(!app.audit_types(TENANT).await.contains(&"dead_letters.replayed".to_owned()));

    for (query, fragment) in [
        ("?limit=0", "limit must be a whole number from 1 to 100"),
        ("?limit=101", "limit"),
        ("?cursor=no%23such", "cursor was not issued by this endpoint"),
        ("?cursor=e_poison", "cursor was not issued by this endpoint"),
        ("?limit=x", "limit must be a whole number"),
    ] {
        let response = app.admin(Method::GET, &format!("/v1/tenants/{TENANT}/dead-letters{query}"), None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(fragment), "{query}: {body}");
    }
}

/// The store's dead-letter operations on both tables: DynamoDB (moto) and the embedded one.
#[tokio::test]
async fn dead_letter_records_behave_the_same_on_dynamodb_and_embedded() {
    let client = aws_sdk_dynamodb::Client::new(&moto_config().await);
    let name = format!("sfbridge-dead-{}", &FlowId::random().to_string()[..12]);
    DynamoTable::create_table(&client, &name).await.unwrap();
    for store in [Store::new(Arc::new(DynamoTable::new(client.clone(), name.clone()))), Store::new(Arc::new(MemoryTable::new()))] {
        let t = TenantId::parse("team_dead").unwrap();
        let record = |event: &str, source: &str| DeadLetterRecord {
            event_id: EventId::parse(event).unwrap(),
            body: format!("{{\"event_id\":\"{event}\",\"snippet\":\"{}\"}}", "x".repeat(2000)),
            code: "INVALID_FIELD".into(),
            reason: "No such column".into(),
            dead_lettered_at: Utc::now(),
            source_message_id: source.into(),
            command_type: "activity".into(),
            campaign_id: None,
            activity: None,
            email: None,
        };
        for i in (0..7).rev() {
            store.put_dead_letter(&t, &record(&format!("e{i}"), "m1")).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.dead_letters(&t, 3, after.as_ref()).await.unwrap();
            seen.extend(page.dead_letters.iter().map(|d| d.event_id.to_string()));
            match page.next_cursor {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).map(|i| format!("e{i}")).collect::<Vec<_>>());
        let e0 = EventId::parse("e0").unwrap();
        store.put_dead_letter(&t, &record("e0", "m2")).await.unwrap();
        assert!(!store.remove_dead_letter(&t, &e0, "m1").await.unwrap(), "a newer dead letter of the event stays");
        assert_eq!(store.dead_letter(&t, &e0).await.unwrap().map(|d| d.source_message_id), Some("m2".to_owned()));
        assert!(store.remove_dead_letter(&t, &e0, "m2").await.unwrap());
        assert!(!store.remove_dead_letter(&t, &e0, "m2").await.unwrap());
        assert_eq!(store.dead_letter(&t, &e0).await.unwrap(), None);
    }
}

/// The local stack as a newcomer runs it: a poison command through `POST /local/activity` and the
/// in-process worker, seen in the dead-letter API, replayed after the fix, synced once.
#[tokio::test]
async fn the_local_stack_holds_a_poison_command_until_it_is_fixed_and_replayed() {
    let stack = sfbridge_local::start(sfbridge_local::LocalOptions {
        port: 0,
        simulate_salesforce: true,
        admin_token: Some("local-admin-token-dead".into()),
        app_origin: None,
        backend: sfbridge_local::Backend::Embedded { data_file: None },
    })
    .await
    .unwrap();
    let sim = stack.sim.clone().unwrap();
    sim.set_auto_approve(true);
    let demo = stack.demo_app.clone().unwrap();
    let api = reqwest::Client::new();
    let base = stack.base_url.clone();
    let admin = |method: Method, path: &str| api.request(method, format!("{base}{path}")).bearer_auth("local-admin-token-dead");

    let creds = json!({"consumer_key": demo.consumer_key, "consumer_secret": demo.consumer_secret, "login_url": demo.login_url});
    assert_eq!(admin(Method::PUT, "/v1/tenants/team_42/credentials").json(&creds).send().await.unwrap().status(), 204);
    let connect: Value = admin(Method::POST, "/v1/tenants/team_42/connect").send().await.unwrap().json().await.unwrap();
    let browser = crate::helpers::new_browser();
    let mut url = connect["connect_url"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let response = browser.get(&url).send().await.unwrap();
        if response.status() != StatusCode::FOUND {
            break;
        }
        url = crate::helpers::location(&response);
    }
    sim.add_custom_field("Contact", "Clicks__c", FieldSpec::new(FieldKind::Double));
    let settings = json!({"field_mapping": {"click_count": "Missing__c"}});
    assert_eq!(admin(Method::PUT, "/v1/tenants/team_42/settings").json(&settings).send().await.unwrap().status(), 200);
    assert_eq!(admin(Method::PUT, "/v1/tenants/team_42/campaigns/cmp_7").json(&json!({"enabled": true})).send().await.unwrap().status(), 200);

    let mut poison = activity("evt_poison", "email_clicked", "ada@example.com");
    poison["tenant_id"] = json!("team_42");
    let enqueued = admin(Method::POST, "/local/activity").json(&poison).send().await.unwrap();
    assert_eq!(enqueued.status(), 202);
    let dead = poll(|| async {
        let page: Value = admin(Method::GET, "/v1/tenants/team_42/dead-letters").send().await.unwrap().json().await.unwrap();
        page["dead_letters"].as_array().and_then(|d| d.first().cloned())
    })
    .await;
    assert_eq!((dead["event_id"].as_str(), dead["code"].as_str()), (Some("evt_poison"), Some("INVALID_FIELD")), "{dead}");

    let fixed = json!({"field_mapping": {"click_count": "Clicks__c"}});
    assert_eq!(admin(Method::PUT, "/v1/tenants/team_42/settings").json(&fixed).send().await.unwrap().status(), 200);
    let replay = admin(Method::POST, "/v1/tenants/team_42/dead-letters/replay").json(&json!({"all": true})).send().await.unwrap();
    assert_eq!(replay.status(), 200);
    let synced = poll(|| async {
        let log: Value = admin(Method::GET, "/v1/tenants/team_42/deliveries").send().await.unwrap().json().await.unwrap();
        log["deliveries"].as_array().and_then(|d| d.first().cloned()).filter(|d| d["outcome"] == "synced")
    })
    .await;
    assert_eq!(synced["event_id"], "evt_poison");
    let tasks: Value = api.get(format!("{base}/local/salesforce/Task")).send().await.unwrap().json().await.unwrap();
    let of_event = tasks.as_array().unwrap().iter().filter(|t| t["Description"].as_str().unwrap_or_default().contains("event evt_poison")).count();
    assert_eq!(of_event, 1, "{tasks}");
    let page: Value = admin(Method::GET, "/v1/tenants/team_42/dead-letters").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["dead_letters"], json!([]));
}

/// Waits (up to 10 s) for `probe` to find something.
async fn poll<F, Fut>(probe: F) -> Value
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    for _ in 0..200 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("nothing within 10 s");
}
