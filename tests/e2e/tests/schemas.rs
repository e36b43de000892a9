//! The queue messages' JSON Schemas (docs/schemas/) against the code and the docs: the committed
//! files are what the types generate, every documented example validates, and a sync command the
//! schema refuses is one the worker refuses (`sfbridge_sync::check_command`, its own parse).
//! Published inbound events are checked where the api tests read the inbound queue (helpers.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sfbridge_e2e::{schema_errors, DocSection, INBOUND_EVENT, SCHEMAS, SYNC_COMMAND};
use sfbridge_sync::check_command;

/// Where the docs show each message. The tests read every ```json block under the heading, so
/// when the docs move, point these at the new file and heading (and keep the examples in ```json).
const SYNC_COMMAND_EXAMPLES: DocSection = DocSection { file: "docs/activity-sync.md", heading: "# Activity sync" };
const INBOUND_EVENT_EXAMPLES: DocSection = DocSection { file: "docs/webhooks.md", heading: "## Inbound events" };
const IMPORT_EVENT_EXAMPLES: DocSection = DocSection { file: "docs/import.md", heading: "## Events" };

fn examples(section: DocSection) -> Vec<Value> {
    let examples = section.json_examples().unwrap();
    assert!(!examples.is_empty(), "no ```json example under {:?} in {}", section.heading, section.file);
    examples
}

#[test]
fn committed_schemas_are_what_the_code_generates() {
    for schema in SCHEMAS {
        let committed = std::fs::read_to_string(schema.path()).unwrap_or_default();
        assert!(committed == schema.render(), "docs/schemas/{} is stale: run `cargo run -p sfbridge-e2e --bin gen-schemas` and commit it", schema.file);
        jsonschema::draft202012::meta::validate(&schema.committed().unwrap()).unwrap();
    }
}

