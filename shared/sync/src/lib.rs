//! Activity sync: sync commands from the activity queue become Tasks and field updates on the
//! matching Salesforce Contact or Lead, exactly once, with every outcome in the delivery log.
//!
//! [`handle_batch`] takes one SQS batch and returns the messages to retry:
//!
//! 1. every body is parsed ([`command`]); one that cannot be run goes to the dead-letter queue
//!    with the reason, without holding up the rest;
//! 2. commands are grouped per tenant (messages carrying the same event share one outcome) and
//!    every tenant of the batch runs at once ([`tenant`]), so no tenant's events wait on another
//!    tenant's Salesforce calls;
//! 3. each outcome becomes a disposition ([`dispositions`]): acknowledged (synced, skipped,
//!    parked, or a duplicate of a finished event), retried with growing delays (the event's own
//!    transient failure; dead-lettered on its last allowed receive), deferred without using a
//!    receive (a condition of the whole tenant: sent again with a delay), or dead-lettered with
//!    the reason (permanent).
//!
//! Exactly once comes from the ledger ([`ledger`]) plus, when the tenant configures one, upserts
//! on a Task external-id field; the README states the guarantee precisely.
//!
//! Each batch writes one metrics line (`Function` = `activity-sync`, see [`sfbridge_core::metrics`]):
//! every event's outcome (counted where it is settled, in `tenant.rs`), the Salesforce calls made
//! and the highest API usage they reported, and the token refreshes of the batch.

mod activity;
mod budget;
mod command;
mod dead_letters;
mod dispositions;
mod ledger;
mod match_cache;
mod matching;
mod schema;
pub(crate) mod tenant;

use std::collections::{BTreeMap, HashMap};

use futures::stream::{self, StreamExt};

pub use activity::{subject, TASK_STATUS};
pub use command::{check_command, CommandError};
pub use schema::command_schema;
pub use dispositions::{RetryPolicy, MAX_RECEIVES_CODE};


use sfbridge_core::domain::{EventId, TenantId};
use std::sync::Arc;

use sfbridge_core::clock::Clock;
use sfbridge_core::metrics::{self, Counter, Function, Gauge, Meter};
use sfbridge_core::queue::Queue;
use sfbridge_core::store::Store;
use sfbridge_salesforce::rest::RecordsApi;
use sfbridge_salesforce::Sessions;
use tenant::Pending;
use command::parse_command;
use budget::ApiUsageBook;
use dispositions::Received;

/// The activity-sync worker, built once per process (per Lambda cold start). It holds what the
/// function's IAM policy allows it and nothing more: the table, the key (to open the tenants'
/// tokens), Salesforce, the activity queue (replaying parked commands) and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    clock: Arc<dyn Clock>,
    sessions: Sessions,
    rest: Arc<dyn RecordsApi>,
    activity: Arc<dyn Queue>,
    dead_letter: Arc<dyn Queue>,
    /// The org API usage each tenant's responses last reported (the sync budget guard).
    api_usage: Arc<ApiUsageBook>,
    /// Recent email matches per tenant, so retries and follow-up batches skip their lookups.
    matches: Arc<match_cache::MatchCache>,
    meter: Meter,
    /// How the event's own failures are retried ([`RetryPolicy::default`] unless set).
    retry: RetryPolicy,
}

/// The queues a [`Worker`] sends to.
#[derive(Debug, Clone)]
pub struct WorkerQueues {
    /// Where parked commands go back to when their tenant is connected again, and deferred ones
    /// with a delay; and where retried messages get their visibility changed.
    pub activity: Arc<dyn Queue>,
    /// Where commands that can never run go, with the reason.
    pub dead_letter: Arc<dyn Queue>,
}

impl Worker {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        sessions: Sessions,
        rest: impl RecordsApi + 'static,
        queues: WorkerQueues,
        meter: Meter,
    ) -> Self {
        let WorkerQueues { activity, dead_letter } = queues;
        Self {
            store,
            clock,
            sessions,
            rest: Arc::new(rest),
            activity,
            dead_letter,
            api_usage: Arc::default(),
            matches: Arc::default(),
            meter,
            retry: RetryPolicy::default(),
        }
    }

    /// The same worker with another retry schedule (the local stack's is shorter).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Handles one batch; see [`handle_batch`].
    pub async fn handle_batch(&self, messages: Vec<InboundMessage>) -> Vec<String> {
        handle_batch(self, messages).await
    }
}

