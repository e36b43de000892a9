//! Bulk API 2.0 query jobs under `/services/data/vNN.N/jobs/query` (Bulk API 2.0 and Bulk API
//! Developer Guide, "Bulk API 2.0 Query": "Create a Query Job", "Get Information About a Query
//! Job", "Get Results for a Query Job", "Abort a Query Job", "Delete a Query Job", "Get
//! Information About All Query Jobs").
//!
//! | Call | Answer |
//! |---|---|
//! | `POST …/jobs/query` `{"operation","query"[,"contentType","columnDelimiter","lineEnding"]}` | 200, the job (`state: UploadComplete`) |
//! | `GET …/jobs/query[?jobType=&concurrencyMode=&isPkChunkingEnabled=&queryLocator=]` | 200 `{"done","records","nextRecordsUrl"}`, 1,000 jobs a page |
//! | `GET …/jobs/query/{id}` | 200, the job with its counters |
//! | `PATCH …/jobs/query/{id}` `{"state":"Aborted"}` | 200, the job, `Aborted` |
//! | `DELETE …/jobs/query/{id}` | 204 |
//! | `GET …/jobs/query/{id}/results[?locator=&maxRecords=]` | 200 CSV, `Sforce-NumberOfRecords`, `Sforce-Locator` |
//!
//! Every call is a REST call: it passes the gate (`gate.rs`: token, faults, latency) and counts
//! one API request against the daily allocation, as the Limits Quick Reference says of "SOAP and
//! REST APIs and any other API built on those frameworks"; the CSV answers carry
//! `Sforce-Limit-Info` too. Creating a job also counts toward `DailyBulkV2QueryJobs` (10,000 per
//! 24 hours, "Bulk API and Bulk API 2.0 Limits and Allocations"), shown by `GET …/limits`; past it,
//! create answers 400 `LIMIT_EXCEEDED` "Max bulk v2 query jobs (10000) per 24 hrs has been
//! reached" (the message connectors match on). Query jobs consume no batches.
//!
//! Salesforce's rules, with where they are written:
//!
//! - **Create.** `operation` is `query` or `queryAll` (the recycle bin too); `contentType` only
//!   `CSV`; `columnDelimiter` `BACKQUOTE`, `CARET`, `COMMA` (default), `PIPE`, `SEMICOLON` or
//!   `TAB`; `lineEnding` `LF` (default) or `CRLF` (all supported). The SOQL is checked at once: a
//!   query the REST API would refuse gets the same error, and what Bulk API 2.0 "doesn't support"
//!   ("Create a Query Job": `OFFSET`, aggregate functions such as `COUNT()`; the simulator's SOQL
//!   has no `GROUP BY`, `TYPEOF`, `FIELDS()` or subqueries at all) gets 400 `API_ERROR`, the code
//!   Salesforce answers for "Selecting compound data not supported in Bulk Query". `ORDER BY` and
//!   `LIMIT` are allowed ("Don't use ORDER BY or LIMIT, as they disable PKChunking").
//! - **States.** `UploadComplete` (queued) → `InProgress` → `JobComplete`, or `Failed`, or
//!   `Aborted` ("Get Information About a Query Job"). How many polls and how much simulated time a
//!   job spends queued and running is [`BulkQueryPace`]; by default none, so the first poll sees
//!   `JobComplete`. The rows are taken when the job starts running: records changed after that are
//!   not in its results, and a change scheduled for [`crate::ImportMoment::BulkJobRunning`] is
//!   applied right after.
//! - **Results** ("Get Results for a Query Job"): only for `JobComplete` jobs; "Use the same API
//!   version to get query results that you used to create the query. Otherwise, the call returns a
//!   409 error." CSV with a header row of the fields as the query wrote them, in its order ("In API
//!   version 50.0 and later, the order of the columns … is the same as the order you requested
//!   them"), every value in double quotes (`""` inside), nulls empty, booleans `true`/`false`,
//!   datetimes in the `Z` form (`2026-12-05T10:00:00.000Z`), rows in creation order without
//!   `ORDER BY`. `maxRecords` caps a set ([`BULK_DEFAULT_MAX_RECORDS`] without it: "the server uses a
//!   default value based on the service"); `Sforce-Locator` names the next set, or is the string
//!   `null` on the last one; a locator is a base64 offset ("a pseudo random string (for example,
//!   MTAwMDA)" is base64 for 10000) and "As long as the associated job exists, the locator string
//!   for a set of results does not change. You can use the locator to retrieve a set of results
//!   multiple times."
//! - **Abort** only an `UploadComplete` or `InProgress` job ("Abort a Query Job"); otherwise 400
//!   `INVALIDJOBSTATE` ("Aborting already Completed Job not allowed"). **Delete** only a
//!   `JobComplete`, `Aborted` or `Failed` one ("Delete a Query Job"); otherwise 400 `API_ERROR`
//!   "Error encountered when deleting the job because the job is not terminated" (its documented
//!   body). Jobs in a terminal state are deleted 7 days after they end ("Results lifespan").
//! - An unknown job id gets 404 `NOT_FOUND`, as any REST resource that does not exist.
//!
//! Not documented, so chosen here and kept consistent: a body field that is missing or has an
//! unknown value gets 400 `API_ERROR` naming it; a job not (yet) `JobComplete` asked for results
//! gets 400 `API_ERROR`; a malformed `locator` or `maxRecords` gets 400 `API_ERROR`; the 409 body is
//! `API_ERROR` too; an `InProgress` job reports `numberRecordsProcessed` 0 until it completes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use super::query::matching_rows;
use super::{error, json_object, not_found, parser_error, Reply, Session};
use crate::changes::Event;
use crate::datetime::{format_datetime, zulu_datetime};
use crate::ids;
use crate::recording::{first, parse_pairs};
use crate::records::Fields;
use crate::schema::FieldKind;
use crate::soql::{self, Plan};
use crate::state::{Sim, SimState};

