//! An in-process queue: what the local stack sends sync commands to and its worker receives from.
//! It behaves like an SQS standard queue as far as the local stack's worker needs:
//!
//! - [`MemoryQueue::lease`] is `ReceiveMessage`: each message handed out gets a receipt handle and
//!   its receive count (`ApproximateReceiveCount`), and stays invisible for the visibility timeout
//!   given; [`MemoryQueue::delete`] is `DeleteMessage`; [`Queue::retry_after`] is
//!   `ChangeMessageVisibility`;
//! - a message sent with a delay (`DelaySeconds`) becomes visible only once it has passed;
//! - with a redrive policy ([`MemoryQueue::set_redrive`]), a message received `max_receive_count`
//!   times goes to the dead-letter queue on its next receive, as SQS moves it;
//! - receives are fair across message groups, as SQS fair queues aim to be: groups with visible
//!   messages take turns, one message each, so a tenant with a backlog of 20,000 does not delay
//!   one that sends 10 after it. A message without a group is a group of its own (SQS fair
//!   queues treat it as its own tenant), so ungrouped messages come out in send order.
//!
//! Not modelled: at-least-once duplicates, retention, the 12-hour total visibility limit, long
//! polling costs. [`MemoryQueue::receive`] (receive and delete at once) and
//! [`MemoryQueue::peek_all`] serve readers that need no redelivery: the local inbound view, tests.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{OutgoingMessage, Queue, QueueError, RetryAfter, MAX_VISIBILITY};

/// A message of a [`MemoryQueue`], as a receiver (or a look at the queue) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub message_id: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    pub group_id: Option<String>,
    /// How many times it was received, this receive included (SQS's `ApproximateReceiveCount`:
    /// 1 on the first receive; 0 for a message never received, as [`MemoryQueue::peek_all`] shows it).
    pub receive_count: u32,
    /// The handle of this receive ([`MemoryQueue::lease`]), for deleting the message or changing
    /// its visibility; `None` where there is no receive to refer to.
    pub receipt_handle: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct MemoryQueue {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Woken on every send and visibility change, so waiting receivers look again.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    next_handle: u64,
    /// Every message on the queue (visible, in flight or delayed), by send order.
    messages: BTreeMap<u64, Stored>,
    /// The current receipt handle of each message in flight.
    handles: HashMap<String, u64>,
    /// Visible messages per fairness group, in the order they became visible. May hold entries
    /// of messages since received or deleted: they are skipped.
    visible: HashMap<Turn, VecDeque<u64>>,
    /// The groups with visible messages, in turn order.
    turns: VecDeque<Turn>,
    /// Invisible messages by the time they become visible: (when, message, generation); an
    /// entry whose generation is no longer the message's is stale.
    hidden: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    redrive: Option<Redrive>,
}

/// Whose turn a visible message waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Turn {
    Group(String),
    /// A message without a group, a group of its own.
    Alone(u64),
}

#[derive(Debug)]
struct Stored {
    message_id: String,
    body: String,
    attributes: Vec<(String, String)>,
    group_id: Option<String>,
    receive_count: u32,
    /// The receipt handle of the latest receive, while it is current.
    handle: Option<String>,
    visible: bool,
    /// Bumped whenever the message's visibility changes, which makes earlier `hidden` entries stale.
    generation: u64,
}

impl Stored {
    fn view(&self, receipt_handle: Option<String>) -> QueuedMessage {
        QueuedMessage {
            message_id: self.message_id.clone(),
            body: self.body.clone(),
            attributes: self.attributes.clone(),
            group_id: self.group_id.clone(),
            receive_count: self.receive_count,
            receipt_handle,
        }
    }

    fn turn(&self, seq: u64) -> Turn {
        self.group_id.clone().map_or(Turn::Alone(seq), Turn::Group)
    }
}

#[derive(Debug, Clone)]
struct Redrive {
    dead_letter: MemoryQueue,
    max_receive_count: u32,
}

