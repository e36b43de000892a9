//! Salesforce's OAuth error values, turned into text a tenant admin can act on. The wording
//! follows the troubleshooting steps tenants already know from Salesforce's own setup guides.
//!
//! The mapping is data, [`OAUTH_ERRORS`]: each rule carries the code and message the admin sees
//! and the likely cause, and the README's troubleshooting table is rendered from the same rules
//! ([`super::troubleshooting`]), so a message and its README row cannot disagree.

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
    /// sfbridge's own failure (storage, key service, a bug), not Salesforce's answer: the popup
    /// shows it as a 500. Set only by [`OAuthFailure::internal`].
    internal: bool,
}

/// The code of a failure on sfbridge's side (storage, key service, a bug), not Salesforce's answer.
pub(crate) const INTERNAL_ERROR: &str = "internal_error";

impl OAuthFailure {
    /// A failure on our side, worded for the admin in the popup (the detail goes to the log).
    pub fn internal() -> Self {
        let message = "Something went wrong on our side. Close this window and click Connect again.";
        Self { internal: true, ..Self::new(INTERNAL_ERROR, message, true) }
    }

    /// Whether this is [`OAuthFailure::internal`] (a 500), not a refusal the admin can act on.
    pub fn is_internal(&self) -> bool {
        self.internal
    }
}

impl fmt::Display for OAuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for OAuthFailure {}

/// Where an OAuth error reaches an admin (the README's "where it shows up").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Connecting in the popup: the authorize page (its redirect back, or Salesforce's own error
    /// page) and the code exchange. Also `GET /oauth/flows/{flow_id}`.
    Popup,
    /// Connecting with the client credentials flow: `POST /v1/tenants/{t}/connect` answers at once.
    ConnectApi,
    /// Getting a new access token during sync (refresh token, or client credentials again).
    TokenRenewal,
}

/// One Salesforce OAuth `error` (optionally narrowed by its `error_description`) and what sfbridge
/// makes of it.
#[derive(Debug)]
pub struct OAuthErrorRule {
    /// Salesforce's `error` values, as sent.
    pub errors: &'static [&'static str],
    /// Matches only when `error_description` contains one of these; empty: any description.
    pub description_contains: &'static [&'static str],
    /// Matches only the answer to a refresh-token call.
    pub refresh_only: bool,
    /// Where it can show up (documentation: which calls Salesforce answers with it).
    pub stages: &'static [Stage],
    /// sfbridge's code ([`OAuthFailure::code`]).
    pub code: &'static str,
    /// Whether trying again later, unchanged, may succeed ([`OAuthFailure::retryable`]).
    pub retryable: bool,
    /// The likely cause, for the README.
    pub cause: &'static str,
    /// What the admin is told to do. Placeholders: `{redirect_uri}` (ours, to paste), `{said}`
    /// (Salesforce's description, quoted, or nothing), `{error}` (Salesforce's `error`), `{wait}`.
    pub message: &'static str,
}

impl OAuthErrorRule {
    fn matches(&self, error: &str, description: &str, refresh: bool) -> bool {
        self.errors.contains(&error)
            && (self.description_contains.is_empty()
                || self.description_contains.iter().any(|d| description.contains(d)))
            && (refresh || !self.refresh_only)
    }
}

const ALL_STAGES: &[Stage] = &[Stage::Popup, Stage::ConnectApi, Stage::TokenRenewal];

/// The text `{wait}` stands for.
pub(crate) const WAIT_FOR_PROPAGATION: &str =
    "If you created or changed the app in the last 10 minutes, wait for Salesforce to propagate it and try again.";

