//! Apex REST: `/services/apexrest/{urlMapping}`, the endpoints an org's own Apex classes expose
//! with `@RestResource(urlMapping='/…')` (Apex Developer Guide, "Introduction to Apex REST" and
//! "RestResource Annotation"). A test registers an endpoint with
//! [`crate::SalesforceSim::add_apex_rest`] and a [`ApexBehavior`] standing in for the class.
//!
//! What Salesforce documents, and the simulator does:
//!
//! - **Authentication and limits.** Apex REST takes the same OAuth bearer token as the REST API,
//!   and "calls to Apex REST classes count against the organization's API governor limits"
//!   ("Introduction to Apex REST"). So these requests pass the same gate as `/services/data/`
//!   (`rest/gate.rs`): 401 `INVALID_SESSION_ID` without an active token, 403
//!   `REQUEST_LIMIT_EXCEEDED` past the daily limit, one call counted otherwise, the configured
//!   latency and faults. Unlike REST API responses they carry no `Sforce-Limit-Info` (that header
//!   is documented for the REST API's resources; an Apex class writes its own response).
//! - **Matching** ("RestResource Annotation"): the mapping is relative to `/services/apexrest/`
//!   and case-sensitive (`/my_url` does not match `/My_Url`); an exact match wins; otherwise, of
//!   the mappings with a wildcard (`*`, after a `/`, last or followed by `/`) that match, the
//!   longest one. `*` matches any text within the path; a trailing `/*` also matches the path
//!   without it (`/Events/*` takes `/Events` and `/Events/42`), an assumption. No match: 404
//!   `[{"errorCode":"NOT_FOUND","message":"Could not find a match for URL /Path"}]` (the message
//!   Salesforce answers, as public client code and troubleshooting notes quote it).
//! - **Methods.** A class answers the methods it annotates (`@HttpPost`, …); another method gets
//!   405 `[{"errorCode":"METHOD_NOT_ALLOWED","message":"HTTP Method 'GET' not allowed. Allowed are
//!   POST"}]` (the message quoted in public setup notes for an Apex REST webhook).
//!
//! Every request that reaches Apex (authenticated, within the limit; matched or not) is kept as an
//! [`ApexRequest`], with its headers and body, for [`crate::SalesforceSim::apex_requests`].
//!
//! Composite cannot call Apex REST: its subrequests are limited to the REST API's sObject, Query,
//! QueryAll and sObject Collections resources under `/services/data/` (REST API Developer Guide,
//! "Send Multiple Requests Using Composite"); `rest/composite.rs` refuses any other url.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use serde_json::{json, Value};

use crate::recording::parse_pairs;
use crate::rest::Session;
use crate::state::Sim;

/// Where Apex REST lives on the instance.
pub(crate) const APEX_PREFIX: &str = "/services/apexrest";

/// What a registered Apex REST endpoint answers: a stand-in for the Apex class behind it.
#[derive(Clone, Debug, PartialEq)]
pub enum ApexBehavior {
    /// 200 with the request's body as the response body (`application/json`), as a method that
    /// returns what it was sent.
    Echo,
    /// Always `status` with `body` as JSON (no body for 204).
    Respond { status: u16, body: Value },
    /// The first `failures` calls answer `status` with `body`; later ones echo, as [`Self::Echo`].
    FailThenEcho { failures: u32, status: u16, body: Value },
}

impl ApexBehavior {
    /// What an unhandled exception in the class answers: 500
    /// `[{"errorCode":"APEX_ERROR","message":…}]`, e.g. with
    /// `"System.NullPointerException: Attempt to de-reference a null object\n\nClass.Events.doPost: line 7, column 1"`.
    pub fn unhandled_exception(message: &str) -> Self {
        Self::Respond { status: 500, body: json!([{"errorCode": "APEX_ERROR", "message": message}]) }
    }
}

/// One request that reached Apex REST.
#[derive(Clone, Debug)]
pub struct ApexRequest {
    pub method: String,
    /// The path after `/services/apexrest`, e.g. `/Sfbridge/events`.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Every header, names in lower case, values as sent (the `Authorization` header included).
    pub headers: Vec<(String, String)>,
    /// The body, as text (lossy for non-UTF-8 bytes).
    pub body: String,
}

impl ApexRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// A registered endpoint.
#[derive(Debug)]
struct Endpoint {
    url_mapping: String,
    /// Upper case, in registration order.
    methods: Vec<String>,
    behavior: ApexBehavior,
    /// Calls answered so far (for [`ApexBehavior::FailThenEcho`]).
    calls: u32,
}

/// The org's Apex REST endpoints and the requests they received.
#[derive(Debug, Default)]
pub(crate) struct ApexState {
    endpoints: Vec<Endpoint>,
    pub(crate) requests: Vec<ApexRequest>,
}

