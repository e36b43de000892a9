//! What the admin API and the OAuth callback do, without HTTP: save and clear a tenant's app
//! credentials, run a connect flow, show and end a connection, keep the tenant's sync settings,
//! campaign matrix and webhook secrets, show and replay its dead letters, show and resolve its
//! manual trigger queue, audit every change.

mod callback;
mod connection;
mod credentials;
mod dead_letters;
mod error;
mod flow;
mod import_settings;
mod settings;
mod test_fields;
mod logs;
mod triggers;
mod webhook_secrets;

pub use logs::{audit_page, delivery_page};
pub use callback::{complete_callback, CallbackParams, CallbackResult, Outcome};
pub use connection::{
    connection_view, disconnect, health_view, ApiUsageView, ConnectionView, CredentialsSummary, DisconnectResult, HealthView,
};
pub use credentials::{clear_credentials, save_credentials, CredentialsInput};
pub use dead_letters::{
    dead_letter_list, replay_dead_letters, DeadLetterList, DeadLetterView, ReplayFailure, ReplayInput, ReplayReport,
    DEAD_LETTER_PAGES, MAX_REPLAY_ALL, MAX_REPLAY_IDS,
};
pub use error::ConnectError;
pub use import_settings::{FilterInput, ImportInput, ImportObjectInput};
pub use flow::{begin_connect, browser_cookie_name, flow_view, start_flow, ConnectStart, StartOutcome};
pub use settings::{
    campaign_list, campaign_view, patch_settings, put_campaign, put_settings, settings_view, CampaignInput, CampaignList, CampaignView,
    EventTogglesInput, SettingsInput, SettingsView,
};
pub use test_fields::{test_fields, FieldCheck, StatusCheck, TestFieldsReport};
pub use triggers::{
    dismiss_trigger, pending_trigger_list, request_trigger, OpportunityView, PendingTriggerList, PendingTriggerView, TriggerAccepted,
    TriggerInput, PENDING_TRIGGER_PAGES,
};
pub use webhook_secrets::{
    create_webhook_secret, revoke_webhook_secret, webhook_secret_list, webhook_url, CreatedWebhookSecret, WebhookSecretList,
};

use std::sync::Arc;

use sfbridge_core::audit::AuditLog;
use sfbridge_core::cipher::Cipher;
use sfbridge_core::clock::Clock;
use sfbridge_core::config::Config;
use sfbridge_core::queue::Queue;
use sfbridge_core::store::Store;
use sfbridge_salesforce::{SalesforceOAuth, SalesforceRest, Sessions};
use error::ConflictCode;

/// What the admin API and the OAuth callback run on, built once per process. Both functions are
/// allowed the same things in template.yaml (the table's items, the key for the tenants' secrets,
/// sending to the activity queue), so one service serves both; it holds nothing else, but for what
/// only the admin API is given: the tenants' orgs (Test Fields) and the inbound queue (triggers).
#[derive(Debug, Clone)]
pub struct Connector {
    config: Config,
    store: Store,
    cipher: Arc<dyn Cipher>,
    clock: Arc<dyn Clock>,
    oauth: SalesforceOAuth,
    /// Parked sync commands go back onto it when a tenant reconnects, and dead letters when an
    /// admin replays them.
    activity: Arc<dyn Queue>,
    /// Where the manual trigger queue publishes `trigger_requested` events (the admin API only).
    inbound: Option<Arc<dyn Queue>>,
    audit: AuditLog,
    /// The tenant's own Salesforce connection, for what reads the org (Test Fields); the OAuth
    /// callback has no use for it.
    salesforce: Option<(Sessions, SalesforceRest)>,
}

impl Connector {
    pub fn new(
        config: Config,
        store: Store,
        cipher: Arc<dyn Cipher>,
        clock: Arc<dyn Clock>,
        oauth: SalesforceOAuth,
        activity: Arc<dyn Queue>,
    ) -> Self {
        let audit = AuditLog::new(store.clone(), clock.clone());
        Self { config, store, cipher, clock, oauth, activity, inbound: None, audit, salesforce: None }
    }

    /// Lets the connector publish on the inbound queue (the manual trigger queue's triggers).
    pub fn with_inbound(mut self, inbound: Arc<dyn Queue>) -> Self {
        self.inbound = Some(inbound);
        self
    }

    pub(crate) fn inbound(&self) -> Result<&Arc<dyn Queue>, ConnectError> {
        self.inbound.as_ref().ok_or_else(|| {
            ConnectError::Internal(sfbridge_core::error::Cause::new(std::io::Error::other(
                "this function was built without the inbound queue (Connector::with_inbound)",
            )))
        })
    }

    /// Lets the connector call the tenants' orgs (Test Fields).
    pub fn with_salesforce(mut self, sessions: Sessions, rest: SalesforceRest) -> Self {
        self.salesforce = Some((sessions, rest));
        self
    }

    pub(crate) fn salesforce(&self) -> Result<(&Sessions, &SalesforceRest), ConnectError> {
        match &self.salesforce {
            Some((sessions, rest)) => Ok((sessions, rest)),
            None => Err(ConnectError::Internal(sfbridge_core::error::Cause::new(std::io::Error::other(
                "this function was built without a Salesforce client (Connector::with_salesforce)",
            )))),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}
