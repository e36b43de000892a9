//! Talking to Salesforce: the OAuth client (authorize URL, code exchange, refresh, client
//! credentials, identity, introspect, revoke), the REST and Composite client, Bulk API 2.0 query
//! jobs ([`bulk`]), what Salesforce's errors mean and what to do about them, and [`Sessions`],
//! which keeps one usable access token per tenant with exactly one refresher at a time (renewing
//! client-credentials tokens before they expire, [`expiry`]).

pub mod bulk;
mod errors;
pub mod expiry;
pub mod fields;
mod oauth;
pub mod rest;
mod sessions;
mod signature;
pub mod troubleshooting;

use std::time::Duration;

use sfbridge_core::config::ConfigError;

pub use errors::OAuthFailure;
pub use oauth::{Introspection, Issuer, SalesforceOAuth, TokenGrant};
pub use rest::{SalesforceRest, Session};
pub use sessions::{CallError, SessionError, Sessions, StoredAppCredentials};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Well under the callback Lambda's timeout, so a slow Salesforce ends in an error page, not a
/// 502. REST calls set their own, longer timeout per request.
const OAUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`http_client`] could not build the client.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("building the HTTP client for Salesforce: {0}")]
    Build(#[from] reqwest::Error),
}

/// The one HTTP client (one connection pool) a process uses for Salesforce, OAuth and REST alike.
/// It follows no redirects: a token endpoint that redirects is not Salesforce's, and following it
/// would replay the client secret (or a bearer token) to wherever it points.
///
/// TLS: rustls on ring (the functions' one crypto provider; the AWS SDK's client uses it too), and
/// Mozilla's roots compiled in (webpki-roots): already parsed, so building the client reads no
/// file and parses no certificate, where the system store cost most of a cold start's init.
/// Salesforce's certificates chain to public CAs in that set. `SFBRIDGE_TLS_NATIVE_ROOTS=true`
/// adds the system store, for a private CA.
pub fn http_client() -> Result<reqwest::Client, HttpClientError> {
    let native_roots = sfbridge_core::config::native_roots_from_env()?;
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(OAUTH_TIMEOUT)
        .user_agent(concat!("sfbridge/", env!("CARGO_PKG_VERSION")))
        .tls_built_in_webpki_certs(true)
        // On by default once reqwest can load them (the feature), so say it: only when asked.
        .tls_built_in_native_certs(native_roots)
        .build()?)
}
