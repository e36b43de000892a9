use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::ConnectError;
use crate::domain::{FlowId, TenantId};
use crate::store::{AuditEvent, AuditPage};
use crate::AppContext;

/// Appends an audit event. `detail` must hold no secret (ids, masked keys, hosts only).
pub async fn record_audit(ctx: &AppContext, t: &TenantId, kind: &str, detail: Value) -> Result<(), ConnectError> {
    let event = AuditEvent {
        // Reusing the flow-id generator: 256 random bits, URL-safe.
        id: FlowId::random().to_string(),
        kind: kind.to_owned(),
        at: monotonic(ctx.clock.now()),
        detail,
    };
    ctx.store.append_audit(t, &event).await?;
    tracing::info!(tenant_id = %t, event = kind, "audit");
    Ok(())
}

/// Audit keys sort by time to the microsecond. Events one operation records back to back (clear
/// credentials, then disconnect) must keep their order even within one clock tick, so each
/// process hands out strictly increasing timestamps.
fn monotonic(now: DateTime<Utc>) -> DateTime<Utc> {
    static LAST: Mutex<Option<DateTime<Utc>>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let at = match *last {
        Some(previous) if now <= previous => previous + Duration::microseconds(1),
        _ => now,
    };
    *last = Some(at);
    at
}

pub const MAX_AUDIT_PAGE: usize = 100;

pub async fn audit_page(
    ctx: &AppContext,
    t: &TenantId,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<AuditPage, ConnectError> {
    let limit = limit.unwrap_or(50);
    if limit == 0 || limit > MAX_AUDIT_PAGE {
        return Err(ConnectError::Invalid(format!("limit must be between 1 and {MAX_AUDIT_PAGE}")));
    }
    if let Some(c) = cursor {
        let plausible = !c.is_empty() && c.len() <= 128 && c.bytes().all(|b| b.is_ascii_graphic());
        if !plausible {
            return Err(ConnectError::Invalid("cursor is not one this API returned".into()));
        }
    }
    Ok(ctx.store.audit(t, limit, cursor).await?)
}
