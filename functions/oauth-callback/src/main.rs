//! Lambda entry point: build the service once per cold start, then serve the router.

use std::sync::Arc;

use sfbridge_connect::Connector;
use sfbridge_core::clock::SystemClock;
use sfbridge_core::config::{AwsResources, Config, QueueUrls};
use sfbridge_salesforce::SalesforceOAuth;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sfbridge_core::telemetry::init_lambda();
    let config = Config::from_env()?;
    let resources = AwsResources::from_env()?;
    let queues = QueueUrls::from_env()?;
    let aws = sfbridge_aws::sdk_config().await;
    let oauth = SalesforceOAuth::new(sfbridge_salesforce::http_client()?, config.host_policy);
    let connector = Connector::new(
        config,
        sfbridge_aws::store(&aws, &resources),
        sfbridge_aws::cipher(&aws, &resources),
        Arc::new(SystemClock),
        oauth,
        sfbridge_aws::queue(&aws, &queues.activity),
    );
    lambda_http::run(sfbridge_oauth_callback::router(Arc::new(connector))).await
}
