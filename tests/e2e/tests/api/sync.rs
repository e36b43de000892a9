//! Activity sync end to end: commands in SQS batches (through the activity-sync function's
//! `handle`, as Lambda calls it), a connected tenant, the simulated org's records out.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use reqwest::{Method, StatusCode};
use salesforce_sim::{FieldKind, FieldSpec};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, AppOptions, Backend, TestApp};

pub const TENANT: &str = "team_42";
pub const CAMPAIGN: &str = "cmp_7";

/// A sync command as the product sends it.
pub fn activity(event_id: &str, kind: &str, email: &str) -> Value {
    json!({"version": 1, "type": "activity", "event_id": event_id, "tenant_id": TENANT, "campaign_id": CAMPAIGN,
        "campaign_name": "Q1 Outreach", "activity": kind, "contact": {"email": email, "name": "Ada Lovelace"},
        "occurred_at": "2026-11-20T10:00:00Z", "email": {"subject": "Hello", "snippet": "Hi there"}})
}

/// An SQS event whose messages are `bodies`, with ids `m0`, `m1`, ...
pub fn sqs_event(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m{i}"));
            m.body = Some(body.clone());
            m
        })
        .collect();
    event
}

impl TestApp {
    /// Saves credentials and connects the tenant through the popup.
    pub async fn connect_tenant(&self, tenant: &str) {
        self.save_credentials(tenant).await;
        let (_, page) = self.connect_in_browser(tenant).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(self.connection(tenant).await["status"], "connected");
    }

    pub async fn put_json(&self, path: &str, body: Value) {
        let response = self.admin(Method::PUT, path, Some(body)).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    }

    /// A connected tenant with the campaign enabled (all events on) and `settings`.
    pub async fn ready_tenant(&self, settings: Value) {
        self.connect_tenant(TENANT).await;
        self.put_json(&format!("/v1/tenants/{TENANT}/settings"), settings).await;
        self.put_json(&format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}"), json!({"enabled": true})).await;
    }

    /// Runs one SQS batch through the function; returns the ids of the messages to retry.
    pub async fn sync(&self, commands: &[Value]) -> Vec<String> {
        let bodies: Vec<String> = commands.iter().map(Value::to_string).collect();
        self.sync_raw(&bodies).await
    }

