//! `spawn_app` and the small steps every test is made of.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::header::LOCATION;
use reqwest::{Client, Response, StatusCode};
use salesforce_sim::{SalesforceSim, SimApp, SimConfig};
use serde_json::{json, Value};
use sfbridge_aws::{DynamoTable, KmsCipher, SqsQueue};
use sfbridge_core::cipher::{Cipher, CipherError, LocalCipher, SealContext, Sealed};
use sfbridge_core::clock::ManualClock;
use sfbridge_core::metrics::Capture;
use sfbridge_core::queue::{MemoryQueue, OutgoingMessage, Queue, QueueError};
use sfbridge_core::secrets::WebhookSecret;
use sfbridge_core::store::{Item, MemoryTable, Store, Table};
use sfbridge_e2e::{schema_errors, INBOUND_EVENT};
use sfbridge_local::{MemoryQueues, Queues, Wiring as AppContext};
use tokio::net::TcpListener;
use url::Url;

/// Marks every planted secret: the sim puts it in every token and code, and consumer secrets
/// start with it. infra/scripts/test.sh fails if it appears in any log of the suite.
pub const MARKER: &str = "CANARY";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Moto,
}

/// The activity queue and its DLQ, for reading what the app sent to them.
#[derive(Clone)]
pub enum TestQueues {
    Memory { activity: MemoryQueue, dead_letter: MemoryQueue, inbound: MemoryQueue, import: MemoryQueue },
    Sqs { client: aws_sdk_sqs::Client, activity: String, dead_letter: String, inbound: String, import: String },
}

/// Which of the app's queues to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Activity,
    DeadLetter,
    Inbound,
    Import,
}

/// A message as a test reads it off a queue.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub attributes: HashMap<String, String>,
}

/// Where the raw items live, for inspecting and tampering with storage.
pub enum RawTable {
    Memory(Arc<MemoryTable>),
    Dynamo { client: aws_sdk_dynamodb::Client, table: String },
}

pub struct TestApp {
    pub base_url: String,
    pub admin_token: String,
    pub sim: SalesforceSim,
    pub ctx: Arc<AppContext>,
    /// Every metrics line the app's services wrote (see [`TestApp::capture_metrics`]).
    pub metrics: Capture,
    pub clock: ManualClock,
    pub raw: RawTable,
    pub queues: TestQueues,
    /// Makes the inbound queue refuse some entries.
    pub inbound_faults: QueueFaults,
    /// Makes the activity queue refuse some entries (what the admin API and `/local/activity`
    /// send to it; the test's own reads go around it).
    pub activity_faults: QueueFaults,
    /// Every `open` the app asked of its cipher (KMS Decrypt calls on moto).
    pub cipher_opens: Arc<AtomicUsize>,
    /// An admin's browser: keeps cookies, follows no redirects (tests follow them by hand).
    pub browser: Client,
    /// The product's backend.
    pub api: Client,
    pub consumer_key: String,
    pub consumer_secret: String,
}

pub fn new_browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn random_suffix() -> String {
    sfbridge_core::domain::FlowId::random().to_string()[..12].to_owned()
}

/// Logs of every test go to one buffer (and to `$SFBRIDGE_TEST_LOG_DIR/e2e.log`), so tests can
/// assert that no secret was logged and the suite's logs can be scanned as a whole.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static LOG_INIT: OnceLock<()> = OnceLock::new();

struct Tee(Option<std::fs::File>);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        if let Some(file) = &mut self.0 {
            file.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    LOG_INIT.get_or_init(|| {
        let file = std::env::var("SFBRIDGE_TEST_LOG_DIR").ok().map(|dir| {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(format!("{dir}/e2e.log"))
                .unwrap()
        });
        let file = file.map(Arc::new);
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Tee(file.as_ref().and_then(|f| f.try_clone().ok())))
            .init();
    });
}

