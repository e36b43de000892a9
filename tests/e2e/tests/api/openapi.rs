//! The admin API's OpenAPI document: served without the admin token at `GET /v1/openapi.json`,
//! byte for byte the committed docs/openapi.json, cacheable; and real answers of the running
//! stack (successes and errors) fit the schemas it gives for their route and status, checked with a
//! JSON Schema 2020-12 validator (OpenAPI 3.1's schema dialect).

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};

const COMMITTED: &str = include_str!("../../../../docs/openapi.json");

fn document() -> Value {
    serde_json::from_str(COMMITTED).unwrap()
}

/// The schema the document gives for `method path` answering `status`: its response (followed
/// through `#/components/responses/...`), with the document's components beside it so that its
/// `#/components/schemas/...` references resolve.
fn response_schema(doc: &Value, method: &Method, path: &str, status: StatusCode) -> Value {
    let operation = &doc["paths"][path][method.as_str().to_ascii_lowercase()];
    let mut response = &operation["responses"][status.as_str()];
    if let Some(name) = response["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/responses/")) {
        response = &doc["components"]["responses"][name];
    }
    let mut schema = response["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "the document gives no JSON schema for {method} {path} {status}: {operation}");
    schema["components"] = doc["components"].clone();
    schema
}

/// Every way `body` breaks the schema, formats (`date-time`, ...) included.
fn violations(schema: &Value, body: &Value) -> Vec<String> {
    let validator = jsonschema::draft202012::options().should_validate_formats(true).build(schema).unwrap();
    validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// Asserts that `response` has `status` and a body that fits the document's schema for `path`
/// (the route as the document names it) and `method`; returns the body.
async fn expect_documented(doc: &Value, method: Method, path: &str, response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "{method} {path}");
    let body: Value = response.json().await.unwrap();
    let problems = violations(&response_schema(doc, &method, path, status), &body);
    assert!(problems.is_empty(), "{method} {path} {status} does not fit the document: {problems:?}\n{body}");
    body
}

impl TestApp {
    async fn openapi(&self, if_none_match: Option<&str>) -> Response {
        let mut request = self.api.get(self.url("/v1/openapi.json"));
        if let Some(etag) = if_none_match {
            request = request.header("if-none-match", etag);
        }
        request.send().await.unwrap()
    }
}

