//! The whole of sfbridge as one local process: the admin API, the OAuth callback and the webhook
//! receiver behind one HTTP server on 127.0.0.1; activity sync fed by an in-process queue
//! ([`worker`]); inbound events kept on an in-process queue for `GET /local/inbound-events`;
//! embedded storage and cipher by default (or the AWS adapters); and optionally a simulated
//! Salesforce org. The end-to-end tests start it the same way.
//!
//! With [`Backend::Aws`] and queue URLs the three queues are SQS queues instead (moto, with
//! infra/scripts/local-on-moto.sh): an SQS poller plays the event source mapping
//! (`sqs_worker`) and `GET /local/inbound-events` looks at the inbound queue (`sqs_peek`). The AWS
//! backend is compiled only with the `aws` feature.

pub mod banner;
pub mod import_worker;
#[cfg(feature = "aws")]
pub mod sqs_peek;
#[cfg(feature = "aws")]
pub mod sqs_worker;
pub mod worker;
mod wiring;

pub use wiring::{MemoryQueues, Queues, Wiring};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use salesforce_sim::{SalesforceSim, SimApp, SimConfig};
use sfbridge_core::cipher::{Cipher, LocalCipher};
use sfbridge_core::clock::SystemClock;
use sfbridge_core::config::{AwsResources, Config, QueueUrls};
use sfbridge_http::{body_rejection, body_too_large, check_admin_token, json_errors, not_found, ApiError};
use sfbridge_core::domain::EventId;
use sfbridge_core::queue::{MemoryQueue, OutgoingMessage, QueueError, MAX_MESSAGE_BYTES};
use sfbridge_core::store::{MemoryTable, Store};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Where the local stack keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// In memory; with a file, written through to it (and its AES key kept beside it).
    Embedded { data_file: Option<PathBuf> },
    /// DynamoDB + KMS, and SQS when the setup has queue URLs, at the AWS endpoint of the
    /// environment (the usual AWS variables, including `AWS_ENDPOINT_URL` for an emulator).
    /// Needs the `aws` feature: without it [`start`] refuses it with [`AWS_NOT_BUILT`].
    Aws(AwsSetup),
}

/// Why `--aws` does not run in a build without the `aws` feature, and what to run instead.
pub const AWS_NOT_BUILT: &str = "--aws needs the local stack built with its `aws` feature (left out by default, so that the \
     first build compiles no AWS SDK): run `bash infra/scripts/local-on-moto.sh` (DynamoDB, KMS and SQS on moto, set up for \
     you), or `cargo run -p sfbridge-local --features aws -- --aws` against the AWS endpoint of your environment";

/// The AWS resources of [`Backend::Aws`].
#[derive(Debug, Clone)]
pub struct AwsSetup {
    pub resources: AwsResources,
    /// The activity queue, its dead-letter queue, the inbound queue and the import queue on SQS;
    /// `None` keeps the four queues in-process.
    pub queue_urls: Option<QueueUrls>,
}

/// The variables that put the queues on SQS: all three, or none.
pub const QUEUE_URL_VARIABLES: [&str; 4] =
    ["SFBRIDGE_ACTIVITY_QUEUE_URL", "SFBRIDGE_ACTIVITY_DLQ_URL", "SFBRIDGE_INBOUND_QUEUE_URL", "SFBRIDGE_IMPORT_QUEUE_URL"];

impl AwsSetup {
    /// `SFBRIDGE_TABLE` and `SFBRIDGE_KMS_KEY_ID`, and the queue URLs ([`QUEUE_URL_VARIABLES`])
    /// when any is set (then all four must be).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let resources = AwsResources::from_lookup(&lookup)?;
        let any_queue = QUEUE_URL_VARIABLES.iter().any(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()));
        let queue_urls = if any_queue {
            Some(QueueUrls::from_lookup(&lookup).context("set all four queue URLs to use SQS, or none to keep the queues in-process")?)
        } else {
            None
        };
        Ok(Self { resources, queue_urls })
    }
}

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub port: u16,
    pub simulate_salesforce: bool,
    pub admin_token: Option<String>,
    /// The origins (comma-separated) of pages that open the popup; defaults to the stack's own origin.
    pub app_origin: Option<String>,
    pub backend: Backend,
}

