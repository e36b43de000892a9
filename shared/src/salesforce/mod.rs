//! Talking to Salesforce. This issue brings the OAuth side (authorize URL, code exchange,
//! identity, revoke); the REST client for sync joins it here.

mod errors;
mod oauth;
pub mod rest;
mod signature;
pub mod troubleshooting;

pub use errors::OAuthFailure;
pub use oauth::{Identity, Issuer, SalesforceOAuth, TokenGrant};
pub use rest::SalesforceRest;
pub use signature::verify_signature;
