//! Webhook authentication (docs/reliability.md "Webhook authentication", W1–W7, S2).
//!
//! Two ways to authenticate, checked over the raw request before the body is parsed:
//!
//! - **Secret**: the webhook secret in header `x-salesforce-webhook-secret` (or `x-webhook-secret`)
//!   or query parameter `token` (or `secret`). Outbound Messages cannot set headers, so they put
//!   it in the endpoint URL's query. The presented value is hashed and compared with the stored
//!   hashes in constant time, so checking it needs no key-service call and leaks no prefix.
//! - **Signature** (Standard Webhooks): headers `webhook-id`, `webhook-timestamp` (Unix seconds,
//!   within ±300 s of now, both ways) and `webhook-signature` (`v1,<base64 HMAC-SHA256>`, several
//!   space-separated during rotation) over `{id}.{timestamp}.{raw body}`. A request carrying any
//!   signature header is judged by its signature alone: a bad signature is never rescued by a
//!   secret in the URL.
//!
//! A tenant's own secrets (at most two, during rotation) take precedence; the deployment-wide
//! `SALESFORCE_WEBHOOK_SECRET` applies only to tenants that have none.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use sfbridge_core::domain::TenantId;
use sfbridge_core::secrets::{constant_time_eq, WebhookSecret};

/// Headers that may carry the secret, in the order they are looked at.
pub const SECRET_HEADERS: [&str; 2] = ["x-salesforce-webhook-secret", "x-webhook-secret"];
/// Query parameters that may carry the secret.
pub(crate) const SECRET_QUERY_PARAMS: [&str; 2] = ["token", "secret"];
pub(crate) const ID_HEADER: &str = "webhook-id";
pub(crate) const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub(crate) const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a signed request's timestamp may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;
pub use sfbridge_core::secrets::webhook_secret_digest as secret_digest;
use sfbridge_core::secrets::WEBHOOK_SECRET_PREFIX as SECRET_PREFIX;
/// Longer ids are refused: the id becomes a deduplication key.
const MAX_ID_LEN: usize = 255;

/// The HMAC key of a secret: the bytes after `whsec_` (base64), else the secret's own bytes.
fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The signature a sender computes: `v1,` and base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
/// Used by tests, the benchmark and the README's examples.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = mac(&signing_key(secret), id, &timestamp.to_string(), body).map(|m| m.finalize().into_bytes());
    let encoded = mac.map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes)).unwrap_or_default();
    format!("v1,{encoded}")
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The Standard-Webhooks headers of a request, as sent.
#[derive(Debug, Clone, Copy)]
pub struct SignatureHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl SignatureHeaders<'_> {
    /// Whether the sender tried to sign at all.
    pub fn any(&self) -> bool {
        self.id.is_some() || self.timestamp.is_some() || self.signature.is_some()
    }
}

/// Why a request was not authenticated. The messages go back to the sender (Salesforce shows
/// them in the delivery status), so they say what to fix and never what was presented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error(
        "no webhook secret is configured for this tenant; create one with POST /v1/tenants/{{tenant}}/webhook-secrets \
         (or set SALESFORCE_WEBHOOK_SECRET for the deployment)"
    )]
    NotConfigured,
    #[error(
        "the webhook secret is missing; send it in the x-salesforce-webhook-secret header or, for an Outbound \
         Message, as ?token=<secret> in the endpoint URL"
    )]
    MissingSecret,
    #[error("the webhook secret does not match any active secret of this tenant; copy the current secret into Salesforce")]
    WrongSecret,
    #[error(
        "this tenant requires signed callouts: send webhook-id, webhook-timestamp and webhook-signature (HMAC-SHA256 \
         over id.timestamp.body; see the README)"
    )]
    SignatureRequired,
    #[error("the signature headers are incomplete: {0} is missing or empty")]
    IncompleteSignature(&'static str),
    #[error("{0}")]
    MalformedSignature(&'static str),
    #[error(
        "webhook-timestamp is more than 300 seconds away from now; sign each request when it is sent (and check the \
         sender's clock)"
    )]
    StaleTimestamp,
    #[error("the signature does not match the body with any active secret of this tenant")]
    BadSignature,
}

