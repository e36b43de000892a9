//! Records every request in memory, before its handler runs, so tests can assert what was sent.
//!
//! Only the method and path reach `tracing` (at debug): queries, forms and headers carry codes,
//! tokens, secrets and verifiers.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::Sim;

/// Request bodies larger than this are refused with 413.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// One request as the simulator received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Decoded `application/x-www-form-urlencoded` body parameters, in order (empty for other
    /// bodies).
    pub form: Vec<(String, String)>,
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
}

impl RecordedRequest {
    /// The first value of `name` in the form body, else in the query.
    pub fn param(&self, name: &str) -> Option<&str> {
        first(&self.form, name).or_else(|| first(&self.query, name))
    }
}

/// The middleware: buffer the body, record, hand the request on unchanged.
pub(crate) async fn record(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    tracing::debug!(method = %parts.method, path = parts.uri.path(), "salesforce-sim request");
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parse_pairs(parts.uri.query().unwrap_or_default().as_bytes()),
        form: form_params(&parts.headers, &bytes),
        authorization: parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    sim.lock().requests.push(recorded);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The body's form parameters: parsed when the content type is form-urlencoded or absent.
pub(crate) fn form_params(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let is_form = match headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        None => true,
        Some(Ok(content_type)) => content_type
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")),
        Some(Err(_)) => false,
    };
    if is_form {
        parse_pairs(body)
    } else {
        Vec::new()
    }
}

/// Decodes `a=1&b=2` (query string or form body).
pub(crate) fn parse_pairs(input: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(input).into_owned().collect()
}

/// The first value of `name`.
pub(crate) fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
