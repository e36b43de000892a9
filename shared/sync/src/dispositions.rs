//! What becomes of each message once its event has an outcome ([`Disposition`]):
//!
//! - `Ack`: nothing to do; it is not in `batchItemFailures`, so the event source mapping deletes it.
//! - `Retry` (the event's own failure): it uses one of its receives. Its visibility is set to the
//!   next delay of the [`RetryPolicy`] (SQS `ChangeMessageVisibility` on its receipt handle) and
//!   it is reported in `batchItemFailures`; on the receive numbered
//!   [`RetryPolicy::max_receives`] it is dead-lettered instead, with code `max_receives` and the
//!   last reason the ledger recorded.
//! - `Defer` (a condition of the whole tenant): it must not use up receives. The body is sent
//!   again to the activity queue with `DelaySeconds` = the deferral (at most
//!   [`RetryPolicy::max_deferral`], itself at most 15 min), the tenant as
//!   `MessageGroupId` and the attribute [`DEFERRALS_ATTRIBUTE`] counting deferrals, and the
//!   original is acknowledged. A fresh message starts at receive 1. If the send fails, it is
//!   retried as `Retry` (no sooner than the deferral asked).
//! - `DeadLetter`: to the dead-letter queue with the reason ([`crate::dead_letters`]); a message
//!   the dead-letter queue did not take stays on the source queue.

use std::collections::HashMap;
use std::time::Duration;

use sfbridge_core::domain::{EventId, TenantId};
use sfbridge_core::queue::{OutgoingMessage, RetryAfter, MAX_DELAY, MAX_VISIBILITY};

use crate::{dead_letters, Disposition, Worker, DEFERRALS_ATTRIBUTE};

/// Dead-letter code of an event still failing on its last allowed receive.
pub const MAX_RECEIVES_CODE: &str = "max_receives";

/// How activity sync spaces the retries of an event's own failures, when it gives up on one, and
/// how long a deferral may last. The production schedule is [`RetryPolicy::default`]; the local
/// stack and tests use shorter ones.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The wait before the next delivery after receive n failed (n = 1, 2, ...): entry n - 1,
    /// the last entry for later receives. Capped at SQS's 12-hour visibility limit.
    pub delays: Vec<Duration>,
    /// The receive on which an event that fails again is dead-lettered (code `max_receives`)
    /// instead of retried. Keep it below the queue's `maxReceiveCount` (template.yaml), so the
    /// worker dead-letters with the reason and the redrive policy only catches what crashed.
    pub max_receives: u32,
    /// Up to this fraction of each delay is added, spread by message id, so that events that
    /// failed together do not all come back together.
    pub jitter: f64,
    /// The longest a deferred command waits before it is delivered again, whatever the tenant
    /// code asked: at most SQS's 15-minute `DelaySeconds`.
    pub max_deferral: Duration,
}

impl Default for RetryPolicy {
    /// 30 s, 2 min, 8 min, 30 min (each up to 20 % longer), dead-lettered on the 5th receive:
    /// about 41 minutes from the first failure to the dead-letter queue, against a row lock or a
    /// flaky record that usually clears in seconds to minutes.
    fn default() -> Self {
        Self {
            delays: [30, 120, 480, 1800].map(Duration::from_secs).to_vec(),
            max_receives: 5,
            jitter: 0.2,
            max_deferral: MAX_DELAY,
        }
    }
}

impl RetryPolicy {
    /// The same shape, in seconds instead of minutes, for the local stack (SQS counts whole
    /// seconds, so it works on moto too): 1 s, 2 s, 4 s, 8 s, dead-lettered on the 5th receive;
    /// deferrals of at most 10 s.
    pub fn local() -> Self {
        Self {
            delays: [1, 2, 4, 8].map(Duration::from_secs).to_vec(),
            max_receives: 5,
            jitter: 0.0,
            max_deferral: Duration::from_secs(10),
        }
    }

    /// How long a deferral the tenant code asked for `after` lasts.
    pub fn deferral(&self, after: Duration) -> Duration {
        after.min(self.max_deferral).min(MAX_DELAY)
    }