impl AuthFailure {
    /// A stable code for logs and the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "webhook_secret_not_configured",
            Self::MissingSecret => "missing_secret",
            Self::WrongSecret => "wrong_secret",
            Self::SignatureRequired => "signature_required",
            Self::IncompleteSignature(_) | Self::MalformedSignature(_) => "malformed_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// The secrets one request may be checked against.
#[derive(Debug)]
pub enum Accepted<'a> {
    /// The tenant's own secrets: hashes for the plain check; the secrets themselves are opened
    /// (a key-service call) only for a signed request, through `open`.
    Tenant { digests: Vec<&'a str> },
    /// The deployment-wide secret.
    Global(&'a WebhookSecret),
    Nothing,
}

/// Checks a plain secret against the accepted ones. Every stored hash is compared, so the time
/// taken does not tell which one (if any) matched.
pub(crate) fn check_secret(presented: Option<&str>, accepted: &Accepted<'_>) -> Result<(), AuthFailure> {
    let presented = presented.filter(|p| !p.is_empty()).ok_or(AuthFailure::MissingSecret)?;
    let matched = match accepted {
        Accepted::Nothing => return Err(AuthFailure::NotConfigured),
        Accepted::Tenant { digests } => {
            let presented = secret_digest(presented);
            digests.iter().fold(false, |any, stored| constant_time_eq(presented.as_bytes(), stored.as_bytes()) | any)
        }
        // Both sides hashed first, so the comparison is over equal lengths whatever was sent.
        Accepted::Global(secret) => {
            constant_time_eq(secret_digest(presented).as_bytes(), secret_digest(secret.expose_secret()).as_bytes())
        }
    };
    if matched {
        Ok(())
    } else {
        Err(AuthFailure::WrongSecret)
    }
}

/// A signed request's id and timestamp, checked for shape and freshness (cheap: before any
/// secret is opened).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub id: &'a str,
    timestamp: &'a str,
    signatures: &'a str,
}

pub fn signed_request<'a>(headers: &SignatureHeaders<'a>, now: DateTime<Utc>) -> Result<SignedRequest<'a>, AuthFailure> {
    let present = |value: Option<&'a str>, name: &'static str| {
        value.map(str::trim).filter(|v| !v.is_empty()).ok_or(AuthFailure::IncompleteSignature(name))
    };
    let id = present(headers.id, ID_HEADER)?;
    let timestamp = present(headers.timestamp, TIMESTAMP_HEADER)?;
    let signatures = present(headers.signature, SIGNATURE_HEADER)?;
    if id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(AuthFailure::MalformedSignature("webhook-id must be at most 255 characters on one line"));
    }
    let seconds = (timestamp.len() <= 12 && timestamp.bytes().all(|b| b.is_ascii_digit()))
        .then(|| timestamp.parse::<i64>().ok())
        .flatten()
        .ok_or(AuthFailure::MalformedSignature("webhook-timestamp must be Unix time in whole seconds"))?;
    if (now.timestamp() - seconds).abs() > TOLERANCE_SECONDS {
        return Err(AuthFailure::StaleTimestamp);
    }
    Ok(SignedRequest { id, timestamp, signatures })
}

/// Checks the signature over the raw body with each candidate secret. Each `v1,` entry is
/// compared by `verify_slice` (constant time, and an empty or truncated signature never matches).
pub fn check_signature(request: &SignedRequest<'_>, body: &[u8], secrets: &[&str]) -> Result<(), AuthFailure> {
    let candidates: Vec<Vec<u8>> = request
        .signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter(|b64| !b64.is_empty())
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .collect();
    if candidates.is_empty() {
        return Err(AuthFailure::MalformedSignature("webhook-signature must hold v1,<base64 HMAC-SHA256>"));
    }
    let mut matched = false;
    for secret in secrets {
        let Some(mac) = mac(&signing_key(secret), request.id, request.timestamp, body) else { continue };
        for candidate in &candidates {
            matched |= mac.clone().verify_slice(candidate).is_ok();
        }
    }
    if matched {
        Ok(())
    } else {
        Err(AuthFailure::BadSignature)
    }
}

/// Tenant webhook secrets this process has opened, by tenant and the secret's stored digest, so a
/// warm function checks signatures without a key-service call per request. Without it every
/// request with a fresh timestamp (a forged one too) would cost one KMS Decrypt per active secret,
/// on the account's shared KMS quota that token decryption for sync also needs.
///
/// Revocation stays immediate: only the entries of the secrets record read for this request are
/// looked up, and a revoked secret is no longer in it. An opened secret is kept only when its
/// digest matches the stored one, so a digest names exactly one secret. Held in process memory
/// only (zeroized when dropped), as the deployment-wide secret is; `Debug` shows the count.
#[derive(Default)]
pub(crate) struct OpenedSecrets {
    by_digest: Mutex<HashMap<(TenantId, String), Zeroizing<String>>>,
}

impl OpenedSecrets {
    /// Far above the secrets one function instance sees (two per tenant); when full, the cache
    /// starts over rather than track recency.
    pub(crate) const CAPACITY: usize = 4_096;

    pub fn get(&self, t: &TenantId, digest: &str) -> Option<Zeroizing<String>> {
        self.lock().get(&(t.clone(), digest.to_owned())).cloned()
    }

