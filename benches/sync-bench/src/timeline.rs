//! Activity sync over time, the way SQS and Lambda's event source mapping run it, on a virtual
//! clock: the product sends its events in waves, the poller takes what is visible once per
//! batching window, a message reported as failed comes back when the visibility the worker gave
//! it ends, a deferred one when its delay does, and SQS moves a message received more than
//! `maxReceiveCount` times to the dead-letter queue. The worker runs with the production retry
//! policy (30 s to 30 min; deferrals up to 15 min) and its clock is the virtual one, so an outage
//! of ten minutes takes no ten minutes: the figures are Salesforce calls and receives, not seconds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::bail;
use async_trait::async_trait;
use salesforce_sim::Faults;
use sfbridge_core::clock::ManualClock;
use sfbridge_core::metrics::{Capture, Meter};
use sfbridge_core::queue::{OutgoingMessage, Queue, QueueError, RetryAfter};
use sfbridge_local::worker::{invoke, sqs_record, MAX_RECEIVE_COUNT};
use sfbridge_sync::{RetryPolicy, Worker, WorkerQueues};

use crate::env::Env;
use crate::events::Event;
use crate::scenarios::{self, Measured};

/// The event source mapping's batching window (template.yaml), and the virtual time one
/// invocation takes.
const WINDOW: Duration = Duration::from_secs(5);
/// The activity queue's visibility timeout (template.yaml): how long a received message stays
/// hidden unless the worker says otherwise.
const VISIBILITY: Duration = Duration::from_secs(360);
/// Virtual time after which a run that has not settled is a failure.
const GIVE_UP_AFTER: Duration = Duration::from_secs(6 * 3600);

/// When the product sends, and what Salesforce does meanwhile.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub name: String,
    /// The events arrive in this many equal waves, [`Timeline::wave_gap`] apart.
    pub waves: usize,
    pub wave_gap: Duration,
    /// Injected into every call outside the outage.
    pub faults: Faults,
    /// Every call answered 503 from `start` for `length`.
    pub outage: Option<(Duration, Duration)>,
}

/// A timeline run: the usual figures, and what SQS saw.
#[derive(Debug)]
pub struct OverTime {
    pub measured: Measured,
    /// The highest receive count any message reached (each deferral is a new message).
    pub max_receives: u32,
    /// Messages the worker sent again with a delay (deferrals).
    pub deferral_sends: usize,
    /// Virtual time from the first wave until every event had its outcome.
    pub settled_after: Duration,
}

pub async fn run(env: &Env, events: &[Event], batch: usize, timeline: &Timeline) -> anyhow::Result<OverTime> {
    let clock = ManualClock::default();
    let sqs = Arc::new(VirtualSqs::default());
    let queues = WorkerQueues { activity: sqs.clone(), dead_letter: Arc::new(env.dead_letter_queue.clone()) };
    let meter = Meter::new(Arc::new(clock.clone()), Arc::new(Capture::default()));
    let worker = Worker::new(env.ctx.store.clone(), Arc::new(clock.clone()), env.ctx.sessions.clone(), env.ctx.rest.clone(), queues, meter)
        .with_retry_policy(RetryPolicy::default());

    let calls_before = env.sim.rest_calls();
    let started = Instant::now();
    let per_wave = events.len().div_ceil(timeline.waves.max(1)).max(1);
    let mut waves = events.chunks(per_wave).enumerate().peekable();
    let (mut injected, mut current_faults) = (0, None);
    loop {
        let now = sqs.now();
        while let Some((_, wave)) = waves.next_if(|(n, _)| timeline.wave_gap * (*n as u32) <= now) {
            for e in wave {
                sqs.enqueue(&e.message_id, &e.body, Vec::new(), Duration::ZERO);
            }
        }
        let down = timeline.outage.is_some_and(|(start, length)| now >= start && now < start + length);
        let faults = if down { Faults { rate_503: 1.0, ..Faults::default() } } else { timeline.faults };
        if current_faults != Some(faults) {
            injected += env.sim.injected_faults().len();
            env.sim.set_faults(faults);
            current_faults = Some(faults);
        }

        let records = sqs.receive(batch);
        if records.is_empty() {
            let next_wave = waves.peek().map(|(n, _)| timeline.wave_gap * (*n as u32));
            let Some(next) = [next_wave, sqs.next_visible()].into_iter().flatten().min() else { break };
            // The poller looks again no sooner than one window on; nothing changes in between.
            let step = next.saturating_sub(now).max(WINDOW);
            sqs.advance(step);
            clock.advance(chrono::Duration::from_std(step)?);
            continue;
        }
        if now > GIVE_UP_AFTER {
            bail!("{} messages still on the queue after {} h of virtual time", sqs.len(), GIVE_UP_AFTER.as_secs() / 3600);
        }
        let failed = invoke(&worker, records.iter().map(|(record, _)| record.clone()).collect()).await;
        for (record, handle) in &records {
            if !record.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                sqs.delete(handle);
            }
        }
        sqs.advance(WINDOW);
        clock.advance(chrono::Duration::from_std(WINDOW)?);
    }
    let wall = started.elapsed();
    injected += env.sim.injected_faults().len();
    env.sim.set_faults(Faults::default());

    let (dead_lettered, redelivered, max_receives, deferral_sends, settled_after) = {
        let state = sqs.lock();
        (state.dead_lettered, state.receives.saturating_sub(state.sent), state.max_receives, state.deferral_sends, state.now)
    };
    let mut problems = scenarios::check_tasks(env, events)?;
    problems.extend(scenarios::check_handler_side_effects(env, events).await?);
    if dead_lettered > 0 {
        problems.push(format!("SQS moved {dead_lettered} messages to the dead-letter queue (over {MAX_RECEIVE_COUNT} receives)"));
    }
    let calls = env.sim.rest_calls() - calls_before;
    let measured = Measured { name: timeline.name.clone(), events: events.len(), calls, wall, redelivered, injected, problems };
    Ok(OverTime { measured, max_receives, deferral_sends, settled_after })
}

