//! The webhook receiver end to end: Outbound Messages and JSON callouts POSTed to the local stack
//! over HTTP, read back off the inbound queue (in-process, or SQS in moto).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sfbridge_core::domain::SalesforceId;
use sfbridge_inbound::auth;

use crate::helpers::{captured_logs, spawn_app, spawn_app_with, AppOptions, Backend, QueueName, TestApp};
use crate::sync::TENANT;

/// The org of the constructed Outbound Message sample (its 15-character id).
pub const SAMPLE_ORG15: &str = "00D5g000004ABCD";
const SAMPLE: &str = include_str!("../../../../shared/fixtures/salesforce/outbound-message-opportunity-two-notifications-with-session.xml");
const ACK: &str = include_str!("../../../../shared/fixtures/salesforce/outbound-message-ack.xml");
/// The HTTP request Salesforce sends (its headers) and the response it expects.
const HTTP_EXCHANGE: &str = include_str!("../../../../shared/fixtures/salesforce/outbound-message-http-request.txt");
const SAMPLE_SESSION_ID: &str = "00D5g000004ABCD!AQ0AQExampleSessionIdScopedToApiOnly";

pub fn id18(id15: &str) -> String {
    SalesforceId::parse(id15).unwrap().as_str().to_owned()
}

/// A notification of an Outbound Message, as a test builds it.
#[derive(Debug, Clone)]
pub struct Note {
    pub id: String,
    pub sobject: &'static str,
    pub record_id: String,
    pub fields: Vec<(&'static str, String)>,
}

/// The `n`-th Opportunity notification of a test: ids unique per `n`, Closed Won when `n` is even.
pub fn opportunity(n: usize) -> Note {
    let stage = if n % 2 == 0 { "Closed Won" } else { "Prospecting" };
    Note {
        id: format!("04l5g{n:010}"),
        sobject: "Opportunity",
        record_id: id18(&format!("0065g{n:010}")),
        fields: vec![("Name", format!("Deal <{n}> & co")), ("StageName", stage.to_owned())],
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A SOAP Outbound Message envelope as Salesforce sends it.
pub fn envelope(org: &str, notes: &[Note]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
"#,
    );
    xml.push_str(&format!(
        "   <OrganizationId>{org}</OrganizationId>\n   <ActionId>04k5g000000XyzAAAS</ActionId>\n   <SessionId xsi:nil=\"true\"/>\n"
    ));
    for note in notes {
        xml.push_str(&format!(
            "   <Notification>\n    <Id>{}</Id>\n    <sObject xsi:type=\"sf:{}\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n     <sf:Id>{}</sf:Id>\n",
            note.id, note.sobject, note.record_id
        ));
        for (name, value) in &note.fields {
            xml.push_str(&format!("     <sf:{name}>{}</sf:{name}>\n", escape(value)));
        }
        xml.push_str("    </sObject>\n   </Notification>\n");
    }
    xml.push_str("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n");
    xml
}

/// A request to the webhook route; `query` and `headers` carry whatever authentication the test
/// wants to present.
pub struct Hook<'a> {
    pub tenant: &'a str,
    pub query: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl<'a> Hook<'a> {
    pub fn soap(tenant: &'a str, body: impl Into<Vec<u8>>) -> Self {
        Self { tenant, query: "", headers: Vec::new(), content_type: "text/xml; charset=UTF-8", body: body.into() }
    }

    pub fn json(tenant: &'a str, body: &Value) -> Self {
        Self { tenant, query: "", headers: Vec::new(), content_type: "application/json", body: body.to_string().into_bytes() }
    }

    pub fn secret(mut self, secret: &str) -> Self {
        self.headers.push(("x-salesforce-webhook-secret", secret.to_owned()));
        self
    }

    pub fn query(mut self, query: &'a str) -> Self {
        self.query = query;
        self
    }

    /// Signs the body as it is now (Standard Webhooks) at `timestamp`.
    pub fn signed(mut self, secret: &str, id: &str, timestamp: i64) -> Self {
        let signature = auth::sign(secret, id, timestamp, &self.body);
        self.headers.push(("webhook-id", id.to_owned()));
        self.headers.push(("webhook-timestamp", timestamp.to_string()));
        self.headers.push(("webhook-signature", signature));
        self
    }
}

impl TestApp {
    pub async fn post_hook(&self, hook: Hook<'_>) -> (StatusCode, String) {
        let response = self.post_hook_response(hook).await;
        (response.status(), response.text().await.unwrap())
    }

    pub async fn post_hook_response(&self, hook: Hook<'_>) -> reqwest::Response {
        let mut url = self.url(&format!("/webhooks/salesforce/{}", hook.tenant));
        if !hook.query.is_empty() {
            url = format!("{url}?{}", hook.query);
        }
        let mut request = self.api.post(url).header("content-type", hook.content_type).body(hook.body);
        for (name, value) in hook.headers {
            request = request.header(name, value);
        }
        request.send().await.unwrap()
    }

    /// Creates a webhook secret for `tenant` through the admin API and returns it.
    pub async fn create_webhook_secret(&self, tenant: &str) -> String {
        let response = self.admin(Method::POST, &format!("/v1/tenants/{tenant}/webhook-secrets"), None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["secret"].as_str().unwrap().to_owned()
    }

    /// A tenant connected to the simulated org (with the sample's org id) and its webhook secret.
    pub async fn webhook_tenant(&self, tenant: &str) -> String {
        self.sim.set_org(&id18(SAMPLE_ORG15), &id18("0055g00000AdmnU"));
        self.connect_tenant(tenant).await;
        self.create_webhook_secret(tenant).await
    }

    /// Takes every inbound event published so far.
    pub async fn inbound_events(&self) -> Vec<Value> {
        let messages = self.queues.take_from(QueueName::Inbound).await;
        messages.iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
    }
}

/// The sample exchange's request headers (without Host and Content-Length, which the client
/// sets) and the response's status code and Content-Type.
fn sample_exchange() -> (Vec<(&'static str, &'static str)>, u16, &'static str) {
    let (request, response) = HTTP_EXCHANGE.split_once("--- expected response ---").unwrap();
    let header = |line: &'static str| line.split_once(": ").map(|(name, value)| (name.trim(), value.trim()));
    let headers = request.lines().skip(1).take_while(|l| !l.trim().is_empty()).filter_map(header);
    let headers = headers.filter(|(name, _)| !matches!(name.to_ascii_lowercase().as_str(), "host" | "content-length")).collect();
    let mut response = response.lines().map(str::trim).filter(|l| !l.is_empty());
    let status = response.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = response.find_map(|l| l.strip_prefix("Content-Type: ")).unwrap();
    (headers, status, content_type)
}

fn now(app: &TestApp) -> i64 {
    use sfbridge_core::clock::Clock;
    app.clock.now().timestamp()
}

async fn sample_outbound_message_is_acknowledged_with_the_exact_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;

    // Sent with the headers Salesforce sends; answered as Salesforce expects.
    let (headers, expected_status, expected_content_type) = sample_exchange();
    let mut hook = Hook::soap(TENANT, SAMPLE);
    hook.headers.extend(headers.iter().filter(|(name, _)| !name.eq_ignore_ascii_case("content-type")).map(|(n, v)| (*n, (*v).to_owned())));
    hook.content_type = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-type")).unwrap().1;
    let query = format!("token={secret}");
    let response = app.post_hook_response(hook.query(&query)).await;
    let (status, content_type) = (response.status(), response.headers()["content-type"].to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(content_type, expected_content_type);
    assert_eq!(body, ACK, "the ACK must be byte for byte the documented envelope");

    let events = app.inbound_events().await;
    assert_eq!(events.len(), 2);
    let won = &events[0];
    assert_eq!(won["version"], 1);
    assert_eq!(won["tenant_id"], TENANT);
    assert_eq!(won["source"], "outbound_message");
    assert_eq!(won["organization_id"], id18(SAMPLE_ORG15));
    assert_eq!(won["event_type"], "opportunity_closed_won");
    assert_eq!(won["sobject_type"], "Opportunity");
    assert_eq!(won["record_id"], "0065g00000KLmnoAAD");
    assert_eq!(won["notification_id"], "04l5g00000Q1aaaAAB");
    assert_eq!(won["action_id"], "04k5g000000XyzAAAS");
    assert_eq!(won["api_version"], "66.0", "from EnterpriseUrl");
    assert_eq!(won["fields"]["StageName"], "Closed Won");
    assert_eq!(won["fields"]["Amount"], "48000.0");
    assert_eq!(won["fields"]["Experiment_Id__c"], "exp_7f3a9c");
    assert_eq!(won["trigger"], Value::Null, "trigger mode manual: no trigger");
    let lost = &events[1];
    assert_eq!(lost["event_type"], "record_changed");
    assert!(lost["fields"].get("Amount").is_none(), "a null field is absent");

    // The session id Salesforce may send is a secret: it goes nowhere.
    let published: String = events.iter().map(Value::to_string).collect();
    assert!(!published.contains(SAMPLE_SESSION_ID));
    assert!(!captured_logs().contains(SAMPLE_SESSION_ID));
    assert!(!captured_logs().contains(&secret), "the query token must never be logged");
}

#[tokio::test]
async fn sample_outbound_message_is_acknowledged_with_the_exact_envelope_memory() {
    sample_outbound_message_is_acknowledged_with_the_exact_envelope(Backend::Memory).await;
}

#[tokio::test]
async fn sample_outbound_message_is_acknowledged_with_the_exact_envelope_moto() {
    sample_outbound_message_is_acknowledged_with_the_exact_envelope(Backend::Moto).await;
}

#[tokio::test]
async fn envelopes_of_1_3_and_100_notifications_become_events_in_order_memory() {
    envelopes_of_1_3_and_100_notifications_become_events_in_order(Backend::Memory).await;
}

#[tokio::test]
async fn envelopes_of_1_3_and_100_notifications_become_events_in_order_moto() {
    envelopes_of_1_3_and_100_notifications_become_events_in_order(Backend::Moto).await;
}

async fn envelopes_of_1_3_and_100_notifications_become_events_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;
    let mut next = 0;
    for size in [1, 3, 100] {
        let notes: Vec<Note> = (next..next + size).map(opportunity).collect();
        next += size;
        let (status, body) = app.post_hook(Hook::soap(TENANT, envelope(SAMPLE_ORG15, &notes)).secret(&secret)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ACK));
        let events = app.inbound_events().await;
        assert_eq!(events.len(), size);
        for (event, note) in events.iter().zip(&notes) {
            assert_eq!(event["notification_id"], note.id);
            assert_eq!(event["record_id"], note.record_id);
            assert_eq!(event["fields"]["Name"], note.fields[0].1, "entities are unescaped");
            let expected = if note.fields[1].1 == "Closed Won" { "opportunity_closed_won" } else { "record_changed" };
            assert_eq!(event["event_type"], expected);
        }
    }
}

/// One forged request of a class of the auth matrix.
fn forgery(class: usize, i: usize, tenant: &str, secret: &str, other_secret: &str, now: i64) -> Hook<'static> {
    let tenant: &'static str = Box::leak(tenant.to_owned().into_boxed_str());
    let note = opportunity(10_000 + i);
    let soap = envelope(SAMPLE_ORG15, std::slice::from_ref(&note));
    let callout = json!({"id": format!("forged-{class}-{i}"), "event_type": "opportunity_closed_won", "sobject_type": "Opportunity",
        "record_id": note.record_id, "fields": {"StageName": "Closed Won"}});
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    match class {
        0 => Hook::soap(tenant, soap),                                                     // nothing presented
        1 => Hook::soap(tenant, soap).secret(""),                                          // empty header
        2 => Hook::soap(tenant, soap).secret(&format!("whsec_wrong{i}")),                  // wrong secret
        3 => Hook::soap(tenant, soap).secret(other_secret),                                // another tenant's secret
        4 => Hook::soap(tenant, soap).secret(&secret[..secret.len() - 1 - i % 8]),          // truncated
        5 => Hook::soap(tenant, soap).secret(&format!("{secret}{}", i % 10)),              // extended
        6 => Hook::soap(tenant, soap).query(leak(format!("token={other_secret}"))),       // other tenant's token in the query
        7 => Hook::soap(tenant, soap).secret(&secret.to_uppercase()),                      // wrong case
        8 => Hook::soap(tenant, envelope("00D5g000004WXYZ", &[note])).secret(secret),      // genuine secret, wrong org
        9 => {
            // empty signature
            let mut hook = Hook::json(tenant, &callout).signed(secret, &format!("msg_{i}"), now);
            hook.headers.retain(|(name, _)| *name != "webhook-signature");
            hook.headers.push(("webhook-signature", "v1,".to_owned()));
            hook
        }
        10 => {
            // truncated signature
            let mut hook = Hook::json(tenant, &callout).signed(secret, &format!("msg_{i}"), now);
            for (name, value) in &mut hook.headers {
                if *name == "webhook-signature" {
                    value.truncate(value.len() - 1 - i % 20);
                }
            }
            hook
        }
        11 => {
            // one bit of the body flipped after signing
            let mut hook = Hook::json(tenant, &callout).signed(secret, &format!("msg_{i}"), now);
            let at = i % hook.body.len();
            hook.body[at] ^= 1 << (i % 7);
            hook
        }
        12 => Hook::json(tenant, &callout).signed(secret, &format!("msg_{i}"), now - 301), // too old
        13 => Hook::json(tenant, &callout).signed(secret, &format!("msg_{i}"), now + 301), // from the future
        14 => Hook::json(tenant, &callout).signed(other_secret, &format!("msg_{i}"), now), // signed by another tenant
        _ => Hook::soap("team_other", soap).query(leak(format!("token={secret}"))),        // this tenant's token, another tenant's URL
    }
}

