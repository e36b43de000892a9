//! Everything a handler needs, built once per process (per Lambda cold start).

use std::sync::Arc;

use anyhow::Context as _;

use crate::cipher::{Cipher, KmsCipher};
use crate::clock::{Clock, SystemClock};
use crate::config::{AwsResources, Config};
use crate::salesforce::{SalesforceOAuth, SalesforceRest};
use crate::store::{DynamoTable, Store};

#[derive(Debug, Clone)]
pub struct AppContext {
    pub config: Config,
    pub store: Store,
    pub cipher: Arc<dyn Cipher>,
    pub oauth: SalesforceOAuth,
    pub rest: SalesforceRest,
    pub clock: Arc<dyn Clock>,
}

impl AppContext {
    pub fn new(config: Config, store: Store, cipher: Arc<dyn Cipher>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let oauth = SalesforceOAuth::new(config.host_policy).context("building the HTTP client for Salesforce")?;
        let rest = SalesforceRest::new().context("building the HTTP client for Salesforce")?;
        Ok(Self { config, store, cipher, oauth, rest, clock })
    }

    /// The Lambda wiring: configuration from the environment, DynamoDB + KMS from the default
    /// AWS configuration (which honours `AWS_ENDPOINT_URL` for emulators).
    pub async fn from_env_aws() -> anyhow::Result<Self> {
        let config = Config::from_env()?;
        let resources = AwsResources::from_env()?;
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::with_aws(config, &aws, &resources)
    }

    pub fn with_aws(config: Config, aws: &aws_config::SdkConfig, resources: &AwsResources) -> anyhow::Result<Self> {
        let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(aws), &resources.table_name);
        let cipher = KmsCipher::new(aws_sdk_kms::Client::new(aws), &resources.kms_key_id);
        Self::new(config, Store::new(Arc::new(table)), Arc::new(cipher), Arc::new(SystemClock))
    }
}
