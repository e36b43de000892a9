//! Every Salesforce error sfbridge recognizes, in one table: where it shows up, what sfbridge does,
//! the likely cause and the fix. The README's "Troubleshooting" section is [`readme_block`],
//! rendered from it; `shared/http/tests/troubleshooting.rs` fails when the README differs, and
//! `SFBRIDGE_BLESS=1 cargo test -p sfbridge-http --features connect --test troubleshooting` rewrites it.
//!
//! - OAuth errors (connecting, token renewal) are [`OAUTH_ERRORS`]: the very rules
//!   `OAuthFailure::from_salesforce` maps with, so the README's fix is the message admins see.
//! - REST errors (activity sync) are [`REST_ERRORS`]. The class that drives sync is
//!   [`super::rest::classify_code`]'s ([`super::rest::CODE_CLASSES`]); the tests below check that
//!   every row states the class the code gives it, that every code `classify_code` maps has a row,
//!   and that the rows sync treats specially are the ones `sync/tenant.rs` does.
//!
//! Adding a code to a mapping without a row here fails a test; so does a row that says otherwise
//! than the code does.

use super::errors::fill;
pub use super::errors::{Stage, OAUTH_ERRORS, OAUTH_FALLBACK};
use super::rest::ErrorClass;
use super::errors::OAuthErrorRule;
use super::errors::WAIT_FOR_PROPAGATION;

/// How activity sync treats a REST error, when the class alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncHandling {
    /// As the row's class says.
    ByClass,
    /// Permanent for Salesforce, but it means the matched record changed between lookup and write
    /// (converted, merged, deleted): sync retries, looking the email up again.
    LookUpAgain,
    /// On a Task upsert that found the Task already there, sync writes it again without the
    /// create-only `TaskSubtype`. Anywhere else: as the class says.
    RewriteTaskWithoutSubtype,
}

/// One REST `errorCode` (or per-record `statusCode`), or a few with the same cause.
#[derive(Debug)]
pub struct RestErrorRow {
    /// As Salesforce sends them; `HTTP_<status>` is sfbridge's code for an answer without a JSON
    /// error body, and `TIMEOUT`, `CONNECTION_RESET`, `CONNECTION_FAILED` for no answer at all.
    /// Empty: any code no other row names.
    pub codes: &'static [&'static str],
    /// What [`super::rest::classify_response`] makes of it (checked by the tests).
    pub class: ErrorClass,
    pub handling: SyncHandling,
    pub cause: &'static str,
    pub fix: &'static str,
}

const fn rest(
    codes: &'static [&'static str],
    class: ErrorClass,
    cause: &'static str,
    fix: &'static str,
) -> RestErrorRow {
    RestErrorRow { codes, class, handling: SyncHandling::ByClass, cause, fix }
}

