//! The admin API: how the product's backend manages a tenant's Salesforce app credentials,
//! starts connect flows, inspects and ends connections (and checks their health), configures
//! sync (settings and the campaign matrix), manages the webhook secrets Salesforce authenticates
//! with, reads the audit trail and the delivery log, shows and replays dead letters, shows and
//! resolves the manual trigger queue, and starts, follows and cancels imports (Sync Now).
//!
//! In AWS the routes are IAM-authorized at API Gateway; `SFBRIDGE_ADMIN_TOKEN`, when set, adds a
//! bearer check here (and is the only check in the local stack).

mod openapi;

use std::sync::{Arc, LazyLock};

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{DefaultBodyLimit, Query, RawPathParams, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sfbridge_connect::{self as connect, CampaignInput, CredentialsInput, ReplayInput, SettingsInput, TriggerInput};
use sfbridge_connect::{
    CampaignList, CampaignView, ConnectStart, ConnectionView, Connector, CreatedWebhookSecret, DeadLetterList, DisconnectResult, HealthView,
    PendingTriggerList, ReplayReport, SettingsView, TestFieldsReport, TriggerAccepted, WebhookSecretList,
};
use sfbridge_core::domain::{CampaignId, ImportId, TenantId};
use sfbridge_core::store::{AuditEvent, DeliveryRecord, ImportTrigger};
use sfbridge_http::{check_admin_token, json_errors, ApiError, Campaign, Import, JsonBody, OptionalJsonBody, Tenant};
use sfbridge_import::service::{ImportList, ImportView, Started};
use sfbridge_import::{service as import, Importer};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use openapi::{refusals, Refusal, JSON_BODY, PAGED, PENDING_TRIGGER, SALESFORCE, VERSIONED};

/// Credentials and settings bodies are a few hundred bytes; nothing here needs more.
const MAX_BODY_BYTES: usize = 16 * 1024;

type Ctx = State<Arc<Connector>>;

/// The route table: each handler is registered with its `#[utoipa::path]` (method, path,
/// parameters, bodies, responses), so the router and the OpenAPI document are built from the same
/// list and a route cannot be added without its spec. The connect feature's routes (credentials,
/// connection, settings, logs, webhook secrets, triggers), each on the connect service.
fn connect_routes() -> OpenApiRouter<Arc<Connector>> {
    OpenApiRouter::new()
        .routes(routes!(put_credentials, delete_credentials))
        .routes(routes!(post_connect))
        .routes(routes!(get_connection, delete_connection))
        .routes(routes!(get_health))
        .routes(routes!(get_audit))
        .routes(routes!(get_deliveries))
        .routes(routes!(get_dead_letters))
        .routes(routes!(post_dead_letter_replay))
        .routes(routes!(get_settings, put_settings, patch_settings))
        .routes(routes!(post_test_fields))
        .routes(routes!(get_campaigns))
        .routes(routes!(get_campaign, put_campaign))
        .routes(routes!(get_webhook_secrets, post_webhook_secret))
        .routes(routes!(delete_webhook_secret))
        .routes(routes!(get_pending_triggers))
        .routes(routes!(post_trigger, delete_pending_trigger))
}

/// The import's routes (Sync Now and its runs), on the import service.
fn import_routes() -> OpenApiRouter<Arc<Importer>> {
    OpenApiRouter::new()
        .routes(routes!(post_import, get_imports))
        .routes(routes!(get_import, delete_import))
}

/// Routes that need no admin token: the document describes the API, holds no tenant's data,
/// and is the one committed as docs/openapi.json.
fn public_routes() -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(get_openapi))
}

/// The admin API's OpenAPI 3.1 document. The paths come from the route tables above; this adds
/// what is true of the whole API (see `openapi::complete` for the error responses).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sfbridge admin API",
        description = "How a product's backend manages a tenant's Salesforce connection: app credentials, the connect \
            flow, the connection and its health, sync settings and the campaign matrix, webhook secrets, the audit and \
            delivery logs, dead letters, the manual trigger queue and imports. Errors are always \
            `{\"error\": {\"code\", \"message\"}}` (`ErrorBody`); besides each operation's own, any path answers \
            `404 not_found` when no route has it and `405 method_not_allowed` (with `Allow`) for a method its route \
            does not take. Lists are paged alike: `limit` 1-100, and `next_cursor` (`null` on the last page) passed \
            back as `cursor` exactly as returned.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    security(("admin_token" = [])),
    components(schemas(sfbridge_http::ErrorBody, sfbridge_connect::ReplayReport))
)]
struct ApiDoc;

