//! Composite (salesforce.md §7.2): `POST …/composite` runs up to 25 subrequests in one call and
//! answers 200 `{"compositeResponse": [{"body","httpHeaders","httpStatusCode","referenceId"}]}`,
//! one entry per subrequest in request order (salesforce-samples/composite-*.json).
//!
//! - **One call.** The request passes the gate once: one API call, one fault draw (a lost
//!   response applies every subrequest and drops the answer), one latency. Subrequests call the
//!   resource functions of `query.rs`, `sobjects.rs`, `collections.rs` and `describe.rs` directly,
//!   under one lock, so each answers exactly what the standalone call would: its status, its body
//!   (`null` for 204) and, for a 201, `{"Location": "/services/data/vNN.N/sobjects/Type/Id"}` as
//!   `httpHeaders`.
//! - **Subrequests** (`url` is the whole path, `/services/data/vNN.N/…`): `GET …/query?q=`,
//!   `…/queryAll?q=`, `…/query/{locator}`; `POST …/sobjects/{Type}`, `GET`/`PATCH`/`DELETE
//!   …/sobjects/{Type}/{Id}`, `PATCH …/sobjects/{Type}/{ExtIdField}/{value}`; `GET …/sobjects`,
//!   `GET …/sobjects/{Type}/describe`; `POST`/`PATCH …/composite/sobjects` and `PATCH
//!   …/composite/sobjects/{Type}/{ExtIdField}`. `body` is the standalone call's body; of
//!   `httpHeaders` only `Sforce-Query-Options` is read.
//! - **Only REST API resources.** "Composite is supported for the following resources": the
//!   sObject resources (with sObject Rows by External ID), Query, QueryAll and, from v43.0, sObject
//!   Collections, all under `/services/data/vXX.X/` (REST API Developer Guide, "Send Multiple
//!   Requests Using Composite"). Apex REST (`/services/apexrest/…`), `limits`, versions and any
//!   other url are refused as below. The wording of that refusal was not found in a capture.
//! - **Checked before anything runs**, failing the whole request with a 400 error array and
//!   applying nothing: the body's JSON shape (`JSON_PARSER_ERROR`); each subrequest's method and url
//!   (a route above), and its `referenceId` (letters, digits and `_`, unique) (`INVALID_INPUT`); at
//!   most 25 subrequests, of which at most 5 query, queryAll, next-page or sObject Collections ones
//!   (`LIMIT_EXCEEDED`).
//! - **References.** `@{refId.path}` in a later subrequest's url or in a string of its body, the
//!   path being `.key` and `[n]` steps (`@{NewAccount.id}`, `@{found.records[0].Id}`), is replaced
//!   by that value (a string, number or boolean) of the earlier subrequest's response body. A
//!   reference that finds no value (the subrequest failed, an unknown `refId`, a missing key, an
//!   index out of range) makes the subrequest 400 `PROCESSING_HALTED` "Invalid reference
//!   specified. No value for {refId.path} found in {refId}" without running it. Keys match
//!   exactly (`id` in a save result, `Id` in a record).
//! - **`allOrNone: true`**: the first failure (status ≥ 400, or a Collections result with a
//!   failed record) stops the run and rolls back every write of the request; that subrequest keeps
//!   its answer and every other one becomes 400 `PROCESSING_HALTED` ("The transaction was rolled
//!   back since another operation in the same transaction failed."). **`false`** (the default):
//!   each subrequest stands alone except through its references.
//! - `collateSubrequests` is accepted and ignored: subrequests always run in order.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::gate::is_version;
use super::{collections, describe, error, not_found, parser_error, query, sobjects, Reply, Session};
use crate::state::{Sim, SimState};

/// Subrequests per request (salesforce.md §7.2).
const MAX_SUBREQUESTS: usize = 25;
/// Query, queryAll, next-page and sObject Collections subrequests per request.
const MAX_QUERIES_AND_COLLECTIONS: usize = 5;

/// What the subrequests of a failed `allOrNone` request answer (composite-response-with-collection-and-halt.json).
const ROLLED_BACK: &str = "The transaction was rolled back since another operation in the same transaction failed.";

