use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::ConnectError;
use sfbridge_core::cipher::{open_string, seal_str, Purpose, SealContext};
use sfbridge_core::domain::{InstanceUrl, LoginHost, SalesforceId, TenantId};
use sfbridge_salesforce::rest::ApiUsage;
use sfbridge_salesforce::{OAuthFailure, TokenGrant};
use sfbridge_core::store::{
    audit_kind, ConnectionRecord, ConnectionStatus, CredentialsRecord, HealthArea, HealthError, HealthRecord, OAuthFlowKind,
    UsageReading,
};
use crate::Connector;

/// A connection just established.
#[derive(Debug, Clone, Serialize)]
pub struct Connected {
    pub organization_id: SalesforceId,
    pub user_id: SalesforceId,
    pub username: Option<String>,
    pub instance_url: InstanceUrl,
}

/// Stores a checked grant as the tenant's connection: same org as before (if any), tokens
/// sealed, the replaced refresh token revoked, the change audited. `access_token_expires_at`:
/// when a client-credentials token expires (sfbridge_salesforce::expiry); `None` for a grant with
/// a refresh token.
pub(crate) async fn establish(
    ctx: &Connector,
    t: &TenantId,
    login_host: &LoginHost,
    grant: TokenGrant,
    access_token_expires_at: Option<DateTime<Utc>>,
) -> Result<Connected, ConnectError> {
    let identity = ctx.oauth.identity(&grant).await?;
    let existing = ctx.store.connection(t).await?;
    if let Some(old) = existing.as_ref().filter(|old| old.organization_id != grant.organization_id) {
        // Leave nothing behind at Salesforce for a connection we refuse.
        let token = grant.refresh_token.as_ref().map_or(grant.access_token.expose_secret(), |r| r.expose_secret());
        if let Err(e) = ctx.oauth.revoke(login_host, token).await {
            tracing::warn!(tenant_id = %t, code = %e.code, "could not revoke the refused org's token");
        }
        return Err(ConnectError::Salesforce(OAuthFailure::new(
            "org_mismatch",
            format!(
                "You signed in to Salesforce org {}, but this tenant is connected to org {}. Sign in to org {} \
                 (check you are not in a sandbox or another org's session), or disconnect first to switch orgs.",
                grant.organization_id, old.organization_id, old.organization_id
            ),
            false,
        )));
    }

    let now = ctx.clock.now();
    let refresh_token = match &grant.refresh_token {
        Some(token) => Some(seal_str(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::RefreshToken), token.expose_secret()).await?),
        None => None,
    };
    let access_token =
        seal_str(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::AccessToken), grant.access_token.expose_secret()).await?;
    let record = ConnectionRecord {
        status: ConnectionStatus::Connected,
        organization_id: grant.organization_id.clone(),
        user_id: grant.user_id.clone(),
        username: identity.username.clone(),
        display_name: identity.display_name.clone(),
        instance_url: grant.instance_url.clone(),
        login_host: login_host.clone(),
        refresh_token,
        access_token: Some(access_token),
        access_token_issued_at: Some(grant.issued_at),
        access_token_expires_at,
        scopes: grant.scopes.clone(),
        connected_at: now,
        updated_at: now,
        version: existing.as_ref().map_or(1, |old| old.version + 1),
        refresh_lease_until: None,
    };
    ctx.store.save_connection(t, &record, existing.as_ref().map(|old| old.version)).await?;

    if let Some(old) = &existing {
        revoke_stored_tokens(ctx, t, old).await;
    }
    ctx.audit.record(t,
        audit_kind::CONNECTED,
        json!({
            "organization_id": record.organization_id,
            "user_id": record.user_id,
            "username": record.username,
            "instance_url": record.instance_url,
            "reconnect": existing.is_some(),
        }),
    )
    .await?;
    // Events parked while the tenant had to reconnect go back on the queue now. If the queue is
    // unreachable they stay parked, and the next batch that finds this tenant connected retries.
    if let Err(e) = sfbridge_core::parking::replay_parked(&ctx.store, ctx.activity.as_ref(), t).await {
        tracing::warn!(tenant_id = %t, error = %e, "could not replay parked sync commands yet");
    }
    Ok(Connected {
        organization_id: record.organization_id,
        user_id: record.user_id,
        username: record.username,
        instance_url: record.instance_url,
    })
}

