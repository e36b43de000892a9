//! The manual trigger queue end to end: Closed Won webhooks that did not trigger automatically are
//! listed by `GET /v1/tenants/{t}/triggers/pending` (newest first, paged), triggered by
//! `POST .../{id}` (exactly one `trigger_requested` event on the inbound queue) or dismissed by
//! `DELETE .../{id}`, both audited; on the embedded adapters and on DynamoDB + SQS in moto.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sfbridge_core::domain::{PendingTriggerId, SequenceId, TenantId};
use sfbridge_core::store::{PendingStatus, PENDING_TRIGGER_RETENTION_DAYS};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::sync::TENANT;
use crate::webhooks::{envelope, id18, Hook, Note, SAMPLE_ORG15};

const OTHER: &str = "team_43";
const ACK_MARK: &str = "<Ack>true</Ack>";

fn pending_path(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/triggers/pending")
}

/// The `n`-th Closed Won Opportunity of a test, as an Outbound Message carries it (text values).
fn won_note(n: usize) -> Note {
    Note {
        id: format!("04l5g{n:010}"),
        sobject: "Opportunity",
        record_id: id18(&format!("0065g{n:010}")),
        fields: vec![
            ("Amount", format!("{n}000.0")),
            ("CloseDate", "2026-12-15".to_owned()),
            ("Name", format!("Deal {n}")),
            ("StageName", "Closed Won".to_owned()),
        ],
    }
}