/// The External Client App registered in the simulated org, for trying the flow by hand.
#[derive(Debug, Clone)]
pub struct DemoApp {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub login_url: String,
}

#[derive(Debug)]
pub struct LocalStack {
    pub base_url: String,
    pub admin_token: String,
    pub ctx: Arc<Wiring>,
    pub sim: Option<Arc<SalesforceSim>>,
    pub demo_app: Option<DemoApp>,
    /// The in-process activity queue and its dead-letter queue (`None` when the queues are on
    /// SQS: see `queue_urls`).
    pub activity_queue: Option<MemoryQueue>,
    pub dead_letter_queue: Option<MemoryQueue>,
    /// The in-process inbound queue: what the webhook receiver (and the import) published for the product.
    pub inbound_queue: Option<MemoryQueue>,
    /// The in-process import queue: runs and their continuations.
    pub import_queue: Option<MemoryQueue>,
    /// The SQS queues, with [`Backend::Aws`] and queue URLs.
    pub queue_urls: Option<QueueUrls>,
    server: JoinHandle<()>,
}

impl LocalStack {
    /// Waits until the server stops (it runs until the process ends).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.server.await.context("local server task failed")
    }
}

/// All functions' routes in one router, as API Gateway would route them.
pub fn router(ctx: Arc<Wiring>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/demo", get(demo_page))
        .route("/demo/demo.js", get(demo_script))
        .route("/demo/demo.css", get(demo_style))
        .route("/favicon.ico", get(favicon))
        .route("/local/activity", post(enqueue_activity).layer(DefaultBodyLimit::max(MAX_ENQUEUE_BYTES)))
        .route("/local/import-tick", post(import_tick))
        // Not the admin API's fallback, which would ask for the admin token.
        .route("/local/{*rest}", any(unknown_local_url))
        .layer(middleware::from_fn(json_errors))
        .with_state(ctx.clone())
        .merge(sfbridge_oauth_callback::router(ctx.connector.clone()))
        .merge(sfbridge_webhook_receiver::router(ctx.receiver.clone()))
        .merge(sfbridge_admin_api::router(ctx.connector.clone(), ctx.importer.clone()))
}

/// A batch of a thousand commands fits.
const MAX_ENQUEUE_BYTES: usize = 1024 * 1024;

