//! The Standard-Webhooks signature path of the webhook receiver:
//! `inbound::auth::signed_request` (header shape and freshness) then `check_signature` (HMAC over
//! `{id}.{timestamp}.{body}`), with the three headers and the body taken from the input.
//!
//! Input layout: `id 0xFF timestamp 0xFF signature 0xFF body`. 0xFF never occurs in UTF-8, so it
//! cannot be part of a header value; a part that is missing or not UTF-8 is an absent header.
//! The body (after the third 0xFF) is raw bytes and may contain anything.
//!
//! Must never panic. Oracles beyond that:
//! - a request `signed_request` accepted has a timestamp within 300 s of `now` and an id of at
//!   most 255 characters without control characters;
//! - when the timestamp is written canonically (so `sign` produces the same MAC input), the
//!   request re-signed with `auth::sign` and the secret verifies, and one signed with another
//!   secret does not (unless the fuzzed signature itself already matches).
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use sfbridge_inbound::auth::{self, check_signature, signed_request, SignatureHeaders};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// 2023-11-14T22:13:20Z; the seeds are signed for timestamps around it.
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0xFF);
    let mut header = || parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let (id, timestamp, signature) = (header(), header(), header());
    let body = parts.next().unwrap_or_default();

    let headers = SignatureHeaders { id, timestamp, signature };
    let _ = headers.any();
    let Some(now) = DateTime::<Utc>::from_timestamp(NOW, 0) else { return };

    let Ok(request) = signed_request(&headers, now) else { return };

    // What signed_request promises about what it let through.
    assert!(request.id.len() <= 255 && !request.id.is_empty(), "webhook-id length not enforced");
    assert!(!request.id.chars().any(char::is_control), "webhook-id with a control character accepted");
    let ts_text = timestamp.map(str::trim).unwrap_or_default();
    let seconds: i64 = ts_text.parse().expect("an accepted timestamp must be an integer");
    assert!((NOW - seconds).abs() <= auth::TOLERANCE_SECONDS, "stale timestamp accepted");

    let fuzzed = check_signature(&request, body, &[SECRET]);

    if seconds.to_string() == ts_text {
        // A genuine signature over exactly this id, timestamp and body must verify, alone or
        // among others (rotation).
        let genuine = auth::sign(SECRET, request.id, seconds, body);
        let signed = SignatureHeaders { id, timestamp, signature: Some(&genuine) };
        let req = signed_request(&signed, now).expect("same id and timestamp, a valid signature header");
        assert_eq!(check_signature(&req, body, &[SECRET]), Ok(()), "a genuine signature was refused");
        assert_eq!(check_signature(&req, body, &[OTHER_SECRET, SECRET]), Ok(()), "rotation: second secret refused");

        // Signed with another secret: refused, unless the fuzzed signature already matched.
        let forged = auth::sign(OTHER_SECRET, request.id, seconds, body);
        let both = format!("{forged} {}", signature.unwrap_or_default());
        let req = SignatureHeaders { id, timestamp, signature: Some(&both) };
        if let Ok(req) = signed_request(&req, now) {
            let verdict = check_signature(&req, body, &[SECRET]);
            assert_eq!(verdict.is_ok(), fuzzed.is_ok(), "a signature made with another secret changed the verdict");
        }
    }
});