/// A Closed Won callout with the Opportunity as Apex's `JSON.serialize` writes it, contact roles
/// included.
fn won_callout(id: &str, n: usize, emails: &[&str]) -> Value {
    let roles: Vec<Value> = emails
        .iter()
        .map(|e| json!({"attributes": {"type": "OpportunityContactRole"}, "Role": "Decision Maker", "Contact": {"Email": e}}))
        .collect();
    json!({"id": id, "sobject_type": "Opportunity", "record_id": id18(&format!("0065g{n:010}")), "fields": {
        "attributes": {"type": "Opportunity"}, "Name": format!("Deal {n}"), "Amount": 120000, "CloseDate": "2026-12-31",
        "StageName": "Closed Won", "OpportunityContactRoles": {"totalSize": roles.len(), "done": true, "records": roles}}})
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not the error shape: {body}"))
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_else(|| panic!("not the error shape: {body}"))
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

impl TestApp {
    async fn deliver_soap(&self, secret: &str, notes: &[Note]) {
        let (status, body) = self.post_hook(Hook::soap(TENANT, envelope(SAMPLE_ORG15, notes)).secret(secret)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains(ACK_MARK), "{body}");
    }

    async fn deliver_json(&self, secret: &str, body: &Value) {
        let (status, reply) = self.post_hook(Hook::json(TENANT, body).secret(secret)).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }

    /// `GET …/triggers/pending{query}`, expecting 200.
    async fn pending_page(&self, tenant: &str, query: &str) -> Value {
        let response = self.admin(Method::GET, &format!("{}{query}", pending_path(tenant)), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The ids of the tenant's open entries, as listed (one page of 100).
    async fn pending_ids(&self, tenant: &str) -> Vec<String> {
        let page = self.pending_page(tenant, "?limit=100").await;
        page["pending"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
    }

    /// The tenant's open entry `id`, as listed.
    async fn pending_entry(&self, tenant: &str, id: &str) -> Value {
        let page = self.pending_page(tenant, "?limit=100").await;
        page["pending"].as_array().unwrap().iter().find(|e| e["id"] == id).cloned().unwrap_or_else(|| panic!("{id} not listed: {page}"))
    }

    /// An admin API call: the status and the body (`null` when there is none).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let response = self.admin(method, path, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// `POST …/triggers/pending/{id}` with `body` (`None`: no body at all).
    async fn trigger(&self, tenant: &str, id: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(Method::POST, &format!("{}/{id}", pending_path(tenant)), body).await
    }

    /// `DELETE …/triggers/pending/{id}`.
    async fn dismiss(&self, tenant: &str, id: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, &format!("{}/{id}", pending_path(tenant)), None).await
    }

    /// A raw POST to `path` with `content_type` and `body`.
    async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .api
            .post(self.url(path))
            .bearer_auth(&self.admin_token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn patch_settings(&self, body: Value) {
        let response = self.admin(Method::PATCH, &format!("/v1/tenants/{TENANT}/settings"), Some(body)).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    }

    /// The Closed Won events taken off the inbound queue, in order, asserting each carries no trigger.
    async fn untriggered_closed_won_ids(&self) -> Vec<String> {
        let events = self.inbound_events().await;
        let won: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "opportunity_closed_won").collect();
        for event in &won {
            assert_eq!(event["trigger"], Value::Null, "{event}");
        }
        won.iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect()
    }

    fn tick(&self) {
        self.clock.advance(Duration::seconds(1));
    }
}

/// Asserts a refusal: its status and code, and that its message holds `says`.
fn assert_refused((status, body): (StatusCode, Value), expected: StatusCode, code: &str, says: &str) {
    assert_eq!((status, error_code(&body)), (expected, code), "{body}");
    assert!(message(&body).contains(says), "{body}");
}

/// The whole queue in `manual` mode (the default): intake, listing and paging, redelivery,
/// tenants kept apart, refusals, a refused send, triggering exactly once (also under a concurrent
/// request), dismissing, a claim left by a request that died, and expiry.
async fn the_manual_queue_end_to_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;

    // Three Closed Won a second apart (two Outbound Messages, one callout with contact roles) and
    // an Opportunity that is not won.
    let (first, lost, third) = (won_note(1), crate::webhooks::opportunity(7), won_note(3));
    app.deliver_soap(&secret, &[first.clone(), lost]).await;
    app.tick();
    app.deliver_json(&secret, &won_callout("opp-callout-2", 2, &["Ada@Example.com", "grace@example.com"])).await;
    app.tick();
    app.deliver_soap(&secret, std::slice::from_ref(&third)).await;
    let won = app.untriggered_closed_won_ids().await;
    assert_eq!(won.len(), 3, "{won:?}");
    let (won1, won2, won3) = (won[0].clone(), won[1].clone(), won[2].clone());

    // Listed newest first; the lost Opportunity is not.
    assert_eq!(app.pending_ids(TENANT).await, [won3.clone(), won2.clone(), won1.clone()]);
    let page = app.pending_page(TENANT, "?limit=2").await;
    let listed: Vec<&str> = page["pending"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [won3.as_str(), won2.as_str()]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest = app.pending_page(TENANT, &format!("?limit=2&cursor={}", urlencoding(&cursor))).await;
    assert_eq!(rest["pending"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!((&rest["pending"][0]["id"], &rest["next_cursor"]), (&json!(won1), &Value::Null), "{rest}");

    // What an entry shows: the Opportunity as carried, the contact emails, the times.
    let callout = app.pending_entry(TENANT, &won2).await;
    assert_eq!(callout["status"], "pending");
    assert_eq!(callout["source"], "callout");
    assert_eq!(callout["notification_id"], "opp-callout-2");
    assert_eq!(
        callout["opportunity"],
        json!({"id": id18("0065g0000000002"), "name": "Deal 2", "amount": 120000, "close_date": "2026-12-31", "stage_name": "Closed Won"})
    );
    assert_eq!(callout["contact_emails"], json!(["ada@example.com", "grace@example.com"]));
    let received = time(&callout["received_at"]);
    assert_eq!(time(&callout["expires_at"]), received + Duration::days(PENDING_TRIGGER_RETENTION_DAYS));
    let soap = app.pending_entry(TENANT, &won1).await;
    assert_eq!((&soap["source"], &soap["organization_id"]), (&json!("outbound_message"), &json!(id18(SAMPLE_ORG15))));
    assert_eq!(soap["opportunity"]["amount"], "1000.0", "Outbound Messages carry text");
    assert_eq!(soap["contact_emails"], json!([]));
    // The table expires it on its own (DynamoDB TTL).
    let raw = app.raw_item(&format!("INBOUND#{TENANT}#PENDING"), &format!("TRIGGER#{won2}")).await.unwrap();
    assert_eq!(raw["expires_at"].as_i64(), Some((received + Duration::days(PENDING_TRIGGER_RETENTION_DAYS)).timestamp()));

    // Salesforce delivers the first message again: acknowledged, nothing new, still listed once
    // with its first received time.
    app.clock.advance(Duration::seconds(30));
    app.deliver_soap(&secret, std::slice::from_ref(&first)).await;
    assert!(app.inbound_events().await.is_empty());
    assert_eq!(app.pending_ids(TENANT).await, [won3.clone(), won2.clone(), won1.clone()]);
    assert_eq!(app.pending_entry(TENANT, &won1).await["received_at"], soap["received_at"]);

    // Another tenant's paths see none of them and resolve none.
    assert_eq!(app.pending_page(OTHER, "").await, json!({"pending": [], "next_cursor": null}));
    assert_refused(
        app.trigger(OTHER, &won1, Some(json!({"sequence_id": "seq_1"}))).await,
        StatusCode::NOT_FOUND, "unknown_pending_trigger", "GET /v1/tenants/team_43/triggers/pending",
    );
    assert_refused(app.dismiss(OTHER, &won1).await, StatusCode::NOT_FOUND, "unknown_pending_trigger", "has no pending trigger");

    // Refusals name what to fix and change nothing.
    assert_refused(
        app.trigger(TENANT, &won1, None).await,
        StatusCode::BAD_REQUEST, "invalid_request", "PATCH /v1/tenants/team_42/settings",
    );
    assert_refused(
        app.trigger(TENANT, &won1, Some(json!({"sequence_id": "seq 1"}))).await,
        StatusCode::BAD_REQUEST, "invalid_request", "sequence_id: sequence id must be",
    );
    assert_refused(
        app.trigger(TENANT, &won1, Some(json!({"sequence": "seq_1"}))).await,
        StatusCode::BAD_REQUEST, "invalid_request", "unknown field `sequence`",
    );
    assert_refused(
        app.trigger(TENANT, &won1, Some(json!({"sequence_id": 7}))).await,
        StatusCode::BAD_REQUEST, "invalid_request", "sequence_id: wrong type",
    );
    let path = format!("{}/{won1}", pending_path(TENANT));
    assert_refused(app.post_raw(&path, "application/json", "{not json").await, StatusCode::BAD_REQUEST, "invalid_json", "not valid JSON");
    assert_refused(
        app.post_raw(&path, "text/plain", "seq_1").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "application/json",
    );
    for unknown in ["inb_0123456789abcdef0123456789abcdef", "CANARY%20id", "x%23y"] {
        let refused = app.trigger(TENANT, unknown, Some(json!({"sequence_id": "seq_1"}))).await;
        assert!(!message(&refused.1).contains("CANARY"), "a malformed id is not echoed: {}", refused.1);
        assert_refused(refused, StatusCode::NOT_FOUND, "unknown_pending_trigger", "GET /v1/tenants/team_42/triggers/pending");
        assert_refused(app.dismiss(TENANT, unknown).await, StatusCode::NOT_FOUND, "unknown_pending_trigger", "triggers/pending");
    }
    assert_refused(
        app.call(Method::GET, &format!("{}?limit=0", pending_path(TENANT)), None).await,
        StatusCode::BAD_REQUEST, "invalid_limit", "limit must be a whole number from 1 to 100",
    );
    assert!(app.inbound_events().await.is_empty());
    assert_eq!(app.pending_ids(TENANT).await.len(), 3);

    // The queue refuses the send: 503, and the entry is still pending.
    app.inbound_faults.fail_every(1);
    assert_refused(
        app.trigger(TENANT, &won3, Some(json!({"sequence_id": "seq_9"}))).await,
        StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Retry",
    );
    app.inbound_faults.fail_every(0);
    assert_eq!(app.pending_entry(TENANT, &won3).await["status"], "pending");
    assert!(app.inbound_events().await.is_empty());

    // Triggered: 202 with the event id, exactly one trigger_requested event, and off the list.
    let (status, accepted) = app.trigger(TENANT, &won3, Some(json!({"sequence_id": "seq_9"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let event_id = accepted["event_id"].as_str().unwrap().to_owned();
    assert!(event_id.starts_with("trg_"), "{accepted}");
    assert_eq!(accepted, json!({"id": won3, "event_id": event_id, "sequence_id": "seq_9", "status": "triggered"}));
    let events = app.inbound_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let requested = &events[0];
    assert_eq!(requested["version"], 1);
    assert_eq!((&requested["event_type"], &requested["event_id"]), (&json!("trigger_requested"), &json!(event_id)));
    assert_eq!((&requested["tenant_id"], &requested["source"]), (&json!(TENANT), &json!("outbound_message")));
    assert_eq!(requested["organization_id"], id18(SAMPLE_ORG15));
    assert_eq!((&requested["sobject_type"], &requested["record_id"]), (&json!("Opportunity"), &json!(third.record_id)));
    assert_eq!((&requested["fields"]["Name"], &requested["fields"]["Amount"]), (&json!("Deal 3"), &json!("3000.0")));
    assert_eq!(requested["notification_id"], third.id);
    assert_eq!(requested["trigger"], json!({"mode": "manual", "sequence_id": "seq_9", "pending_id": won3}));
    assert_eq!(requested["contact_emails"], json!([]));
    assert!(requested["received_at"].is_string());
    assert_eq!(app.pending_ids(TENANT).await, [won2.clone(), won1.clone()]);

    // Again: nothing is published twice, and the answer says what happened.
    let again = app.trigger(TENANT, &won3, Some(json!({"sequence_id": "seq_9"}))).await;
    assert!(message(&again.1).contains(&event_id), "{}", again.1);
    assert_refused(again, StatusCode::CONFLICT, "already_triggered", "nothing was published again");
    assert_refused(app.dismiss(TENANT, &won3).await, StatusCode::CONFLICT, "already_triggered", "no longer pending");
    assert!(app.inbound_events().await.is_empty());

    // While one request publishes (its send held at the queue's door), the entry shows as
    // triggering and every other request is refused; then exactly one event goes out.
    let door = app.inbound_faults.hold().await;
    let held = app.trigger(TENANT, &won2, Some(json!({"sequence_id": "seq_2"})));
    let meanwhile = async {
        while app.inbound_faults.waiting() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(app.pending_entry(TENANT, &won2).await["status"], "triggering");
        assert_refused(
            app.trigger(TENANT, &won2, Some(json!({"sequence_id": "seq_2"}))).await,
            StatusCode::CONFLICT, "trigger_in_progress", "another request",
        );
        assert_refused(app.dismiss(TENANT, &won2).await, StatusCode::CONFLICT, "trigger_in_progress", "another request");
        drop(door);
    };
    let ((status, accepted), ()) = tokio::join!(held, meanwhile);
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let events = app.inbound_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event_id"], accepted["event_id"]);
    assert_eq!(events[0]["contact_emails"], json!(["ada@example.com", "grace@example.com"]));
    assert_eq!((&events[0]["source"], &events[0]["fields"]["Amount"]), (&json!("callout"), &json!(120000)));

    // Dismissed: off the list, and neither verb works on it again.
    let (status, body) = app.dismiss(TENANT, &won1).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert!(app.pending_ids(TENANT).await.is_empty());
    assert_refused(app.dismiss(TENANT, &won1).await, StatusCode::CONFLICT, "already_dismissed", "no longer pending");
    assert_refused(
        app.trigger(TENANT, &won1, Some(json!({"sequence_id": "seq_1"}))).await,
        StatusCode::CONFLICT, "already_dismissed", "dismissed at",
    );
    // A late redelivery of its Closed Won does not bring it back.
    app.deliver_soap(&secret, &[first]).await;
    assert!(app.pending_ids(TENANT).await.is_empty());
    assert!(app.inbound_events().await.is_empty());

    let audit = app.audit_types(TENANT).await;
    let count = |kind: &str| audit.iter().filter(|t| *t == kind).count();
    assert_eq!((count("trigger.requested"), count("trigger.dismissed")), (2, 1), "{audit:?}");

    // A request that died after claiming an entry: refused while its lease runs, then finished
    // with the sequence it began with (a second copy would carry the same event id).
    app.deliver_soap(&secret, &[won_note(4)]).await;
    let won4 = app.untriggered_closed_won_ids().await.remove(0);
    let (t, id) = (TenantId::parse(TENANT).unwrap(), PendingTriggerId::parse(&won4).unwrap());
    let entry = app.ctx.store.pending_trigger(&t, &id).await.unwrap().unwrap();
    use sfbridge_core::clock::Clock;
    let crashed = sfbridge_core::store::PendingTriggerRecord {
        status: PendingStatus::Triggering,
        lease_until: Some(app.clock.now() + Duration::seconds(60)),
        sequence_id: Some(SequenceId::parse("seq_crashed").unwrap()),
        trigger_event_id: Some("trg_from_the_dead_request".into()),
        version: entry.version + 1,
        ..entry.clone()
    };
    app.ctx.store.save_pending_trigger(&t, &crashed, entry.version).await.unwrap();
    assert_refused(app.trigger(TENANT, &won4, None).await, StatusCode::CONFLICT, "trigger_in_progress", "another request");
    app.clock.advance(Duration::seconds(61));
    assert_refused(
        app.trigger(TENANT, &won4, Some(json!({"sequence_id": "seq_other"}))).await,
        StatusCode::CONFLICT, "trigger_in_progress", "seq_crashed",
    );
    let (status, finished) = app.trigger(TENANT, &won4, None).await;
    assert_eq!((status, &finished["sequence_id"]), (StatusCode::ACCEPTED, &json!("seq_crashed")), "{finished}");
    let events = app.inbound_events().await;
    assert_eq!((events.len(), &events[0]["trigger"]["sequence_id"]), (1, &json!("seq_crashed")));

    // Nobody resolves it: gone from the list and the API after the retention.
    app.deliver_soap(&secret, &[won_note(5)]).await;
    let won5 = app.untriggered_closed_won_ids().await.remove(0);
    assert_eq!(app.pending_ids(TENANT).await, [won5.as_str()]);
    app.clock.advance(Duration::days(PENDING_TRIGGER_RETENTION_DAYS) + Duration::seconds(1));
    assert!(app.pending_ids(TENANT).await.is_empty());
    assert_refused(
        app.trigger(TENANT, &won5, Some(json!({"sequence_id": "seq_1"}))).await,
        StatusCode::NOT_FOUND, "unknown_pending_trigger", "expired",
    );
}

/// A cursor is opaque to the caller: escaped as any query value would be.
fn urlencoding(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn the_manual_queue_end_to_end_on_the_embedded_adapters() {
    the_manual_queue_end_to_end(Backend::Memory).await;
}

#[tokio::test]
async fn the_manual_queue_end_to_end_on_dynamodb_and_sqs_in_moto() {
    the_manual_queue_end_to_end(Backend::Moto).await;
}

/// `auto` keeps nothing pending; `both` triggers a Closed Won that names a contact email and keeps
/// one that names none; the tenant's sequence is the default of a trigger request.
async fn auto_and_both_modes(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;

    app.patch_settings(json!({"trigger_mode": "auto", "sequence_id": "seq_1"})).await;
    app.deliver_soap(&secret, &[won_note(1)]).await;
    app.deliver_json(&secret, &won_callout("opp-auto-2", 2, &[])).await;
    let events = app.inbound_events().await;
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event["trigger"], json!({"mode": "auto", "sequence_id": "seq_1"}), "auto triggers every Closed Won: {event}");
        assert_eq!(event["contact_emails"], json!([]));
    }
    assert!(app.pending_ids(TENANT).await.is_empty(), "auto keeps no manual queue");

    app.patch_settings(json!({"trigger_mode": "both"})).await;
    app.deliver_json(&secret, &won_callout("opp-both-3", 3, &["ada@example.com"])).await;
    let events = app.inbound_events().await;
    assert_eq!(events[0]["trigger"], json!({"mode": "both", "sequence_id": "seq_1"}));
    assert_eq!(events[0]["contact_emails"], json!(["ada@example.com"]));
    assert!(app.pending_ids(TENANT).await.is_empty(), "it triggered, so it is not pending");

    app.deliver_soap(&secret, &[won_note(4)]).await;
    app.tick();
    app.deliver_json(&secret, &won_callout("opp-both-5", 5, &[])).await;
    let waiting = app.untriggered_closed_won_ids().await;
    assert_eq!(waiting.len(), 2, "no contact email, no automatic trigger");
    assert_eq!(app.pending_ids(TENANT).await, [waiting[1].clone(), waiting[0].clone()]);

    // Any event other than a Closed Won stays out of the queue.
    app.deliver_soap(&secret, &[crate::webhooks::opportunity(7)]).await;
    assert_eq!(app.inbound_events().await[0]["contact_emails"], Value::Null);
    assert_eq!(app.pending_ids(TENANT).await.len(), 2);

    // Without a body, the tenant's sequence.
    let (status, accepted) = app.trigger(TENANT, &waiting[0], None).await;
    assert_eq!((status, &accepted["sequence_id"]), (StatusCode::ACCEPTED, &json!("seq_1")), "{accepted}");
    let events = app.inbound_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["trigger"], json!({"mode": "manual", "sequence_id": "seq_1", "pending_id": waiting[0]}));
    assert_eq!(app.pending_ids(TENANT).await, [waiting[1].as_str()]);
}

#[tokio::test]
async fn auto_and_both_modes_on_the_embedded_adapters() {
    auto_and_both_modes(Backend::Memory).await;
}

#[tokio::test]
async fn auto_and_both_modes_on_dynamodb_and_sqs_in_moto() {
    auto_and_both_modes(Backend::Moto).await;
}
