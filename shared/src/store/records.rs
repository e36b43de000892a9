//! What the single table holds (DESIGN.md "Data"). Every record is an item with string `pk`/`sk`
//! and, where it should disappear on its own, a numeric `expires_at` (DynamoDB TTL, epoch seconds).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cipher::Sealed;
use crate::domain::{FlowId, InstanceUrl, LoginHost, SalesforceId, TenantId};

/// How the tenant's app authenticates us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OAuthFlowKind {
    /// Authorization code + PKCE in the admin's popup (the default).
    #[default]
    WebServer,
    /// Server-to-server with the app's Run As user; no popup, no refresh token.
    ClientCredentials,
}

/// `TENANT#{t}` / `CREDENTIALS`: the tenant's External Client App.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialsRecord {
    /// `{consumer_key, consumer_secret}` as JSON, sealed for purpose `consumer_credentials`.
    pub sealed: Sealed,
    /// Enough of the consumer key to recognise it, never enough to use it.
    pub consumer_key_masked: String,
    pub login_host: LoginHost,
    pub flow: OAuthFlowKind,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Connected,
    ReauthRequired,
    Disconnected,
}

/// `TENANT#{t}` / `CONNECTION`: the authorized org and its sealed tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub status: ConnectionStatus,
    pub organization_id: SalesforceId,
    pub user_id: SalesforceId,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub instance_url: InstanceUrl,
    /// The host the tokens were issued by (refresh and revoke go there).
    pub login_host: LoginHost,
    pub refresh_token: Option<Sealed>,
    pub access_token: Option<Sealed>,
    pub access_token_issued_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    /// While set and in the future, one worker is refreshing the tokens; others wait and re-read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_lease_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// Connect URL issued, not opened yet.
    Pending,
    /// Opened in a browser, which now holds the binding cookie; waiting for Salesforce.
    Started,
    Connected,
    Failed,
}

/// `FLOW#{id}` / `FLOW`: one connect attempt, pollable by the opener window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowRecord {
    pub flow_id: FlowId,
    pub tenant_id: TenantId,
    pub status: FlowStatus,
    /// For `Failed`: a stable code and a message a person can act on.
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Epoch seconds; the table's TTL removes the record an hour after the flow ends.
    pub expires_at: i64,
}

/// `STATE#{state}` / `STATE`: everything the callback may use for the token exchange (the
/// issuer tuple), bound to one browser, taken exactly once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRecord {
    pub tenant_id: TenantId,
    pub flow_id: FlowId,
    pub login_host: LoginHost,
    pub client_id: String,
    pub redirect_uri: String,
    /// Sealed for (`tenant_id`, `pkce_verifier`).
    pub verifier: Sealed,
    /// SHA-256 (hex) of the browser-binding cookie set by `/oauth/start`.
    pub browser_binding: String,
    pub created_at: DateTime<Utc>,
    /// Epoch seconds; the callback refuses the state after this even if TTL has not removed it.
    pub expires_at: i64,
}

/// `TENANT#{t}` / `AUDIT#{ts}#{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: DateTime<Utc>,
    /// Non-secret facts (org id, masked key, who asked).
    pub detail: serde_json::Value,
}

pub mod audit_kind {
    pub const CREDENTIALS_SET: &str = "salesforce.byo_credentials_set";
    pub const CREDENTIALS_CLEARED: &str = "salesforce.byo_credentials_cleared";
    pub const CONNECTED: &str = "salesforce.connected";
    pub const DISCONNECTED: &str = "salesforce.disconnected";
    pub const REAUTH_REQUIRED: &str = "salesforce.reauth_required";
}
