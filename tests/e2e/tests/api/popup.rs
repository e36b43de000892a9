//! The popup's pages and the connect helper as a product's page meets them: the helper's type,
//! caching and integrity; a connect link opened again answering with its flow's real outcome; the
//! message each page posts agreeing with `GET /oauth/flows/{id}`; the demo page's framing and the
//! favicon. (The same in a real browser: tests/browser.)

use base64::Engine as _;
use chrono::Duration;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha384};

use crate::helpers::{new_browser, spawn_app, Backend, TestApp};

/// A page of the popup: its status, its HTML, the message it holds for the opener, and whether
/// it posts that message.
struct PopupPage {
    status: StatusCode,
    html: String,
    message: Value,
    announced: bool,
}

async fn popup_page(browser: &reqwest::Client, url: &str) -> PopupPage {
    let response = browser.get(url).send().await.unwrap();
    let status = response.status();
    let html = response.text().await.unwrap();
    let open = r#"<script type="application/json" id="sfbridge-result">"#;
    let start = html.find(open).expect("the page holds its message") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let message = serde_json::from_str(&html[start..end]).unwrap();
    let announced = html.contains("var announce = true;");
    PopupPage {
        status,
        html,
        message,
        announced,
    }
}

/// Runs a flow in `app.browser` up to the callback page, and returns the flow id, the connect
/// link and that page.
async fn finish_flow(app: &TestApp, tenant: &str) -> (String, String, PopupPage) {
    let (flow_id, connect_url) = app.begin_connect(tenant).await;
    let authorize_url = app.open_connect_url(&app.browser, &connect_url).await;
    let callback_url = app.authorize(&app.browser, &authorize_url).await;
    let page = popup_page(&app.browser, &callback_url).await;
    (flow_id, connect_url, page)
}

#[tokio::test]
async fn the_connect_helper_is_a_cacheable_cors_module_whose_etag_is_its_integrity() {
    let app = spawn_app(Backend::Memory).await;
    let response = app
        .api
        .get(app.url("/oauth/connect.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert_eq!(
        headers["access-control-allow-origin"], "*",
        "a module from another origin needs CORS"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("set-cookie").is_none());
    let integrity = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&body))
    );
    let etag = headers[ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{integrity}\""));
    let source = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        source.contains("export function connect(") && source.contains("export class ConnectError")
    );
    assert!(
        !source
            .lines()
            .any(|line| line.trim_start().starts_with("import ")),
        "dependency-free"
    );

    // Revalidation: unchanged (strong or weak comparison, or in a list) is a 304 without a body.
    for presented in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let again = app
            .api
            .get(app.url("/oauth/connect.js"))
            .header(IF_NONE_MATCH, &presented)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{presented}");
        assert_eq!(again.headers()[ETAG], etag.as_str());
        assert_eq!(again.headers()["cache-control"], "public, max-age=3600");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let changed = app
        .api
        .get(app.url("/oauth/connect.js"))
        .header(IF_NONE_MATCH, "\"sha384-older\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.bytes().await.unwrap(), body);
}

#[tokio::test]
async fn a_link_opened_again_after_success_answers_connected_and_posts_no_error() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (flow_id, connect_url, first) = finish_flow(&app, "t1").await;
    assert_eq!(first.status, StatusCode::OK);

    for browser in [&app.browser, &new_browser()] {
        let again = popup_page(browser, &connect_url).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.html);
        assert!(
            again
                .html
                .contains("already used, and it connected Salesforce"),
            "{}",
            again.html
        );
        assert!(!again.html.contains("Could not connect"));
        assert!(again.announced);
        assert_eq!(again.message["type"], "salesforce.connected");
        assert_eq!(again.message["status"], "connected");
        assert_eq!(again.message["flow_id"], flow_id.as_str());
        assert_eq!(again.message["tenant_id"], "t1");
        assert!(again.message["error"].is_null(), "{}", again.message);
    }
    assert_eq!(app.flow_status(&flow_id).await["status"], "connected");
    assert_eq!(app.token_requests(), 1, "nothing was exchanged again");
    assert_eq!(app.connection("t1").await["status"], "connected");
}

#[tokio::test]
async fn a_link_opened_again_after_failure_says_a_new_link_is_needed() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    app.sim.set_authorize_error(Some((
        "access_denied".into(),
        "end-user denied authorization".into(),
    )));
    let (flow_id, connect_url, denied) = finish_flow(&app, "t1").await;
    assert_eq!(denied.message["error"]["code"], "access_denied");

    let again = popup_page(&new_browser(), &connect_url).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.html.contains("Error code: flow_already_failed"),
        "{}",
        again.html
    );
    assert!(again.announced);
    assert_eq!(again.message["type"], "salesforce.error");
    assert_eq!(again.message["status"], "failed");
    assert_eq!(again.message["tenant_id"], "t1");
    assert_eq!(again.message["error"]["code"], "flow_already_failed");
    let said = again.message["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("already used") && said.contains("a new one is needed"),
        "{said}"
    );
    assert!(
        said.contains("Access was not allowed"),
        "it names the earlier outcome: {said}"
    );

    let flow = app.flow_status(&flow_id).await;
    assert_eq!(
        (flow["status"].as_str(), flow["error"]["code"].as_str()),
        (Some("failed"), Some("access_denied")),
        "{flow}"
    );
    assert_eq!(app.token_requests(), 0);
}

