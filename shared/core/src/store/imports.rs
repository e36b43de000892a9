//! What importing Salesforce records into the product keeps (docs/architecture.md "Import"):
//! the tenant's import settings, each run and its progress, the per-object watermark, one marker
//! per published record (the dedupe that keeps a record from being published twice at the same
//! `SystemModstamp`), and the schedule index the hourly tick reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{keys, to_item, version_condition, Condition, Store, StoreError};
use crate::domain::{FieldName, ImportId, ObjectName, SalesforceId, SegmentName, TenantId};

/// Which records of which objects the tenant imports, and how often (part of the settings).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImportSettings {
    /// `None`: `hourly` once an object is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ImportSchedule>,
    #[serde(default)]
    pub objects: Vec<ImportObject>,
}

impl ImportSettings {
    /// The schedule in effect: `off` with no object to import.
    pub fn effective_schedule(&self) -> ImportSchedule {
        if self.objects.is_empty() {
            ImportSchedule::Off
        } else {
            self.schedule.unwrap_or(ImportSchedule::Hourly)
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportSchedule {
    /// Only Sync Now.
    Off,
    Hourly,
    Daily,
}

impl ImportSchedule {
    /// How long after a run's start the next scheduled one is due.
    pub fn interval(self) -> Option<chrono::Duration> {
        match self {
            Self::Off => None,
            Self::Hourly => Some(chrono::Duration::hours(1)),
            Self::Daily => Some(chrono::Duration::days(1)),
        }
    }
}

/// One object to import: its fields (besides `Id` and `SystemModstamp`, always read), an optional
/// filter, and the product segment its records go to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportObject {
    pub object: ObjectName,
    pub fields: Vec<FieldName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter: Vec<FilterCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentName>,
}

/// `field op values`: conditions of one object's filter all hold (AND). The code writes the SOQL,
/// quoting each value for the field's type; an admin never writes a WHERE clause.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterCondition {
    pub field: FieldName,
    pub op: FilterOp,
    /// One value for the comparisons, one or more for `in`/`not_in`: strings, numbers, booleans
    /// or `null` (with `eq`/`ne` only).
    pub values: Vec<Value>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    NotIn,
    /// A text field starting with the value (`LIKE 'value%'`, the value's own `%` and `_` escaped).
    StartsWith,
}

impl FilterOp {
    pub fn takes_many(self) -> bool {
        matches!(self, Self::In | Self::NotIn)
    }
}

/// A run: full (every record) or incremental (what changed since the watermark), started by Sync
/// Now or the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    pub import_id: ImportId,
    pub tenant_id: TenantId,
    pub kind: ImportKind,
    pub trigger: ImportTrigger,
    pub state: ImportState,
    /// Why the run waits, stopped or failed, in words for the admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub objects: Vec<ObjectProgress>,
    /// Continuation steps: each invocation handles the step the record is at and hands on the next,
    /// so a duplicate message for a step already done does nothing.
    pub step: u64,
    /// An invocation is working on the run until then; another one waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    pub salesforce_calls: u64,
    pub sqs_messages: u64,
    pub invocations: u64,
    /// Failed attempts in a row (a 503 storm); reset by any progress.
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl ImportRecord {
    pub fn events_published(&self) -> u64 {
        self.objects.iter().map(|o| o.published + o.deletions).sum()
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    Full,
    Incremental,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportTrigger {
    SyncNow,
    Schedule,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Created; its first message is on the import queue.
    Queued,
    Running,
    /// Held back (API budget, Salesforce unavailable): resumes at `resumes_at` on its own.
    Waiting,
    /// The connection needs an admin to reconnect: resumes after the reconnect.
    Parked,
    Completed,
    Failed,
    Cancelled,
}

impl ImportState {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// Where a run stands on one object. Records are read in `Id` order (ids never change, so the
/// order cannot shift under a run); `after_id` is the last one read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectProgress {
    pub object: ObjectName,
    pub phase: ImportPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<SalesforceId>,
    /// Incremental runs read records changed from here (the watermark less the overlap window);
    /// `None`: every record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Deletions since `since` come from `queryAll`; with `compare`, the watermark was older than
    /// the recycle bin keeps, so every record is read and the markers no run saw are deletions.
    #[serde(default)]
    pub compare: bool,
    pub read: u64,
    pub published: u64,
    /// Records read but already published at the same `SystemModstamp` (by a webhook or a run).
    pub unchanged: u64,
    pub deletions: u64,
    pub pages: u64,
    /// A read of every record counts them first (`SELECT COUNT()`): above the import's Bulk
    /// threshold the changes are read by a Bulk API 2.0 query job. `None`: not counted (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<u64>,
    /// The Bulk API 2.0 query job reading the changes, and how far into its results the run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk: Option<BulkProgress>,
}

/// Where a run stands in a Bulk API 2.0 query job: the job, the set of results being read (by
/// its locator) and how many of that set's rows are published, so a stopped run reads that set
/// again and goes on after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkProgress {
    pub job_id: String,
    pub state: BulkJobState,
    /// The set being read; `None`: the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locator: Option<String>,
    /// Its rows already published (and their markers written).
    #[serde(default)]
    pub offset: u64,
    /// Polls so far (the wait between polls grows with them).
    #[serde(default)]
    pub polls: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkJobState {
    /// Created, queued or running in Salesforce: polled until it completes.
    Running,
    /// Complete: its results are being read.
    Reading,
    /// Its results are all read.
    Done,
    /// Failed or aborted (in Salesforce, or by the run when it was cancelled): a run still going
    /// reads the object by REST paging instead.
    Abandoned,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportPhase {
    /// Created and updated records.
    Changes,
    /// Deleted records from `queryAll` (incremental runs).
    Deletes,
    /// Deleted records by comparison with the markers (after a full read).
    Compare,
    Done,
}

/// `TENANT#{t}` / `WATERMARK#{object}`: where the next incremental run of an object starts: the
/// time the last complete run started (the next reads changes from it less the overlap window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkRecord {
    pub object: ObjectName,
    pub read_from: DateTime<Utc>,
    pub import_id: ImportId,
    pub updated_at: DateTime<Utc>,
}

/// `INBOUND#{t}#REC#{object}` / `{id}`: the `SystemModstamp` a record was last published at (or
/// its deletion), so a record is not published again at the same stamp. Under `INBOUND#` so the
/// webhook receiver may write it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMarker {
    pub id: SalesforceId,
    pub modstamp: DateTime<Utc>,
    #[serde(default)]
    pub deleted: bool,
    /// The run that last saw the record (full comparisons look for markers no run saw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<ImportId>,
}

/// `IMPORT_SCHEDULE` / `{t}`: a tenant whose imports run on a schedule, or whose run is parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportScheduleRecord {
    pub tenant_id: TenantId,
    pub schedule: ImportSchedule,
    /// When the next scheduled run is due.
    pub next_due: DateTime<Utc>,
    /// A run parked until the tenant reconnects: the tick resumes it once the connection works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked: Option<ImportId>,
    pub updated_at: DateTime<Utc>,
}

/// `TENANT#{t}` / `IMPORT_CURRENT`: the tenant's one unfinished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CurrentImport {
    import_id: ImportId,
}

