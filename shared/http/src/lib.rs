//! The HTTP boundary of the HTTP functions: one JSON error shape,
//! `{"error": {"code": "...", "message": "..."}}`, extractors whose rejections use that shape, the
//! layer that puts axum's own answers (404, 405, 413, ...) in it ([`json_errors`]), the admin
//! token check, and the one place feature errors become statuses: `ConnectError` (feature
//! `connect`: the admin API, the OAuth callback) and `WebhookError` (feature `inbound`: the webhook
//! receiver). Each function turns on the mappings of the features it serves.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::json;

#[cfg(feature = "connect")]
use sfbridge_connect::ConnectError;
use sfbridge_core::domain::{CampaignId, FlowId, ImportId, TenantId};
#[cfg(feature = "connect")]
use sfbridge_core::error::chain;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_owned(), message: message.into() }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

/// The body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, for code to branch on (`invalid_request`, `not_connected`, ...).
    pub code: String,
    /// For a person: what is wrong and what to do. Never a secret or a value that was sent.
    pub message: String,
}

impl ApiError {
    fn detail(self) -> (StatusCode, ErrorDetail) {
        (self.status, ErrorDetail { code: self.code, message: self.message })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = self.detail();
        let mut response = (status, axum::Json(ErrorBody { error })).into_response();
        response
            .headers_mut()
            .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
        response
    }
}

impl ApiError {
    /// This error in the usual shape, with the fields of `report` (a JSON object) beside `error`:
    /// for a request that did part of its work, so the caller learns which part and sends only
    /// the rest again.
    pub fn with_report(self, report: serde_json::Value) -> Response {
        let mut body = match report {
            serde_json::Value::Object(fields) => fields,
            _ => serde_json::Map::new(),
        };
        let (status, error) = self.detail();
        body.insert("error".into(), json!(error));
        let mut response = (status, axum::Json(serde_json::Value::Object(body))).into_response();
        response
            .headers_mut()
            .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(feature = "connect")]
impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Invalid(message) => Self::bad_request("invalid_request", message),
            ConnectError::InvalidPage(e) => Self::bad_request(e.code(), e.to_string()),
            ConnectError::NotFound { code, message } => Self::new(StatusCode::NOT_FOUND, code, message),
            ConnectError::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code.as_str(), message),
            // Salesforce refused: the tenant's setup is wrong (422) or Salesforce is down (502).
            ConnectError::Salesforce(failure) if failure.retryable => {
                Self::new(StatusCode::BAD_GATEWAY, &failure.code, failure.message)
            }
            ConnectError::Salesforce(failure) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, &failure.code, failure.message),
            ConnectError::Unavailable(_) => {
                tracing::error!(error = %chain(&e), "backing service unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "A backing service is unavailable. Retry shortly.")
            }
            ConnectError::Internal(_) => {
                tracing::error!(error = %chain(&e), "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.")
            }
        }
    }
}

#[cfg(feature = "import")]
impl From<sfbridge_import::ImportError> for ApiError {
    fn from(e: sfbridge_import::ImportError) -> Self {
        use sfbridge_import::ImportError;
        match e {
            ImportError::Invalid(message) => Self::bad_request("invalid_request", message),
            ImportError::InvalidPage(page) => Self::bad_request(page.code(), page.to_string()),
            ImportError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "import_not_found", e.to_string()),
            ImportError::NotConfigured => Self::new(StatusCode::CONFLICT, "import_not_configured", e.to_string()),
            ImportError::NotConnected => Self::new(StatusCode::CONFLICT, "not_connected", e.to_string()),
            ImportError::Finished(..) => Self::new(StatusCode::CONFLICT, "import_finished", e.to_string()),
            ImportError::Unavailable(_) => {
                tracing::error!(error = %sfbridge_core::error::chain(&e), "backing service unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "A backing service is unavailable. Retry shortly.")
            }
        }
    }
}

/// The status of a refused webhook request. Salesforce retries any non-2xx; 503 (with
/// `Retry-After`) is the answer for "not acknowledged, our side, try again".
#[cfg(feature = "inbound")]
pub fn webhook_status(e: &sfbridge_inbound::WebhookError) -> StatusCode {
    use sfbridge_inbound::WebhookError;
    match e {
        WebhookError::InvalidTenant(_) | WebhookError::UnknownUrl => StatusCode::NOT_FOUND,
        WebhookError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        WebhookError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        WebhookError::TooLarge | WebhookError::EventTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        WebhookError::BodyUnreadable | WebhookError::Invalid(_) => StatusCode::BAD_REQUEST,
        WebhookError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        WebhookError::NotConnected => StatusCode::CONFLICT,
        WebhookError::OrganizationMismatch => StatusCode::FORBIDDEN,
        WebhookError::InProgress | WebhookError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Checks the admin bearer token (`SFBRIDGE_ADMIN_TOKEN`) when one is configured, in constant
/// time; the admin API and the local stack's own routes share it.
pub fn check_admin_token(config: &sfbridge_core::config::Config, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &config.admin_token else { return Ok(()) };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if sfbridge_core::secrets::constant_time_eq(presented.as_bytes(), expected.expose_secret().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as 'Authorization: Bearer <SFBRIDGE_ADMIN_TOKEN>'",
        ))
    }
}

