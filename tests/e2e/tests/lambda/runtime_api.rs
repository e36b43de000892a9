//! A Lambda Runtime API on loopback, as the Lambda service offers it to a custom runtime
//! (`provided.al2023`): the function's `bootstrap` long-polls `GET .../invocation/next` and posts
//! each result to `.../invocation/{id}/response` (or `/error`). One per function process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Mutex};

/// What the function answered to one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    /// `/invocation/{id}/error`: the handler failed (or panicked).
    Error(Value),
}

struct Invocation {
    request_id: String,
    event: Value,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    next: Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
}

pub struct RuntimeApi {
    pub address: String,
    invocations: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (invocations, next) = mpsc::channel(16);
        let shared = Arc::new(Shared { next: Mutex::new(next), pending: Mutex::default(), init_error: Mutex::default() });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { address, invocations, shared }
    }

    /// Hands `event` to the function as invocation `request_id` and waits for its answer.
    pub async fn invoke(&self, request_id: &str, event: Value) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let invocation = Invocation { request_id: request_id.to_owned(), event, reply };
        self.invocations.send(invocation).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(60), answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => panic!("invocation {request_id}: the runtime API dropped it"),
            Err(_) => panic!("invocation {request_id}: no answer within 60 s (init error: {:?})", self.shared.init_error.lock().await),
        }
    }

    pub async fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().await.clone()
    }
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    let Some(invocation) = shared.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    shared.pending.lock().await.insert(invocation.request_id.clone(), invocation.reply);
    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("lambda-runtime-aws-request-id", invocation.request_id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:sfbridge-test".into());
    set("lambda-runtime-trace-id", "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1".into());
    (headers, Json(invocation.event)).into_response()
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: axum::body::Bytes) -> StatusCode {
    deliver(&shared, &id, Outcome::Response(parse(&body))).await
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: axum::body::Bytes) -> StatusCode {
    deliver(&shared, &id, Outcome::Error(parse(&body))).await
}

async fn init_error(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> StatusCode {
    *shared.init_error.lock().await = Some(parse(&body));
    StatusCode::ACCEPTED
}

async fn deliver(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.pending.lock().await.remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn parse(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
