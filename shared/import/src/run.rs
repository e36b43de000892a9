//! One invocation of a run: claim it, read its next pages, publish them, save where it stands
//! after each page, and hand on to the next invocation before the deadline.
//!
//! **Continuation.** Each message names the run and a step; the run record holds the step it is
//! at. An invocation works only on the step the record is at: a message for an older step (a
//! duplicate) is dropped, one for a newer step (sent, but its record not saved yet) comes back
//! later. Handing on sends the next step's message first and then saves the record at that step;
//! if the save fails, the invocation fails and SQS brings its own message back, which redoes the
//! step from the last saved page.
//!
//! **No gap, no duplicate.** Progress (the last id read) is saved after each page is published and
//! its markers written, so a cut-off resumes after the last published page. A crash between a
//! page's publish and its save publishes that page again: the events carry the same ids (see
//! [`crate::events`]), and the markers make every later read of those records a no-op.
//!
//! **Bulk.** A read of every record of a large object goes through a Bulk API 2.0 query job
//! instead of REST pages ([`bulk`]); its progress is the job, the set of results and the rows of
//! that set already published.

mod bulk;

pub use bulk::MAX_BULK_POLL_WAIT;
pub(crate) use bulk::abort_jobs;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sfbridge_core::domain::{ImportId, ObjectName, SalesforceId, TenantId};
use sfbridge_core::error::Cause;
use sfbridge_core::queue::OutgoingMessage;
use sfbridge_core::store::{
    ConnectionStatus, ImportObject, ImportPhase, ImportRecord, ImportScheduleRecord, ImportState, ObjectProgress, RecordMarker,
    StoreError, TenantSettings, WatermarkRecord,
};
use sfbridge_salesforce::fields::{Catalog, ObjectFields};
use sfbridge_salesforce::rest::{ApiUsage, QueryPage, Reply, RestError};
use sfbridge_salesforce::{CallError, Session, SessionError};

use crate::events::{self, Change, PageContext, Record};
use crate::{soql, ImportError, Importer};

/// The import queue's message: run `import_id` of `tenant_id`, at `step`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMessage {
    pub tenant_id: TenantId,
    pub import_id: ImportId,
    pub step: u64,
}

impl ImportMessage {
    pub(crate) fn of(record: &ImportRecord) -> Self {
        Self { tenant_id: record.tenant_id.clone(), import_id: record.import_id.clone(), step: record.step }
    }

    pub(crate) fn outgoing(&self, delay: Option<Duration>) -> OutgoingMessage {
        let body = serde_json::to_string(self).unwrap_or_default();
        let message = OutgoingMessage::new(body).with_group_id(self.tenant_id.as_str());
        match delay {
            Some(delay) => message.with_delay(delay.min(sfbridge_core::queue::MAX_DELAY)),
            None => message,
        }
    }
}

/// How long an invocation holds a run: longer than the function's timeout (15 min), so a lease
/// is never taken from a live invocation.
const LEASE: chrono::Duration = chrono::Duration::minutes(16);

/// What became of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Done with (the run moved on, finished, or was handed on): delete the message.
    Done,
    /// Not now (the run is busy elsewhere, or the store failed): let SQS bring it back.
    Retry(String),
}

/// Handles one import-queue message, stopping before `deadline`.
pub async fn handle(imp: &Importer, body: &str, deadline: tokio::time::Instant) -> Handled {
    let message: ImportMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(e) => {
            // Not ours to fix by retrying: SQS would only bring it back until the dead-letter queue.
            tracing::error!(error = %e, "an import message that is not one; dropped");
            return Handled::Done;
        }
    };
    match step(imp, &message, deadline).await {
        Ok(handled) => handled,
        Err(e) => {
            tracing::warn!(tenant_id = %message.tenant_id, import_id = %message.import_id, error = %sfbridge_core::error::chain(&e), "import step not done; retried");
            Handled::Retry(e.to_string())
        }
    }
}

