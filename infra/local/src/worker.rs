//! The local stand-in for Lambda's SQS event source mapping on the in-process activity queue
//! ([`MemoryQueue`], which behaves like an SQS standard fair queue): receives batches as the
//! mapping does, with template.yaml's settings ([`EventSourceMapping::TEMPLATE`]), calls the
//! activity-sync function's `handle` exactly as Lambda would, deletes what it did not report as
//! failed, and leaves the failures on the queue. The queue then does SQS's part: a failure comes
//! back when its visibility ends (the function spaces its retries itself with
//! `ChangeMessageVisibility`), and after `maxReceiveCount` receives the redrive policy moves it to
//! the dead-letter queue.
//!
//! [`invoke`] and [`sqs_record`], Lambda's part, are shared with the SQS poller
//! ([`crate::sqs_worker`]); each source keeps its own receiving and deleting.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use sfbridge_core::queue::{MemoryQueue, QueuedMessage, ATTRIBUTE_TYPE};
use sfbridge_sync::Worker;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// template.yaml's `ActivitySyncFunction` SQS event (`BatchSize`).
pub const BATCH_SIZE: usize = 1000;
/// template.yaml's `MaximumBatchingWindowInSeconds`.
pub const BATCHING_WINDOW: Duration = Duration::from_secs(5);
/// template.yaml's `ScalingConfig.MaximumConcurrency`.
pub const MAX_CONCURRENCY: usize = 5;
/// template.yaml's `ActivityQueue` `VisibilityTimeout`.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(360);
/// template.yaml's `ActivityQueue` `RedrivePolicy.maxReceiveCount`: above the worker's own
/// `RetryPolicy::max_receives`, so the worker dead-letters with the reason first and the redrive
/// policy only moves what a crash or a timeout left behind.
pub const MAX_RECEIVE_COUNT: u32 = 8;

/// How the stand-in receives: Lambda's event source mapping settings, and the queue's visibility
/// timeout and redrive policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSourceMapping {
    pub batch_size: usize,
    /// Once a first message is in, how long to wait for the batch to fill.
    pub batching_window: Duration,
    /// Batches handled at once.
    pub max_concurrency: usize,
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
}

impl EventSourceMapping {
    /// Exactly template.yaml's settings (a test compares them with the template).
    pub const TEMPLATE: Self = Self {
        batch_size: BATCH_SIZE,
        batching_window: BATCHING_WINDOW,
        max_concurrency: MAX_CONCURRENCY,
        visibility_timeout: VISIBILITY_TIMEOUT,
        max_receive_count: MAX_RECEIVE_COUNT,
    };

    /// The local stack's: the template's, with a batching window of 100 ms instead of 5 s, so a
    /// command sent by hand syncs at once.
    pub const LOCAL: Self = Self { batching_window: Duration::from_millis(100), ..Self::TEMPLATE };
}

/// Receives from `queue` until the process (or the test's runtime) ends; `queue` gets the redrive
/// policy to `dead_letter`.
pub fn spawn_worker(ctx: Arc<Worker>, queue: MemoryQueue, dead_letter: MemoryQueue) -> JoinHandle<()> {
    spawn_worker_with(ctx, queue, dead_letter, EventSourceMapping::LOCAL)
}

pub fn spawn_worker_with(ctx: Arc<Worker>, queue: MemoryQueue, dead_letter: MemoryQueue, esm: EventSourceMapping) -> JoinHandle<()> {
    queue.set_redrive(dead_letter, esm.max_receive_count);
    let slots = Arc::new(Semaphore::new(esm.max_concurrency.max(1)));
    tokio::spawn(async move {
        let mut running = tokio::task::JoinSet::new();
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let mut batch = queue.lease(esm.batch_size, Duration::from_secs(3600), esm.visibility_timeout).await;
            if batch.is_empty() {
                continue;
            }
            if batch.len() < esm.batch_size {
                tokio::time::sleep(esm.batching_window).await;
                batch.extend(queue.lease(esm.batch_size - batch.len(), Duration::ZERO, esm.visibility_timeout).await);
            }
            let (ctx, queue) = (ctx.clone(), queue.clone());
            running.spawn(async move {
                run_batch(&ctx, &queue, batch).await;
                drop(slot);
            });
            // Forget the batches already done.
            while running.try_join_next().is_some() {}
        }
    })
}

