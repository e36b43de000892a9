use super::slug::slug_id;

slug_id!(
    /// A tenant (one customer team of the product).
    TenantId,
    "tenant id"
);

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
