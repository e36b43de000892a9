//! The OAuth endpoints: authorize (and the consent page's decision), token, revoke, introspect.
//!
//! The rules and the exact error strings follow `shared/reference/salesforce.md`:
//! §1.2–§1.3 (authorize and callback), §1.4–§1.6 (token request, response, signature), §2 (refresh
//! and rotation), §2.6 (access-token lifetime, introspection), §3 (client credentials), §4
//! (revoke). Token-endpoint errors are HTTP 400 with `{"error": ..., "error_description": ...}`.
//!
//! Introspection follows Salesforce Help "OpenID Connect Token Introspection"
//! (`xcloud.remoteaccess_oidc_token_introspection_endpoint.htm`): `POST
//! /services/oauth2/introspect` with `token` (and `token_type_hint`), the app authenticating with
//! its `client_id` and `client_secret` "in the Basic authorization request's header or request's
//! body"; an app may introspect its own tokens, and one app may be authorized to introspect all
//! of the org's. The answer has Salesforce's fields, in its example's order: `active`, `scope`,
//! `client_id`, `username`, `sub` (the identity URL), `token_type` (`access_token` or
//! `refresh_token`), `exp`, `iat`, `nbf` (epoch seconds). What the Help page does not say is taken
//! from RFC 7662, which the endpoint implements: a token that is unknown, revoked, timed out or
//! not the app's to see is `{"active": false}` and nothing else (§2.2), a hint is only a hint
//! (§2.1), a failed client authentication is 401 and a request without `token` 400
//! `invalid_request` (§2.3). `exp` is when the session times out if not used again: the last use
//! plus the session timeout (salesforce.md §2.6, "measured by inactivity"); introspecting is not
//! a use.
//!
//! Validation order matters to clients, so it is Salesforce's: at authorize, the client id and
//! the redirect URI are checked first and fail on an error *page* (there is no trusted place to
//! redirect to); every later error redirects back with `error`, `error_description` and `state`.
//! At the token endpoint, the grant type, then the client, then the grant.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::pages::{self, Consent};
use crate::recording::{first, form_params, parse_pairs};
use crate::state::{Login, PendingAuthorization, RefreshLookup, Sim, SimState, TokenKind, CODE_LIFETIME};
use crate::SimApp;

pub(crate) const AUTHORIZE_PATH: &str = "/services/oauth2/authorize";
/// Where the consent page's Approve and Deny forms post (the simulator's own; Salesforce's login
/// pages are more involved).
pub(crate) const DECISION_PATH: &str = "/services/oauth2/authorize/decision";
pub(crate) const TOKEN_PATH: &str = "/services/oauth2/token";
pub(crate) const REVOKE_PATH: &str = "/services/oauth2/revoke";
pub(crate) const INTROSPECT_PATH: &str = "/services/oauth2/introspect";

/// Scopes that make the code exchange return a refresh token (`full` does not).
const REFRESH_SCOPES: [&str; 2] = ["refresh_token", "offline_access"];

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route(AUTHORIZE_PATH, get(authorize))
        .route(DECISION_PATH, post(decision))
        .route(TOKEN_PATH, post(token))
        .route(REVOKE_PATH, post(revoke))
        .route(INTROSPECT_PATH, post(introspect))
}

// ---------------------------------------------------------------------------------------------
// Authorize
// ---------------------------------------------------------------------------------------------

