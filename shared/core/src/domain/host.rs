//! Where tokens and secrets may be sent. Every URL a tenant or a token response gives us is
//! checked here before any request goes to it: the token exchange carries the consumer secret,
//! and a tenant who could point it at `http://169.254.169.254` or `https://evil.example` could
//! steal secrets or probe our network.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use super::InvalidValue;

/// Exact hosts Salesforce logs users in on.
const LOGIN_HOSTS: &[&str] = &["login.salesforce.com", "test.salesforce.com"];

/// My Domain suffixes. `.my.salesforce.com` also covers the partitioned forms
/// (`.sandbox.`, `.develop.`, `.scratch.`, `.demo.`, `.patch.`, `.trailblaze.`, `.free.my.salesforce.com`,
/// Help "Partitioned Domains"). Government Cloud Plus - Defense uses `.my.salesforce.mil`;
/// Salesforce on Alibaba Cloud (China) uses `.my.sfcrmproducts.cn`.
/// Never `*.lightning.force.com` or `*.my.site.com`: those serve UI and Experience Cloud sites,
/// not the OAuth and REST endpoints of an org.
const MY_DOMAIN_SUFFIXES: &[&str] = &[".my.salesforce.com", ".my.salesforce.mil", ".my.sfcrmproducts.cn"];

/// Whether loopback `http://` hosts (the local Salesforce simulator) are acceptable. Only the local
/// stack and the tests turn this on, through `SFBRIDGE_INSECURE_DEV=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostPolicy {
    pub allow_insecure_loopback: bool,
}

impl HostPolicy {
    pub const STRICT: Self = Self { allow_insecure_loopback: false };
    pub(crate) const INSECURE_DEV: Self = Self { allow_insecure_loopback: true };
}

string_newtype! {
    /// An `https://` origin on a Salesforce host (or a loopback origin in insecure-dev mode),
    /// normalized to `scheme://host[:port]` with no path.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct SalesforceUrl;
    /// Values read back from our own storage were checked when written; the stricter check is
    /// repeated with the permissive policy only so that a dev-mode record stays readable.
    try_from(value) = Self::parse(&value, HostPolicy::INSECURE_DEV);
}

impl SalesforceUrl {
    pub fn parse(value: &str, policy: HostPolicy) -> Result<Self, InvalidValue> {
        let refuse = |why: &str| {
            InvalidValue::new(format!(
                "{value:?} is not a Salesforce URL we may send credentials to: {why}. Use \
                 https://login.salesforce.com, https://test.salesforce.com or your My Domain, \
                 e.g. https://yourcompany.my.salesforce.com"
            ))
        };
        let url = Url::parse(value.trim()).map_err(|_| refuse("it is not a URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it contains a user name or password"));
        }
        if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
            return Err(refuse("give only the scheme and host, with no path or query"));
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(refuse("it has no host")),
        };
        let loopback = matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
            || host == "localhost";

        match url.scheme() {
            "http" if loopback && policy.allow_insecure_loopback => {
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                Ok(Self(format!("http://{host}{port}")))
            }
            "https" if loopback && policy.allow_insecure_loopback => {
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                Ok(Self(format!("https://{host}{port}")))
            }
            "https" => {
                if url.port().is_some() {
                    return Err(refuse("Salesforce hosts use the default https port"));
                }
                if is_salesforce_host(&host) {
                    Ok(Self(format!("https://{host}")))
                } else {
                    Err(refuse("the host is not a Salesforce login or My Domain host"))
                }
            }
            "http" => Err(refuse("it must use https")),
            _ => Err(refuse("it must be an https URL")),
        }
    }

    /// `self` + an absolute path such as `/services/oauth2/token`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }

    /// Whether a full URL (for example the identity URL `id` of a token response) points at this
    /// allowlist. Used for URLs that carry a path.
    pub fn check_full_url(value: &str, policy: HostPolicy) -> Result<Url, InvalidValue> {
        let url = Url::parse(value)
            .map_err(|_| InvalidValue::new(format!("{value:?} is not a URL")))?;
        let origin = url.origin().ascii_serialization();
        Self::parse(&origin, policy)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidValue::new("URL must not carry credentials"));
        }
        Ok(url)
    }
}

