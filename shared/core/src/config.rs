//! Configuration from the environment, read once at cold start. A missing or malformed variable
//! stops the process at start with the variable's name, never at the first request.

use url::Url;

use crate::domain::HostPolicy;
use crate::secrets::{AdminToken, WebhookSecret};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// `SFBRIDGE_TLS_NATIVE_ROOTS=true`: trust the system's certificate store as well as the
/// compiled-in Mozilla roots, in the Salesforce client and the AWS SDK's alike. For a network
/// whose proxy re-signs TLS with a private CA; the store is found as OpenSSL finds it
/// (`SSL_CERT_FILE`, `SSL_CERT_DIR`, then the usual paths).
pub const NATIVE_ROOTS_VARIABLE: &str = "SFBRIDGE_TLS_NATIVE_ROOTS";

/// Whether `SFBRIDGE_TLS_NATIVE_ROOTS` asks for the system's certificate store.
pub fn native_roots_from_env() -> Result<bool, ConfigError> {
    flag(NATIVE_ROOTS_VARIABLE, std::env::var(NATIVE_ROOTS_VARIABLE).ok().as_deref())
}

/// An on/off variable: unset, empty, `false` or `0`; `true` or `1`; anything else stops the
/// function at start (a typo must not silently mean "off").
pub fn flag(name: &'static str, value: Option<&str>) -> Result<bool, ConfigError> {
    match value.map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ConfigError::Invalid { name, why: format!("{other:?} is not true or false") }),
    }
}

/// What the handlers need to know about this deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL where the OAuth callback function is reachable (`SFBRIDGE_PUBLIC_URL`).
    pub public_url: Url,
    /// Exact origins of the product UI that may open the popup and poll its flow
    /// (`SFBRIDGE_APP_ORIGINS`, comma-separated); the only `postMessage` targets.
    pub app_origins: AppOrigins,
    /// Salesforce REST API version (`SFBRIDGE_SALESFORCE_API_VERSION`, default
    /// [`DEFAULT_API_VERSION`]).
    pub api_version: ApiVersion,
    /// Optional bearer token for the admin API (`SFBRIDGE_ADMIN_TOKEN`). In AWS the admin
    /// routes are IAM-authorized; this adds a second check when set.
    pub admin_token: Option<AdminToken>,
    /// `SFBRIDGE_INSECURE_DEV=true` allows loopback `http://` Salesforce hosts (the simulator) and
    /// non-Secure cookies on a loopback public URL. Never set it in AWS.
    pub host_policy: HostPolicy,
    /// The deployment-wide webhook secret (`SALESFORCE_WEBHOOK_SECRET`), accepted for tenants
    /// that have none of their own. Unset: such tenants' webhooks are refused.
    pub webhook_secret: Option<WebhookSecret>,
}