/// The percent-decoded path segment named `name` (`{tenant_id}` in the route), so extractors
/// for different segments of one route compose.
async fn path_param<S: Send + Sync>(parts: &mut Parts, state: &S, name: &str) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    params.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_owned())
}

/// The `{tenant_id}` path segment, parsed.
#[derive(Debug)]
pub struct Tenant(pub TenantId);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "tenant_id")
            .await
            .ok_or_else(|| ApiError::bad_request("invalid_tenant_id", "the path must name one tenant"))?;
        TenantId::parse(&raw).map(Tenant).map_err(|e| ApiError::bad_request("invalid_tenant_id", e.to_string()))
    }
}

/// The `{campaign_id}` path segment, parsed.
#[derive(Debug)]
pub struct Campaign(pub CampaignId);

impl<S: Send + Sync> FromRequestParts<S> for Campaign {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "campaign_id")
            .await
            .ok_or_else(|| ApiError::bad_request("invalid_campaign_id", "the path must name one campaign"))?;
        CampaignId::parse(&raw)
            .map(Campaign)
            .map_err(|e| ApiError::bad_request("invalid_campaign_id", e.to_string()))
    }
}

/// The `{flow_id}` path segment, parsed.
#[derive(Debug)]
pub struct Flow(pub FlowId);

impl<S: Send + Sync> FromRequestParts<S> for Flow {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid_flow_id", "the path must name one flow"))?;
        FlowId::parse(&raw).map(Flow).map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_flow", e.to_string()))
    }
}

/// The `{import_id}` path segment, parsed.
#[derive(Debug)]
pub struct Import(pub ImportId);

impl<S: Send + Sync> FromRequestParts<S> for Import {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "import_id")
            .await
            .ok_or_else(|| ApiError::bad_request("invalid_import_id", "the path must name one import"))?;
        ImportId::parse(&raw).map(Import).map_err(|_| {
            ApiError::new(StatusCode::NOT_FOUND, "import_not_found", "no such import: use an import_id from POST or GET /v1/tenants/{t}/imports")
        })
    }
}

/// A JSON body whose rejections say what is wrong without echoing values (a body may hold a
/// secret in the wrong place): 415 `unsupported_media_type` without a JSON content type, 413
/// `body_too_large` over the route's limit, 400 `invalid_json` when the body is not JSON at all,
/// and 400 `invalid_request` for JSON that does not fit (a missing, unknown or mistyped field),
/// like a value that breaks a rule (`ConnectError::Invalid`): the caller fixes both the same way.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| body_rejection(&e))?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::bad_request("invalid_request", data_error_message(&e.body_text()))),
            // serde_json reports some values of the wrong type (a number where a name is
            // expected) as syntax errors: a body that parses as JSON is the caller's values.
            Err(JsonRejection::JsonSyntaxError(e)) if serde_json::from_slice::<IgnoredAny>(&bytes).is_ok() => {
                Err(ApiError::bad_request("invalid_request", wrong_type_message(&e.body_text())))
            }
            Err(_) => Err(ApiError::bad_request("invalid_json", "the body is not valid JSON")),
        }
    }
}

/// A JSON body that may be left out: an empty body is `T::default()`; any other is read as
/// [`JsonBody`] reads it (JSON, with its content type).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(|e| body_rejection(&e))?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        let JsonBody(value) = JsonBody::from_request(Request::from_parts(parts, axum::body::Body::from(bytes)), state).await?;
        Ok(Self(value))
    }
}

/// `application/json`, or a `+json` type, with any parameters (as axum's `Json` accepts).
fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A body that could not be read: over the route's limit (413), or it broke off (400).
pub fn body_rejection(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_too_large("the body is larger than this URL accepts")
    } else {
        ApiError::bad_request("body_unreadable", "the request body could not be read to its end; send the request again")
    }
}

/// 413 `body_too_large`, with a message that says how much is allowed.
pub fn body_too_large(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
}

/// 404 `not_found` for a path no route has; `expected` says which URLs there are.
pub fn not_found(expected: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such URL; {expected}"))
}

/// 405 `method_not_allowed`; axum adds the `Allow` header with the methods the route takes.
pub fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this URL does not take {method}; the Allow header lists the methods it takes"),
    )
}