async fn run_batch(ctx: &Worker, queue: &MemoryQueue, batch: Vec<QueuedMessage>) {
    let records = batch.iter().map(memory_record).collect();
    let failed = invoke(ctx, records).await;
    for message in batch.iter().filter(|m| !failed.contains(&m.message_id)) {
        if let Some(handle) = &message.receipt_handle {
            queue.delete(handle);
        }
    }
    if !failed.is_empty() {
        tracing::info!(failed = failed.len(), "messages reported as failed stay on the queue until their visibility ends");
    }
}

/// The record Lambda would pass for a message of the in-process queue.
fn memory_record(m: &QueuedMessage) -> SqsMessage {
    let mut record = sqs_record(Some(m.message_id.clone()), Some(m.body.clone()));
    record.receipt_handle = m.receipt_handle.clone();
    record.attributes.insert("ApproximateReceiveCount".into(), m.receive_count.to_string());
    if let Some(group) = &m.group_id {
        record.attributes.insert("MessageGroupId".into(), group.clone());
    }
    for (name, value) in &m.attributes {
        let mut attribute = SqsMessageAttribute::default();
        attribute.data_type = Some(ATTRIBUTE_TYPE.into());
        attribute.string_value = Some(value.clone());
        record.message_attributes.insert(name.clone(), attribute);
    }
    record
}

/// Lambda's part for one batch: `records` as one `SqsEvent` through the activity-sync function's
/// `handle`; returns the ids of the messages it reported as failed (`ReportBatchItemFailures`).
pub async fn invoke(ctx: &Worker, records: Vec<SqsMessage>) -> HashSet<String> {
    let mut event = SqsEvent::default();
    event.records = records;
    let response = sfbridge_activity_sync::handle(ctx, event).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

/// The record Lambda would pass for a message with this id and body (all `handle` needs for a
/// first receive); a source with more to say (receipt handle, attributes, queue ARN) sets it on
/// the result.
pub fn sqs_record(message_id: Option<String>, body: Option<String>) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message_id;
    record.body = body;
    record.event_source = Some("aws:sqs".into());
    record
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The stand-in's settings against template.yaml, read as text (the workspace has no YAML
    //! parser, and these lines are simple).

    use super::*;

    fn template() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap()
    }

    /// The value of `key: value` inside the resource `resource` (the lines indented deeper than
    /// its `  Name:` line).
    fn setting(template: &str, resource: &str, key: &str) -> u64 {
        let header = format!("  {resource}:");
        let mut lines = template.lines().skip_while(|l| *l != header);
        assert!(lines.next().is_some(), "template.yaml has no resource {resource}");
        let value = lines
            .take_while(|l| l.trim().is_empty() || l.starts_with("   ") || l.trim_start().starts_with('#'))
            .find_map(|l| l.trim().strip_prefix(&format!("{key}:")).map(str::to_owned))
            .unwrap_or_else(|| panic!("{resource} has no {key}"));
        let value = value.split('#').next().unwrap().trim();
        value.parse().unwrap_or_else(|e| panic!("{resource}.{key}: {value:?}: {e}"))
    }

    #[test]
    fn the_stand_in_uses_the_templates_settings() {
        let t = template();
        let esm = EventSourceMapping::TEMPLATE;
        assert_eq!(setting(&t, "ActivitySyncFunction", "BatchSize"), esm.batch_size as u64);
        assert_eq!(setting(&t, "ActivitySyncFunction", "MaximumBatchingWindowInSeconds"), esm.batching_window.as_secs());
        assert_eq!(setting(&t, "ActivitySyncFunction", "MaximumConcurrency"), esm.max_concurrency as u64);
        assert_eq!(setting(&t, "ActivityQueue", "VisibilityTimeout"), esm.visibility_timeout.as_secs());
        assert_eq!(setting(&t, "ActivityQueue", "maxReceiveCount"), u64::from(esm.max_receive_count));
        let local = EventSourceMapping::LOCAL;
        assert_eq!((local.batch_size, local.max_concurrency, local.max_receive_count), (esm.batch_size, esm.max_concurrency, esm.max_receive_count));
    }

    #[test]
    fn the_worker_dead_letters_before_the_redrive_policy_does() {
        for policy in [sfbridge_sync::RetryPolicy::default(), sfbridge_sync::RetryPolicy::local()] {
            assert!(policy.max_receives < MAX_RECEIVE_COUNT, "{policy:?}");
            assert!(policy.max_receives >= 2, "{policy:?}");
        }
    }
}
