//! SQS adapter: `SendMessageBatch`, at most [`MAX_BATCH_ENTRIES`] entries and [`MAX_BATCH_BYTES`]
//! a call, string message attributes.
//!
//! A message that SQS would refuse outright (over [`sfbridge_core::queue::MAX_MESSAGE_BYTES`], empty, characters SQS
//! does not accept, malformed attributes) is `Rejected` here, without a call: SQS validates a
//! batch as a whole, so one bad entry would otherwise fail its nine neighbours too.
//!
//! Per entry: `SenderFault=true` is `Rejected` (sending it again cannot help); `SenderFault=false`
//! is sent again, only that entry, up to [`ATTEMPTS`] times with a short jittered backoff, then
//! `Unavailable`. A whole-call error (after the SDK's own retries) is `Unavailable` for every
//! message of that batch; the other batches are still sent. `Ok` only for entries SQS listed as
//! successful: an entry missing from both lists is `Unavailable`, never assumed stored.
//!
//! A message's group id goes out as `MessageGroupId` (a standard queue with group ids is an SQS
//! *fair queue*) and its delay as `DelaySeconds`, rounded up to whole seconds.
//!
//! [`Queue::retry_after`] is `ChangeMessageVisibilityBatch`, 10 entries a call, the delay rounded
//! up to whole seconds; an entry SQS fails is reported, not retried (the message then simply comes
//! back when its visibility timeout ends).
//!
//! Bodies are never logged (they hold contacts' emails): only counts, entry ids, error codes.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, MessageAttributeValue, SendMessageBatchRequestEntry,
};

use sfbridge_core::queue::{validate, OutgoingMessage, Queue, QueueError, RetryAfter, ATTRIBUTE_TYPE as STRING, MAX_VISIBILITY};

/// SQS's limit on the entries of one `SendMessageBatch` call.
pub(crate) const MAX_BATCH_ENTRIES: usize = 10;
/// The most one `SendMessageBatch` call may carry, all entries together.
pub(crate) const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Tries per entry that SQS failed through no fault of ours (`SenderFault=false`), first included.
pub(crate) const ATTEMPTS: u32 = 3;
/// Backoff before the second try; doubled before each further one, plus up to as much jitter.
const BACKOFF: Duration = Duration::from_millis(50);


