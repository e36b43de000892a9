//! Activity sync: sync commands from the activity queue become Tasks and field updates on the
//! matching Salesforce Contact or Lead, exactly once, with every outcome in the delivery log.
//!
//! [`handle_batch`] takes one SQS batch and returns the messages to retry:
//!
//! 1. every body is parsed ([`command`]); one that cannot be run goes to the dead-letter queue
//!    with the reason, without holding up the rest;
//! 2. commands are grouped per tenant (messages carrying the same event share one outcome) and
//!    the tenants run side by side ([`tenant`]);
//! 3. each outcome becomes a disposition: acknowledged (synced, skipped, parked, or a duplicate
//!    of a finished event), retried by SQS (transient), or dead-lettered with the reason
//!    (permanent).
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
mod ledger;
mod match_cache;
mod matching;
pub(crate) mod tenant;

use std::collections::{BTreeMap, HashMap};

use futures::stream::{self, StreamExt};

pub use activity::{subject, TASK_STATUS};


use sfbridge_core::domain::{EventId, TenantId};
use std::sync::Arc;

use sfbridge_core::clock::Clock;
use sfbridge_core::metrics::{self, Counter, Function, Meter};
use sfbridge_core::queue::Queue;
use sfbridge_core::store::Store;
use sfbridge_salesforce::rest::RecordsApi;
use sfbridge_salesforce::Sessions;
use tenant::Pending;
use command::parse_command;
use budget::ApiUsageBook;

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
}

/// The queues a [`Worker`] sends to.
#[derive(Debug, Clone)]
pub struct WorkerQueues {
    /// Where parked commands go back to when their tenant is connected again.
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
        }
    }

    /// Handles one batch; see [`handle_batch`].
    pub async fn handle_batch(&self, messages: Vec<InboundMessage>) -> Vec<String> {
        handle_batch(self, messages).await
    }
}

/// Tenants of one batch handled at the same time (each with its own Salesforce call limit).
pub(crate) const MAX_CONCURRENT_TENANTS: usize = 8;

/// Message attributes on a dead-lettered command: why it was taken off the queue.
pub const DLQ_CODE_ATTRIBUTE: &str = "sfbridge_error_code";
pub const DLQ_REASON_ATTRIBUTE: &str = "sfbridge_error_reason";
pub const DLQ_SOURCE_ATTRIBUTE: &str = "sfbridge_source_message_id";

/// One received message (an SQS record, or one of the local stack's in-process queue).
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub message_id: String,
    pub body: String,
}

/// What becomes of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(dead_code)] // `Defer` is being wired up (issue 12).
pub(crate) enum Disposition {
    /// Handled for good (or handed on): delete it.
    Ack,
    /// The event's own failure (a record refused for a reason that may pass): SQS delivers it
    /// again, using one of its receives.
    Retry,
    /// A condition of the whole tenant (API budget, request limit, Salesforce unavailable, a
    /// refresh in progress), not of the event: it comes back after `after` without using a receive.
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
    let bodies: HashMap<String, String> = messages.iter().map(|m| (m.message_id.clone(), m.body.clone())).collect();
    let mut outcomes: Vec<(Vec<String>, Disposition)> = Vec::new();
    let mut tenants: BTreeMap<TenantId, Vec<Pending>> = BTreeMap::new();
    let mut seen: HashMap<(TenantId, EventId), (TenantId, usize)> = HashMap::new();

    for m in messages {
        match parse_command(&m.body) {
            Ok(command) => {
                let key = (command.tenant_id.clone(), command.event_id.clone());
                if let Some((t, i)) = seen.get(&key) {
                    if let Some(p) = tenants.get_mut(t).and_then(|list| list.get_mut(*i)) {
                        p.message_ids.push(m.message_id);
                        continue;
                    }
                }
                let list = tenants.entry(command.tenant_id.clone()).or_default();
                seen.insert(key, (command.tenant_id.clone(), list.len()));
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

    let runs = bounded(
        tenants.into_iter().map(|(t, pending)| async move { tenant::sync_tenant(ctx, &t, pending).await }).collect(),
        MAX_CONCURRENT_TENANTS,
    )
    .await;
    outcomes.extend(runs.into_iter().flatten());

    let mut retry = Vec::new();
    let mut dead = Vec::new();
    for (ids, disposition) in outcomes {
        match disposition {
            Disposition::Ack => {}
            // Until deferral has its own path, a deferred event is retried by SQS.
            Disposition::Retry | Disposition::Defer { .. } => retry.extend(ids),
            Disposition::DeadLetter { code, reason } => dead.extend(ids.into_iter().map(|id| (id, code.clone(), reason.clone()))),
        }
    }
    retry.extend(dead_letters::dead_letter(ctx, &bodies, dead).await);
    tracing::info!(retry = retry.len(), "sync batch handled");
    retry
}

/// Runs `futures` with at most `limit` in flight; results in completion order. (Collecting the
/// futures first keeps closures out of the stream's type, which lets the compiler see it is `Send`.)
pub(crate) async fn bounded<F: std::future::Future>(futures: Vec<F>, limit: usize) -> Vec<F::Output> {
    stream::iter(futures).buffer_unordered(limit.max(1)).collect().await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sfbridge_core::queue::{OutgoingMessage, Queue, QueueError};

    use super::*;
    use crate::tenant::stub::{answer_all, fixture_with_dead_letter, StubApi};

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
        let messages = vec![
            InboundMessage { message_id: "m1".into(), body: "not a sync command".into() },
            InboundMessage { message_id: "m2".into(), body: "{}".into() },
        ];
        let mut retry = f.worker.handle_batch(messages).await;
        retry.sort();
        assert_eq!(retry, ["m1", "m2"]);
    }
}
