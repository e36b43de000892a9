//! What an org's describe says about an object's fields, and how a product value becomes what a
//! field takes (salesforce.md §8.5; the field types and their JSON forms are the REST API
//! Developer Guide's "Primitive Data Types" and "Field Types" pages).
//!
//! A value that does not fit its field is refused here, per record, with the field, the value
//! and the type named, before anything is sent: in a Collections request, a value of the wrong
//! JSON type fails the whole request (`JSON_PARSER_ERROR`), every other record with it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sfbridge_core::domain::{ObjectName, TenantId};
use sfbridge_core::store::{DescribeRecord, Store};

use crate::rest::{SubRequest, SubResponse};

/// A field's type, as describe's `type` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Id,
    String,
    TextArea,
    Email,
    Phone,
    Url,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    DateTime,
    Picklist,
    MultiPicklist,
    Combobox,
    Reference,
    /// Anything else (`address`, `location`, `base64`, `encryptedstring`, ...): not written by
    /// sfbridge.
    #[serde(other)]
    Other,
}

impl FieldType {
    fn parse(name: &str) -> Self {
        serde_json::from_value(Value::String(name.to_ascii_lowercase())).unwrap_or(Self::Other)
    }

    fn is_text(&self) -> bool {
        matches!(self, Self::String | Self::TextArea | Self::Email | Self::Phone | Self::Url | Self::Combobox)
    }

    fn is_number(&self) -> bool {
        matches!(self, Self::Int | Self::Double | Self::Currency | Self::Percent)
    }
}

/// One field of a describe, the parts sfbridge reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    /// The API name, as the org spells it.
    pub name: String,
    pub label: String,
    pub kind: FieldType,
    /// Characters, for text types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// Digits in all and after the point, for number types (`Int` has `digits` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    pub createable: bool,
    pub updateable: bool,
    pub nillable: bool,
    /// Active picklist values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub picklist: Vec<String>,
    #[serde(default)]
    pub restricted_picklist: bool,
    #[serde(default)]
    pub external_id: bool,
}

/// An object's fields by lower-cased API name (Salesforce matches API names case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectFields {
    pub object: String,
    pub fields: BTreeMap<String, FieldInfo>,
}

/// Why a describe answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable describe of {object}: {reason}")]
pub struct DescribeError {
    pub object: String,
    pub reason: String,
}

