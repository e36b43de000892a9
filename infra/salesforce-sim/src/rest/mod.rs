//! The REST API under `/services/data/` (salesforce.md §5–§8).
//!
//! | Route (under `/services/data/vNN.N`) | Module |
//! |---|---|
//! | `GET /services/data/` (the versions; free, no token) and `GET …/limits` | this file |
//! | `GET …/query?q=`, `GET …/queryAll?q=`, `GET …/query/{locator}` (next page) | `query.rs` |
//! | `POST …/sobjects/{Type}`, `GET`/`PATCH`/`DELETE …/sobjects/{Type}/{Id}`, `PATCH …/sobjects/{Type}/{ExtIdField}/{value}` (upsert) | `sobjects.rs` |
//! | `GET …/sobjects`, `GET …/sobjects/{Type}/describe` | `describe.rs` |
//! | `POST`/`PATCH …/composite/sobjects`, `PATCH …/composite/sobjects/{Type}/{ExtIdField}` | `collections.rs` |
//! | `POST …/composite` (up to 25 subrequests to the routes above, one API call) | `composite.rs` |
//! | `POST`/`GET …/jobs/query`, `GET`/`PATCH`/`DELETE …/jobs/query/{id}`, `GET …/jobs/query/{id}/results` (Bulk API 2.0 query jobs) | `bulk.rs` |
//!
//! Every request under a version first passes `gate.rs`, which does what is common to all REST
//! calls, in the order Salesforce's layers do it: the URI length limit (414), fault injection,
//! the bearer token (401 `INVALID_SESSION_ID`), the daily request limit (403
//! `REQUEST_LIMIT_EXCEEDED`), the configured latency, and the `Sforce-Limit-Info` header. Handlers
//! then find the caller's [`Session`] in the request's extensions.
//!
//! Each resource is a plain function of the locked [`SimState`] and its parsed input that returns
//! a [`Reply`] (status, JSON body, `Location`); its axum handler only extracts the input and locks.
//! The Composite resource calls the same functions for its subrequests, under one lock and
//! without the gate, so a subrequest answers exactly what the standalone call would.
//!
//! To add a resource: write its function and a handler taking `Path` with the version first, add
//! a `route` in [`routes`], and, if Composite should reach it, a case in `composite.rs`'s
//! `Route`; the gate, recording and error shapes come with it.
//!
//! Error bodies: a resource error is a JSON array `[{"message","errorCode"[,"fields"]}]`; a record
//! in a collection fails with `{"statusCode","message","fields"}` ([`RecordError`]).

mod bulk;
mod collections;
mod composite;
mod describe;
mod gate;
mod query;
mod sobjects;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Router};
use serde::ser::SerializeMap;
use serde::Serialize;
use serde_json::{json, Value};

use crate::faults::FaultState;
use crate::records::{Fields, RecordError, Writer};
use crate::state::{Sim, SimState};

pub use bulk::{BulkQueryPace, BULK_DEFAULT_MAX_RECORDS};
pub(crate) use gate::gate;

/// Developer Edition's daily allocation (salesforce.md §5.5).
pub(crate) const DEFAULT_API_LIMIT: u64 = 15_000;

/// The versions `GET /services/data/` lists (salesforce.md §5.1).
const VERSIONS: &[(&str, &str)] = &[
    ("Winter '25", "62.0"),
    ("Spring '25", "63.0"),
    ("Summer '25", "64.0"),
    ("Winter '26", "65.0"),
    ("Spring '26", "66.0"),
    ("Summer '26", "67.0"),
];