/// What a receive does with the messages it takes.
#[derive(Debug, Clone, Copy)]
enum Take {
    /// Hide them for this long, with a receipt handle (SQS `ReceiveMessage`).
    Lease(Duration),
    /// Remove them from the queue.
    Remove,
}

impl State {
    /// Makes the messages whose time has come visible.
    fn reveal(&mut self, now: Instant) {
        while let Some(Reverse((at, seq, generation))) = self.hidden.peek().copied() {
            if at > now {
                break;
            }
            self.hidden.pop();
            let Some(stored) = self.messages.get_mut(&seq) else { continue };
            if stored.generation != generation || stored.visible {
                continue;
            }
            stored.visible = true;
            let turn = stored.turn(seq);
            self.queue_visible(turn, seq);
        }
    }

    fn queue_visible(&mut self, turn: Turn, seq: u64) {
        let waiting = self.visible.entry(turn.clone()).or_default();
        if waiting.is_empty() {
            self.turns.push_back(turn);
        }
        waiting.push_back(seq);
    }

    fn hide_until(&mut self, seq: u64, at: Instant) {
        if let Some(stored) = self.messages.get_mut(&seq) {
            stored.visible = false;
            stored.generation += 1;
            self.hidden.push(Reverse((at, seq, stored.generation)));
        }
    }

