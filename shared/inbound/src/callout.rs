//! JSON callouts (Flow HTTP Callout, Apex): one JSON object, or an array of 1 to
//! [`MAX_NOTIFICATIONS`] objects, each in one of two shapes.
//!
//! - **Experimentation shape** (recognized by `campaign_id`):
//!   `{"event_type": "campaign_updated", "campaign_id": "701…", "campaign_name": "…",
//!   "status": "Completed", "experiment_key": "checkout-button-color"}` becomes a `Campaign`
//!   notification with `Name`/`Status` fields (those sent), `status` and `experiment_key`.
//!   `event_type` defaults to `campaign_updated`.
//! - **Generic shape**: `{"event_type": "…", "sobject_type": "Opportunity", "record_id": "006…",
//!   "fields": {…}, "status": "…", "experiment_key": "…"}`, every key optional but at least one of
//!   `event_type` and `sobject_type` present. `fields` is an object of any JSON values; an `Id`
//!   in it is taken as the record id (`JSON.serialize` of an sObject puts it there).
//!
//! Both accept `"id"`: the sender's idempotency key for the change (1 to 255 characters, no
//! control characters), used to deduplicate retries. `event_type` is one of the snake_case
//! [`EventType`] names, or `opportunity_closed`, which means "derive it from the fields" (an
//! Opportunity is `opportunity_closed_won` only when it was won). `null` counts as absent.
//! Unknown keys are refused by name, so a typo does not silently drop data. Error messages name
//! the key and the item but never echo values.

use serde_json::{Map, Value};

use super::{EventType, InvalidPayload, Notification, MAX_NOTIFICATIONS};
use sfbridge_core::domain::SalesforceId;
use crate::soap::is_api_name;

/// `status`, `experiment_key`, `campaign_name` and `id` are at most this many characters
/// (Salesforce's Text field maximum).
pub const MAX_STRING_CHARS: usize = 255;
/// At most this many entries in `fields`, as for an Outbound Message sObject.
pub const MAX_FIELDS: usize = super::soap::MAX_FIELDS;

/// The seed's alias: an Opportunity change whose event type is derived from its fields.
const OPPORTUNITY_CLOSED: &str = "opportunity_closed";

const KEYS: [&str; 9] = [
    "id",
    "event_type",
    "sobject_type",
    "record_id",
    "fields",
    "status",
    "experiment_key",
    "campaign_id",
    "campaign_name",
];

/// Parses a callout body. See the module documentation for the accepted shapes.
pub fn parse(body: &[u8]) -> Result<Vec<Notification>, InvalidPayload> {
    // serde_json's default recursion limit (128) bounds nesting.
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json's syntax messages say where, not what, so they are safe to pass on.
        InvalidPayload::new(format!("the body is not valid JSON: {e}"))
    })?;
    match value {
        Value::Object(object) => Ok(vec![notification(object, None)?]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(InvalidPayload::new("the body is an empty array; send 1 to 100 objects"));
            }
            if items.len() > MAX_NOTIFICATIONS {
                return Err(InvalidPayload::new(format!(
                    "the body is an array of {} items; send at most {MAX_NOTIFICATIONS} per request",
                    items.len()
                )));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(object) => notification(object, Some(i + 1)),
                    _ => Err(InvalidPayload::new(format!("item {} of the array is not a JSON object", i + 1))),
                })
                .collect()
        }
        _ => Err(InvalidPayload::new("the body must be a JSON object or an array of JSON objects")),
    }
}

