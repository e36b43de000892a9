use super::slug::slug_id;

slug_id!(
    /// A sequence of the product (`seq_1`): what a Closed Won event starts in `auto`/`both` mode.
    SequenceId,
    "sequence id"
);
