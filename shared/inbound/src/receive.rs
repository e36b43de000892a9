//! One webhook request end to end. Nothing is acknowledged before every event of the request is
//! on the inbound queue (docs/reliability.md "Acknowledge only after hand-off", S5, W8):
//!
//! 1. size and content type, then the tenant's secrets, connection and settings (read together);
//! 2. authentication over the raw bytes ([`super::auth`]), before anything is parsed;
//! 3. the body is parsed ([`super::soap`] or [`super::callout`]); an Outbound Message must come
//!    from the tenant's connected org;
//! 4. Closed Won events that did not trigger automatically are kept in the manual trigger queue
//!    ([`super::pending`]);
//! 5. each notification is claimed in the dedupe table (`INBOUND#{t}#{key}`), so of several
//!    deliveries of one notification, sequential or concurrent, one publishes it;
//! 6. the claimed events go to the inbound queue in batches; each one the queue took is marked
//!    published, each one it refused is released for the next delivery;
//! 7. only if all of them are published (now or by an earlier delivery) is the request acknowledged.
//!
//! Each request writes one metrics line (`Function` = `webhook-receiver`, see [`sfbridge_core::metrics`]):
//! accepted, refused (4xx) or failed (5xx), and the events it published or found already published.

use std::collections::{HashMap, HashSet};

use http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use sfbridge_core::secrets::sha256_hex;

use super::auth::{self, Accepted, AuthFailure, SignatureHeaders};
use super::{callout, normalize, pending, soap, EventType, InboundEvent, InvalidPayload, Notification, Source};
use sfbridge_core::cipher::{open_string, CipherError, Purpose, SealContext};
use sfbridge_core::domain::{FlowId, SalesforceId, TenantId};
use sfbridge_core::error::{chain, Cause};
use sfbridge_core::metrics::{self, Counter, Function};
use sfbridge_core::queue::{OutgoingMessage, QueueError};
use sfbridge_core::store::{
    ConnectionRecord, ExperimentLinkRecord, InboundDedupeRecord, InboundStatus, PendingTriggerRecord, SettingsRecord, StoreError,
    TenantSettings, WebhookAuth, WebhookSecretsRecord,
};
use crate::Receiver;

/// Larger bodies are refused before anything else: 100 notifications of a few dozen fields are
/// well under a megabyte, and Lambda cannot take more than 6 MB anyway.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// Each event is one queue message.
pub(crate) const MAX_EVENT_BYTES: usize = sfbridge_core::queue::MAX_MESSAGE_BYTES;
/// Longer than a request can take (the function's timeout is 30 s), so a claim left by a crashed
/// request expires before Salesforce's next retry has long to wait.
pub(crate) const CLAIM_LEASE: Duration = Duration::seconds(60);
/// Campaign ids start with it (salesforce.md §12).
const CAMPAIGN_KEY_PREFIX: &str = "701";
/// Dedupe entries claimed or marked at the same time.
const STORE_CONCURRENCY: usize = 16;

/// What the request body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A SOAP Outbound Message: answered with the ACK envelope or a SOAP fault.
    Soap,
    /// A JSON callout: answered with JSON.
    Json,
}

