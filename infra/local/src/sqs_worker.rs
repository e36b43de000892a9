//! The local stand-in for Lambda's SQS event source mapping when the activity queue is a real SQS
//! queue (moto, or AWS): long-polls the queue, hands each batch to the activity-sync function's
//! `handle` as the `SqsEvent` Lambda would build (receipt handles, `ApproximateReceiveCount`,
//! `MessageGroupId`, message attributes), deletes what it did not report as failed
//! (`ReportBatchItemFailures`), and leaves the failures on the queue. SQS itself then does the
//! rest, as in AWS: a failure comes back when its visibility ends (the function sets it with
//! `ChangeMessageVisibility`; otherwise the queue's visibility timeout, 360 s in template.yaml),
//! and after `maxReceiveCount` receives the redrive policy moves it to the dead-letter queue.
//!
//! Unlike the mapping it polls with one consumer, so batches run one at a time (the mapping runs
//! up to `MaximumConcurrency` of them), and it fills a batch from messages already waiting instead
//! of waiting out a batching window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use sfbridge_sync::Worker;
use tokio::task::JoinHandle;

use crate::worker::{self, invoke, BATCH_SIZE};

/// The most one `ReceiveMessage` (and one `DeleteMessageBatch`) takes.
pub const RECEIVE_MAX: usize = 10;
/// Long poll of an idle queue: one call per this many seconds.
pub const WAIT_SECONDS: i32 = 1;
/// Pause after a failed `ReceiveMessage` (the emulator stopped, say), so the log is not flooded.
const ERROR_PAUSE: Duration = Duration::from_secs(2);

/// The activity queue, as the poller sees it.
#[derive(Debug, Clone)]
pub struct SqsSource {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    region: Option<String>,
}

impl SqsSource {
    /// Looks the queue up, so a wrong URL or an unreachable endpoint stops the local stack at
    /// start rather than in a log line per poll.
    pub async fn connect(client: aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<Self> {
        let queue_arn = queue_arn(&client, queue_url).await?;
        let region = client.config().region().map(|r| r.to_string());
        Ok(Self { client, queue_url: queue_url.to_owned(), queue_arn, region })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Up to [`BATCH_SIZE`] messages: a long poll for the first ones, then whatever else is
    /// already waiting.
    async fn receive_batch(&self) -> Result<Vec<Message>, String> {
        let mut batch = self.receive(WAIT_SECONDS).await?;
        let mut last = batch.len();
        while last == RECEIVE_MAX && batch.len() + RECEIVE_MAX <= BATCH_SIZE {
            let more = self.receive(0).await?;
            last = more.len();
            batch.extend(more);
        }
        Ok(batch)
    }

    async fn receive(&self, wait_seconds: i32) -> Result<Vec<Message>, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(RECEIVE_MAX as i32)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Deletes the given messages (message id, receipt handle); returns how many SQS refused.
    async fn delete(&self, done: &[(String, String)]) -> usize {
        let mut refused = 0;
        for chunk in done.chunks(RECEIVE_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (_, handle))| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(handle).build())
                .collect::<Result<Vec<_>, _>>();
            let result = match entries {
                Ok(entries) => self
                    .client
                    .delete_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map(|out| out.failed().len())
                    .map_err(|e| describe(&e)),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(0) => {}
                Ok(failed) => refused += failed,
                Err(error) => {
                    tracing::warn!(queue_url = %self.queue_url, messages = chunk.len(), %error, "SQS DeleteMessageBatch failed");
                    refused += chunk.len();
                }
            }
        }
        refused
    }
}

/// The queue's ARN (`GetQueueAttributes`), which also proves it exists.
pub(crate) async fn queue_arn(client: &aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<String> {
    let out = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(describe(&e)))
        .with_context(|| format!("looking up the SQS queue {queue_url} (does it exist? is AWS_ENDPOINT_URL right?)"))?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .with_context(|| format!("SQS returned no QueueArn for {queue_url}"))
}

/// An SQS error in one line: the service's code and message, or the transport error.
pub(crate) fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(e) => format!("{}: {}", e.code().unwrap_or("error"), e.message().unwrap_or("(no message)")),
        None => DisplayErrorContext(error).to_string(),
    }
}

/// Polls the activity queue until the process (or the test's runtime) ends.
pub fn spawn_sqs_worker(ctx: Arc<Worker>, source: SqsSource) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let batch = match source.receive_batch().await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(queue_url = %source.queue_url, %error, "SQS ReceiveMessage failed; polling again shortly");
                    tokio::time::sleep(ERROR_PAUSE).await;
                    continue;
                }
            };
            if !batch.is_empty() {
                run_batch(&ctx, &source, batch).await;
            }
        }
    })
}

async fn run_batch(ctx: &Worker, source: &SqsSource, batch: Vec<Message>) {
    let records = batch.iter().map(|m| sqs_record(m, &source.queue_arn, source.region.as_deref())).collect();
    let failed = invoke(ctx, records).await;
    let done: Vec<(String, String)> = batch
        .into_iter()
        .filter_map(|m| Some((m.message_id?, m.receipt_handle?)))
        .filter(|(id, _)| !failed.contains(id))
        .collect();
    let refused = source.delete(&done).await;
    if refused > 0 {
        tracing::warn!(refused, "SQS did not delete some handled messages; they will be delivered again (the ledger makes that harmless)");
    }
    if !failed.is_empty() {
        tracing::info!(
            failed = failed.len(),
            "messages reported as failed stay on the queue: SQS delivers them again when their visibility ends, and moves them \
             to the dead-letter queue after maxReceiveCount receives"
        );
    }
}

/// The record Lambda would pass for this message.
fn sqs_record(message: &Message, queue_arn: &str, region: Option<&str>) -> SqsMessage {
    let mut record = worker::sqs_record(message.message_id.clone(), message.body.clone());
    record.receipt_handle = message.receipt_handle.clone();
    record.md5_of_body = message.md5_of_body.clone();
    record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
    record.attributes = message
        .attributes
        .iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
        .collect::<HashMap<_, _>>();
    record.message_attributes = message
        .message_attributes
        .iter()
        .flatten()
        .map(|(name, value)| {
            let mut attribute = SqsMessageAttribute::default();
            attribute.data_type = Some(value.data_type.clone());
            attribute.string_value = value.string_value.clone();
            attribute.binary_value = value.binary_value.clone().map(|b| {
                let mut data = Base64Data::default();
                *data = b.into_inner();
                data
            });
            attribute.string_list_values = value.string_list_values.clone().unwrap_or_default();
            (name.clone(), attribute)
        })
        .collect();
    record.event_source_arn = Some(queue_arn.to_owned());
    record.aws_region = region.map(str::to_owned);
    record
}