const FORGERY_CLASSES: usize = 16;

async fn no_forged_request_is_accepted(backend: Backend, per_class: usize) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;
    let other_secret = app.create_webhook_secret("team_other").await;
    let now = now(&app);

    let mut forged = 0;
    for class in 0..FORGERY_CLASSES {
        for i in 0..per_class {
            let (status, body) = app.post_hook(forgery(class, i, TENANT, &secret, &other_secret, now)).await;
            assert!(status.is_client_error(), "class {class} #{i} got {status}: {body}");
            forged += 1;
        }
    }
    // A tenant with no secret of its own and no global secret: nothing is accepted.
    app.connect_tenant("team_nosecret").await;
    for i in 0..per_class {
        let (status, _) = app.post_hook(Hook::soap("team_nosecret", envelope(SAMPLE_ORG15, &[opportunity(i)])).secret(&secret)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        forged += 1;
    }
    assert!(app.inbound_events().await.is_empty(), "a refused request published something");

    // Every genuine request, in each mode, is accepted.
    let mut genuine = 0;
    for i in 0..per_class {
        let note = opportunity(20_000 + i);
        let query = format!("token={secret}");
        let hooks = [
            Hook::soap(TENANT, envelope(SAMPLE_ORG15, std::slice::from_ref(&note))).query(&query),
            Hook::soap(TENANT, envelope(SAMPLE_ORG15, std::slice::from_ref(&opportunity(30_000 + i)))).secret(&secret),
            Hook::json(TENANT, &json!({"event_type": "record_changed", "sobject_type": "Task", "id": format!("g{i}")}))
                .signed(&secret, &format!("msg_g{i}"), now - 300),
        ];
        for hook in hooks {
            let (status, body) = app.post_hook(hook).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            genuine += 1;
        }
    }
    let events = app.inbound_events().await;
    assert_eq!(events.len(), genuine, "{forged} forged requests, {genuine} genuine ones");
}