/// What a test may change about the app it spawns.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// The deployment-wide webhook secret (`SALESFORCE_WEBHOOK_SECRET`).
    pub global_webhook_secret: Option<String>,
    /// `SFBRIDGE_SALESFORCE_API_VERSION` (default v66.0).
    pub api_version: Option<sfbridge_core::config::ApiVersion>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, AppOptions::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: AppOptions) -> TestApp {
    init_logs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let admin_token = format!("admin-{}", random_suffix());
    let mut config = sfbridge_local::local_config(&base_url, &admin_token, Some("https://app.example.com,https://admin.example.com")).unwrap();
    config.webhook_secret = options.global_webhook_secret.map(WebhookSecret::new);
    config.api_version = options.api_version.unwrap_or_default();
    let redirect_uri = config.redirect_uri();

    let (store, cipher, raw, queues, test_queues): (Store, Arc<dyn Cipher>, RawTable, Queues, TestQueues) = match backend {
        Backend::Memory => {
            let table = Arc::new(MemoryTable::new());
            let (queues, memory) = Queues::in_memory();
            let MemoryQueues { activity, dead_letter, inbound, import } = memory;
            (
                Store::new(table.clone()),
                Arc::new(LocalCipher::random()),
                RawTable::Memory(table),
                queues,
                TestQueues::Memory { activity, dead_letter, inbound, import },
            )
        }
        Backend::Moto => {
            let aws = moto_config().await;
            let dynamo = aws_sdk_dynamodb::Client::new(&aws);
            let table = format!("sfbridge-test-{}", random_suffix());
            DynamoTable::create_table(&dynamo, &table).await.unwrap();
            let kms = aws_sdk_kms::Client::new(&aws);
            let key_id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
            let sqs = aws_sdk_sqs::Client::new(&aws);
            let suffix = random_suffix();
            let mut urls = Vec::new();
            for name in ["activity", "activity-dlq", "inbound", "import"] {
                let name = format!("sfbridge-{name}-{suffix}");
                urls.push(sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap());
            }
            let (activity, dead_letter, inbound, import) = (urls[0].clone(), urls[1].clone(), urls[2].clone(), urls[3].clone());
            let queues = Queues {
                activity: Arc::new(SqsQueue::new(sqs.clone(), activity.clone())),
                dead_letter: Arc::new(SqsQueue::new(sqs.clone(), dead_letter.clone())),
                inbound: Arc::new(SqsQueue::new(sqs.clone(), inbound.clone())),
                import: Arc::new(SqsQueue::new(sqs.clone(), import.clone())),
            };
            (
                Store::new(Arc::new(DynamoTable::new(dynamo.clone(), &table))),
                Arc::new(KmsCipher::new(kms, key_id)),
                RawTable::Dynamo { client: dynamo, table },
                queues,
                TestQueues::Sqs { client: sqs, activity, dead_letter, inbound, import },
            )
        }
    };
    let cipher_opens = Arc::new(AtomicUsize::new(0));
    let cipher = Arc::new(CountingCipher { inner: cipher, opens: cipher_opens.clone() });
    let inbound_faults = QueueFaults::default();
    let activity_faults = QueueFaults::default();
    let queues = Queues {
        inbound: Arc::new(FlakyQueue::new(queues.inbound, inbound_faults.clone())),
        activity: Arc::new(FlakyQueue::new(queues.activity, activity_faults.clone())),
        ..queues
    };
    let clock = ManualClock::default();
    let metrics = Capture::default();
    let ctx = Arc::new(AppContext::with_metrics(config, store, cipher, queues, Arc::new(clock.clone()), Arc::new(metrics.clone())).unwrap());
    sfbridge_local::serve(listener, ctx.clone());

    let sim = SalesforceSim::start(SimConfig { auto_approve: true, token_marker: MARKER.into(), ..SimConfig::default() })
        .await
        .unwrap();
    let consumer_key = format!("3MVG9test.key.{}", random_suffix());
    let consumer_secret = format!("{MARKER}-consumer-secret-{}", random_suffix());
    // Refresh-token rotation on, as Salesforce requires of partner apps: the strictest case.
    let mut sim_app = SimApp::new(&consumer_key, &consumer_secret, &redirect_uri);
    sim_app.rotate_refresh_tokens = true;
    sim.add_app(sim_app);

    TestApp {
        base_url,
        admin_token,
        sim,
        ctx,
        metrics,
        clock,
        raw,
        queues: test_queues,
        inbound_faults,
        activity_faults,
        cipher_opens,
        browser: new_browser(),
        api: Client::new(),
        consumer_key,
        consumer_secret,
    }
}

