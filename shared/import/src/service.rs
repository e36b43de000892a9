//! What the admin API offers (Sync Now, a run, the list, cancel) and the schedule's tick.
//!
//! One run per tenant at a time: `IMPORT_CURRENT` names the unfinished one, claimed with a
//! conditional write, so two Sync Now requests at once start one run and the second is answered
//! with it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sfbridge_core::domain::{ImportId, TenantId};
use sfbridge_core::error::Cause;
use sfbridge_core::paging::PageRules;
use sfbridge_core::store::{
    ConnectionStatus, ImportKind, ImportRecord, ImportState, ImportTrigger, ObjectProgress, StoreError,
};

use crate::run::{initial_progress, ImportMessage};
use crate::{ImportError, Importer};

/// The list's page sizes; its cursor is an import id.
pub const IMPORT_PAGES: PageRules = PageRules { list: "imports", default_limit: 20, max_limit: 100 };
/// Tenants the tick reads from the schedule index per page.
const TICK_PAGE: usize = 100;

/// A run as the admin API shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ImportView {
    pub import_id: ImportId,
    pub tenant_id: TenantId,
    pub kind: ImportKind,
    pub trigger: ImportTrigger,
    pub state: ImportState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub objects: Vec<ObjectView>,
    pub events_published: u64,
    pub salesforce_calls: u64,
    pub sqs_messages: u64,
    pub invocations: u64,
    pub errors: Vec<String>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumes_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ObjectView {
    pub object: String,
    pub phase: sfbridge_core::store::ImportPhase,
    /// Changes read since this time (incremental runs); `null`: every record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Deletions found by comparing every record with what earlier runs published.
    pub full_comparison: bool,
    pub records_read: u64,
    pub events_published: u64,
    pub unchanged: u64,
    pub deletions: u64,
    pub pages: u64,
    /// The Bulk API 2.0 query job that read (or reads) the records, for a large full read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_job_id: Option<String>,
}

impl From<&ObjectProgress> for ObjectView {
    fn from(o: &ObjectProgress) -> Self {
        Self {
            object: o.object.as_str().to_owned(),
            phase: o.phase,
            since: o.since,
            full_comparison: o.compare,
            records_read: o.read,
            events_published: o.published,
            unchanged: o.unchanged,
            deletions: o.deletions,
            pages: o.pages,
            bulk_job_id: o.bulk.as_ref().map(|b| b.job_id.clone()),
        }
    }
}

impl From<&ImportRecord> for ImportView {
    fn from(r: &ImportRecord) -> Self {
        Self {
            import_id: r.import_id.clone(),
            tenant_id: r.tenant_id.clone(),
            kind: r.kind,
            trigger: r.trigger,
            state: r.state,
            message: r.message.clone(),
            objects: r.objects.iter().map(ObjectView::from).collect(),
            events_published: r.events_published(),
            salesforce_calls: r.salesforce_calls,
            sqs_messages: r.sqs_messages,
            invocations: r.invocations,
            errors: r.errors.clone(),
            created_at: r.created_at,
            ended_at: r.ended_at,
            resumes_at: r.resumes_at,
            updated_at: r.updated_at,
        }
    }
}

/// What Sync Now did: started a run, or found one running.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub started: bool,
    #[serde(flatten)]
    pub import: ImportView,
}

