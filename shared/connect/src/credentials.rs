use serde::Deserialize;
use serde_json::json;

use super::{connection, ConnectError};
use sfbridge_core::credentials::{self, seal_credentials, OpenedCredentials};
use sfbridge_core::domain::{LoginHost, TenantId};
use sfbridge_core::secrets::ConsumerSecret;
use sfbridge_core::store::{audit_kind, CredentialsRecord, OAuthFlowKind};
use crate::Connector;

const DEFAULT_LOGIN_URL: &str = "https://login.salesforce.com";
const MAX_CREDENTIAL_LEN: usize = 256;

/// The body of `PUT /v1/tenants/{t}/credentials`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    pub consumer_key: String,
    pub consumer_secret: ConsumerSecret,
    pub login_url: Option<String>,
    pub flow: Option<OAuthFlowKind>,
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

pub async fn save_credentials(ctx: &Connector, t: &TenantId, input: CredentialsInput) -> Result<CredentialsRecord, ConnectError> {
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

    let sealed = seal_credentials(ctx.cipher.as_ref(), t, &consumer_key, &input.consumer_secret).await?;
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
    ctx.audit.record(t,
        audit_kind::CREDENTIALS_SET,
        json!({"consumer_key": record.consumer_key_masked, "login_url": record.login_host, "flow": record.flow, "version": version}),
    )
    .await?;
    Ok(record)
}

/// Forgets the app credentials. A live connection goes too: without the secret its tokens could
/// never be refreshed, and an admin clearing credentials expects access to end.
pub async fn clear_credentials(ctx: &Connector, t: &TenantId) -> Result<(), ConnectError> {
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
    Ok(ctx.audit.record(t, audit_kind::CREDENTIALS_CLEARED, json!({})).await?)
}

/// The tenant's saved credentials, opened; `None` when there are none.
pub(crate) async fn open_credentials(ctx: &Connector, t: &TenantId) -> Result<Option<OpenedCredentials>, ConnectError> {
    Ok(credentials::open_credentials(&ctx.store, ctx.cipher.as_ref(), t).await?)
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
