use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::{connection, record_audit, ConnectError};
use crate::cipher::{open_string, seal_str, Purpose, SealContext};
use crate::domain::{LoginHost, TenantId};
use crate::secrets::ConsumerSecret;
use crate::store::{audit_kind, CredentialsRecord, OAuthFlowKind};
use crate::AppContext;

const DEFAULT_LOGIN_URL: &str = "https://login.salesforce.com";
const MAX_CREDENTIAL_LEN: usize = 256;

/// The body of `PUT /v1/tenants/{t}/credentials`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    pub consumer_key: String,
    pub consumer_secret: ConsumerSecret,
    pub login_url: Option<String>,
    pub flow: Option<OAuthFlowKind>,
}

/// The opened form of `CredentialsRecord.sealed`.
#[derive(serde::Serialize, Deserialize)]
struct AppCredentials {
    consumer_key: String,
    consumer_secret: String,
}

/// The tenant's app, opened for one use.
#[derive(Debug)]
pub struct OpenedCredentials {
    pub consumer_key: String,
    pub consumer_secret: ConsumerSecret,
    pub login_host: LoginHost,
    pub flow: OAuthFlowKind,
}

fn check_credential(name: &str, value: &str) -> Result<(), ConnectError> {
    if value.is_empty() {
        return Err(ConnectError::Invalid(format!(
            "{name} is empty: copy it from your External Client App's OAuth settings in Salesforce"
        )));
    }
    if value.len() > MAX_CREDENTIAL_LEN || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConnectError::Invalid(format!(
            "{name} does not look like one Salesforce issued (at most {MAX_CREDENTIAL_LEN} characters, no spaces): copy it again"
        )));
    }
    Ok(())
}

/// `3MVG…Xy9z`: recognisable in a list, useless to an attacker.
pub(crate) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

pub async fn save_credentials(ctx: &AppContext, t: &TenantId, input: CredentialsInput) -> Result<CredentialsRecord, ConnectError> {
    let consumer_key = input.consumer_key.trim().to_owned();
    check_credential("consumer_key", &consumer_key)?;
    check_credential("consumer_secret", input.consumer_secret.expose_secret())?;
    let login_url = input.login_url.as_deref().unwrap_or(DEFAULT_LOGIN_URL);
    let login_host = LoginHost::parse(login_url, ctx.config.host_policy)
        .map_err(|e| ConnectError::Invalid(format!("login_url: {e}")))?;
    let flow = input.flow.unwrap_or_default();
    let generic_host = ["https://login.salesforce.com", "https://test.salesforce.com"].contains(&login_host.as_str());
    if flow == OAuthFlowKind::ClientCredentials && generic_host {
        return Err(ConnectError::Invalid(
            "the client_credentials flow only works on your org's My Domain: set login_url to \
             https://<your-domain>.my.salesforce.com"
                .into(),
        ));
    }

    let plaintext = Zeroizing::new(
        serde_json::to_string(&AppCredentials {
            consumer_key: consumer_key.clone(),
            consumer_secret: input.consumer_secret.expose_secret().to_owned(),
        })
        .map_err(|e| ConnectError::Internal(e.to_string()))?,
    );
    let sealed = seal_str(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::ConsumerCredentials), &plaintext).await?;
    let version = ctx.store.credentials(t).await?.map_or(1, |old| old.version + 1);
    let record = CredentialsRecord {
        sealed,
        consumer_key_masked: mask_key(&consumer_key),
        login_host,
        flow,
        version,
        updated_at: ctx.clock.now(),
    };
    ctx.store.save_credentials(t, &record).await?;
    record_audit(
        ctx,
        t,
        audit_kind::CREDENTIALS_SET,
        json!({"consumer_key": record.consumer_key_masked, "login_url": record.login_host, "flow": record.flow, "version": version}),
    )
    .await?;
    Ok(record)
}

/// Forgets the app credentials. A live connection goes too: without the secret its tokens could
/// never be refreshed, and an admin clearing credentials expects access to end.
pub async fn clear_credentials(ctx: &AppContext, t: &TenantId) -> Result<(), ConnectError> {
    if ctx.store.credentials(t).await?.is_none() {
        return Err(ConnectError::NotFound {
            code: "no_credentials",
            message: format!("tenant {t} has no saved credentials"),
        });
    }
    if ctx.store.connection(t).await?.is_some() {
        connection::disconnect(ctx, t).await?;
    }
    ctx.store.delete_credentials(t).await?;
    record_audit(ctx, t, audit_kind::CREDENTIALS_CLEARED, json!({})).await
}

pub async fn open_credentials(ctx: &AppContext, t: &TenantId) -> Result<Option<OpenedCredentials>, ConnectError> {
    let Some(record) = ctx.store.credentials(t).await? else {
        return Ok(None);
    };
    // The context comes from the key we asked for, not from anything stored in the item.
    let json = open_string(ctx.cipher.as_ref(), &SealContext::new(t, Purpose::ConsumerCredentials), &record.sealed).await?;
    let opened: AppCredentials =
        serde_json::from_str(&json).map_err(|_| ConnectError::Internal("sealed credentials are not the expected JSON".into()))?;
    let AppCredentials { consumer_key, consumer_secret } = opened;
    Ok(Some(OpenedCredentials {
        consumer_key,
        consumer_secret: ConsumerSecret::new(consumer_secret),
        login_host: record.login_host,
        flow: record.flow,
    }))
}

#[cfg(test)]
mod tests {
    use super::mask_key;

    #[test]
    fn masks_all_but_the_ends() {
        assert_eq!(mask_key("3MVG9abcdefghijklmnopXy9z"), "3MVG…Xy9z");
        assert_eq!(mask_key("short"), "****");
    }
}
