//! What every REST call goes through before its handler, in this order:
//!
//! 1. It is counted ([`crate::SalesforceSim::rest_calls`], and by route,
//!    [`crate::SalesforceSim::route_calls`]) and delayed by the configured latency.
//! 2. The edge's limits: a URI longer than 16,384 bytes gets 414, URI plus headers longer than
//!    that 431 (salesforce.md §5.3, §6). An unknown version or resource gets 404, token or not.
//! 3. A fault may be drawn ([`crate::Faults`]): 503 HTML, reset, timeout before anything else;
//!    401 and 403 after authentication; a lost response after the handler ran.
//! 4. The bearer token must be a live access token the simulator issued (not revoked, not unused
//!    for longer than the session timeout, `state.rs`): 401 `INVALID_SESSION_ID` otherwise. The
//!    call uses the session, restarting its timeout.
//! 5. The daily request limit: 403 `REQUEST_LIMIT_EXCEEDED` (`TotalRequests Limit exceeded.`)
//!    once used up; otherwise the call counts one.
//! 6. The handler runs with the [`Session`] in the request's extensions. Every response gets
//!    `Sforce-Limit-Info: api-usage=USED/MAX`, except the edge's HTML pages (414, 431, 503); axum's
//!    bare 405 gets Salesforce's JSON body.
//!
//! `GET /services/data/` (the version list) skips all of this except recording, as it does not
//! count toward the limit in Salesforce either. Tokens are never logged.
//!
//! Apex REST (`/services/apexrest/…`, `apex.rs`) passes the same gate, since its calls need the
//! same token and count against the same limit ("Introduction to Apex REST"), except that any path
//! reaches its handler (which answers an unmapped one) and its responses carry no
//! `Sforce-Limit-Info`.

use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{error, not_found, Session};
use crate::apex::APEX_PREFIX;
use crate::connection::Connection;
use crate::faults::Fault;
use crate::identity::{bearer_token, invalid_session};
use crate::state::Sim;

/// Salesforce's limit on the URI, and on URI plus headers (salesforce.md §5.3).
pub(crate) const MAX_URI_BYTES: usize = 16_384;

const LIMIT_INFO: HeaderName = HeaderName::from_static("sforce-limit-info");

/// Which API a gated request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// `/services/data/vNN.N/…`; whether the version is well-formed.
    Data { version_ok: bool },
    /// `/services/apexrest/…`.
    Apex,
}

