//! Activity sync when things go wrong: a flaky Salesforce (503s, request limits, hung and cut
//! connections, writes whose answer is lost) under SQS's at-least-once delivery, fifty handlers
//! on an expired token at once, and a refresh token revoked at Salesforce.
//!
//! SQS is simulated by a work list: batches are taken off its front, the messages a batch returns
//! as `batchItemFailures` go to its back (visible again later), until it drains.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use salesforce_sim::{Fault, Faults, FieldKind, FieldSpec};
use serde_json::{json, Value};
use sfbridge_core::domain::{EventId, TenantId};
use sfbridge_core::store::{DeliveryOutcome, DeliveryRecord, LedgerStatus};
use sfbridge_sync::RetryPolicy;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::sync::{activity, sqs_event, TENANT};

const EXTERNAL_ID: &str = "Sfbridge_Event_Id__c";
/// The Contact field the tenant maps its click counter to.
const CLICKS: &str = "Clicks__c";
const KINDS: [&str; 6] = ["email_sent", "email_opened", "email_clicked", "email_replied", "email_bounced", "unsubscribed"];
/// SQS hands a Lambda at most this many messages (the function's configured batch size).
const MAX_BATCH: usize = 200;
/// Batches before a work list that has not drained counts as stuck (the runs below drain in
/// 30 to 200).
const MAX_BATCHES: usize = 500;
/// A timeout fault hangs this long and then closes the connection without answering: the
/// client sees the connection drop (no response, nothing processed) after a short wait. A hang
/// past the REST client's 20 s timeout would exercise the same "no response" path, 20 s a time.
const HANG: Duration = Duration::from_millis(100);

/// A small seeded generator (SplitMix64), so that a run's deliveries and batch sizes repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

fn tenant() -> TenantId {
    TenantId::parse(TENANT).unwrap()
}

fn email(i: usize) -> String {
    format!("person{i:03}@example.com")
}

async fn insert_contacts(app: &TestApp, n: usize) {
    for i in 0..n {
        app.sim.insert_contact(&email(i), "Person", &format!("Number{i}"));
    }
}

/// The event a Task logs: the end of its Description (`… · event {event_id}`).
fn event_of_task(task: &Value) -> String {
    let description = task["Description"].as_str().unwrap_or_default();
    description.rsplit_once(" · event ").map(|(_, id)| id.to_owned()).unwrap_or_default()
}

