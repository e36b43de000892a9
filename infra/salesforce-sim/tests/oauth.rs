//! The simulator's OAuth endpoints, driven over HTTP like a real client (no redirect following).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{redirect::Policy, Client, Response, StatusCode};
use salesforce_sim::{SalesforceSim, SimApp, SimConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

const CLIENT_ID: &str = "3MVG9sim.test.client_id";
const SECRET: &str = "SIMTEST-consumer-secret-0123456789";
const REDIRECT: &str = "https://app.example.com/oauth/callback";
const MARKER: &str = "SIMTESTMARK";
/// A state with characters that must be encoded.
const STATE: &str = "st/a+te= &é";

async fn start(auto_approve: bool) -> SalesforceSim {
    let config = SimConfig { auto_approve, token_marker: MARKER.into(), ..SimConfig::default() };
    let sim = SalesforceSim::start(config).await.unwrap();
    sim.add_app(SimApp::new(CLIENT_ID, SECRET, REDIRECT));
    sim
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("verifier-{nanos}")));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce { verifier, challenge }
}

fn authorize_url(sim: &SalesforceSim, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&format!("{}/services/oauth2/authorize", sim.base_url())).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// A well-formed authorize request's parameters.
fn authorize_params<'a>(pkce: &'a Pkce, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]
}

