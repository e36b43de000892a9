//! The JSON Schema (draft 2020-12) of sync commands v1, generated from the types [`crate::command`]
//! parses them into, committed as docs/schemas/sync-command.v1.json. A command the schema refuses
//! is one the worker refuses (tested against [`crate::check_command`]); what the worker refuses
//! beyond the schema is listed in the schema's description.

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

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
    json_schema!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sfbridge sync command, version 1",
        "description": format!("One message on the activity queue. {NOT_IN_THE_SCHEMA}"),
        "type": "object",
        "oneOf": variants,
        "$defs": generator.take_definitions(true),
    })
}

/// One command type's own schema with the envelope every command has: `"version": 1` and its
/// `"type"` (`parse_command` reads both before the type's fields).
fn variant<T: JsonSchema>(generator: &mut SchemaGenerator, kind: &str) -> Value {
    let mut schema = T::json_schema(generator).to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), kind.into());
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