#[test]
fn every_documented_sync_command_validates_and_runs() {
    let validator = SYNC_COMMAND.validator(true).unwrap();
    let mut types = BTreeSet::new();
    for example in examples(SYNC_COMMAND_EXAMPLES) {
        assert_eq!(schema_errors(&validator, &example), Vec::<String>::new(), "{example}");
        check_command(&example.to_string()).unwrap_or_else(|e| panic!("the worker refuses a documented command: {e}\n{example}"));
        types.insert(example["type"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(types, BTreeSet::from(["activity", "field_update", "campaign_update", "record_upsert"].map(String::from)), "every type has an example");
}

#[test]
fn every_documented_inbound_event_validates() {
    let validator = INBOUND_EVENT.validator(true).unwrap();
    for section in [INBOUND_EVENT_EXAMPLES, IMPORT_EVENT_EXAMPLES] {
        for example in examples(section) {
            assert_eq!(schema_errors(&validator, &example), Vec::<String>::new(), "{section:?}: {example}");
        }
    }
}

/// A command and whether the worker runs it. Bad ones each break one rule of `parse_command`.
fn commands() -> Vec<(&'static str, Value, bool)> {
    let activity = json!({"version": 1, "type": "activity", "event_id": "evt_1", "tenant_id": "team_42", "campaign_id": "cmp_7",
        "activity": "email_opened", "contact": {"email": "Ada@Example.com"}, "occurred_at": "2026-11-20T10:00:00Z"});
    let field_update = json!({"version": 1, "type": "field_update", "event_id": "nps_1", "tenant_id": "team_42",
        "record_id": "00Q5g00000AbCdE", "values": {"nps_score": 9}});
    let campaign_update = json!({"version": 1, "type": "campaign_update", "event_id": "c_1", "tenant_id": "team_42",
        "campaign": {"salesforce_id": "7015g000000AbCd", "experiment_key": null}, "note": "done"});
    let upsert = json!({"version": 1, "type": "record_upsert", "event_id": "u_1", "tenant_id": "team_42",
        "object": "ns__Engagement_Event__C", "external_id_field": "Event_Id__c", "external_id": 77, "fields": {}});
    let apex = json!({"version": 1, "type": "record_upsert", "event_id": "u_2", "tenant_id": "team_42", "destination": "apex:engagement", "payload": 0});
    let with = |base: &Value, changes: Value| {
        let mut v = base.clone();
        for (k, change) in changes.as_object().unwrap() {
            match change {
                Value::Null if k.starts_with('-') => drop(v.as_object_mut().unwrap().remove(&k[1..])),
                _ => v[k] = change.clone(),
            }
        }
        v
    };
    vec![
        ("an activity", activity.clone(), true),
        ("an activity with a key it does not know (ignored)", with(&activity, json!({"utm_source": "x"})), true),
        ("a field_update by Lead id", field_update.clone(), true),
        ("a campaign_update by Campaign id, a note only", campaign_update.clone(), true),
        ("a record_upsert by a numeric external id", upsert.clone(), true),
        ("a payload to Apex", apex.clone(), true),
        ("no version", with(&activity, json!({"-version": null})), false),
        ("version 2", with(&activity, json!({"version": 2})), false),
        ("version as a string", with(&activity, json!({"version": "1"})), false),
        ("no type", with(&activity, json!({"-type": null})), false),
        ("an unknown type", with(&activity, json!({"type": "email"})), false),
        ("an activity without contact", with(&activity, json!({"-contact": null})), false),
        ("an unknown activity", with(&activity, json!({"activity": "email_exploded"})), false),
        ("occurred_at as a number", with(&activity, json!({"occurred_at": 1_795_000_000})), false),
        ("not an email", with(&activity, json!({"contact": {"email": "ada at example.com"}})), false),
        ("a tenant id with a key separator", with(&activity, json!({"tenant_id": "team#42"})), false),
        ("an event id of 65 characters", with(&activity, json!({"event_id": "e".repeat(65)})), false),
        ("a field_update with a typo'd key", with(&field_update, json!({"value": {"nps_score": 9}})), false),
        ("a field_update without values", with(&field_update, json!({"-values": null})), false),
        ("a field_update setting nothing", with(&field_update, json!({"values": {}})), false),
        ("a field_update of 101 values", with(&field_update, json!({"values": (0..101).map(|i| (format!("a{i}"), json!(i))).collect::<serde_json::Map<_, _>>()})), false),
        ("values as an array", with(&field_update, json!({"values": [9]})), false),
        ("an Account id", with(&field_update, json!({"record_id": "0015g00000AbCdE"})), false),
        ("contact and record_id", with(&field_update, json!({"contact": {"email": "ada@example.com"}})), false),
        ("neither contact nor record_id", with(&field_update, json!({"record_id": null})), false),
        ("a Salesforce id of 16 characters", with(&field_update, json!({"record_id": "00Q5g00000AbCdEF"})), false),
        ("two Campaign references", with(&campaign_update, json!({"campaign": {"salesforce_id": "7015g000000AbCd", "campaign_id": "cmp_7"}})), false),
        ("no Campaign reference", with(&campaign_update, json!({"campaign": {}})), false),
        ("a Contact id for a Campaign", with(&campaign_update, json!({"campaign": {"salesforce_id": "0035g000000AbCd"}})), false),
        ("a blank experiment key", with(&campaign_update, json!({"campaign": {"experiment_key": "  "}})), false),
        ("neither state nor note", with(&campaign_update, json!({"note": " "})), false),
        ("an unknown key in a campaign_update", with(&campaign_update, json!({"status": "Completed"})), false),
        ("object and destination", with(&upsert, json!({"destination": "apex:engagement", "payload": {}})), false),
        ("a destination that is not Apex", with(&apex, json!({"destination": "https://example.com/hook"})), false),
        ("an Apex payload of null", with(&apex, json!({"payload": null})), false),
        ("an Apex destination with fields", with(&apex, json!({"fields": {"Name": "x"}})), false),
        ("a blank external id", with(&upsert, json!({"external_id": " "})), false),
        ("an external id that is an object", with(&upsert, json!({"external_id": {}})), false),
        ("no external id field", with(&upsert, json!({"-external_id_field": null})), false),
        ("a field name with two underscores", with(&upsert, json!({"fields": {"Bad__Name": 1}})), false),
        ("an object name of 41 characters", with(&upsert, json!({"object": "O".repeat(41)})), false),
        ("a record_upsert of 501 fields", with(&upsert, json!({"fields": (0..501).map(|i| (format!("F{i}"), json!(i))).collect::<serde_json::Map<_, _>>()})), false),
    ]
}

#[test]
fn the_schema_and_the_worker_agree_on_good_and_bad_commands() {
    let validator = SYNC_COMMAND.validator(false).unwrap();
    for (what, command, runs) in commands() {
        let worker = check_command(&command.to_string()).map_err(|e| e.message);
        assert_eq!(worker.is_ok(), runs, "{what}: the worker says {worker:?}\n{command}");
        let errors = schema_errors(&validator, &command);
        assert_eq!(errors.is_empty(), runs, "{what}: the schema says {errors:?}\n{command}");
    }
}

/// Every documented command broken one way at a time: each key removed, set to another kind of
/// value, an object given as an array or an enum as a one-key map (serde reads both in places), a
/// key added. Whatever the schema refuses the worker refuses; what the worker refuses the schema
/// refuses too when its date formats are asserted, but for the gaps the schema's description lists.
#[test]
fn a_command_the_schema_refuses_is_one_the_worker_refuses() {
    let loose = SYNC_COMMAND.validator(false).unwrap();
    let strict = SYNC_COMMAND.validator(true).unwrap();
    let (mut stricter, mut looser, mut tried) = (Vec::new(), Vec::new(), 0);
    for example in examples(SYNC_COMMAND_EXAMPLES) {
        for (what, command) in mutations(&example) {
            tried += 1;
            let worker = check_command(&command.to_string());
            if !loose.is_valid(&command) && worker.is_ok() {
                stricter.push(format!("{} {what}", example["type"]));
            }
            if strict.is_valid(&command) && worker.is_err() {
                looser.push(format!("{} {what}: {}", example["type"], worker.err().map(|e| e.message).unwrap_or_default()));
            }
        }
    }
    assert!(tried > 300, "{tried} mutations");
    assert!(stricter.is_empty() && looser.is_empty(), "the schema refuses commands the worker runs: {stricter:#?}\nthe schema accepts commands the worker refuses: {looser:#?}");
}

fn mutations(example: &Value) -> Vec<(String, Value)> {
    let replacements = [json!(null), json!(0), json!(1.5), json!(-1), json!(""), json!(" "), json!("x"), json!(true), json!([]), json!({})];
    let mut out = vec![("an unknown key".to_owned(), with_at(example, &["unknown_key".into()], Some(json!(1))))];
    let mut paths: Vec<Vec<String>> = Vec::new();
    for (key, value) in example.as_object().into_iter().flatten() {
        paths.push(vec![key.clone()]);
        for inner in value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            paths.push(vec![key.clone(), inner]);
        }
    }
    for path in paths {
        let name = path.join(".");
        let current = at(example, &path);
        out.push((format!("{name} removed"), with_at(example, &path, None)));
        for r in &replacements {
            out.push((format!("{name} = {r}"), with_at(example, &path, Some(r.clone()))));
        }
        if let Some(object) = current.as_object() {
            out.push((format!("{name} as an array"), with_at(example, &path, Some(Value::Array(object.values().cloned().collect())))));
            let mut extra = path.clone();
            extra.push("unknown_key".into());
            out.push((format!("{name} with an unknown key"), with_at(example, &extra, Some(json!(1)))));
        }
        if let Some(s) = current.as_str() {
            out.push((format!("{name} as a one-key map"), with_at(example, &path, Some(json!({ s: null })))));
        }
    }
    out
}

fn at<'a>(value: &'a Value, path: &[String]) -> &'a Value {
    path.iter().fold(value, |v, k| &v[k.as_str()])
}

/// `value` with the key at `path` set to `new`, or removed.
fn with_at(value: &Value, path: &[String], new: Option<Value>) -> Value {
    let mut copy = value.clone();
    let Some((last, parent)) = path.split_last() else { return copy };
    let mut target = &mut copy;
    for k in parent {
        target = &mut target[k.as_str()];
    }
    if let Some(object) = target.as_object_mut() {
        match new {
            Some(v) => drop(object.insert(last.clone(), v)),
            None => drop(object.remove(last)),
        }
    }
    copy
}
