//! The local stand-in for Lambda's SQS event source mapping: takes batches from the in-process
//! activity queue, calls the activity-sync function's `handle` exactly as Lambda would, and
//! plays SQS's part for what it reports as failed: deliver again after a pause, and after
//! [`MAX_RECEIVES`] receives move the message to the dead-letter queue (the redrive policy).
//!
//! [`invoke`] and [`sqs_record`], Lambda's part, are shared with the SQS poller
//! ([`crate::sqs_worker`]); each source keeps its own receiving, redelivery and deleting.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use sfbridge_core::queue::{MemoryQueue, OutgoingMessage, Queue, QueuedMessage};
use sfbridge_sync::{DLQ_CODE_ATTRIBUTE, DLQ_REASON_ATTRIBUTE, DLQ_SOURCE_ATTRIBUTE};
use sfbridge_sync::Worker;
use tokio::task::JoinHandle;

/// As template.yaml's event source mapping and redrive policy.
pub const BATCH_SIZE: usize = 200;
pub const MAX_RECEIVES: u32 = 5;
/// Stands in for the visibility timeout (360 s in AWS), shortened so trying it out stays quick.
pub const REDELIVERY_DELAY: Duration = Duration::from_secs(2);
/// Stands in for the batching window: wait this long for a batch to fill once a message is in.
const BATCHING_WINDOW: Duration = Duration::from_millis(100);

pub fn spawn_worker(ctx: Arc<Worker>, queue: MemoryQueue, dead_letter: MemoryQueue) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let mut batch = queue.receive(BATCH_SIZE, Duration::from_secs(3600)).await;
            if batch.is_empty() {
                continue;
            }
            if batch.len() < BATCH_SIZE {
                tokio::time::sleep(BATCHING_WINDOW).await;
                batch.extend(queue.receive(BATCH_SIZE - batch.len(), Duration::ZERO).await);
            }
            run_batch(&ctx, &queue, &dead_letter, batch).await;
        }
    })
}

async fn run_batch(ctx: &Worker, queue: &MemoryQueue, dead_letter: &MemoryQueue, batch: Vec<QueuedMessage>) {
    let records = batch.iter().map(|m| sqs_record(Some(m.message_id.clone()), Some(m.body.clone()))).collect();
    let failed = invoke(ctx, records).await;
    for mut message in batch.into_iter().filter(|m| failed.contains(&m.message_id)) {
        message.receive_count += 1;
        if message.receive_count >= MAX_RECEIVES {
            tracing::warn!(message_id = %message.message_id, "received {MAX_RECEIVES} times without success: dead-lettered");
            let outgoing = OutgoingMessage::new(message.body)
                .with_attribute(DLQ_CODE_ATTRIBUTE, "max_receives")
                .with_attribute(DLQ_REASON_ATTRIBUTE, format!("still failing after {MAX_RECEIVES} receives"))
                .with_attribute(DLQ_SOURCE_ATTRIBUTE, message.message_id);
            let _ = dead_letter.send(vec![outgoing]).await;
        } else {
            let queue = queue.clone();
            tokio::spawn(async move {
                tokio::time::sleep(REDELIVERY_DELAY).await;
                queue.requeue(message);
            });
        }
    }
}

/// Lambda's part for one batch: `records` as one `SqsEvent` through the activity-sync function's
/// `handle`; returns the ids of the messages it reported as failed (`ReportBatchItemFailures`).
pub async fn invoke(ctx: &Worker, records: Vec<SqsMessage>) -> HashSet<String> {
    let mut event = SqsEvent::default();
    event.records = records;
    let response = sfbridge_activity_sync::handle(ctx, event).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

/// The record Lambda would pass for a message with this id and body (all `handle` reads); a
/// source with more to say (receipt handle, attributes, queue ARN) sets it on the result.
pub fn sqs_record(message_id: Option<String>, body: Option<String>) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message_id;
    record.body = body;
    record.event_source = Some("aws:sqs".into());
    record
}