/// `POST …/composite`.
pub(super) async fn composite(
    State(sim): State<Arc<Sim>>,
    Path(_version): Path<String>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Reply {
    match parse(&body) {
        Ok(request) => {
            let mut state = sim.lock();
            // Subrequests read the org as it is now: past the recycle bin's 15 days, gone.
            state.expire_recycle_bin();
            run(&mut state, &session, &request)
        }
        Err(reply) => reply,
    }
}

/// A parsed, validated request.
#[derive(Debug)]
struct Request {
    all_or_none: bool,
    subrequests: Vec<Subrequest>,
}

#[derive(Debug)]
struct Subrequest {
    /// Upper case.
    method: String,
    /// As sent: references are resolved when the subrequest runs.
    url: String,
    reference_id: String,
    body: Option<Value>,
    /// `httpHeaders`' `Sforce-Query-Options`.
    query_options: Option<String>,
    /// `httpHeaders`' `If-Modified-Since` (describe).
    if_modified_since: Option<String>,
}

/// A resource a subrequest may call, with its path parameters (percent-decoded).
#[derive(Debug)]
enum Route {
    Query { all: bool },
    QueryMore { locator: String },
    DescribeGlobal,
    Describe { object: String },
    Create { object: String },
    Read { object: String, id: String },
    Update { object: String, id: String },
    Delete { object: String, id: String },
    Upsert { object: String, field: String, value: String },
    CollectionsCreate,
    CollectionsUpdate,
    CollectionsUpsert { object: String, field: String },
}

impl Route {
    /// Counts toward the 5 query and Collections subrequests.
    fn is_query_or_collections(&self) -> bool {
        matches!(
            self,
            Self::Query { .. }
                | Self::QueryMore { .. }
                | Self::CollectionsCreate
                | Self::CollectionsUpdate
                | Self::CollectionsUpsert { .. }
        )
    }

    fn is_collections(&self) -> bool {
        matches!(self, Self::CollectionsCreate | Self::CollectionsUpdate | Self::CollectionsUpsert { .. })
    }
}

/// A subrequest's url resolved: the version, the resource, and the raw query string.
#[derive(Debug)]
struct Target {
    version: String,
    route: Route,
    query: Option<String>,
}

/// The resource `method url` calls, if it is one Composite supports.
fn target(method: &str, url: &str) -> Option<Target> {
    let rest = url.strip_prefix("/services/data/")?;
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (rest, None),
    };
    let mut segments: Vec<&str> = path.split('/').collect();
    // `…/query/?q=` is common in Salesforce's own examples.
    if segments.len() > 2 && segments.last() == Some(&"") {
        segments.pop();
    }
    let (version, segments) = segments.split_first()?;
    if !is_version(version) {
        return None;
    }
    let segments = segments.iter().map(|s| percent_decode(s).filter(|s| !s.is_empty())).collect::<Option<Vec<_>>>()?;
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let own = |s: &str| s.to_owned();
    let route = match (method, s.as_slice()) {
        ("GET", ["query"]) => Route::Query { all: false },
        ("GET", ["queryAll"]) => Route::Query { all: true },
        ("GET", ["query", locator]) => Route::QueryMore { locator: own(locator) },
        ("GET", ["sobjects"]) => Route::DescribeGlobal,
        ("GET", ["sobjects", object, "describe"]) => Route::Describe { object: own(object) },
        ("POST", ["sobjects", object]) => Route::Create { object: own(object) },
        ("GET", ["sobjects", object, id]) => Route::Read { object: own(object), id: own(id) },
        ("PATCH", ["sobjects", object, id]) => Route::Update { object: own(object), id: own(id) },
        ("DELETE", ["sobjects", object, id]) => Route::Delete { object: own(object), id: own(id) },
        ("PATCH", ["sobjects", object, field, value]) => {
            Route::Upsert { object: own(object), field: own(field), value: own(value) }
        }
        ("POST", ["composite", "sobjects"]) => Route::CollectionsCreate,
        ("PATCH", ["composite", "sobjects"]) => Route::CollectionsUpdate,
        ("PATCH", ["composite", "sobjects", object, field]) => {
            Route::CollectionsUpsert { object: own(object), field: own(field) }
        }
        _ => return None,
    };
    Some(Target { version: (*version).to_owned(), route, query })
}

/// `%XX` escapes decoded (a path segment, so `+` stays `+`); `None` when malformed or not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = text.get(i + 1..i + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation
// ---------------------------------------------------------------------------------------------

