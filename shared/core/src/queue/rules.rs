//! What SQS accepts as a message, checked before sending.

use std::collections::HashSet;
use std::time::Duration;

use super::{OutgoingMessage, MAX_MESSAGE_BYTES};

/// SQS's limit on message attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;
/// SQS's longest `MessageGroupId`.
pub const MAX_GROUP_ID_CHARS: usize = 128;
/// SQS's longest `DelaySeconds`: 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// SQS's longest visibility timeout: 12 hours.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
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
    if let Some(group_id) = &message.group_id {
        validate_group_id(group_id).map_err(|reason| format!("message group id {group_id:?}: {reason}"))?;
    }
    if let Some(delay) = message.delay.filter(|d| *d > MAX_DELAY) {
        return Err(format!("the delay is {} s; SQS allows at most {} s", delay.as_secs_f64(), MAX_DELAY.as_secs()));
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

/// SQS message group ids: 1 to 128 characters, each an ASCII letter, digit or punctuation mark
/// (`` !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ ``).
fn validate_group_id(id: &str) -> Result<(), String> {
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_GROUP_ID_CHARS {
        return Err(format!("must be 1 to {MAX_GROUP_ID_CHARS} characters"));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || c.is_ascii_punctuation())) {
        return Err(format!("may contain only ASCII letters, digits and punctuation, not {c:?}"));
    }
    Ok(())
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


#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn in_group(id: &str) -> OutgoingMessage {
        OutgoingMessage::new("{}").with_group_id(id)
    }

    #[test]
    fn group_ids_follow_sqs() {
        for good in ["team_42", "a", "A-Z.0:9/#!~", &"g".repeat(MAX_GROUP_ID_CHARS), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"] {
            assert!(validate(&in_group(good)).is_ok(), "{good:?}");
        }
        for bad in ["", "sp ace", "tab\t", "\u{e9}t\u{e9}", &"g".repeat(MAX_GROUP_ID_CHARS + 1)] {
            let refused = validate(&in_group(bad)).unwrap_err();
            assert!(refused.contains("message group id"), "{bad:?}: {refused}");
        }
    }

    #[test]
    fn delays_are_at_most_fifteen_minutes() {
        let delayed = |d| OutgoingMessage::new("{}").with_delay(d);
        assert!(validate(&delayed(Duration::ZERO)).is_ok());
        assert!(validate(&delayed(MAX_DELAY)).is_ok());
        assert!(validate(&delayed(MAX_DELAY + Duration::from_millis(1))).unwrap_err().contains("at most 900 s"));
    }
}
