//! Import, end to end: Sync Now and scheduled runs through the admin API, the import function's
//! handler on the import queue's messages (as the SQS trigger delivers them), the simulated org,
//! and the inbound queue the product reads; on the embedded adapters and on moto.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use salesforce_sim::{Faults, ImportMoment, RecordChange, SeedStamps};
use serde_json::{json, Value};
use sfbridge_import::{ImportLimits, Importer};

use crate::helpers::{spawn_app, Backend, QueueName, TestApp};
use crate::sync::TENANT;

/// Contacts into one segment, Leads into another.
fn people_settings() -> Value {
    json!({"import": {"objects": [
        {"object": "Contact", "fields": ["Email", "FirstName", "LastName"], "segment": "Salesforce Contacts"},
        {"object": "Lead", "fields": ["Email", "FirstName", "LastName", "Company"], "segment": "Salesforce Leads"}
    ]}})
}

/// Production's limits with waits of milliseconds, so waiting runs resume within the test.
fn quick(limits: ImportLimits) -> ImportLimits {
    ImportLimits { first_retry: Duration::from_millis(20), budget_wait: Duration::from_millis(20), ..limits }
}

impl TestApp {
    /// The app's importer with other limits (the handler is the function's own).
    fn importer(&self, limits: ImportLimits) -> Importer {
        (*self.ctx.importer).clone().with_limits(quick(limits))
    }

    /// The simulated org's clock stopped at the app's, so `SystemModstamp`s and watermarks agree.
    fn align_clocks(&self) {
        self.sim.set_time(SystemTime::from(sfbridge_core::clock::Clock::now(&self.clock)));
    }

    /// Both clocks forward.
    fn advance_clocks(&self, by: Duration) {
        self.clock.advance(chrono::Duration::from_std(by).unwrap());
        self.sim.advance_time(by);
    }

