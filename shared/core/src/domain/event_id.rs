use super::slug::slug_id;

slug_id!(
    /// The product's id for one sync command (`"event_id"`): the idempotency key. Retries and
    /// redeliveries of the same event carry the same id, and it is what a Task's external-id
    /// field holds.
    EventId,
    "event_id"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_product_ids() {
        for ok in ["evt_1", "3f2b8c1e-8d1a-4f5e-9c2d-1a2b3c4d5e6f", "01J9ZQ4X"] {
            assert!(EventId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "evt#1", "evt 1", &"e".repeat(65)] {
            assert!(EventId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
