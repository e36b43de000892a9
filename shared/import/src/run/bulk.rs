//! The changes phase of a large read of every record, through a Bulk API 2.0 query job
//! (Bulk API 2.0 and Bulk API Developer Guide, "Bulk API 2.0 Query") instead of REST pages.
//!
//! **When.** A full or comparing run counts the object's records first (`SELECT COUNT()`, one
//! call, kept in the progress); at [`crate::ImportLimits::bulk_threshold`] or more it creates a
//! job for `SELECT Id, SystemModstamp, <fields> FROM <object> WHERE <filter>`. Incremental runs
//! read what changed since the watermark, usually little, and always page by REST.
//!
//! **Polling.** A job is queued, then runs, in Salesforce. The invocation does not sleep: it
//! saves the job id and hands on with a delay ([`crate::ImportLimits::bulk_first_poll`], doubling
//! up to [`super::MAX_BULK_POLL_WAIT`]), the run `waiting` with a message naming the job.
//!
//! **Reading.** The results come in sets of `maxRecords` rows, each named by a locator that
//! "does not change as long as the job exists"; a set is one call, held in memory once and parsed
//! a row at a time into batches of [`crate::ImportLimits::page_size`] records, each published,
//! marked and saved as a REST page is. The progress is the job, the set's locator and the rows of
//! it published: a run stopped anywhere (deadline, the page limit, a crash) reads that set again
//! and skips those rows, so no row is missed and none is counted twice; a crash between a batch's
//! publish and its save publishes nothing again either (the markers have the batch at its stamps;
//! it is counted as `unchanged`).
//!
//! **The snapshot.** A job reads the records as they are when it starts running. A record
//! changed after that is not in its results as changed; the next incremental run reads changes
//! from this run's start (less the overlap), which is before the job's snapshot, so it reads it.
//!
//! **A failed job** (`Failed`, or `Aborted` by someone in the org) makes the run read that object
//! by REST paging from the start, with Salesforce's message in the run's `errors`: a job fails
//! for reasons of Salesforce's (a query timeout, an internal error), and the same records in
//! pages of 2,000 still reach the product, at REST's cost; failing the run instead would leave
//! the admin nothing to do but start it again. A job that is gone (its results kept 7 days, a
//! run parked longer) is created again.
//!
//! **Cancel and failure.** A run that ends without reading its job (cancelled, failed) aborts it
//! (best effort: otherwise it completes on its own, and Salesforce deletes it after 7 days).

use std::time::Duration;

use sfbridge_core::domain::SalesforceId;
use sfbridge_core::store::{BulkJobState, BulkProgress, ImportRecord};
use sfbridge_salesforce::bulk::{self as sf_bulk, JobState, QueryOperation, ResultRow, ResultsPage};
use sfbridge_salesforce::fields::{FieldType, ObjectFields};
use sfbridge_salesforce::rest::{Reply, RestError};
use sfbridge_salesforce::Session;
use serde_json::{Map, Value};

use super::{ObjectPlan, Run, Stop};
use crate::events::{parse_modstamp, Record};
use crate::{soql, Importer};

/// The longest wait between two polls of a Bulk job.
pub const MAX_BULK_POLL_WAIT: Duration = Duration::from_secs(60);

