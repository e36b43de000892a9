//! The webhook receiver: `POST /webhooks/salesforce/{tenant_id}` takes Salesforce Outbound
//! Messages (SOAP) and JSON callouts (Flow HTTP Callout, Apex) and answers only after every event
//! is on the inbound queue. The logic is `sfbridge_shared::inbound`; this crate is the HTTP edge:
//! it hands over the raw request and renders the reply in the sender's format.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sfbridge_shared::inbound::receive::Format;
use sfbridge_shared::inbound::{self, soap, WebhookError, WebhookReply, WebhookRequest, MAX_BODY_BYTES};
use sfbridge_shared::AppContext;

pub mod global_secret;

pub const ROUTE: &str = "/webhooks/salesforce/{tenant_id}";

pub fn router(ctx: Arc<AppContext>) -> Router {
    // The handler reads the body itself, with the limit, so an oversized one is refused in the
    // sender's format (a SOAP fault for Salesforce) rather than as plain text.
    Router::new().route(ROUTE, post(webhook).layer(DefaultBodyLimit::disable())).with_state(ctx)
}

async fn webhook(
    State(ctx): State<Arc<AppContext>>,
    Path(tenant_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let format = Format::from_content_type(content_type).unwrap_or(Format::Json);
        return render(WebhookReply { format, outcome: Err(WebhookError::TooLarge) });
    };
    let request = WebhookRequest { tenant_id: &tenant_id, headers: &headers, query: query.as_deref(), body: &body };
    render(inbound::receive(&ctx, request).await)
}

/// Outbound Messages get the exact ACK envelope or a SOAP fault (its reason shows in Salesforce's
/// delivery status); callouts get JSON.
pub fn render(reply: WebhookReply) -> Response {
    let (status, content_type, body) = match (reply.format, reply.outcome) {
        (Format::Soap, Ok(_)) => (StatusCode::OK, "text/xml; charset=utf-8", soap::ACK.to_owned()),
        (Format::Json, Ok(events)) => {
            (StatusCode::OK, "application/json", serde_json::json!({"processed": true, "events": events}).to_string())
        }
        (Format::Soap, Err(e)) => (e.status(), "text/xml; charset=utf-8", soap::fault(&e.public_message())),
        (Format::Json, Err(e)) => (
            e.status(),
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
