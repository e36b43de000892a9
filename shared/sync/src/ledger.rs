//! The idempotency ledger (docs/reliability.md "Exactly once (the ledger)", Q9): one record per event, claimed with a
//! lease before anything is written to Salesforce, finished with what was written.
//!
//! ```text
//!  (none) ──claim──▶ in_progress ──▶ done | skipped   (final: later deliveries are acknowledged)
//!                      │   ▲    └──▶ failed           (dead-lettered; a redrive claims it again)
//!                      └───┘ released (transient failure, parked) or lease expired
//! ```
//! Progress survives a release: a Task id once confirmed is kept, so a retry only does what is
//! left (the field updates) and never logs the Task a second time.

use chrono::Duration;

use sfbridge_core::domain::{EventId, TenantId};
use sfbridge_core::store::{LedgerRecord, LedgerStatus, StoreError};
use crate::Worker;

/// Longer than one invocation can run (the function times out after 60 s), shorter than the
/// queue's visibility timeout (360 s), so a crashed worker's message, once visible again, finds
/// the claim expired.
pub const LEASE: Duration = Duration::seconds(150);

#[derive(Debug)]
pub enum Claim {
    /// Ours until the lease ends; holds the progress of earlier attempts.
    Held(LedgerRecord),
    /// Done or skipped before: acknowledge without writing anything. The record says how it ended.
    Finished(LedgerRecord),
    /// Another worker holds it right now: try again later.
    Busy,
}

pub async fn claim(ctx: &Worker, t: &TenantId, e: &EventId) -> Result<Claim, StoreError> {
    let now = ctx.clock.now();
    let fresh = LedgerRecord {
        status: LedgerStatus::InProgress,
        lease_until: Some(now + LEASE),
        task_id: None,
        who_id: None,
        fields_applied: false,
        task_unconfirmed_since: None,
        counter_unconfirmed: None,
        attempts: 1,
        last_error: None,
        version: 1,
        updated_at: now,
    };
    // Optimistic: almost every event is new, so one conditional write usually settles it.
    match ctx.store.save_ledger(t, e, &fresh, None).await {
        Ok(()) => return Ok(Claim::Held(fresh)),
        Err(StoreError::Conflict) => {}
        Err(other) => return Err(other),
    }
    let Some(existing) = ctx.store.ledger(t, e).await? else {
        // Deleted in between (TTL): the next delivery will claim it.
        return Ok(Claim::Busy);
    };
    match existing.status {
        LedgerStatus::Done | LedgerStatus::Skipped => return Ok(Claim::Finished(existing)),
        LedgerStatus::InProgress if existing.lease_until.is_some_and(|until| until > now) => return Ok(Claim::Busy),
        LedgerStatus::InProgress | LedgerStatus::Failed => {}
    }
    // A claim whose lease ran out without a release: its worker died (a Lambda timeout, a crash),
    // perhaps after sending a write. Its Task is looked for before writing again, as after a lost
    // answer; the claim was taken just before that worker's writes, so they were created after it.
    let abandoned = existing.status == LedgerStatus::InProgress && existing.lease_until.is_some() && existing.task_id.is_none();
    let task_unconfirmed_since = match (abandoned, existing.task_unconfirmed_since) {
        (true, Some(since)) => Some(since.min(existing.updated_at)),
        (true, None) => Some(existing.updated_at),
        (false, since) => since,
    };
    let held = LedgerRecord {
        status: LedgerStatus::InProgress,
        lease_until: Some(now + LEASE),
        task_unconfirmed_since,
        attempts: existing.attempts + 1,
        version: existing.version + 1,
        updated_at: now,
        ..existing.clone()
    };
    match ctx.store.save_ledger(t, e, &held, Some(existing.version)).await {
        Ok(()) => Ok(Claim::Held(held)),
        Err(StoreError::Conflict) => Ok(Claim::Busy),
        Err(other) => Err(other),
    }
}

/// Writes the outcome of an attempt over the claim `held`.
pub async fn settle(
    ctx: &Worker,
    t: &TenantId,
    e: &EventId,
    held: &LedgerRecord,
    status: LedgerStatus,
    progress: Progress,
) -> Result<(), StoreError> {
    let task_id = progress.task_id.or_else(|| held.task_id.clone());
    let fields_applied = held.fields_applied || progress.fields_applied;
    let record = LedgerRecord {
        status,
        lease_until: None,
        // An unconfirmed write stays unconfirmed until a later attempt finds out what happened;
        // the oldest sending time covers every attempt since.
        task_unconfirmed_since: match (&task_id, progress.task_unconfirmed_since, held.task_unconfirmed_since) {
            (Some(_), _, _) => None,
            (None, Some(a), Some(b)) => Some(a.min(b)),
            (None, a, b) => a.or(b),
        },
        // The latest value sent is the one to look for.
        counter_unconfirmed: if fields_applied { None } else { progress.counter_unconfirmed.or(held.counter_unconfirmed) },
        task_id,
        who_id: progress.who_id.or_else(|| held.who_id.clone()),
        fields_applied,
        last_error: progress.error,
        version: held.version + 1,
        updated_at: ctx.clock.now(),
        ..held.clone()
    };
    ctx.store.save_ledger(t, e, &record, Some(held.version)).await
}

/// What an attempt achieved, to keep across attempts.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub task_id: Option<sfbridge_core::domain::SalesforceId>,
    pub who_id: Option<sfbridge_core::domain::SalesforceId>,
    pub fields_applied: bool,
    /// A Task write for this event was sent at this time and its answer never came.
    pub task_unconfirmed_since: Option<chrono::DateTime<chrono::Utc>>,
    /// A counter update for this event set this value and its answer never came.
    pub counter_unconfirmed: Option<i64>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::stub::{answer_all, fixture, StubApi};

    /// A claim whose worker died mid-flight (the lease ran out, nothing released it) may have
    /// written its Task: whoever takes it over looks for that Task first. A released claim does not.
    #[tokio::test]
    async fn an_abandoned_claim_is_taken_over_as_possibly_written() {
        let f = fixture(StubApi::new(answer_all)).await;
        let now = f.worker.clock.now();
        let started = now - Duration::minutes(10);
        let (abandoned, released) = (EventId::parse("evt_abandoned").unwrap_or_else(|e| unreachable!("{e}")), EventId::parse("evt_released").unwrap_or_else(|e| unreachable!("{e}")));
        let record = |lease_until| LedgerRecord {
            status: LedgerStatus::InProgress,
            lease_until,
            task_id: None,
            who_id: None,
            fields_applied: false,
            task_unconfirmed_since: None,
            counter_unconfirmed: None,
            attempts: 1,
            last_error: None,
            version: 1,
            updated_at: started,
        };
        let save = |e: &EventId, r: LedgerRecord| {
            let (store, t, e) = (f.store.clone(), f.tenant.clone(), e.clone());
            async move { store.save_ledger(&t, &e, &r, None).await.unwrap_or_else(|e| unreachable!("{e}")) }
        };
        save(&abandoned, record(Some(started + LEASE))).await;
        save(&released, record(None)).await;

        let Ok(Claim::Held(taken)) = claim(&f.worker, &f.tenant, &abandoned).await else { unreachable!("the lease ran out") };
        assert_eq!(taken.task_unconfirmed_since, Some(started));
        let Ok(Claim::Held(taken)) = claim(&f.worker, &f.tenant, &released).await else { unreachable!("released") };
        assert_eq!(taken.task_unconfirmed_since, None);
    }
}