#[tokio::test]
async fn the_admin_api_serves_the_committed_document_without_the_admin_token_and_cacheable() {
    let app = spawn_app(Backend::Memory).await;
    let response = app.openapi(None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(header("content-type").starts_with("application/json"));
    assert_eq!(header("cache-control"), "public, max-age=300");
    let etag = header("etag");
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    let served = response.text().await.unwrap();
    assert!(
        served == COMMITTED,
        "GET /v1/openapi.json differs from docs/openapi.json: run `cargo run -p sfbridge-admin-api --example openapi`"
    );

    let revalidated = app.openapi(Some(&etag)).await;
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert!(revalidated.text().await.unwrap().is_empty());
    assert_eq!(app.openapi(Some("\"another\"")).await.status(), StatusCode::OK);

    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    // The tenant routes need the token; the document itself does not.
    assert_eq!(doc["security"], json!([{"admin_token": []}]));
    assert_eq!(doc["paths"]["/v1/openapi.json"]["get"]["security"], json!([{}]));
    assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
}

#[tokio::test]
async fn real_answers_fit_the_documents_schemas_for_their_route_and_status() {
    let app = spawn_app(Backend::Memory).await;
    let doc = document();
    let settings = "/v1/tenants/{tenant_id}/settings";

    let defaults = app.admin(Method::GET, "/v1/tenants/team_42/settings", None).await;
    let defaults = expect_documented(&doc, Method::GET, settings, defaults, StatusCode::OK).await;
    assert_eq!(defaults["configured"], false);

    let body = json!({
        "match_policy": "contact_then_lead",
        "trigger_mode": "auto",
        "sequence_id": "seq_1",
        "attribute_mapping": {"nps_score": {"contact": "NPS_Score__c"}},
    });
    let saved = app.admin(Method::PUT, "/v1/tenants/team_42/settings", Some(body)).await;
    let saved = expect_documented(&doc, Method::PUT, settings, saved, StatusCode::OK).await;
    assert_eq!(saved["configured"], true);

    let stale = app.admin(Method::PUT, "/v1/tenants/team_42/settings", Some(json!({"version": 0}))).await;
    let stale = expect_documented(&doc, Method::PUT, settings, stale, StatusCode::CONFLICT).await;
    assert_eq!(stale["error"]["code"], "version_conflict");

    let unknown_field = app.admin(Method::PUT, "/v1/tenants/team_42/settings", Some(json!({"match": "x"}))).await;
    expect_documented(&doc, Method::PUT, settings, unknown_field, StatusCode::BAD_REQUEST).await;

    let audit = app.admin(Method::GET, "/v1/tenants/team_42/audit?limit=1", None).await;
    let audit = expect_documented(&doc, Method::GET, "/v1/tenants/{tenant_id}/audit", audit, StatusCode::OK).await;
    assert_eq!(audit["events"][0]["type"], "settings.updated");

    let bad_limit = app.admin(Method::GET, "/v1/tenants/team_42/deliveries?limit=0", None).await;
    let bad_limit = expect_documented(&doc, Method::GET, "/v1/tenants/{tenant_id}/deliveries", bad_limit, StatusCode::BAD_REQUEST).await;
    assert_eq!(bad_limit["error"]["code"], "invalid_limit");

    let connection = app.admin(Method::GET, "/v1/tenants/team_42/connection", None).await;
    expect_documented(&doc, Method::GET, "/v1/tenants/{tenant_id}/connection", connection, StatusCode::OK).await;
    let nothing_to_end = app.admin(Method::DELETE, "/v1/tenants/team_42/connection", None).await;
    let nothing_to_end =
        expect_documented(&doc, Method::DELETE, "/v1/tenants/{tenant_id}/connection", nothing_to_end, StatusCode::NOT_FOUND).await;
    assert_eq!(nothing_to_end["error"]["code"], "not_connected");

    let health = app.admin(Method::GET, "/v1/tenants/team_42/health", None).await;
    expect_documented(&doc, Method::GET, "/v1/tenants/{tenant_id}/health", health, StatusCode::OK).await;

    let secret = app.admin(Method::POST, "/v1/tenants/team_42/webhook-secrets", None).await;
    expect_documented(&doc, Method::POST, "/v1/tenants/{tenant_id}/webhook-secrets", secret, StatusCode::CREATED).await;

    let no_token = app.api.get(app.url("/v1/tenants/team_42/settings")).send().await.unwrap();
    expect_documented(&doc, Method::GET, settings, no_token, StatusCode::UNAUTHORIZED).await;
    let bad_tenant = app.admin(Method::GET, "/v1/tenants/team%2342/settings", None).await;
    expect_documented(&doc, Method::GET, settings, bad_tenant, StatusCode::BAD_REQUEST).await;
}

/// The checks above can fail: an answer that lost a field, or answers with a code the route's
/// status does not list, does not fit.
#[tokio::test]
async fn the_schemas_refuse_an_answer_that_does_not_fit() {
    let app = spawn_app(Backend::Memory).await;
    let doc = document();
    let settings = "/v1/tenants/{tenant_id}/settings";
    let mut body: Value = app.admin(Method::GET, "/v1/tenants/team_42/settings", None).await.json().await.unwrap();
    body.as_object_mut().unwrap().remove("tenant_id");
    assert!(!violations(&response_schema(&doc, &Method::GET, settings, StatusCode::OK), &body).is_empty());

    let unlisted = json!({"error": {"code": "too_many_secrets", "message": "two secrets are active"}});
    assert!(!violations(&response_schema(&doc, &Method::PUT, settings, StatusCode::CONFLICT), &unlisted).is_empty());
}
