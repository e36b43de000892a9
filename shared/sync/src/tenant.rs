//! One tenant's share of a batch, end to end: session, settings, ledger claims, toggles, the
//! budget guard, lookup, writes, and the outcome of every event.
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
//! noted by the token refresh ([`sfbridge_salesforce::session`]). Per-record transient errors (a locked row)
//! clear on the retry and are not noted.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};

use super::activity::{field_update, task, updates_fields};
use super::command::ActivityCommand;
use super::ledger::{self, Claim, Progress};
use super::matching::{contacts_by_id_query, follow_conversions, lookup_queries, resolve, Target, TargetKind};
use super::{bounded, Disposition};
use sfbridge_core::domain::{CampaignId, Email, FieldName, SalesforceId, TenantId};
use sfbridge_core::metrics::{self, Counter, Gauge};
use sfbridge_salesforce::rest::{
    ApiUsage, ErrorClass, QueryPage, RecordResult, Reply, RestError, SubRequest, MAX_COLLECTION_RECORDS,
    MAX_COMPOSITE_BULK_SUBREQUESTS,
};
use sfbridge_salesforce::{CallError, Session, SessionError};
use sfbridge_core::store::{
    CampaignSettings, CreateMissing, DeliveryOutcome, DeliveryRecord, HealthArea, HealthError, HealthRecord, LedgerRecord,
    LedgerStatus, ParkedRecord, TenantSettings, UsageReading,
};
use crate::Worker;

/// Salesforce calls one tenant's run makes at the same time. Each is short (well under the 20 s
/// that would count against the org's 25 concurrent long-running requests), so a few in
/// parallel cut wall time without crowding the org.
pub const MAX_CONCURRENT_SALESFORCE_CALLS: usize = 4;
/// Ledger and log writes in flight at once (DynamoDB).
const STORAGE_CONCURRENCY: usize = 16;
/// Record-level errors that mean the match went stale between lookup and write (the Lead was
/// converted, the Contact merged or deleted): a retry looks the email up again.
const STALE_MATCH_CODES: &[&str] = &["CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"];

/// A command of this batch, with every message that carried it (duplicates share one outcome).
#[derive(Debug)]
pub struct Pending {
    pub message_ids: Vec<String>,
    pub command: ActivityCommand,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Open,
    Synced,
    Skipped { code: &'static str, reason: String },
    Failed { code: String, reason: String },
    Retry { reason: String },
    Parked,
    /// Finished by an earlier delivery.
    Duplicate,
    /// Claimed by another worker right now.
    Busy,
}

#[derive(Debug)]
struct Event {
    pending: Pending,
    held: Option<LedgerRecord>,
    target: Option<Target>,
    progress: Progress,
    state: State,
    /// An upsert found this event's Task already there (an earlier write whose answer was
    /// lost): `TaskSubtype` can only be set on create, so the Task is written again without it.
    task_exists: bool,
}

/// What Salesforce answers when an upsert that turned out to be an update sets a create-only
/// field (`TaskSubtype`).
const CREATE_ONLY_FIELD: &str = "INVALID_FIELD_FOR_INSERT_UPDATE";

impl Event {
    fn is_open(&self) -> bool {
        self.state == State::Open
    }

    fn task_id(&self) -> Option<&SalesforceId> {
        self.progress.task_id.as_ref().or_else(|| self.held.as_ref().and_then(|h| h.task_id.as_ref()))
    }

    fn fields_applied(&self) -> bool {
        self.progress.fields_applied || self.held.as_ref().is_some_and(|h| h.fields_applied)
    }

    /// Records a failure, keeping the more serious one (failed beats retry) and never undoing
    /// a final state.
    fn fail(&mut self, class: ErrorClass, code: &str, message: &str) {
        let permanent = class == ErrorClass::Permanent && !STALE_MATCH_CODES.contains(&code);
        match (&self.state, permanent) {
            (State::Open | State::Retry { .. }, true) => {
                self.state = State::Failed { code: code.to_owned(), reason: format!("Salesforce: {code}: {message}") }
            }
            (State::Open, false) => self.state = State::Retry { reason: format!("{code}: {message}") },
            _ => {}
        }
    }