/// Sends to one SQS queue (standard; group ids make it a fair queue; no deduplication ids).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends one batch (indices into `messages`, already validated and within the limits) and
    /// writes each message's outcome into `results`.
    async fn send_batch(
        &self,
        messages: &[OutgoingMessage],
        batch: &[usize],
        results: &mut [Option<Result<(), QueueError>>],
    ) {
        // Entry id = position in the batch; kept across retries.
        let mut pending: Vec<(String, usize)> = batch.iter().enumerate().map(|(i, &m)| (i.to_string(), m)).collect();
        for attempt in 1..=ATTEMPTS {
            let mut entries = Vec::with_capacity(pending.len());
            for (id, index) in &pending {
                match entry(id, &messages[*index]) {
                    Ok(entry) => entries.push(entry),
                    Err(reason) => results[*index] = Some(Err(QueueError::Rejected(reason))),
                }
            }
            pending.retain(|(_, index)| results[*index].is_none());
            if entries.is_empty() {
                return;
            }

            let output = match self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => output,
                Err(e) => {
                    let reason = describe_sdk_error(&e);
                    tracing::warn!(
                        queue_url = %self.queue_url,
                        messages = pending.len(),
                        attempt,
                        error = %reason,
                        "SQS SendMessageBatch failed; the batch's messages are not sent"
                    );
                    for (_, index) in &pending {
                        results[*index] = Some(Err(QueueError::Unavailable(reason.clone())));
                    }
                    return;
                }
            };

            let succeeded: HashSet<&str> = output.successful().iter().map(|s| s.id()).collect();
            let failed = output.failed();
            let mut retry = Vec::new();
            for (id, index) in pending {
                if succeeded.contains(id.as_str()) {
                    results[index] = Some(Ok(()));
                    continue;
                }
                match failed.iter().find(|f| f.id() == id) {
                    Some(f) if f.sender_fault() => {
                        tracing::warn!(
                            queue_url = %self.queue_url,
                            entry = %id,
                            code = f.code(),
                            "SQS refused a message (sender fault)"
                        );
                        results[index] = Some(Err(QueueError::Rejected(describe_entry_error(f))));
                    }
                    Some(f) => retry.push((id, index, describe_entry_error(f))),
                    None => retry.push((id, index, "SQS returned no result for the message".to_owned())),
                }
            }
            if retry.is_empty() {
                return;
            }
            let last = attempt == ATTEMPTS;
            tracing::warn!(
                queue_url = %self.queue_url,
                messages = retry.len(),
                attempt,
                error = %retry[0].2,
                "SQS failed {} message(s) of a batch on its side; {}",
                retry.len(),
                if last { "giving up on them" } else { "sending them again" }
            );
            if last {
                for (_, index, reason) in retry {
                    results[index] = Some(Err(QueueError::Unavailable(reason)));
                }
                return;
            }
            tokio::time::sleep(backoff(attempt)).await;
            pending = retry.into_iter().map(|(id, index, _)| (id, index)).collect();
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
        let mut results: Vec<Option<Result<(), QueueError>>> = vec![None; messages.len()];
        let mut rejected = 0usize;
        let mut sizes = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            match validate(message) {
                Ok(size) => sizes.push((index, size)),
                Err(reason) => {
                    rejected += 1;
                    results[index] = Some(Err(QueueError::Rejected(reason)));
                }
            }
        }
        if rejected > 0 {
            tracing::warn!(queue_url = %self.queue_url, rejected, "messages refused before sending to SQS");
        }
        for batch in batches(&sizes) {
            self.send_batch(&messages, &batch, &mut results).await;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(QueueError::Unavailable("the message was not sent".into()))))
            .collect()
    }

    async fn retry_after(&self, messages: Vec<RetryAfter>) -> Vec<Result<(), QueueError>> {
        let mut results: Vec<Option<Result<(), QueueError>>> = vec![None; messages.len()];
        let mut valid = Vec::with_capacity(messages.len());
        for (index, m) in messages.iter().enumerate() {
            if m.delay > MAX_VISIBILITY {
                results[index] = Some(Err(QueueError::Rejected(format!("a visibility of {} s is over 12 hours", m.delay.as_secs()))));
            } else {
                valid.push(index);
            }
        }
        for chunk in valid.chunks(MAX_BATCH_ENTRIES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, &index)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&messages[index].receipt_handle)
                        .visibility_timeout(whole_seconds(messages[index].delay))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>();
            let output = match entries {
                Ok(entries) => self
                    .client
                    .change_message_visibility_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| describe_sdk_error(&e)),
                Err(e) => Err(e.to_string()),
            };
            let output = match output {
                Ok(output) => output,
                Err(reason) => {
                    tracing::warn!(queue_url = %self.queue_url, messages = chunk.len(), error = %reason, "SQS ChangeMessageVisibilityBatch failed");
                    for &index in chunk {
                        results[index] = Some(Err(QueueError::Unavailable(reason.clone())));
                    }
                    continue;
                }
            };
            let succeeded: HashSet<&str> = output.successful().iter().map(|s| s.id()).collect();
            for (i, &index) in chunk.iter().enumerate() {
                let id = i.to_string();
                results[index] = Some(if succeeded.contains(id.as_str()) {
                    Ok(())
                } else {
                    match output.failed().iter().find(|f| f.id() == id) {
                        Some(f) if f.sender_fault() => Err(QueueError::Rejected(describe_entry_error(f))),
                        Some(f) => Err(QueueError::Unavailable(describe_entry_error(f))),
                        None => Err(QueueError::Unavailable("SQS returned no result for the message".into())),
                    }
                });
            }
            let failed = chunk.len() - succeeded.len().min(chunk.len());
            if failed > 0 {
                tracing::warn!(queue_url = %self.queue_url, failed, "SQS did not change the visibility of some messages; they come back at the visibility timeout");
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(QueueError::Unavailable("the visibility was not changed".into()))))
            .collect()
    }
}

