//! What one tenant's run saw of the connection, merged into its health record once the run's
//! outcomes are settled.

use std::sync::Mutex as StdMutex;

use chrono::{DateTime, Utc};
use sfbridge_core::store::{HealthArea, HealthError, HealthRecord, UsageReading};
use sfbridge_salesforce::rest::{ApiUsage, ErrorClass, RestError};

use super::event::{Event, State};

/// What one tenant's run saw of the connection, for its health record.
#[derive(Debug, Default)]
pub(super) struct Observed {
    /// Salesforce answered at least one call.
    pub(super) answered: bool,
    pub(super) usage: Option<(ApiUsage, DateTime<Utc>)>,
    /// The last call that failed as a whole (after its refresh-and-replay, if any).
    pub(super) failed_call: Option<RestError>,
    /// Why the budget guard deferred work.
    pub(super) deferred: Option<String>,
}

/// [`Observed`] behind a lock, shared by the run's concurrent calls.
#[derive(Debug, Default)]
pub(super) struct Observer(StdMutex<Observed>);

impl Observer {
    pub(super) fn note(&self, f: impl FnOnce(&mut Observed)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub(super) fn deferred(&self, reason: &str) {
        self.note(|o| o.deferred = Some(reason.to_owned()));
    }

    /// The fields to merge into the health record, if the run saw anything worth keeping.
    /// `resumes_at`: when the first of the events the run deferred is tried again, told with a
    /// condition that clears on its own.
    pub(super) fn into_health(self, events: &[Event], at: DateTime<Utc>, resumes_at: Option<DateTime<Utc>>) -> Option<HealthRecord> {
        let seen = self.0.into_inner().unwrap_or_else(|e| e.into_inner());
        let refused = events.iter().find_map(|e| match &e.state {
            State::Failed { code, reason } => Some((code.clone(), reason.clone())),
            _ => None,
        });
        let last_error = if let Some((code, message)) = refused {
            Some(HealthError { area: HealthArea::SalesforceApi, code, message, retryable: false, at, resumes_at: None })
        } else if let Some(e) = seen.failed_call {
            let retryable = e.class != ErrorClass::Permanent;
            let message = format!("Salesforce: {}: {}", e.code, e.message);
            let resumes_at = resumes_at.filter(|_| retryable);
            Some(HealthError { area: HealthArea::SalesforceApi, code: e.code, message, retryable, at, resumes_at })
        } else {
            let code = "api_budget".to_owned();
            seen.deferred.map(|message| HealthError { area: HealthArea::Budget, code, message, retryable: true, at, resumes_at })
        };
        let health = HealthRecord {
            last_token_refresh_at: None,
            last_sync_at: seen.answered.then_some(at),
            last_error,
            api_usage: seen.usage.map(|(u, read_at)| UsageReading { used: u.used, max: u.max, at: read_at }),
            updated_at: Some(at),
        };
        (!health.is_empty()).then_some(health)
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::stub::pending;

    fn event(state: State) -> Event {
        Event { state, ..Event::new(pending("evt_1", "ada@example.com")) }
    }

    fn failed_call() -> RestError {
        RestError { class: ErrorClass::Transient, status: Some(503), code: "SERVER_UNAVAILABLE".into(), message: "down".into() }
    }

    #[test]
    fn a_refused_event_outranks_a_failed_call_which_outranks_a_deferral() {
        let at = Utc::now();
        let observer = Observer::default();
        observer.note(|o| o.failed_call = Some(failed_call()));
        observer.deferred("over budget");
        let refused = State::Failed { code: "INVALID_FIELD".into(), reason: "Salesforce: INVALID_FIELD: x".into() };
        let health = observer.into_health(&[event(refused)], at, None);
        let error = health.and_then(|h| h.last_error);
        assert_eq!(error.map(|e| (e.code, e.retryable)), Some(("INVALID_FIELD".to_owned(), false)));

        let observer = Observer::default();
        observer.note(|o| o.failed_call = Some(failed_call()));
        observer.deferred("over budget");
        let error = observer.into_health(&[event(State::Synced)], at, None).and_then(|h| h.last_error);
        assert_eq!(error.map(|e| (e.code, e.retryable)), Some(("SERVER_UNAVAILABLE".to_owned(), true)));

        let observer = Observer::default();
        observer.deferred("over budget");
        let error = observer.into_health(&[], at, None).and_then(|h| h.last_error);
        assert_eq!(error.map(|e| (e.area, e.code)), Some((HealthArea::Budget, "api_budget".to_owned())));
    }

    #[test]
    fn a_run_that_saw_nothing_writes_nothing() {
        assert!(Observer::default().into_health(&[event(State::Synced)], Utc::now(), None).is_none());
        let observer = Observer::default();
        observer.note(|o| o.answered = true);
        let health = observer.into_health(&[], Utc::now(), None);
        assert!(health.is_some_and(|h| h.last_sync_at.is_some() && h.last_error.is_none()));
    }
}
