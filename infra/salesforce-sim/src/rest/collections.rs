//! sObject Collections (salesforce.md §7.1): `POST …/composite/sobjects` (create),
//! `PATCH …/composite/sobjects` (update) and `PATCH …/composite/sobjects/{Type}/{ExtIdField}`
//! (upsert).
//!
//! Body: `{"allOrNone": bool (default false), "records": [{"attributes": {"type": "Task"}, ...}]}`,
//! at most 200 records (else 400 `EXCEEDED_ID_LIMIT`). A well-formed request answers 200 with one
//! result per record, in order, even when every record failed: failed records carry no `id`
//! (sobject-collections-create-partial-failure.json). With `allOrNone: true` and any failure,
//! nothing is kept and the records that were fine report `ALL_OR_NONE_OPERATION_ROLLED_BACK`
//! (…-allornone-rolled-back.json). Upsert results add `created` (sobject-collections-upsert-response.json).
//!
//! A value of the wrong JSON type anywhere, or a date or datetime string that does not parse, fails
//! the whole request with 400 `JSON_PARSER_ERROR` ("Cannot deserialize instance of date from
//! VALUE_STRING value 2026-13-01 or request may be missing a required field", the message public
//! fixtures and issue reports show; Salesforce appends the position, ` at [line:1, column:57]`,
//! which the simulator leaves out), as Salesforce deserializes the body before saving anything: no
//! record of it is saved. Values that parse but do not fit their field (too long, out of range,
//! not in a restricted picklist, not writable) fail their record alone (`records.rs`). The whole
//! request counts one API call.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use serde_json::Value;

use super::{error, json_object, not_found, parser_error, Reply, SaveResult, Session};
use crate::records::{Fields, Org, RecordError, UpsertError, Writer};
use crate::state::{Sim, SimState};

/// Records per request (salesforce.md §7.1).
const MAX_RECORDS: usize = 200;

/// A parsed request body.
struct Batch {
    all_or_none: bool,
    records: Vec<Fields>,
}

/// What a record turned into: its id and, for upserts, whether it was created.
type Outcome = Result<(String, Option<bool>), RecordError>;

/// `POST …/composite/sobjects`.
pub(super) async fn create_handler(
    State(sim): State<Arc<Sim>>,
    Path(_version): Path<String>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    create(&mut sim.lock(), &session, &body)
}

/// Creates the batch's records.
pub(super) fn create(state: &mut SimState, session: &Session, body: &[u8]) -> Reply {
    save(state, session, body, None, |org, record, writer| {
        let object = record_type(record)?;
        org.create(&object, record, writer).map(|id| (id, None))
    })
}

/// `PATCH …/composite/sobjects`.
pub(super) async fn update_handler(
    State(sim): State<Arc<Sim>>,
    Path(_version): Path<String>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    update(&mut sim.lock(), &session, &body)
}

/// Updates the batch's records, each by its `Id`.
pub(super) fn update(state: &mut SimState, session: &Session, body: &[u8]) -> Reply {
    save(state, session, body, None, |org, record, writer| {
        let object = record_type(record)?;
        let id = record
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Id"))
            .and_then(|(_, v)| v.as_str())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| RecordError::new("MISSING_ARGUMENT", "Id not specified in an update call", Vec::new()))?;
        org.update(&object, id, record, writer).map(|id| (id, None))
    })
}

/// `PATCH …/composite/sobjects/{Type}/{ExtIdField}`.
pub(super) async fn upsert_handler(
    State(sim): State<Arc<Sim>>,
    Path((_version, object, field)): Path<(String, String, String)>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    upsert(&mut sim.lock(), &session, &object, &field, &body)
}

/// Upserts the batch's records of `object` by the External ID `field`.
pub(super) fn upsert(state: &mut SimState, session: &Session, object: &str, field: &str, body: &[u8]) -> Reply {
    let (object, field) = {
        let Some(def) = state.org.schema.object(object) else { return not_found() };
        let Some(key) = def.field(field).filter(|f| f.external_id) else {
            let message =
                format!("Field name provided, {field} is not an External ID or indexed field for {}", def.name);
            return error(StatusCode::BAD_REQUEST, "INVALID_FIELD", &message);
        };
        (def.name.clone(), key.name.clone())
    };
    // One type per upsert: records need no `attributes`.
    save(state, session, body, Some((&object, &field)), |org, record, writer| {
        let key = record
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&field))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                RecordError::new("MISSING_ARGUMENT", format!("{field} not specified"), vec![field.clone()])
            })?;
        match org.upsert(&object, &field, &key, record, writer) {
            Ok((id, created)) => Ok((id, Some(created))),
            Err(UpsertError::Record(e)) => Err(e),
            Err(UpsertError::Ambiguous(ids)) => Err(RecordError::new(
                "DUPLICATE_EXTERNAL_ID",
                format!("{field}: more than one record found for external id field: [{}]", ids.join(", ")),
                vec![field.clone()],
            )),
        }
    })
}