    fn fail_call(&mut self, e: &CallError) {
        match e {
            CallError::Session(SessionError::ReauthRequired(_)) => {
                if matches!(self.state, State::Open | State::Retry { .. }) {
                    self.state = State::Parked;
                }
            }
            CallError::Session(SessionError::NotConnected(t)) => {
                if matches!(self.state, State::Open | State::Retry { .. }) {
                    self.state = State::Skipped {
                        code: "not_connected",
                        reason: format!(
                            "tenant {t} has no Salesforce connection (never connected, or disconnected); connect it with \
                             POST /v1/tenants/{t}/connect and send the event again"
                        ),
                    };
                }
            }
            CallError::Session(SessionError::Transient(why)) => self.fail(ErrorClass::Transient, "SESSION_UNAVAILABLE", why),
            CallError::Rest(r) => {
                let class = if r.class == ErrorClass::RefreshSession { ErrorClass::Transient } else { r.class };
                self.fail(class, &r.code, &r.message);
            }
        }
    }
}

/// What one tenant's run saw of the connection, for its health record.
#[derive(Debug, Default)]
struct Observed {
    /// Salesforce answered at least one call.
    answered: bool,
    usage: Option<(ApiUsage, DateTime<Utc>)>,
    /// The last call that failed as a whole (after its refresh-and-replay, if any).
    failed_call: Option<RestError>,
    /// Why the budget guard deferred work.
    deferred: Option<String>,
}

/// [`Observed`] behind a lock, shared by the run's concurrent calls.
#[derive(Debug, Default)]
struct Observer(StdMutex<Observed>);

impl Observer {
    fn note(&self, f: impl FnOnce(&mut Observed)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn deferred(&self, reason: &str) {
        self.note(|o| o.deferred = Some(reason.to_owned()));
    }

    /// The fields to merge into the health record, if the run saw anything worth keeping.
    fn into_health(self, events: &[Event], at: DateTime<Utc>) -> Option<HealthRecord> {
        let seen = self.0.into_inner().unwrap_or_else(|e| e.into_inner());
        let refused = events.iter().find_map(|e| match &e.state {
            State::Failed { code, reason } => Some((code.clone(), reason.clone())),
            _ => None,
        });
        let last_error = if let Some((code, message)) = refused {
            Some(HealthError { area: HealthArea::SalesforceApi, code, message, retryable: false, at })
        } else if let Some(e) = seen.failed_call {
            let retryable = e.class != ErrorClass::Permanent;
            let message = format!("Salesforce: {}: {}", e.code, e.message);
            Some(HealthError { area: HealthArea::SalesforceApi, code: e.code, message, retryable, at })
        } else {
            let code = "api_budget".to_owned();
            seen.deferred.map(|message| HealthError { area: HealthArea::Budget, code, message, retryable: true, at })
        };
        let health = HealthRecord {
            last_token_refresh_at: None,
            last_sync_at: seen.answered.then_some(at),
            last_error,
            api_usage: seen.usage.map(|(u, read_at)| UsageReading { used: u.used, max: u.max, at: read_at }),
            updated_at: Some(at),
        };
        (!health.is_empty()).then_some(health)
    }
}

/// Salesforce calls for one tenant's run: one session shared by all, refreshed once on 401,
/// at most [`MAX_CONCURRENT_SALESFORCE_CALLS`] at a time, usage noted for the budget guard.
/// Every Salesforce REST call of a run goes through [`Calls::run`], which is where they are
/// counted (`SalesforceApiCalls`) and their usage readings kept (`ApiUsagePercent`).
struct Calls<'a> {
    ctx: &'a Worker,
    t: &'a TenantId,
    session: Mutex<Session>,
    limiter: Semaphore,
    made: AtomicUsize,
    observer: &'a Observer,
}

impl<'a> Calls<'a> {
    fn new(ctx: &'a Worker, t: &'a TenantId, session: Session, observer: &'a Observer) -> Self {
        Self {
            ctx,
            t,
            session: Mutex::new(session),
            limiter: Semaphore::new(MAX_CONCURRENT_SALESFORCE_CALLS),
            made: AtomicUsize::new(0),
            observer,
        }
    }