/// The request, or the 400 that refuses all of it.
fn parse(body: &[u8]) -> Result<Request, Reply> {
    let mut body = super::json_object(body).map_err(|message| parser_error(&message))?;
    let all_or_none = flag(&body, "allOrNone")?;
    flag(&body, "collateSubrequests")?;
    let Some(Value::Array(items)) = body.remove("compositeRequest") else {
        return Err(parser_error("Cannot deserialize the request: compositeRequest must be a JSON array"));
    };
    if items.is_empty() {
        return Err(invalid_input("The compositeRequest array must contain at least one subrequest."));
    }
    if items.len() > MAX_SUBREQUESTS {
        // The wording Salesforce was seen answering (guardian/support-service-lambdas#766).
        return Err(limit_exceeded("The request can’t contain more than 25 operations."));
    }
    let subrequests = items.into_iter().map(subrequest).collect::<Result<Vec<_>, _>>()?;

    let mut heavy = 0;
    for (i, sub) in subrequests.iter().enumerate() {
        let name = &sub.reference_id;
        let well_formed = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(invalid_input(&format!(
                "Invalid referenceId: '{name}'. A referenceId must start with a letter or a number and contain only letters, numbers and underscores."
            )));
        }
        if subrequests.iter().take(i).any(|earlier| earlier.reference_id == *name) {
            return Err(invalid_input(&format!("Duplicate referenceId provided in the request: {name}")));
        }
        let Some(target) = target(&sub.method, &sub.url) else {
            return Err(invalid_input(&format!(
                "The {} request to {} is not supported in a composite request (referenceId: {name}).",
                sub.method, sub.url
            )));
        };
        if target.route.is_query_or_collections() {
            heavy += 1;
        }
    }
    if heavy > MAX_QUERIES_AND_COLLECTIONS {
        // Not a captured message: the limit is documented, its wording was not found.
        return Err(limit_exceeded(
            "The request can’t contain more than 5 query, queryAll or sObject Collections operations.",
        ));
    }
    Ok(Request { all_or_none, subrequests })
}

/// An optional boolean of the request (false when absent or null).
fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(parser_error(&format!("Cannot deserialize instance of boolean for {name}"))),
    }
}

/// One element of `compositeRequest`.
fn subrequest(item: Value) -> Result<Subrequest, Reply> {
    let Value::Object(mut item) = item else {
        return Err(parser_error(
            "Cannot deserialize instance of CompositeSubrequest from a value that is not a JSON object",
        ));
    };
    let mut text = |key: &str| match item.remove(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(invalid_input(&format!("Each subrequest needs a {key}."))),
        Some(_) => Err(parser_error(&format!("Cannot deserialize instance of String for {key}"))),
    };
    let method = text("method")?.to_ascii_uppercase();
    let url = text("url")?;
    let reference_id = text("referenceId")?;
    let (mut query_options, mut if_modified_since) = (None, None);
    match item.remove("httpHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                let Value::String(value) = value else {
                    return Err(parser_error(&format!("Cannot deserialize instance of String for httpHeaders.{name}")));
                };
                if name.eq_ignore_ascii_case("Sforce-Query-Options") {
                    query_options = Some(value);
                } else if name.eq_ignore_ascii_case("If-Modified-Since") {
                    if_modified_since = Some(value);
                }
            }
        }
        Some(_) => return Err(parser_error("Cannot deserialize instance of Map for httpHeaders")),
    }
    let body = item.remove("body").filter(|b| !b.is_null());
    Ok(Subrequest { method, url, reference_id, body, query_options, if_modified_since })
}

fn invalid_input(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "INVALID_INPUT", message)
}

fn limit_exceeded(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "LIMIT_EXCEEDED", message)
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// A subrequest that ran (or was halted by a reference).
#[derive(Debug)]
struct Done {
    reference_id: String,
    reply: Reply,
    /// The response body, for later references; `None` when the subrequest failed.
    value: Option<Value>,
    /// Fails an `allOrNone` request.
    failed: bool,
}

/// Runs the subrequests in order (inside one transaction with `allOrNone`) and renders the answer.
fn run(state: &mut SimState, session: &Session, request: &Request) -> Reply {
    if request.all_or_none {
        state.org.begin();
    }
    let mut done: Vec<Done> = Vec::with_capacity(request.subrequests.len());
    let mut halted = false;
    for sub in &request.subrequests {
        let entry = execute(state, session, sub, &done);
        let failed = entry.failed;
        done.push(entry);
        if failed && request.all_or_none {
            halted = true;
            break;
        }
    }
    if !request.all_or_none {
        return render(done);
    }
    if !halted {
        state.org.commit();
        return render(done);
    }
    state.org.rollback();
    let mut failure = done.pop();
    let entries = request
        .subrequests
        .iter()
        .map(|sub| match failure.take_if(|f| f.reference_id == sub.reference_id) {
            Some(failure) => failure,
            None => {
                Done { reference_id: sub.reference_id.clone(), reply: halt(ROLLED_BACK), value: None, failed: true }
            }
        })
        .collect();
    render(entries)
}