pub(crate) async fn gate(State(sim): State<Arc<Sim>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let api = if let Some(rest) = path.strip_prefix("/services/data/") {
        let version = rest.split('/').next().unwrap_or_default();
        if version.is_empty() {
            return next.run(request).await; // the version list
        }
        Api::Data { version_ok: is_version(version) }
    } else if path.strip_prefix(APEX_PREFIX).is_some_and(|rest| rest.starts_with('/')) {
        Api::Apex
    } else {
        return next.run(request).await;
    };
    let headers = |sim: &Sim, response: Response| match api {
        Api::Data { .. } => with_limit_info(sim, response),
        Api::Apex => with_date(sim, response),
    };

    let latency = {
        let mut state = sim.lock();
        state.api.calls += 1;
        if let Some(template) = request.extensions().get::<MatchedPath>() {
            let key = (request.method().to_string(), super::route_of(template.as_str()).to_owned());
            *state.api.route_calls.entry(key).or_default() += 1;
        }
        state.api.latency
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let uri_bytes = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return edge_page(
            StatusCode::URI_TOO_LONG,
            "414 Request-URI Too Large",
            "The request URI is longer than 16,384 bytes.",
        );
    }
    let header_bytes: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if uri_bytes + header_bytes > MAX_URI_BYTES {
        return edge_page(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "431 Request Header Fields Too Large",
            "The request URI and headers are longer than 16,384 bytes.",
        );
    }
    // An unknown resource is 404 whoever asks (routing happened before this layer runs).
    let known = request.extensions().get::<MatchedPath>().is_some();
    if api == (Api::Data { version_ok: false }) || !known {
        return headers(&sim, not_found().into_response());
    }

    let connection = request.extensions().get::<ConnectInfo<Connection>>().map(|info| info.0.clone());
    let fault = sim.lock().api.faults.draw();
    match fault {
        Some(Fault::ServiceUnavailable) => return service_unavailable(),
        Some(Fault::Reset) => return cut(connection.as_ref(), Connection::reset),
        Some(Fault::Timeout) => {
            let hang = sim.lock().api.faults.hang;
            tokio::time::sleep(hang).await;
            return cut(connection.as_ref(), Connection::close);
        }
        _ => {}
    }

    let session = {
        let mut state = sim.lock();
        bearer_token(request.headers())
            .and_then(|token| state.use_session(&token).map(|family| Session { user_id: family.login.user_id.clone() }))
    };
    let Some(session) = session else {
        let response = invalid_session(&mut sim.lock());
        return headers(&sim, response);
    };
    match fault {
        Some(Fault::InvalidSession) => {
            let response = invalid_session(&mut sim.lock());
            return headers(&sim, response);
        }
        Some(Fault::RequestLimit) => {
            let response =
                error(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.");
            return headers(&sim, response.into_response());
        }
        _ => {}
    }
    let exhausted = {
        let mut state = sim.lock();
        let exhausted = state.api.used >= state.api.max;
        if !exhausted {
            state.api.used += 1;
        }
        exhausted
    };
    if exhausted {
        let response = error(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
        return headers(&sim, response.into_response());
    }

    request.extensions_mut().insert(session);
    // Only looked into while forced losses are pending: reading a Composite body costs time.
    let pending = sim.lock().api.faults.forced_lost_writes > 0;
    let (request, writes) = if pending { writes(request).await } else { (request, false) };
    let forced = writes && sim.lock().api.faults.take_forced_lost_write();
    let response = next.run(request).await;
    if forced || fault == Some(Fault::LostResponse) {
        return cut(connection.as_ref(), Connection::close);
    }
    match api {
        Api::Data { .. } => with_limit_info(&sim, json_405(response)),
        Api::Apex => with_date(&sim, response),
    }
}

/// Whether a call writes (for forced lost answers): any method but GET, except a Composite
/// call whose subrequests all GET. The body is read for that and put back as it was.
async fn writes(request: Request) -> (Request, bool) {
    if request.method() == axum::http::Method::GET {
        return (request, false);
    }
    if !request.uri().path().ends_with("/composite") {
        return (request, true);
    }
    let (parts, body) = request.into_parts();
    // Composite bodies are limited well below this by the handler; a larger one is refused there.
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let writes = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["compositeRequest"].as_array().cloned())
        .is_some_and(|subs| subs.iter().any(|s| s["method"].as_str().is_some_and(|m| !m.eq_ignore_ascii_case("GET"))));
    (Request::from_parts(parts, axum::body::Body::from(bytes)), writes)
}

/// `v` + digits + `.` + digits, e.g. `v66.0`.
pub(super) fn is_version(segment: &str) -> bool {
    let Some((major, minor)) = segment.strip_prefix('v').and_then(|v| v.split_once('.')) else { return false };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// `Sforce-Limit-Info`, and [`with_date`].
fn with_limit_info(sim: &Sim, mut response: Response) -> Response {
    let (used, max) = {
        let state = sim.lock();
        (state.api.used, state.api.max)
    };
    if let Ok(value) = HeaderValue::from_str(&format!("api-usage={used}/{max}")) {
        response.headers_mut().insert(LIMIT_INFO, value);
    }
    with_date(sim, response)
}

/// `Date` from the simulator's clock (what a client sends back as `If-Modified-Since`; hyper adds
/// a wall-clock `Date` only where none is set).
fn with_date(sim: &Sim, mut response: Response) -> Response {
    let now = sim.lock().now();
    if let Ok(value) = HeaderValue::from_str(&crate::datetime::format_http_date(now)) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

/// Cuts the connection: hyper then fails to write this response and drops the socket. Without a
/// connection handle (not served by `SalesforceSim::start`), a bodiless 502 stands in.
fn cut(connection: Option<&Connection>, how: fn(&Connection)) -> Response {
    match connection {
        Some(connection) => how(connection),
        None => tracing::warn!("salesforce-sim: cannot cut a connection that was not accepted by SimListener"),
    }
    StatusCode::BAD_GATEWAY.into_response()
}

/// The edge's 503 page: HTML, not JSON (salesforce-samples/error-server-unavailable.json notes).
fn service_unavailable() -> Response {
    edge_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "The server is temporarily unable to service your request. Please try again later.",
    )
}

/// A page from Salesforce's edge (not the API): HTML, and no `Sforce-Limit-Info`.
fn edge_page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>\n"
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// axum answers a wrong method with an empty 405; Salesforce with a JSON error listing the
/// allowed methods.
fn json_405(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allowed = response.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let message = format!("HTTP Method not allowed. Allowed are {allowed}");
    let mut json = error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", &message).into_response();
    if let Ok(value) = HeaderValue::from_str(&allowed) {
        json.headers_mut().insert(header::ALLOW, value);
    }
    json
}

#[cfg(test)]
mod tests {
    use super::is_version;

    #[test]
    fn versions_look_like_vnn_n() {
        assert!(is_version("v66.0") && is_version("v7.0"));
        for bad in ["66.0", "v66", "v66.", "vx.0", "v66.0.1", "", "v"] {
            assert!(!is_version(bad), "{bad}");
        }
    }
}