async fn step(imp: &Importer, message: &ImportMessage, deadline: tokio::time::Instant) -> Result<Handled, ImportError> {
    let t = &message.tenant_id;
    let Some(mut record) = imp.store.import(t, &message.import_id).await? else { return Ok(Handled::Done) };
    if record.state.is_finished() || message.step < record.step {
        return Ok(Handled::Done);
    }
    let now = imp.clock.now();
    if message.step > record.step {
        return Ok(Handled::Retry("the run's record is not at this step yet".into()));
    }
    if record.lease_until.is_some_and(|until| until > now) {
        return Ok(Handled::Retry("another invocation is working on this run".into()));
    }
    record.lease_until = Some(now + LEASE);
    record.state = ImportState::Running;
    record.resumes_at = None;
    record.invocations += 1;
    match save(imp, &mut record).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Ok(Handled::Retry("the run changed while claiming it".into())),
        Err(e) => return Err(e.into()),
    }
    let mut run = Run { imp, record, pages_this_invocation: 0, deadline, budget_percent: TenantSettings::DEFAULT_API_BUDGET_PERCENT };
    let outcome = run.work().await;
    run.settle(outcome).await
}

/// Saves the record at its version and moves the version on; a cancel that landed meanwhile is
/// taken in (the only other writer while a lease is held).
async fn save(imp: &Importer, record: &mut ImportRecord) -> Result<(), StoreError> {
    record.updated_at = imp.clock.now();
    let expected = record.version;
    record.version += 1;
    match imp.store.save_import(record, Some(expected)).await {
        Err(StoreError::Conflict) => {
            let Some(fresh) = imp.store.import(&record.tenant_id, &record.import_id).await? else { return Err(StoreError::Conflict) };
            // Another invocation claimed the run since (our lease had run out): it is theirs.
            if fresh.invocations != record.invocations {
                return Err(StoreError::Conflict);
            }
            record.cancel_requested |= fresh.cancel_requested;
            record.version = fresh.version + 1;
            imp.store.save_import(record, Some(fresh.version)).await
        }
        other => {
            if other.is_err() {
                record.version = expected;
            }
            other
        }
    }
}

/// Why an invocation stopped working on a run.
enum Stop {
    /// Every object is done.
    Finished,
    /// The deadline (or the test limit on pages) is near: the next invocation goes on.
    HandOn,
    /// Over the tenant's API budget: wait, then go on.
    Budget(ApiUsage),
    /// Salesforce or the store failed: try again later (or give up after too many in a row).
    Failed(String),
    /// The connection needs an admin to reconnect.
    Parked,
    /// Waiting for Salesforce (a Bulk query job still running): the next invocation after `wait`.
    Poll { wait: Duration, message: String },
    /// Cannot go on: not connected any more, or the settings do not fit the org.
    Fatal(String),
    Cancelled,
}

struct Run<'a> {
    imp: &'a Importer,
    record: ImportRecord,
    pages_this_invocation: usize,
    deadline: tokio::time::Instant,
    /// The tenant's `api_budget_percent`, as activity sync uses it.
    budget_percent: u8,
}

