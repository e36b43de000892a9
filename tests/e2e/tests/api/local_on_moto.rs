//! The local stack on moto with the resources template.yaml declares, as
//! infra/scripts/local-on-moto.sh runs it: infra/scripts/moto_stack.py creates the table, the key
//! and the four queues from the template and prints their variables; the local stack runs with
//! `--aws` semantics on them, so sync commands travel on SQS and the SQS poller plays the event
//! source mapping. Needs moto (`AWS_ENDPOINT_URL`) and `.venv`: run with infra/scripts/test.sh.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use sfbridge_local::{AwsSetup, Backend, LocalOptions, LocalStack};

use crate::helpers::{location, moto_config, new_browser};
use crate::sync::{activity, CAMPAIGN, TENANT};

const ADMIN_TOKEN: &str = "moto-local-admin-token-0123";
/// How long a synced delivery may take to show up (a long poll is 1 s).
const SYNC_DEADLINE: Duration = Duration::from_secs(20);

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `--name` no other test (or earlier run against the same moto) uses.
fn unique_name() -> String {
    format!("e2e-{}", &sfbridge_core::domain::FlowId::random().to_string()[..10])
}

/// Runs infra/scripts/moto_stack.py with `.venv`'s python against `AWS_ENDPOINT_URL`.
async fn moto_stack(args: &[&str]) -> Output {
    moto_config().await; // fails with the reason when AWS_ENDPOINT_URL is not set
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run the tests with `bash infra/scripts/test.sh`, which creates it", python.display());
    tokio::process::Command::new(python).arg(root.join("infra/scripts/moto_stack.py")).args(args).output().await.unwrap()
}