/// The rows in a set of results when `maxRecords` is not given (the documented default is "based
/// on the service"; [`crate::SalesforceSim::set_bulk_default_max_records`] changes it).
pub const BULK_DEFAULT_MAX_RECORDS: usize = 10_000;

/// `DailyBulkV2QueryJobs`' allocation.
const DEFAULT_DAILY_JOBS: u64 = 10_000;

/// Jobs per page of `GET …/jobs/query`.
const JOBS_PER_PAGE: usize = 1_000;

/// How long a job in a terminal state is kept.
const JOB_LIFESPAN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

const LOCATOR: HeaderName = HeaderName::from_static("sforce-locator");
const NUMBER_OF_RECORDS: HeaderName = HeaderName::from_static("sforce-numberofrecords");

/// How long Bulk API 2.0 query jobs take ([`crate::SalesforceSim::set_bulk_query_pace`]). A job
/// leaves a state once it has been seen in it by that many polls (`GET …/jobs/query/{id}`) *and*
/// that much simulated time has passed since it entered it (see
/// [`crate::SalesforceSim::advance_time`]). The default, all zero, completes a job by its first
/// poll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BulkQueryPace {
    /// Polls that see a job `UploadComplete` (queued) before it starts running.
    pub queued_polls: u32,
    /// The least time it stays queued.
    pub queued_for: Duration,
    /// Polls that see it `InProgress` before it completes.
    pub running_polls: u32,
    /// The least time it runs.
    pub running_for: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Query,
    QueryAll,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::QueryAll => "queryAll",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    UploadComplete,
    InProgress,
    Aborted,
    JobComplete,
    Failed,
}

impl JobState {
    fn name(self) -> &'static str {
        match self {
            Self::UploadComplete => "UploadComplete",
            Self::InProgress => "InProgress",
            Self::Aborted => "Aborted",
            Self::JobComplete => "JobComplete",
            Self::Failed => "Failed",
        }
    }

    fn terminal(self) -> bool {
        matches!(self, Self::Aborted | Self::JobComplete | Self::Failed)
    }
}

