//! The JSON Schema (draft 2020-12) of sync commands v1, generated from the types [`crate::command`]
//! parses them into, committed as docs/schemas/sync-command.v1.json. A command the schema refuses
//! is one the worker refuses (tested against [`crate::check_command`]); what the worker refuses
//! beyond the schema is listed in the schema's description.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::json;
use sfbridge_core::schema::{branch, one_of};

use crate::command::{ActivityCommand, CampaignUpdateCommand, FieldUpdateCommand, RecordUpsertWire, SUPPORTED_VERSION};

/// What the worker checks that JSON Schema cannot say; the schema's description carries it.
const NOT_IN_THE_SCHEMA: &str = "Checked by the worker beyond this schema: a Salesforce id's checksum (18 characters); \
an email's 80-byte limit after lower-casing; a campaign_update note of at most 30,000 characters after trimming; \
a record_upsert whose fields name its external_id_field (in any case); \"version\" written as 1.0; a key given twice; \
and, in Salesforce, whatever the tenant's settings and the org's describe decide (mapped attributes, field types \
and lengths, picklist values, Campaign Status values, External ID fields, apex_endpoints names). \
Dates are RFC 3339 date-times (\"format\" is an annotation).";

/// The schema of every command type the worker runs, one `oneOf` branch per `"type"`.
pub fn command_schema() -> Schema {
    let mut generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let variants = vec![
        variant::<ActivityCommand>(&mut generator, "activity"),
        variant::<FieldUpdateCommand>(&mut generator, "field_update"),
        variant::<CampaignUpdateCommand>(&mut generator, "campaign_update"),
        variant::<RecordUpsertWire>(&mut generator, "record_upsert"),
    ];
    let description = format!("One message on the activity queue. {NOT_IN_THE_SCHEMA}");
    one_of(&mut generator, "sfbridge sync command, version 1", &description, variants)
}

/// One command type's own schema with the envelope every command has: `"version": 1` and its
/// `"type"` (`parse_command` reads both before the type's fields).
fn variant<T: JsonSchema>(generator: &mut SchemaGenerator, kind: &str) -> Schema {
    let mut schema = branch::<T>(generator, kind);
    if let Some(object) = schema.as_object_mut() {
        let properties = object.entry("properties").or_insert_with(|| json!({}));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("version".into(), json!({"type": "integer", "const": SUPPORTED_VERSION}));
            properties.insert("type".into(), json!({"const": kind}));
        }
        let required = object.entry("required").or_insert_with(|| json!([]));
        if let Some(required) = required.as_array_mut() {
            required.splice(0..0, [json!("version"), json!("type")]);
        }
    }
    schema
}
