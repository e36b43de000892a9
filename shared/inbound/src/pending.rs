//! The manual trigger queue's intake: which Closed Won events trigger automatically, which are
//! kept pending for an admin instead (README "Manual trigger queue"), and the contact emails an
//! Opportunity notification carries.
//!
//! - `manual`: no Closed Won triggers; every one is kept pending.
//! - `auto`: every Closed Won triggers (with the tenant's sequence); none is kept, as `auto` has
//!   no manual queue.
//! - `both`: a Closed Won that names at least one contact email triggers; one that names none
//!   (an Outbound Message, which can carry only the Opportunity's own fields, or a callout without
//!   contact roles) is kept pending, since the product would have nobody to start the sequence
//!   for, and an admin decides.
//!
//! Contact emails come from the notification's `OpportunityContactRoles` field (compared
//! case-insensitively): Apex's `JSON.serialize` of an Opportunity queried with the subquery
//! `(SELECT Role, IsPrimary, Contact.Email FROM OpportunityContactRoles)` gives
//! `{"totalSize": n, "done": true, "records": [{"Contact": {"Email": "…"}, …}]}`; a plain array of
//! such records (a Flow's collection) is taken too. Each `Contact.Email` that is an address counts,
//! lower-cased and once, at most [`MAX_CONTACT_EMAILS`]; anything else is skipped, never refused:
//! the emails help the product, and a Closed Won must not be lost over one.
//!
//! Entries are written before the request's events are published, so before it is acknowledged,
//! and keyed by the event id (derived from the dedupe key), so every delivery of one notification
//! finds the same entry (`Store::keep_pending_trigger`).

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use sfbridge_core::domain::{Email, PendingTriggerId, TenantId};
use sfbridge_core::error::Cause;
use sfbridge_core::store::{PendingStatus, PendingTriggerRecord, TenantSettings, TriggerMode};

use super::receive::WebhookError;
use super::{EventType, InboundEvent, Receiver, Trigger};

/// The field that carries an Opportunity's contact roles.
pub const CONTACT_ROLES_FIELD: &str = "OpportunityContactRoles";
/// At most this many contact emails per Opportunity are kept.
pub const MAX_CONTACT_EMAILS: usize = 100;
/// Entries written at once.
const STORE_CONCURRENCY: usize = 16;

/// The contact roles' emails in an Opportunity notification's fields.
pub fn contact_emails(fields: &Map<String, Value>) -> Vec<Email> {
    let roles = match field(fields, CONTACT_ROLES_FIELD) {
        Some(Value::Object(subquery)) => field(subquery, "records").and_then(Value::as_array),
        Some(Value::Array(records)) => Some(records),
        _ => None,
    };
    let mut emails: Vec<Email> = Vec::new();
    for role in roles.into_iter().flatten() {
        let email = role
            .as_object()
            .and_then(|role| field(role, "Contact"))
            .and_then(Value::as_object)
            .and_then(|contact| field(contact, "Email"))
            .and_then(Value::as_str)
            .and_then(|email| Email::parse(email).ok());
        match email {
            Some(email) if !emails.contains(&email) => emails.push(email),
            _ => {}
        }
        if emails.len() == MAX_CONTACT_EMAILS {
            break;
        }
    }
    emails
}

/// Salesforce API names are case-insensitive; the exact spelling is the usual one.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value))
}

/// The trigger a Closed Won carries under the tenant's settings; `emails` are its contact emails.
pub(crate) fn closed_won_trigger(event_type: EventType, settings: &TenantSettings, emails: &[Email]) -> Option<Trigger> {
    let sequence_id = settings.sequence_id.as_ref()?;
    let mode = settings.trigger_mode;
    let triggers = match mode {
        _ if event_type != EventType::OpportunityClosedWon => false,
        TriggerMode::Both => !emails.is_empty(),
        mode => mode.triggers_on_closed_won(),
    };
    triggers.then(|| Trigger { mode, sequence_id: sequence_id.clone(), pending_id: None })
}

/// The manual queue entry for `event`, when it is a Closed Won that did not trigger and the
/// tenant's mode keeps a manual queue.
pub(crate) fn entry(event: &InboundEvent, settings: &TenantSettings) -> Result<Option<PendingTriggerRecord>, WebhookError> {
    let pending = event.event_type == EventType::OpportunityClosedWon
        && event.trigger.is_none()
        && settings.trigger_mode.keeps_a_manual_queue();
    if !pending {
        return Ok(None);
    }
    // Event ids are `inb_` and 32 hex digits or 43 base64url characters: always a valid id.
    let id = PendingTriggerId::parse(&event.event_id)
        .map_err(|e| WebhookError::Unavailable(Cause::context("naming the pending trigger", e)))?;
    let fields = serde_json::to_string(&event.fields)
        .map_err(|e| WebhookError::Unavailable(Cause::context("serializing the pending trigger's fields", e)))?;
    Ok(Some(PendingTriggerRecord {
        id,
        status: PendingStatus::Pending,
        received_at: event.received_at,
        source: event.source,
        organization_id: event.organization_id.clone(),
        notification_id: event.notification_id.clone(),
        sobject_type: event.sobject_type.clone(),
        record_id: event.record_id.clone(),
        fields,
        contact_emails: event.contact_emails.clone().unwrap_or_default(),
        version: 1,
        updated_at: event.received_at,
        lease_until: None,
        sequence_id: None,
        trigger_event_id: None,
    }))
}