impl Run<'_> {
    async fn work(&mut self) -> Stop {
        if self.record.cancel_requested {
            return Stop::Cancelled;
        }
        let t = self.record.tenant_id.clone();
        let settings = match self.imp.store.settings(&t).await {
            Ok(s) => s.map(|s| s.settings).unwrap_or_default(),
            Err(e) => return Stop::Failed(format!("settings unavailable: {e}")),
        };
        self.budget_percent = settings.api_budget_percent;
        let settings = settings.import;
        let org = match self.imp.store.connection(&t).await {
            Ok(Some(c)) if c.status == ConnectionStatus::Connected => c.organization_id,
            Ok(Some(c)) if c.status == ConnectionStatus::ReauthRequired => return Stop::Parked,
            Ok(_) => return Stop::Fatal("the tenant is not connected to Salesforce any more; connect it and start a new import".into()),
            Err(e) => return Stop::Failed(format!("connection unavailable: {e}")),
        };
        let mut session = match self.imp.sessions.current(&t).await {
            Ok(s) => s,
            Err(SessionError::ReauthRequired(_)) => return Stop::Parked,
            Err(SessionError::NotConnected(_)) => return Stop::Fatal("the tenant is not connected to Salesforce any more".into()),
            Err(SessionError::Transient(e)) => return Stop::Failed(format!("no Salesforce session: {e}")),
        };
        // The describes say which fields exist and how to write filter values; one Composite call
        // when the cache is stale, none when fresh.
        let objects: Vec<ObjectName> = self.record.objects.iter().filter(|o| o.phase != ImportPhase::Done).map(|o| o.object.clone()).collect();
        let mut catalog = Catalog::load(&self.imp.store, &t, org.as_str(), objects.clone()).await;
        let requests = catalog.requests(self.imp.clock.now(), false);
        if !requests.is_empty() {
            let imp = self.imp;
            let describe = |s: Session| {
                let requests = requests.clone();
                async move { imp.rest.composite(&s, requests).await }
            };
            match self.call(&mut session, describe).await {
                Ok(answers) => catalog.absorb(&self.imp.store, &t, org.as_str(), &answers, self.imp.clock.now()).await,
                Err(stop) => return stop,
            }
        }
        for i in 0..self.record.objects.len() {
            let object_name = self.record.objects[i].object.clone();
            let Some(settings_object) = settings.objects.iter().find(|o| o.object.as_str().eq_ignore_ascii_case(object_name.as_str())).cloned() else {
                // Taken out of the settings since the run started: nothing more to read for it.
                self.record.objects[i].phase = ImportPhase::Done;
                continue;
            };
            if catalog.is_missing(object_name.as_str()) {
                return Stop::Fatal(format!("the org has no object {object_name} (or the connected user cannot see it); fix the import settings"));
            }
            let Some(described) = catalog.fields(object_name.as_str()) else {
                return Stop::Failed(format!("could not describe {object_name}"));
            };
            let missing: Vec<&str> = settings_object.fields.iter().map(|f| f.as_str()).filter(|f| described.field(f).is_none()).collect();
            if !missing.is_empty() {
                return Stop::Fatal(format!(
                    "{object_name} has no field {} (or the connected user cannot see it); fix import.objects or the field-level security",
                    missing.join(", ")
                ));
            }
            let filter = match soql::filter(&settings_object, described) {
                Ok(filter) => filter,
                Err(why) => return Stop::Fatal(why),
            };
            let object = ObjectPlan { settings: settings_object, filter, org: org.clone(), described: described.clone() };
            while self.record.objects[i].phase != ImportPhase::Done {
                if let Some(stop) = self.before_page() {
                    return stop;
                }
                let result = match self.record.objects[i].phase {
                    ImportPhase::Changes => match self.bulk_changes(&mut session, i, &object).await {
                        Some(result) => result,
                        None => self.query_page(&mut session, i, &object).await,
                    },
                    ImportPhase::Deletes => self.query_page(&mut session, i, &object).await,
                    ImportPhase::Compare => self.compare_page(i, &object).await,
                    ImportPhase::Done => Ok(()),
                };
                if let Err(stop) = result {
                    return stop;
                }
            }
        }
        Stop::Finished
    }

    /// Whether to stop before the next page: the deadline, the test limit, a cancel.
    fn before_page(&self) -> Option<Stop> {
        if self.record.cancel_requested {
            return Some(Stop::Cancelled);
        }
        let left = self.deadline.saturating_duration_since(tokio::time::Instant::now());
        let limited = self.imp.limits.pages_per_invocation.is_some_and(|n| self.pages_this_invocation >= n);
        (left < self.imp.limits.deadline_margin || limited).then_some(Stop::HandOn)
    }

    /// One Salesforce call with the run's session (refreshed once on a 401), counted, its usage
    /// checked against the tenant's budget.
    async fn call<T, F, Fut>(&mut self, session: &mut Session, call: F) -> Result<T, Stop>
    where
        F: Fn(Session) -> Fut,
        Fut: std::future::Future<Output = Result<Reply<T>, RestError>>,
    {
        let t = self.record.tenant_id.clone();
        let made = std::sync::atomic::AtomicU64::new(0);
        let counted = |s: Session| {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            sfbridge_core::metrics::add(sfbridge_core::metrics::Counter::SalesforceApiCalls, 1);
            call(s)
        };
        let result = self.imp.sessions.with_session(&t, session, counted).await;
        self.record.salesforce_calls += made.load(std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(reply) => {
                if let Some(usage) = reply.usage.filter(|u| u.percent() >= f64::from(self.budget_percent)) {
                    return Err(Stop::Budget(usage));
                }
                Ok(reply.value)
            }
            Err(CallError::Session(SessionError::ReauthRequired(_))) => Err(Stop::Parked),
            Err(CallError::Session(SessionError::NotConnected(_))) => Err(Stop::Fatal("the tenant is not connected to Salesforce any more".into())),
            Err(CallError::Session(SessionError::Transient(e))) => Err(Stop::Failed(format!("no Salesforce session: {e}"))),
            Err(CallError::Rest(e)) if e.code == "REQUEST_LIMIT_EXCEEDED" => {
                Err(Stop::Budget(ApiUsage { used: 1, max: 1 }))
            }
            Err(CallError::Rest(e)) if e.class == sfbridge_salesforce::rest::ErrorClass::Permanent => {
                Err(Stop::Fatal(format!("Salesforce refused the import's query: {e}")))
            }
            Err(CallError::Rest(e)) => Err(Stop::Failed(format!("Salesforce: {e}"))),
        }
    }

    /// The next page of changes (or, in the deletes phase, of deletions): published, marked, saved.
    async fn query_page(&mut self, session: &mut Session, i: usize, object: &ObjectPlan) -> Result<(), Stop> {
        let limit = self.imp.limits.page_size;
        let progress = &self.record.objects[i];
        let deleting = progress.phase == ImportPhase::Deletes;
        let soql = if deleting {
            soql::deletions(&object.settings, &object.filter, progress.since, progress.after_id.as_ref(), limit)
        } else {
            soql::changes(&object.settings, &object.filter, if progress.compare { None } else { progress.since }, progress.after_id.as_ref(), limit)
        };
        let imp = self.imp;
        let first = |s: Session| {
            let soql = soql.clone();
            async move { imp.rest.query_page(&s, &soql, deleting).await }
        };
        let mut page: QueryPage = self.call(session, first).await?;
        let mut read_in_query = 0;
        loop {
            let records: Vec<Record> = page.records.drain(..).filter_map(Record::from_answer).collect();
            read_in_query += records.len();
            let next = page.next_records_url.take();
            if !records.is_empty() {
                self.publish_page(i, object, &records, deleting).await?;
            }
            match next {
                // Salesforce split the answer into smaller batches: go on through them while time allows.
                Some(next) if self.before_page().is_none() => {
                    let following = |s: Session| {
                        let next = next.clone();
                        async move { imp.rest.next_page(&s, &next).await }
                    };
                    page = self.call(session, following).await?;
                }
                // Out of time with batches left: the next invocation asks again after the last id.
                Some(_) => return Ok(()),
                None => break,
            }
        }
        if read_in_query < limit {
            self.next_phase(i);
            self.save_progress().await?;
        }
        Ok(())
    }

    /// Publishes one page's records that the markers do not already have at their stamp, writes
    /// their markers, and saves the run's progress after the page.
    async fn publish_page(&mut self, i: usize, object: &ObjectPlan, records: &[Record], deleting: bool) -> Result<(), Stop> {
        self.publish_records(i, object, records, deleting).await?;
        self.save_progress().await
    }

    /// [`Self::publish_page`] without the save: the caller records where it stands first.
    async fn publish_records(&mut self, i: usize, object: &ObjectPlan, records: &[Record], deleting: bool) -> Result<(), Stop> {
        let t = self.record.tenant_id.clone();
        let name = &self.record.objects[i].object.clone();
        let ids: Vec<&SalesforceId> = records.iter().map(|r| &r.id).collect();
        let markers = self.imp.store.record_markers(&t, name, &ids).await.map_err(|e| Stop::Failed(format!("markers unavailable: {e}")))?;
        let changes = events::changes(records, &markers, deleting);
        let to_publish: Vec<(&Record, Change)> = records.iter().zip(&changes).filter_map(|(r, c)| Some((r, (*c)?))).collect();
        let now = self.imp.clock.now();
        let ctx = PageContext {
            tenant: &t,
            org: &object.org,
            object: name,
            segment: object.settings.segment.as_ref(),
            import_id: &self.record.import_id,
            now,
        };
        let messages = events::messages(&ctx, &to_publish).map_err(Stop::Fatal)?;
        let sent = events::publish(self.imp.inbound.as_ref(), messages).await.map_err(|e| Stop::Failed(format!("inbound queue: {e}")))?;
        self.record.sqs_messages += sent.div_ceil(10) as u64;
        // Markers: every published record, and in a comparing run every record read (seen).
        let compare = self.record.objects[i].compare && !deleting;
        let seen_by = compare.then(|| self.record.import_id.clone());
        let marked: Vec<RecordMarker> = records
            .iter()
            .zip(&changes)
            .filter(|(_, c)| c.is_some() || compare)
            .map(|(r, _)| RecordMarker { id: r.id.clone(), modstamp: r.modstamp, deleted: deleting, seen_by: seen_by.clone() })
            .collect();
        self.imp.store.save_record_markers(&t, name, &marked, now).await.map_err(|e| Stop::Failed(format!("markers unavailable: {e}")))?;
        let progress = &mut self.record.objects[i];
        progress.read += records.len() as u64;
        progress.pages += 1;
        if deleting {
            progress.deletions += to_publish.len() as u64;
        } else {
            progress.published += to_publish.len() as u64;
            progress.unchanged += (records.len() - to_publish.len()) as u64;
        }
        if let Some(last) = records.last() {
            progress.after_id = Some(last.id.clone());
        }
        self.pages_this_invocation += 1;
        self.record.failures = 0;
        Ok(())
    }

    /// A page of the object's markers: those this run did not see (and not already deleted) are
    /// deletions, published as such.
    async fn compare_page(&mut self, i: usize, object: &ObjectPlan) -> Result<(), Stop> {
        let t = self.record.tenant_id.clone();
        let name = self.record.objects[i].object.clone();
        let after = self.record.objects[i].after_id.as_ref().map(|id| id.as_str().to_owned());
        let (markers, next) = self
            .imp
            .store
            .record_marker_page(&t, &name, self.imp.limits.page_size.min(1_000), after.as_deref())
            .await
            .map_err(|e| Stop::Failed(format!("markers unavailable: {e}")))?;
        let gone: Vec<Record> = markers
            .iter()
            .filter(|m| !m.deleted && m.seen_by.as_ref() != Some(&self.record.import_id))
            .map(|m| Record { id: m.id.clone(), modstamp: m.modstamp, fields: Default::default() })
            .collect();
        let last = markers.last().map(|m| m.id.clone());
        if !gone.is_empty() {
            let changes: Vec<(&Record, Change)> = gone.iter().map(|r| (r, Change::Deleted)).collect();
            let ctx = PageContext {
                tenant: &t,
                org: &object.org,
                object: &name,
                segment: object.settings.segment.as_ref(),
                import_id: &self.record.import_id,
                now: self.imp.clock.now(),
            };
            let messages = events::messages(&ctx, &changes).map_err(Stop::Fatal)?;
            let sent = events::publish(self.imp.inbound.as_ref(), messages).await.map_err(|e| Stop::Failed(format!("inbound queue: {e}")))?;
            self.record.sqs_messages += sent.div_ceil(10) as u64;
            let marked: Vec<RecordMarker> =
                gone.iter().map(|r| RecordMarker { id: r.id.clone(), modstamp: r.modstamp, deleted: true, seen_by: None }).collect();
            self.imp.store.save_record_markers(&t, &name, &marked, self.imp.clock.now()).await.map_err(|e| Stop::Failed(format!("markers unavailable: {e}")))?;
        }
        let progress = &mut self.record.objects[i];
        progress.deletions += gone.len() as u64;
        progress.pages += 1;
        self.pages_this_invocation += 1;
        match (next, last) {
            (Some(_), Some(last)) => progress.after_id = Some(last),
            _ => self.next_phase(i),
        }
        self.save_progress().await
    }

    /// After changes: deletions (from `queryAll`, or by comparison) when an earlier run left a
    /// watermark; then done.
    fn next_phase(&mut self, i: usize) {
        let progress = &mut self.record.objects[i];
        progress.after_id = None;
        progress.phase = match progress.phase {
            ImportPhase::Changes if progress.compare => ImportPhase::Compare,
            ImportPhase::Changes if progress.since.is_some() => ImportPhase::Deletes,
            _ => ImportPhase::Done,
        };
    }

    async fn save_progress(&mut self) -> Result<(), Stop> {
        save(self.imp, &mut self.record).await.map_err(|e| match e {
            StoreError::Conflict => Stop::Failed("the run was changed by another invocation".into()),
            e => Stop::Failed(format!("could not save the run's progress: {e}")),
        })
    }

    /// Ends the invocation as `stop` says: hands on, waits, parks, or finishes the run.
    async fn settle(mut self, stop: Stop) -> Result<Handled, ImportError> {
        let imp = self.imp;
        let now = imp.clock.now();
        self.record.lease_until = None;
        match stop {
            Stop::HandOn => self.hand_on(ImportState::Running, None, None).await,
            Stop::Poll { wait, message } => self.hand_on(ImportState::Waiting, Some(wait), Some(message)).await,
            Stop::Budget(usage) => {
                let wait = imp.limits.budget_wait;
                let message = format!(
                    "waiting: the org has used {:.1}% of its daily API requests, over this tenant's budget; resumes at {}",
                    usage.percent(),
                    (now + chrono::Duration::from_std(wait).unwrap_or_default()).to_rfc3339()
                );
                self.hand_on(ImportState::Waiting, Some(wait), Some(message)).await
            }
            Stop::Failed(why) => {
                self.record.failures += 1;
                if self.record.failures >= imp.limits.max_failures {
                    self.record.errors.push(why.clone());
                    let message = format!("failed {} times in a row; last: {why}", self.record.failures);
                    return self.finish(ImportState::Failed, Some(message)).await;
                }
                let wait = imp.limits.first_retry.saturating_mul(1 << (self.record.failures - 1).min(5)).min(sfbridge_core::queue::MAX_DELAY);
                self.hand_on(ImportState::Waiting, Some(wait), Some(format!("waiting after a failure: {why}"))).await
            }
            Stop::Parked => {
                self.record.state = ImportState::Parked;
                self.record.message = Some("parked: the Salesforce connection needs an admin to reconnect; the import resumes after the reconnect".into());
                save(imp, &mut self.record).await?;
                let t = self.record.tenant_id.clone();
                let existing = imp.store.import_schedule(&t).await?;
                let record = ImportScheduleRecord {
                    tenant_id: t.clone(),
                    schedule: existing.as_ref().map_or(sfbridge_core::store::ImportSchedule::Off, |r| r.schedule),
                    next_due: existing.as_ref().map_or(now, |r| r.next_due),
                    parked: Some(self.record.import_id.clone()),
                    updated_at: now,
                };
                imp.store.set_import_schedule(&t, Some(&record)).await?;
                Ok(Handled::Done)
            }
            Stop::Fatal(why) => {
                self.record.errors.push(why.clone());
                self.finish(ImportState::Failed, Some(why)).await
            }
            Stop::Cancelled => self.finish(ImportState::Cancelled, Some("cancelled by an admin".into())).await,
            Stop::Finished => {
                let t = self.record.tenant_id.clone();
                for o in &self.record.objects {
                    let watermark = WatermarkRecord {
                        object: o.object.clone(),
                        read_from: self.record.created_at,
                        import_id: self.record.import_id.clone(),
                        updated_at: now,
                    };
                    imp.store.save_watermark(&t, &watermark).await?;
                }
                self.finish(ImportState::Completed, None).await
            }
        }
    }

    /// Sends the next step's message (after `delay`), then saves the record at that step.
    async fn hand_on(mut self, state: ImportState, delay: Option<Duration>, message: Option<String>) -> Result<Handled, ImportError> {
        let imp = self.imp;
        self.record.step += 1;
        self.record.state = state;
        self.record.message = message;
        self.record.resumes_at = delay.map(|d| imp.clock.now() + chrono::Duration::from_std(d).unwrap_or_default());
        let next = ImportMessage::of(&self.record).outgoing(delay);
        let sent = imp.imports.send(vec![next]).await;
        if let Some(Err(e)) = sfbridge_core::queue::one_answer_each(1, sent).into_iter().next() {
            return Err(ImportError::Unavailable(Cause::context("sending the import's continuation", e)));
        }
        save(imp, &mut self.record).await?;
        Ok(Handled::Done)
    }

    async fn finish(mut self, state: ImportState, message: Option<String>) -> Result<Handled, ImportError> {
        let imp = self.imp;
        bulk::abort_jobs(imp, &mut self.record).await;
        let now = imp.clock.now();
        self.record.state = state;
        self.record.message = message;
        self.record.ended_at = Some(now);
        self.record.resumes_at = None;
        save(imp, &mut self.record).await?;
        let t = self.record.tenant_id.clone();
        if let Some(mut schedule) = imp.store.import_schedule(&t).await? {
            if schedule.parked.as_ref() == Some(&self.record.import_id) {
                schedule.parked = None;
            }
            if let Some(interval) = schedule.schedule.interval() {
                schedule.next_due = self.record.created_at + interval;
            }
            schedule.updated_at = now;
            imp.store.set_import_schedule(&t, Some(&schedule)).await?;
        }
        tracing::info!(
            tenant_id = %t,
            import_id = %self.record.import_id,
            state = ?state,
            events = self.record.events_published(),
            salesforce_calls = self.record.salesforce_calls,
            "import ended"
        );
        Ok(Handled::Done)
    }
}

/// What one object's pages need besides its progress.
struct ObjectPlan {
    settings: ImportObject,
    filter: String,
    org: SalesforceId,
    /// The object's describe: the fields' types, for reading Bulk results' CSV.
    described: ObjectFields,
}

/// The progress a new run starts an object at. Without a watermark every record is read (and
/// nothing can have been deleted that the product knows of). With one, changes since it less the
/// overlap, and deletions from `queryAll`; but a full run, or a watermark older than the recycle
/// bin keeps, reads every record and finds deletions by comparing with the markers.
pub(crate) fn initial_progress(object: &ObjectName, watermark: Option<DateTime<Utc>>, full: bool, imp: &Importer, now: DateTime<Utc>) -> ObjectProgress {
    let since = watermark.map(|w| w - imp.limits.overlap);
    let compare = since.is_some_and(|s| full || now - s > imp.limits.recycle_bin);
    ObjectProgress {
        object: object.clone(),
        phase: ImportPhase::Changes,
        after_id: None,
        since,
        compare,
        read: 0,
        published: 0,
        unchanged: 0,
        deletions: 0,
        pages: 0,
        counted: None,
        bulk: None,
    }
}