/// Revokes a connection's refresh token (which takes its access tokens with it), or its access
/// token when there is no refresh token. Returns whether Salesforce confirmed.
async fn revoke_stored_tokens(ctx: &Connector, t: &TenantId, connection: &ConnectionRecord) -> bool {
    let (sealed, purpose) = match (&connection.refresh_token, &connection.access_token) {
        (Some(refresh), _) => (refresh, Purpose::RefreshToken),
        (None, Some(access)) => (access, Purpose::AccessToken),
        (None, None) => return true,
    };
    let token = match open_string(ctx.cipher.as_ref(), &SealContext::new(t, purpose), sealed).await {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(tenant_id = %t, error = %e, "could not open the stored token to revoke it");
            return false;
        }
    };
    match ctx.oauth.revoke(&connection.login_host, &token).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(tenant_id = %t, code = %e.code, "revoking the old token at Salesforce failed");
            false
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct CredentialsSummary {
    pub consumer_key: String,
    pub login_url: LoginHost,
    pub flow: OAuthFlowKind,
    pub updated_at: DateTime<Utc>,
}

/// `GET /v1/tenants/{t}/connection`: everything an admin needs to see, no secret or token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub tenant_id: TenantId,
    /// `not_configured`, `credentials_saved`, `connected`, `reauth_required`.
    pub status: &'static str,
    pub credentials: Option<CredentialsSummary>,
    pub organization_id: Option<SalesforceId>,
    pub user_id: Option<SalesforceId>,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub instance_url: Option<InstanceUrl>,
    pub scopes: Vec<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The status both views report.
fn status_of(connection: Option<&ConnectionRecord>, credentials: Option<&CredentialsRecord>) -> &'static str {
    match (connection, credentials) {
        (Some(c), _) if c.status == ConnectionStatus::Connected => "connected",
        (Some(c), _) if c.status == ConnectionStatus::ReauthRequired => "reauth_required",
        (_, Some(_)) => "credentials_saved",
        _ => "not_configured",
    }
}

