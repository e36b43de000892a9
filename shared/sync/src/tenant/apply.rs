//! Sending the planned writes (one Composite call per 5 Collections, the budget guard before
//! each) and mapping every record's result back to the events it stands for.

use std::collections::HashMap;

use sfbridge_core::domain::{CampaignId, SalesforceId};
use sfbridge_core::store::{CampaignSettings, TenantSettings};
use sfbridge_salesforce::rest::{ErrorClass, RecordResult, RestError, SubRequest, MAX_COMPOSITE_BULK_SUBREQUESTS};
use sfbridge_salesforce::fields::Catalog;
use sfbridge_salesforce::CallError;

use super::calls::{budget_reason, expect_len, Calls};
use super::event::{Event, CREATE_ONLY_FIELD};
use super::plan::{member_events, plan_writes, Collection, Member};
use super::{reconcile, MAX_CONCURRENT_SALESFORCE_CALLS};
use chrono::{DateTime, Utc};
use crate::bounded;

pub(super) async fn write(
    calls: &Calls<'_>,
    events: &mut [Event],
    settings: &TenantSettings,
    campaigns: &HashMap<CampaignId, CampaignSettings>,
    catalog: Option<&Catalog>,
    times: &super::push::FieldTimes,
) {
    let collections = plan_writes(events, settings, campaigns, catalog, times);
    let sent_at = calls.ctx.clock.now();
    let rest = &calls.ctx.rest;
    let groups: Vec<Vec<Collection>> = collections.chunks(MAX_COMPOSITE_BULK_SUBREQUESTS).map(<[Collection]>::to_vec).collect();
    let mut writes = Vec::new();
    for group in groups {
        writes.push(async move {
            if let Some(usage) = calls.over_budget(settings) {
                let message = budget_reason(usage, settings);
                calls.observer.deferred(&message);
                return (group, Err(CallError::Rest(RestError {
                    class: ErrorClass::Transient,
                    status: None,
                    code: "API_BUDGET".into(),
                    message,
                })));
            }
            let subs: Vec<SubRequest> = group.iter().map(|c| c.request.clone()).collect();
            let answers = calls
                .run(|s| {
                    let subs = subs.clone();
                    async move { rest.composite(&s, subs).await }
                })
                .await;
            (group, answers)
        });
    }
    let outcomes = bounded(writes, MAX_CONCURRENT_SALESFORCE_CALLS).await;
    for (group, answers) in outcomes {
        let answers = match answers {
            Ok(a) => a,
            Err(e) => {
                group.iter().for_each(|c| fail_collection(events, c, &e, sent_at, settings));
                continue;
            }
        };
        for (collection, answer) in group.iter().zip(answers) {
            let results = answer.into_result::<Vec<RecordResult>>().map_err(CallError::Rest);
            match results.and_then(|r| expect_len(r, collection.members.len())) {
                Ok(results) => collection.members.iter().zip(results).for_each(|(m, r)| apply_result(events, m, &r)),
                Err(e) => fail_collection(events, collection, &e, sent_at, settings),
            }
        }
    }
    reconcile::recheck_counters(calls, events, settings).await;
}

/// A Collections write that failed as a whole; if Salesforce may have applied it anyway, the
/// next attempt checks before writing again ([`reconcile`]).
fn fail_collection(events: &mut [Event], collection: &Collection, e: &CallError, sent_at: DateTime<Utc>, settings: &TenantSettings) {
    if reconcile::may_have_applied(e) {
        reconcile::mark_unconfirmed(events, collection, sent_at, settings);
    }
    collection.members.iter().for_each(|m| member_events(m).for_each(|i| events[i].fail_call(e)));
}

