//! Which Tasks and field updates the open events still owe, as Collections subrequests, and
//! which events each written record stands for.

use std::collections::HashMap;

use serde_json::Value;
use sfbridge_core::domain::{CampaignId, SalesforceId};
use sfbridge_core::store::{CampaignSettings, TenantSettings};
use sfbridge_salesforce::fields::Catalog;
use sfbridge_salesforce::rest::{SubRequest, MAX_COLLECTION_RECORDS};

use super::event::Event;
use super::{campaign, push, upsert};
use crate::activity::{field_update, task, updates_fields};
use crate::command::Command;

/// Which events a written record stands for.
#[derive(Debug, Clone)]
pub(super) enum Member {
    Task(usize),
    Update(Vec<usize>),
    /// A record upserted by external id, for the record upserts behind it.
    Upsert(Vec<usize>),
}

/// One Collections subrequest and, per record, the events behind it.
#[derive(Debug, Clone)]
pub(super) struct Collection {
    pub(super) request: SubRequest,
    pub(super) members: Vec<Member>,
}

/// The members whose command `pick` selects, in the order they happened (the later value wins
/// when several write one record).
pub(super) fn in_order<'a, C>(events: &'a [Event], members: &[usize], pick: impl Fn(&'a Command) -> Option<&'a C>) -> Vec<(usize, &'a C)> {
    let mut chosen: Vec<(usize, &C)> = members.iter().filter_map(|i| Some((*i, pick(&events[*i].pending.command)?))).collect();
    chosen.sort_by_key(|(i, _)| (events[*i].pending.command.occurred_at(), *i));
    chosen
}

/// The events behind one written record.
pub(super) fn member_events(m: &Member) -> Box<dyn Iterator<Item = usize> + '_> {
    match m {
        Member::Task(i) => Box::new(std::iter::once(*i)),
        Member::Update(is) | Member::Upsert(is) => Box::new(is.iter().copied()),
    }
}

/// The Tasks and field updates still owed by the open events, as Collections subrequests: one
/// update per record, whatever number of activities and field updates are behind it.
pub(super) fn plan_writes(
    events: &mut [Event],
    settings: &TenantSettings,
    campaigns: &HashMap<CampaignId, CampaignSettings>,
    catalog: Option<&Catalog>,
    times: &push::FieldTimes,
) -> Vec<Collection> {
    let external_id = settings.task_external_id_field.as_ref();
    let mut tasks: Vec<(Value, Member)> = Vec::new();
    let mut by_target: HashMap<SalesforceId, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter_mut().enumerate() {
        if !e.is_open() {
            continue;
        }
        let Some(target) = e.target.clone() else { continue };
        e.progress.who_id = Some(target.id.clone());
        let c = match &e.pending.command {
            Command::Activity(c) => c,
            Command::FieldUpdate(_) => {
                if e.fields_applied() {
                    continue;
                }
                by_target.entry(target.id.clone()).or_default().push(i);
                continue;
            }
            Command::RecordUpsert(_) => continue,
            Command::CampaignUpdate(cu) => {
                if let Some(note) = cu.note.as_deref().filter(|_| e.task_id().is_none()) {
                    tasks.push((campaign::note_task(cu, note, &target, external_id), Member::Task(i)));
                }
                if cu.state.is_some() && !e.fields_applied() {
                    by_target.entry(target.id.clone()).or_default().push(i);
                } else {
                    e.progress.fields_applied = true;
                }
                continue;
            }
        };
        if e.task_id().is_none() {
            let campaign = campaigns.get(&c.campaign_id).and_then(|s| s.salesforce_campaign_id.as_ref());
            let mut record = task(c, &target, campaign, external_id);
            if e.task_exists {
                if let Some(fields) = record.as_object_mut() {
                    fields.remove("TaskSubtype");
                }
            }
            tasks.push((record, Member::Task(i)));
        }
        if e.fields_applied() || !updates_fields(c.activity, &settings.field_mapping) {
            e.progress.fields_applied = true;
        } else {
            by_target.entry(target.id.clone()).or_default().push(i);
        }
    }
    let mut updates: Vec<(Value, Member)> = Vec::new();
    let mut targets: Vec<_> = by_target.into_iter().collect();
    targets.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (_, mut members) in targets {
        let Some(target) = events[members[0]].target.clone() else { continue };
        let activities = members.iter().filter_map(|i| events[*i].pending.command.activity());
        let mut record = field_update(&target, &settings.field_mapping, activities);
        let known = times.get(&target.id);
        let planned: Vec<_> = in_order(events, &members, Command::field_update).into_iter().map(|(i, c)| (i, push::values(&target, c, settings, catalog, known))).collect();
        for (i, values) in planned {
            match values {
                Ok(push::Planned::Write(fields)) => {
                    let record = record.get_or_insert_with(|| crate::activity::record_of(&target));
                    if let Some(object) = record.as_object_mut() {
                        object.extend(fields);
                    }
                }
                Ok(push::Planned::NotMapped) => push::not_mapped(&mut events[i], target.kind.sobject()),
                Ok(push::Planned::Superseded(fields)) => push::superseded(&mut events[i], &fields),
                Err((code, reason)) => push::refuse(&mut events[i], code, reason),
            }
        }
        for (i, status) in in_order(events, &members, Command::campaign_update).into_iter().map(|(i, c)| (i, campaign::status(c, settings, catalog))).collect::<Vec<_>>() {
            match status {
                Ok(Some(status)) => {
                    let record = record.get_or_insert_with(|| crate::activity::record_of(&target));
                    record["Status"] = Value::String(status);
                }
                Ok(None) => events[i].progress.fields_applied = true,
                Err((code, reason)) => push::refuse(&mut events[i], code, reason),
            }
        }
        // A refused or skipped field update is not behind the record.
        members.retain(|i| events[*i].is_open());
        match record {
            Some(record) if !members.is_empty() => updates.push((record, Member::Update(members))),
            // Nothing to change (an older open than the stored one): done.
            _ => members.iter().for_each(|i| events[*i].progress.fields_applied = true),
        }
    }

    let mut collections = Vec::new();
    for (n, chunk) in tasks.chunks(MAX_COLLECTION_RECORDS).enumerate() {
        let records: Vec<Value> = chunk.iter().map(|(r, _)| r.clone()).collect();
        let reference = format!("tasks{n}");
        let request = match external_id {
            Some(field) => SubRequest::upsert_records(&reference, "Task", field.as_str(), records),
            None => SubRequest::create_records(&reference, records),
        };
        collections.push(Collection { request, members: chunk.iter().map(|(_, m)| m.clone()).collect() });
    }
    for (n, chunk) in updates.chunks(MAX_COLLECTION_RECORDS).enumerate() {
        let records: Vec<Value> = chunk.iter().map(|(r, _)| r.clone()).collect();
        collections.push(Collection {
            request: SubRequest::update_records(&format!("updates{n}"), records),
            members: chunk.iter().map(|(_, m)| m.clone()).collect(),
        });
    }
    collections.extend(upsert::collections(events, catalog));
    collections
}