/// SQS as the worker and the poller see it, on the virtual clock: sends (with a delay),
/// receives (with a visibility timeout and a receive count), deletes, visibility changes, and the
/// redrive to the dead-letter queue.
#[derive(Debug, Default)]
struct VirtualSqs {
    state: Mutex<SqsState>,
}

#[derive(Debug, Default)]
struct SqsState {
    now: Duration,
    next_id: u64,
    /// By id, which is also send order.
    messages: BTreeMap<u64, Message>,
    /// The current receipt handle of each received message.
    handles: HashMap<String, u64>,
    sent: usize,
    receives: usize,
    deferral_sends: usize,
    max_receives: u32,
    dead_lettered: usize,
}

#[derive(Debug)]
struct Message {
    message_id: String,
    body: String,
    attributes: Vec<(String, String)>,
    visible_at: Duration,
    receives: u32,
}

impl VirtualSqs {
    fn lock(&self) -> MutexGuard<'_, SqsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Duration {
        self.lock().now
    }

    fn len(&self) -> usize {
        self.lock().messages.len()
    }

    fn advance(&self, by: Duration) {
        self.lock().now += by;
    }

    fn enqueue(&self, message_id: &str, body: &str, attributes: Vec<(String, String)>, delay: Duration) {
        let mut state = self.lock();
        state.next_id += 1;
        state.sent += 1;
        let (id, visible_at) = (state.next_id, state.now + delay);
        state.messages.insert(id, Message { message_id: message_id.to_owned(), body: body.to_owned(), attributes, visible_at, receives: 0 });
    }

    /// Up to `max` visible messages, oldest first, each hidden for [`VISIBILITY`]; a message past
    /// its last allowed receive goes to the dead-letter queue instead.
    fn receive(&self, max: usize) -> Vec<(aws_lambda_events::sqs::SqsMessage, String)> {
        let mut state = self.lock();
        let now = state.now;
        let visible: Vec<u64> = state.messages.iter().filter(|(_, m)| m.visible_at <= now).map(|(id, _)| *id).collect();
        let mut taken = Vec::new();
        for id in visible {
            if taken.len() >= max {
                break;
            }
            let Some(m) = state.messages.get_mut(&id) else { continue };
            if m.receives >= MAX_RECEIVE_COUNT {
                state.messages.remove(&id);
                state.dead_lettered += 1;
                continue;
            }
            m.receives += 1;
            m.visible_at = now + VISIBILITY;
            let mut record = sqs_record(Some(m.message_id.clone()), Some(m.body.clone()));
            let handle = format!("{id}/{}", m.receives);
            record.receipt_handle = Some(handle.clone());
            record.attributes.insert("ApproximateReceiveCount".into(), m.receives.to_string());
            for (name, value) in &m.attributes {
                let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
                attribute.data_type = Some(sfbridge_core::queue::ATTRIBUTE_TYPE.into());
                attribute.string_value = Some(value.clone());
                record.message_attributes.insert(name.clone(), attribute);
            }
            let receives = m.receives;
            state.max_receives = state.max_receives.max(receives);
            state.receives += 1;
            state.handles.insert(handle.clone(), id);
            taken.push((record, handle));
        }
        taken
    }

    fn delete(&self, handle: &str) {
        let mut state = self.lock();
        if let Some(id) = state.handles.remove(handle) {
            state.messages.remove(&id);
        }
    }

    fn next_visible(&self) -> Option<Duration> {
        self.lock().messages.values().map(|m| m.visible_at).min()
    }
}

#[async_trait]
impl Queue for VirtualSqs {
    /// The worker's deferrals (and parked commands sent back): new messages, each with its delay.
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
        messages
            .into_iter()
            .map(|m| {
                self.lock().deferral_sends += usize::from(m.delay.is_some());
                let id = format!("resent-{}", self.lock().next_id + 1);
                self.enqueue(&id, &m.body, m.attributes, m.delay.unwrap_or_default());
                Ok(())
            })
            .collect()
    }

    /// The worker's spacing of an event's own retries (`ChangeMessageVisibility`).
    async fn retry_after(&self, messages: Vec<RetryAfter>) -> Vec<Result<(), QueueError>> {
        let mut state = self.lock();
        let now = state.now;
        messages
            .into_iter()
            .map(|r| {
                let id = state.handles.get(&r.receipt_handle).copied();
                match id.and_then(|id| state.messages.get_mut(&id)) {
                    Some(m) => {
                        m.visible_at = now + r.delay;
                        Ok(())
                    }
                    None => Err(QueueError::Rejected("ReceiptHandleIsInvalid".into())),
                }
            })
            .collect()
    }
}
