//! Salesforce's OAuth error values, turned into text a tenant admin can act on. The wording
//! follows the troubleshooting steps tenants already know from Salesforce's own setup guides.

use std::fmt;

/// A failed authorization or token call, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFailure {
    /// A stable code for programs (`redirect_uri_mismatch`, `access_denied`, ...).
    pub code: String,
    /// What the admin should do.
    pub message: String,
    /// Whether trying again later, unchanged, may succeed.
    pub retryable: bool,
}

impl fmt::Display for OAuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for OAuthFailure {}

const WAIT_FOR_PROPAGATION: &str =
    "If you created or changed the app in the last 10 minutes, wait for Salesforce to propagate it and try again.";

impl OAuthFailure {
    pub fn new(code: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self { code: code.to_owned(), message: message.into(), retryable }
    }

    /// Maps Salesforce's `error` (and `error_description`) from the authorize redirect or the
    /// token endpoint. `redirect_uri` is ours, quoted so the admin can paste it.
    pub fn from_salesforce(error: &str, description: Option<&str>, redirect_uri: &str) -> Self {
        let description = description.unwrap_or("").trim();
        let said = if description.is_empty() {
            String::new()
        } else {
            format!(" (Salesforce said: {})", truncate(description, 200))
        };
        match error {
            "redirect_uri_mismatch" | "redirect_uri_missing" => Self::new(
                "redirect_uri_mismatch",
                format!(
                    "The External Client App's Callback URL must include {redirect_uri} exactly, on its own line. \
                     In Salesforce Setup open App Manager, edit the app's OAuth settings, add it, save, wait up \
                     to 10 minutes and connect again."
                ),
                false,
            ),
            "invalid_client_id" => Self::new(
                "invalid_client_id",
                format!(
                    "Salesforce does not recognise the Consumer Key. Re-copy the Consumer Key and Consumer Secret \
                     from the External Client App and save the credentials again. {WAIT_FOR_PROPAGATION}"
                ),
                false,
            ),
            "invalid_client" => Self::new(
                "invalid_client",
                "Salesforce rejected the Consumer Secret. Re-copy the Consumer Key and Consumer Secret from the \
                 External Client App (or, if you rotated the secret, the new one) and save the credentials again.",
                false,
            ),
            "OAUTH_EC_APP_NOT_FOUND" | "app_not_found" => Self::new(
                "app_not_found",
                format!(
                    "The External Client App is not installed in the org you signed in to. Sign in to the same org \
                     where you created the app (production and sandbox are different orgs: check the login URL you \
                     saved), and confirm the saved Consumer Key is that app's. {WAIT_FOR_PROPAGATION}"
                ),
                false,
            ),
            "access_denied" | "access-denied" => Self::new(
                "access_denied",
                format!(
                    "Access was not allowed in Salesforce{said}. Click Connect again and choose Allow. If you were \
                     not asked, the app's Permitted Users policy must let users self-authorize (or pre-authorize \
                     your user)."
                ),
                false,
            ),
            "invalid_scope" => Self::new(
                "invalid_scope",
                "The External Client App must allow the OAuth scopes \"Manage user data via APIs (api)\" and \
                 \"Perform requests at any time (refresh_token, offline_access)\". Add them in the app's OAuth \
                 settings and connect again.",
                false,
            ),
            "unsupported_grant_type" | "oauth_flow_disabled" => Self::new(
                "flow_disabled",
                format!(
                    "The External Client App does not allow this OAuth flow{said}. Enable the Authorization Code \
                     flow (or Client Credentials, for server-to-server) in its OAuth settings."
                ),
                false,
            ),
            "inactive_user" => Self::new(
                "inactive_user",
                "The Salesforce user you signed in as is inactive. Sign in as an active user.",
                false,
            ),
            "inactive_org" => Self::new(
                "inactive_org",
                "The Salesforce org is locked, closed or suspended. Contact your Salesforce administrator.",
                false,
            ),
            "rate_limit_exceeded" => Self::new(
                "rate_limit_exceeded",
                "Salesforce refused the sign-in because too many logins happened recently. Wait a few minutes and try again.",
                true,
            ),
            "invalid_grant" if description.contains("ip restricted") || description.contains("login hours") => Self::new(
                "ip_restricted",
                format!(
                    "Salesforce refused access from our network or at this time{said}. Set the app's IP Relaxation \
                     policy to relax IP restrictions, or allow our egress IP addresses, and connect again."
                ),
                false,
            ),
            "invalid_grant" if description.contains("no client credentials user") => Self::new(
                "client_credentials_user_missing",
                "The External Client App has no Run As user for the client credentials flow. Set one (by username, \
                 not email) in the app's policies, wait up to 10 minutes and try again.",
                false,
            ),
            "invalid_grant" if description.contains("not supported on this domain") => Self::new(
                "wrong_login_host",
                "The client credentials flow only works on your org's My Domain. Save the credentials again with \
                 login_url set to https://<your-domain>.my.salesforce.com.",
                false,
            ),
            "invalid_grant" => Self::new(
                "invalid_grant",
                format!("Salesforce did not accept the sign-in{said}. Click Connect to start again."),
                false,
            ),
            "server_error" | "service_unavailable" | "system_down" | "temporarily_unavailable" => Self::new(
                "salesforce_unavailable",
                format!("Salesforce is temporarily unavailable{said}. Try again in a few minutes."),
                true,
            ),
            "immediate_unsuccessful" | "login_required" | "consent_required" => Self::new(
                "login_required",
                "Salesforce needs you to sign in and approve. Click Connect again.",
                false,
            ),
            other => Self::new(
                "salesforce_error",
                format!(
                    "Salesforce refused the connection with {}{said}. Check the External Client App's OAuth \
                     settings and try again.",
                    truncate(other, 64)
                ),
                false,
            ),
        }
    }

    pub fn unreachable(what: &str) -> Self {
        Self::new(
            "salesforce_unreachable",
            format!("Could not reach Salesforce ({what}). Try again in a few minutes."),
            true,
        )
    }
}

fn truncate(s: &str, max: usize) -> String {
    let cleaned: String = s.chars().filter(|c| !c.is_control()).collect();
    if cleaned.chars().count() <= max {
        cleaned
    } else {
        let mut out: String = cleaned.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIRECT: &str = "https://api.example.com/oauth/callback";

    #[test]
    fn every_documented_error_gets_actionable_text() {
        for (error, code, must_mention) in [
            ("redirect_uri_mismatch", "redirect_uri_mismatch", REDIRECT),
            ("invalid_client_id", "invalid_client_id", "Consumer Key"),
            ("invalid_client", "invalid_client", "Consumer Secret"),
            ("OAUTH_EC_APP_NOT_FOUND", "app_not_found", "same org"),
            ("access_denied", "access_denied", "Allow"),
            ("access-denied", "access_denied", "Allow"),
            ("invalid_scope", "invalid_scope", "refresh_token"),
        ] {
            let failure = OAuthFailure::from_salesforce(error, None, REDIRECT);
            assert_eq!(failure.code, code);
            assert!(failure.message.contains(must_mention), "{error}: {}", failure.message);
        }
    }

    #[test]
    fn ip_restrictions_and_unknown_errors() {
        let ip = OAuthFailure::from_salesforce("invalid_grant", Some("ip restricted or invalid login hours"), REDIRECT);
        assert_eq!(ip.code, "ip_restricted");
        let odd = OAuthFailure::from_salesforce("weird\u{7}_thing", Some("x"), REDIRECT);
        assert_eq!(odd.code, "salesforce_error");
        assert!(!odd.message.contains('\u{7}'));
    }
}
