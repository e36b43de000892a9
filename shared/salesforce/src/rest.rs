//! The Salesforce REST API calls sync needs, and the error taxonomy in one place: every failure
//! is `RefreshSession` (401 `INVALID_SESSION_ID`), `Transient` (retry later: limits, 5xx, lock
//! contention, timeouts, resets) or `Permanent` (bad field, validation, permissions: retrying the
//! same payload cannot help).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use sfbridge_core::config::ApiVersion;
use sfbridge_core::domain::InstanceUrl;
use sfbridge_core::secrets::AccessToken;

/// sObject Collections take at most 200 records per call (and count as one API call).
pub const MAX_COLLECTION_RECORDS: usize = 200;
/// The header that carries a command's event id to an Apex REST endpoint.
pub const EVENT_ID_HEADER: &str = "X-Sfbridge-Event-Id";
/// A Composite call (one API call) holds at most 5 query or sObject Collections subrequests.
pub const MAX_COMPOSITE_BULK_SUBREQUESTS: usize = 5;

/// Sync calls are short; a call still running after this is treated as lost (transient).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Salesforce messages can echo SOQL (and so emails); keep logs and delivery records short.
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    RefreshSession,
    Transient,
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RestError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
}

impl RestError {
    pub(crate) fn transport(e: &reqwest::Error) -> Self {
        let code = if e.is_timeout() {
            "TIMEOUT"
        } else if e.is_connect() {
            "CONNECTION_FAILED"
        } else {
            "CONNECTION_RESET"
        };
        Self { class: ErrorClass::Transient, status: None, code: code.into(), message: "no response from Salesforce".into() }
    }
}

/// Every code whose class is not `Permanent`, the default. Each has a row in the README's
/// troubleshooting table ([`super::troubleshooting::REST_ERRORS`]; a test fails without one).
pub(crate) const CODE_CLASSES: &[(&str, ErrorClass)] = &[
    ("INVALID_SESSION_ID", ErrorClass::RefreshSession),
    ("REQUEST_LIMIT_EXCEEDED", ErrorClass::Transient),
    ("SERVER_UNAVAILABLE", ErrorClass::Transient),
    ("UNABLE_TO_LOCK_ROW", ErrorClass::Transient),
    ("QUERY_TIMEOUT", ErrorClass::Transient),
    // Ours, for no answer at all (`RestError::transport`).
    ("TIMEOUT", ErrorClass::Transient),
    ("CONNECTION_RESET", ErrorClass::Transient),
    ("CONNECTION_FAILED", ErrorClass::Transient),
];

/// The class of a Salesforce `errorCode` / per-record `statusCode`.
pub(crate) fn classify_code(code: &str) -> ErrorClass {
    CODE_CLASSES.iter().find(|(known, _)| *known == code).map_or(ErrorClass::Permanent, |(_, class)| *class)
}

#[derive(Debug, Deserialize)]
struct ApiErrorBody {
    #[serde(rename = "errorCode")]
    error_code: String,
    #[serde(default)]
    message: String,
}

/// Turns a non-2xx response into a `RestError`. Bodies are JSON arrays, except at the edge,
/// where 5xx pages may be HTML or empty.
pub fn classify_response(status: u16, body: &[u8]) -> RestError {
    let parsed: Option<ApiErrorBody> = serde_json::from_slice::<Vec<ApiErrorBody>>(body).ok().and_then(|v| v.into_iter().next());
    let (code, message) = match parsed {
        Some(e) => (e.error_code, e.message),
        None => (format!("HTTP_{status}"), "Salesforce answered without an error body".to_owned()),
    };
    let class = match status {
        401 => ErrorClass::RefreshSession,
        500..=599 | 420 => ErrorClass::Transient,
        _ => classify_code(&code),
    };
    RestError { class, status: Some(status), code, message: short_message(&message) }
}