/// The document as `GET /v1/openapi.json` serves it and `docs/openapi.json` holds it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for part in [connect_routes().into_openapi(), import_routes().into_openapi(), public_routes().into_openapi()] {
        doc.merge(part);
    }
    openapi::complete(&mut doc);
    doc
}

/// [`openapi`] as pretty JSON with a final newline: the exact bytes of docs/openapi.json.
pub fn openapi_json() -> String {
    let json = openapi().to_pretty_json().unwrap_or_default();
    format!("{json}\n")
}

/// The admin routes of every feature, behind the admin token, and the public document.
pub fn router(ctx: Arc<Connector>, imports: Arc<Importer>) -> Router {
    let (connect, _) = connect_routes().split_for_parts();
    let (imports_router, _) = import_routes().split_for_parts();
    let (public, _) = public_routes().split_for_parts();
    let admin = connect
        .with_state(ctx.clone())
        .merge(imports_router.with_state(imports))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(ctx, require_admin_token));
    public
        .merge(admin)
        // Outermost: a wrong method (405, with Allow) and any rejection axum makes itself.
        .layer(middleware::from_fn(json_errors))
}

static OPENAPI_JSON: LazyLock<String> = LazyLock::new(openapi_json);

/// Cacheable: it changes only with a deployment. The ETag lets a client revalidate cheaply.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object),
        (status = 304, description = "Not modified: the `If-None-Match` ETag is current."),
    )
)]
async fn get_openapi(headers: axum::http::HeaderMap) -> Response {
    let etag = format!("\"{}\"", &sfbridge_core::secrets::sha256_hex(OPENAPI_JSON.as_bytes())[..32]);
    let cache = [(header::CACHE_CONTROL, "public, max-age=300".to_owned()), (header::ETAG, etag.clone())];
    let matches = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON.as_str()).into_response()
}

/// `{tenant_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the `Tenant` extractor; here for the document only.
struct TenantPath {
    tenant_id: TenantId,
}

/// `{tenant_id}` and `{campaign_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the `Tenant` and `Campaign` extractors.
struct CampaignPath {
    tenant_id: TenantId,
    campaign_id: CampaignId,
}

/// `{tenant_id}` and `{import_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the `Tenant` and `Import` extractors.
struct ImportPath {
    tenant_id: TenantId,
    /// As `POST` or `GET /v1/tenants/{tenant_id}/imports` returned it.
    import_id: ImportId,
}

/// `{tenant_id}` and `{secret_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by `path_segment`.
struct SecretPath {
    tenant_id: TenantId,
    /// `whk_` and 16 lowercase letters and digits, as the list shows it.
    secret_id: String,
}

/// `{tenant_id}` and `{pending_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by `path_segment`.
struct PendingPath {
    tenant_id: TenantId,
    /// A pending trigger's `id` (the Closed Won event's `event_id`), URL-encoded.
    pending_id: String,
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

#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant_id}/credentials",
    tag = "connection",
    params(TenantPath),
    request_body = CredentialsInput,
    responses((status = 204, description = "Saved, sealed; audited `salesforce.byo_credentials_set`.")),
    extensions(("x-sfbridge-errors" = json!(refusals(&[JSON_BODY, &[Refusal::ConcurrentChange]])))),
)]
async fn put_credentials(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    JsonBody(input): JsonBody<CredentialsInput>,
) -> Result<StatusCode, ApiError> {
    connect::save_credentials(&ctx, &t, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/credentials",
    tag = "connection",
    params(TenantPath),
    responses((status = 204, description = "Cleared, and a live connection revoked; audited `salesforce.byo_credentials_cleared`.")),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::NoCredentials, Refusal::ConcurrentChange]])))),
)]
async fn delete_credentials(State(ctx): Ctx, Tenant(t): Tenant) -> Result<StatusCode, ApiError> {
    connect::clear_credentials(&ctx, &t).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/connect",
    tag = "connection",
    params(TenantPath),
    responses((
        status = 201,
        description = "A connect flow: open `connect_url` in a popup (for `client_credentials`, connected at once).",
        body = ConnectStart
    )),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::CredentialsMissing, Refusal::ConcurrentChange], SALESFORCE])))),
)]
async fn post_connect(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    let started = connect::begin_connect(&ctx, &t).await?;
    Ok((StatusCode::CREATED, Json(started)))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/connection",
    tag = "connection",
    params(TenantPath),
    responses((status = 200, description = "The connection, never a secret or token.", body = ConnectionView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[])))),
)]
async fn get_connection(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::connection_view(&ctx, &t).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/connection",
    tag = "connection",
    params(TenantPath),
    responses((
        status = 200,
        description = "Revoked at Salesforce and forgotten; audited `salesforce.disconnected`.",
        body = DisconnectResult
    )),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::NoConnection, Refusal::ConcurrentChange]])))),
)]
async fn delete_connection(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::disconnect(&ctx, &t).await?))
}