    pub async fn sync_raw(&self, bodies: &[String]) -> Vec<String> {
        let response = sfbridge_activity_sync::handle(&self.ctx.worker, sqs_event(bodies)).await;
        response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    pub async fn deliveries(&self, tenant: &str) -> Vec<Value> {
        let response = self.admin(Method::GET, &format!("/v1/tenants/{tenant}/deliveries?limit=100"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["deliveries"].as_array().unwrap().clone()
    }

    pub fn tasks(&self) -> Vec<Value> {
        self.sim.records("Task")
    }

    pub fn record(&self, object: &str, id: &str) -> Value {
        self.sim.records(object).into_iter().find(|r| r["Id"] == id).unwrap()
    }
}

pub(crate) fn outcome_of<'a>(deliveries: &'a [Value], event_id: &str) -> &'a Value {
    deliveries.iter().find(|d| d["event_id"] == event_id).unwrap_or_else(|| panic!("no delivery for {event_id}"))
}

async fn activity_lands_as_tasks_and_field_updates(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.add_custom_field("Contact", "Last_Opened__c", FieldSpec::new(FieldKind::DateTime));
    app.sim.add_custom_field("Contact", "Clicks__c", FieldSpec::new(FieldKind::Double));
    app.sim.add_custom_field("Contact", "Bounced__c", FieldSpec::new(FieldKind::Boolean));
    let ada = app.sim.insert_contact("Ada@Example.com", "Ada", "Lovelace");
    let grace = app.sim.insert_contact("grace@example.com", "Grace", "Hopper");
    app.ready_tenant(json!({"field_mapping": {"last_opened_at": "Last_Opened__c", "click_count": "Clicks__c",
        "mark_bounced": "Bounced__c"}}))
        .await;
    let calls_before = app.sim.rest_calls();

    let mut opened = activity("e_open", "email_opened", "ada@example.com");
    opened["occurred_at"] = json!("2026-11-21T08:30:00Z");
    let retry = app
        .sync(&[
            activity("e_sent", "email_sent", "ADA@example.com"),
            opened,
            activity("e_click1", "email_clicked", "ada@example.com"),
            activity("e_click2", "email_clicked", "ada@example.com"),
            activity("e_unsub", "unsubscribed", "ada@example.com"),
            activity("e_reply", "email_replied", "grace@example.com"),
            activity("e_bounce", "email_bounced", "grace@example.com"),
        ])
        .await;
    assert!(retry.is_empty(), "{retry:?}");
    assert_eq!(app.sim.rest_calls() - calls_before, 2, "one Composite lookup and one Composite write");

    let tasks = app.tasks();
    assert_eq!(tasks.len(), 7);
    let sent = tasks.iter().find(|t| t["Subject"] == "Email sent: Q1 Outreach").unwrap();
    assert_eq!(sent["WhoId"], ada);
    assert_eq!(sent["ActivityDate"], "2026-11-20");
    assert_eq!((&sent["Status"], &sent["TaskSubtype"], &sent["Type"]), (&json!("Completed"), &json!("Email"), &json!("Email")));
    assert!(sent["Description"].as_str().unwrap().contains("Subject: Hello"));
    for subject in ["Email opened", "Email link clicked", "Unsubscribed", "Email reply received", "Email bounced"] {
        assert!(tasks.iter().any(|t| t["Subject"] == format!("{subject}: Q1 Outreach")), "{subject}");
    }
    let ada_now = app.record("Contact", &ada);
    assert_eq!(ada_now["Clicks__c"].as_f64(), Some(2.0));
    assert_eq!(ada_now["HasOptedOutOfEmail"], true);
    assert!(ada_now["Last_Opened__c"].as_str().unwrap().starts_with("2026-11-21T08:30:00"), "{ada_now}");
    assert_eq!(app.record("Contact", &grace)["Bounced__c"], true);

    let deliveries = app.deliveries(TENANT).await;
    assert_eq!(deliveries.len(), 7);
    let sent_log = outcome_of(&deliveries, "e_sent");
    assert_eq!(sent_log["outcome"], "synced");
    assert_eq!(sent_log["record_id"], ada);
    assert_eq!(sent_log["task_id"], sent["Id"]);

    // A click later on builds on the stored counter; a redelivery of a synced event does nothing.
    assert!(app.sync(&[activity("e_click3", "email_clicked", "ada@example.com"), activity("e_sent", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(app.record("Contact", &ada)["Clicks__c"].as_f64(), Some(3.0));
    assert_eq!(app.tasks().len(), 8);
}

#[tokio::test]
async fn activity_lands_as_tasks_and_field_updates_embedded() {
    activity_lands_as_tasks_and_field_updates(Backend::Memory).await;
}

#[tokio::test]
async fn activity_lands_as_tasks_and_field_updates_on_moto() {
    activity_lands_as_tasks_and_field_updates(Backend::Moto).await;
}

#[tokio::test]
async fn toggles_and_unmatched_emails_are_skipped_and_recorded() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({})).await;
    app.put_json(&format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}"), json!({"enabled": true, "events": {"email_opened": false}}))
        .await;
    app.put_json(&format!("/v1/tenants/{TENANT}/campaigns/cmp_off"), json!({"enabled": false})).await;
    app.put_json(&format!("/v1/tenants/{TENANT}/campaigns/cmp_quiet"), json!({"enabled": true, "sync_activity": false})).await;
    let mut other = activity("e_other", "email_sent", "ada@example.com");
    other["campaign_id"] = json!("cmp_off");
    let mut unknown = activity("e_unknown_campaign", "email_sent", "ada@example.com");
    unknown["campaign_id"] = json!("cmp_never_saved");
    let mut quiet = activity("e_quiet", "email_sent", "ada@example.com");
    quiet["campaign_id"] = json!("cmp_quiet");

    let retry = app
        .sync(&[activity("e_opened", "email_opened", "ada@example.com"), other, unknown, quiet, activity("e_nobody", "email_sent", "nobody@example.com")])
        .await;
    assert!(retry.is_empty(), "{retry:?}");
    assert!(app.tasks().is_empty(), "nothing is written for skipped events");
    assert!(app.sim.records("Lead").is_empty(), "no record is created unless the tenant asks");
    let mut stranger = activity("e_stranger", "email_sent", "ada@example.com");
    stranger["tenant_id"] = json!("team_never_connected");
    assert!(app.sync(&[stranger]).await.is_empty());
    let d = outcome_of(&app.deliveries("team_never_connected").await, "e_stranger").clone();
    assert_eq!((d["outcome"].as_str(), d["code"].as_str()), (Some("skipped"), Some("not_connected")), "{d}");
    let log = app.deliveries(TENANT).await;
    for (event, code) in [
        ("e_opened", "event_off"),
        ("e_other", "campaign_disabled"),
        ("e_unknown_campaign", "campaign_disabled"),
        ("e_quiet", "activity_sync_off"),
        ("e_nobody", "no_match"),
    ] {
        let d = outcome_of(&log, event);
        assert_eq!((d["outcome"].as_str(), d["code"].as_str()), (Some("skipped"), Some(code)), "{d}");
        assert!(!d["reason"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn match_policies_duplicates_and_converted_leads() {
    let app = spawn_app(Backend::Memory).await;
    let first = app.sim.insert_contact("twin@example.com", "Twin", "One");
    let _second = app.sim.insert_contact("TWIN@example.com", "Twin", "Two");
    let lead_only = app.sim.insert_lead("lead@example.com", "Lee", "Lead");
    let both_contact = app.sim.insert_contact("both@example.com", "Bo", "Contact");
    let both_lead = app.sim.insert_lead("both@example.com", "Bo", "Lead");
    let converted_into = app.sim.insert_contact("robert@example.com", "Robert", "Converted");
    let converted = app.sim.insert_lead("bob@example.com", "Bob", "Converted");
    assert!(app.sim.convert_lead(&converted, &converted_into));

    app.ready_tenant(json!({"match_policy": "contact_only"})).await;
    let events = |round: &str| {
        ["twin", "lead", "both", "bob"].map(|who| activity(&format!("{round}_{who}"), "email_sent", &format!("{who}@example.com")))
    };
    assert!(app.sync(&events("a")).await.is_empty());
    let who = |event: &str| {
        app.tasks().into_iter().find(|t| t["Description"].as_str().unwrap().contains(&format!("event {event}"))).map(|t| t["WhoId"].clone())
    };
    assert_eq!(who("a_twin"), Some(json!(first)), "duplicates: the oldest record wins");
    assert_eq!(who("a_lead"), None, "contact_only never writes to a Lead");
    assert_eq!(who("a_both"), Some(json!(both_contact)));
    assert_eq!(who("a_bob"), None, "contact_only does not look at Leads, converted or not");

    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"match_policy": "contact_then_lead"})).await;
    assert!(app.sync(&events("b")).await.is_empty());
    assert_eq!(who("b_lead"), Some(json!(lead_only)));
    assert_eq!(who("b_both"), Some(json!(both_contact)));
    assert_eq!(who("b_bob"), Some(json!(converted_into)), "a converted Lead stands for its Contact");

    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"match_policy": "lead_then_contact"})).await;
    assert!(app.sync(&events("c")).await.is_empty());
    assert_eq!(who("c_both"), Some(json!(both_lead)));
    assert_eq!(who("c_twin"), Some(json!(first)));
    assert_eq!(who("c_bob"), Some(json!(converted_into)));
}

#[tokio::test]
async fn create_missing_lead_makes_one_lead_per_new_email() {
    let app = spawn_app(Backend::Memory).await;
    app.ready_tenant(json!({"match_policy": "contact_then_lead", "create_missing": "lead"})).await;
    let mut named = activity("e1", "email_sent", "new.person@acme.example");
    named["contact"]["name"] = json!("New Person");
    assert!(app.sync(&[named, activity("e2", "email_opened", "new.person@acme.example")]).await.is_empty());
    let leads = app.sim.records("Lead");
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!((&leads[0]["LastName"], &leads[0]["FirstName"], &leads[0]["Company"]), (&json!("Person"), &json!("New"), &json!("acme.example")));
    assert!(app.tasks().iter().all(|t| t["WhoId"] == leads[0]["Id"]));
    assert_eq!(app.tasks().len(), 2);
}

/// One batch: good events, poison messages, a tenant whose mapping names a missing field, and
/// a Contact whose Tasks a validation rule refuses. The good ones sync once; each failure goes
/// where the taxonomy sends it.
async fn partial_batch(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let locked = app.sim.insert_contact("locked@example.com", "Lock", "Ed");
    app.sim.add_validation_rule("Task", "WhoId", json!(locked), "Activities on this contact are locked");
    app.ready_tenant(json!({})).await;
    // A second tenant on the same org whose mapping names a field Contact does not have.
    app.connect_tenant("team_bad").await;
    app.put_json("/v1/tenants/team_bad/settings", json!({"field_mapping": {"click_count": "No_Such_Field__c"}})).await;
    app.put_json(&format!("/v1/tenants/team_bad/campaigns/{CAMPAIGN}"), json!({"enabled": true})).await;
    let mut bad_tenant = activity("e_bad_tenant", "email_clicked", "ada@example.com");
    bad_tenant["tenant_id"] = json!("team_bad");
    let mut future_type = activity("e_future", "email_sent", "ada@example.com");
    future_type["version"] = json!(2);

    let bodies = vec![
        activity("e_ok1", "email_sent", "ada@example.com").to_string(),
        "{not json".to_owned(),
        future_type.to_string(),
        activity("e_locked", "email_sent", "locked@example.com").to_string(),
        bad_tenant.to_string(),
        activity("e_ok2", "email_replied", "ada@example.com").to_string(),
    ];
    let retry = app.sync_raw(&bodies).await;
    assert!(retry.is_empty(), "permanent failures are dead-lettered, not retried: {retry:?}");
    let tasks = app.tasks();
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t["WhoId"] == ada));

    // Only what names no tenant goes to the dead-letter queue; the rest are their tenants' dead
    // letters (tests/e2e/tests/api/dead_letters.rs).
    let dead = app.queues.take(true).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0].body.as_str(), dead[0].attributes["sfbridge_error_code"].as_str()), ("{not json", "malformed_command"));
    assert!(!dead[0].attributes["sfbridge_error_reason"].is_empty() && dead[0].attributes.contains_key("sfbridge_source_message_id"));
    let held = |list: Vec<Value>, event: &str| {
        list.into_iter().find(|d| d["event_id"] == event).map(|d| d["code"].as_str().unwrap().to_owned()).unwrap()
    };
    assert_eq!(held(app.dead_letters(TENANT).await, "e_future"), "unsupported_command");
    assert_eq!(held(app.dead_letters(TENANT).await, "e_locked"), "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    assert_eq!(held(app.dead_letters("team_bad").await, "e_bad_tenant"), "INVALID_FIELD");

    let log = app.deliveries(TENANT).await;
    assert_eq!(outcome_of(&log, "e_locked")["outcome"], "dead_lettered");
    assert!(outcome_of(&log, "e_locked")["reason"].as_str().unwrap().contains("locked"));
    assert_eq!(outcome_of(&log, "e_future")["code"], "unsupported_command");
    assert_eq!(outcome_of(&app.deliveries("team_bad").await, "e_bad_tenant")["outcome"], "dead_lettered");

    // SQS delivers the same batch again: nothing new is written.
    assert!(app.sync_raw(&bodies).await.is_empty());
    assert_eq!(app.tasks().len(), 2);
}

