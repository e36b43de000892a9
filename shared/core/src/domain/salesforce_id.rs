use super::InvalidValue;

string_newtype! {
    /// A Salesforce record id: 15 case-sensitive or 18 case-insensitive-safe alphanumerics.
    /// Always held in its 18-character form so ids from different APIs compare equal.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct SalesforceId;
}

// The 18-character form's checksum is beyond a pattern.
super::string_schema!(SalesforceId, {
    "description": "A Salesforce record id: 15 case-sensitive or 18 letters and digits (the last 3 the checksum of the first 15)",
    "type": "string",
    "pattern": "^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$"
});

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

impl SalesforceId {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let alnum = value.bytes().all(|b| b.is_ascii_alphanumeric());
        match value.len() {
            15 if alnum => Ok(Self(format!("{value}{}", checksum(value)))),
            18 if alnum => {
                let (base, suffix) = value.split_at(15);
                if checksum(base).eq_ignore_ascii_case(suffix) {
                    Ok(Self(format!("{base}{}", suffix.to_ascii_uppercase())))
                } else {
                    Err(InvalidValue::new(format!(
                        "{value:?} is not a Salesforce id: its last 3 characters are not the checksum of the first 15"
                    )))
                }
            }
            _ => Err(InvalidValue::new(format!(
                "{value:?} is not a Salesforce id (15 or 18 letters and digits)"
            ))),
        }
    }

    /// The three-character key prefix that names the object type (`00D` org, `005` user, ...).
    pub fn key_prefix(&self) -> &str {
        &self.0[..3]
    }
}

/// Salesforce's documented 15->18 suffix: for each block of 5 characters, a 5-bit mask of which
/// ones are upper-case letters, read least-significant first, mapped through A-Z0-5.
fn checksum(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            char::from(CHECKSUM_ALPHABET[bits])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_and_eighteen_character_forms_are_equal() {
        // The pair from Salesforce's REST samples (query example record).
        let short = SalesforceId::parse("003RO0000035WQg").map(|i| i.to_string());
        assert_eq!(short, Ok("003RO0000035WQgYAM".to_owned()));
        assert_eq!(
            SalesforceId::parse("003RO0000035WQgYAM"),
            SalesforceId::parse("003RO0000035WQg")
        );
    }

    #[test]
    fn rejects_wrong_length_symbols_and_bad_checksum() {
        for bad in ["", "003", "003RO0000035WQg!", "003RO0000035WQgZZZ", "003RO0000035WQgYAM1"] {
            assert!(SalesforceId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
