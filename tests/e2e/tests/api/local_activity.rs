//! `POST /local/activity`, the local stack's stand-in for the product's `SendMessage`: what the
//! activity queue cannot take, and what the worker could never run, is answered per command, in
//! the JSON error shape, so the caller sends only the commands that were not queued, and a
//! refusal for good is never shown as one to retry.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json_error, spawn_app, Backend, TestApp};
use crate::sync::activity;

impl TestApp {
    async fn enqueue(&self, body: &Value) -> (StatusCode, Option<String>, Value) {
        let response = self.admin(Method::POST, "/local/activity", Some(body.clone())).await;
        let status = response.status();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        (status, retry_after, response.json().await.unwrap())
    }

    async fn queued_event_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .queues
            .take(false)
            .await
            .iter()
            .map(|m| serde_json::from_str::<Value>(&m.body).unwrap()["event_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }
}

/// Over SQS's 256 KiB once serialized.
fn oversize(event_id: &str) -> Value {
    let mut big = activity(event_id, "email_sent", "ada@example.com");
    big["email"]["snippet"] = json!("x".repeat(300 * 1024));
    big
}

async fn an_oversize_command_is_named_with_the_limit_and_the_rest_are_queued(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, retry_after, body) =
        app.enqueue(&json!([activity("e_ok1", "email_sent", "ada@example.com"), oversize("e_big"), activity("e_ok2", "email_opened", "ada@example.com")])).await;
    assert_eq!((status, body["error"]["code"].as_str(), retry_after), (StatusCode::PAYLOAD_TOO_LARGE, Some("command_too_large"), None), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for fragment in ["command 1 (event_id e_big)", "at most 262144 bytes", "2 of 3 were queued", "send only the others"] {
        assert!(message.contains(fragment), "{fragment}: {message}");
    }
    assert_eq!((body["enqueued"].as_u64(), &body["queued"]), (Some(2), &json!([0, 2])));
    let not_queued = body["not_queued"].as_array().unwrap();
    assert_eq!(not_queued.len(), 1);
    assert_eq!(
        (&not_queued[0]["index"], &not_queued[0]["event_id"], &not_queued[0]["code"], &not_queued[0]["retryable"]),
        (&json!(1), &json!("e_big"), &json!("command_too_large"), &json!(false))
    );
    assert_eq!(app.queued_event_ids().await, ["e_ok1", "e_ok2"]);

    // Alone: nothing queued, and said so.
    let (status, _, body) = app.enqueue(&oversize("e_big")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"]["message"].as_str().unwrap().ends_with("None was queued."), "{body}");
    assert_eq!((body["enqueued"].as_u64(), &body["queued"]), (Some(0), &json!([])));
    assert!(app.queued_event_ids().await.is_empty());
}

#[tokio::test]
async fn an_oversize_command_is_named_with_the_limit_and_the_rest_are_queued_embedded() {
    an_oversize_command_is_named_with_the_limit_and_the_rest_are_queued(Backend::Memory).await;
}

#[tokio::test]
async fn an_oversize_command_is_named_with_the_limit_and_the_rest_are_queued_on_moto() {
    an_oversize_command_is_named_with_the_limit_and_the_rest_are_queued(Backend::Moto).await;
}

/// A character SQS refuses is a refusal for good too (422); a queue that fails for now is 503
/// with `Retry-After`, and names only the commands to send again.
async fn refusals_for_good_and_for_now_are_told_apart(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut unsendable = activity("e_bad_char", "email_sent", "ada@example.com");
    unsendable["email"]["subject"] = json!("not for SQS \u{FFFF}");
    let (status, _, body) = app.enqueue(&json!([activity("e_ok", "email_sent", "ada@example.com"), unsendable])).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("command_refused")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("command 1 (event_id e_bad_char)"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("U+FFFF"), "{body}");
    assert_eq!((&body["queued"], &body["not_queued"][0]["retryable"]), (&json!([0]), &json!(false)));
    assert_eq!(app.queued_event_ids().await, ["e_ok"]);

    app.activity_faults.fail_every(2);
    let four: Vec<Value> = (0..4).map(|i| activity(&format!("e_{i}"), "email_sent", "ada@example.com")).collect();
    let (status, retry_after, body) = app.enqueue(&json!(four)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("queue_unavailable")), "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!((body["enqueued"].as_u64(), &body["queued"]), (Some(2), &json!([0, 2])));
    let again: Vec<u64> = body["not_queued"].as_array().unwrap().iter().map(|n| n["index"].as_u64().unwrap()).collect();
    assert_eq!(again, [1, 3]);
    assert!(body["not_queued"].as_array().unwrap().iter().all(|n| n["retryable"] == true && n["code"] == "queue_unavailable"));
    assert!(body["error"]["message"].as_str().unwrap().contains("2 of 4 were queued"), "{body}");

    app.activity_faults.fail_every(0);
    let resend: Vec<Value> = again.iter().map(|i| four[*i as usize].clone()).collect();
    let (status, _, body) = app.enqueue(&json!(resend)).await;
    assert_eq!((status, body), (StatusCode::ACCEPTED, json!({"enqueued": 2})));
    assert_eq!(app.queued_event_ids().await, ["e_0", "e_1", "e_2", "e_3"], "each once");
}

#[tokio::test]
async fn refusals_for_good_and_for_now_are_told_apart_embedded() {
    refusals_for_good_and_for_now_are_told_apart(Backend::Memory).await;
}

#[tokio::test]
async fn refusals_for_good_and_for_now_are_told_apart_on_moto() {
    refusals_for_good_and_for_now_are_told_apart(Backend::Moto).await;
}

#[tokio::test]
async fn a_body_over_a_mebibyte_gets_the_json_error_shape() {
    let app = spawn_app(Backend::Memory).await;
    let many: Vec<Value> = (0..5).map(|i| oversize(&format!("e_{i}"))).collect();
    let body = serde_json::to_vec(&many).unwrap();
    assert!(body.len() > 1024 * 1024);
    let response = app
        .api
        .post(app.url("/local/activity"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "body_too_large", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("1048576 bytes (1 MiB)") && message.contains("262144"), "{message}");
    assert!(app.queued_event_ids().await.is_empty());

    // The token is checked first: a stranger learns nothing about sizes.
    let anonymous = app.api.post(app.url("/local/activity")).header("content-type", "application/json").body(body).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Each command is parsed as the worker parses it before it is queued: one the worker could never
/// run is refused at once with the worker's code and reason (in AWS it would become a dead letter
/// with the same ones), and the others are queued.
#[tokio::test]
async fn commands_the_worker_could_never_run_are_refused_at_the_door_with_its_reason() {
    let app = spawn_app(Backend::Memory).await;
    let mut no_activity = activity("e_bad", "email_sent", "ada@example.com");
    no_activity.as_object_mut().unwrap().remove("activity");
    let mut future = activity("e_future", "email_sent", "ada@example.com");
    future["version"] = json!(2);
    let mut typo = activity("e_typo", "email_sent", "ada@example.com");
    typo["type"] = json!("activty");
    let batch = json!([activity("e_ok1", "email_sent", "ada@example.com"), no_activity, future, typo, activity("e_ok2", "email_opened", "ada@example.com")]);
    let (status, _, body) = app.enqueue(&batch).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_command")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for fragment in ["command 1 (event_id e_bad)", "missing field `activity`", "3 commands in all", "2 of 5 were queued"] {
        assert!(message.contains(fragment), "{fragment}: {message}");
    }
    let refused: Vec<(u64, &str, &str, bool)> = body["not_queued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["index"].as_u64().unwrap(), n["event_id"].as_str().unwrap(), n["code"].as_str().unwrap(), n["retryable"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        refused,
        [(1, "e_bad", "malformed_command", false), (2, "e_future", "unsupported_command", false), (3, "e_typo", "malformed_command", false)]
    );
    assert!(body["not_queued"][2]["message"].as_str().unwrap().contains("\"type\": \"activty\" is unknown"), "{body}");
    assert_eq!((body["enqueued"].as_u64(), &body["queued"]), (Some(2), &json!([0, 4])));
    assert_eq!(app.queued_event_ids().await, ["e_ok1", "e_ok2"]);

    // Not commands at all.
    let not_json = app.api.post(app.url("/local/activity")).bearer_auth(&app.admin_token).header("content-type", "application/json").body("{").send().await.unwrap();
    expect_json_error(not_json, StatusCode::BAD_REQUEST, "invalid_json").await;
    let (status, _, body) = app.enqueue(&json!(42)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    assert!(app.queued_event_ids().await.is_empty());
}
