//! The `Queue` port: hand JSON messages to a queue. SQS in AWS (`sfbridge_aws::SqsQueue`); an in-process
//! queue in the local stack and fast tests ([`MemoryQueue`]).
//!
//! Sending is the only operation the functions need: Lambda's event source mapping receives and
//! deletes for them. The in-process queue also lets the local stack receive, playing that part.

mod memory;
mod rules;

use async_trait::async_trait;

pub use memory::{MemoryQueue, QueuedMessage};
pub use rules::{validate, MAX_ATTRIBUTES, STRING as ATTRIBUTE_TYPE};
/// The most one message may weigh (body + attribute names, types and values), 256 KiB: SQS's
/// limit on standard queues (1 MiB since 2025 only on queues configured for it; template.yaml pins
/// its queues' `MaximumMessageSize` to this value so adapter and queue agree).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One message to send: a JSON body and string attributes (SQS message attributes), e.g. the
/// reason a message was dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub attributes: Vec<(String, String)>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self { body: body.into(), attributes: Vec::new() }
    }

    pub fn with_attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.push((name.to_owned(), value.into()));
        self
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused for a reason that may pass (retry later).
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    /// The queue refused this message for good (too large, invalid characters).
    #[error("the queue refused the message: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Sends every message, batching as the queue allows; returns one result per message, in
    /// the order given. A message whose result is `Ok` is durably stored by the queue.
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>>;
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
}