pub async fn connection_view(ctx: &Connector, t: &TenantId) -> Result<ConnectionView, ConnectError> {
    let credentials = ctx.store.credentials(t).await?;
    let connection = ctx.store.connection(t).await?;
    let status = status_of(connection.as_ref(), credentials.as_ref());
    Ok(ConnectionView {
        tenant_id: t.clone(),
        status,
        credentials: credentials.map(|c| CredentialsSummary {
            consumer_key: c.consumer_key_masked,
            login_url: c.login_host,
            flow: c.flow,
            updated_at: c.updated_at,
        }),
        organization_id: connection.as_ref().map(|c| c.organization_id.clone()),
        user_id: connection.as_ref().map(|c| c.user_id.clone()),
        username: connection.as_ref().and_then(|c| c.username.clone()),
        display_name: connection.as_ref().and_then(|c| c.display_name.clone()),
        instance_url: connection.as_ref().map(|c| c.instance_url.clone()),
        scopes: connection.as_ref().map(|c| c.scopes.clone()).unwrap_or_default(),
        connected_at: connection.as_ref().map(|c| c.connected_at),
        updated_at: connection.as_ref().map(|c| c.updated_at),
    })
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct DisconnectResult {
    pub tenant_id: TenantId,
    pub status: &'static str,
    pub organization_id: SalesforceId,
    /// Whether Salesforce confirmed the revocation. The tokens are forgotten either way.
    pub revoked_at_salesforce: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `DELETE /v1/tenants/{t}/connection`: revoke at Salesforce, then forget the tokens.
pub async fn disconnect(ctx: &Connector, t: &TenantId) -> Result<DisconnectResult, ConnectError> {
    let Some(connection) = ctx.store.connection(t).await? else {
        return Err(ConnectError::NotFound { code: "not_connected", message: format!("tenant {t} has no Salesforce connection") });
    };
    let revoked = revoke_stored_tokens(ctx, t, &connection).await;
    ctx.store.delete_connection(t, connection.version).await?;
    ctx.audit.record(t,
        audit_kind::DISCONNECTED,
        json!({"organization_id": connection.organization_id, "revoked_at_salesforce": revoked}),
    )
    .await?;
    Ok(DisconnectResult {
        tenant_id: t.clone(),
        status: "disconnected",
        organization_id: connection.organization_id,
        revoked_at_salesforce: revoked,
        warning: (!revoked).then(|| {
            "Salesforce did not confirm the revocation; the tokens are forgotten here. To be sure, revoke the app's \
             access in Salesforce Setup (Connected Apps OAuth Usage)."
                .to_owned()
        }),
    })
}

/// How long a usage reading over the budget counts as the org's current state for the verdict.
/// Salesforce counts requests over a rolling 24 hours, so a reading stays roughly true for a
/// while; sync takes a new one with its next call (at most 10 minutes after a deferral).
const USAGE_READING_CURRENT: Duration = Duration::hours(1);

/// `GET /v1/tenants/{t}/health`: is the tenant's Salesforce connection working, and if not, what
/// should the admin do. Built from the connection and settings records and the health record the
/// activity sync and the token refresh keep (`TENANT#{t}` / `HEALTH`); no secret or token.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "Whether the tenant's Salesforce connection works and, if not, what the admin should do; no secret or token.")
)]
#[derive(Debug, Serialize)]
pub struct HealthView {
    pub tenant_id: TenantId,
    /// As in the connection view: `not_configured`, `credentials_saved`, `connected`, `reauth_required`.
    pub status: &'static str,
    /// `healthy`, `not_configured`, `not_connected`, `reauth_required`, `over_budget` or `degraded`.
    pub verdict: &'static str,
    pub healthy: bool,
    /// One or two sentences for the admin: what is wrong and what to do.
    pub summary: String,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_token_refresh_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The latest problem seen, current or not (compare `at` with the times above).
    pub last_error: Option<HealthError>,
    pub api_usage: Option<ApiUsageView>,
    /// The share of the org's daily API requests sync may use (the tenant's settings).
    pub api_budget_percent: u8,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct ApiUsageView {
    pub used: u64,
    pub max: u64,
    /// `used / max` in percent, two decimals.
    pub percent: f64,
    pub at: DateTime<Utc>,
}

impl From<UsageReading> for ApiUsageView {
    fn from(r: UsageReading) -> Self {
        let percent = (ApiUsage { used: r.used, max: r.max }.percent() * 100.0).round() / 100.0;
        Self { used: r.used, max: r.max, percent, at: r.at }
    }
}

pub async fn health_view(ctx: &Connector, t: &TenantId) -> Result<HealthView, ConnectError> {
    let credentials = ctx.store.credentials(t).await?;
    let connection = ctx.store.connection(t).await?;
    let settings = ctx.store.settings(t).await?.map(|r| r.settings).unwrap_or_default();
    let health = ctx.store.health(t).await?.unwrap_or_default();
    let status = status_of(connection.as_ref(), credentials.as_ref());
    let connected_at = connection.as_ref().map(|c| c.connected_at);
    let has_credentials = credentials.is_some();
    let (verdict, summary) =
        verdict(t, status, has_credentials, connected_at, &health, settings.api_budget_percent, ctx.clock.now());
    Ok(HealthView {
        tenant_id: t.clone(),
        status,
        verdict,
        healthy: verdict == "healthy",
        summary,
        connected_at,
        last_token_refresh_at: health.last_token_refresh_at,
        last_sync_at: health.last_sync_at,
        last_error: health.last_error,
        api_usage: health.api_usage.map(ApiUsageView::from),
        api_budget_percent: settings.api_budget_percent,
    })
}

/// The verdict and what to tell the admin. For a connected tenant, in order: a recent usage
/// reading at or over the budget (sync is deferring), an error no older than the connection and
/// than the latest success in its area (a sync that reached Salesforce; for token errors also a
/// refresh), else healthy.
fn verdict(
    t: &TenantId,
    status: &'static str,
    has_credentials: bool,
    connected_at: Option<DateTime<Utc>>,
    health: &HealthRecord,
    budget_percent: u8,
    now: DateTime<Utc>,
) -> (&'static str, String) {
    let connect = format!("POST /v1/tenants/{t}/connect");
    match status {
        "not_configured" => (
            "not_configured",
            format!(
                "No Salesforce app credentials are saved for this tenant. Save the External Client App's consumer key \
                 and secret (PUT /v1/tenants/{t}/credentials), then connect in the popup ({connect})."
            ),
        ),
        "credentials_saved" => (
            "not_connected",
            format!("The app credentials are saved but no Salesforce org is connected. Connect in the popup ({connect})."),
        ),
        "reauth_required" => {
            // The details are in `last_error`; the summary names the cause and the way out.
            let cause = health
                .last_error
                .as_ref()
                .filter(|e| e.area == HealthArea::Oauth && !e.retryable)
                .map(|e| format!(" ({})", e.code))
                .unwrap_or_default();
            let first = if has_credentials {
                String::new()
            } else {
                format!("save the app credentials again (PUT /v1/tenants/{t}/credentials), then ")
            };
            (
                "reauth_required",
                format!(
                    "reauth_required: Salesforce no longer accepts this tenant's tokens{cause}. An admin must {first}reconnect \
                     in the popup ({connect}); activity is held meanwhile and syncs after reconnecting."
                ),
            )
        }
        _ => {
            let reading = health.api_usage.filter(|r| now - r.at < USAGE_READING_CURRENT);
            if let Some(r) = reading.filter(|r| ApiUsage { used: r.used, max: r.max }.percent() >= f64::from(budget_percent)) {
                let usage = ApiUsageView::from(r);
                return (
                    "over_budget",
                    format!(
                        "The org has used {:.1}% of its daily API requests ({}/{}), at or over this tenant's sync budget \
                         of {budget_percent}%: sync defers activity until usage falls below it (Salesforce counts a rolling \
                         24 hours).{} To let sync use more, raise api_budget_percent in the settings.",
                        usage.percent,
                        usage.used,
                        usage.max,
                        resuming(health.last_error.as_ref(), now)
                    ),
                );
            }
            if let Some(e) = health.last_error.as_ref().filter(|e| is_current(e, connected_at, health)) {
                let next = match (e.area, e.retryable) {
                    (HealthArea::Budget, _) => {
                        format!("Sync retries on its own once usage falls below the budget.{}", resuming(Some(e), now))
                    }
                    (HealthArea::SalesforceApi, true) if e.code == DAILY_LIMIT_CODE && e.message.contains("TotalRequests") => {
                        format!(
                            "The org is over its daily API request allocation, which all of its integrations share \
                             (Salesforce counts a rolling 24 hours).{} Activity waits and syncs once Salesforce accepts \
                             calls again; nothing is lost. To resume sooner, lower the org's other API use or raise its \
                             allocation with Salesforce.",
                            resuming(Some(e), now)
                        )
                    }
                    (HealthArea::Oauth, true) => {
                        "Sync retries the token refresh on its own; nothing to do unless this persists.".to_owned()
                    }
                    // A refusal the connection outlived only by a race with a reconnect.
                    (HealthArea::Oauth, false) => format!("If sync keeps failing, reconnect in the popup ({connect})."),
                    (_, true) => format!(
                        "Sync retries on its own.{} If this persists, check Salesforce's status and the org's API limits.",
                        resuming(Some(e), now)
                    ),
                    (_, false) => format!(
                        "The event was not synced and is held as a dead letter: fix the cause in Salesforce (or the \
                         field mapping), then replay it (POST /v1/tenants/{t}/dead-letters/replay). GET \
                         /v1/tenants/{t}/dead-letters lists the events held."
                    ),
                };
                return ("degraded", format!("{} {next}", sentence(&e.message)));
            }
            let summary = match health.last_sync_at {
                Some(at) => format!("Connected; sync last reached Salesforce at {}.", at.format("%Y-%m-%dT%H:%M:%SZ")),
                None => "Connected; no activity has been synced yet.".to_owned(),
            };
            ("healthy", summary)
        }
    }
}

/// Salesforce's error code for both request limits (the daily allocation says `TotalRequests`).
const DAILY_LIMIT_CODE: &str = "REQUEST_LIMIT_EXCEEDED";

/// " Deferred activity is tried again at …." when the error held activity back and that time is
/// still ahead; empty otherwise.
fn resuming(e: Option<&HealthError>, now: DateTime<Utc>) -> String {
    match e.and_then(|e| e.resumes_at).filter(|at| *at > now) {
        Some(at) => format!(" Deferred activity is tried again at {}.", at.format("%Y-%m-%dT%H:%M:%SZ")),
        None => String::new(),
    }
}

/// `text` ending with a full stop, so another sentence can follow.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?', '…']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

/// Whether an error still describes the connection: no older than the connection itself, nor
/// than the latest success in its area.
fn is_current(e: &HealthError, connected_at: Option<DateTime<Utc>>, health: &HealthRecord) -> bool {
    let latest_success = match e.area {
        HealthArea::Oauth => health.last_sync_at.max(health.last_token_refresh_at),
        HealthArea::SalesforceApi | HealthArea::Budget => health.last_sync_at,
    };
    connected_at.is_none_or(|c| e.at >= c) && latest_success.is_none_or(|s| e.at >= s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t() -> TenantId {
        TenantId::parse("team_42").unwrap()
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(minutes)
    }

    fn error(area: HealthArea, retryable: bool, minutes: i64) -> HealthError {
        HealthError { area, code: "X".into(), message: "Something broke".into(), retryable, at: at(minutes), resumes_at: None }
    }

    fn connected(health: &HealthRecord, now: i64) -> (&'static str, String) {
        verdict(&t(), "connected", true, Some(at(0)), health, 80, at(now))
    }

    #[test]
    fn errors_count_until_a_later_success_in_their_area() {
        let api = error(HealthArea::SalesforceApi, false, 5);
        // Same batch as the last sync (same time): current. A later sync: history.
        let same_batch = HealthRecord { last_sync_at: Some(at(5)), last_error: Some(api.clone()), ..HealthRecord::default() };
        let (verdict, summary) = connected(&same_batch, 6);
        assert_eq!(verdict, "degraded");
        assert_eq!(summary.split(". ").next(), Some("Something broke"), "{summary}");
        assert!(summary.contains("POST /v1/tenants/team_42/dead-letters/replay"), "{summary}");
        let later = HealthRecord { last_sync_at: Some(at(6)), ..same_batch.clone() };
        assert_eq!(connected(&later, 7).0, "healthy");
        // A refresh clears a token error, not an API error.
        let refreshed = HealthRecord { last_token_refresh_at: Some(at(6)), ..same_batch };
        assert_eq!(connected(&refreshed, 7).0, "degraded");
        let oauth = HealthRecord {
            last_token_refresh_at: Some(at(6)),
            last_error: Some(error(HealthArea::Oauth, true, 5)),
            ..HealthRecord::default()
        };
        assert_eq!(connected(&oauth, 7).0, "healthy");
        // An error from before the (re)connection is history.
        let before = HealthRecord { last_error: Some(error(HealthArea::Oauth, false, -1)), ..HealthRecord::default() };
        assert_eq!(connected(&before, 7).0, "healthy");
    }

    #[test]
    fn a_reading_over_the_budget_counts_for_an_hour() {
        let over = HealthRecord { api_usage: Some(UsageReading { used: 81, max: 100, at: at(0) }), ..HealthRecord::default() };
        assert_eq!(connected(&over, 59).0, "over_budget");
        assert_eq!(connected(&over, 60).0, "healthy");
        let under = HealthRecord { api_usage: Some(UsageReading { used: 79, max: 100, at: at(0) }), ..HealthRecord::default() };
        assert_eq!(connected(&under, 1).0, "healthy");
        // No allocation reported reads as full, like the sync's guard.
        let zero = HealthRecord { api_usage: Some(UsageReading { used: 0, max: 0, at: at(0) }), ..HealthRecord::default() };
        assert_eq!(connected(&zero, 1).0, "over_budget");
    }

    #[test]
    fn held_activity_says_when_it_is_tried_again_while_that_is_ahead() {
        let over_limit = HealthError {
            code: "REQUEST_LIMIT_EXCEEDED".into(),
            message: "Salesforce: REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.".into(),
            resumes_at: Some(at(20)),
            ..error(HealthArea::SalesforceApi, true, 5)
        };
        let health = HealthRecord { last_error: Some(over_limit), ..HealthRecord::default() };
        let (verdict, summary) = connected(&health, 6);
        assert_eq!(verdict, "degraded");
        let when = at(20).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert!(summary.contains(&format!("Deferred activity is tried again at {when}.")), "{summary}");
        assert!(summary.contains("over its daily API request allocation") && summary.contains("nothing is lost"), "{summary}");
        // Past that time the summary no longer promises it (the next attempt says what it saw).
        assert!(!connected(&health, 21).1.contains("tried again at"));

        let down = HealthError { resumes_at: Some(at(7)), ..error(HealthArea::SalesforceApi, true, 5) };
        let summary = connected(&HealthRecord { last_error: Some(down), ..HealthRecord::default() }, 6).1;
        assert!(summary.starts_with("Something broke. Sync retries on its own. Deferred activity is tried again at"), "{summary}");

        let over = HealthRecord {
            api_usage: Some(UsageReading { used: 90, max: 100, at: at(5) }),
            last_error: Some(HealthError { resumes_at: Some(at(20)), ..error(HealthArea::Budget, true, 5) }),
            ..HealthRecord::default()
        };
        let (verdict, summary) = connected(&over, 6);
        assert_eq!(verdict, "over_budget");
        assert!(summary.contains(&format!("24 hours). Deferred activity is tried again at {when}. To let")), "{summary}");
    }

    #[test]
    fn reauth_names_the_cause_and_the_way_out() {
        let refused = HealthRecord {
            last_error: Some(HealthError { code: "credentials_missing".into(), ..error(HealthArea::Oauth, false, 5) }),
            ..HealthRecord::default()
        };
        let (got, summary) = verdict(&t(), "reauth_required", false, Some(at(0)), &refused, 80, at(6));
        assert_eq!(got, "reauth_required");
        assert!(summary.starts_with("reauth_required: Salesforce no longer accepts this tenant's tokens (credentials_missing)."));
        let first = "save the app credentials again (PUT /v1/tenants/team_42/credentials), then reconnect in the popup";
        assert!(summary.contains(first), "{summary}");
        let (_, summary) = verdict(&t(), "reauth_required", true, Some(at(0)), &HealthRecord::default(), 80, at(6));
        let plain = "reauth_required: Salesforce no longer accepts this tenant's tokens. An admin must reconnect";
        assert!(summary.starts_with(plain), "{summary}");
    }

    #[test]
    fn usage_percent_has_two_decimals() {
        let view = ApiUsageView::from(UsageReading { used: 9001, max: 15_000, at: at(0) });
        assert_eq!(view.percent, 60.01);
        assert_eq!(sentence("done."), "done.");
        assert_eq!(sentence("locked "), "locked.");
    }
}