/// Query errors echo the SOQL (with its emails) above a caret line; keep the explanation only.
fn short_message(message: &str) -> String {
    let explanation = message.rsplit('\n').find(|line| !line.trim().is_empty()).unwrap_or(message).trim();
    let mut out: String = explanation.chars().filter(|c| !c.is_control()).take(MAX_MESSAGE_CHARS).collect();
    if explanation.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

/// `Sforce-Limit-Info: api-usage=18/5000; api-bursts=1/750` (parsed leniently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

impl ApiUsage {
    pub fn parse(header: &str) -> Option<Self> {
        header.split(';').find_map(|part| {
            let (name, value) = part.trim().split_once('=')?;
            if name.trim() != "api-usage" {
                return None;
            }
            let (used, max) = value.trim().split_once('/')?;
            Some(Self { used: used.trim().parse().ok()?, max: max.trim().parse().ok()? })
        })
    }

    /// Share of the daily allocation used, in percent (can exceed 100 briefly).
    pub fn percent(&self) -> f64 {
        if self.max == 0 {
            100.0
        } else {
            self.used as f64 * 100.0 / self.max as f64
        }
    }
}

/// A successful response and the org's API usage it reported.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub value: T,
    pub usage: Option<ApiUsage>,
}

/// One record's outcome in an sObject Collections call (same order as the request).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RecordResult {
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub created: Option<bool>,
    #[serde(default)]
    pub errors: Vec<RecordError>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RecordError {
    #[serde(rename = "statusCode")]
    pub status_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl RecordResult {
    /// For a failed record: its class and a short reason.
    pub fn failure(&self) -> Option<RestError> {
        if self.success {
            return None;
        }
        let first = self.errors.first();
        let code = first.map_or("UNKNOWN_ERROR", |e| e.status_code.as_str());
        Some(RestError {
            class: classify_code(code),
            status: None,
            code: code.to_owned(),
            message: short_message(first.map_or("", |e| e.message.as_str())),
        })
    }
}

/// One subrequest of a Composite call (`POST /composite`, salesforce.md §7.2).
#[derive(Debug, Clone, Serialize)]
pub struct SubRequest {
    method: &'static str,
    url: String,
    #[serde(rename = "referenceId")]
    reference_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Value>,
    /// Conditional headers (`If-Modified-Since`), which Composite passes on per subrequest.
    #[serde(rename = "httpHeaders", skip_serializing_if = "Option::is_none")]
    http_headers: Option<serde_json::Map<String, Value>>,
}

impl SubRequest {
    fn new(method: &'static str, path: &str, reference_id: &str, body: Option<Value>) -> Self {
        // The version is prefixed when the Composite call is sent, with the client's.
        Self { method, url: path.to_owned(), reference_id: reference_id.to_owned(), body, http_headers: None }
    }

    /// An object's describe; with `if_modified_since`, Salesforce answers 304 (no body) when the
    /// object's metadata has not changed since then (salesforce.md §8.5).
    pub fn describe(reference_id: &str, sobject: &str, if_modified_since: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        let mut request = Self::new("GET", &format!("/sobjects/{sobject}/describe"), reference_id, None);
        if let Some(since) = if_modified_since {
            let mut headers = serde_json::Map::new();
            headers.insert("If-Modified-Since".into(), Value::String(http_date(since)));
            request.http_headers = Some(headers);
        }
        request
    }

    /// A SOQL query. Inside Composite the query travels in the body, so the URI limit that
    /// caps a GET query does not apply (salesforce.md §6).
    pub fn query(reference_id: &str, soql: &str) -> Self {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        Self::new("GET", &format!("/query?q={q}"), reference_id, None)
    }

    pub fn create_records(reference_id: &str, records: Vec<Value>) -> Self {
        Self::new("POST", "/composite/sobjects", reference_id, Some(json!({"allOrNone": false, "records": records})))
    }

    pub fn update_records(reference_id: &str, records: Vec<Value>) -> Self {
        Self::new("PATCH", "/composite/sobjects", reference_id, Some(json!({"allOrNone": false, "records": records})))
    }

    pub fn upsert_records(reference_id: &str, sobject: &str, external_id_field: &str, records: Vec<Value>) -> Self {
        let path = format!("/composite/sobjects/{sobject}/{external_id_field}");
        Self::new("PATCH", &path, reference_id, Some(json!({"allOrNone": false, "records": records})))
    }

    pub fn reference_id(&self) -> &str {
        &self.reference_id
    }

    pub fn method(&self) -> &str {
        self.method
    }

    /// The path below the API version (`/composite/sobjects`, `/query?q=...`).
    pub fn path(&self) -> &str {
        &self.url
    }

    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }
}

