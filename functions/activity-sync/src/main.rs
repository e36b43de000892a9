//! Lambda entry point: build the worker once per cold start, then handle SQS batches.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use sfbridge_core::clock::{Clock, SystemClock};
use sfbridge_core::config::{AwsResources, Config, QueueUrls};
use sfbridge_core::metrics::Meter;
use sfbridge_salesforce::{SalesforceOAuth, SalesforceRest, Sessions, StoredAppCredentials};
use sfbridge_sync::{Worker, WorkerQueues};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sfbridge_core::telemetry::init_lambda();
    let config = Config::from_env()?;
    let resources = AwsResources::from_env()?;
    let urls = QueueUrls::from_env()?;
    let aws = sfbridge_aws::sdk_config().await;
    let (store, cipher) = (sfbridge_aws::store(&aws, &resources), sfbridge_aws::cipher(&aws, &resources));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let http = sfbridge_salesforce::http_client()?;
    let credentials = Arc::new(StoredAppCredentials::new(store.clone(), cipher.clone()));
    let oauth = SalesforceOAuth::new(http.clone(), config.host_policy);
    let sessions = Sessions::new(store.clone(), cipher, clock.clone(), oauth, credentials);
    let queues = WorkerQueues {
        activity: sfbridge_aws::queue(&aws, &urls.activity),
        dead_letter: sfbridge_aws::queue(&aws, &urls.activity_dead_letter),
    };
    let rest = SalesforceRest::new(http, config.api_version);
    let worker = Arc::new(Worker::new(store, clock.clone(), sessions, rest, queues, Meter::emf(clock)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<SqsBatchResponse, lambda_runtime::Error>(sfbridge_activity_sync::handle(&worker, event.payload).await) }
    }))
    .await
}