    /// `POST /v1/tenants/{tenant}/imports`: status and body.
    async fn sync_now(&self, tenant: &str, body: Option<Value>) -> (StatusCode, Value) {
        let response = self.admin(Method::POST, &format!("/v1/tenants/{tenant}/imports"), body).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn import_view(&self, tenant: &str, id: &str) -> Value {
        let response = self.admin(Method::GET, &format!("/v1/tenants/{tenant}/imports/{id}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Delivers the import queue's messages to the function's handler, one per invocation as the
    /// trigger does (a step to retry goes back on the queue), until the run `id` has ended or
    /// parked and nothing is left; returns its view and the invocations made.
    async fn run_import(&self, importer: &Importer, tenant: &str, id: &str) -> (Value, usize) {
        let started = std::time::Instant::now();
        let mut invocations = 0;
        loop {
            let messages = self.queues.take_from(QueueName::Import).await;
            for m in &messages {
                invocations += 1;
                let response = invoke(importer, &m.body).await;
                if !response.batch_item_failures.is_empty() {
                    // As SQS would bring it back.
                    self.ctx.queues.import.send(vec![sfbridge_core::queue::OutgoingMessage::new(m.body.clone())]).await;
                }
            }
            if messages.is_empty() {
                let view = self.import_view(tenant, id).await;
                if ["completed", "failed", "cancelled", "parked"].contains(&view["state"].as_str().unwrap()) {
                    return (view, invocations);
                }
                assert!(started.elapsed() < Duration::from_secs(900), "the run never ended: {view}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Every import event published since the last call: what the inbound queue took (read back
    /// from the queue's door, not received: see `QueueFaults::take_delivered`).
    async fn import_events(&self) -> Vec<Value> {
        let events: Vec<Value> = self.inbound_faults.take_delivered().iter().map(|b| serde_json::from_str(b).unwrap()).collect();
        assert!(events.iter().all(|e| e["source"] == "import"), "only import events here");
        events
    }
}

/// One message as a one-record SQS batch through the import function.
async fn invoke(importer: &Importer, body: &str) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.message_id = Some(format!("m{}", sfbridge_core::domain::FlowId::random()));
    record.body = Some(body.to_owned());
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![record];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    sfbridge_salesforce_import::handle_batch(importer, event, deadline).await
}

fn seed(app: &TestApp, object: &str, count: usize) -> Vec<String> {
    let first = app.sim.now() - Duration::from_secs(86_400);
    app.sim.seed_people(object, count, SeedStamps { first, spacing: Duration::from_millis(1), per_stamp: 3 })
}

fn count_by<'a>(events: &'a [Value], key: &str) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for e in events {
        *counts.entry(e[key].as_str().unwrap_or("")).or_insert(0) += 1;
    }
    counts
}

fn record_ids(events: &[Value]) -> HashSet<String> {
    events.iter().map(|e| e["record_id"].as_str().unwrap().to_owned()).collect()
}

/// Sync Now of 5,000 Contacts and 2,000 Leads (on moto 1,000 and 400) publishes exactly one
/// event per record into its segment; an incremental run after 50 updates, 20 creates and 10 deletes publishes exactly those 80.
async fn sync_now_then_incremental(backend: Backend, (contact_count, lead_count): (usize, usize)) {
    let started = std::time::Instant::now();
    let total = contact_count + lead_count;
    let app = spawn_app(backend).await;
    app.align_clocks();
    let contacts = seed(&app, "Contact", contact_count);
    let leads = seed(&app, "Lead", lead_count);
    app.ready_tenant(people_settings()).await;
    let importer = app.importer(ImportLimits::default());

    let (status, first) = app.sync_now(TENANT, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!((first["started"].as_bool(), first["kind"].as_str(), first["state"].as_str()), (Some(true), Some("full"), Some("queued")));
    let id = first["import_id"].as_str().unwrap().to_owned();
    let (status, again) = app.sync_now(TENANT, None).await;
    assert_eq!((status, again["started"].as_bool(), again["import_id"].as_str()), (StatusCode::OK, Some(false), Some(id.as_str())), "one run at a time");

    let calls = app.sim.rest_calls();
    let (view, invocations) = app.run_import(&importer, TENANT, &id).await;
    assert_eq!(view["state"], "completed", "{view}");
    assert_eq!(view["events_published"], total);
    let events = app.import_events().await;
    assert_eq!(events.len(), total);
    assert_eq!(record_ids(&events).len(), total, "one event per record");
    assert_eq!(count_by(&events, "event_type"), HashMap::from([("contact_created", contact_count), ("lead_created", lead_count)]));
    let segments = count_by(&events, "segment");
    assert_eq!(segments, HashMap::from([("Salesforce Contacts", contact_count), ("Salesforce Leads", lead_count)]));
    let sample = events.iter().find(|e| e["record_id"] == contacts[17].as_str()).unwrap();
    assert!(sample["fields"]["Email"].as_str().unwrap().ends_with("@seed.example.com"), "{sample}");
    assert!(sample["system_modstamp"].is_string() && sample["import_id"] == id.as_str(), "{sample}");
    let full_calls = app.sim.rest_calls() - calls;
    assert_eq!(view["salesforce_calls"].as_u64(), Some(full_calls as u64), "the run counts every call it makes");

    // An hour later: 50 updates, 20 creates, 10 deletes.
    app.advance_clocks(Duration::from_secs(3_600));
    for id in contacts.iter().take(40).chain(leads.iter().take(10)) {
        app.sim.update_record(id, json!({"FirstName": "Renamed"})).unwrap();
    }
    let created: Vec<String> = (0..15).map(|i| app.sim.insert_contact(&format!("new{i}@example.com"), "New", "Contact"))
        .chain((0..5).map(|i| app.sim.insert_lead(&format!("newlead{i}@example.com"), "New", "Lead")))
        .collect();
    for id in contacts.iter().skip(100).take(7).chain(leads.iter().skip(100).take(3)) {
        assert!(app.sim.delete_record(id));
    }
    app.advance_clocks(Duration::from_secs(60));

    let calls = app.sim.rest_calls();
    let (status, second) = app.sync_now(TENANT, None).await;
    assert_eq!((status, second["kind"].as_str()), (StatusCode::ACCEPTED, Some("incremental")), "{second}");
    let id = second["import_id"].as_str().unwrap().to_owned();
    let (view, _) = app.run_import(&importer, TENANT, &id).await;
    assert_eq!(view["state"], "completed", "{view}");
    let events = app.import_events().await;
    assert_eq!(events.len(), 80, "{:?}", count_by(&events, "event_type"));
    assert_eq!(
        count_by(&events, "event_type"),
        HashMap::from([("contact_updated", 40), ("lead_updated", 10), ("contact_created", 15), ("lead_created", 5), ("contact_deleted", 7), ("lead_deleted", 3)])
    );
    assert!(created.iter().all(|id| record_ids(&events).contains(id)));
    let read: u64 = view["objects"].as_array().unwrap().iter().map(|o| o["records_read"].as_u64().unwrap()).sum();
    assert!(read <= 80, "an incremental run reads what changed, not the org: {read} records read");
    eprintln!(
        "import[{backend:?}]: Sync Now of {total} records in {invocations} invocation(s), {full_calls} Salesforce calls; incremental: 80 events, \
         {read} records read, {} calls; {:.1?}",
        app.sim.rest_calls() - calls,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_then_incremental_embedded() {
    sync_now_then_incremental(Backend::Memory, (5_000, 2_000)).await;
}

/// A fifth of the records on moto: its SQS and DynamoDB emulation answers in tens of
/// milliseconds a call (a second at a queue depth of 2,000), and the run is the same code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_then_incremental_on_moto() {
    sync_now_then_incremental(Backend::Moto, (1_000, 400)).await;
}

/// A record changed behind the run's position is caught by the next run; one changed ahead of
/// it is read changed, and not published again by the next run.
async fn records_changed_during_a_run(backend: Backend) {
    let app = spawn_app(backend).await;
    app.align_clocks();
    let contacts = seed(&app, "Contact", 2_500);
    app.ready_tenant(json!({"import": {"objects": [{"object": "Contact", "fields": ["Email", "FirstName"]}]}})).await;
    let importer = app.importer(ImportLimits { page_size: 1_000, ..ImportLimits::default() });
    let (behind, ahead) = (contacts.first().unwrap().clone(), contacts.last().unwrap().clone());
    app.sim.schedule_change(ImportMoment::QueryPages(1), RecordChange::Update { id: behind.clone(), fields: json!({"FirstName": "Behind"}) });
    app.sim.schedule_change(ImportMoment::QueryPages(1), RecordChange::Update { id: ahead.clone(), fields: json!({"FirstName": "Ahead"}) });

    let (_, run) = app.sync_now(TENANT, None).await;
    let (view, _) = app.run_import(&importer, TENANT, run["import_id"].as_str().unwrap()).await;
    assert_eq!(view["state"], "completed", "{view}");
    assert_eq!(app.sim.applied_changes().len(), 2, "both changes were made mid-run");
    let events = app.import_events().await;
    assert_eq!(events.len(), 2_500);
    let first_name = |events: &[Value], id: &str| events.iter().find(|e| e["record_id"] == id).map(|e| e["fields"]["FirstName"].clone());
    assert_eq!(first_name(&events, &ahead), Some(json!("Ahead")), "read after the change");
    assert_ne!(first_name(&events, &behind), Some(json!("Behind")), "read before the change");

    app.advance_clocks(Duration::from_secs(600));
    let (_, run) = app.sync_now(TENANT, None).await;
    let (view, _) = app.run_import(&importer, TENANT, run["import_id"].as_str().unwrap()).await;
    assert_eq!(view["state"], "completed", "{view}");
    let events = app.import_events().await;
    assert_eq!(events.len(), 1, "only the change the first run could not see: {events:?}");
    assert_eq!((events[0]["record_id"].as_str(), events[0]["event_type"].as_str()), (Some(behind.as_str()), Some("contact_updated")));
    assert_eq!(first_name(&events, &behind), Some(json!("Behind")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_changed_during_a_run_are_not_missed_embedded() {
    records_changed_during_a_run(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_changed_during_a_run_are_not_missed_on_moto() {
    records_changed_during_a_run(Backend::Moto).await;
}

/// Runs handed on at every third page, and one invocation that dies mid-publish: every record
/// is published once.
async fn cut_off_runs_resume_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 2_000);
    app.ready_tenant(json!({"import": {"objects": [{"object": "Contact", "fields": ["Email"]}]}})).await;
    let importer = app.importer(ImportLimits { page_size: 200, pages_per_invocation: Some(3), ..ImportLimits::default() });
    let (_, run) = app.sync_now(TENANT, None).await;
    let id = run["import_id"].as_str().unwrap().to_owned();

    // The first invocation: 3 pages, then hands on.
    let first = app.queues.take_from(QueueName::Import).await;
    assert_eq!(first.len(), 1);
    assert!(invoke(&importer, &first[0].body).await.batch_item_failures.is_empty());
    assert_eq!(app.import_events().await.len(), 600);
    // The second dies while its second page is being published (the inbound queue holds it).
    let second = app.queues.take_from(QueueName::Import).await;
    assert_eq!(second.len(), 1);
    let held = app.inbound_faults.hold().await;
    let body = second[0].body.clone();
    let crashing = importer.clone();
    let task = tokio::spawn(async move { invoke(&crashing, &body).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    task.abort();
    drop(held);
    assert!(task.await.is_err(), "the invocation died");
    let before_crash = app.import_events().await;
    assert!(before_crash.len() <= 200, "at most its first page went out: {}", before_crash.len());
    // SQS brings the message back when its visibility ends; by then the dead invocation's lease
    // on the run has ended too.
    app.clock.advance(chrono::Duration::minutes(17));
    app.ctx.queues.import.send(vec![sfbridge_core::queue::OutgoingMessage::new(second[0].body.clone())]).await;
    let (view, invocations) = app.run_import(&importer, TENANT, &id).await;
    assert_eq!(view["state"], "completed", "{view}");
    let mut all = before_crash;
    all.extend(app.import_events().await);
    let mut seen = HashSet::new();
    let twice: Vec<&Value> = all.iter().filter(|e| !seen.insert(e["record_id"].as_str().unwrap())).collect();
    assert!(twice.is_empty(), "published twice: {:?}", twice.first());
    assert_eq!(all.len() + 600, 2_000, "no gap");
    assert!(invocations >= 3, "handed on page by page: {invocations}");
    assert_eq!(view["events_published"], 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_runs_resume_with_no_gap_and_no_duplicate_embedded() {
    cut_off_runs_resume_exactly(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_runs_resume_with_no_gap_and_no_duplicate_on_moto() {
    cut_off_runs_resume_exactly(Backend::Moto).await;
}

/// One invocation for each message waiting on the import queue; how many there were.
async fn step(app: &TestApp, importer: &Importer) -> usize {
    let messages = app.queues.take_from(QueueName::Import).await;
    for m in &messages {
        invoke(importer, &m.body).await;
    }
    messages.len()
}

/// A 503 storm, an expired token, a revoked grant and an exhausted budget, each as documented:
/// the run waits (or parks until a reconnect) and then publishes every record once.
async fn runs_ride_out_salesforce_trouble(backend: Backend) {
    let app = spawn_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 600);
    app.ready_tenant(json!({"import": {"objects": [{"object": "Contact", "fields": ["Email"]}]}})).await;
    let importer = app.importer(ImportLimits { page_size: 100, pages_per_invocation: Some(1), ..ImportLimits::default() });
    let (_, run) = app.sync_now(TENANT, None).await;
    let id = run["import_id"].as_str().unwrap().to_owned();

    // A 503 storm: the run waits and counts the failures.
    app.sim.set_faults(Faults { rate_503: 1.0, seed: 3, ..Faults::default() });
    step(&app, &importer).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    step(&app, &importer).await;
    let waiting = app.import_view(TENANT, &id).await;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert!(waiting["message"].as_str().unwrap().contains("waiting after a failure"), "{waiting}");
    app.sim.set_faults(Faults::default());

    // An expired token: refreshed on the 401, the run goes on.
    let refreshes = app.refresh_requests();
    app.sim.expire_access_tokens();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(step(&app, &importer).await >= 1);
    assert_eq!(app.refresh_requests() - refreshes, 1, "one refresh");

    // The org over the tenant's budget (80 % by default): the run waits.
    app.sim.set_api_usage(u64::MAX / 2);
    app.sim.set_api_limit(u64::MAX / 2 + 1_000);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    step(&app, &importer).await;
    let over = app.import_view(TENANT, &id).await;
    assert_eq!(over["state"], "waiting", "{over}");
    assert!(over["message"].as_str().unwrap().contains("over this tenant's budget"), "{over}");
    app.sim.set_api_usage(0);

    // A revoked grant: parked until the tenant reconnects; the tick then resumes it.
    let tokens = app.sim.issued_refresh_tokens();
    assert!(app.sim.revoke_token(tokens.last().unwrap()));
    app.sim.expire_access_tokens();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    step(&app, &importer).await;
    let parked = app.import_view(TENANT, &id).await;
    assert_eq!(parked["state"], "parked", "{parked}");
    assert!(app.queues.take_from(QueueName::Import).await.is_empty(), "a parked run has no message");
    let tick = sfbridge_import::service::tick(&importer).await.unwrap();
    assert!(tick.resumed.is_empty(), "not before the reconnect");
    app.connect_tenant(TENANT).await;
    let tick = sfbridge_import::service::tick(&importer).await.unwrap();
    assert_eq!(tick.resumed, [TENANT]);

    let (view, _) = app.run_import(&importer, TENANT, &id).await;
    assert_eq!(view["state"], "completed", "{view}");
    let events = app.import_events().await;
    assert_eq!(record_ids(&events).len(), 600, "every record");
    assert_eq!(events.len(), 600, "once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_ride_out_salesforce_trouble_embedded() {
    runs_ride_out_salesforce_trouble(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_ride_out_salesforce_trouble_on_moto() {
    runs_ride_out_salesforce_trouble(Backend::Moto).await;
}

/// The tick starts the tenants whose schedule is due, and no other.
async fn the_tick_starts_only_due_tenants(backend: Backend) {
    let app = spawn_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 10);
    let importer = app.importer(ImportLimits::default());
    let objects = json!([{"object": "Contact", "fields": ["Email"]}]);
    for (tenant, schedule) in [("t_hourly", "hourly"), ("t_daily", "daily"), ("t_off", "off")] {
        app.connect_tenant(tenant).await;
        app.put_json(&format!("/v1/tenants/{tenant}/settings"), json!({"import": {"schedule": schedule, "objects": objects}})).await;
    }
    app.connect_tenant("t_none").await;

    let tick = || async {
        let report = sfbridge_import::service::tick(&importer).await.unwrap();
        for tenant in &report.started {
            let list = app.admin(Method::GET, &format!("/v1/tenants/{tenant}/imports"), None).await.json::<Value>().await.unwrap();
            let id = list["imports"][0]["import_id"].as_str().unwrap().to_owned();
            let (view, _) = app.run_import(&importer, tenant, &id).await;
            assert_eq!(view["state"], "completed", "{view}");
            assert_eq!(view["trigger"], "schedule");
        }
        let mut started = report.started;
        started.sort();
        started
    };
    assert_eq!(tick().await, ["t_daily", "t_hourly"], "both never ran");
    app.advance_clocks(Duration::from_secs(30 * 60));
    assert!(tick().await.is_empty(), "nothing due after 30 minutes");
    app.advance_clocks(Duration::from_secs(31 * 60));
    assert_eq!(tick().await, ["t_hourly"]);
    app.advance_clocks(Duration::from_secs(23 * 3_600));
    assert_eq!(tick().await, ["t_daily", "t_hourly"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tick_starts_only_due_tenants_embedded() {
    the_tick_starts_only_due_tenants(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tick_starts_only_due_tenants_on_moto() {
    the_tick_starts_only_due_tenants(Backend::Moto).await;
}

/// What the admin API refuses, and how it says so.
#[tokio::test]
async fn sync_now_says_what_is_missing() {
    let app = spawn_app(Backend::Memory).await;
    let (status, body) = app.sync_now(TENANT, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("import_not_configured")), "{body}");
    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"import": {"objects": [{"object": "Contact", "fields": ["Email"]}]}})).await;
    let (status, body) = app.sync_now(TENANT, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("not_connected")), "{body}");

    let bad = app
        .admin(Method::PUT, &format!("/v1/tenants/{TENANT}/settings"), Some(json!({"import": {"objects": [
            {"object": "Contact", "fields": ["Email"], "filter": [{"field": "LeadSource", "op": "in", "values": []}]}]}})))
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let message = bad.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("import.objects[0].filter[0].values: give 1 or more values"), "{message}");

    app.connect_tenant(TENANT).await;
    let (status, body) = app.sync_now(TENANT, Some(json!({"full": "yes"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")), "{body}");
    let unknown = app.admin(Method::GET, &format!("/v1/tenants/{TENANT}/imports/imp_nope"), None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let garbage = app.admin(Method::GET, &format!("/v1/tenants/{TENANT}/imports?cursor=%23%23"), None).await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);

    // Cancelled while queued: it ends at once, and a new one may start.
    let (status, run) = app.sync_now(TENANT, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = run["import_id"].as_str().unwrap();
    let cancelled = app.admin(Method::DELETE, &format!("/v1/tenants/{TENANT}/imports/{id}"), None).await;
    assert_eq!(cancelled.status(), StatusCode::ACCEPTED);
    assert_eq!(app.import_view(TENANT, id).await["state"], "cancelled");
    let again = app.admin(Method::DELETE, &format!("/v1/tenants/{TENANT}/imports/{id}"), None).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    app.clock.advance(chrono::Duration::seconds(1));
    let (status, next) = app.sync_now(TENANT, Some(json!({"full": true}))).await;
    assert_eq!((status, next["started"].as_bool()), (StatusCode::ACCEPTED, Some(true)), "{next}");
    let list = app.admin(Method::GET, &format!("/v1/tenants/{TENANT}/imports?limit=1"), None).await.json::<Value>().await.unwrap();
    assert_eq!(list["imports"][0]["import_id"], next["import_id"], "newest first");
    assert!(list["next_cursor"].is_string());
    // Another tenant sees none of it.
    let other = app.admin(Method::GET, &format!("/v1/tenants/other/imports/{id}"), None).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}
