//! Every Salesforce call of one tenant's run.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use sfbridge_core::domain::TenantId;
use sfbridge_core::metrics::{self, Counter, Gauge};
use sfbridge_core::store::TenantSettings;
use sfbridge_salesforce::rest::{ApiUsage, ErrorClass, RecordResult, Reply, RestError};
use sfbridge_salesforce::{CallError, Session, SessionError};
use tokio::sync::{Mutex, Semaphore};

use super::health::Observer;
use super::MAX_CONCURRENT_SALESFORCE_CALLS;
use crate::Worker;

/// Salesforce calls for one tenant's run: one session shared by all, refreshed once on 401,
/// at most [`MAX_CONCURRENT_SALESFORCE_CALLS`] at a time, usage noted for the budget guard.
/// Every Salesforce REST call of a run goes through [`Calls::run`], which is where they are
/// counted (`SalesforceApiCalls`) and their usage readings kept (`ApiUsagePercent`).
pub(super) struct Calls<'a> {
    pub(super) ctx: &'a Worker,
    pub(super) t: &'a TenantId,
    pub(super) session: Mutex<Session>,
    pub(super) limiter: Semaphore,
    pub(super) made: AtomicUsize,
    pub(super) observer: &'a Observer,
}

impl<'a> Calls<'a> {
    pub(super) fn new(ctx: &'a Worker, t: &'a TenantId, session: Session, observer: &'a Observer) -> Self {
        Self {
            ctx,
            t,
            session: Mutex::new(session),
            limiter: Semaphore::new(MAX_CONCURRENT_SALESFORCE_CALLS),
            made: AtomicUsize::new(0),
            observer,
        }
    }

    pub(super) async fn run<T, F, Fut>(&self, call: F) -> Result<T, CallError>
    where
        F: Fn(Session) -> Fut,
        Fut: Future<Output = Result<Reply<T>, RestError>>,
    {
        let _permit = self
            .limiter
            .acquire()
            .await
            .map_err(|_| CallError::Session(SessionError::Transient("call limiter closed".into())))?;
        let mut session = self.session.lock().await.clone();
        let stale = session.issued_at;
        let counted = |s: Session| {
            self.count_call();
            call(s)
        };
        let result = self.ctx.sessions.with_session(self.t, &mut session, counted).await;
        if session.issued_at != stale {
            // Refreshed: the run's other calls use the new token from now on.
            *self.session.lock().await = session;
        }
        let reply = match result {
            Ok(reply) => reply,
            Err(CallError::Rest(e)) => {
                self.observer.note(|o| o.failed_call = Some(e.clone()));
                return Err(CallError::Rest(e));
            }
            Err(e) => return Err(e),
        };
        let now = self.ctx.clock.now();
        if let Some(usage) = reply.usage {
            self.ctx.api_usage.record(self.t, usage, now);
            metrics::record_max(Gauge::ApiUsagePercent, usage.percent());
        }
        self.observer.note(|o| {
            o.answered = true;
            if let Some(usage) = reply.usage {
                o.usage = Some((usage, now));
            }
        });
        Ok(reply.value)
    }

    pub(super) fn count_call(&self) {
        self.made.fetch_add(1, Ordering::Relaxed);
        metrics::add(Counter::SalesforceApiCalls, 1);
    }

    pub(super) fn over_budget(&self, settings: &TenantSettings) -> Option<ApiUsage> {
        self.ctx.api_usage.over_budget(self.t, settings.api_budget_percent, self.ctx.clock.now())
    }
}

pub(super) fn budget_reason(usage: ApiUsage, settings: &TenantSettings) -> String {
    format!(
        "deferred: the org has used {:.1}% of its daily API requests ({}/{}), over this tenant's sync budget of {}%",
        usage.percent(),
        usage.used,
        usage.max,
        settings.api_budget_percent
    )
}

/// The results of a Collections call, one per record sent, or an error saying they are not.
pub(super) fn expect_len(results: Vec<RecordResult>, expected: usize) -> Result<Vec<RecordResult>, CallError> {
    if results.len() == expected {
        Ok(results)
    } else {
        Err(CallError::Rest(RestError {
            class: ErrorClass::Transient,
            status: Some(200),
            code: "UNREADABLE_RESPONSE".into(),
            message: format!("Salesforce returned {} results for {expected} records", results.len()),
        }))
    }
}