    async fn run<T, F, Fut>(&self, call: F) -> Result<T, CallError>
    where
        F: Fn(Session) -> Fut,
        Fut: Future<Output = Result<Reply<T>, RestError>>,
    {
        let _permit = self
            .limiter
            .acquire()
            .await
            .map_err(|_| CallError::Session(SessionError::Transient("call limiter closed".into())))?;
        let current = self.session.lock().await.clone();
        self.count_call();
        let result = match call(current.clone()).await {
            Err(e) if e.class == ErrorClass::RefreshSession => {
                let fresh = self.ctx.sessions.refreshed(self.t, &current).await?;
                *self.session.lock().await = fresh.clone();
                self.count_call();
                call(fresh).await
            }
            other => other,
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                self.observer.note(|o| o.failed_call = Some(e.clone()));
                return Err(e.into());
            }
        };
        let now = self.ctx.clock.now();
        if let Some(usage) = reply.usage {
            self.ctx.api_usage.record(self.t, usage, now);
            metrics::record_max(Gauge::ApiUsagePercent, usage.percent());
        }
        self.observer.note(|o| {
            o.answered = true;
            if let Some(usage) = reply.usage {
                o.usage = Some((usage, now));
            }
        });
        Ok(reply.value)
    }

    fn count_call(&self) {
        self.made.fetch_add(1, Ordering::Relaxed);
        metrics::add(Counter::SalesforceApiCalls, 1);
    }

    fn over_budget(&self, settings: &TenantSettings) -> Option<ApiUsage> {
        self.ctx.api_usage.over_budget(self.t, settings.api_budget_percent, self.ctx.clock.now())
    }
}

fn budget_reason(usage: ApiUsage, settings: &TenantSettings) -> String {
    format!(
        "deferred: the org has used {:.1}% of its daily API requests ({}/{}), over this tenant's sync budget of {}%",
        usage.percent(),
        usage.used,
        usage.max,
        settings.api_budget_percent
    )
}

/// Runs one tenant's events and says what to do with each message.
pub async fn sync_tenant(ctx: &Worker, t: &TenantId, pending: Vec<Pending>) -> Vec<(Vec<String>, Disposition)> {
    let mut events: Vec<Event> = pending
        .into_iter()
        .map(|p| Event {
            pending: p,
            held: None,
            target: None,
            progress: Progress::default(),
            state: State::Open,
            task_exists: false,
        })
        .collect();
    let observer = Observer::default();
    run(ctx, t, &mut events, &observer).await;
    let health = observer.into_health(&events, ctx.clock.now());
    let dispositions = settle_all(ctx, t, events).await;
    if let Some(health) = health {
        ctx.store.note_health(t, &health).await;
    }
    dispositions
}

async fn run(ctx: &Worker, t: &TenantId, events: &mut [Event], observer: &Observer) {
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

    let settings = match ctx.store.settings(t).await {
        Ok(s) => s.map(|r| r.settings).unwrap_or_default(),
        Err(e) => return retry_all(events, &format!("settings unavailable: {e}")),
    };
    let mut campaigns: HashMap<CampaignId, CampaignSettings> = HashMap::new();
    let ids: BTreeSet<CampaignId> = events.iter().map(|e| e.pending.command.campaign_id.clone()).collect();
    for c in ids {
        match ctx.store.campaign(t, &c).await {
            Ok(record) => {
                campaigns.insert(c, record.map(|r| r.settings).unwrap_or_default());
            }
            Err(e) => return retry_all(events, &format!("campaign settings unavailable: {e}")),
        }
    }

    claim_all(ctx, t, events).await;
    apply_toggles(t, events, &campaigns);
    for e in events.iter_mut().filter(|e| e.is_open()) {
        // Both halves confirmed by an attempt that could not record them as done.
        if e.task_id().is_some() && e.fields_applied() {
            e.state = State::Synced;
        }
    }
    if !events.iter().any(Event::is_open) {
        return;
    }

    if let Some(usage) = ctx.api_usage.over_budget(t, settings.api_budget_percent, ctx.clock.now()) {
        let reason = budget_reason(usage, &settings);
        observer.deferred(&reason);
        return retry_all(events, &reason);
    }
    let calls = Calls::new(ctx, t, session, observer);
    lookup(&calls, events, &settings).await;
    if settings.create_missing == CreateMissing::Lead {
        create_missing_leads(&calls, events).await;
    }
    for e in events.iter_mut().filter(|e| e.is_open() && e.target.is_none()) {
        let looked_in = if settings.match_policy.matches_leads() { "Contact or Lead" } else { "Contact" };
        e.state = State::Skipped {
            code: "no_match",
            reason: format!("no {looked_in} has the email {}", e.pending.command.contact.email.as_str()),
        };
    }
    if let Some(usage) = calls.over_budget(&settings) {
        let reason = budget_reason(usage, &settings);
        observer.deferred(&reason);
        return retry_all(events, &reason);
    }
    write(&calls, events, &settings, &campaigns).await;
    if events.iter().any(|e| e.is_open() && e.task_exists && e.task_id().is_none()) {
        write(&calls, events, &settings, &campaigns).await;
    }
    for e in events.iter_mut().filter(|e| e.is_open()) {
        if e.task_id().is_some() && e.fields_applied() {
            e.state = State::Synced;
        } else {
            // Not reached by any write (deferred by the budget guard between writes).
            e.state = State::Retry { reason: "not written yet".into() };
        }
    }
    tracing::debug!(tenant_id = %t, salesforce_calls = calls.made.load(Ordering::Relaxed), "tenant run finished");
}

