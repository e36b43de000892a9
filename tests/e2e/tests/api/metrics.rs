//! Metrics end to end: the Embedded Metric Format lines the activity-sync function and the
//! webhook receiver write, one per invocation, read back with `metrics::capture`, which only
//! collects the lines of this test's app (tests run side by side in one process).

use reqwest::StatusCode;
use serde_json::{json, Value};
use sfbridge_core::metrics::Capture;

use crate::helpers::{spawn_app, Backend};
use crate::sync::{activity, TENANT};
use crate::webhooks::{envelope, opportunity, Hook};

/// The org of the webhook helpers' tenant (`webhook_tenant` connects it), 15 characters.
const ORG15: &str = "00D5g000004ABCD";

/// The one line written since the last call, checked against the EMF shape, and forgotten.
fn one_line(capture: &Capture, function: &str) -> Value {
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "one line per invocation: {lines:#?}");
    capture.clear();
    let doc: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(doc["Function"], function);
    let directive = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "sfbridge");
    assert_eq!(directive["Dimensions"], json!([["Function"]]), "no tenant dimension, ever");
    for definition in directive["Metrics"].as_array().unwrap() {
        let name = definition["Name"].as_str().unwrap();
        assert!(doc[name].is_number(), "{name} has its value: {doc}");
    }
    let members = doc.as_object().unwrap().len();
    assert_eq!(members, directive["Metrics"].as_array().unwrap().len() + 2, "only _aws, Function and the values: {doc}");
    doc
}

fn counts(doc: &Value, names: &[&str]) -> Vec<u64> {
    names.iter().map(|n| doc[*n].as_u64().unwrap_or_else(|| panic!("{n} is not a count: {doc}"))).collect()
}

const OUTCOMES: [&str; 6] = ["EventsSynced", "EventsSkipped", "EventsFailed", "EventsParked", "EventsRetried", "EventsDuplicate"];

#[tokio::test]
async fn a_sync_batch_writes_one_line_with_its_outcomes_calls_usage_and_refreshes() {
    let app = spawn_app(Backend::Memory).await;
    app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.sim.insert_contact("grace@example.com", "Grace", "Hopper");
    app.ready_tenant(json!({})).await;
    app.sim.set_api_usage(1500); // of 15,000: 10 %
    let capture = app.capture_metrics();

    // 3 synced, 2 without a match (skipped), 1 that cannot run (failed); one event twice in the
    // batch counts once.
    let sent = activity("m_sent", "email_sent", "ada@example.com");
    let calls = app.sim.rest_calls();
    let batch: Vec<String> = [
        sent.clone(),
        sent.clone(),
        activity("m_click", "email_clicked", "ada@example.com"),
        activity("m_reply", "email_replied", "grace@example.com"),
        activity("m_nobody1", "email_sent", "nobody@example.com"),
        activity("m_nobody2", "email_opened", "nobody-else@example.com"),
    ]
    .iter()
    .map(Value::to_string)
    .chain(["{\"version\": 1, \"type\": \"activity\"}".to_owned()])
    .collect();
    assert!(app.sync_raw(&batch).await.is_empty());
    let doc = one_line(&capture, "activity-sync");
    assert_eq!(counts(&doc, &OUTCOMES), [3, 2, 1, 0, 0, 0], "{doc}");
    let made = (app.sim.rest_calls() - calls) as u64;
    assert_eq!(made, 2, "one Composite lookup, one Composite write");
    assert_eq!(counts(&doc, &["SalesforceApiCalls", "TokenRefreshes", "TokenRefreshFailures"]), [made, 0, 0]);
    let usage = doc["ApiUsagePercent"].as_f64().unwrap();
    assert!((10.0..10.1).contains(&usage), "the org's reading after the calls: {usage}");
    assert_eq!(doc["MaxReceiveCount"], 1, "every message on its first receive: {doc}");
    let line = values_text(&doc);
    for private in [TENANT, "ada@example.com", "m_sent", "Lovelace"] {
        assert!(!line.contains(private), "no tenant, address or event id in a metrics line: {line}");
    }

    // A redelivery of a synced event: a duplicate, and no Salesforce call (so no usage reading).
    let calls = app.sim.rest_calls();
    assert!(app.sync(&[sent]).await.is_empty());
    let doc = one_line(&capture, "activity-sync");
    assert_eq!(counts(&doc, &OUTCOMES), [0, 0, 0, 0, 0, 1], "{doc}");
    assert_eq!(app.sim.rest_calls(), calls);
    assert_eq!(doc["SalesforceApiCalls"], 0);
    assert!(doc.get("ApiUsagePercent").is_none(), "no reading this time: {doc}");

    // An expired access token: the batch refreshes it once and replays the refused call (the
    // write: Grace's match is remembered from the first batch, so there is no lookup).
    app.sim.expire_access_tokens();
    let (calls, refreshes) = (app.sim.rest_calls(), app.refresh_requests());
    assert!(app.sync(&[activity("m_open", "email_opened", "grace@example.com")]).await.is_empty());
    assert_eq!(app.refresh_requests() - refreshes, 1);
    let doc = one_line(&capture, "activity-sync");
    assert_eq!(counts(&doc, &OUTCOMES), [1, 0, 0, 0, 0, 0], "{doc}");
    assert_eq!(counts(&doc, &["TokenRefreshes", "TokenRefreshFailures"]), [1, 0]);
    assert_eq!(doc["SalesforceApiCalls"].as_u64(), Some((app.sim.rest_calls() - calls) as u64), "the refused call counts too");
    assert_eq!(doc["SalesforceApiCalls"], 2);

    // The refresh token revoked in Salesforce: the refresh fails for good and the events park.
    for token in app.sim.issued_refresh_tokens() {
        app.sim.revoke_token(&token);
    }
    app.sim.expire_access_tokens();
    let batch = [activity("m_p1", "email_sent", "ada@example.com"), activity("m_p2", "email_sent", "grace@example.com")];
    assert!(app.sync(&batch).await.is_empty());
    let doc = one_line(&capture, "activity-sync");
    assert_eq!(counts(&doc, &OUTCOMES), [0, 0, 0, 2, 0, 0], "{doc}");
    assert_eq!(counts(&doc, &["TokenRefreshes", "TokenRefreshFailures", "SalesforceApiCalls"]), [0, 1, 1]);
}

