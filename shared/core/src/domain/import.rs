//! Names the import settings and runs use: an import's id and the product segment its records go to.

use super::slug::slug_id;
use super::InvalidValue;

slug_id!(
    /// One import run: `imp_` and the time it was created (so ids sort by time) and a random part.
    ImportId,
    "an import id"
);

impl ImportId {
    /// A new id for a run created at `at`.
    pub fn new(at: chrono::DateTime<chrono::Utc>) -> Self {
        let random = super::ids::random_token();
        Self(format!("imp_{}_{}", at.format("%Y%m%dT%H%M%S%6f"), &random[..10]))
    }
}

string_newtype! {
    /// The product segment or list an object's imported records go to ("Salesforce Contacts"):
    /// the product's own name, passed through on each event. 1 to 128 characters, no control characters.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct SegmentName;
}

impl SegmentName {
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value.trim().is_empty() || value.chars().count() > Self::MAX_LEN || value.chars().any(char::is_control) {
            return Err(InvalidValue::new(format!(
                "a segment is the product's name for a list, 1 to {} characters without control characters",
                Self::MAX_LEN
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

super::string_schema!(SegmentName, {
    "description": "The product's name for a segment or list: 1 to 128 characters, not only whitespace, no control characters",
    "type": "string",
    "minLength": 1,
    "maxLength": 128,
    "pattern": r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
});

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_sort_by_creation_time_and_parse_back() {
        let earlier = ImportId::new("2026-12-05T10:00:00Z".parse().unwrap());
        let later = ImportId::new("2026-12-05T10:00:01Z".parse().unwrap());
        assert!(earlier < later, "{earlier} < {later}");
        assert_eq!(ImportId::parse(later.as_str()), Ok(later));
        assert!(ImportId::parse("imp#1").is_err());
    }

    #[test]
    fn segments_are_names_not_anything() {
        assert!(SegmentName::parse("Salesforce Contacts").is_ok());
        assert!(SegmentName::parse(" ").is_err());
        assert!(SegmentName::parse("a\nb").is_err());
        assert!(SegmentName::parse(&"x".repeat(129)).is_err());
    }
}
