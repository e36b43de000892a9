//! The `Queue` port: hand JSON messages to a queue, and hand a received one back for a later try.
//! SQS in AWS (`sfbridge_aws::SqsQueue`); an in-process queue in the local stack and fast tests
//! ([`MemoryQueue`]).
//!
//! Sending is what most functions need: Lambda's event source mapping receives and deletes for
//! them. Activity sync also spaces its retries ([`Queue::retry_after`]: SQS
//! `ChangeMessageVisibility` on the receipt handle Lambda passed in). The in-process queue also
//! lets the local stack receive, playing the event source mapping's part.
//!
//! Messages may carry a group id (SQS `MessageGroupId`, which on a standard queue makes it a
//! *fair queue*: a tenant with a backlog does not hold up the others) and a delay (SQS
//! `DelaySeconds`). Everything sfbridge sends to the activity queue carries the tenant id as its
//! group id.

mod memory;
mod rules;

use std::time::Duration;

use async_trait::async_trait;

pub use memory::{MemoryQueue, QueuedMessage};
pub use rules::{validate, MAX_ATTRIBUTES, MAX_DELAY, MAX_GROUP_ID_CHARS, MAX_VISIBILITY, STRING as ATTRIBUTE_TYPE};
/// The most one message may weigh (body + attribute names, types and values), 256 KiB: SQS's
/// limit on standard queues (1 MiB since 2025 only on queues configured for it; template.yaml pins
/// its queues' `MaximumMessageSize` to this value so adapter and queue agree).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One message to send: a JSON body and string attributes (SQS message attributes), e.g. the
/// reason a message was dead-lettered; optionally a group (the tenant) and a delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub attributes: Vec<(String, String)>,
    /// SQS `MessageGroupId`: on a standard queue, the tenant the queue keeps fair (1 to
    /// [`MAX_GROUP_ID_CHARS`] ASCII letters, digits and punctuation). `None`: no group; SQS treats
    /// such a message as its own tenant.
    pub group_id: Option<String>,
    /// SQS `DelaySeconds`: invisible to receivers for this long after sending (at most
    /// [`MAX_DELAY`]; SQS counts whole seconds, so the SQS adapter rounds up).
    pub delay: Option<Duration>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self { body: body.into(), attributes: Vec::new(), group_id: None, delay: None }
    }

    pub fn with_attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.push((name.to_owned(), value.into()));
        self
    }

    /// In this message group (for the activity queue: the tenant id).
    pub fn with_group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Delivered no sooner than `delay` after it is sent.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// A received message handed back to its queue, to be delivered again once `delay` has passed
/// (instead of when the queue's visibility timeout ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryAfter {
    /// The receipt handle of the receive that is giving the message back.
    pub receipt_handle: String,
    /// At most [`MAX_VISIBILITY`] (SQS counts whole seconds; the SQS adapter rounds up).
    pub delay: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused for a reason that may pass (retry later).
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    /// The queue refused this message for good (too large, invalid characters, a receipt handle
    /// that is no longer valid).
    #[error("the queue refused the message: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Sends every message, batching as the queue allows; returns one result per message, in
    /// the order given. A message whose result is `Ok` is durably stored by the queue.
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>>;

    /// Makes each received message visible again `delay` from now (SQS
    /// `ChangeMessageVisibility`), batching as the queue allows; one result per message, in the
    /// order given. A message whose result is an error comes back when its visibility timeout
    /// ends, as if this had not been asked. Queues that cannot do it (the default) refuse each.
    async fn retry_after(&self, messages: Vec<RetryAfter>) -> Vec<Result<(), QueueError>> {
        messages.iter().map(|_| Err(QueueError::Rejected("this queue cannot change when a message comes back".into()))).collect()
    }
}

/// Exactly one answer for each of the `sent` messages, whatever an adapter returned: a message
/// without an answer counts as not stored (`Unavailable`), and answers beyond `sent` are dropped.
/// Callers zip the answers with their messages; a short list would otherwise silently skip the
/// last messages, and whatever acknowledges them would acknowledge messages never sent.
pub fn one_answer_each(sent: usize, mut answers: Vec<Result<(), QueueError>>) -> Vec<Result<(), QueueError>> {
    if answers.len() != sent {
        tracing::error!(sent, answered = answers.len(), "the queue did not answer once per message; unanswered ones count as not sent");
    }
    answers.resize_with(sent, || Err(QueueError::Unavailable("the queue gave no answer for this message".into())));
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_answer_list_counts_the_rest_as_not_sent() {
        let answers = one_answer_each(3, vec![Ok(())]);
        assert_eq!(answers.len(), 3);
        assert!(answers[0].is_ok());
        assert!(matches!(answers[1], Err(QueueError::Unavailable(_))));
        assert!(matches!(answers[2], Err(QueueError::Unavailable(_))));
    }

    #[test]
    fn extra_answers_are_dropped_and_exact_lists_kept() {
        assert_eq!(one_answer_each(1, vec![Ok(()), Ok(())]).len(), 1);
        let exact = one_answer_each(2, vec![Ok(()), Err(QueueError::Rejected("no".into()))]);
        assert!(exact[0].is_ok() && matches!(exact[1], Err(QueueError::Rejected(_))));
    }

    #[test]
    fn builders_set_group_and_delay() {
        let m = OutgoingMessage::new("{}").with_group_id("team_42").with_delay(Duration::from_secs(30));
        assert_eq!(m.group_id.as_deref(), Some("team_42"));
        assert_eq!(m.delay, Some(Duration::from_secs(30)));
        assert_eq!(OutgoingMessage::new("{}").group_id, None);
    }
}