    /// The next visible message, the groups taking turns; `None` when none is visible.
    fn next_visible(&mut self) -> Option<u64> {
        while let Some(turn) = self.turns.pop_front() {
            let Some(waiting) = self.visible.get_mut(&turn) else { continue };
            let mut found = None;
            while let Some(seq) = waiting.pop_front() {
                if self.messages.get(&seq).is_some_and(|m| m.visible) {
                    found = Some(seq);
                    break;
                }
            }
            if waiting.is_empty() {
                self.visible.remove(&turn);
            } else {
                self.turns.push_back(turn);
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Up to `max` visible messages, fairly; and those the redrive policy moves out instead.
    fn take(&mut self, max: usize, how: Take, now: Instant) -> (Vec<QueuedMessage>, Vec<Stored>) {
        self.reveal(now);
        let (mut taken, mut dead) = (Vec::new(), Vec::new());
        while taken.len() < max {
            let Some(seq) = self.next_visible() else { break };
            let redrive_at = self.redrive.as_ref().map(|r| r.max_receive_count);
            let Some(stored) = self.messages.get_mut(&seq) else { continue };
            if redrive_at.is_some_and(|max_receives| stored.receive_count >= max_receives) {
                if let Some(mut moved) = self.messages.remove(&seq) {
                    if let Some(old) = moved.handle.take() {
                        self.handles.remove(&old);
                    }
                    dead.push(moved);
                }
                continue;
            }
            stored.receive_count += 1;
            match how {
                Take::Remove => {
                    if let Some(mut removed) = self.messages.remove(&seq) {
                        if let Some(old) = removed.handle.take() {
                            self.handles.remove(&old);
                        }
                        taken.push(removed.view(None));
                    }
                }
                Take::Lease(visibility) => {
                    self.next_handle += 1;
                    let handle = format!("local-rh-{}-{}", self.next_handle, seq);
                    taken.push(stored.view(Some(handle.clone())));
                    if let Some(old) = stored.handle.replace(handle.clone()) {
                        self.handles.remove(&old);
                    }
                    self.handles.insert(handle, seq);
                    self.hide_until(seq, now + visibility);
                }
            }
        }
        (taken, dead)
    }

    fn store(&mut self, message: Stored, delay: Duration, now: Instant) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let turn = message.turn(seq);
        let visible = message.visible;
        self.messages.insert(seq, message);
        if visible {
            self.queue_visible(turn, seq);
        } else {
            self.hide_until(seq, now + delay);
        }
    }
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// SQS's redrive policy: a message already received `max_receive_count` times goes to
    /// `dead_letter` (keeping its id, body and attributes) on its next receive instead.
    pub fn set_redrive(&self, dead_letter: MemoryQueue, max_receive_count: u32) {
        self.lock().redrive = Some(Redrive { dead_letter, max_receive_count });
    }

    /// Receives up to `max` messages (SQS `ReceiveMessage`), waiting up to `wait` for the first
    /// ones: each gets a receipt handle and stays invisible for `visibility_timeout`, then comes
    /// back unless deleted ([`MemoryQueue::delete`]) or handed back earlier ([`Queue::retry_after`]).
    pub async fn lease(&self, max: usize, wait: Duration, visibility_timeout: Duration) -> Vec<QueuedMessage> {
        self.take(max, wait, Take::Lease(visibility_timeout)).await
    }

    /// Takes up to `max` messages, waiting up to `wait` for the first ones: receives and deletes
    /// them at once (for readers that never hand a message back).
    pub async fn receive(&self, max: usize, wait: Duration) -> Vec<QueuedMessage> {
        self.take(max, wait, Take::Remove).await
    }

    async fn take(&self, max: usize, wait: Duration, how: Take) -> Vec<QueuedMessage> {
        let deadline = Instant::now() + wait;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let (taken, dead, redrive, next_reveal) = {
                let mut state = self.lock();
                let (taken, dead) = state.take(max, how, now);
                let next = state.hidden.peek().map(|Reverse((at, _, _))| *at);
                (taken, dead, state.redrive.clone(), next)
            };
            if let Some(redrive) = redrive.filter(|_| !dead.is_empty()) {
                tracing::warn!(messages = dead.len(), "received {} times: moved to the dead-letter queue", redrive.max_receive_count);
                redrive.dead_letter.move_in(dead);
            }
            if !taken.is_empty() || max == 0 || now >= deadline {
                return taken;
            }
            let wake = next_reveal.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Messages moved here by a source queue's redrive policy.
    fn move_in(&self, messages: Vec<Stored>) {
        let now = Instant::now();
        {
            let mut state = self.lock();
            for mut message in messages {
                message.visible = true;
                message.handle = None;
                state.store(message, Duration::ZERO, now);
            }
        }
        self.inner.changed.notify_waiters();
    }

    /// Deletes a received message (SQS `DeleteMessage`); false when the handle is not the
    /// message's current one (it was received again since, or deleted).
    pub fn delete(&self, receipt_handle: &str) -> bool {
        let mut state = self.lock();
        match state.handles.remove(receipt_handle) {
            Some(seq) => state.messages.remove(&seq).is_some(),
            None => false,
        }
    }

    /// Every message on the queue (visible, in flight or delayed), in send order, without
    /// receiving any.
    pub fn peek_all(&self) -> Vec<QueuedMessage> {
        self.lock().messages.values().map(|m| m.view(None)).collect()
    }

    /// Messages on the queue, visible, in flight or delayed.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
        // Refuse what SQS would refuse, so the local stack and the tests fail as AWS does
        // (checked before taking the lock: receivers need not wait for a large send's checks).
        let checked: Vec<(OutgoingMessage, Result<(), QueueError>)> = messages
            .into_iter()
            .map(|m| {
                let verdict = super::validate(&m).map(|_| ()).map_err(QueueError::Rejected);
                (m, verdict)
            })
            .collect();
        let mut results = Vec::with_capacity(checked.len());
        let now = Instant::now();
        {
            let mut state = self.lock();
            for (message, verdict) in checked {
                if let Err(refused) = verdict {
                    results.push(Err(refused));
                    continue;
                }
                let delay = message.delay.unwrap_or_default();
                let stored = Stored {
                    message_id: format!("local-{:08}", state.next_seq + 1),
                    body: message.body,
                    attributes: message.attributes,
                    group_id: message.group_id,
                    receive_count: 0,
                    handle: None,
                    visible: delay.is_zero(),
                    generation: 0,
                };
                state.store(stored, delay, now);
                results.push(Ok(()));
            }
        }
        self.inner.changed.notify_waiters();
        results
    }

    async fn retry_after(&self, messages: Vec<RetryAfter>) -> Vec<Result<(), QueueError>> {
        let now = Instant::now();
        let results = {
            let mut state = self.lock();
            messages
                .into_iter()
                .map(|m| {
                    if m.delay > MAX_VISIBILITY {
                        return Err(QueueError::Rejected(format!("a visibility of {} s is over 12 hours", m.delay.as_secs())));
                    }
                    let Some(seq) = state.handles.get(&m.receipt_handle).copied() else {
                        return Err(QueueError::Rejected("the receipt handle is not current".into()));
                    };
                    if state.messages.get(&seq).is_none_or(|s| s.visible) {
                        return Err(QueueError::Rejected("the message is not in flight".into()));
                    }
                    state.hide_until(seq, now + m.delay);
                    Ok(())
                })
                .collect()
        };
        self.inner.changed.notify_waiters();
        results
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    fn group_of(body: &str) -> OutgoingMessage {
        OutgoingMessage::new(body).with_group_id(&body[..1])
    }

    async fn send(queue: &MemoryQueue, messages: Vec<OutgoingMessage>) {
        assert!(queue.send(messages).await.iter().all(Result::is_ok));
    }

    fn bodies(messages: &[QueuedMessage]) -> Vec<&str> {
        messages.iter().map(|m| m.body.as_str()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_leased_message_is_invisible_until_its_timeout_then_comes_back_counted() {
        let queue = MemoryQueue::new();
        send(&queue, vec![OutgoingMessage::new("one")]).await;
        let first = queue.lease(10, Duration::ZERO, Duration::from_secs(30)).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        assert!(first[0].receipt_handle.is_some());
        assert!(queue.lease(10, Duration::ZERO, LONG).await.is_empty(), "in flight");
        assert_eq!(queue.len(), 1);

        // A waiting receiver gets it when the visibility timeout ends.
        let started = Instant::now();
        let again = queue.lease(10, LONG, LONG).await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert_eq!(again[0].receive_count, 2);
        assert_eq!(again[0].message_id, first[0].message_id);
        assert_ne!(again[0].receipt_handle, first[0].receipt_handle);

        assert!(!queue.delete(first[0].receipt_handle.as_deref().unwrap()), "an old handle deletes nothing");
        assert!(queue.delete(again[0].receipt_handle.as_deref().unwrap()));
        assert!(queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_changes_when_a_message_comes_back() {
        let queue = MemoryQueue::new();
        send(&queue, vec![OutgoingMessage::new("a"), OutgoingMessage::new("b")]).await;
        let got = queue.lease(10, Duration::ZERO, LONG).await;
        let retry = |m: &QueuedMessage, secs| RetryAfter { receipt_handle: m.receipt_handle.clone().unwrap(), delay: Duration::from_secs(secs) };
        let results = queue.retry_after(vec![retry(&got[0], 5), retry(&got[1], 2)]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");

        let started = Instant::now();
        assert_eq!(bodies(&queue.lease(10, LONG, LONG).await), ["b"]);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(bodies(&queue.lease(10, LONG, LONG).await), ["a"]);
        assert_eq!(started.elapsed(), Duration::from_secs(5));

        // Refused: a stale handle, and more than 12 hours.
        let refused = queue.retry_after(vec![retry(&got[0], 1), retry(&got[1], 13 * 3600)]).await;
        assert!(refused.iter().all(|r| matches!(r, Err(QueueError::Rejected(_)))), "{refused:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_delayed_message_becomes_visible_after_its_delay() {
        let queue = MemoryQueue::new();
        send(&queue, vec![OutgoingMessage::new("later").with_delay(Duration::from_secs(60)), OutgoingMessage::new("now")]).await;
        assert_eq!(bodies(&queue.lease(10, Duration::ZERO, LONG).await), ["now"]);
        assert!(queue.lease(10, Duration::from_secs(59), LONG).await.is_empty());
        assert_eq!(bodies(&queue.lease(10, LONG, LONG).await), ["later"]);
        assert_eq!(queue.len(), 2, "both in flight");
    }

    #[tokio::test(start_paused = true)]
    async fn groups_take_turns_so_a_backlog_does_not_delay_a_small_sender() {
        let queue = MemoryQueue::new();
        send(&queue, (0..1000).map(|i| group_of(&format!("A{i}"))).collect()).await;
        send(&queue, (0..10).map(|i| group_of(&format!("B{i}"))).collect()).await;
        send(&queue, vec![OutgoingMessage::new("x1"), OutgoingMessage::new("x2")]).await;

        let first = queue.receive(30, Duration::ZERO).await;
        let b_positions: Vec<usize> = first.iter().enumerate().filter(|(_, m)| m.body.starts_with('B')).map(|(i, _)| i).collect();
        assert_eq!(b_positions.len(), 10, "every B message in the first 30: {:?}", bodies(&first));
        assert!(b_positions[9] < 30);
        assert!(bodies(&first).contains(&"x1") && bodies(&first).contains(&"x2"), "ungrouped messages are groups of their own");
        // Within a group, send order.
        let a: Vec<&str> = bodies(&first).into_iter().filter(|b| b.starts_with('A')).collect();
        assert_eq!(a[..3], ["A0", "A1", "A2"]);
        assert_eq!(queue.len(), 1000 + 10 + 2 - 30);
    }

    #[tokio::test(start_paused = true)]
    async fn ungrouped_messages_come_out_in_send_order() {
        let queue = MemoryQueue::new();
        send(&queue, (0..5).map(|i| OutgoingMessage::new(i.to_string())).collect()).await;
        assert_eq!(bodies(&queue.receive(10, Duration::ZERO).await), ["0", "1", "2", "3", "4"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_redrive_policy_moves_a_message_received_too_often() {
        let (queue, dead) = (MemoryQueue::new(), MemoryQueue::new());
        queue.set_redrive(dead.clone(), 2);
        send(&queue, vec![OutgoingMessage::new("poison").with_attribute("k", "v")]).await;
        for count in 1..=2 {
            let got = queue.lease(1, LONG, Duration::from_secs(1)).await;
            assert_eq!(got[0].receive_count, count);
        }
        assert!(queue.lease(1, Duration::from_secs(5), Duration::from_secs(1)).await.is_empty());
        assert!(queue.is_empty());
        let moved = dead.peek_all();
        assert_eq!(moved.len(), 1);
        assert_eq!((moved[0].body.as_str(), moved[0].attributes.clone()), ("poison", vec![("k".to_owned(), "v".to_owned())]));
        assert_eq!(moved[0].receive_count, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_receiver_wakes_on_a_send() {
        let queue = MemoryQueue::new();
        let receiver = tokio::spawn({
            let queue = queue.clone();
            async move { queue.lease(10, LONG, LONG).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        send(&queue, vec![OutgoingMessage::new("hello")]).await;
        assert_eq!(bodies(&receiver.await.unwrap()), ["hello"]);
    }

    #[tokio::test]
    async fn what_sqs_refuses_is_refused() {
        let queue = MemoryQueue::new();
        let results = queue
            .send(vec![
                OutgoingMessage::new("{}").with_group_id("has space"),
                OutgoingMessage::new("{}").with_delay(Duration::from_secs(901)),
                OutgoingMessage::new("{}").with_group_id("team_42").with_delay(Duration::from_secs(900)),
            ])
            .await;
        assert!(matches!(&results[0], Err(QueueError::Rejected(_))));
        assert!(matches!(&results[1], Err(QueueError::Rejected(_))));
        assert!(results[2].is_ok());
        assert_eq!(queue.peek_all()[0].group_id.as_deref(), Some("team_42"));
    }
}
