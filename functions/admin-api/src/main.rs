//! Lambda entry point: build the service once per cold start, then serve the router.

use std::sync::Arc;

use sfbridge_connect::Connector;
use sfbridge_core::clock::SystemClock;
use sfbridge_core::config::{Config, QueueUrls};
use sfbridge_import::Importer;
use sfbridge_salesforce::{SalesforceOAuth, SalesforceRest, Sessions, StoredAppCredentials};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sfbridge_core::telemetry::init_lambda();
    let (config, urls, aws) = (Config::from_env()?, QueueUrls::from_env()?, sfbridge_aws::Aws::from_env().await?);
    let http = sfbridge_salesforce::http_client()?;
    let oauth = SalesforceOAuth::new(http.clone(), config.host_policy);
    let (activity, inbound) = (aws.queue(&urls.activity), aws.queue(&urls.inbound));
    let (store, cipher, clock) = (aws.store(), aws.cipher(), Arc::new(SystemClock));
    // Test Fields calls the tenant's org with its own session, refreshed as sync would.
    let credentials = Arc::new(StoredAppCredentials::new(store.clone(), cipher.clone()));
    let sessions = Sessions::new(store.clone(), cipher.clone(), clock.clone(), oauth.clone(), credentials);
    let rest = SalesforceRest::new(http, config.api_version);
    let importer = Importer::new(store.clone(), clock.clone(), sessions.clone(), rest.clone(), inbound.clone(), aws.queue(&urls.import));
    let connector =
        Connector::new(config, store, cipher, clock, oauth, activity).with_salesforce(sessions, rest).with_inbound(inbound);
    lambda_http::run(sfbridge_admin_api::router(Arc::new(connector), Arc::new(importer))).await
}
