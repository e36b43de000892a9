//! The `Cipher` port: seal and open small secrets bound to an encryption context.
//!
//! The context names the slot a ciphertext belongs to (`tenant_id` + `purpose`). It is rebuilt by
//! the reader from the key it asked the store for, never read from beside the ciphertext, so a
//! sealed value copied into another tenant's item does not open. It holds no secret: KMS logs it
//! in CloudTrail and key policies can condition on it.

mod local;

use std::collections::HashMap;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub use local::LocalCipher;

use crate::domain::TenantId;

/// What a sealed value is for. Part of the encryption context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    ConsumerCredentials,
    RefreshToken,
    AccessToken,
    PkceVerifier,
    WebhookSecret,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsumerCredentials => "consumer_credentials",
            Self::RefreshToken => "refresh_token",
            Self::AccessToken => "access_token",
            Self::PkceVerifier => "pkce_verifier",
            Self::WebhookSecret => "webhook_secret",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext {
    pub tenant_id: TenantId,
    pub purpose: Purpose,
}

impl SealContext {
    pub fn new(tenant_id: &TenantId, purpose: Purpose) -> Self {
        Self { tenant_id: tenant_id.clone(), purpose }
    }

    /// The context as KMS `EncryptionContext`.
    pub fn as_map(&self) -> HashMap<String, String> {
        HashMap::from([
            ("tenant_id".to_owned(), self.tenant_id.to_string()),
            ("purpose".to_owned(), self.purpose.as_str().to_owned()),
        ])
    }

    /// The context as AES-GCM associated data: a fixed, unambiguous encoding (tenant ids cannot
    /// contain `|` or `=`).
    pub(crate) fn as_associated_data(&self) -> Vec<u8> {
        format!("sfbridge/v1|tenant_id={}|purpose={}", self.tenant_id, self.purpose.as_str()).into_bytes()
    }
}

/// Ciphertext as stored: opaque bytes, base64 in items.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sealed(Vec<u8>);

impl Sealed {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl TryFrom<String> for Sealed {
    type Error = base64::DecodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        base64::engine::general_purpose::STANDARD.decode(value).map(Self)
    }
}

impl From<Sealed> for String {
    fn from(value: Sealed) -> Self {
        base64::engine::general_purpose::STANDARD.encode(value.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// Wrong context, wrong key or tampered ciphertext: the value is not what this slot holds.
    #[error("sealed value does not open under this context (wrong tenant, purpose or key, or tampered)")]
    Mismatch,
    /// The key service failed or is unreachable; worth retrying.
    #[error("key service unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Cipher: Send + Sync + std::fmt::Debug {
    async fn seal(&self, context: &SealContext, plaintext: &[u8]) -> Result<Sealed, CipherError>;
    /// The plaintext is returned in a zeroizing buffer; wrap it in a secret type at once.
    async fn open(
        &self,
        context: &SealContext,
        sealed: &Sealed,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CipherError>;
}

/// Seal and open UTF-8 secrets.
pub async fn seal_str(cipher: &dyn Cipher, context: &SealContext, value: &str) -> Result<Sealed, CipherError> {
    cipher.seal(context, value.as_bytes()).await
}

pub async fn open_string(
    cipher: &dyn Cipher,
    context: &SealContext,
    sealed: &Sealed,
) -> Result<zeroize::Zeroizing<String>, CipherError> {
    let bytes = cipher.open(context, sealed).await?;
    String::from_utf8(bytes.to_vec())
        .map(zeroize::Zeroizing::new)
        .map_err(|_| CipherError::Mismatch)
}
