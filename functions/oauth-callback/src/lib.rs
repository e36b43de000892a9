//! The public side of the connect flow, opened in the tenant admin's popup:
//!
//! - `GET /oauth/start?flow={id}` binds the flow to this browser (cookie) and redirects to
//!   Salesforce's authorize page;
//! - `GET /oauth/callback` exchanges the code and renders a page that tells the opener window
//!   and closes itself;
//! - `GET /oauth/flows/{id}` lets the opener poll the flow's status instead of relying on
//!   `window.opener`, which cross-origin navigation or COOP can sever;
//! - `GET /oauth/connect.js` serves the browser connect helper ([`script`]) that a product's page
//!   imports to open the popup and learn how it ended.

mod page;
pub mod script;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde::Deserialize;
use sfbridge_connect::{self as connect, CallbackParams, CallbackResult, Outcome, StartOutcome};
use sfbridge_core::config::Config;
use sfbridge_core::domain::FlowId;
use sfbridge_http::{json_errors, ApiError, Flow};
use sfbridge_salesforce::OAuthFailure;
use sfbridge_connect::Connector;

type Ctx = State<Arc<Connector>>;

pub fn router(ctx: Arc<Connector>) -> Router {
    Router::new()
        .route("/oauth/start", get(start))
        .route("/oauth/callback", get(callback))
        .route("/oauth/flows/{flow_id}", get(flow_status))
        .route("/oauth/connect.js", get(script::connect_script))
        // In the local stack an unknown /oauth/ path would otherwise reach the admin API's
        // fallback and be asked for the admin token.
        .route("/oauth/{*rest}", any(unknown_url))
        // A wrong method (405, with Allow) and any rejection axum makes itself, as JSON.
        .layer(middleware::from_fn(json_errors))
        .with_state(ctx)
}

async fn unknown_url() -> ApiError {
    sfbridge_http::not_found("the OAuth URLs are /oauth/start, /oauth/callback, /oauth/flows/{flow_id} and /oauth/connect.js")
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    flow: Option<String>,
}

async fn start(State(ctx): Ctx, query: Result<Query<StartQuery>, axum::extract::rejection::QueryRejection>) -> Response {
    let flow = query.ok().and_then(|Query(q)| q.flow).and_then(|f| FlowId::parse(&f).ok());
    let Some(flow_id) = flow else {
        let failure = OAuthFailure::new("unknown_flow", "This connect link is incomplete. Close this window and click Connect again.", false);
        let result = CallbackResult { tenant_id: None, flow_id: None, status: None, outcome: Outcome::Failed(failure) };
        return page::render(ctx.config(), &result, None);
    };
    match connect::start_flow(&ctx, &flow_id).await {
        StartOutcome::Redirect(redirect) => {
            let cookie = page::binding_cookie(ctx.config(), &redirect.cookie_name, &redirect.cookie_value, redirect.max_age_seconds);
            to_salesforce(ctx.config(), &flow_id, &redirect.authorize_url, &cookie)
        }
        StartOutcome::Page(result) => page::render(ctx.config(), &result, None),
    }
}

/// The 302 to Salesforce's authorize page, binding the flow to this browser. A redirect without
/// its Location goes nowhere, and one without the binding cookie fails at the callback: either
/// header failing to encode is our bug, shown as one (500 page, logged) instead of a broken 302.
fn to_salesforce(config: &Config, flow_id: &FlowId, authorize_url: &str, cookie: &str) -> Response {
    let (Ok(location), Ok(cookie)) = (HeaderValue::from_str(authorize_url), HeaderValue::from_str(cookie)) else {
        tracing::error!(flow_id = %flow_id, "the authorize URL or the binding cookie is not a valid header value");
        // Not announced: the flow is started, and this page cannot tell the opener more than that.
        let result =
            CallbackResult { tenant_id: None, flow_id: Some(flow_id.clone()), status: None, outcome: Outcome::Failed(OAuthFailure::internal()) };
        return page::render(config, &result, None);
    };
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::SET_COOKIE, cookie);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn callback(
    State(ctx): Ctx,
    headers: HeaderMap,
    query: Result<Query<CallbackParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = query.map(|Query(p)| p).unwrap_or_default();
    let cookies = request_cookies(&headers);
    let result = connect::complete_callback(&ctx, params, &cookies).await;
    let clear = result.flow_id.as_ref().map(connect::browser_cookie_name);
    page::render(ctx.config(), &result, clear.as_deref())
}

async fn flow_status(State(ctx): Ctx, headers: HeaderMap, flow: Result<Flow, ApiError>) -> Response {
    let result = match flow {
        Ok(Flow(flow_id)) => connect::flow_view(&ctx, &flow_id).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let mut response = match result {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    };
    // The product's UI polls this from its own origin: echo it when it is an allowed one.
    let allowed = headers.get(header::ORIGIN).filter(|o| o.to_str().is_ok_and(|o| ctx.config().app_origins.allows(o)));
    if let Some(origin) = allowed {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("origin"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Cookies by name from every `Cookie` header (only names and values; attributes never come back).
fn request_cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().trim_matches('"').to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let vars = [("SFBRIDGE_PUBLIC_URL", "https://api.example.com"), ("SFBRIDGE_APP_ORIGINS", "https://app.example.com")];
        Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// The bug this fixed: a header that failed to encode was skipped, and a 302 went out without
    /// it, with nothing logged.
    #[test]
    fn a_redirect_goes_out_whole_or_not_at_all() {
        let flow = FlowId::random();
        let whole = to_salesforce(&config(), &flow, "https://login.salesforce.com/services/oauth2/authorize?x=1", "sfb_flow=abc; HttpOnly");
        assert_eq!(whole.status(), StatusCode::FOUND);
        assert!(whole.headers().contains_key(header::LOCATION) && whole.headers().contains_key(header::SET_COOKIE));

        for (location, cookie) in [("https://login.salesforce.com/\n", "ok"), ("https://login.salesforce.com/", "a\nb")] {
            let broken = to_salesforce(&config(), &flow, location, cookie);
            assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR, "{location:?} {cookie:?}");
            assert!(!broken.headers().contains_key(header::LOCATION) && !broken.headers().contains_key(header::SET_COOKIE));
        }
    }
}
