//! What the single table holds (docs/architecture.md "Data: the single table"). Every record is an item with string `pk`/`sk`
//! and, where it should disappear on its own, a numeric `expires_at` (DynamoDB TTL, epoch seconds).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cipher::Sealed;
use crate::domain::{
    ApexPath, AttributeName, CampaignId, Email, EndpointName, EventId, FieldName, FlowId, InstanceUrl, LoginHost, PendingTriggerId,
    ProductState, SalesforceId, SequenceId, TenantId,
};
use crate::events::Source;

/// How the tenant's app authenticates us.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// When the access token expires, on our clock, for tokens of the client credentials grant
    /// (learnt by introspection, or a conservative default): `Sessions` renews it before then.
    /// `None` for refresh-token connections, renewed on a 401 only, and records written before
    /// this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    /// While set and in the future, one worker is refreshing the tokens; others wait and re-read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_lease_until: Option<DateTime<Utc>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(description = "One audited change (`type`: `settings.updated`, ...)."))]
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
    pub const SETTINGS_UPDATED: &str = "settings.updated";
    pub const CAMPAIGN_UPDATED: &str = "campaign.updated";
    pub const WEBHOOK_SECRET_CREATED: &str = "webhook.secret_created";
    pub const WEBHOOK_SECRET_REVOKED: &str = "webhook.secret_revoked";
    pub const DEAD_LETTERS_REPLAYED: &str = "dead_letters.replayed";
    pub const TRIGGER_REQUESTED: &str = "trigger.requested";
    pub const TRIGGER_DISMISSED: &str = "trigger.dismissed";
}

/// Which Salesforce records an activity's email address is matched against, in order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchPolicy {
    /// Contacts only (the default): an email without a Contact is not logged.
    #[default]
    ContactOnly,
    /// A Contact if one matches, else a Lead.
    ContactThenLead,
    /// A Lead if one matches, else a Contact.
    LeadThenContact,
}

impl MatchPolicy {
    /// Whether Leads are looked up at all.
    pub fn matches_leads(self) -> bool {
        !matches!(self, Self::ContactOnly)
    }
}

/// What happens when nothing matches an activity's email address.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CreateMissing {
    /// Nothing is created; the activity is skipped (the default).
    #[default]
    Never,
    /// A Lead is created and the activity logged on it.
    Lead,
}

/// Contact/Lead fields that activity updates besides logging a Task. `None`: not written.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMapping {
    /// A Date/Time field set to the time of the latest `email_opened`.
    pub last_opened_at: Option<FieldName>,
    /// A Number field incremented by each `email_clicked`.
    pub click_count: Option<FieldName>,
    /// `unsubscribed` sets the standard `HasOptedOutOfEmail` (Email Opt Out) to true.
    pub opt_out_on_unsubscribe: bool,
    /// A Checkbox field set to true by `email_bounced`.
    pub mark_bounced: Option<FieldName>,
}

impl Default for FieldMapping {
    fn default() -> Self {
        Self { last_opened_at: None, click_count: None, opt_out_on_unsubscribe: true, mark_bounced: None }
    }
}