impl Run<'_> {
    /// The next step of object `i`'s changes in bulk; `None` when they are read by REST paging
    /// (an incremental run, fewer records than the threshold, a job that failed).
    pub(super) async fn bulk_changes(&mut self, session: &mut Session, i: usize, object: &ObjectPlan) -> Option<Result<(), Stop>> {
        let threshold = self.imp.limits.bulk_threshold?;
        let progress = &self.record.objects[i];
        if progress.since.is_some() && !progress.compare {
            return None;
        }
        match progress.bulk.as_ref().map(|b| b.state) {
            Some(BulkJobState::Abandoned | BulkJobState::Done) => return None,
            Some(BulkJobState::Running | BulkJobState::Reading) => return Some(self.bulk_step(session, i, object).await),
            None => {}
        }
        let counted = match progress.counted {
            Some(n) => n,
            None => match self.count(session, i, object).await {
                Ok(n) => n,
                Err(stop) => return Some(Err(stop)),
            },
        };
        (counted >= threshold).then_some(())?;
        Some(self.create_job(session, i, object).await)
    }

    /// `SELECT COUNT()` of what a read of every record would read; saved, so it is asked once.
    async fn count(&mut self, session: &mut Session, i: usize, object: &ObjectPlan) -> Result<u64, Stop> {
        let imp = self.imp;
        let soql = soql::count(&object.settings, &object.filter);
        let count = |s: Session| {
            let soql = soql.clone();
            async move { imp.rest.count(&s, &soql).await }
        };
        let n = self.call(session, count).await?;
        self.record.objects[i].counted = Some(n);
        self.save_progress().await?;
        Ok(n)
    }

    async fn create_job(&mut self, session: &mut Session, i: usize, object: &ObjectPlan) -> Result<(), Stop> {
        let imp = self.imp;
        let soql = soql::bulk_changes(&object.settings, &object.filter);
        // The job exists once Salesforce answers, even when the answer says the org is over the
        // tenant's budget: kept, so the run polls it after the wait instead of creating another.
        let created = std::sync::Mutex::new(None);
        let create = |s: Session| {
            let (soql, created) = (soql.clone(), &created);
            async move {
                let reply = imp.rest.create_query_job(&s, &soql, QueryOperation::Query).await;
                if let (Ok(reply), Ok(mut id)) = (&reply, created.lock()) {
                    *id = Some(reply.value.id.clone());
                }
                reply
            }
        };
        let result = self.call(session, create).await;
        let Some(job_id) = created.into_inner().ok().flatten() else { return result.map(|_| ()) };
        let (t, run) = (&self.record.tenant_id, &self.record.import_id);
        tracing::info!(tenant_id = %t, import_id = %run, object = %object.settings.object, job_id = %job_id, "bulk query job created");
        self.record.objects[i].bulk = Some(BulkProgress { job_id, state: BulkJobState::Running, locator: None, offset: 0, polls: 0 });
        self.record.failures = 0;
        self.save_progress().await?;
        Err(result.err().unwrap_or_else(|| self.poll_later(i)))
    }

    async fn bulk_step(&mut self, session: &mut Session, i: usize, object: &ObjectPlan) -> Result<(), Stop> {
        if self.bulk(i).state == BulkJobState::Running && !self.poll(session, i).await? {
            return Ok(());
        }
        while self.record.objects[i].bulk.as_ref().is_some_and(|b| b.state == BulkJobState::Reading) {
            if let Some(stop) = self.before_page() {
                return Err(stop);
            }
            self.read_set(session, i, object).await?;
        }
        Ok(())
    }

    /// One poll: `Ok(true)` when the job is complete (its results can be read); `Ok(false)` when
    /// it was given up (the object goes on by REST, or with a new job); else the run hands on.
    async fn poll(&mut self, session: &mut Session, i: usize) -> Result<bool, Stop> {
        let imp = self.imp;
        let job_id = self.bulk(i).job_id.clone();
        let info = |s: Session| {
            let job_id = job_id.clone();
            async move { gone_is_none(imp.rest.query_job(&s, &job_id).await) }
        };
        let Some(job) = self.call(session, info).await? else {
            self.job_gone(i).await?;
            return Ok(false);
        };
        self.record.failures = 0;
        let bulk = self.bulk_mut(i);
        bulk.polls += 1;
        match job.state {
            JobState::JobComplete => {
                bulk.state = BulkJobState::Reading;
                self.save_progress().await?;
                Ok(true)
            }
            JobState::Failed | JobState::Aborted => {
                bulk.state = BulkJobState::Abandoned;
                let why = job.error_message.unwrap_or_else(|| "no message".into());
                let state = if job.state == JobState::Failed { "failed" } else { "was aborted" };
                let name = &self.record.objects[i].object;
                let note =
                    format!("the Bulk API query job {job_id} for {name} {state} in Salesforce ({why}); {name} is read by REST paging instead");
                let (t, run) = (&self.record.tenant_id, &self.record.import_id);
                tracing::warn!(tenant_id = %t, import_id = %run, job_id = %job_id, reason = %why, "bulk query job did not complete; reading by REST");
                self.record.errors.push(note);
                self.save_progress().await?;
                Ok(false)
            }
            JobState::UploadComplete | JobState::InProgress | JobState::Unknown => {
                self.save_progress().await?;
                Err(self.poll_later(i))
            }
        }
    }

    /// Reads the set of results the progress is at, from the row after the last one published,
    /// batch by batch until the set ends or the invocation must stop.
    async fn read_set(&mut self, session: &mut Session, i: usize, object: &ObjectPlan) -> Result<(), Stop> {
        let imp = self.imp;
        let bulk = self.bulk(i).clone();
        let columns = soql::columns(&object.settings).len();
        let max_records = imp.limits.bulk_max_records.unwrap_or_else(|| sf_bulk::max_records_for(columns));
        let fetch = |s: Session| {
            let (job_id, locator) = (bulk.job_id.clone(), bulk.locator.clone());
            async move { gone_is_none(imp.rest.query_job_results(&s, &job_id, locator.as_deref(), max_records).await) }
        };
        let Some(set) = self.call(session, fetch).await? else { return self.job_gone(i).await };
        let unreadable = |e: RestError| Stop::Failed(format!("Salesforce's query results: {e}"));
        let (header, rows) = set.rows().map_err(unreadable)?;
        let reader = RowReader::new(&header, &object.described).map_err(Stop::Fatal)?;
        let skip = usize::try_from(bulk.offset).unwrap_or(usize::MAX);
        let mut rows = rows.skip(skip).peekable();
        let batch_size = imp.limits.page_size.max(1);
        while rows.peek().is_some() {
            let mut records = Vec::with_capacity(batch_size);
            let mut taken = 0u64;
            for row in rows.by_ref().take(batch_size) {
                taken += 1;
                records.extend(reader.record(&row.map_err(unreadable)?));
            }
            if !records.is_empty() {
                self.publish_records(i, object, &records, false).await?;
            }
            self.bulk_mut(i).offset += taken;
            self.save_progress().await?;
            if rows.peek().is_some() {
                if let Some(stop) = self.before_page() {
                    return Err(stop);
                }
            }
        }
        self.next_set(i, &set).await
    }

    /// After a set's last row: the next set, or the object's next phase.
    async fn next_set(&mut self, i: usize, set: &ResultsPage) -> Result<(), Stop> {
        match &set.next_locator {
            Some(next) => {
                let bulk = self.bulk_mut(i);
                bulk.locator = Some(next.clone());
                bulk.offset = 0;
            }
            None => {
                // The job's id stays for the run's view.
                self.bulk_mut(i).state = BulkJobState::Done;
                self.next_phase(i);
            }
        }
        self.save_progress().await
    }

    /// The job no longer exists (Salesforce deletes jobs 7 days after they end): a new one. Rows
    /// already published are read again and counted as unchanged.
    async fn job_gone(&mut self, i: usize) -> Result<(), Stop> {
        let gone = self.record.objects[i].bulk.take();
        let (t, run, job_id) = (&self.record.tenant_id, &self.record.import_id, gone.map(|b| b.job_id));
        tracing::warn!(tenant_id = %t, import_id = %run, job_id = ?job_id, "bulk query job is gone; creating another");
        self.save_progress().await
    }

    fn poll_later(&self, i: usize) -> Stop {
        let bulk = self.bulk(i);
        let wait = self.imp.limits.bulk_first_poll.saturating_mul(1 << bulk.polls.min(10)).min(MAX_BULK_POLL_WAIT);
        let at = self.imp.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
        let message = format!(
            "waiting for the Bulk API query job {} reading {} to complete in Salesforce; polled again at {}",
            bulk.job_id,
            self.record.objects[i].object,
            at.to_rfc3339()
        );
        Stop::Poll { wait, message }
    }

    fn bulk(&self, i: usize) -> &BulkProgress {
        self.record.objects[i].bulk.as_ref().unwrap_or_else(|| unreachable!("a bulk step without a job"))
    }

    fn bulk_mut(&mut self, i: usize) -> &mut BulkProgress {
        self.record.objects[i].bulk.as_mut().unwrap_or_else(|| unreachable!("a bulk step without a job"))
    }
}