/// `POST /v1/tenants/{t}/imports`: starts a run (full when asked, or when no run finished yet;
/// else incremental), or answers with the unfinished one.
pub async fn start(imp: &Importer, t: &TenantId, trigger: ImportTrigger, full: bool) -> Result<Started, ImportError> {
    let settings = imp.store.settings(t).await?.map(|s| s.settings.import).unwrap_or_default();
    if settings.objects.is_empty() {
        return Err(ImportError::NotConfigured);
    }
    match imp.store.connection(t).await? {
        Some(c) if c.status == ConnectionStatus::Connected => {}
        _ => return Err(ImportError::NotConnected),
    }
    let current = imp.store.current_import(t).await?;
    let mut finished = None;
    if let Some(id) = current {
        match imp.store.import(t, &id).await? {
            Some(running) if !running.state.is_finished() => return Ok(Started { started: false, import: ImportView::from(&running) }),
            _ => finished = Some(id),
        }
    }
    let now = imp.clock.now();
    let mut objects = Vec::with_capacity(settings.objects.len());
    let mut any_watermark = false;
    for o in &settings.objects {
        let watermark = imp.store.watermark(t, &o.object).await?.map(|w| w.read_from);
        any_watermark |= watermark.is_some();
        objects.push(initial_progress(&o.object, watermark, full, imp, now));
    }
    let record = ImportRecord {
        import_id: ImportId::new(now),
        tenant_id: t.clone(),
        kind: if full || !any_watermark { ImportKind::Full } else { ImportKind::Incremental },
        trigger,
        state: ImportState::Queued,
        message: None,
        objects,
        step: 0,
        lease_until: None,
        salesforce_calls: 0,
        sqs_messages: 0,
        invocations: 0,
        failures: 0,
        errors: Vec::new(),
        cancel_requested: false,
        created_at: now,
        ended_at: None,
        resumes_at: None,
        updated_at: now,
        version: 1,
    };
    // The record first (a message for a run that does not exist yet would be dropped), then the
    // claim, so a concurrent request never takes a claimed run's missing record for a finished one.
    imp.store.save_import(&record, None).await?;
    match imp.store.claim_current_import(t, &record.import_id, finished.as_ref()).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            // Another request started a run meanwhile: this one never runs; say so in the list.
            let mut superseded = record.clone();
            superseded.state = ImportState::Cancelled;
            superseded.message = Some("not started: another request started a run at the same time".into());
            superseded.ended_at = Some(now);
            superseded.version += 1;
            imp.store.save_import(&superseded, Some(record.version)).await?;
            let winner = imp.store.current_import(t).await?;
            if let Some(running) = match winner {
                Some(id) => imp.store.import(t, &id).await?,
                None => None,
            } {
                return Ok(Started { started: false, import: ImportView::from(&running) });
            }
            return Err(ImportError::Unavailable(Cause::context("starting the import", StoreError::Conflict)));
        }
        Err(e) => return Err(e.into()),
    }
    let sent = imp.imports.send(vec![ImportMessage::of(&record).outgoing(None)]).await;
    if let Some(Err(e)) = sfbridge_core::queue::one_answer_each(1, sent).into_iter().next() {
        // Not started after all: the run ends here, so the next Sync Now can start one.
        let mut failed = record.clone();
        failed.state = ImportState::Failed;
        failed.message = Some("the import queue did not take the run; start it again".into());
        failed.ended_at = Some(now);
        failed.version += 1;
        imp.store.save_import(&failed, Some(record.version)).await?;
        return Err(ImportError::Unavailable(Cause::context("queueing the import", e)));
    }
    tracing::info!(tenant_id = %t, import_id = %record.import_id, kind = ?record.kind, trigger = ?trigger, "import started");
    Ok(Started { started: true, import: ImportView::from(&record) })
}

/// `GET /v1/tenants/{t}/imports/{id}`.
pub async fn view(imp: &Importer, t: &TenantId, id: &ImportId) -> Result<ImportView, ImportError> {
    let record = imp.store.import(t, id).await?.ok_or_else(|| ImportError::NotFound(id.to_string()))?;
    Ok(ImportView::from(&record))
}

/// `GET /v1/tenants/{t}/imports`: newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct ImportList {
    pub imports: Vec<ImportView>,
    pub next_cursor: Option<String>,
}

pub async fn list(imp: &Importer, t: &TenantId, limit: Option<&str>, cursor: Option<&str>) -> Result<ImportList, ImportError> {
    let page = IMPORT_PAGES.check(t, limit, cursor)?;
    let (records, next) = imp.store.imports(t, page.limit, page.cursor.as_deref()).await?;
    let next_cursor = next.map(|position| IMPORT_PAGES.cursor(t, &position));
    Ok(ImportList { imports: records.iter().map(ImportView::from).collect(), next_cursor })
}