#[tokio::test]
async fn no_forged_request_is_accepted_memory() {
    // 16 classes × 64 + 64 = 1,088 forged requests, and 192 genuine ones (on moto too).
    no_forged_request_is_accepted(Backend::Memory, 64).await;
}

#[tokio::test]
async fn no_forged_request_is_accepted_moto() {
    no_forged_request_is_accepted(Backend::Moto, 64).await;
}

async fn each_notification_is_published_once(backend: Backend, notifications: usize) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;
    let envelopes: Vec<String> = (0..notifications)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|chunk| envelope(SAMPLE_ORG15, &chunk.iter().copied().map(opportunity).collect::<Vec<_>>()))
        .collect();
    // Half the envelopes arrive three times in a row, the other half three times at once, and
    // whichever delivery is refused (another one is publishing) is retried, as Salesforce does.
    for (n, xml) in envelopes.iter().enumerate() {
        if n % 2 == 0 {
            for _ in 0..3 {
                let (status, body) = app.post_hook(Hook::soap(TENANT, xml.clone()).secret(&secret)).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        } else {
            let deliveries = (0..3).map(|_| app.post_hook(Hook::soap(TENANT, xml.clone()).secret(&secret)));
            for (status, body) in futures::future::join_all(deliveries).await {
                if status != StatusCode::OK {
                    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                    let (status, body) = app.post_hook(Hook::soap(TENANT, xml.clone()).secret(&secret)).await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                }
            }
        }
    }
    let events = app.inbound_events().await;
    let mut ids: Vec<&str> = events.iter().map(|e| e["notification_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((events.len(), ids.len()), (notifications, notifications));
}

#[tokio::test]
async fn each_notification_is_published_once_memory() {
    each_notification_is_published_once(Backend::Memory, 500).await;
}

#[tokio::test]
async fn each_notification_is_published_once_moto() {
    each_notification_is_published_once(Backend::Moto, 500).await;
}

/// Salesforce's retry can arrive while the first delivery is still publishing: it must neither
/// publish a second copy nor be acknowledged before the first one is on the queue.
async fn a_delivery_during_another_ones_publish_is_refused_until_that_one_is_done(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;
    let xml = envelope(SAMPLE_ORG15, &(0..3).map(opportunity).collect::<Vec<_>>());
    let delivery = || Hook::soap(TENANT, xml.clone()).secret(&secret);

    let gate = app.inbound_faults.hold().await;
    let second = async {
        while app.inbound_faults.waiting() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let response = app.post_hook_response(delivery()).await;
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let reply = (response.status(), retry_after, response.text().await.unwrap());
        drop(gate);
        reply
    };
    let ((first_status, first_body), (status, retry_after, body)) = tokio::join!(app.post_hook(delivery()), second);
    assert_eq!((first_status, first_body.as_str()), (StatusCode::OK, ACK));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("30"));
    assert!(body.contains("being published right now") && !body.contains("<Ack>true</Ack>"), "{body}");

    // Salesforce's next retry: acknowledged, and still one event per notification.
    let (status, body) = app.post_hook(delivery()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ACK));
    assert_eq!(app.inbound_events().await.len(), 3);
}

