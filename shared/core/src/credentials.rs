//! A tenant's External Client App credentials (consumer key + secret), sealed together in one
//! `CREDENTIALS` item. The admin API seals them; the connect flows and the token refresh open them.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cipher::{open_string, seal_str, Cipher, CipherError, Purpose, SealContext, Sealed};
use crate::domain::{LoginHost, TenantId};
use crate::secrets::ConsumerSecret;
use crate::store::{OAuthFlowKind, Store, StoreError};

/// The opened form of `CredentialsRecord.sealed`.
#[derive(Serialize, Deserialize)]
struct SealedForm {
    consumer_key: String,
    consumer_secret: String,
}

/// The tenant's app, opened for one use.
#[derive(Debug)]
pub struct OpenedCredentials {
    pub consumer_key: String,
    pub consumer_secret: ConsumerSecret,
    pub login_host: LoginHost,
    pub flow: OAuthFlowKind,
}

/// Why the credentials could not be sealed or opened. Never the values themselves.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error("sealed credentials are not the expected JSON")]
    Malformed(#[source] serde_json::Error),
}

/// Seals a key and secret for tenant `t`'s `CREDENTIALS` item.
pub async fn seal_credentials(
    cipher: &dyn Cipher,
    t: &TenantId,
    consumer_key: &str,
    consumer_secret: &ConsumerSecret,
) -> Result<Sealed, CredentialsError> {
    let form = SealedForm { consumer_key: consumer_key.to_owned(), consumer_secret: consumer_secret.expose_secret().to_owned() };
    let plaintext = Zeroizing::new(serde_json::to_string(&form).map_err(CredentialsError::Malformed)?);
    Ok(seal_str(cipher, &SealContext::new(t, Purpose::ConsumerCredentials), &plaintext).await?)
}

/// The tenant's saved credentials, opened; `None` when there are none.
pub async fn open_credentials(store: &Store, cipher: &dyn Cipher, t: &TenantId) -> Result<Option<OpenedCredentials>, CredentialsError> {
    let Some(record) = store.credentials(t).await? else {
        return Ok(None);
    };
    // The context comes from the key we asked for, not from anything stored in the item.
    let json = open_string(cipher, &SealContext::new(t, Purpose::ConsumerCredentials), &record.sealed).await?;
    let SealedForm { consumer_key, consumer_secret } = serde_json::from_str(&json).map_err(CredentialsError::Malformed)?;
    Ok(Some(OpenedCredentials {
        consumer_key,
        consumer_secret: ConsumerSecret::new(consumer_secret),
        login_host: record.login_host,
        flow: record.flow,
    }))
}