/// Resolves the subrequest's references and calls its resource.
fn execute(state: &mut SimState, session: &Session, sub: &Subrequest, done: &[Done]) -> Done {
    let finish = |reply: Reply, collections: bool| {
        let value = (reply.status.as_u16() < 400)
            .then(|| reply.body.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok()))
            .flatten();
        let record_failed = collections
            && value
                .as_ref()
                .and_then(Value::as_array)
                .is_some_and(|results| results.iter().any(|r| r.get("success") == Some(&Value::Bool(false))));
        let failed = reply.status.as_u16() >= 400 || record_failed;
        Done { reference_id: sub.reference_id.clone(), reply, value, failed }
    };
    let resolved = substitute(&sub.url, done).and_then(|url| {
        let body = sub.body.as_ref().map(|b| substitute_value(b, done)).transpose()?;
        Ok((url, body))
    });
    let (url, body) = match resolved {
        Ok(resolved) => resolved,
        Err(reference) => {
            let name = reference.split(['.', '[']).next().unwrap_or_default();
            let message = format!("Invalid reference specified. No value for {reference} found in {name}");
            return finish(halt(&message), false);
        }
    };
    // Checked before the run; a referenced value with a `/` can still change the url's shape.
    let Some(Target { version, route, query }) = target(&sub.method, &url) else {
        return finish(not_found(), false);
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let body = body.as_bytes();
    let batch = query::batch_size(sub.query_options.as_deref());
    let collections = route.is_collections();
    let reply = match route {
        Route::Query { all } => query::run(state, &version, query.as_deref(), batch, all),
        Route::QueryMore { locator } => query::more(state, &version, &locator, batch),
        Route::DescribeGlobal => describe::describe_global(state, &version, sub.if_modified_since.as_deref()),
        Route::Describe { object } => describe::describe(state, &version, &object, sub.if_modified_since.as_deref()),
        Route::Create { object } => sobjects::create(state, session, &version, &object, body),
        Route::Read { object, id } => sobjects::read(state, &version, &object, &id, query.as_deref()),
        Route::Update { object, id } => sobjects::update(state, session, &object, &id, body),
        Route::Delete { object, id } => sobjects::delete(state, &object, &id),
        Route::Upsert { object, field, value } => {
            sobjects::upsert(state, session, &version, &object, &field, &value, body)
        }
        Route::CollectionsCreate => collections::create(state, session, body),
        Route::CollectionsUpdate => collections::update(state, session, body),
        Route::CollectionsUpsert { object, field } => collections::upsert(state, session, &object, &field, body),
    };
    finish(reply, collections)
}

/// 400 `[{"errorCode": "PROCESSING_HALTED", "message": ...}]` (in the sample's key order).
fn halt(message: &str) -> Reply {
    #[derive(Serialize)]
    struct Halted<'a> {
        #[serde(rename = "errorCode")]
        error_code: &'a str,
        message: &'a str,
    }
    Reply::json(StatusCode::BAD_REQUEST, &[Halted { error_code: "PROCESSING_HALTED", message }])
}