/// `POST /local/activity`: puts sync commands (one JSON object, or an array of them) on the
/// activity queue (in-process, or SQS), as the product's backend puts them on SQS.
///
/// Each command is checked first with the worker's own strict parse ([`sfbridge_sync::check_command`]),
/// so a command the worker could never run is refused here, named with the worker's reason, instead
/// of becoming a dead letter later. SQS has no such door: in AWS the same command is taken off the
/// queue by the worker and held as the tenant's dead letter (or, naming no tenant, sent to the
/// dead-letter queue), with the same code and reason (README "Dead letters").
///
/// What is not queued is answered per command, as SQS answers the product's backend: 202 when all
/// were queued; otherwise the JSON error shape plus `enqueued`, `queued` (the indexes taken) and
/// `not_queued` (index, `event_id` when it has a valid one, `code`, `message`, `retryable`), so the
/// caller sends only those again. A command the worker would refuse is 400 `invalid_command`
/// (each `malformed_command` or `unsupported_command`); one over the queue's message limit (256
/// KiB) can never be queued: 413 `command_too_large` names it and the limit; another refusal for
/// good is 422 `command_refused`; when the queue only failed for now, 503 `queue_unavailable`.
async fn enqueue_activity(
    State(ctx): State<Arc<Wiring>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    if let Err(refused) = check_admin_token(&ctx.config, &headers) {
        return refused.into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return body_too_large(format!(
                "the body is larger than {MAX_ENQUEUE_BYTES} bytes (1 MiB), the most POST /local/activity takes; send the \
                 commands in several requests (each command at most {MAX_MESSAGE_BYTES} bytes)"
            ))
            .into_response()
        }
        Err(rejection) => return body_rejection(&rejection).into_response(),
    };
    let commands = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(one @ serde_json::Value::Object(_)) => vec![one],
        Ok(_) => {
            return ApiError::bad_request("invalid_request", "send one sync command (a JSON object) or a JSON array of them")
                .into_response()
        }
        Err(_) => return ApiError::bad_request("invalid_json", "the body is not valid JSON").into_response(),
    };
    let count = commands.len();
    let bodies: Vec<String> = commands.iter().map(serde_json::Value::to_string).collect();
    // Too large for any queue, or not a command the worker could run: not sent at all, named in
    // the answer.
    let mut outcomes: Vec<Option<NotQueued>> = bodies
        .iter()
        .map(|b| {
            if b.len() > MAX_MESSAGE_BYTES {
                return Some(NotQueued {
                    code: "command_too_large",
                    message: format!("{} bytes; a sync command may be at most {MAX_MESSAGE_BYTES} bytes (256 KiB, the queue's message limit)", b.len()),
                    retryable: false,
                });
            }
            sfbridge_sync::check_command(b).err().map(|e| NotQueued { code: e.code, message: e.message, retryable: false })
        })
        .collect();
    let sendable: Vec<usize> = (0..count).filter(|i| outcomes[*i].is_none()).collect();
    // The command's tenant as message group, as the README asks of producers (fair turns per
    // tenant); a command without a valid one goes without and is refused by the worker anyway.
    let messages = sendable
        .iter()
        .map(|i| {
            let message = OutgoingMessage::new(bodies[*i].clone());
            let tenant = commands[*i]["tenant_id"].as_str().and_then(|t| sfbridge_core::domain::TenantId::parse(t).ok());
            match tenant {
                Some(t) => message.with_group_id(t.as_str()),
                None => message,
            }
        })
        .collect();
    let results = sfbridge_core::queue::one_answer_each(sendable.len(), ctx.queues.activity.send(messages).await);
    for (i, result) in sendable.into_iter().zip(results) {
        outcomes[i] = match result {
            Ok(()) => None,
            Err(QueueError::Rejected(why)) => Some(NotQueued { code: "command_refused", message: format!("the queue refused it: {why}"), retryable: false }),
            Err(QueueError::Unavailable(why)) => {
                tracing::warn!(error = %why, "the activity queue did not take a command");
                Some(NotQueued { code: "queue_unavailable", message: "the activity queue did not take it; send it again".into(), retryable: true })
            }
        };
    }
    let queued: Vec<usize> = (0..count).filter(|i| outcomes[*i].is_none()).collect();
    let not_queued: Vec<(usize, NotQueued)> = outcomes.into_iter().enumerate().filter_map(|(i, o)| o.map(|o| (i, o))).collect();
    if not_queued.is_empty() {
        return (StatusCode::ACCEPTED, Json(serde_json::json!({"enqueued": count}))).into_response();
    }
    let name = |i: usize| match commands[i].get("event_id").and_then(serde_json::Value::as_str).filter(|e| EventId::parse(e).is_ok()) {
        Some(event_id) => format!("command {i} (event_id {event_id})"),
        None => format!("command {i}"),
    };
    let permanent: Vec<&(usize, NotQueued)> = not_queued.iter().filter(|(_, n)| !n.retryable).collect();
    // The sender's own mistake first: it is what sending again cannot fix.
    let invalid = permanent.iter().find(|(_, n)| n.is_invalid_command()).copied();
    let (status, code) = match permanent.first() {
        None => (StatusCode::SERVICE_UNAVAILABLE, "queue_unavailable"),
        Some(_) if invalid.is_some() => (StatusCode::BAD_REQUEST, "invalid_command"),
        Some(_) if permanent.iter().all(|(_, n)| n.code == "command_too_large") => (StatusCode::PAYLOAD_TOO_LARGE, "command_too_large"),
        Some(_) => (StatusCode::UNPROCESSABLE_ENTITY, "command_refused"),
    };
    let first = invalid.or(permanent.first().copied()).unwrap_or(&not_queued[0]);
    let mut message = format!("{} is not queued: {}.", name(first.0), first.1.message);
    if not_queued.len() > 1 {
        message.push_str(&format!(" {} commands in all are not queued (see not_queued).", not_queued.len()));
    }
    message.push_str(&match queued.len() {
        0 => " None was queued.".to_owned(),
        n => format!(" {n} of {count} were queued (see queued): send only the others again."),
    });
    let report = serde_json::json!({
        "enqueued": queued.len(),
        "queued": queued,
        "not_queued": not_queued.iter().map(|(i, n)| {
            let event_id = commands[*i].get("event_id").and_then(serde_json::Value::as_str).filter(|e| EventId::parse(e).is_ok());
            serde_json::json!({"index": i, "event_id": event_id, "code": n.code, "message": n.message, "retryable": n.retryable})
        }).collect::<Vec<_>>(),
    });
    let mut response = ApiError::new(status, code, message).with_report(report);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// Why one command of a `POST /local/activity` is not on the queue.
