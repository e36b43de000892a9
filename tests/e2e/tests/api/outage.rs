//! A flaky org that also goes down for a while, and an org over its daily API allocation,
//! through the queue as deployed (the in-process queue with the local worker, or SQS on moto
//! with its poller): transient trouble of the tenant defers its events (sent again, delayed)
//! instead of using up their receives, so nothing reaches a dead-letter queue, every event syncs
//! once, and the receives an event used are printed.

use std::collections::BTreeMap;
use std::time::Duration;

use salesforce_sim::Faults;
use serde_json::json;
use sfbridge_core::domain::{EventId, TenantId};
use sfbridge_core::queue::OutgoingMessage;
use sfbridge_sync::RetryPolicy;
use tokio::time::Instant;

use crate::backoff::{consume, max_receive_count, measured_worker_with, unit};
use crate::helpers::{spawn_app, Backend, TestApp, TestQueues};
use crate::sync::{activity, outcome_of, TENANT};

const EVENTS: usize = 1_000;
const CONTACTS: usize = 100;
const WAVES: usize = 10;
/// The mix: 40 % sent, 30 % opened, 15 % clicked, 10 % replied, 5 % unsubscribed or bounced.
const MIX: [(&str, usize); 6] =
    [("email_sent", 40), ("email_opened", 30), ("email_clicked", 15), ("email_replied", 10), ("unsubscribed", 3), ("email_bounced", 2)];

fn kind(i: usize) -> &'static str {
    let mut slot = i % 100;
    for (kind, share) in MIX {
        if slot < share {
            return kind;
        }
        slot -= share;
    }
    "email_sent"
}

fn flaky() -> Faults {
    Faults { rate_503: 0.10, rate_request_limit: 0.05, seed: 17, ..Faults::default() }
}

/// How the outage scenario is timed on each backend.
struct Timing {
    /// The worker's retries and deferrals.
    policy: RetryPolicy,
    /// How long the org is down.
    outage: Duration,
    /// The pause between two waves of events.
    pause: Duration,
}

impl Timing {
    fn of(backend: Backend) -> Self {
        match backend {
            // In process, time is scaled down 100-fold and more: the outage outlasts the
            // longest deferral tenfold and the whole retry schedule fivefold.
            Backend::Memory => {
                let unit = unit(backend);
                let policy = RetryPolicy { delays: vec![unit; 4], max_receives: 5, jitter: 0.0, max_deferral: unit * 2 };
                Self { policy, outage: unit * 20, pause: unit }
            }
            // On SQS (moto), the scenario as it is: a 10-minute outage. The queue's
            // visibility timeout is shortened (120 s instead of 360 s), and so are the worker's
            // retries (5 s apart: 20 s from the first failure to the dead-letter queue, against
            // 41 min in production) and deferrals (at most 60 s, against 15 min): receives spent
            // on the outage would reach the dead-letter queue 30 times over.
            Backend::Moto => {
                let policy =
                    RetryPolicy { delays: vec![Duration::from_secs(5); 4], max_receives: 5, jitter: 0.0, max_deferral: Duration::from_secs(60) };
                Self { policy, outage: Duration::from_secs(600), pause: Duration::from_secs(1) }
            }
        }
    }
}

/// On moto, the activity queue's visibility timeout set for the test (template.yaml: 360 s).
const VISIBILITY_ON_MOTO: &str = "120";

async fn shorten_visibility(app: &TestApp) {
    if let TestQueues::Sqs { client, activity, .. } = &app.queues {
        client
            .set_queue_attributes()
            .queue_url(activity)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, VISIBILITY_ON_MOTO)
            .send()
            .await
            .unwrap();
    }
}

/// How many times each event was handled (ledger claims: one per receive that reached it, across
/// the copies its deferrals sent; a deferral's copy starts again at receive 1), as
/// `{times: events}`.
async fn times_handled(app: &TestApp, events: impl Iterator<Item = String>) -> BTreeMap<u32, usize> {
    let t = TenantId::parse(TENANT).unwrap();
    let mut handled: BTreeMap<u32, usize> = BTreeMap::new();
    for id in events {
        let ledger = app.ctx.store.ledger(&t, &EventId::parse(&id).unwrap()).await.unwrap();
        *handled.entry(ledger.map_or(0, |l| l.attempts)).or_default() += 1;
    }
    handled
}