/// One subrequest's answer, in the order of the request.
#[derive(Debug, Clone, Deserialize)]
pub struct SubResponse {
    #[serde(default)]
    pub body: Value,
    #[serde(rename = "httpStatusCode")]
    pub status: u16,
    #[serde(rename = "referenceId")]
    pub reference_id: String,
}

impl SubResponse {
    /// The body as `T` when the subrequest succeeded, else its error, classified like a call's.
    pub fn into_result<T: serde::de::DeserializeOwned>(self) -> Result<T, RestError> {
        if !(200..300).contains(&self.status) {
            let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
            return Err(classify_response(self.status, &bytes));
        }
        serde_json::from_value(self.body).map_err(|_| unreadable(self.status))
    }
}

#[derive(Debug, Deserialize)]
struct CompositeBody {
    #[serde(rename = "compositeResponse")]
    composite_response: Vec<SubResponse>,
}

/// A page of query results.
#[derive(Debug, Deserialize)]
pub struct QueryPage {
    pub records: Vec<Value>,
    #[serde(rename = "nextRecordsUrl")]
    pub next_records_url: Option<String>,
}

/// Quotes a value for a SOQL string literal (backslash escapes, as SOQL defines them).
pub fn soql_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
    out.push('\'');
    out
}

/// An access token and where to use it: what every REST call needs. `issued_at` tells one token
/// generation from the next ([`crate::Sessions`] keeps them fresh).
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: AccessToken,
    pub instance_url: InstanceUrl,
    pub issued_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The record calls activity sync makes, as a port: [`SalesforceRest`] makes them over HTTP, and
/// the sync steps' unit tests answer them from a script.
#[async_trait::async_trait]
pub trait RecordsApi: Send + Sync + std::fmt::Debug {
    /// See [`SalesforceRest::composite`].
    async fn composite(&self, session: &Session, requests: Vec<SubRequest>) -> Result<Reply<Vec<SubResponse>>, RestError>;
    /// See [`SalesforceRest::next_page`].
    async fn next_page(&self, session: &Session, next_records_url: &str) -> Result<Reply<QueryPage>, RestError>;
    /// See [`SalesforceRest::create_records`].
    async fn create_records(&self, session: &Session, records: Vec<Value>) -> Result<Reply<Vec<RecordResult>>, RestError>;
    /// See [`SalesforceRest::apex_post`]. A client that cannot call Apex REST refuses for good.
    async fn apex_post(&self, _session: &Session, path: &str, _event_id: &str, _body: &Value) -> Result<Reply<Value>, RestError> {
        Err(RestError {
            class: ErrorClass::Permanent,
            status: None,
            code: "CLIENT_ERROR".into(),
            message: format!("this client does not call Apex REST ({path})"),
        })
    }
}

#[async_trait::async_trait]
impl RecordsApi for SalesforceRest {
    async fn composite(&self, session: &Session, requests: Vec<SubRequest>) -> Result<Reply<Vec<SubResponse>>, RestError> {
        SalesforceRest::composite(self, session, requests).await
    }

    async fn next_page(&self, session: &Session, next_records_url: &str) -> Result<Reply<QueryPage>, RestError> {
        SalesforceRest::next_page(self, session, next_records_url).await
    }