/// The connection's health: status, last token refresh, last sync, last error, API usage, and a
/// verdict with what the admin should do. Read-only; the sync and the token refresh write it.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/health",
    tag = "connection",
    params(TenantPath),
    responses((status = 200, description = "The connection's health and what the admin should do.", body = HealthView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[])))),
)]
async fn get_health(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::health_view(&ctx, &t).await?))
}

/// `?limit=&cursor=` as given: both are checked by the list's `PageRules`, so a bad `limit`
/// is `invalid_limit` whether it is out of range or not a number at all.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Entries per page, 1 to 100 (default 50; imports 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The previous page's `next_cursor`, exactly as returned; absent: the first page.
    cursor: Option<String>,
}

/// `GET /v1/tenants/{t}/audit`.
#[derive(Debug, Serialize, ToSchema)]
struct AuditList {
    events: Vec<AuditEvent>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// `GET /v1/tenants/{t}/deliveries`.
#[derive(Debug, Serialize, ToSchema)]
struct DeliveryList {
    /// An event can have several entries (a `failed` attempt, then `dead_lettered`; after a replay,
    /// `synced`): the newest is its outcome.
    deliveries: Vec<DeliveryRecord>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

type PageParams = Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>;

fn page_query(query: PageParams) -> Result<PageQuery, ApiError> {
    // Two strings: only a query string that is not `key=value&...` at all gets here.
    query.map(|Query(page)| page).map_err(|_| ApiError::bad_request("invalid_request", "the query string must be limit=N&cursor=..."))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/audit",
    tag = "logs",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "Audit events, newest first.", body = AuditList)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[PAGED])))),
)]
async fn get_audit(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    let audit = connect::audit_page(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?;
    Ok(Json(AuditList { events: audit.events, next_cursor: audit.next_cursor }))
}

/// The delivery log: every sync command's outcome, newest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/deliveries",
    tag = "logs",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "Every sync command's outcome, newest first, kept 30 days.", body = DeliveryList)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[PAGED])))),
)]
async fn get_deliveries(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    let log = connect::delivery_page(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?;
    Ok(Json(DeliveryList { deliveries: log.deliveries, next_cursor: log.next_cursor }))
}

/// The tenant's dead letters: sync commands that could never run as they were, in event id order.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/dead-letters",
    tag = "dead letters",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "Dead letters in event id order; the bodies are kept, not shown.", body = DeadLetterList)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[PAGED])))),
)]
async fn get_dead_letters(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(connect::dead_letter_list(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

/// Puts dead letters back on the activity queue (`{"all": true}` or `{"event_ids": [...]}`):
/// 200 with what became of each; when the queue did not take some, the error shape with the same
/// report, so the caller replays only those again.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/dead-letters/replay",
    tag = "dead letters",
    params(TenantPath),
    request_body = ReplayInput,
    responses((status = 200, description = "What became of each dead letter named.", body = ReplayReport)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[
        JSON_BODY,
        &[Refusal::NotConnected, Refusal::ReplayRefused, Refusal::ReplayIncomplete]
    ])))),
)]
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

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/settings",
    tag = "settings",
    params(TenantPath),
    responses((status = 200, description = "The saved settings, or the defaults with `configured: false`.", body = SettingsView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[])))),
)]
async fn get_settings(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::settings_view(&ctx, &t).await?))
}

