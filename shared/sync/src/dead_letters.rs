//! Commands that can never run as they are (a permanent Salesforce refusal, or a command this
//! release cannot run).
//!
//! One that names its tenant and event is the tenant's business: it is held as one of the
//! tenant's dead letters (`TENANT#{t}` / `DEAD_LETTER#{event_id}`: the body as it arrived, the code,
//! the reason, the time and the message it came in) and logged `dead_lettered` in the tenant's
//! delivery log, so the tenant's admin can see it (`GET /v1/tenants/{t}/dead-letters`) and replay
//! it once the cause is fixed (`POST .../dead-letters/replay`, which puts the body back on the
//! activity queue). The ledger entry of such an event is `failed`, which a replay claims again.
//!
//! Only what names no tenant (a body that is not a JSON object with a valid `tenant_id` and
//! `event_id`), and what could not be stored, goes to the SQS dead-letter queue, with the reason in
//! message attributes: that queue is the operator's (its alarm, `start-message-move-task`). Sending
//! attributable commands there as well would leave two copies to replay and page the operator for
//! every tenant's Salesforce setup problem, while a tenant can never take its own messages off a
//! queue all tenants share.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sfbridge_core::domain::{CampaignId, Email, EventId, TenantId};
use sfbridge_core::queue::OutgoingMessage;
use sfbridge_core::store::{ActivityKind, DeadLetterRecord, DeliveryOutcome, DeliveryRecord};

use crate::command::CommandError;
use crate::{bounded, Worker, DLQ_CODE_ATTRIBUTE, DLQ_REASON_ATTRIBUTE, DLQ_SOURCE_ATTRIBUTE};

/// Dead letters stored at the same time.
const STORE_CONCURRENCY: usize = 16;
/// The longest `type` kept from a body that names one (longer ones are shown as `unknown`).
const MAX_TYPE_LEN: usize = 40;

/// Takes the messages `dead` (message id, code, reason) off the activity queue for good: each one
/// that names a tenant and an event becomes that tenant's dead letter (one per event, however many
/// messages carried it), the rest go to the dead-letter queue with their reason. Returns the ids of
/// the messages that went nowhere (SQS keeps them, and its redrive policy moves them to the
/// dead-letter queue at worst).
pub(crate) async fn dead_letter(ctx: &Worker, bodies: &HashMap<String, String>, dead: Vec<(String, String, String)>) -> Vec<String> {
    if dead.is_empty() {
        return Vec::new();
    }
    let mut held: Vec<Held> = Vec::new();
    let mut by_event: HashMap<(TenantId, EventId), usize> = HashMap::new();
    let mut to_queue = Vec::new();
    for (id, code, reason) in dead {
        let body = bodies.get(&id).map(String::as_str).unwrap_or_default();
        let Some(attribution) = Attribution::of(body) else {
            to_queue.push((id, code, reason));
            continue;
        };
        let key = (attribution.tenant_id.clone(), attribution.event_id.clone());
        match by_event.get(&key) {
            Some(&i) => held[i].message_ids.push(id),
            None => {
                by_event.insert(key, held.len());
                held.push(Held { attribution, body: body.to_owned(), message_ids: vec![id], code, reason });
            }
        }
    }
    let stores = held.into_iter().map(|h| async move { if hold(ctx, &h).await { None } else { Some(h) } }).collect();
    for unheld in bounded(stores, STORE_CONCURRENCY).await.into_iter().flatten() {
        to_queue.extend(unheld.message_ids.into_iter().map(|id| (id, unheld.code.clone(), unheld.reason.clone())));
    }
    to_dead_letter_queue(ctx, bodies, to_queue).await
}

/// Messages of one event, to be held as one dead letter.
struct Held {
    attribution: Attribution,
    body: String,
    message_ids: Vec<String>,
    code: String,
    reason: String,
}

/// Whom a body is for, read as leniently as the worker reads a bad command's envelope, and what
/// it says of itself (for the list and the delivery log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribution {
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub command_type: String,
    pub campaign_id: Option<CampaignId>,
    pub activity: Option<ActivityKind>,
    pub email: Option<Email>,
}