/// The tenant's sync configuration as an admin sets it: the document `PUT /settings` replaces.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    pub match_policy: MatchPolicy,
    pub create_missing: CreateMissing,
    pub field_mapping: FieldMapping,
    /// A custom External ID field on Task that holds the event id, so a retried event updates its
    /// Task instead of logging a second one. `None`: Tasks are only deduplicated by our ledger.
    pub task_external_id_field: Option<FieldName>,
    /// The share (1–100) of the org's daily API request allocation that sync may use, leaving
    /// the rest to the tenant's other integrations.
    pub api_budget_percent: u8,
    /// Whether Closed Won events start a sequence in the product (inbound events carry it).
    #[serde(default)]
    pub trigger_mode: TriggerMode,
    /// The product's sequence that `auto`/`both` start; required by those modes.
    #[serde(default)]
    pub sequence_id: Option<SequenceId>,
    /// How JSON callouts must authenticate.
    #[serde(default)]
    pub webhook_auth: WebhookAuth,
    /// Where the product's attributes land (`field_update` commands), per attribute.
    #[serde(default)]
    pub attribute_mapping: BTreeMap<AttributeName, AttributeMapping>,
    /// Which Campaign Status each product campaign state sets (`campaign_update` commands).
    #[serde(default = "default_campaign_statuses")]
    pub campaign_statuses: BTreeMap<ProductState, String>,
    /// A custom External ID field on Campaign that holds the product's experiment key, so a
    /// `campaign_update` naming only the key finds its Campaign with a query.
    #[serde(default)]
    pub campaign_experiment_key_field: Option<FieldName>,
    /// The Apex REST endpoints `record_upsert` commands may post to, by the name they use.
    #[serde(default)]
    pub apex_endpoints: BTreeMap<EndpointName, ApexPath>,
    /// Which Salesforce records flow into the product, and how often.
    #[serde(default)]
    pub import: super::ImportSettings,
}

/// Where one product attribute lands, and what kind of value the product sends for it (Test
/// Fields checks each mapped field against it).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeMapping {
    pub kind: AttributeKind,
    /// The field on Contacts; `None`: a matched Contact does not get this attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<FieldName>,
    /// The field on Leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<FieldName>,
}

/// What kind of value the product sends for an attribute.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    Number,
    Text,
    Date,
    Datetime,
    Boolean,
}

/// The product's campaign states and the standard Campaign Status values they set (Salesforce's
/// defaults are Planned, In Progress, Completed and Aborted).
pub fn default_campaign_statuses() -> BTreeMap<ProductState, String> {
    [("planned", "Planned"), ("running", "In Progress"), ("completed", "Completed"), ("rolled_back", "Aborted"), ("aborted", "Aborted")]
        .into_iter()
        .filter_map(|(state, status)| Some((ProductState::parse(state).ok()?, status.to_owned())))
        .collect()
}

/// When the product starts a sequence for a Salesforce contact (the demeterrr trigger modes).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerMode {
    /// Only from the manual trigger queue: Closed Won events carry no trigger, and each one is
    /// kept pending for an admin (the default).
    #[default]
    Manual,
    /// From Closed Won webhook events: they carry `trigger` with the chosen sequence.
    Auto,
    /// Both: a Closed Won that names a contact to start the sequence for carries the trigger;
    /// one that names none is kept in the manual queue instead.
    Both,
}

impl TriggerMode {
    /// Whether Closed Won events may carry a trigger.
    pub fn triggers_on_closed_won(self) -> bool {
        !matches!(self, Self::Manual)
    }

    /// Whether Closed Won events that carry no trigger wait in the manual queue (`auto` has none).
    pub fn keeps_a_manual_queue(self) -> bool {
        !matches!(self, Self::Auto)
    }
}

/// How the webhook receiver authenticates JSON callouts. Outbound Messages cannot sign, so they
/// always authenticate with the secret (plus the OrganizationId check) in either mode.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// The webhook secret in a header or the query string, or a signature (the default).
    #[default]
    Secret,
    /// Only a Standard-Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
    /// over the raw body: integrity and replay protection, not just possession of the secret.
    Signature,
}

impl TenantSettings {
    pub const DEFAULT_API_BUDGET_PERCENT: u8 = 80;
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            match_policy: MatchPolicy::default(),
            create_missing: CreateMissing::default(),
            field_mapping: FieldMapping::default(),
            task_external_id_field: None,
            api_budget_percent: Self::DEFAULT_API_BUDGET_PERCENT,
            trigger_mode: TriggerMode::default(),
            sequence_id: None,
            webhook_auth: WebhookAuth::default(),
            attribute_mapping: BTreeMap::new(),
            campaign_statuses: default_campaign_statuses(),
            campaign_experiment_key_field: None,
            apex_endpoints: BTreeMap::new(),
            import: super::ImportSettings::default(),
        }
    }
}

