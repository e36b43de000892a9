//! `sfbridge_inbound::callout::parse` over arbitrary bytes: the JSON callout body (one
//! object or an array of 1 to 100).
//!
//! Must never panic (serde_json's recursion limit bounds nesting). On success, the documented
//! guarantees of the result are checked too (module docs of `shared/inbound/src/callout.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfbridge_inbound::{callout, MAX_NOTIFICATIONS};

fuzz_target!(|data: &[u8]| {
    match callout::parse(data) {
        Ok(notifications) => {
            assert!(
                (1..=MAX_NOTIFICATIONS).contains(&notifications.len()),
                "{} notifications accepted",
                notifications.len()
            );
            for n in &notifications {
                if let Some(id) = &n.notification_id {
                    let chars = id.chars().count();
                    assert!((1..=callout::MAX_STRING_CHARS).contains(&chars), "id of {chars} characters accepted");
                    assert!(!id.chars().any(char::is_control), "id with a control character accepted");
                }
                assert!(
                    n.event_type.is_some() || n.sobject_type.is_some(),
                    "accepted without event_type or sobject_type"
                );
                assert!(n.fields.len() <= callout::MAX_FIELDS, "{} fields accepted", n.fields.len());
                assert!(!n.fields.contains_key("Id"), "fields.Id must go to record_id");
            }
        }
        Err(e) => assert!(!e.0.is_empty(), "an empty error message"),
    }
});