fn location(response: &Response) -> Url {
    assert_eq!(response.status(), StatusCode::FOUND);
    Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Authorizes (auto-approve) and returns the code from the callback.
async fn code(sim: &SalesforceSim, pkce: &Pkce, scope: &str) -> String {
    let response = client().get(authorize_url(sim, &authorize_params(pkce, scope))).send().await.unwrap();
    let callback = location(&response);
    assert!(callback.as_str().starts_with(REDIRECT));
    assert_eq!(query_param(&callback, "state").as_deref(), Some(STATE));
    query_param(&callback, "code").expect("a code")
}

async fn post_token(sim: &SalesforceSim, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client().post(format!("{}/services/oauth2/token", sim.base_url())).form(form).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn exchange(sim: &SalesforceSim, code: &str, verifier: &str) -> (StatusCode, Value) {
    post_token(
        sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(sim: &SalesforceSim, refresh_token: &str) -> (StatusCode, Value) {
    post_token(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ],
    )
    .await
}

/// A full login with `scope`; returns the token response.
async fn login(sim: &SalesforceSim, scope: &str) -> Value {
    let pkce = pkce();
    let code = code(sim, &pkce, scope).await;
    let (status, body) = exchange(sim, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn assert_oauth_error(status: StatusCode, body: &Value, error: &str, description: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
}

async fn identity(body: &Value) -> Response {
    client().get(body["id"].as_str().unwrap()).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap()
}

async fn revoke(sim: &SalesforceSim, token: &str) -> Response {
    client().post(format!("{}/services/oauth2/revoke", sim.base_url())).form(&[("token", token)]).send().await.unwrap()
}

fn verifies(secret: &str, body: &Value) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body["id"].as_str().unwrap().as_bytes());
    mac.update(body["issued_at"].as_str().unwrap().as_bytes());
    let Ok(signature) = STANDARD.decode(body["signature"].as_str().unwrap()) else { return false };
    mac.verify_slice(&signature).is_ok()
}

fn s(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

#[tokio::test]
async fn pkce_s256_code_exchange_succeeds() {
    // GIVEN a simulator that approves at once
    let sim = start(true).await;
    let pkce = pkce();

    // WHEN the browser authorizes
    let response =
        client().get(authorize_url(&sim, &authorize_params(&pkce, "api refresh_token"))).send().await.unwrap();

    // THEN it goes back with a code ending in ==, encoded, and the state unchanged
    let raw_location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(raw_location.contains("%3D%3D"), "{raw_location}");
    let callback = location(&response);
    let code = query_param(&callback, "code").unwrap();
    assert!(code.ends_with("==") && code.contains(MARKER));
    assert_eq!(query_param(&callback, "state").as_deref(), Some(STATE));

    // AND the code exchange returns Salesforce's token response
    let (status, body) = exchange(&sim, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let config = SimConfig::default();
    assert!(s(&body["access_token"]).starts_with(&format!("{}!{MARKER}", &config.org_id[..15])), "{body}");
    assert!(s(&body["refresh_token"]).contains(MARKER));
    assert_eq!(body["scope"], "api refresh_token");
    assert_eq!(body["instance_url"], sim.base_url());
    assert_eq!(body["id"], format!("{}/id/{}/{}", sim.base_url(), config.org_id, config.user_id));
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("expires_in").is_none());
    let issued_at: u128 = s(&body["issued_at"]).parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(now - 60_000 < issued_at && issued_at <= now, "issued_at is in milliseconds");
    assert!(verifies(SECRET, &body), "the signature verifies with the client secret");
    assert!(sim.is_token_active(s(&body["access_token"])) && sim.is_token_active(s(&body["refresh_token"])));
    assert_eq!(sim.issued_refresh_tokens(), [s(&body["refresh_token"])]);

    // AND the request was recorded as sent
    let requests = sim.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].param("code").unwrap(), code);
    assert_eq!(requests[0].param("code_verifier").unwrap(), pkce.verifier);
    assert_eq!(sim.requests().len(), 2);
    assert_eq!(sim.requests()[0].path, "/services/oauth2/authorize");
    assert_eq!(sim.requests()[0].param("state"), Some(STATE));

    // AND the identity URL answers for the access token
    let response = identity(&body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["organization_id"], config.org_id);
    assert_eq!(me["user_id"], config.user_id);
    assert_eq!(me["username"], config.username);
    assert_eq!(me["display_name"], config.display_name);
    assert_eq!(me["email"], config.email);
    assert_eq!(me["id"], body["id"]);
    assert_eq!(me["urls"]["rest"], format!("{}/services/data/v{{version}}/", sim.base_url()));
    assert_eq!(me["active"], true);
}

#[tokio::test]
async fn without_a_refresh_scope_there_is_no_refresh_token() {
    let sim = start(true).await;
    let body = login(&sim, "api id").await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["scope"], "api id");
    let body = login(&sim, "full").await;
    assert!(body.get("refresh_token").is_none(), "full does not imply refresh_token");
    let body = login(&sim, "api offline_access").await;
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn a_wrong_verifier_is_rejected_and_burns_the_code() {
    let sim = start(true).await;
    let pkce = pkce();
    let code = code(&sim, &pkce, "api refresh_token").await;

    let (status, body) = exchange(&sim, &code, &"x".repeat(43)).await;
    assert_oauth_error(status, &body, "invalid_grant", "invalid code verifier");

    let (status, body) = exchange(&sim, &code, &pkce.verifier).await;
    assert_oauth_error(status, &body, "invalid_grant", "invalid authorization code");

    // A missing verifier is the same error.
    let code = crate::code(&sim, &pkce, "api").await;
    let (status, body) = post_token(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_oauth_error(status, &body, "invalid_grant", "invalid code verifier");
    assert!(sim.issued_access_tokens().is_empty());
}

#[tokio::test]
async fn a_code_is_single_use() {
    let sim = start(true).await;
    let pkce = pkce();
    let code = code(&sim, &pkce, "api").await;
    assert_eq!(exchange(&sim, &code, &pkce.verifier).await.0, StatusCode::OK);
    let (status, body) = exchange(&sim, &code, &pkce.verifier).await;
    assert_oauth_error(status, &body, "invalid_grant", "invalid authorization code");
    let (status, body) = exchange(&sim, "aPrxnot-a-code==", &pkce.verifier).await;
    assert_oauth_error(status, &body, "invalid_grant", "invalid authorization code");
}

#[tokio::test]
async fn codes_expire_after_15_minutes() {
    let sim = start(true).await;
    let pkce = pkce();
    let code = code(&sim, &pkce, "api").await;
    sim.advance_time(Duration::from_secs(15 * 60 + 1));
    let (status, body) = exchange(&sim, &code, &pkce.verifier).await;
    assert_oauth_error(status, &body, "invalid_grant", "expired authorization code");
}

#[tokio::test]
async fn the_token_redirect_uri_must_be_identical() {
    let sim = start(true).await;
    let pkce = pkce();
    let code = code(&sim, &pkce, "api").await;
    let (status, body) = post_token(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("redirect_uri", "https://app.example.com/oauth/callback/"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "redirect_uri_mismatch");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_or_client_gets_an_error_page_and_no_redirect() {
    let sim = start(true).await;
    let pkce = pkce();
    let cases: [(&str, &str, &str); 3] = [
        ("redirect_uri", "https://evil.example.com/cb", "error=redirect_uri_mismatch"),
        ("client_id", "3MVG9unknown", "error=invalid_client_id"),
        ("redirect_uri", "", "error=redirect_uri_missing"),
    ];
    for (name, value, shown) in cases {
        let params: Vec<(&str, &str)> = authorize_params(&pkce, "api")
            .into_iter()
            .map(|(k, v)| if k == name { (k, value) } else { (k, v) })
            .collect();
        let response = client().get(authorize_url(&sim, &params)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains(shown), "{html}");
    }
    let response =
        client().get(authorize_url(&sim, &[("response_type", "code"), ("client_id", "nope")])).send().await.unwrap();
    assert!(response.text().await.unwrap().contains("client identifier invalid"));
}

#[tokio::test]
async fn other_authorize_errors_redirect_back_with_the_state() {
    let sim = start(true).await;
    let pkce = pkce();
    let cases: [(&str, Option<&str>, &str); 5] = [
        ("response_type", Some("token"), "unsupported_response_type"),
        ("code_challenge", None, "invalid_request"),
        ("code_challenge_method", Some("plain"), "invalid_request"),
        ("code_challenge_method", None, "invalid_request"),
        ("scope", Some("api chatter_api"), "invalid_scope"),
    ];
    for (name, value, error) in cases {
        let params: Vec<(&str, &str)> = authorize_params(&pkce, "api")
            .into_iter()
            .filter_map(|(k, v)| if k == name { value.map(|value| (k, value)) } else { Some((k, v)) })
            .collect();
        let response = client().get(authorize_url(&sim, &params)).send().await.unwrap();
        let callback = location(&response);
        assert_eq!(query_param(&callback, "error").as_deref(), Some(error), "{name}={value:?}");
        assert!(query_param(&callback, "error_description").is_some());
        assert_eq!(query_param(&callback, "state").as_deref(), Some(STATE));
        assert!(query_param(&callback, "code").is_none());
    }

    sim.set_authorize_error(Some((
        "OAUTH_EC_APP_NOT_FOUND".into(),
        "External client app is not installed in this org".into(),
    )));
    let response = client().get(authorize_url(&sim, &authorize_params(&pkce, "api"))).send().await.unwrap();
    let callback = location(&response);
    assert_eq!(query_param(&callback, "error").as_deref(), Some("OAUTH_EC_APP_NOT_FOUND"));
    assert_eq!(
        query_param(&callback, "error_description").as_deref(),
        Some("External client app is not installed in this org")
    );
    assert_eq!(query_param(&callback, "state").as_deref(), Some(STATE));
    sim.set_authorize_error(None);
    let response = client().get(authorize_url(&sim, &authorize_params(&pkce, "api"))).send().await.unwrap();
    assert!(query_param(&location(&response), "code").is_some());
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_without_burning_the_code() {
    let sim = start(true).await;
    let pkce = pkce();
    let code = code(&sim, &pkce, "api").await;
    let form = |secret: &'static str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", pkce.verifier.clone()),
        ]
    };
    let url = format!("{}/services/oauth2/token", sim.base_url());
    let response = client().post(&url).form(&form("wrong")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_oauth_error(StatusCode::BAD_REQUEST, &body, "invalid_client", "invalid client credentials");

    let (status, body) = post_token(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "3MVG9unknown"),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_oauth_error(status, &body, "invalid_client_id", "client identifier invalid");

    let response = client().post(&url).form(&form(SECRET)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn http_basic_client_authentication_works() {
    let sim = start(true).await;
    let pkce = pkce();
    let code = code(&sim, &pkce, "api").await;
    let response = client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(sim.token_requests()[0].authorization.as_deref().unwrap().starts_with("Basic "));
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_refresh_token() {
    let sim = start(true).await;
    let first = login(&sim, "api refresh_token").await;
    let refresh_token = s(&first["refresh_token"]);
    let (status, body) = refresh(&sim, refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none());
    assert_ne!(body["access_token"], first["access_token"]);
    assert_eq!(body["scope"], "api refresh_token");
    assert!(verifies(SECRET, &body));
    assert!(sim.is_token_active(refresh_token) && sim.is_token_active(s(&first["access_token"])));
    assert_eq!(refresh(&sim, refresh_token).await.0, StatusCode::OK);

    let (status, body) = refresh(&sim, "5Aep861unknown").await;
    assert_oauth_error(status, &body, "invalid_grant", "expired access/refresh token");
    let (status, body) = refresh(&sim, s(&first["access_token"])).await;
    assert_oauth_error(status, &body, "invalid_grant", "expired access/refresh token");
}

#[tokio::test]
async fn rotation_and_reuse_revokes_the_family() {
    // GIVEN an app with Refresh Token Rotation and one login
    let sim = start(true).await;
    let mut app = SimApp::new(CLIENT_ID, SECRET, REDIRECT);
    app.rotate_refresh_tokens = true;
    sim.add_app(app);
    let login = login(&sim, "api refresh_token").await;
    let first = s(&login["refresh_token"]).to_owned();

    // WHEN it refreshes, the response carries a new refresh token and the old one dies
    let (status, rotated) = refresh(&sim, &first).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = s(&rotated["refresh_token"]).to_owned();
    assert_ne!(first, second);
    assert!(!sim.is_token_active(&first) && sim.is_token_active(&second));
    assert!(verifies(SECRET, &rotated));
    assert_eq!(sim.issued_refresh_tokens(), [first.clone(), second.clone()]);

    // WHEN the old one is presented again
    let (status, body) = refresh(&sim, &first).await;

    // THEN it fails, and the current refresh token and every access token of the grant are revoked
    assert_oauth_error(status, &body, "invalid_grant", "expired access/refresh token");
    assert!(!sim.is_token_active(&second));
    assert!(!sim.is_token_active(s(&login["access_token"])) && !sim.is_token_active(s(&rotated["access_token"])));
    let (status, body) = refresh(&sim, &second).await;
    assert_oauth_error(status, &body, "invalid_grant", "expired access/refresh token");
    assert_eq!(identity(&rotated).await.status(), StatusCode::UNAUTHORIZED);

    // AND another login is unaffected
    let other = crate::login(&sim, "api refresh_token").await;
    assert_eq!(refresh(&sim, s(&other["refresh_token"])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_access_tokens() {
    let sim = start(true).await;
    let login = login(&sim, "api refresh_token").await;
    let refresh_token = s(&login["refresh_token"]);
    let (_, refreshed) = refresh(&sim, refresh_token).await;

    let response = revoke(&sim, refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().is_empty());
    assert_eq!(sim.revoked_tokens(), [refresh_token]);
    for token in [refresh_token, s(&login["access_token"]), s(&refreshed["access_token"])] {
        assert!(!sim.is_token_active(token));
    }
    let (status, body) = refresh(&sim, refresh_token).await;
    assert_oauth_error(status, &body, "invalid_grant", "expired access/refresh token");

    // Unknown (or already revoked) tokens: 400 invalid_token.
    for token in ["nope", refresh_token] {
        let response = revoke(&sim, token).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_oauth_error(StatusCode::BAD_REQUEST, &body, "invalid_token", "invalid token");
    }
}

#[tokio::test]
async fn identity_answers_401_after_the_access_token_is_revoked() {
    let sim = start(true).await;
    let login = login(&sim, "api refresh_token").await;
    assert_eq!(identity(&login).await.status(), StatusCode::OK);

    assert_eq!(revoke(&sim, s(&login["access_token"])).await.status(), StatusCode::OK);
    let response = identity(&login).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]));
    // Only that session ended: the refresh token still works.
    assert!(sim.is_token_active(s(&login["refresh_token"])));
    let (status, refreshed) = refresh(&sim, s(&login["refresh_token"])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(identity(&refreshed).await.status(), StatusCode::OK);

    // No token, a refresh token, or another user's identity URL: 401 too.
    let id = s(&refreshed["id"]);
    assert_eq!(client().get(id).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let with_refresh = client().get(id).bearer_auth(s(&login["refresh_token"])).send().await.unwrap();
    assert_eq!(with_refresh.status(), StatusCode::UNAUTHORIZED);
    let other = format!("{}/id/{}/0055g000009OTHRAAA", sim.base_url(), SimConfig::default().org_id);
    let response = client().get(other).bearer_auth(s(&refreshed["access_token"])).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Session timeout.
    sim.expire_access_tokens();
    assert_eq!(identity(&refreshed).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signature_matches_the_sample_vector() {
    // salesforce-samples/oauth-token-response-authorization-code-with-refresh.json
    let sample = serde_json::json!({
        "id": "https://login.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC",
        "issued_at": "1767225600456",
        "signature": "i7bZLAOhFfKNJcdMgfr3sR4EciMnwbIC9BM1hSJ7emg=",
    });
    assert!(verifies("TEST-CONSUMER-SECRET-1234567890", &sample));
    assert_eq!(
        salesforce_sim::signature("TEST-CONSUMER-SECRET-1234567890", s(&sample["id"]), s(&sample["issued_at"])),
        s(&sample["signature"])
    );

    // And tampering produces a well-formed signature that does not verify.
    let sim = start(true).await;
    sim.set_tamper_signature(true);
    let body = login(&sim, "api").await;
    assert_eq!(STANDARD.decode(s(&body["signature"])).unwrap().len(), 32);
    assert!(!verifies(SECRET, &body));
}

#[tokio::test]
async fn deny_on_the_consent_page_redirects_with_access_denied() {
    // GIVEN a simulator that asks the user
    let sim = start(false).await;
    let pkce = pkce();
    let browser = client();

    // WHEN the browser authorizes, it gets the consent page
    let response =
        browser.get(authorize_url(&sim, &authorize_params(&pkce, "api refresh_token"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Allow access?") && html.contains(CLIENT_ID) && html.contains(&SimConfig::default().username)
    );
    assert!(html.contains("refresh_token") && !html.contains("<script"));
    assert!(html.contains(r#"action="/services/oauth2/authorize/decision""#));
    let request_id = hidden_request_id(&html);

    // AND chooses Deny
    let decision = format!("{}/services/oauth2/authorize/decision", sim.base_url());
    let response = browser
        .post(&decision)
        .form(&[("request_id", request_id.as_str()), ("decision", "deny")])
        .send()
        .await
        .unwrap();

    // THEN it goes back with access_denied and the state
    let callback = location(&response);
    assert!(callback.as_str().starts_with(REDIRECT));
    assert_eq!(query_param(&callback, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&callback, "error_description").as_deref(), Some("end-user denied authorization"));
    assert_eq!(query_param(&callback, "state").as_deref(), Some(STATE));
    assert!(query_param(&callback, "code").is_none());

    // AND the pending request is gone
    let again = browser
        .post(&decision)
        .form(&[("request_id", request_id.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // WHEN another request is approved, the code works
    let response =
        browser.get(authorize_url(&sim, &authorize_params(&pkce, "api refresh_token"))).send().await.unwrap();
    let request_id = hidden_request_id(&response.text().await.unwrap());
    let response = browser
        .post(&decision)
        .form(&[("request_id", request_id.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    let callback = location(&response);
    assert_eq!(query_param(&callback, "state").as_deref(), Some(STATE));
    let code = query_param(&callback, "code").unwrap();
    let (status, body) = exchange(&sim, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_string());

    // AND `immediate=true` cannot show the page
    let mut params = authorize_params(&pkce, "api");
    params.push(("immediate", "true"));
    let response = browser.get(authorize_url(&sim, &params)).send().await.unwrap();
    assert_eq!(query_param(&location(&response), "error").as_deref(), Some("immediate_unsuccessful"));
}

fn hidden_request_id(html: &str) -> String {
    let start =
        html.find(r#"name="request_id" value=""#).expect("a request_id field") + r#"name="request_id" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn client_credentials_needs_the_flow_enabled_and_returns_no_refresh_token() {
    let sim = start(true).await;
    let form = [("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", SECRET)];
    let (status, body) = post_token(&sim, &form).await;
    assert_oauth_error(status, &body, "invalid_grant", "no client credentials user enabled");

    let mut app = SimApp::new(CLIENT_ID, SECRET, REDIRECT);
    app.client_credentials_enabled = true;
    sim.add_app(app);
    let (status, body) = post_token(&sim, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none());
    assert!(!s(&body["scope"]).contains("refresh_token"));
    assert!(verifies(SECRET, &body));
    assert_eq!(identity(&body).await.status(), StatusCode::OK);

    let (status, body) =
        post_token(&sim, &[("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", "bad")])
            .await;
    assert_oauth_error(status, &body, "invalid_client", "invalid client credentials");
}

#[tokio::test]
async fn unknown_grant_types_are_unsupported() {
    let sim = start(true).await;
    for grant in ["password", ""] {
        let (status, body) =
            post_token(&sim, &[("grant_type", grant), ("client_id", CLIENT_ID), ("client_secret", SECRET)]).await;
        assert_oauth_error(status, &body, "unsupported_grant_type", "grant type not supported");
    }
}

#[tokio::test]
async fn set_org_and_url_overrides_change_later_logins_only() {
    let sim = start(true).await;
    let before = login(&sim, "api refresh_token").await;

    let org = salesforce_sim::salesforce_id_18("00D5g000004OTHR");
    let user = salesforce_sim::salesforce_id_18("0055g000001OTHR");
    sim.set_org(&org, &user);
    sim.set_instance_url(Some("https://other.my.salesforce.com".into()));
    let after = login(&sim, "api").await;
    assert!(s(&after["access_token"]).starts_with("00D5g000004OTHR!"));
    assert_eq!(after["id"], format!("{}/id/{org}/{user}", sim.base_url()));
    assert_eq!(after["instance_url"], "https://other.my.salesforce.com");
    let me: Value = identity(&after).await.json().await.unwrap();
    assert_eq!(me["organization_id"], org);
    assert_eq!(me["urls"]["custom_domain"], "https://other.my.salesforce.com");

    // Refreshing an earlier grant keeps its identity.
    let (_, refreshed) = refresh(&sim, s(&before["refresh_token"])).await;
    assert_eq!(refreshed["id"], before["id"]);

    sim.set_identity_base(Some("https://login.salesforce.com".into()));
    let moved = crate::login(&sim, "api").await;
    assert_eq!(moved["id"], format!("https://login.salesforce.com/id/{org}/{user}"));
    assert!(verifies(SECRET, &moved));
}

#[tokio::test]
async fn garbage_gets_salesforce_errors_not_crashes() {
    let sim = start(true).await;
    let token_url = format!("{}/services/oauth2/token", sim.base_url());
    let http = client();
    let bodies: [(&str, &[u8]); 4] = [
        ("application/json", br#"{"grant_type":"authorization_code"}"#),
        ("application/x-www-form-urlencoded", b"%%%&&==&grant_type"),
        ("application/x-www-form-urlencoded", b"grant_type=refresh_token&client_id=%FF%FE"),
        ("text/plain", b"\xff\xfe\x00"),
    ];
    for (content_type, body) in bodies {
        let response =
            http.post(&token_url).header("content-type", content_type).body(body.to_vec()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string());
    }
    let bad_basic = http
        .post(&token_url)
        .header("authorization", "Basic %%%not-base64")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_basic.status(), StatusCode::BAD_REQUEST);
    let empty = http.post(format!("{}/services/oauth2/revoke", sim.base_url())).send().await.unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let decision = http.post(format!("{}/services/oauth2/authorize/decision", sim.base_url())).send().await.unwrap();
    assert_eq!(decision.status(), StatusCode::BAD_REQUEST);
    let bare = http.get(format!("{}/services/oauth2/authorize", sim.base_url())).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::BAD_REQUEST);
    let odd_identity =
        http.get(format!("{}/id/%FF/x", sim.base_url())).header("authorization", "Bearer").send().await.unwrap();
    assert!(odd_identity.status().is_client_error());
    let unknown = http.get(format!("{}/services/data/v67.0/nothing", sim.base_url())).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(sim.requests().len(), 10, "every request is recorded");

    // The server is still up.
    assert_eq!(login(&sim, "api").await["token_type"], "Bearer");
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let sim = start(true).await;
    let url = format!("{}/services/oauth2/revoke", sim.base_url());
    drop(sim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client().post(url).form(&[("token", "x")]).send().await.is_err());
}

// ---------------------------------------------------------------------------------------------
// Session timeout and introspection
// ---------------------------------------------------------------------------------------------

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);

/// A simulator whose app has the client credentials flow, and a token from it.
async fn client_credentials_login() -> (SalesforceSim, Value) {
    let sim = start(true).await;
    let mut app = SimApp::new(CLIENT_ID, SECRET, REDIRECT);
    app.client_credentials_enabled = true;
    sim.add_app(app);
    let form = [("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", SECRET)];
    let (status, body) = post_token(&sim, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (sim, body)
}

async fn introspect(sim: &SalesforceSim, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response =
        client().post(format!("{}/services/oauth2/introspect", sim.base_url())).form(form).send().await.unwrap();
    let status = response.status();
    if status != StatusCode::SERVICE_UNAVAILABLE {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.text().await.unwrap())
}

/// The form introspecting `token` as `client_id`, with the credentials in the body.
fn introspection_form<'a>(token: &'a str, client_id: &'a str, secret: &'a str) -> [(&'a str, &'a str); 4] {
    [("token", token), ("token_type_hint", "access_token"), ("client_id", client_id), ("client_secret", secret)]
}

/// Introspects `token` as the test app.
async fn introspect_token(sim: &SalesforceSim, token: &str) -> Value {
    let (status, text) = introspect(sim, &introspection_form(token, CLIENT_ID, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn rest_status(sim: &SalesforceSim, token: &str) -> StatusCode {
    let url = format!("{}/services/data/v66.0/query?q=SELECT+Id+FROM+Contact", sim.base_url());
    client().get(url).bearer_auth(token).send().await.unwrap().status()
}

#[tokio::test]
async fn access_tokens_time_out_after_two_hours_without_use() {
    let (sim, login) = client_credentials_login().await;
    let token = s(&login["access_token"]);

    // Each use restarts the count: three uses 1 h 59 min apart keep the session alive.
    for _ in 0..3 {
        sim.advance_time(2 * HOUR - MINUTE);
        assert_eq!(rest_status(&sim, token).await, StatusCode::OK);
    }
    assert_eq!(identity(&login).await.status(), StatusCode::OK, "the identity URL is a use too");
    assert_eq!(sim.invalid_session_answers(), 0);

    sim.advance_time(2 * HOUR);
    assert!(!sim.is_token_active(token));
    let url = format!("{}/services/data/v66.0/query?q=SELECT+Id+FROM+Contact", sim.base_url());
    let response = client().get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]));
    assert_eq!(identity(&login).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sim.invalid_session_answers(), 2);

    // Timed out for good: using it again does not bring it back; a new token works.
    assert_eq!(rest_status(&sim, token).await, StatusCode::UNAUTHORIZED);
    let form = [("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", SECRET)];
    let (_, fresh) = post_token(&sim, &form).await;
    assert_eq!(rest_status(&sim, s(&fresh["access_token"])).await, StatusCode::OK);
}

#[tokio::test]
async fn the_org_and_app_session_timeouts_apply_and_refresh_tokens_outlive_them() {
    let sim = start(true).await;
    assert!(!sim.set_session_timeout(14 * MINUTE), "Session Settings start at 15 minutes");
    assert!(!sim.set_session_timeout(24 * HOUR + MINUTE), "and end at 24 hours");
    assert!(sim.set_session_timeout(30 * MINUTE));
    let login = login(&sim, "api refresh_token").await;
    sim.advance_time(29 * MINUTE);
    assert!(sim.is_token_active(s(&login["access_token"])));
    sim.advance_time(MINUTE);
    assert!(!sim.is_token_active(s(&login["access_token"])), "unused for the timeout: gone");
    assert!(sim.is_token_active(s(&login["refresh_token"])));
    let (status, refreshed) = refresh(&sim, s(&login["refresh_token"])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(identity(&refreshed).await.status(), StatusCode::OK);

    // The app's session policy overrides the org's, for tokens already issued too.
    let mut app = SimApp::new(CLIENT_ID, SECRET, REDIRECT);
    app.session_timeout = Some(4 * HOUR);
    sim.add_app(app);
    sim.advance_time(3 * HOUR);
    assert!(sim.is_token_active(s(&refreshed["access_token"])));
    assert_eq!(introspect_token(&sim, s(&refreshed["access_token"])).await["active"], true);
}

#[tokio::test]
async fn introspection_tells_an_app_when_its_token_times_out() {
    let (sim, login) = client_credentials_login().await;
    let token = s(&login["access_token"]);
    let issued_ms: u64 = s(&login["issued_at"]).parse().unwrap();

    let (_, text) = introspect(&sim, &introspection_form(token, CLIENT_ID, SECRET)).await;
    let order = ["active", "scope", "client_id", "username", "sub", "token_type", "exp", "iat", "nbf"];
    let at: Vec<usize> =
        order.iter().map(|f| text.find(&format!("\"{f}\":")).unwrap_or_else(|| panic!("{f}: {text}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "Salesforce's order: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer.as_object().unwrap().len(), order.len());
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], CLIENT_ID);
    assert_eq!(answer["username"], SimConfig::default().username);
    assert_eq!(answer["sub"], login["id"]);
    assert_eq!(answer["scope"], login["scope"]);
    assert_eq!(answer["token_type"], "access_token");
    let (exp, iat) = (answer["exp"].as_u64().unwrap(), answer["iat"].as_u64().unwrap());
    assert_eq!(iat, issued_ms / 1000, "iat is issued_at in seconds");
    assert_eq!(answer["nbf"].as_u64(), Some(iat));
    assert_eq!(exp - iat, 2 * 60 * 60, "the org's default session timeout");

    // Introspecting is not a use; a call is, and moves exp.
    sim.advance_time(HOUR);
    assert_eq!(introspect_token(&sim, token).await["exp"].as_u64(), Some(exp));
    assert_eq!(rest_status(&sim, token).await, StatusCode::OK);
    assert_eq!(introspect_token(&sim, token).await["exp"].as_u64(), Some(exp + 60 * 60));

    // HTTP Basic works too; the hint is only a hint.
    let basic = client()
        .post(format!("{}/services/oauth2/introspect", sim.base_url()))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[("token", token), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    assert_eq!(basic.json::<Value>().await.unwrap()["active"], true);

    // Timed out: inactive, and nothing else is said.
    sim.advance_time(2 * HOUR);
    assert_eq!(introspect_token(&sim, token).await, serde_json::json!({"active": false}));
    let unknown = introspect_token(&sim, "00D5g000004SimO!SIMTESTMARK.unknown").await;
    assert_eq!(unknown, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspection_sees_only_the_apps_own_tokens_unless_it_may_see_all() {
    let sim = start(true).await;
    let login = login(&sim, "api refresh_token").await;
    let other_id = "3MVG9sim.other.client_id";
    sim.add_app(SimApp::new(other_id, "other-secret", REDIRECT));
    let as_other = introspection_form(s(&login["access_token"]), other_id, "other-secret");
    let (status, text) = introspect(&sim, &as_other).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, r#"{"active":false}"#));

    let mut all = SimApp::new(other_id, "other-secret", REDIRECT);
    all.introspect_all_tokens = true;
    sim.add_app(all);
    let (_, text) = introspect(&sim, &as_other).await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["client_id"], CLIENT_ID);

    // A refresh token: valid until revoked, so no exp.
    let answer = introspect_token(&sim, s(&login["refresh_token"])).await;
    assert_eq!(answer["token_type"], "refresh_token");
    assert!(answer.get("exp").is_none() && answer["iat"].is_u64());
    assert!(sim.revoke_token(s(&login["refresh_token"])));
    assert_eq!(introspect_token(&sim, s(&login["access_token"])).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspection_errors() {
    let (sim, login) = client_credentials_login().await;
    let token = s(&login["access_token"]);
    type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str, &'a str);
    let unauthorized = StatusCode::UNAUTHORIZED;
    let cases: [Case; 4] = [
        (&[("token", token), ("client_id", CLIENT_ID), ("client_secret", "wrong")], unauthorized, "invalid_client", "invalid client credentials"),
        (&[("token", token), ("client_id", CLIENT_ID)], unauthorized, "invalid_client", "invalid client credentials"),
        (&[("token", token), ("client_id", "3MVG9nobody"), ("client_secret", SECRET)], unauthorized, "invalid_client_id", "client identifier invalid"),
        (&[("client_id", CLIENT_ID), ("client_secret", SECRET)], StatusCode::BAD_REQUEST, "invalid_request", "missing required parameter: token"),
    ];
    for (form, status, error, description) in cases {
        let (got, text) = introspect(&sim, form).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        let answer = (got, body["error"].as_str(), body["error_description"].as_str());
        assert_eq!(answer, (status, Some(error), Some(description)), "{form:?}");
    }

    sim.fail_introspection_requests(1);
    let form = [("token", token), ("client_id", CLIENT_ID), ("client_secret", SECRET)];
    let (status, text) = introspect(&sim, &form).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("<html>"), "{text}");
    assert_eq!(introspect_token(&sim, token).await["active"], true, "one failure, then answers");
    assert_eq!(sim.introspection_requests().len(), 6);
    assert_eq!(sim.token_requests().len(), 1);
}
