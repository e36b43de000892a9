//! The `signature` of a token response: Base64(HMAC-SHA256(consumer secret, id + issued_at)).
//! It proves the identity URL came from Salesforce for our consumer secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use sfbridge_core::secrets::ConsumerSecret;

/// Checks the signature in constant time (`verify_slice`). Standard base64 with padding, as
/// Salesforce sends it, not base64url.
pub(crate) fn verify_signature(secret: &ConsumerSecret, id: &str, issued_at: &str, signature: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return false;
    };
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // From reference/salesforce-samples/oauth-token-response-authorization-code-with-refresh.json,
    // signed with the published test secret.
    const ID: &str = "https://login.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC";
    const ISSUED_AT: &str = "1767225600456";
    const SIGNATURE: &str = "i7bZLAOhFfKNJcdMgfr3sR4EciMnwbIC9BM1hSJ7emg=";

    #[test]
    fn accepts_salesforce_test_vector() {
        let secret = ConsumerSecret::new("TEST-CONSUMER-SECRET-1234567890");
        assert!(verify_signature(&secret, ID, ISSUED_AT, SIGNATURE));
    }

    #[test]
    fn rejects_any_change() {
        let secret = ConsumerSecret::new("TEST-CONSUMER-SECRET-1234567890");
        assert!(!verify_signature(&ConsumerSecret::new("other"), ID, ISSUED_AT, SIGNATURE));
        assert!(!verify_signature(&secret, &ID.replace("00DB", "00DC"), ISSUED_AT, SIGNATURE));
        assert!(!verify_signature(&secret, ID, "1767225600457", SIGNATURE));
        assert!(!verify_signature(&secret, ID, ISSUED_AT, "i7bZLAOhFfKNJcdMgfr3sR4EciMnwbIC9BM1hSJ7emh="));
        assert!(!verify_signature(&secret, ID, ISSUED_AT, "not base64!"));
        assert!(!verify_signature(&secret, ID, ISSUED_AT, ""));
    }
}