impl Format {
    /// From the `Content-Type` (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: Option<&str>) -> Option<Self> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/xml" | "application/xml" | "application/soap+xml" => Some(Self::Soap),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// One webhook request as the HTTP layer hands it over.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The `{tenant_id}` path segment, not yet parsed.
    pub tenant_id: &'a str,
    pub headers: &'a HeaderMap,
    /// The raw query string; it may hold the secret, so it is never logged.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// The answer: how to render it, and either how many events the request carried or why it was
/// refused.
#[derive(Debug)]
pub struct WebhookReply {
    pub format: Format,
    pub outcome: Result<usize, WebhookError>,
}

/// Everything that can refuse a webhook request. `sfbridge_http::webhook_status` is the one
/// mapping to HTTP; Salesforce retries any non-2xx, which is what a transient failure needs and what a
/// permanent one (wrong secret, wrong org) cannot avoid.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}; the URL must be /webhooks/salesforce/{{tenant_id}}")]
    InvalidTenant(String),
    /// A path under `/webhooks` that is not a tenant's webhook URL (a typo, a missing segment).
    #[error("no webhook URL here; Salesforce must send to /webhooks/salesforce/{{tenant_id}}, the webhook_url that GET /v1/tenants/{{tenant_id}}/webhook-secrets shows")]
    UnknownUrl,
    /// Salesforce sends Outbound Messages and callouts with POST; anything else is someone
    /// trying the URL (a browser's GET, say).
    #[error("this is a webhook URL: Salesforce sends Outbound Messages and callouts to it with POST")]
    MethodNotAllowed,
    #[error("send an Outbound Message as text/xml or a callout as application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes; an Outbound Message carries at most 100 notifications, and a callout should send fewer fields")]
    TooLarge,
    /// The body did not arrive whole (the sender hung up or the connection broke mid-body).
    #[error("the request body could not be read to its end; send the request again")]
    BodyUnreadable,
    #[error("{0}")]
    Unauthorized(AuthFailure),
    #[error("{0}")]
    Invalid(InvalidPayload),
    #[error("notification {index} is larger than the {MAX_EVENT_BYTES} bytes a queue message can hold; select fewer or shorter fields in Salesforce")]
    EventTooLarge { index: usize },
    #[error("this tenant has no Salesforce connection; connect it before sending events (a disconnected tenant's webhooks are refused)")]
    NotConnected,
    #[error("the Outbound Message comes from another Salesforce org than the one this tenant connected; point each org's Outbound Messages at its own tenant's URL")]
    OrganizationMismatch,
    #[error("another delivery of the same notification is being published right now; retry shortly (Salesforce retries on its own)")]
    InProgress,
    /// The store, key service or queue failed: retry.
    #[error("a backing service is unavailable")]
    Unavailable(#[source] Cause),
}

impl WebhookError {
    /// Not the sender's fault: nothing was acknowledged and the same request may succeed later
    /// (`sfbridge_http` answers 503). Every other error is a refusal the sender must act on.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::InProgress | Self::Unavailable(_))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTenant(_) => "invalid_tenant_id",
            Self::UnknownUrl => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooLarge => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
            Self::EventTooLarge { .. } => "event_too_large",
            Self::Unauthorized(failure) => failure.code(),
            Self::Invalid(_) => "invalid_payload",
            Self::NotConnected => "not_connected",
            Self::OrganizationMismatch => "organization_mismatch",
            Self::InProgress => "in_progress",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// The message for the sender. Internal details of an outage stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unavailable(_) => "a backing service is unavailable; nothing was acknowledged, retry shortly".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(Cause::context("store", e))
    }
}

/// Handles one webhook request. Never panics; every refusal names what to fix. Writes the
/// request's metrics line when done.
pub async fn receive(ctx: &Receiver, request: WebhookRequest<'_>) -> WebhookReply {
    ctx.meter.measure(Function::WebhookReceiver, async {
        let reply = receive_request(ctx, request).await;
        metrics::add(request_counter(&reply.outcome), 1);
        reply
    })
    .await
}

/// Acknowledged, refused as the sender's fault (4xx), or not acknowledged for ours (5xx).
fn request_counter(outcome: &Result<usize, WebhookError>) -> Counter {
    match outcome {
        Ok(_) => Counter::WebhookRequestsAccepted,
        Err(e) if e.is_transient() => Counter::WebhookRequestsFailed,
        Err(_) => Counter::WebhookRequestsRefused,
    }
}

async fn receive_request(ctx: &Receiver, request: WebhookRequest<'_>) -> WebhookReply {
    let content_type = request.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(format) = Format::from_content_type(content_type) else {
        return WebhookReply { format: Format::Json, outcome: Err(WebhookError::UnsupportedMediaType) };
    };
    let outcome = receive_as(ctx, format, &request).await;
    // Only a valid tenant id is logged: a mistyped URL could carry anything, even a secret.
    let tenant_id = TenantId::parse(request.tenant_id).map(|t| t.to_string()).unwrap_or_else(|_| "(invalid)".to_owned());
    match &outcome {
        Ok(events) => tracing::info!(tenant_id, events, "webhook accepted"),
        Err(e @ WebhookError::Unavailable(_)) => tracing::error!(tenant_id, error = %chain(e), "webhook not acknowledged"),
        Err(e) => tracing::warn!(tenant_id, code = e.code(), "webhook refused"),
    }
    WebhookReply { format, outcome }
}

