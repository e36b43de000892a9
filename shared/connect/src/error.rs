use sfbridge_core::cipher::CipherError;
use sfbridge_core::credentials::CredentialsError;
use sfbridge_core::paging::InvalidPage;
use sfbridge_salesforce::OAuthFailure;
use sfbridge_core::store::StoreError;

/// How a connect operation failed, in the terms its HTTP boundary maps to a status.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The request itself is wrong (400): the message says how.
    #[error("{0}")]
    Invalid(String),
    /// There is nothing at that name (404).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The request conflicts with the tenant's state (409), e.g. no credentials saved yet.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Salesforce refused or failed.
    #[error(transparent)]
    Salesforce(OAuthFailure),
    /// Storage or the key service is unavailable (503, retry).
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data (500). The detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ConnectError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Conflict {
                code: "concurrent_change",
                message: "The tenant's connection changed while this request ran. Retry the request.".into(),
            },
            StoreError::Unavailable(e) => Self::Unavailable(e.to_string()),
            StoreError::Corrupt(why) => Self::Internal(why),
        }
    }
}

impl From<CipherError> for ConnectError {
    fn from(e: CipherError) -> Self {
        match e {
            CipherError::Mismatch => Self::Internal(e.to_string()),
            CipherError::Unavailable(why) => Self::Unavailable(why),
        }
    }
}

impl From<CredentialsError> for ConnectError {
    fn from(e: CredentialsError) -> Self {
        match e {
            CredentialsError::Store(e) => e.into(),
            CredentialsError::Cipher(e) => e.into(),
            CredentialsError::Malformed(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<InvalidPage> for ConnectError {
    fn from(e: InvalidPage) -> Self {
        Self::Invalid(e.0)
    }
}

impl From<OAuthFailure> for ConnectError {
    fn from(e: OAuthFailure) -> Self {
        Self::Salesforce(e)
    }
}
