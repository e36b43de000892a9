//! What a `campaign_update` writes: its Campaign found (by id, through the campaign matrix, or by
//! experiment key), the product state as a Campaign Status from the org's picklist, and its note
//! as a completed Task on the Campaign.
//!
//! Why a Task and not a ContentNote: a Task is one record in the Collections calls sync already
//! makes (a ContentNote takes a create and a ContentDocumentLink, and cannot be upserted), shows
//! in the Campaign's activity timeline, and gets exactly-once the way activity Tasks do (the
//! tenant's Task external id field, or the event id ending its Description).

use std::collections::HashMap;

use serde_json::{json, Value};
use sfbridge_core::domain::{CampaignId, FieldName, SalesforceId, TenantId};
use sfbridge_core::store::{CampaignSettings, StoreError, TenantSettings};
use sfbridge_salesforce::fields::Catalog;
use sfbridge_salesforce::rest::soql_quote;
use sfbridge_salesforce::CallError;

use super::event::{defer, Event, State};
use super::STORAGE_UNAVAILABLE;
use super::push::INVALID_VALUE;
use crate::activity::TASK_STATUS;
use crate::command::CampaignUpdateCommand;
use crate::matching::{Target, TargetKind};
use crate::Worker;

/// Code of a campaign update whose Campaign cannot be found.
const CAMPAIGN_NOT_FOUND: &str = "campaign_not_found";
/// Code of a state the tenant's `campaign_statuses` does not map.
const UNKNOWN_STATE: &str = "unknown_state";
/// Campaigns of the matrix read at most, looking for an experiment key.
const MAX_MATRIX_PAGES: usize = 20;
/// Task.Subject holds 255 characters.
const MAX_SUBJECT: usize = 255;

/// Sets each open campaign update's target Campaign where the id or the matrix says it, and
/// returns the SOQL queries (by `campaign_experiment_key_field`) the others need, with the
/// events each is for; [`settle_queries`] takes their answers.
pub(super) async fn resolve(
    ctx: &Worker,
    t: &TenantId,
    events: &mut [Event],
    settings: &TenantSettings,
    campaigns: &HashMap<CampaignId, CampaignSettings>,
) -> Vec<(String, Vec<usize>)> {
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    let mut matrix: Option<HashMap<String, SalesforceId>> = None;
    let mut org: Option<Option<SalesforceId>> = None;
    for (i, e) in events.iter_mut().enumerate() {
        let Some(c) = e.pending.command.campaign_update().filter(|_| e.is_open()).cloned() else { continue };
        let r = &c.campaign;
        let found = if let Some(id) = &r.salesforce_id {
            Some(id.clone())
        } else if let Some(campaign) = &r.campaign_id {
            let linked = campaigns.get(campaign).and_then(|s| s.salesforce_campaign_id.clone());
            if linked.is_none() {
                not_found(e, format!(
                    "campaign {campaign} names no Salesforce Campaign; set its salesforce_campaign_id (PUT /v1/tenants/{t}/campaigns/{campaign})"
                ));
                continue;
            }
            linked
        } else {
            let key = r.experiment_key.clone().unwrap_or_default();
            if matrix.is_none() {
                matrix = Some(experiment_keys(ctx, t).await);
            }
            let linked = match matrix.as_ref().and_then(|m| m.get(&key)) {
                Some(id) => Some(id.clone()),
                None => match linked_by_event(ctx, t, &key, &mut org).await {
                    Ok(found) => found,
                    Err(reason) => {
                        e.defer(STORAGE_UNAVAILABLE, &reason, defer::UNAVAILABLE);
                        continue;
                    }
                },
            };
            match linked {
                Some(id) => Some(id),
                None if settings.campaign_experiment_key_field.is_some() => {
                    by_key.entry(key).or_default().push(i);
                    continue;
                }
                None => {
                    not_found(e, format!(
                        "no campaign of the matrix has experiment_key {key:?} and a Salesforce Campaign, and no campaign_updated \
                         event linked it; link one (PUT /v1/tenants/{t}/campaigns/{{c}} with salesforce_campaign_id and \
                         experiment_key, or a Campaign webhook carrying Experiment_Key__c) or set campaign_experiment_key_field \
                         in the settings"
                    ));
                    continue;
                }
            }
        };
        if let Some(id) = found {
            e.target = Some(Target { id, kind: TargetKind::Campaign, fields: Default::default() });
        }
    }
    let Some(field) = &settings.campaign_experiment_key_field else { return Vec::new() };
    let mut keys: Vec<(String, Vec<usize>)> = by_key.into_iter().collect();
    keys.sort();
    keys.chunks(200)
        .map(|chunk| {
            let quoted: Vec<String> = chunk.iter().map(|(k, _)| soql_quote(k)).collect();
            let soql = format!("SELECT Id, {field} FROM Campaign WHERE {field} IN ({})", quoted.join(", "));
            (soql, chunk.iter().flat_map(|(_, is)| is.iter().copied()).collect())
        })
        .collect()
}