#[derive(Debug)]
struct NotQueued {
    code: &'static str,
    message: String,
    retryable: bool,
}

impl NotQueued {
    /// The worker's strict parse refused it (the codes of [`sfbridge_sync::CommandError`]).
    fn is_invalid_command(&self) -> bool {
        matches!(self.code, "malformed_command" | "unsupported_command")
    }
}

async fn unknown_local_url() -> ApiError {
    not_found("the local stack's own URLs are POST /local/activity, GET /local/inbound-events and GET /local/salesforce/{object}")
}

#[derive(Debug, Clone)]
struct InboundView {
    ctx: Arc<Wiring>,
    source: InboundSource,
}

#[derive(Debug, Clone)]
enum InboundSource {
    Memory(MemoryQueue),
    #[cfg(feature = "aws")]
    Sqs(sqs_peek::SqsPeek),
}

/// `GET /local/inbound-events`: what the webhook receiver has published on the inbound queue,
/// oldest first, as the product would receive it from SQS. Reading does not consume. On SQS it
/// also lists the inbound dead-letter queue (`dead_lettered`): looking is receiving there, so
/// after maxReceiveCount looks SQS moves an event to it (see `sqs_peek`).
async fn inbound_events(State(view): State<InboundView>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_admin_token(&view.ctx.config, &headers) {
        return refused.into_response();
    }
    let as_json = |body: String| serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    match &view.source {
        InboundSource::Memory(queue) => {
            let events: Vec<serde_json::Value> = queue.peek_all().into_iter().map(|m| as_json(m.body)).collect();
            Json(serde_json::json!({"events": events})).into_response()
        }
        #[cfg(feature = "aws")]
        InboundSource::Sqs(peek) => match peek.peek().await {
            Ok(found) => Json(serde_json::json!({
                "events": found.events.into_iter().map(as_json).collect::<Vec<_>>(),
                "dead_lettered": found.dead_lettered.into_iter().map(as_json).collect::<Vec<_>>(),
                "truncated": found.truncated,
            }))
            .into_response(),
            Err(error) => {
                tracing::warn!(%error, "could not look at the inbound queue");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_unavailable", "could not read the inbound queue; try again")
                    .into_response()
            }
        },
    }
}

/// `POST /local/import-tick`: the import schedule's tick, now: starts the due tenants' runs and
/// resumes parked ones; answers what it did.
async fn import_tick(State(ctx): State<Arc<Wiring>>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_admin_token(&ctx.config, &headers) {
        return refused.into_response();
    }
    match import_worker::tick(&ctx.importer).await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => {
            tracing::warn!(%error, "import tick failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the tick could not read the schedule; try again").into_response()
        }
    }
}

/// `GET /local/salesforce/{object}`: the simulated org's records (e.g. `Task`, `Contact`).
async fn simulated_records(State(sim): State<Arc<SalesforceSim>>, UrlPath(object): UrlPath<String>) -> Response {
    Json(sim.records(&object)).into_response()
}

