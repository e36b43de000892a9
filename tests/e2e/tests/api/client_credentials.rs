//! Client-credentials connections: no refresh token, so a new token is asked for with the client
//! credentials grant, before the org's session timeout (the expiry introspection reports, kept on
//! the connection) as well as on a 401. Sync runs through the activity-sync function's `handle`.

use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::{Method, StatusCode};
use salesforce_sim::SimApp;
use serde_json::{json, Value};
use sfbridge_core::clock::Clock;
use sfbridge_core::domain::TenantId;
use sfbridge_core::store::ConnectionRecord;
use sfbridge_salesforce::expiry::{FALLBACK_LIFETIME, RENEWAL_MARGIN};

use crate::helpers::{spawn_app, Backend, TestApp, MARKER};
use crate::sync::{activity, CAMPAIGN, TENANT};

const CC_KEY: &str = "3MVG9cc.key.0123456789";

fn tenant() -> TenantId {
    TenantId::parse(TENANT).unwrap()
}

impl TestApp {
    /// Connects [`TENANT`] with the client credentials flow (an app with a Run As user), with the
    /// campaign enabled and default settings.
    async fn ready_cc_tenant(&self) {
        let secret = format!("{MARKER}-cc-secret");
        let mut app = SimApp::new(CC_KEY, &secret, "https://unused.example.com/cb");
        app.client_credentials_enabled = true;
        self.sim.add_app(app);
        let body = json!({"consumer_key": CC_KEY, "consumer_secret": secret, "login_url": self.sim.base_url(),
            "flow": "client_credentials"});
        assert_eq!(self.put_credentials(TENANT, body).await.status(), StatusCode::NO_CONTENT);
        let response = self.admin(Method::POST, &format!("/v1/tenants/{TENANT}/connect"), None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(self.connection(TENANT).await["status"], "connected");
        self.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({})).await;
        self.put_json(&format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}"), json!({"enabled": true})).await;
    }

    async fn stored_connection(&self) -> ConnectionRecord {
        self.ctx.store.connection(&tenant()).await.unwrap().unwrap()
    }

    /// Moves our clock and Salesforce's together.
    fn advance_both(&self, by: Duration) {
        self.clock.advance(by);
        self.sim.advance_time(by.to_std().unwrap());
    }

    /// The grant types of every token request so far.
    fn grant_types(&self) -> Vec<String> {
        self.sim.token_requests().iter().map(|r| r.param("grant_type").unwrap_or_default().to_owned()).collect()
    }

    fn last_access_token(&self) -> String {
        self.sim.issued_access_tokens().last().cloned().unwrap()
    }
}

/// The bearer tokens of the REST calls since request number `from`.
fn rest_tokens(app: &TestApp, from: usize) -> Vec<String> {
    app.sim.requests()[from..]
        .iter()
        .filter(|r| r.path.starts_with("/services/data/v"))
        .filter_map(|r| r.authorization.as_deref()?.strip_prefix("Bearer ").map(str::to_owned))
        .collect()
}