#[tokio::test]
async fn a_delivery_during_another_ones_publish_waits_memory() {
    a_delivery_during_another_ones_publish_is_refused_until_that_one_is_done(Backend::Memory).await;
}

#[tokio::test]
async fn a_delivery_during_another_ones_publish_waits_moto() {
    a_delivery_during_another_ones_publish_is_refused_until_that_one_is_done(Backend::Moto).await;
}

async fn refused_queue_entries_are_not_acknowledged_and_redelivery_publishes_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;
    let notes: Vec<Note> = (0..100).map(opportunity).collect();
    let xml = envelope(SAMPLE_ORG15, &notes);

    app.inbound_faults.fail_every(3);
    let (status, body) = app.post_hook(Hook::soap(TENANT, xml.clone()).secret(&secret)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no ACK while some events are not on the queue");
    assert!(body.contains("soapenv:Fault") && !body.contains("<Ack>true</Ack>"), "{body}");
    let first = app.inbound_events().await;
    assert!(!first.is_empty() && first.len() < 100, "{} published", first.len());

    app.inbound_faults.fail_every(0);
    let (status, body) = app.post_hook(Hook::soap(TENANT, xml).secret(&secret)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ACK));
    let rest = app.inbound_events().await;
    assert_eq!(first.len() + rest.len(), 100, "the redelivery publishes only what is missing");
    let mut ids: Vec<String> = first.iter().chain(&rest).map(|e| e["notification_id"].as_str().unwrap().to_owned()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn refused_queue_entries_are_not_acknowledged_memory() {
    refused_queue_entries_are_not_acknowledged_and_redelivery_publishes_the_rest(Backend::Memory).await;
}

#[tokio::test]
async fn refused_queue_entries_are_not_acknowledged_moto() {
    refused_queue_entries_are_not_acknowledged_and_redelivery_publishes_the_rest(Backend::Moto).await;
}

#[tokio::test]
async fn hostile_xml_is_refused_with_4xx_and_publishes_nothing() {
    let app = spawn_app(Backend::Memory).await;
    let secret = app.webhook_tenant(TENANT).await;
    let billion_laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&lol3;</soapenv:Body></soapenv:Envelope>"#;
    let quadratic = format!(
        r#"<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "{}">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{}</soapenv:Body></soapenv:Envelope>"#,
        "a".repeat(50_000),
        "&a;".repeat(10_000)
    );
    let xxe_file = SAMPLE.replacen("<soapenv:Envelope", "<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><soapenv:Envelope", 1).replacen("exp_7f3a9c", "&x;", 1);
    let xxe_http = SAMPLE.replacen("<soapenv:Envelope", "<!DOCTYPE e [<!ENTITY x SYSTEM \"http://169.254.169.254/latest/meta-data/\">]><soapenv:Envelope", 1).replacen("exp_7f3a9c", "&x;", 1);
    let parameter = SAMPLE.replacen("<soapenv:Envelope", "<!DOCTYPE e [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/evil.dtd\"> %p;]><soapenv:Envelope", 1);
    let bare_doctype = SAMPLE.replacen("<soapenv:Envelope", "<!DOCTYPE soapenv:Envelope><soapenv:Envelope", 1);
    let huge_text = SAMPLE.replacen("exp_7f3a9c", &"x".repeat(10 * 1024 * 1024), 1);
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let mut invalid_utf8 = SAMPLE.as_bytes().to_vec();
    let at = SAMPLE.find("Acme").unwrap();
    invalid_utf8[at] = 0xff;
    invalid_utf8[at + 1] = 0xfe;
    let undefined_entity = SAMPLE.replacen("exp_7f3a9c", "&undefined;", 1);
    // Legal UTF-8, but not XML; the inbound queue would refuse it on every retry.
    let non_character = SAMPLE.replacen("exp_7f3a9c", "exp_\u{FFFF}", 1);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("billion laughs", billion_laughs.into()),
        ("quadratic blowup", quadratic.into()),
        ("XXE file", xxe_file.into()),
        ("XXE http", xxe_http.into()),
        ("parameter entity", parameter.into()),
        ("DOCTYPE", bare_doctype.into()),
        ("10 MB text node", huge_text.into()),
        ("100k-deep nesting", deep.into()),
        ("invalid UTF-8", invalid_utf8),
        ("undefined entity", undefined_entity.into()),
        ("U+FFFF", non_character.into()),
        ("empty body", Vec::new()),
        ("not XML", b"{\"hello\": 1}".to_vec()),
    ];
    for (name, body) in cases {
        // Timing and memory are measured by the webhook benchmark, not asserted here.
        let (status, reply) = app.post_hook(Hook::soap(TENANT, body).secret(&secret)).await;
        assert!(status.is_client_error(), "{name}: {status} {reply}");
        assert!(reply.contains("soapenv:Fault"), "{name}: a SOAP fault says why: {reply}");
        assert!(!reply.contains("passwd") && !reply.contains("169.254"), "{name}: {reply}");
    }
    assert!(app.inbound_events().await.is_empty());
}

