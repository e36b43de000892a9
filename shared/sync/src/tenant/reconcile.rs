//! Exactly once after a lost answer, with no setup in the org.
//!
//! A write whose answer never came (a timeout, a connection cut after the request was sent, a
//! 5xx, an answer we could not read) may have been applied. Writing again blindly would log a
//! second Task and add the clicks a second time; not writing would lose them. So the attempt
//! that lost the answer notes it in the ledger ([`mark_unconfirmed`]), and the next attempt finds
//! out what Salesforce applied before writing anything ([`Unconfirmed`]):
//!
//! - **Tasks.** Every Task's Description ends with its event id (`… · event {id}`,
//!   [`crate::activity::task`]). One SOQL query per chunk of affected Contacts and Leads reads
//!   their Tasks created since the lost write (less a margin for clock skew); a Task naming the
//!   event is the one the lost write created, and only events without one are written again. The
//!   queries ride in the lookup's Composite calls, so the check usually costs no call of its own.
//!   (Description cannot be filtered in SOQL, only selected: the query filters by `WhoId` and
//!   `CreatedDate` and the ids are read from the answers.) With `task_external_id_field` set,
//!   Task writes are upserts and need no check.
//! - **Click counters.** The attempt notes the value its update set. The next attempt's lookup
//!   reads the counter afresh: at or above that value, the update was applied; below it, it was
//!   not, and the clicks are added to the value read.
//!
//! Other mapped fields need no check: the latest open never moves backwards, and opt-out and
//! bounced are set to `true` whatever they were.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sfbridge_core::domain::{EventId, SalesforceId};
use sfbridge_core::store::TenantSettings;
use sfbridge_salesforce::rest::soql_quote;
use sfbridge_salesforce::CallError;

use super::calls::Calls;
use super::event::Event;
use super::lookup::query_all;
use super::plan::{Collection, Member};
use crate::matching::TargetKind;
use crate::activity::event_of_description;

/// Salesforce's clock and ours may disagree; look back this much further than the lost write.
const CLOCK_MARGIN: Duration = Duration::minutes(10);
/// The counter read right after a lost answer is tried this many times, pausing this long after
/// each failure: the later the read, the likelier another event's update blurs the answer.
const RECHECK_PAUSES: [std::time::Duration; 3] =
    [std::time::Duration::from_millis(200), std::time::Duration::from_secs(1), std::time::Duration::ZERO];
/// Ids per Task query: 18-character ids quoted and separated take 22 characters, so a chunk
/// stays near 20,000 characters of SOQL (far below the 100,000 limit; it travels in a Composite
/// body, so the URI limit does not apply).
const IDS_PER_QUERY: usize = 800;

/// Whether a failed write may still have been applied by Salesforce.
pub(super) fn may_have_applied(e: &CallError) -> bool {
    match e {
        CallError::Rest(r) => match r.status {
            // No answer after the request was sent (a refused connection never sent it).
            None => matches!(r.code.as_str(), "TIMEOUT" | "CONNECTION_RESET"),
            Some(status) => status >= 500 || r.code == "UNREADABLE_RESPONSE",
        },
        CallError::Session(_) => false,
    }
}

/// Notes, on each event a failed write carried, what that write may have applied: its Task
/// (created without an external id) and the counter value its update set.
pub(super) fn mark_unconfirmed(events: &mut [Event], collection: &Collection, sent_at: DateTime<Utc>, settings: &TenantSettings) {
    let records = collection.request.body().and_then(|b| b["records"].as_array().cloned()).unwrap_or_default();
    for (k, member) in collection.members.iter().enumerate() {
        match member {
            Member::Task(i) if settings.task_external_id_field.is_none() => {
                events[*i].progress.task_unconfirmed_since = Some(sent_at);
            }
            // An upsert by external id writes one record however often it is sent.
            Member::Task(_) | Member::Upsert(_) => {}
            Member::Update(is) => {
                let Some(field) = &settings.field_mapping.click_count else { continue };
                let Some(value) = records.get(k).and_then(|r| r.get(field.as_str())).and_then(Value::as_i64) else { continue };
                is.iter().for_each(|i| events[*i].progress.counter_unconfirmed = Some(value));
            }
        }
    }
}

/// The Task checks owed by this run's events, built before the lookup so they can share its calls.
pub(super) struct Unconfirmed {
    /// Event index, the record its Task went to.
    tasks: Vec<(usize, SalesforceId)>,
    pub(super) queries: Vec<String>,
}

impl Unconfirmed {
    pub(super) fn new(events: &[Event], settings: &TenantSettings) -> Self {
        let mut tasks = Vec::new();
        let mut since: Option<DateTime<Utc>> = None;
        if settings.task_external_id_field.is_none() {
            for (i, e) in events.iter().enumerate().filter(|(_, e)| e.is_open() && e.task_id().is_none()) {
                let Some(held) = &e.held else { continue };
                let (Some(at), Some(who)) = (held.task_unconfirmed_since, held.who_id.clone()) else { continue };
                since = Some(since.map_or(at, |s| s.min(at)));
                tasks.push((i, who));
            }
        }
        let queries = match since {
            Some(since) => task_queries(&tasks.iter().map(|(_, who)| who.clone()).collect::<BTreeSet<_>>(), since - CLOCK_MARGIN),
            None => Vec::new(),
        };
        Self { tasks, queries }
    }

