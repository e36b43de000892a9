//! What the admin API and the OAuth callback do, without HTTP: save and clear a tenant's app
//! credentials, run a connect flow, show and end a connection, audit every change.

mod audit;
mod callback;
mod connection;
mod credentials;
mod error;
mod flow;

pub use audit::{audit_page, record_audit};
pub use callback::{complete_callback, CallbackParams, CallbackResult};
pub use connection::{connection_view, disconnect, ConnectionView, CredentialsSummary, DisconnectResult};
pub use credentials::{clear_credentials, open_credentials as open_app_credentials, save_credentials, CredentialsInput, OpenedCredentials};
pub use error::ConnectError;
pub use flow::{
    begin_connect, browser_cookie_name, flow_view, start_flow, ConnectStart, FlowView, StartRedirect, FLOW_TTL_MINUTES,
};