/// One record's result, onto the events it stands for.
pub(super) fn apply_result(events: &mut [Event], member: &Member, result: &RecordResult) {
    match (member, result.failure()) {
        (Member::Task(i), None) => match result.id.as_deref().and_then(|id| SalesforceId::parse(id).ok()) {
            Some(id) => events[*i].progress.task_id = Some(id),
            None => events[*i].fail(ErrorClass::Transient, "UNREADABLE_RESPONSE", "a Task came back without an id"),
        },
        (Member::Update(is), None) => is.iter().for_each(|i| events[*i].progress.fields_applied = true),
        (Member::Upsert(is), None) => {
            let id = result.id.as_deref().and_then(|id| SalesforceId::parse(id).ok());
            for i in is {
                events[*i].progress.fields_applied = true;
                events[*i].progress.who_id = id.clone();
            }
        }
        (Member::Task(i), Some(f)) if f.code == CREATE_ONLY_FIELD && !events[*i].task_exists => events[*i].task_exists = true,
        (m, Some(f)) => member_events(m).for_each(|i| events[i].fail(f.class, &f.code, &f.message)),
    }
}


#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use serde_json::{json, Value};
    use sfbridge_core::domain::{EventId, FieldName};
    use sfbridge_core::store::{LedgerStatus, SettingsRecord, TenantSettings};
    use sfbridge_salesforce::rest::RecordResult;

    use super::*;
    use crate::tenant::event::State;
    use crate::tenant::stub::{answer_all, fixture, found_or_written, pending, Call, StubApi};
    use crate::tenant::sync_tenant;
    use crate::Disposition;

    fn ok(id: &str) -> RecordResult {
        RecordResult { id: Some(id.to_owned()), success: true, created: Some(true), errors: vec![] }
    }

    fn refused(code: &str) -> RecordResult {
        let error = sfbridge_salesforce::rest::RecordError { status_code: code.to_owned(), message: "no".into(), fields: vec![] };
        RecordResult { id: None, success: false, created: None, errors: vec![error] }
    }

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event::new(pending(&format!("evt_{i}"), &format!("p{i}@example.com"))))
            .collect()
    }

    #[test]
    fn each_result_lands_on_the_events_its_record_stands_for() {
        let mut evs = events(4);
        apply_result(&mut evs, &Member::Task(0), &ok("00T000000000001"));
        apply_result(&mut evs, &Member::Update(vec![1, 2]), &ok("003000000000001"));
        apply_result(&mut evs, &Member::Update(vec![3]), &refused("INVALID_FIELD"));
        assert_eq!(evs[0].progress.task_id, SalesforceId::parse("00T000000000001").ok(), "as its 18-character form");
        assert!(!evs[0].progress.fields_applied, "a Task says nothing of the field updates");
        assert!(evs[1].progress.fields_applied && evs[2].progress.fields_applied, "an update counts for all its events");
        assert!(matches!(&evs[3].state, State::Failed { code, .. } if code == "INVALID_FIELD"), "{:?}", evs[3].state);
        assert!(evs[..3].iter().all(Event::is_open), "successes leave events open until settled");
    }

    #[test]
    fn a_task_without_an_id_is_retried_and_a_create_only_refusal_asks_for_a_rewrite_once() {
        let mut evs = events(2);
        let no_id = RecordResult { id: None, success: true, created: Some(true), errors: vec![] };
        apply_result(&mut evs, &Member::Task(0), &no_id);
        assert!(matches!(&evs[0].state, State::Retry { reason } if reason.contains("UNREADABLE_RESPONSE")), "{:?}", evs[0].state);

        apply_result(&mut evs, &Member::Task(1), &refused(CREATE_ONLY_FIELD));
        assert!(evs[1].task_exists && evs[1].is_open(), "the first refusal marks the Task as existing");
        apply_result(&mut evs, &Member::Task(1), &refused(CREATE_ONLY_FIELD));
        assert!(matches!(&evs[1].state, State::Failed { code, .. } if code == CREATE_ONLY_FIELD), "{:?}", evs[1].state);
    }

    /// A lost answer left the Task in Salesforce: the upsert is now an update, which may not set
    /// `TaskSubtype`. The second pass writes the Task again without it, in the same run.
    #[tokio::test]
    async fn the_second_write_pass_rewrites_a_task_that_already_exists() {
        let upserts = Arc::new(AtomicUsize::new(0));
        let seen = upserts.clone();
        let api = StubApi::new(move |call| match call {
            Call::Composite(subs) if subs.iter().any(|s| s.path().starts_with("/composite/sobjects/Task/")) => {
                let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
                let answers: Vec<Value> = subs
                    .iter()
                    .map(|s| {
                        let body = if first {
                            json!([{"success": false, "errors": [{"statusCode": CREATE_ONLY_FIELD, "message": "TaskSubtype", "fields": []}]}])
                        } else {
                            json!([{"id": "00T000000000009", "success": true, "created": false, "errors": []}])
                        };
                        json!({"httpStatusCode": 200, "referenceId": s.reference_id(), "body": body})
                    })
                    .collect();
                Ok(Value::Array(answers))
            }
            other => answer_all(other),
        });
        let f = fixture(api.clone()).await;
        let settings = TenantSettings {
            task_external_id_field: Some(FieldName::parse("Sfbridge_Event_Id__c").unwrap_or_else(|e| unreachable!("{e}"))),
            ..TenantSettings::default()
        };
        let record = SettingsRecord { settings, version: 1, updated_at: chrono::Utc::now() };
        f.store.save_settings(&f.tenant, &record, None).await.unwrap_or_else(|e| unreachable!("{e}"));

        let outcome = sync_tenant(&f.worker, &f.tenant, vec![pending("evt_again", "ada@example.com")]).await;
        assert_eq!(outcome, vec![(vec!["m-evt_again".to_owned()], Disposition::Ack)]);
        let tasks: Vec<Value> = api
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Composite(subs) => subs.into_iter().find(|s| s.path().starts_with("/composite/sobjects/Task/")),
                _ => None,
            })
            .map(|s| s.body().map(|b| b["records"][0].clone()).unwrap_or_default())
            .collect();
        assert_eq!(tasks.len(), 2, "one write, then one rewrite: {tasks:?}");
        assert!(tasks[0].get("TaskSubtype").is_some(), "created with its subtype");
        assert!(tasks[1].get("TaskSubtype").is_none(), "rewritten without it");
        let event = EventId::parse("evt_again").unwrap_or_else(|e| unreachable!("{e}"));
        let ledger = f.store.ledger(&f.tenant, &event).await.unwrap_or_else(|e| unreachable!("{e}"));
        let task = SalesforceId::parse("00T000000000009").ok();
        assert_eq!(ledger.map(|l| (l.status, l.task_id)), Some((LedgerStatus::Done, task)));
    }

    /// Six Collections of 200 Tasks are two Composite calls; the second fails as a whole. Its
    /// 200 events are deferred, the other 1,000 are synced.
    #[tokio::test]
    async fn a_failed_write_call_fails_only_the_events_it_carried() {
        let writes = Arc::new(AtomicUsize::new(0));
        let seen = writes.clone();
        let api = StubApi::new(move |call| match call {
            Call::Composite(subs) if subs.iter().all(|s| s.method() == "POST") => {
                if seen.fetch_add(1, Ordering::SeqCst) == 1 {
                    return Err(RestError { class: ErrorClass::Transient, status: Some(503), code: "SERVER_UNAVAILABLE".into(), message: "down".into() });
                }
                Ok(Value::Array(subs.iter().map(found_or_written).collect()))
            }
            other => answer_all(other),
        });
        let f = fixture(api).await;
        let pending: Vec<_> = (0..1200).map(|i| pending(&format!("evt_{i:04}"), &format!("p{i:04}@example.com"))).collect();
        let outcome = sync_tenant(&f.worker, &f.tenant, pending).await;
        let retried: Vec<&String> = outcome.iter().filter(|(_, d)| matches!(d, Disposition::Defer { .. })).flat_map(|(ids, _)| ids).collect();
        let acked = outcome.iter().filter(|(_, d)| *d == Disposition::Ack).count();
        assert_eq!((retried.len(), acked), (200, 1000));
        assert_eq!(writes.load(Ordering::SeqCst), 2);
    }
}