impl ObjectFields {
    /// Reads `GET …/sobjects/{object}/describe`'s body.
    pub fn from_describe(object: &str, body: &Value) -> Result<Self, DescribeError> {
        let fail = |reason: &str| DescribeError { object: object.to_owned(), reason: reason.to_owned() };
        let list = body.get("fields").and_then(Value::as_array).ok_or_else(|| fail("no \"fields\" list"))?;
        let mut fields = BTreeMap::new();
        for f in list {
            let Some(name) = f.get("name").and_then(Value::as_str) else { return Err(fail("a field without a name")) };
            let number = |key: &str| f.get(key).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
            let flag = |key: &str| f.get(key).and_then(Value::as_bool).unwrap_or(false);
            let kind = FieldType::parse(f.get("type").and_then(Value::as_str).unwrap_or_default());
            let picklist = f
                .get("picklistValues")
                .and_then(Value::as_array)
                .map(|values| {
                    values
                        .iter()
                        .filter(|v| v.get("active").and_then(Value::as_bool).unwrap_or(true))
                        .filter_map(|v| v.get("value").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let info = FieldInfo {
                name: name.to_owned(),
                label: f.get("label").and_then(Value::as_str).unwrap_or(name).to_owned(),
                length: number("length"),
                // `int` fields report `digits`, the others `precision` and `scale`.
                precision: if kind == FieldType::Int { number("digits") } else { number("precision") },
                scale: if kind == FieldType::Int { Some(0) } else { f.get("scale").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()) },
                createable: flag("createable"),
                updateable: flag("updateable"),
                nillable: flag("nillable"),
                picklist,
                restricted_picklist: flag("restrictedPicklist"),
                external_id: flag("externalId"),
                kind,
            };
            fields.insert(name.to_ascii_lowercase(), info);
        }
        let object = body.get("name").and_then(Value::as_str).unwrap_or(object).to_owned();
        Ok(Self { object, fields })
    }

    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.get(&name.to_ascii_lowercase())
    }
}

/// How long a cached describe stands without asking Salesforce. Past it, the next use asks with
/// `If-Modified-Since` (usually a 304 with no body).
pub const DESCRIBE_FRESH_FOR: chrono::Duration = chrono::Duration::hours(1);

/// The describes one run needs, from the tenant's cache, and what to ask Salesforce for the rest.
/// A run loads it, sends [`Catalog::requests`] inside a Composite call it makes anyway (sync: the
/// lookup call; Test Fields: its only call), and hands the answers to [`Catalog::absorb`].
#[derive(Debug, Default)]
pub struct Catalog {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    object: ObjectName,
    cached: Option<(ObjectFields, DateTime<Utc>)>,
    /// The org has no such object, or the connected user cannot see it (404 `NOT_FOUND`).
    missing: bool,
    /// Asked in this run, answered or not.
    asked: bool,
}

/// The reference ids of describe subrequests start with this.
const DESCRIBE_REFERENCE: &str = "describe_";

impl Catalog {
    /// What the tenant's cache holds for `objects` in the org `org_id`. A cache that cannot be
    /// read only costs a describe.
    pub async fn load(store: &Store, t: &TenantId, org_id: &str, objects: impl IntoIterator<Item = ObjectName>) -> Self {
        let mut entries = BTreeMap::new();
        for object in objects {
            let key = object.as_str().to_ascii_lowercase();
            if entries.contains_key(&key) {
                continue;
            }
            let cached = match store.describe(t, org_id, &object).await {
                Ok(record) => record.and_then(|r| Some((serde_json::from_value::<ObjectFields>(r.fields).ok()?, r.fetched_at))),
                Err(e) => {
                    tracing::warn!(tenant_id = %t, object = %object, error = %e, "could not read the cached describe");
                    None
                }
            };
            entries.insert(key, Entry { object, cached, missing: false, asked: false });
        }
        Self { entries }
    }

    /// Describe subrequests for every object not cached, or cached longer than
    /// [`DESCRIBE_FRESH_FOR`] (all of them with `revalidate`), conditional on the cached time.
    pub fn requests(&mut self, now: DateTime<Utc>, revalidate: bool) -> Vec<SubRequest> {
        let mut requests = Vec::new();
        for (key, entry) in &mut self.entries {
            let fresh = entry.cached.as_ref().is_some_and(|(_, at)| now - *at < DESCRIBE_FRESH_FOR);
            if fresh && !revalidate {
                continue;
            }
            entry.asked = true;
            let since = entry.cached.as_ref().map(|(_, at)| *at);
            requests.push(SubRequest::describe(&format!("{DESCRIBE_REFERENCE}{key}"), entry.object.as_str(), since));
        }
        requests
    }

    /// Whether a subrequest is one of this catalog's.
    pub fn is_describe(reference_id: &str) -> bool {
        reference_id.starts_with(DESCRIBE_REFERENCE)
    }

    /// Takes in the answers to [`Catalog::requests`] (others are ignored) and caches what
    /// changed. A failed or unreadable answer leaves the cached fields in use, if any.
    pub async fn absorb(&mut self, store: &Store, t: &TenantId, org_id: &str, answers: &[SubResponse], now: DateTime<Utc>) {
        for answer in answers {
            let Some(key) = answer.reference_id.strip_prefix(DESCRIBE_REFERENCE) else { continue };
            let Some(entry) = self.entries.get_mut(key) else { continue };
            let fields = match answer.status {
                200 => match ObjectFields::from_describe(entry.object.as_str(), &answer.body) {
                    Ok(fields) => fields,
                    Err(e) => {
                        tracing::warn!(tenant_id = %t, error = %e, "unreadable describe");
                        continue;
                    }
                },
                304 => match &entry.cached {
                    Some((fields, _)) => fields.clone(),
                    None => continue,
                },
                404 => {
                    entry.missing = true;
                    entry.cached = None;
                    continue;
                }
                status => {
                    tracing::warn!(tenant_id = %t, object = %entry.object, status, "describe failed");
                    continue;
                }
            };
            let record = DescribeRecord { fields: serde_json::to_value(&fields).unwrap_or_default(), fetched_at: now };
            if let Err(e) = store.save_describe(t, org_id, &entry.object, &record).await {
                tracing::warn!(tenant_id = %t, object = %entry.object, error = %e, "could not cache the describe");
            }
            entry.cached = Some((fields, now));
            entry.missing = false;
        }
    }

