//! `GET /local/inbound-events` when the inbound queue is on SQS: what waits on the queue, and on
//! its dead-letter queue, without consuming it.
//!
//! SQS has no peek: reading is receiving. So a look receives the messages with a short visibility
//! timeout ([`HOLD_SECONDS`]), de-duplicates them by `MessageId`, and at once makes them visible
//! again (`ChangeMessageVisibilityBatch` to 0). Caveats, all SQS's:
//! - every look is a receive: it raises `ApproximateReceiveCount`, and once a message was received
//!   `maxReceiveCount` times (5 in template.yaml) SQS moves it to the inbound dead-letter queue on
//!   the next receive. After a few looks events therefore move to `dead_lettered`;
//! - during a look the messages are invisible to any other consumer of the queue (for
//!   milliseconds; [`HOLD_SECONDS`] at most if releasing them fails);
//! - at most [`PEEK_LIMIT`] messages of each queue are shown (`truncated: true` beyond).

use std::collections::HashSet;

use anyhow::Context as _;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};

use crate::sqs_worker::{describe, RECEIVE_MAX};

/// The most messages one look shows per queue.
pub const PEEK_LIMIT: usize = 1000;
/// How long a look hides the messages it received if making them visible again fails.
pub const HOLD_SECONDS: i32 = 30;

/// The inbound queue (and its dead-letter queue, from its redrive policy).
#[derive(Debug, Clone)]
pub struct SqsPeek {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dead_letter_url: Option<String>,
}

/// What one look found: message bodies, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Peeked {
    pub events: Vec<String>,
    pub dead_lettered: Vec<String>,
    pub truncated: bool,
}

impl SqsPeek {
    /// Looks the queue and its redrive policy up, so a wrong URL stops the local stack at start.
    pub async fn connect(client: aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<Self> {
        let out = client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(describe(&e)))
            .with_context(|| format!("looking up the SQS queue {queue_url} (does it exist? is AWS_ENDPOINT_URL right?)"))?;
        let redrive = out.attributes.and_then(|mut a| a.remove(&QueueAttributeName::RedrivePolicy));
        let dead_letter_url = match redrive.as_deref().and_then(dead_letter_arn) {
            Some(arn) => match queue_url_of(&client, &arn).await {
                Ok(url) => Some(url),
                Err(e) => {
                    tracing::warn!(queue_url, dead_letter_arn = %arn, error = %e, "the inbound dead-letter queue is not shown");
                    None
                }
            },
            None => None,
        };
        Ok(Self { client, queue_url: queue_url.to_owned(), dead_letter_url })
    }

    pub fn dead_letter_url(&self) -> Option<&str> {
        self.dead_letter_url.as_deref()
    }

    /// One look at both queues.
    pub async fn peek(&self) -> Result<Peeked, String> {
        let (events, mut truncated) = peek_queue(&self.client, &self.queue_url).await?;
        let dead_lettered = match &self.dead_letter_url {
            Some(url) => {
                let (bodies, more) = peek_queue(&self.client, url).await?;
                truncated |= more;
                bodies
            }
            None => Vec::new(),
        };
        Ok(Peeked { events, dead_lettered, truncated })
    }
}

/// `deadLetterTargetArn` of a redrive policy (JSON).
fn dead_letter_arn(redrive_policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(redrive_policy).ok()?;
    policy["deadLetterTargetArn"].as_str().map(str::to_owned)
}

/// `arn:aws:sqs:REGION:ACCOUNT:NAME` -> its URL.
async fn queue_url_of(client: &aws_sdk_sqs::Client, arn: &str) -> anyhow::Result<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [_, _, "sqs", _, account, name] = parts.as_slice() else {
        anyhow::bail!("{arn} is not an SQS queue ARN");
    };
    let out = client
        .get_queue_url()
        .queue_name(*name)
        .queue_owner_aws_account_id(*account)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(describe(&e)))?;
    out.queue_url.context("SQS returned no QueueUrl")
}

/// Every message waiting on one queue (bodies, oldest first, at most [`PEEK_LIMIT`]), made
/// visible again before returning; and whether there were more.
async fn peek_queue(client: &aws_sdk_sqs::Client, queue_url: &str) -> Result<(Vec<String>, bool), String> {
    let mut seen = HashSet::new();
    let mut found: Vec<(u64, String)> = Vec::new();
    let mut handles = Vec::new();
    let mut truncated = false;
    let mut outcome = Ok(());
    for _ in 0..(PEEK_LIMIT / RECEIVE_MAX + 5) {
        let out = match client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(RECEIVE_MAX as i32)
            .visibility_timeout(HOLD_SECONDS)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                outcome = Err(describe(&e));
                break;
            }
        };
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            handles.extend(m.receipt_handle.clone());
            let Some(id) = m.message_id.clone() else { continue };
            if !seen.insert(id) {
                continue;
            }
            let sent = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse().ok())
                .unwrap_or(u64::MAX);
            found.push((sent, m.body.unwrap_or_default()));
        }
        if found.len() >= PEEK_LIMIT {
            truncated = true;
            break;
        }
    }
    release(client, queue_url, &handles).await;
    outcome?;
    // Stable: messages sent in the same millisecond keep the order SQS gave them.
    found.sort_by_key(|(sent, _)| *sent);
    found.truncate(PEEK_LIMIT);
    Ok((found.into_iter().map(|(_, body)| body).collect(), truncated))
}

/// Makes received messages visible again at once.
async fn release(client: &aws_sdk_sqs::Client, queue_url: &str, handles: &[String]) {
    for chunk in handles.chunks(RECEIVE_MAX) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>();
        let failed = match entries {
            Ok(entries) => client
                .change_message_visibility_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map(|out| out.failed().len())
                .map_err(|e| describe(&e)),
            Err(e) => Err(e.to_string()),
        };
        match failed {
            Ok(0) => {}
            Ok(n) => tracing::warn!(queue_url, messages = n, "SQS kept some looked-at messages hidden; they show again within {HOLD_SECONDS} s"),
            Err(error) => tracing::warn!(queue_url, %error, "could not make looked-at messages visible again; they show again within {HOLD_SECONDS} s"),
        }
    }
}
