//! The webhook receiver: `POST /webhooks/salesforce/{tenant_id}` takes Salesforce Outbound
//! Messages (SOAP) and JSON callouts (Flow HTTP Callout, Apex) and answers only after every event
//! is on the inbound queue. The logic is `sfbridge_inbound`; this crate is the HTTP edge:
//! it hands over the raw request and renders the reply in the sender's format.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sfbridge_inbound::receive::Format;
use sfbridge_http::webhook_status;
use sfbridge_inbound::{soap, WebhookError, WebhookReply, WebhookRequest, MAX_BODY_BYTES};
use sfbridge_inbound::Receiver;

/// Where the deployment-wide webhook secret comes from (moved to `sfbridge_aws`; kept here under
/// its old name for callers).
pub use sfbridge_aws::secrets_manager as global_secret;

pub const ROUTE: &str = "/webhooks/salesforce/{tenant_id}";

pub fn router(ctx: Arc<Receiver>) -> Router {
    // The handler reads the body itself, with the limit, so an oversized one is refused in the
    // sender's format (a SOAP fault for Salesforce) rather than as plain text.
    Router::new().route(ROUTE, post(webhook).layer(DefaultBodyLimit::disable())).with_state(ctx)
}

async fn webhook(
    State(receiver): State<Arc<Receiver>>,
    Path(tenant_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let format = Format::from_content_type(content_type).unwrap_or(Format::Json);
            let error = if over_the_limit(&e) { WebhookError::TooLarge } else { WebhookError::BodyUnreadable };
            tracing::warn!(error = %e, code = error.code(), "webhook body not read");
            return render(WebhookReply { format, outcome: Err(error) });
        }
    };
    let request = WebhookRequest { tenant_id: &tenant_id, headers: &headers, query: query.as_deref(), body: &body };
    render(receiver.receive(request).await)
}

/// Whether reading the body stopped at [`MAX_BODY_BYTES`], rather than because the body broke off.
fn over_the_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Outbound Messages get the exact ACK envelope or a SOAP fault (its reason shows in Salesforce's
/// delivery status); callouts get JSON.
pub fn render(reply: WebhookReply) -> Response {
    let (status, content_type, body) = match (reply.format, reply.outcome) {
        (Format::Soap, Ok(_)) => (StatusCode::OK, "text/xml; charset=utf-8", soap::ACK.to_owned()),
        (Format::Json, Ok(events)) => {
            (StatusCode::OK, "application/json", serde_json::json!({"processed": true, "events": events}).to_string())
        }
        (Format::Soap, Err(e)) => (webhook_status(&e), "text/xml; charset=utf-8", soap::fault(&e.public_message())),
        (Format::Json, Err(e)) => (
            webhook_status(&e),
            "application/json",
            serde_json::json!({"processed": false, "error": {"code": e.code(), "message": e.public_message()}}).to_string(),
        ),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    }
    response
}
