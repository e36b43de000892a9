//! Finding each open event's Contact or Lead: one Composite call per 5 query chunks, converted
//! Leads followed to their Contact, and (with `create_missing: lead`) a Lead created per
//! unmatched email. A failed call fails only the events whose emails it carried.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};
use sfbridge_core::domain::{Email, SalesforceId};
use sfbridge_core::store::{ActivityKind, TenantSettings};
use sfbridge_salesforce::rest::{ErrorClass, QueryPage, SubRequest, MAX_COLLECTION_RECORDS, MAX_COMPOSITE_BULK_SUBREQUESTS};
use sfbridge_salesforce::CallError;

use super::calls::{expect_len, Calls};
use super::event::Event;
use super::{mapped_fields, MAX_CONCURRENT_SALESFORCE_CALLS};
use crate::matching::Target;
use crate::matching::{contacts_by_id_query, follow_conversions, lookups, resolve, Lookup, TargetKind};
use crate::bounded;

/// Every open event's target, by one Composite call per 5 query chunks. A query that fails fails
/// the open events whose emails it asked about, and only those; the others go on with what the
/// other queries found.
///
/// `extra` queries ride in the same Composite calls (the lost-answer checks of [`super::reconcile`]);
/// their records, or why they failed, come back in order.
pub(super) async fn lookup(
    calls: &Calls<'_>,
    events: &mut [Event],
    settings: &TenantSettings,
    extra: Vec<String>,
) -> Vec<Result<Vec<Value>, CallError>> {
    // Emails remembered from a recent lookup need no query, unless one of their events changes a
    // field whose current value matters (a counter, the latest open).
    let (ctx, t, now) = (calls.ctx, calls.t, calls.ctx.clock.now());
    let fresh: BTreeSet<&Email> =
        events.iter().filter(|e| e.is_open() && needs_current_values(e, settings)).filter_map(|e| e.pending.command.email()).collect();
    let mut remembered: HashMap<Email, Target> = HashMap::new();
    for e in events.iter().filter(|e| e.is_open()) {
        let Some(email) = e.pending.command.email() else { continue };
        if !fresh.contains(email) && !remembered.contains_key(email) {
            if let Some(target) = ctx.matches.get(t, settings.match_policy, email, now) {
                remembered.insert(email.clone(), target);
            }
        }
    }
    let emails: Vec<Email> = events
        .iter()
        .filter(|e| e.is_open())
        .filter_map(|e| e.pending.command.email().cloned())
        .filter(|email| !remembered.contains_key(email))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for e in events.iter_mut().filter(|e| e.is_open()) {
        if let Some(target) = e.pending.command.email().and_then(|email| remembered.get(email)) {
            e.target = Some(target.clone());
        }
    }
    if emails.is_empty() {
        return query_all(calls, extra).await;
    }
    let mapped = mapped_fields(settings);
    let (found, extra) = run_queries(calls, lookups(&emails, settings.match_policy, &mapped), extra).await;
    fail_open_events(events, &found.failed);
    let (mut targets, mut unresolved) = resolve(settings.match_policy, &found.contacts, &found.leads);
    unresolved.retain(|email, _| !found.failed.iter().any(|(emails, _)| emails.contains(email)));
    if !unresolved.is_empty() {
        // Converted Leads whose Contact has another email: that Contact, by id.
        let mut by_id: Vec<(SalesforceId, Email)> = unresolved.iter().map(|(email, id)| (id.clone(), email.clone())).collect();
        by_id.sort();
        let queries = by_id
            .chunks(200)
            .map(|chunk| {
                let ids: Vec<SalesforceId> = chunk.iter().map(|(id, _)| id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                let soql = contacts_by_id_query(&ids, &mapped);
                Lookup { kind: TargetKind::Contact, soql, emails: chunk.iter().map(|(_, email)| email.clone()).collect() }
            })
            .collect();
        let (converted, _) = run_queries(calls, queries, Vec::new()).await;
        fail_open_events(events, &converted.failed);
        unresolved.retain(|email, _| !converted.failed.iter().any(|(emails, _)| emails.contains(email)));
        follow_conversions(&mut targets, unresolved, &converted.contacts);
    }
    let failed: BTreeSet<&Email> = found.failed.iter().flat_map(|(emails, _)| emails.iter()).collect();
    for (email, target) in &targets {
        ctx.matches.put(t, settings.match_policy, email, target, now);
    }
    for e in events.iter_mut().filter(|e| e.is_open()) {
        let Some(email) = e.pending.command.email() else { continue };
        if !failed.contains(email) && !remembered.contains_key(email) {
            e.target = targets.get(email).cloned();
        }
    }
    extra
}

/// Whether an event's write builds on a field's current value (so its target must be read now).
fn needs_current_values(e: &Event, settings: &TenantSettings) -> bool {
    let mapping = &settings.field_mapping;
    let builds_on_current = match e.pending.command.activity().map(|a| a.activity) {
        Some(ActivityKind::EmailOpened) => mapping.last_opened_at.is_some(),
        Some(ActivityKind::EmailClicked) => mapping.click_count.is_some(),
        _ => false,
    };
    builds_on_current && !e.fields_applied() || e.held.as_ref().is_some_and(|h| h.counter_unconfirmed.is_some())
}

/// What a set of lookups found, and the emails of the queries that failed, with why.
#[derive(Debug, Default)]
struct Found {
    contacts: Vec<Value>,
    leads: Vec<Value>,
    failed: Vec<(BTreeSet<Email>, CallError)>,
}

fn fail_open_events(events: &mut [Event], failed: &[(BTreeSet<Email>, CallError)]) {
    for (emails, error) in failed {
        events
            .iter_mut()
            .filter(|e| e.is_open() && e.pending.command.email().is_some_and(|email| emails.contains(email)))
            .for_each(|e| e.fail_call(error));
    }
}

/// Runs the lookups and the `extra` queries inside Composite calls (5 a call) and gathers the
/// Contacts and Leads found; the extra queries' records come back as they are.
async fn run_queries(calls: &Calls<'_>, queries: Vec<Lookup>, extra: Vec<String>) -> (Found, Vec<Result<Vec<Value>, CallError>>) {
    let n = queries.len();
    let soql = queries.iter().map(|l| l.soql.clone()).chain(extra).collect();
    let mut results = query_all(calls, soql).await;
    let extra = results.split_off(n);
    let mut found = Found::default();
    for (lookup, records) in queries.iter().zip(results) {
        match records {
            Ok(mut records) => match lookup.kind {
                TargetKind::Contact => found.contacts.append(&mut records),
                TargetKind::Lead => found.leads.append(&mut records),
                TargetKind::Campaign => {}
            },
            Err(e) => found.failed.push((lookup.emails.iter().cloned().collect(), e)),
        }
    }
    (found, extra)
}

/// Every record of each query, in the order given: the queries go 5 to a Composite call, later
/// pages follow. A failed call fails its queries; a failed subrequest or page fails its own query.
pub(super) async fn query_all(calls: &Calls<'_>, queries: Vec<String>) -> Vec<Result<Vec<Value>, CallError>> {
    let rest = &calls.ctx.rest;
    let mut groups = Vec::new();
    for (n, group) in queries.chunks(MAX_COMPOSITE_BULK_SUBREQUESTS).enumerate() {
        groups.push(async move {
            let subs: Vec<SubRequest> = group.iter().enumerate().map(|(i, q)| SubRequest::query(&format!("q{i}"), q)).collect();
            let answers = calls
                .run(|s| {
                    let subs = subs.clone();
                    async move { rest.composite(&s, subs).await }
                })
                .await;
            let pages: Vec<Result<QueryPage, CallError>> = match answers {
                Ok(answers) => answers.into_iter().map(|a| a.into_result::<QueryPage>().map_err(CallError::Rest)).collect(),
                Err(e) => group.iter().map(|_| Err(e.clone())).collect(),
            };
            (n, pages)
        });
    }
    let mut answered = bounded(groups, MAX_CONCURRENT_SALESFORCE_CALLS).await;
    answered.sort_by_key(|(n, _)| *n);
    let mut results = Vec::with_capacity(queries.len());
    for page in answered.into_iter().flat_map(|(_, pages)| pages) {
        results.push(rest_of_pages(calls, page).await);
    }
    // A Composite answer with fewer results than subrequests leaves the rest unanswered.
    while results.len() < queries.len() {
        results.push(Err(CallError::Rest(sfbridge_salesforce::rest::RestError {
            class: ErrorClass::Transient,
            status: Some(200),
            code: "UNREADABLE_RESPONSE".into(),
            message: "Salesforce answered fewer queries than were sent".into(),
        })));
    }
    results.truncate(queries.len());
    results
}

/// The records of a query whose first page is in hand, following `nextRecordsUrl` to the end.
async fn rest_of_pages(calls: &Calls<'_>, first: Result<QueryPage, CallError>) -> Result<Vec<Value>, CallError> {
    let rest = &calls.ctx.rest;
    let mut page = first?;
    let mut records = std::mem::take(&mut page.records);
    let mut next = page.next_records_url.take();
    while let Some(url) = next {
        let url = &url;
        let mut more = calls.run(|s| async move { rest.next_page(&s, url).await }).await?;
        records.append(&mut more.records);
        next = more.next_records_url.take();
    }
    Ok(records)
}

/// With `create_missing: lead`, one Lead per unmatched email (Collections, 200 a call).
pub(super) async fn create_missing_leads(calls: &Calls<'_>, events: &mut [Event]) {
    let missing: Vec<(Email, Option<String>)> = {
        let mut seen = BTreeSet::new();
        events
            .iter()
            // Activity only: a score or date for an unknown email creates nothing.
            .filter(|e| e.is_open() && e.target.is_none())
            .filter_map(|e| e.pending.command.activity())
            .filter(|a| seen.insert(a.contact.email.clone()))
            .map(|a| (a.contact.email.clone(), a.contact.name.clone()))
            .collect()
    };
    let rest = &calls.ctx.rest;
    for chunk in missing.chunks(MAX_COLLECTION_RECORDS) {
        let records: Vec<Value> = chunk.iter().map(|(email, name)| new_lead(email, name.as_deref())).collect();
        let result = calls
            .run(|s| {
                let records = records.clone();
                async move { rest.create_records(&s, records).await }
            })
            .await;
        let results = match result.and_then(|r| expect_len(r, chunk.len())) {
            Ok(results) => results,
            Err(e) => {
                let emails: BTreeSet<&Email> = chunk.iter().map(|(e, _)| e).collect();
                events
                    .iter_mut()
                    .filter(|ev| ev.is_open() && ev.pending.command.activity().is_some_and(|a| emails.contains(&a.contact.email)))
                    .for_each(|ev| ev.fail_call(&e));
                continue;
            }
        };
        for ((email, _), result) in chunk.iter().zip(results) {
            let created = result.id.as_deref().and_then(|id| SalesforceId::parse(id).ok()).filter(|_| result.success);
            for ev in events.iter_mut().filter(|ev| ev.is_open() && ev.pending.command.activity().is_some_and(|a| &a.contact.email == email)) {
                match (&created, result.failure()) {
                    (Some(id), _) => {
                        ev.target = Some(Target { id: id.clone(), kind: TargetKind::Lead, fields: Default::default() })
                    }
                    (None, Some(f)) => ev.fail(f.class, &f.code, &f.message),
                    (None, None) => ev.fail(ErrorClass::Transient, "UNREADABLE_RESPONSE", "a created Lead came back without an id"),
                }
            }
        }
    }
}

/// Lead requires LastName and Company: the name's last word (else the email's local part) and
/// the email's domain.
fn new_lead(email: &Email, name: Option<&str>) -> Value {
    let (local, domain) = email.as_str().rsplit_once('@').unwrap_or((email.as_str(), ""));
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let (first, last) = match name.and_then(|n| n.rsplit_once(' ')) {
        Some((first, last)) => (Some(first.trim()), last.trim()),
        None => (None, name.unwrap_or(local)),
    };
    let mut lead = json!({"attributes": {"type": "Lead"}, "Email": email.as_str(), "LastName": last, "Company": domain});
    if let Some(first) = first {
        lead["FirstName"] = json!(first);
    }
    lead
}


#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use serde_json::{json, Value};
    use sfbridge_core::store::{MatchPolicy, SettingsRecord, TenantSettings};
    use sfbridge_salesforce::rest::{ErrorClass, RestError};

    use crate::tenant::stub::{answer_all, contact_id, fixture, found_or_written, pending, queried_emails, Call, Fixture, StubApi};
    use crate::tenant::sync_tenant;
    use crate::Disposition;

    fn down() -> RestError {
        RestError { class: ErrorClass::Transient, status: Some(503), code: "SERVER_UNAVAILABLE".into(), message: "down".into() }
    }

    async fn with_policy(f: &Fixture, match_policy: MatchPolicy) {
        let record = SettingsRecord { settings: TenantSettings { match_policy, ..TenantSettings::default() }, version: 1, updated_at: chrono::Utc::now() };
        f.store.save_settings(&f.tenant, &record, None).await.unwrap_or_else(|e| unreachable!("{e}"));
    }

    /// The emails of the events deferred (a failed call is the tenant's trouble, not theirs), and
    /// how many were acknowledged.
    fn split(outcome: &[(Vec<String>, Disposition)]) -> (BTreeSet<String>, usize) {
        let retried = outcome
            .iter()
            .filter(|(_, d)| matches!(d, Disposition::Defer { .. }))
            .flat_map(|(ids, _)| ids.iter().map(|id| id.trim_start_matches("m-evt_").to_owned()))
            .map(|n| format!("p{n}@example.com"))
            .collect();
        (retried, outcome.iter().filter(|(_, d)| *d == Disposition::Ack).count())
    }

    fn events(n: usize) -> Vec<crate::tenant::Pending> {
        (0..n).map(|i| pending(&format!("evt_{i:04}"), &format!("p{i:04}@example.com"))).collect()
    }

    /// Three chunks of emails, each looked up as Contact and Lead: six queries, two Composite
    /// calls. The second call fails; only the events whose emails it asked about are retried.
    #[tokio::test]
    async fn a_failed_lookup_call_fails_only_the_events_whose_emails_it_carried() {
        let failed_emails = Arc::new(Mutex::new(BTreeSet::new()));
        let (lookups, failed) = (Arc::new(Mutex::new(0)), failed_emails.clone());
        let api = StubApi::new(move |call| match call {
            Call::Composite(subs) if subs.iter().all(|s| s.method() == "GET") => {
                let mut n = lookups.lock().unwrap_or_else(|e| e.into_inner());
                *n += 1;
                if *n == 2 {
                    failed.lock().unwrap_or_else(|e| e.into_inner()).extend(subs.iter().flat_map(queried_emails));
                    return Err(down());
                }
                Ok(Value::Array(subs.iter().map(found_or_written).collect()))
            }
            other => answer_all(other),
        });
        let f = fixture(api).await;
        with_policy(&f, MatchPolicy::ContactThenLead).await;
        let outcome = sync_tenant(&f.worker, &f.tenant, events(2000)).await;

        let (retried, acked) = split(&outcome);
        let failed = failed_emails.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(!failed.is_empty() && failed.len() < 2000, "the test needs a call that carried some emails: {}", failed.len());
        assert_eq!(retried, failed, "exactly the emails of the failed call are retried");
        assert_eq!(acked, 2000 - failed.len());
    }

    /// Two chunks; the first query's second page fails. Its events are retried, the second
    /// chunk's are synced: a failed page fails its own query, not the whole lookup.
    #[tokio::test]
    async fn a_failed_page_fails_only_its_own_query() {
        let first_chunk = Arc::new(Mutex::new(BTreeSet::new()));
        let chunk = first_chunk.clone();
        let api = StubApi::new(move |call| match call {
            Call::Composite(subs) if subs.iter().all(|s| s.method() == "GET") => {
                let answers = subs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let emails = queried_emails(s);
                        if i > 0 {
                            return found_or_written(s);
                        }
                        chunk.lock().unwrap_or_else(|e| e.into_inner()).extend(emails.iter().cloned());
                        let first = json!({"attributes": {"type": "Contact"}, "Id": contact_id(&emails[0]), "Email": emails[0], "CreatedDate": "2024-01-01T00:00:00.000+0000"});
                        let body = json!({"totalSize": emails.len(), "done": false, "records": [first], "nextRecordsUrl": "/services/data/v66.0/query/01gUNIT-2000"});
                        json!({"httpStatusCode": 200, "referenceId": s.reference_id(), "body": body})
                    })
                    .collect();
                Ok(Value::Array(answers))
            }
            Call::NextPage(url) => {
                assert_eq!(url, "/services/data/v66.0/query/01gUNIT-2000");
                Err(down())
            }
            other => answer_all(other),
        });
        let f = fixture(api).await;
        let outcome = sync_tenant(&f.worker, &f.tenant, events(1500)).await;
        let (retried, acked) = split(&outcome);
        let first = first_chunk.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(!first.is_empty() && first.len() < 1500, "two chunks: {}", first.len());
        assert_eq!(retried, first);
        assert_eq!(acked, 1500 - first.len());
        let calls = f.metrics.lines();
        assert!(calls.is_empty(), "a run outside a measured invocation writes no metrics line: {calls:?}");
    }
}