async fn index() -> impl IntoResponse {
    "sfbridge local stack\n\n\
     admin API (Authorization: Bearer <admin token>):\n\
     \x20 PUT/DELETE /v1/tenants/{tenant}/credentials\n\
     \x20 POST       /v1/tenants/{tenant}/connect\n\
     \x20 GET/DELETE /v1/tenants/{tenant}/connection\n\
     \x20 GET        /v1/tenants/{tenant}/health\n\
     \x20 GET/PUT    /v1/tenants/{tenant}/settings, /v1/tenants/{tenant}/campaigns/{campaign}\n\
     \x20 GET        /v1/tenants/{tenant}/deliveries, /v1/tenants/{tenant}/audit\n\
     \x20 GET        /v1/tenants/{tenant}/dead-letters, POST /v1/tenants/{tenant}/dead-letters/replay\n\
     \x20 POST/GET   /v1/tenants/{tenant}/webhook-secrets, DELETE /v1/tenants/{tenant}/webhook-secrets/{id}\n\
     \x20 POST/GET   /v1/tenants/{tenant}/imports (Sync Now), GET/DELETE /v1/tenants/{tenant}/imports/{import_id}\n\
     \x20 GET        /v1/tenants/{tenant}/triggers/pending, POST/DELETE /v1/tenants/{tenant}/triggers/pending/{id}\n\
     \x20 GET        /v1/openapi.json (the admin API's OpenAPI 3.1 document; no token)\n\
     webhooks (Salesforce; webhook secret): POST /webhooks/salesforce/{tenant}\n\
     local only: POST /local/activity (enqueue sync commands), GET /local/inbound-events (published inbound events),\n\
     \x20 POST /local/import-tick (the import schedule's tick, now),\n\
     \x20 GET /local/salesforce/{object} (simulated org)\n\
     OAuth (public): /oauth/start, /oauth/callback, /oauth/flows/{flow_id}, /oauth/connect.js (the connect helper)\n\
     demo opener page: /demo\n"
}

/// The demo opener page: what a product's settings page does to connect a tenant, with the
/// connect helper (`/oauth/connect.js`). Static files with a strict CSP; it holds no token (paste
/// a connect URL into it).
async fn demo_page() -> impl IntoResponse {
    static_file("text/html; charset=utf-8", include_str!("demo/index.html"))
}

async fn demo_script() -> impl IntoResponse {
    static_file("text/javascript; charset=utf-8", include_str!("demo/demo.js"))
}

async fn demo_style() -> impl IntoResponse {
    static_file("text/css; charset=utf-8", include_str!("demo/demo.css"))
}

fn static_file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // No other site may frame the page and trick a click on Connect (clickjacking).
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; \
                 form-action 'none'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // The popup must keep its opener: COOP same-origin would sever it.
            (HeaderName::from_static("cross-origin-opener-policy"), "same-origin-allow-popups"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

/// Browsers ask every origin for `/favicon.ico`; without this route the admin API's token check
/// (the fallback of the merged router) answered it with a 401.
async fn favicon() -> impl IntoResponse {
    (StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, "public, max-age=86400")])
}

/// Serves `router(ctx)` on an already-bound listener.
pub fn serve(listener: TcpListener, ctx: Arc<Wiring>) -> JoinHandle<()> {
    serve_router(listener, router(ctx))
}

fn serve_router(listener: TcpListener, router: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "local server stopped");
        }
    })
}

/// The configuration of a local stack at `base_url`: loopback, insecure-dev on (the simulator
/// is plain http on loopback), cookies without `Secure`.
pub fn local_config(base_url: &str, admin_token: &str, app_origin: Option<&str>) -> anyhow::Result<Config> {
    let vars = [
        ("SFBRIDGE_PUBLIC_URL", base_url.to_owned()),
        ("SFBRIDGE_APP_ORIGINS", app_origin.unwrap_or(base_url).to_owned()),
        ("SFBRIDGE_ADMIN_TOKEN", admin_token.to_owned()),
        ("SFBRIDGE_INSECURE_DEV", "true".to_owned()),
    ];
    Ok(Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))?)
}

