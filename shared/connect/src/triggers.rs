//! The manual trigger queue as the admin API shows and resolves it: the Closed Won events that did
//! not trigger automatically (kept by the webhook receiver, `sfbridge_inbound::pending`), newest
//! first; an admin triggers one (a `trigger_requested` event on the inbound queue, for the product
//! to start a sequence) or dismisses it. Both are audited (`trigger.requested`, `trigger.dismissed`).
//!
//! Triggering publishes at most one event per entry, whatever the retries: the entry is claimed
//! (`triggering`, with a lease) before the send, released back to `pending` if the queue refuses,
//! and marked `triggered` once the queue has it. A request that finds it `triggered` publishes
//! nothing (409). One gap remains, as in the receiver: if the queue took the event but marking it
//! failed, a retry after the lease publishes it again, with the same `event_id` (derived from the
//! entry), so the consumer can drop it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sfbridge_core::domain::{Email, PendingTriggerId, SalesforceId, SequenceId, TenantId};
use sfbridge_core::error::Cause;
use sfbridge_core::events::{EventType, InboundEvent, Source, Trigger};
use sfbridge_core::paging::PageRules;
use sfbridge_core::queue::{OutgoingMessage, QueueError};
use sfbridge_core::secrets::sha256_hex;
use sfbridge_core::store::{audit_kind, PendingStatus, PendingTriggerRecord, StoreError, TriggerMode, PENDING_TRIGGER_RETENTION_DAYS};

use crate::{ConflictCode, ConnectError, Connector};

/// The queue's page sizes; its cursor is a time and an id (`2026-11-20T10:00:00.000000Z#inb_…`).
pub const PENDING_TRIGGER_PAGES: PageRules = PageRules { list: "triggers-pending", default_limit: 50, max_limit: 100 };
/// Longer than an admin API request can take (29 s), so a claim outlives the request that made it
/// and a request that died leaves the entry to the next one soon after.
const TRIGGER_LEASE: Duration = Duration::seconds(60);

/// One entry as the list shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct PendingTriggerView {
    /// The Closed Won event's `event_id`.
    pub id: PendingTriggerId,
    /// `pending`, or `triggering` while a request publishes its trigger.
    pub status: PendingStatus,
    /// When the Closed Won was first received.
    pub received_at: DateTime<Utc>,
    /// When it is forgotten if nobody triggers or dismisses it.
    pub expires_at: DateTime<Utc>,
    /// How the Closed Won arrived: `outbound_message` or `callout`.
    #[cfg_attr(feature = "openapi", schema(schema_with = source_schema))]
    pub source: Source,
    pub organization_id: SalesforceId,
    pub notification_id: Option<String>,
    pub opportunity: OpportunityView,
    /// The contact roles' emails the notification carried (possibly none).
    pub contact_emails: Vec<Email>,
}

/// `Source` belongs to the queue messages (`sfbridge_core::events`), which have no OpenAPI schema:
/// its values are its serde names, so the two cannot differ.
#[cfg(feature = "openapi")]
fn source_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    // Fails to compile when a variant is added, until it is listed below too.
    match Source::Callout {
        Source::OutboundMessage | Source::Callout => {}
    }
    let names = [Source::OutboundMessage, Source::Callout].map(|s| serde_json::to_value(s).unwrap_or_default());
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).build()
}

/// The Opportunity as the notification carried it: values as sent (Outbound Messages send text,
/// `"48000.0"`), `null` for a field it did not carry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct OpportunityView {
    pub id: Option<SalesforceId>,
    pub name: Value,
    pub amount: Value,
    pub close_date: Value,
    pub stage_name: Value,
}

/// `GET /v1/tenants/{t}/triggers/pending`: newest first, paged.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct PendingTriggerList {
    pub pending: Vec<PendingTriggerView>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