#[tokio::test]
async fn json_callouts_are_normalized_and_closed_won_carries_the_trigger() {
    let app = spawn_app(Backend::Memory).await;
    let secret = app.webhook_tenant(TENANT).await;
    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"trigger_mode": "auto", "sequence_id": "seq_1"})).await;

    // The experimentation platform's shape.
    let campaign = json!({"event_type": "campaign_updated", "campaign_id": id18("7015g000000AbCd"),
        "campaign_name": "Q1 Checkout Optimization", "status": "Completed", "experiment_key": "checkout-button-color"});
    let (status, body) = app.post_hook(Hook::json(TENANT, &campaign).secret(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"processed": true, "events": 1}));

    // The generic shape, two at once, signed.
    let generic = json!([
        {"id": "opp-1", "sobject_type": "Opportunity", "record_id": id18("0065g00000KLmno"), "fields": {"StageName": "Closed Won", "Amount": 48000}},
        {"id": "lead-1", "event_type": "lead_created", "sobject_type": "Lead", "record_id": id18("00Q5g00000AbCdE"), "fields": {"Email": "ada@example.com"}}
    ]);
    let (status, body) = app.post_hook(Hook::json(TENANT, &generic).signed(&secret, "msg_1", now(&app))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let events = app.inbound_events().await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["event_type"], "campaign_updated");
    assert_eq!(events[0]["source"], "callout");
    assert_eq!(events[0]["status"], "Completed");
    assert_eq!(events[0]["experiment_key"], "checkout-button-color");
    assert_eq!(events[0]["sobject_type"], "Campaign");
    assert_eq!(events[0]["trigger"], Value::Null, "only Closed Won events trigger");
    assert_eq!(events[1]["event_type"], "opportunity_closed_won");
    assert_eq!(events[1]["fields"]["Amount"], 48000);
    assert_eq!(events[1]["trigger"], json!({"mode": "auto", "sequence_id": "seq_1"}));
    assert_eq!(events[2]["event_type"], "lead_created");
    assert_eq!(events[2]["notification_id"], "lead-1");

    // The same callouts again: sender ids (or the signature id) deduplicate them.
    let (status, _) = app.post_hook(Hook::json(TENANT, &generic).signed(&secret, "msg_1", now(&app))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.inbound_events().await.is_empty());

    // Bad callouts say what is wrong.
    for bad in [
        json!({"event_type": "opportunity_won"}),
        json!({"sobject_type": "Opportunity", "recordid": "x"}),
        json!([]),
        json!({"id": "nc-1", "sobject_type": "Task", "fields": {"Subject": "a\u{FFFE}b"}}),
    ] {
        let (status, body) = app.post_hook(Hook::json(TENANT, &bad).secret(&secret)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["processed"], false);
        assert_eq!(body["error"]["code"], "invalid_payload");
    }
    assert!(app.inbound_events().await.is_empty(), "a refused callout published something");
}

