//! What a `record_upsert` writes: its fields into any object by an External ID field, converted
//! to each field's type as the org describes the object, as sObject Collections upserts (200
//! records a subrequest, packed into the run's Composite calls with the other writes); or its
//! payload to one of the tenant's Apex REST endpoints, one call per command.
//!
//! Exactly once: an upsert by external id writes one record however often it is sent, so a lost
//! answer needs no check. An Apex endpoint gets the event id in `X-Sfbridge-Event-Id` and must
//! ignore a repeat itself (the README has a sample class).

use serde_json::{json, Map, Value};
use sfbridge_core::domain::ObjectName;
use sfbridge_core::store::TenantSettings;
use sfbridge_salesforce::fields::{convert, Catalog, Write};
use sfbridge_salesforce::rest::{SubRequest, MAX_COLLECTION_RECORDS};

use super::calls::Calls;
use super::event::Event;
use super::plan::{Collection, Member};
use super::push::{refuse, INVALID_VALUE};
use super::MAX_CONCURRENT_SALESFORCE_CALLS;
use crate::bounded;
use crate::command::{RecordUpsertCommand, UpsertTarget};

/// One record to upsert: its external id, its fields, and the commands behind it.
type Pending = (String, Map<String, Value>, Vec<usize>);
/// The records of one (object, external id field), keyed in lower case.
type Group = ((String, String), Vec<Pending>);

/// Code of an Apex destination the tenant's `apex_endpoints` does not name.
const UNKNOWN_DESTINATION: &str = "unknown_destination";

/// The objects the open record upserts write, for the run's describes.
pub(super) fn objects(events: &[Event]) -> Vec<ObjectName> {
    events
        .iter()
        .filter(|e| e.is_open() && !e.fields_applied())
        .filter_map(|e| match &e.pending.command.record_upsert()?.target {
            UpsertTarget::Record { object, .. } => Some(object.clone()),
            UpsertTarget::Apex { .. } => None,
        })
        .collect()
}

/// The open record upserts as Collections subrequests, one record per external id (several
/// commands for one record merge, the later `occurred_at` winning); a command whose object,
/// external id field or values the org refuses is refused alone.
pub(super) fn collections(events: &mut [Event], catalog: Option<&Catalog>) -> Vec<Collection> {
    // (object, external id field) → external id → (record, events behind it)
    let mut groups: Vec<Group> = Vec::new();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|i| (events[*i].pending.command.occurred_at(), *i));
    for i in order {
        let e = &events[i];
        if !e.is_open() || e.fields_applied() {
            continue;
        }
        let Some(command) = e.pending.command.record_upsert() else { continue };
        let UpsertTarget::Record { object, external_id_field, external_id, fields } = &command.target else { continue };
        let converted = match record_fields(command, object, external_id_field.as_str(), fields, catalog) {
            Ok(fields) => fields,
            Err(reason) => {
                refuse(&mut events[i], INVALID_VALUE.into(), reason);
                continue;
            }
        };
        let key = (object.as_str().to_ascii_lowercase(), external_id_field.as_str().to_ascii_lowercase());
        let group = match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group,
            None => {
                groups.push((key, Vec::new()));
                match groups.last_mut() {
                    Some((_, group)) => group,
                    None => continue,
                }
            }
        };
        match group.iter_mut().find(|(id, _, _)| id == external_id) {
            Some((_, record, members)) => {
                record.extend(converted);
                members.push(i);
            }
            None => group.push((external_id.clone(), converted, vec![i])),
        }
    }
    let mut collections = Vec::new();
    for (n, ((_, _), group)) in groups.into_iter().enumerate() {
        let Some(first) = group.first().and_then(|(_, _, members)| members.first()) else { continue };
        let Some(UpsertTarget::Record { object, external_id_field, .. }) = events[*first].pending.command.record_upsert().map(|c| &c.target)
        else {
            continue;
        };
        let (object, field) = (object.as_str().to_owned(), external_id_field.as_str().to_owned());
        for (m, chunk) in group.chunks(MAX_COLLECTION_RECORDS).enumerate() {
            let records: Vec<Value> = chunk
                .iter()
                .map(|(id, fields, _)| {
                    let mut record = fields.clone();
                    record.insert("attributes".into(), json!({"type": object}));
                    record.insert(field.clone(), json!(id));
                    Value::Object(record)
                })
                .collect();
            collections.push(Collection {
                request: SubRequest::upsert_records(&format!("upsert{n}_{m}"), &object, &field, records),
                members: chunk.iter().map(|(_, _, members)| Member::Upsert(members.clone())).collect(),
            });
        }
    }
    collections
}

