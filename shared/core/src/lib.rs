//! sfbridge's bottom layer: what every feature and adapter shares, depending on no other sfbridge
//! crate. The layers above it and the rules between them: `docs/architecture.md`.
//!
//! - [`domain`]: values that can only be valid (`TenantId`, `LoginHost`, `SalesforceId`, `Email`, ...)
//! - [`error`]: causes kept under the features' errors, printed as one chain
//! - [`secrets`]: types for secrets, `Debug`-redacted; digests and constant-time comparison
//! - [`config`]: configuration from the environment, read once
//! - [`clock`]: time as a port
//! - [`store`]: the `Store` port, typed operations over one table (the `Table` port), and the
//!   embedded table
//! - [`cipher`]: the `Cipher` port, bound to an encryption context, and the local AES-GCM cipher
//! - [`queue`]: the `Queue` port and the in-process queue
//! - [`events`]: the inbound event, the inbound queue's message (the webhook receiver's and the
//!   manual trigger queue's)
//! - [`credentials`]: a tenant's External Client App credentials, sealed and opened
//! - [`audit`], [`paging`]: the audit log and the paging every log shares
//! - [`parking`]: commands held while a tenant must reconnect, and their replay
//! - [`metrics`]: CloudWatch metrics as Embedded Metric Format lines, one per invocation
//! - [`telemetry`]: log set-up (JSON lines in Lambda)

pub mod audit;
pub mod cipher;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod error;
pub mod events;
pub mod metrics;
pub mod paging;
pub mod parking;
pub mod queue;
pub mod schema;
pub mod secrets;
pub mod store;
pub mod telemetry;