/// `GET /services/oauth2/authorize`.
async fn authorize(State(sim): State<Arc<Sim>>, RawQuery(query): RawQuery) -> Response {
    let params = parse_pairs(query.unwrap_or_default().as_bytes());
    let param = |name: &str| first(&params, name);
    let mut state = sim.lock();

    // No trusted redirect target yet: these fail on a page, and the popup never returns.
    let Some(app) = param("client_id").and_then(|id| state.apps.get(id)).cloned() else {
        return pages::authorization_error("invalid_client_id", "client identifier invalid");
    };
    let Some(redirect_uri) = param("redirect_uri").filter(|uri| !uri.is_empty()) else {
        return pages::authorization_error("redirect_uri_missing", "redirect_uri must be provided");
    };
    if !app.redirect_uris.iter().any(|registered| registered == redirect_uri) {
        return pages::authorization_error("redirect_uri_mismatch", "redirect_uri must match configuration");
    }
    let Some(back) = Callback::new(redirect_uri, param("state")) else {
        return pages::authorization_error("invalid_request", "redirect_uri is not a valid URL");
    };

    // From here on, errors go back to the client.
    if param("response_type") != Some("code") {
        return back.error("unsupported_response_type", "response type not supported");
    }
    // Our simulated External Client App requires PKCE with S256.
    let Some(code_challenge) = param("code_challenge").filter(|c| !c.is_empty()) else {
        return back.error("invalid_request", "missing required code challenge");
    };
    if param("code_challenge_method") != Some("S256") {
        return back.error("invalid_request", "invalid code challenge method");
    }
    if URL_SAFE_NO_PAD.decode(code_challenge).map(|hash| hash.len()) != Ok(32) {
        return back.error("invalid_request", "invalid code challenge");
    }
    let Some(scopes) = granted_scopes(&app, param("scope")) else {
        return back.error("invalid_scope", "the requested scope is not allowed");
    };
    if let Some((error, description)) = &state.authorize_error {
        return back.error(error, description);
    }

    let pending = PendingAuthorization {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state: param("state").map(str::to_owned),
        scopes,
        code_challenge: code_challenge.to_owned(),
    };
    if state.auto_approve {
        let code = state.issue_code(pending);
        return back.code(&code);
    }
    if param("immediate") == Some("true") {
        return back.error("immediate_unsuccessful", "immediate unsuccessful");
    }
    let request_id = state.add_pending(pending.clone());
    pages::consent(&Consent {
        request_id: &request_id,
        client_id: &pending.client_id,
        username: &state.username,
        display_name: &state.display_name,
        scopes: &pending.scopes,
    })
}

/// `POST /services/oauth2/authorize/decision`: the consent page's Allow or Deny.
async fn decision(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_params(&headers, &body);
    let mut state = sim.lock();
    let Some((request_id, pending)) = first(&form, "request_id").and_then(|id| state.pending.remove_entry(id)) else {
        return pages::authorization_error(
            "invalid_request",
            "this authorization request has expired or was already answered",
        );
    };
    let Some(back) = Callback::new(&pending.redirect_uri, pending.state.as_deref()) else {
        return pages::authorization_error("invalid_request", "redirect_uri is not a valid URL");
    };
    match first(&form, "decision") {
        Some("approve") => {
            let code = state.issue_code(pending);
            back.code(&code)
        }
        Some("deny") => back.error("access_denied", "end-user denied authorization"),
        _ => {
            // Not an answer: the request stays pending.
            state.pending.insert(request_id, pending);
            pages::authorization_error("invalid_request", "choose Allow or Deny")
        }
    }
}

