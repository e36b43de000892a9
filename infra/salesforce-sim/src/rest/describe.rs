//! `GET …/sobjects/{Type}/describe` and `GET …/sobjects` (salesforce.md §8.5).
//!
//! The key set, per object and per field, is that of salesforce-samples/describe-contact-snippet.json;
//! values come from the schema (`schema.rs`), custom fields included. Keys come out sorted, as in
//! Salesforce's describe.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use serde_json::{json, Value};

use super::{not_found, Reply, Session};
use crate::schema::{FieldDef, FieldKind, ObjectDef};
use crate::state::{Sim, SimState};

/// `GET …/sobjects/{Type}/describe`.
pub(super) async fn describe_handler(
    State(sim): State<Arc<Sim>>,
    Path((version, object)): Path<(String, String)>,
    Extension(_): Extension<Session>,
) -> Reply {
    describe(&sim.lock(), &version, &object)
}

/// An object's describe.
pub(super) fn describe(state: &SimState, version: &str, object: &str) -> Reply {
    let Some(def) = state.org.schema.object(object) else { return not_found() };
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
    Extension(_): Extension<Session>,
) -> Reply {
    describe_global(&sim.lock(), &version)
}

/// Every object's summary.
pub(super) fn describe_global(state: &SimState, version: &str) -> Reply {
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
