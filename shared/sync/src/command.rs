//! Sync commands as the product sends them (docs/architecture.md "Sync command", `"version": 1`), parsed
//! into types that can only hold valid values. A body that does not parse is never retried: it
//! goes to the dead-letter queue with the reason.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::{Map, Value};

use sfbridge_core::domain::{AttributeName, CampaignId, Email, EndpointName, EventId, FieldName, ObjectName, ProductState, SalesforceId, TenantId};
use sfbridge_core::store::ActivityKind;

use crate::matching::TargetKind;

pub(crate) const SUPPORTED_VERSION: u64 = 1;
/// A campaign note becomes a Task's Description (32,000 characters), which also ends with the
/// event's footer.
pub(crate) const MAX_NOTE: usize = 30_000;
/// The most attributes one `field_update` may set.
pub(crate) const MAX_VALUES: usize = 100;

/// A sync command of any type the release runs.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Activity(ActivityCommand),
    FieldUpdate(FieldUpdateCommand),
    CampaignUpdate(CampaignUpdateCommand),
    RecordUpsert(RecordUpsertCommand),
}

impl Command {
    pub(crate) fn event_id(&self) -> &EventId {
        match self {
            Self::Activity(c) => &c.event_id,
            Self::FieldUpdate(c) => &c.event_id,
            Self::CampaignUpdate(c) => &c.event_id,
            Self::RecordUpsert(c) => &c.event_id,
        }
    }

    pub(crate) fn tenant_id(&self) -> &TenantId {
        match self {
            Self::Activity(c) => &c.tenant_id,
            Self::FieldUpdate(c) => &c.tenant_id,
            Self::CampaignUpdate(c) => &c.tenant_id,
            Self::RecordUpsert(c) => &c.tenant_id,
        }
    }

    /// The person whose Contact or Lead the command is about, when it names one by email.
    pub(crate) fn contact(&self) -> Option<&ContactRef> {
        match self {
            Self::Activity(c) => Some(&c.contact),
            Self::FieldUpdate(c) => c.contact.as_ref(),
            Self::CampaignUpdate(_) | Self::RecordUpsert(_) => None,
        }
    }

    pub(crate) fn email(&self) -> Option<&Email> {
        self.contact().map(|c| &c.email)
    }

    /// `"type"` as the command said it (and the delivery log says it).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Activity(_) => "activity",
            Self::FieldUpdate(_) => "field_update",
            Self::CampaignUpdate(_) => "campaign_update",
            Self::RecordUpsert(_) => "record_upsert",
        }
    }

    /// When it happened, when the command says.
    pub(crate) fn occurred_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Activity(c) => Some(c.occurred_at),
            Self::FieldUpdate(c) => c.occurred_at,
            Self::CampaignUpdate(c) => c.occurred_at,
            Self::RecordUpsert(c) => c.occurred_at,
        }
    }

    pub(crate) fn activity(&self) -> Option<&ActivityCommand> {
        match self {
            Self::Activity(c) => Some(c),
            Self::FieldUpdate(_) | Self::CampaignUpdate(_) | Self::RecordUpsert(_) => None,
        }
    }

    pub(crate) fn field_update(&self) -> Option<&FieldUpdateCommand> {
        match self {
            Self::FieldUpdate(c) => Some(c),
            Self::Activity(_) | Self::CampaignUpdate(_) | Self::RecordUpsert(_) => None,
        }
    }

    pub(crate) fn campaign_update(&self) -> Option<&CampaignUpdateCommand> {
        match self {
            Self::CampaignUpdate(c) => Some(c),
            Self::Activity(_) | Self::FieldUpdate(_) | Self::RecordUpsert(_) => None,
        }
    }

    pub(crate) fn record_upsert(&self) -> Option<&RecordUpsertCommand> {
        match self {
            Self::RecordUpsert(c) => Some(c),
            Self::Activity(_) | Self::FieldUpdate(_) | Self::CampaignUpdate(_) => None,
        }
    }
}

