//! What a notification means for the product: its [`EventType`], and for campaigns the status
//! and the linked experiment.
//!
//! Event type, when the sender did not state one (Outbound Messages never do), by sObject type
//! (compared case-insensitively):
//!
//! - `Opportunity`: `opportunity_closed_won` when `StageName` is `Closed Won` or `IsWon` is
//!   `true`; otherwise `record_changed`.
//! - `Campaign`: `campaign_updated`.
//! - `Contact` / `Lead`: `*_deleted` when `IsDeleted` is `true`, or when an Outbound Message's
//!   notification carries no fields at all (Salesforce sends a deleted record's notification
//!   without data; a message that selects only `Id` therefore looks deleted too, which the README
//!   warns about). A callout without fields is an update: it states deletions (`*_deleted`
//!   or `IsDeleted`), and guessing one from a short body would be a false deletion. `*_created`
//!   when `CreatedDate` and `LastModifiedDate` are both present and equal; otherwise
//!   `*_updated`.
//! - Any other object, or none: `record_changed`.
//!
//! Boolean fields match the text `true` (Outbound Messages) or JSON `true` (callouts).
//!
//! Campaign status: the sender's `status`, else a Campaign's `Status` field.
//!
//! Experiment key: the sender's `experiment_key`, else the first field named
//! [`EXPERIMENT_KEY_FIELD`] or `<namespace>__Experiment_Key__c` (a managed package's copy),
//! compared case-insensitively. Empty values count as absent.

use serde_json::Value;

use super::{EventType, Notification, Source};

/// The custom field that links a Salesforce record to an experiment.
pub(crate) const EXPERIMENT_KEY_FIELD: &str = "Experiment_Key__c";

pub fn event_type(n: &Notification, source: Source) -> EventType {
    if let Some(stated) = n.event_type {
        return stated;
    }
    let Some(sobject) = n.sobject_type.as_deref() else {
        return EventType::RecordChanged;
    };
    let is = |name: &str| sobject.eq_ignore_ascii_case(name);
    if is("Opportunity") {
        if n.fields.get("StageName").and_then(Value::as_str) == Some("Closed Won") || is_true(n, "IsWon") {
            EventType::OpportunityClosedWon
        } else {
            EventType::RecordChanged
        }
    } else if is("Campaign") {
        EventType::CampaignUpdated
    } else if is("Contact") {
        match change(n, source) {
            Change::Created => EventType::ContactCreated,
            Change::Updated => EventType::ContactUpdated,
            Change::Deleted => EventType::ContactDeleted,
        }
    } else if is("Lead") {
        match change(n, source) {
            Change::Created => EventType::LeadCreated,
            Change::Updated => EventType::LeadUpdated,
            Change::Deleted => EventType::LeadDeleted,
        }
    } else {
        EventType::RecordChanged
    }
}

pub fn campaign_status(n: &Notification) -> Option<String> {
    if n.status.is_some() {
        return n.status.clone();
    }
    let is_campaign = n.sobject_type.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("Campaign"));
    if !is_campaign {
        return None;
    }
    non_empty(n.fields.get("Status"))
}

pub fn experiment_key(n: &Notification) -> Option<String> {
    if n.experiment_key.is_some() {
        return n.experiment_key.clone();
    }
    n.fields.iter().find(|(name, _)| is_experiment_key_field(name)).and_then(|(_, value)| non_empty(Some(value)))
}

fn is_experiment_key_field(name: &str) -> bool {
    let suffix_len = EXPERIMENT_KEY_FIELD.len();
    if name.len() < suffix_len || !name.is_char_boundary(name.len() - suffix_len) {
        return false;
    }
    let (prefix, suffix) = name.split_at(name.len() - suffix_len);
    suffix.eq_ignore_ascii_case(EXPERIMENT_KEY_FIELD)
        && (prefix.is_empty() || (prefix.len() > 2 && prefix.ends_with("__")))
}

enum Change {
    Created,
    Updated,
    Deleted,
}

fn change(n: &Notification, source: Source) -> Change {
    let without_data = source == Source::OutboundMessage && n.fields.is_empty();
    if without_data || is_true(n, "IsDeleted") {
        return Change::Deleted;
    }
    let created = n.fields.get("CreatedDate").filter(|v| !v.is_null());
    let modified = n.fields.get("LastModifiedDate").filter(|v| !v.is_null());
    match (created, modified) {
        (Some(c), Some(m)) if c == m => Change::Created,
        _ => Change::Updated,
    }
}

