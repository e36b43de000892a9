//! The AWS adapters of `sfbridge-core`'s ports, and the one place that builds them from the
//! environment. Nothing above this crate names an AWS SDK type except the functions' `main.rs`,
//! which pick these adapters, and the local stack, which may.
//!
//! - [`DynamoTable`]: the `Table` under `Store` (conditional writes, queries, TTL)
//! - [`KmsCipher`]: the `Cipher` (Encrypt/Decrypt with the encryption context)
//! - [`SqsQueue`]: the `Queue` (`SendMessageBatch`, per-entry outcomes)
//! - `secrets_manager` (feature `secrets-manager`): the deployment-wide webhook secret, read once
//!   at start
//!
//! The SDK honours `AWS_ENDPOINT_URL`, so the tests run these adapters against moto on loopback.

mod dynamo;
mod kms;
#[cfg(feature = "secrets-manager")]
pub mod secrets_manager;
mod sqs;

use std::sync::Arc;

pub use dynamo::DynamoTable;
pub use kms::KmsCipher;
pub use sqs::SqsQueue;

use sfbridge_core::cipher::Cipher;
use sfbridge_core::config::{AwsResources, ConfigError};
use sfbridge_core::queue::Queue;
use sfbridge_core::store::Store;

/// A function's AWS side, read from its environment once at start: the SDK configuration
/// (region, credentials, `AWS_ENDPOINT_URL`) and the table and key it names. The adapters a
/// function builds from it are the ones its IAM policy allows; nothing is built unasked.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub resources: AwsResources,
}

impl Aws {
    /// `SFBRIDGE_TABLE`, `SFBRIDGE_KMS_KEY_ID` and the SDK's own variables.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let resources = AwsResources::from_env()?;
        Ok(Self { sdk: sdk_config().await, resources })
    }

    pub fn store(&self) -> Store {
        store(&self.sdk, &self.resources)
    }

    pub fn cipher(&self) -> Arc<dyn Cipher> {
        cipher(&self.sdk, &self.resources)
    }

    pub fn queue(&self, url: &str) -> Arc<dyn Queue> {
        queue(&self.sdk, url)
    }
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The store on the table `resources` names.
pub fn store(aws: &aws_config::SdkConfig, resources: &AwsResources) -> Store {
    Store::new(Arc::new(DynamoTable::new(aws_sdk_dynamodb::Client::new(aws), &resources.table_name)))
}

/// The cipher on the key `resources` names.
pub fn cipher(aws: &aws_config::SdkConfig, resources: &AwsResources) -> Arc<dyn Cipher> {
    Arc::new(KmsCipher::new(aws_sdk_kms::Client::new(aws), &resources.kms_key_id))
}

/// The SQS queue at `url`.
pub fn queue(aws: &aws_config::SdkConfig, url: &str) -> Arc<dyn Queue> {
    Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(aws), url.to_owned()))
}
