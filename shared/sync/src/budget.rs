//! The API budget guard: every Salesforce response reports the org's usage
//! (`Sforce-Limit-Info`); above the tenant's budget, sync defers its work instead of spending the
//! last of the org's daily API requests, which the tenant's other integrations share.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use sfbridge_core::domain::TenantId;
use sfbridge_salesforce::rest::ApiUsage;

/// How long a reading over budget keeps sync from calling at all. After this, one call (the
/// lookup) takes a new reading.
const OVER_BUDGET_BACKOFF: Duration = Duration::minutes(10);

/// The latest usage each tenant's org reported to this process.
#[derive(Debug, Default)]
pub(crate) struct ApiUsageBook {
    latest: Mutex<HashMap<TenantId, (ApiUsage, DateTime<Utc>)>>,
}

impl ApiUsageBook {
    pub fn record(&self, t: &TenantId, usage: ApiUsage, at: DateTime<Utc>) {
        self.lock().insert(t.clone(), (usage, at));
    }

    pub fn latest(&self, t: &TenantId) -> Option<(ApiUsage, DateTime<Utc>)> {
        self.lock().get(t).copied()
    }

    /// The reading that forbids spending more, if the latest one is over `budget_percent` and
    /// recent.
    pub fn over_budget(&self, t: &TenantId, budget_percent: u8, now: DateTime<Utc>) -> Option<ApiUsage> {
        let (usage, at) = self.latest(t)?;
        (usage.percent() >= f64::from(budget_percent) && now - at < OVER_BUDGET_BACKOFF).then_some(usage)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, (ApiUsage, DateTime<Utc>)>> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}
