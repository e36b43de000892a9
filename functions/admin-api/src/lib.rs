//! The admin API: how the product's backend manages a tenant's Salesforce app credentials,
//! starts connect flows, inspects and ends connections (and checks their health), configures
//! sync (settings and the campaign matrix), manages the webhook secrets Salesforce authenticates
//! with, reads the audit trail and the delivery log, shows and replays dead letters, shows and
//! resolves the manual trigger queue, and starts, follows and cancels imports (Sync Now).
//!
//! In AWS the routes are IAM-authorized at API Gateway; `SFBRIDGE_ADMIN_TOKEN`, when set, adds a
//! bearer check here (and is the only check in the local stack).

use std::sync::Arc;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{DefaultBodyLimit, Query, RawPathParams, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use sfbridge_connect::{self as connect, CampaignInput, CredentialsInput, ReplayInput, SettingsInput, TriggerInput};
use sfbridge_connect::Connector;
use sfbridge_core::store::ImportTrigger;
use sfbridge_http::{check_admin_token, json_errors, ApiError, Campaign, Import, JsonBody, OptionalJsonBody, Tenant};
use sfbridge_import::{service as import, Importer};

/// Credentials and settings bodies are a few hundred bytes; nothing here needs more.
const MAX_BODY_BYTES: usize = 16 * 1024;

type Ctx = State<Arc<Connector>>;

/// The admin routes of every feature: the connect feature's (credentials, connection, settings,
/// logs, webhook secrets) and the import's (Sync Now and its runs), each on its own service.
pub fn router(ctx: Arc<Connector>, imports: Arc<Importer>) -> Router {
    let import_routes = Router::new()
        .route("/v1/tenants/{tenant_id}/imports", post(post_import).get(get_imports))
        .route("/v1/tenants/{tenant_id}/imports/{import_id}", get(get_import).delete(delete_import))
        .with_state(imports);
    Router::new()
        .route("/v1/tenants/{tenant_id}/credentials", put(put_credentials).delete(delete_credentials))
        .route("/v1/tenants/{tenant_id}/connect", post(post_connect))
        .route("/v1/tenants/{tenant_id}/connection", get(get_connection).delete(delete_connection))
        .route("/v1/tenants/{tenant_id}/health", get(get_health))
        .route("/v1/tenants/{tenant_id}/audit", get(get_audit))
        .route("/v1/tenants/{tenant_id}/deliveries", get(get_deliveries))
        .route("/v1/tenants/{tenant_id}/dead-letters", get(get_dead_letters))
        .route("/v1/tenants/{tenant_id}/dead-letters/replay", post(post_dead_letter_replay))
        .route("/v1/tenants/{tenant_id}/settings", get(get_settings).put(put_settings).patch(patch_settings))
        .route("/v1/tenants/{tenant_id}/settings/test-fields", post(post_test_fields))
        .route("/v1/tenants/{tenant_id}/campaigns", get(get_campaigns))
        .route("/v1/tenants/{tenant_id}/campaigns/{campaign_id}", get(get_campaign).put(put_campaign))
        .route("/v1/tenants/{tenant_id}/webhook-secrets", get(get_webhook_secrets).post(post_webhook_secret))
        .route("/v1/tenants/{tenant_id}/webhook-secrets/{secret_id}", delete(delete_webhook_secret))
        .route("/v1/tenants/{tenant_id}/triggers/pending", get(get_pending_triggers))
        .route("/v1/tenants/{tenant_id}/triggers/pending/{pending_id}", post(post_trigger).delete(delete_pending_trigger))
        .with_state(ctx.clone())
        .merge(import_routes)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(ctx, require_admin_token))
        // Outermost: a wrong method (405, with Allow) and any rejection axum makes itself.
        .layer(middleware::from_fn(json_errors))
}

async fn require_admin_token(State(ctx): Ctx, request: Request, next: Next) -> Response {
    match check_admin_token(ctx.config(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            let mut response = refused.into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            response
        }
    }
}

async fn put_credentials(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    JsonBody(input): JsonBody<CredentialsInput>,
) -> Result<StatusCode, ApiError> {
    connect::save_credentials(&ctx, &t, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_credentials(State(ctx): Ctx, Tenant(t): Tenant) -> Result<StatusCode, ApiError> {
    connect::clear_credentials(&ctx, &t).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn post_connect(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    let started = connect::begin_connect(&ctx, &t).await?;
    Ok((StatusCode::CREATED, Json(started)))
}

async fn get_connection(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::connection_view(&ctx, &t).await?))
}

async fn delete_connection(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::disconnect(&ctx, &t).await?))
}

/// The connection's health: status, last token refresh, last sync, last error, API usage, and a
/// verdict with what the admin should do. Read-only; the sync and the token refresh write it.
async fn get_health(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::health_view(&ctx, &t).await?))
}

/// `?limit=&cursor=` as given: both are checked by the list's `PageRules`, so a bad `limit`
/// is `invalid_limit` whether it is out of range or not a number at all.
#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

type PageParams = Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>;

fn page_query(query: PageParams) -> Result<PageQuery, ApiError> {
    // Two strings: only a query string that is not `key=value&...` at all gets here.
    query.map(|Query(page)| page).map_err(|_| ApiError::bad_request("invalid_request", "the query string must be limit=N&cursor=..."))
}