/// `columnDelimiter`'s values and the characters they stand for.
const DELIMITERS: &[(&str, char)] =
    &[("BACKQUOTE", '`'), ("CARET", '^'), ("COMMA", ','), ("PIPE", '|'), ("SEMICOLON", ';'), ("TAB", '\t')];

/// `lineEnding`'s values.
const LINE_ENDINGS: &[(&str, &str)] = &[("LF", "\n"), ("CRLF", "\r\n")];

/// The results, as taken when the job started running: the header line and one line per row
/// (CSV, without the line ending).
#[derive(Debug)]
struct Results {
    header: String,
    rows: Vec<String>,
}

#[derive(Debug)]
struct Job {
    id: String,
    operation: Operation,
    object: String,
    plan: Plan,
    created_by: String,
    created: SystemTime,
    modstamp: SystemTime,
    state: JobState,
    /// The API version it was created with (`v66.0`).
    version: String,
    delimiter: (&'static str, char),
    line_ending: (&'static str, &'static str),
    /// Polls that have seen it in its current state, and when it entered that state.
    polls: u32,
    since: SystemTime,
    started: Option<SystemTime>,
    results: Option<Results>,
    /// Set at creation when the job is to fail ([`crate::SalesforceSim::fail_bulk_query_jobs`]).
    fails_with: Option<String>,
    error_message: Option<String>,
}

/// The query jobs and their knobs.
#[derive(Debug)]
pub(crate) struct BulkState {
    jobs: BTreeMap<String, Job>,
    minted: u64,
    pub(crate) pace: BulkQueryPace,
    pub(crate) failures: VecDeque<String>,
    pub(crate) default_max_records: usize,
    /// Jobs created (`DailyBulkV2QueryJobs` used) and the allocation.
    pub(crate) jobs_created: u64,
    pub(crate) daily_jobs: u64,
}

impl Default for BulkState {
    fn default() -> Self {
        Self {
            jobs: BTreeMap::new(),
            minted: 0,
            pace: BulkQueryPace::default(),
            failures: VecDeque::new(),
            default_max_records: BULK_DEFAULT_MAX_RECORDS,
            jobs_created: 0,
            daily_jobs: DEFAULT_DAILY_JOBS,
        }
    }
}

/// A job as JSON, in the documented key order; what each call shows differs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobJson<'a> {
    id: &'a str,
    operation: &'static str,
    object: &'a str,
    created_by_id: &'a str,
    created_date: String,
    system_modstamp: String,
    state: &'static str,
    concurrency_mode: &'static str,
    content_type: &'static str,
    api_version: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_type: Option<&'static str>,
    line_ending: &'static str,
    column_delimiter: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    number_records_processed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_processing_time: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_pk_chunking_supported: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}

/// What a view of a job includes beyond the create answer's keys.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// Create and abort.
    Created,
    /// An entry of the job list: plus `jobType`.
    Listed,
    /// Get job info: plus the counters.
    Full,
}