/// One object; `item` is its 1-based position when the body is an array.
fn notification(mut object: Map<String, Value>, item: Option<usize>) -> Result<Notification, InvalidPayload> {
    let at = |message: String| match item {
        Some(i) => InvalidPayload::new(format!("item {i}: {message}")),
        None => InvalidPayload::new(message),
    };

    if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
        let hint = if key == "notification_id" { " (the idempotency key is \"id\")" } else { "" };
        return Err(at(format!("unknown key {}{hint}; accepted keys: {}", quote_key(key), KEYS.join(", "))));
    }

    let id = take_string(&mut object, "id").map_err(&at)?;
    if let Some(id) = &id {
        if id.is_empty() || id.chars().count() > MAX_STRING_CHARS || id.chars().any(char::is_control) {
            return Err(at(format!("\"id\" must be 1 to {MAX_STRING_CHARS} characters without control characters")));
        }
    }
    // `Some(None)`: the `opportunity_closed` alias, stated but left to normalization.
    let event_type = match take_string(&mut object, "event_type").map_err(&at)? {
        None => None,
        Some(name) if name == OPPORTUNITY_CLOSED => Some(None),
        Some(name) => match EventType::parse(&name) {
            Some(t) => Some(Some(t)),
            None => {
                let accepted: Vec<&str> = EventType::STATED.iter().map(|t| t.as_str()).collect();
                return Err(at(format!(
                    "\"event_type\" is not a known event type; accepted: {}, {OPPORTUNITY_CLOSED}",
                    accepted.join(", ")
                )));
            }
        },
    };
    let status = take_short_string(&mut object, "status").map_err(&at)?;
    let experiment_key = take_short_string(&mut object, "experiment_key").map_err(&at)?;

    let mut n = if object.contains_key("campaign_id") {
        for key in ["sobject_type", "record_id", "fields"] {
            if object.contains_key(key) {
                return Err(at(format!(
                    "\"{key}\" cannot be combined with \"campaign_id\" (a campaign_id body always describes a Campaign)"
                )));
            }
        }
        let campaign_id = take_string(&mut object, "campaign_id")
            .map_err(&at)?
            .ok_or_else(|| at("\"campaign_id\" must be a Salesforce Campaign id, not null".into()))?;
        let record_id = SalesforceId::parse(&campaign_id)
            .map_err(|_| at("\"campaign_id\" is not a Salesforce id (15 or 18 letters and digits)".into()))?;
        let mut fields = Map::new();
        if let Some(name) = take_short_string(&mut object, "campaign_name").map_err(&at)? {
            fields.insert("Name".into(), Value::String(name));
        }
        if let Some(status) = &status {
            fields.insert("Status".into(), Value::String(status.clone()));
        }
        Notification {
            sobject_type: Some("Campaign".into()),
            record_id: Some(record_id),
            fields,
            event_type: event_type.unwrap_or(Some(EventType::CampaignUpdated)),
            ..Notification::default()
        }
    } else {
        if object.contains_key("campaign_name") {
            return Err(at("\"campaign_name\" needs \"campaign_id\"".into()));
        }
        let mut sobject_type = take_string(&mut object, "sobject_type").map_err(&at)?;
        if let Some(name) = &sobject_type {
            if !is_api_name(name) {
                return Err(at(
                    "\"sobject_type\" is not a Salesforce object API name (like Opportunity or My_Object__c)".into(),
                ));
            }
        }
        if event_type.is_none() && sobject_type.is_none() {
            return Err(at("the object needs \"event_type\" or \"sobject_type\"".into()));
        }
        if event_type == Some(None) && sobject_type.is_none() {
            sobject_type = Some("Opportunity".into());
        }
        let mut record_id = match take_string(&mut object, "record_id").map_err(&at)? {
            Some(id) => Some(
                SalesforceId::parse(&id)
                    .map_err(|_| at("\"record_id\" is not a Salesforce id (15 or 18 letters and digits)".into()))?,
            ),
            None => None,
        };
        let mut fields = match object.remove("fields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(fields)) => fields,
            Some(_) => return Err(at("\"fields\" must be a JSON object of field API names to values".into())),
        };
        if fields.len() > MAX_FIELDS {
            return Err(at(format!("\"fields\" has more than {MAX_FIELDS} entries")));
        }
        let bad_id = || at("fields.Id is not a Salesforce id (15 or 18 letters and digits)".into());
        match fields.remove("Id") {
            None | Some(Value::Null) => {}
            Some(Value::String(id)) => {
                let id = SalesforceId::parse(&id).map_err(|_| bad_id())?;
                if record_id.as_ref().is_some_and(|r| *r != id) {
                    return Err(at("\"record_id\" and fields.Id name different records".into()));
                }
                record_id = Some(id);
            }
            Some(_) => return Err(bad_id()),
        }
        Notification { sobject_type, record_id, fields, event_type: event_type.flatten(), ..Notification::default() }
    };
    n.notification_id = id;
    n.status = status;
    n.experiment_key = experiment_key;
    Ok(n)
}

/// `Err` holds the message, for the caller to locate.
fn take_string(object: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    }
}

fn take_short_string(object: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    let value = take_string(object, key)?;
    if value.as_ref().is_some_and(|s| s.chars().count() > MAX_STRING_CHARS) {
        return Err(format!("\"{key}\" is longer than {MAX_STRING_CHARS} characters"));
    }
    Ok(value)
}