/// `TENANT#{t}` / `SETTINGS`. Absent until an admin saves settings; until then the defaults apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRecord {
    #[serde(flatten)]
    pub settings: TenantSettings,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// The product's activity types, as sync commands name them (`"activity": "email_sent"`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    EmailSent,
    EmailOpened,
    EmailClicked,
    EmailReplied,
    EmailBounced,
    Unsubscribed,
}

impl ActivityKind {
    /// The name sync commands use (`email_sent`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailSent => "email_sent",
            Self::EmailOpened => "email_opened",
            Self::EmailClicked => "email_clicked",
            Self::EmailReplied => "email_replied",
            Self::EmailBounced => "email_bounced",
            Self::Unsubscribed => "unsubscribed",
        }
    }
}

/// Per-event switches of one campaign. All on by default: enabling a campaign syncs everything.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventToggles {
    pub email_sent: bool,
    pub email_opened: bool,
    pub email_clicked: bool,
    pub email_replied: bool,
    pub email_bounced: bool,
    pub unsubscribed: bool,
}

impl Default for EventToggles {
    fn default() -> Self {
        Self {
            email_sent: true,
            email_opened: true,
            email_clicked: true,
            email_replied: true,
            email_bounced: true,
            unsubscribed: true,
        }
    }
}

impl EventToggles {
    pub fn get(&self, kind: ActivityKind) -> bool {
        match kind {
            ActivityKind::EmailSent => self.email_sent,
            ActivityKind::EmailOpened => self.email_opened,
            ActivityKind::EmailClicked => self.email_clicked,
            ActivityKind::EmailReplied => self.email_replied,
            ActivityKind::EmailBounced => self.email_bounced,
            ActivityKind::Unsubscribed => self.unsubscribed,
        }
    }
}

/// One row of the campaign matrix as an admin sets it: the document `PUT /campaigns/{c}` replaces.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSettings {
    /// Master switch. Off by default: connecting a tenant does not enable its campaigns.
    pub enabled: bool,
    /// Whether activity is logged on the matched Contacts/Leads (on by default).
    pub sync_activity: bool,
    pub events: EventToggles,
    /// The Salesforce Campaign (`701…`) that campaign updates go to.
    pub salesforce_campaign_id: Option<SalesforceId>,
    /// Finds the Salesforce Campaign by the product's experiment key instead of its id.
    pub experiment_key: Option<String>,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            sync_activity: true,
            events: EventToggles::default(),
            salesforce_campaign_id: None,
            experiment_key: None,
        }
    }
}

impl CampaignSettings {
    /// Whether an activity of this kind in this campaign is synced.
    pub fn syncs(&self, kind: ActivityKind) -> bool {
        self.enabled && self.sync_activity && self.events.get(kind)
    }
}

/// `TENANT#{t}` / `CAMPAIGN#{c}`. Absent until an admin saves the campaign; until then the
/// defaults apply (so an unknown campaign syncs nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub campaign_id: CampaignId,
    #[serde(flatten)]
    pub settings: CampaignSettings,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// Where one sync command stands in the idempotency ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerStatus {
    /// A worker holds it until `lease_until`; after that (or when released) anyone may claim it.
    InProgress,
    /// Written to Salesforce: never again.
    Done,
    /// Deliberately not written (campaign off, no match): never again.
    Skipped,
    /// Failed permanently and dead-lettered. A redrive after a fix claims it again and keeps the
    /// progress below, so a logged Task is not logged twice.
    Failed,
}

