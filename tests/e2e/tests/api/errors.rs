//! One error shape from every function behind the local stack: a wrong method (405, with
//! `Allow`), an unknown path (404) and a body over the limit (413) are `{"error": {"code",
//! "message"}}` from the admin API, the OAuth endpoints, the webhook receiver (which adds
//! `"processed": false`, and answers an Outbound Message with a SOAP fault) and the local stack's
//! own routes. A path under a public prefix never asks for the admin token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json_error, spawn_app, Backend, TestApp};

impl TestApp {
    /// `method path` with `content_type` and `body`, and no admin token.
    async fn anonymous(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        self.api.request(method, self.url(path)).header("content-type", content_type).body(body).send().await.unwrap()
    }
}

fn allow(headers: &reqwest::header::HeaderMap) -> &str {
    headers.get("allow").map(|v| v.to_str().unwrap()).unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn the_admin_api_answers_wrong_methods_unknown_routes_and_big_bodies_in_json() {
    let app = spawn_app(Backend::Memory).await;
    let (headers, body) =
        expect_json_error(app.admin(Method::DELETE, "/v1/tenants/t1/health", None).await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_eq!(allow(&headers), "GET,HEAD");
    assert!(message(&body).contains("does not take DELETE"), "{body}");
    let (_, body) = expect_json_error(app.admin(Method::GET, "/v1/tenant/t1/health", None).await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(message(&body).contains("/v1/tenants/{tenant_id}/"), "{body}");
    let big = json!({"sequence_id": "s".repeat(20 * 1024)});
    expect_json_error(app.admin(Method::PUT, "/v1/tenants/t1/settings", Some(big)).await, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
}

#[tokio::test]
async fn the_oauth_endpoints_answer_wrong_methods_and_unknown_paths_in_json_without_the_admin_token() {
    let app = spawn_app(Backend::Memory).await;
    // They take no body at all: a POST, however large, is refused by its method.
    let response = app.anonymous(Method::POST, "/oauth/callback", "application/json", vec![b' '; 2 * 1024 * 1024]).await;
    let (headers, body) = expect_json_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_eq!(allow(&headers), "GET,HEAD");
    assert!(message(&body).contains("does not take POST"), "{body}");
    let (_, body) = expect_json_error(app.anonymous(Method::GET, "/oauth/calback", "text/plain", vec![]).await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(message(&body).contains("/oauth/callback"), "{body}");
}

#[tokio::test]
async fn the_webhook_url_answers_a_wrong_method_or_path_in_the_senders_format_without_the_admin_token() {
    let app = spawn_app(Backend::Memory).await;
    // Someone opening the webhook URL in a browser.
    let response = app.api.get(app.url("/webhooks/salesforce/team_42")).send().await.unwrap();
    let (headers, body) = expect_json_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_eq!((allow(&headers), &body["processed"]), ("POST", &json!(false)));
    assert!(message(&body).contains("POST"), "{body}");

    for path in ["/webhooks/salesforc/team_42", "/webhooks/salesforce/team_42/extra", "/webhooks/salesforce/", "/webhooks/team_42", "/webhooks"] {
        let response = app.anonymous(Method::POST, path, "application/json", b"{}".to_vec()).await;
        let (_, body) = expect_json_error(response, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(body["processed"], false, "{path}");
        assert!(message(&body).contains("/webhooks/salesforce/{tenant_id}"), "{path}: {body}");
    }
    // An Outbound Message to a mistyped URL: a SOAP fault, whose reason Salesforce shows in its
    // delivery status.
    let response = app.anonymous(Method::POST, "/webhooks/salesforc/team_42", "text/xml; charset=utf-8", b"<x/>".to_vec()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    let fault = response.text().await.unwrap();
    assert!(fault.contains("<faultstring>") && fault.contains("/webhooks/salesforce/{tenant_id}"), "{fault}");
    // A tenant id that is not text once decoded.
    let response = app.anonymous(Method::POST, "/webhooks/salesforce/%FF", "application/json", b"{}".to_vec()).await;
    expect_json_error(response, StatusCode::NOT_FOUND, "invalid_tenant_id").await;

    let over = vec![b' '; sfbridge_inbound::MAX_BODY_BYTES + 1];
    let response = app.anonymous(Method::POST, "/webhooks/salesforce/team_42", "application/json", over).await;
    let (_, body) = expect_json_error(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    assert_eq!(body["processed"], false);
}

#[tokio::test]
async fn the_local_routes_answer_wrong_methods_and_unknown_paths_in_json() {
    let app = spawn_app(Backend::Memory).await;
    let (headers, _) = expect_json_error(app.admin(Method::GET, "/local/activity", None).await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_eq!(allow(&headers), "POST");
    let (_, body) = expect_json_error(app.anonymous(Method::GET, "/local/activities", "text/plain", vec![]).await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(message(&body).contains("POST /local/activity"), "{body}");
    // Its 413: local_activity.rs.
    // Elsewhere an unknown path is the admin API's, behind its token (README "Errors").
    let other = app.api.get(app.url("/nothing-here")).send().await.unwrap();
    expect_json_error(other, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
