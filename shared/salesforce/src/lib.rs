//! Talking to Salesforce: the OAuth client (authorize URL, code exchange, refresh, client
//! credentials, identity, introspect, revoke), the REST and Composite client, what Salesforce's
//! errors mean and what to do about them, and [`Sessions`], which keeps one usable access token per
//! tenant with exactly one refresher at a time (renewing client-credentials tokens before they
//! expire, [`expiry`]).

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

/// `SFBRIDGE_TLS_NATIVE_ROOTS=true`: trust the system's certificate store as well as the
/// compiled-in Mozilla roots. For a network whose proxy re-signs TLS with a private CA; the store
/// is found as OpenSSL finds it (`SSL_CERT_FILE`, `SSL_CERT_DIR`, then the usual paths) and read
/// when the client is built. The AWS SDK's client reads the same variable (`sfbridge-aws`).
pub const NATIVE_ROOTS_VARIABLE: &str = "SFBRIDGE_TLS_NATIVE_ROOTS";

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
    let native_roots = parse_native_roots(std::env::var(NATIVE_ROOTS_VARIABLE).ok().as_deref())?;
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

/// As `SFBRIDGE_INSECURE_DEV` is read: unset, empty, `false` or `0`; `true` or `1`; anything else
/// stops the function at start.
fn parse_native_roots(value: Option<&str>) -> Result<bool, ConfigError> {
    match value.map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ConfigError::Invalid { name: NATIVE_ROOTS_VARIABLE, why: format!("{other:?} is not true or false") }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn native_roots_are_opt_in_and_a_typo_is_refused() {
        for off in [None, Some(""), Some("false"), Some("0"), Some(" false ")] {
            assert!(!parse_native_roots(off).unwrap(), "{off:?}");
        }
        for on in [Some("true"), Some("1"), Some(" true")] {
            assert!(parse_native_roots(on).unwrap(), "{on:?}");
        }
        let err = parse_native_roots(Some("yes")).unwrap_err().to_string();
        assert!(err.contains(NATIVE_ROOTS_VARIABLE) && err.contains("yes"), "{err}");
    }
}