/// The REST errors sync meets: every code `classify_code` maps, the ones sync handles itself, the
/// permanent ones admins meet most, and last, any other code.
pub static REST_ERRORS: &[RestErrorRow] = &[
    rest(
        &["INVALID_SESSION_ID"],
        ErrorClass::RefreshSession,
        "The access token expired (the org's or the app's session timeout) or was revoked. Any 401 is treated so.",
        "Nothing. If the refresh is refused, the connection turns `reauth_required`: see `invalid_grant`.",
    ),
    rest(
        &["REQUEST_LIMIT_EXCEEDED"],
        ErrorClass::Transient,
        "The org's daily API requests (a rolling 24 hours, shared by every integration) are used up, or 25 \
         requests of 20 s or more were running at once.",
        "Nothing for sfbridge, which also defers at the tenant's `api_budget_percent`. If it recurs, find what spends \
         the org's API requests (Setup, Company Information: API Requests, Last 24 Hours) or buy more.",
    ),
    rest(
        &["SERVER_UNAVAILABLE"],
        ErrorClass::Transient,
        "Salesforce maintenance or overload (503).",
        "Nothing. If it lasts, see status.salesforce.com.",
    ),
    rest(
        &["HTTP_500", "HTTP_502", "HTTP_503", "HTTP_420"],
        ErrorClass::Transient,
        "An answer without a JSON error body, usually an error page from Salesforce's edge (420: no route to the \
         instance). Any 5xx or 420 is retried, whatever its code.",
        "Nothing. If 420 lasts, the org may have moved: reconnect.",
    ),
    rest(
        &["UNABLE_TO_LOCK_ROW"],
        ErrorClass::Transient,
        "Something else (a data load, a Flow or trigger, another integration) was writing the same record, or its \
         parent Account, at the same moment.",
        "Nothing if occasional. If it persists, move bulk jobs away from sending times.",
    ),
    rest(
        &["QUERY_TIMEOUT"],
        ErrorClass::Transient,
        "A lookup query ran too long (a very large or skewed org).",
        "Nothing if occasional. If it persists, ask Salesforce support (the lookups filter on Email).",
    ),
    rest(
        &["TIMEOUT", "CONNECTION_RESET", "CONNECTION_FAILED"],
        ErrorClass::Transient,
        "sfbridge's codes for no answer: none within 20 s, the connection dropped, or none could be opened.",
        "Nothing. Set `task_external_id_field` so that a write whose answer was lost cannot add a second Task.",
    ),
    RestErrorRow {
        codes: &["CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"],
        class: ErrorClass::Permanent,
        handling: SyncHandling::LookUpAgain,
        cause: "The matched record changed between lookup and write: the Lead was converted, the Contact merged or \
                deleted. `INVALID_CROSS_REFERENCE_KEY` also when a campaign's `salesforce_campaign_id` names no \
                Campaign of the org.",
        fix: "Nothing. If an event keeps failing with it, check the campaign's `salesforce_campaign_id`.",
    },
    RestErrorRow {
        codes: &["INVALID_FIELD_FOR_INSERT_UPDATE"],
        class: ErrorClass::Permanent,
        handling: SyncHandling::RewriteTaskWithoutSubtype,
        cause: "A field that can be set only on create (`TaskSubtype`) was sent to a Task that already existed (an \
                earlier write whose answer was lost), or a `field_mapping` field cannot be written (a formula, say).",
        fix:
            "For Tasks nothing. Otherwise map a writable field (`PUT /v1/tenants/{t}/settings`), then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    },
    rest(
        &["INVALID_FIELD"],
        ErrorClass::Permanent,
        "A field in `field_mapping` or `task_external_id_field` does not exist on the object, or the connected user \
         cannot see it (field-level security).",
        "Use the field's API name (`Total_Clicks__c`) and give the connected user access to it, then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    ),
    rest(
        &["INVALID_TYPE"],
        ErrorClass::Permanent,
        "The connected user cannot access Contact, Lead or Task (object permissions).",
        "Give the connected user read, create and edit on Contact, Lead and Task (profile or permission set).",
    ),
    rest(
        &["INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", "INSUFFICIENT_ACCESS"],
        ErrorClass::Permanent,
        "The connected user cannot edit the record (sharing, or a field it cannot write), or cannot see the record \
         a Task points to (the Contact, Lead or Campaign).",
        "Give the connected user edit access to those records (sharing rules, or connect as an integration user who \
         has it), then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    ),
    rest(
        &["API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"],
        ErrorClass::Permanent,
        "The org's edition has no API access, or the connected user lacks the API Enabled permission.",
        "Grant API Enabled to the connected user; an edition without API access cannot be used.",
    ),
    rest(
        &["FIELD_CUSTOM_VALIDATION_EXCEPTION"],
        ErrorClass::Permanent,
        "A validation rule on Task, Contact or Lead refused the write; the reason is the rule's error message.",
        "Change the rule, or exempt the connected user in its formula, then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    ),
    rest(
        &["CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"],
        ErrorClass::Permanent,
        "An Apex trigger or a record-triggered Flow failed while saving; the reason names it.",
        "Fix the automation (or skip it for the connected user), then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    ),
    rest(
        &["REQUIRED_FIELD_MISSING"],
        ErrorClass::Permanent,
        "The org made a field required on Task or Lead that sfbridge does not set.",
        "Give the field a default value, or require it on page layouts only, then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    ),
    rest(
        &["DUPLICATES_DETECTED"],
        ErrorClass::Permanent,
        "A duplicate rule blocked creating a Lead (`create_missing: lead`).",
        "Let the rule allow the save, or match Leads too (`match_policy`) so that the existing one is found.",
    ),
    rest(
        &["DUPLICATE_VALUE"],
        ErrorClass::Permanent,
        "A Unique field already holds this value on another record (the reason names it).",
        "Resolve the duplicate in Salesforce, then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    ),
    rest(
        &["STRING_TOO_LONG", "INVALID_EMAIL_ADDRESS"],
        ErrorClass::Permanent,
        "A value does not fit its field (a field the org shortened), or Salesforce refuses the email address of a \
         Lead sfbridge creates.",
        "Lengthen the field, or correct the address at the source.",
    ),
    rest(
        &["MALFORMED_QUERY"],
        ErrorClass::Permanent,
        "Salesforce refused a query sfbridge built: a bug.",
        "Report it with the delivery log entry (its reason is Salesforce's explanation, never the query).",
    ),
    rest(
        &[],
        ErrorClass::Permanent,
        "Salesforce refused the call or the record for a reason without a row here; the reason is Salesforce's \
         message.",
        "Act on the reason, then replay it (`POST /v1/tenants/{t}/dead-letters/replay`).",
    ),
];

pub const BEGIN_MARKER: &str = "<!-- troubleshooting:begin -->";
pub const END_MARKER: &str = "<!-- troubleshooting:end -->";

/// What `POST /v1/tenants/{t}/connect` answers when Salesforce refuses a client-credentials connect
/// (`crate::http`'s mapping; a test checks they agree).
pub fn connect_api_status(retryable: bool) -> u16 {
    if retryable {
        502
    } else {
        422
    }
}

/// The README block, markers included.
pub fn readme_block() -> String {
    format!("{BEGIN_MARKER}\n{}{END_MARKER}", markdown())
}

/// Both tables, in Markdown.
pub(crate) fn markdown() -> String {
    let mut out = String::new();
    out.push_str("**Connecting, and renewing the token during sync** (Salesforce's OAuth `error`):\n\n");
    table(&mut out, OAUTH_ERRORS.iter().chain([&OAUTH_FALLBACK]).map(oauth_row));
    out.push_str("\n**Activity sync** (the REST `errorCode`, or a record's `statusCode`):\n\n");
    table(&mut out, REST_ERRORS.iter().map(rest_row));
    out
}

const HEADER: [&str; 5] = ["Salesforce error", "where it shows up", "what sfbridge does", "likely cause", "fix"];

fn table(out: &mut String, rows: impl Iterator<Item = [String; 5]>) {
    out.push_str(&format!("| {} |\n", HEADER.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|cell| cell.replace('|', "\\|").replace('\n', " ")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
}

fn codes(codes: &[&str]) -> String {
    codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
}

fn oauth_row(rule: &OAuthErrorRule) -> [String; 5] {
    let mut error = if rule.errors.is_empty() { "any other `error`".to_owned() } else { codes(rule.errors) };
    if !rule.description_contains.is_empty() {
        let said = rule.description_contains.iter().map(|d| format!("“{d}”")).collect::<Vec<_>>().join(" or ");
        error.push_str(&format!(", description has {said}"));
    }
    if rule.refresh_only {
        error.push_str(", answering a refresh");
    }
    let connects = rule.stages.iter().any(|s| matches!(s, Stage::Popup | Stage::ConnectApi));
    let renews = rule.stages.contains(&Stage::TokenRenewal);

    let mut seen = Vec::new();
    if rule.stages.contains(&Stage::Popup) {
        seen.push("the connect popup".to_owned());
    }
    if rule.stages.contains(&Stage::ConnectApi) {
        seen.push(format!("`POST /v1/tenants/{{t}}/connect` ({})", connect_api_status(rule.retryable)));
    }
    if renews {
        seen.push(if rule.retryable {
            "function logs (`sync deferred`)".to_owned()
        } else {
            format!("connection status `reauth_required`, audit reason `{}`", rule.code)
        });
    }

    let mut does = Vec::new();
    if connects {
        does.push(format!("connect fails: `{}`{}", rule.code, if rule.retryable { " (temporary)" } else { "" }));
    }
    if renews {
        does.push(if rule.retryable {
            "sync: retried later".to_owned()
        } else {
            "sync: reauth required, events parked until a reconnect".to_owned()
        });
    }

    let fix = fill(
        rule.message,
        &[
            ("redirect_uri", "the `CallbackUrl` stack output"),
            ("said", ""),
            ("error", "that error"),
            ("wait", WAIT_FOR_PROPAGATION),
        ],
    );
    [error, seen.join("; "), does.join("; "), rule.cause.to_owned(), fix]
}

fn rest_row(row: &RestErrorRow) -> [String; 5] {
    let retried_where = "delivery log: `deferred` with this code (a failed call); function logs (a refused record); metric `EventsRetried`";
    let failed_where = "delivery log: `dead_lettered` with this code; `GET /v1/tenants/{t}/dead-letters`";
    let (seen, does) = match (row.handling, row.class) {
        (SyncHandling::ByClass, ErrorClass::RefreshSession) => (
            "nowhere (metric `TokenRefreshes`)",
            "refresh and retry: one token refresh per connection, then the call again",
        ),
        (SyncHandling::ByClass, ErrorClass::Transient) => {
            (
                retried_where,
                "a failed call defers the tenant's events (back after a delay, using none of their receives); a refused \
                 record is retried after growing delays, and held as a dead letter after 5 receives",
            )
        }
        (SyncHandling::ByClass, ErrorClass::Permanent) => {
            (failed_where, "failed: not retried, held as a dead letter until replayed")
        }
        (SyncHandling::LookUpAgain, _) => (retried_where, "retried: the email is looked up again"),
        (SyncHandling::RewriteTaskWithoutSubtype, _) => {
            (failed_where, "on a Task that already exists: written again without `TaskSubtype`; otherwise failed")
        }
    };
    let label = if row.codes.is_empty() { "any other code".to_owned() } else { codes(row.codes) };
    [label, seen.to_owned(), does.to_owned(), row.cause.to_owned(), row.fix.to_owned()]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::rest::{classify_code, classify_response, CODE_CLASSES};
    use crate::errors::oauth_error_rule;
    use crate::OAuthFailure;

    #[test]
    fn every_rest_row_states_the_class_the_code_gives() {
        for row in REST_ERRORS {
            let any_other: &[&str] = &["SOME_CODE_WITHOUT_A_ROW"];
            for &code in if row.codes.is_empty() { any_other } else { row.codes } {
                if let Some(status) = code.strip_prefix("HTTP_") {
                    let status: u16 = status.parse().unwrap_or_else(|_| unreachable!("{code}: HTTP_<status>"));
                    let e = classify_response(status, b"<html>error</html>");
                    assert_eq!((e.class, e.code.as_str()), (row.class, code), "row {code}");
                } else {
                    assert_eq!(classify_code(code), row.class, "row {code}: classify_code disagrees");
                    let body = format!(r#"[{{"errorCode":"{code}","message":"m"}}]"#);
                    let status = if row.class == ErrorClass::RefreshSession { 401 } else { 400 };
                    assert_eq!(classify_response(status, body.as_bytes()).class, row.class, "row {code}");
                }
            }
        }
    }

    #[test]
    fn every_code_classify_code_maps_has_a_row() {
        for (code, class) in CODE_CLASSES {
            let row = REST_ERRORS.iter().find(|row| row.codes.contains(code));
            assert!(
                row.is_some_and(|row| row.class == *class),
                "{code} is mapped in rest.rs CODE_CLASSES but has no row in troubleshooting.rs REST_ERRORS (or one \
                 with another class): add one, then regenerate the README table"
            );
        }
    }

    #[test]
    fn no_code_has_two_rows() {
        let mut seen = BTreeSet::new();
        for code in REST_ERRORS.iter().flat_map(|row| row.codes) {
            assert!(seen.insert(*code), "{code} has two rows");
        }
        let mut seen = BTreeSet::new();
        for rule in OAUTH_ERRORS {
            for error in rule.errors {
                assert!(seen.insert((*error, rule.description_contains, rule.refresh_only)), "{error} has two rules");
            }
        }
    }

    /// Every rule is reachable (no earlier rule shadows it) and gives its code and retryability.
    #[test]
    fn every_oauth_rule_is_what_the_mapping_returns() {
        for rule in OAUTH_ERRORS {
            for error in rule.errors {
                let description = rule.description_contains.first().map(|d| format!("x {d} y"));
                let failure = if rule.refresh_only {
                    OAuthFailure::from_refresh(error, description.as_deref())
                } else {
                    OAuthFailure::from_salesforce(
                        error,
                        description.as_deref(),
                        "https://api.example.com/oauth/callback",
                    )
                };
                assert_eq!((failure.code.as_str(), failure.retryable), (rule.code, rule.retryable), "{error}");
                assert!(std::ptr::eq(
                    oauth_error_rule(error, description.as_deref().unwrap_or(""), rule.refresh_only),
                    rule
                ));
            }
        }
        let other = OAuthFailure::from_salesforce("no_such_error", None, "");
        assert_eq!((other.code.as_str(), other.retryable), (OAUTH_FALLBACK.code, OAUTH_FALLBACK.retryable));
    }

    #[test]
    fn every_row_has_five_filled_cells() {
        let table = markdown();
        let rows: Vec<&str> =
            table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| Salesforce error")).collect();
        assert_eq!(rows.len(), OAUTH_ERRORS.len() + 1 + REST_ERRORS.len());
        for row in rows {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 5, "{row}");
            assert!(cells.iter().all(|c| !c.trim().is_empty()), "{row}");
        }
        for placeholder in ["{redirect_uri}", "{said}", "{error}", "{wait}"] {
            assert!(!table.contains(placeholder), "{placeholder} left in the table");
        }
    }
}
