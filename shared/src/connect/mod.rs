//! What the admin API and the OAuth callback do, without HTTP: save and clear a tenant's app
//! credentials, run a connect flow, show and end a connection, keep the tenant's sync settings,
//! campaign matrix and webhook secrets, audit every change.

mod audit;
mod callback;
mod connection;
mod credentials;
mod error;
mod flow;
mod settings;
mod webhook_secrets;

pub use audit::{audit_page, record_audit};
pub use callback::{complete_callback, CallbackParams, CallbackResult};
pub use connection::{
    connection_view, disconnect, health_view, ApiUsageView, ConnectionView, CredentialsSummary, DisconnectResult, HealthView,
};
pub use credentials::{clear_credentials, open_credentials as open_app_credentials, save_credentials, CredentialsInput, OpenedCredentials};
pub use error::ConnectError;
pub use flow::{
    begin_connect, browser_cookie_name, flow_view, start_flow, ConnectStart, FlowView, StartRedirect, FLOW_TTL_MINUTES,
};
pub use settings::{
    campaign_list, campaign_view, patch_settings, put_campaign, put_settings, settings_view, validate_campaign, validate_settings,
    CampaignInput, CampaignList, CampaignView, EventTogglesInput, FieldMappingInput, SettingsInput, SettingsView,
    MAX_CAMPAIGN_PAGE,
};
pub use webhook_secrets::{
    create_webhook_secret, is_webhook_secret_id, revoke_webhook_secret, webhook_secret_list, webhook_url,
    CreatedWebhookSecret, WebhookSecretList, WebhookSecretSummary, MAX_WEBHOOK_SECRETS, WEBHOOK_SECRET_ID_PREFIX,
};
