//! Lambda entry point: build the context once per cold start, then serve the router.

use std::sync::Arc;

use sfbridge_shared::AppContext;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sfbridge_shared::telemetry::init_lambda();
    let ctx = AppContext::from_env_aws().await?;
    lambda_http::run(sfbridge_webhook_receiver::router(Arc::new(ctx))).await
}
