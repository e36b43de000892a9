use super::InvalidValue;

string_newtype! {
    /// An email address, trimmed and lower-cased so that matching against Salesforce (which compares
    /// emails case-insensitively) is a plain string comparison.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Email;
}

impl Email {
    /// Salesforce's Email fields hold at most 80 characters.
    pub(crate) const MAX_LEN: usize = 80;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let normalized = value.trim().to_lowercase();
        let invalid = || InvalidValue::new(format!("{value:?} is not an email address"));
        let (local, domain) = normalized.rsplit_once('@').ok_or_else(invalid)?;
        let well_formed = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !normalized.chars().any(|c| c.is_whitespace() || c.is_control())
            && !local.contains('@');
        if !well_formed {
            return Err(invalid());
        }
        if normalized.len() > Self::MAX_LEN {
            return Err(InvalidValue::new(format!(
                "email addresses longer than {} characters cannot match a Salesforce record",
                Self::MAX_LEN
            )));
        }
        Ok(Self(normalized))
    }
}

// Surrounding whitespace is trimmed, then one `@`, a local part, a domain with an inner dot, no
// whitespace or control character, at most 80 characters once trimmed (`parse` counts bytes after
// lower-casing, never fewer than the characters counted here).
super::string_schema!(Email, {
    "description": "An email address (compared case-insensitively; at most 80 bytes once trimmed and lower-cased)",
    "type": "string",
    "pattern": r"^\s*(?=\S{1,80}\s*$)[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f]\s*$"
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ").map(|e| e.to_string()),
            Ok("ada.lovelace@example.com".to_owned())
        );
    }

    #[test]
    fn rejects_non_addresses() {
        for bad in ["", "ada", "@example.com", "ada@", "ada@example", "a b@example.com", "ada@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