/// Creates (or reuses) the template's resources under `name`; returns the variables it printed.
async fn create_resources(name: &str, extra: &[&str]) -> HashMap<String, String> {
    let out = moto_stack(&[&["--name", name, "--format", "json"], extra].concat()).await;
    assert!(out.status.success(), "moto_stack.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `sfbridge-local --aws --simulate-salesforce` with these variables (not the process's
/// environment, which the tests share).
async fn start_on(variables: &HashMap<String, String>) -> LocalStack {
    let setup = AwsSetup::from_lookup(|name| variables.get(name).cloned()).unwrap();
    assert!(setup.queue_urls.is_some(), "moto_stack.py printed no queue URLs: {variables:?}");
    let stack = sfbridge_local::start(LocalOptions {
        port: 0,
        simulate_salesforce: true,
        admin_token: Some(ADMIN_TOKEN.into()),
        app_origin: None,
        backend: Backend::Aws(setup),
    })
    .await
    .unwrap();
    stack.sim.as_ref().unwrap().set_auto_approve(true);
    stack
}

fn admin(stack: &LocalStack, method: Method, path: &str) -> RequestBuilder {
    Client::new().request(method, format!("{}{path}", stack.base_url)).bearer_auth(ADMIN_TOKEN)
}

/// Saves the simulated org's demo app as the tenant's credentials and connects through the popup.
async fn connect_demo_tenant(stack: &LocalStack) {
    let demo = stack.demo_app.clone().unwrap();
    let creds = json!({"consumer_key": demo.consumer_key, "consumer_secret": demo.consumer_secret, "login_url": demo.login_url});
    let saved = admin(stack, Method::PUT, &format!("/v1/tenants/{TENANT}/credentials")).json(&creds).send().await.unwrap();
    assert_eq!(saved.status(), StatusCode::NO_CONTENT);
    let connect: Value = admin(stack, Method::POST, &format!("/v1/tenants/{TENANT}/connect")).send().await.unwrap().json().await.unwrap();
    let browser = new_browser();
    let mut url = connect["connect_url"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let response = browser.get(&url).send().await.unwrap();
        if response.status() != StatusCode::FOUND {
            break;
        }
        url = location(&response);
    }
    let view: Value = admin(stack, Method::GET, &format!("/v1/tenants/{TENANT}/connection")).send().await.unwrap().json().await.unwrap();
    assert_eq!(view["status"], "connected", "{view}");
}

/// Polls the delivery log until `event_id` has an outcome.
async fn wait_for_delivery(stack: &LocalStack, event_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + SYNC_DEADLINE;
    loop {
        let log: Value = admin(stack, Method::GET, &format!("/v1/tenants/{TENANT}/deliveries")).send().await.unwrap().json().await.unwrap();
        if let Some(d) = log["deliveries"].as_array().into_iter().flatten().find(|d| d["event_id"] == event_id) {
            return d.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no delivery for {event_id} within {SYNC_DEADLINE:?}: {log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `GET /local/inbound-events`.
async fn inbound_events(stack: &LocalStack) -> Value {
    let response = admin(stack, Method::GET, "/local/inbound-events").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Every attribute of a queue, as moto reports it.
async fn queue_attributes(sqs: &aws_sdk_sqs::Client, url: &str) -> HashMap<String, String> {
    let out = sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await.unwrap();
    out.attributes.unwrap_or_default().into_iter().map(|(k, v)| (k.as_str().to_owned(), v)).collect()
}

/// Waits until a queue holds no message, visible or in flight (the poller deletes a batch just
/// after the function has written its outcomes).
async fn wait_until_empty(sqs: &aws_sdk_sqs::Client, url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let attributes = queue_attributes(sqs, url).await;
        let counts = (attributes["ApproximateNumberOfMessages"].clone(), attributes["ApproximateNumberOfMessagesNotVisible"].clone());
        if counts == ("0".to_owned(), "0".to_owned()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{url} still holds messages (visible, in flight): {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The queue's redrive policy: (dead-letter queue ARN, maxReceiveCount).
fn redrive(attributes: &HashMap<String, String>) -> (String, u64) {
    let policy: Value = serde_json::from_str(attributes.get("RedrivePolicy").expect("a RedrivePolicy")).unwrap();
    (policy["deadLetterTargetArn"].as_str().unwrap().to_owned(), policy["maxReceiveCount"].as_u64().unwrap())
}

#[tokio::test]
async fn the_local_stack_on_moto_syncs_through_the_templates_queues() {
    let variables = create_resources(&unique_name(), &[]).await;
    for name in ["SFBRIDGE_TABLE", "SFBRIDGE_KMS_KEY_ID", "SFBRIDGE_ACTIVITY_QUEUE_URL", "SFBRIDGE_ACTIVITY_DLQ_URL", "SFBRIDGE_INBOUND_QUEUE_URL", "SFBRIDGE_IMPORT_QUEUE_URL"] {
        assert!(variables.contains_key(name), "moto_stack.py did not print {name}: {variables:?}");
    }
    let stack = start_on(&variables).await;
    assert!(stack.activity_queue.is_none() && stack.inbound_queue.is_none(), "the queues must be SQS, not in-process");

    connect_demo_tenant(&stack).await;
    let enabled = admin(&stack, Method::PUT, &format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}")).json(&json!({"enabled": true})).send().await.unwrap();
    assert_eq!(enabled.status(), StatusCode::OK);
    let enqueued = admin(&stack, Method::POST, "/local/activity").json(&activity("evt_moto_1", "email_opened", "ada@example.com")).send().await.unwrap();
    assert_eq!(enqueued.status(), StatusCode::ACCEPTED);

    let delivery = wait_for_delivery(&stack, "evt_moto_1").await;
    assert_eq!(delivery["outcome"], "synced", "{delivery}");
    let tasks = stack.sim.as_ref().unwrap().records("Task");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["Id"], delivery["task_id"]);

    // The template's queues, with the template's settings; the handled message was deleted.
    let sqs = aws_sdk_sqs::Client::new(&moto_config().await);
    let activity_queue = queue_attributes(&sqs, &variables["SFBRIDGE_ACTIVITY_QUEUE_URL"]).await;
    let dead_letter = queue_attributes(&sqs, &variables["SFBRIDGE_ACTIVITY_DLQ_URL"]).await;
    assert_eq!(activity_queue["VisibilityTimeout"], "360");
    assert_eq!(activity_queue["MessageRetentionPeriod"], "345600");
    assert_eq!(activity_queue["MaximumMessageSize"], "262144");
    let max_receive_count = u64::from(sfbridge_local::worker::MAX_RECEIVE_COUNT);
    assert_eq!(redrive(&activity_queue), (dead_letter["QueueArn"].clone(), max_receive_count));
    assert_eq!(dead_letter["MessageRetentionPeriod"], "1209600");
    wait_until_empty(&sqs, &variables["SFBRIDGE_ACTIVITY_QUEUE_URL"]).await;
    let inbound_queue = queue_attributes(&sqs, &variables["SFBRIDGE_INBOUND_QUEUE_URL"]).await;
    assert_eq!(inbound_queue["VisibilityTimeout"], "60");
    let (inbound_dlq, max_receives) = redrive(&inbound_queue);
    assert!(inbound_dlq.ends_with("-InboundDeadLetterQueue"), "{inbound_dlq}");
    assert_eq!(max_receives, 5);

    // Inbound events reach the SQS inbound queue, and looking at them does not consume them.
    let secret: Value = admin(&stack, Method::POST, &format!("/v1/tenants/{TENANT}/webhook-secrets")).send().await.unwrap().json().await.unwrap();
    let callout = json!({"id": "c-1", "event_type": "campaign_updated", "campaign_id": "701xx000000001AAAQ", "status": "Completed",
        "experiment_key": "checkout-button-color"});
    let hook = Client::new()
        .post(format!("{}/webhooks/salesforce/{TENANT}", stack.base_url))
        .header("x-salesforce-webhook-secret", secret["secret"].as_str().unwrap())
        .json(&callout)
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), StatusCode::OK, "{}", hook.text().await.unwrap());
    for look in 0..2 {
        let view = inbound_events(&stack).await;
        let events = view["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "look {look}: {view}");
        assert_eq!(events[0]["event_type"], "campaign_updated");
        assert_eq!(events[0]["notification_id"], "c-1");
    }
}

#[tokio::test]
async fn moto_stack_reuses_what_exists_and_refuses_what_it_cannot_map() {
    let name = unique_name();
    let first = create_resources(&name, &[]).await;
    assert_eq!(create_resources(&name, &[]).await, first, "a second run must reuse the same resources");

    let refused = moto_stack(&["--name", &unique_name(), "--resource", "HttpApi"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("HttpApi (AWS::Serverless::HttpApi)") && stderr.contains("cannot create"), "{stderr}");
    assert!(refused.stdout.is_empty(), "nothing may be printed for a refused stack");
}

#[tokio::test]
async fn a_change_of_the_template_changes_the_local_stack() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let changed = template.replacen("VisibilityTimeout: 360", "VisibilityTimeout: 720", 1);
    assert_ne!(changed, template, "template.yaml no longer has `VisibilityTimeout: 360`; update this test");
    let name = unique_name();
    let path = std::env::temp_dir().join(format!("sfbridge-template-{name}.yaml"));
    std::fs::write(&path, changed).unwrap();

    let variables = create_resources(&name, &["--template", path.to_str().unwrap()]).await;
    std::fs::remove_file(&path).unwrap();
    let sqs = aws_sdk_sqs::Client::new(&moto_config().await);
    let activity_queue = queue_attributes(&sqs, &variables["SFBRIDGE_ACTIVITY_QUEUE_URL"]).await;
    assert_eq!(activity_queue["VisibilityTimeout"], "720");
}
