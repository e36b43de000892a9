//! What the admin API's OpenAPI document says beyond the handlers' `#[utoipa::path]`s: the
//! admin-token security scheme, and every route's error responses, built from the codes each
//! handler lists (`x-sfbridge-errors`) with the statuses and meanings of README's "Errors" table.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr};

/// The operation extension in which a handler lists the refusals it can answer with; this module
/// turns them into responses and removes it.
pub(crate) const ERRORS_EXTENSION: &str = "x-sfbridge-errors";

/// The name of the bearer scheme in the document.
pub(crate) const ADMIN_TOKEN: &str = "admin_token";

/// One way a request is refused: its status, its `error.code` and when. Variants, not codes: one
/// code (`not_connected`, `invalid_request`) can mean different things on different routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Refusal {
    InvalidJson,
    InvalidRequest,
    InvalidQuery,
    InvalidTenantId,
    InvalidCampaignId,
    InvalidLimit,
    InvalidCursor,
    BodyUnreadable,
    Unauthorized,
    NoCredentials,
    NoConnection,
    UnknownWebhookSecret,
    UnknownPendingTrigger,
    ImportNotFound,
    CredentialsMissing,
    NotConnected,
    VersionConflict,
    ConcurrentChange,
    TooManySecrets,
    AlreadyTriggered,
    AlreadyDismissed,
    TriggerInProgress,
    ImportNotConfigured,
    ImportFinished,
    BodyTooLarge,
    UnsupportedMediaType,
    SalesforceRefused,
    ReplayRefused,
    SalesforceUnavailable,
    Unavailable,
    ReplayIncomplete,
    InternalError,
}

/// A JSON body ([`sfbridge_http::JsonBody`]): what its extractor refuses.
pub(crate) const JSON_BODY: &[Refusal] =
    &[Refusal::InvalidJson, Refusal::InvalidRequest, Refusal::BodyUnreadable, Refusal::BodyTooLarge, Refusal::UnsupportedMediaType];
/// A paged list (`?limit=&cursor=`).
pub(crate) const PAGED: &[Refusal] = &[Refusal::InvalidQuery, Refusal::InvalidLimit, Refusal::InvalidCursor];
/// A document saved whole or patched, optionally at a `version`.
pub(crate) const VERSIONED: &[Refusal] = &[Refusal::VersionConflict, Refusal::ConcurrentChange];
/// Triggering or dismissing a pending trigger.
pub(crate) const PENDING_TRIGGER: &[Refusal] =
    &[Refusal::UnknownPendingTrigger, Refusal::AlreadyTriggered, Refusal::AlreadyDismissed, Refusal::TriggerInProgress];
/// What Salesforce answers when the tenant's org is called.
pub(crate) const SALESFORCE: &[Refusal] = &[Refusal::SalesforceRefused, Refusal::SalesforceUnavailable];
/// Every tenant route: the path's tenant id, the admin token, the backing services, a bug.
const EVERY_ROUTE: &[Refusal] = &[Refusal::InvalidTenantId, Refusal::Unauthorized, Refusal::Unavailable, Refusal::InternalError];

/// The value of a handler's `x-sfbridge-errors`: the groups and refusals it names, in one list.
pub(crate) fn refusals(groups: &[&[Refusal]]) -> Value {
    json!(groups.concat())
}

/// What the document says of a refusal.
struct Answer {
    status: u16,
    /// `None`: Salesforce's own code, passed on (README "Troubleshooting").
    code: Option<&'static str>,
    when: &'static str,
    /// The error shape holds the replay report beside `error`.
    with_report: bool,
}

