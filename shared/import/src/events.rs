//! Records as inbound events, in the webhook events' schema (docs/architecture.md "Inbound
//! events") with `"source": "import"`, the segment, the import and the record's `SystemModstamp`.
//! One event per message, as webhooks send them, so the product reads one shape; ten to a
//! `SendMessageBatch` call.
//!
//! The markers (one per record) remember the `SystemModstamp` each record was published at: a
//! record read again at the same stamp (the overlap window, a resumed page, an unchanged record
//! in a full run) is not published again, and a record never published before is `*_created`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde::Serialize;
use serde_json::{Map, Value};
use sfbridge_core::domain::{ImportId, ObjectName, SalesforceId, SegmentName, TenantId};
use sfbridge_core::events::{EventType, InboundEvent};
use sfbridge_core::queue::{one_answer_each, OutgoingMessage, Queue, QueueError, MAX_MESSAGE_BYTES};
use sfbridge_core::schema::{branch, one_of};
use sfbridge_core::secrets::sha256_hex;
use sfbridge_core::store::RecordMarker;

/// The inbound event schema's version.
const VERSION: u32 = 1;

/// A record as Salesforce answered it: its id, change stamp and the other fields read.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub id: SalesforceId,
    pub modstamp: DateTime<Utc>,
    pub fields: Map<String, Value>,
}

impl Record {
    /// From a query answer's record (`attributes` dropped); `None` without a valid id or stamp.
    pub(crate) fn from_answer(mut value: Value) -> Option<Self> {
        let object = value.as_object_mut()?;
        object.remove("attributes");
        let id = SalesforceId::parse(object.remove("Id")?.as_str()?).ok()?;
        let modstamp = parse_modstamp(object.get("SystemModstamp")?.as_str()?)?;
        Some(Self { id, modstamp, fields: std::mem::take(object) })
    }
}

/// Salesforce writes datetimes as `2026-12-05T10:00:00.000+0000` (no colon in the offset).
pub(crate) fn parse_modstamp(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Deleted,
}

/// The event for one record, as the inbound queue's consumers read it: the webhook events' fields
/// (those an import has no value for always `null`), then the import's own.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ImportEvent<'a> {
    #[schemars(extend("const" = VERSION))]
    version: u32,
    /// The same for every read of the same record at the same `SystemModstamp`.
    event_id: String,
    tenant_id: &'a TenantId,
    #[schemars(extend("const" = IMPORT_SOURCE))]
    source: &'static str,
    /// The connected org.
    organization_id: &'a SalesforceId,
    #[schemars(extend("enum" = IMPORT_EVENT_TYPES))]
    event_type: EventType,
    sobject_type: &'a ObjectName,
    record_id: &'a SalesforceId,
    /// The record's fields as the query read them (none for a deletion).
    fields: &'a Map<String, Value>,
    #[schemars(with = "()")]
    notification_id: Option<String>,
    #[schemars(with = "()")]
    action_id: Option<String>,
    #[schemars(with = "()")]
    api_version: Option<String>,
    #[schemars(with = "()")]
    status: Option<String>,
    #[schemars(with = "()")]
    experiment_key: Option<String>,
    received_at: DateTime<Utc>,
    #[schemars(with = "()")]
    trigger: Option<Value>,
    /// The segment the tenant's import settings give the object, if any.
    segment: Option<&'a SegmentName>,
    import_id: &'a ImportId,
    system_modstamp: DateTime<Utc>,
}

const IMPORT_SOURCE: &str = "import";

/// The event types an import publishes ([`event_type`]).
const IMPORT_EVENT_TYPES: [EventType; 7] = [
    EventType::ContactCreated,
    EventType::ContactUpdated,
    EventType::ContactDeleted,
    EventType::LeadCreated,
    EventType::LeadUpdated,
    EventType::LeadDeleted,
    EventType::RecordChanged,
];

/// The JSON Schema (draft 2020-12) of inbound events v1, what the inbound queue carries: the webhook
/// receiver's and the manual trigger queue's [`InboundEvent`], or an import's event. Generated from
/// the types that publish them, committed as docs/schemas/inbound-event.v1.json.
pub fn inbound_event_schema() -> Schema {
    let mut generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
    let branches = vec![branch::<InboundEvent>(&mut generator, "a webhook or trigger event"), branch::<ImportEvent>(&mut generator, "an imported record")];
    let description = "One message on the inbound queue: a Salesforce notification (source outbound_message or callout), \
        a trigger_requested event, or an imported record (source import). Consumers should drop an event_id they have seen. \
        Dates are RFC 3339 date-times (\"format\" is an annotation); a Salesforce id's checksum is beyond the schema.";
    one_of(&mut generator, "sfbridge inbound event, version 1", description, branches)
}

/// What every event of one page shares.
pub(crate) struct PageContext<'a> {
    pub tenant: &'a TenantId,
    pub org: &'a SalesforceId,
    pub object: &'a ObjectName,
    pub segment: Option<&'a SegmentName>,
    pub import_id: &'a ImportId,
    pub now: DateTime<Utc>,
}