/// The whole delivery log, newest first (read from the store: the API pages by 100).
async fn all_deliveries(app: &TestApp) -> Vec<DeliveryRecord> {
    let t = tenant();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = app.ctx.store.deliveries(&t, 100, cursor.as_deref()).await.unwrap();
        all.extend(page.deliveries);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

fn count_by_kind(faults: &[Fault]) -> BTreeMap<String, usize> {
    let mut by_kind = BTreeMap::new();
    for f in faults {
        *by_kind.entry(format!("{f:?}")).or_insert(0) += 1;
    }
    by_kind
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    backend: Backend,
    events: usize,
    contacts: usize,
    /// The tenant configures `task_external_id_field`: Task writes are upserts.
    external_id: bool,
    seed: u64,
    /// Batches handled at the same time.
    parallel: usize,
    /// Write calls whose answer is lost (applied by Salesforce, the answer never arrives).
    lost_writes: u32,
    /// Fail unless every kind of fault was injected at least once: at 1 % a run of a few hundred
    /// calls may inject no lost response at all, and then proves nothing about them. With one
    /// batch at a time the faults follow the calls, so a seed either always does or never does.
    every_fault_kind: bool,
}

#[derive(Debug)]
struct Figures {
    duplicates: usize,
    lost_responses: usize,
}

/// `s.events` activity events, 10 % of them delivered twice, through a faulty Salesforce (lost
/// write answers included) until the queue drains. Asserts, with or without the external id:
/// none is lost, none is dead-lettered, every event has exactly one Task, and every Contact's
/// click counter equals its click events.
async fn under_faults(s: Scenario) -> Figures {
    let started = Instant::now();
    let app = spawn_app(s.backend).await;
    insert_contacts(&app, s.contacts).await;
    assert!(app.sim.add_custom_field("Contact", CLICKS, FieldSpec::new(FieldKind::Double)));
    let mapping = json!({"click_count": CLICKS});
    if s.external_id {
        assert!(app.sim.add_custom_field("Task", EXTERNAL_ID, FieldSpec::unique_external_id(FieldKind::String)));
        app.ready_tenant(json!({"task_external_id_field": EXTERNAL_ID, "field_mapping": mapping})).await;
    } else {
        app.ready_tenant(json!({"field_mapping": mapping})).await;
    }

    // The events, and their deliveries: each once, 10 % twice (half right behind the first, so
    // usually in the same batch, half 200 to 1,000 deliveries later, so in a later batch).
    let mut rng = Rng(s.seed);
    let event_ids: Vec<String> = (0..s.events).map(|i| format!("evt_{i:05}")).collect();
    let mut scheduled: Vec<(usize, String)> = Vec::new();
    let mut clicks_of: HashMap<String, i64> = HashMap::new();
    for (i, id) in event_ids.iter().enumerate() {
        let to = email(rng.below(s.contacts));
        if KINDS[i % KINDS.len()] == "email_clicked" {
            *clicks_of.entry(to.clone()).or_insert(0) += 1;
        }
        let body = activity(id, KINDS[i % KINDS.len()], &to).to_string();
        if rng.chance(0.10) {
            let later = if rng.chance(0.5) { i } else { i + 200 + rng.below(800) };
            scheduled.push((later * 2 + 1, body.clone()));
        }
        scheduled.push((i * 2, body));
    }
    scheduled.sort_by_key(|(at, _)| *at);
    let mut work: VecDeque<(String, String)> =
        scheduled.into_iter().enumerate().map(|(n, (_, body))| (format!("d{n}"), body)).collect();
    let messages = work.len();

    app.sim.set_timeout_hang(HANG);
    app.sim.set_faults(Faults { rate_503: 0.10, rate_request_limit: 0.05, rate_timeout: 0.02, seed: s.seed, ..Faults::default() });
    app.sim.lose_write_answers(s.lost_writes);
    let calls_before = app.sim.rest_calls();

    // Deferred commands come back at once (no delay), as new messages the loop takes off the
    // activity queue: the fault rates here would otherwise make it wait for minutes.
    let worker = Arc::new((*app.ctx.worker).clone().with_retry_policy(RetryPolicy { max_deferral: Duration::ZERO, ..RetryPolicy::local() }));
    let mut batches = 0;
    let mut deliveries = 0;
    let mut resent = 0;
    while !work.is_empty() && batches < MAX_BATCHES {
        // `s.parallel` batches at a time (Lambda runs several pollers). SQS hands over what it
        // has within the batching window: a full batch now and then, mostly a few messages
        // (more batches, so more Salesforce calls to fault).
        let mut running = JoinSet::new();
        for _ in 0..s.parallel {
            let size = if rng.chance(0.25) { 1 + rng.below(MAX_BATCH) } else { 1 + rng.below(20) };
            let batch: Vec<(String, String)> = work.drain(..size.min(work.len())).collect();
            if batch.is_empty() {
                break;
            }
            batches += 1;
            deliveries += batch.len();
            let worker = worker.clone();
            running.spawn(async move {
                let bodies: Vec<String> = batch.iter().map(|(_, body)| body.clone()).collect();
                let response = sfbridge_activity_sync::handle(&worker, sqs_event(&bodies)).await;
                (batch, response.batch_item_failures)
            });
        }
        while let Some(done) = running.join_next().await {
            let (batch, failures) = done.unwrap();
            // `sqs_event` names the messages m0, m1, ... in batch order.
            let retry: HashSet<usize> = failures
                .iter()
                .map(|f| f.item_identifier.strip_prefix('m').and_then(|i| i.parse().ok()).unwrap())
                .collect();
            assert!(retry.iter().all(|i| *i < batch.len()), "{retry:?}");
            work.extend(batch.into_iter().enumerate().filter(|(i, _)| retry.contains(i)).map(|(_, m)| m));
        }
        for copy in app.queues.take(false).await {
            resent += 1;
            work.push_back((format!("r{resent}"), copy.body));
        }
        // Each round's outcomes get their own timestamp in the delivery log.
        app.clock.advance(chrono::Duration::milliseconds(1));
    }
    assert!(work.is_empty(), "{} messages still on the queue after {batches} batches", work.len());
    let calls = app.sim.rest_calls() - calls_before;
    let injected = app.sim.injected_faults();
    app.sim.set_faults(Faults::default());
    let lost_responses = injected.iter().filter(|f| **f == Fault::LostResponse).count();

    // Tasks per event.
    let tasks = app.tasks();
    let mut tasks_of: HashMap<String, Vec<String>> = event_ids.iter().map(|id| (id.clone(), Vec::new())).collect();
    for task in &tasks {
        let event = event_of_task(task);
        if s.external_id {
            assert_eq!(task[EXTERNAL_ID].as_str(), Some(event.as_str()), "{task}");
        }
        let id = task["Id"].as_str().unwrap().to_owned();
        tasks_of.get_mut(&event).unwrap_or_else(|| panic!("a Task for no known event: {task}")).push(id);
    }
    let lost: Vec<&String> = event_ids.iter().filter(|id| tasks_of[*id].is_empty()).collect();
    assert!(lost.is_empty(), "{} events have no Task: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    let duplicates = tasks.len() - s.events;

    // Every event's newest log record is `synced` and names one of its Tasks (earlier ones may say
    // `deferred`, later ones restate `synced` for a duplicate delivery); its ledger entry is done.
    let log = all_deliveries(&app).await;
    let latest = latest_outcomes(&app).await;
    let mut logged_tasks = HashSet::new();
    for id in &event_ids {
        let record = latest.get(id).unwrap_or_else(|| panic!("{id}: no delivery log record"));
        assert_eq!(record.outcome, DeliveryOutcome::Synced, "{id}: {record:?}");
        let task = record.task_id.as_ref().map(|t| t.as_str().to_owned()).unwrap_or_default();
        assert!(tasks_of[id].contains(&task), "{id}: logged Task {task} is not one of {:?}", tasks_of[id]);
        logged_tasks.insert(task);
        let ledger = app.ctx.store.ledger(&tenant(), &EventId::parse(id).unwrap()).await.unwrap().unwrap();
        assert_eq!(ledger.status, LedgerStatus::Done, "{id}: {ledger:?}");
    }
    let deferred = log.iter().filter(|r| r.outcome == DeliveryOutcome::Deferred).count();
    let counted: HashMap<String, i64> = app
        .sim
        .records("Contact")
        .iter()
        .map(|c| (c["Email"].as_str().unwrap().to_owned(), c[CLICKS].as_f64().map_or(0, |n| n.round() as i64)))
        .collect();
    let miscounted: Vec<(String, i64, i64)> = counted
        .iter()
        .map(|(email, n)| (email.clone(), *n, clicks_of.get(email).copied().unwrap_or(0)))
        .filter(|(_, n, clicks)| n != clicks)
        .collect();
    let dead = app.queues.take(true).await;
    assert!(dead.is_empty(), "{} messages dead-lettered, e.g. {:?}", dead.len(), dead.first());

    // Duplicates. A Task the log does not name was written by an attempt whose answer never
    // came back (a lost response): the whole write of that attempt is such orphans, created one
    // after the other, so the runs of orphans in creation order are at most the lost responses.
    let orphan: Vec<bool> = tasks.iter().map(|t| !logged_tasks.contains(t["Id"].as_str().unwrap())).collect();
    let orphans = orphan.iter().filter(|o| **o).count();
    let orphan_runs = orphan.iter().enumerate().filter(|(i, o)| **o && (*i == 0 || !orphan[i - 1])).count();
    let most_per_event = tasks_of.values().map(Vec::len).max().unwrap_or(0);
    // Upserted again by a retry after an answer was lost (only with the external id).
    let rewritten = tasks.iter().filter(|t| t["LastModifiedDate"] != t["CreatedDate"]).count();

    eprintln!(
        "under_faults[{:?}, external id {}, {} at a time]: {} events, {} messages ({} duplicate deliveries), {} deliveries made in {} \
         batches, {} Salesforce calls, injected faults {:?}, duplicate Tasks {} (in {} runs; most Tasks for one event {}), \
         Tasks rewritten {}, lost responses {}, deferrals logged {deferred}, click counters wrong {}, {:.1?}",
        s.backend,
        s.external_id,
        s.parallel,
        s.events,
        messages,
        messages - s.events,
        deliveries,
        batches,
        calls,
        count_by_kind(&injected),
        duplicates,
        orphan_runs,
        most_per_event,
        rewritten,
        lost_responses,
        miscounted.len(),
        started.elapsed(),
    );

    assert_eq!(orphans, duplicates, "each event's log names exactly one of its Tasks");
    // With the external id an upsert never writes a second Task; without it, the attempt after a
    // lost answer finds the Tasks it created and writes only the missing ones.
    assert_eq!(duplicates, 0, "duplicate Tasks in {orphan_runs} runs, {lost_responses} lost responses");
    assert_eq!(most_per_event, 1);
    let over: Vec<&(String, i64, i64)> = miscounted.iter().filter(|(_, n, clicks)| n > clicks).collect();
    assert!(over.is_empty(), "over-counted clicks (email, counted, clicks sent): {over:?}");
    if s.parallel == 1 {
        assert!(miscounted.is_empty(), "click counters (email, counted, clicks sent): {:?}", &miscounted[..miscounted.len().min(10)]);
    }
    // Batches side by side may read the same counter before either writes it: a known limit of
    // read-then-write counters (README, "Click counters"), shown here rather than hidden.
    assert!(lost_responses >= s.lost_writes as usize, "{lost_responses} lost answers, {} forced", s.lost_writes);
    if s.every_fault_kind {
        for kind in [Fault::ServiceUnavailable, Fault::RequestLimit, Fault::Timeout] {
            assert!(injected.contains(&kind), "the run never injected {kind:?}; pick another seed: {injected:?}");
        }
    }
    Figures { duplicates, lost_responses }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_every_event_syncs_once() {
    // One batch at a time, the faults follow the calls: seed 1 injects every kind of fault in
    // both runs (asserted), lost responses on writes included.
    let base = Scenario {
        backend: Backend::Memory,
        events: 2_000,
        contacts: 200,
        external_id: true,
        seed: 1,
        parallel: 1,
        lost_writes: 5,
        every_fault_kind: true,
    };
    under_faults(base).await;
    let without = under_faults(Scenario { external_id: false, ..base }).await;
    eprintln!("without the external id: {} duplicate Tasks, {} lost responses", without.duplicates, without.lost_responses);
    // Three batches at a time: the same event in two of them (a duplicate delivery, or a retry
    // next to its duplicate) is claimed by one; the other is told to come back later. Which
    // calls fail now depends on timing, so no fault kind is required.
    under_faults(Scenario { parallel: 3, every_fault_kind: false, ..base }).await;
}

#[tokio::test]
async fn under_faults_every_event_syncs_once_on_moto() {
    // Fewer events, so fewer calls: seed 39 still injects every kind of fault (the draws follow the
    // calls, which do not depend on the storage backend).
    let base = Scenario {
        backend: Backend::Moto,
        events: 300,
        contacts: 50,
        external_id: true,
        seed: 39,
        parallel: 1,
        lost_writes: 5,
        every_fault_kind: true,
    };
    under_faults(base).await;
    under_faults(Scenario { external_id: false, events: 2_000, contacts: 200, ..base }).await;
}

/// Fifty handlers (fifty Lambdas) each get a batch while the tenant's access token has expired:
/// one of them refreshes, the others wait for its token, and every event syncs.
async fn fifty_handlers_refresh_once(backend: Backend) {
    const HANDLERS: usize = 50;
    const EVENTS_EACH: usize = 4;
    let started = Instant::now();
    let app = spawn_app(backend).await;
    insert_contacts(&app, HANDLERS).await;
    app.ready_tenant(json!({})).await;
    let (refreshes, token_calls) = (app.refresh_requests(), app.token_requests());
    app.sim.expire_access_tokens();

    let start = Arc::new(Barrier::new(HANDLERS));
    let mut handlers = JoinSet::new();
    for h in 0..HANDLERS {
        let (ctx, start) = (app.ctx.clone(), start.clone());
        let bodies: Vec<String> = (0..EVENTS_EACH)
            .map(|k| activity(&format!("evt_h{h:02}_{k}"), KINDS[k % KINDS.len()], &email((h + k) % HANDLERS)).to_string())
            .collect();
        handlers.spawn(async move {
            start.wait().await;
            (h, sfbridge_activity_sync::handle(&ctx.worker, sqs_event(&bodies)).await)
        });
    }
    while let Some(done) = handlers.join_next().await {
        let (h, response) = done.unwrap();
        assert!(response.batch_item_failures.is_empty(), "handler {h}: {:?}", response.batch_item_failures);
    }

    assert_eq!(app.refresh_requests() - refreshes, 1, "one refresh for {HANDLERS} handlers");
    assert_eq!(app.token_requests() - token_calls, 1, "no other token call");
    let latest_refresh = app.sim.issued_refresh_tokens().last().cloned().unwrap();
    assert!(app.sim.is_token_active(&latest_refresh), "the rotated family is alive: no invalid_grant, no reuse");
    assert_eq!(app.connection(TENANT).await["status"], "connected");
    assert!(!app.audit_types(TENANT).await.contains(&"salesforce.reauth_required".to_owned()));

    let mut per_event: HashMap<String, usize> = HashMap::new();
    for task in app.tasks() {
        *per_event.entry(event_of_task(&task)).or_insert(0) += 1;
    }
    assert_eq!(per_event.len(), HANDLERS * EVENTS_EACH, "every event synced");
    assert!(per_event.values().all(|n| *n == 1), "{per_event:?}");
    assert!(app.queues.take(true).await.is_empty());
    eprintln!(
        "fifty_handlers[{backend:?}]: {HANDLERS} handlers, {} events, 1 refresh, {} Salesforce calls, {:.1?}",
        HANDLERS * EVENTS_EACH,
        app.sim.rest_calls(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_handlers_on_an_expired_token_refresh_once() {
    fifty_handlers_refresh_once(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_handlers_on_an_expired_token_refresh_once_on_moto() {
    fifty_handlers_refresh_once(Backend::Moto).await;
}

/// The newest log record of each event.
async fn latest_outcomes(app: &TestApp) -> HashMap<String, DeliveryRecord> {
    let mut latest = HashMap::new();
    for record in all_deliveries(app).await {
        latest.entry(record.event_id.to_string()).or_insert(record);
    }
    latest
}

/// An admin revoked the app's access in Salesforce: the batch that finds out parks its events
/// (acknowledged, held in the table), the connection turns `reauth_required` once, later batches
/// park without asking Salesforce anything, and reconnecting replays them all, each synced once.
/// Deliveries of events synced before the revocation are acknowledged as duplicates, never
/// parked: every event's newest delivery entry stays its real outcome.
async fn invalid_grant_parks_until_reconnect(backend: Backend) {
    let started = Instant::now();
    let app = spawn_app(backend).await;
    insert_contacts(&app, 10).await;
    app.ready_tenant(json!({})).await;
    let synced: Vec<Value> = (0..5).map(|i| activity(&format!("evt_s{i:02}"), "email_sent", &email(i))).collect();
    assert_eq!(app.sync(&synced).await, Vec::<String>::new());
    app.clock.advance(chrono::Duration::seconds(1));
    let refresh_tokens = app.sim.issued_refresh_tokens();
    assert_eq!(refresh_tokens.len(), 1);
    assert!(app.sim.revoke_token(&refresh_tokens[0]));
    app.sim.expire_access_tokens();
    let reauth_audits = |audit: Vec<String>| audit.iter().filter(|k| *k == "salesforce.reauth_required").count();

    let first: Vec<Value> = (0..20).map(|i| activity(&format!("evt_a{i:02}"), KINDS[i % KINDS.len()], &email(i % 10))).collect();
    let refreshes = app.refresh_requests();
    let mut first_batch = first.clone();
    first_batch.extend(synced.iter().cloned());
    assert_eq!(app.sync(&first_batch).await, Vec::<String>::new(), "parked events and duplicates are acknowledged");
    assert_eq!(app.refresh_requests() - refreshes, 1, "one refresh attempt, refused");
    assert_eq!(app.connection(TENANT).await["status"], "reauth_required");
    assert_eq!(reauth_audits(app.audit_types(TENANT).await), 1);
    let latest = latest_outcomes(&app).await;
    for c in &first {
        let d = &latest[c["event_id"].as_str().unwrap()];
        assert_eq!((d.outcome, d.code.as_deref()), (DeliveryOutcome::Parked, Some("reauth_required")), "{d:?}");
    }
    assert_eq!(app.tasks().len(), synced.len(), "only the events synced before");
    assert!(app.queues.take(true).await.is_empty(), "nothing dead-lettered");

    // Still disconnected: the next batch (new events and a redelivery) parks at once.
    app.clock.advance(chrono::Duration::seconds(1));
    let mut second: Vec<Value> = (0..10).map(|i| activity(&format!("evt_b{i:02}"), "email_sent", &email(i))).collect();
    second.push(first[0].clone());
    let mut second_batch = second.clone();
    second_batch.extend(synced.iter().cloned());
    let (token_calls, rest_calls) = (app.token_requests(), app.sim.rest_calls());
    assert_eq!(app.sync(&second_batch).await, Vec::<String>::new());
    assert_eq!(app.token_requests(), token_calls, "no token call while reauth is required");
    assert_eq!(app.sim.rest_calls(), rest_calls, "no Salesforce call either");
    assert_eq!(reauth_audits(app.audit_types(TENANT).await), 1, "audited once");
    let latest = latest_outcomes(&app).await;
    assert!(second.iter().all(|c| latest[c["event_id"].as_str().unwrap()].outcome == DeliveryOutcome::Parked));
    assert_eq!(app.tasks().len(), synced.len(), "only the events synced before");
    assert!(app.queues.take(true).await.is_empty());
    assert!(app.queues.take(false).await.is_empty(), "parked, not put back on the queue");

    // Reconnecting replays every parked command onto the activity queue.
    app.clock.advance(chrono::Duration::seconds(1));
    let (_, page) = app.connect_in_browser(TENANT).await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert_eq!(app.connection(TENANT).await["status"], "connected");
    let replayed: Vec<String> = app.queues.take(false).await.into_iter().map(|m| m.body).collect();
    let all: HashSet<String> = first.iter().chain(&second).map(|c| c["event_id"].as_str().unwrap().to_owned()).collect();
    let replayed_ids: HashSet<String> =
        replayed.iter().map(|b| serde_json::from_str::<Value>(b).unwrap()["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(replayed.len(), all.len(), "each parked event replayed once");
    assert_eq!(replayed_ids, all);
    assert!(app.ctx.store.parked(&tenant(), 100).await.unwrap().is_empty());

    let retry = app.sync_raw(&replayed).await;
    assert!(retry.is_empty(), "{retry:?}");
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for task in app.tasks() {
        *per_event.entry(event_of_task(&task)).or_insert(0) += 1;
    }
    let expected: HashSet<String> = all.iter().cloned().chain(synced.iter().map(|c| c["event_id"].as_str().unwrap().to_owned())).collect();
    assert_eq!(per_event.keys().cloned().collect::<HashSet<_>>(), expected, "no event lost");
    assert!(per_event.values().all(|n| *n == 1), "each synced once: {per_event:?}");
    let latest = latest_outcomes(&app).await;
    assert!(all.iter().all(|id| latest[id].outcome == DeliveryOutcome::Synced));
    for c in &synced {
        let id = c["event_id"].as_str().unwrap();
        assert_eq!(per_event.get(id), Some(&1), "{id}: synced once, before the revocation");
        let d = &latest[id];
        assert_eq!((d.outcome, d.code.as_deref()), (DeliveryOutcome::Synced, Some("duplicate")), "{id}: {d:?}");
        assert!(d.task_id.is_some(), "{d:?}");
    }
    assert!(app.queues.take(true).await.is_empty());
    assert_eq!(reauth_audits(app.audit_types(TENANT).await), 1);
    eprintln!("invalid_grant[{backend:?}]: {} events parked and replayed, {:.1?}", all.len(), started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_parks_events_until_reconnect() {
    invalid_grant_parks_until_reconnect(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_parks_events_until_reconnect_on_moto() {
    invalid_grant_parks_until_reconnect(Backend::Moto).await;
}
