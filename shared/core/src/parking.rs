//! Commands of a tenant that must reconnect are parked in the table, not dropped and not left to
//! bounce to the dead-letter queue. When the tenant is connected again (the OAuth callback, or
//! the next sync batch that finds a working session) they go back onto the activity queue. Both
//! the connect feature and the sync feature replay, so this lives below them.

use crate::domain::TenantId;
use crate::queue::{OutgoingMessage, Queue};

use crate::store::{Store, StoreError};

/// Parked commands moved back per round trip.
const REPLAY_PAGE: usize = 100;

/// Puts the tenant's parked commands back on the activity queue, in event-id order (not arrival
/// order; the ledger makes order irrelevant to correctness), and forgets each
/// one only once the queue has it. Returns how many were replayed.
pub async fn replay_parked(store: &Store, activity: &dyn Queue, t: &TenantId) -> Result<usize, StoreError> {
    let mut replayed = 0;
    loop {
        let parked = store.parked(t, REPLAY_PAGE).await?;
        if parked.is_empty() {
            return Ok(replayed);
        }
        // The tenant is the message group: the activity queue keeps tenants fair (SQS fair queues).
        let messages = parked.iter().map(|p| OutgoingMessage::new(p.body.clone()).with_group_id(t.as_str())).collect();
        let results = crate::queue::one_answer_each(parked.len(), activity.send(messages).await);
        let mut sent_all = true;
        for (p, result) in parked.iter().zip(results) {
            match result {
                Ok(()) => {
                    store.unpark(t, &p.event_id).await?;
                    replayed += 1;
                }
                Err(e) => {
                    sent_all = false;
                    tracing::warn!(tenant_id = %t, event_id = %p.event_id, error = %e, "could not replay a parked command; it stays parked");
                }
            }
        }
        if !sent_all || parked.len() < REPLAY_PAGE {
            if replayed > 0 {
                tracing::info!(tenant_id = %t, replayed, "replayed parked sync commands");
            }
            return Ok(replayed);
        }
    }
}
