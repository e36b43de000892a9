//! The deployment-wide webhook secret can live in AWS Secrets Manager
//! (`SALESFORCE_WEBHOOK_SECRET_ARN`) instead of the function's environment
//! (`SALESFORCE_WEBHOOK_SECRET`), where anyone allowed `lambda:GetFunctionConfiguration` could
//! read it. It is fetched once per cold start and then validated exactly like the variable.

use aws_sdk_secretsmanager::Client;
use sfbridge_core::config::{Config, ConfigError};

pub(crate) const ARN_VARIABLE: &str = "SALESFORCE_WEBHOOK_SECRET_ARN";
pub(crate) const VARIABLE: &str = "SALESFORCE_WEBHOOK_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum GlobalSecretError {
    #[error("set either {VARIABLE} or {ARN_VARIABLE}, not both")]
    Both,
    // The SDK error names the ARN and the reason (not found, access denied, ...), never a value.
    #[error("reading the webhook secret {arn} from Secrets Manager failed: {reason}")]
    Fetch { arn: String, reason: String },
    #[error("the Secrets Manager secret {arn} has no SecretString (store the webhook secret as plain text)")]
    NotAString { arn: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The configuration from `lookup` (the environment), with the webhook secret read from Secrets
/// Manager when `SALESFORCE_WEBHOOK_SECRET_ARN` names one.
pub async fn config_with_global_secret(
    secrets: &Client,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, GlobalSecretError> {
    let Some(arn) = lookup(ARN_VARIABLE).filter(|v| !v.trim().is_empty()) else {
        return Ok(Config::from_lookup(lookup)?);
    };
    if lookup(VARIABLE).is_some() {
        return Err(GlobalSecretError::Both);
    }
    let secret = fetch(secrets, arn.trim()).await?;
    Ok(Config::from_lookup(|name| if name == VARIABLE { Some(secret.clone()) } else { lookup(name) })?)
}

async fn fetch(secrets: &Client, arn: &str) -> Result<String, GlobalSecretError> {
    let output = secrets.get_secret_value().secret_id(arn).send().await.map_err(|e| GlobalSecretError::Fetch {
        arn: arn.to_owned(),
        reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
    })?;
    output.secret_string.ok_or_else(|| GlobalSecretError::NotAString { arn: arn.to_owned() })
}
