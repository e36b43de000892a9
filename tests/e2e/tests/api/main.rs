//! End-to-end tests: the local stack on a random port, driven over HTTP like the product's
//! backend and an admin's browser would, against the Salesforce simulator. Storage runs both
//! embedded and on DynamoDB + KMS in moto (`AWS_ENDPOINT_URL`, started by infra/scripts/test.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_api;
mod backoff;
mod client_credentials;
mod connect_flow;
mod dead_letters;
mod errors;
mod fairness;
mod global_secret;
mod health;
mod helpers;
mod import;
mod local_activity;
mod outage;
mod popup;
mod local_on_moto;
mod metrics;
mod negative;
mod openapi;
mod push;
mod push_faults;
mod queue;
mod session;
mod settings;
mod storage;
mod sync;
mod sync_faults;
mod test_fields;
mod triggers;
mod webhooks;
mod webhook_settings;
