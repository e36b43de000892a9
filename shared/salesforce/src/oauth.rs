//! The OAuth client for a tenant's own External Client App. Every call takes the issuer
//! explicitly (login host, client id, redirect URI) because each tenant brings its own app and
//! My Domain; nothing here is global but the HTTP client.



use chrono::{DateTime, TimeZone, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::errors::OAuthFailure;
use super::signature::verify_signature;
use sfbridge_core::domain::{HostPolicy, InstanceUrl, LoginHost, OAuthState, SalesforceId, SalesforceUrl};
use sfbridge_core::secrets::{AccessToken, AuthorizationCode, ConsumerSecret, PkceVerifier, RefreshToken};

/// Introspection only refines when a client-credentials token is renewed (the 401 path stays), so
/// it gets less time than the token call, keeping a renewal well inside the refresh lease.
const INTROSPECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The least we need: REST access and a refresh token. Never `full`.
pub(crate) const SCOPES: [&str; 3] = ["api", "refresh_token", "offline_access"];


/// Which authorization server a flow talks to. Stored with the OAuth state and used, unchanged,
/// for the code exchange (RFC 9700 §4.4.2: bind the issuer to the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub login_host: LoginHost,
    pub client_id: String,
    pub redirect_uri: String,
}

/// Salesforce's additions to the standard token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SalesforceFields {
    instance_url: String,
    id: String,
    issued_at: String,
    signature: String,
}

impl ExtraTokenFields for SalesforceFields {}

type SalesforceTokenResponse = StandardTokenResponse<SalesforceFields, BasicTokenType>;
type SalesforceClient<HasAuthUrl, HasTokenUrl> = oauth2::Client<
    BasicErrorResponse,
    SalesforceTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
>;

/// A token response whose signature, hosts and identity URL have been checked.
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub instance_url: InstanceUrl,
    pub identity_url: Url,
    pub organization_id: SalesforceId,
    pub user_id: SalesforceId,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
}

/// What token introspection says about a token: Salesforce Help "OpenID Connect Token
/// Introspection" (`xcloud.remoteaccess_oidc_token_introspection_endpoint.htm`) lists `active`,
/// `scope`, `client_id`, `username`, `sub`, `token_type`, `exp`, `iat` and `nbf`; only these are
/// read. `exp` and `iat` are epoch seconds (RFC 7662 §2.2) on Salesforce's clock.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Introspection {
    /// `false` for a token that is expired, revoked, unknown, or not this app's to introspect;
    /// nothing else is said then.
    pub active: bool,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
}

/// What the identity URL says about the user who authorized.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub organization_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SalesforceOAuth {
    http: reqwest::Client,
    policy: HostPolicy,
}

impl SalesforceOAuth {
    /// On `http` (see [`crate::http_client`]); only hosts `policy` allows are ever called.
    pub fn new(http: reqwest::Client, policy: HostPolicy) -> Self {
        Self { http, policy }
    }

    pub fn host_policy(&self) -> HostPolicy {
        self.policy
    }

    /// A fresh PKCE verifier (32 random bytes, 43 characters).
    pub fn new_verifier() -> PkceVerifier {
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        PkceVerifier::new(verifier.into_secret())
    }

