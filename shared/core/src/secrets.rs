//! Types for values that must never be logged, returned or stored unsealed. Each wraps
//! `secrecy::SecretString`: `Debug` prints only the type name, the memory is zeroized on drop,
//! and reading the value takes an explicit `expose_secret()` at the one place that needs it.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        // A string in the API's schema; only ever sent to us (the one response that holds a webhook
        // secret writes it by hand).
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Password))]
        pub struct $name(SecretString);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}

secret_type!(
    /// The External Client App's Consumer Secret (OAuth client secret).
    ConsumerSecret
);
secret_type!(
    /// A Salesforce access token (a session id: it grants API access until it times out).
    AccessToken
);
secret_type!(
    /// A Salesforce refresh token (grants new access tokens until revoked).
    RefreshToken
);
secret_type!(
    /// The PKCE `code_verifier` of one authorization request.
    PkceVerifier
);
secret_type!(
    /// The OAuth authorization code from the callback (single use, 15 minutes).
    AuthorizationCode
);
secret_type!(
    /// The admin API bearer token.
    AdminToken
);
secret_type!(
    /// A webhook secret: what Salesforce presents (or signs with) to authenticate a webhook.
    WebhookSecret
);

/// SHA-256 of `value` as lowercase hex: how a secret is kept when only equality must be checked
/// (browser bindings, webhook secrets) and how keys are derived from untrusted ids.
pub fn sha256_hex(value: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(value);
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Generated webhook secrets: `whsec_` and 32 random bytes in base64, as Standard Webhooks writes
/// them.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
const WEBHOOK_SECRET_BYTES: usize = 32;

impl WebhookSecret {
    /// A new random webhook secret (the admin API creates them; the receiver checks them).
    pub fn generate() -> Self {
        use base64::Engine as _;
        use rand::RngCore as _;
        let mut bytes = zeroize::Zeroizing::new([0u8; WEBHOOK_SECRET_BYTES]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self::new(format!("{WEBHOOK_SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(bytes.as_ref())))
    }
}

/// SHA-256 (hex) of a webhook secret, as stored beside the sealed secret: the admin API writes it,
/// the receiver finds the secret a request presents by it.
pub fn webhook_secret_digest(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Compares two secrets in time independent of where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let shown = format!(
            "{:?} {:?} {:?} {:?}",
            ConsumerSecret::new("hunter2-secret"),
            AccessToken::new("00D!hunter2-access"),
            RefreshToken::new("hunter2-refresh"),
            PkceVerifier::new("hunter2-verifier"),
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ConsumerSecret([REDACTED])"));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
