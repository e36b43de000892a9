//! Lambda entry point: build the importer once per cold start, then handle import-queue batches
//! and the schedule's ticks.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use sfbridge_core::clock::{Clock, SystemClock};
use sfbridge_core::config::{Config, QueueUrls};
use sfbridge_import::Importer;
use sfbridge_salesforce::{SalesforceOAuth, SalesforceRest, Sessions, StoredAppCredentials};
use sfbridge_salesforce_import::{handle, Answer, Invocation};

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
    let rest = SalesforceRest::new(http, config.api_version);
    let importer = Arc::new(Importer::new(store, clock, sessions, rest, aws.queue(&urls.inbound), aws.queue(&urls.import)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let importer = importer.clone();
        async move {
            // The step stops before the invocation's deadline (less the importer's margin).
            let left = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
            let deadline = tokio::time::Instant::now() + left;
            let invocation = Invocation::parse(event.payload)?;
            let answer: Answer = handle(&importer, invocation, deadline).await?;
            Ok::<Answer, lambda_runtime::Error>(answer)
        }
    }))
    .await
}
