use super::slug::slug_id;

slug_id!(
    /// An entry of the manual trigger queue: the `event_id` of the Closed Won event it was kept
    /// for (`inb_…`), so the product can act on an event it received by that id.
    PendingTriggerId,
    "pending trigger id"
);