impl ApexState {
    /// Registers (or replaces) the endpoint with this exact mapping. False when the mapping is
    /// not one Apex accepts: it must begin with `/`, be at most 255 characters, and have any `*`
    /// right after a `/` and last or followed by `/` ("RestResource Annotation", URL Guidelines).
    pub(crate) fn add(&mut self, url_mapping: &str, methods: &[&str], behavior: ApexBehavior) -> bool {
        if !valid_mapping(url_mapping) || methods.is_empty() {
            return false;
        }
        let methods: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        let endpoint = Endpoint { url_mapping: url_mapping.to_owned(), methods, behavior, calls: 0 };
        match self.endpoints.iter_mut().find(|e| e.url_mapping == url_mapping) {
            Some(existing) => *existing = endpoint,
            None => self.endpoints.push(endpoint),
        }
        true
    }

    /// The endpoint `path` maps to: the exact mapping, else the longest matching wildcard one.
    fn resolve(&mut self, path: &str) -> Option<&mut Endpoint> {
        if let Some(i) = self.endpoints.iter().position(|e| e.url_mapping == path) {
            return self.endpoints.get_mut(i);
        }
        let best = self
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| e.url_mapping.contains('*') && wildcard_match(&e.url_mapping, path))
            .max_by_key(|(_, e)| e.url_mapping.len())
            .map(|(i, _)| i)?;
        self.endpoints.get_mut(best)
    }
}

/// `urlMapping` rules: a leading `/`, at most 255 characters, `*` only as a whole segment.
fn valid_mapping(mapping: &str) -> bool {
    mapping.starts_with('/')
        && mapping.len() <= 255
        && mapping.split('/').all(|segment| !segment.contains('*') || segment == "*")
}

/// Whether `path` matches a mapping with wildcards: each `*` stands for any text (slashes
/// included); a trailing `/*` may also match nothing at all.
fn wildcard_match(mapping: &str, path: &str) -> bool {
    if let Some(stem) = mapping.strip_suffix("/*") {
        if wildcard_match(stem, path) {
            return true;
        }
    }
    let mut parts = mapping.split('*');
    let Some(first) = parts.next() else { return false };
    let Some(mut rest) = path.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.ends_with(last)
}

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new().route(&format!("{APEX_PREFIX}/{{*path}}"), any(handler))
}

/// Any method on `/services/apexrest/{path}`: record, match, answer as the behaviour says.
async fn handler(
    State(sim): State<Arc<Sim>>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Extension(_): Extension<Session>,
    body: Bytes,
) -> Response {
    let path = format!("/{path}");
    let mut state = sim.lock();
    state.apex.requests.push(ApexRequest {
        method: method.to_string(),
        path: path.clone(),
        query: parse_pairs(query.unwrap_or_default().as_bytes()),
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let Some(endpoint) = state.apex.resolve(&path) else {
        return apex_error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("Could not find a match for URL {path}"));
    };
    if !endpoint.methods.iter().any(|m| *m == method.as_str()) {
        let message = format!("HTTP Method '{method}' not allowed. Allowed are {}", endpoint.methods.join(","));
        return apex_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", &message);
    }
    endpoint.calls += 1;
    let echo = || json_response(StatusCode::OK, body.to_vec());
    match &endpoint.behavior {
        ApexBehavior::Echo => echo(),
        ApexBehavior::Respond { status, body } => respond(*status, body),
        ApexBehavior::FailThenEcho { failures, status, body } if endpoint.calls <= *failures => respond(*status, body),
        ApexBehavior::FailThenEcho { .. } => echo(),
    }
}

/// `status` with `body` as JSON; no body for 204 and 304.
fn respond(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        return status.into_response();
    }
    json_response(status, body.to_string().into_bytes())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
    response
}

/// `[{"errorCode": …, "message": …}]`, in the order Apex REST writes them.
fn apex_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = Value::Array(vec![json!({"errorCode": code, "message": message})]);
    json_response(status, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_mappings_win_then_the_longest_wildcard() {
        let mut apex = ApexState::default();
        assert!(apex.add("/Sfbridge/events", &["POST"], ApexBehavior::Echo));
        assert!(apex.add("/Sfbridge/*", &["POST"], ApexBehavior::Echo));
        assert!(apex.add("/Sfbridge/events/*", &["POST"], ApexBehavior::Echo));
        assert!(apex.add("/Orders/*/lines", &["GET"], ApexBehavior::Echo));
        for bad in ["Sfbridge", "/a*", "/a/*b", "/a/**"] {
            assert!(!apex.add(bad, &["POST"], ApexBehavior::Echo), "{bad}");
        }
        let mut mapped = |path: &str| apex.resolve(path).map(|e| e.url_mapping.clone());
        assert_eq!(mapped("/Sfbridge/events").as_deref(), Some("/Sfbridge/events"));
        assert_eq!(mapped("/Sfbridge/events/42").as_deref(), Some("/Sfbridge/events/*"));
        assert_eq!(mapped("/Sfbridge/other").as_deref(), Some("/Sfbridge/*"));
        assert_eq!(mapped("/Sfbridge").as_deref(), Some("/Sfbridge/*"));
        assert_eq!(mapped("/Orders/801/lines").as_deref(), Some("/Orders/*/lines"));
        assert_eq!(mapped("/sfbridge/events"), None, "mappings are case-sensitive");
        assert_eq!(mapped("/Orders/801"), None);
        assert_eq!(mapped("/Other"), None);
    }
}
