//! Values that can only hold what they claim: parse at the edge, trust inside.

mod campaign_id;
mod email;
mod event_id;
mod field_name;
mod host;
mod ids;
mod salesforce_id;
mod sequence_id;
mod slug;
mod tenant_id;

pub use campaign_id::CampaignId;
pub use email::Email;
pub use event_id::EventId;
pub use field_name::FieldName;
pub use host::{HostPolicy, InstanceUrl, LoginHost, SalesforceUrl};
pub use ids::{FlowId, OAuthState};
pub use salesforce_id::SalesforceId;
pub use sequence_id::SequenceId;
pub use tenant_id::TenantId;

/// Why a value was refused, worded for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
