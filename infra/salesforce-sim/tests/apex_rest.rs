//! Apex REST over HTTP: registered endpoints at `/services/apexrest/…` with the REST API's token
//! and daily limit, Salesforce's 404 and 405 bodies, behaviours standing in for the Apex class, the
//! requests recorded for tests, and Composite refusing Apex REST subrequests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::{Method, StatusCode};
use salesforce_sim::ApexBehavior;
use serde_json::{json, Value};

mod common;
use common::*;

const EVENTS: &str = "/services/apexrest/Sfbridge/events";

#[tokio::test]
async fn a_registered_endpoint_answers_with_the_token_counts_a_call_and_records_the_request() {
    let org = Org::start().await;
    assert!(org.sim.add_apex_rest("/Sfbridge/events", ApexBehavior::Echo));
    let payload = r#"{"event_id":"evt-1","type":"signup","seats":3}"#;
    let reply = org
        .call_path(
            Method::POST,
            &format!("{EVENTS}?source=sfbridge"),
            &[("X-Sfbridge-Event-Id", "evt-1")],
            Some(payload),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text, payload, "Echo answers the body it was sent");
    assert_eq!(reply.headers["content-type"], "application/json;charset=UTF-8");
    assert!(reply.limit_info().is_none(), "Apex REST responses carry no Sforce-Limit-Info");
    assert!(reply.headers.get("date").is_some());
    assert_eq!(org.sim.api_usage().0, 1, "Apex REST calls count against the API limit");

    let requests = org.sim.apex_requests("/Sfbridge/events");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/Sfbridge/events"));
    assert_eq!(request.header("x-sfbridge-event-id"), Some("evt-1"));
    assert_eq!(request.header("Authorization"), Some(format!("Bearer {}", org.token).as_str()));
    assert_eq!(request.json(), Some(json!({"event_id": "evt-1", "type": "signup", "seats": 3})));
    assert_eq!(request.query, [("source".to_owned(), "sfbridge".to_owned())]);
    assert!(org.sim.apex_requests("/Sfbridge/other").is_empty());
}

#[tokio::test]
async fn apex_rest_needs_an_active_token_and_stops_at_the_daily_limit() {
    let org = Org::start().await;
    assert!(org.sim.add_apex_rest("/Sfbridge/events", ApexBehavior::Echo));
    let url = format!("{}{EVENTS}", org.sim.base_url());
    let invalid = json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
    for auth in [None, Some("Bearer not-a-token")] {
        let mut request = org.client.post(&url).body("{}");
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.json::<Value>().await.unwrap(), invalid);
    }
    org.sim.expire_access_tokens();
    assert_eq!(org.call_path(Method::POST, EVENTS, &[], Some("{}")).await.status, StatusCode::UNAUTHORIZED);
    assert!(org.sim.apex_requests("/Sfbridge/events").is_empty(), "refused before Apex");
    assert_eq!(org.sim.api_usage().0, 0);

    let org = Org::start().await;
    assert!(org.sim.add_apex_rest("/Sfbridge/events", ApexBehavior::Echo));
    org.sim.set_api_limit(1);
    assert_eq!(org.call_path(Method::POST, EVENTS, &[], Some("{}")).await.status, StatusCode::OK);
    let over = org.call_path(Method::POST, EVENTS, &[], Some("{}")).await;
    assert_eq!(over.status, StatusCode::FORBIDDEN);
    assert_eq!(
        over.json(),
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    assert_eq!(org.sim.apex_requests("/Sfbridge/events").len(), 1);
}

#[tokio::test]
async fn unmapped_paths_get_404_and_other_methods_405_with_salesforces_bodies() {
    let org = Org::start().await;
    assert!(org.sim.add_apex_rest("/Sfbridge/events", ApexBehavior::Echo));
    for path in ["/Sfbridge/evnts", "/sfbridge/events", "/Sfbridge/events/"] {
        let reply = org.call_path(Method::POST, &format!("/services/apexrest{path}"), &[], Some("{}")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            reply.json(),
            json!([{"errorCode": "NOT_FOUND", "message": format!("Could not find a match for URL {path}")}])
        );
    }
    let reply = org.call_path(Method::GET, EVENTS, &[], None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.json(),
        json!([{"errorCode": "METHOD_NOT_ALLOWED", "message": "HTTP Method 'GET' not allowed. Allowed are POST"}])
    );
    assert_eq!(org.sim.api_usage().0, 4, "answered by Salesforce after authentication: each counts");
    assert_eq!(org.sim.apex_requests("/sfbridge/events").len(), 1, "recorded under the path as sent");

    assert!(org.sim.add_apex_rest_methods("/Sfbridge/events", &["GET", "PATCH"], ApexBehavior::Echo));
    assert_eq!(org.call_path(Method::GET, EVENTS, &[], None).await.status, StatusCode::OK);
    let reply = org.call_path(Method::POST, EVENTS, &[], Some("{}")).await;
    assert_eq!(reply.json()[0]["message"], "HTTP Method 'POST' not allowed. Allowed are GET,PATCH");
    assert!(!org.sim.add_apex_rest("Sfbridge/events", ApexBehavior::Echo), "a mapping starts with /");
    assert!(!org.sim.add_apex_rest("/Sfbridge/ev*", ApexBehavior::Echo), "* is a whole segment");
}