    /// How long after failed receive `receive_count` the message with this id comes back.
    pub fn delay(&self, receive_count: u32, message_id: &str) -> Duration {
        let index = usize::try_from(receive_count.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(base) = self.delays.get(index).or(self.delays.last()).copied() else {
            return Duration::ZERO;
        };
        // A stable spread in [0, 1) from the id and the receive, without a random generator.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in message_id.bytes().chain(receive_count.to_le_bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        let spread = (hash >> 11) as f64 / (1u64 << 53) as f64;
        let jitter = if self.jitter.is_finite() { self.jitter.clamp(0.0, 1.0) } else { 0.0 };
        base.mul_f64(1.0 + jitter * spread).min(MAX_VISIBILITY)
    }
}

/// One received message, as this batch saw it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) body: String,
    pub(crate) receipt_handle: Option<String>,
    pub(crate) receive_count: u32,
    pub(crate) deferrals: u32,
    /// The tenant and event it carried, when it parsed.
    pub(crate) event: Option<(TenantId, EventId)>,
}

/// Carries out every message's disposition; returns the ids SQS should deliver again
/// (`batchItemFailures`).
pub(crate) async fn dispose(ctx: &Worker, received: &HashMap<String, Received>, outcomes: Vec<(Vec<String>, Disposition)>) -> Vec<String> {
    let mut retries: Vec<(String, Duration)> = Vec::new();
    let mut deferrals: Vec<(Vec<String>, Duration, String)> = Vec::new();
    let mut dead: Vec<(String, String, String)> = Vec::new();
    for (ids, disposition) in outcomes {
        match disposition {
            Disposition::Ack => {}
            Disposition::Retry => retries.extend(ids.into_iter().map(|id| (id, Duration::ZERO))),
            Disposition::Defer { after, reason } => deferrals.push((ids, after, reason)),
            Disposition::DeadLetter { code, reason } => dead.extend(ids.into_iter().map(|id| (id, code.clone(), reason.clone()))),
        }
    }

    let deferred = deferrals.len();
    retries.extend(defer(ctx, received, deferrals).await);

    // The event's own failures: spaced out, or dead-lettered on the last allowed receive.
    let policy = &ctx.retry;
    let mut again = Vec::new();
    let mut visibility = Vec::new();
    let mut exhausted = 0;
    for (id, at_least) in retries {
        let Some(r) = received.get(&id) else {
            again.push(id);
            continue;
        };
        if r.receive_count >= policy.max_receives {
            exhausted += 1;
            let reason = last_reason(ctx, r).await;
            tracing::warn!(message_id = %id, receives = r.receive_count, "still failing on its last allowed receive: dead-lettered");
            dead.push((id, MAX_RECEIVES_CODE.to_owned(), reason));
            continue;
        }
        if let Some(handle) = &r.receipt_handle {
            let delay = policy.delay(r.receive_count, &id).max(at_least).min(MAX_VISIBILITY);
            visibility.push(RetryAfter { receipt_handle: handle.clone(), delay });
        }
        again.push(id);
    }
    if !visibility.is_empty() {
        let asked = visibility.len();
        let results = sfbridge_core::queue::one_answer_each(asked, ctx.activity.retry_after(visibility).await);
        let refused = results.iter().filter(|r| r.is_err()).count();
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            tracing::warn!(refused, asked, error = %e, "could not space out some retries; they come back at the queue's visibility timeout");
        }
    }

    let dead_lettered = dead.len();
    let bodies: HashMap<String, String> = received.iter().map(|(id, r)| (id.clone(), r.body.clone())).collect();
    let not_dead_lettered = dead_letters::dead_letter(ctx, &bodies, dead).await;
    tracing::info!(
        retry = again.len(),
        deferred,
        dead_lettered = dead_lettered - not_dead_lettered.len(),
        max_receives = exhausted,
        "sync batch handled"
    );
    again.extend(not_dead_lettered);
    again
}

