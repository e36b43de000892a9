//! One scenario's world: a fresh simulated org with the contacts, a fresh app (in-memory store,
//! cipher and queues, the admin API and OAuth callback served on loopback), and one tenant
//! connected through the OAuth popup flow with the campaign enabled, as the e2e tests wire it.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use reqwest::header::LOCATION;
use reqwest::{Client, Method, Response, StatusCode};
use salesforce_sim::{FieldKind, FieldSpec, SalesforceSim, SimApp, SimConfig};
use serde_json::{json, Value};
use sfbridge_core::domain::{FlowId, TenantId};
use sfbridge_core::queue::MemoryQueue;
use sfbridge_local::Wiring;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

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
        let admin = Admin { base_url, token: admin_token, http: Client::new() };
        admin.connect(&consumer_key, &consumer_secret, &env.sim.base_url()).await?;
        admin
            .call(Method::PUT, &format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}"), Some(json!({"enabled": true})), StatusCode::OK)
            .await?;
        let mapping = json!({"field_mapping": {"last_opened_at": LAST_OPENED, "click_count": CLICKS}});
        admin.call(Method::PATCH, &format!("/v1/tenants/{TENANT}/settings"), Some(mapping), StatusCode::OK).await?;
        Ok(env)
    }
}

/// The product's backend calling the admin API, and an admin's browser for the popup.
struct Admin {
    base_url: String,
    token: String,
    http: Client,
}

impl Admin {
    async fn call(&self, method: Method, path: &str, body: Option<Value>, expected: StatusCode) -> anyhow::Result<Response> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base_url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        expect(request.send().await?, expected, &format!("{method} {path}")).await
    }

    /// Saves the credentials and runs the popup: connect URL, Salesforce (auto-approve), callback.
    async fn connect(&self, consumer_key: &str, consumer_secret: &str, login_url: &str) -> anyhow::Result<()> {
        let credentials = json!({"consumer_key": consumer_key, "consumer_secret": consumer_secret, "login_url": login_url});
        self.call(Method::PUT, &format!("/v1/tenants/{TENANT}/credentials"), Some(credentials), StatusCode::NO_CONTENT)
            .await?;
        let begun: Value =
            self.call(Method::POST, &format!("/v1/tenants/{TENANT}/connect"), None, StatusCode::CREATED).await?.json().await?;
        let Some(connect_url) = begun["connect_url"].as_str() else { bail!("POST /connect answered without a connect_url: {begun}") };

        let browser = Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
        let authorize_url = location(expect(browser.get(connect_url).send().await?, StatusCode::FOUND, "the connect URL").await?)?;
        let callback_url = location(expect(browser.get(&authorize_url).send().await?, StatusCode::FOUND, "authorize").await?)?;
        expect(browser.get(&callback_url).send().await?, StatusCode::OK, "the OAuth callback").await?;

        let view: Value =
            self.call(Method::GET, &format!("/v1/tenants/{TENANT}/connection"), None, StatusCode::OK).await?.json().await?;
        if view["status"] != "connected" {
            bail!("the tenant is not connected after the popup flow: {view}");
        }
        Ok(())
    }
}

async fn expect(response: Response, expected: StatusCode, what: &str) -> anyhow::Result<Response> {
    if response.status() == expected {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    bail!("{what}: expected {expected}, got {status}: {body}")
}

fn location(response: Response) -> anyhow::Result<String> {
    let value = response.headers().get(LOCATION).context("a redirect without a Location header")?;
    Ok(value.to_str()?.to_owned())
}