/// The AWS SDK configuration for moto. The tests need it: run them with infra/scripts/test.sh.
pub async fn moto_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: the AWS adapter tests run against moto; use `bash infra/scripts/test.sh`, \
         which starts it"
    );
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// While set to n > 0, every n-th entry sent through a [`FlakyQueue`] is refused, as SQS refuses
/// entries of a `SendMessageBatch` one by one.
/// Counts what the app opens, to see which requests cost a key-service call.
#[derive(Debug)]
struct CountingCipher {
    inner: Arc<dyn Cipher>,
    opens: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Cipher for CountingCipher {
    async fn seal(&self, context: &SealContext, plaintext: &[u8]) -> Result<Sealed, CipherError> {
        self.inner.seal(context, plaintext).await
    }

    async fn open(&self, context: &SealContext, sealed: &Sealed) -> Result<zeroize::Zeroizing<Vec<u8>>, CipherError> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        self.inner.open(context, sealed).await
    }
}

#[derive(Debug, Clone, Default)]
pub struct QueueFaults(Arc<FaultState>);

#[derive(Debug, Default)]
pub struct FaultState {
    every: AtomicUsize,
    gate: tokio::sync::RwLock<()>,
    waiting: AtomicUsize,
    /// The bodies the queue took (its answer was `Ok`), in order.
    delivered: std::sync::Mutex<Vec<String>>,
}

impl QueueFaults {
    /// Every body the queue has taken since the last call, in order: what the app handed on,
    /// without receiving it back (moto's SQS takes about a second per receive on a deep queue).
    pub fn take_delivered(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.delivered.lock().unwrap())
    }

    pub fn fail_every(&self, n: usize) {
        self.0.every.store(n, Ordering::SeqCst);
    }

    /// Holds every send at the queue's door until the guard is dropped, so a test can make a
    /// request wait mid-publish.
    pub async fn hold(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.0.gate.write().await
    }

    /// How many sends are waiting at the door.
    pub fn waiting(&self) -> usize {
        self.0.waiting.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct FlakyQueue {
    inner: Arc<dyn Queue>,
    faults: QueueFaults,
    sent: AtomicUsize,
}

impl FlakyQueue {
    pub fn new(inner: Arc<dyn Queue>, faults: QueueFaults) -> Self {
        Self { inner, faults, sent: AtomicUsize::new(0) }
    }
}

#[async_trait::async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
        self.faults.0.waiting.fetch_add(1, Ordering::SeqCst);
        drop(self.faults.0.gate.read().await);
        self.faults.0.waiting.fetch_sub(1, Ordering::SeqCst);
        let every = self.faults.0.every.load(Ordering::SeqCst);
        let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
        let answers: Vec<Result<(), QueueError>> = if every == 0 {
            self.inner.send(messages).await
        } else {
            let refused: Vec<bool> = messages.iter().map(|_| self.sent.fetch_add(1, Ordering::SeqCst) % every == every - 1).collect();
            let passed: Vec<OutgoingMessage> =
                messages.into_iter().zip(&refused).filter(|(_, r)| !**r).map(|(m, _)| m).collect();
            let mut results = self.inner.send(passed).await.into_iter();
            refused
                .iter()
                .map(|r| if *r { Err(QueueError::Unavailable("injected fault".into())) } else { results.next().unwrap() })
                .collect()
        };
        let mut delivered = self.faults.0.delivered.lock().unwrap();
        delivered.extend(bodies.into_iter().zip(&answers).filter(|(_, a)| a.is_ok()).map(|(b, _)| b));
        answers
    }

    /// Faults are for sends only; spacing retries is passed through (the trait's default would
    /// refuse it, as for a queue that cannot).
    async fn retry_after(&self, messages: Vec<sfbridge_core::queue::RetryAfter>) -> Vec<Result<(), QueueError>> {
        self.inner.retry_after(messages).await
    }
}

impl TestQueues {
    /// Takes everything waiting on the activity queue (or its DLQ).
    pub async fn take(&self, dead_letter: bool) -> Vec<Received> {
        self.take_from(if dead_letter { QueueName::DeadLetter } else { QueueName::Activity }).await
    }

    /// Drops everything waiting on one of the app's queues (for tests that read what was sent at
    /// the queue's door: `QueueFaults::take_delivered`). Received and deleted, as a consumer
    /// would: SQS allows one `PurgeQueue` a minute.
    pub async fn drain(&self, name: QueueName) {
        drop(self.receive_all(name).await);
    }

