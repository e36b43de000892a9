//! The HTTP boundary of the HTTP functions: one JSON error shape,
//! `{"error": {"code": "...", "message": "..."}}`, extractors whose rejections use that shape, the
//! admin token check, and the one place feature errors become statuses: `ConnectError` (feature
//! `connect`: the admin API, the OAuth callback) and `WebhookError` (feature `inbound`: the webhook
//! receiver). Each function turns on the mappings of the features it serves.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

#[cfg(feature = "connect")]
use sfbridge_connect::ConnectError;
use sfbridge_core::domain::{CampaignId, FlowId, TenantId};
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
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
        body.insert("error".into(), json!({"code": self.code, "message": self.message}));
        let mut response = (self.status, axum::Json(serde_json::Value::Object(body))).into_response();
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

/// The status of a refused webhook request. Salesforce retries any non-2xx; 503 (with
/// `Retry-After`) is the answer for "not acknowledged, our side, try again".
#[cfg(feature = "inbound")]
pub fn webhook_status(e: &sfbridge_inbound::WebhookError) -> StatusCode {
    use sfbridge_inbound::WebhookError;
    match e {
        WebhookError::InvalidTenant(_) => StatusCode::NOT_FOUND,
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

/// A JSON body whose rejections say what is wrong without echoing values (a body may hold a
/// secret in the wrong place).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
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
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| json_rejection(JsonRejection::from(e)))?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        let JsonBody(value) = JsonBody::from_request(Request::from_parts(parts, axum::body::Body::from(bytes)), state).await?;
        Ok(Self(value))
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("invalid_json", "the body is not valid JSON"),
        JsonRejection::JsonDataError(e) => {
            let detail = e.body_text();
            // Field names are safe to repeat; values are not.
            let safe = ["missing field", "unknown field", "unknown variant"].iter().any(|k| detail.contains(k));
            let message = if safe {
                detail.split_once(": ").map_or(detail.clone(), |(_, rest)| rest.to_owned())
            } else {
                wrong_type_message(&detail)
            };
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the body is larger than this API accepts")
        }
        JsonRejection::BytesRejection(_) => ApiError::bad_request("invalid_body", "the body could not be read"),
        _ => ApiError::bad_request("invalid_body", "the body could not be read as JSON"),
    }
}

/// Names the field (its path, e.g. `field_mapping.click_count`) and the type it takes, from
/// serde's "invalid type: string \"x\", expected a boolean" without the value that was sent.
fn wrong_type_message(detail: &str) -> String {
    let detail = detail.split_once(": ").map_or(detail, |(_, rest)| rest);
    // The path comes first and is made of field names; the value, last, may contain anything.
    let (path, error) = match detail.find(": invalid ").filter(|_| !detail.starts_with("invalid ")) {
        Some(at) => (Some(&detail[..at]), &detail[at + 2..]),
        None => (None, detail),
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
        ] {
            let message = wrong_type_message(&format!("{prefix}{detail}"));
            assert_eq!(message, expected);
            assert!(!message.contains("CANARY"));
        }
    }
}
