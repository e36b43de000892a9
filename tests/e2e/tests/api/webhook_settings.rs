//! The webhook side of the admin API: trigger mode, sequence and webhook auth in the settings, and
//! the tenant's webhook secrets (created once, shown once, stored only sealed, at most two,
//! revoked by id). The HTTP and storage parts run on the embedded table and on DynamoDB + KMS in
//! moto.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sfbridge_core::cipher::{open_string, Purpose, SealContext};
use sfbridge_core::domain::TenantId;
use sfbridge_inbound::auth::secret_digest;

use crate::helpers::{captured_logs, spawn_app, Backend, RawTable, TestApp};

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let response = app.admin(method, path, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn audit_events(app: &TestApp, tenant: &str) -> Vec<Value> {
    let (status, body) = call(app, Method::GET, &format!("/v1/tenants/{tenant}/audit"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

fn secrets_path(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/webhook-secrets")
}

async fn list(app: &TestApp, tenant: &str) -> Value {
    let (status, body) = call(app, Method::GET, &secrets_path(tenant), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn listed_ids(list: &Value) -> Vec<String> {
    list["secrets"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

/// `POST /webhook-secrets`, expecting 201; returns the body.
async fn create(app: &TestApp, tenant: &str) -> Value {
    let response = app.admin(Method::POST, &secrets_path(tenant), None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store", "the one response with the secret is not cached");
    response.json().await.unwrap()
}

fn is_secret_id(id: &str) -> bool {
    id.strip_prefix("whk_")
        .is_some_and(|r| r.len() == 16 && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The raw stored item, as text.
async fn raw_item_text(app: &TestApp, pk: &str, sk: &str) -> Option<String> {
    match &app.raw {
        RawTable::Memory(table) => table
            .raw_items()
            .into_iter()
            .find(|i| i["pk"] == pk && i["sk"] == sk)
            .map(|i| serde_json::to_string(&i).unwrap()),
        RawTable::Dynamo { client, table } => {
            use aws_sdk_dynamodb::types::AttributeValue;
            let key = HashMap::from([
                ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
                ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            ]);
            let item = client.get_item().table_name(table).set_key(Some(key)).send().await.unwrap().item;
            item.map(|i| format!("{i:?}"))
        }
    }
}

// --- settings: trigger mode, sequence, webhook auth --------------------------------------------------

async fn trigger_mode_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/v1/tenants/team_42/settings";
    let (_, defaults) = call(&app, Method::GET, path, None).await;
    assert_eq!(
        (&defaults["trigger_mode"], &defaults["sequence_id"], &defaults["webhook_auth"]),
        (&json!("manual"), &Value::Null, &json!("secret")),
        "{defaults}"
    );

    for (body, status, code, message) in [
        (json!({"trigger_mode": "auto"}), StatusCode::BAD_REQUEST, "invalid_request",
         "trigger_mode: \"auto\" needs a sequence_id: the product's sequence that Closed Won events start"),
        (json!({"trigger_mode": "both", "sequence_id": ""}), StatusCode::BAD_REQUEST, "invalid_request",
         "trigger_mode: \"both\" needs a sequence_id: the product's sequence that Closed Won events start"),
        (json!({"trigger_mode": "auto", "sequence_id": null}), StatusCode::BAD_REQUEST, "invalid_request", "trigger_mode: \"auto\" needs"),
        (json!({"trigger_mode": "auto", "sequence_id": "seq 1"}), StatusCode::BAD_REQUEST, "invalid_request",
         "sequence_id: sequence id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"),
        (json!({"sequence_id": "s".repeat(65)}), StatusCode::BAD_REQUEST, "invalid_request", "sequence_id: sequence id must be"),
        (json!({"trigger_mode": "always"}), StatusCode::BAD_REQUEST, "invalid_request", "trigger_mode: unknown variant `always`"),
        (json!({"webhook_auth": "hmac"}), StatusCode::BAD_REQUEST, "invalid_request", "webhook_auth: unknown variant `hmac`"),
        (json!({"sequence_id": 7}), StatusCode::BAD_REQUEST, "invalid_request", "sequence_id: wrong type"),
    ] {
        let (got_status, response) = call(&app, Method::PUT, path, Some(body.clone())).await;
        assert_eq!((got_status, response["error"]["code"].as_str()), (status, Some(code)), "{body}: {response}");
        let got = response["error"]["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{body}: {got}");
    }
    // Nothing was stored or audited.
    assert_eq!(call(&app, Method::GET, path, None).await.1, defaults);
    assert!(audit_events(&app, "team_42").await.is_empty());

    let (status, saved) = call(
        &app,
        Method::PUT,
        path,
        Some(json!({"trigger_mode": "auto", "sequence_id": " seq_1 ", "webhook_auth": "signature"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!((&saved["trigger_mode"], &saved["sequence_id"], &saved["webhook_auth"]), (&json!("auto"), &json!("seq_1"), &json!("signature")));
    assert_eq!((&saved["version"], &saved["configured"]), (&json!(1), &json!(true)));
    assert_eq!(call(&app, Method::GET, path, None).await.1, saved);
    let events = audit_events(&app, "team_42").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["detail"]["changes"],
        json!({
            "trigger_mode": {"from": "manual", "to": "auto"},
            "sequence_id": {"from": null, "to": "seq_1"},
            "webhook_auth": {"from": "secret", "to": "signature"},
        })
    );

    // PUT replaces the document: webhook_auth goes back to its default.
    let (status, both) =
        call(&app, Method::PUT, path, Some(json!({"version": 1, "trigger_mode": "both", "sequence_id": "seq-2"}))).await;
    assert_eq!(status, StatusCode::OK, "{both}");
    assert_eq!((&both["trigger_mode"], &both["sequence_id"], &both["webhook_auth"]), (&json!("both"), &json!("seq-2"), &json!("secret")));
    assert_eq!(
        audit_events(&app, "team_42").await[0]["detail"]["changes"],
        json!({
            "trigger_mode": {"from": "auto", "to": "both"},
            "sequence_id": {"from": "seq_1", "to": "seq-2"},
            "webhook_auth": {"from": "signature", "to": "secret"},
        })
    );

    // Back to manual; an empty sequence id clears it.
    let (status, manual) = call(&app, Method::PUT, path, Some(json!({"version": 2, "sequence_id": ""}))).await;
    assert_eq!(status, StatusCode::OK, "{manual}");
    assert_eq!((&manual["trigger_mode"], &manual["sequence_id"], &manual["version"]), (&json!("manual"), &Value::Null, &json!(3)));
    // Manual mode may keep a sequence chosen for later.
    let (status, kept) = call(&app, Method::PUT, path, Some(json!({"sequence_id": "seq_3"}))).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!((&kept["trigger_mode"], &kept["sequence_id"]), (&json!("manual"), &json!("seq_3")));
    assert_eq!(audit_events(&app, "team_42").await.len(), 4);
}

#[tokio::test]
async fn trigger_mode_validation_and_round_trip_on_the_embedded_table() {
    trigger_mode_round_trip(Backend::Memory).await;
}

#[tokio::test]
async fn trigger_mode_validation_and_round_trip_on_dynamodb_in_moto() {
    trigger_mode_round_trip(Backend::Moto).await;
}

// --- webhook secrets -------------------------------------------------------------------------------

async fn secret_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = "team_42";
    let path = secrets_path(tenant);
    assert_eq!(
        list(&app, tenant).await,
        json!({"secrets": [], "global_fallback": false, "webhook_url": format!("{}/webhooks/salesforce/{tenant}", app.base_url)})
    );
    assert_eq!(raw_item_text(&app, "TENANT#team_42", "WEBHOOK_SECRETS").await, None);

    // Create: the secret is in this response and nowhere else.
    let first = create(&app, tenant).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let first_secret = first["secret"].as_str().unwrap().to_owned();
    assert!(is_secret_id(&first_id), "{first}");
    assert!(first_secret.starts_with("whsec_") && first_secret.len() > 40, "{first}");
    assert_eq!(first["active_secrets"], 1);
    assert!(first["created_at"].is_string());
    assert!(first["message"].as_str().unwrap().starts_with("Copy the secret now: it is not shown again."), "{first}");
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{first}");

    let listed = list(&app, tenant).await;
    assert_eq!(listed["secrets"], json!([{"id": first_id, "created_at": first["created_at"]}]));
    assert_eq!(listed["global_fallback"], false);
    let listed_text = listed.to_string();
    let digest = secret_digest(&first_secret);
    let secret_b64 = first_secret.strip_prefix("whsec_").unwrap();
    for shown in [first_secret.as_str(), secret_b64, &digest] {
        assert!(!listed_text.contains(shown), "the list shows neither the secret nor its digest: {listed_text}");
    }

    // Stored: only sealed (it opens, for this tenant and purpose only) and its digest.
    let raw = raw_item_text(&app, "TENANT#team_42", "WEBHOOK_SECRETS").await.unwrap();
    assert!(!raw.contains(&first_secret) && !raw.contains(secret_b64), "the plain secret is not stored: {raw}");
    assert!(raw.contains(&digest) && raw.contains(&first_id), "{raw}");
    let t = TenantId::parse(tenant).unwrap();
    let stored = app.ctx.store.webhook_secrets(&t).await.unwrap().unwrap();
    assert_eq!(stored.secrets.len(), 1);
    let sealed = &stored.secrets[0].sealed;
    let opened = open_string(&*app.ctx.cipher, &SealContext::new(&t, Purpose::WebhookSecret), sealed).await.unwrap();
    assert_eq!(opened.as_str(), first_secret);
    let other = TenantId::parse("team_43").unwrap();
    assert!(open_string(&*app.ctx.cipher, &SealContext::new(&other, Purpose::WebhookSecret), sealed).await.is_err());
    assert!(open_string(&*app.ctx.cipher, &SealContext::new(&t, Purpose::ConsumerCredentials), sealed).await.is_err());

    // A second one (the rotation), then no third.
    let second = create(&app, tenant).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let second_secret = second["secret"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id);
    assert_ne!(second_secret, first_secret);
    assert_eq!(second["active_secrets"], 2);
    assert!(second["message"].as_str().unwrap().contains(&first_id), "it says which one to revoke: {second}");
    assert_eq!(listed_ids(&list(&app, tenant).await), [first_id.as_str(), second_id.as_str()]);

    let (status, refused) = call(&app, Method::POST, &path, None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("too_many_secrets")), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("Revoke the older one first") && message.contains(&first_id), "{message}");
    assert_eq!(listed_ids(&list(&app, tenant).await), [first_id.as_str(), second_id.as_str()]);

    // Revoke by id; unknown and malformed ids are 404 and change nothing.
    let (status, body) = call(&app, Method::DELETE, &format!("{path}/{first_id}"), None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(listed_ids(&list(&app, tenant).await), [second_id.as_str()]);
    let malformed = [
        "nope".to_owned(),
        "whk_ABCDEFGHIJKLMNOP".to_owned(),
        format!("{first_id}0"),
        second_secret.replace('/', "_").replace('+', "-"),
    ];
    let unknown = [first_id.clone(), "whk_zzzzzzzzzzzzzzzz".to_owned()];
    for id in unknown.iter().chain(&malformed) {
        let (status, body) = call(&app, Method::DELETE, &format!("{path}/{id}"), None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_webhook_secret")), "{id}: {body}");
    }
    for id in &malformed {
        let (_, body) = call(&app, Method::DELETE, &format!("{path}/{id}"), None).await;
        assert!(!body.to_string().contains(id.as_str()), "a malformed id is not echoed: {body}");
    }
    // Another tenant cannot revoke this tenant's secret.
    let (status, _) = call(&app, Method::DELETE, &format!("{}/{second_id}", secrets_path("team_43")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(listed_ids(&list(&app, tenant).await), [second_id.as_str()]);
    assert!(list(&app, "team_43").await["secrets"].as_array().unwrap().is_empty());

    // Revoking the last one is allowed; a new one can be created after.
    let (status, _) = call(&app, Method::DELETE, &format!("{path}/{second_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let empty = list(&app, tenant).await;
    assert_eq!((&empty["secrets"], &empty["global_fallback"]), (&json!([]), &json!(false)), "no global secret in this stack");
    let third = create(&app, tenant).await;
    assert_eq!(third["active_secrets"], 1);
    let third_secret = third["secret"].as_str().unwrap().to_owned();

    // Audited with the id only, newest first.
    let events = audit_events(&app, tenant).await;
    let audited: Vec<(String, Value)> =
        events.iter().map(|e| (e["type"].as_str().unwrap().to_owned(), e["detail"].clone())).collect();
    assert_eq!(
        audited,
        [
            ("webhook.secret_created".to_owned(), json!({"secret_id": third["id"]})),
            ("webhook.secret_revoked".to_owned(), json!({"secret_id": second_id})),
            ("webhook.secret_revoked".to_owned(), json!({"secret_id": first_id})),
            ("webhook.secret_created".to_owned(), json!({"secret_id": second_id})),
            ("webhook.secret_created".to_owned(), json!({"secret_id": first_id})),
        ]
    );

    // No secret anywhere it should not be: storage, audit, logs.
    let everything = app.raw_items_text().await;
    let logs = captured_logs();
    for secret in [&first_secret, &second_secret, &third_secret] {
        let b64 = secret.strip_prefix("whsec_").unwrap();
        assert!(!everything.contains(secret.as_str()) && !everything.contains(b64), "stored in plain");
        assert!(!logs.contains(secret.as_str()) && !logs.contains(b64), "a webhook secret was logged");
    }
}

#[tokio::test]
async fn webhook_secrets_are_shown_once_stored_sealed_capped_and_revoked_on_the_embedded_table() {
    secret_lifecycle(Backend::Memory).await;
}

#[tokio::test]
async fn webhook_secrets_are_shown_once_stored_sealed_capped_and_revoked_on_dynamodb_and_kms_in_moto() {
    secret_lifecycle(Backend::Moto).await;
}

/// Concurrent creates never lose a secret nor exceed two: each gets 201 or a 409, and the list
/// holds exactly the secrets that were returned.
async fn concurrent_creates(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = secrets_path("team_7");
    let (a, b, c, d) = tokio::join!(
        app.admin(Method::POST, &path, None),
        app.admin(Method::POST, &path, None),
        app.admin(Method::POST, &path, None),
        app.admin(Method::POST, &path, None),
    );
    let mut created = Vec::new();
    for response in [a, b, c, d] {
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        match status {
            StatusCode::CREATED => created.push(body["id"].as_str().unwrap().to_owned()),
            StatusCode::CONFLICT => {
                let code = body["error"]["code"].as_str().unwrap();
                assert!(["concurrent_change", "too_many_secrets"].contains(&code), "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(!created.is_empty() && created.len() <= 2, "{created:?}");
    let mut listed = listed_ids(&list(&app, "team_7").await);
    listed.sort();
    created.sort();
    assert_eq!(listed, created);
    assert_eq!(audit_events(&app, "team_7").await.len(), created.len());
}

#[tokio::test]
async fn concurrent_creates_lose_nothing_on_the_embedded_table() {
    concurrent_creates(Backend::Memory).await;
}

#[tokio::test]
async fn concurrent_creates_lose_nothing_on_dynamodb_in_moto() {
    concurrent_creates(Backend::Moto).await;
}

#[tokio::test]
async fn webhook_secret_routes_refuse_what_they_do_not_take() {
    let app = spawn_app(Backend::Memory).await;
    let path = secrets_path("t1");
    for (method, path, expected_status, expected_code) in [
        (Method::PUT, path.clone(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::DELETE, path.clone(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::GET, format!("{path}/whk_0123456789abcdef"), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::POST, "/v1/tenants/t%231/webhook-secrets".to_owned(), StatusCode::BAD_REQUEST, "invalid_tenant_id"),
        (Method::GET, "/v1/tenants/t%231/webhook-secrets".to_owned(), StatusCode::BAD_REQUEST, "invalid_tenant_id"),
    ] {
        let (status, body) = call(&app, method.clone(), &path, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (expected_status, Some(expected_code)), "{method} {path}: {body}");
    }
    let unauthenticated = app.api.post(app.url(&path)).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert!(list(&app, "t1").await["secrets"].as_array().unwrap().is_empty());
    assert!(audit_events(&app, "t1").await.is_empty());
}