impl Job {
    fn json(&self, view: View) -> JobJson<'_> {
        let full = view == View::Full;
        let finished = (self.state.terminal()).then_some(self.since);
        let processing = self.started.zip(finished).and_then(|(start, end)| end.duration_since(start).ok());
        JobJson {
            id: &self.id,
            operation: self.operation.name(),
            object: &self.object,
            created_by_id: &self.created_by,
            created_date: format_datetime(self.created),
            system_modstamp: format_datetime(self.modstamp),
            state: self.state.name(),
            concurrency_mode: "Parallel",
            content_type: "CSV",
            api_version: self.version.trim_start_matches('v').parse().unwrap_or_default(),
            job_type: (view != View::Created).then_some("V2Query"),
            line_ending: self.line_ending.0,
            column_delimiter: self.delimiter.0,
            number_records_processed: full.then_some(match (self.state, &self.results) {
                (JobState::JobComplete, Some(results)) => results.rows.len(),
                _ => 0,
            }),
            retries: full.then_some(0),
            total_processing_time: full.then(|| processing.map_or(0, |d| d.as_millis())),
            // Every object the simulator has is one Salesforce chunks by primary key.
            is_pk_chunking_supported: full.then_some(true),
            error_message: self.error_message.as_deref().filter(|_| full),
        }
    }

    fn enter(&mut self, state: JobState, now: SystemTime) {
        self.state = state;
        self.polls = 0;
        self.since = now;
        self.modstamp = now;
    }

    /// Whether the pace lets the job leave its current state now.
    fn may_leave(&self, polls: u32, least: Duration, now: SystemTime) -> bool {
        let waited = now.duration_since(self.since).unwrap_or_default();
        self.polls >= polls && waited >= least
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `POST …/jobs/query`.
pub(super) async fn create_handler(
    State(sim): State<Arc<Sim>>,
    Path(version): Path<String>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    let mut state = sim.lock();
    forget_old_jobs(&mut state);
    create(&mut state, &session, &version, &body)
}

fn create(state: &mut SimState, session: &Session, version: &str, body: &[u8]) -> Reply {
    let body = match json_object(body) {
        Ok(body) => body,
        Err(message) => return parser_error(&message),
    };
    let text = |key: &str| match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(parser_error(&format!(
            "Cannot deserialize instance of String for field {key} from value {other}"
        ))),
    };
    let fields = (text("operation"), text("query"), text("contentType"), text("columnDelimiter"), text("lineEnding"));
    let (operation, query, content_type, delimiter, line_ending) = match fields {
        (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)) => (a, b, c, d, e),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (_, _, _, Err(e), _) | (.., Err(e)) => return e,
    };
    let operation = match operation {
        Some("query") => Operation::Query,
        Some("queryAll") => Operation::QueryAll,
        Some(other) => return api_error(&format!("Invalid operation: {other}. A query job's operation is query or queryAll.")),
        None => return api_error("operation is required: query or queryAll"),
    };
    if content_type.is_some_and(|c| c != "CSV") {
        return api_error(&format!("Invalid contentType: {}. The only value supported is CSV.", content_type.unwrap_or_default()));
    }
    let Some(delimiter) = pick(DELIMITERS, delimiter, "COMMA") else {
        return api_error(&format!(
            "Invalid columnDelimiter: {}. Valid values are BACKQUOTE, CARET, COMMA, PIPE, SEMICOLON and TAB.",
            delimiter.unwrap_or_default()
        ));
    };
    let Some(line_ending) = pick(LINE_ENDINGS, line_ending, "LF") else {
        return api_error(&format!("Invalid lineEnding: {}. Valid values are LF and CRLF.", line_ending.unwrap_or_default()));
    };
    let Some(query) = query.filter(|q| !q.trim().is_empty()) else { return api_error("query is required") };
    let plan = match soql::plan(query, &state.org.schema) {
        Ok(plan) => plan,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.code, &e.message),
    };
    if plan.count {
        return api_error("Aggregate functions such as COUNT() are not supported by Bulk API 2.0 query");
    }
    if plan.offset.is_some() {
        return api_error("OFFSET is not supported by Bulk API 2.0 query");
    }
    let bulk = &mut state.api.bulk;
    if bulk.jobs_created >= bulk.daily_jobs {
        let message = format!("Max bulk v2 query jobs ({}) per 24 hrs has been reached", bulk.daily_jobs);
        return error(StatusCode::BAD_REQUEST, "LIMIT_EXCEEDED", &message);
    }
    bulk.jobs_created += 1;
    bulk.minted += 1;
    let now = state.now();
    let bulk = &mut state.api.bulk;
    let job = Job {
        id: ids::mint("750", bulk.minted),
        operation,
        object: plan.object.clone(),
        plan,
        created_by: session.user_id.clone(),
        created: now,
        modstamp: now,
        state: JobState::UploadComplete,
        version: version.to_owned(),
        delimiter,
        line_ending,
        polls: 0,
        since: now,
        started: None,
        results: None,
        fails_with: bulk.failures.pop_front(),
        error_message: None,
    };
    let reply = Reply::json(StatusCode::OK, &job.json(View::Created));
    bulk.jobs.insert(job.id.clone(), job);
    reply
}

