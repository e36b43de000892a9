//! Salesforce → product: webhook requests (Outbound Messages and JSON callouts) become inbound
//! events on the inbound queue, once each, and are acknowledged only after that.
//!
//! - [`soap`]: the Outbound Message envelope (hardened XML parsing) and the ACK
//! - [`callout`]: the JSON callout shapes
//! - [`normalize`]: which [`EventType`] a notification is
//! - [`auth`]: the webhook secret and the Standard-Webhooks signature
//! - [`pending`]: which Closed Won events trigger automatically and which wait in the manual
//!   trigger queue; the contact emails an Opportunity notification carries
//! - [`receive`]: one request end to end: authenticate, parse, deduplicate, keep pending, publish

pub mod auth;
pub mod callout;
pub mod normalize;
pub mod pending;
pub mod receive;
pub mod soap;

use serde_json::{Map, Value};

use sfbridge_core::domain::SalesforceId;

pub use receive::{receive, WebhookError, WebhookReply, WebhookRequest, MAX_BODY_BYTES};
/// The inbound queue's message; in core because the admin API publishes it too (the manual
/// trigger queue's `trigger_requested`).
pub use sfbridge_core::events::{EventType, InboundEvent, Source, Trigger};

use std::sync::Arc;

use sfbridge_core::cipher::Cipher;
use sfbridge_core::clock::Clock;
use sfbridge_core::metrics::Meter;
use sfbridge_core::queue::Queue;
use sfbridge_core::secrets::WebhookSecret;
use sfbridge_core::store::Store;

/// The webhook receiver, built once per process (per Lambda cold start). It holds what the
/// function's IAM policy allows it: the table (its `INBOUND#` items, the tenants' secrets,
/// connection and settings), the key (to open webhook secrets) and the inbound queue.
#[derive(Debug, Clone)]
pub struct Receiver {
    store: Store,
    cipher: Arc<dyn Cipher>,
    clock: Arc<dyn Clock>,
    /// Where inbound events go for the product.
    inbound: Arc<dyn Queue>,
    /// The deployment-wide secret (`SALESFORCE_WEBHOOK_SECRET`), for tenants without their own.
    global_secret: Option<WebhookSecret>,
    /// Webhook secrets this process has opened (the signature checks), kept while warm.
    opened_secrets: Arc<auth::OpenedSecrets>,
    meter: Meter,
}

impl Receiver {
    pub fn new(
        store: Store,
        cipher: Arc<dyn Cipher>,
        clock: Arc<dyn Clock>,
        inbound: Arc<dyn Queue>,
        global_secret: Option<WebhookSecret>,
        meter: Meter,
    ) -> Self {
        Self { store, cipher, clock, inbound, global_secret, opened_secrets: Arc::default(), meter }
    }

    /// Handles one webhook request; see [`receive`].
    pub async fn receive(&self, request: WebhookRequest<'_>) -> WebhookReply {
        receive(self, request).await
    }
}

/// At most this many notifications in one request (Salesforce's Outbound Message limit; the same
/// for a JSON array).
pub const MAX_NOTIFICATIONS: usize = 100;

/// A payload the parsers refused, worded for the person who configured the sender. It never
/// quotes values from the payload (a payload may carry a session id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPayload(pub String);

impl InvalidPayload {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// One record change as the sender reported it, before normalization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notification {
    /// The sender's id for this change, stable across its retries: the Outbound Message's
    /// `Notification/Id`, a callout's `id`. The deduplication key.
    pub notification_id: Option<String>,
    /// The sObject API name (`Opportunity`, `Campaign`, `My_Object__c`).
    pub sobject_type: Option<String>,
    pub record_id: Option<SalesforceId>,
    /// Field values by API name, as sent (Outbound Messages send text; `null` for `xsi:nil`).
    /// `Id` is in `record_id`, not here.
    pub fields: Map<String, Value>,
    /// Stated by the sender (JSON callouts); `None`: derived from the sObject type and fields.
    pub event_type: Option<EventType>,
    /// Stated by the sender (the experimentation shape's `status`); else taken from `Status`.
    pub status: Option<String>,
    /// Stated by the sender; else taken from an `Experiment_Key__c` field.
    pub experiment_key: Option<String>,
}

/// A parsed Outbound Message envelope. The `SessionId` it may carry is never kept: sfbridge calls
/// Salesforce with the tenant's own OAuth tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    /// 15 or 18 characters as sent; compared to the connected org by its first 15 (the
    /// case-sensitive id; the last 3 only re-encode its case).
    pub organization_id: String,
    /// The Outbound Message definition (`04k…`) that sent it.
    pub action_id: Option<String>,
    /// The API version the Outbound Message was saved with (`66.0`), read from `EnterpriseUrl`
    /// or `PartnerUrl`: Salesforce pins it at creation and stops sending when it is retired.
    pub api_version: Option<String>,
    /// 1 to [`MAX_NOTIFICATIONS`], in envelope order.
    pub notifications: Vec<Notification>,
}
