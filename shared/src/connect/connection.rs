use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{record_audit, ConnectError};
use crate::cipher::{open_string, seal_str, Purpose, SealContext};
use crate::domain::{InstanceUrl, LoginHost, SalesforceId, TenantId};
use crate::salesforce::{OAuthFailure, TokenGrant};
use crate::store::{audit_kind, ConnectionRecord, ConnectionStatus, OAuthFlowKind};
use crate::AppContext;

/// A connection just established.
#[derive(Debug, Clone, Serialize)]
pub struct Connected {
    pub organization_id: SalesforceId,
    pub user_id: SalesforceId,
    pub username: Option<String>,
    pub instance_url: InstanceUrl,
}

/// Stores a checked grant as the tenant's connection: same org as before (if any), tokens
/// sealed, the replaced refresh token revoked, the change audited.
pub(crate) async fn establish(
    ctx: &AppContext,
    t: &TenantId,
    login_host: &LoginHost,
    grant: TokenGrant,
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
    record_audit(
        ctx,
        t,
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
    if let Err(e) = crate::sync::replay_parked(ctx, t).await {
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
async fn revoke_stored_tokens(ctx: &AppContext, t: &TenantId, connection: &ConnectionRecord) -> bool {
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

#[derive(Debug, Serialize)]
pub struct CredentialsSummary {
    pub consumer_key: String,
    pub login_url: LoginHost,
    pub flow: OAuthFlowKind,
    pub updated_at: DateTime<Utc>,
}

/// `GET /v1/tenants/{t}/connection`: everything an admin needs to see, no secret or token.
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

pub async fn connection_view(ctx: &AppContext, t: &TenantId) -> Result<ConnectionView, ConnectError> {
    let credentials = ctx.store.credentials(t).await?;
    let connection = ctx.store.connection(t).await?;
    let status = match (&connection, &credentials) {
        (Some(c), _) if c.status == ConnectionStatus::Connected => "connected",
        (Some(c), _) if c.status == ConnectionStatus::ReauthRequired => "reauth_required",
        (_, Some(_)) => "credentials_saved",
        _ => "not_configured",
    };
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
pub async fn disconnect(ctx: &AppContext, t: &TenantId) -> Result<DisconnectResult, ConnectError> {
    let Some(connection) = ctx.store.connection(t).await? else {
        return Err(ConnectError::NotFound { code: "not_connected", message: format!("tenant {t} has no Salesforce connection") });
    };
    let revoked = revoke_stored_tokens(ctx, t, &connection).await;
    ctx.store.delete_connection(t, connection.version).await?;
    record_audit(
        ctx,
        t,
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
