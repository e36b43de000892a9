//! Fairness between tenants on the activity queue. The product's backend sends each sync command
//! with `MessageGroupId` = its tenant id, which makes the standard queue an SQS fair queue: when
//! one tenant has a backlog, the others' messages are delivered first. The local stack's
//! in-process queue models that (groups take turns), and the local worker plays the event source
//! mapping with template.yaml's settings, so a tenant that sends 10 commands after another sent
//! 20,000 has all of them synced while the backlog is still mostly waiting.
//!
//! moto stores and returns `MessageGroupId` on a standard queue but does not reorder deliveries
//! (it hands out messages in send order, as a plain standard queue): on moto only the group ids
//! (and delays) are checked, not the fairness.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::json;
use sfbridge_aws::SqsQueue;
use sfbridge_core::queue::{OutgoingMessage, Queue};
use sfbridge_local::worker::{spawn_worker_with, EventSourceMapping};
use tokio::time::Instant;

use crate::helpers::{moto_config, spawn_app, Backend, TestApp, TestQueues};
use crate::sync::{activity, CAMPAIGN, TENANT};

/// Tenant A's backlog, sent first. The assertion needs only the start of it to be handled, so the
/// run stays short whatever this is.
const BACKLOG: usize = 20_000;
/// Tenant B's commands, sent right after.
const QUIET: usize = 10;
const QUIET_TENANT: &str = "team_quiet";

/// `n` commands of `tenant` (event ids `{prefix}_0`, ...), grouped by tenant when `grouped`.
fn commands(tenant: &str, prefix: &str, n: usize, grouped: bool) -> Vec<OutgoingMessage> {
    (0..n)
        .map(|i| {
            let mut command = activity(&format!("{prefix}_{i}"), "email_opened", "ada@example.com");
            command["tenant_id"] = json!(tenant);
            let message = OutgoingMessage::new(command.to_string());
            if grouped {
                message.with_group_id(tenant)
            } else {
                message
            }
        })
        .collect()
}

/// Two connected tenants with the campaign enabled, and the local worker consuming the in-process
/// activity queue with template.yaml's batch size and batching window, one batch at a time. In
/// AWS each of the 5 concurrent batches is its own Lambda instance with its own CPU; here they
/// would share the test's one thread, and a quiet tenant's batch would wait on the CPU the
/// backlog's four other batches use, which measures this process, not the queue.
async fn two_tenants() -> (TestApp, tokio::task::JoinHandle<()>) {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({})).await;
    app.connect_tenant(QUIET_TENANT).await;
    app.put_json(&format!("/v1/tenants/{QUIET_TENANT}/campaigns/{CAMPAIGN}"), json!({"enabled": true})).await;
    let TestQueues::Memory { activity, dead_letter, .. } = &app.queues else { unreachable!("in-process queues") };
    let esm = EventSourceMapping { max_concurrency: 1, ..EventSourceMapping::LOCAL };
    let worker = spawn_worker_with(app.ctx.worker.clone(), activity.clone(), dead_letter.clone(), esm);
    (app, worker)
}

/// Tasks in the simulated org per event-id prefix (a Task's Description ends with its event id).
fn tasks_by_prefix(app: &TestApp) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for task in app.tasks() {
        let description = task["Description"].as_str().unwrap_or_default();
        let event = description.rsplit_once(" · event ").map(|(_, id)| id).unwrap_or_default();
        let prefix = event.split('_').next().unwrap_or_default().to_owned();
        *counts.entry(prefix).or_default() += 1;
    }
    counts
}

async fn synced(app: &TestApp, tenant: &str) -> usize {
    app.deliveries(tenant).await.iter().filter(|d| d["outcome"] == "synced").count()
}

