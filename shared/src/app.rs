//! Everything a handler needs, built once per process (per Lambda cold start).

use std::sync::Arc;

use anyhow::Context as _;

use crate::cipher::{Cipher, KmsCipher};
use crate::clock::{Clock, SystemClock};
use crate::config::{AwsResources, Config, QueueUrls};
use crate::inbound::auth::OpenedSecrets;
use crate::queue::{MemoryQueue, Queue, SqsQueue};
use crate::salesforce::{SalesforceOAuth, SalesforceRest};
use crate::store::{DynamoTable, Store};
use crate::sync::ApiUsageBook;

#[derive(Debug, Clone)]
pub struct AppContext {
    pub config: Config,
    pub store: Store,
    pub cipher: Arc<dyn Cipher>,
    pub queues: Queues,
    pub oauth: SalesforceOAuth,
    pub rest: SalesforceRest,
    pub clock: Arc<dyn Clock>,
    /// The org API usage each tenant's responses last reported (the sync budget guard).
    pub api_usage: Arc<ApiUsageBook>,
    /// Webhook secrets this process has opened (the receiver's signature checks).
    pub opened_webhook_secrets: Arc<OpenedSecrets>,
}

/// The queues the functions send to.
#[derive(Debug, Clone)]
pub struct Queues {
    pub activity: Arc<dyn Queue>,
    pub dead_letter: Arc<dyn Queue>,
    /// Where the webhook receiver publishes inbound events for the product.
    pub inbound: Arc<dyn Queue>,
}

/// The in-process queues behind [`Queues::in_memory`], for their owner to receive from.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueues {
    pub activity: MemoryQueue,
    pub dead_letter: MemoryQueue,
    pub inbound: MemoryQueue,
}

impl Queues {
    pub fn sqs(aws: &aws_config::SdkConfig, urls: &QueueUrls) -> Self {
        let sqs = aws_sdk_sqs::Client::new(aws);
        Self {
            activity: Arc::new(SqsQueue::new(sqs.clone(), urls.activity.clone())),
            dead_letter: Arc::new(SqsQueue::new(sqs.clone(), urls.activity_dead_letter.clone())),
            inbound: Arc::new(SqsQueue::new(sqs, urls.inbound.clone())),
        }
    }

    /// In-process queues, also returned as themselves so the owner can receive from them.
    pub fn in_memory() -> (Self, MemoryQueues) {
        let memory = MemoryQueues::default();
        let queues = Self {
            activity: Arc::new(memory.activity.clone()),
            dead_letter: Arc::new(memory.dead_letter.clone()),
            inbound: Arc::new(memory.inbound.clone()),
        };
        (queues, memory)
    }
}

impl AppContext {
    pub fn new(config: Config, store: Store, cipher: Arc<dyn Cipher>, queues: Queues, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let oauth = SalesforceOAuth::new(config.host_policy).context("building the HTTP client for Salesforce")?;
        let rest = SalesforceRest::new(config.api_version).context("building the HTTP client for Salesforce")?;
        Ok(Self {
            config,
            store,
            cipher,
            queues,
            oauth,
            rest,
            clock,
            api_usage: Arc::default(),
            opened_webhook_secrets: Arc::default(),
        })
    }

    /// The Lambda wiring: configuration from the environment, DynamoDB + KMS from the default
    /// AWS configuration (which honours `AWS_ENDPOINT_URL` for emulators).
    pub async fn from_env_aws() -> anyhow::Result<Self> {
        let config = Config::from_env()?;
        let resources = AwsResources::from_env()?;
        let urls = QueueUrls::from_env()?;
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::with_aws(config, &aws, &resources, Queues::sqs(&aws, &urls))
    }

    /// DynamoDB + KMS, with the given queues (SQS in Lambda; in-process in the local stack).
    pub fn with_aws(config: Config, aws: &aws_config::SdkConfig, resources: &AwsResources, queues: Queues) -> anyhow::Result<Self> {
        let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(aws), &resources.table_name);
        let cipher = KmsCipher::new(aws_sdk_kms::Client::new(aws), &resources.kms_key_id);
        Self::new(config, Store::new(Arc::new(table)), Arc::new(cipher), queues, Arc::new(SystemClock))
    }
}
