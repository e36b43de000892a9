//! What the REST and Composite tests share: a simulator with a client-credentials app, its
//! access token, and calls under `/services/data/{VERSION}`.

#![allow(dead_code)] // each test binary uses its own part

use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use salesforce_sim::{SalesforceSim, SimApp, SimConfig};
use serde_json::Value;

pub const CLIENT_ID: &str = "3MVG9sim.rest.client_id";
pub const SECRET: &str = "SIMTEST-rest-secret-0123456789";
pub const VERSION: &str = "v66.0";

/// A running simulator, an access token and a client.
pub struct Org {
    pub sim: SalesforceSim,
    pub token: String,
    pub client: Client,
}

/// What a call got back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn limit_info(&self) -> Option<&str> {
        self.headers.get("sforce-limit-info").and_then(|v| v.to_str().ok())
    }

    /// The `compositeResponse` entries of a Composite answer.
    pub fn entries(&self) -> Vec<Value> {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        self.json()["compositeResponse"].as_array().unwrap_or_else(|| panic!("{}", self.text)).clone()
    }
}

impl Org {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// An org whose clock stands at `at` from the start (its token is issued then).
    pub async fn start_at(at: std::time::SystemTime) -> Self {
        Self::start_with(|sim| sim.set_time(at)).await
    }

    async fn start_with(prepare: impl FnOnce(&SalesforceSim)) -> Self {
        let sim = SalesforceSim::start(SimConfig::default()).await.unwrap();
        let mut app = SimApp::new(CLIENT_ID, SECRET, "https://app.example.com/cb");
        app.client_credentials_enabled = true;
        sim.add_app(app);
        prepare(&sim);
        let client = Client::new();
        let token = login(&client, &sim).await;
        Self { sim, token, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/services/data/{VERSION}{path}", self.sim.base_url())
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.try_call(&self.client, method, path, body).await.unwrap()
    }

    /// A call with this org's client that may fail below HTTP (faults).
    pub async fn try_send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Result<Reply> {
        self.try_call(&self.client, method, path, body).await
    }

    pub async fn try_call(&self, client: &Client, method: Method, path: &str, body: Option<Value>) -> reqwest::Result<Reply> {
        self.send(client.request(method, self.url(path)).bearer_auth(&self.token), body).await
    }

    /// A call under `/services/data/{VERSION}` with extra headers.
    pub async fn call_with(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request, body).await.unwrap()
    }

    /// A call to any path of the instance (`/services/apexrest/…`), with this org's token.
    pub async fn call_path(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        let mut request =
            self.client.request(method, format!("{}{path}", self.sim.base_url())).bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        Reply { status, headers, text: response.text().await.unwrap() }
    }

    async fn send(&self, mut request: reqwest::RequestBuilder, body: Option<Value>) -> reqwest::Result<Reply> {
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let (status, headers) = (response.status(), response.headers().clone());
        Ok(Reply { status, headers, text: response.text().await? })
    }

    pub async fn query(&self, soql: &str) -> Reply {
        self.call(Method::GET, &format!("/query?q={}", encode(soql)), None).await
    }

    pub async fn query_all(&self, soql: &str) -> Reply {
        self.call(Method::GET, &format!("/queryAll?q={}", encode(soql)), None).await
    }

    /// `GET` a path the API handed out (`nextRecordsUrl`), relative to the instance.
    pub async fn get(&self, path: &str) -> Reply {
        self.call_path(Method::GET, path, &[], None).await
    }

    /// A new access token, after the simulator's clock jumped past the session timeout.
    pub async fn log_in_again(&mut self) {
        self.token = login(&self.client, &self.sim).await;
    }

    pub async fn composite(&self, body: Value) -> Reply {
        self.call(Method::POST, "/composite", Some(body)).await
    }
}

/// `grant_type=client_credentials`: an access token for the org's user.
pub async fn login(client: &Client, sim: &SalesforceSim) -> String {
    let form = [("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", SECRET)];
    let response = client.post(format!("{}/services/oauth2/token", sim.base_url())).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A query parameter value, form-encoded (`+` for spaces).
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