    /// The fields of `object`, if known.
    pub fn fields(&self, object: &str) -> Option<&ObjectFields> {
        self.entries.get(&object.to_ascii_lowercase()).and_then(|e| e.cached.as_ref().map(|(f, _)| f))
    }

    /// Whether Salesforce said the object does not exist (or is hidden from the connected user).
    pub fn is_missing(&self, object: &str) -> bool {
        self.entries.get(&object.to_ascii_lowercase()).is_some_and(|e| e.missing)
    }
}

/// A value that does not fit its field: what to tell the product and the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}.{field} ({kind}) cannot take {value}: {reason}")]
pub struct Mismatch {
    pub object: String,
    pub field: String,
    /// The field's type as Setup shows it, e.g. `Number(3, 0)`, `Text(80)`, `Picklist`.
    pub kind: String,
    /// The value, shortened for messages.
    pub value: String,
    pub reason: String,
}

/// The field's type as Setup → Object Manager shows it, which is what an admin creates.
pub fn setup_type(f: &FieldInfo) -> String {
    let digits = |name: &str| match (f.precision, f.scale) {
        (Some(p), Some(s)) => format!("{name}({}, {s})", p.saturating_sub(s)),
        _ => name.to_owned(),
    };
    match f.kind {
        FieldType::Int | FieldType::Double => digits("Number"),
        FieldType::Currency => digits("Currency"),
        FieldType::Percent => digits("Percent"),
        FieldType::String => f.length.map_or("Text".to_owned(), |n| format!("Text({n})")),
        FieldType::TextArea => f.length.map_or("Text Area".to_owned(), |n| format!("Text Area({n})")),
        FieldType::Email => "Email".into(),
        FieldType::Phone => "Phone".into(),
        FieldType::Url => "URL".into(),
        FieldType::Boolean => "Checkbox".into(),
        FieldType::Date => "Date".into(),
        FieldType::DateTime => "Date/Time".into(),
        FieldType::Picklist => "Picklist".into(),
        FieldType::MultiPicklist => "Picklist (Multi-Select)".into(),
        FieldType::Combobox => "Combobox".into(),
        FieldType::Reference => "Lookup".into(),
        FieldType::Id => "ID".into(),
        FieldType::Other => "a type sfbridge does not write".into(),
    }
}

/// Whether a field is written on an update (`updateable`) or a create (`createable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
    /// An upsert may be either; the field must allow both.
    Upsert,
}