/// SQS counts delays and visibility timeouts in whole seconds: round up, so a message never comes
/// back sooner than asked.
fn whole_seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// Groups message indices, in order, into batches of at most [`MAX_BATCH_ENTRIES`] entries and
/// [`MAX_BATCH_BYTES`] bytes. Each size is at most [`sfbridge_core::queue::MAX_MESSAGE_BYTES`] (validated).
fn batches(sizes: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = 0usize;
    for &(index, size) in sizes {
        if !current.is_empty() && (current.len() == MAX_BATCH_ENTRIES || current_bytes + size > MAX_BATCH_BYTES) {
            batches.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(index);
        current_bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn entry(id: &str, message: &OutgoingMessage) -> Result<SendMessageBatchRequestEntry, String> {
    let mut entry = SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(&message.body)
        .set_message_group_id(message.group_id.clone())
        .set_delay_seconds(message.delay.map(whole_seconds));
    for (name, value) in &message.attributes {
        let value = MessageAttributeValue::builder()
            .data_type(STRING)
            .string_value(value)
            .build()
            .map_err(|e| format!("attribute {name:?}: {e}"))?;
        entry = entry.message_attributes(name, value);
    }
    entry.build().map_err(|e| e.to_string())
}

fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(8));
    let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    base + Duration::from_millis(rand::random_range(0..=millis))
}

fn describe_entry_error(f: &BatchResultErrorEntry) -> String {
    format!("{}: {}", f.code(), f.message().unwrap_or("no message"))
}

/// The service's error code and message when there is a response, else the SDK's description
/// (timeout, connection refused). Neither contains a message body.
fn describe_sdk_error<E>(e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), message) => format!("{code}: {}", message.unwrap_or("no message")),
        (None, _) => DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! Batching and validation, and the per-entry outcomes against a scripted SQS endpoint
    //! (moto cannot fail single entries on demand). The contract against moto itself is in
    //! tests/e2e/tests/api/queue.rs.

    use std::sync::{Arc, Mutex};

    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use axum::http::StatusCode;
    use sfbridge_core::queue::{MAX_ATTRIBUTES, MAX_MESSAGE_BYTES};
    use serde_json::{json, Value};

    use super::*;

    fn message(body: &str) -> OutgoingMessage {
        OutgoingMessage::new(body)
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let sizes: Vec<_> = (0..25).map(|i| (i, 10)).collect();
        let b = batches(&sizes);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(b.concat(), (0..25).collect::<Vec<_>>());

        // 100 KiB each: two fit in 256 KiB, a third does not.
        let sizes: Vec<_> = (0..5).map(|i| (i, 100 * 1024)).collect();
        assert_eq!(batches(&sizes), [vec![0, 1], vec![2, 3], vec![4]]);
        // Exactly the limit fits; one byte more starts a new batch.
        assert_eq!(batches(&[(0, MAX_BATCH_BYTES - 1), (1, 1), (2, 1)]), [vec![0, 1], vec![2]]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn validation_counts_attributes_and_refuses_what_sqs_would() {
        let m = message("{}").with_attribute("reason", "bad");
        assert_eq!(validate(&m), Ok(2 + "reason".len() + "String".len() + 3));
        let exactly = message(&"x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(validate(&exactly), Ok(MAX_MESSAGE_BYTES));
        let over = message(&"x".repeat(MAX_MESSAGE_BYTES - 10)).with_attribute("reason", "abcd");
        assert!(validate(&over).unwrap_err().contains("limit"));
        assert!(validate(&message("")).is_err());
        assert!(validate(&message("a\u{0}b")).unwrap_err().contains("U+0000"));
        assert!(validate(&message("a\u{FFFF}b")).is_err());
        assert!(validate(&message("tab\tnewline\n\u{e9}\u{1F600}")).is_ok());
        for bad in ["", ".a", "a.", "a..b", "AWS.x", "amazon.y", "sp ace", &"n".repeat(257)] {
            assert!(validate(&message("{}").with_attribute(bad, "v")).is_err(), "{bad:?}");
        }
        assert!(validate(&message("{}").with_attribute("a", "")).is_err());
        assert!(validate(&message("{}").with_attribute("a", "1").with_attribute("a", "2")).is_err());
        let mut many = message("{}");
        for i in 0..=MAX_ATTRIBUTES {
            many = many.with_attribute(&format!("a{i}"), "v");
        }
        assert!(validate(&many).is_err());
    }

    /// A scripted SQS (JSON protocol): each call pops the next response; calls are recorded.
    #[derive(Clone, Default)]
    struct Script {
        responses: Arc<Mutex<Vec<(StatusCode, Value)>>>,
        calls: Arc<Mutex<Vec<Value>>>,
    }

    async fn scripted(responses: Vec<(StatusCode, Value)>) -> (SqsQueue, Script) {
        let script = Script { responses: Arc::new(Mutex::new(responses)), ..Script::default() };
        let state = script.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                state.calls.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let mut responses = state.responses.lock().unwrap();
                let (status, body) = if responses.is_empty() {
                    (StatusCode::INTERNAL_SERVER_ERROR, json!({"__type": "NoMoreScript"}))
                } else {
                    responses.remove(0)
                };
                (status, [("content-type", "application/x-amz-json-1.0")], body.to_string())
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(url)
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
            .build();
        (SqsQueue::new(aws_sdk_sqs::Client::from_conf(config), "http://queue.test/123/q"), script)
    }

    fn ok(ids: &[&str]) -> Value {
        Value::Array(ids.iter().map(|id| json!({"Id": id, "MessageId": format!("m-{id}"), "MD5OfMessageBody": "x"})).collect())
    }

    fn entry_ids(call: &Value) -> Vec<String> {
        call["Entries"].as_array().unwrap().iter().map(|e| e["Id"].as_str().unwrap().to_owned()).collect()
    }

    #[tokio::test]
    async fn retries_only_transient_entry_failures_and_rejects_sender_faults() {
        let (queue, script) = scripted(vec![
            (
                StatusCode::OK,
                json!({"Successful": ok(&["0", "3"]), "Failed": [
                    {"Id": "1", "SenderFault": false, "Code": "InternalError", "Message": "try again"},
                    {"Id": "2", "SenderFault": true, "Code": "InvalidParameterValue", "Message": "no"},
                ]}),
            ),
            (StatusCode::OK, json!({"Successful": ok(&["1"]), "Failed": []})),
        ])
        .await;
        let messages = (0..4).map(|i| message(&format!("{{\"n\":{i}}}")).with_attribute("kind", "test")).collect();
        let results = queue.send(messages).await;
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok(), "{results:?}");
        assert!(matches!(&results[2], Err(QueueError::Rejected(r)) if r.contains("InvalidParameterValue")), "{results:?}");

        let calls = script.calls.lock().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(entry_ids(&calls[0]), ["0", "1", "2", "3"]);
        assert_eq!(entry_ids(&calls[1]), ["1"], "only the transient failure is sent again, under its id");
        assert_eq!(calls[1]["Entries"][0]["MessageBody"], "{\"n\":1}");
        assert_eq!(calls[0]["Entries"][0]["MessageAttributes"]["kind"], json!({"DataType": "String", "StringValue": "test"}));
        assert_eq!(calls[0]["QueueUrl"], "http://queue.test/123/q");
    }

    #[tokio::test]
    async fn gives_up_after_bounded_attempts_and_never_assumes_a_missing_entry_was_stored() {
        let transient = json!({"Successful": ok(&["0"]), "Failed": [
            {"Id": "1", "SenderFault": false, "Code": "InternalError"},
        ]});
        // "2" is in neither list.
        let (queue, script) = scripted(vec![
            (StatusCode::OK, transient.clone()),
            (StatusCode::OK, json!({"Successful": [], "Failed": [{"Id": "1", "SenderFault": false, "Code": "InternalError"}]})),
            (StatusCode::OK, json!({"Successful": [], "Failed": [{"Id": "1", "SenderFault": false, "Code": "InternalError"}]})),
        ])
        .await;
        let results = queue.send(vec![message("a"), message("b"), message("c")]).await;
        assert!(results[0].is_ok());
        assert!(matches!(&results[1], Err(QueueError::Unavailable(r)) if r.contains("InternalError")), "{results:?}");
        assert!(matches!(&results[2], Err(QueueError::Unavailable(_))), "{results:?}");
        assert_eq!(script.calls.lock().unwrap().len(), ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn a_failed_call_fails_its_batch_only() {
        let (queue, script) = scripted(vec![
            (StatusCode::OK, json!({"Successful": ok(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]), "Failed": []})),
            (StatusCode::BAD_REQUEST, json!({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "gone"})),
        ])
        .await;
        let results = queue.send((0..12).map(|i| message(&i.to_string())).collect()).await;
        assert!(results[..10].iter().all(Result::is_ok), "{results:?}");
        assert!(
            results[10..].iter().all(|r| matches!(r, Err(QueueError::Unavailable(m)) if m.contains("QueueDoesNotExist"))),
            "{results:?}"
        );
        assert_eq!(script.calls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn group_ids_and_delays_go_out_with_each_entry() {
        let (queue, script) = scripted(vec![(StatusCode::OK, json!({"Successful": ok(&["0", "1"]), "Failed": []}))]).await;
        let results = queue
            .send(vec![
                message("a").with_group_id("team_42").with_delay(Duration::from_millis(1500)),
                message("b"),
            ])
            .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let calls = script.calls.lock().unwrap();
        assert_eq!(calls[0]["Entries"][0]["MessageGroupId"], "team_42");
        assert_eq!(calls[0]["Entries"][0]["DelaySeconds"], 2, "rounded up to whole seconds");
        assert!(calls[0]["Entries"][1].get("MessageGroupId").is_none() && calls[0]["Entries"][1].get("DelaySeconds").is_none());
    }

    #[tokio::test]
    async fn retry_after_changes_visibility_in_batches_of_ten_with_one_result_each() {
        let ids: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let all_ten: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (queue, script) = scripted(vec![
            (StatusCode::OK, json!({"Successful": all_ten.iter().map(|id| json!({"Id": id})).collect::<Vec<_>>(), "Failed": []})),
            (
                StatusCode::OK,
                json!({"Successful": [{"Id": "0"}], "Failed": [
                    {"Id": "1", "SenderFault": true, "Code": "ReceiptHandleIsInvalid", "Message": "stale"},
                ]}),
            ),
        ])
        .await;
        let mut retries: Vec<RetryAfter> =
            (0..12).map(|i| RetryAfter { receipt_handle: format!("rh-{i}"), delay: Duration::from_secs(30 * (i + 1)) }).collect();
        retries.push(RetryAfter { receipt_handle: "rh-long".into(), delay: Duration::from_secs(13 * 3600) });
        let results = queue.retry_after(retries).await;
        assert_eq!(results.len(), 13);
        assert!(results[..11].iter().all(Result::is_ok), "{results:?}");
        assert!(matches!(&results[11], Err(QueueError::Rejected(r)) if r.contains("ReceiptHandleIsInvalid")), "{results:?}");
        assert!(matches!(&results[12], Err(QueueError::Rejected(r)) if r.contains("12 hours")), "{results:?}");

        let calls = script.calls.lock().unwrap();
        assert_eq!(calls.len(), 2, "the over-long one is refused without a call");
        assert_eq!(calls[0]["Entries"].as_array().unwrap().len(), 10);
        assert_eq!(calls[0]["Entries"][0], json!({"Id": "0", "ReceiptHandle": "rh-0", "VisibilityTimeout": 30}));
        assert_eq!(calls[1]["Entries"][1], json!({"Id": "1", "ReceiptHandle": "rh-11", "VisibilityTimeout": 360}));
    }

    #[tokio::test]
    async fn invalid_messages_are_rejected_without_a_call() {
        let (queue, script) = scripted(vec![]).await;
        let results = queue.send(vec![message(""), message(&"x".repeat(MAX_MESSAGE_BYTES + 1))]).await;
        assert!(results.iter().all(|r| matches!(r, Err(QueueError::Rejected(_)))), "{results:?}");
        assert!(queue.send(Vec::new()).await.is_empty());
        assert!(script.calls.lock().unwrap().is_empty());
    }
}
