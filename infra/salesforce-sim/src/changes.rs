//! Record changes a test schedules for a moment of an import: while a Bulk API 2.0 query job runs,
//! or between two pages of results. A connector's import must not lose a record that changes
//! while it reads; these hooks make that moment reproducible instead of a race.
//!
//! A change is applied as a user's edit would be, with the REST API's checks and on the
//! simulator's clock (so it gets a `SystemModstamp` later than the snapshot or page it follows).
//! What became of each change is kept in order ([`crate::SalesforceSim::applied_changes`]).

use serde_json::Value;

/// When a scheduled change is applied ([`crate::SalesforceSim::schedule_change`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMoment {
    /// When the next Bulk API 2.0 query job starts running, just after its results were taken
    /// (so the change is not in them).
    BulkJobRunning,
    /// After this many more pages of Bulk API 2.0 query results (`GET …/jobs/query/{id}/results`,
    /// any job) have been served, counted from when the change is scheduled (0 counts as 1).
    BulkResultsPages(u32),
    /// After this many more pages of REST query results (`…/query`, `…/queryAll` and their
    /// `nextRecordsUrl` pages; a `COUNT()` answer too) have been served, counted from when the
    /// change is scheduled (0 counts as 1).
    QueryPages(u32),
}

/// A change to the org's records.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordChange {
    /// Creates a record of `object` with these fields (a JSON object).
    Insert { object: String, fields: Value },
    /// Updates the record with this id (15 or 18 characters) with these fields (a JSON object).
    Update { id: String, fields: Value },
    /// Moves the record with this id to the recycle bin.
    Delete { id: String },
}

/// A scheduled change that was applied, and its outcome: the record's id, or
/// `"STATUS_CODE: message"` when Salesforce's rules refused it.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedChange {
    pub moment: ImportMoment,
    pub change: RecordChange,
    pub outcome: Result<String, String>,
}

/// What happened, for the changes waiting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    BulkJobRunning,
    BulkResultsPage,
    QueryPage,
}

#[derive(Debug)]
struct Pending {
    moment: ImportMoment,
    /// Events of its kind still to happen before it applies.
    remaining: u32,
    change: RecordChange,
}

/// The scheduled changes and the applied ones.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pending: Vec<Pending>,
    pub(crate) applied: Vec<AppliedChange>,
}

impl Changes {
    pub(crate) fn schedule(&mut self, moment: ImportMoment, change: RecordChange) {
        let remaining = match moment {
            ImportMoment::BulkJobRunning => 1,
            ImportMoment::BulkResultsPages(n) | ImportMoment::QueryPages(n) => n.max(1),
        };
        self.pending.push(Pending { moment, remaining, change });
    }

    /// Counts `event` for the changes waiting on its kind; takes those now due, in the order they
    /// were scheduled.
    pub(crate) fn due(&mut self, event: Event) -> Vec<(ImportMoment, RecordChange)> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        for pending in &mut self.pending {
            let waits = match pending.moment {
                ImportMoment::BulkJobRunning => event == Event::BulkJobRunning,
                ImportMoment::BulkResultsPages(_) => event == Event::BulkResultsPage,
                ImportMoment::QueryPages(_) => event == Event::QueryPage,
            };
            if waits {
                pending.remaining = pending.remaining.saturating_sub(1);
            }
        }
        let (due, waiting) = std::mem::take(&mut self.pending).into_iter().partition(|p| p.remaining == 0);
        self.pending = waiting;
        due.into_iter().map(|p: Pending| (p.moment, p.change)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(id: &str) -> RecordChange {
        RecordChange::Delete { id: id.to_owned() }
    }

    #[test]
    fn changes_wait_for_their_own_kind_of_event_and_apply_once() {
        let mut changes = Changes::default();
        changes.schedule(ImportMoment::BulkResultsPages(2), delete("a"));
        changes.schedule(ImportMoment::QueryPages(1), delete("b"));
        changes.schedule(ImportMoment::BulkJobRunning, delete("c"));
        assert!(changes.due(Event::BulkResultsPage).is_empty());
        assert_eq!(changes.due(Event::QueryPage), [(ImportMoment::QueryPages(1), delete("b"))]);
        assert_eq!(changes.due(Event::BulkResultsPage), [(ImportMoment::BulkResultsPages(2), delete("a"))]);
        assert_eq!(changes.due(Event::BulkJobRunning), [(ImportMoment::BulkJobRunning, delete("c"))]);
        assert!(changes.due(Event::BulkJobRunning).is_empty());
    }
}
