//! `sfbridge_inbound::soap::parse` over arbitrary bytes: the SOAP Outbound Message envelope
//! as it arrives from the internet, before anything in it is trusted.
//!
//! Must never panic, and must finish in time linear in the input (libFuzzer's `-timeout` and
//! `-rss_limit_mb` catch super-linear work and blow-ups). On success, the documented guarantees of
//! the result are checked too (module docs of `shared/inbound/src/soap.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfbridge_inbound::{soap, MAX_NOTIFICATIONS};

/// `soap::MAX_FIELDS`.
const MAX_FIELDS: usize = soap::MAX_FIELDS;

fn is_id(value: &str) -> bool {
    matches!(value.len(), 15 | 18) && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_api_name(value: &str) -> bool {
    let mut bytes = value.bytes();
    value.len() <= 80
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fuzz_target!(|data: &[u8]| {
    match soap::parse(data) {
        Ok(message) => {
            assert!(is_id(&message.organization_id), "OrganizationId accepted that is not an id");
            if let Some(action_id) = &message.action_id {
                assert!(is_id(action_id), "ActionId accepted that is not an id");
            }
            if let Some(version) = &message.api_version {
                let (major, minor) = version.split_once('.').expect("an API version without a dot");
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                assert!(digits(major) && digits(minor) && version.len() <= 5, "API version {version:?} accepted");
            }
            assert!(
                (1..=MAX_NOTIFICATIONS).contains(&message.notifications.len()),
                "{} notifications accepted",
                message.notifications.len()
            );
            for n in &message.notifications {
                let id = n.notification_id.as_deref().expect("a notification without Id was accepted");
                assert!(is_id(id), "Notification/Id accepted that is not an id");
                let sobject = n.sobject_type.as_deref().expect("a notification without sObject type was accepted");
                assert!(is_api_name(sobject), "xsi:type accepted that is not an API name");
                assert!(n.fields.len() <= MAX_FIELDS, "{} fields accepted", n.fields.len());
                assert!(!n.fields.contains_key("Id"), "sf:Id must go to record_id, not fields");
                for (name, value) in &n.fields {
                    assert!(is_api_name(name), "field name accepted that is not an API name");
                    assert!(value.is_null() || value.is_string(), "Outbound Message fields are text or null");
                    if let Some(text) = value.as_str() {
                        assert!(text.chars().count() <= soap::MAX_FIELD_CHARS, "field longer than the limit");
                    }
                }
            }
        }
        Err(e) => assert!(!e.0.is_empty(), "an empty error message"),
    }
});