pub async fn pending_trigger_list(
    ctx: &Connector,
    t: &TenantId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<PendingTriggerList, ConnectError> {
    let page = PENDING_TRIGGER_PAGES.check(t, limit, cursor)?;
    let now = ctx.clock.now();
    let page = ctx.store.pending_triggers(t, page.limit, page.cursor.as_deref()).await?;
    // DynamoDB's TTL deletes up to two days late; an expired entry is gone for the API at once.
    let pending = page.entries.iter().filter(|e| e.expires_at() > now).map(view).collect::<Result<_, _>>()?;
    Ok(PendingTriggerList { pending, next_cursor: page.next_cursor.map(|last| PENDING_TRIGGER_PAGES.cursor(t, &last)) })
}

fn view(entry: &PendingTriggerRecord) -> Result<PendingTriggerView, ConnectError> {
    let fields = fields(entry)?;
    let carried = |name: &str| fields.get(name).cloned().unwrap_or(Value::Null);
    Ok(PendingTriggerView {
        id: entry.id.clone(),
        status: entry.status,
        received_at: entry.received_at,
        expires_at: entry.expires_at(),
        source: entry.source,
        organization_id: entry.organization_id.clone(),
        notification_id: entry.notification_id.clone(),
        opportunity: OpportunityView {
            id: entry.record_id.clone(),
            name: carried("Name"),
            amount: carried("Amount"),
            close_date: carried("CloseDate"),
            stage_name: carried("StageName"),
        },
        contact_emails: entry.contact_emails.clone(),
    })
}

fn fields(entry: &PendingTriggerRecord) -> Result<Map<String, Value>, ConnectError> {
    serde_json::from_str(&entry.fields).map_err(|e| ConnectError::Internal(Cause::context("reading a pending trigger's fields", e)))
}

/// The body of `POST /v1/tenants/{t}/triggers/pending/{id}`, which may be left out.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    /// The product's sequence to start; absent, `null` or `""`: the tenant's `sequence_id` setting.
    pub sequence_id: Option<String>,
}

/// `202` to `POST /v1/tenants/{t}/triggers/pending/{id}`: the event is on the inbound queue.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct TriggerAccepted {
    pub id: PendingTriggerId,
    /// The `trigger_requested` event's id.
    pub event_id: String,
    pub sequence_id: SequenceId,
    /// `triggered`.
    pub status: PendingStatus,
}

/// `POST /v1/tenants/{t}/triggers/pending/{id}`: publishes one `trigger_requested` event and takes
/// the entry off the queue.
pub async fn request_trigger(ctx: &Connector, t: &TenantId, id: &str, input: TriggerInput) -> Result<TriggerAccepted, ConnectError> {
    let requested = requested_sequence(input)?;
    let id = parse_id(t, id)?;
    let inbound = ctx.inbound()?;
    let now = ctx.clock.now();
    let entry = open_entry(t, &id, ctx.store.pending_trigger(t, &id).await?, now)?;
    let sequence_id = match (entry.status, &entry.sequence_id) {
        (PendingStatus::Triggering, _) if entry.lease_until.is_some_and(|until| until > now) => return Err(in_progress(&id)),
        // The request that claimed it died, perhaps after publishing: finish it as it began, so
        // a second copy carries the same event id and sequence.
        (PendingStatus::Triggering, Some(earlier)) => {
            if requested.as_ref().is_some_and(|r| r != earlier) {
                return Err(ConnectError::Conflict {
                    code: ConflictCode::TriggerInProgress,
                    message: format!(
                        "An earlier request began triggering {id} with sequence {earlier} and may have published it. Send the \
                         request again without a sequence_id (or with {earlier}) to finish it."
                    ),
                });
            }
            earlier.clone()
        }
        _ => match requested {
            Some(requested) => requested,
            None => ctx.store.settings(t).await?.and_then(|s| s.settings.sequence_id).ok_or_else(|| {
                ConnectError::Invalid(format!(
                    "sequence_id: name the sequence to start ({{\"sequence_id\": \"seq_1\"}}), or set the tenant's default \
                     (PATCH /v1/tenants/{t}/settings with {{\"sequence_id\": \"seq_1\"}})"
                ))
            })?,
        },
    };
    let event_id = trigger_event_id(t, &id);
    let claimed = PendingTriggerRecord {
        status: PendingStatus::Triggering,
        lease_until: Some(now + TRIGGER_LEASE),
        sequence_id: Some(sequence_id.clone()),
        trigger_event_id: Some(event_id.clone()),
        version: entry.version + 1,
        updated_at: now,
        ..entry.clone()
    };
    save(ctx, t, &claimed, entry.version).await?;

    let event = trigger_event(t, &claimed, sequence_id.clone(), event_id.clone(), now)?;
    let body = serde_json::to_string(&event).map_err(|e| ConnectError::Internal(Cause::context("serializing the trigger event", e)))?;
    let sent = sfbridge_core::queue::one_answer_each(1, inbound.send(vec![OutgoingMessage::new(body)]).await).remove(0);
    if let Err(e) = sent {
        let released = PendingTriggerRecord {
            status: PendingStatus::Pending,
            lease_until: None,
            sequence_id: None,
            trigger_event_id: None,
            version: claimed.version + 1,
            updated_at: now,
            ..claimed.clone()
        };
        if let Err(release) = ctx.store.save_pending_trigger(t, &released, claimed.version).await {
            // Harmless: the lease runs out and the next request claims it again.
            tracing::warn!(tenant_id = %t, pending_id = %id, error = %release, "could not release a pending trigger");
        }
        return Err(match e {
            QueueError::Unavailable(_) => ConnectError::Unavailable(Cause::context("the inbound queue (the entry is still pending)", e)),
            QueueError::Rejected(_) => ConnectError::Internal(Cause::context("the inbound queue refused the trigger event", e)),
        });
    }

    let triggered =
        PendingTriggerRecord { status: PendingStatus::Triggered, lease_until: None, version: claimed.version + 1, ..claimed.clone() };
    if let Err(e) = ctx.store.save_pending_trigger(t, &triggered, claimed.version).await {
        // The event is out, so the answer says so; the entry stays claimed until its lease ends.
        tracing::warn!(tenant_id = %t, pending_id = %id, error = %e, "published a trigger but could not mark it triggered");
    }
    ctx.audit
        .record(
            t,
            audit_kind::TRIGGER_REQUESTED,
            json!({"id": id, "event_id": event_id, "sequence_id": sequence_id, "record_id": entry.record_id,
                   "contact_emails": entry.contact_emails.len()}),
        )
        .await?;
    tracing::info!(tenant_id = %t, pending_id = %id, %event_id, "trigger requested");
    Ok(TriggerAccepted { id, event_id, sequence_id, status: PendingStatus::Triggered })
}