/// The JSON value `field` takes for the product's `value` (of `object`), or why it cannot.
///
/// Numbers: a JSON number or a numeric string; at most precision − scale digits before the point,
/// rounded half away from zero to the field's scale (the UI rounds the same way on save). Dates:
/// `YYYY-MM-DD` or an RFC 3339 time (its UTC date). Date/times: RFC 3339 (sent in UTC), or a date
/// (midnight UTC). Checkboxes: `true`/`false` (also as strings). Text: strings, numbers and
/// booleans as text, at most the field's length (never cut: a cut value would be silently
/// wrong). Picklists: a value of a restricted picklist must be one of its active values (compared
/// as Salesforce does, case-sensitively). `null` clears a field that may be empty.
pub fn convert(object: &str, field: &FieldInfo, value: &Value, write: Write) -> Result<Value, Mismatch> {
    let fail = |reason: String| Mismatch {
        object: object.to_owned(),
        field: field.name.clone(),
        kind: setup_type(field),
        value: shown(value),
        reason,
    };
    let writable = match write {
        Write::Create => field.createable,
        Write::Update => field.updateable,
        Write::Upsert => field.createable && field.updateable,
    };
    if !writable {
        return Err(fail("the field is read-only for the connected user (not updateable); make it editable or map another field".into()));
    }
    if value.is_null() {
        return if field.nillable { Ok(Value::Null) } else { Err(fail("the field is required and cannot be emptied".into())) };
    }
    match &field.kind {
        k if k.is_number() => number(field, value).map_err(fail),
        FieldType::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(fail("a checkbox takes true or false".into())),
        },
        FieldType::Date => date(value).map(|d| Value::String(d.format("%Y-%m-%d").to_string())).ok_or_else(|| {
            fail("a date takes YYYY-MM-DD or an RFC 3339 time".into())
        }),
        FieldType::DateTime => date_time(value)
            .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
            .ok_or_else(|| fail("a date/time takes an RFC 3339 time such as 2026-11-20T10:00:00Z".into())),
        FieldType::Picklist | FieldType::MultiPicklist => {
            let text = text(value).ok_or_else(|| fail("a picklist takes text".into()))?;
            let chosen: Vec<&str> =
                if field.kind == FieldType::MultiPicklist { text.split(';').map(str::trim).collect() } else { vec![text.as_str()] };
            match chosen.iter().find(|v| field.restricted_picklist && !field.picklist.iter().any(|p| p == *v)) {
                Some(missing) => Err(fail(format!(
                    "{} is not one of the picklist's values ({}); add it in Setup or send one of those",
                    shown(&Value::String((*missing).to_owned())),
                    field.picklist.join(", ")
                ))),
                None => Ok(Value::String(text)),
            }
        }
        k if k.is_text() => {
            let text = text(value).ok_or_else(|| fail("a text field takes text, a number or true/false".into()))?;
            match field.length {
                Some(max) if text.chars().count() > max as usize => {
                    Err(fail(format!("{} characters, over the field's {max}", text.chars().count())))
                }
                _ => Ok(Value::String(text)),
            }
        }
        FieldType::Reference | FieldType::Id => match value.as_str().map(str::trim) {
            Some(id) if (id.len() == 15 || id.len() == 18) && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Ok(Value::String(id.to_owned()))
            }
            _ => Err(fail("a lookup takes a Salesforce record id (15 or 18 characters)".into())),
        },
        _ => Err(fail("sfbridge does not write fields of this type".into())),
    }
}

fn number(field: &FieldInfo, value: &Value) -> Result<Value, String> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
    .ok_or_else(|| "a number field takes a number".to_owned())?;
    let scale = field.scale.unwrap_or(0).min(17);
    let factor = 10f64.powi(scale as i32);
    let rounded = (n * factor).round() / factor;
    if let (Some(precision), Some(s)) = (field.precision, field.scale) {
        let whole_digits = precision.saturating_sub(s);
        let limit = 10f64.powi(whole_digits.min(300) as i32);
        if rounded.abs() >= limit {
            return Err(format!("more than {whole_digits} digits before the decimal point"));
        }
    }
    if scale == 0 && rounded.abs() < 9.0e15 {
        return Ok(Value::from(rounded as i64));
    }
    serde_json::Number::from_f64(rounded).map(Value::Number).ok_or_else(|| "not a finite number".to_owned())
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn date(value: &Value) -> Option<NaiveDate> {
    let s = value.as_str()?.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc).date_naive()))
}

fn date_time(value: &Value) -> Option<DateTime<Utc>> {
    let s = value.as_str()?.trim();
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc()))
}

