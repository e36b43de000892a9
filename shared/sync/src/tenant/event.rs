//! What an event of a run can become. Failures only escalate: a transient failure leaves an
//! open event to retry, a permanent one fails it for good (dead letter), and nothing undoes a
//! final state.

use std::time::Duration;

use sfbridge_core::domain::SalesforceId;
use sfbridge_core::store::LedgerRecord;
use sfbridge_salesforce::rest::ErrorClass;
#[cfg(test)]
use sfbridge_salesforce::rest::RestError;
use sfbridge_salesforce::{CallError, SessionError};

use crate::matching::Target;
use super::{Pending, STALE_MATCH_CODES};
use crate::command::Command;
use crate::ledger::Progress;

/// Why an event was deliberately not synced: the delivery log's `code` for a skipped event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipCode {
    /// No Contact (or Lead, by the match policy) has the email.
    NoMatch,
    /// The campaign is not enabled for Salesforce.
    CampaignDisabled,
    /// The campaign has activity sync turned off.
    ActivitySyncOff,
    /// The campaign has this kind of event turned off.
    EventOff,
    /// The tenant has no Salesforce connection.
    NotConnected,
    /// None of a field update's attributes is mapped for the record's object.
    NotMapped,
    /// Every field a field update maps already holds a value from a later `occurred_at`.
    Superseded,
}

impl SkipCode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::NoMatch => "no_match",
            Self::CampaignDisabled => "campaign_disabled",
            Self::ActivitySyncOff => "activity_sync_off",
            Self::EventOff => "event_off",
            Self::NotConnected => "not_connected",
            Self::NotMapped => "not_mapped",
            Self::Superseded => "superseded",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum State {
    Open,
    Synced,
    Skipped { code: SkipCode, reason: String },
    Failed { code: String, reason: String },
    /// The event's own failure (a record refused for a reason that may pass): SQS delivers it
    /// again and it uses one of its receives.
    Retry { reason: String },
    /// A condition of the whole tenant (a failed call, the request limit, the API budget, the
    /// session or storage unavailable): back after `after`, without using a receive.
    Defer { code: String, reason: String, after: Duration },
    Parked,
    /// Finished by an earlier delivery.
    Duplicate,
    /// Claimed by another worker right now.
    Busy,
}

#[derive(Debug)]
pub(super) struct Event {
    pub(super) pending: Pending,
    pub(super) held: Option<LedgerRecord>,
    pub(super) target: Option<Target>,
    pub(super) progress: Progress,
    pub(super) state: State,
    /// How the ledger says an earlier delivery ended, for a [`State::Duplicate`].
    pub(super) finished: Option<LedgerRecord>,
    /// An upsert found this event's Task already there (an earlier write whose answer was
    /// lost): `TaskSubtype` can only be set on create, so the Task is written again without it.
    pub(super) task_exists: bool,
}

/// What Salesforce answers when an upsert that turned out to be an update sets a create-only
/// field (`TaskSubtype`).
pub(super) const CREATE_ONLY_FIELD: &str = "INVALID_FIELD_FOR_INSERT_UPDATE";

/// How long a tenant-wide condition keeps its events away. SQS delays a message at most 15 minutes.
pub(super) mod defer {
    use std::time::Duration;

    /// The tenant's own API budget: usage readings move slowly.
    pub(crate) const BUDGET: Duration = Duration::from_secs(900);
    /// `REQUEST_LIMIT_EXCEEDED`: the daily allocation (`TotalRequests`) frees up slowly, the
    /// concurrency limit quickly.
    pub(crate) const DAILY_LIMIT: Duration = Duration::from_secs(900);
    pub(crate) const REQUEST_LIMIT: Duration = Duration::from_secs(120);
    /// A call that failed (5xx, a timeout, a cut connection) or an unreadable answer.
    pub(crate) const CALL_FAILED: Duration = Duration::from_secs(60);
    /// The session (a refresh held elsewhere, the token endpoint) or our own storage.
    pub(crate) const UNAVAILABLE: Duration = Duration::from_secs(30);
    /// Another worker holds the event's ledger claim (a duplicate delivery in flight).
    pub(crate) const BUSY: Duration = Duration::from_secs(60);
    /// SQS delays a message at most this long.
    pub(crate) const MAX: Duration = Duration::from_secs(900);