/// A key is the sender's own text; show a bounded, escaped form.
fn quote_key(key: &str) -> String {
    const MAX: usize = 40;
    if key.chars().count() > MAX {
        let short: String = key.chars().take(MAX).collect();
        format!("{short:?}…")
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one(body: Value) -> Notification {
        let mut parsed = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.len(), 1);
        parsed.remove(0)
    }

    fn err(body: &str) -> String {
        parse(body.as_bytes()).unwrap_err().0
    }

    #[test]
    fn experimentation_shape() {
        let n = one(json!({
            "event_type": "campaign_updated",
            "campaign_id": "701xx000000001AAAQ",
            "campaign_name": "Q1 Checkout Optimization",
            "status": "Completed",
            "experiment_key": "checkout-button-color"
        }));
        assert_eq!(n.sobject_type.as_deref(), Some("Campaign"));
        assert_eq!(n.record_id.as_ref().map(SalesforceId::as_str), Some("701xx000000001AAAQ"));
        assert_eq!(Value::Object(n.fields), json!({"Name": "Q1 Checkout Optimization", "Status": "Completed"}));
        assert_eq!(n.event_type, Some(EventType::CampaignUpdated));
        assert_eq!(n.status.as_deref(), Some("Completed"));
        assert_eq!(n.experiment_key.as_deref(), Some("checkout-button-color"));
        assert_eq!(n.notification_id, None);

        let minimal = one(json!({"campaign_id": "701xx000000001A", "id": "evt-1"}));
        assert_eq!(minimal.event_type, Some(EventType::CampaignUpdated));
        assert_eq!(minimal.record_id.as_ref().map(SalesforceId::as_str), Some("701xx000000001AAAQ"));
        assert!(minimal.fields.is_empty());
        assert_eq!(minimal.notification_id.as_deref(), Some("evt-1"));
    }

    #[test]
    fn generic_shape() {
        let n = one(json!({
            "id": "a0B-42",
            "event_type": "record_changed",
            "sobject_type": "My_Object__c",
            "record_id": "0065g00000KLmnoAAD",
            "fields": {"Amount": 12.5, "Nested": {"a": [1, 2]}, "Flag": true},
            "status": "Open",
            "experiment_key": "exp"
        }));
        assert_eq!(n.notification_id.as_deref(), Some("a0B-42"));
        assert_eq!(n.event_type, Some(EventType::RecordChanged));
        assert_eq!(n.sobject_type.as_deref(), Some("My_Object__c"));
        assert_eq!(n.record_id.as_ref().map(SalesforceId::as_str), Some("0065g00000KLmnoAAD"));
        assert_eq!(Value::Object(n.fields), json!({"Amount": 12.5, "Nested": {"a": [1, 2]}, "Flag": true}));
        assert_eq!((n.status.as_deref(), n.experiment_key.as_deref()), (Some("Open"), Some("exp")));

        let typed_only = one(json!({"event_type": "contact_created", "fields": null, "record_id": null}));
        assert_eq!(typed_only.event_type, Some(EventType::ContactCreated));
        assert_eq!((typed_only.sobject_type, typed_only.record_id), (None, None));
    }

    #[test]
    fn opportunity_closed_alias_derives_from_fields() {
        let n =
            one(json!({"event_type": "opportunity_closed", "record_id": "0065g00000KLmno", "fields": {"IsWon": true}}));
        assert_eq!(n.event_type, None);
        assert_eq!(n.sobject_type.as_deref(), Some("Opportunity"));
        let kept = one(json!({"event_type": "opportunity_closed", "sobject_type": "Opportunity__x"}));
        assert_eq!(kept.sobject_type.as_deref(), Some("Opportunity__x"));
    }

    #[test]
    fn serialized_sobject_id_becomes_record_id() {
        let n = one(json!({"sobject_type": "Contact", "fields": {"Id": "0035g00000AbcdeAAB", "LastName": "Doe"}}));
        assert_eq!(n.record_id.as_ref().map(SalesforceId::as_str), Some("0035g00000AbcdeAAB"));
        assert_eq!(Value::Object(n.fields), json!({"LastName": "Doe"}));
        let same = one(
            json!({"sobject_type": "Contact", "record_id": "0035g00000Abcde", "fields": {"Id": "0035g00000AbcdeAAB"}}),
        );
        assert!(same.record_id.is_some());
        let conflict = json!({"sobject_type": "Contact", "record_id": "0065g00000KLmnoAAD", "fields": {"Id": "0035g00000AbcdeAAB"}});
        assert!(err(&conflict.to_string()).contains("different records"));
    }

    #[test]
    fn arrays() {
        let item = json!({"event_type": "lead_updated"});
        assert_eq!(parse(json!([item]).to_string().as_bytes()).unwrap().len(), 1);
        let hundred = Value::Array(vec![item.clone(); MAX_NOTIFICATIONS]);
        assert_eq!(parse(hundred.to_string().as_bytes()).unwrap().len(), MAX_NOTIFICATIONS);
        let too_many = Value::Array(vec![item.clone(); MAX_NOTIFICATIONS + 1]);
        assert!(err(&too_many.to_string()).contains("101 items"));
        assert!(err("[]").contains("empty array"));
        assert!(err(&json!([item, 5]).to_string()).contains("item 2 of the array is not a JSON object"));
        assert!(
            err(&json!([{"event_type": "lead_updated"}, {"bogus": 1}]).to_string()).starts_with("item 2: unknown key")
        );
    }

    #[test]
    fn refusals_name_the_key_but_never_the_value() {
        let secret = "s3cr3t-value";
        for (body, expected) in [
            (json!({"event_type": "lead_updated", "evnt_type": secret}), "unknown key \"evnt_type\""),
            (json!({"notification_id": secret, "event_type": "lead_updated"}), "the idempotency key is \"id\""),
            (
                json!({"event_type": secret}),
                "\"event_type\" is not a known event type; accepted: opportunity_closed_won,",
            ),
            (json!({"event_type": 7}), "\"event_type\" must be a string"),
            (json!({"campaign_id": secret}), "\"campaign_id\" is not a Salesforce id"),
            (json!({"campaign_id": null}), "\"campaign_id\" must be"),
            (json!({"campaign_id": "701xx000000001AAAQ", "sobject_type": "Campaign"}), "cannot be combined"),
            (json!({"campaign_name": secret, "event_type": "campaign_updated"}), "needs \"campaign_id\""),
            (json!({"sobject_type": format!("{secret}!")}), "\"sobject_type\" is not a Salesforce object API name"),
            (json!({"sobject_type": "Lead", "record_id": secret}), "\"record_id\" is not a Salesforce id"),
            (json!({"sobject_type": "Lead", "fields": [secret]}), "\"fields\" must be a JSON object"),
            (json!({"sobject_type": "Lead", "fields": {"Id": secret}}), "fields.Id is not a Salesforce id"),
            (json!({"status": secret}), "needs \"event_type\" or \"sobject_type\""),
            (json!({"event_type": "lead_updated", "id": ""}), "\"id\" must be 1 to 255 characters"),
            (json!({"event_type": "lead_updated", "id": format!("{secret}\n")}), "without control characters"),
            (json!({"event_type": "lead_updated", "id": "x".repeat(256)}), "\"id\" must be 1 to 255"),
            (json!({"event_type": "lead_updated", "status": "é".repeat(256)}), "\"status\" is longer than 255"),
            (
                json!({"campaign_id": "701xx000000001AAAQ", "campaign_name": "x".repeat(256)}),
                "\"campaign_name\" is longer",
            ),
            (
                json!({"campaign_id": "701xx000000001AAAQ", "experiment_key": "x".repeat(256)}),
                "\"experiment_key\" is longer",
            ),
        ] {
            let message = err(&body.to_string());
            assert!(message.contains(expected), "{body}: {message}");
            assert!(!message.contains(secret), "{message}");
        }
        // At the limits.
        let max = "é".repeat(MAX_STRING_CHARS);
        assert!(parse(json!({"event_type": "lead_updated", "id": max, "status": max}).to_string().as_bytes()).is_ok());
    }

    #[test]
    fn refuses_non_objects_and_bad_json() {
        for body in ["", "null", "5", "\"x\"", "{", "{\"a\":1}}", "[1]"] {
            assert!(parse(body.as_bytes()).is_err(), "{body}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(err(&deep).contains("recursion limit"));
        let long_key = format!("{{\"{}\": 1}}", "k".repeat(1000));
        assert!(err(&long_key).len() < 400);
        assert!(parse(&[0xFF, 0xFE]).is_err());
    }
}
