//! When a client-credentials access token expires, so [`crate::Sessions`] renews it before then
//! instead of waiting for a 401.
//!
//! Salesforce's token response has no `expires_in`. An access token lives for the session timeout:
//! the org's Session Settings "Timeout value" (15 minutes to 24 hours, 2 hours by default) unless
//! the app's session policy sets another, measured by inactivity; an expired token gets 401
//! `INVALID_SESSION_ID` (shared/reference/salesforce.md §2.6). The client credentials grant
//! returns no refresh token: when the token expires, ask for a new one (§3). What a token's
//! lifetime is, introspection says: `POST /services/oauth2/introspect` answers `active`, `exp` and
//! `iat` (Salesforce Help "OpenID Connect Token Introspection"), which is how Nango learns a
//! Salesforce token's expiry (nango.dev "Salesforce: How to get the access token expires_at").
//!
//! The rules (docs/reliability.md#token-refresh-lease):
//!
//! - **A lifetime, anchored on our clock.** The lifetime is `exp - iat`, both Salesforce's clock;
//!   the expiry kept is our clock's time *before* the token request plus that lifetime, so it is
//!   never later than Salesforce's, whatever the skew between the clocks. Use (inactivity) only
//!   extends a session, so the kept expiry is a lower bound: renewing at it is early, never late.
//! - **Fallback: [`FALLBACK_LIFETIME`], 15 minutes**, the shortest session timeout Salesforce
//!   offers, so no org or app setting can make the kept expiry late. Used when introspection fails
//!   (network, 5xx, timeout), answers `active: false` (the app may not introspect the token, or
//!   Salesforce does not describe it), or reports a lifetime outside the documented 15 minutes to
//!   24 hours. The cost is one token request per 10 minutes while a tenant syncs.
//! - **Margin: [`RENEWAL_MARGIN`], 5 minutes** before the expiry. A sync batch runs 60 s at most
//!   (the function's timeout), Test Fields 29 s, and a renewal 15 s (token call 10 s,
//!   introspection 5 s); 5 minutes covers a batch that starts just before the margin, with room
//!   for a lease wait (35 s at most). It is well under the shortest lifetime, so a fresh token is
//!   never due at once: at least 10 minutes of use between renewals.

use chrono::{DateTime, Duration, Utc};

use sfbridge_core::credentials::OpenedCredentials;
use sfbridge_core::domain::{LoginHost, TenantId};

use crate::oauth::Introspection;
use crate::{SalesforceOAuth, TokenGrant};

/// The shortest session timeout Session Settings (and an app's session policy) offer.
pub const SHORTEST_SESSION_TIMEOUT: Duration = Duration::minutes(15);
/// The longest.
pub const LONGEST_SESSION_TIMEOUT: Duration = Duration::hours(24);
/// The lifetime assumed when introspection does not tell it.
pub const FALLBACK_LIFETIME: Duration = SHORTEST_SESSION_TIMEOUT;
/// How long before the kept expiry a token is renewed.
pub const RENEWAL_MARGIN: Duration = Duration::minutes(5);

/// The lifetime introspection reports for a token just issued (`issued_at`: the token response's,
/// for an answer without `iat`), or why it tells none.
pub fn reported_lifetime(answer: &Introspection, issued_at: DateTime<Utc>) -> Result<Duration, &'static str> {
    if !answer.active {
        return Err("introspection says the token is not active (the app may not introspect it)");
    }
    let exp = answer.exp.ok_or("introspection gave no exp")?;
    Duration::try_seconds(exp.saturating_sub(answer.iat.unwrap_or(issued_at.timestamp())))
        .filter(|lifetime| (SHORTEST_SESSION_TIMEOUT..=LONGEST_SESSION_TIMEOUT).contains(lifetime))
        .ok_or("introspection reports a lifetime outside Salesforce's session timeouts (15 minutes to 24 hours)")
}

/// When a token asked for at `requested_at` (our clock) expires, for `lifetime` or the fallback.
pub fn expires_at(requested_at: DateTime<Utc>, lifetime: Option<Duration>) -> DateTime<Utc> {
    requested_at + lifetime.unwrap_or(FALLBACK_LIFETIME)
}

/// Whether a token expiring at `expires_at` is renewed before use at `now`. Never for a token
/// whose expiry is not known (refresh-token connections: renewed on a 401 only).
pub fn renewal_due(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_some_and(|at| now >= at - RENEWAL_MARGIN)
}

