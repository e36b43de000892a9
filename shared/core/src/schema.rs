//! The queue messages' JSON Schemas (draft 2020-12, committed under docs/schemas/): a message is
//! one of a few shapes, each generated from the type that parses or publishes it.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

/// `T`'s own schema (not a `$ref` to it), titled: one shape of [`one_of`].
pub fn branch<T: JsonSchema>(generator: &mut SchemaGenerator, title: &str) -> Schema {
    let mut schema = T::json_schema(generator);
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), title.into());
    }
    schema
}

/// The root schema of a message that is an object of one of `branches`, with the definitions
/// they refer to.
pub fn one_of(generator: &mut SchemaGenerator, title: &str, description: &str, branches: Vec<Schema>) -> Schema {
    json_schema!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "description": description,
        "type": "object",
        "oneOf": branches,
        "$defs": generator.take_definitions(true),
    })
}