    /// Keeps `secret` if it is the one `digest` names; returns whether it was kept.
    pub fn insert(&self, t: &TenantId, digest: &str, secret: &str) -> bool {
        if !constant_time_eq(secret_digest(secret).as_bytes(), digest.as_bytes()) {
            return false;
        }
        let mut map = self.lock();
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert((t.clone(), digest.to_owned()), Zeroizing::new(secret.to_owned()));
        true
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(TenantId, String), Zeroizing<String>>> {
        self.by_digest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for OpenedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSecrets").field("len", &self.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn opened_secrets_keep_only_what_their_digest_names_and_never_show_it() {
        let cache = OpenedSecrets::default();
        let t = TenantId::parse("team_1").unwrap();
        let digest = secret_digest(SECRET);
        assert!(!cache.insert(&t, &digest, "whsec_another"), "a secret its digest does not name is not kept");
        assert!(cache.get(&t, &digest).is_none());
        assert!(cache.insert(&t, &digest, SECRET));
        assert_eq!(cache.get(&t, &digest).as_deref().map(String::as_str), Some(SECRET));
        let other = TenantId::parse("team_2").unwrap();
        assert!(cache.get(&other, &digest).is_none(), "per tenant");
        assert!(!format!("{cache:?}").contains("MfKQ9r8"));
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignatureHeaders<'a> {
        SignatureHeaders { id: Some(id), timestamp: Some(ts), signature: Some(sig) }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn verify(id: &str, ts: &str, sig: &str, body: &[u8]) -> Result<(), AuthFailure> {
        let request = signed_request(&headers(id, ts, sig), now())?;
        check_signature(&request, body, &[SECRET])
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's reference libraries.
        let body = br#"{"test": 2432232314}"#;
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body), expected);
    }

    #[test]
    fn accepts_a_genuine_signature_and_any_of_several() {
        let body = b"{\"a\":1}";
        let ts = now().timestamp();
        let good = sign(SECRET, "msg_1", ts, body);
        assert_eq!(verify("msg_1", &ts.to_string(), &good, body), Ok(()));
        let rotated = format!("v1,AAAA {good}");
        assert_eq!(verify("msg_1", &ts.to_string(), &rotated, body), Ok(()));
    }

    #[test]
    fn refuses_empty_truncated_and_tampered_signatures() {
        let body = b"{\"a\":1}";
        let ts = now().timestamp();
        let good = sign(SECRET, "msg_1", ts, body);
        let ts = ts.to_string();
        for bad in ["v1,", "v1", "", " ", "v2,abc", &good[..good.len() - 4], &good.to_lowercase(), &format!("{good}x")] {
            assert!(verify("msg_1", &ts, bad, body).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(verify("msg_2", &ts, &good, body), Err(AuthFailure::BadSignature));
        assert_eq!(verify("msg_1", &ts, &good, b"{\"a\":2}"), Err(AuthFailure::BadSignature));
    }

    #[test]
    fn timestamps_outside_300_seconds_either_way_are_stale() {
        let body = b"{}";
        for (offset, ok) in [(-301, false), (-300, true), (300, true), (301, false)] {
            let ts = now().timestamp() + offset;
            let sig = sign(SECRET, "msg_1", ts, body);
            assert_eq!(verify("msg_1", &ts.to_string(), &sig, body).is_ok(), ok, "offset {offset}");
        }
        assert!(matches!(verify("msg_1", "1.5e9", "v1,x", body), Err(AuthFailure::MalformedSignature(_))));
    }

    #[test]
    fn plain_secret_is_compared_by_hash_against_every_active_one() {
        let (old, new) = (secret_digest("old-secret-0123456789abcdef"), secret_digest("new-secret-0123456789abcdef"));
        let accepted = Accepted::Tenant { digests: vec![&old, &new] };
        assert_eq!(check_secret(Some("new-secret-0123456789abcdef"), &accepted), Ok(()));
        assert_eq!(check_secret(Some("old-secret-0123456789abcdef"), &accepted), Ok(()));
        assert_eq!(check_secret(Some("new-secret-0123456789abcde"), &accepted), Err(AuthFailure::WrongSecret));
        assert_eq!(check_secret(Some(""), &accepted), Err(AuthFailure::MissingSecret));
        assert_eq!(check_secret(None, &accepted), Err(AuthFailure::MissingSecret));
        assert_eq!(check_secret(Some("anything"), &Accepted::Nothing), Err(AuthFailure::NotConfigured));
    }

    #[test]
    fn generated_secrets_are_long_random_and_signable() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().starts_with(SECRET_PREFIX));
        assert_eq!(signing_key(a.expose_secret()).len(), 32);
    }
}
