//! Retries and deferrals through a real queue, received the way Lambda's event source mapping
//! receives: the local worker on the in-process queue, and the local SQS poller on moto.
//!
//! - An event's own failure (Salesforce refuses its record: `UNABLE_TO_LOCK_ROW`) comes back after
//!   growing delays (the worker's `ChangeMessageVisibility`, read back by when the queue delivers
//!   it again) and is dead-lettered by the worker, with the reason, on its last allowed receive.
//! - A condition of the whole tenant (Salesforce down) defers its events: each time they are sent
//!   again with a delay, as new messages, so an event deferred more often than `maxReceiveCount`
//!   still syncs once Salesforce is back and never reaches the dead-letter queue.
//!
//! The delays are shortened ([`RetryPolicy`] of the worker under test); on moto they are whole
//! seconds, as SQS counts them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use salesforce_sim::{Faults, SalesforceSim};
use serde_json::{json, Value};
use sfbridge_core::metrics::{Capture, Meter};
use sfbridge_core::queue::OutgoingMessage;
use sfbridge_local::sqs_worker::{spawn_sqs_worker, SqsSource};
use sfbridge_local::worker::{spawn_worker_with, EventSourceMapping};
use sfbridge_salesforce::rest::{QueryPage, RecordResult, RecordsApi, Reply, RestError, SubRequest, SubResponse};
use sfbridge_salesforce::Session;
use sfbridge_sync::{RetryPolicy, Worker, WorkerQueues, MAX_RECEIVES_CODE};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::helpers::{spawn_app, Backend, TestApp, TestQueues};
use crate::sync::{activity, TENANT};

/// Answers every write call (a Composite of Collections writes) with each record refused as
/// locked, and notes when; passes everything else (lookups) to the simulator.
#[derive(Debug)]
struct LockedRecords {
    inner: Arc<dyn RecordsApi>,
    writes: Arc<Mutex<Vec<Instant>>>,
}

#[async_trait::async_trait]
impl RecordsApi for LockedRecords {
    async fn composite(&self, session: &Session, requests: Vec<SubRequest>) -> Result<Reply<Vec<SubResponse>>, RestError> {
        if requests.iter().any(|r| r.method() == "GET") {
            return self.inner.composite(session, requests).await;
        }
        self.writes.lock().unwrap().push(Instant::now());
        let refused = json!({"success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record", "fields": []}]});
        let value = requests
            .iter()
            .map(|r| {
                let records = r.body().and_then(|b| b["records"].as_array()).map_or(0, Vec::len);
                SubResponse { body: Value::Array(vec![refused.clone(); records]), status: 200, reference_id: r.reference_id().to_owned() }
            })
            .collect();
        Ok(Reply { value, usage: None })
    }

    async fn next_page(&self, session: &Session, next_records_url: &str) -> Result<Reply<QueryPage>, RestError> {
        self.inner.next_page(session, next_records_url).await
    }

    async fn create_records(&self, session: &Session, records: Vec<Value>) -> Result<Reply<Vec<RecordResult>>, RestError> {
        self.inner.create_records(session, records).await
    }
}

/// The app's activity-sync worker with another Salesforce client and retry policy.
pub(crate) fn worker_with(app: &TestApp, rest: impl RecordsApi + 'static, policy: RetryPolicy) -> Arc<Worker> {
    measured_worker_with(app, rest, policy).0
}

/// [`worker_with`], and the metrics lines it writes (one per batch).
pub(crate) fn measured_worker_with(app: &TestApp, rest: impl RecordsApi + 'static, policy: RetryPolicy) -> (Arc<Worker>, Capture) {
    let queues = WorkerQueues { activity: app.ctx.queues.activity.clone(), dead_letter: app.ctx.queues.dead_letter.clone() };
    let capture = Capture::default();
    let meter = Meter::new(app.ctx.clock.clone(), Arc::new(capture.clone()));
    let worker = Worker::new(app.ctx.store.clone(), app.ctx.clock.clone(), app.ctx.sessions.clone(), rest, queues, meter);
    (Arc::new(worker.with_retry_policy(policy)), capture)
}

/// The highest receive count any batch of the worker saw (its `MaxReceiveCount` metric).
pub(crate) fn max_receive_count(capture: &Capture) -> u64 {
    capture.documents().iter().filter_map(|d| d["MaxReceiveCount"].as_u64()).max().unwrap_or(0)
}

/// Plays the event source mapping for `worker` on the app's activity queue: the local worker on
/// the in-process queue; on moto the SQS poller, with the queue given a redrive policy to the
/// dead-letter queue after 8 receives, as template.yaml's.
pub(crate) async fn consume(app: &TestApp, worker: Arc<Worker>) -> JoinHandle<()> {
    match &app.queues {
        TestQueues::Memory { activity, dead_letter, .. } => {
            spawn_worker_with(worker, activity.clone(), dead_letter.clone(), EventSourceMapping::LOCAL)
        }
        TestQueues::Sqs { client, activity, dead_letter, .. } => {
            let attributes = client
                .get_queue_attributes()
                .queue_url(dead_letter)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .unwrap();
            let dlq_arn = attributes.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
            let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": sfbridge_local::worker::MAX_RECEIVE_COUNT}).to_string();
            client
                .set_queue_attributes()
                .queue_url(activity)
                .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive)
                .send()
                .await
                .unwrap();
            spawn_sqs_worker(worker, SqsSource::connect(client.clone(), activity).await.unwrap())
        }
    }
}

