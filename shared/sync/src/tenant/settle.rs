//! Each event's outcome made durable and final: the ledger, parking, the delivery log, its
//! metric, and what SQS should do with its messages.

use sfbridge_core::domain::TenantId;
use sfbridge_core::metrics::{self, Counter};
use sfbridge_core::store::{DeliveryOutcome, DeliveryRecord, LedgerStatus, ParkedRecord};

use super::event::{defer, Event, State};
use super::STORAGE_CONCURRENCY;
use crate::ledger::{self, Progress};
use crate::{bounded, Disposition, Worker};

/// Writes every event's outcome (ledger, parking, delivery log), turns it into a disposition,
/// and counts it (once per event, however many messages carried it).
pub(super) async fn settle_all(ctx: &Worker, t: &TenantId, events: Vec<Event>) -> Vec<(Vec<String>, Disposition)> {
    let settles = events
        .into_iter()
        .map(|e| async move {
            let disposition = settle(ctx, t, &e).await;
            metrics::add(outcome_counter(&e.state, &disposition), 1);
            (e.pending.message_ids, disposition)
        })
        .collect();
    bounded(settles, STORAGE_CONCURRENCY).await
}

/// The metric an event's outcome counts under. Everything left for SQS counts as retried,
/// whatever the reason (a transient failure, the budget guard, another worker's claim, a park
/// that could not be stored).
fn outcome_counter(state: &State, disposition: &Disposition) -> Counter {
    match state {
        State::Synced => Counter::EventsSynced,
        State::Skipped { .. } => Counter::EventsSkipped,
        State::Failed { .. } => Counter::EventsFailed,
        State::Duplicate => Counter::EventsDuplicate,
        State::Parked if *disposition == Disposition::Ack => Counter::EventsParked,
        State::Parked | State::Open | State::Retry { .. } | State::Defer { .. } | State::Busy => Counter::EventsRetried,
    }
}

async fn settle(ctx: &Worker, t: &TenantId, e: &Event) -> Disposition {
    let c = &e.pending.command;
    let (status, outcome, code, reason, disposition) = match &e.state {
        State::Duplicate => {
            restate_outcome(ctx, t, e).await;
            return Disposition::Ack;
        }
        State::Busy => {
            let reason = "another delivery of this event is being handled right now".to_owned();
            return Disposition::Defer { after: defer::BUSY, reason };
        }
        State::Defer { code, reason, .. } => {
            let after = e.deferral(ctx.retry.max_deferral).unwrap_or_default();
            let resumes = ctx.clock.now() + chrono::Duration::from_std(after).unwrap_or_default();
            tracing::info!(tenant_id = %t, event_id = %c.event_id(), code = %code, after_s = after.as_secs(), "sync deferred");
            release(ctx, t, e, Some(reason.clone())).await;
            let logged = format!("{reason}; tried again at {}", resumes.format("%Y-%m-%dT%H:%M:%SZ"));
            log_delivery(ctx, t, e, DeliveryOutcome::Deferred, Some(code), Some(logged)).await;
            return Disposition::Defer { after, reason: reason.clone() };
        }
        State::Open | State::Retry { .. } => {
            let reason = match &e.state {
                State::Retry { reason } => reason.clone(),
                _ => "not finished".to_owned(),
            };
            tracing::info!(tenant_id = %t, event_id = %c.event_id(), reason = %reason, "sync failed for now; SQS will redeliver");
            release(ctx, t, e, Some(reason)).await;
            return Disposition::Retry;
        }
        State::Parked => {
            let parked = ParkedRecord { event_id: c.event_id().clone(), body: e.pending.body.clone(), parked_at: ctx.clock.now() };
            if let Err(err) = ctx.store.park(t, &parked).await {
                tracing::warn!(tenant_id = %t, event_id = %c.event_id(), error = %err, "could not park; SQS will redeliver");
                release(ctx, t, e, Some("parking failed".into())).await;
                return Disposition::Retry;
            }
            release(ctx, t, e, Some("parked until the tenant reconnects".into())).await;
            let reason = "the Salesforce connection needs an admin to reconnect; the event is held and will sync after reconnecting";
            log_delivery(ctx, t, e, DeliveryOutcome::Parked, Some("reauth_required"), Some(reason.to_owned())).await;
            return Disposition::Ack;
        }
        State::Synced => (LedgerStatus::Done, DeliveryOutcome::Synced, None, None, Disposition::Ack),
        State::Skipped { code, reason } => {
            (LedgerStatus::Skipped, DeliveryOutcome::Skipped, Some(code.as_str()), Some(reason.clone()), Disposition::Ack)
        }
        State::Failed { code, reason } => (
            LedgerStatus::Failed,
            DeliveryOutcome::Failed,
            Some(code.as_str()),
            Some(reason.clone()),
            Disposition::DeadLetter { code: code.clone(), reason: reason.clone() },
        ),
    };
    if let Some(held) = &e.held {
        let progress = Progress { error: reason.clone(), ..e.progress.clone() };
        if let Err(err) = ledger::settle(ctx, t, c.event_id(), held, status, progress).await {
            // The outcome stands (Salesforce has it); only a redelivery could repeat it.
            tracing::error!(tenant_id = %t, event_id = %c.event_id(), error = %err, "could not record the outcome in the ledger");
        }
    }
    log_delivery(ctx, t, e, outcome, code, reason).await;
    disposition
}