/// A job that does not exist (404 `NOT_FOUND`) as `None`, so the run can create another rather
/// than fail.
fn gone_is_none<T>(result: Result<Reply<T>, RestError>) -> Result<Reply<Option<T>>, RestError> {
    match result {
        Ok(reply) => Ok(Reply { value: Some(reply.value), usage: reply.usage }),
        Err(e) if e.status == Some(404) => Ok(Reply { value: None, usage: None }),
        Err(e) => Err(e),
    }
}

/// Aborts the run's Bulk jobs still queued or running in Salesforce; best effort (a job left
/// running completes on its own and is deleted after 7 days). The calls are counted on the run.
pub(crate) async fn abort_jobs(imp: &Importer, record: &mut ImportRecord) {
    let open: Vec<usize> =
        (0..record.objects.len()).filter(|&i| record.objects[i].bulk.as_ref().is_some_and(|b| b.state == BulkJobState::Running)).collect();
    if open.is_empty() {
        return;
    }
    let t = record.tenant_id.clone();
    let mut session = match imp.sessions.current(&t).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(tenant_id = %t, import_id = %record.import_id, error = %e, "could not abort the import's bulk query job: no session");
            return;
        }
    };
    for i in open {
        let Some(bulk) = record.objects[i].bulk.as_mut() else { continue };
        let job_id = bulk.job_id.clone();
        let made = std::sync::atomic::AtomicU64::new(0);
        let abort = |s: Session| {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let job_id = job_id.clone();
            async move { imp.rest.abort_query_job(&s, &job_id).await }
        };
        let result = imp.sessions.with_session(&t, &mut session, abort).await;
        record.salesforce_calls += made.load(std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(_) => {
                bulk.state = BulkJobState::Abandoned;
                tracing::info!(tenant_id = %t, import_id = %record.import_id, job_id = %job_id, "bulk query job aborted");
            }
            Err(e) => {
                tracing::warn!(tenant_id = %t, import_id = %record.import_id, job_id = %job_id, error = %e, "could not abort the bulk query job")
            }
        }
    }
}