/// `DELETE /v1/tenants/{t}/triggers/pending/{id}`: takes the entry off the queue without a trigger.
pub async fn dismiss_trigger(ctx: &Connector, t: &TenantId, id: &str) -> Result<(), ConnectError> {
    let id = parse_id(t, id)?;
    let now = ctx.clock.now();
    let entry = open_entry(t, &id, ctx.store.pending_trigger(t, &id).await?, now)?;
    if entry.status == PendingStatus::Triggering {
        return Err(in_progress(&id));
    }
    let dismissed = PendingTriggerRecord { status: PendingStatus::Dismissed, version: entry.version + 1, updated_at: now, ..entry.clone() };
    save(ctx, t, &dismissed, entry.version).await?;
    ctx.audit.record(t, audit_kind::TRIGGER_DISMISSED, json!({"id": id, "record_id": entry.record_id})).await?;
    tracing::info!(tenant_id = %t, pending_id = %id, "pending trigger dismissed");
    Ok(())
}

/// The body's sequence, when it names one (trimmed; blank means none).
fn requested_sequence(input: TriggerInput) -> Result<Option<SequenceId>, ConnectError> {
    let requested = input.sequence_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    requested.map(|s| SequenceId::parse(s).map_err(|e| ConnectError::Invalid(format!("sequence_id: {e}")))).transpose()
}

/// A malformed id names no entry: refused before anything is read, and not echoed.
fn parse_id(t: &TenantId, id: &str) -> Result<PendingTriggerId, ConnectError> {
    PendingTriggerId::parse(id).map_err(|_| ConnectError::NotFound {
        code: "unknown_pending_trigger",
        message: format!("That is not a pending trigger id; list them with GET /v1/tenants/{t}/triggers/pending."),
    })
}

/// The entry, if it is still to be resolved; otherwise what became of it.
fn open_entry(
    t: &TenantId,
    id: &PendingTriggerId,
    entry: Option<PendingTriggerRecord>,
    now: DateTime<Utc>,
) -> Result<PendingTriggerRecord, ConnectError> {
    let Some(entry) = entry.filter(|e| e.expires_at() > now) else {
        return Err(ConnectError::NotFound {
            code: "unknown_pending_trigger",
            message: format!(
                "Tenant {t} has no pending trigger {id}: none was kept under that id, or it expired ({PENDING_TRIGGER_RETENTION_DAYS} \
                 days after its Closed Won). List them with GET /v1/tenants/{t}/triggers/pending."
            ),
        });
    };
    match entry.status {
        PendingStatus::Pending | PendingStatus::Triggering => Ok(entry),
        PendingStatus::Triggered => Err(ConnectError::Conflict {
            code: ConflictCode::AlreadyTriggered,
            message: format!(
                "Pending trigger {id} was triggered at {} (event {}, sequence {}); it is no longer pending, and nothing was published \
                 again.",
                entry.updated_at.to_rfc3339(),
                entry.trigger_event_id.as_deref().unwrap_or("unknown"),
                entry.sequence_id.as_ref().map_or("unknown", SequenceId::as_str),
            ),
        }),
        PendingStatus::Dismissed => Err(ConnectError::Conflict {
            code: ConflictCode::AlreadyDismissed,
            message: format!("Pending trigger {id} was dismissed at {}; it is no longer pending.", entry.updated_at.to_rfc3339()),
        }),
    }
}