/// `contact_created`, `lead_deleted`, ... for Contacts and Leads; `record_changed` otherwise (the
/// webhook events' names). One of [`IMPORT_EVENT_TYPES`].
fn event_type(object: &ObjectName, change: Change) -> EventType {
    match (object.as_str().to_ascii_lowercase().as_str(), change) {
        ("contact", Change::Created) => EventType::ContactCreated,
        ("contact", Change::Updated) => EventType::ContactUpdated,
        ("contact", Change::Deleted) => EventType::ContactDeleted,
        ("lead", Change::Created) => EventType::LeadCreated,
        ("lead", Change::Updated) => EventType::LeadUpdated,
        ("lead", Change::Deleted) => EventType::LeadDeleted,
        _ => EventType::RecordChanged,
    }
}

/// The same for every read of the same record at the same stamp, so a consumer can drop the rare
/// second copy (a page published again after a crash before its progress was saved).
fn event_id(t: &TenantId, object: &ObjectName, id: &SalesforceId, modstamp: DateTime<Utc>, change: Change) -> String {
    let digest = sha256_hex(format!("{t}|{}|{id}|{}|{change:?}", object.as_str().to_ascii_lowercase(), modstamp.timestamp_millis()).as_bytes());
    format!("imp_{}", &digest[..32])
}

/// What the markers say about a page's records: which to publish and as what.
pub(crate) fn changes(records: &[Record], markers: &[RecordMarker], deleted: bool) -> Vec<Option<Change>> {
    let known: HashMap<&SalesforceId, &RecordMarker> = markers.iter().map(|m| (&m.id, m)).collect();
    records
        .iter()
        .map(|r| match (known.get(&r.id), deleted) {
            (Some(m), true) if m.deleted => None,
            (_, true) => Some(Change::Deleted),
            (Some(m), false) if !m.deleted && m.modstamp == r.modstamp => None,
            (Some(m), false) if !m.deleted => Some(Change::Updated),
            (_, false) => Some(Change::Created),
        })
        .collect()
}

/// One message per event.
pub(crate) fn messages(ctx: &PageContext<'_>, records: &[(&Record, Change)]) -> Result<Vec<OutgoingMessage>, String> {
    records
        .iter()
        .map(|(r, change)| {
            let empty = Map::new();
            let event = ImportEvent {
                version: VERSION,
                event_id: event_id(ctx.tenant, ctx.object, &r.id, r.modstamp, *change),
                tenant_id: ctx.tenant,
                source: IMPORT_SOURCE,
                organization_id: ctx.org,
                event_type: event_type(ctx.object, *change),
                sobject_type: ctx.object,
                record_id: &r.id,
                fields: if *change == Change::Deleted { &empty } else { &r.fields },
                notification_id: None,
                action_id: None,
                api_version: None,
                status: None,
                experiment_key: None,
                received_at: ctx.now,
                trigger: None,
                segment: ctx.segment,
                import_id: ctx.import_id,
                system_modstamp: r.modstamp,
            };
            let body = serde_json::to_string(&event).map_err(|e| e.to_string())?;
            if body.len() > MAX_MESSAGE_BYTES {
                return Err(format!(
                    "{} {} is {} bytes as an event, over the inbound queue's {MAX_MESSAGE_BYTES}; import fewer or shorter fields",
                    ctx.object,
                    r.id,
                    body.len()
                ));
            }
            Ok(OutgoingMessage::new(body))
        })
        .collect()
}

/// Sends the messages; `Err` unless the queue took every one.
pub(crate) async fn publish(queue: &dyn Queue, messages: Vec<OutgoingMessage>) -> Result<usize, QueueError> {
    let sent = messages.len();
    for answer in one_answer_each(sent, queue.send(messages).await) {
        answer?;
    }
    Ok(sent)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(id: &str, at: &str) -> Record {
        Record::from_answer(json!({"attributes": {"type": "Contact"}, "Id": id, "SystemModstamp": at, "Email": "a@example.com"})).unwrap()
    }

    #[test]
    fn salesforce_datetimes_parse_with_or_without_the_offset_colon() {
        let r = record("003000000000001AAA", "2026-12-05T10:00:00.250+0000");
        assert_eq!(r.modstamp, "2026-12-05T10:00:00.250Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(r.fields.keys().collect::<Vec<_>>(), ["Email", "SystemModstamp"]);
        assert!(Record::from_answer(json!({"Id": "003000000000001AAA", "SystemModstamp": "yesterday"})).is_none());
    }

    #[test]
    fn markers_decide_created_updated_unchanged_and_deleted() {
        let at = "2026-12-05T10:00:00.000Z".parse().unwrap();
        let (new, same, changed, gone) = (
            record("003000000000001AAA", "2026-12-05T10:00:00.000Z"),
            record("003000000000002AAA", "2026-12-05T10:00:00.000Z"),
            record("003000000000003AAA", "2026-12-05T11:00:00.000Z"),
            record("003000000000004AAA", "2026-12-05T11:00:00.000Z"),
        );
        let marker = |r: &Record, deleted| RecordMarker { id: r.id.clone(), modstamp: at, deleted, seen_by: None };
        let markers = [marker(&same, false), marker(&changed, false), marker(&gone, true)];
        let records = [new, same, changed, gone];
        assert_eq!(changes(&records, &markers, false), [Some(Change::Created), None, Some(Change::Updated), Some(Change::Created)]);
        assert_eq!(changes(&records, &markers, true), [Some(Change::Deleted), Some(Change::Deleted), Some(Change::Deleted), None]);
    }
}