#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant_id}/settings",
    tag = "settings",
    params(TenantPath),
    request_body = SettingsInput,
    responses((status = 200, description = "The saved settings; audited `settings.updated`.", body = SettingsView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[JSON_BODY, VERSIONED])))),
)]
async fn put_settings(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    JsonBody(input): JsonBody<SettingsInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::put_settings(&ctx, &t, input).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}/settings",
    tag = "settings",
    params(TenantPath),
    request_body(
        description = "A JSON merge patch (RFC 7396) of the settings: only the fields given change, `null` returns one to its \
            default, `field_mapping` merges key by key.",
        content((SettingsInput = "application/merge-patch+json"), (SettingsInput = "application/json"))
    ),
    responses((status = 200, description = "The saved settings; audited `settings.updated` with what changed.", body = SettingsView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[JSON_BODY, VERSIONED])))),
)]
async fn patch_settings(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    JsonBody(patch): JsonBody<serde_json::Value>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::patch_settings(&ctx, &t, patch).await?))
}

/// Every mapped field checked against the org (one Composite call of describes).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/settings/test-fields",
    tag = "settings",
    params(TenantPath),
    responses((status = 200, description = "Every mapped field and Campaign Status checked against the org.", body = TestFieldsReport)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::NotConnected], SALESFORCE])))),
)]
async fn post_test_fields(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(sfbridge_connect::test_fields(&ctx, &t).await?))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/campaigns",
    tag = "campaigns",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "Saved campaigns in campaign id order.", body = CampaignList)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[PAGED])))),
)]
async fn get_campaigns(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(connect::campaign_list(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/campaigns/{campaign_id}",
    tag = "campaigns",
    params(CampaignPath),
    responses((status = 200, description = "The campaign, or its defaults with `configured: false`.", body = CampaignView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::InvalidCampaignId]])))),
)]
async fn get_campaign(State(ctx): Ctx, Tenant(t): Tenant, Campaign(c): Campaign) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::campaign_view(&ctx, &t, &c).await?))
}

#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant_id}/campaigns/{campaign_id}",
    tag = "campaigns",
    params(CampaignPath),
    request_body = CampaignInput,
    responses((status = 200, description = "The saved campaign; audited `campaign.updated`.", body = CampaignView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[JSON_BODY, VERSIONED, &[Refusal::InvalidCampaignId]])))),
)]
async fn put_campaign(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    Campaign(c): Campaign,
    JsonBody(input): JsonBody<CampaignInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::put_campaign(&ctx, &t, &c, input).await?))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/webhook-secrets",
    tag = "webhook secrets",
    params(TenantPath),
    responses((status = 200, description = "The active secrets (never a secret or its hash), oldest first.", body = WebhookSecretList)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[])))),
)]
async fn get_webhook_secrets(State(ctx): Ctx, Tenant(t): Tenant) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(connect::webhook_secret_list(&ctx, &t).await?))
}

/// 201 with the new secret: the only response that ever holds it, so it must not be cached.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/webhook-secrets",
    tag = "webhook secrets",
    params(TenantPath),
    responses((
        status = 201,
        description = "The new secret: this response is the only one that holds it.",
        body = CreatedWebhookSecret,
        headers(("Cache-Control" = String, description = "`no-store`"))
    )),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::TooManySecrets, Refusal::ConcurrentChange]])))),
)]
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