/// What the REST API keeps besides the records: limits, knobs, counters, query cursors, Bulk API
/// 2.0 query jobs.
#[derive(Debug)]
pub(crate) struct ApiState {
    /// Calls counted against the daily limit, and the limit.
    pub(crate) used: u64,
    pub(crate) max: u64,
    /// Every request under `/services/data/vNN.N/`, whatever became of it.
    pub(crate) calls: usize,
    /// The same requests by method and route (`("GET", "/query")`, …; see [`route_of`]).
    pub(crate) route_calls: HashMap<(String, String), usize>,
    pub(crate) latency: Duration,
    pub(crate) faults: FaultState,
    /// Query results still being paged through, by query locator id.
    pub(crate) cursors: HashMap<String, query::Cursor>,
    pub(crate) cursors_minted: u64,
    pub(crate) bulk: bulk::BulkState,
}

impl Default for ApiState {
    fn default() -> Self {
        Self {
            used: 0,
            max: DEFAULT_API_LIMIT,
            calls: 0,
            route_calls: HashMap::new(),
            latency: Duration::ZERO,
            faults: FaultState::default(),
            cursors: HashMap::new(),
            cursors_minted: 0,
            bulk: bulk::BulkState::default(),
        }
    }
}

/// The route a request matched, as counted in [`ApiState::route_calls`]: the route's template
/// after `/services/data/{version}` (`/query`, `/jobs/query/{job}/results`), or the whole template
/// for other APIs (`/services/apexrest/{*path}`).
pub(crate) fn route_of(template: &str) -> &str {
    template.strip_prefix("/services/data/{version}").unwrap_or(template)
}

/// The caller of a REST request, put in the request's extensions by the gate.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) user_id: String,
}

impl Session {
    /// The author of writes made now, stamping them with [`SimState::write_time`].
    pub(crate) fn writer(&self, state: &mut SimState) -> Writer {
        Writer { user_id: self.user_id.clone(), now: state.write_time() }
    }
}

pub(crate) fn routes() -> Router<Arc<Sim>> {
    let v = |path: &str| format!("/services/data/{{version}}{path}");
    Router::new()
        .route("/services/data", get(versions))
        .route("/services/data/", get(versions))
        .route(&v("/limits"), get(limits))
        .route(&v("/query"), get(query::query))
        .route(&v("/queryAll"), get(query::query_all))
        .route(&v("/query/{locator}"), get(query::query_more))
        .route(&v("/sobjects"), get(describe::describe_global_handler))
        .route(&v("/sobjects/{object}"), post(sobjects::create_handler))
        .route(&v("/sobjects/{object}/describe"), get(describe::describe_handler))
        .route(
            &v("/sobjects/{object}/{id}"),
            get(sobjects::read_handler).patch(sobjects::update_handler).delete(sobjects::delete_handler),
        )
        .route(&v("/sobjects/{object}/{field}/{value}"), patch(sobjects::upsert_handler))
        .route(&v("/composite/sobjects"), post(collections::create_handler).patch(collections::update_handler))
        .route(&v("/composite/sobjects/{object}/{field}"), patch(collections::upsert_handler))
        .route(&v("/composite"), post(composite::composite))
        .route(&v("/jobs/query"), post(bulk::create_handler).get(bulk::list_handler))
        .route(
            &v("/jobs/query/{job}"),
            get(bulk::info_handler).patch(bulk::abort_handler).delete(bulk::delete_handler),
        )
        .route(&v("/jobs/query/{job}/results"), get(bulk::results_handler))
}

/// `GET /services/data/`: the available versions. Needs no token and costs no call.
async fn versions() -> Response {
    let list: Vec<Value> = VERSIONS
        .iter()
        .map(
            |(label, version)| json!({"label": label, "url": format!("/services/data/v{version}"), "version": version}),
        )
        .collect();
    axum::Json(list).into_response()
}

