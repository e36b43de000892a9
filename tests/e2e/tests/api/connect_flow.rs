//! The connect flow end to end, once per storage backend.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend, MARKER};

#[tokio::test]
async fn connect_flow_end_to_end_with_embedded_storage() {
    connect_flow_end_to_end(Backend::Memory).await;
}

#[tokio::test]
async fn connect_flow_end_to_end_with_dynamodb_and_kms_on_moto() {
    connect_flow_end_to_end(Backend::Moto).await;
}

async fn connect_flow_end_to_end(backend: Backend) {
    let app = spawn_app(backend).await;
    app.save_credentials("team_42").await;
    assert_eq!(app.connection("team_42").await["status"], "credentials_saved");

    let (flow_id, page) = app.connect_in_browser("team_42").await;

    // The popup page: success, addressed to the configured origin only, locked down.
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    assert!(html.contains("Connected to Salesforce"), "{html}");
    // Addressed to each allowed origin (the browser delivers it only to the opener's).
    assert!(html.contains(r#"var origins = ["https://app.example.com","https://admin.example.com"];"#), "{html}");
    assert!(html.contains("origins.forEach"), "{html}");
    assert!(html.contains("window.opener.postMessage(message, origin)"), "{html}");
    assert!(!html.contains("\"*\""));
    assert!(html.contains(&format!(r#""flow_id":"{flow_id}""#)));
    assert!(html.contains(r#""status":"connected""#) && html.contains(r#""tenant_id":"team_42""#));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'nonce-"), "{csp}");

    // The token request carried the PKCE verifier and the client secret, to the tenant's host.
    let token_requests = app.sim.token_requests();
    assert_eq!(token_requests.len(), 1);
    let exchange = &token_requests[0];
    assert_eq!(exchange.param("grant_type"), Some("authorization_code"));
    assert_eq!(exchange.param("client_id"), Some(app.consumer_key.as_str()));
    assert_eq!(exchange.param("client_secret"), Some(app.consumer_secret.as_str()));
    let verifier = exchange.param("code_verifier").expect("a PKCE verifier").to_owned();
    assert!(verifier.len() >= 43);

    // The opener can poll instead of relying on window.opener.
    let status = app.flow_status(&flow_id).await;
    assert_eq!(status["status"], "connected", "{status}");

    // The admin API shows the connection, and nothing secret.
    let view = app.connection("team_42").await;
    assert_eq!(view["status"], "connected", "{view}");
    assert_eq!(view["organization_id"], salesforce_sim::SimConfig::default().org_id);
    assert_eq!(view["instance_url"], app.sim.base_url());
    assert_eq!(view["username"], salesforce_sim::SimConfig::default().username);
    let shown = view.to_string();
    assert!(!shown.contains(MARKER) && !shown.contains(&app.consumer_secret) && !shown.contains(&app.consumer_key));
    assert!(view["credentials"]["consumer_key"].as_str().unwrap().contains('…'));

    let audit = app.audit_types("team_42").await;
    assert_eq!(audit, ["salesforce.connected", "salesforce.byo_credentials_set"]);

    // At rest: sealed, never plain. Tokens and codes carry the marker; so does the secret.
    let raw = app.raw_items_text().await;
    assert!(raw.contains("TENANT#team_42"), "scan saw the items");
    for needle in [MARKER, app.consumer_secret.as_str(), app.consumer_key.as_str(), verifier.as_str()] {
        assert!(!raw.contains(needle), "storage holds a plaintext secret");
    }

    // And in the logs.
    let logs = crate::helpers::captured_logs();
    for needle in [app.consumer_secret.as_str(), verifier.as_str()] {
        assert!(!logs.contains(needle), "a secret reached the logs");
    }
}

#[tokio::test]
async fn reconnecting_the_same_org_revokes_the_replaced_token() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (_, first) = app.connect_in_browser("t1").await;
    assert_eq!(first.status(), StatusCode::OK);
    let first_refresh = refresh_token_issued(&app, 0);

    let (_, second) = app.connect_in_browser("t1").await;
    assert_eq!(second.status(), StatusCode::OK);
    assert!(app.sim.revoked_tokens().contains(&first_refresh), "the old refresh token is revoked");
    assert!(!app.sim.is_token_active(&first_refresh));
    assert_eq!(app.connection("t1").await["status"], "connected");
    assert_eq!(app.audit_types("t1").await[..2], ["salesforce.connected", "salesforce.connected"]);
}

#[tokio::test]
async fn disconnect_revokes_at_salesforce_and_forgets_tokens() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    app.connect_in_browser("t1").await;
    let refresh = refresh_token_issued(&app, 0);

    let response = app.admin(reqwest::Method::DELETE, "/v1/tenants/t1/connection", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["revoked_at_salesforce"], true, "{body}");
    assert!(!app.sim.is_token_active(&refresh));
    assert_eq!(app.connection("t1").await["status"], "credentials_saved");
    assert_eq!(app.audit_types("t1").await[0], "salesforce.disconnected");
    assert!(!app.raw_items_text().await.contains("refresh_token\":\""), "no sealed token remains");

    let again = app.admin(reqwest::Method::DELETE, "/v1/tenants/t1/connection", None).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn clearing_credentials_disconnects_and_audits() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    app.connect_in_browser("t1").await;
    let refresh = refresh_token_issued(&app, 0);

    let response = app.admin(reqwest::Method::DELETE, "/v1/tenants/t1/credentials", None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!app.sim.is_token_active(&refresh));
    assert_eq!(app.connection("t1").await["status"], "not_configured");
    assert_eq!(
        app.audit_types("t1").await[..2],
        ["salesforce.byo_credentials_cleared", "salesforce.disconnected"]
    );
}

#[tokio::test]
async fn flow_status_is_pollable_from_the_app_origins_only() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (flow_id, _) = app.begin_connect("t1").await;
    let poll = |origin: &'static str| {
        app.api.get(app.url(&format!("/oauth/flows/{flow_id}"))).header("origin", origin).send()
    };
    for allowed in ["https://app.example.com", "https://admin.example.com"] {
        let response = poll(allowed).await.unwrap();
        assert_eq!(response.headers()["access-control-allow-origin"], allowed);
        assert_eq!(response.headers()["vary"], "origin");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "pending");
        assert_eq!(body["tenant_id"], "t1");
    }
    for other in ["https://evil.example.com", "https://app.example.com.evil.example", "null"] {
        let response = poll(other).await.unwrap();
        assert!(response.headers().get("access-control-allow-origin").is_none(), "{other}");
    }

    let unknown = app.api.get(app.url("/oauth/flows/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn client_credentials_flow_connects_without_a_popup() {
    let app = spawn_app(Backend::Memory).await;
    let mut cc_app = salesforce_sim::SimApp::new("3MVG9cc.key.0123456789", format!("{MARKER}-cc-secret"), "https://unused.example.com/cb");
    cc_app.client_credentials_enabled = true;
    app.sim.add_app(cc_app);
    let body = serde_json::json!({
        "consumer_key": "3MVG9cc.key.0123456789", "consumer_secret": format!("{MARKER}-cc-secret"),
        "login_url": app.sim.base_url(), "flow": "client_credentials"
    });
    assert_eq!(app.put_credentials("t1", body).await.status(), StatusCode::NO_CONTENT);

    let response = app.admin(reqwest::Method::POST, "/v1/tenants/t1/connect", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let started: serde_json::Value = response.json().await.unwrap();
    assert_eq!(started["status"], "connected", "{started}");
    assert!(started["connect_url"].is_null());
    assert_eq!(app.connection("t1").await["status"], "connected");
    assert_eq!(app.sim.token_requests()[0].param("grant_type"), Some("client_credentials"));
}

/// The `n`th refresh token the simulator issued.
fn refresh_token_issued(app: &crate::helpers::TestApp, n: usize) -> String {
    app.sim.issued_refresh_tokens().get(n).cloned().expect("the sim issued a refresh token")
}