async fn receive_as(ctx: &Receiver, format: Format, request: &WebhookRequest<'_>) -> Result<usize, WebhookError> {
    if request.body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge);
    }
    let tenant = TenantId::parse(request.tenant_id).map_err(|e| WebhookError::InvalidTenant(e.to_string()))?;
    let (secrets, connection, settings) = tokio::try_join!(
        ctx.store.webhook_secrets(&tenant),
        ctx.store.connection(&tenant),
        ctx.store.settings(&tenant),
    )?;
    let settings = settings.map(|s: SettingsRecord| s.settings).unwrap_or_default();
    let now = ctx.clock.now();
    let signed = authenticate(ctx, &tenant, secrets.as_ref(), &settings, format, request, now).await?;

    let connection: ConnectionRecord = connection.ok_or(WebhookError::NotConnected)?;
    let (source, action_id, api_version, notifications) = match format {
        Format::Soap => {
            let message = soap::parse(request.body).map_err(WebhookError::Invalid)?;
            if !same_org(&message.organization_id, &connection.organization_id) {
                return Err(WebhookError::OrganizationMismatch);
            }
            (Source::OutboundMessage, message.action_id, message.api_version, message.notifications)
        }
        Format::Json => (Source::Callout, None, None, callout::parse(request.body).map_err(WebhookError::Invalid)?),
    };
    let count = notifications.len();
    let context =
        EventContext { tenant: &tenant, org: &connection.organization_id, settings: &settings, source, action_id, api_version, now };
    let events = notifications
        .into_iter()
        .enumerate()
        .map(|(index, n)| {
            // A signed request's id covers its events; each event's own id, when given, is better.
            let sender_id = n.notification_id.clone().or_else(|| {
                signed.map(|id| if count == 1 { id.to_owned() } else { format!("{id}#{index}") })
            });
            context.event(index, n, sender_id)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Stored before the acknowledgement like the events: a link lost here would leave a later
    // `campaign_update` by that experiment key without its Campaign.
    save_experiment_links(ctx, &tenant, &events).await?;
    pending::keep(ctx, &tenant, events.iter().filter_map(|e| e.pending.as_ref())).await?;
    publish(ctx, &tenant, events).await?;
    Ok(count)
}

/// Returns the signed request's id when the request was signed.
async fn authenticate<'r>(
    ctx: &Receiver,
    tenant: &TenantId,
    secrets: Option<&WebhookSecretsRecord>,
    settings: &TenantSettings,
    format: Format,
    request: &WebhookRequest<'r>,
    now: DateTime<Utc>,
) -> Result<Option<&'r str>, WebhookError> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    let tenant_secrets = secrets.map(|r| r.secrets.as_slice()).filter(|s| !s.is_empty());
    let accepted = match (tenant_secrets, &ctx.global_secret) {
        (Some(entries), _) => Accepted::Tenant { digests: entries.iter().map(|e| e.digest.as_str()).collect() },
        (None, Some(global)) => Accepted::Global(global),
        (None, None) => Accepted::Nothing,
    };
    let signature = SignatureHeaders {
        id: header(auth::ID_HEADER),
        timestamp: header(auth::TIMESTAMP_HEADER),
        signature: header(auth::SIGNATURE_HEADER),
    };
    let unauthorized = WebhookError::Unauthorized;
    if signature.any() {
        let signed = auth::signed_request(&signature, now).map_err(unauthorized)?;
        let secrets: Vec<zeroize::Zeroizing<String>> = match (&accepted, tenant_secrets) {
            (Accepted::Tenant { .. }, Some(entries)) => {
                let context = SealContext::new(tenant, Purpose::WebhookSecret);
                let cache = &ctx.opened_secrets;
                let opened = entries.iter().map(|e| async {
                    if let Some(secret) = cache.get(tenant, &e.digest) {
                        return Ok(secret);
                    }
                    let secret = open_string(&*ctx.cipher, &context, &e.sealed).await?;
                    cache.insert(tenant, &e.digest, &secret);
                    Ok::<_, CipherError>(secret)
                });
                futures::future::try_join_all(opened)
                    .await
                    .map_err(|e| WebhookError::Unavailable(Cause::context("opening the webhook secret", e)))?
            }
            (Accepted::Global(global), _) => vec![zeroize::Zeroizing::new(global.expose_secret().to_owned())],
            _ => return Err(unauthorized(AuthFailure::NotConfigured)),
        };
        let secrets: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
        auth::check_signature(&signed, request.body, &secrets).map_err(unauthorized)?;
        return Ok(Some(signed.id));
    }
    if format == Format::Json && settings.webhook_auth == WebhookAuth::Signature {
        return Err(unauthorized(AuthFailure::SignatureRequired));
    }
    let presented = auth::SECRET_HEADERS
        .iter()
        .find_map(|name| header(name))
        .map(str::to_owned)
        .or_else(|| query_secret(request.query));
    auth::check_secret(presented.as_deref(), &accepted).map_err(unauthorized)?;
    Ok(None)
}