fn retry_all(events: &mut [Event], reason: &str) {
    for e in events.iter_mut().filter(|e| e.is_open()) {
        e.state = State::Retry { reason: reason.to_owned() };
    }
}

async fn claim_all(ctx: &Worker, t: &TenantId, events: &mut [Event]) {
    let mut claims = Vec::new();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e.is_open()) {
        let id = e.pending.command.event_id.clone();
        claims.push(async move { (i, ledger::claim(ctx, t, &id).await) });
    }
    let claims = bounded(claims, STORAGE_CONCURRENCY).await;
    for (i, claim) in claims {
        let e = &mut events[i];
        match claim {
            Ok(Claim::Held(record)) => e.held = Some(record),
            Ok(Claim::Finished) => e.state = State::Duplicate,
            Ok(Claim::Busy) => e.state = State::Busy,
            Err(err) => e.state = State::Retry { reason: format!("ledger unavailable: {err}") },
        }
    }
}

fn apply_toggles(t: &TenantId, events: &mut [Event], campaigns: &HashMap<CampaignId, CampaignSettings>) {
    for e in events.iter_mut().filter(|e| e.is_open()) {
        let c = &e.pending.command;
        let Some(settings) = campaigns.get(&c.campaign_id) else { continue };
        let skip = if !settings.enabled {
            Some((
                "campaign_disabled",
                format!(
                    "campaign {} is not enabled for Salesforce; enable it with PUT /v1/tenants/{t}/campaigns/{} {{\"enabled\": true}}",
                    c.campaign_id, c.campaign_id
                ),
            ))
        } else if !settings.sync_activity {
            Some(("activity_sync_off", format!("campaign {} has activity sync turned off", c.campaign_id)))
        } else if !settings.events.get(c.activity) {
            Some(("event_off", format!("{} events are turned off for campaign {}", c.activity.as_str(), c.campaign_id)))
        } else {
            None
        };
        if let Some((code, reason)) = skip {
            e.state = State::Skipped { code, reason };
        }
    }
}

fn mapped_fields(settings: &TenantSettings) -> Vec<FieldName> {
    [&settings.field_mapping.last_opened_at, &settings.field_mapping.click_count].into_iter().flatten().cloned().collect()
}

