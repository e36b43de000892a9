//! One record at a time: `POST …/sobjects/{Type}` (create), `GET`/`PATCH`/`DELETE
//! …/sobjects/{Type}/{Id}`, and `PATCH …/sobjects/{Type}/{ExtIdField}/{value}` (upsert).
//!
//! Successes: create 201 `{"id","success":true,"errors":[]}` with the record's URL as `Location`;
//! update and delete 204; upsert 201 (created, with `Location`) or 200 (updated) with `{"id","success","errors","created"}`, 300 with the matching
//! records' URLs when the external id is not unique. Failures are resource errors
//! (`[{"message","errorCode","fields"}]`) with 400, or 404 for an unknown type, record or field.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Extension;
use serde_json::Value;

use super::{error, json_object, not_found, parser_error, record_error, RecordJson, Reply, SaveResult, Session};
use crate::recording::{first, parse_pairs};
use crate::records::{Lookup, UpsertError};
use crate::state::{Sim, SimState};

/// `POST …/sobjects/{Type}`.
pub(super) async fn create_handler(
    State(sim): State<Arc<Sim>>,
    Path((version, object)): Path<(String, String)>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    create(&mut sim.lock(), &session, &version, &object, &body)
}

/// Creates a record: 201 with its id and `Location`.
pub(super) fn create(state: &mut SimState, session: &Session, version: &str, object: &str, body: &[u8]) -> Reply {
    let fields = match json_object(body) {
        Ok(fields) => fields,
        Err(message) => return parser_error(&message),
    };
    let Some(object) = state.org.schema.object(object).map(|o| o.name.clone()) else { return not_found() };
    if let Err(message) = state.org.check_types(&object, &fields) {
        return parser_error(&message);
    }
    let writer = session.writer(state);
    match state.org.create(&object, &fields, &writer) {
        Ok(id) => Reply::json(StatusCode::CREATED, &SaveResult::ok(id.clone(), None))
            .with_location(record_url(version, &object, &id)),
        Err(e) => record_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// `GET …/sobjects/{Type}/{Id}[?fields=A,B]`.
pub(super) async fn read_handler(
    State(sim): State<Arc<Sim>>,
    Path((version, object, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    Extension(_): Extension<Session>,
) -> Reply {
    let mut state = sim.lock();
    state.expire_recycle_bin();
    read(&state, &version, &object, &id, raw.as_deref())
}

/// A record, with every field or those of `?fields=`.
pub(super) fn read(state: &SimState, version: &str, object: &str, id: &str, raw: Option<&str>) -> Reply {
    let Some(def) = state.org.schema.object(object) else { return not_found() };
    let fields = match state.org.get(def, id) {
        Lookup::Found(fields) => fields,
        Lookup::Deleted => return entity_deleted(),
        Lookup::Missing => return not_found(),
    };
    let params = parse_pairs(raw.unwrap_or_default().as_bytes());
    let columns: Vec<String> = match first(&params, "fields").filter(|f| !f.trim().is_empty()) {
        None => def.fields.iter().map(|f| f.name.clone()).collect(),
        Some(list) => {
            let mut columns = Vec::new();
            for name in list.split(',').map(str::trim) {
                let Some(field) = def.field(name) else {
                    let message = format!(
                        "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                        def.name
                    );
                    return error(StatusCode::BAD_REQUEST, "INVALID_FIELD", &message);
                };
                columns.push(field.name.clone());
            }
            columns
        }
    };
    Reply::json(StatusCode::OK, &RecordJson::new(&def.name, version, &fields, columns.iter().map(String::as_str)))
}

/// `PATCH …/sobjects/{Type}/{Id}`.
pub(super) async fn update_handler(
    State(sim): State<Arc<Sim>>,
    Path((_version, object, id)): Path<(String, String, String)>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    update(&mut sim.lock(), &session, &object, &id, &body)
}

/// Updates a record: 204.
pub(super) fn update(state: &mut SimState, session: &Session, object: &str, id: &str, body: &[u8]) -> Reply {
    let fields = match json_object(body) {
        Ok(fields) => fields,
        Err(message) => return parser_error(&message),
    };
    let Some(def) = state.org.schema.object(object) else { return not_found() };
    let object = def.name.clone();
    match state.org.get(def, id) {
        Lookup::Found(_) => {}
        Lookup::Deleted => return entity_deleted(),
        Lookup::Missing if crate::ids::normalize(id).is_some() => return not_found(),
        Lookup::Missing => return external_id_not_found(id),
    }
    if let Err(message) = state.org.check_types(&object, &fields) {
        return parser_error(&message);
    }
    let writer = session.writer(state);
    match state.org.update(&object, id, &fields, &writer) {
        Ok(_) => Reply::empty(StatusCode::NO_CONTENT),
        Err(e) => record_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// `DELETE …/sobjects/{Type}/{Id}`.
pub(super) async fn delete_handler(
    State(sim): State<Arc<Sim>>,
    Path((_version, object, id)): Path<(String, String, String)>,
    Extension(_): Extension<Session>,
) -> Reply {
    delete(&mut sim.lock(), &object, &id)
}

/// Deletes a record: 204; it goes to the recycle bin.
pub(super) fn delete(state: &mut SimState, object: &str, id: &str) -> Reply {
    let at = state.write_time();
    let Some(def) = state.org.schema.object(object) else { return not_found() };
    match state.org.get(def, id) {
        Lookup::Found(_) => {
            state.org.delete(id, at);
            Reply::empty(StatusCode::NO_CONTENT)
        }
        Lookup::Deleted => entity_deleted(),
        Lookup::Missing => not_found(),
    }
}

/// `PATCH …/sobjects/{Type}/{ExtIdField}/{value}`.
pub(super) async fn upsert_handler(
    State(sim): State<Arc<Sim>>,
    Path((version, object, field, value)): Path<(String, String, String, String)>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    upsert(&mut sim.lock(), &session, &version, &object, &field, &value, &body)
}

/// Upserts the record whose External ID `field` is `value`: 201 (with `Location`) when created,
/// 200 when updated, 300 when several records hold the value.
pub(super) fn upsert(
    state: &mut SimState,
    session: &Session,
    version: &str,
    object: &str,
    field: &str,
    value: &str,
    body: &[u8],
) -> Reply {
    let fields = match json_object(body) {
        Ok(fields) => fields,
        Err(message) => return parser_error(&message),
    };
    let Some(def) = state.org.schema.object(object) else { return not_found() };
    let object = def.name.clone();
    let Some(field) = def.field(field).filter(|f| f.external_id).map(|f| f.name.clone()) else {
        return external_id_not_found(field);
    };
    if let Err(message) = state.org.check_types(&object, &fields) {
        return parser_error(&message);
    }
    let writer = session.writer(state);
    match state.org.upsert(&object, &field, &Value::String(value.to_owned()), &fields, &writer) {
        Ok((id, true)) => Reply::json(StatusCode::CREATED, &SaveResult::ok(id.clone(), Some(true)))
            .with_location(record_url(version, &object, &id)),
        Ok((id, false)) => Reply::json(StatusCode::OK, &SaveResult::ok(id, Some(false))),
        Err(UpsertError::Record(e)) => record_error(StatusCode::BAD_REQUEST, &e),
        Err(UpsertError::Ambiguous(ids)) => {
            let urls: Vec<String> = ids.iter().map(|id| record_url(version, &object, id)).collect();
            Reply::json(StatusCode::MULTIPLE_CHOICES, &urls)
        }
    }
}

/// `/services/data/{version}/sobjects/{object}/{id}`.
fn record_url(version: &str, object: &str, id: &str) -> String {
    format!("/services/data/{version}/sobjects/{object}/{id}")
}

/// 404 `ENTITY_IS_DELETED`.
fn entity_deleted() -> Reply {
    error(StatusCode::NOT_FOUND, "ENTITY_IS_DELETED", "entity is deleted")
}

/// What Salesforce answers when the segment after the type is neither a record id nor an
/// External ID field.
fn external_id_not_found(segment: &str) -> Reply {
    let message = format!("Provided external ID field does not exist or is not accessible: {segment}");
    error(StatusCode::NOT_FOUND, "NOT_FOUND", &message)
}