/// A captured signed request replayed: within the tolerance it is a duplicate (acknowledged,
/// nothing published); past it, refused.
#[tokio::test]
async fn a_replayed_signed_request_is_a_duplicate_then_refused() {
    let app = spawn_app(Backend::Memory).await;
    let secret = app.webhook_tenant(TENANT).await;
    let signed_at = now(&app);
    let captured = || Hook::json(TENANT, &json!({"sobject_type": "Task", "fields": {"Subject": "x"}})).signed(&secret, "msg_replay", signed_at);

    let (status, body) = app.post_hook(captured()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.inbound_events().await.len(), 1);
    for (after, expected) in [(0, StatusCode::OK), (60, StatusCode::OK), (240, StatusCode::OK), (1, StatusCode::UNAUTHORIZED)] {
        app.clock.advance(chrono::Duration::seconds(after));
        let (status, body) = app.post_hook(captured()).await;
        assert_eq!(status, expected, "{} s after signing: {body}", now(&app) - signed_at);
        if status == StatusCode::UNAUTHORIZED {
            assert!(body.contains("stale_timestamp"), "{body}");
        }
    }
    assert!(app.inbound_events().await.is_empty(), "a replay published something");
}

/// Salesforce's traffic with a flaky queue: 500 envelopes of 1 to 100 notifications, every fifth
/// one delivered again after its ACK, one queue entry in twenty refused. Every notification ends
/// up on the queue exactly once, and no envelope is acknowledged while any of its notifications
/// is missing from the queue.
#[tokio::test]
async fn salesforce_traffic_over_a_flaky_queue_loses_and_duplicates_nothing() {
    let app = spawn_app(Backend::Memory).await;
    let secret = app.webhook_tenant(TENANT).await;
    app.inbound_faults.fail_every(20);
    let mut published = std::collections::HashSet::new();
    let (mut next, mut refusals, mut total) = (0, 0, 0);
    for envelope_number in 0..500 {
        let size = 1 + envelope_number * 37 % 100;
        let notes: Vec<Note> = (next..next + size).map(opportunity).collect();
        next += size;
        total += size;
        let xml = envelope(SAMPLE_ORG15, &notes);
        let deliveries = if envelope_number % 5 == 0 { 2 } else { 1 };
        for _ in 0..deliveries {
            loop {
                let (status, body) = app.post_hook(Hook::soap(TENANT, xml.clone()).secret(&secret)).await;
                for event in app.inbound_events().await {
                    let id = event["notification_id"].as_str().unwrap().to_owned();
                    assert!(published.insert(id.clone()), "{id} published twice");
                }
                if status == StatusCode::OK {
                    assert_eq!(body, ACK);
                    for note in &notes {
                        assert!(published.contains(&note.id), "ACK while {} is not on the queue", note.id);
                    }
                    break;
                }
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                refusals += 1;
            }
        }
    }
    assert_eq!(published.len(), total);
    assert!(refusals > 100, "the queue faults were exercised: {refusals} deliveries refused");
}