/// `EVENT#{t}#{event_id}` / `LEDGER`: the idempotency record of one sync command. The tenant is
/// part of the key so one tenant's ids can never shadow another's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    pub status: LedgerStatus,
    pub lease_until: Option<DateTime<Utc>>,
    /// The Task logged for this event, once Salesforce confirmed it.
    pub task_id: Option<SalesforceId>,
    /// The Contact or Lead it landed on.
    pub who_id: Option<SalesforceId>,
    /// Whether this event's field updates were confirmed (or it has none).
    pub fields_applied: bool,
    /// When a write of this event's Task was sent whose answer never came (a timeout, a cut
    /// connection, a 5xx): Salesforce may have applied it. The next attempt looks for the Task
    /// (by the event id in its Description) before writing it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_unconfirmed_since: Option<DateTime<Utc>>,
    /// The value a click-counter update carrying this event set, when its answer never came. The
    /// next attempt reads the counter: at or above this value, the update was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_unconfirmed: Option<i64>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// What became of a sync command, as the delivery log shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Synced,
    Skipped,
    Failed,
    Parked,
    /// Waiting on a condition of the whole tenant (its API budget, Salesforce's request limit or
    /// availability); it comes back on its own.
    Deferred,
    /// Never runnable as it is: held as one of the tenant's dead letters (or, when that could not
    /// be stored, on the dead-letter queue) until someone fixes the cause and replays it.
    DeadLettered,
}

/// `TENANT#{t}` / `DELIVERY#{ts}#{event_id}`: one outcome in the tenant's delivery log.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(description = "One outcome in the tenant's delivery log."))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub event_id: EventId,
    pub at: DateTime<Utc>,
    pub outcome: DeliveryOutcome,
    #[serde(rename = "type")]
    pub command_type: String,
    pub campaign_id: Option<CampaignId>,
    pub activity: Option<ActivityKind>,
    pub email: Option<Email>,
    /// The Contact or Lead written to.
    pub record_id: Option<SalesforceId>,
    pub task_id: Option<SalesforceId>,
    /// A stable code for skipped/failed/parked (`campaign_disabled`, `no_match`, `INVALID_FIELD`, ...).
    pub code: Option<String>,
    /// What happened, worded for the admin.
    pub reason: Option<String>,
}

/// `TENANT#{t}` / `PARKED#{event_id}`: a sync command held while the tenant must reconnect,
/// replayed onto the activity queue when it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedRecord {
    pub event_id: EventId,
    /// The command exactly as it arrived.
    pub body: String,
    pub parked_at: DateTime<Utc>,
}

/// `TENANT#{t}` / `DEAD_LETTER#{event_id}`: a sync command activity sync could never run (a
/// permanent Salesforce refusal, or a command this release cannot run), held for the tenant's
/// admin to see and replay once the cause is fixed. One per event: a later dead letter of the same
/// event replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    pub event_id: EventId,
    /// The command exactly as it arrived; a replay sends it again as is.
    pub body: String,
    /// Why: a Salesforce error code (`INVALID_FIELD`, ...) or `malformed_command` /
    /// `unsupported_command`.
    pub code: String,
    /// What happened, worded for the admin (Salesforce's message, or what is wrong with the command).
    pub reason: String,
    pub dead_lettered_at: DateTime<Utc>,
    /// The queue message it arrived in. A replay removes the record only while it still names
    /// this message, so a dead letter the replayed copy becomes again is never lost.
    pub source_message_id: String,
    /// What the body says of itself, for the list (the body is not shown there).
    #[serde(rename = "type")]
    pub command_type: String,
    pub campaign_id: Option<CampaignId>,
    pub activity: Option<ActivityKind>,
    pub email: Option<Email>,
}

/// `TENANT#{t}` / `WEBHOOK_SECRETS`: the secrets Salesforce authenticates webhooks with. At most
/// two are active, so a new one can be rolled out in Salesforce before the old one is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecretsRecord {
    pub secrets: Vec<WebhookSecretEntry>,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecretEntry {
    /// Public handle (`whk_…`) to list and revoke it by.
    pub id: String,
    /// The secret, sealed for purpose `webhook_secret`; opened only to check a signature.
    pub sealed: Sealed,
    /// SHA-256 (hex) of the secret: a presented secret is hashed and compared to this, so
    /// checking the plain secret needs no key-service call. The secret is 256 random bits, so
    /// its hash reveals nothing usable.
    pub digest: String,
    pub created_at: DateTime<Utc>,
}