/// `GET …/jobs/query/{id}`: a poll.
pub(super) async fn info_handler(
    State(sim): State<Arc<Sim>>,
    Path((_version, id)): Path<(String, String)>,
    Extension(_): Extension<Session>,
) -> Reply {
    let mut state = up_to_date(&sim, &id);
    let Some(job) = state.api.bulk.jobs.get_mut(&id) else { return not_found() };
    job.polls += 1;
    Reply::json(StatusCode::OK, &job.json(View::Full))
}

/// `PATCH …/jobs/query/{id}` with `{"state":"Aborted"}`.
pub(super) async fn abort_handler(
    State(sim): State<Arc<Sim>>,
    Path((_version, id)): Path<(String, String)>,
    Extension(_): Extension<Session>,
    body: Bytes,
) -> Reply {
    let mut state = up_to_date(&sim, &id);
    let now = state.now();
    let Some(job) = state.api.bulk.jobs.get_mut(&id) else { return not_found() };
    let body = match json_object(&body) {
        Ok(body) => body,
        Err(message) => return parser_error(&message),
    };
    match body.get("state").and_then(Value::as_str) {
        Some("Aborted") => {}
        other => {
            let message = format!("Invalid state: {}. A query job can only be set to Aborted.", other.unwrap_or("(none)"));
            return error(StatusCode::BAD_REQUEST, "INVALIDJOBSTATE", &message);
        }
    }
    if job.state.terminal() {
        let was = if job.state == JobState::JobComplete { "Completed" } else { job.state.name() };
        return error(StatusCode::BAD_REQUEST, "INVALIDJOBSTATE", &format!("Aborting already {was} Job not allowed"));
    }
    job.enter(JobState::Aborted, now);
    job.results = None;
    Reply::json(StatusCode::OK, &job.json(View::Created))
}

/// `DELETE …/jobs/query/{id}`.
pub(super) async fn delete_handler(
    State(sim): State<Arc<Sim>>,
    Path((_version, id)): Path<(String, String)>,
    Extension(_): Extension<Session>,
) -> Reply {
    let mut state = up_to_date(&sim, &id);
    let Some(job) = state.api.bulk.jobs.get(&id) else { return not_found() };
    if !job.state.terminal() {
        return api_error("Error encountered when deleting the job because the job is not terminated");
    }
    state.api.bulk.jobs.remove(&id);
    Reply::empty(StatusCode::NO_CONTENT)
}

/// `GET …/jobs/query`: every job, 1,000 a page.
pub(super) async fn list_handler(
    State(sim): State<Arc<Sim>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    Extension(_): Extension<Session>,
) -> Reply {
    let mut state = sim.lock();
    forget_old_jobs(&mut state);
    let ids: Vec<String> = state.api.bulk.jobs.keys().cloned().collect();
    for id in &ids {
        advance(&mut state, id);
    }
    let params = parse_pairs(raw.unwrap_or_default().as_bytes());
    // Only Bulk API 2.0 query jobs exist here: other job types, serial mode and PK chunking (a
    // Bulk API 1.0 option) select none of them.
    let none = match (first(&params, "jobType"), first(&params, "concurrencyMode"), first(&params, "isPkChunkingEnabled")) {
        (Some(t), ..) if !["V2Query", "Classic", "V2Ingest", "BigObjectIngest"].contains(&t) => {
            return api_error(&format!("Invalid jobType: {t}. Valid values are Classic, V2Query and V2Ingest."))
        }
        (_, Some(m), _) if !["parallel", "serial"].contains(&m.to_ascii_lowercase().as_str()) => {
            return api_error(&format!("Invalid concurrencyMode: {m}. Valid values are parallel and serial."))
        }
        (t, m, pk) => {
            t.is_some_and(|t| t != "V2Query") || m.is_some_and(|m| m.eq_ignore_ascii_case("serial")) || pk == Some("true")
        }
    };
    let start = match first(&params, "queryLocator") {
        None => 0,
        Some(locator) => match decode_locator(locator) {
            Some(offset) if offset <= ids.len() => offset,
            _ => return api_error(&format!("Invalid queryLocator: {locator}")),
        },
    };
    let jobs: Vec<JobJson<'_>> = if none {
        Vec::new()
    } else {
        state.api.bulk.jobs.values().skip(start).take(JOBS_PER_PAGE).map(|job| job.json(View::Listed)).collect()
    };
    let end = start + jobs.len();
    let more = !none && end < ids.len();
    let next = more.then(|| format!("/services/data/{version}/jobs/query?queryLocator={}", encode_locator(end)));
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct JobList<'a> {
        done: bool,
        records: Vec<JobJson<'a>>,
        next_records_url: Option<String>,
    }
    Reply::json(StatusCode::OK, &JobList { done: !more, records: jobs, next_records_url: next })
}