async fn health(app: &TestApp) -> Value {
    let response = app.admin(Method::GET, &format!("/v1/tenants/{TENANT}/health"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Connecting learns the token's expiry by introspection: the org's session timeout (2 hours).
async fn connecting_learns_when_the_token_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.clock.now();
    app.ready_cc_tenant().await;
    let stored = app.stored_connection().await;
    assert!(stored.refresh_token.is_none());
    assert_eq!(stored.access_token_expires_at, Some(before + Duration::hours(2)), "the request time plus exp - iat");
    let introspections = app.sim.introspection_requests();
    assert_eq!(introspections.len(), 1);
    let asked = &introspections[0];
    assert_eq!(asked.param("token"), Some(app.last_access_token().as_str()));
    assert_eq!(asked.param("token_type_hint"), Some("access_token"));
    assert_eq!(asked.param("client_id"), Some(CC_KEY));
    assert!(asked.param("client_secret").is_some_and(|s| s.starts_with(MARKER)));
    assert!(!app.raw_items_text().await.contains(MARKER), "tokens and secrets sealed at rest");
}

#[tokio::test]
async fn connecting_learns_when_the_token_expires_with_embedded_storage() {
    connecting_learns_when_the_token_expires(Backend::Memory).await;
}

#[tokio::test]
async fn connecting_learns_when_the_token_expires_on_moto() {
    connecting_learns_when_the_token_expires(Backend::Moto).await;
}

/// (a) The token dies before its time (revoked in Setup; the org's timeout shortened): the sync
/// call gets a 401, one new token comes by the client credentials grant, the call is replayed
/// and the activity syncs.
async fn a_dead_token_gets_a_401_renews_once_and_the_activity_syncs(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_cc_tenant().await;
    let capture = app.capture_metrics();

    let revoked = app.last_access_token();
    assert!(app.sim.revoke_token(&revoked), "an admin ends the session in Setup");
    let from = app.sim.requests().len();
    assert!(app.sync(&[activity("e_sent", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(app.sim.invalid_session_answers(), 1, "the first call was refused");
    assert_eq!(app.grant_types(), ["client_credentials", "client_credentials"], "one renewal, no refresh token");
    assert!(app.sim.issued_refresh_tokens().is_empty());
    let renewed = app.last_access_token();
    let used = rest_tokens(&app, from);
    assert_eq!(used.first(), Some(&revoked));
    assert!(used[1..].iter().all(|t| t == &renewed), "the replay and what follows use the new token");
    let tasks = app.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["WhoId"], ada);
    let line: Value = serde_json::from_str(&capture.lines()[0]).unwrap();
    assert_eq!((line["TokenRefreshes"].as_u64(), line["TokenRefreshFailures"].as_u64()), (Some(1), Some(0)), "{line}");
    assert!(health(&app).await["last_token_refresh_at"].is_string());

    // The org's admin shortens the session timeout: the stored expiry (2 h) is now too late, so
    // the token dies unannounced after 30 minutes idle; the 401 path catches it the same way.
    assert!(app.sim.set_session_timeout(StdDuration::from_secs(30 * 60)));
    app.advance_both(Duration::minutes(31));
    assert!(!app.sim.is_token_active(&renewed));
    assert!(app.sync(&[activity("e_open", "email_opened", "ada@example.com")]).await.is_empty());
    assert_eq!(app.sim.invalid_session_answers(), 2);
    assert_eq!(app.grant_types().len(), 3);
    assert_eq!(app.tasks().len(), 2);
    let stored = app.stored_connection().await;
    assert_eq!(stored.access_token_expires_at, Some(app.clock.now() + Duration::minutes(30)), "the new timeout learnt");
    assert_eq!(app.connection(TENANT).await["status"], "connected");
}

#[tokio::test]
async fn a_dead_client_credentials_token_gets_a_401_renews_once_and_syncs_with_embedded_storage() {
    a_dead_token_gets_a_401_renews_once_and_the_activity_syncs(Backend::Memory).await;
}

#[tokio::test]
async fn a_dead_client_credentials_token_gets_a_401_renews_once_and_syncs_on_moto() {
    a_dead_token_gets_a_401_renews_once_and_the_activity_syncs(Backend::Moto).await;
}

/// (b) Past the renewal point the next sync renews first: no call is refused.
async fn the_next_sync_renews_before_the_session_timeout(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    assert!(app.sim.set_session_timeout(StdDuration::from_secs(30 * 60)));
    app.ready_cc_tenant().await;
    let connected_at = app.clock.now();
    assert_eq!(app.stored_connection().await.access_token_expires_at, Some(connected_at + Duration::minutes(30)));
    let first = app.last_access_token();

    // Before the renewal point: the token is used as it is.
    app.advance_both(Duration::minutes(24));
    assert!(app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(app.grant_types().len(), 1);

    // 26 minutes after the token was issued, 4 before it would expire: renewed before use.
    app.advance_both(Duration::minutes(2));
    let capture = app.capture_metrics();
    let from = app.sim.requests().len();
    assert!(app.sync(&[activity("e2", "email_opened", "ada@example.com")]).await.is_empty());
    assert_eq!(app.sim.invalid_session_answers(), 0, "no call was refused");
    assert_eq!(app.grant_types(), ["client_credentials", "client_credentials"]);
    let second = app.last_access_token();
    assert_ne!(second, first);
    assert!(app.sim.is_token_active(&first), "renewed while the old token still worked");
    let used = rest_tokens(&app, from);
    assert!(!used.is_empty() && used.iter().all(|t| t == &second), "every call of the batch used the new token");
    let renewed_at = app.clock.now();
    assert_eq!(app.stored_connection().await.access_token_expires_at, Some(renewed_at + Duration::minutes(30)));
    let line: Value = serde_json::from_str(&capture.lines()[0]).unwrap();
    assert_eq!(line["TokenRefreshes"].as_u64(), Some(1), "{line}");

    // Idle past the timeout: the token is dead at Salesforce, and still no call is refused.
    app.advance_both(Duration::minutes(45));
    assert!(!app.sim.is_token_active(&second));
    assert!(app.sync(&[activity("e3", "email_clicked", "ada@example.com")]).await.is_empty());
    assert_eq!(app.sim.invalid_session_answers(), 0);
    assert_eq!(app.grant_types().len(), 3);
    assert_eq!(app.tasks().len(), 3);
    assert_eq!(app.sim.introspection_requests().len(), 3, "one per token");
    assert!(!crate::helpers::captured_logs().contains(MARKER), "a token or secret reached the logs");
}

#[tokio::test]
async fn the_next_sync_renews_a_client_credentials_token_before_it_expires_with_embedded_storage() {
    the_next_sync_renews_before_the_session_timeout(Backend::Memory).await;
}

#[tokio::test]
async fn the_next_sync_renews_a_client_credentials_token_before_it_expires_on_moto() {
    the_next_sync_renews_before_the_session_timeout(Backend::Moto).await;
}

/// (c) Fifty workers find the token due at once: one renewal (the lease), everyone uses it.
async fn fifty_workers_renew_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ready_cc_tenant().await;
    let old = app.last_access_token();
    app.advance_both(Duration::hours(2) - RENEWAL_MARGIN + Duration::seconds(1));

    let handles: Vec<_> = (0..50)
        .map(|_| {
            let ctx = app.ctx.clone();
            tokio::spawn(async move { ctx.sessions.current(&tenant()).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for handle in handles {
        tokens.push(handle.await.unwrap().unwrap().access_token.expose_secret().to_owned());
    }
    assert_eq!(app.grant_types(), ["client_credentials", "client_credentials"], "exactly one renewal for 50 workers");
    assert_eq!(app.sim.introspection_requests().len(), 2);
    let renewed = app.last_access_token();
    assert_ne!(renewed, old);
    assert!(tokens.iter().all(|t| t == &renewed), "everyone uses the renewed token");
    assert!(app.sim.is_token_active(&renewed));
    assert!(app.stored_connection().await.refresh_lease_until.is_none(), "the lease is released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_workers_renew_a_client_credentials_token_once_with_embedded_storage() {
    fifty_workers_renew_once(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_workers_renew_a_client_credentials_token_once_with_dynamodb_leases_on_moto() {
    fifty_workers_renew_once(Backend::Moto).await;
}

/// Introspection failing or saying nothing: the token is assumed to live the shortest session
/// timeout, so it is renewed 10 minutes after it was issued.
#[tokio::test]
async fn without_introspection_the_token_is_renewed_after_the_conservative_default() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.sim.fail_introspection_requests(1);
    app.ready_cc_tenant().await;
    let connected_at = app.clock.now();
    assert_eq!(app.stored_connection().await.access_token_expires_at, Some(connected_at + FALLBACK_LIFETIME));

    app.advance_both(FALLBACK_LIFETIME - RENEWAL_MARGIN);
    assert!(app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(app.grant_types().len(), 2, "renewed at the fallback's renewal point");
    assert_eq!(app.sim.invalid_session_answers(), 0);
    // Introspection answered this time: the real timeout is kept.
    assert_eq!(app.stored_connection().await.access_token_expires_at, Some(app.clock.now() + Duration::hours(2)));

    // Introspection failing on a 401 renewal: the fallback again (an `{"active": false}` answer
    // is handled the same way: `expiry::reported_lifetime`).
    let stale = app.ctx.sessions.current(&tenant()).await.unwrap();
    app.sim.revoke_token(stale.access_token.expose_secret());
    app.sim.fail_introspection_requests(1);
    let renewed = app.ctx.sessions.refreshed(&tenant(), &stale).await.unwrap();
    assert_ne!(renewed.access_token.expose_secret(), stale.access_token.expose_secret());
    assert_eq!(app.stored_connection().await.access_token_expires_at, Some(app.clock.now() + FALLBACK_LIFETIME));
}

/// A renewal that fails for a while (token endpoint down) leaves the still-valid token in use.
#[tokio::test]
async fn a_failed_early_renewal_keeps_the_token_while_it_lasts() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_cc_tenant().await;
    let token = app.last_access_token();
    app.advance_both(Duration::hours(2) - RENEWAL_MARGIN);
    app.sim.fail_token_requests(1);
    let session = app.ctx.sessions.current(&tenant()).await.unwrap();
    assert_eq!(session.access_token.expose_secret(), token, "the old token, still valid");
    assert_eq!(app.connection(TENANT).await["status"], "connected");
    // The next use renews.
    assert!(app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(app.grant_types().len(), 3, "connect, the failed renewal, the renewal");
    assert_eq!(app.sim.invalid_session_answers(), 0);
}

/// Refresh-token connections keep no expiry and are refreshed on a 401 only, as before.
#[tokio::test]
async fn web_server_connections_refresh_on_a_401_only() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.ready_tenant(json!({})).await;
    assert_eq!(app.stored_connection().await.access_token_expires_at, None);
    app.advance_both(Duration::hours(3));
    assert!(app.sync(&[activity("e1", "email_sent", "ada@example.com")]).await.is_empty());
    assert_eq!(app.sim.invalid_session_answers(), 1, "the timed-out token was tried, refused");
    assert_eq!(app.grant_types(), ["authorization_code", "refresh_token"]);
    assert!(app.sim.introspection_requests().is_empty());
    assert_eq!(app.stored_connection().await.access_token_expires_at, None);
    assert_eq!(app.tasks().len(), 1);
}
