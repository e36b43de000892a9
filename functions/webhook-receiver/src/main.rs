//! Lambda entry point: build the context once per cold start, then serve the router.

use std::sync::Arc;

use sfbridge_shared::config::{AwsResources, QueueUrls};
use sfbridge_shared::app::{AppContext, Queues};
use sfbridge_webhook_receiver::global_secret;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sfbridge_shared::telemetry::init_lambda();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let config = global_secret::config_with_global_secret(&secrets, |name| std::env::var(name).ok()).await?;
    let queues = Queues::sqs(&aws, &QueueUrls::from_env()?);
    let ctx = AppContext::with_aws(config, &aws, &AwsResources::from_env()?, queues)?;
    lambda_http::run(sfbridge_webhook_receiver::router(Arc::new(ctx))).await
}