/// Where one inbound notification stands in the webhook receiver's deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundStatus {
    /// One request is putting it on the queue until `lease_until`.
    Publishing,
    /// On the inbound queue: later deliveries are acknowledged without publishing it again.
    Published,
}

/// `INBOUND#{t}#{key}` / `DEDUPE`: one notification (Outbound Message notification id, or a JSON
/// sender's event id) the receiver has seen, kept long enough to outlast every redelivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundDedupeRecord {
    pub status: InboundStatus,
    pub lease_until: Option<DateTime<Utc>>,
    /// The id of the inbound event published for it (the same on every delivery).
    pub event_id: String,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// `INBOUND#{t}#EXP#{digest}` / `EXPERIMENT`: the Salesforce Campaign a product experiment key
/// belongs to, learnt from an inbound `campaign_updated` event (a Campaign carrying the key), so
/// that a `campaign_update` naming only the experiment key finds its Campaign with no query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentLinkRecord {
    pub experiment_key: String,
    pub campaign_id: SalesforceId,
    /// The org the event came from: after a reconnect to another org the link names nothing.
    pub organization_id: SalesforceId,
    /// The inbound event that made the link.
    pub event_id: String,
    pub linked_at: DateTime<Utc>,
}

/// Where an entry of the manual trigger queue stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    /// Waiting for an admin to trigger or dismiss it.
    Pending,
    /// One request is publishing its `trigger_requested` event until `lease_until`.
    Triggering,
    /// Its `trigger_requested` event is on the inbound queue.
    Triggered,
    /// An admin dismissed it.
    Dismissed,
}

impl PendingStatus {
    /// Listed, and still to be resolved. A resolved entry is kept (unlisted) until it expires, so a
    /// late redelivery of its Closed Won cannot bring it back and a repeated request is answered.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Triggering)
    }
}

/// `INBOUND#{t}#PENDING` / `TRIGGER#{id}`: a Closed Won that did not trigger automatically, kept
/// for an admin (the manual trigger queue), with what the notification carried. Listed newest
/// first through a key of its own (`AT#{received_at}#{id}`) while it is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTriggerRecord {
    pub id: PendingTriggerId,
    pub status: PendingStatus,
    /// When the Closed Won was first received (its listing key; later deliveries keep it).
    pub received_at: DateTime<Utc>,
    pub source: Source,
    pub organization_id: SalesforceId,
    pub notification_id: Option<String>,
    pub sobject_type: Option<String>,
    /// The Opportunity.
    pub record_id: Option<SalesforceId>,
    /// The notification's fields as JSON text, kept verbatim for the `trigger_requested` event:
    /// as text, DynamoDB's number and nesting rules can neither change nor refuse them.
    pub fields: String,
    /// The contact roles' emails the notification carried.
    pub contact_emails: Vec<Email>,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    /// While `triggering`: until when that request holds it.
    pub lease_until: Option<DateTime<Utc>>,
    /// From `triggering` on: the sequence requested.
    pub sequence_id: Option<SequenceId>,
    /// From `triggering` on: the `trigger_requested` event's id (the same on every attempt).
    pub trigger_event_id: Option<String>,
}

impl PendingTriggerRecord {
    /// When the entry is forgotten, resolved or not (TTL); the listing hides it from then on even if
    /// DynamoDB deletes it later.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.received_at + chrono::Duration::days(super::PENDING_TRIGGER_RETENTION_DAYS)
    }
}

/// Which part of the connection a health error comes from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthArea {
    /// The token endpoint: a refresh Salesforce refused or could not answer.
    Oauth,
    /// A REST call of the activity sync (lookups and writes).
    SalesforceApi,
    /// Sync deferred its work because the org's API usage was over the tenant's budget.
    Budget,
}