/// Markers outlive any sane gap between runs; one not renewed for this long is of a record no run
/// has seen in over a year.
const MARKER_RETENTION_DAYS: i64 = 400;
/// Runs are listed for this long.
const IMPORT_RETENTION_DAYS: i64 = 90;

mod import_keys {
    use crate::domain::{ImportId, ObjectName, TenantId};

    pub(super) const IMPORT_PREFIX: &str = "IMPORT#";
    pub(super) fn import(id: &ImportId) -> String {
        format!("{IMPORT_PREFIX}{id}")
    }
    pub(super) const CURRENT: &str = "IMPORT_CURRENT";
    pub(super) fn watermark(object: &ObjectName) -> String {
        format!("WATERMARK#{}", object.as_str().to_ascii_lowercase())
    }
    pub(super) fn markers(t: &TenantId, object: &ObjectName) -> String {
        format!("INBOUND#{t}#REC#{}", object.as_str().to_ascii_lowercase())
    }
    /// Sort keys under a partition get a prefix: DynamoDB refuses an empty `begins_with` value.
    pub(super) const MARKER_PREFIX: &str = "R#";
    pub(super) fn marker(id: &str) -> String {
        format!("{MARKER_PREFIX}{id}")
    }
    pub(super) const SCHEDULE: &str = "IMPORT_SCHEDULE";
    pub(super) const SCHEDULE_PREFIX: &str = "T#";
    pub(super) fn schedule(t: &TenantId) -> String {
        format!("{SCHEDULE_PREFIX}{t}")
    }
}

impl Store {
    pub async fn import(&self, t: &TenantId, id: &ImportId) -> Result<Option<ImportRecord>, StoreError> {
        self.get(&keys::tenant(t), &import_keys::import(id)).await
    }

    /// Writes the run if it is still at `expected_version` (`None`: a new run).
    pub async fn save_import(&self, record: &ImportRecord, expected_version: Option<u64>) -> Result<(), StoreError> {
        let expires_at = (record.created_at + chrono::Duration::days(IMPORT_RETENTION_DAYS)).timestamp();
        let item = to_item(&keys::tenant(&record.tenant_id), &import_keys::import(&record.import_id), record, Some(expires_at))?;
        Ok(self.table.put(item, version_condition(expected_version)).await?)
    }

    /// The tenant's runs, newest first, after the cursor `before`; and the next page's cursor.
    pub async fn imports(&self, t: &TenantId, limit: usize, before: Option<&str>) -> Result<(Vec<ImportRecord>, Option<String>), StoreError> {
        let before = before.map(|cursor| format!("{}{cursor}", import_keys::IMPORT_PREFIX));
        let page = self.table.query_desc(&keys::tenant(t), import_keys::IMPORT_PREFIX, limit.max(1), before.as_deref()).await?;
        let records = page.items.into_iter().map(super::from_item).collect::<Result<_, _>>()?;
        let next = page.last_sk.and_then(|sk| sk.strip_prefix(import_keys::IMPORT_PREFIX).map(str::to_owned));
        Ok((records, next))
    }