/// Parses the batch, applies `write` to each record in order inside one transaction, and answers
/// with the results. `upsert` names the type and key of an upsert, whose records may omit
/// `attributes` and may not repeat a key.
fn save(
    state: &mut SimState,
    session: &Session,
    body: &[u8],
    upsert: Option<(&str, &str)>,
    mut write: impl FnMut(&mut Org, &Fields, &Writer) -> Outcome,
) -> Reply {
    let batch = match parse(body) {
        Ok(batch) => batch,
        Err(e) => return e.into_reply(),
    };
    for record in &batch.records {
        let object = upsert.map(|(object, _)| object.to_owned()).or_else(|| record_type(record).ok());
        if let Err(message) = object.map_or(Ok(()), |object| state.org.check_types(&object, record)) {
            return parser_error(&message);
        }
    }
    // Keys repeated within an upsert batch fail every occurrence.
    let repeated = repeated_keys(&batch.records, upsert.map(|(_, key)| key));
    let writer = session.writer(state);
    state.org.begin();
    let outcomes: Vec<Outcome> = batch
        .records
        .iter()
        .enumerate()
        .map(|(i, record)| match repeated.get(i) {
            Some(Some(error)) => Err(error.clone()),
            _ => write(&mut state.org, record, &writer),
        })
        .collect();
    let failed = outcomes.iter().any(Result::is_err);
    let rolled_back = batch.all_or_none && failed;
    if rolled_back {
        state.org.rollback();
    } else {
        state.org.commit();
    }
    let results: Vec<SaveResult> = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(_) if rolled_back => SaveResult::failed(RecordError::new(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was using AllOrNone header",
                Vec::new(),
            )),
            Ok((id, created)) => SaveResult::ok(id, created),
            Err(error) => SaveResult::failed(error),
        })
        .collect();
    Reply::json(StatusCode::OK, &results)
}

/// For each record, the `DUPLICATE_EXTERNAL_ID` error if its upsert key appears more than once.
fn repeated_keys(records: &[Fields], key: Option<&str>) -> Vec<Option<RecordError>> {
    let Some(key) = key else { return Vec::new() };
    let value = |record: &Fields| {
        record.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v).filter(|v| !v.is_null()).map(|v| {
            match v {
                Value::String(s) => (s.to_lowercase(), s.clone()),
                other => (other.to_string(), other.to_string()),
            }
        })
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for record in records {
        if let Some((normalized, _)) = value(record) {
            *counts.entry(normalized).or_default() += 1;
        }
    }
    records
        .iter()
        .map(|record| {
            let (normalized, shown) = value(record)?;
            (counts.get(&normalized).copied().unwrap_or(0) > 1).then(|| {
                RecordError::new(
                    "DUPLICATE_EXTERNAL_ID",
                    format!("Duplicate external id specified: {shown}"),
                    vec![key.to_owned()],
                )
            })
        })
        .collect()
}

/// `{"allOrNone": bool, "records": [object, ...]}`, at most 200 records.
fn parse(body: &[u8]) -> Result<Batch, BatchError> {
    let mut body = json_object(body).map_err(BatchError::Parser)?;
    let all_or_none = match body.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(BatchError::Parser("Cannot deserialize instance of boolean for allOrNone".into())),
    };
    let Some(Value::Array(records)) = body.remove("records") else {
        return Err(BatchError::Parser("Cannot deserialize the request: records must be a JSON array".into()));
    };
    if records.len() > MAX_RECORDS {
        return Err(BatchError::TooMany);
    }
    let records = records
        .into_iter()
        .map(|record| match record {
            Value::Object(fields) => Ok(fields),
            _ => Err(BatchError::Parser(
                "Cannot deserialize instance of SObject from a value that is not a JSON object".into(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Batch { all_or_none, records })
}

/// Why a body is not a batch.
enum BatchError {
    /// 400 `JSON_PARSER_ERROR`.
    Parser(String),
    /// 400 `EXCEEDED_ID_LIMIT`.
    TooMany,
}

impl BatchError {
    fn into_reply(self) -> Reply {
        match self {
            Self::Parser(message) => parser_error(&message),
            Self::TooMany => error(
                StatusCode::BAD_REQUEST,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            ),
        }
    }
}

/// `attributes.type` of a record.
fn record_type(record: &Fields) -> Result<String, RecordError> {
    record
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| RecordError::new("INVALID_TYPE", "Must send a concrete entity type.", Vec::new()))
}