/// A delivery of an event the ledger already settled: acknowledged, and its real outcome
/// written again so that it is the event's newest delivery entry (an earlier delivery may have
/// been parked or deferred after the one that finished it).
async fn restate_outcome(ctx: &Worker, t: &TenantId, e: &Event) {
    let c = &e.pending.command;
    let Some(finished) = &e.finished else { return };
    let (outcome, reason) = match finished.status {
        LedgerStatus::Done => (DeliveryOutcome::Synced, "delivered again; synced by an earlier delivery".to_owned()),
        _ => (
            DeliveryOutcome::Skipped,
            format!("delivered again; skipped by an earlier delivery: {}", finished.last_error.as_deref().unwrap_or("no reason kept")),
        ),
    };
    tracing::info!(tenant_id = %t, event_id = %c.event_id(), "duplicate delivery of a settled event acknowledged");
    let record = DeliveryRecord {
        record_id: finished.who_id.clone(),
        task_id: finished.task_id.clone(),
        ..delivery_record(ctx, e, outcome, Some(DUPLICATE), Some(reason))
    };
    if let Err(err) = ctx.store.append_delivery(t, &record).await {
        tracing::warn!(tenant_id = %t, event_id = %c.event_id(), error = %err, "could not write the delivery log");
    }
}

/// The delivery-log code of a repeated delivery of a settled event.
pub(crate) const DUPLICATE: &str = "duplicate";

async fn release(ctx: &Worker, t: &TenantId, e: &Event, error: Option<String>) {
    let Some(held) = &e.held else { return };
    let progress = Progress { error, ..e.progress.clone() };
    if let Err(err) = ledger::settle(ctx, t, e.pending.command.event_id(), held, LedgerStatus::InProgress, progress).await {
        tracing::warn!(tenant_id = %t, error = %err, "could not release a ledger claim; its lease expires on its own");
    }
}

async fn log_delivery(
    ctx: &Worker,
    t: &TenantId,
    e: &Event,
    outcome: DeliveryOutcome,
    code: Option<&str>,
    reason: Option<String>,
) {
    let c = &e.pending.command;
    let record = delivery_record(ctx, e, outcome, code, reason);
    // One line per event outcome, with ids only: the address and Salesforce's reason (which can
    // quote field values) stay in the delivery log, which the admin API serves per tenant.
    tracing::info!(
        tenant_id = %t,
        event_id = %c.event_id(),
        outcome = ?record.outcome,
        code = record.code.as_deref().unwrap_or(""),
        record_id = record.record_id.as_ref().map(|id| id.as_str()).unwrap_or(""),
        task_id = record.task_id.as_ref().map(|id| id.as_str()).unwrap_or(""),
        "event settled"
    );
    if let Err(err) = ctx.store.append_delivery(t, &record).await {
        tracing::warn!(tenant_id = %t, event_id = %c.event_id(), error = %err, "could not write the delivery log");
    }
}

fn delivery_record(ctx: &Worker, e: &Event, outcome: DeliveryOutcome, code: Option<&str>, reason: Option<String>) -> DeliveryRecord {
    let c = &e.pending.command;
    DeliveryRecord {
        event_id: c.event_id().clone(),
        at: ctx.clock.now(),
        outcome,
        command_type: c.type_name().into(),
        campaign_id: c.activity().map(|a| a.campaign_id.clone()),
        activity: c.activity().map(|a| a.activity),
        email: c.email().cloned(),
        record_id: e.progress.who_id.clone().or_else(|| e.held.as_ref().and_then(|h| h.who_id.clone())),
        task_id: e.task_id().cloned(),
        code: code.map(str::to_owned),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_under_one_metric_each() {
        let failed = State::Failed { code: "X".into(), reason: "x".into() };
        let dead = Disposition::DeadLetter { code: "X".into(), reason: "x".into() };
        let skipped = State::Skipped { code: crate::tenant::event::SkipCode::NoMatch, reason: "x".into() };
        let cases = [
            (State::Synced, Disposition::Ack, Counter::EventsSynced),
            (skipped, Disposition::Ack, Counter::EventsSkipped),
            (failed, dead, Counter::EventsFailed),
            (State::Duplicate, Disposition::Ack, Counter::EventsDuplicate),
            (State::Parked, Disposition::Ack, Counter::EventsParked),
            (State::Parked, Disposition::Retry, Counter::EventsRetried),
            (State::Busy, Disposition::Retry, Counter::EventsRetried),
            (State::Open, Disposition::Retry, Counter::EventsRetried),
            (State::Retry { reason: "x".into() }, Disposition::Retry, Counter::EventsRetried),
        ];
        for (state, disposition, counter) in cases {
            assert_eq!(outcome_counter(&state, &disposition), counter, "{state:?}");
        }
    }
}
