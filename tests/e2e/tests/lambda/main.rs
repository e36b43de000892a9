//! The four Lambda binaries as Lambda runs them: each `bootstrap` in its own process behind a
//! loopback Runtime API, storage and queues in moto, Salesforce simulated. One tenant is
//! connected through the popup (admin API + OAuth callback), an activity is synced (SQS event),
//! and Salesforce posts a Flow callout and an Outbound Message (webhook receiver). Then the test
//! reads what CloudWatch Logs would store, every line each process wrote: JSON lines that carry the
//! invocation's `requestId`, the EMF metric lines with the right counts, and none of the secrets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod function;
mod runtime_api;

use std::collections::HashMap;

use reqwest::StatusCode;
use salesforce_sim::{SalesforceSim, SimApp, SimConfig};
use serde_json::{json, Value};
use sfbridge_core::domain::SalesforceId;
use sfbridge_aws::DynamoTable;

use function::Function;

const MARKER: &str = "CANARY";
const TENANT: &str = "team_42";
const CAMPAIGN: &str = "cmp_7";
const ORG15: &str = "00D5g000004ABCD";
const PUBLIC_URL: &str = "http://127.0.0.1:9";

fn id18(id15: &str) -> String {
    SalesforceId::parse(id15).unwrap().as_str().to_owned()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &sfbridge_core::domain::FlowId::random().to_string()[..10]).to_lowercase()
}

/// The table, key and queues the template declares, created in moto under fresh names; returns
/// the functions' environment (what the template's Globals give them, with this test's values).
async fn environment(admin_token: &str) -> (HashMap<String, String>, aws_config::SdkConfig) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: this test runs the functions against moto; use `bash infra/scripts/test.sh`, which starts it",
    );
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = unique("sfbridge-lambda");
    DynamoTable::create_table(&aws_sdk_dynamodb::Client::new(&aws), &table).await.unwrap();
    let key = aws_sdk_kms::Client::new(&aws).create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = |name: String| {
        let sqs = sqs.clone();
        async move { sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap() }
    };
    let activity = queue(unique("activity")).await;
    let dead_letter = queue(unique("activity-dlq")).await;
    let inbound = queue(unique("inbound")).await;
    let import = queue(unique("import")).await;
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("RUST_LOG", "debug"), // the most a deployment may log (LogLevel); secrets must stay out even here
        ("SFBRIDGE_TABLE", table.as_str()),
        ("SFBRIDGE_KMS_KEY_ID", key.as_str()),
        ("SFBRIDGE_PUBLIC_URL", PUBLIC_URL),
        ("SFBRIDGE_APP_ORIGINS", "https://app.example.com"),
        ("SFBRIDGE_INSECURE_DEV", "true"), // the simulator and the public URL are http on loopback
        ("SFBRIDGE_ACTIVITY_QUEUE_URL", activity.as_str()),
        ("SFBRIDGE_ACTIVITY_DLQ_URL", dead_letter.as_str()),
        ("SFBRIDGE_INBOUND_QUEUE_URL", inbound.as_str()),
        ("SFBRIDGE_IMPORT_QUEUE_URL", import.as_str()),
        ("SFBRIDGE_ADMIN_TOKEN", admin_token),
    ];
    (env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), aws)
}

