//! Lambda entry point: build the worker once per cold start, then handle SQS batches.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use sfbridge_core::clock::{Clock, SystemClock};
use sfbridge_core::config::{Config, QueueUrls};
use sfbridge_core::metrics::Meter;
use sfbridge_salesforce::{SalesforceOAuth, SalesforceRest, Sessions, StoredAppCredentials};
use sfbridge_sync::{Worker, WorkerQueues};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sfbridge_core::telemetry::init_lambda();
    let (config, urls, aws) = (Config::from_env()?, QueueUrls::from_env()?, sfbridge_aws::Aws::from_env().await?);
    let (store, cipher) = (aws.store(), aws.cipher());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let http = sfbridge_salesforce::http_client()?;
    let credentials = Arc::new(StoredAppCredentials::new(store.clone(), cipher.clone()));
    let oauth = SalesforceOAuth::new(http.clone(), config.host_policy);
    let sessions = Sessions::new(store.clone(), cipher, clock.clone(), oauth, credentials);
    let queues = WorkerQueues {
        activity: aws.queue(&urls.activity),
        dead_letter: aws.queue(&urls.activity_dead_letter),
    };
    let rest = SalesforceRest::new(http, config.api_version);
    let worker = Arc::new(Worker::new(store, clock.clone(), sessions, rest, queues, Meter::emf(clock)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<SqsBatchResponse, lambda_runtime::Error>(sfbridge_activity_sync::handle(&worker, event.payload).await) }
    }))
    .await
}
