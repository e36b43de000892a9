//! The `Queue` port: hand JSON messages to a queue. SQS in AWS ([`SqsQueue`]); an in-process
//! queue in the local stack and fast tests ([`MemoryQueue`]).
//!
//! Sending is the only operation the functions need: Lambda's event source mapping receives and
//! deletes for them. The in-process queue also lets the local stack receive, playing that part.

mod memory;
mod sqs;

use async_trait::async_trait;

pub use memory::{MemoryQueue, QueuedMessage};
pub use sqs::{SqsQueue, MAX_MESSAGE_BYTES};

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