pub async fn start(options: LocalOptions) -> anyhow::Result<LocalStack> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
        .await
        .with_context(|| format!("could not listen on 127.0.0.1:{} (is it in use? try --port 0)", options.port))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let admin_token = options.admin_token.clone().unwrap_or_else(|| sfbridge_core::domain::FlowId::random().to_string());
    let config = local_config(&base_url, &admin_token, options.app_origin.as_deref())?;
    let redirect_uri = config.redirect_uri();

    // Sync commands and inbound events travel on in-process queues, unless the AWS setup names
    // SQS queues.
    let (ctx, wiring) = match &options.backend {
        Backend::Embedded { data_file } => {
            let (store, cipher) = embedded(data_file.as_deref())?;
            let (queues, memory) = Queues::in_memory();
            (Wiring::new(config, store, cipher, queues, Arc::new(SystemClock))?, QueueWiring::Memory(memory))
        }
        Backend::Aws(setup) => aws_wiring(config, setup).await?,
    };
    let ctx = Arc::new(ctx);
    let (memory, queue_urls, inbound_source) = match wiring {
        QueueWiring::Memory(memory) => {
            worker::spawn_worker(ctx.worker.clone(), memory.activity.clone(), memory.dead_letter.clone());
            import_worker::spawn_import_worker(ctx.importer.clone(), import_worker::ImportSource::Memory(memory.import.clone()));
            let inbound = InboundSource::Memory(memory.inbound.clone());
            (Some(memory), None, inbound)
        }
        #[cfg(feature = "aws")]
        QueueWiring::Sqs { activity, inbound, urls, sqs } => {
            sqs_worker::spawn_sqs_worker(ctx.worker.clone(), activity);
            let source = import_worker::ImportSource::Sqs { client: sqs, queue_url: urls.import.clone() };
            import_worker::spawn_import_worker(ctx.importer.clone(), source);
            (None, Some(urls), InboundSource::Sqs(inbound))
        }
    };
    let (activity_queue, dead_letter_queue, inbound_queue, import_queue) = match memory {
        Some(MemoryQueues { activity, dead_letter, inbound, import }) => (Some(activity), Some(dead_letter), Some(inbound), Some(import)),
        None => (None, None, None, None),
    };

    let (sim, demo_app) = if options.simulate_salesforce {
        let sim = SalesforceSim::start(SimConfig::default()).await.context("starting the Salesforce simulator")?;
        let demo = DemoApp {
            consumer_key: "3MVG9sfbridge.local.demo.consumer.key".to_owned(),
            consumer_secret: sfbridge_core::domain::FlowId::random().to_string(),
            login_url: sim.base_url(),
        };
        sim.add_app(SimApp::new(&demo.consumer_key, &demo.consumer_secret, &redirect_uri));
        for (email, first, last) in DEMO_CONTACTS {
            sim.insert_contact(email, first, last);
        }
        demo_push_setup(&sim);
        (Some(Arc::new(sim)), Some(demo))
    } else {
        (None, None)
    };

    let mut app = router(ctx.clone()).merge(
        Router::new()
            .route("/local/inbound-events", get(inbound_events))
            .layer(middleware::from_fn(json_errors))
            .with_state(InboundView { ctx: ctx.clone(), source: inbound_source }),
    );
    if let Some(sim) = &sim {
        app = app.merge(
            Router::new()
                .route("/local/salesforce/{object}", get(simulated_records))
                .layer(middleware::from_fn(json_errors))
                .with_state(sim.clone()),
        );
    }
    let server = serve_router(listener, app);
    Ok(LocalStack {
        base_url,
        admin_token,
        ctx,
        sim,
        demo_app,
        activity_queue,
        dead_letter_queue,
        inbound_queue,
        import_queue,
        queue_urls,
        server,
    })
}

/// How `start` wired the queues (built once, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum QueueWiring {
    Memory(MemoryQueues),
    #[cfg(feature = "aws")]
    Sqs { activity: sqs_worker::SqsSource, inbound: sqs_peek::SqsPeek, urls: QueueUrls, sqs: aws_sdk_sqs::Client },
}

