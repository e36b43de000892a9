//! The tenant's webhook secrets: what Salesforce presents (or signs with) when it calls
//! `/webhooks/salesforce/{t}`.
//!
//! A secret is generated here, returned exactly once, and stored only sealed (for purpose
//! `webhook_secret`) beside its SHA-256 digest. At most two are active at a time, which is the
//! rotation story: create a second, put it in Salesforce, revoke the first. Revoking the last one
//! is allowed: the tenant's webhooks then fall back to the deployment-wide secret
//! (`SALESFORCE_WEBHOOK_SECRET`) if there is one, else are refused.
//!
//! Every write is version-checked against what was read (one 409 on a concurrent change, no
//! retry) and audited with the secret's id only.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::json;

use super::ConnectError;
use crate::ConflictCode;
use sfbridge_core::cipher::{seal_str, Purpose, SealContext};
use sfbridge_core::domain::TenantId;
use sfbridge_core::secrets::webhook_secret_digest as secret_digest;
use sfbridge_core::secrets::WebhookSecret;
use sfbridge_core::store::{audit_kind, StoreError, WebhookSecretEntry, WebhookSecretsRecord};
use crate::Connector;

/// Active secrets per tenant: the current one and its replacement during a rotation.
pub(crate) const MAX_WEBHOOK_SECRETS: usize = 2;
/// Secret ids are `whk_` and this many random lowercase letters and digits.
pub(crate) const WEBHOOK_SECRET_ID_PREFIX: &str = "whk_";
const ID_RANDOM_LEN: usize = 16;
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

// --- ids -----------------------------------------------------------------------------------------

/// A new secret id (`whk_` + 16 of `a-z0-9`, about 82 bits): a public handle, not a secret.
fn new_secret_id() -> String {
    let mut rng = rand::rng();
    let random: String =
        (0..ID_RANDOM_LEN).map(|_| char::from(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())])).collect();
    format!("{WEBHOOK_SECRET_ID_PREFIX}{random}")
}

/// Whether `id` has the shape of an id this API hands out.
pub(crate) fn is_webhook_secret_id(id: &str) -> bool {
    id.strip_prefix(WEBHOOK_SECRET_ID_PREFIX).is_some_and(|random| {
        random.len() == ID_RANDOM_LEN && random.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

// --- views ---------------------------------------------------------------------------------------

/// One active secret as the list shows it: never the secret, its digest or its sealed bytes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookSecretSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/tenants/{t}/webhook-secrets`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct WebhookSecretList {
    /// Oldest first.
    pub secrets: Vec<WebhookSecretSummary>,
    /// The tenant has no secret of its own and the deployment-wide `SALESFORCE_WEBHOOK_SECRET`
    /// authenticates its webhooks instead.
    pub global_fallback: bool,
    /// Where Salesforce sends this tenant's webhooks.
    pub webhook_url: String,
}

/// `POST /v1/tenants/{t}/webhook-secrets`: the one response that holds the secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug)]
pub struct CreatedWebhookSecret {
    pub id: String,
    pub secret: WebhookSecret,
    pub created_at: DateTime<Utc>,
    /// Active secrets after this one was added (1 or 2).
    pub active_secrets: usize,
    pub message: String,
}

/// Written by hand: `WebhookSecret` is deliberately not `Serialize`, and this response is the
/// only place its value leaves the process.
impl Serialize for CreatedWebhookSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("CreatedWebhookSecret", 5)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("secret", self.secret.expose_secret())?;
        s.serialize_field("created_at", &self.created_at)?;
        s.serialize_field("active_secrets", &self.active_secrets)?;
        s.serialize_field("message", &self.message)?;
        s.end()
    }
}

fn summaries(record: Option<&WebhookSecretsRecord>) -> Vec<WebhookSecretSummary> {
    record
        .map(|r| r.secrets.iter().map(|e| WebhookSecretSummary { id: e.id.clone(), created_at: e.created_at }).collect())
        .unwrap_or_default()
}

/// `{public_url}/webhooks/salesforce/{t}`.
pub fn webhook_url(ctx: &Connector, t: &TenantId) -> String {
    format!("{}/webhooks/salesforce/{t}", ctx.config.public_url.as_str().trim_end_matches('/'))
}

// --- operations ----------------------------------------------------------------------------------

pub async fn webhook_secret_list(ctx: &Connector, t: &TenantId) -> Result<WebhookSecretList, ConnectError> {
    let record = ctx.store.webhook_secrets(t).await?;
    let secrets = summaries(record.as_ref());
    Ok(WebhookSecretList {
        global_fallback: secrets.is_empty() && ctx.config.webhook_secret.is_some(),
        secrets,
        webhook_url: webhook_url(ctx, t),
    })
}

