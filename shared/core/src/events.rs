//! The inbound event: the one message shape of the inbound queue (docs/architecture.md "Inbound
//! event"), `"version": 1`. The webhook receiver publishes Salesforce's notifications in it, and
//! the admin API publishes the manual trigger queue's `trigger_requested` events in it; two
//! features share it, so it lives here, below both.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{Email, SalesforceId, SequenceId, TenantId};
use crate::store::TriggerMode;

/// What happened in Salesforce, as the product sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    OpportunityClosedWon,
    CampaignUpdated,
    ContactCreated,
    ContactUpdated,
    ContactDeleted,
    LeadCreated,
    LeadUpdated,
    LeadDeleted,
    /// Any other change (an Opportunity that is not won, a custom object, ...).
    RecordChanged,
    /// An admin asked, through the manual trigger queue, to start a sequence for a Closed Won
    /// that did not trigger on its own. Never stated by a sender.
    TriggerRequested,
}

impl EventType {
    /// The types a callout may state. `trigger_requested` is not one: only the admin API
    /// publishes it, so a sender cannot make one up.
    pub const STATED: [EventType; 9] = [
        Self::OpportunityClosedWon,
        Self::CampaignUpdated,
        Self::ContactCreated,
        Self::ContactUpdated,
        Self::ContactDeleted,
        Self::LeadCreated,
        Self::LeadUpdated,
        Self::LeadDeleted,
        Self::RecordChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpportunityClosedWon => "opportunity_closed_won",
            Self::CampaignUpdated => "campaign_updated",
            Self::ContactCreated => "contact_created",
            Self::ContactUpdated => "contact_updated",
            Self::ContactDeleted => "contact_deleted",
            Self::LeadCreated => "lead_created",
            Self::LeadUpdated => "lead_updated",
            Self::LeadDeleted => "lead_deleted",
            Self::RecordChanged => "record_changed",
            Self::TriggerRequested => "trigger_requested",
        }
    }

    /// One of the [`Self::STATED`] types by name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::STATED.into_iter().find(|t| t.as_str() == value)
    }
}

/// Where an inbound event's record data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A SOAP Outbound Message (workflow, Flow or approval action).
    OutboundMessage,
    /// A JSON callout (Flow HTTP Callout or Apex).
    Callout,
}

/// Which sequence the product starts for an Opportunity's contacts: on a Closed Won event in
/// `auto`/`both` mode, and on every `trigger_requested` event (`mode: manual`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Trigger {
    pub mode: TriggerMode,
    pub sequence_id: SequenceId,
    /// `trigger_requested` only: the manual queue entry it came from, which is the `event_id` of
    /// the Closed Won event that was kept pending. Absent from automatic triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<String>,
}

/// The message on the inbound queue, `"version": 1`.
// Its schema (docs/schemas/) is what sfbridge publishes, so it is closed: a field added here
// without regenerating fails the schema check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct InboundEvent {
    #[schemars(extend("const" = 1))]
    pub version: u32,
    /// The same on every delivery of the same notification (and on every attempt to publish one
    /// `trigger_requested`), so a consumer can drop the rare second copy.
    pub event_id: String,
    pub tenant_id: TenantId,
    pub source: Source,
    /// The connected org.
    pub organization_id: SalesforceId,
    pub event_type: EventType,
    pub sobject_type: Option<String>,
    pub record_id: Option<SalesforceId>,
    pub fields: Map<String, Value>,
    pub notification_id: Option<String>,
    /// The Outbound Message definition that sent it (Outbound Messages only).
    pub action_id: Option<String>,
    /// The API version that Outbound Message was saved with (Outbound Messages only).
    pub api_version: Option<String>,
    /// `campaign_updated`: the Campaign's status, when known.
    pub status: Option<String>,
    /// `campaign_updated`: the experiment the Campaign is linked to, when known.
    pub experiment_key: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Closed Won events that trigger automatically, and `trigger_requested`; `null` otherwise.
    pub trigger: Option<Trigger>,
    /// `opportunity_closed_won` and `trigger_requested`: the emails of the Opportunity's contact
    /// roles the notification carried (lower-cased, each once; possibly none); `null` otherwise.
    pub contact_emails: Option<Vec<Email>>,
}

impl InboundEvent {
    pub const VERSION: u32 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_cannot_state_a_trigger_request() {
        assert_eq!(EventType::parse("opportunity_closed_won"), Some(EventType::OpportunityClosedWon));
        assert_eq!(EventType::parse("trigger_requested"), None);
        for t in EventType::STATED {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            let json = serde_json::to_value(t).unwrap_or_default();
            assert_eq!(json.as_str(), Some(t.as_str()), "the wire name is the documented one");
        }
        assert_eq!(serde_json::to_value(EventType::TriggerRequested).unwrap_or_default(), "trigger_requested");
    }

    #[test]
    fn automatic_triggers_carry_no_pending_id() {
        let Ok(sequence_id) = SequenceId::parse("seq_1") else { unreachable!("valid id") };
        let auto = Trigger { mode: TriggerMode::Auto, sequence_id: sequence_id.clone(), pending_id: None };
        assert_eq!(serde_json::to_value(&auto).unwrap_or_default(), serde_json::json!({"mode": "auto", "sequence_id": "seq_1"}));
        let manual = Trigger { mode: TriggerMode::Manual, sequence_id, pending_id: Some("inb_1".into()) };
        assert_eq!(
            serde_json::to_value(&manual).unwrap_or_default(),
            serde_json::json!({"mode": "manual", "sequence_id": "seq_1", "pending_id": "inb_1"})
        );
    }
}
