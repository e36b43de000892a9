//! `GET …/sobjects/{Type}/describe` and `GET …/sobjects` (salesforce.md §8.5).
//!
//! The key set, per object and per field, is that of salesforce-samples/describe-contact-snippet.json;
//! values come from the schema (`schema.rs`), custom fields and objects included: a field's
//! `length`, `precision`, `scale`, `digits`, `picklistValues` (`{active, defaultValue, label,
//! validFor, value}`), `restrictedPicklist`, `createable`, `updateable`, `nillable`, `externalId`,
//! `unique`, `calculated` and `type`. Keys come out sorted, as in Salesforce's describe.
//!
//! Both honour `If-Modified-Since` (`EEE, dd MMM yyyy HH:mm:ss z`): when the object's metadata (for
//! the global describe, any object's) has not changed since that time, the answer is 304 Not
//! Modified with no body (REST API Developer Guide, "Get Object Metadata Changes" and "Get a List
//! of Objects If Metadata Has Changed"). The schema keeps when each object's metadata last changed
//! (`ObjectDef::metadata_modified`: a custom field added or replaced, a picklist's values set, the
//! object created), to the sub-second, so a change within the second of the header's time still
//! counts as a change. A header that does not parse is ignored. A 304 is an API call like any
//! other: Salesforce documents no exemption for it (only `GET /services/data/` is free, "Limit Info
//! Header"). Every REST response carries `Date` from the simulator's clock (`gate.rs`), the time a
//! client can send back.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Extension;
use serde_json::{json, Value};

use super::{not_found, Reply, Session};
use crate::datetime;
use crate::schema::{FieldDef, FieldKind, ObjectDef};
use crate::state::{Sim, SimState};

/// `GET …/sobjects/{Type}/describe`.
pub(super) async fn describe_handler(
    State(sim): State<Arc<Sim>>,
    Path((version, object)): Path<(String, String)>,
    headers: HeaderMap,
    Extension(_): Extension<Session>,
) -> Reply {
    describe(&sim.lock(), &version, &object, if_modified_since(&headers).as_deref())
}

/// The `If-Modified-Since` header, if any.
pub(super) fn if_modified_since(headers: &HeaderMap) -> Option<String> {
    headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Whether metadata last changed at `modified` is unchanged since the `If-Modified-Since` time.
fn not_modified(modified: SystemTime, if_modified_since: Option<&str>) -> bool {
    let Some(since) = if_modified_since.and_then(datetime::parse_http_date) else { return false };
    let modified = modified.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    i128::try_from(modified).unwrap_or(i128::MAX) <= i128::from(since) * 1000
}

/// An object's describe, or 304 when it has not changed since `if_modified_since`.
pub(super) fn describe(state: &SimState, version: &str, object: &str, if_modified_since: Option<&str>) -> Reply {
    let Some(def) = state.org.schema.object(object) else { return not_found() };
    if not_modified(def.metadata_modified, if_modified_since) {
        return Reply::empty(StatusCode::NOT_MODIFIED);
    }
    let mut body = object_summary(def, version);
    if let Value::Object(map) = &mut body {
        map.insert("fields".into(), def.fields.iter().map(field).collect());
        for key in ["actionOverrides", "childRelationships", "namedLayoutInfos", "recordTypeInfos", "supportedScopes"] {
            map.insert(key.into(), json!([]));
        }
        map.extend([
            ("compactLayoutable".to_owned(), json!(true)),
            ("hasSubtypes".to_owned(), json!(false)),
            ("isSubtype".to_owned(), json!(false)),
            ("networkScopeFieldName".to_owned(), Value::Null),
        ]);
    }
    Reply::json(StatusCode::OK, &body)
}

/// `GET …/sobjects`: the global describe.
pub(super) async fn describe_global_handler(
    State(sim): State<Arc<Sim>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    Extension(_): Extension<Session>,
) -> Reply {
    describe_global(&sim.lock(), &version, if_modified_since(&headers).as_deref())
}

/// Every object's summary, or 304 when no object changed since `if_modified_since`.
pub(super) fn describe_global(state: &SimState, version: &str, if_modified_since: Option<&str>) -> Reply {
    if not_modified(state.org.schema.metadata_modified(), if_modified_since) {
        return Reply::empty(StatusCode::NOT_MODIFIED);
    }
    let objects: Vec<Value> = state.org.schema.objects().iter().map(|o| object_summary(o, version)).collect();
    Reply::json(StatusCode::OK, &json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects}))
}

