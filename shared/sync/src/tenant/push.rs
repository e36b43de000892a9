//! What a `field_update` writes: each product attribute onto the field the tenant mapped for the
//! record's object (Contact or Lead), converted to that field's type as the org describes it.
//! A value that does not fit refuses the command (a dead letter naming the field, the value and
//! the type); attributes not mapped for that object are left out, and said so.

use serde_json::{Map, Value};
use sfbridge_core::domain::ObjectName;
use sfbridge_core::store::TenantSettings;
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

/// The fields `command` sets on `target`, converted; `Ok(None)` when none of its attributes is
/// mapped for the target's object; `Err` (code, reason) when a value cannot be written.
pub(super) fn values(
    target: &Target,
    command: &FieldUpdateCommand,
    settings: &TenantSettings,
    catalog: Option<&Catalog>,
) -> Result<Option<Map<String, Value>>, (String, String)> {
    let object = target.kind.sobject();
    let mut fields = Map::new();
    let mut unmapped = Vec::new();
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
        fields.insert(info.name.clone(), converted);
    }
    if fields.is_empty() {
        return Ok(None);
    }
    if !unmapped.is_empty() {
        tracing::debug!(attributes = ?unmapped, object, "attributes not mapped for this object: left out");
    }
    Ok(Some(fields))
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

/// The field updates of one record in the order they happened (a later value wins).
pub(super) fn in_order<'a>(events: &'a [Event], members: &[usize]) -> Vec<(usize, &'a FieldUpdateCommand)> {
    let mut updates: Vec<(usize, &FieldUpdateCommand)> = members
        .iter()
        .filter_map(|i| match &events[*i].pending.command {
            Command::FieldUpdate(c) => Some((*i, c)),
            Command::Activity(_) | Command::CampaignUpdate(_) | Command::RecordUpsert(_) => None,
        })
        .collect();
    updates.sort_by_key(|(i, c)| (c.occurred_at, *i));
    updates
}
