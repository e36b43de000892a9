//! Every way a connect flow must fail: each leaves no connection, shows a message a person can
//! act on, and (where the failure is ours to detect) makes no token request at all.

use chrono::Duration;
use reqwest::StatusCode;
use sfbridge_core::cipher::{seal_str, Purpose, SealContext};
use sfbridge_core::domain::TenantId;

use crate::helpers::{assert_not_connected, new_browser, query_param, spawn_app, Backend, RawTable, TestApp};

/// Runs the popup up to Salesforce's redirect back, without delivering it.
async fn callback_url_for(app: &TestApp, tenant: &str) -> String {
    app.save_credentials(tenant).await;
    let (_, connect_url) = app.begin_connect(tenant).await;
    let authorize_url = app.open_connect_url(&app.browser, &connect_url).await;
    app.authorize(&app.browser, &authorize_url).await
}

async fn page(browser: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let response = browser.get(url).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

fn assert_failure_page(status: StatusCode, html: &str, code: &str, advice: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("Could not connect to Salesforce"), "{html}");
    assert!(html.contains(&format!("Error code: {code}")), "expected {code}: {html}");
    assert!(html.contains(advice), "expected advice {advice:?}: {html}");
}

#[tokio::test]
async fn missing_state_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (status, html) = page(&app.browser, &app.url("/oauth/callback?code=abc")).await;
    assert_failure_page(status, &html, "missing_state", "click Connect again");
    assert!(!html.contains("\"flow_id\":\""), "a stray request announces nothing to the opener");
    assert_eq!(app.token_requests(), 0);
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn unknown_state_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let forged = sfbridge_core::domain::OAuthState::random();
    let url = app.url(&format!("/oauth/callback?code=abc&state={}", forged.as_str()));
    let (status, html) = page(&app.browser, &url).await;
    assert_failure_page(status, &html, "unknown_state", "click Connect again");
    let (status, html) = page(&app.browser, &app.url("/oauth/callback?code=abc&state=%3Cscript%3E")).await;
    assert_failure_page(status, &html, "unknown_state", "click Connect again");
    assert!(!html.contains("<script>"));
    assert_eq!(app.token_requests(), 0);
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn reused_state_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    let callback = callback_url_for(&app, "t1").await;
    let (status, _) = page(&app.browser, &callback).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.token_requests(), 1);

    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "unknown_state", "already used");
    assert_eq!(app.token_requests(), 1, "the replay made no second token request");
}

#[tokio::test]
async fn expired_state_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    let callback = callback_url_for(&app, "t1").await;
    app.clock.advance(Duration::minutes(11));
    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "state_expired", "click Connect again");
    assert_eq!(app.token_requests(), 0);
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn expired_connect_link_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (flow_id, connect_url) = app.begin_connect("t1").await;
    app.clock.advance(Duration::minutes(11));
    let (status, html) = page(&app.browser, &connect_url).await;
    assert_failure_page(status, &html, "flow_expired", "click Connect again");
    assert_eq!(app.flow_status(&flow_id).await["status"], "failed");
}

#[tokio::test]
async fn the_binding_cookie_is_http_only_lax_and_scoped_to_oauth() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (flow_id, connect_url) = app.begin_connect("t1").await;
    let response = new_browser().get(&connect_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("sfbridge_oauth_{flow_id}=")), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/oauth", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    // Plain http on loopback is the local stack; everywhere else the cookie is Secure (unit-tested in config).
    assert!(!cookie.contains("Secure"));
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn connect_link_opens_once() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (_, connect_url) = app.begin_connect("t1").await;
    app.open_connect_url(&app.browser, &connect_url).await;
    let (status, html) = page(&new_browser(), &connect_url).await;
    assert_failure_page(status, &html, "flow_already_started", "click Connect again");
}

#[tokio::test]
async fn callback_in_another_browser_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    let callback = callback_url_for(&app, "t1").await;
    let (status, html) = page(&new_browser(), &callback).await;
    assert_failure_page(status, &html, "browser_mismatch", "different browser");
    assert_eq!(app.token_requests(), 0);
    assert_not_connected(&app, "t1").await;

    // The state is spent: the right browser cannot finish it afterwards either.
    let (status, _) = page(&app.browser, &callback).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.token_requests(), 0);
}

