//! The AWS adapters of `sfbridge-core`'s ports, and the one place that builds them from the
//! environment. Nothing above this crate names an AWS SDK type except the functions' `main.rs`,
//! which pick these adapters, and the local stack, which may.
//!
//! - [`DynamoTable`]: the `Table` under `Store` (conditional writes, queries, TTL)
//! - [`KmsCipher`]: the `Cipher` (Encrypt/Decrypt with the encryption context)
//! - [`SqsQueue`]: the `Queue` (`SendMessageBatch`, per-entry outcomes)
//! - `secrets_manager` (feature `secrets-manager`): the deployment-wide webhook secret, read once
//!   at start
//!
//! The SDK honours `AWS_ENDPOINT_URL`, so the tests run these adapters against moto on loopback.
//!
//! Every SDK client built from [`sdk_config`] talks through [`http_client`]: rustls on ring, the
//! functions' one crypto provider, with Mozilla's root certificates compiled in.

mod dynamo;
mod kms;
#[cfg(feature = "secrets-manager")]
pub mod secrets_manager;
mod sqs;

use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine as _;

pub use dynamo::DynamoTable;
pub use kms::KmsCipher;
pub use sqs::SqsQueue;

use sfbridge_core::cipher::Cipher;
use sfbridge_core::config::{AwsResources, ConfigError};
use sfbridge_core::queue::Queue;
use sfbridge_core::store::Store;

/// A function's AWS side, read from its environment once at start: the SDK configuration
/// (region, credentials, `AWS_ENDPOINT_URL`) and the table and key it names. The adapters a
/// function builds from it are the ones its IAM policy allows; nothing is built unasked.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub resources: AwsResources,
}

impl Aws {
    /// `SFBRIDGE_TABLE`, `SFBRIDGE_KMS_KEY_ID`, `SFBRIDGE_TLS_NATIVE_ROOTS` and the SDK's own
    /// variables.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let resources = AwsResources::from_env()?;
        Ok(Self { sdk: sdk_config().await?, resources })
    }

    pub fn store(&self) -> Store {
        store(&self.sdk, &self.resources)
    }

    pub fn cipher(&self) -> Arc<dyn Cipher> {
        cipher(&self.sdk, &self.resources)
    }

    pub fn queue(&self, url: &str) -> Arc<dyn Queue> {
        queue(&self.sdk, url)
    }
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`), on
/// [`http_client`] with the roots `SFBRIDGE_TLS_NATIVE_ROOTS` asks for.
///
/// Credentials: in Lambda the execution role's are in `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, which the SDK's default chain would take first
/// anyway. When they are set, only they are read: building the default chain also builds the
/// providers behind them (an STS client with its endpoint tables, IMDS, ECS, profiles), none of
/// which would ever be asked, at every cold start. Without them, the default chain as usual.
pub async fn sdk_config() -> Result<aws_config::SdkConfig, ConfigError> {
    let native_roots = sfbridge_core::config::native_roots_from_env()?;
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client(native_roots));
    let set = |name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let loader = if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    };
    Ok(loader.load().await)
}

/// The HTTP client for the SDK: rustls on ring, trusting Mozilla's root certificates (compiled in,
/// `webpki-root-certs`) and, with `native_roots`, the system's store too.
///
/// Ring because reqwest (Salesforce, OAuth) uses ring: the SDK's default client would link
/// aws-lc-rs as a second provider, the larger of the two. What it costs: no post-quantum key
/// exchange (X25519MLKEM768) with AWS endpoints, which only aws-lc offers; classical ECDHE stays.
///
/// Compiled-in roots because the SDK's default reads and parses the system store when each SDK
/// client is constructed, which was most of a cold start's init. They are Mozilla's set, which is
/// what Amazon Linux's store is made from, so the same endpoints are trusted, from any image and in
/// any environment; they are updated with the crate (`cargo update -p webpki-root-certs`), and a
/// private CA needs `SFBRIDGE_TLS_NATIVE_ROOTS=true`.
///
/// Nothing is set up until the first request: the certificates are turned into a root store then,
/// once per process (the client is shared by all SDK clients of the configuration).
pub fn http_client(native_roots: bool) -> SharedHttpClient {
    SharedHttpClient::new(OnFirstUse { native_roots, client: OnceLock::new() })
}

