//! sfbridge's shared library: everything the Lambda functions and the local stack have in common.
//!
//! - [`domain`]: values that can only be valid (`TenantId`, `LoginHost`, `SalesforceId`, `Email`, ...)
//! - [`secrets`]: types for secrets, `Debug`-redacted
//! - [`config`]: configuration from the environment, read once
//! - [`store`]: the `Store` port over one table (DynamoDB or embedded)
//! - [`cipher`]: the `Cipher` port (KMS or local AES-GCM), bound to an encryption context
//! - [`salesforce`]: the OAuth client for tenants' External Client Apps
//! - [`session`]: a usable access token per tenant, refreshed by exactly one worker at a time
//! - [`connect`]: the logic behind the admin API and the OAuth callback (credentials, connect
//!   flows, connection, audit), independent of HTTP
//! - [`http`]: the JSON error shape and request extractors shared by the HTTP functions
//! - [`queue`]: the `Queue` port (SQS or in-process) that sync commands travel on
//! - [`sync`]: activity sync: sync commands become Tasks and field updates in Salesforce,
//!   exactly once, with a delivery log
//! - [`inbound`]: the webhook receiver's logic: Outbound Messages and JSON callouts become
//!   inbound events on the inbound queue, authenticated and deduplicated
//! - [`metrics`]: CloudWatch metrics as Embedded Metric Format log lines, one per invocation
//! - [`app`]: the handler context, built once per process

pub mod app;
pub mod cipher;
pub mod clock;
pub mod config;
pub mod connect;
pub mod domain;
pub mod http;
pub mod inbound;
pub mod metrics;
pub mod queue;
pub mod salesforce;
pub mod secrets;
pub mod session;
pub mod store;
pub mod sync;
pub mod telemetry;

pub use app::{AppContext, MemoryQueues, Queues};