/// Every open event's target, by one Composite call per 5 query chunks.
async fn lookup(calls: &Calls<'_>, events: &mut [Event], settings: &TenantSettings) {
    let emails: Vec<Email> = events
        .iter()
        .filter(|e| e.is_open())
        .map(|e| e.pending.command.contact.email.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if emails.is_empty() {
        return;
    }
    let mapped = mapped_fields(settings);
    let queries = lookup_queries(&emails, settings.match_policy, &mapped);
    let found = run_queries(calls, &queries).await;
    let (contacts, leads) = match found {
        Ok(found) => found,
        Err(e) => return events.iter_mut().for_each(|ev| ev.fail_call(&e)),
    };
    let (mut targets, unresolved) = resolve(settings.match_policy, &contacts, &leads);
    if !unresolved.is_empty() {
        let ids: Vec<SalesforceId> = unresolved.values().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let queries: Vec<(TargetKind, String)> =
            ids.chunks(200).map(|chunk| (TargetKind::Contact, contacts_by_id_query(chunk, &mapped))).collect();
        match run_queries(calls, &queries).await {
            Ok((converted_contacts, _)) => follow_conversions(&mut targets, unresolved, &converted_contacts),
            Err(e) => return events.iter_mut().for_each(|ev| ev.fail_call(&e)),
        }
    }
    for e in events.iter_mut().filter(|e| e.is_open()) {
        e.target = targets.get(&e.pending.command.contact.email).cloned();
    }
}

/// Runs queries inside Composite calls and returns (Contacts, Leads) found, all pages.
async fn run_queries(calls: &Calls<'_>, queries: &[(TargetKind, String)]) -> Result<(Vec<Value>, Vec<Value>), CallError> {
    let rest = &calls.ctx.rest;
    let mut lookups = Vec::new();
    for group in queries.chunks(MAX_COMPOSITE_BULK_SUBREQUESTS) {
        lookups.push(async move {
            let subs: Vec<SubRequest> =
                group.iter().enumerate().map(|(i, (_, soql))| SubRequest::query(&format!("q{i}"), soql)).collect();
            let answers = calls
                .run(|s| {
                    let subs = subs.clone();
                    async move { rest.composite(&s, subs).await }
                })
                .await?;
            group
                .iter()
                .zip(answers)
                .map(|((kind, _), answer)| Ok((*kind, answer.into_result::<QueryPage>()?)))
                .collect::<Result<Vec<_>, CallError>>()
        });
    }
    let groups = bounded(lookups, MAX_CONCURRENT_SALESFORCE_CALLS).await;
    let (mut contacts, mut leads) = (Vec::new(), Vec::new());
    for group in groups {
        for (kind, mut page) in group? {
            let mut records = std::mem::take(&mut page.records);
            let mut next = page.next_records_url.take();
            while let Some(url) = next {
                let url = &url;
                let mut more = calls.run(|s| async move { rest.next_page(&s, url).await }).await?;
                records.append(&mut more.records);
                next = more.next_records_url.take();
            }
            match kind {
                TargetKind::Contact => contacts.append(&mut records),
                TargetKind::Lead => leads.append(&mut records),
            }
        }
    }
    Ok((contacts, leads))
}

/// With `create_missing: lead`, one Lead per unmatched email (Collections, 200 a call).
async fn create_missing_leads(calls: &Calls<'_>, events: &mut [Event]) {
    let missing: Vec<(Email, Option<String>)> = {
        let mut seen = BTreeSet::new();
        events
            .iter()
            .filter(|e| e.is_open() && e.target.is_none())
            .filter(|e| seen.insert(e.pending.command.contact.email.clone()))
            .map(|e| (e.pending.command.contact.email.clone(), e.pending.command.contact.name.clone()))
            .collect()
    };
    let rest = &calls.ctx.rest;
    for chunk in missing.chunks(MAX_COLLECTION_RECORDS) {
        let records: Vec<Value> = chunk.iter().map(|(email, name)| new_lead(email, name.as_deref())).collect();
        let result = calls
            .run(|s| {
                let records = records.clone();
                async move { rest.create_records(&s, records).await }
            })
            .await;
        let results = match result.and_then(|r| expect_len(r, chunk.len())) {
            Ok(results) => results,
            Err(e) => {
                let emails: BTreeSet<&Email> = chunk.iter().map(|(e, _)| e).collect();
                events.iter_mut().filter(|ev| emails.contains(&ev.pending.command.contact.email)).for_each(|ev| ev.fail_call(&e));
                continue;
            }
        };
        for ((email, _), result) in chunk.iter().zip(results) {
            let created = result.id.as_deref().and_then(|id| SalesforceId::parse(id).ok()).filter(|_| result.success);
            for ev in events.iter_mut().filter(|ev| ev.is_open() && &ev.pending.command.contact.email == email) {
                match (&created, result.failure()) {
                    (Some(id), _) => {
                        ev.target = Some(Target { id: id.clone(), kind: TargetKind::Lead, fields: Default::default() })
                    }
                    (None, Some(f)) => ev.fail(f.class, &f.code, &f.message),
                    (None, None) => ev.fail(ErrorClass::Transient, "UNREADABLE_RESPONSE", "a created Lead came back without an id"),
                }
            }
        }
    }
}

/// Lead requires LastName and Company: the name's last word (else the email's local part) and
/// the email's domain.
fn new_lead(email: &Email, name: Option<&str>) -> Value {
    let (local, domain) = email.as_str().rsplit_once('@').unwrap_or((email.as_str(), ""));
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let (first, last) = match name.and_then(|n| n.rsplit_once(' ')) {
        Some((first, last)) => (Some(first.trim()), last.trim()),
        None => (None, name.unwrap_or(local)),
    };
    let mut lead = json!({"attributes": {"type": "Lead"}, "Email": email.as_str(), "LastName": last, "Company": domain});
    if let Some(first) = first {
        lead["FirstName"] = json!(first);
    }
    lead
}

fn expect_len(results: Vec<RecordResult>, expected: usize) -> Result<Vec<RecordResult>, CallError> {
    if results.len() == expected {
        Ok(results)
    } else {
        Err(CallError::Rest(RestError {
            class: ErrorClass::Transient,
            status: Some(200),
            code: "UNREADABLE_RESPONSE".into(),
            message: format!("Salesforce returned {} results for {expected} records", results.len()),
        }))
    }
}

/// Which events a written record stands for.
#[derive(Debug, Clone)]
enum Member {
    Task(usize),
    Update(Vec<usize>),
}

/// One Collections subrequest and, per record, the events behind it.
#[derive(Debug, Clone)]
struct Collection {
    request: SubRequest,
    members: Vec<Member>,
}

async fn write(
    calls: &Calls<'_>,
    events: &mut [Event],
    settings: &TenantSettings,
    campaigns: &HashMap<CampaignId, CampaignSettings>,
) {
    let collections = plan_writes(events, settings, campaigns);
    let rest = &calls.ctx.rest;
    let groups: Vec<Vec<Collection>> = collections.chunks(MAX_COMPOSITE_BULK_SUBREQUESTS).map(<[Collection]>::to_vec).collect();
    let mut writes = Vec::new();
    for group in groups {
        writes.push(async move {
            if let Some(usage) = calls.over_budget(settings) {
                let message = budget_reason(usage, settings);
                calls.observer.deferred(&message);
                return (group, Err(CallError::Rest(RestError {
                    class: ErrorClass::Transient,
                    status: None,
                    code: "API_BUDGET".into(),
                    message,
                })));
            }
            let subs: Vec<SubRequest> = group.iter().map(|c| c.request.clone()).collect();
            let answers = calls
                .run(|s| {
                    let subs = subs.clone();
                    async move { rest.composite(&s, subs).await }
                })
                .await;
            (group, answers)
        });
    }
    let outcomes = bounded(writes, MAX_CONCURRENT_SALESFORCE_CALLS).await;
    for (group, answers) in outcomes {
        let answers = match answers {
            Ok(a) => a,
            Err(e) => {
                group.iter().flat_map(|c| c.members.iter()).for_each(|m| member_events(m).for_each(|i| events[i].fail_call(&e)));
                continue;
            }
        };
        for (collection, answer) in group.iter().zip(answers) {
            let results = answer.into_result::<Vec<RecordResult>>().map_err(CallError::Rest);
            match results.and_then(|r| expect_len(r, collection.members.len())) {
                Ok(results) => collection.members.iter().zip(results).for_each(|(m, r)| apply_result(events, m, &r)),
                Err(e) => collection.members.iter().for_each(|m| member_events(m).for_each(|i| events[i].fail_call(&e))),
            }
        }
    }
}

fn member_events(m: &Member) -> Box<dyn Iterator<Item = usize> + '_> {
    match m {
        Member::Task(i) => Box::new(std::iter::once(*i)),
        Member::Update(is) => Box::new(is.iter().copied()),
    }
}