/// `"type": "campaign_update"`: a product campaign or experiment's state onto its Salesforce
/// Campaign's Status, and a note logged on the Campaign.
// The schema says what `check` does, but for the note's length (counted after trimming).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["state"], "properties": {"state": {"type": "string"}}},
    {"required": ["note"], "properties": {"note": {"type": "string", "pattern": "\\S"}}}
]))]
pub(crate) struct CampaignUpdateCommand {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    #[serde(deserialize_with = "object")]
    pub campaign: CampaignRef,
    /// Mapped to a Campaign Status by the tenant's `campaign_statuses`.
    #[serde(default)]
    pub state: Option<ProductState>,
    /// Logged as a completed Task on the Campaign.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Which Salesforce Campaign: exactly one of these.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["salesforce_id"], "properties": {"salesforce_id": {"type": "string"}}},
    {"required": ["experiment_key"], "properties": {"experiment_key": {"type": "string"}}},
    {"required": ["campaign_id"], "properties": {"campaign_id": {"type": "string"}}}
]))]
pub(crate) struct CampaignRef {
    /// The Campaign's id (`701…`).
    #[serde(default)]
    #[schemars(extend("pattern" = "^701"))]
    pub salesforce_id: Option<SalesforceId>,
    /// The product's experiment key: a campaign in the matrix with this key and a Salesforce
    /// Campaign, or a Campaign holding it in `campaign_experiment_key_field`.
    #[serde(default)]
    #[schemars(extend("maxLength" = 255, "pattern" = "\\S"))]
    pub experiment_key: Option<String>,
    /// The product campaign, whose matrix entry names its Salesforce Campaign.
    #[serde(default)]
    pub campaign_id: Option<CampaignId>,
}

impl CampaignUpdateCommand {
    fn check(mut self) -> Result<Self, String> {
        let r = &self.campaign;
        let given = usize::from(r.salesforce_id.is_some()) + usize::from(r.experiment_key.is_some()) + usize::from(r.campaign_id.is_some());
        if given != 1 {
            return Err(r#""campaign" takes exactly one of "salesforce_id" (701…), "experiment_key" or "campaign_id""#.into());
        }
        if r.salesforce_id.as_ref().is_some_and(|id| !id.as_str().starts_with("701")) {
            return Err(r#""campaign.salesforce_id" is not a Campaign id (701…)"#.into());
        }
        if r.experiment_key.as_deref().is_some_and(|k| k.trim().is_empty() || k.chars().count() > 255) {
            return Err(r#""campaign.experiment_key" must be 1 to 255 characters"#.into());
        }
        self.note = self.note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if self.note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
            return Err(format!(r#""note" is over {MAX_NOTE} characters"#));
        }
        if self.state.is_none() && self.note.is_none() {
            return Err(r#"give "state" (e.g. "completed"), "note", or both"#.into());
        }
        Ok(self)
    }
}

/// `"type": "record_upsert"`: fields into any object by an External ID field (sObject
/// Collections upsert), or a payload to one of the tenant's Apex REST endpoints.
#[derive(Debug, Clone)]
pub(crate) struct RecordUpsertCommand {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    pub target: UpsertTarget,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) enum UpsertTarget {
    Record { object: ObjectName, external_id_field: FieldName, external_id: String, fields: BTreeMap<FieldName, Value> },
    /// `"destination": "apex:{name}"`: the endpoint the tenant's `apex_endpoints` names.
    Apex { endpoint: EndpointName, payload: Value },
}

/// The most fields one `record_upsert` may set.
pub(crate) const MAX_FIELDS: usize = 500;

// `record_upsert` as it arrives; `check` makes it a `RecordUpsertCommand`. The schema's two
// shapes are `check`'s, but for `fields` naming the external id field (case-insensitively).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {
        "title": "a record, by an External ID field",
        "required": ["object", "external_id_field", "external_id"],
        "properties": {
            "object": {"type": "string"},
            "external_id_field": {"type": "string"},
            "external_id": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 255, "pattern": "\\S"}, {"type": "number"}]},
            "destination": {"type": "null"}
        }
    },
    {
        "title": "a payload to an Apex REST endpoint",
        "required": ["destination", "payload"],
        "properties": {
            "destination": {"type": "string", "pattern": "^apex:[A-Za-z0-9_-]{1,64}$"},
            "payload": {"not": {"type": "null"}},
            "object": {"type": "null"},
            "external_id_field": {"type": "null"},
            "external_id": {"type": "null"},
            "fields": {"type": "null"}
        }
    }
]))]
pub(crate) struct RecordUpsertWire {
    event_id: EventId,
    tenant_id: TenantId,
    #[serde(default)]
    object: Option<ObjectName>,
    #[serde(default)]
    external_id_field: Option<FieldName>,
    /// A string of 1 to 255 characters, or a number.
    #[serde(default)]
    external_id: Option<Value>,
    #[serde(default)]
    #[schemars(extend("maxProperties" = MAX_FIELDS))]
    fields: Option<BTreeMap<FieldName, Value>>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    occurred_at: Option<DateTime<Utc>>,
}