impl Refusal {
    fn answer(self) -> Answer {
        let (status, code, when) = match self {
            Self::InvalidJson => (400, Some("invalid_json"), "the body is not JSON at all"),
            Self::InvalidRequest => (
                400,
                Some("invalid_request"),
                "the body is JSON but does not fit the route (a missing, unknown or mistyped field: the message names it, never \
                 its value), or a value breaks a rule (all named at once)",
            ),
            Self::InvalidQuery => (400, Some("invalid_request"), "the query string is not `key=value&...`"),
            Self::InvalidTenantId => {
                (400, Some("invalid_tenant_id"), "the tenant id in the path is malformed (the message gives the form)")
            }
            Self::InvalidCampaignId => {
                (400, Some("invalid_campaign_id"), "the campaign id in the path is malformed (the message gives the form)")
            }
            Self::InvalidLimit => (400, Some("invalid_limit"), "`limit` is not a whole number from 1 to 100"),
            Self::InvalidCursor => (
                400,
                Some("invalid_cursor"),
                "this cursor was not issued by this endpoint for this tenant; pass `next_cursor` exactly as returned, or start without one",
            ),
            Self::BodyUnreadable => (400, Some("body_unreadable"), "the body broke off before its end: send the request again"),
            Self::Unauthorized => (
                401,
                Some("unauthorized"),
                "the admin token is missing or wrong (with `WWW-Authenticate: Bearer`); only when `SFBRIDGE_ADMIN_TOKEN` is set",
            ),
            Self::NoCredentials => (404, Some("no_credentials"), "the tenant has no credentials to clear"),
            Self::NoConnection => (404, Some("not_connected"), "the tenant has no connection to end"),
            Self::UnknownWebhookSecret => {
                (404, Some("unknown_webhook_secret"), "no active secret with this id (unknown, already revoked or malformed)")
            }
            Self::UnknownPendingTrigger => (
                404,
                Some("unknown_pending_trigger"),
                "no pending trigger with this id (never kept, expired, another tenant's, or malformed)",
            ),
            Self::ImportNotFound => (404, Some("import_not_found"), "no such import (unknown or malformed id)"),
            Self::CredentialsMissing => (409, Some("credentials_missing"), "save credentials first"),
            Self::NotConnected => (409, Some("not_connected"), "the tenant has no Salesforce connection: connect first"),
            Self::VersionConflict => (409, Some("version_conflict"), "the document changed since the `version` given: read it again"),
            Self::ConcurrentChange => (409, Some("concurrent_change"), "another request changed the same record meanwhile: retry"),
            Self::TooManySecrets => (409, Some("too_many_secrets"), "two secrets are active: revoke the older one (named) first"),
            Self::AlreadyTriggered => (409, Some("already_triggered"), "triggered already: nothing is published again"),
            Self::AlreadyDismissed => (409, Some("already_dismissed"), "dismissed already"),
            Self::TriggerInProgress => (409, Some("trigger_in_progress"), "another request is publishing it right now"),
            Self::ImportNotConfigured => (409, Some("import_not_configured"), "the settings name no object to import"),
            Self::ImportFinished => (409, Some("import_finished"), "the run has ended"),
            Self::BodyTooLarge => (413, Some("body_too_large"), "a body over 16 KiB"),
            Self::UnsupportedMediaType => (415, Some("unsupported_media_type"), "a body without `Content-Type: application/json`"),
            Self::SalesforceRefused => (
                422,
                None,
                "Salesforce refused the tenant's app or user for good; the code is Salesforce's (`invalid_client_id`, \
                 `app_not_found`, ...: README \"Troubleshooting\")",
            ),
            Self::ReplayRefused => {
                (422, Some("replay_refused"), "the queue refused replayed dead letters for good (the report says which)")
            }
            Self::SalesforceUnavailable => {
                (502, None, "Salesforce failed for now (`salesforce_unavailable`, `rate_limit_exceeded`, ...): retry")
            }
            Self::Unavailable => (503, Some("unavailable"), "a backing service (DynamoDB, KMS, SQS) failed for now: retry shortly"),
            Self::ReplayIncomplete => (
                503,
                Some("replay_incomplete"),
                "the queue did not take some dead letters (the report says which): replay those again shortly",
            ),
            Self::InternalError => (500, Some("internal_error"), "a bug, logged with its cause (never returned)"),
        };
        let with_report = matches!(self, Self::ReplayRefused | Self::ReplayIncomplete);
        Answer { status, code, when, with_report }
    }
}

/// Adds the security scheme and turns each operation's refusals into its error responses.
pub(crate) fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "`Authorization: Bearer <SFBRIDGE_ADMIN_TOKEN>`, checked when the token is set (always locally). In AWS the \
             routes are IAM-authorized (SigV4) at API Gateway as well.",
        ))
        .build();
    components.add_security_scheme(ADMIN_TOKEN, SecurityScheme::Http(scheme));
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            add_error_responses(operation, components);
        }
    }
}

/// A status with one refusal is the same response on every route: it is a component, named as the
/// refusal, and the operations refer to it.
fn add_error_responses(operation: &mut Operation, components: &mut Components) {
    let Some(listed) = operation.extensions.as_mut().and_then(|e| e.remove(ERRORS_EXTENSION)) else { return };
    if operation.extensions.as_ref().is_some_and(|e| e.is_empty()) {
        operation.extensions = None;
    }
    // Public routes (the document itself) list no refusals and get none of every route's.
    let listed: Vec<Refusal> = serde_json::from_value(listed).unwrap_or_default();
    let mut by_status: std::collections::BTreeMap<u16, Vec<Refusal>> = Default::default();
    for refusal in EVERY_ROUTE.iter().chain(&listed) {
        let refusals = by_status.entry(refusal.answer().status).or_default();
        if !refusals.contains(refusal) {
            refusals.push(*refusal);
        }
    }
    for (status, refusals) in by_status {
        let answers: Vec<Answer> = refusals.iter().map(|r| r.answer()).collect();
        let response = match refusals.as_slice() {
            [single] => {
                let name = serde_json::to_value(single).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                components.responses.entry(name.clone()).or_insert_with(|| RefOr::T(error_response(&answers)));
                RefOr::Ref(Ref::from_response_name(name))
            }
            _ => RefOr::T(error_response(&answers)),
        };
        operation.responses.responses.insert(status.to_string(), response);
    }
}

/// One status's response: the error shape, its `code` one of those listed (free when Salesforce's
/// own), and each code's meaning in the description.
fn error_response(answers: &[Answer]) -> utoipa::openapi::Response {
    let description = answers
        .iter()
        .map(|a| match a.code {
            Some(code) => format!("`{code}`: {}.", a.when),
            None => format!("{}.", capitalized(a.when)),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut shape = AllOfBuilder::new().item(Ref::from_schema_name("ErrorBody"));
    let codes: Option<Vec<&str>> = answers.iter().map(|a| a.code).collect();
    if let Some(codes) = codes {
        let codes = codes.iter().enumerate().filter(|(i, c)| !codes[..*i].contains(c)).map(|(_, c)| *c).collect::<Vec<_>>();
        let code = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(codes));
        let error = ObjectBuilder::new().property("code", code);
        shape = shape.item(ObjectBuilder::new().property("error", error));
    }
    if answers.iter().any(|a| a.with_report) {
        shape = shape.item(Ref::from_schema_name("ReplayReport"));
    }
    let content = ContentBuilder::new().schema(Some(Schema::AllOf(shape.build()))).build();
    ResponseBuilder::new().description(description).content("application/json", content).build()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
