//! A usable Salesforce session (access token + instance URL) for a tenant, refreshed safely.
//!
//! Salesforce gives no expiry for access tokens, so a session is refreshed when a call comes back
//! 401 `INVALID_SESSION_ID`. A client-credentials connection also knows when its token expires
//! (learnt by introspection when the token was issued, or a conservative default:
//! [`crate::expiry`]), and [`Sessions::current`] renews it through the same lease before handing
//! out a token within [`crate::expiry::RENEWAL_MARGIN`] of that time, so a batch does not start on
//! a token about to die; if that renewal fails transiently, the token is used while it lasts and
//! the 401 path remains. Refresh-token connections are renewed on a 401 only.
//!
//! With refresh-token rotation, two workers refreshing with the same token would make Salesforce
//! revoke the whole token family, so exactly one refresher runs per connection across all Lambdas:
//!
//! 1. the caller says which session went stale;
//! 2. if the stored token is a newer one, someone already refreshed: use theirs;
//! 3. otherwise claim a lease on the connection item with a version-checked write;
//! 4. the lease holder refreshes, and writes the new tokens (a rotated refresh token first of
//!    all) and clears the lease in one version-checked write, before anyone uses the new token;
//! 5. everyone else waits, re-reading, until the version moves or the lease expires.
//!
//! `invalid_grant` and other permanent refusals mark the connection `reauth_required` (audited
//! once, by the lease holder). Transient failures (network, 5xx, a concurrent-refresh refusal)
//! release the lease and never mark anything.
//!
//! The lease holder counts each refresh it runs, `TokenRefreshes` or `TokenRefreshFailures`, into
//! the current invocation's metrics line ([`sfbridge_core::metrics`]); waiters that use another worker's
//! token count nothing, so one refresh counts once. Today only activity sync refreshes (its line
//! carries the counts); a refresh outside a measured invocation is not counted.
//!
//! The lease holder also notes the outcome in the tenant's health record (best-effort, see
//! [`sfbridge_core::store::Store::note_health`]): the time of a successful refresh, or the refusal as the
//! connection's last error in the words the popup uses for it (Salesforce's code and the admin's
//! next step, never a token). Transient refusals are noted as retryable; a refresh that fails on
//! our side (storage, key service) is not the connection's health and is only logged.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use std::sync::Arc;

use async_trait::async_trait;
use sfbridge_core::audit::AuditLog;
use sfbridge_core::cipher::{open_string, seal_str, Cipher, Purpose, SealContext};
use sfbridge_core::clock::Clock;
use sfbridge_core::credentials::{open_credentials, CredentialsError, OpenedCredentials};
use sfbridge_core::domain::TenantId;
use sfbridge_core::error::Cause;
use sfbridge_core::metrics::{self, Counter};
use sfbridge_core::secrets::{AccessToken, RefreshToken};
use sfbridge_core::store::{audit_kind, ConnectionRecord, ConnectionStatus, HealthArea, HealthError, HealthRecord, Store, StoreError};

use crate::expiry;
use crate::rest::{ErrorClass, Reply, RestError, Session};
use crate::{OAuthFailure, SalesforceOAuth};

/// Longer than a refresh can take (the token call times out after 10 s, a client-credentials
/// renewal's introspection after 5 s more), short enough that a crashed holder delays the others
/// only briefly.
const LEASE: Duration = Duration::seconds(30);
/// How often waiters re-read the connection, and for how long at most.
const WAIT_STEP: StdDuration = StdDuration::from_millis(50);
const WAIT_LIMIT: StdDuration = StdDuration::from_secs(35);

/// Where a refresh gets the tenant's External Client App credentials (the consumer key and
/// secret the token endpoint wants). A port, so this crate needs nothing of the feature that
/// saves them; [`StoredAppCredentials`] opens the stored ones.
#[async_trait]
pub trait AppCredentials: Send + Sync + std::fmt::Debug {
    async fn app_credentials(&self, t: &TenantId) -> Result<Option<OpenedCredentials>, CredentialsError>;
}

/// The credentials as the admin API stored them: the `CREDENTIALS` item, opened with the cipher.
#[derive(Debug, Clone)]
pub struct StoredAppCredentials {
    store: Store,
    cipher: Arc<dyn Cipher>,
}