/// `GET …/jobs/query/{id}/results`: a set of rows as CSV.
pub(super) async fn results_handler(
    State(sim): State<Arc<Sim>>,
    Path((version, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    Extension(_): Extension<Session>,
) -> Response {
    let mut state = up_to_date(&sim, &id);
    let default_max = state.api.bulk.default_max_records;
    let Some(job) = state.api.bulk.jobs.get(&id) else { return not_found().into_response() };
    if job.version != version {
        let message = format!(
            "The results of a job created with API version {} must be read with that version, not {version}",
            job.version
        );
        return error(StatusCode::CONFLICT, "API_ERROR", &message).into_response();
    }
    let Some(results) = job.results.as_ref().filter(|_| job.state == JobState::JobComplete) else {
        let message = format!("The job is {}: results are available once it is JobComplete", job.state.name());
        return api_error(&message).into_response();
    };
    let params = parse_pairs(raw.unwrap_or_default().as_bytes());
    let total = results.rows.len();
    let offset = match first(&params, "locator").filter(|l| !l.is_empty()) {
        None => 0,
        Some(locator) => match decode_locator(locator) {
            Some(offset) if offset <= total => offset,
            _ => return api_error(&format!("Invalid locator: {locator}")).into_response(),
        },
    };
    let max = match first(&params, "maxRecords") {
        None => default_max,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return api_error(&format!("Invalid maxRecords: {n}. It must be a positive integer.")).into_response(),
        },
    };
    let end = offset.saturating_add(max).min(total);
    let rows = results.rows.get(offset..end).unwrap_or_default();
    let line_end = job.line_ending.1;
    let mut body = String::with_capacity(results.header.len() + rows.iter().map(|r| r.len() + 2).sum::<usize>() + 2);
    for line in std::iter::once(&results.header).chain(rows) {
        body.push_str(line);
        body.push_str(line_end);
    }
    let locator = if end < total { encode_locator(end) } else { "null".to_owned() };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    headers.insert(NUMBER_OF_RECORDS, HeaderValue::from(rows.len()));
    if let Ok(value) = HeaderValue::from_str(&locator) {
        headers.insert(LOCATOR, value);
    }
    state.fire(Event::BulkResultsPage);
    response
}

// ---------------------------------------------------------------------------------------------
// Processing
// ---------------------------------------------------------------------------------------------

/// Moves a job through its states as far as the pace lets it now. Starting to run takes its
/// rows, then applies the changes scheduled for that moment.
fn advance(state: &mut SimState, id: &str) {
    loop {
        let now = state.now();
        let pace = state.api.bulk.pace;
        let Some(job) = state.api.bulk.jobs.get_mut(id) else { return };
        match job.state {
            JobState::UploadComplete if job.may_leave(pace.queued_polls, pace.queued_for, now) => {
                job.enter(JobState::InProgress, now);
                job.started = Some(now);
                let (plan, all, delimiter) = (job.plan.clone(), job.operation == Operation::QueryAll, job.delimiter.1);
                let results = take_results(state, &plan, all, delimiter);
                if let Some(job) = state.api.bulk.jobs.get_mut(id) {
                    job.results = Some(results);
                }
                state.fire(Event::BulkJobRunning);
            }
            JobState::InProgress if job.may_leave(pace.running_polls, pace.running_for, now) => match job.fails_with.take() {
                Some(message) => {
                    job.enter(JobState::Failed, now);
                    job.results = None;
                    job.error_message = Some(message);
                }
                None => job.enter(JobState::JobComplete, now),
            },
            _ => return,
        }
    }
}

/// The query's rows as they are now, as CSV lines.
fn take_results(state: &mut SimState, plan: &Plan, include_deleted: bool, delimiter: char) -> Results {
    let rows = matching_rows(state, plan, include_deleted).unwrap_or_default();
    let kinds: Vec<FieldKind> = plan
        .columns
        .iter()
        .map(|column| {
            state.org.schema.object(&plan.object).and_then(|o| o.field(column)).map_or(FieldKind::String, |f| f.kind)
        })
        .collect();
    let separator = delimiter.to_string();
    let header = plan.headers.iter().map(|h| quote(h)).collect::<Vec<_>>().join(&separator);
    let rows = rows.iter().map(|row| csv_row(row, &plan.columns, &kinds, &separator)).collect();
    Results { header, rows }
}

fn csv_row(row: &Fields, columns: &[String], kinds: &[FieldKind], separator: &str) -> String {
    let cells: Vec<String> = columns
        .iter()
        .zip(kinds)
        .map(|(column, kind)| match row.get(column) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) if *kind == FieldKind::DateTime => {
                quote(&zulu_datetime(text).unwrap_or_else(|| text.clone()))
            }
            Some(Value::String(text)) => quote(text),
            Some(other) => quote(&other.to_string()),
        })
        .collect();
    cells.join(separator)
}