/// The line as text without its `_aws` member (whose metric names are fixed words).
fn values_text(doc: &Value) -> String {
    let mut doc = doc.clone();
    doc.as_object_mut().unwrap().remove("_aws");
    doc.to_string()
}

const REQUESTS: [&str; 3] = ["WebhookRequestsAccepted", "WebhookRequestsRefused", "WebhookRequestsFailed"];
const EVENTS: [&str; 2] = ["InboundEventsPublished", "InboundDuplicates"];

#[tokio::test]
async fn each_webhook_request_writes_one_line_accepted_refused_or_failed() {
    let app = spawn_app(Backend::Memory).await;
    let secret = app.webhook_tenant(TENANT).await;
    let capture = app.capture_metrics();

    // Accepted: three notifications published.
    let notes: Vec<_> = (1..=3).map(opportunity).collect();
    let body = envelope(ORG15, &notes);
    let (status, text) = app.post_hook(Hook::soap(TENANT, body.clone()).secret(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let doc = one_line(&capture, "webhook-receiver");
    assert_eq!(counts(&doc, &REQUESTS), [1, 0, 0]);
    assert_eq!(counts(&doc, &EVENTS), [3, 0]);
    assert_eq!(app.inbound_events().await.len(), 3);

    // Salesforce delivers the same message again: accepted, nothing published twice.
    let (status, _) = app.post_hook(Hook::soap(TENANT, body.clone()).secret(&secret)).await;
    assert_eq!(status, StatusCode::OK);
    let doc = one_line(&capture, "webhook-receiver");
    assert_eq!(counts(&doc, &REQUESTS), [1, 0, 0]);
    assert_eq!(counts(&doc, &EVENTS), [0, 3]);

    // Refused (4xx): a wrong secret, and a body that is neither XML nor JSON.
    let (status, _) = app.post_hook(Hook::soap(TENANT, body.clone()).secret("whsec_not-the-secret-at-all")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(counts(&one_line(&capture, "webhook-receiver"), &REQUESTS), [0, 1, 0]);
    let plain = Hook { content_type: "text/plain", ..Hook::soap(TENANT, "hello") };
    let (status, _) = app.post_hook(plain).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(counts(&one_line(&capture, "webhook-receiver"), &REQUESTS), [0, 1, 0]);

    // Failed (5xx): the inbound queue refuses every entry; nothing is acknowledged or published.
    app.inbound_faults.fail_every(1);
    let (status, _) = app.post_hook(Hook::soap(TENANT, envelope(ORG15, &[opportunity(4)])).secret(&secret)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let doc = one_line(&capture, "webhook-receiver");
    assert_eq!(counts(&doc, &REQUESTS), [0, 0, 1]);
    assert_eq!(counts(&doc, &EVENTS), [0, 0]);

    // The next delivery gets through and publishes it.
    app.inbound_faults.fail_every(0);
    let (status, _) = app.post_hook(Hook::soap(TENANT, envelope(ORG15, &[opportunity(4)])).secret(&secret)).await;
    assert_eq!(status, StatusCode::OK);
    let doc = one_line(&capture, "webhook-receiver");
    assert_eq!((counts(&doc, &REQUESTS), counts(&doc, &EVENTS)), (vec![1, 0, 0], vec![1, 0]));

    // Nothing of the tenant's in the lines: no tenant id, no secret.
    drop(capture);
    let capture = app.capture_metrics();
    let (status, _) = app.post_hook(Hook::soap(TENANT, body).secret(&secret)).await;
    assert_eq!(status, StatusCode::OK);
    let line = &capture.lines()[0];
    assert!(!line.contains(TENANT) && !line.contains(&secret) && !line.contains(ORG15), "{line}");
}

#[tokio::test]
async fn apps_side_by_side_see_only_their_own_lines() {
    let (one, two) = tokio::join!(spawn_app(Backend::Memory), spawn_app(Backend::Memory));
    let (capture_one, capture_two) = (one.capture_metrics(), two.capture_metrics());
    let hook = || Hook::json(TENANT, &json!({"events": []}));
    let (a, b) = tokio::join!(one.post_hook(hook()), two.post_hook(hook()));
    let (c, _) = tokio::join!(one.post_hook(hook()), two.sync_raw(&[]));
    assert!([a.0, b.0, c.0].iter().all(|s| s.is_client_error()), "refused: no tenant connected");
    assert_eq!(capture_one.lines().len(), 2, "{:#?}", capture_one.lines());
    assert!(capture_one.documents().iter().all(|d| d["Function"] == "webhook-receiver"));
    let two_lines = capture_two.documents();
    assert_eq!(two_lines.len(), 2, "{two_lines:#?}");
    assert_eq!(two_lines.iter().filter(|d| d["Function"] == "activity-sync").count(), 1);
}