fn is_salesforce_host(host: &str) -> bool {
    if LOGIN_HOSTS.contains(&host) {
        return true;
    }
    MY_DOMAIN_SUFFIXES.iter().any(|suffix| {
        host.strip_suffix(suffix).is_some_and(|name| {
            !name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                })
        })
    })
}

/// Distinct types over the same allowlist, so a login host can never be passed where an
/// instance URL belongs (tokens go to one, REST calls to the other).
macro_rules! salesforce_origin {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name(SalesforceUrl);

        impl $name {
            pub fn parse(value: &str, policy: HostPolicy) -> Result<Self, InvalidValue> {
                SalesforceUrl::parse(value, policy).map(Self)
            }

            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// `self` + an absolute path such as `/services/oauth2/token`.
            pub fn join(&self, path: &str) -> String {
                self.0.join(path)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

salesforce_origin!(
    /// The host a tenant signs in on and whose `/services/oauth2/*` endpoints we call
    /// (`login.salesforce.com`, `test.salesforce.com` or the org's My Domain).
    LoginHost
);
salesforce_origin!(
    /// The org's REST base: the `instance_url` of a token response.
    InstanceUrl
);

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(v: &str) -> Result<String, InvalidValue> {
        SalesforceUrl::parse(v, HostPolicy::STRICT).map(|u| u.to_string())
    }

    #[test]
    fn accepts_login_and_my_domain_hosts() {
        for (input, normalized) in [
            ("https://login.salesforce.com", "https://login.salesforce.com"),
            ("https://test.salesforce.com/", "https://test.salesforce.com"),
            ("https://Acme.my.salesforce.com", "https://acme.my.salesforce.com"),
            ("https://acme--uat.sandbox.my.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"),
            ("https://acme-dev-ed.develop.my.salesforce.com", "https://acme-dev-ed.develop.my.salesforce.com"),
            ("https://acme.my.salesforce.mil", "https://acme.my.salesforce.mil"),
        ] {
            assert_eq!(strict(input), Ok(normalized.to_owned()), "{input}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "http://169.254.169.254",
            "https://169.254.169.254",
            "https://my.salesforce.com.evil.com",
            "https://x.lightning.force.com",
            "https://acme.my.site.com",
            "https://my.salesforce.com",
            "https://.my.salesforce.com",
            "https://evilsalesforce.com",
            "https://login.salesforce.com.evil.com",
            "http://login.salesforce.com",
            "https://login.salesforce.com:8443",
            "https://user:pw@login.salesforce.com",
            "https://login.salesforce.com/services/oauth2/token",
            "https://login.salesforce.com?x=1",
            "ftp://login.salesforce.com",
            "javascript:alert(1)",
            "login.salesforce.com",
            "http://127.0.0.1:8080",
            "",
        ] {
            assert!(strict(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn loopback_only_in_insecure_dev_mode() {
        let dev = SalesforceUrl::parse("http://127.0.0.1:4455/", HostPolicy::INSECURE_DEV);
        assert_eq!(dev.map(|u| u.to_string()), Ok("http://127.0.0.1:4455".to_owned()));
        assert!(SalesforceUrl::parse("http://169.254.169.254", HostPolicy::INSECURE_DEV).is_err());
        assert!(SalesforceUrl::parse("http://10.0.0.1:80", HostPolicy::INSECURE_DEV).is_err());
    }

    #[test]
    fn full_urls_are_checked_by_origin() {
        let id = "https://login.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC";
        assert!(SalesforceUrl::check_full_url(id, HostPolicy::STRICT).is_ok());
        let evil = "https://login.salesforce.com.evil.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC";
        assert!(SalesforceUrl::check_full_url(evil, HostPolicy::STRICT).is_err());
    }
}