/// The answers to the experiment-key queries: each event gets the Campaign holding its key, or
/// is refused; a failed query fails the events it was for.
pub(super) fn settle_queries(
    events: &mut [Event],
    field: Option<&FieldName>,
    queries: &[(String, Vec<usize>)],
    answers: Vec<Result<Vec<Value>, CallError>>,
) {
    let Some(field) = field else { return };
    for ((_, members), answer) in queries.iter().zip(answers) {
        match answer {
            Ok(records) => {
                for &i in members {
                    let Some(key) = events[i].pending.command.campaign_update().and_then(|c| c.campaign.experiment_key.clone()) else { continue };
                    let found = records
                        .iter()
                        .filter(|r| r.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(field.as_str()))).is_some_and(|(_, v)| v == &json!(key)))
                        .filter_map(|r| r["Id"].as_str().and_then(|id| SalesforceId::parse(id).ok()))
                        .min_by(|a, b| a.as_str().cmp(b.as_str()));
                    match found {
                        Some(id) => events[i].target = Some(Target { id, kind: TargetKind::Campaign, fields: Default::default() }),
                        None => not_found(&mut events[i], format!("no Campaign has {field} = {key:?}")),
                    }
                }
            }
            Err(e) => members.iter().for_each(|&i| events[i].fail_call(&e)),
        }
    }
}

/// The Campaign an inbound `campaign_updated` event linked to `key`, if it came from the org the
/// tenant is connected to now (`org` caches the connection's org for the batch). `Err`: the store
/// could not say, so the event waits rather than being refused.
async fn linked_by_event(ctx: &Worker, t: &TenantId, key: &str, org: &mut Option<Option<SalesforceId>>) -> Result<Option<SalesforceId>, String> {
    let unavailable = |e: StoreError| format!("experiment link unavailable: {e}");
    let Some(link) = ctx.store.experiment_link(t, key).await.map_err(unavailable)? else { return Ok(None) };
    if org.is_none() {
        *org = Some(ctx.store.connection(t).await.map_err(unavailable)?.map(|c| c.organization_id));
    }
    let connected = org.as_ref().and_then(Option::as_ref);
    Ok(connected.is_some_and(|o| o.as_str()[..15] == link.organization_id.as_str()[..15]).then_some(link.campaign_id))
}

/// The experiment keys of the campaign matrix that name a Salesforce Campaign.
async fn experiment_keys(ctx: &Worker, t: &TenantId) -> HashMap<String, SalesforceId> {
    let mut keys = HashMap::new();
    let mut after: Option<CampaignId> = None;
    for _ in 0..MAX_MATRIX_PAGES {
        let Ok(page) = ctx.store.campaigns(t, 100, after.as_ref()).await else { break };
        for c in page.campaigns {
            if let (Some(key), Some(id)) = (c.settings.experiment_key, c.settings.salesforce_campaign_id) {
                keys.insert(key, id);
            }
        }
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    keys
}

fn not_found(e: &mut Event, reason: String) {
    if e.is_open() {
        e.state = State::Failed { code: CAMPAIGN_NOT_FOUND.into(), reason };
    }
}

/// The Status `command` sets, checked against the org's Campaign Status picklist.
pub(super) fn status(command: &CampaignUpdateCommand, settings: &TenantSettings, catalog: Option<&Catalog>) -> Result<Option<String>, (String, String)> {
    let Some(state) = &command.state else { return Ok(None) };
    let Some(status) = settings.campaign_statuses.get(state) else {
        let known: Vec<&str> = settings.campaign_statuses.keys().map(|s| s.as_str()).collect();
        return Err((
            UNKNOWN_STATE.into(),
            format!(
                "state {state} is not in campaign_statuses ({}); map it to a Campaign Status (PATCH /v1/tenants/{}/settings)",
                known.join(", "),
                command.tenant_id
            ),
        ));
    };
    let picklist = catalog.and_then(|c| c.fields("Campaign")).and_then(|f| f.field("Status")).map(|f| f.picklist.clone());
    match picklist {
        Some(values) if !values.iter().any(|v| v == status) => Err((
            INVALID_VALUE.into(),
            format!(
                "state {state} maps to Campaign Status {status:?}, which is not a value of the org's picklist ({}); add it in \
                 Setup or change campaign_statuses",
                values.join(", ")
            ),
        )),
        _ => Ok(Some(status.clone())),
    }
}

/// The Task logging a campaign update's note on its Campaign.
pub(super) fn note_task(command: &CampaignUpdateCommand, note: &str, campaign: &Target, external_id_field: Option<&FieldName>) -> Value {
    let first_line = note.lines().next().unwrap_or_default().trim();
    let mut subject: String = format!("Note: {first_line}").chars().take(MAX_SUBJECT).collect();
    if subject.chars().count() == MAX_SUBJECT {
        subject.pop();
        subject.push('…');
    }
    let description = format!("{note}\n\n{}", crate::activity::event_footer("Campaign update", command.occurred_at, &command.event_id));
    let mut task = json!({
        "attributes": {"type": "Task"},
        "WhatId": campaign.id.as_str(),
        "Subject": subject,
        "Description": description,
        "Status": TASK_STATUS,
    });
    if let Some(at) = command.occurred_at {
        task["ActivityDate"] = json!(at.format("%Y-%m-%d").to_string());
    }
    if let Some(field) = external_id_field {
        task[field.as_str()] = json!(command.event_id.as_str());
    }
    task
}