/// Keeps the request's pending entries; all of them are stored when this returns `Ok`.
pub(crate) async fn keep<'a>(
    ctx: &Receiver,
    t: &TenantId,
    entries: impl Iterator<Item = &'a PendingTriggerRecord>,
) -> Result<(), WebhookError> {
    // Owned arguments: futures over borrowed items do not satisfy the Send bound axum needs.
    let entries: Vec<PendingTriggerRecord> = entries.cloned().collect();
    let kept: Vec<bool> = stream::iter(entries)
        .map(|entry| async move { ctx.store.keep_pending_trigger(t, &entry).await })
        .buffer_unordered(STORE_CONCURRENCY)
        .try_collect()
        .await?;
    let new = kept.iter().filter(|new| **new).count();
    if new > 0 {
        tracing::info!(tenant_id = %t, pending = new, "Closed Won kept in the manual trigger queue");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use sfbridge_core::domain::SequenceId;

    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    fn emails(list: &[&str]) -> Vec<Email> {
        list.iter().map(|e| Email::parse(e).unwrap()).collect()
    }

    #[test]
    fn contact_emails_come_from_the_contact_roles_subquery_or_a_list() {
        // What Apex's JSON.serialize writes for an Opportunity with its contact roles.
        let serialized = fields(json!({
            "attributes": {"type": "Opportunity", "url": "/services/data/v66.0/sobjects/Opportunity/006"},
            "Name": "Big deal",
            "OpportunityContactRoles": {"totalSize": 3, "done": true, "records": [
                {"attributes": {"type": "OpportunityContactRole"}, "Role": "Decision Maker", "IsPrimary": true,
                 "Contact": {"attributes": {"type": "Contact"}, "Email": "Ada@Example.com"}},
                {"Role": "Influencer", "Contact": {"Email": "grace@example.com"}},
                {"Role": "Other", "Contact": {"Email": "ada@example.com"}}
            ]}
        }));
        assert_eq!(contact_emails(&serialized), emails(&["ada@example.com", "grace@example.com"]), "lower-cased, once each");

        let flow = fields(json!({"opportunitycontactroles": [{"contact": {"email": "alan@example.org"}}]}));
        assert_eq!(contact_emails(&flow), emails(&["alan@example.org"]), "names compare case-insensitively");
    }

    #[test]
    fn anything_else_is_skipped_not_refused() {
        for value in [
            json!({}),
            json!({"OpportunityContactRoles": null}),
            json!({"OpportunityContactRoles": "ada@example.com"}),
            json!({"OpportunityContactRoles": {"totalSize": 0, "done": true}}),
            json!({"OpportunityContactRoles": [{"Contact": null}, {"Contact": {"Email": null}}, {"Contact": {"Email": "not an address"}},
                {"Contact": {"Email": 7}}, {"Email": "no-contact@example.com"}, "x"]}),
        ] {
            assert!(contact_emails(&fields(value.clone())).is_empty(), "{value}");
        }
        let many: Vec<Value> = (0..150).map(|i| json!({"Contact": {"Email": format!("c{i}@example.com")}})).collect();
        let found = contact_emails(&fields(json!({"OpportunityContactRoles": many})));
        assert_eq!(found.len(), MAX_CONTACT_EMAILS);
    }

    fn settings(mode: TriggerMode, sequence: Option<&str>) -> TenantSettings {
        TenantSettings { trigger_mode: mode, sequence_id: sequence.map(|s| SequenceId::parse(s).unwrap()), ..TenantSettings::default() }
    }

    #[test]
    fn which_closed_won_events_trigger_and_which_wait() {
        let won = EventType::OpportunityClosedWon;
        let someone = emails(&["ada@example.com"]);
        // (mode, contact emails) -> (triggers, kept pending)
        for (mode, with, triggers, pending) in [
            (TriggerMode::Manual, &someone[..], false, true),
            (TriggerMode::Manual, &[][..], false, true),
            (TriggerMode::Auto, &someone[..], true, false),
            (TriggerMode::Auto, &[][..], true, false),
            (TriggerMode::Both, &someone[..], true, false),
            (TriggerMode::Both, &[][..], false, true),
        ] {
            let settings = settings(mode, Some("seq_1"));
            let trigger = closed_won_trigger(won, &settings, with);
            assert_eq!(trigger.is_some(), triggers, "{mode:?} with {} emails", with.len());
            assert_eq!(trigger.is_none() && mode.keeps_a_manual_queue(), pending, "{mode:?} with {} emails", with.len());
            if let Some(trigger) = trigger {
                assert_eq!((trigger.mode, trigger.sequence_id.as_str(), trigger.pending_id), (mode, "seq_1", None));
            }
        }
        // Only Closed Won triggers, and never without a sequence.
        assert!(closed_won_trigger(EventType::RecordChanged, &settings(TriggerMode::Auto, Some("seq_1")), &someone).is_none());
        assert!(closed_won_trigger(won, &settings(TriggerMode::Auto, None), &someone).is_none());
    }
}