#[tokio::test]
async fn signature_mode_refuses_unsigned_callouts_but_outbound_messages_keep_the_secret() {
    let app = spawn_app(Backend::Memory).await;
    let secret = app.webhook_tenant(TENANT).await;
    app.put_json(&format!("/v1/tenants/{TENANT}/settings"), json!({"webhook_auth": "signature"})).await;
    let callout = json!({"id": "c1", "sobject_type": "Task"});

    let (status, body) = app.post_hook(Hook::json(TENANT, &callout).secret(&secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("signature_required"), "{body}");
    let (status, _) = app.post_hook(Hook::json(TENANT, &callout).signed(&secret, "msg_c1", now(&app))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post_hook(Hook::soap(TENANT, envelope(SAMPLE_ORG15, &[opportunity(1)])).secret(&secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.inbound_events().await.len(), 2);
}

#[tokio::test]
async fn rotation_keeps_both_secrets_until_the_old_one_is_revoked() {
    let app = spawn_app(Backend::Memory).await;
    let old = app.webhook_tenant(TENANT).await;
    let new = app.create_webhook_secret(TENANT).await;
    for secret in [&old, &new] {
        let (status, _) = app.post_hook(Hook::json(TENANT, &json!({"sobject_type": "Task"})).secret(secret)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let list: Value = app.admin(Method::GET, &format!("/v1/tenants/{TENANT}/webhook-secrets"), None).await.json().await.unwrap();
    let oldest = list["secrets"].as_array().unwrap().iter().min_by_key(|s| s["created_at"].as_str().unwrap().to_owned()).unwrap();
    let id = oldest["id"].as_str().unwrap();
    let response = app.admin(Method::DELETE, &format!("/v1/tenants/{TENANT}/webhook-secrets/{id}"), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = app.post_hook(Hook::json(TENANT, &json!({"sobject_type": "Task"})).secret(&old)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked secret is refused");
    let (status, _) = app.post_hook(Hook::json(TENANT, &json!({"sobject_type": "Task"})).secret(&new)).await;
    assert_eq!(status, StatusCode::OK);
}

/// A signed request costs a key-service call only the first time a warm receiver meets a secret,
/// so forged requests with fresh timestamps cannot run up KMS calls, and a revoked secret is
/// refused at once even though it was opened before.
async fn signature_checks_open_each_secret_once_and_revocation_still_applies_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app.webhook_tenant(TENANT).await;
    let callout = |i: usize| json!({"id": format!("c{i}"), "sobject_type": "Task"});
    let opens = || app.cipher_opens.load(std::sync::atomic::Ordering::SeqCst);

    let before = opens();
    for i in 0..20 {
        let hook = Hook::json(TENANT, &callout(i)).signed(&format!("whsec_{}", "A".repeat(43)), &format!("msg_f{i}"), now(&app));
        let (status, body) = app.post_hook(hook).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    for i in 0..5 {
        let (status, body) = app.post_hook(Hook::json(TENANT, &callout(100 + i)).signed(&old, &format!("msg_g{i}"), now(&app))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(opens() - before, 1, "25 signed requests, one secret opened once");

    // Rotation: the new secret is opened once too; both verify meanwhile.
    let new = app.create_webhook_secret(TENANT).await;
    let before = opens();
    for (i, secret) in [&new, &old, &new].into_iter().enumerate() {
        let (status, _) = app.post_hook(Hook::json(TENANT, &callout(200 + i)).signed(secret, &format!("msg_r{i}"), now(&app))).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(opens() - before, 1);

    let list: Value = app.admin(Method::GET, &format!("/v1/tenants/{TENANT}/webhook-secrets"), None).await.json().await.unwrap();
    let oldest = list["secrets"].as_array().unwrap().iter().min_by_key(|s| s["created_at"].as_str().unwrap().to_owned()).unwrap();
    let response = app.admin(Method::DELETE, &format!("/v1/tenants/{TENANT}/webhook-secrets/{}", oldest["id"].as_str().unwrap()), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = app.post_hook(Hook::json(TENANT, &callout(300)).signed(&old, "msg_revoked", now(&app))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked secret is refused although this process opened it");
    let (status, _) = app.post_hook(Hook::json(TENANT, &callout(301)).signed(&new, "msg_after", now(&app))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.inbound_events().await.len(), 5 + 3 + 1);
}

#[tokio::test]
async fn signature_checks_open_each_secret_once_memory() {
    signature_checks_open_each_secret_once_and_revocation_still_applies_at_once(Backend::Memory).await;
}

#[tokio::test]
async fn signature_checks_open_each_secret_once_moto() {
    signature_checks_open_each_secret_once_and_revocation_still_applies_at_once(Backend::Moto).await;
}

#[tokio::test]
async fn the_global_secret_serves_only_tenants_without_their_own() {
    let global = "global-webhook-secret-0123456789abcdef";
    let app = spawn_app_with(Backend::Memory, AppOptions { global_webhook_secret: Some(global.to_owned()), ..AppOptions::default() }).await;
    app.connect_tenant(TENANT).await;
    let event = json!({"sobject_type": "Task"});
    let (status, body) = app.post_hook(Hook::json(TENANT, &event).secret(global)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let query = format!("secret={global}");
    let (status, _) = app.post_hook(Hook::json(TENANT, &event).query(&query)).await;
    assert_eq!(status, StatusCode::OK, "the secret query parameter works too");

    let own = app.create_webhook_secret(TENANT).await;
    let (status, _) = app.post_hook(Hook::json(TENANT, &event).secret(global)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a tenant's own secret replaces the global one");
    let (status, _) = app.post_hook(Hook::json(TENANT, &event).secret(&own)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!captured_logs().contains(global));
}

#[tokio::test]
async fn webhooks_need_a_connected_tenant_and_its_own_org() {
    let app = spawn_app(Backend::Memory).await;
    let secret = app.create_webhook_secret(TENANT).await;
    let xml = envelope(SAMPLE_ORG15, &[opportunity(1)]);
    let (status, body) = app.post_hook(Hook::soap(TENANT, xml.clone()).secret(&secret)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("connect"), "{body}");

    app.webhook_tenant(TENANT).await;
    let (status, body) = app.post_hook(Hook::soap(TENANT, envelope("00D5g000004ZZZZ", &[opportunity(1)])).secret(&secret)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("another Salesforce org"), "{body}");

    let response = app.admin(Method::DELETE, &format!("/v1/tenants/{TENANT}/connection"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = app.post_hook(Hook::soap(TENANT, xml).secret(&secret)).await;
    assert_eq!(status, StatusCode::CONFLICT, "disconnecting stops webhooks");
    assert!(app.inbound_events().await.is_empty());

    let (status, _) = app.post_hook(Hook { content_type: "text/plain", ..Hook::soap(TENANT, "hi") }.secret(&secret)).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = app.post_hook(Hook::soap("team#1", "x").secret(&secret)).await;
    assert!(status.is_client_error());
}