fn is_true(n: &Notification, field: &str) -> bool {
    match n.fields.get(field) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn non_empty(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::{json, Map};

    use super::*;

    fn n(sobject: &str, fields: Value) -> Notification {
        let fields: Map<String, Value> = serde_json::from_value(fields).unwrap();
        Notification { sobject_type: Some(sobject.into()), fields, ..Notification::default() }
    }

    #[test]
    fn stated_event_type_wins() {
        let mut stated = n("Opportunity", json!({"StageName": "Closed Won"}));
        stated.event_type = Some(EventType::LeadCreated);
        assert_eq!(event_type(&stated, Source::Callout), EventType::LeadCreated);
    }

    #[test]
    fn opportunities() {
        for (fields, expected) in [
            (json!({"StageName": "Closed Won"}), EventType::OpportunityClosedWon),
            (json!({"IsWon": "true"}), EventType::OpportunityClosedWon),
            (json!({"IsWon": true}), EventType::OpportunityClosedWon),
            (json!({"IsWon": "false", "StageName": "Closed Lost"}), EventType::RecordChanged),
            (json!({"IsWon": false}), EventType::RecordChanged),
            (json!({"StageName": "closed won"}), EventType::RecordChanged),
            (json!({}), EventType::RecordChanged),
        ] {
            assert_eq!(event_type(&n("Opportunity", fields.clone()), Source::OutboundMessage), expected, "{fields}");
        }
        assert_eq!(event_type(&n("opportunity", json!({"IsWon": "true"})), Source::OutboundMessage), EventType::OpportunityClosedWon);
    }

    #[test]
    fn contacts_and_leads() {
        let same = json!({"CreatedDate": "2026-01-01T00:00:00.000Z", "LastModifiedDate": "2026-01-01T00:00:00.000Z"});
        let later = json!({"CreatedDate": "2026-01-01T00:00:00.000Z", "LastModifiedDate": "2026-01-02T00:00:00.000Z"});
        for (fields, contact, lead) in [
            (json!({}), EventType::ContactDeleted, EventType::LeadDeleted),
            (json!({"IsDeleted": "true", "LastName": "Doe"}), EventType::ContactDeleted, EventType::LeadDeleted),
            (json!({"IsDeleted": true}), EventType::ContactDeleted, EventType::LeadDeleted),
            (same, EventType::ContactCreated, EventType::LeadCreated),
            (later, EventType::ContactUpdated, EventType::LeadUpdated),
            (json!({"LastName": "Doe"}), EventType::ContactUpdated, EventType::LeadUpdated),
            (json!({"CreatedDate": null, "LastModifiedDate": null}), EventType::ContactUpdated, EventType::LeadUpdated),
            (json!({"IsDeleted": "false", "Email": "a@b.c"}), EventType::ContactUpdated, EventType::LeadUpdated),
        ] {
            assert_eq!(event_type(&n("Contact", fields.clone()), Source::OutboundMessage), contact, "{fields}");
            assert_eq!(event_type(&n("LEAD", fields.clone()), Source::OutboundMessage), lead, "{fields}");
        }
    }

    #[test]
    fn other_objects() {
        assert_eq!(event_type(&n("Campaign", json!({})), Source::OutboundMessage), EventType::CampaignUpdated);
        assert_eq!(event_type(&n("Account", json!({"IsDeleted": "true"})), Source::OutboundMessage), EventType::RecordChanged);
        assert_eq!(event_type(&n("My_Object__c", json!({})), Source::OutboundMessage), EventType::RecordChanged);
        assert_eq!(event_type(&Notification::default(), Source::Callout), EventType::RecordChanged);
    }

    #[test]
    fn campaign_status_from_sender_or_field() {
        let mut campaign = n("Campaign", json!({"Status": "Completed"}));
        assert_eq!(campaign_status(&campaign).as_deref(), Some("Completed"));
        campaign.status = Some("Aborted".into());
        assert_eq!(campaign_status(&campaign).as_deref(), Some("Aborted"));
        assert_eq!(campaign_status(&n("Opportunity", json!({"Status": "x"}))), None);
        assert_eq!(campaign_status(&n("Campaign", json!({"Status": null}))), None);
        assert_eq!(campaign_status(&n("Campaign", json!({}))), None);
    }

    #[test]
    fn experiment_key_from_sender_or_field() {
        assert_eq!(experiment_key(&n("Campaign", json!({"Experiment_Key__c": "k1"}))).as_deref(), Some("k1"));
        assert_eq!(experiment_key(&n("Campaign", json!({"experiment_key__C": "k2"}))).as_deref(), Some("k2"));
        assert_eq!(experiment_key(&n("Opportunity", json!({"acme__Experiment_Key__c": "k3"}))).as_deref(), Some("k3"));
        for fields in [
            json!({}),
            json!({"Experiment_Id__c": "x"}),
            json!({"MyExperiment_Key__c": "x"}),
            json!({"__Experiment_Key__c": "x"}),
            json!({"Experiment_Key__c": null}),
            json!({"Experiment_Key__c": ""}),
        ] {
            assert_eq!(experiment_key(&n("Campaign", fields.clone())), None, "{fields}");
        }
        let mut stated = n("Campaign", json!({"Experiment_Key__c": "field"}));
        stated.experiment_key = Some("sender".into());
        assert_eq!(experiment_key(&stated).as_deref(), Some("sender"));
    }
}
