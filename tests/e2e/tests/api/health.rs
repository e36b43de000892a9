//! The connection health view, `GET /v1/tenants/{t}/health`: what the activity sync and the token
//! refresh record in the tenant's `HEALTH` item (they run in other functions than the admin API)
//! read back over HTTP — status, last token refresh, last sync, last error, API usage — with a
//! verdict and what the admin should do. Runs on the embedded table and on DynamoDB in moto; the
//! store's field-by-field merge is checked on both adapters too.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sfbridge_core::clock::Clock;
use sfbridge_core::domain::{FlowId, TenantId};
use sfbridge_aws::DynamoTable;
use sfbridge_core::store::{HealthArea, HealthError, HealthRecord, Store, UsageReading};

use crate::helpers::{moto_config, spawn_app, Backend, TestApp, MARKER};
use crate::sync::{activity, deferred_copies, CAMPAIGN, TENANT};

fn health_path(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/health")
}

impl TestApp {
    /// `GET /health`, expecting 200; the body, checked to hold no secret.
    pub(crate) async fn health(&self, tenant: &str) -> Value {
        let response = self.admin(Method::GET, &health_path(tenant), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        assert!(!text.contains(MARKER) && !text.contains(&self.consumer_secret), "no secret or token: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Connects `tenant` (credentials already saved) and enables the campaign.
    async fn connect_with_campaign(&self, tenant: &str) {
        let (_, page) = self.connect_in_browser(tenant).await;
        assert_eq!(page.status(), StatusCode::OK);
        self.put_json(&format!("/v1/tenants/{tenant}/campaigns/{CAMPAIGN}"), json!({"enabled": true})).await;
    }
}

fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{value} is not a time: {e}"))
}

fn summary(health: &Value) -> &str {
    health["summary"].as_str().unwrap()
}

/// The verdict and `healthy`, which must agree.
fn verdict(health: &Value) -> &str {
    let verdict = health["verdict"].as_str().unwrap();
    assert_eq!(health["healthy"], json!(verdict == "healthy"), "{health}");
    verdict
}

// --- from a fresh tenant to reauth_required and back -----------------------------------------------

async fn health_follows_a_tenant_through_sync_refresh_and_reauth(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");

    // Fresh: nothing configured, nothing recorded.
    let fresh = app.health(TENANT).await;
    assert_eq!(
        (fresh["tenant_id"].as_str(), fresh["status"].as_str(), verdict(&fresh)),
        (Some(TENANT), Some("not_configured"), "not_configured")
    );
    for field in ["connected_at", "last_token_refresh_at", "last_sync_at", "last_error", "api_usage"] {
        assert!(fresh[field].is_null(), "{field}: {fresh}");
    }
    assert_eq!(fresh["api_budget_percent"], 80, "the default budget");
    assert!(summary(&fresh).contains(&format!("PUT /v1/tenants/{TENANT}/credentials")), "{fresh}");
    assert!(!app.raw_items_text().await.contains("HEALTH"), "reading health writes nothing");

    app.save_credentials(TENANT).await;
    let saved = app.health(TENANT).await;
    assert_eq!((saved["status"].as_str(), verdict(&saved)), (Some("credentials_saved"), "not_connected"));
    assert!(summary(&saved).contains(&format!("POST /v1/tenants/{TENANT}/connect")), "{saved}");

    app.connect_with_campaign(TENANT).await;
    let connected = app.health(TENANT).await;
    assert_eq!((connected["status"].as_str(), verdict(&connected)), (Some("connected"), "healthy"), "{connected}");
    assert_eq!(time(&connected["connected_at"]), app.now());
    assert!(connected["last_sync_at"].is_null() && connected["api_usage"].is_null(), "{connected}");
    assert!(summary(&connected).contains("no activity has been synced yet"), "{connected}");

    // A synced event: the batch records when Salesforce answered and the usage it reported.
    app.sim.set_api_usage(1500); // of 15,000
    app.clock.advance(Duration::minutes(1));
    assert!(app.sync(&[activity("h_1", "email_sent", "ada@example.com")]).await.is_empty());
    let synced = app.health(TENANT).await;
    assert_eq!(verdict(&synced), "healthy", "{synced}");
    assert_eq!(time(&synced["last_sync_at"]), app.now());
    let (used, max) = app.sim.api_usage();
    let usage = &synced["api_usage"];
    assert_eq!((usage["used"].as_u64(), usage["max"].as_u64()), (Some(used), Some(max)), "the simulator's numbers: {synced}");
    assert_eq!(usage["percent"].as_f64(), Some((used as f64 * 10_000.0 / max as f64).round() / 100.0), "{synced}");
    assert!((10.0..10.1).contains(&usage["percent"].as_f64().unwrap()), "{synced}");
    assert_eq!(time(&usage["at"]), app.now());
    assert!(synced["last_token_refresh_at"].is_null() && synced["last_error"].is_null(), "{synced}");
    assert!(summary(&synced).contains("sync last reached Salesforce at"), "{synced}");

    // The session times out: the sync refreshes the token, and the refresh is recorded.
    app.sim.expire_access_tokens();
    app.clock.advance(Duration::minutes(1));
    assert!(app.sync(&[activity("h_2", "email_opened", "ada@example.com")]).await.is_empty());
    assert_eq!(app.refresh_requests(), 1);
    let refreshed = app.health(TENANT).await;
    assert_eq!(verdict(&refreshed), "healthy", "{refreshed}");
    let refreshed_at = app.now();
    assert_eq!(time(&refreshed["last_token_refresh_at"]), refreshed_at);
    assert_eq!(time(&refreshed["last_sync_at"]), refreshed_at);

    // An admin revokes the app's access in Salesforce: the next refresh is refused for good.
    let refresh_token = app.sim.issued_refresh_tokens().last().cloned().unwrap();
    assert!(app.sim.revoke_token(&refresh_token));
    app.sim.expire_access_tokens();
    app.clock.advance(Duration::minutes(1));
    assert!(app.sync(&[activity("h_3", "email_clicked", "ada@example.com")]).await.is_empty(), "parked");
    let refused_at = app.now();
    let refused = app.health(TENANT).await;
    assert_eq!((refused["status"].as_str(), verdict(&refused)), (Some("reauth_required"), "reauth_required"), "{refused}");
    let error = &refused["last_error"];
    assert_eq!(
        (error["area"].as_str(), error["code"].as_str(), error["retryable"].as_bool()),
        (Some("oauth"), Some("invalid_grant"), Some(false)),
        "{refused}"
    );
    assert_eq!(time(&error["at"]), refused_at);
    assert!(error["message"].as_str().unwrap().contains("Click Connect"), "the popup's words: {refused}");
    let advice = summary(&refused);
    assert!(advice.starts_with("reauth_required: ") && advice.contains("tokens (invalid_grant)."), "{advice}");
    assert!(
        advice.contains("reconnect in the popup") && advice.contains(&format!("POST /v1/tenants/{TENANT}/connect")),
        "{advice}"
    );
    // The other writers' fields survive the error's write.
    assert_eq!(time(&refused["last_token_refresh_at"]), refreshed_at, "{refused}");
    assert_eq!(refused["api_usage"]["max"].as_u64(), Some(max), "{refused}");

    let stored = app.raw_items_text().await;
    assert!(stored.contains("HEALTH") && !stored.contains(MARKER), "stored, with no secret");

    // Reconnecting makes it healthy again; the old error stays visible with its time.
    app.clock.advance(Duration::minutes(1));
    let (_, page) = app.connect_in_browser(TENANT).await;
    assert_eq!(page.status(), StatusCode::OK);
    let back = app.health(TENANT).await;
    assert_eq!((back["status"].as_str(), verdict(&back)), (Some("connected"), "healthy"), "{back}");
    assert_eq!(time(&back["last_error"]["at"]), refused_at);
    assert!(time(&back["connected_at"]) > refused_at);
}

#[tokio::test]
async fn health_follows_a_tenant_through_sync_refresh_and_reauth_embedded() {
    health_follows_a_tenant_through_sync_refresh_and_reauth(Backend::Memory).await;
}

#[tokio::test]
async fn health_follows_a_tenant_through_sync_refresh_and_reauth_on_moto() {
    health_follows_a_tenant_through_sync_refresh_and_reauth(Backend::Moto).await;
}

// --- the other errors: transient refresh, refused event, failed call, budget -----------------------

/// A connected tenant with one synced event behind it.
async fn synced_once() -> TestApp {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.save_credentials(TENANT).await;
    app.connect_with_campaign(TENANT).await;
    app.clock.advance(Duration::minutes(1));
    assert!(app.sync(&[activity("s_0", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(verdict(&app.health(TENANT).await), "healthy");
    app
}

#[tokio::test]
async fn a_transient_refresh_failure_is_retryable_and_clears_with_the_next_refresh() {
    let app = synced_once().await;
    app.sim.expire_access_tokens();
    app.sim.fail_token_requests(1);
    app.clock.advance(Duration::minutes(1));
    let event = activity("s_1", "email_sent", "ada@example.com");
    // The token endpoint failing is the tenant's condition: deferred (sent again, delayed).
    assert!(app.sync(std::slice::from_ref(&event)).await.is_empty());
    assert_eq!(deferred_copies(&app).len(), 1, "deferred");

    let degraded = app.health(TENANT).await;
    assert_eq!((degraded["status"].as_str(), verdict(&degraded)), (Some("connected"), "degraded"), "{degraded}");
    let error = &degraded["last_error"];
    assert_eq!(
        (error["area"].as_str(), error["code"].as_str(), error["retryable"].as_bool()),
        (Some("oauth"), Some("salesforce_unavailable"), Some(true)),
        "{degraded}"
    );
    assert!(summary(&degraded).contains("retries the token refresh on its own"), "{degraded}");

    app.clock.advance(Duration::minutes(1));
    assert!(app.sync(&[event]).await.is_empty());
    let healed = app.health(TENANT).await;
    assert_eq!(verdict(&healed), "healthy", "{healed}");
    assert_eq!(time(&healed["last_token_refresh_at"]), app.now());
    assert_eq!(healed["last_error"]["code"], "salesforce_unavailable", "kept, no longer current");
}

#[tokio::test]
async fn an_event_salesforce_refuses_is_the_last_error_until_a_clean_sync() {
    let app = synced_once().await;
    let locked = app.sim.insert_contact("locked@example.com", "Lock", "Ed");
    app.sim.add_validation_rule("Task", "WhoId", json!(locked), "Activities on this contact are locked");
    app.clock.advance(Duration::minutes(1));
    let batch = [activity("s_locked", "email_sent", "locked@example.com"), activity("s_ok", "email_replied", "ada@example.com")];
    assert!(app.sync(&batch).await.is_empty(), "dead-lettered, not retried");

    let degraded = app.health(TENANT).await;
    assert_eq!(verdict(&degraded), "degraded", "{degraded}");
    let error = &degraded["last_error"];
    assert_eq!(
        (error["area"].as_str(), error["code"].as_str(), error["retryable"].as_bool()),
        (Some("salesforce_api"), Some("FIELD_CUSTOM_VALIDATION_EXCEPTION"), Some(false)),
        "{degraded}"
    );
    assert!(error["message"].as_str().unwrap().contains("Activities on this contact are locked"), "{degraded}");
    assert_eq!(time(&error["at"]), app.now());
    assert_eq!(time(&degraded["last_sync_at"]), app.now(), "the same batch also synced");
    assert!(summary(&degraded).contains("are locked. The event was not synced"), "{degraded}");
    assert!(summary(&degraded).contains("held as a dead letter"), "{degraded}");

    app.clock.advance(Duration::minutes(1));
    assert!(app.sync(&[activity("s_ok2", "email_opened", "ada@example.com")]).await.is_empty());
    assert_eq!(verdict(&app.health(TENANT).await), "healthy");
}

#[tokio::test]
async fn a_failed_call_is_a_retryable_api_error() {
    let app = synced_once().await;
    app.sim.set_faults(salesforce_sim::Faults { rate_503: 1.0, seed: 3, ..Default::default() });
    app.clock.advance(Duration::minutes(1));
    assert!(app.sync(&[activity("s_1", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(deferred_copies(&app).len(), 1, "deferred");
    let degraded = app.health(TENANT).await;
    assert_eq!(verdict(&degraded), "degraded", "{degraded}");
    let error = &degraded["last_error"];
    assert_eq!(
        (error["area"].as_str(), error["code"].as_str(), error["retryable"].as_bool()),
        (Some("salesforce_api"), Some("HTTP_503"), Some(true)),
        "{degraded}"
    );
    assert!(time(&degraded["last_sync_at"]) < app.now(), "Salesforce did not answer this batch");
    assert!(summary(&degraded).contains("Sync retries on its own"), "{degraded}");
}

#[tokio::test]
async fn usage_over_the_budget_is_over_budget_until_it_falls() {
    let app = synced_once().await;
    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"api_budget_percent": 50})).await;
    let (_, max) = app.sim.api_usage();
    app.sim.set_api_usage(max * 6 / 10);
    app.clock.advance(Duration::minutes(1));
    // An email not looked up before (Ada's match is remembered, and would need no call before
    // the write): the lookup's usage reading is what the guard acts on.
    app.sim.insert_contact("grace@example.com", "Grace", "Hopper");
    let event = activity("s_1", "email_sent", "grace@example.com");
    assert!(app.sync(std::slice::from_ref(&event)).await.is_empty());
    assert_eq!(deferred_copies(&app).len(), 1, "deferred");

    let over = app.health(TENANT).await;
    assert_eq!(verdict(&over), "over_budget", "{over}");
    assert_eq!(over["api_budget_percent"], 50);
    assert_eq!(over["api_usage"]["used"].as_u64(), Some(app.sim.api_usage().0), "the lookup's reading: {over}");
    assert_eq!(over["api_usage"]["percent"].as_f64(), Some(60.01), "{over}");
    let error = &over["last_error"];
    assert_eq!(
        (error["area"].as_str(), error["code"].as_str(), error["retryable"].as_bool()),
        (Some("budget"), Some("api_budget"), Some(true)),
        "{over}"
    );
    assert!(summary(&over).contains("60.0%") && summary(&over).contains("raise api_budget_percent"), "{over}");

    // An hour on, the reading is no longer current; the deferral still is (nothing synced since).
    app.clock.advance(Duration::minutes(61));
    let stale = app.health(TENANT).await;
    assert_eq!(verdict(&stale), "degraded", "{stale}");
    assert!(summary(&stale).contains("once usage falls below the budget"), "{stale}");

    // The org's usage fell: the next sync goes through and records the new reading.
    app.sim.set_api_usage(0);
    assert!(app.sync(&[event]).await.is_empty());
    let healthy = app.health(TENANT).await;
    assert_eq!(verdict(&healthy), "healthy", "{healthy}");
    assert!(healthy["api_usage"]["percent"].as_f64().unwrap() < 1.0, "{healthy}");
}

// --- the route ----------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_tenant_ids_methods_and_callers_are_refused() {
    let app = spawn_app(Backend::Memory).await;
    let code_of = |body: &Value| body["error"]["code"].as_str().map(str::to_owned);
    for (path, status, code) in [
        ("/v1/tenants/bad%23tenant/health".to_owned(), StatusCode::BAD_REQUEST, "invalid_tenant_id"),
        ("/v1/tenants/a%20b/health".to_owned(), StatusCode::BAD_REQUEST, "invalid_tenant_id"),
        (health_path(&"a".repeat(65)), StatusCode::BAD_REQUEST, "invalid_tenant_id"),
        ("/v1/tenants/t1/health/extra".to_owned(), StatusCode::NOT_FOUND, "not_found"),
        ("/v1/tenants//health".to_owned(), StatusCode::BAD_REQUEST, "invalid_tenant_id"),
    ] {
        let response = app.admin(Method::GET, &path, None).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(code_of(&response.json().await.unwrap()).as_deref(), Some(code), "{path}");
    }
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let response = app.admin(method.clone(), &health_path("t1"), None).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let anonymous = app.api.get(app.url(&health_path("t1"))).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(!app.raw_items_text().await.contains("HEALTH"));
}

// --- the store: field-by-field merge on both adapters -------------------------------------------------

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00.123456Z").unwrap().with_timezone(&Utc) + Duration::minutes(minutes)
}

async fn health_fields_merge(store: Store) {
    let t = TenantId::parse("health_contract").unwrap();
    assert_eq!(store.health(&t).await.unwrap(), None);
    store.merge_health(&t, &HealthRecord::default()).await.unwrap();
    assert_eq!(store.health(&t).await.unwrap(), None, "an empty merge writes nothing");

    let refresh = HealthRecord { last_token_refresh_at: Some(at(1)), ..HealthRecord::default() };
    store.merge_health(&t, &refresh).await.unwrap();
    assert_eq!(store.health(&t).await.unwrap(), Some(refresh.clone()));

    let usage = UsageReading { used: 1501, max: 15_000, at: at(2) };
    let sync =
        HealthRecord { last_sync_at: Some(at(2)), api_usage: Some(usage), updated_at: Some(at(2)), ..HealthRecord::default() };
    store.merge_health(&t, &sync).await.unwrap();
    let merged = store.health(&t).await.unwrap().unwrap();
    assert_eq!(merged, HealthRecord { last_token_refresh_at: Some(at(1)), ..sync.clone() });

    // Writers of different fields at the same time never lose each other's fields.
    let store = Arc::new(store);
    let mut writers = Vec::new();
    for i in 0..16_i64 {
        let (store, t) = (store.clone(), t.clone());
        writers.push(tokio::spawn(async move {
            let seen = if i % 2 == 0 {
                HealthRecord { last_token_refresh_at: Some(at(10 + i)), ..HealthRecord::default() }
            } else {
                let error = HealthError {
                    area: HealthArea::SalesforceApi,
                    code: "HTTP_503".into(),
                    message: "Salesforce: HTTP_503: Salesforce answered without an error body".into(),
                    retryable: true,
                    at: at(10 + i),
                    resumes_at: Some(at(11 + i)),
                };
                HealthRecord { last_error: Some(error), ..HealthRecord::default() }
            };
            store.merge_health(&t, &seen).await.unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let after = store.health(&t).await.unwrap().unwrap();
    assert!(after.last_token_refresh_at.is_some_and(|a| a >= at(10)), "{after:?}");
    let error = after.last_error.as_ref();
    assert!(error.is_some_and(|e| e.area == HealthArea::SalesforceApi && e.at >= at(10)), "{after:?}");
    assert_eq!(error.and_then(|e| e.resumes_at), error.map(|e| e.at + Duration::minutes(1)), "kept whole: {after:?}");
    assert_eq!((after.last_sync_at, after.api_usage), (Some(at(2)), Some(usage)), "untouched by either");
    // Another tenant's record is another item.
    assert_eq!(store.health(&TenantId::parse("someone_else").unwrap()).await.unwrap(), None);
}

#[tokio::test]
async fn health_fields_merge_embedded() {
    health_fields_merge(Store::in_memory()).await;
}

#[tokio::test]
async fn health_fields_merge_on_moto() {
    let client = aws_sdk_dynamodb::Client::new(&moto_config().await);
    let table = format!("sfbridge-health-{}", &FlowId::random().to_string()[..12]);
    DynamoTable::create_table(&client, &table).await.unwrap();
    health_fields_merge(Store::new(Arc::new(DynamoTable::new(client, table)))).await;
}
