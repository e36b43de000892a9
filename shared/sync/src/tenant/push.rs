//! What a `field_update` writes: each product attribute onto the field the tenant mapped for the
//! record's object (Contact or Lead), converted to that field's type as the org describes it.
//! A value that does not fit refuses the command (a dead letter naming the field, the value and
//! the type); attributes not mapped for that object are left out, and said so.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sfbridge_core::domain::{ObjectName, SalesforceId, TenantId};
use sfbridge_core::store::{FieldTimesRecord, TenantSettings};
use sfbridge_salesforce::fields::{convert, Catalog, Write};
use sfbridge_salesforce::rest::SubRequest;
use sfbridge_salesforce::CallError;

use super::calls::Calls;
use super::event::{Event, State};
use crate::command::{Command, FieldUpdateCommand};
use crate::matching::{Target, TargetKind};

/// Code of a field update whose value does not fit its field, or whose field is gone.
pub(super) const INVALID_VALUE: &str = "invalid_value";

/// The describes of Contact and Lead when open field updates need them (and Campaign for
/// campaign states): from the tenant's cache,
/// or asked in one Composite call (conditional on what is cached; at most once an hour).
/// A failed call fails only the field updates.
pub(super) async fn catalog(calls: &Calls<'_>, events: &mut [Event]) -> Option<Catalog> {
    let field_updates = |e: &Event| e.is_open() && matches!(e.pending.command, Command::FieldUpdate(_));
    let statuses = |e: &Event| e.is_open() && e.pending.command.campaign_update().is_some_and(|c| c.state.is_some());
    let upserted = super::upsert::objects(events);
    let wanted = |e: &Event| field_updates(e) || statuses(e);
    if !events.iter().any(wanted) && upserted.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    if events.iter().any(field_updates) {
        names.extend(["Contact", "Lead"]);
    }
    if events.iter().any(statuses) {
        names.push("Campaign");
    }
    let (ctx, t) = (calls.ctx, calls.t);
    let org = match ctx.store.connection(t).await {
        Ok(Some(c)) => c.organization_id.as_str().to_owned(),
        Ok(None) => return None,
        Err(e) => {
            let reason = format!("connection unavailable: {e}");
            events
                .iter_mut()
                .filter(|e| wanted(e) || e.pending.command.record_upsert().is_some())
                .for_each(|e| e.defer(super::STORAGE_UNAVAILABLE, &reason, super::event::defer::UNAVAILABLE));
            return None;
        }
    };
    let objects: Vec<ObjectName> = names.into_iter().filter_map(|o| ObjectName::parse(o).ok()).chain(upserted).collect();
    let mut catalog = Catalog::load(&ctx.store, t, &org, objects).await;
    let now = ctx.clock.now();
    let requests: Vec<SubRequest> = catalog.requests(now, false);
    if requests.is_empty() {
        return Some(catalog);
    }
    let rest = &ctx.rest;
    let answers = calls
        .run(|s| {
            let requests = requests.clone();
            async move { rest.composite(&s, requests).await }
        })
        .await;
    match answers {
        Ok(answers) => {
            catalog.absorb(&ctx.store, t, &org, &answers, now).await;
            Some(catalog)
        }
        Err(e) => {
            fail_field_updates(events, &e);
            None
        }
    }
}

fn fail_field_updates(events: &mut [Event], e: &CallError) {
    let needs = |ev: &Event| {
        matches!(ev.pending.command, Command::FieldUpdate(_) | Command::RecordUpsert(_)) || ev.pending.command.campaign_update().is_some_and(|c| c.state.is_some())
    };
    for ev in events.iter_mut().filter(|ev| ev.is_open() && needs(ev)) {
        ev.fail_call(e);
    }
}

/// When the values already on each record were true, per lower-cased field name.
pub(super) type FieldTimes = HashMap<SalesforceId, BTreeMap<String, DateTime<Utc>>>;

/// What a field update writes on its record.
pub(super) enum Planned {
    Write(Map<String, Value>),
    /// None of its attributes is mapped for the record's object.
    NotMapped,
    /// Every field it maps already holds a value from a later `occurred_at`.
    Superseded(Vec<String>),
}

