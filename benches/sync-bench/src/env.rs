//! One scenario's world: a fresh simulated org with the contacts, a fresh app (in-memory store,
//! cipher and queues, the admin API and OAuth callback served on loopback), and one tenant
//! connected through the OAuth popup flow with the campaign enabled, as the e2e tests wire it.

use std::sync::Arc;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use salesforce_sim::{FieldKind, FieldSpec, SalesforceSim, SimApp, SimConfig};
use serde_json::json;
use sfbridge_core::domain::{FlowId, TenantId};
use sfbridge_core::queue::MemoryQueue;
use sfbridge_local::Wiring;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::Admin;

pub const TENANT: &str = "bench_team";
pub const CAMPAIGN: &str = "cmp_bench";
pub const CAMPAIGN_NAME: &str = "Q1 Outreach";
/// The Contact fields the bench tenant maps its last open and click counter to.
pub const LAST_OPENED: &str = "Last_Email_Opened__c";
pub const CLICKS: &str = "Total_Clicks__c";

/// The email of contact `i`.
pub fn contact_email(i: usize) -> String {
    format!("person{i}@example.com")
}

pub struct Env {
    pub sim: SalesforceSim,
    pub ctx: Arc<Wiring>,
    pub tenant: TenantId,
    pub activity_queue: MemoryQueue,
    pub dead_letter_queue: MemoryQueue,
    /// Where the admin API listens, and its token.
    pub base_url: String,
    pub admin_token: String,
    server: JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Env {
    /// Everything set up and connected; the simulator's latency is still zero (set it after).
    pub async fn start(contacts: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the app's loopback port")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let admin_token = format!("bench-admin-{}", FlowId::random());
        let config = sfbridge_local::local_config(&base_url, &admin_token, None)?;
        let redirect_uri = config.redirect_uri();
        let (ctx, memory) = Wiring::in_memory(config)?;
        let ctx = Arc::new(ctx);
        let (activity_queue, dead_letter_queue) = (memory.activity, memory.dead_letter);
        let server = sfbridge_local::serve(listener, ctx.clone());

        let sim = SalesforceSim::start(SimConfig { auto_approve: true, ..SimConfig::default() })
            .await
            .context("starting the Salesforce simulator")?;
        let consumer_key = format!("3MVG9bench.key.{}", FlowId::random());
        let consumer_secret = format!("bench-secret-{}", FlowId::random());
        sim.add_app(SimApp::new(&consumer_key, &consumer_secret, &redirect_uri));
        for i in 0..contacts {
            sim.insert_contact(&contact_email(i), "Person", &format!("Number{i}"));
        }
        // The fields a product maps: opens and clicks then update the contact as well.
        sim.add_custom_field("Contact", LAST_OPENED, FieldSpec::new(FieldKind::DateTime));
        sim.add_custom_field("Contact", CLICKS, FieldSpec::new(FieldKind::Double));

        let tenant = TenantId::parse(TENANT)?;
        let env = Self {
            sim,
            ctx,
            tenant,
            activity_queue,
            dead_letter_queue,
            base_url: base_url.clone(),
            admin_token: admin_token.clone(),
            server,
        };
        let admin = Admin::new(base_url, admin_token, TENANT);
        admin.connect(&consumer_key, &consumer_secret, &env.sim.base_url()).await?;
        admin
            .call(Method::PUT, &format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}"), Some(json!({"enabled": true})), StatusCode::OK)
            .await?;
        let mapping = json!({"field_mapping": {"last_opened_at": LAST_OPENED, "click_count": CLICKS}});
        admin.call(Method::PATCH, &format!("/v1/tenants/{TENANT}/settings"), Some(mapping), StatusCode::OK).await?;
        Ok(env)
    }
}
