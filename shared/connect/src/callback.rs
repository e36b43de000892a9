//! `GET /oauth/callback`: the one place a code becomes tokens. Every check that can fail
//! without talking to Salesforce runs before the token request.

use std::collections::HashMap;

use serde::Deserialize;

use super::connection::{self, Connected};
use super::credentials::open_credentials;
use super::flow::{binding_hash, browser_cookie_name, finish_flow};
use sfbridge_core::cipher::{open_string, Purpose, SealContext};
use sfbridge_core::domain::{FlowId, OAuthState, TenantId};
use sfbridge_salesforce::{Issuer, OAuthFailure};
use sfbridge_core::secrets::{constant_time_eq, AuthorizationCode, PkceVerifier};
use sfbridge_core::store::FlowStatus;
use crate::Connector;

/// The query Salesforce redirects back with.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<AuthorizationCode>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What a popup page (the callback's, or `/oauth/start`'s when it does not redirect) tells the
/// person and the opener window.
#[derive(Debug)]
pub struct CallbackResult {
    pub tenant_id: Option<TenantId>,
    pub flow_id: Option<FlowId>,
    /// The flow's status as `GET /oauth/flows/{id}` reports it once this page shows, so the
    /// message to the opener and the status endpoint never disagree. `None` when no flow was
    /// recognised: then the page addresses no opener.
    pub status: Option<FlowStatus>,
    pub outcome: Outcome,
}

/// How the popup ended.
#[derive(Debug)]
pub enum Outcome {
    /// This sign-in connected the org.
    Connected(Connected),
    /// The link was opened again after its flow had connected: nothing more to do, and nothing
    /// went wrong (the page says so and tells the opener `connected`).
    AlreadyConnected,
    Failed(OAuthFailure),
}

impl CallbackResult {
    fn failed_before_state(failure: OAuthFailure) -> Self {
        Self { tenant_id: None, flow_id: None, status: None, outcome: Outcome::Failed(failure) }
    }
}

/// Completes a connect flow. `cookies` are the request's cookies by name.
pub async fn complete_callback(ctx: &Connector, params: CallbackParams, cookies: &HashMap<String, String>) -> CallbackResult {
    let Some(raw_state) = params.state.as_deref().filter(|s| !s.is_empty()) else {
        return CallbackResult::failed_before_state(OAuthFailure::new(
            "missing_state",
            "This page was opened without the sign-in response it expects. Close this window and click Connect again.",
            false,
        ));
    };
    let unknown_state = || {
        OAuthFailure::new(
            "unknown_state",
            "This sign-in response is unknown or was already used. Close this window and click Connect again.",
            false,
        )
    };
    let Ok(state) = OAuthState::parse(raw_state) else {
        return CallbackResult::failed_before_state(unknown_state());
    };
    let record = match ctx.store.take_state(&state).await {
        Ok(Some(record)) => record,
        Ok(None) => return CallbackResult::failed_before_state(unknown_state()),
        Err(e) => {
            tracing::error!(error = %e, "taking OAuth state failed");
            return CallbackResult::failed_before_state(OAuthFailure::internal());
        }
    };
    let tenant_id = record.tenant_id.clone();
    let flow_id = record.flow_id.clone();
    let (status, outcome) = match exchange(ctx, record, params, cookies).await {
        Ok(connected) => {
            tracing::info!(tenant_id = %tenant_id, flow_id = %flow_id, organization_id = %connected.organization_id, "connected");
            (finish_flow(ctx, &flow_id, Ok(())).await, Outcome::Connected(connected))
        }
        Err(failure) => {
            tracing::warn!(tenant_id = %tenant_id, flow_id = %flow_id, code = %failure.code, "connect flow failed");
            (finish_flow(ctx, &flow_id, Err(&failure)).await, Outcome::Failed(failure))
        }
    };
    CallbackResult { tenant_id: Some(tenant_id), flow_id: Some(flow_id), status: Some(status), outcome }
}

async fn exchange(
    ctx: &Connector,
    record: sfbridge_core::store::StateRecord,
    params: CallbackParams,
    cookies: &HashMap<String, String>,
) -> Result<Connected, OAuthFailure> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "connect callback failed");
        OAuthFailure::internal()
    };
    let t = &record.tenant_id;

    if ctx.clock.now().timestamp() > record.expires_at {
        return Err(OAuthFailure::new(
            "state_expired",
            "The sign-in took too long and expired. Close this window and click Connect again.",
            false,
        ));
    }
    let bound = cookies
        .get(&browser_cookie_name(&record.flow_id))
        .is_some_and(|cookie| constant_time_eq(binding_hash(cookie).as_bytes(), record.browser_binding.as_bytes()));
    if !bound {
        return Err(OAuthFailure::new(
            "browser_mismatch",
            "This sign-in was started in a different browser (or its cookie was blocked). Click Connect again and finish \
             the sign-in in the window that opens.",
            false,
        ));
    }
    if let Some(error) = params.error.as_deref() {
        return Err(OAuthFailure::from_salesforce(error, params.error_description.as_deref(), &record.redirect_uri));
    }
    let Some(code) = params.code.as_ref().filter(|c| !c.expose_secret().is_empty()) else {
        return Err(OAuthFailure::new("missing_code", "Salesforce returned neither a code nor an error. Click Connect again.", false));
    };

    // The exchange uses the issuer stored with the state and nothing from the request.
    let credentials = open_credentials(ctx, t)
        .await
        .map_err(|e| internal(&e))?
        .filter(|c| c.consumer_key == record.client_id && c.login_host == record.login_host)
        .ok_or_else(|| {
            OAuthFailure::new(
                "credentials_changed",
                "The Salesforce app credentials changed while you were signing in. Click Connect again.",
                false,
            )
        })?;
    let verifier = open_string(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::PkceVerifier), &record.verifier)
        .await
        .map(|v| PkceVerifier::new(v.as_str()))
        .map_err(|e| internal(&e))?;
    let issuer = Issuer { login_host: record.login_host.clone(), client_id: record.client_id, redirect_uri: record.redirect_uri };
    let grant = ctx.oauth.exchange_code(&issuer, &credentials.consumer_secret, code, &verifier).await?;
    connection::establish(ctx, t, &issuer.login_host, grant, None).await.map_err(|e| match e {
        super::ConnectError::Salesforce(failure) => failure,
        super::ConnectError::Conflict { code, message } => OAuthFailure::new(code.as_str(), message, false),
        other => internal(&other),
    })
}
