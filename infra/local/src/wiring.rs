//! The local stack's composition root: from one set of ports (store, cipher, clock, queues) it
//! builds each function's service once, as each Lambda's `main.rs` does with the AWS adapters.
//! Tests and benchmarks start from here too, and may reach the ports directly.

use std::sync::Arc;

use anyhow::Context as _;
use sfbridge_connect::Connector;
use sfbridge_core::cipher::{Cipher, LocalCipher};
use sfbridge_core::clock::{Clock, SystemClock};
use sfbridge_core::config::Config;
#[cfg(feature = "aws")]
use sfbridge_core::config::{AwsResources, QueueUrls};
use sfbridge_core::metrics::{EmfOutput, Meter, MetricsSink};
use sfbridge_core::queue::{MemoryQueue, Queue};
use sfbridge_core::store::Store;
use sfbridge_import::Importer;
use sfbridge_inbound::Receiver;
use sfbridge_salesforce::{SalesforceOAuth, SalesforceRest, Sessions, StoredAppCredentials};
use sfbridge_sync::{RetryPolicy, Worker, WorkerQueues};

/// The queues the functions send to.
#[derive(Debug, Clone)]
pub struct Queues {
    pub activity: Arc<dyn Queue>,
    pub dead_letter: Arc<dyn Queue>,
    /// Where the webhook receiver publishes inbound events for the product (and the import its
    /// records, and the admin API the manual trigger queue's `trigger_requested` events).
    pub inbound: Arc<dyn Queue>,
    /// The import function's queue: runs and their continuations.
    pub import: Arc<dyn Queue>,
}

/// The in-process queues behind [`Queues::in_memory`], for their owner to receive from.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueues {
    pub activity: MemoryQueue,
    pub dead_letter: MemoryQueue,
    pub inbound: MemoryQueue,
    pub import: MemoryQueue,
}

impl Queues {
    #[cfg(feature = "aws")]
    pub fn sqs(aws: &aws_config::SdkConfig, urls: &QueueUrls) -> Self {
        Self {
            activity: sfbridge_aws::queue(aws, &urls.activity),
            dead_letter: sfbridge_aws::queue(aws, &urls.activity_dead_letter),
            inbound: sfbridge_aws::queue(aws, &urls.inbound),
            import: sfbridge_aws::queue(aws, &urls.import),
        }
    }

    /// In-process queues, also returned as themselves so the owner can receive from them.
    pub fn in_memory() -> (Self, MemoryQueues) {
        let memory = MemoryQueues::default();
        let queues = Self {
            activity: Arc::new(memory.activity.clone()),
            dead_letter: Arc::new(memory.dead_letter.clone()),
            inbound: Arc::new(memory.inbound.clone()),
            import: Arc::new(memory.import.clone()),
        };
        (queues, memory)
    }
}

/// The ports and, built from them once, every function's service.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub config: Config,
    pub store: Store,
    pub cipher: Arc<dyn Cipher>,
    pub clock: Arc<dyn Clock>,
    pub queues: Queues,
    pub rest: SalesforceRest,
    pub sessions: Sessions,
    /// The admin API's and the OAuth callback's service.
    pub connector: Arc<Connector>,
    /// The activity-sync function's service.
    pub worker: Arc<Worker>,
    /// The webhook receiver's service.
    pub receiver: Arc<Receiver>,
    /// The import function's service (and the admin API's Sync Now).
    pub importer: Arc<Importer>,
}

impl Wiring {
    /// Metrics lines go where they go in production ([`EmfOutput`]).
    pub fn new(config: Config, store: Store, cipher: Arc<dyn Cipher>, queues: Queues, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::with_metrics(config, store, cipher, queues, clock, Arc::new(EmfOutput))
    }

    /// As [`Wiring::new`], with the metrics lines going to `metrics` (a test's `Capture`).
    pub fn with_metrics(
        config: Config,
        store: Store,
        cipher: Arc<dyn Cipher>,
        queues: Queues,
        clock: Arc<dyn Clock>,
        metrics: Arc<dyn MetricsSink>,
    ) -> anyhow::Result<Self> {
        let http = sfbridge_salesforce::http_client().context("building the HTTP client for Salesforce")?;
        let oauth = SalesforceOAuth::new(http.clone(), config.host_policy);
        let rest = SalesforceRest::new(http, config.api_version);
        let credentials = Arc::new(StoredAppCredentials::new(store.clone(), cipher.clone()));
        let sessions = Sessions::new(store.clone(), cipher.clone(), clock.clone(), oauth.clone(), credentials);
        let meter = Meter::new(clock.clone(), metrics);
        let connector =
            Connector::new(config.clone(), store.clone(), cipher.clone(), clock.clone(), oauth, queues.activity.clone())
                .with_salesforce(sessions.clone(), rest.clone())
                .with_inbound(queues.inbound.clone());
        let worker_queues = WorkerQueues { activity: queues.activity.clone(), dead_letter: queues.dead_letter.clone() };
        // Retries spaced in seconds instead of minutes, so trying out a failure stays quick.
        let worker = Worker::new(store.clone(), clock.clone(), sessions.clone(), rest.clone(), worker_queues, meter.clone())
            .with_retry_policy(RetryPolicy::local());
        let importer = Importer::new(store.clone(), clock.clone(), sessions.clone(), rest.clone(), queues.inbound.clone(), queues.import.clone());
        let receiver = Receiver::new(
            store.clone(),
            cipher.clone(),
            clock.clone(),
            queues.inbound.clone(),
            config.webhook_secret.clone(),
            meter,
        );
        Ok(Self {
            config,
            store,
            cipher,
            clock,
            queues,
            rest,
            sessions,
            connector: Arc::new(connector),
            worker: Arc::new(worker),
            receiver: Arc::new(receiver),
            importer: Arc::new(importer),
        })
    }

    /// Everything embedded and in memory (nothing persisted, a random key), with the system clock;
    /// also returns the in-process queues to receive from.
    pub fn in_memory(config: Config) -> anyhow::Result<(Self, MemoryQueues)> {
        let (queues, memory) = Queues::in_memory();
        let wiring = Self::new(config, Store::in_memory(), Arc::new(LocalCipher::random()), queues, Arc::new(SystemClock))?;
        Ok((wiring, memory))
    }

    /// DynamoDB + KMS, with the given queues (SQS or in-process).
    #[cfg(feature = "aws")]
    pub fn with_aws(
        config: Config,
        aws: &aws_config::SdkConfig,
        resources: &AwsResources,
        queues: Queues,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Self::new(config, sfbridge_aws::store(aws, resources), sfbridge_aws::cipher(aws, resources), queues, clock)
    }
}
