//! An in-process queue: what the local stack sends sync commands to and its worker receives from.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{OutgoingMessage, Queue, QueueError};

/// A message waiting in a [`MemoryQueue`], as a receiver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub message_id: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    /// How many times it was received before (SQS's `ApproximateReceiveCount` minus one).
    pub receive_count: u32,
}

#[derive(Debug, Default, Clone)]
pub struct MemoryQueue {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    messages: Mutex<VecDeque<QueuedMessage>>,
    next_id: Mutex<u64>,
    arrived: Notify,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<QueuedMessage>> {
        self.inner.messages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a received message back (for another attempt), keeping its id and count.
    pub fn requeue(&self, message: QueuedMessage) {
        self.lock().push_back(message);
        self.inner.arrived.notify_one();
    }

    /// Takes up to `max` messages, waiting up to `wait` for the first one.
    pub async fn receive(&self, max: usize, wait: Duration) -> Vec<QueuedMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.arrived.notified();
            {
                let mut queue = self.lock();
                if !queue.is_empty() {
                    let take = max.min(queue.len());
                    return queue.drain(..take).collect();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }

    /// What is waiting, oldest first, without taking it.
    pub fn peek_all(&self) -> Vec<QueuedMessage> {
        self.lock().iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            // Refuse what SQS would refuse, so the local stack and the tests fail as AWS does.
            if let Err(why) = super::validate(&message) {
                results.push(Err(QueueError::Rejected(why)));
                continue;
            }
            let id = {
                let mut next = self.inner.next_id.lock().unwrap_or_else(|e| e.into_inner());
                *next += 1;
                format!("local-{next:08}")
            };
            self.lock().push_back(QueuedMessage {
                message_id: id,
                body: message.body,
                attributes: message.attributes,
                receive_count: 0,
            });
            self.inner.arrived.notify_one();
            results.push(Ok(()));
        }
        results
    }
}
