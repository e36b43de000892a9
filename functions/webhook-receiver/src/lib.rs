//! The webhook receiver: `POST /webhooks/salesforce/{tenant_id}` takes Salesforce Outbound
//! Messages (SOAP) and JSON callouts (Flow HTTP Callout, Apex) and answers only after every event
//! is on the inbound queue. The logic is `sfbridge_inbound`; this crate is the HTTP edge:
//! it hands over the raw request and renders the reply in the sender's format.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use sfbridge_inbound::receive::Format;
use sfbridge_http::{json_errors, webhook_status};
use sfbridge_inbound::{soap, WebhookError, WebhookReply, WebhookRequest, MAX_BODY_BYTES};
use sfbridge_inbound::Receiver;

/// Where the deployment-wide webhook secret comes from (moved to `sfbridge_aws`; kept here under
/// its old name for callers).
#[cfg(feature = "lambda")]
pub use sfbridge_aws::secrets_manager as global_secret;

pub const ROUTE: &str = "/webhooks/salesforce/{tenant_id}";

pub fn router(ctx: Arc<Receiver>) -> Router {
    // The handler reads the body itself, with the limit, so an oversized one is refused in the
    // sender's format (a SOAP fault for Salesforce) rather than as plain text. So are a wrong
    // method and a path under /webhooks that is no webhook URL: in the local stack they would
    // otherwise reach the admin API's fallback and be asked for the admin token.
    Router::new()
        .route(ROUTE, post(webhook).layer(DefaultBodyLimit::disable()))
        .route("/webhooks", any(unknown_url))
        .route("/webhooks/{*rest}", any(unknown_url))
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn(json_errors))
        .with_state(ctx)
}

async fn webhook(
    State(receiver): State<Arc<Receiver>>,
    tenant_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Path(tenant_id)) = tenant_id else {
        // Not valid UTF-8 once percent-decoded: no tenant id can be.
        let error = WebhookError::InvalidTenant("the tenant id in the URL is not valid text".into());
        return render(WebhookReply { format: sender_format(&headers), outcome: Err(error) });
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            let error = if over_the_limit(&e) { WebhookError::TooLarge } else { WebhookError::BodyUnreadable };
            tracing::warn!(error = %e, code = error.code(), "webhook body not read");
            return render(WebhookReply { format: sender_format(&headers), outcome: Err(error) });
        }
    };
    let request = WebhookRequest { tenant_id: &tenant_id, headers: &headers, query: query.as_deref(), body: &body };
    render(receiver.receive(request).await)
}

/// How to answer a request refused before the receiver saw it: a SOAP fault to what looks like an
/// Outbound Message, JSON otherwise.
fn sender_format(headers: &HeaderMap) -> Format {
    Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())).unwrap_or(Format::Json)
}

async fn unknown_url(headers: HeaderMap) -> Response {
    render(WebhookReply { format: sender_format(&headers), outcome: Err(WebhookError::UnknownUrl) })
}

/// 405; axum adds `Allow: POST`.
async fn wrong_method(headers: HeaderMap) -> Response {
    render(WebhookReply { format: sender_format(&headers), outcome: Err(WebhookError::MethodNotAllowed) })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::{Body, Bytes};
    use axum::http::{Request, StatusCode};
    use sfbridge_core::cipher::LocalCipher;
    use sfbridge_core::clock::SystemClock;
    use sfbridge_core::metrics::{Capture, Meter};
    use sfbridge_core::queue::MemoryQueue;
    use sfbridge_core::store::Store;
    use sfbridge_inbound::Receiver;
    use tower::ServiceExt as _;

    fn receiver() -> Arc<Receiver> {
        let clock = Arc::new(SystemClock);
        let meter = Meter::new(clock.clone(), Arc::new(Capture::default()));
        Arc::new(Receiver::new(Store::in_memory(), Arc::new(LocalCipher::random()), clock, Arc::new(MemoryQueue::default()), None, meter))
    }

    async fn post(body: Body) -> (StatusCode, serde_json::Value) {
        let request = Request::post("/webhooks/salesforce/team_42").header("content-type", "application/json").body(body);
        let request = request.unwrap_or_else(|e| unreachable!("{e}"));
        let response = super::router(receiver()).oneshot(request).await.unwrap_or_else(|e| match e {});
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// The bug this fixed: every failure to read the body was answered 413 `body_too_large`.
    #[tokio::test]
    async fn a_body_that_breaks_off_is_400_and_only_an_oversized_one_is_413() {
        let broken = futures::stream::iter([Ok(Bytes::from_static(b"{\"id\":")), Err(std::io::Error::other("connection reset"))]);
        let (status, body) = post(Body::from_stream(broken)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("body_unreadable")), "{body}");

        let oversized = vec![b' '; sfbridge_inbound::MAX_BODY_BYTES + 1];
        let (status, body) = post(Body::from(oversized)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")), "{body}");
    }
}