/// A shared secret shorter than this is refused at start (192 bits of a random secret).
pub(crate) const MIN_WEBHOOK_SECRET_LEN: usize = 24;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let insecure_dev = flag("SFBRIDGE_INSECURE_DEV", lookup("SFBRIDGE_INSECURE_DEV").as_deref())?;
        let public_url = parse_base_url("SFBRIDGE_PUBLIC_URL", &required("SFBRIDGE_PUBLIC_URL")?, insecure_dev)?;
        let app_origins = AppOrigins::parse(&required("SFBRIDGE_APP_ORIGINS")?, insecure_dev)?;
        let api_version = match lookup("SFBRIDGE_SALESFORCE_API_VERSION").filter(|v| !v.trim().is_empty()) {
            None => ApiVersion(DEFAULT_API_VERSION),
            Some(v) => ApiVersion::parse(&v).map_err(|why| ConfigError::Invalid { name: "SFBRIDGE_SALESFORCE_API_VERSION", why })?,
        };
        let admin_token = match lookup("SFBRIDGE_ADMIN_TOKEN").filter(|v| !v.is_empty()) {
            None => None,
            Some(token) if token.len() < 16 => {
                return Err(ConfigError::Invalid {
                    name: "SFBRIDGE_ADMIN_TOKEN",
                    why: "use at least 16 characters".into(),
                })
            }
            Some(token) => Some(AdminToken::new(token)),
        };
        // Set but empty must not mean "accept anything": it is a mistake in the deployment.
        let webhook_secret = match lookup("SALESFORCE_WEBHOOK_SECRET") {
            None => None,
            Some(secret) if secret.trim().len() < MIN_WEBHOOK_SECRET_LEN || secret.trim() != secret => {
                return Err(ConfigError::Invalid {
                    name: "SALESFORCE_WEBHOOK_SECRET",
                    why: format!(
                        "set it to at least {MIN_WEBHOOK_SECRET_LEN} random characters without surrounding spaces, or \
                         unset it and give each tenant its own secret (POST /v1/tenants/{{t}}/webhook-secrets)"
                    ),
                })
            }
            Some(secret) => Some(WebhookSecret::new(secret)),
        };
        Ok(Self {
            public_url,
            app_origins,
            api_version,
            admin_token,
            host_policy: HostPolicy { allow_insecure_loopback: insecure_dev },
            webhook_secret,
        })
    }

    /// The single redirect URI of this deployment; tenants register exactly this in their app.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url.as_str().trim_end_matches('/'))
    }

    pub fn connect_url(&self, flow_id: &crate::domain::FlowId) -> String {
        format!(
            "{}/oauth/start?flow={}",
            self.public_url.as_str().trim_end_matches('/'),
            flow_id
        )
    }

    /// Cookies are `Secure` unless the public URL is plain http on loopback in dev mode.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https" || !self.host_policy.allow_insecure_loopback
    }
}

/// The origins allowed to open the connect popup: one or more, each exactly `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppOrigins(Vec<String>);

/// More would be a sign of a wildcard in disguise; every origin is a `postMessage` on the page.
pub(crate) const MAX_APP_ORIGINS: usize = 10;

impl AppOrigins {
    fn parse(value: &str, insecure_dev: bool) -> Result<Self, ConfigError> {
        const NAME: &str = "SFBRIDGE_APP_ORIGINS";
        let origins = value
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| parse_origin(NAME, o, insecure_dev))
            .collect::<Result<Vec<_>, _>>()?;
        if origins.is_empty() || origins.len() > MAX_APP_ORIGINS {
            return Err(ConfigError::Invalid {
                name: NAME,
                why: format!("give 1 to {MAX_APP_ORIGINS} origins, comma-separated"),
            });
        }
        Ok(Self(origins))
    }

    /// Whether a request's `Origin` header names one of them (exact, as browsers send it).
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// The REST API version every Salesforce call uses. The composite graph, collections and
/// upsert-by-external-id calls sfbridge makes exist from v50.0 on; the simulator and the tests use
/// the default.
pub(crate) const DEFAULT_API_VERSION: u16 = 66;
const MIN_API_VERSION: u16 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion(u16);

impl ApiVersion {
    /// `v66.0`, `66.0` or `66`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let digits = value.trim().trim_start_matches('v');
        let major = digits.strip_suffix(".0").unwrap_or(digits);
        match major.parse::<u16>() {
            Ok(n) if (MIN_API_VERSION..=999).contains(&n) => Ok(Self(n)),
            _ => Err(format!("{value:?} is not a Salesforce API version from v{MIN_API_VERSION}.0 on, e.g. v{DEFAULT_API_VERSION}.0")),
        }
    }

    /// The path segment, e.g. `v66.0`.
    pub fn path(self) -> String {
        format!("v{}.0", self.0)
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        Self(DEFAULT_API_VERSION)
    }
}

