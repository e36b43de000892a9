//! Which Contact or Lead each email matched, remembered for a few minutes by a warm worker, so
//! that a retried write (or the next batch of a campaign) does not look the same emails up again.
//!
//! Only the match is kept, never field values: a click counter or a last-open date must be read
//! fresh before it is changed (another worker may have changed it since), so events that update
//! such a field always look their email up. A match that went stale (a Lead converted, a Contact
//! merged or deleted) fails its write with a code that sends the event back to look up again, and
//! the entry is dropped then. A Contact created for an email matched to a Lead is seen within
//! [`TTL`]. No match is ever cached: the record may be created any moment.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use sfbridge_core::domain::{Email, SalesforceId, TenantId};
use sfbridge_core::store::MatchPolicy;

use crate::matching::{Target, TargetKind};

/// How long a match is trusted.
pub const TTL: Duration = Duration::minutes(5);
/// Entries kept at most (a few MB); past this the cache starts over rather than grow.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct MatchCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

/// The policy is part of the key (as its discriminant): another policy may match another record.
type Key = (TenantId, u8, Email);

#[derive(Debug, Clone)]
struct Entry {
    id: SalesforceId,
    kind: TargetKind,
    at: DateTime<Utc>,
}

impl MatchCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The email's match, if remembered and fresh, without field values.
    pub fn get(&self, t: &TenantId, policy: MatchPolicy, email: &Email, now: DateTime<Utc>) -> Option<Target> {
        let entries = self.lock();
        let entry = entries.get(&(t.clone(), policy as u8, email.clone()))?;
        (now.signed_duration_since(entry.at) < TTL).then(|| Target { id: entry.id.clone(), kind: entry.kind, fields: Default::default() })
    }

    pub fn put(&self, t: &TenantId, policy: MatchPolicy, email: &Email, target: &Target, now: DateTime<Utc>) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert((t.clone(), policy as u8, email.clone()), Entry { id: target.id.clone(), kind: target.kind, at: now });
    }

    pub fn forget(&self, t: &TenantId, email: &Email) {
        self.lock().retain(|(tenant, _, e), _| !(tenant == t && e == email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_is_kept_for_its_ttl_per_tenant_and_policy_and_forgotten_on_demand() {
        let cache = MatchCache::default();
        let t = TenantId::parse("team_a").unwrap_or_else(|e| unreachable!("{e}"));
        let other = TenantId::parse("team_b").unwrap_or_else(|e| unreachable!("{e}"));
        let email = Email::parse("ada@example.com").unwrap_or_else(|e| unreachable!("{e}"));
        let id = SalesforceId::parse("003000000000001").unwrap_or_else(|e| unreachable!("{e}"));
        let now = Utc::now();
        let target = Target { id: id.clone(), kind: TargetKind::Contact, fields: Default::default() };
        cache.put(&t, MatchPolicy::ContactThenLead, &email, &target, now);
        assert_eq!(cache.get(&t, MatchPolicy::ContactThenLead, &email, now + Duration::minutes(4)).map(|t| t.id), Some(id));
        assert!(cache.get(&t, MatchPolicy::ContactThenLead, &email, now + TTL).is_none(), "expired");
        assert!(cache.get(&t, MatchPolicy::LeadThenContact, &email, now).is_none(), "another policy may match otherwise");
        assert!(cache.get(&other, MatchPolicy::ContactThenLead, &email, now).is_none(), "another tenant's org");
        cache.forget(&t, &email);
        assert!(cache.get(&t, MatchPolicy::ContactThenLead, &email, now).is_none());
    }
}
