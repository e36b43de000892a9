use super::slug::slug_id;

slug_id!(
    /// A campaign of the product (the product's own id, not a Salesforce Campaign id).
    CampaignId,
    "campaign id"
);

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