    async fn create_records(&self, session: &Session, records: Vec<Value>) -> Result<Reply<Vec<RecordResult>>, RestError> {
        SalesforceRest::create_records(self, session, records).await
    }

    async fn apex_post(&self, session: &Session, path: &str, event_id: &str, body: &Value) -> Result<Reply<Value>, RestError> {
        SalesforceRest::apex_post(self, session, path, event_id, body).await
    }
}

#[derive(Debug, Clone)]
pub struct SalesforceRest {
    pub(crate) http: reqwest::Client,
    /// `/services/data/v66.0`: every call's path starts here (`SFBRIDGE_SALESFORCE_API_VERSION`).
    base_path: String,
}

impl SalesforceRest {
    /// On `http` (see [`crate::http_client`]), at API `version`: pinned so responses keep their
    /// shape (the stack's `SalesforceApiVersion` parameter).
    pub fn new(http: reqwest::Client, version: ApiVersion) -> Self {
        Self { http, base_path: format!("/services/data/{}", version.path()) }
    }

    pub(crate) fn url(&self, session: &Session, path: &str) -> String {
        session.instance_url.join(&format!("{}{path}", self.base_path))
    }

    /// Runs a query and follows `nextRecordsUrl` to the end.
    pub async fn query(&self, session: &Session, soql: &str) -> Result<Reply<Vec<Value>>, RestError> {
        let mut url = url::Url::parse(&self.url(session, "/query")).map_err(|e| permanent_bug(&e))?;
        url.query_pairs_mut().append_pair("q", soql);
        let first: Reply<QueryPage> = self.send(session, self.http.get(url)).await?;
        self.rest_of_query(session, first).await
    }

    /// The first page of a query (`all`: `queryAll`, which also returns deleted and archived
    /// records); the rest follow its `nextRecordsUrl` ([`Self::next_page`]).
    pub async fn query_page(&self, session: &Session, soql: &str, all: bool) -> Result<Reply<QueryPage>, RestError> {
        let path = if all { "/queryAll" } else { "/query" };
        let mut url = url::Url::parse(&self.url(session, path)).map_err(|e| permanent_bug(&e))?;
        url.query_pairs_mut().append_pair("q", soql);
        self.send(session, self.http.get(url)).await
    }

    /// `SELECT COUNT() FROM …`: how many records match (the answer's `totalSize`), one call.
    pub async fn count(&self, session: &Session, soql: &str) -> Result<Reply<u64>, RestError> {
        #[derive(Deserialize)]
        struct Counted {
            #[serde(rename = "totalSize")]
            total_size: u64,
        }
        let mut url = url::Url::parse(&self.url(session, "/query")).map_err(|e| permanent_bug(&e))?;
        url.query_pairs_mut().append_pair("q", soql);
        let reply: Reply<Counted> = self.send(session, self.http.get(url)).await?;
        Ok(Reply { value: reply.value.total_size, usage: reply.usage })
    }

    /// All records of a query whose first page is in hand: follows `nextRecordsUrl` to the end.
    pub(crate) async fn rest_of_query(&self, session: &Session, first: Reply<QueryPage>) -> Result<Reply<Vec<Value>>, RestError> {
        let mut reply = first;
        let mut records = std::mem::take(&mut reply.value.records);
        let mut usage = reply.usage;
        while let Some(next) = reply.value.next_records_url.take() {
            reply = self.next_page(session, &next).await?;
            records.append(&mut reply.value.records);
            usage = reply.usage.or(usage);
        }
        Ok(Reply { value: records, usage })
    }

    /// The page at a query's `nextRecordsUrl`.
    pub async fn next_page(&self, session: &Session, next_records_url: &str) -> Result<Reply<QueryPage>, RestError> {
        // A path on the same instance (`/services/data/vXX.X/query/01g...-2000`), never a host.
        if !next_records_url.starts_with("/services/data/") {
            return Err(permanent_bug(&"nextRecordsUrl is not a REST path"));
        }
        self.send(session, self.http.get(session.instance_url.join(next_records_url))).await
    }