    /// Takes everything waiting on one of the app's queues. What the inbound queue held must
    /// match the inbound event schema: so every test that reads published events checks them.
    pub async fn take_from(&self, name: QueueName) -> Vec<Received> {
        let received = self.receive_all(name).await;
        if name == QueueName::Inbound {
            assert_inbound_events_match_the_schema(received.iter().map(|m| m.body.as_str()));
        }
        received
    }

    async fn receive_all(&self, name: QueueName) -> Vec<Received> {
        match self {
            TestQueues::Memory { activity, dead_letter, inbound, import } => {
                let queue = match name {
                    QueueName::Activity => activity,
                    QueueName::DeadLetter => dead_letter,
                    QueueName::Inbound => inbound,
                    QueueName::Import => import,
                };
                queue
                    .receive(usize::MAX, std::time::Duration::ZERO)
                    .await
                    .into_iter()
                    .map(|m| Received { body: m.body, attributes: m.attributes.into_iter().collect() })
                    .collect()
            }
            TestQueues::Sqs { client, activity, dead_letter, inbound, import } => {
                let url = match name {
                    QueueName::Activity => activity,
                    QueueName::DeadLetter => dead_letter,
                    QueueName::Inbound => inbound,
                    QueueName::Import => import,
                };
                let mut all = Vec::new();
                loop {
                    let out = client
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .message_attribute_names("All")
                        .send()
                        .await
                        .unwrap();
                    let messages = out.messages.unwrap_or_default();
                    if messages.is_empty() {
                        return all;
                    }
                    // One delete call per receive: moto answers each request slowly, and the
                    // import tests drain thousands of events.
                    let entries = messages.iter().enumerate().map(|(i, m)| {
                        let handle = m.receipt_handle.clone().unwrap();
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(handle).build().unwrap()
                    });
                    let deleted = client.delete_message_batch().queue_url(url).set_entries(Some(entries.collect())).send().await.unwrap();
                    assert!(deleted.failed().is_empty(), "messages not deleted: {:?}", deleted.failed());
                    for m in messages {
                        let attributes = m
                            .message_attributes
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, v.string_value.unwrap_or_default()))
                            .collect();
                        all.push(Received { body: m.body.unwrap_or_default(), attributes });
                    }
                }
            }
        }
    }
}

/// Each body is an event that docs/schemas/inbound-event.v1.json accepts, dates included.
pub fn assert_inbound_events_match_the_schema<'a>(bodies: impl IntoIterator<Item = &'a str>) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| INBOUND_EVENT.validator(true).unwrap());
    for body in bodies {
        let event: Value = serde_json::from_str(body).unwrap();
        let errors = schema_errors(validator, &event);
        assert!(errors.is_empty(), "a published event does not match docs/schemas/inbound-event.v1.json: {errors:?}\n{body}");
    }
}