/// Turns rows of Bulk results into records as the REST API answers them: the describe's field
/// names, nulls for empty values, booleans and numbers as JSON's, datetimes in REST's form
/// (`2026-12-05T10:00:00.000+0000`, where Bulk writes `…Z`), so an event reads the same whichever
/// API read its record.
struct RowReader {
    id: usize,
    modstamp: usize,
    /// Each other column: its field's name and type.
    fields: Vec<(usize, String, FieldType)>,
}

impl RowReader {
    fn new(header: &[String], described: &ObjectFields) -> Result<Self, String> {
        let position = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
        let (Some(id), Some(modstamp)) = (position("Id"), position("SystemModstamp")) else {
            return Err(format!("the Bulk query results have no Id or SystemModstamp column (columns: {})", header.join(", ")));
        };
        let fields = header
            .iter()
            .enumerate()
            .filter(|(n, _)| *n != id)
            .map(|(n, h)| match described.field(h) {
                Some(f) => (n, f.name.clone(), f.kind.clone()),
                None => (n, h.clone(), FieldType::Other),
            })
            .collect();
        Ok(Self { id, modstamp, fields })
    }

    /// `None` for a row without a valid id or stamp (skipped, as a REST record would be).
    fn record(&self, row: &ResultRow) -> Option<Record> {
        let id = SalesforceId::parse(row.get(self.id)?).ok()?;
        let modstamp = parse_modstamp(row.get(self.modstamp)?)?;
        let fields: Map<String, Value> =
            self.fields.iter().map(|(n, name, kind)| (name.clone(), value(row.get(*n).unwrap_or_default(), kind))).collect();
        Some(Record { id, modstamp, fields })
    }
}

/// A CSV value as the JSON value REST would have answered; text that does not read as its type
/// stays text.
fn value(text: &str, kind: &FieldType) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    let parsed = match kind {
        FieldType::Boolean => text.parse::<bool>().ok().map(Value::Bool),
        FieldType::Int => text.parse::<i64>().ok().map(Value::from),
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
        }
        FieldType::DateTime => parse_modstamp(text).map(|at| Value::String(at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn described() -> ObjectFields {
        let field = |name: &str, kind: &str| json!({"name": name, "type": kind, "label": name});
        ObjectFields::from_describe(
            "Contact",
            &json!({"fields": [field("Id", "id"), field("SystemModstamp", "datetime"), field("Email", "email"),
                field("DoNotCall", "boolean"), field("Score__c", "double"), field("NumberOfEmployees", "int")]}),
        )
        .unwrap()
    }

    #[test]
    fn rows_read_as_rest_would_answer_them() {
        let header: Vec<String> = ["ID", "systemmodstamp", "email", "DoNotCall", "Score__c", "NumberOfEmployees"].map(String::from).to_vec();
        let reader = RowReader::new(&header, &described()).unwrap();
        let row = ResultRow::from(vec!["003000000000001AAA", "2026-12-05T10:00:00.250Z", "a@example.com", "true", "7.5", "12"]);
        let record = reader.record(&row).unwrap();
        assert_eq!(record.id.as_str(), "003000000000001AAA");
        assert_eq!(record.modstamp, "2026-12-05T10:00:00.250Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap());
        assert_eq!(
            Value::Object(record.fields),
            json!({"SystemModstamp": "2026-12-05T10:00:00.250+0000", "Email": "a@example.com", "DoNotCall": true, "Score__c": 7.5,
                "NumberOfEmployees": 12})
        );
        let empty = ResultRow::from(vec!["003000000000002AAA", "2026-12-05T10:00:00.000Z", "", "", "", "many"]);
        let fields = reader.record(&empty).unwrap().fields;
        let read = (fields["Email"].clone(), fields["Score__c"].clone(), fields["NumberOfEmployees"].clone());
        assert_eq!(read, (Value::Null, Value::Null, json!("many")), "empty is null; text that is not a number stays text");
        assert!(reader.record(&ResultRow::from(vec!["nope", "2026-12-05T10:00:00.000Z", "", "", "", ""])).is_none());
        assert!(RowReader::new(&["Email".to_owned()], &described()).is_err());
    }
}
