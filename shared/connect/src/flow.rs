//! A connect flow: the admin API issues a connect URL, the popup opens it (`/oauth/start`), which
//! binds the flow to that browser and sends it to Salesforce; the callback finishes it, and the
//! opener polls its status.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::callback::{CallbackResult, Outcome};
use super::credentials::open_credentials;
use super::{connection, ConnectError};
use crate::ConflictCode;
use sfbridge_core::cipher::{seal_str, Purpose, SealContext};
use sfbridge_core::domain::{FlowId, OAuthState, TenantId};
use sfbridge_salesforce::{expiry, Issuer, OAuthFailure, SalesforceOAuth};
use sfbridge_core::store::{FlowRecord, FlowStatus, OAuthFlowKind, StateRecord};
use crate::Connector;

/// How long a connect URL and its OAuth state live. Salesforce's codes live 15 minutes; ten is
/// enough for a sign-in with MFA and short enough that a leaked link goes stale.
pub(crate) const FLOW_TTL_MINUTES: i64 = 10;
/// How long a finished flow stays pollable.
const FINISHED_FLOW_RETENTION_MINUTES: i64 = 60;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct ConnectStart {
    pub flow_id: FlowId,
    /// For web-server flows: open this in a popup, synchronously in the click handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_url: Option<String>,
    /// Where the opener can poll the flow's status.
    pub status_url: String,
    pub status: FlowStatus,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/tenants/{t}/connect`.
pub async fn begin_connect(ctx: &Connector, t: &TenantId) -> Result<ConnectStart, ConnectError> {
    let Some(credentials) = open_credentials(ctx, t).await? else {
        return Err(ConnectError::Conflict {
            code: ConflictCode::CredentialsMissing,
            message: "Save credentials first: PUT /v1/tenants/{tenant}/credentials with the External Client App's \
                      consumer_key and consumer_secret, then connect."
                .replace("{tenant}", t.as_str()),
        });
    };
    let now = ctx.clock.now();
    let flow_id = FlowId::random();
    let mut flow = FlowRecord {
        flow_id: flow_id.clone(),
        tenant_id: t.clone(),
        status: FlowStatus::Pending,
        error_code: None,
        message: None,
        created_at: now,
        updated_at: now,
        expires_at: (now + Duration::minutes(FLOW_TTL_MINUTES)).timestamp(),
    };
    let status_url = format!("{}/oauth/flows/{flow_id}", ctx.config.public_url.as_str().trim_end_matches('/'));

    if credentials.flow == OAuthFlowKind::ClientCredentials {
        // No popup: the app's Run As user is authorized already; connect now. The token has no
        // refresh token and is renewed before it expires: learn when (introspection, or the
        // conservative default).
        let grant = ctx
            .oauth
            .client_credentials(&credentials.login_host, &credentials.consumer_key, &credentials.consumer_secret)
            .await?;
        let expires_at = expiry::learn_expiry(&ctx.oauth, t, &credentials.login_host, &credentials, &grant, now).await;
        connection::establish(ctx, t, &credentials.login_host, grant, Some(expires_at)).await?;
        flow.status = FlowStatus::Connected;
        flow.expires_at = (now + Duration::minutes(FINISHED_FLOW_RETENTION_MINUTES)).timestamp();
        ctx.store.create_flow(&flow).await?;
        return Ok(ConnectStart {
            flow_id,
            connect_url: None,
            status_url,
            status: FlowStatus::Connected,
            expires_at: now + Duration::minutes(FINISHED_FLOW_RETENTION_MINUTES),
        });
    }

    ctx.store.create_flow(&flow).await?;
    tracing::info!(tenant_id = %t, flow_id = %flow_id, "connect flow created");
    Ok(ConnectStart {
        connect_url: Some(ctx.config.connect_url(&flow_id)),
        flow_id,
        status_url,
        status: FlowStatus::Pending,
        expires_at: now + Duration::minutes(FLOW_TTL_MINUTES),
    })
}

/// The redirect `/oauth/start` answers with, and the cookie that binds the flow to this browser.
#[derive(Debug)]
pub struct StartRedirect {
    pub authorize_url: String,
    pub cookie_name: String,
    /// Random; only its hash is stored. Not a Salesforce secret, but treated as one.
    pub cookie_value: String,
    pub max_age_seconds: i64,
}

/// The binding cookie is named after the flow, so two connect popups in one browser don't
/// overwrite each other's binding.
pub fn browser_cookie_name(flow_id: &FlowId) -> String {
    format!("sfbridge_oauth_{flow_id}")
}

pub(crate) fn binding_hash(cookie_value: &str) -> String {
    sfbridge_core::secrets::sha256_hex(cookie_value.as_bytes())
}

/// What `/oauth/start` answers with.
#[derive(Debug)]
pub enum StartOutcome {
    /// The flow was pending: send the browser to Salesforce.
    Redirect(StartRedirect),
    /// A page instead: the link was used before (its flow connected, failed or is in progress in
    /// another window), expired, or the flow could not start.
    Page(CallbackResult),
}

/// `GET /oauth/start?flow={id}`: only the first browser to open a pending flow gets it. A link
/// opened again answers with its flow's real outcome.
pub async fn start_flow(ctx: &Connector, flow_id: &FlowId) -> StartOutcome {
    let page = |tenant_id: Option<&TenantId>, status: Option<FlowStatus>, outcome: Outcome| {
        StartOutcome::Page(CallbackResult { tenant_id: tenant_id.cloned(), flow_id: Some(flow_id.clone()), status, outcome })
    };
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::error!(flow_id = %flow_id, error = %e, "starting connect flow failed");
        Outcome::Failed(OAuthFailure::internal())
    };
    let flow = match ctx.store.flow(flow_id).await {
        Ok(Some(flow)) => flow,
        // Unknown (or removed an hour after it ended): no flow to report on, so no status either.
        Ok(None) => {
            let failure = OAuthFailure::new(
                "unknown_flow",
                "This connect link is unknown or too old. Close this window and click Connect again to get a new link.",
                false,
            );
            return page(None, None, Outcome::Failed(failure));
        }
        Err(e) => return page(None, None, unavailable(&e)),
    };
    let now = ctx.clock.now();
    let t = &flow.tenant_id;
    match seen_status(&flow, now.timestamp()) {
        (FlowStatus::Pending, _) => {}
        (FlowStatus::Connected, _) => return page(Some(t), Some(FlowStatus::Connected), Outcome::AlreadyConnected),
        (FlowStatus::Started, _) => return page(Some(t), Some(FlowStatus::Started), Outcome::Failed(already_started())),
        (FlowStatus::Failed, Some(expired)) => return page(Some(t), Some(FlowStatus::Failed), Outcome::Failed(expired)),
        (FlowStatus::Failed, None) => {
            let earlier = flow.message.as_deref().unwrap_or("the sign-in did not finish");
            let failure = OAuthFailure::new(
                ALREADY_FAILED,
                format!(
                    "This connect link was already used, and that attempt did not connect: {earlier} A link works \
                     only once, so a new one is needed: close this window and click Connect again."
                ),
                false,
            );
            return page(Some(t), Some(FlowStatus::Failed), Outcome::Failed(failure));
        }
    }
    let credentials = match open_credentials(ctx, t).await {
        Ok(Some(credentials)) => credentials,
        Ok(None) => {
            // The link can never work now: it ends here, and says so to the opener and the status.
            let failure = OAuthFailure::new(
                "credentials_missing",
                "The Salesforce app credentials were cleared after this link was issued. Save them again, then connect \
                 with a new link.",
                false,
            );
            let status = finish_flow(ctx, flow_id, Err(&failure)).await;
            return page(Some(t), Some(status), Outcome::Failed(failure));
        }
        Err(e) => return page(Some(t), Some(FlowStatus::Pending), unavailable(&e)),
    };

    let issuer = Issuer {
        login_host: credentials.login_host.clone(),
        client_id: credentials.consumer_key.clone(),
        redirect_uri: ctx.config.redirect_uri(),
    };
    let state = OAuthState::random();
    let verifier = SalesforceOAuth::new_verifier();
    let authorize_url = match ctx.oauth.authorize_url(&issuer, &state, &verifier) {
        Ok(url) => url,
        Err(failure) => return page(Some(t), Some(FlowStatus::Pending), Outcome::Failed(failure)),
    };
    let cookie_value = FlowId::random().to_string();
    let sealed_verifier =
        match seal_str(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::PkceVerifier), verifier.expose_secret()).await {
            Ok(sealed) => sealed,
            Err(e) => return page(Some(t), Some(FlowStatus::Pending), unavailable(&e)),
        };
    let expires_at = now + Duration::minutes(FLOW_TTL_MINUTES);
    let record = StateRecord {
        tenant_id: t.clone(),
        flow_id: flow_id.clone(),
        login_host: issuer.login_host,
        client_id: issuer.client_id,
        redirect_uri: issuer.redirect_uri,
        verifier: sealed_verifier,
        browser_binding: binding_hash(&cookie_value),
        created_at: now,
        expires_at: expires_at.timestamp(),
    };
    if let Err(e) = ctx.store.create_state(&state, &record).await {
        return page(Some(t), Some(FlowStatus::Pending), unavailable(&e));
    }
    let started = FlowRecord { status: FlowStatus::Started, updated_at: now, expires_at: expires_at.timestamp(), ..flow.clone() };
    match ctx.store.update_flow(&started, FlowStatus::Pending).await {
        Ok(()) => {}
        // Another browser opened it a moment earlier.
        Err(sfbridge_core::store::StoreError::Conflict) => {
            return page(Some(t), Some(FlowStatus::Started), Outcome::Failed(already_started()))
        }
        Err(other) => return page(Some(t), Some(FlowStatus::Pending), unavailable(&other)),
    }
    tracing::info!(tenant_id = %t, flow_id = %flow_id, "connect flow started");
    StartOutcome::Redirect(StartRedirect {
        authorize_url: authorize_url.to_string(),
        cookie_name: browser_cookie_name(flow_id),
        cookie_value,
        max_age_seconds: FLOW_TTL_MINUTES * 60,
    })
}

/// The code of a link opened again after its flow failed.
const ALREADY_FAILED: &str = "flow_already_failed";

/// A link opened again while its flow is in progress, in this browser or another.
fn already_started() -> OAuthFailure {
    OAuthFailure::new(
        "flow_already_started",
        "This connect link was already opened, and a link works only once. If the Salesforce sign-in is still open \
         in another window, finish it there; otherwise close this window and click Connect again to get a new link.",
        false,
    )
}

/// A flow as the opener and the popup see it: one not finished in time is failed
/// (`flow_expired`), although its record says pending or started until the table's TTL removes it.
/// The failure is returned only for that case.
fn seen_status(flow: &FlowRecord, now: i64) -> (FlowStatus, Option<OAuthFailure>) {
    let unfinished = matches!(flow.status, FlowStatus::Pending | FlowStatus::Started);
    if unfinished && now > flow.expires_at {
        let expired = OAuthFailure::new(
            "flow_expired",
            format!(
                "This connect link expired: the sign-in was not finished within {FLOW_TTL_MINUTES} minutes. Close this \
                 window and click Connect again to get a new link."
            ),
            false,
        );
        return (FlowStatus::Failed, Some(expired));
    }
    (flow.status, None)
}

/// What `GET /oauth/flows/{id}` shows: a status, never a token.
#[derive(Debug, Serialize)]
pub struct FlowView {
    pub flow_id: FlowId,
    pub tenant_id: TenantId,
    pub status: FlowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
}

pub async fn flow_view(ctx: &Connector, flow_id: &FlowId) -> Result<FlowView, ConnectError> {
    let flow = ctx.store.flow(flow_id).await?.ok_or_else(|| ConnectError::NotFound {
        code: "unknown_flow",
        message: "no connect flow with this id (flows are kept for an hour after they end)".into(),
    })?;
    let (status, error) = match seen_status(&flow, ctx.clock.now().timestamp()) {
        (status, Some(expired)) => (status, Some(json!({"code": expired.code, "message": expired.message}))),
        (status, None) => (status, flow.error_code.as_ref().map(|code| json!({"code": code, "message": flow.message}))),
    };
    Ok(FlowView { flow_id: flow.flow_id, tenant_id: flow.tenant_id, status, error, updated_at: flow.updated_at })
}

/// Ends a flow (connected or failed) and keeps it pollable for an hour. Returns the status the
/// popup reports: the one recorded, or the flow's own if it had ended already.
pub(crate) async fn finish_flow(ctx: &Connector, flow_id: &FlowId, outcome: Result<(), &OAuthFailure>) -> FlowStatus {
    let now = ctx.clock.now();
    let intended = if outcome.is_ok() { FlowStatus::Connected } else { FlowStatus::Failed };
    let Ok(Some(flow)) = ctx.store.flow(flow_id).await else {
        return intended;
    };
    if !matches!(flow.status, FlowStatus::Started | FlowStatus::Pending) {
        return flow.status;
    }
    let from = flow.status;
    let finished = FlowRecord {
        status: intended,
        error_code: outcome.err().map(|f| f.code.clone()),
        message: outcome.err().map(|f| f.message.clone()),
        updated_at: now,
        expires_at: (now + Duration::minutes(FINISHED_FLOW_RETENTION_MINUTES)).timestamp(),
        ..flow
    };
    if let Err(e) = ctx.store.update_flow(&finished, from).await {
        tracing::warn!(flow_id = %flow_id, error = %e, "could not record the flow's outcome");
    }
    intended
}