/// The answers axum makes on its own, in the JSON error shape: an empty 404 or 405 (no route, a
/// method the route does not take) and an extractor's `text/plain` rejection (413, 415, 400).
/// Every router's outermost layer (`router.layer(axum::middleware::from_fn(json_errors))`), so
/// a caller parses one shape from every URL. Answers with a content type of their own (JSON,
/// the OAuth pages' HTML, SOAP faults) pass unchanged.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.starts_with("text/plain")));
    if !plain || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => not_found("see the README for the URLs there are"),
        StatusCode::METHOD_NOT_ALLOWED => method_not_allowed(&method),
        StatusCode::PAYLOAD_TOO_LARGE => body_too_large("the body is larger than this URL accepts"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "unsupported_media_type", "this URL does not take a body of that Content-Type")
        }
        // Not echoed: the rejection's text may quote the request.
        s if s.is_client_error() => {
            ApiError::new(s, "invalid_request", "the URL's path or query could not be read; see the README for its form")
        }
        s => {
            tracing::error!(status = s.as_u16(), "a plain error response from the framework");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.")
        }
    };
    let mut mapped = error.into_response();
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            mapped.headers_mut().insert(name, value.clone());
        }
    }
    mapped
}

/// A missing, unknown or mistyped field, from serde's message: field names are safe to repeat;
/// values are not.
fn data_error_message(detail: &str) -> String {
    let safe = ["missing field", "unknown field", "unknown variant"].iter().any(|k| detail.contains(k));
    if safe {
        detail.split_once(": ").map_or(detail.to_owned(), |(_, rest)| rest.to_owned())
    } else {
        wrong_type_message(detail)
    }
}

/// Names the field (its path, e.g. `field_mapping.click_count`) and the type it takes, from
/// serde's "invalid type: string \"x\", expected a boolean" without the value that was sent.
fn wrong_type_message(detail: &str) -> String {
    let detail = detail.split_once(": ").map_or(detail, |(_, rest)| rest);
    // The path comes first and is made of field names; the value, last, may contain anything.
    let (path, error) = match detail.find(": invalid ").filter(|_| !detail.starts_with("invalid ")) {
        Some(at) => (Some(&detail[..at]), &detail[at + 2..]),
        // serde_json's own wording for some wrong types ("expected ident") after the path.
        None => match detail.split_once(": ") {
            Some((path, rest)) if is_field_path(path) => (Some(path), rest),
            _ => (None, detail),
        },
    };
    let expected = error
        .rsplit_once(", expected ")
        .map(|(_, expected)| expected.rsplit_once(" at line ").map_or(expected, |(e, _)| e))
        .map(|expected| if expected.starts_with("struct ") || expected == "a map" { "a JSON object" } else { expected });
    match (path, expected) {
        (Some(path), Some(expected)) => format!("{path}: wrong type or value, expected {expected}"),
        (Some(path), None) => format!("{path}: wrong type or value"),
        (None, _) if error.contains("expected struct") => "the body must be a JSON object".to_owned(),
        (None, _) => "a field has the wrong type or value".to_owned(),
    }
}

/// `field_mapping.click_count`, `event_ids[1]`: what serde_path_to_error puts before an error.
fn is_field_path(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::wrong_type_message;

    #[test]
    fn type_errors_name_the_field_not_the_value() {
        let prefix = "Failed to deserialize the JSON body into the target type: ";
        for (detail, expected) in [
            (
                "field_mapping.opt_out_on_unsubscribe: invalid type: string \"CANARY\", expected a boolean at line 1 column 9",
                "field_mapping.opt_out_on_unsubscribe: wrong type or value, expected a boolean",
            ),
            ("consumer_key: invalid type: integer `42`, expected a string at line 1 column 5", "consumer_key: wrong type or value, expected a string"),
            ("version: invalid value: integer `-1`, expected u64 at line 1 column 5", "version: wrong type or value, expected u64"),
            ("events: invalid type: string \"CANARY\", expected struct EventTogglesInput at line 1 column 5", "events: wrong type or value, expected a JSON object"),
            ("invalid type: sequence, expected struct CredentialsInput at line 1 column 0", "the body must be a JSON object"),
            (
                "invalid type: string \"CANARY: invalid x, expected y\", expected struct SettingsInput at line 1 column 9",
                "the body must be a JSON object",
            ),
            (
                "click_count: invalid type: string \"CANARY, expected z\", expected a boolean at line 1 column 9",
                "click_count: wrong type or value, expected a boolean",
            ),
            ("match_policy: expected ident at line 1 column 17", "match_policy: wrong type or value"),
        ] {
            let message = wrong_type_message(&format!("{prefix}{detail}"));
            assert_eq!(message, expected);
            assert!(!message.contains("CANARY"));
        }
    }
}