impl Attribution {
    /// `None` when the body is not a JSON object with a valid `tenant_id` and `event_id`.
    pub(crate) fn of(body: &str) -> Option<Self> {
        let Ok(Value::Object(command)) = serde_json::from_str::<Value>(body) else { return None };
        let text = |object: &Map<String, Value>, key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
        let tenant_id = TenantId::parse(&text(&command, "tenant_id")?).ok()?;
        let event_id = EventId::parse(&text(&command, "event_id")?).ok()?;
        let command_type = text(&command, "type")
            .filter(|t| !t.is_empty() && t.len() <= MAX_TYPE_LEN && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or_else(|| "unknown".to_owned());
        let campaign_id = text(&command, "campaign_id").and_then(|c| CampaignId::parse(&c).ok());
        let activity = command.get("activity").and_then(|a| serde_json::from_value(a.clone()).ok());
        let email = command
            .get("contact")
            .and_then(Value::as_object)
            .and_then(|contact| text(contact, "email"))
            .and_then(|e| Email::parse(&e).ok());
        Some(Self { tenant_id, event_id, command_type, campaign_id, activity, email })
    }
}

/// Stores the dead letter and logs it; `false` when it could not be stored (the delivery log is
/// best-effort, as for every outcome).
async fn hold(ctx: &Worker, held: &Held) -> bool {
    let a = &held.attribution;
    let now = ctx.clock.now();
    let record = DeadLetterRecord {
        event_id: a.event_id.clone(),
        body: held.body.clone(),
        code: held.code.clone(),
        reason: held.reason.clone(),
        dead_lettered_at: now,
        source_message_id: held.message_ids.first().cloned().unwrap_or_default(),
        command_type: a.command_type.clone(),
        campaign_id: a.campaign_id.clone(),
        activity: a.activity,
        email: a.email.clone(),
    };
    if let Err(err) = ctx.store.put_dead_letter(&a.tenant_id, &record).await {
        tracing::warn!(tenant_id = %a.tenant_id, event_id = %a.event_id, error = %err, "could not store a dead letter; it goes to the dead-letter queue");
        return false;
    }
    tracing::info!(tenant_id = %a.tenant_id, event_id = %a.event_id, code = %held.code, "dead-lettered; held for the tenant to replay");
    let entry = DeliveryRecord {
        event_id: a.event_id.clone(),
        at: now,
        outcome: DeliveryOutcome::DeadLettered,
        command_type: a.command_type.clone(),
        campaign_id: a.campaign_id.clone(),
        activity: a.activity,
        email: a.email.clone(),
        record_id: None,
        task_id: None,
        code: Some(held.code.clone()),
        reason: Some(held.reason.clone()),
    };
    if let Err(err) = ctx.store.append_delivery(&a.tenant_id, &entry).await {
        tracing::warn!(tenant_id = %a.tenant_id, event_id = %a.event_id, error = %err, "could not write the delivery log");
    }
    true
}

/// Sends messages to the dead-letter queue with their reason; returns those it could not send
/// (they stay on the source queue and reach the DLQ by its redrive policy at worst).
async fn to_dead_letter_queue(ctx: &Worker, bodies: &HashMap<String, String>, dead: Vec<(String, String, String)>) -> Vec<String> {
    if dead.is_empty() {
        return Vec::new();
    }
    let messages = dead
        .iter()
        .map(|(id, code, reason)| {
            // SQS refuses empty bodies; keep the message recognisable as what arrived.
            let body = bodies.get(id).filter(|b| !b.is_empty()).cloned().unwrap_or_else(|| "(empty message body)".to_owned());
            OutgoingMessage::new(body)
                .with_attribute(DLQ_CODE_ATTRIBUTE, attribute_text(code))
                .with_attribute(DLQ_REASON_ATTRIBUTE, attribute_text(reason))
                .with_attribute(DLQ_SOURCE_ATTRIBUTE, id.clone())
        })
        .collect();
    let results = sfbridge_core::queue::one_answer_each(dead.len(), ctx.dead_letter.send(messages).await);
    dead.into_iter()
        .zip(results)
        .filter_map(|((id, _, _), result)| {
            result.err().map(|e| {
                tracing::warn!(message_id = %id, error = %e, "could not dead-letter; SQS will redeliver");
                id
            })
        })
        .collect()
}

/// Message attributes must be non-empty, in SQS's character set, and small.
fn attribute_text(text: &str) -> String {
    const MAX_CHARS: usize = 1000;
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_CHARS).collect();
    if clean.trim().is_empty() {
        "unknown".to_owned()
    } else {
        clean
    }
}