#[tokio::test]
async fn behaviours_answer_fixed_replies_failures_then_echoes_and_wildcard_mappings() {
    let org = Org::start().await;
    let sim = &org.sim;
    assert!(sim
        .add_apex_rest("/Sfbridge/created", ApexBehavior::Respond { status: 201, body: json!({"id": "a005g000001"}) }));
    assert!(sim.add_apex_rest("/Sfbridge/quiet", ApexBehavior::Respond { status: 204, body: Value::Null }));
    assert!(sim.add_apex_rest(
        "/Sfbridge/broken",
        ApexBehavior::unhandled_exception("System.NullPointerException: Attempt to de-reference a null object")
    ));
    let unavailable = json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}]);
    assert!(sim.add_apex_rest(
        "/Sfbridge/flaky",
        ApexBehavior::FailThenEcho { failures: 2, status: 503, body: unavailable.clone() }
    ));
    assert!(sim.add_apex_rest("/Sfbridge/v1/*", ApexBehavior::Echo));

    let post = |path: &str, body: &'static str| {
        let path = format!("/services/apexrest{path}");
        let org = &org;
        async move { org.call_path(Method::POST, &path, &[], Some(body)).await }
    };
    let created = post("/Sfbridge/created", "{}").await;
    assert_eq!((created.status, created.json()), (StatusCode::CREATED, json!({"id": "a005g000001"})));
    let quiet = post("/Sfbridge/quiet", "{}").await;
    assert_eq!((quiet.status, quiet.text.as_str()), (StatusCode::NO_CONTENT, ""));
    let broken = post("/Sfbridge/broken", "{}").await;
    assert_eq!(broken.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(broken.json()[0]["errorCode"], "APEX_ERROR");

    for _ in 0..2 {
        let failed = post("/Sfbridge/flaky", r#"{"n":1}"#).await;
        assert_eq!((failed.status, failed.json()), (StatusCode::SERVICE_UNAVAILABLE, unavailable.clone()));
    }
    let third = post("/Sfbridge/flaky", r#"{"n":1}"#).await;
    assert_eq!((third.status, third.text.as_str()), (StatusCode::OK, r#"{"n":1}"#));
    assert_eq!(org.sim.apex_requests("/Sfbridge/flaky").len(), 3);

    let nested = post("/Sfbridge/v1/events/42", r#"{"deep":true}"#).await;
    assert_eq!(nested.status, StatusCode::OK);
    assert_eq!(org.sim.apex_requests("/Sfbridge/v1/events/42").len(), 1);
}

#[tokio::test]
async fn a_lost_answer_still_reaches_apex() {
    let org = Org::start().await;
    assert!(org.sim.add_apex_rest("/Sfbridge/events", ApexBehavior::Echo));
    org.sim.lose_write_answers(1);
    let sent =
        org.client.post(format!("{}{EVENTS}", org.sim.base_url())).bearer_auth(&org.token).body("{}").send().await;
    assert!(sent.is_err(), "the connection closes without an answer");
    assert_eq!(org.sim.apex_requests("/Sfbridge/events").len(), 1, "the class ran: a retry must be idempotent");
    assert_eq!(org.call_path(Method::POST, EVENTS, &[], Some("{}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn composite_refuses_apex_rest_subrequests_and_runs_nothing() {
    let org = Org::start().await;
    assert!(org.sim.add_apex_rest("/Sfbridge/events", ApexBehavior::Echo));
    let reply = org
        .composite(json!({"allOrNone": false, "compositeRequest": [
            {"method": "POST", "url": format!("/services/data/{VERSION}/sobjects/Contact"), "referenceId": "contact",
             "body": {"LastName": "Lovelace"}},
            {"method": "POST", "url": EVENTS, "referenceId": "apex", "body": {"event_id": "evt-1"}},
        ]}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()[0]["errorCode"], "INVALID_INPUT");
    assert_eq!(
        reply.json()[0]["message"],
        "The POST request to /services/apexrest/Sfbridge/events is not supported in a composite request (referenceId: apex)."
    );
    assert!(org.sim.apex_requests("/Sfbridge/events").is_empty());
    assert!(org.sim.records("Contact").is_empty(), "the whole request is refused before anything runs");
}
