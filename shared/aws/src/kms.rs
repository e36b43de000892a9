//! KMS adapter: `Encrypt`/`Decrypt` with the context as `EncryptionContext`. Our secrets (tokens,
//! consumer secrets) are far below KMS's 4 KB `Encrypt` limit, so no data keys are needed and every
//! open is an auditable KMS call.

use async_trait::async_trait;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;

use sfbridge_core::cipher::{Cipher, CipherError, SealContext, Sealed};

#[derive(Debug, Clone)]
pub struct KmsCipher {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsCipher {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }
}

#[async_trait]
impl Cipher for KmsCipher {
    async fn seal(&self, context: &SealContext, plaintext: &[u8]) -> Result<Sealed, CipherError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(context.as_map()))
            .send()
            .await
            .map_err(|e| CipherError::Unavailable(describe(&e)))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| CipherError::Unavailable("KMS Encrypt returned no ciphertext".into()))?;
        Ok(Sealed::from_bytes(blob.into_inner()))
    }

    async fn open(
        &self,
        context: &SealContext,
        sealed: &Sealed,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CipherError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.as_bytes()))
            .set_encryption_context(Some(context.as_map()))
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("InvalidCiphertextException") | Some("IncorrectKeyException") => CipherError::Mismatch,
                _ => CipherError::Unavailable(describe(&e)),
            })?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| CipherError::Unavailable("KMS Decrypt returned no plaintext".into()))?;
        Ok(zeroize::Zeroizing::new(plaintext.into_inner()))
    }
}

/// The error code and message only: SDK errors never contain the plaintext, but keep the
/// description short and stable for logs.
fn describe<E: ProvideErrorMetadata>(e: &E) -> String {
    format!("{}: {}", e.code().unwrap_or("unknown"), e.message().unwrap_or("no message"))
}