    /// The tenant's unfinished run, if any.
    pub async fn current_import(&self, t: &TenantId) -> Result<Option<ImportId>, StoreError> {
        let current: Option<CurrentImport> = self.get(&keys::tenant(t), import_keys::CURRENT).await?;
        Ok(current.map(|c| c.import_id))
    }

    /// Makes `id` the tenant's current run if there is none, or if the one there is `finished`
    /// (as the caller read it). `Conflict`: another run got there first.
    pub async fn claim_current_import(&self, t: &TenantId, id: &ImportId, finished: Option<&ImportId>) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), import_keys::CURRENT, &CurrentImport { import_id: id.clone() }, None)?;
        let condition = match finished {
            None => Condition::NotExists,
            Some(old) => Condition::AttributeEquals { attribute: "import_id", value: Value::String(old.to_string()) },
        };
        Ok(self.table.put(item, condition).await?)
    }

    pub async fn watermark(&self, t: &TenantId, object: &ObjectName) -> Result<Option<WatermarkRecord>, StoreError> {
        self.get(&keys::tenant(t), &import_keys::watermark(object)).await
    }

    pub async fn save_watermark(&self, t: &TenantId, record: &WatermarkRecord) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), &import_keys::watermark(&record.object), record, None)?;
        Ok(self.table.put(item, Condition::None).await?)
    }

    /// The markers of `ids` that exist (one batch read per 100).
    pub async fn record_markers(&self, t: &TenantId, object: &ObjectName, ids: &[&SalesforceId]) -> Result<Vec<RecordMarker>, StoreError> {
        let pk = import_keys::markers(t, object);
        let keys: Vec<(String, String)> = ids.iter().map(|id| (pk.clone(), import_keys::marker(id.as_str()))).collect();
        self.table.batch_get(&keys).await?.into_iter().map(super::from_item).collect()
    }

    /// Writes the markers (one batch write per 25).
    pub async fn save_record_markers(&self, t: &TenantId, object: &ObjectName, markers: &[RecordMarker], now: DateTime<Utc>) -> Result<(), StoreError> {
        let pk = import_keys::markers(t, object);
        let expires_at = (now + chrono::Duration::days(MARKER_RETENTION_DAYS)).timestamp();
        let items = markers.iter().map(|m| to_item(&pk, &import_keys::marker(m.id.as_str()), m, Some(expires_at))).collect::<Result<Vec<_>, _>>()?;
        Ok(self.table.batch_put(items).await?)
    }

    /// A page of an object's markers in id order, after `after`; and the id to continue after.
    pub async fn record_marker_page(
        &self,
        t: &TenantId,
        object: &ObjectName,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<RecordMarker>, Option<String>), StoreError> {
        let after = after.map(import_keys::marker);
        let page = self.table.query_asc(&import_keys::markers(t, object), import_keys::MARKER_PREFIX, limit.max(1), after.as_deref()).await?;
        let markers = page.items.into_iter().map(super::from_item).collect::<Result<_, _>>()?;
        Ok((markers, page.last_sk.and_then(|sk| sk.strip_prefix(import_keys::MARKER_PREFIX).map(str::to_owned))))
    }

    /// Puts the tenant in the schedule index (or takes it out with `None`).
    pub async fn set_import_schedule(&self, t: &TenantId, record: Option<&ImportScheduleRecord>) -> Result<(), StoreError> {
        match record {
            Some(record) => {
                let item = to_item(import_keys::SCHEDULE, &import_keys::schedule(t), record, None)?;
                Ok(self.table.put(item, Condition::None).await?)
            }
            None => {
                self.table.delete(import_keys::SCHEDULE, &import_keys::schedule(t), Condition::None).await?;
                Ok(())
            }
        }
    }

    pub async fn import_schedule(&self, t: &TenantId) -> Result<Option<ImportScheduleRecord>, StoreError> {
        self.get(import_keys::SCHEDULE, &import_keys::schedule(t)).await
    }

    /// A page of the schedule index in tenant order, after `after`; and the tenant to continue after.
    pub async fn import_schedules(&self, limit: usize, after: Option<&str>) -> Result<(Vec<ImportScheduleRecord>, Option<String>), StoreError> {
        let after = after.map(|t| format!("{}{t}", import_keys::SCHEDULE_PREFIX));
        let page = self.table.query_asc(import_keys::SCHEDULE, import_keys::SCHEDULE_PREFIX, limit.max(1), after.as_deref()).await?;
        let records = page.items.into_iter().map(super::from_item).collect::<Result<_, _>>()?;
        Ok((records, page.last_sk.and_then(|sk| sk.strip_prefix(import_keys::SCHEDULE_PREFIX).map(str::to_owned))))
    }
}