#[tokio::test]
async fn partial_batch_embedded() {
    partial_batch(Backend::Memory).await;
}

#[tokio::test]
async fn partial_batch_on_moto() {
    partial_batch(Backend::Moto).await;
}

/// The commands deferred so far: sent again to the activity queue, delayed, in the tenant's group,
/// with their deferral count (in-process queues).
pub fn deferred_copies(app: &TestApp) -> Vec<(String, Option<String>)> {
    let crate::helpers::TestQueues::Memory { activity, .. } = &app.queues else { unreachable!("in-process queues") };
    activity
        .peek_all()
        .into_iter()
        .map(|m| {
            assert_eq!(m.group_id.as_deref(), Some(TENANT));
            let deferrals = m.attributes.iter().find(|(k, _)| k == "sfbridge_deferrals").map(|(_, v)| v.clone());
            (serde_json::from_str::<Value>(&m.body).unwrap()["event_id"].as_str().unwrap().to_owned(), deferrals)
        })
        .collect()
}

#[tokio::test]
async fn transient_failures_are_retried_by_sqs_and_the_budget_guard_defers() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({"api_budget_percent": 50})).await;
    app.sim.set_faults(salesforce_sim::Faults { rate_503: 1.0, seed: 7, ..Default::default() });
    let retry = app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await;
    // Salesforce unavailable is the tenant's condition, not the event's: deferred (sent again
    // with a delay, using no receive), not retried.
    assert!(retry.is_empty(), "{retry:?}");
    assert_eq!(deferred_copies(&app), [("e1".to_owned(), Some("1".to_owned()))], "a 503 defers the event");
    app.sim.set_faults(salesforce_sim::Faults::default());

    // The org is at 60 % of its daily limit; the tenant allows sync 50 %.
    let (_, max) = app.sim.api_usage();
    app.sim.set_api_usage(max * 6 / 10);
    let retry = app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await;
    assert!(retry.is_empty(), "{retry:?}");
    assert_eq!(deferred_copies(&app).len(), 2, "over budget: deferred");
    assert!(app.tasks().is_empty(), "nothing written over budget");
    let calls = app.sim.rest_calls();
    assert!(app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(deferred_copies(&app).len(), 3, "deferred again");
    assert_eq!(app.sim.rest_calls(), calls, "a recent reading over budget spends no call at all");

    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"api_budget_percent": 90})).await;
    assert!(app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(app.tasks().len(), 1);
}