/// Every event has exactly one Task; nothing is dead-lettered.
async fn assert_synced_once(app: &TestApp, events: usize) {
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for task in app.tasks() {
        let description = task["Description"].as_str().unwrap_or_default().to_owned();
        let event = description.rsplit_once(" · event ").map(|(_, id)| id.to_owned()).unwrap_or_default();
        *per_event.entry(event).or_default() += 1;
    }
    assert_eq!(per_event.len(), events, "every event synced");
    assert!(per_event.values().all(|n| *n == 1), "once each");
    let t = TenantId::parse(TENANT).unwrap();
    assert!(app.ctx.store.dead_letters(&t, 10, None).await.unwrap().dead_letters.is_empty(), "no dead letter");
    assert!(app.queues.take(true).await.is_empty(), "nothing on the dead-letter queue");
}

async fn an_outage_uses_no_receives(backend: Backend) {
    let started = Instant::now();
    let app = spawn_app(backend).await;
    for i in 0..CONTACTS {
        app.sim.insert_contact(&format!("person{i:03}@example.com"), "Person", &format!("Number{i}"));
    }
    app.ready_tenant(json!({})).await;
    let Timing { policy, outage, pause } = Timing::of(backend);
    let (worker, metrics) = measured_worker_with(&app, app.ctx.rest.clone(), policy);
    app.sim.set_faults(flaky());
    shorten_visibility(&app).await;
    let consumer = consume(&app, worker).await;

    // The product sends in waves. Once the first four have synced, the org goes down (every
    // call answered 503), and the other six arrive during the outage.
    let deadline = started + outage + Duration::from_secs(900);
    let wave = |n: usize| -> Vec<OutgoingMessage> {
        (n * EVENTS / WAVES..(n + 1) * EVENTS / WAVES)
            .map(|i| {
                let command = activity(&format!("e_{i:04}"), kind(i), &format!("person{:03}@example.com", i % CONTACTS));
                OutgoingMessage::new(command.to_string()).with_group_id(TENANT)
            })
            .collect()
    };
    for n in 0..4 {
        assert!(app.ctx.queues.activity.send(wave(n)).await.iter().all(Result::is_ok));
        tokio::time::sleep(pause).await;
    }
    while app.tasks().len() < 4 * EVENTS / WAVES {
        assert!(Instant::now() < deadline, "{} synced before the outage", app.tasks().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls_before = app.sim.rest_calls();
    let faults_before = app.sim.injected_faults().len();
    app.sim.set_faults(Faults { rate_503: 1.0, ..Faults::default() });
    let outage_ends = Instant::now() + outage;
    for n in 4..WAVES {
        assert!(app.ctx.queues.activity.send(wave(n)).await.iter().all(Result::is_ok));
        tokio::time::sleep(pause).await;
    }
    tokio::time::sleep_until(outage_ends).await;
    // A short outage in process may end before the worker met it a few times: it lasts until then.
    while app.sim.injected_faults().len() < faults_before + 3 {
        assert!(Instant::now() < deadline, "the worker never met the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = app.tasks().len();
    let calls_during = app.sim.rest_calls() - calls_before;
    app.sim.set_faults(flaky());
    while app.tasks().len() < EVENTS {
        assert!(Instant::now() < deadline, "{} of {EVENTS} synced", app.tasks().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whatever is still in flight (duplicates, late copies) settles too.
    tokio::time::sleep(pause * 4).await;
    consumer.abort();
    let injected = app.sim.injected_faults().len();
    app.sim.set_faults(Faults::default());

    assert_synced_once(&app, EVENTS).await;
    let receives = max_receive_count(&metrics);
    assert!(receives < 5, "an event's receives are for its own failures only: one reached receive {receives}");
    let handled = times_handled(&app, (0..EVENTS).map(|i| format!("e_{i:04}"))).await;
    let calls = app.sim.rest_calls();
    eprintln!(
        "outage[{backend:?}]: {EVENTS} events, {CONTACTS} contacts, 10 % 503 + 5 % REQUEST_LIMIT_EXCEEDED, an outage of {outage:?} \
         ({during} Tasks when it ended, {calls_during} Salesforce calls during it); {calls} Salesforce calls in all \
         ({:.1} per 1,000 events), {injected} faults injected; receives per message at most {receives}; \
         events by times handled {handled:?}; 0 dead letters; {:.1?}",
        calls as f64 * 1000.0 / EVENTS as f64,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_uses_no_receives_in_process() {
    an_outage_uses_no_receives(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_uses_no_receives_on_moto() {
    an_outage_uses_no_receives(Backend::Moto).await;
}

/// The org has used all of its daily API requests: every call is refused (403
/// `REQUEST_LIMIT_EXCEEDED`, `TotalRequests Limit exceeded.`) for longer than an event's receives
/// would last. The events wait: deferred again and again, each time a new message, with the
/// delivery log and the health view saying so and when they are tried again. Once the org's
/// allocation allows calls again, every event syncs; none is dead-lettered.
async fn an_org_over_its_daily_allocation_holds_activity_until_it_allows(backend: Backend) {
    const HELD: usize = 10;
    let app = spawn_app(backend).await;
    for i in 0..HELD {
        app.sim.insert_contact(&format!("person{i:03}@example.com"), "Person", &format!("Number{i}"));
    }
    app.ready_tenant(json!({})).await;
    let Timing { policy, pause, .. } = Timing::of(Backend::Memory);
    let policy = RetryPolicy { max_deferral: unit(backend), ..policy };
    let max_receives = policy.max_receives;
    let (worker, metrics) = measured_worker_with(&app, app.ctx.rest.clone(), policy);
    let (used, allocation) = app.sim.api_usage();
    app.sim.set_api_limit(used);
    let consumer = consume(&app, worker).await;

    let ids: Vec<String> = (0..HELD).map(|i| format!("d_{i:02}")).collect();
    let messages = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let command = activity(id, kind(i), &format!("person{i:03}@example.com"));
            OutgoingMessage::new(command.to_string()).with_group_id(TENANT)
        })
        .collect();
    assert!(app.ctx.queues.activity.send(messages).await.iter().all(Result::is_ok));

    // Until every event has been handled more often than it may be received.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let handled = times_handled(&app, ids.iter().cloned()).await;
        if handled.keys().all(|times| *times > max_receives) {
            break;
        }
        assert!(Instant::now() < deadline, "still waiting for the deferrals: {handled:?}");
        tokio::time::sleep(pause).await;
    }
    assert!(app.tasks().is_empty(), "nothing written over the allocation");
    let deliveries = app.deliveries(TENANT).await;
    for id in &ids {
        let newest = outcome_of(&deliveries, id);
        assert_eq!((newest["outcome"].as_str(), newest["code"].as_str()), (Some("deferred"), Some("REQUEST_LIMIT_EXCEEDED")), "{newest}");
        let reason = newest["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("TotalRequests") && reason.contains("tried again at "), "{newest}");
    }
    let health = app.health(TENANT).await;
    let error = &health["last_error"];
    assert_eq!((error["code"].as_str(), error["retryable"].as_bool()), (Some("REQUEST_LIMIT_EXCEEDED"), Some(true)), "{health}");
    assert!(error["resumes_at"].as_str().is_some_and(|at| Some(at) > error["at"].as_str()), "when it resumes: {health}");
    let summary = health["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("over its daily API request allocation") && summary.contains("tried again at"), "{health}");
    let t = TenantId::parse(TENANT).unwrap();
    assert!(app.ctx.store.dead_letters(&t, 10, None).await.unwrap().dead_letters.is_empty(), "no dead letter while waiting");

    // The rolling 24 hours free up requests: the events go through on their next try.
    app.clock.advance(chrono::Duration::minutes(1));
    app.sim.set_api_limit(allocation);
    while app.tasks().len() < HELD {
        assert!(Instant::now() < deadline, "{} of {HELD} synced after the allocation allowed", app.tasks().len());
        tokio::time::sleep(pause).await;
    }
    tokio::time::sleep(pause * 4).await;
    consumer.abort();
    assert_synced_once(&app, HELD).await;
    let receives = max_receive_count(&metrics);
    assert_eq!(receives, 1, "waiting used no receive: every delivery was a fresh message's first");
    let healthy = app.health(TENANT).await;
    assert_eq!(healthy["verdict"], "healthy", "{healthy}");
    eprintln!(
        "daily limit[{backend:?}]: {HELD} events held over the allocation, each handled {:?} times before it allowed, \
         receives per message at most {receives}, 0 dead letters",
        times_handled(&app, ids.iter().cloned()).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_over_its_daily_allocation_holds_activity_in_process() {
    an_org_over_its_daily_allocation_holds_activity_until_it_allows(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_over_its_daily_allocation_holds_activity_on_moto() {
    an_org_over_its_daily_allocation_holds_activity_until_it_allows(Backend::Moto).await;
}
