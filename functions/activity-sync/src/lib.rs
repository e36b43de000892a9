//! The activity-sync function: an SQS batch in, the messages to retry out
//! (`ReportBatchItemFailures`). The work is `sfbridge_sync`; this maps SQS's shapes onto it.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use sfbridge_sync::InboundMessage;
use sfbridge_sync::Worker;

/// Handles one SQS batch. Never fails as a whole: each message's fate is in the response (an
/// `Err` would make SQS redeliver the entire batch, the synced messages included).
pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    let mut messages = Vec::with_capacity(event.records.len());
    for record in event.records {
        match record.message_id.filter(|id| !id.is_empty()) {
            Some(message_id) => messages.push(InboundMessage { message_id, body: record.body.unwrap_or_default() }),
            // SQS always sets it; without one a failure could not be reported, so don't start.
            None => tracing::error!("an SQS record without a messageId was skipped"),
        }
    }
    let retry = worker.handle_batch(messages).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = retry
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
