//! The HTML a browser sees at the simulated login host: the consent page and error pages.
//!
//! Plain HTML forms, no JavaScript, so they work in any browser (and in a test's HTTP client).
//! Every value shown is HTML-escaped: client ids, scopes and states come from the request.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::oauth::DECISION_PATH;

/// What the consent page shows.
pub(crate) struct Consent<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) username: &'a str,
    pub(crate) display_name: &'a str,
    pub(crate) scopes: &'a [String],
}

/// "Allow access?" with Approve and Deny buttons, each a form posting the pending request's id.
pub(crate) fn consent(consent: &Consent<'_>) -> Response {
    let scopes: String =
        consent.scopes.iter().map(|s| format!("<li><code>{}</code></li>", escape(s))).collect::<Vec<_>>().join("");
    let request_id = escape(consent.request_id);
    let body = format!(
        r#"<h1>Allow access?</h1>
<p>You are logged in as <strong>{display_name}</strong> (<span id="username">{username}</span>).</p>
<p>The app <strong id="client-id">{client_id}</strong> is asking to:</p>
<ul id="scopes">{scopes}</ul>
<form method="post" action="{action}">
<input type="hidden" name="request_id" value="{request_id}">
<input type="hidden" name="decision" value="approve">
<button type="submit" id="approve">Allow</button>
</form>
<form method="post" action="{action}">
<input type="hidden" name="request_id" value="{request_id}">
<input type="hidden" name="decision" value="deny">
<button type="submit" id="deny">Deny</button>
</form>"#,
        display_name = escape(consent.display_name),
        username = escape(consent.username),
        client_id = escape(consent.client_id),
        action = DECISION_PATH,
    );
    html(StatusCode::OK, "Allow Access | Salesforce (simulated)", &body)
}

/// The page Salesforce shows instead of redirecting when it cannot trust the redirect URI
/// (unknown client, missing or unregistered `redirect_uri`): the flow stops here.
pub(crate) fn authorization_error(error: &str, description: &str) -> Response {
    let body = format!(
        r#"<h1>Remote Access Authorization Error</h1>
<p>There was a problem in setting up your remote access.</p>
<p id="error"><code>error={error}&amp;error_description={description}</code></p>"#,
        error = escape(error),
        description = escape(description),
    );
    html(StatusCode::BAD_REQUEST, "Remote Access Authorization Error", &body)
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        escape(title)
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