/// A command that cannot run shows in its tenant's delivery log as `failed` with the reason, when
/// it names a tenant and an event; [`dead_letter`] then adds `dead_lettered` once it is held.
pub(crate) async fn log_unrunnable(ctx: &Worker, e: &CommandError) {
    let (Some(t), Some(event_id)) = (&e.tenant_id, &e.event_id) else { return };
    let record = DeliveryRecord {
        event_id: event_id.clone(),
        at: ctx.clock.now(),
        outcome: DeliveryOutcome::Failed,
        command_type: "unknown".into(),
        campaign_id: None,
        activity: None,
        email: None,
        record_id: None,
        task_id: None,
        code: Some(e.code.to_owned()),
        reason: Some(e.message.clone()),
    };
    if let Err(err) = ctx.store.append_delivery(t, &record).await {
        tracing::warn!(tenant_id = %t, error = %err, "could not write the delivery log");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use sfbridge_core::clock::{Clock, ManualClock};
    use sfbridge_core::domain::HostPolicy;
    use sfbridge_core::metrics::{Capture, Meter};
    use sfbridge_core::queue::MemoryQueue;
    use sfbridge_core::store::{Condition, Item, QueryPage, Store, Table, TableError};
    use sfbridge_salesforce::{SalesforceOAuth, Sessions, StoredAppCredentials};

    use super::*;
    use crate::tenant::stub::{answer_all, fixture_with_dead_letter, StubApi, TENANT};
    use crate::WorkerQueues;

    fn command(event_id: &str) -> String {
        serde_json::json!({"version": 1, "type": "activity", "event_id": event_id, "tenant_id": TENANT, "campaign_id": "cmp_unit",
            "activity": "email_clicked", "contact": {"email": "ada@example.com"}, "occurred_at": "2026-11-20T10:00:00Z"})
        .to_string()
    }

    fn dead(id: &str) -> (String, String, String) {
        (id.to_owned(), "INVALID_FIELD".to_owned(), "No such column 'Nope__c' on sobject of type Contact".to_owned())
    }

    #[test]
    fn attribution_needs_a_valid_tenant_and_event_and_reads_the_rest_leniently() {
        let a = Attribution::of(&command("e1")).unwrap();
        assert_eq!((a.tenant_id.as_str(), a.event_id.as_str(), a.command_type.as_str()), (TENANT, "e1", "activity"));
        assert_eq!((a.activity, a.email.as_ref().map(|e| e.as_str())), (Some(ActivityKind::EmailClicked), Some("ada@example.com")));
        let odd = Attribution::of(r#"{"tenant_id": "t1", "event_id": "e1", "type": "no such type!", "activity": "x", "contact": 3}"#).unwrap();
        assert_eq!((odd.command_type.as_str(), odd.activity, odd.email, odd.campaign_id), ("unknown", None, None, None));
        for unattributable in ["", "not json", "[]", r#"{"tenant_id": "t1"}"#, r#"{"tenant_id": "t#1", "event_id": "e1"}"#, r#"{"tenant_id": "t1", "event_id": 7}"#] {
            assert_eq!(Attribution::of(unattributable), None, "{unattributable:?}");
        }
    }

    #[tokio::test]
    async fn a_tenants_dead_letter_is_held_and_logged_and_only_the_unattributable_reach_the_queue() {
        let queue = MemoryQueue::new();
        let f = fixture_with_dead_letter(StubApi::new(answer_all), Arc::new(queue.clone())).await;
        let bodies: HashMap<String, String> =
            [("m1", command("e1")), ("m2", command("e1")), ("m3", "{not json".to_owned())].map(|(k, v)| (k.to_owned(), v)).into();
        let retry = dead_letter(&f.worker, &bodies, vec![dead("m1"), dead("m2"), dead("m3")]).await;
        assert!(retry.is_empty(), "{retry:?}");

        let page = f.store.dead_letters(&f.tenant, 10, None).await.unwrap();
        assert_eq!(page.dead_letters.len(), 1, "two messages of one event: one dead letter");
        let held = &page.dead_letters[0];
        assert_eq!((held.event_id.as_str(), held.body.as_str(), held.code.as_str()), ("e1", command("e1").as_str(), "INVALID_FIELD"));
        assert_eq!((held.source_message_id.as_str(), held.command_type.as_str()), ("m1", "activity"));
        let log = f.store.deliveries(&f.tenant, 10, None).await.unwrap().deliveries;
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!((log[0].outcome, log[0].code.as_deref()), (DeliveryOutcome::DeadLettered, Some("INVALID_FIELD")));
        assert_eq!(log[0].reason.as_deref(), Some(held.reason.as_str()));

        let queued = queue.peek_all();
        assert_eq!(queued.len(), 1, "{queued:?}");
        assert_eq!(queued[0].body, "{not json");
        assert!(queued[0].attributes.contains(&(DLQ_SOURCE_ATTRIBUTE.to_owned(), "m3".to_owned())));
    }

    /// A table that is down for every call.
    #[derive(Debug)]
    struct Down;

    #[async_trait]
    impl Table for Down {
        async fn get(&self, _: &str, _: &str) -> Result<Option<Item>, TableError> {
            Err(TableError::Unavailable("down".into()))
        }
        async fn put(&self, _: Item, _: Condition) -> Result<(), TableError> {
            Err(TableError::Unavailable("down".into()))
        }
        async fn set_attributes(&self, _: &str, _: &str, _: Item) -> Result<(), TableError> {
            Err(TableError::Unavailable("down".into()))
        }
        async fn delete(&self, _: &str, _: &str, _: Condition) -> Result<Option<Item>, TableError> {
            Err(TableError::Unavailable("down".into()))
        }
        async fn query_desc(&self, _: &str, _: &str, _: usize, _: Option<&str>) -> Result<QueryPage, TableError> {
            Err(TableError::Unavailable("down".into()))
        }
        async fn query_asc(&self, _: &str, _: &str, _: usize, _: Option<&str>) -> Result<QueryPage, TableError> {
            Err(TableError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn a_dead_letter_that_cannot_be_stored_goes_to_the_queue_with_its_reason() {
        let store = Store::new(Arc::new(Down));
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
        let cipher: Arc<dyn sfbridge_core::cipher::Cipher> = Arc::new(sfbridge_core::cipher::LocalCipher::random());
        let oauth = SalesforceOAuth::new(sfbridge_salesforce::http_client().unwrap(), HostPolicy::STRICT);
        let credentials = Arc::new(StoredAppCredentials::new(store.clone(), cipher.clone()));
        let sessions = Sessions::new(store.clone(), cipher, clock.clone(), oauth, credentials);
        let queue = MemoryQueue::new();
        let queues = WorkerQueues { activity: Arc::new(MemoryQueue::new()), dead_letter: Arc::new(queue.clone()) };
        let worker = Worker::new(store, clock.clone(), sessions, StubApi::new(answer_all), queues, Meter::new(clock, Arc::new(Capture::default())));

        let bodies: HashMap<String, String> = [("m1".to_owned(), command("e1"))].into();
        assert!(dead_letter(&worker, &bodies, vec![dead("m1")]).await.is_empty(), "on the queue, not retried");
        let queued = queue.peek_all();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].body, command("e1"));
        assert!(queued[0].attributes.contains(&(DLQ_CODE_ATTRIBUTE.to_owned(), "INVALID_FIELD".to_owned())));
    }
}
