//! Import: the tenant's Salesforce records into the product, as inbound events with
//! `"source": "import"` (docs/architecture.md "Import").
//!
//! - [`service`]: what the admin API offers: Sync Now (`start`), a run's progress, the list,
//!   cancel; and [`service::tick`], which the schedule calls to start the due tenants' runs and
//!   resume parked ones.
//! - [`run`]: one invocation of the import function: a run's next pages, until the invocation's
//!   deadline, the API budget, or the end; then it hands on to the next invocation with a
//!   continuation message on the import queue. Large full reads go through a Bulk API 2.0 query
//!   job (`run/bulk.rs`).
//! - [`soql`]: the queries, written by the code from the settings (values quoted for their field's
//!   type), never from a WHERE string.
//! - [`events`]: records as inbound events, the markers that keep a record from being published
//!   twice at the same `SystemModstamp`.

mod events;
pub mod run;
pub mod service;
mod soql;

use std::sync::Arc;
use std::time::Duration;

use sfbridge_core::clock::Clock;
use sfbridge_core::error::Cause;
use sfbridge_core::queue::Queue;
use sfbridge_core::store::{Store, StoreError};
use sfbridge_salesforce::{SalesforceRest, Sessions};

pub use events::inbound_event_schema;
pub use run::ImportMessage;
pub use service::{ImportView, Started, TickReport};

/// Everything the import needs: built once per process (the function's cold start, the local stack).
#[derive(Debug, Clone)]
pub struct Importer {
    store: Store,
    clock: Arc<dyn Clock>,
    sessions: Sessions,
    rest: SalesforceRest,
    /// Where the product receives the records (the webhook receiver's queue).
    inbound: Arc<dyn Queue>,
    /// The import function's own queue: continuation messages.
    imports: Arc<dyn Queue>,
    limits: ImportLimits,
}

/// How a run reads and when it hands on. The defaults are production's; tests shrink them.
#[derive(Debug, Clone)]
pub struct ImportLimits {
    /// Records asked per query (`LIMIT`); Salesforce answers at most 2,000 a page.
    pub page_size: usize,
    /// Pages one invocation reads at most (`None`: until the deadline): lets tests cut runs short.
    pub pages_per_invocation: Option<usize>,
    /// Incremental runs re-read changes this far before the watermark: clock skew between
    /// sfbridge and Salesforce, and transactions that commit after their `SystemModstamp`.
    pub overlap: chrono::Duration,
    /// How long the recycle bin keeps deleted records (15 days, less a day of margin): a
    /// watermark older than this cannot rely on `queryAll` for deletions.
    pub recycle_bin: chrono::Duration,
    /// An invocation starts no page when less than this is left before its deadline.
    pub deadline_margin: Duration,
    /// A run waits this long after Salesforce or the store failed, doubling each time in a row,
    /// up to 15 minutes (SQS's longest delay).
    pub first_retry: Duration,
    /// Failures in a row after which the run fails for good.
    pub max_failures: u32,
    /// How long a run waits when the org is over the tenant's API budget.
    pub budget_wait: Duration,
    /// A read of every record (a full or comparing run) of an object with at least this many
    /// records (`SELECT COUNT()`, one call) uses a Bulk API 2.0 query job; `None`: REST paging
    /// always. Incremental runs read little and always page.
    pub bulk_threshold: Option<u64>,
    /// Records per set of Bulk results (`maxRecords`); `None`: from the width of a row
    /// ([`sfbridge_salesforce::bulk::max_records_for`]).
    pub bulk_max_records: Option<usize>,
    /// The wait before the first poll of a Bulk job, doubling with each poll up to
    /// [`run::MAX_BULK_POLL_WAIT`]: the invocation hands on with a delay rather than sleeping.
    pub bulk_first_poll: Duration,
}

/// Above this many records a full read uses Bulk API 2.0: at 2,000 records a REST page, 10,000
/// records cost 5 query calls, a Bulk job at least 3 (create, poll, results) and a poll or two
/// more, plus the count; from there on Bulk costs about the same few calls while REST grows by
/// one per 2,000 records (Salesforce's own rule of thumb: "more than 2,000 records, Bulk API 2.0").
pub const BULK_THRESHOLD: u64 = 10_000;

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            page_size: 2_000,
            pages_per_invocation: None,
            overlap: chrono::Duration::minutes(5),
            recycle_bin: chrono::Duration::days(14),
            deadline_margin: Duration::from_secs(60),
            first_retry: Duration::from_secs(30),
            max_failures: 12,
            budget_wait: Duration::from_secs(15 * 60),
            bulk_threshold: Some(BULK_THRESHOLD),
            bulk_max_records: None,
            bulk_first_poll: Duration::from_secs(5),
        }
    }
}

impl Importer {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        sessions: Sessions,
        rest: SalesforceRest,
        inbound: Arc<dyn Queue>,
        imports: Arc<dyn Queue>,
    ) -> Self {
        Self { store, clock, sessions, rest, inbound, imports, limits: ImportLimits::default() }
    }

    pub fn with_limits(mut self, limits: ImportLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &ImportLimits {
        &self.limits
    }

    /// Brings a received import message back after `delay` instead of the queue's long
    /// visibility timeout (six times the function's); `false` when the queue would not.
    pub async fn retry_later(&self, receipt_handle: &str, delay: Duration) -> bool {
        let retry = sfbridge_core::queue::RetryAfter { receipt_handle: receipt_handle.to_owned(), delay };
        matches!(self.imports.retry_after(vec![retry]).await.first(), Some(Ok(())))
    }
}

/// How soon a step that could not run (its run busy elsewhere, the store down) comes back.
pub const STEP_RETRY: Duration = Duration::from_secs(60);

/// What the admin API and the function can be told; mapped to HTTP in `sfbridge-http`.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    InvalidPage(#[from] sfbridge_core::paging::InvalidPage),
    #[error("no import {0} for this tenant")]
    NotFound(String),
    /// Nothing configured to import: the settings name no object.
    #[error("this tenant imports nothing yet: add objects under \"import\" in the settings (PUT /v1/tenants/{{t}}/settings)")]
    NotConfigured,
    #[error("this tenant has no Salesforce connection; connect it first (POST /v1/tenants/{{t}}/connect)")]
    NotConnected,
    /// The run is finished: it cannot be cancelled.
    #[error("import {0} has already ended ({1})")]
    Finished(String, &'static str),
    #[error("the import is temporarily unavailable")]
    Unavailable(#[source] Cause),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(Cause::new(e))
    }
}
