//! One tenant's share of a batch, end to end: session, settings, ledger claims, toggles, the
//! budget guard, lookup, writes, and the outcome of every event. One step per file:
//!
//! - this file: the run, in order, and the steps that need no Salesforce call (claims, toggles)
//! - [`event`]: what each event's state can become, and how failures escalate
//! - [`calls`]: every Salesforce call of a run (one session, a concurrency limit, counting)
//! - [`lookup`]: finding each email's Contact or Lead (and creating missing Leads)
//! - [`plan`]: which Tasks and field updates are still owed, as Collections subrequests
//! - [`apply`]: sending them and mapping each record's result back to its events
//! - [`settle`]: ledger, parking, delivery log and the SQS disposition of each event
//! - [`health`]: what the run saw of the connection, for the health record
//!
//! Salesforce calls per run, whatever the number of events (up to the batch size):
//! one Composite call for the lookups (up to 5 query chunks), one Collections call if Leads
//! must be created, and one Composite call per 5 × 200 written records.
//!
//! Each run notes what it saw of the connection in the tenant's health record, in one
//! best-effort write after its outcomes are settled (none when it neither called Salesforce nor
//! deferred): when Salesforce last answered, the latest usage reading, and the run's most serious
//! problem — an event Salesforce refused for good, else a failed call (limits, outages), else a
//! deferral by the API budget. Parked events need no entry here: the refusal that parked them was
//! noted by the token refresh ([`sfbridge_salesforce::Sessions`]). Per-record transient errors (a locked row)
//! clear on the retry and are not noted.


mod apply;
mod calls;
mod campaign;
mod event;
mod health;
mod lookup;
mod plan;
mod push;
mod upsert;
mod reconcile;
mod settle;
#[cfg(test)]
pub(crate) mod stub;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use sfbridge_core::domain::{CampaignId, Email, FieldName, TenantId};
use sfbridge_core::store::{CampaignSettings, CreateMissing, TenantSettings};
use sfbridge_salesforce::CallError;

use self::calls::{budget_reason, Calls};
use self::event::{defer, Event, SkipCode, State};
use self::health::Observer;
use super::command::{Command, FieldUpdateCommand};
use crate::matching::Target;
use super::ledger::{self, Claim};
use super::{bounded, Disposition};
use crate::Worker;

/// Salesforce calls one tenant's run makes at the same time. Each is short (well under the 20 s
/// that would count against the org's 25 concurrent long-running requests), so a few in
/// parallel cut wall time without crowding the org.
pub(crate) const MAX_CONCURRENT_SALESFORCE_CALLS: usize = 4;
/// Ledger and log writes in flight at once (DynamoDB).
pub(super) const STORAGE_CONCURRENCY: usize = 16;
/// Record-level errors that mean the match went stale between lookup and write (the Lead was
/// converted, the Contact merged or deleted): a retry looks the email up again.
pub(super) const STALE_MATCH_CODES: &[&str] = &["CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"];

/// A command of this batch, with every message that carried it (duplicates share one outcome).
#[derive(Debug)]
pub struct Pending {
    pub message_ids: Vec<String>,
    pub command: Command,
    pub body: String,
}

/// Runs one tenant's events and says what to do with each message.
pub(crate) async fn sync_tenant(ctx: &Worker, t: &TenantId, pending: Vec<Pending>) -> Vec<(Vec<String>, Disposition)> {
    let mut events: Vec<Event> = pending.into_iter().map(Event::new).collect();
    let observer = Observer::default();
    run(ctx, t, &mut events, &observer).await;
    let now = ctx.clock.now();
    let resumes_at = events
        .iter()
        .filter_map(|e| e.deferral(ctx.retry.max_deferral))
        .min()
        .map(|after| now + chrono::Duration::from_std(after).unwrap_or_default());
    let health = observer.into_health(&events, now, resumes_at);
    let dispositions = settle::settle_all(ctx, t, events).await;
    if let Some(health) = health {
        ctx.store.note_health(t, &health).await;
    }
    dispositions
}

