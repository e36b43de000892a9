//! One function's `bootstrap` binary in its own process, as Lambda runs it: its environment, a
//! Runtime API of its own, and its stdout/stderr collected line by line (what CloudWatch Logs
//! would store).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::runtime_api::{Outcome, RuntimeApi};

/// The four function binaries, built once per test run with the workspace's features (the same
/// build infra/scripts/test.sh makes for the benchmarks, so it costs nothing twice there).
fn binaries() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--locked", "--quiet", "--workspace", "--bins"])
            .current_dir(&workspace)
            .status()
            .expect("running cargo build for the function binaries");
        assert!(status.success(), "cargo build --workspace --bins failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"));
        target.join("debug")
    })
}

pub struct HttpReply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub cookies: Vec<String>,
    pub body: String,
}

impl HttpReply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub struct Function {
    pub name: &'static str,
    api: RuntimeApi,
    _child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    invocations: Mutex<usize>,
}

impl Function {
    /// Starts `target/debug/<name>` with `env` (plus what Lambda itself sets).
    pub async fn start(name: &'static str, env: &HashMap<String, String>) -> Self {
        let api = RuntimeApi::start().await;
        let mut child = Command::new(binaries().join(name))
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("sfbridge-{name}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/sfbridge-{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[$LATEST]0123456789abcdef")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Self { name, api, _child: child, stdout, stderr, invocations: Mutex::new(0) }
    }

    fn next_request_id(&self) -> String {
        let mut n = self.invocations.lock().unwrap();
        *n += 1;
        format!("req-{}-{n}", self.name)
    }

    /// Invokes the function with `event`; returns the request id it ran under and its answer.
    pub async fn invoke(&self, event: Value) -> (String, Value) {
        let request_id = self.next_request_id();
        match self.api.invoke(&request_id, event).await {
            Outcome::Response(value) => (request_id, value),
            Outcome::Error(error) => panic!("{} failed invocation {request_id}: {error}\nstderr: {:?}", self.name, self.stderr()),
        }
    }

    /// An HTTP request through API Gateway (HTTP API, payload format 2.0).
    pub async fn http(&self, method: &str, path_and_query: &str, headers: &[(&str, &str)], cookies: &[String], body: Option<&str>) -> HttpReply {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let headers: HashMap<String, String> = headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())).collect();
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "cookies": cookies,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api123",
                "domainName": "api123.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "api123",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "e2e"},
                "requestId": format!("apigw-{}", self.name),
                "routeKey": "$default",
                "stage": "$default",
                "time": "23/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1_795_428_000_000_i64
            },
            "body": body,
            "isBase64Encoded": false
        });
        let (_, reply) = self.invoke(event).await;
        let text = reply["body"].as_str().unwrap_or_default();
        let body = if reply["isBase64Encoded"] == true {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(text).unwrap()).unwrap()
        } else {
            text.to_owned()
        };
        let headers = reply["headers"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        let cookies = reply["cookies"].as_array().map(|c| c.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default();
        HttpReply { status: reply["statusCode"].as_u64().unwrap() as u16, headers, cookies, body }
    }

    /// An SQS batch (event source mapping) of `bodies`.
    pub async fn sqs(&self, bodies: &[String]) -> (String, Value) {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                json!({"messageId": format!("msg-{i}"), "receiptHandle": format!("rh-{i}"), "body": body,
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795428000000"},
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:activity", "awsRegion": "us-east-1"})
            })
            .collect();
        self.invoke(json!({"Records": records})).await
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub async fn init_error(&self) -> Option<Value> {
        self.api.init_error().await
    }
}

fn collect(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}