/// Tenants of one batch synced at the same time (a batch holds up to 1,000 messages).
pub(crate) const MAX_CONCURRENT_TENANTS: usize = 100;

/// Message attributes on a dead-lettered command: why it was taken off the queue.
pub const DLQ_CODE_ATTRIBUTE: &str = "sfbridge_error_code";
pub const DLQ_REASON_ATTRIBUTE: &str = "sfbridge_error_reason";
pub const DLQ_SOURCE_ATTRIBUTE: &str = "sfbridge_source_message_id";
/// Message attribute on a command activity sync deferred and sent again: how many times it was
/// deferred (a number; absent = never).
pub const DEFERRALS_ATTRIBUTE: &str = "sfbridge_deferrals";

/// One received message (an SQS record, or one of the local stack's in-process queue).
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub message_id: String,
    pub body: String,
    /// The receipt handle of this receive (SQS `receiptHandle`): a retried message's visibility is
    /// changed through it. Without one, a retry comes back at the queue's visibility timeout.
    pub receipt_handle: Option<String>,
    /// SQS `ApproximateReceiveCount`: 1 on the first receive.
    pub receive_count: u32,
    /// How many times activity sync deferred this command before ([`DEFERRALS_ATTRIBUTE`]).
    pub deferrals: u32,
}

impl InboundMessage {
    /// A first receive, never deferred, without a receipt handle.
    pub fn new(message_id: impl Into<String>, body: impl Into<String>) -> Self {
        Self { message_id: message_id.into(), body: body.into(), receipt_handle: None, receive_count: 1, deferrals: 0 }
    }
}

/// What becomes of a message ([`dispositions`] carries it out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Handled for good (or handed on): delete it.
    Ack,
    /// The event's own failure (a record refused for a reason that may pass): SQS delivers it
    /// again after the retry policy's next delay, using one of its receives; on the last allowed
    /// receive it is dead-lettered (`max_receives`).
    Retry,
    /// A condition of the whole tenant (API budget, request limit, Salesforce unavailable, a
    /// refresh in progress), not of the event: it comes back after `after` (at most 15 minutes a
    /// time) without using a receive. [`deferrals`] says how often it was deferred before.
    Defer { after: std::time::Duration, reason: String },
    /// Never runnable as is: move it to the dead-letter queue with the reason.
    DeadLetter { code: String, reason: String },
}

/// Handles one batch. Returns the ids of the messages SQS should deliver again (the
/// `batchItemFailures`); all others were synced, skipped, parked or dead-lettered. Writes the
/// batch's metrics line when done.
pub async fn handle_batch(ctx: &Worker, messages: Vec<InboundMessage>) -> Vec<String> {
    ctx.meter.measure(Function::ActivitySync, run_batch(ctx, messages)).await
}

async fn run_batch(ctx: &Worker, messages: Vec<InboundMessage>) -> Vec<String> {
    let mut received: HashMap<String, Received> = HashMap::with_capacity(messages.len());
    let mut outcomes: Vec<(Vec<String>, Disposition)> = Vec::new();
    let mut tenants: BTreeMap<TenantId, Vec<Pending>> = BTreeMap::new();
    let mut seen: HashMap<(TenantId, EventId), (TenantId, usize)> = HashMap::new();

    for m in messages {
        let parsed = parse_command(&m.body);
        let event = parsed.as_ref().ok().map(|c| (c.tenant_id().clone(), c.event_id().clone()));
        metrics::record_max(Gauge::MaxReceiveCount, f64::from(m.receive_count));
        let r = Received { body: m.body.clone(), receipt_handle: m.receipt_handle, receive_count: m.receive_count, deferrals: m.deferrals, event };
        received.insert(m.message_id.clone(), r);
        match parsed {
            Ok(command) => {
                let key = (command.tenant_id().clone(), command.event_id().clone());
                if let Some((t, i)) = seen.get(&key) {
                    if let Some(p) = tenants.get_mut(t).and_then(|list| list.get_mut(*i)) {
                        p.message_ids.push(m.message_id);
                        continue;
                    }
                }
                let list = tenants.entry(command.tenant_id().clone()).or_default();
                seen.insert(key, (command.tenant_id().clone(), list.len()));
                list.push(Pending { message_ids: vec![m.message_id], command, body: m.body });
            }
            Err(e) => {
                tracing::warn!(message_id = %m.message_id, code = e.code, reason = %e.message, "unrunnable sync command");
                dead_letters::log_unrunnable(ctx, &e).await;
                metrics::add(Counter::EventsFailed, 1);
                outcomes.push((vec![m.message_id], Disposition::DeadLetter { code: e.code.into(), reason: e.message }));
            }
        }
    }

    // Tenants side by side, none waiting on another's Salesforce calls: each run limits its own
    // calls (and storage writes). At most MAX_CONCURRENT_TENANTS at once keeps the sockets
    // (a Salesforce connection per org, DynamoDB's pool) far below Lambda's 1,024 file descriptors.
    let runs: Vec<_> = tenants.into_iter().map(|(t, pending)| async move { tenant::sync_tenant(ctx, &t, pending).await }).collect();
    let deferrals: HashMap<String, u32> = received.iter().map(|(id, r)| (id.clone(), r.deferrals)).collect();
    let runs = DEFERRALS.scope(Arc::new(deferrals), bounded(runs, MAX_CONCURRENT_TENANTS)).await;
    outcomes.extend(runs.into_iter().flatten());

    dispositions::dispose(ctx, &received, outcomes).await
}