/// Sends each deferred command again, delayed, and returns the messages to retry instead
/// (whose send failed), with the least delay they need.
async fn defer(ctx: &Worker, received: &HashMap<String, Received>, deferrals: Vec<(Vec<String>, Duration, String)>) -> Vec<(String, Duration)> {
    let mut retries = Vec::new();
    let mut sends = Vec::new();
    for (ids, after, reason) in deferrals {
        // One copy, whatever number of messages carried the event.
        let first = ids.iter().find_map(|id| received.get(id));
        let delay = ctx.retry.deferral(after);
        let Some((r, (tenant, event_id))) = first.and_then(|r| r.event.as_ref().map(|e| (r, e))) else {
            retries.extend(ids.into_iter().map(|id| (id, delay)));
            continue;
        };
        let count = ids.iter().filter_map(|id| received.get(id)).map(|r| r.deferrals).max().unwrap_or(0).saturating_add(1);
        let message = OutgoingMessage::new(r.body.clone())
            .with_group_id(tenant.as_str())
            .with_delay(delay)
            .with_attribute(DEFERRALS_ATTRIBUTE, count.to_string());
        tracing::info!(tenant_id = %tenant, event_id = %event_id, deferrals = count, delay_ms = delay.as_millis(), reason = %reason, "sync deferred: sent again with a delay");
        sends.push((ids, delay, message));
    }
    if sends.is_empty() {
        return retries;
    }
    let messages = sends.iter().map(|(_, _, m)| m.clone()).collect();
    let results = sfbridge_core::queue::one_answer_each(sends.len(), ctx.activity.send(messages).await);
    for ((ids, delay, _), result) in sends.into_iter().zip(results) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not send a deferred command again; retried instead");
            retries.extend(ids.into_iter().map(|id| (id, delay)));
        }
    }
    retries
}

/// Why the event kept failing, as its last attempt recorded it in the ledger.
async fn last_reason(ctx: &Worker, r: &Received) -> String {
    let generic = format!("still failing after {} receives", r.receive_count);
    let Some((tenant, event_id)) = &r.event else { return generic };
    match ctx.store.ledger(tenant, event_id).await {
        Ok(Some(record)) => record.last_error.filter(|e| !e.trim().is_empty()).unwrap_or(generic),
        Ok(None) => generic,
        Err(e) => {
            tracing::warn!(tenant_id = %tenant, event_id = %event_id, error = %e, "could not read the ledger for the last failure");
            generic
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_receive_and_stay_at_the_last() {
        let policy = RetryPolicy { jitter: 0.0, ..RetryPolicy::default() };
        let secs: Vec<u64> = (1..=6).map(|n| policy.delay(n, "m").as_secs()).collect();
        assert_eq!(secs, [30, 120, 480, 1800, 1800, 1800]);
        assert_eq!(policy.delay(0, "m").as_secs(), 30, "a count of 0 (never received) is the first");
        assert_eq!(RetryPolicy { delays: vec![], ..policy }.delay(1, "m"), Duration::ZERO);
    }

    #[test]
    fn jitter_adds_at_most_its_share_and_spreads_messages() {
        let policy = RetryPolicy::default();
        let delays: Vec<Duration> = (0..200).map(|i| policy.delay(1, &format!("message-{i}"))).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_secs(30) && *d <= Duration::from_secs(36)), "{delays:?}");
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 150, "spread out: {} distinct delays", distinct.len());
        assert_eq!(policy.delay(2, "message-7"), policy.delay(2, "message-7"), "stable");
    }

    #[test]
    fn a_delay_never_exceeds_the_visibility_limit() {
        let policy = RetryPolicy { delays: vec![Duration::from_secs(20 * 3600)], max_receives: 3, jitter: 1.0, max_deferral: MAX_DELAY };
        assert_eq!(policy.delay(1, "m"), MAX_VISIBILITY);
    }

    #[test]
    fn deferrals_last_at_most_the_cap_and_fifteen_minutes() {
        let production = RetryPolicy::default();
        assert_eq!(production.deferral(Duration::from_secs(60)), Duration::from_secs(60));
        assert_eq!(production.deferral(Duration::from_secs(3600)), MAX_DELAY);
        let local = RetryPolicy::local();
        assert_eq!(local.deferral(Duration::from_secs(60)), Duration::from_secs(10));
        let odd = RetryPolicy { max_deferral: Duration::from_secs(5000), ..RetryPolicy::default() };
        assert_eq!(odd.deferral(Duration::from_secs(3600)), MAX_DELAY);
    }
}
