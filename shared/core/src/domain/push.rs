//! Names the push commands and their settings use: product attributes (`nps_score`), product
//! campaign states (`completed`), and the Apex REST endpoints a tenant allows.

use super::slug::slug_id;
use super::InvalidValue;

slug_id!(
    /// A product attribute a `field_update` command sets (`nps_score`, `last_survey_at`).
    AttributeName,
    "an attribute name"
);

slug_id!(
    /// A state of a product campaign or experiment (`completed`, `rolled_back`), mapped to a
    /// Salesforce Campaign Status.
    ProductState,
    "a campaign state"
);

slug_id!(
    /// The name a tenant gives one of its Apex REST endpoints (`engagement`); commands name it as
    /// `"destination": "apex:engagement"`, never a URL.
    EndpointName,
    "an endpoint name"
);

string_newtype! {
    /// The path of an Apex REST endpoint in the tenant's org, `/services/apexrest/` and its URL
    /// mapping (`/services/apexrest/Sfbridge/events`): letters, digits, `_`, `-`, `.` and `/`
    /// between them, no empty or dot-only segment, no query, at most 255 characters. Only a path:
    /// the host is always the tenant's own instance.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct ApexPath;
}

const APEX_PREFIX: &str = "/services/apexrest/";

impl ApexPath {
    pub const MAX_LEN: usize = 255;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let example = "e.g. /services/apexrest/Sfbridge/events (the @RestResource urlMapping after /services/apexrest)";
        let Some(mapping) = value.strip_prefix(APEX_PREFIX) else {
            return Err(InvalidValue::new(format!("an Apex REST path starts with {APEX_PREFIX}; {example}")));
        };
        let segments_ok = mapping
            .split('/')
            .all(|s| !s.is_empty() && s.bytes().any(|b| b != b'.') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)));
        if value.len() > Self::MAX_LEN || mapping.is_empty() || !segments_ok {
            return Err(InvalidValue::new(format!(
                "not an Apex REST path sfbridge accepts: after {APEX_PREFIX}, segments of letters, digits, '_', '-' or '.' \
                 separated by single '/', at most {} characters in all; {example}",
                Self::MAX_LEN
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apex_paths_are_paths_under_apexrest_only() {
        for ok in ["/services/apexrest/Sfbridge/events", "/services/apexrest/ns/v1.2/Engagement_Event"] {
            assert!(ApexPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/services/apexrest/",
            "https://evil.example.com/services/apexrest/x",
            "/services/data/v66.0/sobjects",
            "/services/apexrest/../data/v66.0/query",
            "/services/apexrest/a//b",
            "/services/apexrest/a?x=1",
            "/services/apexrest/a b",
            "/services/apexrest/a/",
        ] {
            assert!(ApexPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ApexPath::parse(&format!("{APEX_PREFIX}{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn names_are_slugs() {
        assert!(AttributeName::parse("nps_score").is_ok());
        assert!(AttributeName::parse("nps score").is_err());
        assert!(ProductState::parse("rolled_back").is_ok());
        assert!(EndpointName::parse("").is_err());
    }
}