#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/webhook-secrets/{secret_id}",
    tag = "webhook secrets",
    params(SecretPath),
    responses((status = 204, description = "Revoked; audited `webhook.secret_revoked`.")),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::UnknownWebhookSecret, Refusal::ConcurrentChange]])))),
)]
async fn delete_webhook_secret(State(ctx): Ctx, Tenant(t): Tenant, params: PathParams) -> Result<StatusCode, ApiError> {
    connect::revoke_webhook_secret(&ctx, &t, &path_segment(params, "secret_id")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The manual trigger queue: Closed Won events that did not trigger automatically, newest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/triggers/pending",
    tag = "triggers",
    params(TenantPath, PageQuery),
    responses((
        status = 200,
        description = "Closed Won events that did not trigger automatically, newest first.",
        body = PendingTriggerList
    )),
    extensions(("x-sfbridge-errors" = json!(refusals(&[PAGED])))),
)]
async fn get_pending_triggers(State(ctx): Ctx, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(connect::pending_trigger_list(&ctx, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

/// 202: one `trigger_requested` event is on the inbound queue (the body, `{"sequence_id": ...}`,
/// may be left out: the tenant's sequence then).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/triggers/pending/{pending_id}",
    tag = "triggers",
    params(PendingPath),
    request_body(
        description = "May be left out: the tenant's `sequence_id` setting then.",
        content = Option<TriggerInput>
    ),
    responses((status = 202, description = "One `trigger_requested` event is on the inbound queue.", body = TriggerAccepted)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[JSON_BODY, PENDING_TRIGGER])))),
)]
async fn post_trigger(
    State(ctx): Ctx,
    Tenant(t): Tenant,
    params: PathParams,
    OptionalJsonBody(input): OptionalJsonBody<TriggerInput>,
) -> Result<impl IntoResponse, ApiError> {
    let accepted = connect::request_trigger(&ctx, &t, &path_segment(params, "pending_id"), input).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/triggers/pending/{pending_id}",
    tag = "triggers",
    params(PendingPath),
    responses((status = 204, description = "Dismissed: off the list, no event; audited `trigger.dismissed`.")),
    extensions(("x-sfbridge-errors" = json!(refusals(&[PENDING_TRIGGER])))),
)]
async fn delete_pending_trigger(State(ctx): Ctx, Tenant(t): Tenant, params: PathParams) -> Result<StatusCode, ApiError> {
    connect::dismiss_trigger(&ctx, &t, &path_segment(params, "pending_id")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /v1/tenants/{t}/imports` (optional): `{"full": true}` reads every record
/// again (and finds deletions by comparison) instead of only what changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportInput {
    #[serde(default)]
    full: bool,
}

/// Sync Now: 202 with the new run, or 200 with the tenant's unfinished one (one at a time).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/imports",
    tag = "imports",
    params(TenantPath),
    request_body(
        description = "May be left out; `{\"full\": true}` reads every record again instead of only what changed.",
        content = Option<ImportInput>
    ),
    responses(
        (status = 202, description = "Sync Now started this run.", body = Started),
        (status = 200, description = "The tenant's unfinished run (`started: false`): one at a time.", body = Started)
    ),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[
        Refusal::InvalidJson,
        Refusal::InvalidRequest,
        Refusal::BodyTooLarge,
        Refusal::ImportNotConfigured,
        Refusal::NotConnected
    ]])))),
)]
async fn post_import(
    State(imports): State<Arc<Importer>>,
    Tenant(t): Tenant,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // No body is the usual call; a body may only be `{"full": true|false}`.
    let input: ImportInput = if body.iter().all(u8::is_ascii_whitespace) {
        ImportInput::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            // The one error scheme: not JSON at all, or JSON that does not fit the route.
            let code = if e.is_syntax() || e.is_eof() { "invalid_json" } else { "invalid_request" };
            ApiError::bad_request(code, "send no body, or {\"full\": true} to read every record again")
        })?
    };
    let full = input.full;
    let started = import::start(&imports, &t, ImportTrigger::SyncNow, full).await?;
    let status = if started.started { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(started)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/imports",
    tag = "imports",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "Import runs, newest first, kept 90 days.", body = ImportList)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[PAGED])))),
)]
async fn get_imports(State(imports): State<Arc<Importer>>, Tenant(t): Tenant, query: PageParams) -> Result<impl IntoResponse, ApiError> {
    let page = page_query(query)?;
    Ok(Json(import::list(&imports, &t, page.limit.as_deref(), page.cursor.as_deref()).await?))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/imports/{import_id}",
    tag = "imports",
    params(ImportPath),
    responses((status = 200, description = "One run.", body = ImportView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::ImportNotFound]])))),
)]
async fn get_import(State(imports): State<Arc<Importer>>, Tenant(t): Tenant, Import(id): Import) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(import::view(&imports, &t, &id).await?))
}

/// Cancels a run: it stops before its next page (at once when it is waiting or parked).
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/imports/{import_id}",
    tag = "imports",
    params(ImportPath),
    responses((status = 202, description = "Cancelled: it stops before its next page.", body = ImportView)),
    extensions(("x-sfbridge-errors" = json!(refusals(&[&[Refusal::ImportNotFound, Refusal::ImportFinished]])))),
)]
async fn delete_import(State(imports): State<Arc<Importer>>, Tenant(t): Tenant, Import(id): Import) -> Result<impl IntoResponse, ApiError> {
    Ok((StatusCode::ACCEPTED, Json(import::cancel(&imports, &t, &id).await?)))
}

async fn not_found() -> ApiError {
    sfbridge_http::not_found("the admin API's routes are /v1/tenants/{tenant_id}/... (README \"Admin API\")")
}
