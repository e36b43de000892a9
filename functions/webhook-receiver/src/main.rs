//! Lambda entry point: build the receiver once per cold start, then serve the router.

use std::sync::Arc;

use sfbridge_aws::secrets_manager;
use sfbridge_core::clock::{Clock, SystemClock};
use sfbridge_core::config::QueueUrls;
use sfbridge_core::metrics::Meter;
use sfbridge_inbound::Receiver;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sfbridge_core::telemetry::init_lambda();
    let aws = sfbridge_aws::Aws::from_env().await?;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws.sdk);
    let config = secrets_manager::config_with_global_secret(&secrets, |name| std::env::var(name).ok()).await?;
    let urls = QueueUrls::from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let receiver = Receiver::new(
        aws.store(),
        aws.cipher(),
        clock.clone(),
        aws.queue(&urls.inbound),
        config.webhook_secret,
        Meter::emf(clock),
    );
    lambda_http::run(sfbridge_webhook_receiver::router(Arc::new(receiver))).await
}