/// `path?query` of a URL.
fn path_and_query(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

fn outbound_message(org: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId><ActionId>04k5g000000XyzAAAS</ActionId>
<SessionId>{MARKER}-session-id-of-the-outbound-message</SessionId>
<Notification><Id>04l5g00000Q1aaaAAB</Id><sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
<sf:Id>0065g00000KLmnoAAD</sf:Id><sf:StageName>Closed Won</sf:StageName></sObject></Notification>
</notifications></soapenv:Body></soapenv:Envelope>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_sync_and_webhooks_through_the_lambda_binaries_log_json_with_request_ids_metrics_and_no_secret() {
    let admin_token = format!("{MARKER}-admin-token-0123456789");
    let (env, aws) = environment(&admin_token).await;
    let sim = SalesforceSim::start(SimConfig { auto_approve: true, token_marker: MARKER.into(), ..SimConfig::default() })
        .await
        .unwrap();
    sim.set_org(&id18(ORG15), &id18("0055g00000AdmnU"));
    let consumer_key = "3MVG9lambda.e2e.key.0123456789";
    let consumer_secret = format!("{MARKER}-consumer-secret-0123456789");
    let mut sim_app = SimApp::new(consumer_key, &consumer_secret, format!("{PUBLIC_URL}/oauth/callback"));
    sim_app.rotate_refresh_tokens = true;
    sim.add_app(sim_app);

    let (admin, oauth, sync, webhook) = tokio::join!(
        Function::start("admin-api", &env),
        Function::start("oauth-callback", &env),
        Function::start("activity-sync", &env),
        Function::start("webhook-receiver", &env),
    );
    let bearer = format!("Bearer {admin_token}");
    let admin_headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let admin_call = |method: &'static str, path: String, body: Option<Value>| {
        let admin = &admin;
        let admin_headers = &admin_headers;
        async move { admin.http(method, &path, admin_headers, &[], body.map(|b| b.to_string()).as_deref()).await }
    };

    // Connect: credentials, connect URL, the popup's start and callback around Salesforce's consent.
    let credentials = json!({"consumer_key": consumer_key, "consumer_secret": consumer_secret, "login_url": sim.base_url()});
    let saved = admin_call("PUT", format!("/v1/tenants/{TENANT}/credentials"), Some(credentials)).await;
    assert_eq!(saved.status, 204, "{}", saved.body);
    let started = admin_call("POST", format!("/v1/tenants/{TENANT}/connect"), None).await;
    assert_eq!(started.status, 201, "{}", started.body);
    let connect_url = started.json()["connect_url"].as_str().unwrap().to_owned();
    let start = oauth.http("GET", &path_and_query(&connect_url), &[], &[], None).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let browser_cookies: Vec<String> =
        start.cookies.iter().map(|c| c.split(';').next().unwrap().to_owned()).collect();
    assert!(!browser_cookies.is_empty(), "the start binds the flow to the browser with a cookie");
    let consent = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let approved = consent.get(&start.headers["location"]).send().await.unwrap();
    assert_eq!(approved.status(), StatusCode::FOUND);
    let callback_url = approved.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&callback_url).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let page = oauth.http("GET", &path_and_query(&callback_url), &[], &browser_cookies, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Connected to Salesforce"), "{}", page.body);
    // The connect helper, as API Gateway gets it from the function: the whole module, typed and cacheable.
    let helper = oauth.http("GET", "/oauth/connect.js", &[], &[], None).await;
    assert_eq!(helper.status, 200, "{}", helper.body);
    assert_eq!(helper.headers["content-type"], "text/javascript; charset=utf-8");
    assert!(helper.headers["etag"].starts_with("\"sha384-"), "{:?}", helper.headers);
    assert!(helper.body.contains("export function connect(") && helper.body.trim_end().ends_with('}'), "served whole");
    let connection = admin_call("GET", format!("/v1/tenants/{TENANT}/connection"), None).await.json();
    assert_eq!(connection["status"], "connected", "{connection}");

    // Sync one activity (an SQS batch of one).
    let enabled = admin_call("PUT", format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}"), Some(json!({"enabled": true}))).await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let command = json!({"version": 1, "type": "activity", "event_id": "evt_lambda_1", "tenant_id": TENANT,
        "campaign_id": CAMPAIGN, "campaign_name": "Q1 Outreach", "activity": "email_sent",
        "contact": {"email": "ada@example.com"}, "occurred_at": "2026-11-20T10:00:00Z", "email": {"subject": "Hello"}});
    let rest_calls = sim.rest_calls();
    let (_, batch) = sync.sqs(&[command.to_string()]).await;
    assert_eq!(batch["batchItemFailures"], json!([]), "{batch}");
    let sync_calls = (sim.rest_calls() - rest_calls) as u64;
    assert_eq!(sim.records("Task").len(), 1);

    // Webhooks: the tenant's secret, a Flow callout with it in a header, an Outbound Message with
    // it in the query string.
    let created = admin_call("POST", format!("/v1/tenants/{TENANT}/webhook-secrets"), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    let hook = format!("/webhooks/salesforce/{TENANT}");
    let callout = json!({"id": "c-1", "event_type": "campaign_updated", "campaign_id": "701xx000000001AAAQ",
        "status": "Completed", "experiment_key": "checkout-button-color"});
    let json_headers = [("content-type", "application/json"), ("x-salesforce-webhook-secret", secret.as_str())];
    let reply = webhook.http("POST", &hook, &json_headers, &[], Some(&callout.to_string())).await;
    assert_eq!((reply.status, reply.json()), (200, json!({"processed": true, "events": 1})));
    let with_token = format!("{hook}?token={secret}");
    let reply = webhook.http("POST", &with_token, &[("content-type", "text/xml")], &[], Some(&outbound_message(&id18(ORG15)))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("<Ack>true</Ack>"), "{}", reply.body);
    let inbound = aws_sdk_sqs::Client::new(&aws)
        .receive_message()
        .queue_url(&env["SFBRIDGE_INBOUND_QUEUE_URL"])
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut types: Vec<String> = inbound
        .messages()
        .iter()
        .map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["event_type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["campaign_updated", "opportunity_closed_won"]);

    // What CloudWatch Logs would hold.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the readers catch up
    let functions = [&admin, &oauth, &sync, &webhook];
    let mut secrets = vec![MARKER.to_owned(), secret.clone(), code, admin_token.clone()];
    secrets.extend(sim.issued_access_tokens());
    secrets.extend(sim.issued_refresh_tokens());
    let log_dir = std::env::var("SFBRIDGE_TEST_LOG_DIR").ok();
    for f in functions {
        assert_eq!(f.init_error().await, None, "{} failed to start", f.name);
        let (stdout, stderr) = (f.stdout(), f.stderr());
        if let Some(dir) = &log_dir {
            std::fs::create_dir_all(dir).unwrap();
            let text = stdout.iter().chain(&stderr).map(|l| format!("{l}\n")).collect::<String>();
            std::fs::write(format!("{dir}/lambda-{}.log", f.name), text).unwrap();
        }
        for line in stdout.iter().chain(&stderr) {
            for secret in &secrets {
                assert!(!line.contains(secret.as_str()), "{} logged a secret (line not shown)", f.name);
            }
        }
        let documents: Vec<Value> = stdout
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: a stdout line is not JSON ({e}): {l}", f.name)))
            .collect();
        let logs: Vec<&Value> = documents.iter().filter(|d| d.get("_aws").is_none()).collect();
        for log in &logs {
            assert!(log["level"].is_string(), "{}: a line without level: {log}", f.name);
            if log.get("tenant_id").is_some() {
                let id = log["requestId"].as_str().unwrap_or_else(|| panic!("{}: a tenant's line without requestId: {log}", f.name));
                assert!(id.starts_with(&format!("req-{}-", f.name)), "{log}");
            }
        }
        let in_invocations = logs.iter().filter(|l| l["requestId"].as_str().is_some_and(|id| id.starts_with("req-"))).count();
        assert!(in_invocations > 0, "{}: no line carries the invocation's requestId: {logs:#?}", f.name);
    }
    let settled: Vec<Value> = sync
        .stdout()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d["message"] == "event settled")
        .collect();
    assert_eq!(settled.len(), 1, "one line per event outcome: {settled:#?}");
    let line = &settled[0];
    assert_eq!((&line["tenant_id"], &line["event_id"], &line["outcome"]), (&json!(TENANT), &json!("evt_lambda_1"), &json!("Synced")));
    assert!(line["requestId"].as_str().is_some_and(|id| id.starts_with("req-activity-sync-")), "{line}");
    assert!(!line.to_string().contains("ada@example.com"), "no address in the logs: {line}");
    assert!(
        webhook.stdout().iter().any(|l| l.contains("\"tenant_id\":\"team_42\"")),
        "the webhook lines name the tenant"
    );

    let emf = |f: &Function| -> Vec<Value> {
        f.stdout().iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|d| d.get("_aws").is_some()).collect()
    };
    assert!(emf(&admin).is_empty() && emf(&oauth).is_empty(), "only the sync and the webhook receiver write metrics");
    let sync_lines = emf(&sync);
    assert_eq!(sync_lines.len(), 1, "one line per batch: {sync_lines:#?}");
    let line = &sync_lines[0];
    assert_eq!(line["Function"], "activity-sync");
    assert_eq!((line["EventsSynced"].as_u64(), line["EventsFailed"].as_u64(), line["EventsParked"].as_u64()), (Some(1), Some(0), Some(0)), "{line}");
    assert_eq!(line["SalesforceApiCalls"].as_u64(), Some(sync_calls), "{line}");
    let hook_lines = emf(&webhook);
    assert_eq!(hook_lines.len(), 2, "one line per request: {hook_lines:#?}");
    for line in &hook_lines {
        assert_eq!(line["Function"], "webhook-receiver");
        assert_eq!((line["WebhookRequestsAccepted"].as_u64(), line["WebhookRequestsRefused"].as_u64()), (Some(1), Some(0)), "{line}");
        assert_eq!(line["InboundEventsPublished"].as_u64(), Some(1), "{line}");
    }
}