async fn run(ctx: &Worker, t: &TenantId, events: &mut [Event], observer: &Observer) {
    let settings = match ctx.store.settings(t).await {
        Ok(s) => s.map(|r| r.settings).unwrap_or_default(),
        Err(e) => return defer_all(events, STORAGE_UNAVAILABLE, &format!("settings unavailable: {e}"), defer::UNAVAILABLE),
    };
    let mut campaigns: HashMap<CampaignId, CampaignSettings> = HashMap::new();
    let ids: BTreeSet<CampaignId> = events
        .iter()
        .filter_map(|e| match &e.pending.command {
            Command::Activity(a) => Some(a.campaign_id.clone()),
            Command::CampaignUpdate(c) => c.campaign.campaign_id.clone(),
            Command::FieldUpdate(_) | Command::RecordUpsert(_) => None,
        })
        .collect();
    for c in ids {
        match ctx.store.campaign(t, &c).await {
            Ok(record) => {
                campaigns.insert(c, record.map(|r| r.settings).unwrap_or_default());
            }
            Err(e) => return defer_all(events, STORAGE_UNAVAILABLE, &format!("campaign settings unavailable: {e}"), defer::UNAVAILABLE),
        }
    }

    // The ledger before the session: a delivery of an event that is already settled is
    // acknowledged as the duplicate it is, whatever the connection's state now. (Parking it
    // would leave its newest delivery entry saying `parked` for an event long synced.)
    claim_all(ctx, t, events).await;
    for e in events.iter_mut().filter(|e| e.is_open()) {
        // Both halves confirmed by an attempt that could not record them as done.
        if e.is_done() {
            e.state = State::Synced;
        }
    }
    if !events.iter().any(Event::is_open) {
        return;
    }

    let session = match ctx.sessions.current(t).await {
        Ok(s) => s,
        Err(e) => {
            let e = CallError::Session(e);
            return events.iter_mut().for_each(|ev| ev.fail_call(&e));
        }
    };
    if let Err(e) = sfbridge_core::parking::replay_parked(&ctx.store, ctx.activity.as_ref(), t).await {
        tracing::warn!(tenant_id = %t, error = %e, "could not check for parked commands");
    }
    // After the session: a tenant that is not connected hears that first, whatever its campaigns say.
    apply_toggles(t, events, &campaigns);
    if !events.iter().any(Event::is_open) {
        return;
    }

    if let Some(usage) = ctx.api_usage.over_budget(t, settings.api_budget_percent, ctx.clock.now()) {
        let reason = budget_reason(usage, &settings);
        observer.deferred(&reason);
        return defer_all(events, API_BUDGET, &reason, defer::BUDGET);
    }
    // A field update naming its record by id needs no lookup.
    for e in events.iter_mut().filter(|e| e.is_open()) {
        if let Some((id, kind)) = e.pending.command.field_update().and_then(FieldUpdateCommand::record) {
            e.target = Some(Target { id, kind, fields: Default::default() });
        }
    }
    let by_key = campaign::resolve(ctx, t, events, &settings, &campaigns).await;
    let calls = Calls::new(ctx, t, session, observer);
    let unconfirmed = reconcile::Unconfirmed::new(events, &settings);
    let extra: Vec<String> = unconfirmed.queries.iter().cloned().chain(by_key.iter().map(|(soql, _)| soql.clone())).collect();
    let mut answers = lookup::lookup(&calls, events, &settings, extra).await;
    let key_answers = answers.split_off(unconfirmed.queries.len().min(answers.len()));
    unconfirmed.settle_tasks(events, answers);
    campaign::settle_queries(events, settings.campaign_experiment_key_field.as_ref(), &by_key, key_answers);
    reconcile::settle_counters(events, &settings);
    if settings.create_missing == CreateMissing::Lead {
        lookup::create_missing_leads(&calls, events).await;
    }
    for e in events.iter_mut().filter(|e| e.is_open() && e.target.is_none() && e.pending.command.email().is_some()) {
        let looked_in = if settings.match_policy.matches_leads() { "Contact or Lead" } else { "Contact" };
        e.state = State::Skipped {
            code: SkipCode::NoMatch,
            reason: format!("no {looked_in} has the email {}", e.pending.command.email().map(Email::as_str).unwrap_or_default()),
        };
    }
    if let Some(usage) = calls.over_budget(&settings) {
        let reason = budget_reason(usage, &settings);
        observer.deferred(&reason);
        return defer_all(events, API_BUDGET, &reason, defer::BUDGET);
    }
    let catalog = push::catalog(&calls, events).await;
    let times = push::load_times(ctx, t, events).await;
    apply::write(&calls, events, &settings, &campaigns, catalog.as_ref(), &times).await;
    upsert::post_apex(&calls, events, &settings).await;
    if events.iter().any(|e| e.is_open() && e.task_exists && e.task_id().is_none()) {
        apply::write(&calls, events, &settings, &campaigns, catalog.as_ref(), &times).await;
    }
    push::save_times(ctx, t, events, &settings, times).await;
    for e in events.iter().filter(|e| matches!(&e.state, State::Retry { reason } if STALE_MATCH_CODES.iter().any(|c| reason.starts_with(c)))) {
        if let Some(email) = e.pending.command.email() {
            ctx.matches.forget(t, email);
        }
    }
    for e in events.iter_mut().filter(|e| e.is_open()) {
        if e.is_done() {
            e.state = State::Synced;
        } else {
            // Not reached by any write (deferred by the budget guard between writes).
            e.defer(API_BUDGET, "not written yet: the API budget guard stopped the run between writes", defer::BUDGET);
        }
    }
    tracing::debug!(tenant_id = %t, salesforce_calls = calls.made.load(Ordering::Relaxed), "tenant run finished");
}