#[tokio::test]
async fn wrong_pkce_verifier_is_rejected_by_salesforce() {
    let app = spawn_app(Backend::Memory).await;
    let callback = callback_url_for(&app, "t1").await;
    // Replace the stored verifier with another, properly sealed one: only Salesforce can tell.
    let state = query_param(&callback, "state").unwrap();
    let RawTable::Memory(table) = &app.raw else { unreachable!() };
    let mut item = table.raw_items().into_iter().find(|i| i["pk"] == format!("STATE#{state}")).unwrap();
    let t = TenantId::parse("t1").unwrap();
    let other = seal_str(app.ctx.cipher.as_ref(), &SealContext::new(&t, Purpose::PkceVerifier), &"x".repeat(43)).await.unwrap();
    item.insert("verifier".into(), serde_json::to_value(&other).unwrap());
    table.put_raw(item).unwrap();

    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "invalid_grant", "Click Connect");
    let requests = app.sim.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].param("code_verifier"), Some("x".repeat(43).as_str()));
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn login_hosts_outside_the_allowlist_are_refused() {
    let app = spawn_app(Backend::Memory).await;
    for host in ["http://169.254.169.254", "https://my.salesforce.com.evil.com", "https://x.lightning.force.com"] {
        let body = serde_json::json!({"consumer_key": app.consumer_key, "consumer_secret": app.consumer_secret, "login_url": host});
        let response = app.put_credentials("t1", body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{host}");
        let error: serde_json::Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("my.salesforce.com"), "the message says what is allowed: {message}");
    }
    let connect = app.admin(reqwest::Method::POST, "/v1/tenants/t1/connect", None).await;
    assert_eq!(connect.status(), StatusCode::CONFLICT);
    assert!(app.sim.requests().is_empty(), "nothing was sent anywhere");
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn tampered_signature_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.set_tamper_signature(true);
    let callback = callback_url_for(&app, "t1").await;
    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "signature_invalid", "Re-save the credentials");
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn instance_and_identity_urls_outside_the_allowlist_are_refused() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.set_instance_url(Some("https://evil.example.com".into()));
    let callback = callback_url_for(&app, "t1").await;
    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "instance_url_not_allowed", "refused");
    assert_not_connected(&app, "t1").await;

    app.sim.set_instance_url(None);
    app.sim.set_identity_base(Some("https://login.salesforce.com.evil.com".into()));
    let (_, connect_url) = app.begin_connect("t1").await;
    let authorize_url = app.open_connect_url(&app.browser, &connect_url).await;
    let callback = app.authorize(&app.browser, &authorize_url).await;
    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "identity_url_not_allowed", "refused");
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn access_denied_is_explained() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.set_authorize_error(Some(("access_denied".into(), "end-user denied authorization".into())));
    let callback = callback_url_for(&app, "t1").await;
    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "access_denied", "choose Allow");
    assert_eq!(app.token_requests(), 0);
    assert_not_connected(&app, "t1").await;
}

#[tokio::test]
async fn app_not_found_is_explained() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.set_authorize_error(Some(("OAUTH_EC_APP_NOT_FOUND".into(), "External client app is not installed in this org".into())));
    let callback = callback_url_for(&app, "t1").await;
    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "app_not_found", "same org where you created the app");
    assert_eq!(app.token_requests(), 0);
}

#[tokio::test]
async fn a_different_org_on_reconnect_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (_, first) = app.connect_in_browser("t1").await;
    assert_eq!(first.status(), StatusCode::OK);
    let original = app.connection("t1").await["organization_id"].clone();

    let other_org = sfbridge_core::domain::SalesforceId::parse("00D5g000004OTHR").unwrap().to_string();
    let other_user = sfbridge_core::domain::SalesforceId::parse("0055g000001OTHR").unwrap().to_string();
    app.sim.set_org(&other_org, &other_user);
    let (_, second) = app.connect_in_browser("t1").await;
    let status = second.status();
    let html = second.text().await.unwrap();
    assert_failure_page(status, &html, "org_mismatch", "disconnect first");
    let view = app.connection("t1").await;
    assert_eq!(view["organization_id"], original, "still the original org");
    let refused = app.sim.issued_refresh_tokens().last().cloned().unwrap();
    assert!(!app.sim.is_token_active(&refused), "the refused org's token was revoked");
}

#[tokio::test]
async fn credentials_changed_mid_flow_are_detected() {
    let app = spawn_app(Backend::Memory).await;
    let callback = callback_url_for(&app, "t1").await;
    let body = serde_json::json!({"consumer_key": "3MVG9another.key.123", "consumer_secret": "CANARY-other", "login_url": app.sim.base_url()});
    assert_eq!(app.put_credentials("t1", body).await.status(), StatusCode::NO_CONTENT);
    let (status, html) = page(&app.browser, &callback).await;
    assert_failure_page(status, &html, "credentials_changed", "Click Connect again");
    assert_eq!(app.token_requests(), 0);
}

#[tokio::test]
async fn a_hundred_forged_callbacks_make_no_token_request_and_spare_the_live_flow() {
    let app = spawn_app(Backend::Memory).await;
    let callback = callback_url_for(&app, "t1").await;
    let live_state = query_param(&callback, "state").unwrap();
    let code = query_param(&callback, "code").unwrap();
    let stranger = new_browser();
    for i in 0..100 {
        let random = sfbridge_core::domain::FlowId::random().to_string();
        let mut flipped: Vec<char> = live_state.chars().collect();
        let at = i % flipped.len();
        flipped[at] = if flipped[at] == 'A' { 'B' } else { 'A' };
        let forged: String = match i % 5 {
            0 => random,
            1 => flipped.into_iter().collect(),
            2 => format!("{live_state}{}", "x".repeat(i)),
            3 => ["%00", "%E2%80%AE", "..%2F..%2F", "%3Cscript%3E", "%FF%FE"][i % 5].repeat(1 + i),
            _ => "A".repeat(i * 100),
        };
        let url = app.url(&format!("/oauth/callback?code={code}&state={forged}"));
        // Half from the right browser, half from a stranger: neither may get anywhere.
        let browser = if i % 2 == 0 { &app.browser } else { &stranger };
        let response = browser.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "variant {i}");
    }
    assert_eq!(app.token_requests(), 0);
    assert_not_connected(&app, "t1").await;

    let (status, _) = page(&app.browser, &callback).await;
    assert_eq!(status, StatusCode::OK, "the genuine callback still completes");
    assert_eq!(app.connection("t1").await["status"], "connected");
}