/// The fields `command` sets on `target`, converted, leaving out those that already hold a
/// later value (`times`); `Err` (code, reason) when a value cannot be written.
pub(super) fn values(
    target: &Target,
    command: &FieldUpdateCommand,
    settings: &TenantSettings,
    catalog: Option<&Catalog>,
    times: Option<&BTreeMap<String, DateTime<Utc>>>,
) -> Result<Planned, (String, String)> {
    let object = target.kind.sobject();
    let mut fields = Map::new();
    let mut unmapped = Vec::new();
    let mut superseded = Vec::new();
    for (attribute, value) in &command.values {
        let mapped = settings.attribute_mapping.get(attribute).and_then(|m| match target.kind {
            TargetKind::Contact => m.contact.as_ref(),
            TargetKind::Lead => m.lead.as_ref(),
            TargetKind::Campaign => None,
        });
        let Some(field) = mapped else {
            unmapped.push(attribute.as_str());
            continue;
        };
        let Some(info) = catalog.and_then(|c| c.fields(object)).and_then(|o| o.field(field.as_str())) else {
            return Err((
                INVALID_VALUE.into(),
                format!(
                    "{attribute} is mapped to {object}.{field}, which the org does not have (or the connected user cannot see); \
                     create it or change attribute_mapping (POST /v1/tenants/{}/settings/test-fields checks every mapped field)",
                    command.tenant_id
                ),
            ));
        };
        let converted = convert(object, info, value, Write::Update).map_err(|m| (INVALID_VALUE.to_owned(), format!("{attribute}: {m}")))?;
        let newer = times.and_then(|t| t.get(&info.name.to_ascii_lowercase())).is_some_and(|at| command.occurred_at.is_some_and(|mine| *at > mine));
        if newer {
            superseded.push(format!("{object}.{}", info.name));
            continue;
        }
        fields.insert(info.name.clone(), converted);
    }
    if !unmapped.is_empty() {
        tracing::debug!(attributes = ?unmapped, object, "attributes not mapped for this object: left out");
    }
    Ok(match (fields.is_empty(), superseded.is_empty()) {
        (false, _) => Planned::Write(fields),
        (true, false) => Planned::Superseded(superseded),
        (true, true) => Planned::NotMapped,
    })
}

/// The field times of the records the run's open field updates write, read once.
pub(super) async fn load_times(ctx: &crate::Worker, t: &TenantId, events: &[Event]) -> FieldTimes {
    let records: std::collections::BTreeSet<SalesforceId> = events
        .iter()
        .filter(|e| e.is_open() && matches!(e.pending.command, Command::FieldUpdate(_)))
        .filter_map(|e| e.target.as_ref().map(|t| t.id.clone()))
        .collect();
    let reads: Vec<_> = records.into_iter().map(|id| async move { (ctx.store.field_times(t, &id).await, id) }).collect();
    let mut times = FieldTimes::new();
    for (read, id) in crate::bounded(reads, super::STORAGE_CONCURRENCY).await {
        match read {
            Ok(Some(record)) => {
                times.insert(id, record.times);
            }
            Ok(None) => {}
            // Without them, an older value may overwrite a newer one; the write goes on.
            Err(e) => tracing::warn!(tenant_id = %t, record_id = %id, error = %e, "could not read the field times"),
        }
    }
    times
}

/// After the writes: each record's field times, moved forward by the field updates that wrote it.
pub(super) async fn save_times(ctx: &crate::Worker, t: &TenantId, events: &[Event], settings: &TenantSettings, mut times: FieldTimes) {
    let mut changed: BTreeMap<SalesforceId, bool> = BTreeMap::new();
    for e in events.iter().filter(|e| e.is_open() && e.fields_applied()) {
        let (Command::FieldUpdate(c), Some(target)) = (&e.pending.command, &e.target) else { continue };
        let Some(at) = c.occurred_at else { continue };
        for attribute in c.values.keys() {
            let Some(m) = settings.attribute_mapping.get(attribute) else { continue };
            let field = match target.kind {
                TargetKind::Contact => m.contact.as_ref(),
                TargetKind::Lead => m.lead.as_ref(),
                TargetKind::Campaign => None,
            };
            let Some(field) = field else { continue };
            let entry = times.entry(target.id.clone()).or_default().entry(field.as_str().to_ascii_lowercase()).or_insert(at);
            if *entry <= at {
                *entry = at;
                changed.insert(target.id.clone(), true);
            }
        }
    }
    let writes: Vec<_> = changed
        .into_keys()
        .filter_map(|id| {
            let record = FieldTimesRecord { times: times.get(&id)?.clone() };
            Some(async move { (ctx.store.save_field_times(t, &id, &record).await, id) })
        })
        .collect();
    for (written, id) in crate::bounded(writes, super::STORAGE_CONCURRENCY).await {
        if let Err(e) = written {
            tracing::warn!(tenant_id = %t, record_id = %id, error = %e, "could not record the field times");
        }
    }
}

/// Skips a field update whose every field already holds a later value.
pub(super) fn superseded(e: &mut Event, fields: &[String]) {
    e.state = State::Skipped {
        code: super::event::SkipCode::Superseded,
        reason: format!("{} already hold a value from a later occurred_at; this older one was not written", fields.join(", ")),
    };
}

/// Refuses an event for good, with our own code (not Salesforce's).
pub(super) fn refuse(e: &mut Event, code: String, reason: String) {
    if e.is_open() {
        e.state = State::Failed { code, reason };
    }
}

/// Skips an event none of whose attributes is mapped for its record's object.
pub(super) fn not_mapped(e: &mut Event, object: &str) {
    if let Command::FieldUpdate(c) = &e.pending.command {
        let attributes: Vec<&str> = c.values.keys().map(|a| a.as_str()).collect();
        let reason = format!(
            "none of {} is mapped for {object}; map them in attribute_mapping (PUT /v1/tenants/{}/settings)",
            attributes.join(", "),
            c.tenant_id
        );
        e.state = State::Skipped { code: super::event::SkipCode::NotMapped, reason };
    }
}