async fn get_audit(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    let audit = connect::audit_page(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?;
    Ok(Json(serde_json::json!({"events": audit.events, "next_cursor": audit.next_cursor})))
}

/// The delivery log: every sync command's outcome, newest first.
async fn get_deliveries(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    let log = connect::delivery_page(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?;
    Ok(Json(serde_json::json!({"deliveries": log.deliveries, "next_cursor": log.next_cursor})))
}

/// The tenant's dead letters: sync commands that could never run as they were, in event id order.
async fn get_dead_letters(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(connect::dead_letter_list(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

/// Puts dead letters back on the activity queue (`{"all": true}` or `{"event_ids": [...]}`):
/// 200 with what became of each; when the queue did not take some, the error shape with the same
/// report, so the caller replays only those again.
async fn post_dead_letter_replay(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    JsonBody(input): JsonBody<ReplayInput>,
) -> Result<Response, ApiError> {
    let report = connect::replay_dead_letters(&ctx, &t, input).await?;
    if report.failed.is_empty() {
        return Ok(Json(report).into_response());
    }
    let retryable = report.failed.iter().any(|f| f.code == "queue_unavailable");
    let message = format!(
        "{} dead letter(s) could not be put on the activity queue and are still dead letters (see failed); {} were replayed \
         (see replayed) and must not be replayed again.{}",
        report.failed.len(),
        report.replayed.len(),
        if retryable { " Replay the failed ones again shortly." } else { "" }
    );
    let error = if retryable {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "replay_incomplete", message)
    } else {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "replay_refused", message)
    };
    Ok(error.with_report(serde_json::to_value(&report).unwrap_or_default()))
}

async fn get_settings(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::settings_view(&ctx, &t).await?))
}

async fn put_settings(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    JsonBody(input): JsonBody<SettingsInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::put_settings(&ctx, &t, input).await?))
}

async fn patch_settings(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    JsonBody(patch): JsonBody<serde_json::Value>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::patch_settings(&ctx, &t, patch).await?))
}

/// Every mapped field checked against the org (one Composite call of describes).
async fn post_test_fields(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(sfbridge_connect::test_fields(&ctx, &t).await?))
}

async fn get_campaigns(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(connect::campaign_list(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

async fn get_campaign(State(ctx): Ctx, Tenant(t): Tenant, Campaign(c): Campaign) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::campaign_view(&ctx, &t, &c).await?))
}

async fn put_campaign(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    Campaign(c): Campaign,
    JsonBody(input): JsonBody<CampaignInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::put_campaign(&ctx, &t, &c, input).await?))
}

async fn get_webhook_secrets(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::webhook_secret_list(&ctx, &t).await?))
}

/// 201 with the new secret: the only response that ever holds it, so it must not be cached.
async fn post_webhook_secret(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    let created = connect::create_webhook_secret(&ctx, &t).await?;
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(created)))
}

type PathParams = Result<RawPathParams, RawPathParamsRejection>;

/// The path segment `name`, or `""` when it does not decode: an undecodable segment is as unknown
/// as a malformed one, and the service refuses both before any read.
fn path_segment(params: PathParams, name: &str) -> String {
    params.ok().and_then(|p| p.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_owned())).unwrap_or_default()
}

async fn delete_webhook_secret(State(ctx): Ctx, Tenant(t): Tenant, params: PathParams) -> Result<StatusCode, ApiError> {
    connect::revoke_webhook_secret(&ctx, &t, &path_segment(params, "secret_id")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The manual trigger queue: Closed Won events that did not trigger automatically, newest first.
async fn get_pending_triggers(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(connect::pending_trigger_list(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

/// 202: one `trigger_requested` event is on the inbound queue (the body, `{"sequence_id": ...}`,
/// may be left out: the tenant's sequence then).
async fn post_trigger(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    params: PathParams,
    OptionalJsonBody(input): OptionalJsonBody<TriggerInput>,
) -> Result<impl IntoResponse, ApiError> {
    let accepted = connect::request_trigger(&ctx, &t, &path_segment(params, "pending_id"), input).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

async fn delete_pending_trigger(State(ctx): Ctx, Tenant(t): Tenant, params: PathParams) -> Result<StatusCode, ApiError> {
    connect::dismiss_trigger(&ctx, &t, &path_segment(params, "pending_id")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /v1/tenants/{t}/imports` (optional): `{"full": true}` reads every record
/// again (and finds deletions by comparison) instead of only what changed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportInput {
    #[serde(default)]
    full: bool,
}

/// Sync Now: 202 with the new run, or 200 with the tenant's unfinished one (one at a time).
async fn post_import(
    State(imports): State<Arc<Importer>>,
    Tenant(t): Tenant,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // No body is the usual call; a body may only be `{"full": true|false}`.
    let input: ImportInput = if body.iter().all(u8::is_ascii_whitespace) {
        ImportInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| ApiError::bad_request("invalid_body", "send no body, or {\"full\": true} to read every record again"))?
    };
    let full = input.full;
    let started = import::start(&imports, &t, ImportTrigger::SyncNow, full).await?;
    let status = if started.started { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(started)).into_response())
}

async fn get_imports(State(imports): State<Arc<Importer>>, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(import::list(&imports, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

async fn get_import(State(imports): State<Arc<Importer>>, Tenant(t): Tenant, Import(id): Import) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(import::view(&imports, &t, &id).await?))
}

/// Cancels a run: it stops before its next page (at once when it is waiting or parked).
async fn delete_import(State(imports): State<Arc<Importer>>, Tenant(t): Tenant, Import(id): Import) -> Result<impl IntoResponse, ApiError> {
    Ok((StatusCode::ACCEPTED, Json(import::cancel(&imports, &t, &id).await?)))
}

async fn not_found() -> ApiError {
    sfbridge_http::not_found("the admin API's routes are /v1/tenants/{tenant_id}/... (README \"Admin API\")")
}