/// The expiry to keep for a client-credentials `grant` asked for at `requested_at`: introspected,
/// else the fallback (logged, with Salesforce's error code at most). Never fails.
pub async fn learn_expiry(
    oauth: &SalesforceOAuth,
    t: &TenantId,
    login_host: &LoginHost,
    credentials: &OpenedCredentials,
    grant: &TokenGrant,
    requested_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let answer =
        oauth.introspect(login_host, &credentials.consumer_key, &credentials.consumer_secret, &grant.access_token).await;
    let lifetime = match &answer {
        Ok(answer) => reported_lifetime(answer, grant.issued_at).map_err(str::to_owned),
        Err(failure) => Err(format!("introspection failed: {}", failure.code)),
    };
    match lifetime {
        Ok(lifetime) => {
            tracing::debug!(tenant_id = %t, lifetime_s = lifetime.num_seconds(), "access token lifetime from introspection");
            expires_at(requested_at, Some(lifetime))
        }
        Err(why) => {
            tracing::info!(
                tenant_id = %t,
                reason = %why,
                fallback_s = FALLBACK_LIFETIME.num_seconds(),
                "access token lifetime unknown: assuming the shortest session timeout"
            );
            expires_at(requested_at, None)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    fn answer(active: bool, exp: Option<i64>, iat: Option<i64>) -> Introspection {
        Introspection { active, exp, iat }
    }

    #[test]
    fn the_lifetime_is_exp_minus_iat_within_salesforces_range() {
        let issued = at("2026-11-20T10:00:00Z");
        let iat = issued.timestamp();
        assert_eq!(reported_lifetime(&answer(true, Some(iat + 7200), Some(iat)), issued), Ok(Duration::hours(2)));
        // Both ends of the range; an answer without iat measures from the token's issued_at.
        assert_eq!(reported_lifetime(&answer(true, Some(iat + 900), None), issued), Ok(Duration::minutes(15)));
        assert_eq!(reported_lifetime(&answer(true, Some(iat + 86_400), Some(iat)), issued), Ok(Duration::hours(24)));
        // Salesforce's clock, not ours: an iat far from our time does not matter.
        let skewed = iat + 3600;
        assert_eq!(reported_lifetime(&answer(true, Some(skewed + 1800), Some(skewed)), issued), Ok(Duration::minutes(30)));
    }

    #[test]
    fn no_lifetime_from_an_inactive_incomplete_or_implausible_answer() {
        let issued = at("2026-11-20T10:00:00Z");
        let iat = issued.timestamp();
        for bad in [
            answer(false, None, None),
            answer(false, Some(iat + 7200), Some(iat)),
            answer(true, None, Some(iat)),
            answer(true, Some(iat + 899), Some(iat)),
            answer(true, Some(iat - 10), Some(iat)),
            answer(true, Some(iat + 86_401), Some(iat)),
            answer(true, Some(i64::MIN), Some(i64::MAX)),
        ] {
            assert!(reported_lifetime(&bad, issued).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_expiry_counts_from_the_request_on_our_clock_with_the_fallback_below_two_hours() {
        let requested = at("2026-11-20T10:00:00Z");
        assert_eq!(expires_at(requested, Some(Duration::hours(2))), at("2026-11-20T12:00:00Z"));
        assert_eq!(expires_at(requested, None), at("2026-11-20T10:15:00Z"));
        assert!(FALLBACK_LIFETIME < Duration::hours(2) && FALLBACK_LIFETIME == SHORTEST_SESSION_TIMEOUT);
    }

    #[test]
    fn renewal_is_due_within_the_margin_and_never_without_an_expiry() {
        let expiry = at("2026-11-20T12:00:00Z");
        assert!(!renewal_due(Some(expiry), at("2026-11-20T11:54:59Z")));
        assert!(renewal_due(Some(expiry), at("2026-11-20T11:55:00Z")));
        assert!(renewal_due(Some(expiry), at("2026-11-20T13:00:00Z")), "expired: due too");
        assert!(!renewal_due(None, at("2030-01-01T00:00:00Z")), "refresh-token connections: on a 401 only");
    }

    #[test]
    fn a_fresh_token_is_never_due_and_lasts_a_batch_past_the_margin() {
        // The shortest lifetime kept leaves 10 minutes of use before the next renewal.
        let requested = at("2026-11-20T10:00:00Z");
        let shortest = expires_at(requested, None);
        assert!(!renewal_due(Some(shortest), requested + Duration::minutes(9)));
        assert!(renewal_due(Some(shortest), requested + Duration::minutes(10)));
        // A batch (60 s) starting just before the margin still ends before the expiry.
        let last_start = shortest - RENEWAL_MARGIN - Duration::seconds(1);
        assert!(!renewal_due(Some(shortest), last_start) && last_start + Duration::seconds(60) < shortest);
    }
}