/// Each HTTP function's own 405 (with `Allow`) and 413, through its binary as Lambda runs it: the
/// JSON error shape, as from every other refusal. (API Gateway answers most wrong methods and
/// paths itself, since the template routes only the methods each path takes; what reaches a
/// function still gets this shape.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_and_oversized_bodies_get_the_json_error_shape_from_every_http_function() {
    let admin_token = format!("{MARKER}-admin-token-0123456789");
    let (env, _) = environment(&admin_token).await;
    let (admin, oauth, webhook) =
        tokio::join!(Function::start("admin-api", &env), Function::start("oauth-callback", &env), Function::start("webhook-receiver", &env));
    let bearer = format!("Bearer {admin_token}");
    let json_headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let expect = |reply: &function::HttpReply, status: u16, code: &str, allow: Option<&str>| {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(reply.headers["content-type"].starts_with("application/json"), "{:?}", reply.headers);
        let body = reply.json();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(reply.headers.get("allow").map(String::as_str), allow, "{:?}", reply.headers);
        body
    };

    let reply = admin.http("DELETE", &format!("/v1/tenants/{TENANT}/health"), &json_headers, &[], None).await;
    expect(&reply, 405, "method_not_allowed", Some("GET,HEAD"));
    let big = json!({"sequence_id": "s".repeat(20 * 1024)}).to_string();
    let reply = admin.http("PUT", &format!("/v1/tenants/{TENANT}/settings"), &json_headers, &[], Some(&big)).await;
    expect(&reply, 413, "body_too_large", None);

    // The OAuth endpoints read no body: every method that could carry one is a 405.
    let reply = oauth.http("POST", "/oauth/callback", &[("content-type", "application/json")], &[], Some(&big)).await;
    expect(&reply, 405, "method_not_allowed", Some("GET,HEAD"));

    let hook = format!("/webhooks/salesforce/{TENANT}");
    let reply = webhook.http("GET", &hook, &[], &[], None).await;
    assert_eq!(expect(&reply, 405, "method_not_allowed", Some("POST"))["processed"], false);
    let over = " ".repeat(sfbridge_inbound::MAX_BODY_BYTES + 1);
    let reply = webhook.http("POST", &hook, &[("content-type", "application/json")], &[], Some(&over)).await;
    assert_eq!(expect(&reply, 413, "body_too_large", None)["processed"], false);

    for f in [&admin, &oauth, &webhook] {
        assert_eq!(f.init_error().await, None, "{} failed to start", f.name);
    }
}