#[cfg(test)]
mod tests {
    use sfbridge_core::domain::FieldName;
    use sfbridge_core::store::FieldMapping;

    use super::*;
    use crate::matching::{Target, TargetKind};
    use crate::tenant::event::State;
    use crate::tenant::stub::pending;

    fn opened(i: usize, email: &str, contact: &str) -> Event {
        let id = SalesforceId::parse(contact).unwrap_or_else(|e| unreachable!("{e}"));
        Event { target: Some(Target { id, kind: TargetKind::Contact, fields: Default::default() }), ..Event::new(pending(&format!("evt_{i}"), email)) }
    }

    fn field(name: &str) -> Option<FieldName> {
        Some(FieldName::parse(name).unwrap_or_else(|e| unreachable!("{e}")))
    }

    #[test]
    fn one_task_per_event_and_one_update_per_record_with_every_event_behind_it() {
        let mut events = vec![
            opened(0, "ada@example.com", "003000000000001"),
            opened(1, "ada@example.com", "003000000000001"),
            opened(2, "grace@example.com", "003000000000002"),
            Event { state: State::Duplicate, ..opened(3, "alan@example.com", "003000000000003") },
        ];
        let settings = TenantSettings {
            field_mapping: FieldMapping { last_opened_at: field("Last_Opened__c"), ..FieldMapping::default() },
            ..TenantSettings::default()
        };
        let collections = plan_writes(&mut events, &settings, &HashMap::new(), None, &push::FieldTimes::new());
        assert_eq!(collections.len(), 2, "one Collections of Tasks, one of updates");
        let tasks: Vec<usize> = collections[0].members.iter().filter_map(|m| if let Member::Task(i) = m { Some(*i) } else { None }).collect();
        assert_eq!(tasks, [0, 1, 2], "the duplicate owes nothing");
        assert_eq!(collections[0].request.path(), "/composite/sobjects", "created: no external id field");
        let updates: Vec<Vec<usize>> = collections[1].members.iter().filter_map(|m| if let Member::Update(is) = m { Some(is.clone()) } else { None }).collect();
        assert_eq!(updates, [vec![0, 1], vec![2]], "both of Ada's opens are behind her one update");
        assert!(events[..3].iter().all(|e| e.progress.who_id.is_some()));
    }

    #[test]
    fn with_an_external_id_tasks_are_upserted_and_an_existing_one_loses_its_subtype() {
        let mut events = vec![opened(0, "ada@example.com", "003000000000001"), opened(1, "grace@example.com", "003000000000002")];
        events[1].task_exists = true;
        let settings = TenantSettings { task_external_id_field: field("Sfbridge_Event_Id__c"), ..TenantSettings::default() };
        let collections = plan_writes(&mut events, &settings, &HashMap::new(), None, &push::FieldTimes::new());
        assert_eq!(collections.len(), 1, "no mapped field: no updates, and the events need none");
        assert!(events.iter().all(|e| e.progress.fields_applied));
        let request = &collections[0].request;
        assert_eq!((request.method(), request.path()), ("PATCH", "/composite/sobjects/Task/Sfbridge_Event_Id__c"));
        let records = request.body().and_then(|b| b["records"].as_array().cloned()).unwrap_or_default();
        assert!(records[0].get("TaskSubtype").is_some());
        assert!(records[1].get("TaskSubtype").is_none(), "an update may not set it");
        assert_eq!(records[1]["Sfbridge_Event_Id__c"], "evt_1");
    }

    #[test]
    fn more_than_200_records_split_into_collections_of_200() {
        let mut events: Vec<Event> = (0..450).map(|i| opened(i, &format!("p{i}@example.com"), "003000000000001")).collect();
        let collections = plan_writes(&mut events, &TenantSettings::default(), &HashMap::new(), None, &push::FieldTimes::new());
        let sizes: Vec<usize> = collections.iter().map(|c| c.members.len()).collect();
        assert_eq!(sizes, [200, 200, 50]);
    }
}
