//! Lambda entry point: build the context once per cold start, then handle SQS batches.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use sfbridge_shared::AppContext;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sfbridge_shared::telemetry::init_lambda();
    let ctx = Arc::new(AppContext::from_env_aws().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<SqsBatchResponse, lambda_runtime::Error>(sfbridge_activity_sync::handle(&ctx, event.payload).await) }
    }))
    .await
}