impl StoredAppCredentials {
    pub fn new(store: Store, cipher: Arc<dyn Cipher>) -> Self {
        Self { store, cipher }
    }
}

#[async_trait]
impl AppCredentials for StoredAppCredentials {
    async fn app_credentials(&self, t: &TenantId) -> Result<Option<OpenedCredentials>, CredentialsError> {
        open_credentials(&self.store, self.cipher.as_ref(), t).await
    }
}

/// Usable sessions for every tenant of this process: built once (per Lambda cold start) by the
/// services that call Salesforce with a tenant's tokens.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Store,
    cipher: Arc<dyn Cipher>,
    clock: Arc<dyn Clock>,
    oauth: SalesforceOAuth,
    credentials: Arc<dyn AppCredentials>,
    audit: AuditLog,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    /// Salesforce refused the tokens: an admin must reconnect. Park the work until then.
    #[error("tenant {0}'s Salesforce connection needs an admin to reconnect")]
    ReauthRequired(TenantId),
    /// The tenant never connected, or an admin disconnected it: there is nowhere to write.
    #[error("tenant {0} has no Salesforce connection")]
    NotConnected(TenantId),
    /// Worth retrying later (token endpoint down, storage unavailable, lease not released in time).
    #[error("temporarily unable to get a Salesforce session")]
    Transient(#[source] Cause),
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        Self::Transient(Cause::new(e))
    }
}


/// Why a Salesforce call did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Rest(#[from] RestError),
}

impl Sessions {
    pub fn new(
        store: Store,
        cipher: Arc<dyn Cipher>,
        clock: Arc<dyn Clock>,
        oauth: SalesforceOAuth,
        credentials: Arc<dyn AppCredentials>,
    ) -> Self {
        let audit = AuditLog::new(store.clone(), clock.clone());
        Self { store, cipher, clock, oauth, credentials, audit }
    }

    /// Runs one REST call with the tenant's session. On 401 `INVALID_SESSION_ID` it gets a newer
    /// session (refreshing it if nobody else has) and replays the call once; `session` is updated
    /// so the caller's next calls use the new token.
    pub async fn with_session<T, F, Fut>(&self, t: &TenantId, session: &mut Session, call: F) -> Result<Reply<T>, CallError>
    where
        F: Fn(Session) -> Fut,
        Fut: std::future::Future<Output = Result<Reply<T>, RestError>>,
    {
        match call(session.clone()).await {
            Err(e) if e.class == ErrorClass::RefreshSession => {
                *session = self.refreshed(t, session).await?;
                Ok(call(session.clone()).await?)
            }
            other => Ok(other?),
        }
    }

    /// The stored session; for a client-credentials connection whose token is within
    /// [`expiry::RENEWAL_MARGIN`] of its expiry, a renewed one (one renewer at a time, as for a
    /// 401). A renewal that fails transiently leaves the stored token in use until it expires.
    pub async fn current(&self, t: &TenantId) -> Result<Session, SessionError> {
        let record = usable_connection(self, t).await?;
        let now = self.clock.now();
        if !expiry::renewal_due(record.access_token_expires_at, now) {
            return open_session(self, t, &record).await;
        }
        match refreshed_session(self, t, record.access_token_issued_at, Why::Expiring).await {
            Err(SessionError::Transient(why)) if record.access_token_expires_at.is_some_and(|at| now < at) => {
                tracing::warn!(tenant_id = %t, error = %why, "could not renew the Salesforce token early; using it while it lasts");
                open_session(self, t, &record).await
            }
            renewed => renewed,
        }
    }

    /// A session newer than `stale`: someone else's fresh one, or one this call refreshed.
    pub async fn refreshed(&self, t: &TenantId, stale: &Session) -> Result<Session, SessionError> {
        refreshed_session(self, t, stale.issued_at, Why::Rejected).await
    }
}

/// Why a session is refreshed (for the logs).
#[derive(Debug, Clone, Copy)]
enum Why {
    /// Salesforce answered 401 `INVALID_SESSION_ID`.
    Rejected,
    /// A client-credentials token is within the renewal margin of its expiry.
    Expiring,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Rejected => "rejected",
            Why::Expiring => "expiring",
        }
    }
}