#[tokio::test]
async fn an_external_id_field_makes_task_writes_upserts() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.add_custom_field("Task", "Sfbridge_Event_Id__c", FieldSpec::unique_external_id(FieldKind::String));
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({"task_external_id_field": "Sfbridge_Event_Id__c"})).await;
    // An earlier attempt's write landed but its answer was lost (and the worker died before
    // the ledger heard of it): the Task is there, the ledger knows nothing.
    let contact = app.sim.records("Contact")[0]["Id"].clone();
    app.sim
        .insert_record("Task", json!({"WhoId": contact, "Subject": "Email sent: Q1 Outreach", "TaskSubtype": "Email",
            "Status": "Completed", "Sfbridge_Event_Id__c": "e1"}))
        .unwrap();
    assert!(app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await.is_empty());
    let tasks = app.tasks();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["Sfbridge_Event_Id__c"], "e1");
    assert_eq!(outcome_of(&app.deliveries(TENANT).await, "e1")["task_id"], tasks[0]["Id"]);
}

/// The local stack as a newcomer runs it: `POST /local/activity` feeds the in-process queue, the
/// worker runs the activity-sync function, the Task shows in the simulated org.
#[tokio::test]
async fn the_local_stack_syncs_enqueued_activity() {
    let stack = sfbridge_local::start(sfbridge_local::LocalOptions {
        port: 0,
        simulate_salesforce: true,
        admin_token: Some("local-admin-token-0123".into()),
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
    let admin = |method: Method, path: &str| api.request(method, format!("{base}{path}")).bearer_auth("local-admin-token-0123");

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
    let enable = admin(Method::PUT, "/v1/tenants/team_42/campaigns/cmp_7").json(&json!({"enabled": true})).send().await.unwrap();
    assert_eq!(enable.status(), 200);

    let unauthenticated = api.post(format!("{base}/local/activity")).json(&activity("evt_1", "email_opened", "ada@example.com")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let bad = admin(Method::POST, "/local/activity").body("not json").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let enqueued = admin(Method::POST, "/local/activity").json(&json!([activity("evt_1", "email_opened", "ada@example.com")])).send().await.unwrap();
    assert_eq!(enqueued.status(), 202);

    let mut synced = Value::Null;
    for _ in 0..100 {
        let log: Value = admin(Method::GET, "/v1/tenants/team_42/deliveries").send().await.unwrap().json().await.unwrap();
        if let Some(d) = log["deliveries"].as_array().and_then(|d| d.first()) {
            synced = d.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(synced["outcome"], "synced", "{synced}");
    let tasks: Value = api.get(format!("{base}/local/salesforce/Task")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tasks.as_array().unwrap().len(), 1);
    assert_eq!(tasks[0]["Id"], synced["task_id"]);

    // The README's push step, as written there: map, test the fields, send the three commands.
    let mapping = json!({"attribute_mapping": {"nps_score": {"contact": "NPS_Score__c", "lead": "NPS_Score__c"}},
        "campaign_experiment_key_field": "Experiment_Key__c"});
    assert_eq!(admin(Method::PATCH, "/v1/tenants/team_42/settings").json(&mapping).send().await.unwrap().status(), 200);
    let checked: Value = admin(Method::POST, "/v1/tenants/team_42/settings/test-fields").send().await.unwrap().json().await.unwrap();
    assert_eq!(checked["ok"], true, "{checked}");
    let push = json!([
        {"version":1,"type":"field_update","event_id":"nps_1","tenant_id":"team_42","contact":{"email":"grace@example.com"},"values":{"nps_score":9}},
        {"version":1,"type":"campaign_update","event_id":"exp_1","tenant_id":"team_42","campaign":{"experiment_key":sfbridge_local::DEMO_EXPERIMENT_KEY},
         "state":"completed","note":"Variant B reached significance: +12 % replies (p = 0.01)"},
        {"version":1,"type":"record_upsert","event_id":"ev_1","tenant_id":"team_42","object":"Engagement_Event__c",
         "external_id_field":"Event_Id__c","external_id":"ev_1","fields":{"Name":"Webinar attended"}}
    ]);
    assert_eq!(admin(Method::POST, "/local/activity").json(&push).send().await.unwrap().status(), 202);
    let mut outcomes = Vec::new();
    for _ in 0..100 {
        let log: Value = admin(Method::GET, "/v1/tenants/team_42/deliveries").send().await.unwrap().json().await.unwrap();
        outcomes = ["nps_1", "exp_1", "ev_1"]
            .iter()
            .filter_map(|id| log["deliveries"].as_array()?.iter().find(|d| d["event_id"] == *id).map(|d| d["outcome"].clone()))
            .collect();
        if outcomes.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(outcomes, [json!("synced"), json!("synced"), json!("synced")]);
    let campaigns: Value = api.get(format!("{base}/local/salesforce/Campaign")).send().await.unwrap().json().await.unwrap();
    assert_eq!(campaigns[0]["Status"], "Completed");
    let records: Value = api.get(format!("{base}/local/salesforce/Engagement_Event__c")).send().await.unwrap().json().await.unwrap();
    assert_eq!(records[0]["Name"], "Webinar attended");

    // The README's import step: the org's Contacts into a segment, through the stack's own
    // import worker.
    let import = json!({"import": {"objects": [{"object": "Contact", "fields": ["Email", "FirstName", "LastName"], "segment": "Salesforce Contacts"}]}});
    assert_eq!(admin(Method::PATCH, "/v1/tenants/team_42/settings").json(&import).send().await.unwrap().status(), 200);
    let started = admin(Method::POST, "/v1/tenants/team_42/imports").send().await.unwrap();
    assert_eq!(started.status(), 202);
    let mut runs = Value::Null;
    for _ in 0..200 {
        runs = admin(Method::GET, "/v1/tenants/team_42/imports").send().await.unwrap().json().await.unwrap();
        if runs["imports"][0]["state"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(runs["imports"][0]["state"], "completed", "{runs}");
    let published: Value = admin(Method::GET, "/local/inbound-events").send().await.unwrap().json().await.unwrap();
    let imported: Vec<&Value> = published["events"].as_array().unwrap().iter().filter(|e| e["source"] == "import").collect();
    let contacts = sim.records("Contact").len();
    assert_eq!(imported.len(), contacts, "one event per Contact: {imported:?}");
    assert!(imported.iter().all(|e| e["event_type"] == "contact_created" && e["segment"] == "Salesforce Contacts"));
    let tick = admin(Method::POST, "/local/import-tick").send().await.unwrap();
    assert_eq!(tick.status(), 200);
    assert_eq!(tick.json::<Value>().await.unwrap()["started"], json!([]), "the hourly run is not due yet");
}

#[tokio::test]
async fn every_salesforce_call_uses_the_configured_api_version() {
    let version = sfbridge_core::config::ApiVersion::parse("v62.0").unwrap();
    let app = spawn_app_with(Backend::Memory, AppOptions { api_version: Some(version), ..AppOptions::default() }).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({})).await;
    let before = app.sim.requests().len();
    assert!(app.sync(&[activity("m_version", "email_sent", "ada@example.com")]).await.is_empty());
    let paths: Vec<String> =
        app.sim.requests()[before..].iter().map(|r| r.path.clone()).filter(|p| p.starts_with("/services/data/")).collect();
    assert!(!paths.is_empty(), "the sync called the REST API");
    assert!(paths.iter().all(|p| p.starts_with("/services/data/v62.0/")), "{paths:?}");
    assert_eq!(app.sim.records("Task").len(), 1, "the Composite subrequests carried the version too");
}
