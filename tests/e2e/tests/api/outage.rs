//! A flaky org that also goes down for a while, through the queue as deployed (the in-process
//! queue with the local worker, or SQS on moto with its poller), with every delay shortened:
//! transient trouble of the tenant defers its events (sent again, delayed) instead of using up
//! their receives, so nothing reaches a dead-letter queue, and every event syncs once.

use std::collections::BTreeMap;
use std::time::Duration;

use salesforce_sim::Faults;
use serde_json::json;
use sfbridge_core::domain::{EventId, TenantId};
use sfbridge_core::queue::OutgoingMessage;
use sfbridge_sync::RetryPolicy;
use tokio::time::Instant;

use crate::backoff::{consume, unit, worker_with};
use crate::helpers::{spawn_app, Backend, TestQueues};
use crate::sync::{activity, TENANT};

/// In process; on moto a third as many (a batch there costs hundreds of emulated DynamoDB and SQS
/// calls, and the scenario still meets the outage with every wave after the fourth).
const EVENTS: usize = 1_000;
const EVENTS_ON_MOTO: usize = 300;
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

async fn an_outage_uses_no_receives(backend: Backend) {
    let started = Instant::now();
    let events = if backend == Backend::Moto { EVENTS_ON_MOTO } else { EVENTS };
    let app = spawn_app(backend).await;
    for i in 0..CONTACTS {
        app.sim.insert_contact(&format!("person{i:03}@example.com"), "Person", &format!("Number{i}"));
    }
    app.ready_tenant(json!({})).await;
    // Scaled time: retries after 1 unit, deferrals capped at 2 units (AWS: 30 s to 30 min, and
    // up to 15 min), so the outage below outlasts many of them.
    let unit = unit(backend);
    let policy = RetryPolicy { delays: vec![unit; 4], max_receives: 5, jitter: 0.0, max_deferral: unit * 2 };
    let worker = worker_with(&app, app.ctx.rest.clone(), policy);
    app.sim.set_faults(flaky());
    let consumer = consume(&app, worker).await;

    if let TestQueues::Sqs { client, activity, .. } = &app.queues {
        // A batch on moto takes longer than its default 30 s visibility; as in template.yaml,
        // the visibility outlasts a batch (retries are spaced by the worker, not by this).
        client
            .set_queue_attributes()
            .queue_url(activity)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "300")
            .send()
            .await
            .unwrap();
    }

    // The product sends in waves. Once the first four have synced, the org goes down for longer
    // than the worker's longest deferral many times over (and longer than its whole retry
    // schedule), and the other six arrive during the outage.
    let outage = unit * 20;
    let deadline = started + Duration::from_secs(900);
    let wave = |n: usize| -> Vec<OutgoingMessage> {
        (n * events / WAVES..(n + 1) * events / WAVES)
            .map(|i| {
                let command = activity(&format!("e_{i:04}"), kind(i), &format!("person{:03}@example.com", i % CONTACTS));
                OutgoingMessage::new(command.to_string()).with_group_id(TENANT)
            })
            .collect()
    };
    for n in 0..4 {
        assert!(app.ctx.queues.activity.send(wave(n)).await.iter().all(Result::is_ok));
        tokio::time::sleep(unit).await;
    }
    while app.tasks().len() < 4 * events / WAVES {
        assert!(Instant::now() < deadline, "{} synced before the outage", app.tasks().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let faults_before = app.sim.injected_faults().len();
    app.sim.set_faults(Faults { rate_503: 1.0, ..Faults::default() });
    let outage_ends = Instant::now() + outage;
    for n in 4..WAVES {
        assert!(app.ctx.queues.activity.send(wave(n)).await.iter().all(Result::is_ok));
        tokio::time::sleep(unit).await;
    }
    tokio::time::sleep_until(outage_ends).await;
    // On moto a batch takes a while: the outage lasts until the worker has met it a few times.
    while app.sim.injected_faults().len() < faults_before + 3 {
        assert!(Instant::now() < deadline, "the worker never met the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = app.tasks().len();
    app.sim.set_faults(flaky());
    while app.tasks().len() < events {
        assert!(Instant::now() < deadline, "{} of {events} synced", app.tasks().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whatever is still in flight (duplicates, late copies) settles too.
    tokio::time::sleep(unit * 4).await;
    consumer.abort();
    let injected = app.sim.injected_faults().len();
    app.sim.set_faults(Faults::default());

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

    // How often each event was handled (ledger claims: one per receive that reached it, across
    // the copies its deferrals sent); a deferral's copy starts again at receive 1.
    let mut handled: BTreeMap<u32, usize> = BTreeMap::new();
    for i in 0..events {
        let e = EventId::parse(&format!("e_{i:04}")).unwrap();
        let ledger = app.ctx.store.ledger(&t, &e).await.unwrap().unwrap();
        *handled.entry(ledger.attempts).or_default() += 1;
    }
    eprintln!(
        "outage[{backend:?}]: {events} events, {CONTACTS} contacts, 10 % 503 + 5 % REQUEST_LIMIT_EXCEEDED, an outage of {outage:?} \
         ({during} Tasks when it ended), {} Salesforce calls, {injected} faults injected, events by times handled {handled:?}, \
         0 dead letters, {:.1?}",
        app.sim.rest_calls(),
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
