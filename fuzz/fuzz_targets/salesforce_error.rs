//! Salesforce REST error bodies: `salesforce::rest::classify_response(status, body)` (the public
//! parser of a non-2xx response body, a JSON array of `{errorCode, message}` or anything else at
//! the edge), plus the other public parsers of what Salesforce sends back on the same path:
//! `SubResponse` (a Composite subrequest answer, whose error goes through `classify_response`
//! again), `RecordResult::failure` and the `Sforce-Limit-Info` header (`ApiUsage::parse`).
//!
//! Input layout: two bytes of HTTP status (big-endian), then the body.
//!
//! Must never panic. Oracles: the message kept is at most 300 characters (plus `…`) without
//! control characters (it goes to logs and delivery records), and 401 / 5xx / 420 classify as the
//! module documents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfbridge_salesforce::rest::{
    classify_response, ApiUsage, ErrorClass, QueryPage, RecordResult, RestError, SubResponse,
};

fn check_message(e: &RestError) {
    let chars = e.message.chars().count();
    assert!(chars <= 301, "message of {chars} characters kept");
    assert!(!e.message.chars().any(char::is_control), "message with a control character kept");
}

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else { return };
    let status = u16::from_be_bytes(*status);

    let e = classify_response(status, body);
    check_message(&e);
    assert_eq!(e.status, Some(status));
    match status {
        401 => assert_eq!(e.class, ErrorClass::RefreshSession),
        500..=599 | 420 => assert_eq!(e.class, ErrorClass::Transient),
        _ => {}
    }

    if let Ok(sub) = serde_json::from_slice::<SubResponse>(body) {
        if let Err(e) = sub.clone().into_result::<serde_json::Value>() {
            check_message(&e);
        }
        if let Err(e) = sub.into_result::<QueryPage>() {
            check_message(&e);
        }
    }
    if let Ok(records) = serde_json::from_slice::<Vec<RecordResult>>(body) {
        for record in &records {
            if let Some(e) = record.failure() {
                check_message(&e);
                assert!(!record.success);
            }
        }
    }
    if let Ok(header) = std::str::from_utf8(body) {
        if let Some(usage) = ApiUsage::parse(header) {
            let _ = usage.percent();
        }
    }
});