impl TestApp {
    /// Starts reading the metrics lines the app writes from now on.
    pub fn capture_metrics(&self) -> Capture {
        self.metrics.clear();
        self.metrics.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Response {
        let mut request = self.api.request(method, self.url(path)).bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn put_credentials(&self, tenant: &str, body: Value) -> Response {
        self.admin(reqwest::Method::PUT, &format!("/v1/tenants/{tenant}/credentials"), Some(body)).await
    }

    /// Saves the simulator's app as the tenant's credentials.
    pub async fn save_credentials(&self, tenant: &str) {
        let response = self
            .put_credentials(
                tenant,
                json!({"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret, "login_url": self.sim.base_url()}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{}", response.text().await.unwrap());
    }

    /// `POST /connect`, expecting a connect URL.
    pub async fn begin_connect(&self, tenant: &str) -> (String, String) {
        let response = self.admin(reqwest::Method::POST, &format!("/v1/tenants/{tenant}/connect"), None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        (body["flow_id"].as_str().unwrap().to_owned(), body["connect_url"].as_str().unwrap().to_owned())
    }

    /// Opens the connect URL in `browser` and returns Salesforce's authorize URL it redirects to.
    pub async fn open_connect_url(&self, browser: &Client, connect_url: &str) -> String {
        let response = browser.get(connect_url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{}", response.text().await.unwrap());
        location(&response)
    }

    /// Approves at the simulated Salesforce (auto-approve) and returns the callback URL it sends the browser to.
    pub async fn authorize(&self, browser: &Client, authorize_url: &str) -> String {
        let response = browser.get(authorize_url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{}", response.text().await.unwrap());
        location(&response)
    }

    /// The whole popup: connect URL, Salesforce, callback. Returns the flow id and the final page.
    pub async fn connect_in_browser(&self, tenant: &str) -> (String, Response) {
        let (flow_id, connect_url) = self.begin_connect(tenant).await;
        let authorize_url = self.open_connect_url(&self.browser, &connect_url).await;
        let callback_url = self.authorize(&self.browser, &authorize_url).await;
        (flow_id, self.browser.get(callback_url).send().await.unwrap())
    }

    pub async fn connection(&self, tenant: &str) -> Value {
        let response = self.admin(reqwest::Method::GET, &format!("/v1/tenants/{tenant}/connection"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn audit_types(&self, tenant: &str) -> Vec<String> {
        let response = self.admin(reqwest::Method::GET, &format!("/v1/tenants/{tenant}/audit"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    }

    pub async fn flow_status(&self, flow_id: &str) -> Value {
        self.api.get(self.url(&format!("/oauth/flows/{flow_id}"))).send().await.unwrap().json().await.unwrap()
    }

    pub fn token_requests(&self) -> usize {
        self.sim.token_requests().len()
    }

    pub fn refresh_requests(&self) -> usize {
        self.sim.token_requests().iter().filter(|r| r.param("grant_type") == Some("refresh_token")).count()
    }

    /// Every stored item, as text, for scanning.
    pub async fn raw_items_text(&self) -> String {
        match &self.raw {
            RawTable::Memory(table) => serde_json::to_string(&table.raw_items()).unwrap(),
            RawTable::Dynamo { client, table } => {
                let out = client.scan().table_name(table).send().await.unwrap();
                format!("{:?}", out.items.unwrap_or_default())
            }
        }
    }

    /// One stored item as the table adapter reads it.
    pub async fn raw_item(&self, pk: &str, sk: &str) -> Option<Item> {
        let table: Arc<dyn Table> = match &self.raw {
            RawTable::Memory(table) => table.clone(),
            RawTable::Dynamo { client, table } => Arc::new(DynamoTable::new(client.clone(), table)),
        };
        table.get(pk, sk).await.unwrap()
    }

    /// Copies one raw item to another partition key (an attacker with table write access, or a bug).
    pub async fn copy_item(&self, from_pk: &str, sk: &str, to_pk: &str) {
        match &self.raw {
            RawTable::Memory(table) => {
                let mut item = table
                    .raw_items()
                    .into_iter()
                    .find(|i| i["pk"] == from_pk && i["sk"] == sk)
                    .unwrap();
                item.insert("pk".into(), json!(to_pk));
                table.put_raw(item).unwrap();
            }
            RawTable::Dynamo { client, table } => {
                use aws_sdk_dynamodb::types::AttributeValue;
                let key = HashMap::from([
                    ("pk".to_owned(), AttributeValue::S(from_pk.to_owned())),
                    ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
                ]);
                let mut item = client.get_item().table_name(table).set_key(Some(key)).send().await.unwrap().item.unwrap();
                item.insert("pk".into(), AttributeValue::S(to_pk.to_owned()));
                client.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
            }
        }
    }
}

pub fn location(response: &Response) -> String {
    response.headers().get(LOCATION).expect("a Location header").to_str().unwrap().to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Asserts a tenant has no Salesforce connection.
pub async fn assert_not_connected(app: &TestApp, tenant: &str) {
    let view = app.connection(tenant).await;
    assert_ne!(view["status"], "connected", "{view}");
    assert!(view["organization_id"].is_null(), "{view}");
}

/// Asserts that `response` is `status` in the JSON error shape with `code` and a message; returns
/// its headers and body.
pub async fn expect_json_error(response: Response, status: StatusCode, code: &str) -> (reqwest::header::HeaderMap, Value) {
    let headers = response.headers().clone();
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{text}");
    assert!(headers.get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("application/json")), "{headers:?} {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    (headers, body)
}
