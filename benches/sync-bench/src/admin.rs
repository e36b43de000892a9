//! The product's backend in the benchmarks: admin API calls with the admin token, and the connect
//! popup (connect URL, the simulator's authorize page with auto-approve, the OAuth callback) as an
//! admin's browser runs it. Shared by `sync-bench` and `import-bench` (`#[path]`).

use anyhow::{bail, Context as _};
use reqwest::header::LOCATION;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

/// The product's backend calling the admin API, and an admin's browser for the popup.
pub(crate) struct Admin {
    base_url: String,
    token: String,
    /// The tenant the popup connects.
    tenant: String,
    http: Client,
}

impl Admin {
    pub(crate) fn new(base_url: String, token: String, tenant: &str) -> Self {
        Self { base_url, token, tenant: tenant.to_owned(), http: Client::new() }
    }

    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>, expected: StatusCode) -> anyhow::Result<Response> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base_url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        expect(request.send().await?, expected, &format!("{method} {path}")).await
    }

    /// Saves the credentials and runs the popup: connect URL, Salesforce (auto-approve), callback.
    pub(crate) async fn connect(&self, consumer_key: &str, consumer_secret: &str, login_url: &str) -> anyhow::Result<()> {
        let credentials = json!({"consumer_key": consumer_key, "consumer_secret": consumer_secret, "login_url": login_url});
        self.call(Method::PUT, &format!("/v1/tenants/{}/credentials", self.tenant), Some(credentials), StatusCode::NO_CONTENT)
            .await?;
        let begun: Value =
            self.call(Method::POST, &format!("/v1/tenants/{}/connect", self.tenant), None, StatusCode::CREATED).await?.json().await?;
        let Some(connect_url) = begun["connect_url"].as_str() else { bail!("POST /connect answered without a connect_url: {begun}") };

        let browser = Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
        let authorize_url = location(expect(browser.get(connect_url).send().await?, StatusCode::FOUND, "the connect URL").await?)?;
        let callback_url = location(expect(browser.get(&authorize_url).send().await?, StatusCode::FOUND, "authorize").await?)?;
        expect(browser.get(&callback_url).send().await?, StatusCode::OK, "the OAuth callback").await?;

        let view: Value =
            self.call(Method::GET, &format!("/v1/tenants/{}/connection", self.tenant), None, StatusCode::OK).await?.json().await?;
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