    /// The longest a short condition's delay grows to. Longer would spare little (one send and
    /// one receive per event, one call per batch, each time) and would keep events away long
    /// after the condition ended: with 15 minutes, the 10-minute outage took 65 minutes
    /// to settle in the benchmark's timeline (sync-bench), with 5 minutes 23.
    pub(crate) const GROWN: Duration = Duration::from_secs(300);

    /// A condition that outlasted earlier deferrals is given longer: the delay doubles with each
    /// deferral of the event so far, up to [`GROWN`] (or the condition's own delay when that is
    /// longer, as for the daily limit; never over [`MAX`]).
    pub(crate) fn growing(base: Duration, deferrals: u32) -> Duration {
        base.saturating_mul(1 << deferrals.min(10)).min(GROWN.max(base)).min(MAX)
    }
}

impl Event {
    pub(super) fn new(pending: Pending) -> Self {
        Self {
            pending,
            held: None,
            target: None,
            progress: Progress::default(),
            state: State::Open,
            finished: None,
            task_exists: false,
        }
    }

    /// Defers an open (or retrying) event for a condition of the tenant.
    pub(super) fn defer(&mut self, code: &str, reason: &str, after: Duration) {
        if matches!(self.state, State::Open | State::Retry { .. }) {
            self.state = State::Defer { code: code.to_owned(), reason: reason.to_owned(), after };
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// How long this deferred event stays away: its condition's delay, doubled by the event's
    /// earlier deferrals, at most `max` (the worker's [`crate::RetryPolicy::max_deferral`]).
    pub(super) fn deferral(&self, max: Duration) -> Option<Duration> {
        let State::Defer { after, .. } = &self.state else { return None };
        Some(defer::growing(*after, crate::deferrals(&self.pending.message_ids)).min(max))
    }

    pub(super) fn task_id(&self) -> Option<&SalesforceId> {
        self.progress.task_id.as_ref().or_else(|| self.held.as_ref().and_then(|h| h.task_id.as_ref()))
    }

    /// Whether everything the command owes is in Salesforce: an activity's Task and field
    /// updates; a field update's values.
    pub(super) fn is_done(&self) -> bool {
        match &self.pending.command {
            Command::Activity(_) => self.task_id().is_some() && self.fields_applied(),
            Command::FieldUpdate(_) | Command::RecordUpsert(_) => self.fields_applied(),
            Command::CampaignUpdate(c) => (c.note.is_none() || self.task_id().is_some()) && (c.state.is_none() || self.fields_applied()),
        }
    }

    pub(super) fn fields_applied(&self) -> bool {
        self.progress.fields_applied || self.held.as_ref().is_some_and(|h| h.fields_applied)
    }

    /// Records a failure of this event's own record, keeping the more serious one (failed beats
    /// retry and deferral) and never undoing a final state.
    pub(super) fn fail(&mut self, class: ErrorClass, code: &str, message: &str) {
        let permanent = class == ErrorClass::Permanent && !STALE_MATCH_CODES.contains(&code);
        match (&self.state, permanent) {
            (State::Open | State::Retry { .. } | State::Defer { .. }, true) => {
                self.state = State::Failed { code: code.to_owned(), reason: format!("Salesforce: {code}: {message}") }
            }
            (State::Open, false) => self.state = State::Retry { reason: format!("{code}: {message}") },
            _ => {}
        }
    }

    pub(super) fn fail_call(&mut self, e: &CallError) {
        match e {
            CallError::Session(SessionError::ReauthRequired(_)) => {
                if matches!(self.state, State::Open | State::Retry { .. } | State::Defer { .. }) {
                    self.state = State::Parked;
                }
            }
            CallError::Session(SessionError::NotConnected(t)) => {
                if matches!(self.state, State::Open | State::Retry { .. } | State::Defer { .. }) {
                    self.state = State::Skipped {
                        code: SkipCode::NotConnected,
                        reason: format!(
                            "tenant {t} has no Salesforce connection (never connected, or disconnected); connect it with \
                             POST /v1/tenants/{t}/connect and send the event again"
                        ),
                    };
                }
            }
            CallError::Session(SessionError::Transient(why)) => {
                self.defer("SESSION_UNAVAILABLE", &sfbridge_core::error::chain(why), defer::UNAVAILABLE)
            }
            // A whole call failed: that says something about the tenant's Salesforce, not this event.
            CallError::Rest(r) if r.class != ErrorClass::Permanent => {
                let after = match r.code.as_str() {
                    "REQUEST_LIMIT_EXCEEDED" if r.message.contains("TotalRequests") => defer::DAILY_LIMIT,
                    "REQUEST_LIMIT_EXCEEDED" => defer::REQUEST_LIMIT,
                    "API_BUDGET" => defer::BUDGET,
                    _ => defer::CALL_FAILED,
                };
                self.defer(&r.code, &format!("Salesforce: {}: {}", r.code, r.message), after);
            }
            CallError::Rest(r) => self.fail(r.class, &r.code, &r.message),
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    /// The codes this file handles specially must be the troubleshooting rows that say so (the
    /// README's table is rendered from those rows).
    #[test]
    fn special_sync_handling_matches_the_troubleshooting_rows() {
        use std::collections::BTreeSet;
        use sfbridge_salesforce::troubleshooting::{SyncHandling, REST_ERRORS};
        let rows = |handling: SyncHandling| -> BTreeSet<&str> {
            REST_ERRORS.iter().filter(|row| row.handling == handling).flat_map(|row| row.codes.iter().copied()).collect()
        };
        assert_eq!(STALE_MATCH_CODES.iter().copied().collect::<BTreeSet<_>>(), rows(SyncHandling::LookUpAgain));
        assert_eq!(BTreeSet::from([CREATE_ONLY_FIELD]), rows(SyncHandling::RewriteTaskWithoutSubtype));
    }
}

#[cfg(test)]
mod escalation {
    use sfbridge_core::domain::TenantId;

    use super::*;
    use crate::tenant::stub::pending;

    fn open() -> Event {
        Event::new(pending("evt_1", "ada@example.com"))
    }

    fn tenant() -> TenantId {
        TenantId::parse("team_unit").unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn a_transient_failure_retries_and_a_permanent_one_fails_for_good() {
        let mut e = open();
        e.fail(ErrorClass::Transient, "UNABLE_TO_LOCK_ROW", "locked");
        assert!(matches!(&e.state, State::Retry { reason } if reason.contains("UNABLE_TO_LOCK_ROW")), "{:?}", e.state);
        e.fail(ErrorClass::Permanent, "INVALID_FIELD", "no such field");
        assert!(matches!(&e.state, State::Failed { code, .. } if code == "INVALID_FIELD"), "a retry escalates: {:?}", e.state);
        e.fail(ErrorClass::Transient, "UNABLE_TO_LOCK_ROW", "locked");
        e.fail(ErrorClass::Permanent, "OTHER", "x");
        assert!(matches!(&e.state, State::Failed { code, .. } if code == "INVALID_FIELD"), "the first failure stands: {:?}", e.state);
    }

    #[test]
    fn a_stale_match_is_never_final() {
        for code in STALE_MATCH_CODES {
            let mut e = open();
            e.fail(ErrorClass::Permanent, code, "converted");
            assert!(matches!(e.state, State::Retry { .. }), "{code}: {:?}", e.state);
        }
    }

    #[test]
    fn no_failure_undoes_a_final_state() {
        let finals = [
            State::Synced,
            State::Skipped { code: SkipCode::NoMatch, reason: "x".into() },
            State::Duplicate,
            State::Busy,
            State::Parked,
        ];
        for state in finals {
            let mut e = Event { state: state.clone(), ..open() };
            e.fail(ErrorClass::Permanent, "INVALID_FIELD", "x");
            e.fail_call(&CallError::Session(SessionError::ReauthRequired(tenant())));
            e.fail_call(&CallError::Session(SessionError::NotConnected(tenant())));
            assert_eq!(e.state, state);
        }
    }

    #[test]
    fn a_refused_session_parks_and_a_missing_connection_skips() {
        let mut e = Event { state: State::Retry { reason: "earlier".into() }, ..open() };
        e.fail_call(&CallError::Session(SessionError::ReauthRequired(tenant())));
        assert_eq!(e.state, State::Parked);
        let mut e = open();
        e.fail_call(&CallError::Session(SessionError::NotConnected(tenant())));
        assert!(matches!(e.state, State::Skipped { code: SkipCode::NotConnected, .. }), "{:?}", e.state);
        let mut e = open();
        e.fail_call(&CallError::Session(SessionError::Transient("token endpoint down".into())));
        assert!(matches!(e.state, State::Defer { after, .. } if after == defer::UNAVAILABLE), "{:?}", e.state);
    }

    #[test]
    fn a_stale_session_after_its_refresh_is_transient() {
        let mut e = open();
        let stale = RestError { class: ErrorClass::RefreshSession, status: Some(401), code: "INVALID_SESSION_ID".into(), message: "x".into() };
        e.fail_call(&CallError::Rest(stale));
        assert!(matches!(e.state, State::Defer { .. }), "{:?}", e.state);
    }

    /// A failed call defers (the tenant's trouble); a refused record retries (the event's own).
    #[test]
    fn a_failed_call_defers_and_a_refused_record_retries() {
        let call = |code: &str, message: &str| {
            let mut e = open();
            let error = RestError { class: ErrorClass::Transient, status: Some(403), code: code.into(), message: message.into() };
            e.fail_call(&CallError::Rest(error));
            e.state
        };
        assert!(matches!(call("SERVER_UNAVAILABLE", "503"), State::Defer { after, .. } if after == defer::CALL_FAILED));
        assert!(matches!(call("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."), State::Defer { after, .. } if after == defer::REQUEST_LIMIT));
        assert!(matches!(call("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), State::Defer { after, .. } if after == defer::DAILY_LIMIT));
        let mut e = open();
        e.fail(ErrorClass::Transient, "UNABLE_TO_LOCK_ROW", "locked");
        assert!(matches!(e.state, State::Retry { .. }), "{:?}", e.state);
        e.fail_call(&CallError::Rest(RestError { class: ErrorClass::Transient, status: Some(503), code: "X".into(), message: "x".into() }));
        assert!(matches!(e.state, State::Defer { .. }), "a later failed call defers it: {:?}", e.state);
        e.fail(ErrorClass::Permanent, "INVALID_FIELD", "no");
        assert!(matches!(e.state, State::Failed { .. }), "a permanent refusal still wins: {:?}", e.state);
    }
}

#[cfg(test)]
mod deferral {
    use super::defer::{growing, GROWN, MAX};
    use std::time::Duration;

    #[test]
    fn repeated_deferrals_wait_longer_up_to_five_minutes_or_the_condition_s_own_delay() {
        let minute = Duration::from_secs(60);
        let waits: Vec<u64> = (0..6).map(|n| growing(minute, n).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 300, 300, 300]);
        assert_eq!(growing(minute, u32::MAX), GROWN, "no overflow");
        assert_eq!(growing(Duration::from_secs(900), 3), MAX, "the daily limit waits its own 15 minutes");
        assert_eq!(growing(Duration::from_secs(3600), 0), MAX, "never over SQS's limit");
    }
}
