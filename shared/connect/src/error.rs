use sfbridge_core::cipher::CipherError;
use sfbridge_core::error::Cause;
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
    /// A list's `limit` or `cursor` is wrong (400, `invalid_limit` or `invalid_cursor`).
    #[error(transparent)]
    InvalidPage(InvalidPage),
    /// There is nothing at that name (404).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The request conflicts with the tenant's state (409), e.g. no credentials saved yet.
    #[error("{message}")]
    Conflict { code: ConflictCode, message: String },
    /// Salesforce refused or failed.
    #[error(transparent)]
    Salesforce(OAuthFailure),
    /// Storage or the key service is unavailable (503, retry).
    #[error("a backing service is unavailable")]
    Unavailable(#[source] Cause),
    /// A bug or corrupt data (500). The detail is logged, never returned.
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// Why a request conflicts with the tenant's state; callers branch on it (a PATCH retries a
/// concurrent change) and the API returns [`ConflictCode::as_str`] as the error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictCode {
    /// Another request changed the same record first; retrying the request is safe.
    ConcurrentChange,
    /// The request named a `version` that is no longer current.
    VersionConflict,
    /// Connecting needs saved credentials first.
    CredentialsMissing,
    /// Two webhook secrets are active already.
    TooManySecrets,
    /// The tenant has no Salesforce connection, so what needs one would be skipped for good.
    NotConnected,
    /// The pending trigger was triggered already: nothing is published again.
    AlreadyTriggered,
    /// The pending trigger was dismissed.
    AlreadyDismissed,
    /// Another request is triggering the pending trigger right now.
    TriggerInProgress,
}

impl ConflictCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConcurrentChange => "concurrent_change",
            Self::VersionConflict => "version_conflict",
            Self::CredentialsMissing => "credentials_missing",
            Self::TooManySecrets => "too_many_secrets",
            Self::NotConnected => "not_connected",
            Self::AlreadyTriggered => "already_triggered",
            Self::AlreadyDismissed => "already_dismissed",
            Self::TriggerInProgress => "trigger_in_progress",
        }
    }
}

impl From<StoreError> for ConnectError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Conflict {
                code: ConflictCode::ConcurrentChange,
                message: "The tenant's connection changed while this request ran. Retry the request.".into(),
            },
            StoreError::Unavailable(_) => Self::Unavailable(Cause::new(e)),
            StoreError::Corrupt(_) => Self::Internal(Cause::new(e)),
        }
    }
}

impl From<CipherError> for ConnectError {
    fn from(e: CipherError) -> Self {
        match e {
            CipherError::Mismatch => Self::Internal(Cause::new(e)),
            CipherError::Unavailable(_) => Self::Unavailable(Cause::new(e)),
        }
    }
}

impl From<CredentialsError> for ConnectError {
    fn from(e: CredentialsError) -> Self {
        match e {
            CredentialsError::Store(e) => e.into(),
            CredentialsError::Cipher(e) => e.into(),
            CredentialsError::Malformed(_) => Self::Internal(Cause::new(e)),
        }
    }
}

impl From<InvalidPage> for ConnectError {
    fn from(e: InvalidPage) -> Self {
        Self::InvalidPage(e)
    }
}

impl From<OAuthFailure> for ConnectError {
    fn from(e: OAuthFailure) -> Self {
        Self::Salesforce(e)
    }
}