fn apply_result(events: &mut [Event], member: &Member, result: &RecordResult) {
    match (member, result.failure()) {
        (Member::Task(i), None) => match result.id.as_deref().and_then(|id| SalesforceId::parse(id).ok()) {
            Some(id) => events[*i].progress.task_id = Some(id),
            None => events[*i].fail(ErrorClass::Transient, "UNREADABLE_RESPONSE", "a Task came back without an id"),
        },
        (Member::Update(is), None) => is.iter().for_each(|i| events[*i].progress.fields_applied = true),
        (Member::Task(i), Some(f)) if f.code == CREATE_ONLY_FIELD && !events[*i].task_exists => events[*i].task_exists = true,
        (m, Some(f)) => member_events(m).for_each(|i| events[i].fail(f.class, &f.code, &f.message)),
    }
}

/// The Tasks and field updates still owed by the open events, as Collections subrequests.
fn plan_writes(events: &mut [Event], settings: &TenantSettings, campaigns: &HashMap<CampaignId, CampaignSettings>) -> Vec<Collection> {
    let external_id = settings.task_external_id_field.as_ref();
    let mut tasks: Vec<(Value, Member)> = Vec::new();
    let mut by_target: HashMap<SalesforceId, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter_mut().enumerate() {
        if !e.is_open() {
            continue;
        }
        let Some(target) = e.target.clone() else { continue };
        e.progress.who_id = Some(target.id.clone());
        let c = &e.pending.command;
        if e.task_id().is_none() {
            let campaign = campaigns.get(&c.campaign_id).and_then(|s| s.salesforce_campaign_id.as_ref());
            let mut record = task(c, &target, campaign, external_id);
            if e.task_exists {
                if let Some(fields) = record.as_object_mut() {
                    fields.remove("TaskSubtype");
                }
            }
            tasks.push((record, Member::Task(i)));
        }
        if e.fields_applied() || !updates_fields(c.activity, &settings.field_mapping) {
            e.progress.fields_applied = true;
        } else {
            by_target.entry(target.id.clone()).or_default().push(i);
        }
    }
    let mut updates: Vec<(Value, Member)> = Vec::new();
    let mut targets: Vec<_> = by_target.into_iter().collect();
    targets.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (_, members) in targets {
        let Some(target) = events[members[0]].target.clone() else { continue };
        match field_update(&target, &settings.field_mapping, members.iter().map(|i| &events[*i].pending.command)) {
            Some(record) => updates.push((record, Member::Update(members))),
            // Nothing to change (an older open than the stored one): done.
            None => members.iter().for_each(|i| events[*i].progress.fields_applied = true),
        }
    }

    let mut collections = Vec::new();
    for (n, chunk) in tasks.chunks(MAX_COLLECTION_RECORDS).enumerate() {
        let records: Vec<Value> = chunk.iter().map(|(r, _)| r.clone()).collect();
        let reference = format!("tasks{n}");
        let request = match external_id {
            Some(field) => SubRequest::upsert_records(&reference, "Task", field.as_str(), records),
            None => SubRequest::create_records(&reference, records),
        };
        collections.push(Collection { request, members: chunk.iter().map(|(_, m)| m.clone()).collect() });
    }
    for (n, chunk) in updates.chunks(MAX_COLLECTION_RECORDS).enumerate() {
        let records: Vec<Value> = chunk.iter().map(|(r, _)| r.clone()).collect();
        collections.push(Collection {
            request: SubRequest::update_records(&format!("updates{n}"), records),
            members: chunk.iter().map(|(_, m)| m.clone()).collect(),
        });
    }
    collections
}

