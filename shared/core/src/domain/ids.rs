use std::fmt;

use rand::RngCore;

use super::InvalidValue;

/// 32 random bytes as unpadded base64url: 43 characters, 256 bits from the OS CSPRNG.
pub(crate) fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `value` if it has the shape of a [`random_token`], else `refusal`.
fn parse_token(value: &str, refusal: &'static str) -> Result<String, InvalidValue> {
    let token_shaped = value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if token_shaped {
        Ok(value.to_owned())
    } else {
        Err(InvalidValue::new(refusal))
    }
}

string_newtype! {
    /// One connect attempt. Public (it is in the connect URL and the opener polls it), so it only
    /// reveals a status, and it is unguessable so that status cannot be enumerated.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct FlowId;
}

impl FlowId {
    pub fn random() -> Self {
        Self(random_token())
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        parse_token(value, "flow id is not one we issued: start again from the connect URL").map(Self)
    }
}

/// The OAuth `state`: a one-time CSRF token that is also the key of the stored flow state.
/// Not a secret in the cryptographic sense (it travels in URLs) but unguessable and single-use.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthState(String);

impl OAuthState {
    pub fn random() -> Self {
        Self(random_token())
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        parse_token(value, "the sign-in response carries a state we never issued").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OAuthState(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_distinct_and_parse_back() {
        let (a, b) = (FlowId::random(), FlowId::random());
        assert_ne!(a, b);
        assert_eq!(FlowId::parse(a.as_str()), Ok(a));
        assert!(OAuthState::parse(OAuthState::random().as_str()).is_ok());
    }

    #[test]
    fn rejects_foreign_shapes() {
        for bad in ["", "abc", "../../etc/passwd", &"a".repeat(44), &format!("{}#", "a".repeat(42))] {
            assert!(FlowId::parse(bad).is_err());
            assert!(OAuthState::parse(bad).is_err());
        }
    }
}