    /// Runs up to 25 subrequests (at most 5 queries or collections) as one API call, each
    /// independent of the others (`allOrNone: false`). The answers come back in request order.
    pub async fn composite(&self, session: &Session, requests: Vec<SubRequest>) -> Result<Reply<Vec<SubResponse>>, RestError> {
        let expected: Vec<String> = requests.iter().map(|r| r.reference_id.clone()).collect();
        let requests: Vec<SubRequest> =
            requests.into_iter().map(|r| SubRequest { url: format!("{}{}", self.base_path, r.url), ..r }).collect();
        let body = json!({"allOrNone": false, "collateSubrequests": false, "compositeRequest": requests});
        let reply: Reply<CompositeBody> =
            self.send(session, self.http.post(self.url(session, "/composite")).json(&body)).await?;
        let answers = reply.value.composite_response;
        let matches = answers.len() == expected.len() && answers.iter().zip(&expected).all(|(a, e)| &a.reference_id == e);
        if !matches {
            // Sent and possibly applied, but unreadable: the caller must treat it as unknown.
            return Err(unreadable(200));
        }
        Ok(Reply { value: answers, usage: reply.usage })
    }

    /// Creates up to 200 records of any types; each succeeds or fails on its own.
    pub async fn create_records(&self, session: &Session, records: Vec<Value>) -> Result<Reply<Vec<RecordResult>>, RestError> {
        let body = json!({"allOrNone": false, "records": records});
        self.send(session, self.http.post(self.url(session, "/composite/sobjects")).json(&body)).await
    }

    /// Updates up to 200 records (each with `attributes.type` and `Id`).
    pub async fn update_records(&self, session: &Session, records: Vec<Value>) -> Result<Reply<Vec<RecordResult>>, RestError> {
        let body = json!({"allOrNone": false, "records": records});
        self.send(session, self.http.patch(self.url(session, "/composite/sobjects")).json(&body)).await
    }

    /// Upserts up to 200 records of one type on an external-id field.
    pub async fn upsert_records(
        &self,
        session: &Session,
        sobject: &str,
        external_id_field: &str,
        records: Vec<Value>,
    ) -> Result<Reply<Vec<RecordResult>>, RestError> {
        let body = json!({"allOrNone": false, "records": records});
        let path = format!("/composite/sobjects/{sobject}/{external_id_field}");
        self.send(session, self.http.patch(self.url(session, &path)).json(&body)).await
    }

    pub async fn describe(&self, session: &Session, sobject: &str) -> Result<Reply<Value>, RestError> {
        self.send(session, self.http.get(self.url(session, &format!("/sobjects/{sobject}/describe")))).await
    }

    /// POSTs `body` to an Apex REST endpoint of the org (`path` starts `/services/apexrest/`),
    /// with the event id in [`EVENT_ID_HEADER`] so the Apex class can ignore a repeat. Apex REST
    /// has no version prefix and sits outside Composite (salesforce.md §7.2), so it is one call
    /// per command.
    pub async fn apex_post(&self, session: &Session, path: &str, event_id: &str, body: &Value) -> Result<Reply<Value>, RestError> {
        let url = session.instance_url.join(path);
        self.send(session, self.http.post(url).header(EVENT_ID_HEADER, event_id).json(body)).await
    }