tokio::task_local! {
    /// The deferral count of each message of the batch being handled, for [`deferrals`].
    static DEFERRALS: Arc<HashMap<String, u32>>;
}

/// How many times the command carried by these messages (one event's) was deferred before: the
/// most among them, 0 outside a batch. For the tenant code, to make repeated deferrals longer.
pub(crate) fn deferrals(message_ids: &[String]) -> u32 {
    DEFERRALS
        .try_with(|counts| message_ids.iter().filter_map(|id| counts.get(id)).copied().max().unwrap_or(0))
        .unwrap_or(0)
}

/// Runs `futures` with at most `limit` in flight; results in completion order. (Collecting the
/// futures first keeps closures out of the stream's type, which lets the compiler see it is `Send`.)
pub(crate) async fn bounded<F: std::future::Future>(futures: Vec<F>, limit: usize) -> Vec<F::Output> {
    stream::iter(futures).buffer_unordered(limit.max(1)).collect().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use sfbridge_core::queue::{MemoryQueue, OutgoingMessage, Queue, QueueError, QueuedMessage};
    use sfbridge_salesforce::rest::{ErrorClass, RestError};

    use super::*;
    use crate::tenant::stub::{answer_all, fixture_with_dead_letter, found_or_written, pending, Call, StubApi};

    /// A dead-letter queue that answers for none of the messages it is given.
    #[derive(Debug)]
    struct Mute;

    #[async_trait::async_trait]
    impl Queue for Mute {
        async fn send(&self, _: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
            Vec::new()
        }
    }

    /// The bug this fixed: answers were zipped with the messages, so a short answer list let a
    /// message that never reached the dead-letter queue be acknowledged (deleted) as if it had.
    #[tokio::test]
    async fn a_message_the_dead_letter_queue_did_not_answer_for_is_left_to_sqs() {
        let f = fixture_with_dead_letter(StubApi::new(answer_all), Arc::new(Mute)).await;
        let messages = vec![InboundMessage::new("m1", "not a sync command"), InboundMessage::new("m2", "{}")];
        let mut retry = f.worker.handle_batch(messages).await;
        retry.sort();
        assert_eq!(retry, ["m1", "m2"]);
    }

    /// Delays short enough for a test, the production shape otherwise.
    fn quick() -> RetryPolicy {
        RetryPolicy {
            delays: [100, 200, 400, 800].map(Duration::from_millis).to_vec(),
            max_receives: 5,
            jitter: 0.0,
            max_deferral: Duration::from_secs(900),
        }
    }

    /// A worker on the stub whose activity queue and dead-letter queue the test can read.
    struct Rig {
        worker: Worker,
        store: sfbridge_core::store::Store,
        activity: MemoryQueue,
        dead_letter: MemoryQueue,
    }

    async fn rig(api: StubApi) -> Rig {
        let (activity, dead_letter) = (MemoryQueue::new(), MemoryQueue::new());
        let f = fixture_with_dead_letter(api, Arc::new(dead_letter.clone())).await;
        let worker = Worker { activity: Arc::new(activity.clone()), ..f.worker }.with_retry_policy(quick());
        Rig { worker, store: f.store, activity, dead_letter }
    }

    /// The stub tenant's dead letters, as the admin API would list them.
    async fn tenant_dead_letters(rig: &Rig) -> Vec<sfbridge_core::store::DeadLetterRecord> {
        let t = sfbridge_core::domain::TenantId::parse("team_unit").unwrap_or_else(|e| unreachable!("{e}"));
        rig.store.dead_letters(&t, 100, None).await.unwrap_or_else(|e| unreachable!("{e}")).dead_letters
    }

    /// A command of the stub's tenant on the activity queue, received once (as Lambda passes it).
    async fn on_the_queue(rig: &Rig, event_id: &str) -> QueuedMessage {
        let body = pending(event_id, "ada@example.com").body;
        assert!(rig.activity.send(vec![OutgoingMessage::new(body)]).await[0].is_ok());
        rig.activity.lease(1, Duration::ZERO, Duration::from_secs(3600)).await.remove(0)
    }

    fn inbound(m: &QueuedMessage) -> InboundMessage {
        let deferrals = m.attributes.iter().find(|(k, _)| k == DEFERRALS_ATTRIBUTE).map_or(0, |(_, v)| v.parse().unwrap());
        InboundMessage { receipt_handle: m.receipt_handle.clone(), receive_count: m.receive_count, deferrals, ..InboundMessage::new(&m.message_id, &m.body) }
    }

    fn received(m: &InboundMessage) -> HashMap<String, Received> {
        let event = parse_command(&m.body).ok().map(|c| (c.tenant_id().clone(), c.event_id().clone()));
        let r = Received { body: m.body.clone(), receipt_handle: m.receipt_handle.clone(), receive_count: m.receive_count, deferrals: m.deferrals, event };
        HashMap::from([(m.message_id.clone(), r)])
    }

    fn attribute<'a>(m: &'a QueuedMessage, name: &str) -> Option<&'a str> {
        m.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every record written is refused as locked (`UNABLE_TO_LOCK_ROW`): each event's own
    /// transient failure, which the tenant code retries.
    fn locked(call: &Call) -> Result<serde_json::Value, RestError> {
        let Call::Composite(subs) = call else { return answer_all(call) };
        let answers = subs
            .iter()
            .map(|sub| {
                if sub.method() == "GET" {
                    return found_or_written(sub);
                }
                let records = sub.body().and_then(|b| b["records"].as_array()).map_or(0, Vec::len);
                let refused = serde_json::json!({"success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access to this record", "fields": []}]});
                serde_json::json!({"httpStatusCode": 200, "referenceId": sub.reference_id(), "body": vec![refused; records]})
            })
            .collect();
        Ok(serde_json::Value::Array(answers))
    }

    /// Salesforce down for every call: a condition of the tenant, which the tenant code defers.
    fn unavailable(_: &Call) -> Result<serde_json::Value, RestError> {
        Err(RestError { class: ErrorClass::Transient, status: Some(503), code: "SERVER_UNAVAILABLE".into(), message: "down".into() })
    }

    #[tokio::test]
    async fn a_retry_comes_back_after_growing_delays_and_is_dead_lettered_on_the_last_receive() {
        let rig = rig(StubApi::new(locked)).await;
        let mut message = on_the_queue(&rig, "evt_retry").await;
        let mut waited = Vec::new();
        for receive in 1..=4 {
            assert_eq!(message.receive_count, receive);
            let retry = rig.worker.handle_batch(vec![inbound(&message)]).await;
            assert_eq!(retry, [message.message_id.clone()], "reported in batchItemFailures");
            assert!(rig.activity.lease(1, Duration::ZERO, Duration::from_secs(3600)).await.is_empty(), "not visible at once");
            let started = tokio::time::Instant::now();
            message = rig.activity.lease(1, Duration::from_secs(5), Duration::from_secs(3600)).await.remove(0);
            waited.push(started.elapsed());
        }
        for (receive, (waited, expected)) in waited.iter().zip(quick().delays).enumerate() {
            assert!(*waited >= expected.saturating_sub(Duration::from_millis(30)), "receive {}: back after {waited:?}, not {expected:?}", receive + 1);
            assert!(*waited < expected + Duration::from_millis(400), "receive {}: back after {waited:?}, not {expected:?}", receive + 1);
        }

        // The 5th receive fails too: dead-lettered, with the reason the last attempt recorded.
        assert_eq!(message.receive_count, 5);
        let retry = rig.worker.handle_batch(vec![inbound(&message)]).await;
        assert!(retry.is_empty(), "held as the tenant's dead letter: {retry:?}");
        assert!(rig.dead_letter.is_empty(), "it names its tenant: not for the operator's queue");
        let dead = tenant_dead_letters(&rig).await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].code, MAX_RECEIVES_CODE);
        assert!(dead[0].reason.contains("UNABLE_TO_LOCK_ROW"), "the last failure, not a generic text: {}", dead[0].reason);
        assert_eq!(dead[0].source_message_id, message.message_id);
    }

    #[tokio::test]
    async fn a_deferred_command_is_sent_again_delayed_in_its_tenants_group_and_never_uses_up_receives() {
        let rig = rig(StubApi::new(answer_all)).await;
        let mut message = on_the_queue(&rig, "evt_defer").await;
        let after = Duration::from_millis(150);
        // Deferred more times than the receives allowed: each time a new message, received once.
        for deferral in 1..=7u32 {
            let m = inbound(&message);
            assert_eq!((m.receive_count, m.deferrals), (1, deferral - 1));
            let outcome = vec![(vec![m.message_id.clone()], Disposition::Defer { after, reason: "API budget".into() })];
            let retry = dispositions::dispose(&rig.worker, &received(&m), outcome).await;
            assert!(retry.is_empty(), "acknowledged: {retry:?}");
            assert!(rig.activity.delete(m.receipt_handle.as_deref().unwrap()), "the event source mapping deletes the original");

            let waiting = rig.activity.peek_all();
            assert_eq!(waiting.len(), 1, "one copy sent again");
            assert_eq!(waiting[0].group_id.as_deref(), Some(crate::tenant::stub::TENANT));
            assert_eq!(attribute(&waiting[0], DEFERRALS_ATTRIBUTE), Some(deferral.to_string().as_str()));
            assert_eq!(waiting[0].body, m.body);
            assert!(rig.activity.lease(1, Duration::ZERO, Duration::from_secs(3600)).await.is_empty(), "delayed");
            let started = tokio::time::Instant::now();
            message = rig.activity.lease(1, Duration::from_secs(5), Duration::from_secs(3600)).await.remove(0);
            assert!(started.elapsed() >= after - Duration::from_millis(30), "back after {:?}", started.elapsed());
        }
        assert!(rig.dead_letter.is_empty(), "never dead-lettered");

        // Then the tenant can sync again, and the 8th delivery syncs.
        let m = inbound(&message);
        assert_eq!(m.deferrals, 7);
        assert!(rig.worker.handle_batch(vec![m]).await.is_empty());
        let ledger = rig.store.ledger(&TenantId::parse(crate::tenant::stub::TENANT).unwrap(), &EventId::parse("evt_defer").unwrap()).await;
        assert_eq!(ledger.unwrap().unwrap().status, sfbridge_core::store::LedgerStatus::Done);
    }

    /// Through the tenant code: Salesforce is down for the tenant's first 7 runs (a failed call
    /// defers the tenant's events), more runs than the receives allowed; the event syncs on the
    /// 8th delivery and never reaches the dead-letter queue.
    #[tokio::test(start_paused = true)]
    async fn a_tenant_deferred_more_often_than_the_receives_allowed_still_syncs() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = calls.clone();
        let api = StubApi::new(move |call| {
            if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 7 {
                unavailable(call)
            } else {
                answer_all(call)
            }
        });
        let rig = rig(api).await;
        let mut message = on_the_queue(&rig, "evt_down").await;
        for deferral in 0..7u32 {
            let m = inbound(&message);
            assert_eq!((m.receive_count, m.deferrals), (1, deferral), "a new message each time");
            assert!(rig.worker.handle_batch(vec![m.clone()]).await.is_empty(), "acknowledged, not retried");
            assert!(rig.activity.delete(m.receipt_handle.as_deref().unwrap()));
            let started = tokio::time::Instant::now();
            message = rig.activity.lease(1, Duration::from_secs(3600), Duration::from_secs(3600)).await.remove(0);
            assert!(started.elapsed() >= Duration::from_secs(1), "delayed: back after {:?}", started.elapsed());
            assert_eq!(message.group_id.as_deref(), Some(crate::tenant::stub::TENANT));
        }
        assert_eq!(inbound(&message).deferrals, 7);
        assert!(rig.worker.handle_batch(vec![inbound(&message)]).await.is_empty());
        assert!(rig.dead_letter.is_empty(), "never dead-lettered");
        assert_eq!(rig.activity.len(), 1, "only the last delivery, which the event source mapping now deletes");
        let ledger = rig.store.ledger(&TenantId::parse(crate::tenant::stub::TENANT).unwrap(), &EventId::parse("evt_down").unwrap()).await;
        assert_eq!(ledger.unwrap().unwrap().status, sfbridge_core::store::LedgerStatus::Done);
    }

    /// An activity queue that keeps what it was sent.
    #[derive(Debug, Default)]
    struct Recording(std::sync::Mutex<Vec<OutgoingMessage>>);

    #[async_trait::async_trait]
    impl Queue for Recording {
        async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
            let answers = messages.iter().map(|_| Ok(())).collect();
            self.0.lock().unwrap().extend(messages);
            answers
        }
    }

    #[tokio::test]
    async fn a_deferral_is_sent_once_per_event_with_at_most_fifteen_minutes_delay() {
        let rig = rig(StubApi::new(answer_all)).await;
        let recording = Arc::new(Recording::default());
        let worker = Worker { activity: recording.clone(), ..rig.worker.clone() };
        let body = pending("evt_long", "ada@example.com").body;
        // Two messages carried the event; one was deferred twice before, the other once.
        let copies = [
            InboundMessage { deferrals: 2, ..InboundMessage::new("m-1", body.clone()) },
            InboundMessage { deferrals: 1, ..InboundMessage::new("m-2", body.clone()) },
        ];
        let mut all = received(&copies[0]);
        all.extend(received(&copies[1]));
        let outcome = vec![(vec!["m-1".to_owned(), "m-2".to_owned()], Disposition::Defer { after: Duration::from_secs(3600), reason: "x".into() })];
        assert!(dispositions::dispose(&worker, &all, outcome).await.is_empty(), "both acknowledged");
        let sent = recording.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].delay, Some(Duration::from_secs(900)));
        assert_eq!(sent[0].group_id.as_deref(), Some(crate::tenant::stub::TENANT));
        assert_eq!(sent[0].attributes, [(DEFERRALS_ATTRIBUTE.to_owned(), "3".to_owned())]);
    }

    /// An activity queue that refuses every send (and changes no visibility).
    #[derive(Debug)]
    struct Refusing;

    #[async_trait::async_trait]
    impl Queue for Refusing {
        async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
            messages.iter().map(|_| Err(QueueError::Unavailable("down".into()))).collect()
        }
    }

    #[tokio::test]
    async fn a_deferral_that_cannot_be_sent_again_is_retried() {
        let rig = rig(StubApi::new(answer_all)).await;
        let worker = Worker { activity: Arc::new(Refusing), ..rig.worker.clone() };
        let m = InboundMessage::new("m-1", pending("evt_refused", "ada@example.com").body);
        let outcome = vec![(vec!["m-1".to_owned()], Disposition::Defer { after: Duration::from_secs(60), reason: "x".into() })];
        assert_eq!(dispositions::dispose(&worker, &received(&m), outcome).await, ["m-1"]);
        assert!(rig.dead_letter.is_empty());
    }

    #[tokio::test]
    async fn a_retry_without_a_receipt_handle_is_still_reported_and_dead_letters_use_the_generic_reason() {
        let rig = rig(StubApi::new(answer_all)).await;
        let first = InboundMessage::new("m-1", pending("evt_a", "ada@example.com").body);
        let last = InboundMessage { receive_count: 5, ..InboundMessage::new("m-2", pending("evt_b", "ada@example.com").body) };
        let mut all = received(&first);
        all.extend(received(&last));
        let outcome = vec![(vec!["m-1".to_owned()], Disposition::Retry), (vec!["m-2".to_owned()], Disposition::Retry)];
        assert_eq!(dispositions::dispose(&rig.worker, &all, outcome).await, ["m-1"]);
        let dead = tenant_dead_letters(&rig).await;
        assert_eq!(dead.iter().map(|d| d.reason.as_str()).collect::<Vec<_>>(), ["still failing after 5 receives"]);
    }

    #[tokio::test]
    async fn the_tenant_code_can_read_the_deferral_count_of_its_messages() {
        assert_eq!(deferrals(&["m".to_owned()]), 0, "outside a batch");
        let counts = Arc::new(HashMap::from([("a".to_owned(), 2), ("b".to_owned(), 5)]));
        let seen = DEFERRALS.scope(counts, async { deferrals(&["a".to_owned(), "b".to_owned(), "c".to_owned()]) }).await;
        assert_eq!(seen, 5);
    }
}