    /// The Salesforce authorize URL the popup is sent to.
    pub fn authorize_url(&self, issuer: &Issuer, state: &OAuthState, verifier: &PkceVerifier) -> Result<Url, OAuthFailure> {
        let client: SalesforceClient<EndpointSet, EndpointNotSet> =
            oauth2::Client::new(ClientId::new(issuer.client_id.clone()))
                .set_auth_uri(auth_url(&issuer.login_host)?)
                .set_redirect_uri(redirect_url(&issuer.redirect_uri)?);
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.expose_secret().to_owned()));
        let state = state.as_str().to_owned();
        let (url, _) = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(SCOPES.map(|s| Scope::new(s.to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param("display", "popup")
            .url();
        Ok(url)
    }

    /// Exchanges an authorization code, sending both the verifier and the client secret
    /// (Salesforce requires both from confidential PKCE clients), then checks the response.
    pub async fn exchange_code(
        &self,
        issuer: &Issuer,
        secret: &ConsumerSecret,
        code: &AuthorizationCode,
        verifier: &PkceVerifier,
    ) -> Result<TokenGrant, OAuthFailure> {
        let client = self.token_client(&issuer.login_host, &issuer.client_id, secret)?
            .set_redirect_uri(redirect_url(&issuer.redirect_uri)?);
        let response = client
            .exchange_code(oauth2::AuthorizationCode::new(code.expose_secret().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| token_failure(e, &issuer.redirect_uri))?;
        self.check_grant(response, secret)
    }

    /// Trades a refresh token for a new access token (and, when the app rotates refresh tokens,
    /// a new refresh token that replaces the one sent, which is dead from then on).
    pub async fn refresh(
        &self,
        login_host: &LoginHost,
        client_id: &str,
        secret: &ConsumerSecret,
        refresh_token: &RefreshToken,
    ) -> Result<TokenGrant, OAuthFailure> {
        let token = oauth2::RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response = self
            .token_client(login_host, client_id, secret)?
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                // Since Summer '24 Salesforce answers a refresh that races another one with the
                // same token with `invalid_grant` / `expired authorization code`; it means "try
                // again", not "bad code" (Segment PR #2300). `from_refresh` knows.
                RequestTokenError::ServerResponse(body) => {
                    OAuthFailure::from_refresh(body.error().as_ref(), body.error_description().map(String::as_str))
                }
                other => token_failure(other, ""),
            })?;
        self.check_grant(response, secret)
    }

    /// Server-to-server token for the app's Run As user (no refresh token; ask again when it expires).
    pub async fn client_credentials(
        &self,
        login_host: &LoginHost,
        client_id: &str,
        secret: &ConsumerSecret,
    ) -> Result<TokenGrant, OAuthFailure> {
        let response = self
            .token_client(login_host, client_id, secret)?
            .exchange_client_credentials()
            .request_async(&self.http)
            .await
            .map_err(|e| token_failure(e, ""))?;
        self.check_grant(response, secret)
    }

    /// Reads the identity URL with the new access token. The URL's host was checked by
    /// `check_grant` before any token is sent to it.
    pub async fn identity(&self, grant: &TokenGrant) -> Result<Identity, OAuthFailure> {
        let response = self
            .http
            .get(grant.identity_url.clone())
            .bearer_auth(grant.access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OAuthFailure::unreachable(transport_reason(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(OAuthFailure::new(
                "identity_unavailable",
                format!("Salesforce did not return the signed-in user's identity (HTTP {status}). Try connecting again."),
                status.is_server_error(),
            ));
        }
        let identity: Identity = response.json().await.map_err(|_| {
            OAuthFailure::new("identity_unreadable", "Salesforce's identity response could not be read. Try connecting again.", true)
        })?;
        let same_org = SalesforceId::parse(&identity.organization_id).ok() == Some(grant.organization_id.clone());
        let same_user = SalesforceId::parse(&identity.user_id).ok() == Some(grant.user_id.clone());
        if !same_org || !same_user {
            return Err(OAuthFailure::new(
                "identity_mismatch",
                "Salesforce's identity response names a different org or user than the token. The connection was refused; try again.",
                false,
            ));
        }
        Ok(identity)
    }

    /// Asks Salesforce about an access token: `POST {login host}/services/oauth2/introspect` with
    /// `token`, `token_type_hint=access_token` and the app's `client_id` and `client_secret` in
    /// the body (the Help page allows them there or in a Basic header; the body is what the token
    /// calls use). An app may introspect its own tokens. Best-effort, so it waits
    /// [`INTROSPECTION_TIMEOUT`] at most. The answer's body is never logged.
    pub async fn introspect(
        &self,
        login_host: &LoginHost,
        client_id: &str,
        secret: &ConsumerSecret,
        token: &AccessToken,
    ) -> Result<Introspection, OAuthFailure> {
        let form = [
            ("token", token.expose_secret()),
            ("token_type_hint", "access_token"),
            ("client_id", client_id),
            ("client_secret", secret.expose_secret()),
        ];
        let response = self
            .http
            .post(login_host.join("/services/oauth2/introspect"))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(INTROSPECTION_TIMEOUT)
            .form(&form)
            .send()
            .await
            .map_err(|e| OAuthFailure::unreachable(transport_reason(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(OAuthFailure::new(
                "introspection_failed",
                format!("Salesforce did not answer the token introspection (HTTP {status})."),
                status.is_server_error(),
            ));
        }
        response.json().await.map_err(|_| {
            OAuthFailure::new("introspection_unreadable", "Salesforce's token introspection answer could not be read.", true)
        })
    }

    /// Revokes a refresh or access token (a refresh token takes its access tokens with it).
    /// A token Salesforce no longer knows counts as revoked.
    pub async fn revoke(&self, login_host: &LoginHost, token: &str) -> Result<(), OAuthFailure> {
        let response = self
            .http
            .post(login_host.join("/services/oauth2/revoke"))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| OAuthFailure::unreachable(transport_reason(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        match body.get("error").and_then(|e| e.as_str()) {
            Some("invalid_token") => Ok(()),
            other => Err(OAuthFailure::new(
                "revoke_failed",
                format!(
                    "Salesforce did not confirm the revocation (HTTP {status}{}). Revoke the app's access in Salesforce Setup if needed.",
                    other.map(|e| format!(", {e}")).unwrap_or_default()
                ),
                status.is_server_error(),
            )),
        }
    }

    fn token_client(
        &self,
        login_host: &LoginHost,
        client_id: &str,
        secret: &ConsumerSecret,
    ) -> Result<SalesforceClient<EndpointNotSet, EndpointSet>, OAuthFailure> {
        let token_url = TokenUrl::new(login_host.join("/services/oauth2/token"))
            .map_err(|_| OAuthFailure::new("invalid_login_host", "The saved login URL is not usable.", false))?;
        Ok(oauth2::Client::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
            .set_token_uri(token_url)
            // Salesforce documents the credentials in the form body; Basic works too, but the
            // body keeps one code path for every grant.
            .set_auth_type(AuthType::RequestBody))
    }

    /// Everything a token response must satisfy before we use or keep it.
    fn check_grant(&self, response: SalesforceTokenResponse, secret: &ConsumerSecret) -> Result<TokenGrant, OAuthFailure> {
        let fields = response.extra_fields();
        if !verify_signature(secret, &fields.id, &fields.issued_at, &fields.signature) {
            return Err(OAuthFailure::new(
                "signature_invalid",
                "Salesforce's token response failed its signature check: the saved Consumer Secret is not the one of the \
                 app that issued the tokens, or the response was altered on the way. Re-save the credentials and connect again.",
                false,
            ));
        }
        let instance_url = InstanceUrl::parse(&fields.instance_url, self.policy).map_err(|_| {
            OAuthFailure::new(
                "instance_url_not_allowed",
                format!(
                    "Salesforce returned an instance URL outside the Salesforce domains we trust ({}). The connection was refused.",
                    fields.instance_url.chars().take(100).collect::<String>()
                ),
                false,
            )
        })?;
        let identity_url = SalesforceUrl::check_full_url(&fields.id, self.policy).map_err(|_| {
            OAuthFailure::new(
                "identity_url_not_allowed",
                "Salesforce returned an identity URL outside the Salesforce domains we trust. The connection was refused.",
                false,
            )
        })?;
        let (organization_id, user_id) = ids_from_identity_url(&identity_url).ok_or_else(|| {
            OAuthFailure::new("identity_url_malformed", "Salesforce's identity URL does not name an org and user.", false)
        })?;
        let issued_at = fields
            .issued_at
            .parse::<i64>()
            .ok()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .unwrap_or_else(Utc::now);
        Ok(TokenGrant {
            access_token: AccessToken::new(response.access_token().secret().clone()),
            refresh_token: response.refresh_token().map(|t| RefreshToken::new(t.secret().clone())),
            instance_url,
            identity_url,
            organization_id,
            user_id,
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
            issued_at,
        })
    }
}

/// `https://host/id/{org 00D…}/{user 005…}`.
fn ids_from_identity_url(url: &Url) -> Option<(SalesforceId, SalesforceId)> {
    let mut segments = url.path_segments()?;
    if segments.next()? != "id" {
        return None;
    }
    let org = SalesforceId::parse(segments.next()?).ok().filter(|id| id.key_prefix() == "00D")?;
    let user = SalesforceId::parse(segments.next()?).ok().filter(|id| id.key_prefix() == "005")?;
    Some((org, user))
}

fn auth_url(login_host: &LoginHost) -> Result<AuthUrl, OAuthFailure> {
    AuthUrl::new(login_host.join("/services/oauth2/authorize"))
        .map_err(|_| OAuthFailure::new("invalid_login_host", "The saved login URL is not usable.", false))
}

fn redirect_url(uri: &str) -> Result<RedirectUrl, OAuthFailure> {
    RedirectUrl::new(uri.to_owned())
        .map_err(|_| OAuthFailure::new("invalid_redirect_uri", "This deployment's callback URL is not a URL; check SFBRIDGE_PUBLIC_URL.", false))
}

fn token_failure<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, BasicErrorResponse>,
    redirect_uri: &str,
) -> OAuthFailure {
    match e {
        RequestTokenError::ServerResponse(body) => {
            OAuthFailure::from_salesforce(body.error().as_ref(), body.error_description().map(String::as_str), redirect_uri)
        }
        // Never echo the body: a malformed success response may still hold tokens.
        RequestTokenError::Parse(..) => OAuthFailure::new(
            "salesforce_unavailable",
            "Salesforce's token endpoint answered with something other than a token response. Try again in a few minutes.",
            true,
        ),
        RequestTokenError::Request(e) => OAuthFailure::unreachable(&request_reason(&e)),
        RequestTokenError::Other(_) => OAuthFailure::new(
            "salesforce_unavailable",
            "Salesforce's token endpoint answered unexpectedly. Try again in a few minutes.",
            true,
        ),
    }
}

fn request_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(reqwest_error) = err.downcast_ref::<reqwest::Error>() {
            return transport_reason(reqwest_error).to_owned();
        }
        source = err.source();
    }
    "request failed".to_owned()
}

fn transport_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_carries_pkce_scopes_and_popup() {
        let oauth = crate::http_client().map(|http| SalesforceOAuth::new(http, HostPolicy::STRICT)).map_err(|e| e.to_string());
        let Ok(oauth) = oauth else { unreachable!("client builds") };
        let Ok(login_host) = LoginHost::parse("https://acme.my.salesforce.com", HostPolicy::STRICT) else {
            unreachable!("valid host")
        };
        let issuer = Issuer {
            login_host,
            client_id: "3MVG9-key".into(),
            redirect_uri: "https://api.example.com/oauth/callback".into(),
        };
        let verifier = SalesforceOAuth::new_verifier();
        assert!(verifier.expose_secret().len() >= 43);
        let state = OAuthState::random();
        let Ok(url) = oauth.authorize_url(&issuer, &state, &verifier) else { unreachable!("url builds") };
        let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.host_str(), Some("acme.my.salesforce.com"));
        assert_eq!(url.path(), "/services/oauth2/authorize");
        assert_eq!(params.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(params.get("client_id").map(String::as_str), Some("3MVG9-key"));
        assert_eq!(params.get("scope").map(String::as_str), Some("api refresh_token offline_access"));
        assert_eq!(params.get("code_challenge_method").map(String::as_str), Some("S256"));
        assert_eq!(params.get("display").map(String::as_str), Some("popup"));
        assert_eq!(params.get("state").map(String::as_str), Some(state.as_str()));
        let expected = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.expose_secret().to_owned()));
        assert_eq!(params.get("code_challenge").map(String::as_str), Some(expected.as_str()));
        assert!(!url.as_str().contains(verifier.expose_secret()));
    }

    #[test]
    fn identity_url_must_name_org_and_user() {
        let ok = Url::parse("https://login.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC").ok();
        assert!(ok.as_ref().and_then(ids_from_identity_url).is_some());
        for bad in [
            "https://login.salesforce.com/id/005B0000005Bk90IAC/00DB0000000TfcRMAS",
            "https://login.salesforce.com/x/00DB0000000TfcRMAS/005B0000005Bk90IAC",
            "https://login.salesforce.com/id/00DB0000000TfcR",
        ] {
            let url = Url::parse(bad).ok();
            assert!(url.as_ref().and_then(ids_from_identity_url).is_none(), "{bad}");
        }
    }
}
