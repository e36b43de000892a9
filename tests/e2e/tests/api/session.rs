//! Token refresh under concurrency: one refresher per connection across workers, rotated refresh
//! tokens persisted before use, `invalid_grant` parks the connection once, transient failures
//! never do.

use futures_like::join_all;
use sfbridge_core::domain::TenantId;
use sfbridge_salesforce::{Session, SessionError};

use crate::helpers::{spawn_app, Backend, TestApp};

mod futures_like {
    /// Awaits spawned tasks in order (the workspace has no `futures` dependency for one helper).
    pub async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }
}

async fn connected(backend: Backend) -> (TestApp, TenantId, Session) {
    let app = spawn_app(backend).await;
    app.save_credentials("t1").await;
    let (_, page) = app.connect_in_browser("t1").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let t = TenantId::parse("t1").unwrap();
    let session = app.ctx.sessions.current(&t).await.unwrap();
    (app, t, session)
}

async fn refresh_concurrently(app: &TestApp, t: &TenantId, stale: &Session, workers: usize) -> Vec<Result<Session, SessionError>> {
    let handles = (0..workers)
        .map(|_| {
            let (ctx, t, stale) = (app.ctx.clone(), t.clone(), stale.clone());
            tokio::spawn(async move { ctx.sessions.refreshed(&t, &stale).await })
        })
        .collect();
    join_all(handles).await
}

async fn one_refresh_for_many_workers(backend: Backend) {
    let (app, t, stale) = connected(backend).await;
    app.sim.expire_access_tokens();
    let first_refresh = app.sim.issued_refresh_tokens()[0].clone();

    let results = refresh_concurrently(&app, &t, &stale, 50).await;
    let tokens: Vec<String> = results.into_iter().map(|r| r.unwrap().access_token.expose_secret().to_owned()).collect();
    assert_eq!(app.refresh_requests(), 1, "exactly one token call for 50 workers");
    assert!(tokens.iter().all(|token| token == &tokens[0]), "everyone uses the winner's token");
    assert_ne!(tokens[0], stale.access_token.expose_secret());
    assert!(app.sim.is_token_active(&tokens[0]));

    // The rotated refresh token was persisted: the next refresh uses it, and the family lives.
    let rotated = app.sim.issued_refresh_tokens().last().cloned().unwrap();
    assert_ne!(rotated, first_refresh);
    assert!(!app.sim.is_token_active(&first_refresh));
    let fresh = app.ctx.sessions.current(&t).await.unwrap();
    let again = app.ctx.sessions.refreshed(&t, &fresh).await.unwrap();
    assert_eq!(app.refresh_requests(), 2);
    assert!(app.sim.is_token_active(again.access_token.expose_secret()), "no family revocation");
    assert_eq!(app.connection("t1").await["status"], "connected");
    assert!(!app.audit_types("t1").await.contains(&"salesforce.reauth_required".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_workers_on_an_expired_token_make_one_refresh_with_rotation() {
    one_refresh_for_many_workers(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_workers_make_one_refresh_with_dynamodb_leases_on_moto() {
    one_refresh_for_many_workers(Backend::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_refresh_token_marks_reauth_required_once() {
    let (app, t, stale) = connected(Backend::Memory).await;
    let refresh = app.sim.issued_refresh_tokens()[0].clone();
    assert!(app.sim.revoke_token(&refresh), "an admin revokes the app's access in Salesforce");

    let results = refresh_concurrently(&app, &t, &stale, 10).await;
    assert!(results.iter().all(|r| matches!(r, Err(SessionError::ReauthRequired(_)))));
    assert_eq!(app.refresh_requests(), 1);
    assert_eq!(app.connection("t1").await["status"], "reauth_required");
    let audit = app.audit_types("t1").await;
    assert_eq!(audit.iter().filter(|k| *k == "salesforce.reauth_required").count(), 1, "{audit:?}");
    assert!(!app.raw_items_text().await.contains("\"refresh_token\":\""), "dead tokens are forgotten");

    // Reconnecting brings it back.
    let (_, page) = app.connect_in_browser("t1").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert_eq!(app.connection("t1").await["status"], "connected");
    assert!(app.ctx.sessions.current(&t).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_token_endpoint_failures_never_mark_reauth_required() {
    let (app, t, stale) = connected(Backend::Memory).await;
    app.sim.expire_access_tokens();
    app.sim.fail_token_requests(3);
    for attempt in 0..3 {
        let result = app.ctx.sessions.refreshed(&t, &stale).await;
        assert!(matches!(result, Err(SessionError::Transient(_))), "attempt {attempt}: {result:?}");
        assert_eq!(app.connection("t1").await["status"], "connected");
    }
    let session = app.ctx.sessions.refreshed(&t, &stale).await.unwrap();
    assert!(app.sim.is_token_active(session.access_token.expose_secret()));
    assert_eq!(app.refresh_requests(), 4);
    assert!(!app.audit_types("t1").await.contains(&"salesforce.reauth_required".to_owned()));
}

#[tokio::test]
async fn no_connection_means_not_connected() {
    let app = spawn_app(Backend::Memory).await;
    let t = TenantId::parse("nobody").unwrap();
    assert!(matches!(app.ctx.sessions.current(&t).await, Err(SessionError::NotConnected(_))));
}

#[tokio::test]
async fn a_rest_call_on_an_expired_session_refreshes_once_and_replays() {
    use sfbridge_salesforce::rest::{soql_quote, ErrorClass};
    use sfbridge_salesforce::CallError;

    let (app, t, mut session) = connected(Backend::Memory).await;
    let id = app.sim.insert_contact("Ada@Example.com", "Ada", "Lovelace");
    app.sim.expire_access_tokens();
    let soql = format!("SELECT Id, Email FROM Contact WHERE Email IN ({})", soql_quote("ada@example.com"));
    let rest = app.ctx.rest.clone();
    let reply = app.ctx.sessions.with_session(&t, &mut session, |s| {
        let (rest, soql) = (rest.clone(), soql.clone());
        async move { rest.query(&s, &soql).await }
    })
    .await
    .unwrap();
    assert_eq!(reply.value.len(), 1);
    assert_eq!(reply.value[0]["Id"], id.as_str());
    assert!(reply.usage.is_some_and(|u| u.used >= 1 && u.max > 0), "Sforce-Limit-Info was read");
    assert_eq!(app.refresh_requests(), 1);

    // A permanent error is reported as such, not retried.
    let bad = app.ctx.sessions.with_session(&t, &mut session, |s| {
        let rest = rest.clone();
        async move { rest.query(&s, "SELECT Id, Score__c FROM Contact").await }
    })
    .await;
    match bad {
        Err(CallError::Rest(e)) => assert_eq!((e.class, e.code.as_str()), (ErrorClass::Permanent, "INVALID_FIELD")),
        other => panic!("expected INVALID_FIELD, got {other:?}"),
    }
    assert_eq!(app.refresh_requests(), 1);
}