/// The statuses a message and `GET /oauth/flows/{id}` report, at each step of several flows.
#[tokio::test]
async fn the_message_and_the_flow_status_say_the_same() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let agree = |page: &PopupPage, flow: &Value, status: &str| {
        assert_eq!(page.message["status"], status, "{}", page.message);
        assert_eq!(flow["status"], status, "{flow}");
        assert_eq!(
            page.message["error"]["code"], flow["error"]["code"],
            "{} / {flow}",
            page.message
        );
    };

    // Connected.
    let (flow_id, _, connected) = finish_flow(&app, "t1").await;
    agree(&connected, &app.flow_status(&flow_id).await, "connected");
    assert_eq!(connected.message["type"], "salesforce.connected");

    // Failed at Salesforce: "failed" in both (no longer "error" in the message).
    app.sim.set_authorize_error(Some((
        "access_denied".into(),
        "end-user denied authorization".into(),
    )));
    let (flow_id, _, denied) = finish_flow(&app, "t1").await;
    agree(&denied, &app.flow_status(&flow_id).await, "failed");
    assert_eq!(denied.message["type"], "salesforce.error");
    assert!(denied.announced);
    app.sim.set_authorize_error(None);

    // In use in one browser, opened in another: the flow is still started, and the message says so.
    let (flow_id, connect_url) = app.begin_connect("t1").await;
    app.open_connect_url(&app.browser, &connect_url).await;
    let in_use = popup_page(&new_browser(), &connect_url).await;
    assert_eq!(in_use.message["type"], "salesforce.error");
    assert_eq!(in_use.message["error"]["code"], "flow_already_started");
    assert_eq!(in_use.message["status"], "started");
    assert_eq!(app.flow_status(&flow_id).await["status"], "started");

    // Expired: failed with flow_expired in both, though nothing was written.
    let (flow_id, connect_url) = app.begin_connect("t1").await;
    app.clock.advance(Duration::minutes(11));
    let expired = popup_page(&new_browser(), &connect_url).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    agree(&expired, &app.flow_status(&flow_id).await, "failed");
    assert_eq!(expired.message["error"]["code"], "flow_expired");
}

#[tokio::test]
async fn a_link_whose_credentials_were_cleared_ends_its_flow() {
    let app = spawn_app(Backend::Memory).await;
    app.save_credentials("t1").await;
    let (flow_id, connect_url) = app.begin_connect("t1").await;
    let cleared = app
        .admin(reqwest::Method::DELETE, "/v1/tenants/t1/credentials", None)
        .await;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    let page = popup_page(&new_browser(), &connect_url).await;
    assert_eq!(page.message["error"]["code"], "credentials_missing");
    assert_eq!(page.message["status"], "failed");
    let flow = app.flow_status(&flow_id).await;
    assert_eq!(
        (flow["status"].as_str(), flow["error"]["code"].as_str()),
        (Some("failed"), Some("credentials_missing")),
        "{flow}"
    );
}

#[tokio::test]
async fn an_unknown_link_announces_nothing() {
    let app = spawn_app(Backend::Memory).await;
    let unknown = sfbridge_core::domain::FlowId::random();
    let page = popup_page(
        &new_browser(),
        &app.url(&format!("/oauth/start?flow={unknown}")),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.html.contains("Error code: unknown_flow"));
    assert!(!page.announced, "no flow to speak for");
    assert!(page.message["status"].is_null());
    let polled = app
        .api
        .get(app.url(&format!("/oauth/flows/{unknown}")))
        .send()
        .await
        .unwrap();
    assert_eq!(polled.status(), StatusCode::NOT_FOUND);
    let body: Value = polled.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_flow");
}

#[tokio::test]
async fn the_demo_page_cannot_be_framed_and_the_favicon_needs_no_token() {
    let app = spawn_app(Backend::Memory).await;
    for path in ["/demo", "/demo/demo.js", "/demo/demo.css"] {
        let response = app.api.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
    }
    let demo = app
        .api
        .get(app.url("/demo/demo.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        demo.contains(r#"from "/oauth/connect.js""#),
        "the demo uses the helper"
    );

    let favicon = app.api.get(app.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(favicon.status(), StatusCode::NO_CONTENT);
    assert!(favicon.headers()["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("public"));
    // Other unknown paths still need the admin token (the admin API's fallback).
    let other = app.api.get(app.url("/favicon.png")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}