/// The scopes granted for a requested `scope` parameter: all the app's scopes when none are
/// requested, `None` when one is not allowed.
fn granted_scopes(app: &SimApp, requested: Option<&str>) -> Option<Vec<String>> {
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.unwrap_or_default().split_whitespace() {
        if !app.allowed_scopes.iter().any(|allowed| allowed == scope) {
            return None;
        }
        if !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    if granted.is_empty() {
        granted = app.allowed_scopes.clone();
    }
    Some(granted)
}

/// The client's redirect URI and `state`, to send the browser back with a code or an error.
struct Callback {
    url: Url,
    state: Option<String>,
}

impl Callback {
    fn new(redirect_uri: &str, state: Option<&str>) -> Option<Self> {
        Some(Self { url: Url::parse(redirect_uri).ok()?, state: state.map(str::to_owned) })
    }

    /// `302 {redirect_uri}?code=...&state=...`. The code ends in `==`, sent as `%3D%3D`.
    fn code(&self, code: &str) -> Response {
        self.redirect(&[("code", code)])
    }

    /// `302 {redirect_uri}?error=...&error_description=...&state=...`.
    fn error(&self, error: &str, description: &str) -> Response {
        self.redirect(&[("error", error), ("error_description", description)])
    }

    fn redirect(&self, pairs: &[(&str, &str)]) -> Response {
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
        }
        let Ok(location) = HeaderValue::from_str(url.as_str()) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut response = StatusCode::FOUND.into_response();
        response.headers_mut().insert(header::LOCATION, location);
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

// ---------------------------------------------------------------------------------------------
// Token
// ---------------------------------------------------------------------------------------------

/// The token response. Field order as in salesforce-samples; there is no `expires_in`.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    signature: String,
    scope: String,
    instance_url: String,
    id: String,
    token_type: &'static str,
    issued_at: String,
}

/// `POST /services/oauth2/token`.
async fn token(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_params(&headers, &body);
    let grant_type = first(&form, "grant_type");
    if !matches!(grant_type, Some("authorization_code" | "refresh_token" | "client_credentials")) {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    let mut state = sim.lock();
    if state.token_endpoint_failures > 0 {
        state.token_endpoint_failures -= 1;
        return unavailable();
    }
    let app = match authenticate_client(&state, &form, &headers) {
        Ok(app) => app,
        Err((error, description)) => return oauth_error(error, description),
    };
    match grant_type {
        Some("authorization_code") => exchange_code(&sim.base_url, &mut state, &app, &form),
        Some("refresh_token") => refresh(&sim.base_url, &mut state, &app, &form),
        _ => client_credentials(&sim.base_url, &mut state, &app),
    }
}

/// Client authentication: `client_id`/`client_secret` in the body, or HTTP Basic. The secret is
/// always required (a confidential client; "Require Secret" on). Errs with `(error, description)`.
fn authenticate_client(
    state: &SimState,
    form: &[(String, String)],
    headers: &HeaderMap,
) -> Result<SimApp, (&'static str, &'static str)> {
    let basic = basic_credentials(headers);
    let client_id = first(form, "client_id").map(str::to_owned).or_else(|| basic.as_ref().map(|(id, _)| id.clone()));
    let client_secret =
        first(form, "client_secret").map(str::to_owned).or_else(|| basic.as_ref().map(|(_, secret)| secret.clone()));
    let Some(app) = client_id.and_then(|id| state.apps.get(&id)) else {
        return Err(("invalid_client_id", "client identifier invalid"));
    };
    if client_secret.as_deref() != Some(app.client_secret.as_str()) {
        return Err(("invalid_client", "invalid client credentials"));
    }
    Ok(app.clone())
}

/// `Authorization: Basic base64(client_id:client_secret)`, each part percent-decoded
/// (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `grant_type=authorization_code`: the code, its client, its age, the redirect URI, PKCE.
fn exchange_code(base_url: &str, state: &mut SimState, app: &SimApp, form: &[(String, String)]) -> Response {
    // Burnt here, whatever happens next.
    let Some(grant) = first(form, "code").and_then(|code| state.take_code(code)) else {
        return oauth_error("invalid_grant", "invalid authorization code");
    };
    if grant.client_id != app.client_id {
        return oauth_error("invalid_grant", "invalid authorization code");
    }
    if state.now().duration_since(grant.issued_at).is_ok_and(|age| age > CODE_LIFETIME) {
        return oauth_error("invalid_grant", "expired authorization code");
    }
    if first(form, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration");
    }
    if first(form, "code_verifier").map(s256_challenge).as_deref() != Some(grant.code_challenge.as_str()) {
        return oauth_error("invalid_grant", "invalid code verifier");
    }
    let wants_refresh = grant.scopes.iter().any(|s| REFRESH_SCOPES.contains(&s.as_str()));
    let family = state.new_family(&app.client_id, grant.login, grant.scopes);
    let access_token = state.issue_access_token(family);
    let refresh_token = wants_refresh.then(|| state.issue_refresh_token(family));
    token_response(base_url, state, app, family, access_token, refresh_token)
}

/// `grant_type=refresh_token`, with Refresh Token Rotation when the app has it (salesforce.md §2.3).
fn refresh(base_url: &str, state: &mut SimState, app: &SimApp, form: &[(String, String)]) -> Response {
    let presented = first(form, "refresh_token").unwrap_or_default();
    match state.lookup_refresh(presented, &app.client_id) {
        RefreshLookup::Active(family) => {
            let access_token = state.issue_access_token(family);
            let refresh_token = app.rotate_refresh_tokens.then(|| state.rotate_refresh_token(presented, family));
            token_response(base_url, state, app, family, access_token, refresh_token)
        }
        RefreshLookup::Reused(family) => {
            // Reuse of a rotated-away token is treated as theft: the current refresh token and
            // every access token of the grant die, and the user must authorize again.
            state.revoke_family(family);
            oauth_error("invalid_grant", "expired access/refresh token")
        }
        RefreshLookup::Invalid => oauth_error("invalid_grant", "expired access/refresh token"),
    }
}

/// `grant_type=client_credentials`: a token for the Run As user (the org's current user), never a
/// refresh token.
fn client_credentials(base_url: &str, state: &mut SimState, app: &SimApp) -> Response {
    if !app.client_credentials_enabled {
        return oauth_error("invalid_grant", "no client credentials user enabled");
    }
    let scopes = app.allowed_scopes.iter().filter(|s| !REFRESH_SCOPES.contains(&s.as_str())).cloned().collect();
    let login = state.login.clone();
    let family = state.new_family(&app.client_id, login, scopes);
    let access_token = state.issue_access_token(family);
    token_response(base_url, state, app, family, access_token, None)
}

fn token_response(
    base_url: &str,
    state: &SimState,
    app: &SimApp,
    family: usize,
    access_token: String,
    refresh_token: Option<String>,
) -> Response {
    let Some(family) = state.family(family) else {
        return oauth_error("server_error", "internal error");
    };
    let id = identity_url(base_url, state, &family.login);
    let issued_at = state.now_millis().to_string();
    let signature = if state.tamper_signature {
        // A well-formed signature over something else.
        signature(&app.client_secret, &id, &format!("{issued_at}0"))
    } else {
        signature(&app.client_secret, &id, &issued_at)
    };
    let body = TokenResponse {
        access_token,
        refresh_token,
        signature,
        scope: family.scopes.join(" "),
        instance_url: state.instance_url.clone().unwrap_or_else(|| base_url.to_owned()),
        id,
        token_type: "Bearer",
        issued_at,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{identity base}/id/{org id}/{user id}`: the token response's `id`, introspection's `sub`.
fn identity_url(base_url: &str, state: &SimState, login: &Login) -> String {
    let identity_base = state.identity_base.as_deref().unwrap_or(base_url).trim_end_matches('/');
    format!("{identity_base}/id/{}/{}", login.org_id, login.user_id)
}

/// The 503 page Salesforce's edge sends when the service is down.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        "<html><body>Service Unavailable</body></html>",
    )
        .into_response()
}

/// The token response's `signature`: standard Base64 (with padding) of
/// HMAC-SHA256(key = client secret, message = `id` + `issued_at`) (salesforce.md §1.6).
pub fn signature(client_secret: &str, id: &str, issued_at: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else {
        return String::new(); // HMAC takes keys of any length
    };
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// BASE64URL-NOPAD(SHA256(verifier)).
fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Revoke
// ---------------------------------------------------------------------------------------------

/// `POST /services/oauth2/revoke` with `token=...`: 200 and an empty body, or 400 `invalid_token`.
async fn revoke(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_params(&headers, &body);
    let Some(token) = first(&form, "token") else {
        return oauth_error("invalid_token", "invalid token");
    };
    let mut state = sim.lock();
    if !state.revoke(token) {
        return oauth_error("invalid_token", "invalid token");
    }
    state.revoked.push(token.to_owned());
    StatusCode::OK.into_response()
}

// ---------------------------------------------------------------------------------------------
// Introspect
// ---------------------------------------------------------------------------------------------

/// The introspection response. An inactive token's is `{"active": false}` alone.
#[derive(Serialize, Default)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

/// `POST /services/oauth2/introspect` (see the module's documentation).
async fn introspect(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_params(&headers, &body);
    let mut state = sim.lock();
    if state.introspection_failures > 0 {
        state.introspection_failures -= 1;
        return unavailable();
    }
    let app = match authenticate_client(&state, &form, &headers) {
        Ok(app) => app,
        Err((error, description)) => return oauth_error_with(StatusCode::UNAUTHORIZED, error, description),
    };
    let Some(token) = first(&form, "token").filter(|t| !t.is_empty()) else {
        return oauth_error("invalid_request", "missing required parameter: token");
    };
    // `token_type_hint` only says where to look first; both kinds are looked up whatever it says.
    let facts = state.token_facts(token).filter(|f| app.introspect_all_tokens || f.family.client_id == app.client_id);
    let answer = match facts {
        None => Introspection::default(),
        Some(facts) => Introspection {
            active: true,
            scope: Some(facts.family.scopes.join(" ")),
            client_id: Some(facts.family.client_id.clone()),
            username: Some(state.username.clone()),
            sub: Some(identity_url(&sim.base_url, &state, &facts.family.login)),
            token_type: Some(match facts.kind {
                TokenKind::Access => "access_token",
                TokenKind::Refresh => "refresh_token",
            }),
            exp: facts.expires_at.map(epoch_seconds),
            iat: Some(epoch_seconds(facts.issued_at)),
            nbf: Some(epoch_seconds(facts.issued_at)),
        },
    };
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn epoch_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// HTTP 400 `{"error": ..., "error_description": ...}`.
pub(crate) fn oauth_error(error: &str, description: &str) -> Response {
    oauth_error_with(StatusCode::BAD_REQUEST, error, description)
}

/// `{"error": ..., "error_description": ...}` with `status`.
fn oauth_error_with(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// salesforce-samples/oauth-token-response-authorization-code-with-refresh.json, whose
    /// signature was made with the secret `TEST-CONSUMER-SECRET-1234567890`.
    #[test]
    fn signature_matches_the_sample_vector() {
        let id = "https://login.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC";
        assert_eq!(
            signature("TEST-CONSUMER-SECRET-1234567890", id, "1767225600456"),
            "i7bZLAOhFfKNJcdMgfr3sR4EciMnwbIC9BM1hSJ7emg="
        );
    }

    /// salesforce-samples/oauth-refresh-response-rotated.json and
    /// oauth-token-response-client-credentials.json, same secret.
    #[test]
    fn signature_matches_the_other_sample_vectors() {
        let secret = "TEST-CONSUMER-SECRET-1234567890";
        assert_eq!(
            signature(secret, "https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P", "1767225600123"),
            "2HXaG2lVqetgTFq5aiDxt+bDH1YYHZwwXk2kc53s180="
        );
        assert_eq!(
            signature(
                secret,
                "https://mycompany.my.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC",
                "1767225600123"
            ),
            "eS/uuWhoAxa0Ay11Fji7MrZUPz7WOUtDw7xzFVsSQ+U="
        );
    }

    /// RFC 7636 Appendix B.
    #[test]
    fn s256_matches_the_rfc_example() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode("a%2Bb%3A%"), "a+b:%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
