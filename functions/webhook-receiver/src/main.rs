//! Lambda entry point: build the receiver once per cold start, then serve the router.

use std::sync::Arc;

use sfbridge_aws::secrets_manager;
use sfbridge_core::clock::{Clock, SystemClock};
use sfbridge_core::config::{AwsResources, QueueUrls};
use sfbridge_core::metrics::Meter;
use sfbridge_inbound::Receiver;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sfbridge_core::telemetry::init_lambda();
    let aws = sfbridge_aws::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let config = secrets_manager::config_with_global_secret(&secrets, |name| std::env::var(name).ok()).await?;
    let resources = AwsResources::from_env()?;
    let urls = QueueUrls::from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let receiver = Receiver::new(
        sfbridge_aws::store(&aws, &resources),
        sfbridge_aws::cipher(&aws, &resources),
        clock.clone(),
        sfbridge_aws::queue(&aws, &urls.inbound),
        config.webhook_secret,
        Meter::emf(clock),
    );
    lambda_http::run(sfbridge_webhook_receiver::router(Arc::new(receiver))).await
}