/// Salesforce's OAuth errors, from the authorize redirect or the token endpoint. The first rule
/// that matches wins; an error no rule matches gets [`OAUTH_FALLBACK`].
pub static OAUTH_ERRORS: &[OAuthErrorRule] = &[
    OAuthErrorRule {
        errors: &["redirect_uri_mismatch", "redirect_uri_missing"],
        description_contains: &[],
        refresh_only: false,
        stages: &[Stage::Popup],
        code: "redirect_uri_mismatch",
        retryable: false,
        cause: "The External Client App's Callback URL list does not contain this deployment's callback URL exactly \
                (another stage's URL, a typo, a trailing slash). Salesforce often shows this on its own error page in \
                the popup.",
        message: "The External Client App's Callback URL must include {redirect_uri} exactly, on its own line. \
                  In Salesforce Setup open App Manager, edit the app's OAuth settings, add it, save, wait up \
                  to 10 minutes and connect again.",
    },
    OAuthErrorRule {
        errors: &["invalid_client_id"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "invalid_client_id",
        retryable: false,
        cause: "The saved Consumer Key is not a key of an app Salesforce knows: mis-copied, another app's, the app \
                was deleted, or it was created minutes ago.",
        message: "Salesforce does not recognise the Consumer Key. Re-copy the Consumer Key and Consumer Secret \
                  from the External Client App and save the credentials again. {wait}",
    },
    OAuthErrorRule {
        errors: &["invalid_client"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "invalid_client",
        retryable: false,
        cause: "The saved Consumer Secret is wrong, or was rotated in Salesforce.",
        message: "Salesforce rejected the Consumer Secret. Re-copy the Consumer Key and Consumer Secret from the \
                  External Client App (or, if you rotated the secret, the new one) and save the credentials again.",
    },
    OAuthErrorRule {
        errors: &["OAUTH_EC_APP_NOT_FOUND", "app_not_found"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "app_not_found",
        retryable: false,
        cause: "The External Client App is not installed in the org that was signed in to (production and sandbox \
                are different orgs), or has not propagated yet.",
        message: "The External Client App is not installed in the org you signed in to. Sign in to the same org \
                  where you created the app (production and sandbox are different orgs: check the login URL you \
                  saved), and confirm the saved Consumer Key is that app's. {wait}",
    },
    OAuthErrorRule {
        errors: &["access_denied", "access-denied"],
        description_contains: &[],
        refresh_only: false,
        stages: &[Stage::Popup],
        code: "access_denied",
        retryable: false,
        cause: "The user clicked Deny, or the app's Permitted Users policy does not let this user self-authorize.",
        message: "Access was not allowed in Salesforce{said}. Click Connect again and choose Allow. If you were \
                  not asked, the app's Permitted Users policy must let users self-authorize (or pre-authorize \
                  your user).",
    },
    OAuthErrorRule {
        errors: &["invalid_scope"],
        description_contains: &[],
        refresh_only: false,
        stages: &[Stage::Popup],
        code: "invalid_scope",
        retryable: false,
        cause: "The app does not allow the scopes sfbridge asks for (`api refresh_token offline_access`).",
        message: "The External Client App must allow the OAuth scopes \"Manage user data via APIs (api)\" and \
                  \"Perform requests at any time (refresh_token, offline_access)\". Add them in the app's OAuth \
                  settings and connect again.",
    },
    OAuthErrorRule {
        errors: &["unsupported_grant_type", "oauth_flow_disabled"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "flow_disabled",
        retryable: false,
        cause: "The OAuth flow the saved credentials use (`web_server` or `client_credentials`) is not enabled on \
                the app.",
        message: "The External Client App does not allow this OAuth flow{said}. Enable the Authorization Code \
                  flow (or Client Credentials, for server-to-server) in its OAuth settings.",
    },
    OAuthErrorRule {
        errors: &["inactive_user"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "inactive_user",
        retryable: false,
        cause: "The user who connected (or the app's Run As user) was deactivated.",
        message: "The Salesforce user you signed in as is inactive. Sign in as an active user.",
    },
    OAuthErrorRule {
        errors: &["inactive_org"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "inactive_org",
        retryable: false,
        cause: "The org is locked, closed or suspended (an expired trial, for example).",
        message: "The Salesforce org is locked, closed or suspended. Contact your Salesforce administrator.",
    },
    OAuthErrorRule {
        errors: &["rate_limit_exceeded"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "rate_limit_exceeded",
        retryable: true,
        cause: "Too many logins by this user in a short time.",
        message: "Salesforce refused the sign-in because too many logins happened recently. Wait a few minutes and try again.",
    },
    OAuthErrorRule {
        errors: &["invalid_grant"],
        description_contains: &["expired authorization code"],
        refresh_only: true,
        stages: &[Stage::TokenRenewal],
        code: "concurrent_refresh",
        retryable: true,
        cause: "Two refreshes with the same refresh token at once: since Summer '24 Salesforce refuses the second \
                with this description.",
        message: "Salesforce refused a concurrent refresh; retry.",
    },
    OAuthErrorRule {
        errors: &["invalid_grant"],
        description_contains: &["ip restricted", "login hours"],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "ip_restricted",
        retryable: false,
        cause: "The app's IP Relaxation policy, the user's profile IP ranges or its login hours refuse sfbridge's \
                requests.",
        message: "Salesforce refused access from our network or at this time{said}. Set the app's IP Relaxation \
                  policy to relax IP restrictions, or allow our egress IP addresses, and connect again.",
    },
    OAuthErrorRule {
        errors: &["invalid_grant"],
        description_contains: &["no client credentials user"],
        refresh_only: false,
        stages: &[Stage::ConnectApi, Stage::TokenRenewal],
        code: "client_credentials_user_missing",
        retryable: false,
        cause: "The client credentials flow is enabled but the app has no Run As user.",
        message: "The External Client App has no Run As user for the client credentials flow. Set one (by username, \
                  not email) in the app's policies, wait up to 10 minutes and try again.",
    },
    OAuthErrorRule {
        errors: &["invalid_grant"],
        description_contains: &["not supported on this domain"],
        refresh_only: false,
        stages: &[Stage::ConnectApi, Stage::TokenRenewal],
        code: "wrong_login_host",
        retryable: false,
        cause: "Client credentials were requested from `login.salesforce.com` or `test.salesforce.com`; the flow only \
                works on the org's My Domain.",
        message: "The client credentials flow only works on your org's My Domain. Save the credentials again with \
                  login_url set to https://<your-domain>.my.salesforce.com.",
    },
    OAuthErrorRule {
        errors: &["invalid_grant"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "invalid_grant",
        retryable: false,
        cause: "Connecting: the authorization code expired (15 minutes) or was already used. During sync: the refresh \
                token was revoked or expired (revoked by an admin or the user, the app's refresh token policy, the \
                user deactivated, or replaced by a sixth approval of the same user and app).",
        message: "Salesforce did not accept the sign-in{said}. Click Connect to start again.",
    },
    OAuthErrorRule {
        errors: &["server_error", "service_unavailable", "system_down", "temporarily_unavailable"],
        description_contains: &[],
        refresh_only: false,
        stages: ALL_STAGES,
        code: "salesforce_unavailable",
        retryable: true,
        cause: "Salesforce's login service is down, overloaded or in maintenance.",
        message: "Salesforce is temporarily unavailable{said}. Try again in a few minutes.",
    },
    OAuthErrorRule {
        errors: &["immediate_unsuccessful", "login_required", "consent_required"],
        description_contains: &[],
        refresh_only: false,
        stages: &[Stage::Popup],
        code: "login_required",
        retryable: false,
        cause: "Salesforce needed the user to sign in or approve the app, and that did not happen.",
        message: "Salesforce needs you to sign in and approve. Click Connect again.",
    },
];

/// Any `error` no rule of [`OAUTH_ERRORS`] matches.
pub static OAUTH_FALLBACK: OAuthErrorRule = OAuthErrorRule {
    errors: &[],
    description_contains: &[],
    refresh_only: false,
    stages: ALL_STAGES,
    code: "salesforce_error",
    retryable: false,
    cause: "An error sfbridge has no specific advice for; the message quotes Salesforce's description.",
    message: "Salesforce refused the connection with {error}{said}. Check the External Client App's OAuth \
              settings and try again.",
};

/// The rule for Salesforce's `error` and (trimmed) `error_description`; `refresh` when it answers a
/// refresh-token call.
pub(crate) fn oauth_error_rule(error: &str, description: &str, refresh: bool) -> &'static OAuthErrorRule {
    OAUTH_ERRORS.iter().find(|rule| rule.matches(error, description, refresh)).unwrap_or(&OAUTH_FALLBACK)
}

impl OAuthFailure {
    pub fn new(code: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self { code: code.to_owned(), message: message.into(), retryable, internal: false }
    }

    /// Maps Salesforce's `error` (and `error_description`) from the authorize redirect or the
    /// token endpoint. `redirect_uri` is ours, quoted so the admin can paste it.
    pub fn from_salesforce(error: &str, description: Option<&str>, redirect_uri: &str) -> Self {
        Self::mapped(error, description, redirect_uri, false)
    }

    /// The same for the answer to a refresh-token call, where some errors mean something else.
    pub(crate) fn from_refresh(error: &str, description: Option<&str>) -> Self {
        Self::mapped(error, description, "", true)
    }

    fn mapped(error: &str, description: Option<&str>, redirect_uri: &str, refresh: bool) -> Self {
        let description = description.unwrap_or("").trim();
        let rule = oauth_error_rule(error, description, refresh);
        let said = if description.is_empty() {
            String::new()
        } else {
            format!(" (Salesforce said: {})", truncate(description, 200))
        };
        let error = truncate(error, 64);
        let message = fill(
            rule.message,
            &[("redirect_uri", redirect_uri), ("said", &said), ("error", &error), ("wait", WAIT_FOR_PROPAGATION)],
        );
        Self::new(rule.code, message, rule.retryable)
    }

    pub fn unreachable(what: &str) -> Self {
        Self::new(
            "salesforce_unreachable",
            format!("Could not reach Salesforce ({what}). Try again in a few minutes."),
            true,
        )
    }
}

/// Replaces each `{name}` of `template` with its value, in one pass (values are never scanned, so
/// Salesforce's text cannot smuggle a placeholder in). An unknown `{name}` stays as it is.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let value = tail.find('}').and_then(|close| {
            let name = &tail[1..close];
            values.iter().find(|(key, _)| *key == name).map(|(_, value)| (close, *value))
        });
        match value {
            Some((close, value)) => {
                out.push_str(value);
                rest = &tail[close + 1..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
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

    #[test]
    fn expired_code_means_concurrent_refresh_only_on_a_refresh() {
        let refresh = OAuthFailure::from_refresh("invalid_grant", Some("expired authorization code"));
        assert_eq!((refresh.code.as_str(), refresh.retryable), ("concurrent_refresh", true));
        let exchange = OAuthFailure::from_salesforce("invalid_grant", Some("expired authorization code"), REDIRECT);
        assert_eq!((exchange.code.as_str(), exchange.retryable), ("invalid_grant", false));
        let revoked = OAuthFailure::from_refresh("invalid_grant", Some("expired access/refresh token"));
        assert_eq!((revoked.code.as_str(), revoked.retryable), ("invalid_grant", false));
    }

    #[test]
    fn placeholders_are_filled_once_and_never_from_salesforce_text() {
        let failure = OAuthFailure::from_salesforce("access_denied", Some("{redirect_uri} {wait}"), REDIRECT);
        assert!(failure.message.contains("(Salesforce said: {redirect_uri} {wait})"), "{}", failure.message);
        assert_eq!(fill("a {x} {y} {", &[("x", "{y}")]), "a {y} {y} {");
    }

    #[test]
    fn every_message_uses_known_placeholders_only() {
        let known = [("redirect_uri", ""), ("said", ""), ("error", ""), ("wait", "")];
        for rule in OAUTH_ERRORS.iter().chain([&OAUTH_FALLBACK]) {
            let filled = fill(rule.message, &known);
            assert!(!filled.contains('{') && !filled.contains('}'), "{}: {}", rule.code, rule.message);
        }
    }
}

#[cfg(test)]
mod internal_failures {
    use super::*;

    /// The popup answers 500 only for our own failures: a code that merely reads `internal_error`
    /// (Salesforce's, or anyone's) is a refusal the admin sees as 400.
    #[test]
    fn only_our_own_failure_is_internal() {
        assert!(OAuthFailure::internal().is_internal());
        assert!(!OAuthFailure::new(INTERNAL_ERROR, "look-alike", true).is_internal());
        assert!(!OAuthFailure::from_salesforce("internal_error", Some("from Salesforce"), "https://x/cb").is_internal());
    }
}