/// [`Backend::Aws`]: DynamoDB + KMS, and the queues on SQS when the setup names them.
#[cfg(feature = "aws")]
async fn aws_wiring(config: Config, setup: &AwsSetup) -> anyhow::Result<(Wiring, QueueWiring)> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let Some(urls) = &setup.queue_urls else {
        let (queues, memory) = Queues::in_memory();
        return Ok((Wiring::with_aws(config, &aws, &setup.resources, queues, Arc::new(SystemClock))?, QueueWiring::Memory(memory)));
    };
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let activity = sqs_worker::SqsSource::connect(sqs.clone(), &urls.activity).await?;
    sqs_worker::queue_arn(&sqs, &urls.activity_dead_letter).await?;
    sqs_worker::queue_arn(&sqs, &urls.import).await?;
    let inbound = sqs_peek::SqsPeek::connect(sqs.clone(), &urls.inbound).await?;
    let ctx = Wiring::with_aws(config, &aws, &setup.resources, Queues::sqs(&aws, urls), Arc::new(SystemClock))?;
    Ok((ctx, QueueWiring::Sqs { activity, inbound, urls: urls.clone(), sqs }))
}

#[cfg(not(feature = "aws"))]
async fn aws_wiring(_: Config, _: &AwsSetup) -> anyhow::Result<(Wiring, QueueWiring)> {
    bail!(AWS_NOT_BUILT)
}

/// What the push commands of the walk-through need in the simulated org, as an admin would create
/// it: an NPS field on Contacts and Leads, a Campaign with an experiment key, and a custom object
/// with an External ID field.
fn demo_push_setup(sim: &SalesforceSim) {
    use salesforce_sim::{FieldKind, FieldSpec};
    for object in ["Contact", "Lead"] {
        sim.add_custom_field(object, "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0));
    }
    sim.add_custom_field("Campaign", "Experiment_Key__c", FieldSpec::unique_external_id(FieldKind::String));
    if let Err(e) = sim.insert_record("Campaign", serde_json::json!({"Name": "Checkout CTA", "Status": "In Progress", "Experiment_Key__c": DEMO_EXPERIMENT_KEY})) {
        tracing::warn!(error = %e, "could not create the demo Campaign");
    }
    sim.add_custom_object("Engagement_Event__c", "Engagement Event");
    sim.add_custom_field("Engagement_Event__c", "Event_Id__c", FieldSpec::unique_external_id(FieldKind::String));
}

/// The experiment key of the simulated org's demo Campaign.
pub const DEMO_EXPERIMENT_KEY: &str = "exp_checkout_cta";

/// Contacts the simulated org starts with, so activity has something to land on.
pub const DEMO_CONTACTS: &[(&str, &str, &str)] =
    &[("ada@example.com", "Ada", "Lovelace"), ("grace@example.com", "Grace", "Hopper"), ("alan@example.com", "Alan", "Turing")];

/// The embedded store and cipher. With a data file, the AES key lives beside it (`.key`, mode
/// 0600) so sealed values survive restarts; without one, both live and die with the process.
fn embedded(data_file: Option<&Path>) -> anyhow::Result<(Store, Arc<dyn Cipher>)> {
    let Some(file) = data_file else {
        return Ok((Store::in_memory(), Arc::new(LocalCipher::random())));
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key_file = file.with_extension("key");
    let key = match std::fs::read_to_string(&key_file) {
        Ok(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .with_context(|| format!("{} is not a base64 key", key_file.display()))?;
            let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!("{} must hold 32 bytes", key_file.display());
            };
            key
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = LocalCipher::generate_key();
            write_private(&key_file, &base64::engine::general_purpose::STANDARD.encode(key.as_slice()))?;
            *key
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", key_file.display())),
    };
    let table = MemoryTable::persistent(file.to_path_buf())?;
    Ok((Store::new(Arc::new(table)), Arc::new(LocalCipher::new(&key))))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// For the AWS backend against an emulator: create the table and a key when asked to.
#[cfg(feature = "aws")]
pub async fn create_aws_resources(table: &str) -> anyhow::Result<String> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    sfbridge_aws::DynamoTable::create_table(&aws_sdk_dynamodb::Client::new(&aws), table).await?;
    let key = aws_sdk_kms::Client::new(&aws).create_key().description("sfbridge local").send().await?;
    key.key_metadata
        .map(|m| m.key_id)
        .context("KMS CreateKey returned no key id")
}