/// The secret from the query string. Percent-escapes are decoded but `+` stays `+` (RFC 3986; the
/// form-encoding rule that turns it into a space would break base64 secrets pasted into a URL).
fn query_secret(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(&str, &str)> = query?.split('&').filter_map(|pair| pair.split_once('=')).collect();
    auth::SECRET_QUERY_PARAMS.iter().find_map(|param| {
        let (_, value) = pairs.iter().find(|(name, _)| name == param)?;
        percent_encoding::percent_decode_str(value).decode_utf8().ok().map(|v| v.into_owned())
    })
}

/// The 15-character id is the org's identity (case-sensitive); the last 3 of the 18-character
/// form only re-encode its case, so a sender's id is compared by its first 15.
fn same_org(sent: &str, connected: &SalesforceId) -> bool {
    sent.len() >= 15 && sent.is_char_boundary(15) && sent[..15] == connected.as_str()[..15]
}

/// What every event of one request shares.
struct EventContext<'a> {
    tenant: &'a TenantId,
    org: &'a SalesforceId,
    settings: &'a TenantSettings,
    source: Source,
    action_id: Option<String>,
    api_version: Option<String>,
    now: DateTime<Utc>,
}

/// An event ready to publish: its dedupe key (when the sender gave an id) and its message.
struct Outgoing {
    key: Option<String>,
    event_id: String,
    body: String,
    /// A `campaign_updated` event of a Campaign carrying an experiment key links the two.
    link: Option<ExperimentLinkRecord>,
    /// Its manual trigger queue entry, if it is a Closed Won kept pending.
    pending: Option<PendingTriggerRecord>,
}