#[tokio::test]
async fn a_tenants_backlog_does_not_delay_another_tenant() {
    let (app, worker) = two_tenants().await;
    let started = Instant::now();
    let sent = app.ctx.queues.activity.send(commands(TENANT, "a", BACKLOG, true)).await;
    assert!(sent.iter().all(Result::is_ok));
    let sent = app.ctx.queues.activity.send(commands(QUIET_TENANT, "b", QUIET, true)).await;
    assert!(sent.iter().all(Result::is_ok));
    let enqueued = started.elapsed();

    let deadline = started + Duration::from_secs(60);
    while synced(&app, QUIET_TENANT).await < QUIET {
        assert!(Instant::now() < deadline, "tenant B not synced within 60 s: {:?}", tasks_by_prefix(&app));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let quiet_done = started.elapsed();
    let progress = tasks_by_prefix(&app);
    worker.abort();

    let backlog_done = progress.get("a").copied().unwrap_or(0);
    eprintln!(
        "fairness: {BACKLOG} commands of tenant A then {QUIET} of tenant B enqueued in {enqueued:.1?}; all of B's synced after \
         {quiet_done:.1?}, when {backlog_done} of A's were"
    );
    assert_eq!(progress.get("b"), Some(&QUIET), "{progress:?}");
    assert!(backlog_done < BACKLOG / 2, "B waited for half of A's backlog: {backlog_done} of {BACKLOG} done");
    // B's commands go into the first batch after they were sent, so A's done by then are the
    // batch that was running and the rest of B's (at most 2 batches), plus at most one more
    // started before this check looked.
    let batch = EventSourceMapping::LOCAL.batch_size;
    assert!(backlog_done <= 3 * batch, "B's commands waited behind more than one batch of A's: {backlog_done} done, batch {batch}");
}

/// Without group ids nothing is fair, but everything still syncs: a message without one is a
/// tenant of its own.
#[tokio::test]
async fn commands_without_a_group_id_still_sync() {
    let (app, worker) = two_tenants().await;
    let mut messages = commands(TENANT, "a", 30, false);
    messages.extend(commands(QUIET_TENANT, "b", 5, false));
    assert!(app.ctx.queues.activity.send(messages).await.iter().all(Result::is_ok));
    let deadline = Instant::now() + Duration::from_secs(30);
    while synced(&app, TENANT).await < 30 || synced(&app, QUIET_TENANT).await < 5 {
        assert!(Instant::now() < deadline, "not all synced: {:?}", tasks_by_prefix(&app));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.abort();
    assert_eq!(tasks_by_prefix(&app), HashMap::from([("a".to_owned(), 30), ("b".to_owned(), 5)]));
}

/// What SQS (here moto) receives from the adapter: each message's `MessageGroupId`, and its
/// `DelaySeconds`, observed as the message staying invisible.
#[tokio::test]
async fn message_group_ids_and_delays_reach_sqs_on_moto() {
    let client = aws_sdk_sqs::Client::new(&moto_config().await);
    let name = format!("sfbridge-fair-{}", &sfbridge_core::domain::FlowId::random().to_string()[..12]);
    let url = client.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
    let queue = SqsQueue::new(client.clone(), &url);
    let mut messages: Vec<OutgoingMessage> = (0..12).map(|i| OutgoingMessage::new(format!("a{i}")).with_group_id("team_a")).collect();
    messages.push(OutgoingMessage::new("b0").with_group_id("team_b"));
    messages.push(OutgoingMessage::new("none"));
    messages.push(OutgoingMessage::new("b-later").with_group_id("team_b").with_delay(Duration::from_secs(2)));
    let sent_at = Instant::now();
    let results = queue.send(messages).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let receive = |wait: i32| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let out = client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
                .visibility_timeout(600)
                .send()
                .await
                .unwrap();
            out.messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    let group = m.attributes.and_then(|mut a| a.remove(&MessageSystemAttributeName::MessageGroupId));
                    (m.body.unwrap(), group)
                })
                .collect::<Vec<(String, Option<String>)>>()
        }
    };
    let mut first: Vec<(String, Option<String>)> = Vec::new();
    loop {
        let got = receive(0).await;
        if got.is_empty() {
            break;
        }
        first.extend(got);
    }
    let groups: HashMap<String, Option<String>> = first.iter().cloned().collect();
    assert_eq!(groups.len(), 14, "all but the delayed one: {first:?}");
    assert!((0..12).all(|i| groups[&format!("a{i}")].as_deref() == Some("team_a")), "{groups:?}");
    assert_eq!(groups["b0"].as_deref(), Some("team_b"));
    assert_eq!(groups["none"], None);
    assert!(!groups.contains_key("b-later"), "delayed");

    let later = receive(5).await;
    assert!(sent_at.elapsed() >= Duration::from_millis(1900), "visible after its delay, not before: {:?}", sent_at.elapsed());
    assert_eq!(later, [("b-later".to_owned(), Some("team_b".to_owned()))]);
}
