//! The deployment-wide webhook secret read from AWS Secrets Manager (`SALESFORCE_WEBHOOK_SECRET_ARN`,
//! stack parameter `WebhookSecretArn`), on moto: fetched once at start, validated like the
//! environment variable, and never part of an error message.

use std::collections::HashMap;

use sfbridge_webhook_receiver::global_secret::{config_with_global_secret, GlobalSecretError};

use crate::helpers::moto_config;

const MARKER: &str = "CANARY-global-webhook";

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&moto_config().await)
}

/// A secret stored in moto under a fresh name; returns its ARN.
async fn stored_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("sfbridge-test/{}", &sfbridge_core::domain::FlowId::random().to_string()[..12]);
    let created = client.create_secret().name(name).secret_string(value).send().await.unwrap();
    created.arn.unwrap()
}

fn environment(extra: &[(&str, &str)]) -> HashMap<String, String> {
    [("SFBRIDGE_PUBLIC_URL", "https://api.example.com"), ("SFBRIDGE_APP_ORIGINS", "https://app.example.com")]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn config_from(
    client: &aws_sdk_secretsmanager::Client,
    env: &HashMap<String, String>,
) -> Result<sfbridge_core::config::Config, GlobalSecretError> {
    config_with_global_secret(client, |name| env.get(name).cloned()).await
}

#[tokio::test]
async fn the_global_webhook_secret_is_read_from_secrets_manager_on_moto() {
    let client = secrets_client().await;
    let value = format!("{MARKER}-0123456789abcdef0123456789");
    let arn = stored_secret(&client, &value).await;
    let config = config_from(&client, &environment(&[("SALESFORCE_WEBHOOK_SECRET_ARN", &arn)])).await.unwrap();
    assert_eq!(config.webhook_secret.as_ref().map(|s| s.expose_secret()), Some(value.as_str()));

    // Without the ARN, the environment decides as before.
    let plain = config_from(&client, &environment(&[])).await.unwrap();
    assert!(plain.webhook_secret.is_none());
}

#[tokio::test]
async fn a_bad_secrets_manager_setup_stops_the_start_with_a_reason_on_moto() {
    let client = secrets_client().await;
    let short = format!("{MARKER}-x");
    let short_arn = stored_secret(&client, &short).await;
    let missing_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sfbridge-test/absent-AbCdEf";
    let good_arn = stored_secret(&client, &format!("{MARKER}-0123456789abcdef0123456789")).await;

    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("SALESFORCE_WEBHOOK_SECRET_ARN", &short_arn)], "SALESFORCE_WEBHOOK_SECRET is invalid"),
        (&[("SALESFORCE_WEBHOOK_SECRET_ARN", missing_arn)], "sfbridge-test/absent-AbCdEf"),
        (
            &[("SALESFORCE_WEBHOOK_SECRET_ARN", &good_arn), ("SALESFORCE_WEBHOOK_SECRET", "another-secret-0123456789abcdef")],
            "set either SALESFORCE_WEBHOOK_SECRET or SALESFORCE_WEBHOOK_SECRET_ARN, not both",
        ),
    ];
    for (extra, expected) in cases {
        let Err(error) = config_from(&client, &environment(extra)).await else {
            panic!("{extra:?} must stop the start");
        };
        let message = error.to_string();
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains(MARKER), "the secret's value must not be in the error: {message}");
    }
}