/// A session whose token was issued at another time than `stale_issued_at`'s.
async fn refreshed_session(
    ctx: &Sessions,
    t: &TenantId,
    stale_issued_at: Option<DateTime<Utc>>,
    why: Why,
) -> Result<Session, SessionError> {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        let record = usable_connection(ctx, t).await?;
        let now = ctx.clock.now();
        let leased = record.refresh_lease_until.is_some_and(|until| until > now);
        if record.access_token_issued_at != stale_issued_at && !leased {
            return open_session(ctx, t, &record).await;
        }
        if !leased {
            let claimed = ConnectionRecord {
                refresh_lease_until: Some(now + LEASE),
                version: record.version + 1,
                ..record.clone()
            };
            match ctx.store.save_connection(t, &claimed, Some(record.version)).await {
                Ok(()) => {
                    let refreshed = refresh_holding_lease(ctx, t, claimed, why).await;
                    metrics::add(if refreshed.is_ok() { Counter::TokenRefreshes } else { Counter::TokenRefreshFailures }, 1);
                    return refreshed;
                }
                Err(StoreError::Conflict) => {} // another worker won the claim: wait for it
                Err(e) => return Err(e.into()),
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(SessionError::Transient("another worker's token refresh did not finish in time".into()));
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
}

async fn usable_connection(ctx: &Sessions, t: &TenantId) -> Result<ConnectionRecord, SessionError> {
    match ctx.store.connection(t).await? {
        Some(record) if record.status == ConnectionStatus::Connected => Ok(record),
        Some(record) if record.status == ConnectionStatus::ReauthRequired => Err(SessionError::ReauthRequired(t.clone())),
        _ => Err(SessionError::NotConnected(t.clone())),
    }
}

async fn open_session(ctx: &Sessions, t: &TenantId, record: &ConnectionRecord) -> Result<Session, SessionError> {
    let sealed = record.access_token.as_ref().ok_or_else(|| SessionError::ReauthRequired(t.clone()))?;
    let token = open_string(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::AccessToken), sealed)
        .await
        .map_err(|e| SessionError::Transient(Cause::context("opening the access token", e)))?;
    Ok(Session {
        access_token: AccessToken::new(token.as_str()),
        instance_url: record.instance_url.clone(),
        issued_at: record.access_token_issued_at,
    })
}

async fn refresh_holding_lease(ctx: &Sessions, t: &TenantId, held: ConnectionRecord, why: Why) -> Result<Session, SessionError> {
    match refresh_tokens(ctx, t, &held).await {
        Ok(refreshed) => {
            // One write: the rotated refresh token is stored before the new access token is
            // handed to anyone, and the lease is released with it.
            ctx.store.save_connection(t, &refreshed, Some(held.version)).await?;
            tracing::info!(
                tenant_id = %t,
                version = refreshed.version,
                reason = why.as_str(),
                expires_at = ?refreshed.access_token_expires_at,
                "Salesforce session refreshed"
            );
            let now = ctx.clock.now();
            let seen = HealthRecord { last_token_refresh_at: Some(now), updated_at: Some(now), ..HealthRecord::default() };
            ctx.store.note_health(t, &seen).await;
            open_session(ctx, t, &refreshed).await
        }
        Err(RefreshFailure::Permanent { code, message }) => {
            let parked = ConnectionRecord {
                status: ConnectionStatus::ReauthRequired,
                refresh_token: None,
                access_token: None,
                access_token_expires_at: None,
                refresh_lease_until: None,
                updated_at: ctx.clock.now(),
                version: held.version + 1,
                ..held.clone()
            };
            ctx.store.save_connection(t, &parked, Some(held.version)).await?;
            tracing::warn!(tenant_id = %t, code = %code, "Salesforce refused the refresh token: reauthorization required");
            note_refresh_error(ctx, t, &code, message, false).await;
            ctx.audit.record(t, audit_kind::REAUTH_REQUIRED, json!({"organization_id": held.organization_id, "reason": code})).await?;
            Err(SessionError::ReauthRequired(t.clone()))
        }
        Err(RefreshFailure::Transient { why, refused }) => {
            let released = ConnectionRecord { refresh_lease_until: None, version: held.version + 1, ..held.clone() };
            if let Err(e) = ctx.store.save_connection(t, &released, Some(held.version)).await {
                tracing::warn!(tenant_id = %t, error = %e, "could not release the refresh lease; it expires on its own");
            }
            // A refusal that only says "another refresh raced you" is not the connection's health.
            if let Some(f) = refused.filter(|f| f.code != "concurrent_refresh") {
                note_refresh_error(ctx, t, &f.code, f.message, true).await;
            }
            Err(SessionError::Transient(why))
        }
    }
}

/// The refresh's failure as the connection's last error (best-effort).
async fn note_refresh_error(ctx: &Sessions, t: &TenantId, code: &str, message: String, retryable: bool) {
    let now = ctx.clock.now();
    let error = HealthError { area: HealthArea::Oauth, code: code.to_owned(), message, retryable, at: now, resumes_at: None };
    ctx.store.note_health(t, &HealthRecord { last_error: Some(error), updated_at: Some(now), ..HealthRecord::default() }).await;
}

enum RefreshFailure {
    /// The tokens are dead: a stable `code` (audited) and what the admin should do (`message`).
    Permanent { code: String, message: String },
    /// Worth retrying: `why` for the logs; `refused` when it was Salesforce's answer.
    Transient { why: Cause, refused: Option<OAuthFailure> },
}

impl RefreshFailure {
    /// Our own trouble (storage, key service), not Salesforce's answer.
    fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Transient { why: Cause::new(e), refused: None }
    }

    fn from_salesforce(f: OAuthFailure) -> Self {
        if f.retryable {
            Self::Transient { why: Cause::new(f.clone()), refused: Some(f) }
        } else {
            Self::Permanent { code: f.code, message: f.message }
        }
    }
}

