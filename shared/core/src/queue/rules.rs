//! What SQS accepts as a message, checked before sending.

use std::collections::HashSet;

use super::{OutgoingMessage, MAX_MESSAGE_BYTES};

/// SQS's limit on message attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;
/// The data type of every attribute we send.
pub const STRING: &str = "String";

/// The size SQS counts for a message (body, and each attribute's name, data type and value), or
/// why SQS would refuse it. Both queue adapters refuse
/// the same messages: SQS validates a batch as a whole, so the SQS adapter checks each entry first, and
/// the in-process queue refuses what SQS would.
pub fn validate(message: &OutgoingMessage) -> Result<usize, String> {
    if message.body.is_empty() {
        return Err("the message body is empty".into());
    }
    if let Some(c) = message.body.chars().find(|c| !allowed_char(*c)) {
        return Err(format!("the message body contains a character SQS does not accept (U+{:04X})", u32::from(c)));
    }
    if message.attributes.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "the message has {} attributes; SQS allows at most {MAX_ATTRIBUTES}",
            message.attributes.len()
        ));
    }
    let mut names = HashSet::new();
    let mut size = message.body.len();
    for (name, value) in &message.attributes {
        if let Err(reason) = validate_attribute_name(name) {
            return Err(format!("attribute name {name:?}: {reason}"));
        }
        if !names.insert(name.as_str()) {
            return Err(format!("attribute {name:?} is given twice"));
        }
        if value.is_empty() {
            return Err(format!("attribute {name:?} is empty; SQS requires a value"));
        }
        if let Some(c) = value.chars().find(|c| !allowed_char(*c)) {
            return Err(format!(
                "attribute {name:?} contains a character SQS does not accept (U+{:04X})",
                u32::from(c)
            ));
        }
        size += name.len() + STRING.len() + value.len();
    }
    if size > MAX_MESSAGE_BYTES {
        return Err(format!("the message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}"));
    }
    Ok(size)
}

/// SQS message text: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF
/// (a Rust `char` is never a surrogate).
fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// SQS attribute names: up to 256 of `A-Za-z0-9_-.`, no leading, trailing or doubled period,
/// not starting with `AWS.` or `Amazon.` (any case).
fn validate_attribute_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 256 {
        return Err("must be 1 to 256 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("may contain only A-Z, a-z, 0-9, underscore, hyphen and period");
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err("may not start or end with a period or contain two in a row");
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return Err("may not start with AWS. or Amazon.");
    }
    Ok(())
}

