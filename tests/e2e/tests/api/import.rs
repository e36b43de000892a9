//! Import, end to end: Sync Now and scheduled runs through the admin API, the import function's
//! handler on the import queue's messages (as the SQS trigger delivers them), the simulated org,
//! and the inbound queue the product reads; on the embedded adapters and on moto.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use salesforce_sim::{BulkQueryPace, Faults, ImportMoment, RecordChange, SeedStamps};
use serde_json::{json, Value};
use sfbridge_import::{ImportLimits, Importer};

use crate::helpers::{assert_inbound_events_match_the_schema, spawn_app, Backend, QueueName, TestApp};
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
    let wait = Duration::from_millis(20);
    ImportLimits { first_retry: wait, budget_wait: wait, bulk_first_poll: wait, ..limits }
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
        self.run_import_draining(importer, tenant, id, None).await
    }

    /// [`Self::run_import`], and with `events`, the events each invocation published, taken into
    /// it as the invocation ends (so a test can tell which invocation sent what).
    async fn run_import_draining(&self, importer: &Importer, tenant: &str, id: &str, mut events: Option<&mut Vec<Value>>) -> (Value, usize) {
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
                if let Some(events) = events.as_deref_mut() {
                    events.extend(self.import_events().await);
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

    /// The import queue's next message through an invocation that dies while publishing (the
    /// inbound queue holds its sends); then, as SQS would once the message's visibility ends
    /// (and with it the dead invocation's lease on the run), the message back on the queue.
    /// Returns the events that went out before it died.
    async fn crash_mid_publish(&self, importer: &Importer) -> Vec<Value> {
        let next = self.queues.take_from(QueueName::Import).await;
        assert_eq!(next.len(), 1);
        let held = self.inbound_faults.hold().await;
        let body = next[0].body.clone();
        let crashing = importer.clone();
        let task = tokio::spawn(async move { invoke(&crashing, &body).await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        task.abort();
        drop(held);
        assert!(task.await.is_err(), "the invocation died");
        let before_crash = self.import_events().await;
        self.clock.advance(chrono::Duration::minutes(17));
        self.ctx.queues.import.send(vec![sfbridge_core::queue::OutgoingMessage::new(next[0].body.clone())]).await;
        before_crash
    }

    /// Every import event published since the last call: what the inbound queue took (read back
    /// from the queue's door, not received: see `QueueFaults::take_delivered`).
    async fn import_events(&self) -> Vec<Value> {
        let delivered = self.inbound_faults.take_delivered();
        assert_inbound_events_match_the_schema(delivered.iter().map(String::as_str));
        let events: Vec<Value> = delivered.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
        assert!(events.iter().all(|e| e["source"] == "import"), "only import events here");
        events
    }
}

/// The app, and consumers that keep its inbound queue empty, as the product's would, until
/// dropped. The tests read the events at the queue's door (`QueueFaults::take_delivered`), and
/// moto's SendMessage counts the queue's messages on every call: a queue nobody empties makes a
/// run of thousands of events quadratic.
async fn spawn_import_app(backend: Backend) -> (TestApp, KeepEmpty) {
    let app = spawn_app(backend).await;
    let consumers = (0..4)
        .map(|_| {
            let queues = app.queues.clone();
            tokio::spawn(async move {
                loop {
                    queues.drain(QueueName::Inbound).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    (app, KeepEmpty(consumers))
}

/// Stops [`spawn_import_app`]'s consumers when dropped.
struct KeepEmpty(Vec<tokio::task::JoinHandle<()>>);

impl Drop for KeepEmpty {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
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

/// `n` events, no record twice.
fn assert_once_each(events: &[Value], n: usize) {
    let mut seen = HashSet::new();
    let twice: Vec<&Value> = events.iter().filter(|e| !seen.insert(e["record_id"].as_str().unwrap())).collect();
    assert!(twice.is_empty(), "published twice: {:?}", twice.first());
    assert_eq!(events.len(), n, "no gap");
}

/// Sync Now of 5,000 Contacts and 2,000 Leads publishes exactly one
/// event per record into its segment; an incremental run after 50 updates, 20 creates and 10 deletes publishes exactly those 80.
async fn sync_now_then_incremental(backend: Backend, (contact_count, lead_count): (usize, usize)) {
    let started = std::time::Instant::now();
    let total = contact_count + lead_count;
    let (app, _consumers) = spawn_import_app(backend).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_then_incremental_on_moto() {
    sync_now_then_incremental(Backend::Moto, (5_000, 2_000)).await;
}

/// A record changed behind the run's position is caught by the next run; one changed ahead of
/// it is read changed, and not published again by the next run.
async fn records_changed_during_a_run(backend: Backend) {
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    let contacts = seed(&app, "Contact", 2_500);
    app.ready_tenant(json!({"import": {"objects": [{"object": "Contact", "fields": ["Email", "FirstName"]}]}})).await;
    // REST paging (no count first), so the changes come after the first page of records.
    let importer = app.importer(ImportLimits { page_size: 1_000, bulk_threshold: None, ..ImportLimits::default() });
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
    let (app, _consumers) = spawn_import_app(backend).await;
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
    // The second dies while its second page is being published.
    let before_crash = app.crash_mid_publish(&importer).await;
    assert!(before_crash.len() <= 200, "at most its first page went out: {}", before_crash.len());
    let (view, invocations) = app.run_import(&importer, TENANT, &id).await;
    assert_eq!(view["state"], "completed", "{view}");
    let mut all = before_crash;
    all.extend(app.import_events().await);
    assert_once_each(&all, 2_000 - 600);
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

/// A 503 storm, an expired token, the org over the tenant's budget and a revoked grant, one
/// after the other, each met as documented: the run waits, refreshes, waits, and parks until the
/// tenant reconnects, when the tick resumes it.
async fn ride_out_trouble(app: &TestApp, importer: &Importer, id: &str) {
    // A 503 storm: the run waits and counts the failures.
    app.sim.set_faults(Faults { rate_503: 1.0, seed: 3, ..Faults::default() });
    step(app, importer).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    step(app, importer).await;
    let waiting = app.import_view(TENANT, id).await;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert!(waiting["message"].as_str().unwrap().contains("waiting after a failure"), "{waiting}");
    app.sim.set_faults(Faults::default());

    // An expired token: refreshed on the 401, the run goes on.
    let refreshes = app.refresh_requests();
    app.sim.expire_access_tokens();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(step(app, importer).await >= 1);
    assert_eq!(app.refresh_requests() - refreshes, 1, "one refresh");

    // The org over the tenant's budget (80 % by default): the run waits.
    app.sim.set_api_usage(u64::MAX / 2);
    app.sim.set_api_limit(u64::MAX / 2 + 1_000);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    step(app, importer).await;
    let over = app.import_view(TENANT, id).await;
    assert_eq!(over["state"], "waiting", "{over}");
    assert!(over["message"].as_str().unwrap().contains("over this tenant's budget"), "{over}");
    app.sim.set_api_usage(0);

    // A revoked grant: parked until the tenant reconnects; the tick then resumes it.
    let tokens = app.sim.issued_refresh_tokens();
    assert!(app.sim.revoke_token(tokens.last().unwrap()));
    app.sim.expire_access_tokens();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    step(app, importer).await;
    let parked = app.import_view(TENANT, id).await;
    assert_eq!(parked["state"], "parked", "{parked}");
    assert!(app.queues.take_from(QueueName::Import).await.is_empty(), "a parked run has no message");
    let tick = sfbridge_import::service::tick(importer).await.unwrap();
    assert!(tick.resumed.is_empty(), "not before the reconnect");
    app.connect_tenant(TENANT).await;
    let tick = sfbridge_import::service::tick(importer).await.unwrap();
    assert_eq!(tick.resumed, [TENANT]);
}

/// A 503 storm, an expired token, a revoked grant and an exhausted budget, each as documented:
/// the run waits (or parks until a reconnect) and then publishes every record once.
async fn runs_ride_out_salesforce_trouble(backend: Backend) {
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 600);
    app.ready_tenant(json!({"import": {"objects": [{"object": "Contact", "fields": ["Email"]}]}})).await;
    let importer = app.importer(ImportLimits { page_size: 100, pages_per_invocation: Some(1), ..ImportLimits::default() });
    let (_, run) = app.sync_now(TENANT, None).await;
    let id = run["import_id"].as_str().unwrap().to_owned();

    ride_out_trouble(&app, &importer, &id).await;

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
    let (app, _consumers) = spawn_import_app(backend).await;
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
    let (app, _consumers) = spawn_import_app(Backend::Memory).await;
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
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
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
    // A later run: ids made at the same instant order by their random suffix.
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

// ---------------------------------------------------------------------------------------------
// Bulk API 2.0: full reads of large objects
// ---------------------------------------------------------------------------------------------

/// Contacts into one segment: the Bulk tests' settings.
fn contact_settings() -> Value {
    json!({"import": {"objects": [{"object": "Contact", "fields": ["Email", "FirstName", "LastName"], "segment": "Salesforce Contacts"}]}})
}

/// Production's limits with the Bulk threshold at `threshold` records.
fn bulk_over(threshold: u64) -> ImportLimits {
    ImportLimits { bulk_threshold: Some(threshold), ..ImportLimits::default() }
}

/// The Bulk API 2.0 calls the org received: jobs created, polls, sets of results, aborts.
fn bulk_calls(app: &TestApp) -> [usize; 4] {
    [
        app.sim.route_calls("POST", "/jobs/query"),
        app.sim.route_calls("GET", "/jobs/query/{job}"),
        app.sim.route_calls("GET", "/jobs/query/{job}/results"),
        app.sim.route_calls("PATCH", "/jobs/query/{job}"),
    ]
}

/// A Sync Now run to its end by `importer`: its view and events.
async fn import_all(app: &TestApp, importer: &Importer) -> (Value, Vec<Value>) {
    let (status, run) = app.sync_now(TENANT, None).await;
    assert!(status.is_success(), "{run}");
    let mut events = Vec::new();
    let (view, _) = app.run_import_draining(importer, TENANT, run["import_id"].as_str().unwrap(), Some(&mut events)).await;
    assert_eq!(view["state"], "completed", "{view}");
    events.extend(app.import_events().await);
    (view, events)
}

/// A full read over the Bulk threshold goes through one Bulk API 2.0 query job: one event per
/// record, shaped as the events of records read by REST are. Embedded: 12,000 Contacts over the
/// production threshold of 10,000, in one invocation. On moto, 2,400 over a threshold of 2,000,
/// in invocations of 1,000 records whose events are taken between them (see
/// `run_import_draining`), each reading the set of results again: the same code in a fifth of
/// the time (12,000 take about 140 s there).
async fn bulk_import_publishes_each_record_once(backend: Backend) {
    let started = std::time::Instant::now();
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    let (count, importer, sets) = match backend {
        Backend::Memory => (12_000, app.importer(ImportLimits::default()), 1),
        Backend::Moto => (2_400, app.importer(ImportLimits { page_size: 1_000, pages_per_invocation: Some(1), ..bulk_over(2_000) }), 3),
    };
    let contacts = seed(&app, "Contact", count);
    app.ready_tenant(contact_settings()).await;

    let calls = app.sim.rest_calls();
    let (view, events) = import_all(&app, &importer).await;
    assert_once_each(&events, count);
    assert_eq!(count_by(&events, "event_type"), HashMap::from([("contact_created", count)]));
    assert_eq!(count_by(&events, "segment"), HashMap::from([("Salesforce Contacts", count)]));
    let contact = &view["objects"][0];
    assert!(contact["bulk_job_id"].as_str().is_some_and(|j| j.starts_with("750")), "{view}");
    let counts = ["records_read", "events_published", "unchanged"].map(|k| contact[k].as_u64().unwrap());
    assert_eq!(counts, [count as u64, count as u64, 0]);
    assert_eq!(bulk_calls(&app), [1, 1, sets, 0], "one job, one poll, one set of results (the rows are under maxRecords), read once per invocation");
    assert_eq!(app.sim.route_calls("GET", "/query"), 1, "the count, and no REST page");
    let made = app.sim.rest_calls() - calls;
    assert_eq!(view["salesforce_calls"].as_u64(), Some(made as u64), "the run counts every call it makes");

    // Read by Bulk or by REST, an event reads the same: an incremental run (REST) of one change.
    let by_bulk = events.iter().find(|e| e["record_id"] == contacts[42].as_str()).unwrap().clone();
    app.advance_clocks(Duration::from_secs(600));
    app.sim.update_record(&contacts[42], json!({"FirstName": "Renamed"})).unwrap();
    let (view, events) = import_all(&app, &importer).await;
    assert_eq!(view["objects"][0]["bulk_job_id"], Value::Null, "incremental runs page by REST: {view}");
    assert_eq!(events.len(), 1);
    let by_rest = &events[0];
    assert_eq!((by_rest["record_id"].clone(), by_rest["event_type"].clone()), (by_bulk["record_id"].clone(), json!("contact_updated")));
    let keys = |e: &Value| e["fields"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&by_bulk), keys(by_rest));
    assert_eq!((&by_bulk["fields"]["Email"], &by_bulk["fields"]["LastName"]), (&by_rest["fields"]["Email"], &by_rest["fields"]["LastName"]));
    // REST's form, `2026-12-05T10:00:00.000+0000`, where Bulk's CSV has `…Z`.
    let rest_form = |e: &Value| e["fields"]["SystemModstamp"].as_str().is_some_and(|s| s.len() == 28 && s.ends_with("+0000"));
    assert!(rest_form(&by_bulk) && rest_form(by_rest), "{by_bulk} {by_rest}");
    eprintln!("import[{backend:?}]: Bulk read of {count} Contacts with {made} Salesforce calls; {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_import_publishes_each_record_once_embedded() {
    bulk_import_publishes_each_record_once(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_import_publishes_each_record_once_on_moto() {
    bulk_import_publishes_each_record_once(Backend::Moto).await;
}

/// A Bulk read stopped anywhere resumes where it stood: handed on every third batch (inside sets
/// of results and across them), and an invocation that dies mid-publish; every record once, and
/// counted once.
async fn bulk_cut_off_runs_resume_exactly(backend: Backend) {
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 5_000);
    app.ready_tenant(contact_settings()).await;
    let limits = ImportLimits { bulk_max_records: Some(2_000), page_size: 500, pages_per_invocation: Some(3), ..bulk_over(1_000) };
    let importer = app.importer(limits);
    let (_, run) = app.sync_now(TENANT, None).await;
    let id = run["import_id"].as_str().unwrap().to_owned();

    // The job is created; the next invocation polls it and publishes 3 batches: 1,500 of the
    // first set's 2,000 rows.
    assert_eq!(step(&app, &importer).await, 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(step(&app, &importer).await, 1);
    let first = app.import_events().await;
    assert_eq!(first.len(), 1_500);
    assert_eq!(app.import_view(TENANT, &id).await["objects"][0]["records_read"], 1_500);
    // The next dies publishing the rest of that set.
    let before_crash = app.crash_mid_publish(&importer).await;
    let mut all = first;
    all.extend(before_crash.iter().cloned());
    let (view, invocations) = app.run_import_draining(&importer, TENANT, &id, Some(&mut all)).await;
    assert_eq!(view["state"], "completed", "{view}");
    all.extend(app.import_events().await);
    assert_once_each(&all, 5_000);
    let contact = &view["objects"][0];
    let again = before_crash.len() as u64;
    let counts = ["records_read", "events_published", "unchanged"].map(|k| contact[k].as_u64().unwrap());
    assert_eq!(counts, [5_000 + again, 5_000, again], "a batch published again by a dead invocation is counted as unchanged");
    let [created, _, sets, _] = bulk_calls(&app);
    assert_eq!(created, 1, "one job throughout");
    assert!(sets > 3, "the 3 sets of results, and the ones read again to resume inside them: {sets}");
    assert!(invocations >= 3, "handed on: {invocations}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_cut_off_runs_resume_with_no_gap_and_no_duplicate_embedded() {
    bulk_cut_off_runs_resume_exactly(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_cut_off_runs_resume_with_no_gap_and_no_duplicate_on_moto() {
    bulk_cut_off_runs_resume_exactly(Backend::Moto).await;
}

/// A record changed or deleted while the job runs (after its snapshot) is published as it was;
/// the next incremental run reads changes from the first run's start (less the overlap), which
/// is before the snapshot, and publishes both changes.
async fn records_changed_while_the_job_runs(backend: Backend) {
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    let contacts = seed(&app, "Contact", 2_000);
    app.ready_tenant(contact_settings()).await;
    let importer = app.importer(bulk_over(1_000));
    let (updated, deleted) = (contacts[10].clone(), contacts[11].clone());
    let rename = RecordChange::Update { id: updated.clone(), fields: json!({"FirstName": "DuringTheJob"}) };
    app.sim.schedule_change(ImportMoment::BulkJobRunning, rename);
    app.sim.schedule_change(ImportMoment::BulkJobRunning, RecordChange::Delete { id: deleted.clone() });

    let (view, events) = import_all(&app, &importer).await;
    assert!(view["objects"][0]["bulk_job_id"].is_string(), "{view}");
    assert_eq!(app.sim.applied_changes().len(), 2, "both changes were made while the job ran");
    assert_once_each(&events, 2_000);
    let first_name = |events: &[Value], id: &str| events.iter().find(|e| e["record_id"] == id).map(|e| e["fields"]["FirstName"].clone());
    assert_ne!(first_name(&events, &updated), Some(json!("DuringTheJob")), "the job's snapshot was taken before the change");

    app.advance_clocks(Duration::from_secs(600));
    let (view, events) = import_all(&app, &importer).await;
    assert_eq!(view["kind"], "incremental");
    let mut got: Vec<(String, String)> =
        events.iter().map(|e| (e["record_id"].as_str().unwrap().to_owned(), e["event_type"].as_str().unwrap().to_owned())).collect();
    got.sort();
    assert_eq!(got, [(updated.clone(), "contact_updated".to_owned()), (deleted, "contact_deleted".to_owned())]);
    assert_eq!(first_name(&events, &updated), Some(json!("DuringTheJob")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_changed_while_the_bulk_job_runs_are_caught_by_the_next_run_embedded() {
    records_changed_while_the_job_runs(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_changed_while_the_bulk_job_runs_are_caught_by_the_next_run_on_moto() {
    records_changed_while_the_job_runs(Backend::Moto).await;
}

/// A job that fails in Salesforce: the run names it and Salesforce's reason in its errors and
/// reads the object by REST paging instead; every record once.
async fn a_failed_job_falls_back_to_rest(backend: Backend) {
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 2_500);
    app.ready_tenant(contact_settings()).await;
    let importer = app.importer(ImportLimits { page_size: 1_000, ..bulk_over(1_000) });
    app.sim.fail_bulk_query_jobs(1, "Query timeout: the query took longer than allowed");

    let (view, events) = import_all(&app, &importer).await;
    assert_once_each(&events, 2_500);
    let error = view["errors"][0].as_str().unwrap_or_default();
    assert!(error.contains("failed in Salesforce (Query timeout: the query took longer than allowed)"), "{view}");
    assert!(error.contains("read by REST paging instead"), "{view}");
    assert_eq!(bulk_calls(&app), [1, 1, 0, 0], "created, polled (Failed), no results");
    assert_eq!(app.sim.route_calls("GET", "/query"), 4, "the count, then 3 REST pages");
    assert_eq!(view["objects"][0]["events_published"], 2_500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bulk_job_falls_back_to_rest_paging_embedded() {
    a_failed_job_falls_back_to_rest(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bulk_job_falls_back_to_rest_paging_on_moto() {
    a_failed_job_falls_back_to_rest(Backend::Moto).await;
}

/// A slow job is polled by later invocations, each handed on with a delay that grows: the run
/// waits (naming the job), no invocation sleeps.
async fn a_slow_job_is_polled_by_hand_offs(backend: Backend) {
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 1_500);
    app.ready_tenant(contact_settings()).await;
    app.sim.set_bulk_query_pace(BulkQueryPace { queued_polls: 1, running_polls: 1, ..BulkQueryPace::default() });
    let limits = ImportLimits { bulk_first_poll: Duration::from_secs(1), ..quick(bulk_over(1_000)) };
    let importer = (*app.ctx.importer).clone().with_limits(limits);
    let (_, run) = app.sync_now(TENANT, None).await;
    let id = run["import_id"].as_str().unwrap().to_owned();

    assert_eq!(step(&app, &importer).await, 1);
    let waiting = app.import_view(TENANT, &id).await;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    let message = waiting["message"].as_str().unwrap();
    assert!(message.contains("waiting for the Bulk API query job 750") && message.contains("polled again at"), "{message}");
    assert!(waiting["resumes_at"].is_string(), "{waiting}");
    assert!(app.queues.take_from(QueueName::Import).await.is_empty(), "the poll is a delayed message, not a sleep");

    let (view, invocations) = app.run_import(&importer, TENANT, &id).await;
    assert_eq!(view["state"], "completed", "{view}");
    assert_eq!(bulk_calls(&app)[1], 3, "polled while queued, while running, and complete");
    assert_eq!(invocations, 3, "one invocation per poll");
    assert_once_each(&app.import_events().await, 1_500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_bulk_job_is_polled_by_hand_offs_embedded() {
    a_slow_job_is_polled_by_hand_offs(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_bulk_job_is_polled_by_hand_offs_on_moto() {
    a_slow_job_is_polled_by_hand_offs(Backend::Moto).await;
}

/// Cancelling a run whose job is still running aborts the job in Salesforce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_bulk_run_aborts_its_job() {
    let (app, _consumers) = spawn_import_app(Backend::Memory).await;
    app.align_clocks();
    seed(&app, "Contact", 1_500);
    app.ready_tenant(contact_settings()).await;
    app.sim.set_bulk_query_pace(BulkQueryPace { running_polls: 1_000, ..BulkQueryPace::default() });
    let importer = app.importer(bulk_over(1_000));
    let (_, run) = app.sync_now(TENANT, None).await;
    let id = run["import_id"].as_str().unwrap().to_owned();
    assert_eq!(step(&app, &importer).await, 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(step(&app, &importer).await, 1, "a poll: the job is running");
    assert_eq!(app.import_view(TENANT, &id).await["state"], "waiting");

    let cancelled = app.admin(Method::DELETE, &format!("/v1/tenants/{TENANT}/imports/{id}"), None).await;
    assert_eq!(cancelled.status(), StatusCode::ACCEPTED);
    let view = app.import_view(TENANT, &id).await;
    assert_eq!(view["state"], "cancelled", "{view}");
    assert_eq!(bulk_calls(&app), [1, 1, 0, 1], "the job was aborted");
    assert!(app.import_events().await.is_empty());
}

/// The same trouble met while a Bulk job is polled and its results read: the run waits,
/// refreshes, waits, parks and resumes as by REST, with the one job throughout.
async fn bulk_runs_ride_out_salesforce_trouble(backend: Backend) {
    let (app, _consumers) = spawn_import_app(backend).await;
    app.align_clocks();
    seed(&app, "Contact", 1_500);
    app.ready_tenant(contact_settings()).await;
    let importer = app.importer(ImportLimits { bulk_max_records: Some(500), page_size: 250, pages_per_invocation: Some(1), ..bulk_over(1_000) });
    let (_, run) = app.sync_now(TENANT, None).await;
    let id = run["import_id"].as_str().unwrap().to_owned();
    assert_eq!(step(&app, &importer).await, 1, "the job is created");
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    ride_out_trouble(&app, &importer, &id).await;

    let (view, _) = app.run_import(&importer, TENANT, &id).await;
    assert_eq!(view["state"], "completed", "{view}");
    assert_once_each(&app.import_events().await, 1_500);
    assert_eq!(bulk_calls(&app)[0], 1, "one job throughout");
    assert_eq!(view["objects"][0]["events_published"], 1_500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_runs_ride_out_salesforce_trouble_embedded() {
    bulk_runs_ride_out_salesforce_trouble(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_runs_ride_out_salesforce_trouble_on_moto() {
    bulk_runs_ride_out_salesforce_trouble(Backend::Moto).await;
}
