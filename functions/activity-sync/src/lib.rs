//! The activity-sync function: an SQS batch in, the messages to retry out
//! (`ReportBatchItemFailures`). The work is `sfbridge_sync`; this maps SQS's shapes onto it.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use sfbridge_sync::{InboundMessage, Worker, DEFERRALS_ATTRIBUTE};

/// Handles one SQS batch. Never fails as a whole: each message's fate is in the response (an
/// `Err` would make SQS redeliver the entire batch, the synced messages included).
pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    let mut messages = Vec::with_capacity(event.records.len());
    for record in event.records {
        match inbound(record) {
            Some(message) => messages.push(message),
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

/// What the worker needs of a record: its id, body and receipt handle, its receive count
/// (`ApproximateReceiveCount`, 1 when absent) and how often sfbridge deferred it
/// ([`DEFERRALS_ATTRIBUTE`], 0 when absent or not a number).
fn inbound(record: SqsMessage) -> Option<InboundMessage> {
    let message_id = record.message_id.filter(|id| !id.is_empty())?;
    let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.trim().parse().ok()).unwrap_or(1);
    let deferrals = record
        .message_attributes
        .get(DEFERRALS_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Some(InboundMessage {
        message_id,
        body: record.body.unwrap_or_default(),
        receipt_handle: record.receipt_handle.filter(|h| !h.is_empty()),
        receive_count,
        deferrals,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use aws_lambda_events::event::sqs::SqsMessageAttribute;

    use super::*;

    fn record() -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some("m-1".into());
        record.body = Some("{}".into());
        record
    }

    #[test]
    fn a_record_carries_its_receipt_handle_receive_count_and_deferrals() {
        let mut r = record();
        r.receipt_handle = Some("AQEB-handle".into());
        r.attributes.insert("ApproximateReceiveCount".into(), "3".into());
        let mut deferrals = SqsMessageAttribute::default();
        deferrals.string_value = Some("4".into());
        deferrals.data_type = Some("String".into());
        r.message_attributes.insert(DEFERRALS_ATTRIBUTE.into(), deferrals);
        let m = inbound(r).unwrap();
        assert_eq!((m.message_id.as_str(), m.body.as_str()), ("m-1", "{}"));
        assert_eq!(m.receipt_handle.as_deref(), Some("AQEB-handle"));
        assert_eq!((m.receive_count, m.deferrals), (3, 4));
    }

    #[test]
    fn missing_or_odd_values_mean_a_first_receive_never_deferred() {
        let m = inbound(record()).unwrap();
        assert_eq!((m.receipt_handle, m.receive_count, m.deferrals), (None, 1, 0));
        let mut r = record();
        r.attributes.insert("ApproximateReceiveCount".into(), "many".into());
        let mut odd = SqsMessageAttribute::default();
        odd.string_value = Some("-1".into());
        r.message_attributes.insert(DEFERRALS_ATTRIBUTE.into(), odd);
        let m = inbound(r).unwrap();
        assert_eq!((m.receive_count, m.deferrals), (1, 0));
        let mut r = record();
        r.message_id = Some(String::new());
        assert!(inbound(r).is_none());
    }
}