/// The object-level keys both describes share.
fn object_summary(def: &ObjectDef, version: &str) -> Value {
    let base = format!("/services/data/{version}/sobjects/{}", def.name);
    json!({
        "activateable": false,
        "createable": true,
        "custom": def.custom,
        "customSetting": false,
        "deletable": true,
        "deprecatedAndHidden": false,
        "feedEnabled": def.name != "CampaignMember",
        "keyPrefix": def.key_prefix,
        "label": def.label,
        "labelPlural": def.label_plural,
        "layoutable": true,
        "mergeable": matches!(def.name.as_str(), "Contact" | "Lead"),
        "mruEnabled": true,
        "name": def.name,
        "queryable": true,
        "replicateable": true,
        "retrieveable": true,
        "searchable": def.name != "CampaignMember",
        "searchLayoutable": true,
        "triggerable": true,
        "undeletable": true,
        "updateable": true,
        "urls": {
            "compactLayouts": format!("{base}/describe/compactLayouts"),
            "rowTemplate": format!("{base}/{{ID}}"),
            "describe": format!("{base}/describe"),
            "sobject": base,
        },
    })
}

/// One entry of `fields[]`.
fn field(field: &FieldDef) -> Value {
    let kind = field.kind;
    let text_like = kind.is_text() || kind.is_id();
    let byte_length = if text_like { field.length * 3 } else { 0 };
    let byte_length = if kind.is_id() { field.length } else { byte_length };
    let (precision, scale, digits) = (field.precision, field.scale, field.digits);
    let sortable = kind != FieldKind::TextArea;
    let picklist: Vec<Value> = field
        .picklist
        .iter()
        .map(|value| {
            let default = field.default.as_ref().and_then(Value::as_str) == Some(value.as_str());
            json!({"active": true, "defaultValue": default, "label": value, "validFor": null, "value": value})
        })
        .collect();
    // Two halves: one `json!` this large exceeds the macro recursion limit.
    let mut entry = json!({
        "aggregatable": sortable && kind != FieldKind::Boolean,
        "autoNumber": false,
        "byteLength": byte_length,
        "calculated": field.calculated && field.name != "Name",
        "calculatedFormula": null,
        "cascadeDelete": false,
        "caseSensitive": false,
        "compoundFieldName": null,
        "controllerName": null,
        "createable": field.createable,
        "custom": field.custom,
        "defaultValue": if kind == FieldKind::Boolean { field.default.clone().unwrap_or(json!(false)) } else { Value::Null },
        "defaultValueFormula": null,
        "defaultedOnCreate": field.defaulted_on_create,
        "dependentPicklist": false,
        "deprecatedAndHidden": false,
        "digits": digits,
        "displayLocationInDecimal": false,
        "encrypted": false,
        "externalId": field.external_id,
        "extraTypeInfo": null,
        "filterable": kind != FieldKind::TextArea,
        "filteredLookupInfo": null,
        "groupable": sortable && !kind.is_numeric() || kind == FieldKind::Int,
        "highScaleNumber": false,
        "htmlFormatted": false,
        "idLookup": field.id_lookup,
        "inlineHelpText": null,
    });
    let second = json!({
        "label": field.label,
        "length": if text_like { field.length } else { 0 },
        "mask": null,
        "maskType": null,
        "name": field.name,
        "nameField": field.name_field && kind != FieldKind::Combobox,
        "namePointing": kind == FieldKind::Reference && field.reference_to.len() > 1,
        "nillable": field.nillable,
        "permissionable": field.nillable && field.createable,
        "picklistValues": picklist,
        "polymorphicForeignKey": kind == FieldKind::Reference && field.reference_to.len() > 1,
        "precision": precision,
        "queryByDistance": false,
        "referenceTargetField": null,
        "referenceTo": field.reference_to,
        "relationshipName": field.relationship_name,
        "relationshipOrder": null,
        "restrictedDelete": false,
        "restrictedPicklist": field.restricted_picklist,
        "scale": scale,
        "soapType": kind.soap_type(),
        "sortable": sortable,
        "type": kind.describe_type(),
        "unique": field.unique,
        "updateable": field.updateable,
        "writeRequiresMasterRead": false,
    });
    if let (Value::Object(first), Value::Object(second)) = (&mut entry, second) {
        first.extend(second);
    }
    entry
}