    /// Applies the answers of [`Self::queries`]: an event whose Task is there is done with it;
    /// the others are written again. A failed query defers the events it was about.
    pub(super) fn settle_tasks(&self, events: &mut [Event], answers: Vec<Result<Vec<Value>, CallError>>) {
        if self.tasks.is_empty() {
            return;
        }
        let mut found: HashMap<EventId, SalesforceId> = HashMap::new();
        let mut failed: Option<CallError> = None;
        for answer in answers {
            match answer {
                Ok(tasks) => {
                    for task in tasks {
                        let event = task["Description"].as_str().and_then(event_of_description);
                        let id = task["Id"].as_str().and_then(|id| SalesforceId::parse(id).ok());
                        if let (Some(event), Some(id)) = (event, id) {
                            found.entry(event).or_insert(id);
                        }
                    }
                }
                Err(e) => failed = Some(e),
            }
        }
        for (i, _) in &self.tasks {
            let e = &mut events[*i];
            if let Some(error) = &failed {
                // Which query held which record is not worth tracking: they are retried together.
                e.fail_call(error);
                continue;
            }
            match found.get(e.pending.command.event_id()) {
                Some(task) => {
                    tracing::info!(event_id = %e.pending.command.event_id(), task_id = %task, "a lost write had created the Task; not writing it again");
                    e.progress.task_id = Some(task.clone());
                }
                None => {
                    if let Some(held) = e.held.as_mut() {
                        held.task_unconfirmed_since = None;
                    }
                }
            }
        }
    }
}

/// Right after a write that may have been applied failed: reads the counters it set, so the
/// events know at once whether their clicks were added. (Left to the next attempt, the answer
/// would be ambiguous if another event's update reached the same counter in between.) If the
/// read fails too, the next attempt decides with what it reads then.
pub(super) async fn recheck_counters(calls: &Calls<'_>, events: &mut [Event], settings: &TenantSettings) {
    let Some(field) = &settings.field_mapping.click_count else { return };
    let mut by_kind: HashMap<TargetKind, BTreeSet<SalesforceId>> = HashMap::new();
    for e in events.iter().filter(|e| e.progress.counter_unconfirmed.is_some()) {
        if let Some(target) = &e.target {
            by_kind.entry(target.kind).or_default().insert(target.id.clone());
        }
    }
    if by_kind.is_empty() {
        return;
    }
    let mut queries = Vec::new();
    let mut kinds = Vec::new();
    for (kind, ids) in &by_kind {
        for chunk in ids.iter().collect::<Vec<_>>().chunks(IDS_PER_QUERY) {
            let list: Vec<String> = chunk.iter().map(|id| soql_quote(id.as_str())).collect();
            queries.push(format!("SELECT Id, {field} FROM {} WHERE Id IN ({})", kind.sobject(), list.join(", ")));
            kinds.push(*kind);
        }
    }
    let mut current: HashMap<SalesforceId, i64> = HashMap::new();
    for (attempt, pause) in RECHECK_PAUSES.iter().enumerate() {
        let answers = query_all(calls, queries.clone()).await;
        if answers.iter().any(Result::is_err) {
            if attempt + 1 < RECHECK_PAUSES.len() {
                tokio::time::sleep(*pause).await;
            }
            continue;
        }
        for record in answers.into_iter().flatten().flatten() {
            let id = record["Id"].as_str().and_then(|id| SalesforceId::parse(id).ok());
            if let (Some(id), Some(value)) = (id, counter_value(record.get(field.as_str()))) {
                current.insert(id, value);
            }
        }
        break;
    }
    for e in events.iter_mut() {
        let (Some(sent), Some(target)) = (e.progress.counter_unconfirmed, &e.target) else { continue };
        let Some(now) = current.get(&target.id) else { continue };
        e.progress.counter_unconfirmed = None;
        if let Some(held) = e.held.as_mut() {
            held.counter_unconfirmed = None;
        }
        if *now >= sent {
            tracing::info!(event_id = %e.pending.command.event_id(), "a lost write had updated the counter; not adding the click again");
            e.progress.fields_applied = true;
        }
    }
}

/// After the lookup read the counters afresh: an update whose answer was lost was applied if the
/// counter is at or above the value it set.
pub(super) fn settle_counters(events: &mut [Event], settings: &TenantSettings) {
    let Some(field) = &settings.field_mapping.click_count else { return };
    for e in events.iter_mut().filter(|e| e.is_open()) {
        let Some(sent) = e.held.as_ref().and_then(|h| h.counter_unconfirmed) else { continue };
        let Some(current) = e.target.as_ref().and_then(|t| counter_value(t.fields.get(field.as_str()))) else { continue };
        if current >= sent {
            e.progress.fields_applied = true;
        } else if let Some(held) = e.held.as_mut() {
            held.counter_unconfirmed = None;
        }
    }
}

/// A counter as the lookup read it: Number fields come back as JSON floats, an empty one as null
/// (zero); `None` when the field was not read at all.
fn counter_value(value: Option<&Value>) -> Option<i64> {
    value.map(|v| v.as_f64().map_or(0, |n| n.round() as i64))
}

fn task_queries(who: &BTreeSet<SalesforceId>, since: DateTime<Utc>) -> Vec<String> {
    // A campaign note's Task is on its Campaign (`WhatId`); an activity's on its Contact or Lead.
    let (campaigns, people): (Vec<&SalesforceId>, Vec<&SalesforceId>) = who.iter().partition(|id| id.as_str().starts_with("701"));
    let mut queries = Vec::new();
    for (field, ids) in [("WhoId", people), ("WhatId", campaigns)] {
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let list: Vec<String> = chunk.iter().map(|id| soql_quote(id.as_str())).collect();
            queries.push(format!(
                "SELECT Id, {field}, Description FROM Task WHERE {field} IN ({}) AND CreatedDate >= {} ORDER BY CreatedDate ASC, Id ASC",
                list.join(", "),
                since.format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
    }
    queries
}
