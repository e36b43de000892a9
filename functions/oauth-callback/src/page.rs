//! The small HTML page that ends the popup. It says what happened and, when it concerns a flow it
//! recognised and a window opened it, posts
//! `{source, type, flow_id, tenant_id, status, error}` to the opener at each configured app origin
//! (never `*`). `status` is the flow's, in the words of `GET /oauth/flows/{id}`. On success it
//! closes itself. On an error it stays, so the person can read it, until they close it or the
//! opener acknowledges that it shows the error (`{source: "sfbridge", type: "salesforce.ack",
//! flow_id}`, from the opener, at one of those origins). With no opener it stays and shows the
//! result.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use sfbridge_connect::{CallbackResult, Outcome};
use sfbridge_core::config::Config;

pub(crate) fn binding_cookie(config: &Config, name: &str, value: &str, max_age: i64) -> String {
    let secure = if config.secure_cookies() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

pub(crate) fn render(config: &Config, result: &CallbackResult, clear_cookie: Option<&str>) -> Response {
    let nonce = sfbridge_core::domain::FlowId::random().to_string();
    let (status, title, body) = match &result.outcome {
        Outcome::Connected(connected) => (
            StatusCode::OK,
            "Connected to Salesforce",
            format!(
                "<p>Salesforce org <b>{}</b> is connected{}.</p><p>You can close this window.</p>",
                escape(connected.organization_id.as_str()),
                connected.username.as_deref().map(|u| format!(" as {}", escape(u))).unwrap_or_default(),
            ),
        ),
        Outcome::AlreadyConnected => (
            StatusCode::OK,
            "Connected to Salesforce",
            "<p>This connect link was already used, and it connected Salesforce. There is nothing more to do.</p>\
             <p>You can close this window.</p>"
                .to_owned(),
        ),
        Outcome::Failed(failure) => (
            if failure.is_internal() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::BAD_REQUEST },
            "Could not connect to Salesforce",
            format!(
                "<p>{}</p><p class=\"code\">Error code: {}</p>",
                escape(&failure.message),
                escape(&failure.code)
            ),
        ),
    };
    let failure = match &result.outcome {
        Outcome::Failed(failure) => Some(failure),
        Outcome::Connected(_) | Outcome::AlreadyConnected => None,
    };
    let message = json!({
        "source": "sfbridge",
        "type": if failure.is_none() { "salesforce.connected" } else { "salesforce.error" },
        "flow_id": result.flow_id,
        "tenant_id": result.tenant_id,
        "status": result.status,
        "error": failure.map(|f| json!({"code": f.code, "message": f.message})),
    });
    // Only a flow whose status we know is announced to the opener; a stray request just shows its page.
    let announce = result.flow_id.is_some() && result.status.is_some();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style nonce="{nonce}">body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}}h1{{font-size:1.3rem}}.code{{color:#666;font-size:.85rem}}</style>
</head><body>
<h1 id="sfbridge-title">{title}</h1>
{body}
<script type="application/json" id="sfbridge-result">{message}</script>
<script nonce="{nonce}">
(function () {{
  var announce = {announce};
  var origins = {origins};
  var message = JSON.parse(document.getElementById("sfbridge-result").textContent);
  var opener = window.opener;
  if (!announce || !opener || opener.closed) return;
  // One postMessage per allowed origin: the browser delivers it only to the one the opener
  // is on, and drops the others.
  origins.forEach(function (origin) {{
    try {{ window.opener.postMessage(message, origin); }} catch (e) {{}}
  }});
  if (message.type === "salesforce.connected") {{
    setTimeout(function () {{ window.close(); }}, 400);
    return;
  }}
  // An error stays readable here until the person closes the window, or until the opener says
  // it now shows the error itself: only the opener, from an allowed origin, for this flow.
  window.addEventListener("message", function (event) {{
    if (event.source !== opener || origins.indexOf(event.origin) < 0) return;
    var ack = event.data || {{}};
    if (ack.source === "sfbridge" && ack.type === "salesforce.ack" && ack.flow_id === message.flow_id) window.close();
  }});
}})();
</script>
</body></html>"#,
        message = script_safe_json(&message),
        origins = script_safe_json(&json!(config.app_origins.iter().collect::<Vec<_>>())),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Some(name) = clear_cookie {
        if let Ok(cookie) = HeaderValue::from_str(&binding_cookie(config, name, "", 0)) {
            headers.insert(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// HTML text escaping for the five significant characters (our messages are plain text; a
/// template engine would be more than this page needs): quick-xml's `&`, `<`, `>`, `"`, `'`
/// (and CR as `&#13;`), with `'` written `&#39;`, which HTML 4 also knows (`&apos;` is only
/// XML and HTML5). `&apos;` can only have come from a `'`: a literal one in `text` is now `&amp;apos;`.
fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).replace("&apos;", "&#39;")
}

/// JSON that can sit inside a `<script>` element: no `<`, `>` or `&` can end or confuse it.
fn script_safe_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_element() {
        let s = script_safe_json(&json!({"m": "</script><script>alert(1)</script>"}));
        assert!(!s.contains("</script>"));
        assert_eq!(escape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
    }
}