/// An `HttpClient` that builds the real one on the first request. The SDK's hyper client builds a
/// connector, root store included, in `validate_base_client_config`, that is when an SDK client is
/// constructed ("so that native certs load at client initialization time"); this type leaves that
/// hook at its default (nothing), so a function's init does no TLS work at all.
#[derive(Debug)]
struct OnFirstUse {
    native_roots: bool,
    client: OnceLock<SharedHttpClient>,
}

impl OnFirstUse {
    fn client(&self) -> &SharedHttpClient {
        self.client.get_or_init(|| {
            let trust_store = TrustStore::empty()
                .with_native_roots(self.native_roots)
                .with_pem_certificate(mozilla_roots_pem());
            let tls = TlsContext::builder().with_trust_store(trust_store).build();
            // build() only moves the trust store into the context (aws-smithy-http-client 1.x); were
            // it to fail, the first AWS call panics, which lambda_runtime reports as a function error.
            #[allow(clippy::expect_used)]
            let tls = tls.expect("a TLS context from a trust store");
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .tls_context(tls)
                .build_https()
        })
    }
}

impl HttpClient for OnFirstUse {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
    }
}

/// Mozilla's root certificates as one PEM bundle, the form the SDK's trust store takes.
fn mozilla_roots_pem() -> Vec<u8> {
    let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        pem.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(cert.as_ref()).as_bytes());
        pem.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
    }
    pem
}

/// The store on the table `resources` names.
pub fn store(aws: &aws_config::SdkConfig, resources: &AwsResources) -> Store {
    Store::new(Arc::new(DynamoTable::new(aws_sdk_dynamodb::Client::new(aws), &resources.table_name)))
}

/// The cipher on the key `resources` names.
pub fn cipher(aws: &aws_config::SdkConfig, resources: &AwsResources) -> Arc<dyn Cipher> {
    Arc::new(KmsCipher::new(aws_sdk_kms::Client::new(aws), &resources.kms_key_id))
}

/// The SQS queue at `url`.
pub fn queue(aws: &aws_config::SdkConfig, url: &str) -> Arc<dyn Queue> {
    Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(aws), url.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use base64::Engine as _;

    use super::*;

    fn sqs(endpoint: String) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(endpoint)
            .http_client(http_client(false))
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    #[test]
    fn the_pem_bundle_holds_every_mozilla_root_unchanged() {
        let pem = String::from_utf8(mozilla_roots_pem()).unwrap();
        let decoded: Vec<Vec<u8>> = pem
            .split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|block| {
                let body = block.strip_suffix("\n-----END CERTIFICATE-----\n").unwrap();
                base64::engine::general_purpose::STANDARD.decode(body).unwrap()
            })
            .collect();
        let expected: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|c| c.as_ref()).collect();
        assert!(expected.len() > 100, "Mozilla's set has well over 100 roots");
        assert_eq!(decoded, expected);
    }

    /// Constructing SDK clients does no TLS work: the real client is built by the first request.
    #[tokio::test]
    async fn the_client_is_built_on_the_first_request_and_serves_it() {
        let app = axum::Router::new().fallback(|| async {
            ([("content-type", "application/x-amz-json-1.0")], r#"{"QueueUrls":["http://queue.test/123/q"]}"#)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let http = http_client(false);
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(url)
            .http_client(http.clone())
            .build();
        let client = aws_sdk_sqs::Client::from_conf(config);
        let first_use = |http: &SharedHttpClient| format!("{http:?}").contains("OnceLock(<uninit>)");
        assert!(first_use(&http), "constructing an SDK client built the HTTP client: {http:?}");

        let queues = client.list_queues().send().await.unwrap();
        assert_eq!(queues.queue_urls(), ["http://queue.test/123/q"]);
        assert!(!first_use(&http), "the request did not go through this client: {http:?}");
    }

    /// Over https the trust store is built from the PEM bundle (the SDK panics on a certificate it
    /// cannot parse): a server that hangs up during the handshake gives an error, not a panic.
    #[tokio::test]
    async fn an_https_call_builds_the_root_store_and_fails_cleanly_without_a_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let err = sqs(format!("https://127.0.0.1:{port}")).list_queues().send().await.unwrap_err();
        let err = aws_sdk_sqs::error::DisplayErrorContext(&err).to_string();
        assert!(err.contains("dispatch failure") || err.contains("io error") || err.contains("connection"), "{err}");
    }
}
