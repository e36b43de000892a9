use std::fmt;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// A campaign of the product (the product's own id, not a Salesforce Campaign id). Like
/// [`TenantId`](super::TenantId) it becomes part of a storage key (`CAMPAIGN#{c}`), so it holds
/// no key separator (`#`) or anything exotic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CampaignId(String);

impl CampaignId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if value.is_empty() || value.len() > Self::MAX_LEN || !valid_chars {
            return Err(InvalidValue::new(format!(
                "campaign id must be 1 to {} characters of A-Z, a-z, 0-9, '_' or '-' (the product's campaign id)",
                Self::MAX_LEN
            )));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CampaignId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CampaignId> for String {
    fn from(value: CampaignId) -> Self {
        value.0
    }
}

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CampaignId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_tenant_alphabet() {
        for ok in ["c", "cmp_7", "Q1-outreach_2026", &"x".repeat(64)] {
            assert_eq!(CampaignId::parse(ok).map(|c| c.to_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn rejects_separators_and_oversize() {
        for bad in ["", "a#b", "CAMPAIGN#x", "a b", "é", "a/b", "a.b", &"x".repeat(65), "a\n", " a"] {
            assert!(CampaignId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn deserializes_only_valid_ids() {
        assert!(serde_json::from_str::<CampaignId>("\"cmp_7\"").is_ok());
        assert!(serde_json::from_str::<CampaignId>("\"cmp#7\"").is_err());
    }
}