/// Sends one sync command as the product's backend does (the tenant as message group).
async fn enqueue(app: &TestApp, command: Value) {
    let message = OutgoingMessage::new(command.to_string()).with_group_id(TENANT);
    assert!(app.ctx.queues.activity.send(vec![message]).await[0].is_ok());
}

/// Whole seconds on SQS, which counts no less; milliseconds in process.
pub(crate) fn unit(backend: Backend) -> Duration {
    match backend {
        Backend::Memory => Duration::from_millis(150),
        Backend::Moto => Duration::from_secs(1),
    }
}

async fn retries_back_off_then_dead_letter_with_the_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({})).await;
    let unit = unit(backend);
    let policy = RetryPolicy { delays: vec![unit, unit * 2, unit * 3], max_receives: 4, jitter: 0.0, max_deferral: unit };
    let writes = Arc::new(Mutex::new(Vec::new()));
    let worker = worker_with(&app, LockedRecords { inner: Arc::new(app.ctx.rest.clone()), writes: writes.clone() }, policy.clone());
    let consumer = consume(&app, worker).await;

    enqueue(&app, activity("e_locked", "email_opened", "ada@example.com")).await;
    let deadline = Instant::now() + unit * 6 + Duration::from_secs(20);
    let t = sfbridge_core::domain::TenantId::parse(TENANT).unwrap();
    let dead = loop {
        let dead = app.ctx.store.dead_letters(&t, 100, None).await.unwrap().dead_letters;
        if !dead.is_empty() {
            break dead;
        }
        assert!(Instant::now() < deadline, "not dead-lettered in time; writes at {:?}", writes.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    consumer.abort();

    // One attempt per receive, the last one on receive 4; then the worker's own dead letter.
    let writes = writes.lock().unwrap().clone();
    assert_eq!(writes.len(), 4, "{writes:?}");
    let gaps: Vec<Duration> = writes.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected) in gaps.iter().zip(&policy.delays) {
        // Back no sooner than asked; on moto the poller's 1 s long poll and moto's whole
        // seconds add up to about 2 s.
        let slack = if backend == Backend::Moto { Duration::from_millis(2500) } else { Duration::from_millis(400) };
        assert!(*gap + Duration::from_millis(50) >= *expected && *gap <= *expected + slack, "gaps {gaps:?}, delays {:?}", policy.delays);
    }
    assert!(gaps[2] > gaps[0], "the delays grow: {gaps:?}");
    assert_eq!(dead.len(), 1, "the tenant's dead letter");
    assert_eq!(dead[0].code, MAX_RECEIVES_CODE);
    assert!(dead[0].reason.contains("UNABLE_TO_LOCK_ROW"), "the last failure as the reason: {}", dead[0].reason);
    assert!(app.queues.take(true).await.is_empty(), "it names its tenant: not on the operator's dead-letter queue");
    assert!(app.queues.take(false).await.is_empty(), "nothing left on the activity queue");
    assert!(app.tasks().is_empty());
}

#[tokio::test]
async fn retries_back_off_then_dead_letter_with_the_reason_in_process() {
    retries_back_off_then_dead_letter_with_the_reason(Backend::Memory).await;
}

#[tokio::test]
async fn retries_back_off_then_dead_letter_with_the_reason_on_moto() {
    retries_back_off_then_dead_letter_with_the_reason(Backend::Moto).await;
}

/// Deferrals so far: each run of the tenant made one call, which failed (the test's clock stands
/// still, so the delivery log keeps one `deferred` entry per event, not one per deferral).
fn deferred(app: &TestApp) -> usize {
    app.sim.injected_faults().len()
}

async fn a_deferred_event_uses_no_receives(backend: Backend) {
    // More deferrals than the queue's maxReceiveCount and the worker's max receives.
    let times = sfbridge_local::worker::MAX_RECEIVE_COUNT as usize + 1;
    let app = spawn_app(backend).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({})).await;
    let policy = RetryPolicy { max_deferral: unit(backend), ..RetryPolicy::local() };
    let worker = worker_with(&app, app.ctx.rest.clone(), policy);
    // Salesforce down: every call answers 503, which defers the tenant's events.
    down(&app.sim, true);
    let consumer = consume(&app, worker).await;

    enqueue(&app, activity("e_deferred", "email_opened", "ada@example.com")).await;
    let deadline = Instant::now() + unit(backend) * (times as u32 * 3) + Duration::from_secs(20);
    while deferred(&app) < times {
        assert!(Instant::now() < deadline, "deferred only {} times", deferred(&app));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    down(&app.sim, false);
    let synced = loop {
        let log = app.deliveries(TENANT).await;
        if let Some(d) = log.iter().find(|d| d["event_id"] == "e_deferred" && d["outcome"] == "synced") {
            break d.clone();
        }
        assert!(Instant::now() < deadline + Duration::from_secs(20), "not synced after Salesforce came back: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    consumer.abort();

    assert_eq!(app.tasks().len(), 1);
    assert_eq!(app.tasks()[0]["Id"], synced["task_id"]);
    assert!(app.queues.take(true).await.is_empty(), "never dead-lettered");
    assert!(deferred(&app) >= times);
}

fn down(sim: &SalesforceSim, on: bool) {
    sim.set_faults(if on { Faults { rate_503: 1.0, ..Faults::default() } } else { Faults::default() });
}

#[tokio::test]
async fn a_deferred_event_uses_no_receives_in_process() {
    a_deferred_event_uses_no_receives(Backend::Memory).await;
}

#[tokio::test]
async fn a_deferred_event_uses_no_receives_on_moto() {
    a_deferred_event_uses_no_receives(Backend::Moto).await;
}
