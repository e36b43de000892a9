//! `GET …/query?q=SOQL`, `GET …/queryAll?q=SOQL` (the recycle bin too) and
//! `GET …/query/{locator}` (the next page) (salesforce.md §6; the SOQL subset is `soql.rs`'s).
//!
//! A result larger than the page size (2,000, or `Sforce-Query-Options: batchSize=N` with N in
//! 200–2,000) is paged: `done: false` and a `nextRecordsUrl` of the form
//! `/services/data/vNN.N/query/01g…-2000`, as in salesforce-samples/soql-query-contacts.json.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use serde::Serialize;

use super::{error, ApiState, RecordJson, Reply, Session};
use crate::ids;
use crate::recording::{first, parse_pairs};
use crate::soql;
use crate::state::{Sim, SimState};

const MAX_BATCH: usize = 2_000;
const MIN_BATCH: usize = 200;

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
    let Some(object) = state.org.schema.object(&plan.object).cloned() else {
        return error(StatusCode::BAD_REQUEST, "INVALID_TYPE", "sObject type is not supported.");
    };
    // Computed fields (Name, IsClosed, …) exist only in full rows; others can be tested as stored.
    let on_stored = plan.filter_fields().iter().all(|f| object.field(f).is_some_and(|f| !f.calculated));
    let mut rows = state.org.rows_where(&object, include_deleted, on_stored, |r| plan.matches(r));
    plan.sort(&mut rows);
    let records: Vec<RecordJson> = rows
        .iter()
        .skip(plan.offset.unwrap_or(0))
        .take(plan.limit.unwrap_or(usize::MAX))
        .map(|row| RecordJson::new(&object.name, version, row, plan.columns.iter().map(String::as_str)))
        .collect();
    page(&mut state.api, version, records, 0, batch)
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
    let found = locator
        .rsplit_once('-')
        .and_then(|(cursor, offset)| Some((cursor.to_owned(), offset.parse::<usize>().ok()?)))
        .and_then(|(cursor, offset)| Some((state.api.cursors.remove(&cursor)?, offset)));
    let Some((records, offset)) = found else {
        return error(StatusCode::BAD_REQUEST, "INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    page(&mut state.api, version, records, offset, batch)
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

/// The page of `records` from `offset`; keeps the rest under a new locator when there is more.
fn page(api: &mut ApiState, version: &str, records: Vec<RecordJson>, offset: usize, batch: usize) -> Reply {
    let total = records.len();
    let end = offset.saturating_add(batch).min(total);
    let page = records.get(offset.min(total)..end).unwrap_or_default();
    let next_records_url = (end < total).then(|| {
        api.cursors_minted += 1;
        let cursor = ids::mint("01g", api.cursors_minted);
        let url = format!("/services/data/{version}/query/{cursor}-{end}");
        (cursor, url)
    });
    let body = QueryResult {
        total_size: total,
        done: next_records_url.is_none(),
        next_records_url: next_records_url.as_ref().map(|(_, url)| url.clone()),
        records: page,
    };
    let response = Reply::json(StatusCode::OK, &body);
    if let Some((cursor, _)) = next_records_url {
        api.cursors.insert(cursor, records);
    }
    response
}
