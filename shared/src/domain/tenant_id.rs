use std::fmt;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// A tenant (one customer team of the product). It becomes part of every storage key and of the
/// KMS encryption context, so it must never contain a key separator (`#`) or anything exotic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if value.is_empty() || value.len() > Self::MAX_LEN || !valid_chars {
            return Err(InvalidValue::new(format!(
                "tenant id must be 1 to {} characters of A-Z, a-z, 0-9, '_' or '-'",
                Self::MAX_LEN
            )));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "team_42", "A-b_C-9", &"x".repeat(64)] {
            assert_eq!(TenantId::parse(ok).map(|t| t.to_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn rejects_separators_and_oversize() {
        for bad in ["", "a#b", "a b", "ä", "a/b", "TENANT#x", &"x".repeat(65), "a\n"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
