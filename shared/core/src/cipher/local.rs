//! Embedded twin of KMS: AES-256-GCM with the encryption context as associated data, so the
//! same binding rules hold locally. The key comes from `SFBRIDGE_LOCAL_KEY` (base64, 32 bytes) or
//! is generated per process (and then sealed data does not survive a restart, which the local
//! stack's data file handles by storing the key beside it).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use rand::RngCore;

use super::{Cipher, CipherError, SealContext, Sealed};

const NONCE_LEN: usize = 12;
const FORMAT_V1: u8 = 1;

pub struct LocalCipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for LocalCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalCipher(AES-256-GCM)")
    }
}

impl LocalCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { aead: Aes256Gcm::new(key.into()) }
    }

    pub fn random() -> Self {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self::new(&key)
    }

    pub fn generate_key() -> zeroize::Zeroizing<[u8; 32]> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        key
    }
}

#[async_trait]
impl Cipher for LocalCipher {
    async fn seal(&self, context: &SealContext, plaintext: &[u8]) -> Result<Sealed, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = context.as_associated_data();
        let ciphertext = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| CipherError::Unavailable("AES-GCM encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(Sealed::from_bytes(out))
    }

    async fn open(
        &self,
        context: &SealContext,
        sealed: &Sealed,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CipherError> {
        let bytes = sealed.as_bytes();
        let (version, rest) = bytes.split_first().ok_or(CipherError::Mismatch)?;
        if *version != FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(CipherError::Mismatch);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = context.as_associated_data();
        self.aead
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
            .map(zeroize::Zeroizing::new)
            .map_err(|_| CipherError::Mismatch)
    }
}