async fn refresh_tokens(ctx: &Sessions, t: &TenantId, held: &ConnectionRecord) -> Result<ConnectionRecord, RefreshFailure> {
    let credentials = ctx.credentials.app_credentials(t).await.map_err(RefreshFailure::internal)?.ok_or_else(|| RefreshFailure::Permanent {
        code: "credentials_missing".into(),
        message: format!(
            "The tenant's External Client App credentials were cleared, so the Salesforce session cannot be refreshed. \
             Save them again (PUT /v1/tenants/{t}/credentials) and reconnect in the popup (POST /v1/tenants/{t}/connect)."
        ),
    })?;
    let sealed_refresh = held.refresh_token.as_ref();
    // Before the request, so the expiry kept for a client-credentials token is never late.
    let requested_at = ctx.clock.now();
    let grant = match sealed_refresh {
        Some(sealed) => {
            let refresh = open_string(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::RefreshToken), sealed)
                .await
                .map_err(RefreshFailure::internal)?;
            ctx.oauth
                .refresh(&held.login_host, &credentials.consumer_key, &credentials.consumer_secret, &RefreshToken::new(refresh.as_str()))
                .await
        }
        // Client-credentials connections have no refresh token: ask for a new token.
        None => ctx.oauth.client_credentials(&held.login_host, &credentials.consumer_key, &credentials.consumer_secret).await,
    };
    let grant = grant.map_err(RefreshFailure::from_salesforce)?;
    if grant.organization_id != held.organization_id {
        return Err(RefreshFailure::Permanent {
            code: "org_mismatch".into(),
            message: format!(
                "Salesforce refreshed the session for org {} instead of the connected org {}. Reconnect in the popup \
                 (POST /v1/tenants/{t}/connect), signing in to the org this tenant should sync with.",
                grant.organization_id, held.organization_id
            ),
        });
    }
    // A client-credentials token (no refresh token) is renewed before it expires: learn when.
    let access_token_expires_at = match sealed_refresh {
        Some(_) => None,
        None => Some(expiry::learn_expiry(&ctx.oauth, t, &held.login_host, &credentials, &grant, requested_at).await),
    };
    let access_token = seal_str(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::AccessToken), grant.access_token.expose_secret())
        .await
        .map_err(RefreshFailure::internal)?;
    let refresh_token = match &grant.refresh_token {
        Some(rotated) => Some(
            seal_str(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::RefreshToken), rotated.expose_secret())
                .await
                .map_err(RefreshFailure::internal)?,
        ),
        None => held.refresh_token.clone(),
    };
    Ok(ConnectionRecord {
        access_token: Some(access_token),
        refresh_token,
        access_token_issued_at: Some(grant.issued_at),
        access_token_expires_at,
        // Salesforce may move an org; always keep the latest instance URL.
        instance_url: grant.instance_url,
        refresh_lease_until: None,
        updated_at: ctx.clock.now(),
        version: held.version + 1,
        ..held.clone()
    })
}
