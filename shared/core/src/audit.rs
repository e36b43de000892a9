//! The audit log: who changed a tenant's connection and when (`AUDIT#` items), newest first.
//! The admin API writes it (credentials, connect, disconnect, settings, webhook secrets) and so
//! does the token refresh (`reauth_required`).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::clock::Clock;
use crate::domain::{FlowId, TenantId};
use crate::paging::PageRules;
use crate::store::{AuditEvent, AuditPage, Store, StoreError};

/// The audit log's page sizes and cursors.
pub const AUDIT_PAGES: PageRules = PageRules { list: "audit", default_limit: 50, max_limit: 100 };

/// Appends and reads audit events. Clones share the same ordering state.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
    clock: Arc<dyn Clock>,
    /// The last timestamp handed out, so this log's events never tie (see [`AuditLog::record`]).
    last: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl AuditLog {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, last: Arc::default() }
    }

    /// Appends an audit event. `detail` must hold no secret (ids, masked keys, hosts only).
    pub async fn record(&self, t: &TenantId, kind: &str, detail: Value) -> Result<(), StoreError> {
        let event = AuditEvent {
            // Reusing the flow-id generator: 256 random bits, URL-safe.
            id: FlowId::random().to_string(),
            kind: kind.to_owned(),
            at: self.monotonic(self.clock.now()),
            detail,
        };
        self.store.append_audit(t, &event).await?;
        tracing::info!(tenant_id = %t, event = kind, "audit");
        Ok(())
    }

    /// One page, newest first; `limit` and `cursor` (the store's position) as checked by [`AUDIT_PAGES`].
    pub async fn page(&self, t: &TenantId, limit: usize, cursor: Option<&str>) -> Result<AuditPage, StoreError> {
        self.store.audit(t, limit, cursor).await
    }

    /// Audit keys sort by time to the microsecond. Events one operation records back to back
    /// (clear credentials, then disconnect) must keep their order even within one clock tick, so
    /// the log hands out strictly increasing timestamps. The state is the log's own, not the
    /// process's: one log's clock never moves another's times.
    fn monotonic(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let at = match *last {
            Some(previous) if now <= previous => previous + Duration::microseconds(1),
            _ => now,
        };
        *last = Some(at);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn tenant() -> TenantId {
        TenantId::parse("team_audit").unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[tokio::test]
    async fn events_recorded_in_one_tick_keep_their_order() {
        let clock = ManualClock::default();
        let log = AuditLog::new(Store::in_memory(), Arc::new(clock.clone()));
        for kind in ["first", "second", "third"] {
            log.record(&tenant(), kind, Value::Null).await.unwrap_or_else(|e| unreachable!("{e}"));
        }
        let page = log.page(&tenant(), 10, None).await.unwrap_or_else(|e| unreachable!("{e}"));
        let kinds: Vec<&str> = page.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["third", "second", "first"], "newest first, no tie");
        assert!(page.events[0].at > page.events[1].at && page.events[1].at > page.events[2].at);
    }

    /// The bug this type fixed: the monotonic state was one process-global `static`, so a log
    /// whose clock ran ahead (a test's manual clock moved a day on) pushed every other log's
    /// audit times into its future.
    #[tokio::test]
    async fn one_logs_clock_never_moves_another_logs_times() {
        let ahead = ManualClock::default();
        ahead.advance(Duration::days(1));
        let future = AuditLog::new(Store::in_memory(), Arc::new(ahead.clone()));
        future.record(&tenant(), "ahead", Value::Null).await.unwrap_or_else(|e| unreachable!("{e}"));

        let now = ManualClock::default();
        let present = AuditLog::new(Store::in_memory(), Arc::new(now.clone()));
        present.record(&tenant(), "now", Value::Null).await.unwrap_or_else(|e| unreachable!("{e}"));
        let page = present.page(&tenant(), 10, None).await.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(page.events[0].at, now.now(), "stamped by its own clock, not after the other log's event");
    }
}
