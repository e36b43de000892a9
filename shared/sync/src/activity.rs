//! What an activity writes: the Task that logs it, and the field updates the tenant mapped.
//! Pure functions of the command, the target and the settings.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::command::ActivityCommand;
use super::matching::{Target, TargetKind};
use sfbridge_core::domain::{EventId, FieldName, SalesforceId};
use sfbridge_core::store::{ActivityKind, FieldMapping};

/// Task.Subject holds 255 characters; Description 32,000.
const MAX_SUBJECT: usize = 255;
const MAX_DESCRIPTION: usize = 32_000;
/// A closed value of the default Task Status picklist.
pub const TASK_STATUS: &str = "Completed";

pub fn subject(kind: ActivityKind, campaign: &str) -> String {
    let what = match kind {
        ActivityKind::EmailSent => "Email sent",
        ActivityKind::EmailOpened => "Email opened",
        ActivityKind::EmailClicked => "Email link clicked",
        ActivityKind::EmailReplied => "Email reply received",
        ActivityKind::EmailBounced => "Email bounced",
        ActivityKind::Unsubscribed => "Unsubscribed",
    };
    truncate(&format!("{what}: {campaign}"), MAX_SUBJECT)
}

/// The Task logging `command` on `target`. With an external-id field the event id goes into it,
/// so writing the same event twice updates one Task.
pub fn task(
    command: &ActivityCommand,
    target: &Target,
    salesforce_campaign: Option<&SalesforceId>,
    external_id_field: Option<&FieldName>,
) -> Value {
    let mut description = Vec::new();
    if let Some(content) = &command.email {
        if let Some(s) = content.subject.as_deref().filter(|s| !s.trim().is_empty()) {
            description.push(format!("Subject: {}", s.trim()));
        }
        if let Some(s) = content.snippet.as_deref().filter(|s| !s.trim().is_empty()) {
            description.push(s.trim().to_owned());
        }
    }
    // The last line names the event, and no truncation may cut it: after a write whose answer
    // was lost, it is how the next attempt finds out whether this Task was created.
    let what = format!("Campaign: {} · {}", truncate(command.campaign_label(), MAX_SUBJECT), subject(command.activity, "").trim_end_matches(": "));
    let footer = event_footer(&what, Some(command.occurred_at), &command.event_id);
    let body = truncate(&description.join("\n\n"), MAX_DESCRIPTION - footer.chars().count() - 2);
    let description = if body.is_empty() { footer } else { format!("{body}\n\n{footer}") };
    let mut task = json!({
        "attributes": {"type": "Task"},
        "WhoId": target.id.as_str(),
        "Subject": subject(command.activity, command.campaign_label()),
        "Description": description,
        "ActivityDate": command.occurred_at.format("%Y-%m-%d").to_string(),
        "Status": TASK_STATUS,
        "TaskSubtype": "Email",
        "Type": "Email",
    });
    // A Task on a Lead may not have a WhatId (salesforce.md §8.1).
    if let (Some(campaign), TargetKind::Contact) = (salesforce_campaign, target.kind) {
        task["WhatId"] = json!(campaign.as_str());
    }
    if let Some(field) = external_id_field {
        task[field.as_str()] = json!(command.event_id.as_str());
    }
    task
}

/// What precedes the event id at the end of every Task's Description.
const EVENT_MARKER: &str = " · event ";

/// The last line of every Task sfbridge writes: what it logs, when, and the event id at the very
/// end, which [`event_of_description`] reads back after a lost answer.
pub(crate) fn event_footer(what: &str, at: Option<DateTime<Utc>>, event_id: &EventId) -> String {
    let when = at.map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default();
    format!("{what}{when}{EVENT_MARKER}{event_id}")
}

/// The event a Task logs, read from the end of its Description (see [`task`]).
pub(crate) fn event_of_description(description: &str) -> Option<EventId> {
    let last_line = description.rsplit('\n').next()?;
    let (_, id) = last_line.rsplit_once(EVENT_MARKER)?;
    EventId::parse(id.trim()).ok()
}

/// Whether an activity of this kind changes a mapped field.
pub(crate) fn updates_fields(kind: ActivityKind, mapping: &FieldMapping) -> bool {
    match kind {
        ActivityKind::EmailOpened => mapping.last_opened_at.is_some(),
        ActivityKind::EmailClicked => mapping.click_count.is_some(),
        ActivityKind::Unsubscribed => mapping.opt_out_on_unsubscribe,
        ActivityKind::EmailBounced => mapping.mark_bounced.is_some(),
        ActivityKind::EmailSent | ActivityKind::EmailReplied => false,
    }
}