/// `{"compositeResponse": [...]}`; each body goes in as the resource serialized it.
fn render(entries: Vec<Done>) -> Reply {
    let mut out = String::from(r#"{"compositeResponse":["#);
    for (i, entry) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let headers = match entry.reply.location {
            Some(location) => json!({"Location": location}),
            None => json!({}),
        };
        out.push_str(r#"{"body":"#);
        out.push_str(entry.reply.body.as_deref().unwrap_or("null"));
        out.push_str(r#","httpHeaders":"#);
        out.push_str(&headers.to_string());
        out.push_str(&format!(r#","httpStatusCode":{},"referenceId":"#, entry.reply.status.as_u16()));
        out.push_str(&Value::String(entry.reference_id).to_string());
        out.push('}');
    }
    out.push_str("]}");
    Reply { status: StatusCode::OK, body: Some(out), location: None }
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

/// One step of a reference's path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `refId` and its path, from the text between `@{` and `}`; `None` when it is not a reference.
fn parse_reference(text: &str) -> Option<(&str, Vec<Step<'_>>)> {
    let word = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    let end = word(text);
    let (name, mut rest) = text.split_at(end);
    if name.is_empty() {
        return None;
    }
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = word(after);
            if end == 0 {
                return None;
            }
            let (key, tail) = after.split_at(end);
            steps.push(Step::Key(key));
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('[') {
            let (digits, tail) = after.split_once(']')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            steps.push(Step::Index(digits.parse().ok()?));
            rest = tail;
        } else {
            return None;
        }
    }
    Some((name, steps))
}

/// The value a reference points at, as text.
fn resolve(done: &[Done], name: &str, steps: &[Step<'_>]) -> Option<String> {
    let mut value = done.iter().find(|d| d.reference_id == name)?.value.as_ref()?;
    for step in steps {
        value = match step {
            Step::Key(key) => value.as_object()?.get(*key)?,
            Step::Index(index) => value.as_array()?.get(*index)?,
        };
    }
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `text` with its references replaced; `Err` is the first reference that found no value.
/// `@{` not followed by a well-formed reference and `}` stays as it is.
fn substitute(text: &str, done: &[Done]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let inner = from.get(2..).unwrap_or_default();
        let reference = inner.find('}').and_then(|end| {
            let expression = inner.get(..end)?;
            parse_reference(expression).map(|parsed| (expression, parsed, end))
        });
        match reference {
            Some((expression, (name, steps), end)) => {
                out.push_str(&resolve(done, name, &steps).ok_or_else(|| expression.to_owned())?);
                rest = inner.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push_str("@{");
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A body with the references in its strings replaced.
fn substitute_value(value: &Value, done: &[Done]) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(substitute(s, done)?),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute_value(v, done)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), substitute_value(v, done)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn done(reference_id: &str, value: Value) -> Done {
        Done {
            reference_id: reference_id.into(),
            reply: Reply::empty(StatusCode::OK),
            value: Some(value),
            failed: false,
        }
    }

    #[test]
    fn references_parse_resolve_and_leave_other_text_alone() {
        assert_eq!(
            parse_reference("q.records[10].Id"),
            Some(("q", vec![Step::Key("records"), Step::Index(10), Step::Key("Id")]))
        );
        for bad in ["", ".id", "q.", "q[", "q[x]", "q[]", "q id", "q-1.id"] {
            assert_eq!(parse_reference(bad), None, "{bad}");
        }
        let earlier = [
            done("acct", json!({"id": "001A", "success": true, "created": false})),
            done("q", json!({"totalSize": 1, "records": [{"Id": "003B", "Score__c": 2.5}]})),
        ];
        assert_eq!(
            substitute("x @{acct.id}/@{q.records[0].Id} @{q.records[0].Score__c} @{acct.created}", &earlier),
            Ok("x 001A/003B 2.5 false".to_owned())
        );
        assert_eq!(substitute("mail@{not a ref} and @{ and }", &earlier), Ok("mail@{not a ref} and @{ and }".into()));
        assert_eq!(substitute("@{q.records[1].Id}", &earlier), Err("q.records[1].Id".into()));
        assert_eq!(substitute("@{q.records}", &earlier), Err("q.records".into()));
        assert_eq!(substitute("@{acct.Id}", &earlier), Err("acct.Id".into()), "keys match exactly");
        assert_eq!(substitute("@{later.id}", &earlier), Err("later.id".into()));
        let body = json!({"WhoId": "@{q.records[0].Id}", "n": 1, "list": ["@{acct.id}"]});
        assert_eq!(substitute_value(&body, &earlier), Ok(json!({"WhoId": "003B", "n": 1, "list": ["001A"]})));
    }

    #[test]
    fn urls_route_like_the_standalone_api() {
        let route = |method: &str, url: &str| target(method, url).map(|t| format!("{:?}", t.route));
        assert_eq!(
            route("GET", "/services/data/v66.0/query/?q=SELECT+Id+FROM+Contact"),
            Some("Query { all: false }".into())
        );
        assert_eq!(route("GET", "/services/data/v66.0/queryAll?q=x"), Some("Query { all: true }".into()));
        assert!(
            route("GET", "/services/data/v66.0/query/01g5g0000000001-2000").is_some_and(|r| r.starts_with("QueryMore"))
        );
        assert!(
            route("PATCH", "/services/data/v66.0/sobjects/Task/Ext__c/a%2Fb").is_some_and(|r| r.contains("\"a/b\""))
        );
        assert!(
            route("GET", "/services/data/v66.0/sobjects/Contact/describe").is_some_and(|r| r.starts_with("Describe"))
        );
        assert!(route("PATCH", "/services/data/v66.0/composite/sobjects/Task/Ext__c").is_some());
        for (method, url) in [
            ("GET", "/services/data/v66.0/limits"),
            ("POST", "/services/data/v66.0/query?q=x"),
            ("PUT", "/services/data/v66.0/sobjects/Contact/003"),
            ("GET", "/services/data/66.0/query?q=x"),
            ("GET", "/services/apexrest/x"),
            ("GET", "services/data/v66.0/query?q=x"),
            ("DELETE", "/services/data/v66.0/composite/sobjects"),
            ("GET", "/services/data/v66.0/sobjects//x"),
            ("GET", "/services/data/v66.0/sobjects/Contact/%zz"),
        ] {
            assert!(route(method, url).is_none(), "{method} {url}");
        }
    }
}