/// A value as messages show it: JSON, at most 60 characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    format!("{}…", text.chars().take(59).collect::<String>())
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        f.write_str(&name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contact() -> ObjectFields {
        let describe = json!({"name": "Contact", "fields": [
            {"name": "NPS_Score__c", "label": "NPS", "type": "double", "precision": 3, "scale": 0, "createable": true, "updateable": true, "nillable": true},
            {"name": "CSAT__c", "label": "CSAT", "type": "percent", "precision": 5, "scale": 2, "createable": true, "updateable": true, "nillable": true},
            {"name": "Seats__c", "label": "Seats", "type": "int", "digits": 4, "createable": true, "updateable": true, "nillable": true},
            {"name": "ns__Plan__c", "label": "Plan", "type": "picklist", "restrictedPicklist": true, "createable": true, "updateable": true, "nillable": true,
             "picklistValues": [{"value": "Free", "active": true}, {"value": "Pro", "active": true}, {"value": "Legacy", "active": false}]},
            {"name": "Title", "label": "Title", "type": "string", "length": 5, "createable": true, "updateable": true, "nillable": true},
            {"name": "Last_Survey__c", "label": "Last survey", "type": "datetime", "createable": true, "updateable": true, "nillable": true},
            {"name": "Survey_Day__c", "label": "Survey day", "type": "date", "createable": true, "updateable": true, "nillable": true},
            {"name": "Promoter__c", "label": "Promoter", "type": "boolean", "createable": true, "updateable": true, "nillable": false},
            {"name": "Score_Formula__c", "label": "Formula", "type": "double", "precision": 18, "scale": 0, "createable": false, "updateable": false, "nillable": true},
            {"name": "MailingAddress", "label": "Mailing Address", "type": "address", "createable": false, "updateable": false, "nillable": true}
        ]});
        ObjectFields::from_describe("Contact", &describe).unwrap()
    }

    fn put(field: &str, value: Value) -> Result<Value, Mismatch> {
        let c = contact();
        convert("Contact", c.field(field).unwrap(), &value, Write::Update)
    }

    #[test]
    fn describe_is_read_case_insensitively_with_types_digits_and_active_values() {
        let c = contact();
        let plan = c.field("NS__PLAN__C").unwrap();
        assert_eq!((plan.kind.clone(), plan.picklist.clone(), plan.restricted_picklist), (FieldType::Picklist, vec!["Free".into(), "Pro".into()], true));
        assert_eq!(setup_type(c.field("nps_score__c").unwrap()), "Number(3, 0)");
        assert_eq!(setup_type(c.field("CSAT__c").unwrap()), "Percent(3, 2)");
        assert_eq!(setup_type(c.field("Seats__c").unwrap()), "Number(4, 0)");
        assert_eq!(setup_type(c.field("Title").unwrap()), "Text(5)");
        assert_eq!(c.field("MailingAddress").unwrap().kind, FieldType::Other);
        assert!(ObjectFields::from_describe("Contact", &json!({"name": "Contact"})).is_err());
    }

    #[test]
    fn numbers_are_rounded_to_the_scale_and_refused_past_the_precision() {
        assert_eq!(put("NPS_Score__c", json!(9)).unwrap(), json!(9));
        assert_eq!(put("NPS_Score__c", json!("8.6")).unwrap(), json!(9));
        assert_eq!(put("CSAT__c", json!(87.456)).unwrap(), json!(87.46));
        let e = put("NPS_Score__c", json!(1000)).unwrap_err();
        assert_eq!((e.kind.as_str(), e.value.as_str()), ("Number(3, 0)", "1000"));
        assert!(e.to_string().contains("Contact.NPS_Score__c (Number(3, 0)) cannot take 1000: more than 3 digits"), "{e}");
        assert!(put("NPS_Score__c", json!("nine")).unwrap_err().reason.contains("takes a number"));
        assert!(put("Seats__c", json!(12_345)).is_err());
        assert_eq!(put("Seats__c", json!(-9999)).unwrap(), json!(-9999));
    }

    #[test]
    fn text_picklists_dates_and_checkboxes_keep_their_rules() {
        assert_eq!(put("Title", json!(12)).unwrap(), json!("12"));
        assert!(put("Title", json!("Director")).unwrap_err().reason.contains("8 characters, over the field's 5"));
        assert_eq!(put("ns__Plan__c", json!("Pro")).unwrap(), json!("Pro"));
        let e = put("ns__Plan__c", json!("Legacy")).unwrap_err();
        assert!(e.reason.contains("(Free, Pro)"), "inactive values are not offered: {e}");
        assert!(put("ns__Plan__c", json!("pro")).is_err(), "compared case-sensitively");
        assert_eq!(put("Last_Survey__c", json!("2026-11-20T11:00:00+01:00")).unwrap(), json!("2026-11-20T10:00:00.000Z"));
        assert_eq!(put("Last_Survey__c", json!("2026-11-20")).unwrap(), json!("2026-11-20T00:00:00.000Z"));
        assert_eq!(put("Survey_Day__c", json!("2026-11-20T23:30:00-02:00")).unwrap(), json!("2026-11-21"));
        assert!(put("Survey_Day__c", json!("20/11/2026")).is_err());
        assert_eq!(put("Promoter__c", json!("TRUE")).unwrap(), json!(true));
        assert!(put("Promoter__c", json!(null)).unwrap_err().reason.contains("required"));
        assert_eq!(put("Title", Value::Null).unwrap(), Value::Null);
    }

    #[tokio::test]
    async fn the_catalog_asks_only_for_what_is_not_fresh_and_keeps_what_did_not_change() {
        let store = Store::in_memory();
        let t = TenantId::parse("team_42").unwrap();
        let org = "00D000000000001";
        let objects = || ["Contact", "Campaign", "Nope__c"].map(|o| ObjectName::parse(o).unwrap());
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z").unwrap().with_timezone(&Utc);

        let mut catalog = Catalog::load(&store, &t, org, objects()).await;
        let requests = catalog.requests(now, false);
        assert_eq!(requests.len(), 3, "nothing cached: all asked");
        assert!(requests.iter().all(|r| r.path().ends_with("/describe") && Catalog::is_describe(r.reference_id())));
        let contact = json!({"name": "Contact", "fields": [{"name": "Title", "type": "string", "length": 128, "updateable": true, "createable": true}]});
        let answer = |reference: &str, status: u16, body: Value| SubResponse { body, status, reference_id: reference.to_owned() };
        let answers = [
            answer(requests[2].reference_id(), 404, json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])),
            answer(requests[1].reference_id(), 200, contact.clone()),
            answer(requests[0].reference_id(), 503, Value::Null),
            answer("lookup0", 200, json!({"records": []})),
        ];
        catalog.absorb(&store, &t, org, &answers, now).await;
        assert_eq!(catalog.fields("CONTACT").and_then(|f| f.field("title")).and_then(|f| f.length), Some(128));
        assert!(catalog.is_missing("Nope__c") && catalog.fields("Campaign").is_none() && !catalog.is_missing("Campaign"));

        // Within the hour only the object that failed is asked again; later, the cached one
        // conditionally, and a 304 keeps it.
        let mut again = Catalog::load(&store, &t, org, objects()).await;
        let asked: Vec<String> = again.requests(now + chrono::Duration::minutes(30), false).iter().map(|r| r.path().to_owned()).collect();
        assert_eq!(asked, ["/sobjects/Campaign/describe", "/sobjects/Nope__c/describe"]);
        let mut later = Catalog::load(&store, &t, org, objects()).await;
        let requests = later.requests(now + chrono::Duration::hours(2), false);
        let conditional = serde_json::to_value(requests.iter().find(|r| r.path().contains("Contact")).unwrap()).unwrap();
        assert_eq!(conditional["httpHeaders"]["If-Modified-Since"], "Sat, 05 Dec 2026 10:00:00 GMT");
        let reference = requests.iter().find(|r| r.path().contains("Contact")).unwrap().reference_id().to_owned();
        later.absorb(&store, &t, org, &[answer(&reference, 304, Value::Null)], now + chrono::Duration::hours(2)).await;
        assert!(later.fields("Contact").is_some());
        let refreshed = store.describe(&t, org, &ObjectName::parse("Contact").unwrap()).await.unwrap().unwrap();
        assert_eq!(refreshed.fetched_at, now + chrono::Duration::hours(2), "a 304 renews the cached time");
    }

    #[test]
    fn read_only_and_unsupported_fields_are_refused_with_what_to_do() {
        let e = put("Score_Formula__c", json!(1)).unwrap_err();
        assert!(e.reason.contains("read-only") && e.reason.contains("map another field"), "{e}");
        let c = contact();
        let address = c.field("MailingAddress").unwrap();
        assert!(convert("Contact", &FieldInfo { updateable: true, createable: true, ..address.clone() }, &json!("x"), Write::Update).is_err());
        let long = "x".repeat(200);
        assert!(put("Title", json!(long)).unwrap_err().value.chars().count() <= 60, "values are shortened in messages");
    }
}