impl EventContext<'_> {
    fn event(&self, index: usize, n: Notification, sender_id: Option<String>) -> Result<Outgoing, WebhookError> {
        let event_type = normalize::event_type(&n, self.source);
        let campaign = event_type == EventType::CampaignUpdated;
        let status = campaign.then(|| normalize::campaign_status(&n)).flatten();
        let experiment_key = campaign.then(|| normalize::experiment_key(&n)).flatten();
        let contact_emails = (event_type == EventType::OpportunityClosedWon).then(|| pending::contact_emails(&n.fields));
        let trigger = pending::closed_won_trigger(event_type, self.settings, contact_emails.as_deref().unwrap_or_default());
        // The key covers the org for Outbound Messages (S4: organization id + notification id).
        let key = sender_id.as_ref().map(|id| {
            let scope = match self.source {
                Source::OutboundMessage => format!("om|{}", &self.org.as_str()[..15]),
                Source::Callout => "callout".to_owned(),
            };
            sha256_hex(format!("{}|{scope}|{id}", self.tenant).as_bytes())
        });
        let event_id = match &key {
            Some(key) => format!("inb_{}", &key[..32]),
            None => format!("inb_{}", FlowId::random()),
        };
        let link = match (&experiment_key, &n.record_id) {
            (Some(experiment_key), Some(campaign_id)) if campaign && campaign_id.key_prefix() == CAMPAIGN_KEY_PREFIX => {
                Some(ExperimentLinkRecord {
                    experiment_key: experiment_key.clone(),
                    campaign_id: campaign_id.clone(),
                    organization_id: self.org.clone(),
                    event_id: event_id.clone(),
                    linked_at: self.now,
                })
            }
            _ => None,
        };
        let event = InboundEvent {
            version: InboundEvent::VERSION,
            event_id: event_id.clone(),
            tenant_id: self.tenant.clone(),
            source: self.source,
            organization_id: self.org.clone(),
            event_type,
            sobject_type: n.sobject_type,
            record_id: n.record_id,
            fields: n.fields,
            notification_id: sender_id,
            action_id: self.action_id.clone(),
            api_version: self.api_version.clone(),
            status,
            experiment_key,
            received_at: self.now,
            trigger,
            contact_emails,
        };
        let body = serde_json::to_string(&event).map_err(|e| WebhookError::Unavailable(Cause::context("serializing the inbound event", e)))?;
        // serde_json escapes control characters but not these two, and SQS refuses a message that
        // holds them: refused here, they would make every retry fail until Salesforce gives up.
        if body.contains(['\u{FFFE}', '\u{FFFF}']) {
            return Err(WebhookError::Invalid(InvalidPayload::new(format!(
                "event {}: a value holds U+FFFE or U+FFFF, non-characters the inbound queue cannot carry; remove them",
                index + 1
            ))));
        }
        if body.len() > MAX_EVENT_BYTES {
            return Err(WebhookError::EventTooLarge { index: index + 1 });
        }
        let pending = pending::entry(&event, self.settings)?;
        Ok(Outgoing { key, event_id, body, link, pending })
    }
}

