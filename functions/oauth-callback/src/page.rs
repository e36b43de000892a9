//! The small HTML page that ends the popup. It says what happened, posts
//! `{source, type, flow_id, tenant_id, status}` to the opener at the configured exact origin
//! (never `*`), and closes itself; with no opener it stays and shows the result.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use sfbridge_core::config::Config;
use sfbridge_connect::CallbackResult;

pub(crate) fn binding_cookie(config: &Config, name: &str, value: &str, max_age: i64) -> String {
    let secure = if config.secure_cookies() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

pub(crate) fn render(config: &Config, result: &CallbackResult, clear_cookie: Option<&str>) -> Response {
    let nonce = sfbridge_core::domain::FlowId::random().to_string();
    let (status, title, body) = match &result.outcome {
        Ok(connected) => (
            StatusCode::OK,
            "Connected to Salesforce",
            format!(
                "<p>Salesforce org <b>{}</b> is connected{}.</p><p>You can close this window.</p>",
                escape(connected.organization_id.as_str()),
                connected.username.as_deref().map(|u| format!(" as {}", escape(u))).unwrap_or_default(),
            ),
        ),
        Err(failure) => (
            if failure.is_internal() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::BAD_REQUEST },
            "Could not connect to Salesforce",
            format!(
                "<p>{}</p><p class=\"code\">Error code: {}</p>",
                escape(&failure.message),
                escape(&failure.code)
            ),
        ),
    };
    let message = json!({
        "source": "sfbridge",
        "type": if result.outcome.is_ok() { "salesforce.connected" } else { "salesforce.error" },
        "flow_id": result.flow_id,
        "tenant_id": result.tenant_id,
        "status": if result.outcome.is_ok() { "connected" } else { "error" },
        "error": result.outcome.as_ref().err().map(|f| json!({"code": f.code, "message": f.message})),
    });
    // Only a flow we recognised is announced to the opener; a stray request just shows its page.
    let announce = result.flow_id.is_some();
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
  var message = JSON.parse(document.getElementById("sfbridge-result").textContent);
  if (announce && window.opener && !window.opener.closed) {{
    // One postMessage per allowed origin: the browser delivers it only to the one the opener
    // is on, and drops the others.
    {origins}.forEach(function (origin) {{
      try {{ window.opener.postMessage(message, origin); }} catch (e) {{}}
    }});
    setTimeout(function () {{ window.close(); }}, 400);
  }}
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