/// A command's fields, converted for an upsert (the field must allow create and update).
fn record_fields(
    command: &RecordUpsertCommand,
    object: &ObjectName,
    external_id_field: &str,
    fields: &std::collections::BTreeMap<sfbridge_core::domain::FieldName, Value>,
    catalog: Option<&Catalog>,
) -> Result<Map<String, Value>, String> {
    let t = &command.tenant_id;
    let Some(described) = catalog.and_then(|c| c.fields(object.as_str())) else {
        return Err(format!("the org has no object {object} (or the connected user cannot see it); check its API name and the user's object permissions"));
    };
    match described.field(external_id_field) {
        Some(f) if f.external_id || f.name.eq_ignore_ascii_case("Id") => {}
        Some(f) => {
            return Err(format!("{object}.{} is not an External ID field; mark it External ID in Setup, or upsert by one that is", f.name));
        }
        None => return Err(format!("{object} has no field {external_id_field}; create it as an External ID field, or name one that exists")),
    }
    let mut out = Map::new();
    for (name, value) in fields {
        let Some(info) = described.field(name.as_str()) else {
            return Err(format!("{object} has no field {name} (or the connected user cannot see it); check the API name in Setup (tenant {t})"));
        };
        let converted = convert(object.as_str(), info, value, Write::Upsert).map_err(|m| m.to_string())?;
        out.insert(info.name.clone(), converted);
    }
    Ok(out)
}

/// Posts each open Apex upsert to its endpoint, a few at a time; a refusal fails that command
/// (for good when Salesforce says so; retried, using its receives, when it may pass).
pub(super) async fn post_apex(calls: &Calls<'_>, events: &mut [Event], settings: &TenantSettings) {
    let mut posts = Vec::new();
    for (i, e) in events.iter_mut().enumerate() {
        if !e.is_open() || e.fields_applied() {
            continue;
        }
        let Some(command) = e.pending.command.record_upsert() else { continue };
        let UpsertTarget::Apex { endpoint, payload } = &command.target else { continue };
        let Some(path) = settings.apex_endpoints.get(endpoint) else {
            let known: Vec<&str> = settings.apex_endpoints.keys().map(|k| k.as_str()).collect();
            let reason = format!(
                "no Apex REST endpoint is named {endpoint} in apex_endpoints ({}); add it (PATCH /v1/tenants/{}/settings)",
                if known.is_empty() { "none set".to_owned() } else { known.join(", ") },
                command.tenant_id
            );
            refuse(e, UNKNOWN_DESTINATION.into(), reason);
            continue;
        };
        let (path, event_id, payload) = (path.as_str().to_owned(), command.event_id.as_str().to_owned(), payload.clone());
        let rest = &calls.ctx.rest;
        posts.push(async move {
            let answer = calls
                .run(|s| {
                    let (path, event_id, payload) = (path.clone(), event_id.clone(), payload.clone());
                    async move { rest.apex_post(&s, &path, &event_id, &payload).await }
                })
                .await;
            (i, answer)
        });
    }
    for (i, answer) in bounded(posts, MAX_CONCURRENT_SALESFORCE_CALLS).await {
        match answer {
            Ok(_) => events[i].progress.fields_applied = true,
            Err(sfbridge_salesforce::CallError::Rest(r)) => events[i].fail(r.class, &r.code, &r.message),
            Err(e) => events[i].fail_call(&e),
        }
    }
}
