//! `GET …/query?q=SOQL`, `GET …/queryAll?q=SOQL` (the recycle bin too) and
//! `GET …/query/{locator}` (the next page) (salesforce.md §6; the SOQL subset is `soql.rs`'s).
//!
//! Salesforce's rules (REST API Developer Guide, "Query", "QueryAll", "Query More Results"):
//!
//! - A result larger than the page size (2,000, or `Sforce-Query-Options: batchSize=N` with N in
//!   200–2,000, a hint) is paged: `done: false` and a `nextRecordsUrl` of the form
//!   `/services/data/vNN.N/query/01g…-2000`, as in salesforce-samples/soql-query-contacts.json.
//! - The rows are those that matched when the query ran: the cursor keeps them, so a record
//!   changed while a client pages is seen as it was.
//! - A locator serves once (SOAP API "QueryLocator": "Use a given queryLocator value only one
//!   time"), and a cursor lives 2 days (Limits Quick Reference, "API Query Cursor Limits":
//!   "Cursors and their related query results are available for 2 days"). A used, expired or
//!   made-up locator gets 400 `INVALID_QUERY_LOCATOR` (Help 000384958).
//! - `queryAll` also returns the recycle bin's records (`IsDeleted` true), for 15 days after their
//!   deletion (`records.rs`).
//! - `SELECT COUNT()` answers `{"totalSize": n, "done": true, "records": []}` (SOQL and SOSL
//!   Reference, "COUNT() and COUNT(fieldName)": "the size field … returns the number of rows …
//!   The records field returns null", which REST renders as an empty array).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use serde::Serialize;

use super::{error, ApiState, RecordJson, Reply, Session};
use crate::changes::Event;
use crate::ids;
use crate::recording::{first, parse_pairs};
use crate::records::Fields;
use crate::soql::{self, Plan};
use crate::state::{Sim, SimState};

const MAX_BATCH: usize = 2_000;
const MIN_BATCH: usize = 200;

/// How long a query cursor and its rows stay available.
const CURSOR_LIFETIME: Duration = Duration::from_secs(2 * 24 * 60 * 60);

/// The rows of a paged result still to be read, and when the query ran.
#[derive(Debug)]
pub(crate) struct Cursor {
    records: Vec<RecordJson>,
    opened: SystemTime,
}

#[derive(Serialize)]
struct QueryResult<'a> {
    #[serde(rename = "totalSize")]
    total_size: usize,
    done: bool,
    #[serde(rename = "nextRecordsUrl", skip_serializing_if = "Option::is_none")]
    next_records_url: Option<String>,
    records: &'a [RecordJson],
}

pub(super) async fn query(
    State(sim): State<Arc<Sim>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    Extension(_): Extension<Session>,
) -> Reply {
    run(&mut sim.lock(), &version, raw.as_deref(), batch_size(query_options(&headers)), false)
}

pub(super) async fn query_all(
    State(sim): State<Arc<Sim>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    Extension(_): Extension<Session>,
) -> Reply {
    run(&mut sim.lock(), &version, raw.as_deref(), batch_size(query_options(&headers)), true)
}

/// `…/query?{raw}` (or `…/queryAll` with `include_deleted`): the first page of at most `batch`
/// records.
pub(super) fn run(
    state: &mut SimState,
    version: &str,
    raw: Option<&str>,
    batch: usize,
    include_deleted: bool,
) -> Reply {
    let params = parse_pairs(raw.unwrap_or_default().as_bytes());
    let Some(text) = first(&params, "q") else {
        return error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", "A query string has to be specified");
    };
    let plan = match soql::plan(text, &state.org.schema) {
        Ok(plan) => plan,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.code, &e.message),
    };
    let Some(rows) = matching_rows(state, &plan, include_deleted) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_TYPE", "sObject type is not supported.");
    };
    if plan.count {
        let reply = Reply::json(StatusCode::OK, &QueryResult { total_size: rows.len(), done: true, next_records_url: None, records: &[] });
        state.fire(Event::QueryPage);
        return reply;
    }
    let records: Vec<RecordJson> = rows
        .iter()
        .map(|row| RecordJson::new(&plan.object, version, row, plan.columns.iter().map(String::as_str)))
        .collect();
    let now = state.now();
    let reply = page(&mut state.api, version, Cursor { records, opened: now }, 0, batch, now);
    state.fire(Event::QueryPage);
    reply
}