/// Writes every event's outcome (ledger, parking, delivery log), turns it into a disposition,
/// and counts it (once per event, however many messages carried it).
async fn settle_all(ctx: &Worker, t: &TenantId, events: Vec<Event>) -> Vec<(Vec<String>, Disposition)> {
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
        State::Parked | State::Open | State::Retry { .. } | State::Busy => Counter::EventsRetried,
    }
}

async fn settle(ctx: &Worker, t: &TenantId, e: &Event) -> Disposition {
    let c = &e.pending.command;
    let (status, outcome, code, reason, disposition) = match &e.state {
        State::Duplicate => return Disposition::Ack,
        State::Busy => return Disposition::Retry,
        State::Open | State::Retry { .. } => {
            let reason = match &e.state {
                State::Retry { reason } => reason.clone(),
                _ => "not finished".to_owned(),
            };
            tracing::info!(tenant_id = %t, event_id = %c.event_id, reason = %reason, "sync deferred; SQS will redeliver");
            release(ctx, t, e, Some(reason)).await;
            return Disposition::Retry;
        }
        State::Parked => {
            let parked = ParkedRecord { event_id: c.event_id.clone(), body: e.pending.body.clone(), parked_at: ctx.clock.now() };
            if let Err(err) = ctx.store.park(t, &parked).await {
                tracing::warn!(tenant_id = %t, event_id = %c.event_id, error = %err, "could not park; SQS will redeliver");
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
            (LedgerStatus::Skipped, DeliveryOutcome::Skipped, Some(*code), Some(reason.clone()), Disposition::Ack)
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
        if let Err(err) = ledger::settle(ctx, t, &c.event_id, held, status, progress).await {
            // The outcome stands (Salesforce has it); only a redelivery could repeat it.
            tracing::error!(tenant_id = %t, event_id = %c.event_id, error = %err, "could not record the outcome in the ledger");
        }
    }
    log_delivery(ctx, t, e, outcome, code, reason).await;
    disposition
}

async fn release(ctx: &Worker, t: &TenantId, e: &Event, error: Option<String>) {
    let Some(held) = &e.held else { return };
    let progress = Progress { error, ..e.progress.clone() };
    if let Err(err) = ledger::settle(ctx, t, &e.pending.command.event_id, held, LedgerStatus::InProgress, progress).await {
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
    let record = DeliveryRecord {
        event_id: c.event_id.clone(),
        at: ctx.clock.now(),
        outcome,
        command_type: "activity".into(),
        campaign_id: Some(c.campaign_id.clone()),
        activity: Some(c.activity),
        email: Some(c.contact.email.clone()),
        record_id: e.progress.who_id.clone().or_else(|| e.held.as_ref().and_then(|h| h.who_id.clone())),
        task_id: e.task_id().cloned(),
        code: code.map(str::to_owned),
        reason,
    };
    // One line per event outcome, with ids only: the address and Salesforce's reason (which can
    // quote field values) stay in the delivery log, which the admin API serves per tenant.
    tracing::info!(
        tenant_id = %t,
        event_id = %c.event_id,
        outcome = ?record.outcome,
        code = record.code.as_deref().unwrap_or(""),
        record_id = record.record_id.as_ref().map(|id| id.as_str()).unwrap_or(""),
        task_id = record.task_id.as_ref().map(|id| id.as_str()).unwrap_or(""),
        "event settled"
    );
    if let Err(err) = ctx.store.append_delivery(t, &record).await {
        tracing::warn!(tenant_id = %t, event_id = %c.event_id, error = %err, "could not write the delivery log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_under_one_metric_each() {
        let failed = State::Failed { code: "X".into(), reason: "x".into() };
        let dead = Disposition::DeadLetter { code: "X".into(), reason: "x".into() };
        let skipped = State::Skipped { code: "no_match", reason: "x".into() };
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

    /// The codes this file handles specially must be the troubleshooting rows that say so (the
    /// README's table is rendered from those rows).
    #[test]
    fn special_sync_handling_matches_the_troubleshooting_rows() {
        use std::collections::BTreeSet;
        use sfbridge_salesforce::troubleshooting::{SyncHandling, REST_ERRORS};
        let rows = |handling: SyncHandling| -> BTreeSet<&str> {
            REST_ERRORS.iter().filter(|row| row.handling == handling).flat_map(|row| row.codes.iter().copied()).collect()
        };
        assert_eq!(STALE_MATCH_CODES.iter().copied().collect::<BTreeSet<_>>(), rows(SyncHandling::LookUpAgain));
        assert_eq!(BTreeSet::from([CREATE_ONLY_FIELD]), rows(SyncHandling::RewriteTaskWithoutSubtype));
    }
}