/// Saves the experiment links the events make; of several for one key in a request, the last.
async fn save_experiment_links(ctx: &Receiver, t: &TenantId, events: &[Outgoing]) -> Result<(), WebhookError> {
    let mut latest: HashMap<&str, &ExperimentLinkRecord> = HashMap::new();
    for link in events.iter().filter_map(|e| e.link.as_ref()) {
        latest.insert(link.experiment_key.as_str(), link);
    }
    stream::iter(latest.into_values().cloned().collect::<Vec<_>>())
        .map(|link| async move { ctx.store.save_experiment_link(t, &link).await })
        .buffer_unordered(STORE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Where one keyed event stands after trying to claim it.
enum Claim {
    /// Ours to publish; the entry is at this version.
    Held(u64),
    /// Published by an earlier delivery.
    Published,
    /// Another request is publishing it right now.
    Busy,
}

async fn claim(ctx: &Receiver, t: &TenantId, key: &str, event_id: &str, now: DateTime<Utc>) -> Result<Claim, StoreError> {
    let publishing = |version| InboundDedupeRecord {
        status: InboundStatus::Publishing,
        lease_until: Some(now + CLAIM_LEASE),
        event_id: event_id.to_owned(),
        version,
        updated_at: now,
    };
    // Almost every notification is new, so one conditional write usually settles it.
    match ctx.store.save_inbound_dedupe(t, key, &publishing(1), None).await {
        Ok(()) => return Ok(Claim::Held(1)),
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e),
    }
    let Some(existing) = ctx.store.inbound_dedupe(t, key).await? else {
        // Released in between: the next delivery claims it.
        return Ok(Claim::Busy);
    };
    match existing.status {
        InboundStatus::Published => Ok(Claim::Published),
        InboundStatus::Publishing if existing.lease_until.is_some_and(|until| until > now) => Ok(Claim::Busy),
        InboundStatus::Publishing => {
            let next = existing.version + 1;
            match ctx.store.save_inbound_dedupe(t, key, &publishing(next), Some(existing.version)).await {
                Ok(()) => Ok(Claim::Held(next)),
                Err(StoreError::Conflict) => Ok(Claim::Busy),
                Err(e) => Err(e),
            }
        }
    }
}

async fn publish(ctx: &Receiver, t: &TenantId, events: Vec<Outgoing>) -> Result<(), WebhookError> {
    let now = ctx.clock.now();
    // The same notification twice in one request is published once.
    let mut seen = HashSet::new();
    let given = events.len();
    let events: Vec<Outgoing> = events.into_iter().filter(|e| e.key.as_ref().is_none_or(|k| seen.insert(k.clone()))).collect();
    metrics::add(Counter::InboundDuplicates, (given - events.len()) as u64);

    // Owned arguments: futures over borrowed items do not satisfy the Send bound axum needs.
    let claims: Vec<Claim> = stream::iter(events.iter().map(|e| (e.key.clone(), e.event_id.clone())).collect::<Vec<_>>())
        .map(|(key, event_id)| async move {
            match key {
                Some(key) => claim(ctx, t, &key, &event_id, now).await,
                None => Ok(Claim::Held(0)),
            }
        })
        .buffered(STORE_CONCURRENCY)
        .try_collect()
        .await?;

    let mut to_send = Vec::new();
    let mut busy = Vec::new();
    for (event, claim) in events.iter().zip(&claims) {
        match claim {
            Claim::Held(version) => to_send.push((event, *version)),
            Claim::Published => metrics::add(Counter::InboundDuplicates, 1),
            Claim::Busy => busy.push(event),
        }
    }

    let results = if to_send.is_empty() {
        Vec::new()
    } else {
        let sent = ctx.inbound.send(to_send.iter().map(|(e, _)| OutgoingMessage::new(e.body.clone())).collect()).await;
        sfbridge_core::queue::one_answer_each(to_send.len(), sent)
    };
    metrics::add(Counter::InboundEventsPublished, results.iter().filter(|r| r.is_ok()).count() as u64);
    let mut queue_failure: Option<QueueError> = None;
    let settle: Vec<_> = to_send
        .iter()
        .zip(results)
        .filter_map(|((event, version), result)| {
            if let Err(e) = &result {
                queue_failure.get_or_insert_with(|| e.clone());
            }
            let key = event.key.clone()?;
            Some((key, event.event_id.clone(), *version, result.is_ok()))
        })
        .collect();
    stream::iter(settle)
        .map(|(key, event_id, version, sent)| async move {
            if sent {
                let published = InboundDedupeRecord {
                    status: InboundStatus::Published,
                    lease_until: None,
                    event_id,
                    version: version + 1,
                    updated_at: now,
                };
                ctx.store.save_inbound_dedupe(t, &key, &published, Some(version)).await
            } else {
                ctx.store.release_inbound_dedupe(t, &key, version).await
            }
        })
        .buffer_unordered(STORE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    if let Some(e) = queue_failure {
        return Err(WebhookError::Unavailable(Cause::context("inbound queue", e)));
    }

    // Another request was publishing some of these: acknowledge only once it has.
    for event in busy {
        let Some(key) = &event.key else { continue };
        let done = ctx.store.inbound_dedupe(t, key).await?.is_some_and(|r| r.status == InboundStatus::Published);
        if !done {
            return Err(WebhookError::InProgress);
        }
        metrics::add(Counter::InboundDuplicates, 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue that answers for none of the messages it is given (an adapter bug, or a short
    /// `SendMessageBatch` answer): nothing it was handed may be acknowledged.
    #[derive(Debug)]
    struct Mute;

    #[async_trait::async_trait]
    impl sfbridge_core::queue::Queue for Mute {
        async fn send(&self, _: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
            Vec::new()
        }
    }

    #[tokio::test]
    async fn a_queue_that_answers_for_fewer_messages_gets_no_ack() {
        use std::sync::Arc;

        use sfbridge_core::clock::{Clock, SystemClock};
        use sfbridge_core::domain::{HostPolicy, InstanceUrl, LoginHost};
        use sfbridge_core::metrics::{Capture, Meter};
        use sfbridge_core::secrets::WebhookSecret;
        use sfbridge_core::store::{ConnectionRecord, ConnectionStatus, Store};

        let store = Store::in_memory();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tenant = TenantId::parse("team_42").unwrap_or_else(|e| unreachable!("{e}"));
        let now = clock.now();
        let connection = ConnectionRecord {
            status: ConnectionStatus::Connected,
            organization_id: SalesforceId::parse("00D000000000001").unwrap_or_else(|e| unreachable!("{e}")),
            user_id: SalesforceId::parse("005000000000001").unwrap_or_else(|e| unreachable!("{e}")),
            username: None,
            display_name: None,
            instance_url: InstanceUrl::parse("https://unit.my.salesforce.com", HostPolicy::STRICT).unwrap_or_else(|e| unreachable!("{e}")),
            login_host: LoginHost::parse("https://login.salesforce.com", HostPolicy::STRICT).unwrap_or_else(|e| unreachable!("{e}")),
            refresh_token: None,
            access_token: None,
            access_token_issued_at: None,
            access_token_expires_at: None,
            scopes: vec![],
            connected_at: now,
            updated_at: now,
            version: 1,
            refresh_lease_until: None,
        };
        store.save_connection(&tenant, &connection, None).await.unwrap_or_else(|e| unreachable!("{e}"));
        let secret = "global-secret-0123456789abcdef";
        let meter = Meter::new(clock.clone(), Arc::new(Capture::default()));
        let cipher = Arc::new(sfbridge_core::cipher::LocalCipher::random());
        let receiver = crate::Receiver::new(store.clone(), cipher, clock, Arc::new(Mute), Some(WebhookSecret::new(secret)), meter);

        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        headers.insert("x-webhook-secret", http::HeaderValue::from_static("global-secret-0123456789abcdef"));
        let body = br#"[{"id": "c1", "sobject_type": "Task"}, {"id": "c2", "sobject_type": "Task"}]"#;
        let request = WebhookRequest { tenant_id: "team_42", headers: &headers, query: None, body };
        let reply = receiver.receive(request).await;
        assert!(matches!(reply.outcome, Err(WebhookError::Unavailable(_))), "{:?}", reply.outcome);

        // Nothing counts as published: the claims were released, so Salesforce's retry publishes.
        let request = WebhookRequest { tenant_id: "team_42", headers: &headers, query: None, body };
        let again = receiver.receive(request).await;
        assert!(matches!(again.outcome, Err(WebhookError::Unavailable(_))), "not a duplicate: {:?}", again.outcome);
    }

    #[test]
    fn query_secrets_keep_plus_signs_and_decode_escapes() {
        assert_eq!(query_secret(Some("token=whsec_a+b/c=")).as_deref(), Some("whsec_a+b/c="));
        assert_eq!(query_secret(Some("x=1&secret=whsec_a%2Bb%2Fc%3D")).as_deref(), Some("whsec_a+b/c="));
        assert_eq!(query_secret(Some("token=first&secret=second")).as_deref(), Some("first"));
        assert_eq!(query_secret(Some("tokens=x")), None);
        assert_eq!(query_secret(None), None);
    }

    #[test]
    fn requests_count_as_accepted_refused_or_failed_by_status_class() {
        assert_eq!(request_counter(&Ok(3)), Counter::WebhookRequestsAccepted);
        for refused in [WebhookError::Unauthorized(AuthFailure::NotConfigured), WebhookError::NotConnected, WebhookError::TooLarge] {
            assert_eq!(request_counter(&Err(refused)), Counter::WebhookRequestsRefused);
        }
        for failed in [WebhookError::InProgress, WebhookError::Unavailable("store".into())] {
            assert_eq!(request_counter(&Err(failed)), Counter::WebhookRequestsFailed);
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::from_content_type(Some("text/xml; charset=UTF-8")), Some(Format::Soap));
        assert_eq!(Format::from_content_type(Some("Application/JSON")), Some(Format::Json));
        assert_eq!(Format::from_content_type(Some("text/plain")), None);
        assert_eq!(Format::from_content_type(None), None);
    }

    #[test]
    fn orgs_compare_by_their_15_character_id() {
        let Ok(org) = SalesforceId::parse("00D5g000004ABCD") else { unreachable!("valid id") };
        assert!(same_org("00D5g000004ABCD", &org));
        assert!(same_org(org.as_str(), &org));
        // Salesforce's sample carries a made-up suffix; the identity is the first 15.
        assert!(same_org("00D5g000004ABCDEAZ", &org));
        assert!(!same_org("00D5g000004abcd", &org));
        assert!(!same_org("00D5g000004ABCE", &org));
        assert!(!same_org("00D", &org));
        assert!(!same_org("00D5g000004ABC\u{e9}", &org));
    }
}