fn parse_base_url(name: &'static str, value: &str, insecure_dev: bool) -> Result<Url, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid { name, why: why.to_owned() };
    let url = Url::parse(value.trim()).map_err(|e| invalid(&format!("not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if insecure_dev && is_loopback(&url) => {}
        _ => return Err(invalid("must be an https URL (http only on loopback with SFBRIDGE_INSECURE_DEV=true)")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(url)
}

fn parse_origin(name: &'static str, value: &str, insecure_dev: bool) -> Result<String, ConfigError> {
    let url = parse_base_url(name, value, insecure_dev)?;
    if !matches!(url.path(), "" | "/") {
        return Err(ConfigError::Invalid {
            name,
            why: "must be an origin (scheme://host[:port]) with no path".into(),
        });
    }
    Ok(url.origin().ascii_serialization())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Names of the AWS resources, for the AWS adapters.
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub table_name: String,
    pub kms_key_id: String,
}

/// The SQS queues the functions send to (`SFBRIDGE_ACTIVITY_QUEUE_URL`,
/// `SFBRIDGE_ACTIVITY_DLQ_URL`, `SFBRIDGE_INBOUND_QUEUE_URL`, `SFBRIDGE_IMPORT_QUEUE_URL`).
#[derive(Debug, Clone)]
pub struct QueueUrls {
    /// Where sync commands go (a reconnect replays parked ones onto it).
    pub activity: String,
    /// Where activity sync moves commands it can never run, with the reason.
    pub activity_dead_letter: String,
    /// Where the webhook receiver publishes inbound events for the product (and the import its records).
    pub inbound: String,
    /// The import function's own queue: runs started by Sync Now or the schedule, and their continuations.
    pub import: String,
}

impl QueueUrls {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name));
        Ok(Self {
            activity: required("SFBRIDGE_ACTIVITY_QUEUE_URL")?,
            activity_dead_letter: required("SFBRIDGE_ACTIVITY_DLQ_URL")?,
            inbound: required("SFBRIDGE_INBOUND_QUEUE_URL")?,
            import: required("SFBRIDGE_IMPORT_QUEUE_URL")?,
        })
    }
}

impl AwsResources {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        Ok(Self {
            table_name: required("SFBRIDGE_TABLE")?,
            kms_key_id: required("SFBRIDGE_KMS_KEY_ID")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn flags_are_on_or_off_and_a_typo_is_refused() {
        for off in [None, Some(""), Some("false"), Some("0"), Some(" false ")] {
            assert_eq!(flag(NATIVE_ROOTS_VARIABLE, off).ok(), Some(false), "{off:?}");
        }
        for on in [Some("true"), Some("1"), Some(" true")] {
            assert_eq!(flag(NATIVE_ROOTS_VARIABLE, on).ok(), Some(true), "{on:?}");
        }
        let err = flag(NATIVE_ROOTS_VARIABLE, Some("yes")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(NATIVE_ROOTS_VARIABLE) && err.contains("yes"), "{err}");
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn names_the_missing_variable() {
        let err = config(&[("SFBRIDGE_APP_ORIGINS", "https://app.example.com")]);
        assert_eq!(err.err(), Some(ConfigError::Missing("SFBRIDGE_PUBLIC_URL")));
    }

    #[test]
    fn refuses_http_outside_dev_and_paths_in_origins() {
        let err = config(&[
            ("SFBRIDGE_PUBLIC_URL", "http://127.0.0.1:3000"),
            ("SFBRIDGE_APP_ORIGINS", "https://app.example.com"),
        ]);
        assert!(matches!(err, Err(ConfigError::Invalid { name: "SFBRIDGE_PUBLIC_URL", .. })));
        let err = config(&[
            ("SFBRIDGE_PUBLIC_URL", "https://api.example.com"),
            ("SFBRIDGE_APP_ORIGINS", "https://app.example.com/settings"),
        ]);
        assert!(matches!(err, Err(ConfigError::Invalid { name: "SFBRIDGE_APP_ORIGINS", .. })));
    }

    #[test]
    fn an_empty_or_short_webhook_secret_is_a_config_error() {
        let base = [("SFBRIDGE_PUBLIC_URL", "https://api.example.com"), ("SFBRIDGE_APP_ORIGINS", "https://app.example.com")];
        for bad in ["", "   ", "short-secret", " padded-secret-of-enough-length-0123456789 "] {
            let vars = [base[0], base[1], ("SALESFORCE_WEBHOOK_SECRET", bad)];
            assert!(
                matches!(config(&vars), Err(ConfigError::Invalid { name: "SALESFORCE_WEBHOOK_SECRET", .. })),
                "{bad:?} must be refused"
            );
        }
        let vars = [base[0], base[1], ("SALESFORCE_WEBHOOK_SECRET", "a-long-enough-random-secret-0123456789")];
        assert!(config(&vars).is_ok_and(|c| c.webhook_secret.is_some()));
        assert!(config(&base).is_ok_and(|c| c.webhook_secret.is_none()));
    }

    #[test]
    fn derives_redirect_uri_and_cookie_policy() {
        let Ok(prod) = config(&[
            ("SFBRIDGE_PUBLIC_URL", "https://api.example.com/"),
            ("SFBRIDGE_APP_ORIGINS", "https://app.example.com"),
        ]) else {
            unreachable!("valid config")
        };
        assert_eq!(prod.redirect_uri(), "https://api.example.com/oauth/callback");
        assert!(prod.secure_cookies());
        let Ok(dev) = config(&[
            ("SFBRIDGE_PUBLIC_URL", "http://127.0.0.1:3000"),
            ("SFBRIDGE_APP_ORIGINS", "http://127.0.0.1:3000"),
            ("SFBRIDGE_INSECURE_DEV", "true"),
        ]) else {
            unreachable!("valid dev config")
        };
        assert!(!dev.secure_cookies());
        assert!(dev.app_origins.allows("http://127.0.0.1:3000"));
        assert_eq!(dev.api_version.path(), "v66.0");
    }

    #[test]
    fn several_popup_origins_and_an_api_version() {
        let Ok(c) = config(&[
            ("SFBRIDGE_PUBLIC_URL", "https://api.example.com"),
            ("SFBRIDGE_APP_ORIGINS", "https://app.example.com, https://eu.app.example.com:8443"),
            ("SFBRIDGE_SALESFORCE_API_VERSION", "v62.0"),
        ]) else {
            unreachable!("valid config")
        };
        assert_eq!(c.app_origins.iter().collect::<Vec<_>>(), ["https://app.example.com", "https://eu.app.example.com:8443"]);
        assert!(c.app_origins.allows("https://eu.app.example.com:8443"));
        assert!(!c.app_origins.allows("https://eu.app.example.com"));
        assert!(!c.app_origins.allows("https://evil.example.com"));
        assert_eq!(c.api_version.path(), "v62.0");
        let base = ("SFBRIDGE_PUBLIC_URL", "https://api.example.com");
        for bad in [",", "https://a.example.com,https://b.example.com/path", "*"] {
            let err = config(&[base, ("SFBRIDGE_APP_ORIGINS", bad)]);
            assert!(matches!(err, Err(ConfigError::Invalid { name: "SFBRIDGE_APP_ORIGINS", .. }) | Err(ConfigError::Missing(_))), "{bad:?}");
        }
        let eleven = (0..11).map(|i| format!("https://a{i}.example.com")).collect::<Vec<_>>().join(",");
        assert!(matches!(config(&[base, ("SFBRIDGE_APP_ORIGINS", &eleven)]), Err(ConfigError::Invalid { .. })));
        for bad in ["v49.0", "latest", "66.5", ""] {
            let vars = [base, ("SFBRIDGE_APP_ORIGINS", "https://app.example.com"), ("SFBRIDGE_SALESFORCE_API_VERSION", bad)];
            assert_eq!(config(&vars).is_ok(), bad.is_empty(), "{bad:?}");
        }
    }
}
