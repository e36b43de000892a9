//! The identity URL, `GET /id/{org_id}/{user_id}` (salesforce.md §1.7).
//!
//! Answers for a live access token of that very user (from `Authorization: Bearer`, or an
//! `oauth_token` parameter), which counts as using the session; anything else is Salesforce's 401
//! `INVALID_SESSION_ID`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::recording::{first, parse_pairs};
use crate::state::{Sim, SimState};

/// What `?version=latest` resolves to (Summer '26).
const LATEST_API_VERSION: &str = "67.0";

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new().route("/id/{org_id}/{user_id}", get(identity))
}

async fn identity(
    State(sim): State<Arc<Sim>>,
    Path((org_id, user_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = parse_pairs(query.unwrap_or_default().as_bytes());
    let token = bearer_token(&headers).or_else(|| first(&query, "oauth_token").map(str::to_owned));
    let mut state = sim.lock();
    let login = token.as_deref().and_then(|t| state.session(t)).map(|family| family.login.clone());
    let Some(login) = login.filter(|l| same_id(&l.org_id, &org_id) && same_id(&l.user_id, &user_id)) else {
        return invalid_session(&mut state);
    };
    if let Some(token) = &token {
        state.use_session(token);
    }
    let login = &login;

    let version = match first(&query, "version") {
        Some("latest") => LATEST_API_VERSION,
        Some(version) => version,
        None => "{version}",
    };
    let instance = state.instance_url.as_deref().unwrap_or(&sim.base_url).trim_end_matches('/').to_owned();
    let identity_base = state.identity_base.as_deref().unwrap_or(&sim.base_url).trim_end_matches('/');
    let org15: String = login.org_id.chars().take(15).collect();
    let data = format!("{instance}/services/data/v{version}");
    let (first_name, last_name) = state.display_name.split_once(' ').unwrap_or(("", state.display_name.as_str()));
    let nick_name = state.username.split('@').next().unwrap_or_default();
    let body = json!({
        "id": format!("{identity_base}/id/{}/{}", login.org_id, login.user_id),
        "asserted_user": true,
        "user_id": login.user_id,
        "organization_id": login.org_id,
        "username": state.username,
        "nick_name": nick_name,
        "display_name": state.display_name,
        "email": state.email,
        "email_verified": true,
        "first_name": first_name,
        "last_name": last_name,
        "timezone": "America/Los_Angeles",
        "photos": {
            "picture": format!("{instance}/profilephoto/005/F"),
            "thumbnail": format!("{instance}/profilephoto/005/T"),
        },
        "addr_street": null, "addr_city": null, "addr_state": null, "addr_country": "US", "addr_zip": null,
        "mobile_phone": null,
        "mobile_phone_verified": false,
        "is_lightning_login_user": false,
        "status": {"created_date": null, "body": null},
        "urls": {
            "enterprise": format!("{instance}/services/Soap/c/{version}/{org15}"),
            "metadata": format!("{instance}/services/Soap/m/{version}/{org15}"),
            "partner": format!("{instance}/services/Soap/u/{version}/{org15}"),
            "rest": format!("{data}/"),
            "sobjects": format!("{data}/sobjects/"),
            "search": format!("{data}/search/"),
            "query": format!("{data}/query/"),
            "recent": format!("{data}/recent/"),
            "tooling_soap": format!("{instance}/services/Soap/T/{version}/{org15}"),
            "tooling_rest": format!("{data}/tooling/"),
            "profile": format!("{instance}/{}", login.user_id),
            "feeds": format!("{data}/chatter/feeds"),
            "groups": format!("{data}/chatter/groups"),
            "users": format!("{data}/chatter/users"),
            "feed_items": format!("{data}/chatter/feed-items"),
            "feed_elements": format!("{data}/chatter/feed-elements"),
            "custom_domain": instance,
        },
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28_800_000,
        "last_modified_date": "2026-01-05T17:21:40.000+0000",
        "is_app_installed": true,
    });
    Json(body).into_response()
}

/// The token of `Authorization: Bearer …` (Salesforce also accepts the older `OAuth …`).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth");
    (known && !token.trim().is_empty()).then(|| token.trim().to_owned())
}

/// 401 `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`
/// (salesforce-samples/error-invalid-session-id.json), counted.
pub(crate) fn invalid_session(state: &mut SimState) -> Response {
    state.invalid_session_answers += 1;
    (
        StatusCode::UNAUTHORIZED,
        Json(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])),
    )
        .into_response()
}

/// The same record: equal, or a 15-character id equal to the other's first 15 characters
/// (15-character ids are case-sensitive).
fn same_id(ours: &str, theirs: &str) -> bool {
    ours == theirs
        || ((ours.len() == 15 || theirs.len() == 15) && ours.get(..15).is_some_and(|p| Some(p) == theirs.get(..15)))
}
