//! The world of the webhook benchmark, in-process and without sockets: an app context on the
//! in-memory store, a local cipher and in-memory queues; one tenant whose connection record is
//! written straight into the store (no OAuth flow: the receiver only reads the org id from it)
//! and whose webhook secret is created by the same code the admin API runs.

use std::sync::Arc;

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request};
use axum::Router;
use sfbridge_core::domain::{HostPolicy, InstanceUrl, LoginHost, SalesforceId, TenantId};
use sfbridge_inbound::auth;
use sfbridge_core::queue::MemoryQueue;
use sfbridge_core::store::{ConnectionRecord, ConnectionStatus};
use sfbridge_local::Wiring;

pub const TENANT: &str = "bench_team";
/// The connected org (its 15-character id); envelopes carry the 18-character form, as Salesforce
/// sends it.
pub const ORG15: &str = "00D5g000004ABCD";
const USER15: &str = "0055g00000AdmnU";

pub struct Bench {
    pub router: Router,
    /// The in-process inbound queue the receiver publishes to; the bench drains it.
    pub inbound: MemoryQueue,
    /// The tenant's webhook secret, presented in `x-salesforce-webhook-secret`.
    secret: String,
    /// The org id as an envelope carries it (18 characters).
    pub org18: String,
    path: String,
}

impl Bench {
    pub async fn start() -> anyhow::Result<Self> {
        // Port 1: nothing here makes an outbound call; the URL only has to parse.
        let config = sfbridge_local::local_config("http://127.0.0.1:1", "bench-admin-token-0123456789", None)?;
        let (ctx, memory) = Wiring::in_memory(config)?;
        let ctx = Arc::new(ctx);

        let tenant = TenantId::parse(TENANT)?;
        let org = SalesforceId::parse(ORG15)?;
        let now = ctx.clock.now();
        let connection = ConnectionRecord {
            status: ConnectionStatus::Connected,
            organization_id: org.clone(),
            user_id: SalesforceId::parse(USER15)?,
            username: Some("bench.admin@example.com".to_owned()),
            display_name: Some("Bench Admin".to_owned()),
            instance_url: InstanceUrl::parse("https://bench.my.salesforce.com", HostPolicy::STRICT)?,
            login_host: LoginHost::parse("https://login.salesforce.com", HostPolicy::STRICT)?,
            refresh_token: None,
            access_token: None,
            access_token_issued_at: None,
            access_token_expires_at: None,
            scopes: vec!["api".to_owned(), "refresh_token".to_owned()],
            connected_at: now,
            updated_at: now,
            version: 1,
            refresh_lease_until: None,
        };
        ctx.store.save_connection(&tenant, &connection, None).await.context("saving the tenant's connection")?;
        let created =
            sfbridge_connect::create_webhook_secret(&ctx.connector, &tenant).await.context("creating the webhook secret")?;

        Ok(Self {
            router: sfbridge_webhook_receiver::router(ctx.receiver.clone()),
            inbound: memory.inbound,
            secret: created.secret.expose_secret().to_owned(),
            org18: org.as_str().to_owned(),
            path: format!("/webhooks/salesforce/{TENANT}"),
        })
    }

    /// An Outbound Message POST with the tenant's secret, as the router receives it.
    pub fn request(&self, body: Bytes) -> anyhow::Result<Request<Body>> {
        Ok(Request::builder()
            .method(Method::POST)
            .uri(&self.path)
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", "\"\"")
            .header(auth::SECRET_HEADERS[0], &self.secret)
            .body(Body::from(body))?)
    }
}