/// Generates a secret, stores it sealed with its digest, audits `webhook.secret_created` and
/// returns it: the only time it is shown.
pub async fn create_webhook_secret(ctx: &Connector, t: &TenantId) -> Result<CreatedWebhookSecret, ConnectError> {
    let current = ctx.store.webhook_secrets(t).await?;
    let mut secrets = current.as_ref().map(|r| r.secrets.clone()).unwrap_or_default();
    if secrets.len() >= MAX_WEBHOOK_SECRETS {
        let oldest = secrets.iter().min_by_key(|e| e.created_at).map_or("", |e| e.id.as_str());
        return Err(ConnectError::Conflict {
            code: ConflictCode::TooManySecrets,
            message: format!(
                "tenant {t} already has {MAX_WEBHOOK_SECRETS} active webhook secrets, the most it can hold. Revoke \
                 the older one first (DELETE /v1/tenants/{t}/webhook-secrets/{oldest}) once Salesforce uses the newer \
                 one, then create a new secret"
            ),
        });
    }

    let secret = WebhookSecret::generate();
    let sealed = seal_str(&*ctx.cipher, &SealContext::new(t, Purpose::WebhookSecret), secret.expose_secret()).await?;
    let digest = secret_digest(secret.expose_secret());
    let id = loop {
        let id = new_secret_id();
        if secrets.iter().all(|e| e.id != id) {
            break id;
        }
    };
    let now = ctx.clock.now();
    secrets.push(WebhookSecretEntry { id: id.clone(), sealed, digest, created_at: now });
    let active_secrets = secrets.len();
    let previous = secrets.iter().rev().nth(1).map(|e| e.id.clone());
    let current_version = current.as_ref().map(|r| r.version);
    let record = WebhookSecretsRecord { secrets, version: current_version.unwrap_or(0) + 1, updated_at: now };
    ctx.store.save_webhook_secrets(t, &record, current_version).await.map_err(changed_meanwhile)?;
    ctx.audit.record(t, audit_kind::WEBHOOK_SECRET_CREATED, json!({"secret_id": id})).await?;

    let next = match previous {
        Some(old) => format!(
            "Put it in Salesforce in place of the current secret, check that webhooks still arrive, then revoke the \
             old one: DELETE /v1/tenants/{t}/webhook-secrets/{old}."
        ),
        None => format!(
            "Put it in Salesforce: in the x-salesforce-webhook-secret header of a JSON callout, or as ?token=<secret> \
             on an Outbound Message endpoint URL ({}).",
            webhook_url(ctx, t)
        ),
    };
    Ok(CreatedWebhookSecret {
        id,
        secret,
        created_at: now,
        active_secrets,
        message: format!("Copy the secret now: it is not shown again. {next}"),
    })
}

/// Revokes one secret at once: Salesforce requests presenting or signed with it are refused from
/// now on. Revoking the last one is allowed (the tenant falls back to the deployment-wide secret,
/// if any). Audits `webhook.secret_revoked`.
pub async fn revoke_webhook_secret(ctx: &Connector, t: &TenantId, secret_id: &str) -> Result<(), ConnectError> {
    // Checked before the store is read. A malformed id is not repeated: it may be a pasted secret.
    if !is_webhook_secret_id(secret_id) {
        return Err(ConnectError::NotFound {
            code: "unknown_webhook_secret",
            message: format!(
                "that is not a webhook secret id (ids are {WEBHOOK_SECRET_ID_PREFIX} and {ID_RANDOM_LEN} lowercase \
                 letters and digits); GET /v1/tenants/{t}/webhook-secrets lists them"
            ),
        });
    }
    let unknown = || ConnectError::NotFound {
        code: "unknown_webhook_secret",
        message: format!(
            "tenant {t} has no active webhook secret {secret_id} (it may have been revoked already); GET \
             /v1/tenants/{t}/webhook-secrets lists them"
        ),
    };
    let Some(current) = ctx.store.webhook_secrets(t).await? else {
        return Err(unknown());
    };
    if !current.secrets.iter().any(|e| e.id == secret_id) {
        return Err(unknown());
    }
    let record = WebhookSecretsRecord {
        secrets: current.secrets.iter().filter(|e| e.id != secret_id).cloned().collect(),
        version: current.version + 1,
        updated_at: ctx.clock.now(),
    };
    ctx.store.save_webhook_secrets(t, &record, Some(current.version)).await.map_err(changed_meanwhile)?;
    Ok(ctx.audit.record(t, audit_kind::WEBHOOK_SECRET_REVOKED, json!({"secret_id": secret_id})).await?)
}

fn changed_meanwhile(e: StoreError) -> ConnectError {
    match e {
        StoreError::Conflict => ConnectError::Conflict {
            code: ConflictCode::ConcurrentChange,
            message: "The tenant's webhook secrets changed while this request ran (another create or revoke). GET \
                      them again and retry."
                .into(),
        },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_one_shape() {
        for _ in 0..100 {
            let id = new_secret_id();
            assert!(is_webhook_secret_id(&id), "{id}");
            assert_eq!(id.len(), 20);
        }
        assert_ne!(new_secret_id(), new_secret_id());
        for bad in [
            "",
            "whk_",
            "whk_abc",
            "whk_ABCDEFGHIJKLMNOP",
            "whk_abcdefghijklmnopq",
            "whk_abcdefghijklmno!",
            "WHK_abcdefghijklmnop",
            "whsec_abcdefghijklmnop",
            "whk_abcdefghijklmnó",
        ] {
            assert!(!is_webhook_secret_id(bad), "{bad}");
        }
        assert!(is_webhook_secret_id("whk_0123456789abcdef"));
    }

    #[test]
    fn the_created_secret_is_serialized_once_and_debug_hides_it() {
        let created = CreatedWebhookSecret {
            id: "whk_0123456789abcdef".into(),
            secret: WebhookSecret::new("whsec_CANARY"),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            active_secrets: 1,
            message: "m".into(),
        };
        let body = serde_json::to_value(&created).unwrap_or_default();
        assert_eq!(body["secret"], "whsec_CANARY");
        assert_eq!(body["id"], "whk_0123456789abcdef");
        assert_eq!(body["active_secrets"], 1);
        assert!(!format!("{created:?}").contains("CANARY"));
    }
}