/// The latest problem with a tenant's connection, worded for the admin (the public messages the
/// popup and the delivery log use): never a token, a secret or a request payload.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthError {
    pub area: HealthArea,
    /// A stable code (`invalid_grant`, `REQUEST_LIMIT_EXCEEDED`, `api_budget`, ...).
    pub code: String,
    pub message: String,
    /// Whether it clears on its own (sync retries), or needs someone to act.
    pub retryable: bool,
    pub at: DateTime<Utc>,
    /// For a condition that held activity back (deferred): when sync tries that activity again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes_at: Option<DateTime<Utc>>,
}

/// `TENANT#{t}` / `FIELDS#{record}`: per field (lower-cased API name) of one Contact or Lead, the
/// `occurred_at` of the value a `field_update` last wrote there, so that a command deferred or
/// retried past a later one does not put an older value back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldTimesRecord {
    pub times: BTreeMap<String, DateTime<Utc>>,
}

/// `TENANT#{t}` / `DESCRIBE#{org}#{object}`: the fields of one object as the org's describe last
/// reported them (the parts sfbridge reads, in `sfbridge_salesforce::fields::ObjectFields` form),
/// so that sync batches and Test Fields need no describe call while it is current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DescribeRecord {
    pub fields: serde_json::Value,
    /// When Salesforce last answered for it (200, or 304: not modified since the time we sent).
    pub fetched_at: DateTime<Utc>,
}

/// The org's daily API request usage as a Salesforce response reported it (`Sforce-Limit-Info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReading {
    pub used: u64,
    pub max: u64,
    pub at: DateTime<Utc>,
}

/// `TENANT#{t}` / `HEALTH`: what the activity sync and the token refresh last saw of the tenant's
/// Salesforce connection, for the admin API's health view (which runs in another function, so it
/// is stored). Written best-effort and field by field: a writer sets only the fields it saw
/// (`None` fields are left as stored), so concurrent writers never erase each other's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// The last access token refresh that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_token_refresh_at: Option<DateTime<Utc>>,
    /// The end of the last sync run in which Salesforce answered a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<HealthError>,
    /// The latest usage reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_usage: Option<UsageReading>,
    /// When any writer last set something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl HealthRecord {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.last_token_refresh_at.is_none()
            && self.last_sync_at.is_none()
            && self.last_error.is_none()
            && self.api_usage.is_none()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::HostPolicy;

    fn connection(expires_at: Option<DateTime<Utc>>) -> ConnectionRecord {
        let now = Utc::now();
        ConnectionRecord {
            status: ConnectionStatus::Connected,
            organization_id: SalesforceId::parse("00D000000000001").unwrap(),
            user_id: SalesforceId::parse("005000000000001").unwrap(),
            username: None,
            display_name: None,
            instance_url: InstanceUrl::parse("https://unit.my.salesforce.com", HostPolicy::STRICT).unwrap(),
            login_host: LoginHost::parse("https://unit.my.salesforce.com", HostPolicy::STRICT).unwrap(),
            refresh_token: None,
            access_token: None,
            access_token_issued_at: Some(now),
            access_token_expires_at: expires_at,
            scopes: vec!["api".into()],
            connected_at: now,
            updated_at: now,
            version: 1,
            refresh_lease_until: None,
        }
    }

    #[test]
    fn a_connection_written_before_the_token_expiry_existed_still_reads() {
        let old = serde_json::to_value(connection(None)).unwrap();
        assert!(old.get("access_token_expires_at").is_none(), "{old}");
        let read: ConnectionRecord = serde_json::from_value(old).unwrap();
        assert_eq!(read.access_token_expires_at, None);

        let at = Utc::now();
        let new = serde_json::to_value(connection(Some(at))).unwrap();
        let read: ConnectionRecord = serde_json::from_value(new).unwrap();
        assert_eq!(read.access_token_expires_at, Some(at));
    }
}