/// Delivery-log codes of deferrals that are not Salesforce's own error codes.
pub(crate) const API_BUDGET: &str = "API_BUDGET";
pub(crate) const STORAGE_UNAVAILABLE: &str = "STORAGE_UNAVAILABLE";

fn defer_all(events: &mut [Event], code: &str, reason: &str, after: Duration) {
    for e in events.iter_mut().filter(|e| e.is_open()) {
        e.defer(code, reason, after);
    }
}

async fn claim_all(ctx: &Worker, t: &TenantId, events: &mut [Event]) {
    let mut claims = Vec::new();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e.is_open()) {
        let id = e.pending.command.event_id().clone();
        claims.push(async move { (i, ledger::claim(ctx, t, &id).await) });
    }
    let claims = bounded(claims, STORAGE_CONCURRENCY).await;
    for (i, claim) in claims {
        let e = &mut events[i];
        match claim {
            Ok(Claim::Held(record)) => e.held = Some(record),
            Ok(Claim::Finished(record)) => {
                e.finished = Some(record);
                e.state = State::Duplicate;
            }
            Ok(Claim::Busy) => e.state = State::Busy,
            Err(err) => e.defer(STORAGE_UNAVAILABLE, &format!("ledger unavailable: {err}"), defer::UNAVAILABLE),
        }
    }
}

fn apply_toggles(t: &TenantId, events: &mut [Event], campaigns: &HashMap<CampaignId, CampaignSettings>) {
    for e in events.iter_mut().filter(|e| e.is_open()) {
        let Some(c) = e.pending.command.activity() else { continue };
        let Some(settings) = campaigns.get(&c.campaign_id) else { continue };
        let skip = if !settings.enabled {
            Some((
                SkipCode::CampaignDisabled,
                format!(
                    "campaign {} is not enabled for Salesforce; enable it with PUT /v1/tenants/{t}/campaigns/{} {{\"enabled\": true}}",
                    c.campaign_id, c.campaign_id
                ),
            ))
        } else if !settings.sync_activity {
            Some((SkipCode::ActivitySyncOff, format!("campaign {} has activity sync turned off", c.campaign_id)))
        } else if !settings.events.get(c.activity) {
            Some((SkipCode::EventOff, format!("{} events are turned off for campaign {}", c.activity.as_str(), c.campaign_id)))
        } else {
            None
        };
        if let Some((code, reason)) = skip {
            e.state = State::Skipped { code, reason };
        }
    }
}

pub(super) fn mapped_fields(settings: &TenantSettings) -> Vec<FieldName> {
    [&settings.field_mapping.last_opened_at, &settings.field_mapping.click_count].into_iter().flatten().cloned().collect()
}