/// `DELETE /v1/tenants/{t}/imports/{id}`: asks the run to stop; it stops before its next page (a
/// run waiting or parked stops at once).
pub async fn cancel(imp: &Importer, t: &TenantId, id: &ImportId) -> Result<ImportView, ImportError> {
    for _ in 0..3 {
        let mut record = imp.store.import(t, id).await?.ok_or_else(|| ImportError::NotFound(id.to_string()))?;
        if record.state.is_finished() {
            return Err(ImportError::Finished(id.to_string(), state_name(record.state)));
        }
        let expected = record.version;
        record.version += 1;
        record.cancel_requested = true;
        record.updated_at = imp.clock.now();
        let idle = matches!(record.state, ImportState::Waiting | ImportState::Parked | ImportState::Queued)
            && record.lease_until.is_none_or(|until| until <= record.updated_at);
        if idle {
            // No invocation will see the cancel: abort its Bulk job (if any) here.
            crate::run::abort_jobs(imp, &mut record).await;
            record.state = ImportState::Cancelled;
            record.message = Some("cancelled by an admin".into());
            record.ended_at = Some(record.updated_at);
            record.resumes_at = None;
        }
        match imp.store.save_import(&record, Some(expected)).await {
            Ok(()) => {
                tracing::info!(tenant_id = %t, import_id = %id, "import cancel requested");
                return Ok(ImportView::from(&record));
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ImportError::Unavailable(Cause::context("cancelling the import", StoreError::Conflict)))
}

fn state_name(state: ImportState) -> &'static str {
    match state {
        ImportState::Completed => "completed",
        ImportState::Failed => "failed",
        ImportState::Cancelled => "cancelled",
        _ => "unfinished",
    }
}

/// What one tick did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct TickReport {
    /// Tenants whose scheduled run started.
    pub started: Vec<String>,
    /// Parked runs resumed after a reconnect.
    pub resumed: Vec<String>,
    /// Tenants the tick could not handle (the reason is logged); tried again next tick.
    pub failed: Vec<String>,
}

/// The schedule's tick: starts an incremental run for each tenant whose schedule is due (and has
/// no run going), and resumes each parked run whose connection works again.
pub async fn tick(imp: &Importer) -> Result<TickReport, ImportError> {
    let mut report = TickReport::default();
    let now = imp.clock.now();
    let mut after: Option<String> = None;
    loop {
        let (entries, next) = imp.store.import_schedules(TICK_PAGE, after.as_deref()).await?;
        for entry in entries {
            let t = entry.tenant_id.clone();
            let outcome = match &entry.parked {
                Some(parked) => resume_parked(imp, &t, parked).await.map(|resumed| resumed.then(|| report.resumed.push(t.to_string()))),
                None if entry.next_due <= now && entry.schedule.interval().is_some() => match start(imp, &t, ImportTrigger::Schedule, false).await {
                    Ok(s) if s.started => {
                        report.started.push(t.to_string());
                        Ok(Some(()))
                    }
                    Ok(_) => Ok(None),
                    // Not connected or nothing to import: nothing to do until that changes.
                    Err(ImportError::NotConnected | ImportError::NotConfigured) => Ok(None),
                    Err(e) => Err(e),
                },
                None => Ok(None),
            };
            if let Err(e) = outcome {
                tracing::warn!(tenant_id = %t, error = %sfbridge_core::error::chain(&e), "import tick could not handle the tenant");
                report.failed.push(t.to_string());
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(report)
}

/// Puts a parked run back on the import queue once the tenant's connection works again.
async fn resume_parked(imp: &Importer, t: &TenantId, id: &ImportId) -> Result<bool, ImportError> {
    match imp.store.connection(t).await? {
        Some(c) if c.status == ConnectionStatus::Connected => {}
        _ => return Ok(false),
    }
    let mut record = match imp.store.import(t, id).await? {
        Some(record) if record.state == ImportState::Parked => record,
        // Cancelled (or gone) meanwhile: nothing to resume; forget it.
        _ => {
            clear_parked(imp, t).await?;
            return Ok(false);
        }
    };
    let expected = record.version;
    record.step += 1;
    record.version += 1;
    record.state = ImportState::Queued;
    record.message = Some("resumed after the reconnect".into());
    record.updated_at = imp.clock.now();
    let sent = imp.imports.send(vec![ImportMessage::of(&record).outgoing(None)]).await;
    if let Some(Err(e)) = sfbridge_core::queue::one_answer_each(1, sent).into_iter().next() {
        return Err(ImportError::Unavailable(Cause::context("resuming the parked import", e)));
    }
    imp.store.save_import(&record, Some(expected)).await?;
    clear_parked(imp, t).await?;
    tracing::info!(tenant_id = %t, import_id = %id, "parked import resumed after the reconnect");
    Ok(true)
}

/// Takes the parked run out of the tenant's schedule entry (and the entry out of the index when
/// the tenant has no schedule).
async fn clear_parked(imp: &Importer, t: &TenantId) -> Result<(), ImportError> {
    if let Some(mut schedule) = imp.store.import_schedule(t).await? {
        schedule.parked = None;
        let keep = schedule.schedule.interval().is_some();
        imp.store.set_import_schedule(t, keep.then_some(&schedule)).await?;
    }
    Ok(())
}