impl RecordUpsertWire {
    fn check(self) -> Result<RecordUpsertCommand, String> {
        let target = match (self.destination, self.object) {
            (Some(_), Some(_)) => return Err(r#"give "object" (with "external_id_field", "external_id", "fields") or "destination", not both"#.into()),
            (Some(destination), None) => {
                let Some(name) = destination.strip_prefix("apex:") else {
                    return Err(format!(r#""destination" {destination:?} is not "apex:{{name}}" (a name from the tenant's apex_endpoints)"#));
                };
                let endpoint = EndpointName::parse(name).map_err(|e| format!(r#""destination": {e}"#))?;
                let payload = self.payload.ok_or(r#""payload" is missing: the JSON the Apex endpoint receives"#)?;
                if self.fields.is_some() || self.external_id_field.is_some() || self.external_id.is_some() {
                    return Err(r#"an Apex destination takes "payload", not "fields" or an external id"#.into());
                }
                UpsertTarget::Apex { endpoint, payload }
            }
            (None, Some(object)) => {
                let external_id_field = self.external_id_field.ok_or(r#""external_id_field" is missing: the External ID field to upsert by"#)?;
                let external_id = match self.external_id {
                    Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 255 => s,
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err(r#""external_id" must be a string of 1 to 255 characters (or a number)"#.into()),
                };
                let fields = self.fields.unwrap_or_default();
                if fields.len() > MAX_FIELDS {
                    return Err(format!(r#""fields" sets {} fields; at most {MAX_FIELDS}"#, fields.len()));
                }
                if fields.keys().any(|f| f.same_field(&external_id_field)) {
                    return Err(r#""fields" must not set the external id field; give its value as "external_id""#.into());
                }
                UpsertTarget::Record { object, external_id_field, external_id, fields }
            }
            (None, None) => return Err(r#"give "object" (with "external_id_field", "external_id", "fields") or "destination": "apex:{name}""#.into()),
        };
        Ok(RecordUpsertCommand { event_id: self.event_id, tenant_id: self.tenant_id, target, occurred_at: self.occurred_at })
    }
}

/// `"type": "field_update"`: product attributes (scores, dates) onto the mapped fields of a
/// Contact or Lead, found by email or given by id.
// The schema says what `check` does: `contact` or `record_id`, 1 to 100 values.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["contact"], "properties": {"contact": {"type": "object"}, "record_id": {"type": "null"}}},
    {"required": ["record_id"], "properties": {"record_id": {"type": "string", "pattern": "^(003|00Q)"}, "contact": {"type": "null"}}}
]))]
pub(crate) struct FieldUpdateCommand {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    #[serde(default, deserialize_with = "object_or_null")]
    pub contact: Option<ContactRef>,
    /// A Contact (`003…`) or Lead (`00Q…`) id, instead of `contact`.
    #[serde(default)]
    pub record_id: Option<SalesforceId>,
    #[schemars(extend("minProperties" = 1, "maxProperties" = MAX_VALUES))]
    pub values: BTreeMap<AttributeName, Value>,
    /// When the values were true; of two updates of one record in a batch, the later one wins.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
}

impl FieldUpdateCommand {
    /// The record named by id, as a Contact or Lead.
    pub(crate) fn record(&self) -> Option<(SalesforceId, TargetKind)> {
        let id = self.record_id.clone()?;
        let kind = if id.as_str().starts_with("00Q") { TargetKind::Lead } else { TargetKind::Contact };
        Some((id, kind))
    }

    fn check(self) -> Result<Self, String> {
        match (&self.contact, &self.record_id) {
            (Some(_), Some(_)) => return Err("give \"contact\" or \"record_id\", not both".into()),
            (None, None) => return Err("give \"contact\": {\"email\": ...} or \"record_id\" (a Contact or Lead id)".into()),
            (None, Some(id)) if !["003", "00Q"].iter().any(|p| id.as_str().starts_with(p)) => {
                return Err(format!("\"record_id\" {id} is not a Contact (003…) or Lead (00Q…) id"));
            }
            _ => {}
        }
        if self.values.is_empty() || self.values.len() > MAX_VALUES {
            return Err(format!("\"values\" must set 1 to {MAX_VALUES} attributes, e.g. {{\"nps_score\": 9}}"));
        }
        Ok(self)
    }
}

/// `"type": "activity"`: something happened to an email the product sent.
// Read from the whole body, unknown keys ignored (as since the first release): its schema is open.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub(crate) struct ActivityCommand {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(deserialize_with = "string")]
    pub activity: ActivityKind,
    #[serde(deserialize_with = "object")]
    pub contact: ContactRef,
    pub occurred_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub email: Option<EmailContent>,
}

// serde's derives also read a struct from an array of its fields in order, and an enum from a
// one-key map (`{"email_sent": null}`); a command spells them only as an object and a string, as
// its schema says, so that a command the schema refuses is one the worker refuses.
fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<T, D::Error> {
    let object = Map::<String, Value>::deserialize(deserializer)?;
    T::deserialize(Value::Object(object)).map_err(D::Error::custom)
}

fn object_or_null<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<Option<T>, D::Error> {
    let object = Option::<Map<String, Value>>::deserialize(deserializer)?;
    object.map(|o| T::deserialize(Value::Object(o)).map_err(D::Error::custom)).transpose()
}

fn string<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<T, D::Error> {
    let string = String::deserialize(deserializer)?;
    T::deserialize(Value::String(string)).map_err(D::Error::custom)
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub(crate) struct ContactRef {
    pub email: Email,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub(crate) struct EmailContent {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub snippet: Option<String>,
}

impl ActivityCommand {
    /// How the campaign is called in Task subjects: its name, else its id.
    pub(crate) fn campaign_label(&self) -> &str {
        self.campaign_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(self.campaign_id.as_str())
    }
}

/// Why a message is not a command this release can run. Never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// `malformed_command` or `unsupported_command`.
    pub code: &'static str,
    pub message: String,
    /// Whom it was for, when that much could be read (so the tenant's delivery log shows it).
    pub tenant_id: Option<TenantId>,
    pub event_id: Option<EventId>,
}

/// The fields every command has, read first so that a bad command can still be attributed.
#[derive(Debug, Deserialize)]
struct Envelope {
    version: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    tenant_id: Option<Value>,
    event_id: Option<Value>,
}

/// A push command's own fields, strictly: the envelope (`version`, `type`), already read, is
/// taken out, and any other key the type does not know is refused (a typo is not dropped).
fn typed<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, String> {
    let mut object: serde_json::Map<String, Value> = serde_json::from_str(body).map_err(|e| e.to_string())?;
    object.remove("version");
    object.remove("type");
    serde_json::from_value(Value::Object(object)).map_err(|e| e.to_string())
}

/// Whether the worker would run `body` at all (the strict parse of [`parse_command`]), for a sender
/// that can refuse a bad command before it is queued: the local stack's `POST /local/activity`.
/// The product's SQS queue has no such door; there the worker dead-letters it with this error.
pub fn check_command(body: &str) -> Result<(), CommandError> {
    parse_command(body).map(drop)
}

pub(crate) fn parse_command(body: &str) -> Result<Command, CommandError> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| CommandError {
        code: "malformed_command",
        message: format!("the message body is not a JSON object: {e}"),
        tenant_id: None,
        event_id: None,
    })?;
    let tenant_id = envelope.tenant_id.as_ref().and_then(Value::as_str).and_then(|t| TenantId::parse(t).ok());
    let event_id = envelope.event_id.as_ref().and_then(Value::as_str).and_then(|e| EventId::parse(e).ok());
    let fail = |code: &'static str, message: String| CommandError {
        code,
        message,
        tenant_id: tenant_id.clone(),
        event_id: event_id.clone(),
    };
    match envelope.version.as_ref().and_then(Value::as_u64) {
        Some(SUPPORTED_VERSION) => {}
        Some(other) => {
            return Err(fail(
                "unsupported_command",
                format!("version {other} is not supported; this sfbridge reads version {SUPPORTED_VERSION}"),
            ))
        }
        None => return Err(fail("malformed_command", format!("\"version\" is missing; give \"version\": {SUPPORTED_VERSION}"))),
    }
    match envelope.kind.as_ref().and_then(Value::as_str) {
        Some("activity") => serde_json::from_str::<ActivityCommand>(body)
            .map(Command::Activity)
            .map_err(|e| fail("malformed_command", format!("not a valid activity command: {e}"))),
        Some("field_update") => typed::<FieldUpdateCommand>(body)
            .and_then(FieldUpdateCommand::check)
            .map(Command::FieldUpdate)
            .map_err(|e| fail("malformed_command", format!("not a valid field_update command: {e}"))),
        Some("campaign_update") => typed::<CampaignUpdateCommand>(body)
            .and_then(CampaignUpdateCommand::check)
            .map(Command::CampaignUpdate)
            .map_err(|e| fail("malformed_command", format!("not a valid campaign_update command: {e}"))),
        Some("record_upsert") => typed::<RecordUpsertWire>(body)
            .and_then(RecordUpsertWire::check)
            .map(Command::RecordUpsert)
            .map_err(|e| fail("malformed_command", format!("not a valid record_upsert command: {e}"))),
        Some(kind) => {
            let shown: String = kind.chars().take(40).collect();
            Err(fail("malformed_command", format!("\"type\": \"{shown}\" is unknown; give \"activity\", \"field_update\", \"campaign_update\" or \"record_upsert\"")))
        }
        None => Err(fail("malformed_command", "\"type\" is missing; give \"activity\", \"field_update\", \"campaign_update\" or \"record_upsert\"".into())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn valid() -> Value {
        serde_json::json!({"version":1,"type":"activity","event_id":"evt_1","tenant_id":"team_42","campaign_id":"cmp_7",
            "campaign_name":"Q1 Outreach","activity":"email_sent","contact":{"email":"Ada@Example.com","name":"Ada Lovelace"},
            "occurred_at":"2026-11-20T10:00:00Z","email":{"subject":"Hello","snippet":"..."}})
    }

    #[test]
    fn parses_the_documented_example() {
        let c = parse_command(&valid().to_string()).unwrap().activity().cloned().unwrap();
        assert_eq!(c.contact.email.as_str(), "ada@example.com");
        assert_eq!(c.activity, ActivityKind::EmailSent);
        assert_eq!(c.campaign_label(), "Q1 Outreach");
    }

    #[test]
    fn activity_names_match_the_wire_format() {
        use ActivityKind::*;
        for kind in [EmailSent, EmailOpened, EmailClicked, EmailReplied, EmailBounced, Unsubscribed] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn bad_commands_say_what_is_wrong_and_whose_they_are() {
        let mut v = valid();
        v["activity"] = "email_exploded".into();
        let e = parse_command(&v.to_string()).unwrap_err();
        assert_eq!(e.code, "malformed_command");
        assert!(e.message.contains("email_exploded"), "{}", e.message);
        assert_eq!(e.tenant_id.map(String::from).as_deref(), Some("team_42"));

        let mut v = valid();
        v["version"] = 2.into();
        assert_eq!(parse_command(&v.to_string()).unwrap_err().code, "unsupported_command");
        let mut v = valid();
        v["type"] = "record_upsert".into();
        let e = parse_command(&v.to_string()).unwrap_err();
        assert_eq!(e.code, "malformed_command", "an activity's fields are not a record upsert's");
        assert!(e.message.contains("not a valid record_upsert command"), "{}", e.message);
        let mut v = valid();
        v["contact"]["email"] = "not-an-email".into();
        assert!(parse_command(&v.to_string()).unwrap_err().message.contains("not an email"));
        for junk in ["", "null", "[]", "{", "\"x\"", "{\"version\":\"1\"}"] {
            assert_eq!(parse_command(junk).unwrap_err().code, "malformed_command", "{junk}");
        }
    }

    #[test]
    fn objects_are_objects_and_names_are_strings() {
        let spelt_otherwise =
            [("contact", serde_json::json!(["ada@example.com"])), ("email", serde_json::json!([])), ("activity", serde_json::json!({"email_sent": null}))];
        for (key, value) in spelt_otherwise {
            let mut v = valid();
            v[key] = value;
            assert_eq!(parse_command(&v.to_string()).unwrap_err().code, "malformed_command", "{key} as {}", v[key]);
        }
    }
}
