//! The local stand-in for the import function's triggers: its SQS event source mapping (batch
//! size 1, on the in-process import queue or an SQS one) and its schedule (a tick every
//! [`TICK_EVERY`], and `POST /local/import-tick` to tick by hand). Each message goes through the
//! function's own `handle`, with the deadline a Lambda invocation would have.

use std::sync::Arc;
use std::time::Duration;

use sfbridge_core::queue::MemoryQueue;
use sfbridge_import::Importer;
use sfbridge_salesforce_import::{handle_batch, Answer, Invocation};
use tokio::task::JoinHandle;

use crate::worker::sqs_record;

/// template.yaml's `ImportFunction` `Timeout`: each step stops before it.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);
/// template.yaml's `ImportQueue` `VisibilityTimeout`: longer than the function's timeout.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(960);
/// The local stack ticks every minute (the template's schedule: every 5 minutes), so a parked
/// import resumes soon after a reconnect while trying it out.
pub const TICK_EVERY: Duration = Duration::from_secs(60);
/// Steps the local stack brings back sooner than the template's visibility timeout.
const LOCAL_VISIBILITY: Duration = Duration::from_secs(30);

/// Where the import queue is.
#[derive(Debug, Clone)]
pub enum ImportSource {
    Memory(MemoryQueue),
    #[cfg(feature = "aws")]
    Sqs { client: aws_sdk_sqs::Client, queue_url: String },
}

/// Receives the import queue's messages one at a time until the process ends, and ticks.
pub fn spawn_import_worker(importer: Arc<Importer>, source: ImportSource) -> JoinHandle<()> {
    let ticker = importer.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK_EVERY).await;
            if let Err(error) = sfbridge_import::service::tick(&ticker).await {
                tracing::warn!(%error, "import tick failed");
            }
        }
    });
    tokio::spawn(async move {
        loop {
            match &source {
                ImportSource::Memory(queue) => {
                    for message in queue.lease(1, Duration::from_secs(3600), LOCAL_VISIBILITY).await {
                        let record = sqs_record(Some(message.message_id.clone()), Some(message.body.clone()));
                        if invoke(&importer, record).await {
                            if let Some(handle) = &message.receipt_handle {
                                queue.delete(handle);
                            }
                        }
                    }
                }
                #[cfg(feature = "aws")]
                ImportSource::Sqs { client, queue_url } => {
                    let received = client
                        .receive_message()
                        .queue_url(queue_url)
                        .max_number_of_messages(1)
                        .wait_time_seconds(1)
                        .visibility_timeout(LOCAL_VISIBILITY.as_secs() as i32)
                        .send()
                        .await;
                    let messages = match received {
                        Ok(out) => out.messages.unwrap_or_default(),
                        Err(e) => {
                            tracing::warn!(error = %crate::sqs_worker::describe(&e), "SQS ReceiveMessage on the import queue failed");
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            continue;
                        }
                    };
                    for message in messages {
                        let record = sqs_record(message.message_id.clone(), message.body.clone());
                        if invoke(&importer, record).await {
                            if let Some(handle) = message.receipt_handle {
                                if let Err(e) = client.delete_message().queue_url(queue_url).receipt_handle(handle).send().await {
                                    tracing::warn!(error = %crate::sqs_worker::describe(&e), "could not delete a handled import message");
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Lambda's part: the message as a one-record batch through the function; whether it is done.
async fn invoke(importer: &Importer, record: aws_lambda_events::event::sqs::SqsMessage) -> bool {
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![record];
    let deadline = tokio::time::Instant::now() + FUNCTION_TIMEOUT;
    handle_batch(importer, event, deadline).await.batch_item_failures.is_empty()
}

/// `POST /local/import-tick`: what the schedule does, now.
pub async fn tick(importer: &Importer) -> Result<Answer, String> {
    sfbridge_salesforce_import::handle(importer, Invocation::Tick, tokio::time::Instant::now() + FUNCTION_TIMEOUT).await
}