    pub(crate) async fn send<T: serde::de::DeserializeOwned>(
        &self,
        session: &Session,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply<T>, RestError> {
        let response = request
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(session.access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| RestError::transport(&e))?;
        let status = response.status().as_u16();
        let usage = response
            .headers()
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(ApiUsage::parse);
        let body = response.bytes().await.map_err(|e| RestError::transport(&e))?;
        if !(200..300).contains(&status) {
            return Err(classify_response(status, &body));
        }
        let value = serde_json::from_slice(if body.is_empty() { b"null" } else { &body }).map_err(|_| unreadable(status))?;
        Ok(Reply { value, usage })
    }
}

/// An HTTP-date (RFC 9110 §5.6.7), as `If-Modified-Since` takes it.
pub fn http_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn unreadable(status: u16) -> RestError {
    RestError {
        class: ErrorClass::Transient,
        status: Some(status),
        code: "UNREADABLE_RESPONSE".into(),
        message: "Salesforce's response could not be read".into(),
    }
}

fn permanent_bug(e: &dyn std::fmt::Display) -> RestError {
    RestError { class: ErrorClass::Permanent, status: None, code: "CLIENT_ERROR".into(), message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/salesforce");

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(format!("{SAMPLES}/{name}")).unwrap_or_else(|e| unreachable!("fixture {name}: {e}"))
    }

    #[test]
    fn classifies_documented_errors() {
        for (status, file, class, code) in [
            (401, "error-invalid-session-id.json", ErrorClass::RefreshSession, "INVALID_SESSION_ID"),
            (403, "error-request-limit-exceeded.json", ErrorClass::Transient, "REQUEST_LIMIT_EXCEEDED"),
            (403, "error-concurrent-long-running-limit.json", ErrorClass::Transient, "REQUEST_LIMIT_EXCEEDED"),
            (503, "error-server-unavailable.json", ErrorClass::Transient, "SERVER_UNAVAILABLE"),
            (400, "error-unable-to-lock-row.json", ErrorClass::Transient, "UNABLE_TO_LOCK_ROW"),
            (400, "error-invalid-field.json", ErrorClass::Permanent, "INVALID_FIELD"),
            (400, "error-malformed-query.json", ErrorClass::Permanent, "MALFORMED_QUERY"),
            (400, "error-duplicate-value.json", ErrorClass::Permanent, "DUPLICATE_VALUE"),
        ] {
            let e = classify_response(status, &sample(file));
            assert_eq!((e.class, e.code.as_str()), (class, code), "{file}");
        }
        let html = classify_response(503, b"<html>Service Unavailable</html>");
        assert_eq!((html.class, html.code.as_str()), (ErrorClass::Transient, "HTTP_503"));
        assert_eq!(classify_response(414, b"").class, ErrorClass::Permanent);
    }

    #[test]
    fn query_errors_lose_the_echoed_soql() {
        let e = classify_response(400, &sample("error-invalid-field-in-query.json"));
        assert!(e.message.starts_with("No such column 'Score__c' on entity 'Contact'"), "{}", e.message);
        assert!(!e.message.contains("SELECT"));
    }

    #[test]
    fn per_record_failures_are_classified() {
        let results: Vec<RecordResult> =
            serde_json::from_slice(&sample("sobject-collections-create-partial-failure.json")).unwrap_or_default();
        assert_eq!(results.len(), 2);
        let failure = results[0].failure();
        assert_eq!(failure.map(|f| (f.class, f.code)), Some((ErrorClass::Permanent, "DUPLICATES_DETECTED".to_owned())));
        assert_eq!(results[1].failure(), None);
        assert_eq!(results[1].id.as_deref(), Some("003RM0000068xVCYAY"));
    }

    #[test]
    fn parses_limit_info_leniently() {
        assert_eq!(ApiUsage::parse("api-usage=18/5000"), Some(ApiUsage { used: 18, max: 5000 }));
        assert_eq!(
            ApiUsage::parse("api-usage=110018/100000; api-bursts=1/750"),
            Some(ApiUsage { used: 110018, max: 100000 })
        );
        assert_eq!(ApiUsage::parse("per-app-api-usage=17/250(appName=x)"), None);
        assert_eq!(ApiUsage::parse("garbage"), None);
        assert!((ApiUsage { used: 80, max: 100 }.percent() - 80.0).abs() < f64::EPSILON);
    }

    #[test]
    fn soql_literals_are_escaped() {
        assert_eq!(soql_quote("o'brien@example.com"), r"'o\'brien@example.com'");
        assert_eq!(soql_quote(r"a\b"), r"'a\\b'");
    }
}
