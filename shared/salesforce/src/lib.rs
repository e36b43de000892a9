//! Talking to Salesforce: the OAuth client (authorize URL, code exchange, refresh, client
//! credentials, identity, revoke), the REST and Composite client, what Salesforce's errors mean
//! and what to do about them, and [`Sessions`], which keeps one usable access token per tenant
//! with exactly one refresher at a time.

mod errors;
mod oauth;
pub mod rest;
mod sessions;
mod signature;
pub mod troubleshooting;

use std::time::Duration;

pub use errors::OAuthFailure;
pub use oauth::{Issuer, SalesforceOAuth, TokenGrant};
pub use rest::{SalesforceRest, Session};
pub use sessions::{CallError, SessionError, Sessions, StoredAppCredentials};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Well under the callback Lambda's timeout, so a slow Salesforce ends in an error page, not a
/// 502. REST calls set their own, longer timeout per request.
const OAUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// The one HTTP client (one connection pool) a process uses for Salesforce, OAuth and REST alike.
/// It follows no redirects: a token endpoint that redirects is not Salesforce's, and following it
/// would replay the client secret (or a bearer token) to wherever it points.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(OAUTH_TIMEOUT)
        .user_agent(concat!("sfbridge/", env!("CARGO_PKG_VERSION")))
        .build()
}