/// A CSV value in double quotes, quotes inside doubled (RFC 4180): delimiters and line breaks in
/// it need nothing more.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The locked state, with the jobs that ended long ago forgotten and job `id` (if it exists)
/// moved on as far as its pace lets it now.
fn up_to_date<'a>(sim: &'a Sim, id: &str) -> MutexGuard<'a, SimState> {
    let mut state = sim.lock();
    forget_old_jobs(&mut state);
    advance(&mut state, id);
    state
}

/// Drops the jobs that ended longer than [`JOB_LIFESPAN`] ago.
fn forget_old_jobs(state: &mut SimState) {
    let now = state.now();
    state.api.bulk.jobs.retain(|_, job| {
        !job.state.terminal() || now.duration_since(job.since).map_or(true, |age| age < JOB_LIFESPAN)
    });
}

/// The value named `given` (or `default` when absent) among `values`, with what it stands for.
fn pick<T: Copy>(values: &[(&'static str, T)], given: Option<&str>, default: &str) -> Option<(&'static str, T)> {
    let wanted = given.unwrap_or(default);
    values.iter().find(|(name, _)| *name == wanted).copied()
}

fn encode_locator(offset: usize) -> String {
    STANDARD_NO_PAD.encode(offset.to_string())
}

fn decode_locator(locator: &str) -> Option<usize> {
    let bytes = STANDARD_NO_PAD.decode(locator).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
    text.parse().ok()
}

/// 400 `API_ERROR`.
fn api_error(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "API_ERROR", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_are_base64_offsets_like_the_documented_one() {
        assert_eq!(encode_locator(10_000), "MTAwMDA");
        assert_eq!(decode_locator("MTAwMDA"), Some(10_000));
        for bad in ["", "MTAwMDA=", "!!", "LTE", "YWJj"] {
            assert_eq!(decode_locator(bad), None, "{bad}");
        }
    }

    #[test]
    fn csv_values_are_quoted_with_quotes_doubled() {
        assert_eq!(quote("a \"b\", c\nd"), "\"a \"\"b\"\", c\nd\"");
        let row: Fields = serde_json::json!({"A": "x", "B": null, "C": true, "D": "2026-12-05T10:00:00.000+0000", "E": 1.5})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let columns: Vec<String> = ["A", "B", "C", "D", "E"].iter().map(|c| (*c).to_owned()).collect();
        let kinds = [FieldKind::String, FieldKind::String, FieldKind::Boolean, FieldKind::DateTime, FieldKind::Double];
        assert_eq!(csv_row(&row, &columns, &kinds, ","), "\"x\",,\"true\",\"2026-12-05T10:00:00.000Z\",\"1.5\"");
    }
}