/// The rows a query selects, filtered, sorted and cut by OFFSET and LIMIT, as the org holds them
/// now (the recycle bin's too when `include_deleted`); `None` for an object the org lost.
pub(crate) fn matching_rows(state: &mut SimState, plan: &Plan, include_deleted: bool) -> Option<Vec<Fields>> {
    if include_deleted {
        state.expire_recycle_bin();
    }
    let object = state.org.schema.object(&plan.object)?.clone();
    // Computed fields (Name, IsClosed, …) exist only in full rows; others can be tested as stored.
    let on_stored = plan.filter_fields().iter().all(|f| object.field(f).is_some_and(|f| !f.calculated));
    let mut rows = state.org.rows_where(&object, include_deleted, on_stored, |r| plan.matches(r));
    plan.sort(&mut rows);
    let offset = plan.offset.unwrap_or(0).min(rows.len());
    rows.drain(..offset);
    rows.truncate(plan.limit.unwrap_or(usize::MAX));
    Some(rows)
}

/// `GET …/query/{locator}`: the page of a paged result starting at the locator's offset.
pub(super) async fn query_more(
    State(sim): State<Arc<Sim>>,
    Path((version, locator)): Path<(String, String)>,
    headers: HeaderMap,
    Extension(_): Extension<Session>,
) -> Reply {
    more(&mut sim.lock(), &version, &locator, batch_size(query_options(&headers)))
}

/// The next page of a paged result: `{cursor}-{offset}`. A locator serves once.
pub(super) fn more(state: &mut SimState, version: &str, locator: &str, batch: usize) -> Reply {
    let now = state.now();
    let found = locator
        .rsplit_once('-')
        .and_then(|(cursor, offset)| Some((cursor.to_owned(), offset.parse::<usize>().ok()?)))
        .and_then(|(cursor, offset)| Some((state.api.cursors.remove(&cursor)?, offset)))
        .filter(|(cursor, _)| alive(cursor, now));
    let Some((cursor, offset)) = found else {
        return error(StatusCode::BAD_REQUEST, "INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    let reply = page(&mut state.api, version, cursor, offset, batch, now);
    state.fire(Event::QueryPage);
    reply
}

fn alive(cursor: &Cursor, now: SystemTime) -> bool {
    now.duration_since(cursor.opened).map_or(true, |age| age < CURSOR_LIFETIME)
}

/// The `Sforce-Query-Options` header's value.
fn query_options(headers: &HeaderMap) -> Option<&str> {
    headers.get("sforce-query-options").and_then(|v| v.to_str().ok())
}

/// The page size `Sforce-Query-Options: batchSize=N` asks for (`options` is the header's
/// value), a hint clamped to 200–2,000; 2,000 without it.
pub(super) fn batch_size(options: Option<&str>) -> usize {
    options
        .and_then(|v| v.split(',').find_map(|option| option.trim().strip_prefix("batchSize=")))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map_or(MAX_BATCH, |n| n.clamp(MIN_BATCH, MAX_BATCH))
}

/// The page of the cursor's records from `offset`; keeps the cursor under a new locator when
/// there is more. Expired cursors are dropped on the way.
fn page(api: &mut ApiState, version: &str, cursor: Cursor, offset: usize, batch: usize, now: SystemTime) -> Reply {
    api.cursors.retain(|_, cursor| alive(cursor, now));
    let total = cursor.records.len();
    let end = offset.saturating_add(batch).min(total);
    let page = cursor.records.get(offset.min(total)..end).unwrap_or_default();
    let next_records_url = (end < total).then(|| {
        api.cursors_minted += 1;
        let id = ids::mint("01g", api.cursors_minted);
        let url = format!("/services/data/{version}/query/{id}-{end}");
        (id, url)
    });
    let body = QueryResult {
        total_size: total,
        done: next_records_url.is_none(),
        next_records_url: next_records_url.as_ref().map(|(_, url)| url.clone()),
        records: page,
    };
    let response = Reply::json(StatusCode::OK, &body);
    if let Some((id, _)) = next_records_url {
        api.cursors.insert(id, cursor);
    }
    response
}
