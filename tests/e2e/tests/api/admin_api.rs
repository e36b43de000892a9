//! The admin API's contract: auth, validation, errors a person can act on, no secret returned.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, MARKER};

async fn error_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_owned(), body["error"]["message"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn requires_the_admin_token() {
    let app = spawn_app(Backend::Memory).await;
    let url = app.url("/v1/tenants/t1/connection");
    let none = app.api.get(&url).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let (status, code, _) = error_of(none).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let wrong = app.api.get(&url).bearer_auth("admin-wrong-token-000").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn connect_without_credentials_says_save_them_first() {
    let app = spawn_app(Backend::Memory).await;
    let (status, code, message) = error_of(app.admin(Method::POST, "/v1/tenants/t1/connect", None).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code, "credentials_missing");
    assert!(message.starts_with("Save credentials first"), "{message}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = spawn_app(Backend::Memory).await;
    let secret = format!("{MARKER}-typo-secret");
    let cases = [
        ("/v1/tenants/bad%23tenant/credentials", json!({"consumer_key": "k".repeat(20), "consumer_secret": secret}), StatusCode::BAD_REQUEST, "invalid_tenant_id"),
        ("/v1/tenants/t1/credentials", json!({"consumer_key": "k".repeat(20)}), StatusCode::BAD_REQUEST, "invalid_request"),
        ("/v1/tenants/t1/credentials", json!({"consumer_key": "", "consumer_secret": secret}), StatusCode::BAD_REQUEST, "invalid_request"),
        ("/v1/tenants/t1/credentials", json!({"consumer_key": "k".repeat(20), "consumer_secret": secret, "flow": "implicit"}), StatusCode::BAD_REQUEST, "invalid_request"),
        ("/v1/tenants/t1/credentials", json!({"consumer_key": 42, "consumer_secret": secret}), StatusCode::BAD_REQUEST, "invalid_request"),
        ("/v1/tenants/t1/credentials", json!({"consumer_key": "k".repeat(20), "consumer_secret": 7, "extra": secret}), StatusCode::BAD_REQUEST, "invalid_request"),
        ("/v1/tenants/t1/credentials", json!({"consumer_key": "k".repeat(20), "consumer_secret": secret, "login_url": "https://login.salesforce.com", "flow": "client_credentials"}), StatusCode::BAD_REQUEST, "invalid_request"),
    ];
    for (path, body, expected_status, expected_code) in cases {
        let response = app.admin(Method::PUT, path, Some(body.clone())).await;
        let (status, code, message) = error_of(response).await;
        assert_eq!((status, code.as_str()), (expected_status, expected_code), "{body}: {message}");
        assert!(!message.contains(&secret), "the error echoes no value: {message}");
    }
    let not_json = app
        .api
        .put(app.url("/v1/tenants/t1/credentials"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(not_json).await.1, "invalid_json");
    let no_type = app.api.put(app.url("/v1/tenants/t1/credentials")).bearer_auth(&app.admin_token).body("{}").send().await.unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.connection("t1").await["status"], "not_configured");
    assert!(app.audit_types("t1").await.is_empty());
}

#[tokio::test]
async fn credentials_are_masked_and_never_returned() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let view = app.connection("t1").await;
    let masked = view["credentials"]["consumer_key"].as_str().unwrap();
    assert_eq!(masked, format!("{}…{}", &app.consumer_key[..4], &app.consumer_key[app.consumer_key.len() - 4..]));
    assert_eq!(view["credentials"]["login_url"], app.sim.base_url());
    assert_eq!(view["credentials"]["flow"], "web_server");
    let audit = app.admin(Method::GET, "/v1/tenants/t1/audit", None).await.text().await.unwrap();
    for shown in [view.to_string(), audit] {
        assert!(!shown.contains(&app.consumer_secret) && !shown.contains(&app.consumer_key), "{shown}");
    }
}

#[tokio::test]
async fn clearing_missing_credentials_is_a_404() {
    let app = spawn_app(Backend::Memory).await;
    let (status, code, _) = error_of(app.admin(Method::DELETE, "/v1/tenants/t1/credentials", None).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "no_credentials"));
}

#[tokio::test]
async fn audit_pages_newest_first() {
    let app = spawn_app(Backend::Memory).await;
    for _ in 0..3 {
        app.save_credentials("t1").await;
    }
    let first: Value = app.admin(Method::GET, "/v1/tenants/t1/audit?limit=2", None).await.json().await.unwrap();
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["detail"]["version"], 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .admin(Method::GET, &format!("/v1/tenants/t1/audit?limit=2&cursor={}", urlencode(cursor)), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["events"][0]["detail"]["version"], 1);
    assert!(rest["next_cursor"].is_null());

    let (status, _, _) = error_of(app.admin(Method::GET, "/v1/tenants/t1/audit?limit=1000", None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let app = spawn_app(Backend::Memory).await;
    let (status, code, _) = error_of(app.admin(Method::GET, "/v1/nothing", None).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let (status, code, _) = error_of(app.admin(Method::PATCH, "/v1/tenants/t1/connection", None).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn oversized_and_garbage_bodies_are_refused_without_harm() {
    let app = spawn_app(Backend::Memory).await;
    let huge = json!({"consumer_key": "k".repeat(20), "consumer_secret": "s".repeat(20_000)});
    let (status, code, _) = error_of(app.put_credentials("t1", huge).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
    for body in ["", "null", "[]", "\"x\"", "{\"consumer_key\": {}}", "\u{0}\u{1}", "{\"a\":", &"[".repeat(10_000)] {
        let response = app
            .api
            .put(app.url("/v1/tenants/t1/credentials"))
            .bearer_auth(&app.admin_token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{body:?} -> {}", response.status());
    }
    let long_tenant = format!("/v1/tenants/{}/connection", "a".repeat(5_000));
    let (status, code, _) = error_of(app.admin(Method::GET, &long_tenant, None).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_tenant_id"));
    assert_eq!(app.connection("t1").await["status"], "not_configured");
}

/// Every list takes back only the cursors it handed out for the tenant, and answers a bad limit
/// with one code whether it is out of range or no number.
#[tokio::test]
async fn lists_refuse_cursors_they_did_not_issue_and_bad_limits_with_one_code_each() {
    let app = spawn_app(Backend::Memory).await;
    for _ in 0..2 {
        app.save_credentials("t1").await;
        app.save_credentials("t2").await;
    }
    let next_cursor = |tenant: &'static str| {
        let app = &app;
        async move {
            let page: Value = app.admin(Method::GET, &format!("/v1/tenants/{tenant}/audit?limit=1"), None).await.json().await.unwrap();
            page["next_cursor"].as_str().unwrap().to_owned()
        }
    };
    let t1_audit = urlencode(&next_cursor("t1").await);
    let on_t1 = app.admin(Method::GET, &format!("/v1/tenants/t1/audit?limit=1&cursor={t1_audit}"), None).await;
    assert_eq!(on_t1.status(), StatusCode::OK, "its own cursor pages on");

    let cases = [
        ("audit", "garbage".to_owned()),
        ("audit", urlencode("2026-01-02T03:04:05.000120Z#a1")),
        ("audit", t1_audit[..t1_audit.len() - 3].to_owned()),
        ("deliveries", t1_audit.clone()),
        ("dead-letters", "e2".to_owned()),
        ("dead-letters", t1_audit.clone()),
        ("campaigns", "c1".to_owned()),
        ("campaigns", t1_audit.clone()),
    ];
    for (list, cursor) in cases.iter().map(|(l, c)| (format!("/v1/tenants/t1/{l}"), c)).chain([("/v1/tenants/t2/audit".to_owned(), &t1_audit)]) {
        let (status, code, message) = error_of(app.admin(Method::GET, &format!("{list}?cursor={cursor}"), None).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_cursor"), "{list} {cursor}");
        assert!(message.contains("not issued by this endpoint") && message.ends_with("or start without one"), "{message}");
    }
    for list in ["audit", "deliveries", "dead-letters", "campaigns"] {
        for limit in ["0", "101", "ten", "-1", "2.5", ""] {
            let (status, code, message) = error_of(app.admin(Method::GET, &format!("/v1/tenants/t1/{list}?limit={limit}"), None).await).await;
            assert_eq!((status, code.as_str(), message.as_str()), (StatusCode::BAD_REQUEST, "invalid_limit", "limit must be a whole number from 1 to 100"), "{list} {limit:?}");
        }
    }
}