/// `GET …/limits`: the daily request allocation and Bulk API 2.0's query jobs (the other limits
/// are not simulated).
async fn limits(State(sim): State<Arc<Sim>>, Path(_version): Path<String>, Extension(_): Extension<Session>) -> Reply {
    let state = sim.lock();
    let (used, max) = (state.api.used, state.api.max);
    let (jobs, jobs_max) = (state.api.bulk.jobs_created, state.api.bulk.daily_jobs);
    Reply::json(
        StatusCode::OK,
        &json!({
            "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
            "DailyBulkV2QueryJobs": {"Max": jobs_max, "Remaining": jobs_max.saturating_sub(jobs)},
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Response helpers
// ---------------------------------------------------------------------------------------------

/// `{"message","errorCode"[,"fields"]}`, in Salesforce's key order.
#[derive(Serialize)]
struct ErrorEntry<'a> {
    message: &'a str,
    #[serde(rename = "errorCode")]
    error_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [String]>,
}

/// What a resource answers, before it becomes HTTP: the status, the JSON body (already
/// serialized, so keys keep Salesforce's order) and, for a created record, its `Location`. An axum
/// handler returns it as its response; Composite embeds it in a `compositeResponse` entry.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    /// JSON text; `None` for a bodiless answer (204).
    pub(crate) body: Option<String>,
    /// The created record's URL (`/services/data/vNN.N/sobjects/Type/Id`), sent as `Location`.
    pub(crate) location: Option<String>,
}

impl Reply {
    /// `body` as JSON.
    pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Self {
        match serde_json::to_string(body) {
            Ok(text) => Self { status, body: Some(text), location: None },
            Err(_) => Self::empty(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// No body.
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self { status, body: None, location: None }
    }

    pub(crate) fn with_location(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => {
                let mut response = (self.status, body).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
                response
            }
            None => self.status.into_response(),
        };
        if let Some(value) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

/// A resource error: `[{"message": ..., "errorCode": ...}]`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::json(status, &[ErrorEntry { message, error_code: code, fields: None }])
}

/// A record's error as a resource error (single-record endpoints), with its `fields`.
pub(crate) fn record_error(status: StatusCode, error: &RecordError) -> Reply {
    // Salesforce leaves `fields` out of unknown-column errors (salesforce-samples/error-invalid-field.json).
    let fields = (error.status_code != "INVALID_FIELD").then_some(error.fields.as_slice());
    Reply::json(status, &[ErrorEntry { message: &error.message, error_code: &error.status_code, fields }])
}

/// 404 `NOT_FOUND`.
pub(crate) fn not_found() -> Reply {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist")
}

/// 400 `JSON_PARSER_ERROR`.
pub(crate) fn parser_error(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", message)
}

/// The request body as a JSON object; `Err` is the `JSON_PARSER_ERROR` message.
pub(crate) fn json_object(body: &[u8]) -> Result<Fields, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("Cannot deserialize instance of SObject from a value that is not a JSON object".to_owned()),
        Err(e) => Err(format!("Unexpected character in the request body: {e}")),
    }
}

/// A record as REST returns it: `attributes` first, then the fields in the order given (a JSON
/// object whose key order is kept).
#[derive(Clone, Debug)]
pub(crate) struct RecordJson(Vec<(String, Value)>);

impl RecordJson {
    pub(crate) fn new<'a>(
        object: &str,
        version: &str,
        fields: &Fields,
        columns: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let id = fields.get("Id").and_then(Value::as_str).unwrap_or_default();
        let attributes = json!({"type": object, "url": format!("/services/data/{version}/sobjects/{object}/{id}")});
        let mut entries = vec![("attributes".to_owned(), attributes)];
        entries.extend(columns.into_iter().map(|c| (c.to_owned(), fields.get(c).cloned().unwrap_or(Value::Null))));
        Self(entries)
    }
}

impl Serialize for RecordJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A save result, in Salesforce's key order: `{"id","success","errors"[,"created"]}`; failed
/// records carry no `id`.
#[derive(Debug, Serialize)]
pub(crate) struct SaveResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) success: bool,
    pub(crate) errors: Vec<RecordError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<bool>,
}

impl SaveResult {
    pub(crate) fn ok(id: String, created: Option<bool>) -> Self {
        Self { id: Some(id), success: true, errors: Vec::new(), created }
    }

    pub(crate) fn failed(error: RecordError) -> Self {
        Self { id: None, success: false, errors: vec![error], created: None }
    }
}