/// The field values `activities` set on `target`, given its current values: the latest open
/// (never moving backwards), the click counter plus the clicks, opt-out, bounced. `None` when
/// nothing changes.
pub(crate) fn field_update<'a>(
    target: &Target,
    mapping: &FieldMapping,
    activities: impl IntoIterator<Item = &'a ActivityCommand>,
) -> Option<Value> {
    let mut changes = Map::new();
    let mut latest_open: Option<DateTime<Utc>> = None;
    let mut clicks = 0u64;
    for a in activities {
        match a.activity {
            ActivityKind::EmailOpened => latest_open = latest_open.max(Some(a.occurred_at)),
            ActivityKind::EmailClicked => clicks += 1,
            ActivityKind::Unsubscribed if mapping.opt_out_on_unsubscribe => {
                changes.insert("HasOptedOutOfEmail".into(), json!(true));
            }
            ActivityKind::EmailBounced => {
                if let Some(field) = &mapping.mark_bounced {
                    changes.insert(field.as_str().into(), json!(true));
                }
            }
            _ => {}
        }
    }
    if let (Some(field), Some(open)) = (&mapping.last_opened_at, latest_open) {
        let current = current_value(target, field).and_then(Value::as_str).and_then(parse_salesforce_datetime);
        if current.is_none_or(|c| open > c) {
            changes.insert(field.as_str().into(), json!(open.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()));
        }
    }
    if let (Some(field), true) = (&mapping.click_count, clicks > 0) {
        let current = current_value(target, field).and_then(Value::as_f64).unwrap_or(0.0);
        // Counters are whole numbers; Salesforce returns Number fields as JSON floats.
        changes.insert(field.as_str().into(), json!(current.round() as i64 + clicks as i64));
    }
    if changes.is_empty() {
        return None;
    }
    let mut record = record_of(target);
    if let Some(object) = record.as_object_mut() {
        object.extend(changes);
    }
    Some(record)
}

/// An update of `target` that changes nothing yet: its type and id.
pub(crate) fn record_of(target: &Target) -> Value {
    json!({"attributes": {"type": target.kind.sobject()}, "Id": target.id.as_str()})
}

/// Field names in query results keep the schema's casing, which may differ from the mapping's.
fn current_value<'a>(target: &'a Target, field: &FieldName) -> Option<&'a Value> {
    target.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(field.as_str())).map(|(_, v)| v)
}

/// Salesforce writes `2026-11-20T10:00:00.000+0000`; accept RFC 3339 too.
fn parse_salesforce_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::command::parse_command;

    fn command(activity: &str, at: &str) -> ActivityCommand {
        parse_command(
            &json!({"version":1,"type":"activity","event_id":"evt_1","tenant_id":"t","campaign_id":"cmp_7",
                "campaign_name":"Q1 Outreach","activity":activity,"contact":{"email":"ada@example.com"},
                "occurred_at":at,"email":{"subject":"Hello","snippet":"Hi Ada"}})
            .to_string(),
        )
        .unwrap()
        .activity()
        .cloned()
        .unwrap()
    }

    fn target(fields: Value) -> Target {
        Target {
            id: SalesforceId::parse("003000000000001").unwrap(),
            kind: TargetKind::Contact,
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn the_task_logs_the_event() {
        let c = command("email_opened", "2026-11-20T23:30:00Z");
        let ext = FieldName::parse("Sfbridge_Event_Id__c").unwrap();
        let t = task(&c, &target(json!({})), None, Some(&ext));
        assert_eq!(t["Subject"], "Email opened: Q1 Outreach");
        assert_eq!(t["ActivityDate"], "2026-11-20");
        assert_eq!((t["Status"].as_str(), t["TaskSubtype"].as_str(), t["Type"].as_str()), (Some("Completed"), Some("Email"), Some("Email")));
        assert_eq!(t["Sfbridge_Event_Id__c"], "evt_1");
        assert!(t["Description"].as_str().unwrap().starts_with("Subject: Hello\n\nHi Ada"));
        assert!(t.get("WhatId").is_none());
    }

    /// The event id ends the Description whatever precedes it, so a lost answer's Task can be
    /// found: a snippet far over Description's 32,000 characters is cut, the marker is not.
    #[test]
    fn the_description_always_ends_with_its_event() {
        let mut c = command("email_replied", "2026-11-20T10:00:00Z");
        c.email.as_mut().unwrap().snippet = Some("x".repeat(40_000));
        let t = task(&c, &target(json!({})), None, None);
        let description = t["Description"].as_str().unwrap();
        assert_eq!(description.chars().count(), MAX_DESCRIPTION);
        assert_eq!(event_of_description(description).map(|e| e.as_str().to_owned()).as_deref(), Some("evt_1"));
        let short = task(&command("email_sent", "2026-11-20T10:00:00Z"), &target(json!({})), None, None);
        assert_eq!(event_of_description(short["Description"].as_str().unwrap()).map(|e| e.as_str().to_owned()).as_deref(), Some("evt_1"));
        assert_eq!(event_of_description("a note someone typed"), None);
    }

    #[test]
    fn field_updates_build_on_current_values() {
        let mapping = FieldMapping {
            last_opened_at: Some(FieldName::parse("Last_Opened__c").unwrap()),
            click_count: Some(FieldName::parse("Clicks__c").unwrap()),
            opt_out_on_unsubscribe: true,
            mark_bounced: None,
        };
        let current = target(json!({"Last_Opened__c": "2026-11-21T00:00:00.000+0000", "Clicks__c": 2.0}));
        let events = [
            command("email_clicked", "2026-11-20T10:00:00Z"),
            command("email_clicked", "2026-11-20T10:01:00Z"),
            command("email_opened", "2026-11-20T10:00:00Z"),
            command("unsubscribed", "2026-11-20T10:00:00Z"),
        ];
        let u = field_update(&current, &mapping, &events).unwrap();
        assert_eq!(u["Clicks__c"], 4);
        assert_eq!(u["HasOptedOutOfEmail"], true);
        assert!(u.get("Last_Opened__c").is_none(), "an older open must not move the date back");
        assert_eq!(u["attributes"]["type"], "Contact");
        assert!(field_update(&current, &mapping, &[command("email_sent", "2026-11-20T10:00:00Z")]).is_none());
    }
}