fn in_progress(id: &PendingTriggerId) -> ConnectError {
    ConnectError::Conflict {
        code: ConflictCode::TriggerInProgress,
        message: format!("Pending trigger {id} is being triggered by another request; list the queue again in a minute."),
    }
}

/// Writes the entry if nobody changed it since it was read.
async fn save(ctx: &Connector, t: &TenantId, record: &PendingTriggerRecord, expected_version: u64) -> Result<(), ConnectError> {
    match ctx.store.save_pending_trigger(t, record, expected_version).await {
        Err(StoreError::Conflict) => Err(in_progress(&record.id)),
        other => Ok(other?),
    }
}

/// The same for every attempt to trigger one entry, so the consumer can drop a second copy.
fn trigger_event_id(t: &TenantId, id: &PendingTriggerId) -> String {
    format!("trg_{}", &sha256_hex(format!("{t}|{id}").as_bytes())[..32])
}

/// The `trigger_requested` event: the Closed Won's envelope as it arrived (source, org, record,
/// fields, notification id), the contact emails, and the sequence in a `manual` trigger.
fn trigger_event(
    t: &TenantId,
    entry: &PendingTriggerRecord,
    sequence_id: SequenceId,
    event_id: String,
    now: DateTime<Utc>,
) -> Result<InboundEvent, ConnectError> {
    Ok(InboundEvent {
        version: InboundEvent::VERSION,
        event_id,
        tenant_id: t.clone(),
        source: entry.source,
        organization_id: entry.organization_id.clone(),
        event_type: EventType::TriggerRequested,
        sobject_type: entry.sobject_type.clone(),
        record_id: entry.record_id.clone(),
        fields: fields(entry)?,
        notification_id: entry.notification_id.clone(),
        action_id: None,
        api_version: None,
        status: None,
        experiment_key: None,
        received_at: now,
        trigger: Some(Trigger { mode: TriggerMode::Manual, sequence_id, pending_id: Some(entry.id.to_string()) }),
        contact_emails: Some(entry.contact_emails.clone()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("team_42").unwrap()
    }

    #[test]
    fn a_sequence_in_the_body_is_checked_and_blank_means_the_default() {
        let input = |s: Option<&str>| TriggerInput { sequence_id: s.map(str::to_owned) };
        assert_eq!(requested_sequence(input(Some(" seq_1 "))).unwrap(), Some(SequenceId::parse("seq_1").unwrap()));
        for blank in [None, Some(""), Some("  ")] {
            assert_eq!(requested_sequence(input(blank)).unwrap(), None, "{blank:?}");
        }
        match requested_sequence(input(Some("seq 1"))) {
            Err(ConnectError::Invalid(message)) => assert!(message.starts_with("sequence_id: sequence id must be"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_ids_are_unknown_and_not_echoed() {
        for bad in ["", "inb 1", "CANARY#1", &"x".repeat(65)] {
            match parse_id(&tenant(), bad) {
                Err(ConnectError::NotFound { code, message }) => {
                    assert_eq!(code, "unknown_pending_trigger");
                    assert!(!message.contains("CANARY") && message.contains("GET /v1/tenants/team_42/triggers/pending"), "{message}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn trigger_event_ids_are_stable_per_entry_and_tenant() {
        let (a, b) = (PendingTriggerId::parse("inb_a").unwrap(), PendingTriggerId::parse("inb_b").unwrap());
        let other = TenantId::parse("team_43").unwrap();
        assert_eq!(trigger_event_id(&tenant(), &a), trigger_event_id(&tenant(), &a));
        assert_ne!(trigger_event_id(&tenant(), &a), trigger_event_id(&tenant(), &b));
        assert_ne!(trigger_event_id(&tenant(), &a), trigger_event_id(&other, &a));
        let id = trigger_event_id(&tenant(), &a);
        assert!(id.starts_with("trg_") && id.len() == 36, "{id}");
    }
}
