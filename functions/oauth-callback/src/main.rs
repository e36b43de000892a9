//! Lambda entry point: build the service once per cold start, then serve the router.

use std::sync::Arc;

use sfbridge_connect::Connector;
use sfbridge_core::clock::SystemClock;
use sfbridge_core::config::{Config, QueueUrls};
use sfbridge_salesforce::SalesforceOAuth;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sfbridge_core::telemetry::init_lambda();
    let (config, urls, aws) = (Config::from_env()?, QueueUrls::from_env()?, sfbridge_aws::Aws::from_env().await?);
    let oauth = SalesforceOAuth::new(sfbridge_salesforce::http_client()?, config.host_policy);
    let activity = aws.queue(&urls.activity);
    let connector = Connector::new(config, aws.store(), aws.cipher(), Arc::new(SystemClock), oauth, activity);
    lambda_http::run(sfbridge_oauth_callback::router(Arc::new(connector))).await
}
