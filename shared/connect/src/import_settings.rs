//! The `import` part of the settings: which objects flow into the product, which of their fields,
//! which records (a structured filter the import turns into SOQL itself, never a WHERE string),
//! the product segment each object's records go to, and the schedule. Checked here like the rest
//! of the settings; the fields are checked against the org by Test Fields and at each run.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sfbridge_core::domain::{FieldName, ObjectName, SegmentName};
use sfbridge_core::store::{FilterCondition, FilterOp, ImportObject, ImportSchedule, ImportSettings};

use crate::settings::Problems;

/// Objects one tenant imports, fields read per object, conditions per filter, values per `in`.
const MAX_OBJECTS: usize = 10;
const MAX_FIELDS: usize = 100;
const MAX_CONDITIONS: usize = 10;
const MAX_VALUES: usize = 100;
/// A filter value is a Salesforce field value: text fields hold at most 255 characters.
const MAX_VALUE_LEN: usize = 255;
/// Read on every record whatever the settings say: the record's identity and change stamp.
pub(crate) const ALWAYS_READ: [&str; 2] = ["Id", "SystemModstamp"];

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    /// `off`, `hourly` (the default once an object is configured) or `daily`.
    pub schedule: Option<ImportSchedule>,
    pub objects: Option<Vec<ImportObjectInput>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportObjectInput {
    pub object: String,
    pub fields: Option<Vec<String>>,
    pub filter: Option<Vec<FilterInput>>,
    pub segment: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterInput {
    pub field: String,
    pub op: FilterOp,
    pub values: Vec<Value>,
}

impl From<&ImportSettings> for ImportInput {
    fn from(settings: &ImportSettings) -> Self {
        let objects = settings
            .objects
            .iter()
            .map(|o| ImportObjectInput {
                object: o.object.as_str().to_owned(),
                fields: Some(o.fields.iter().map(|f| f.as_str().to_owned()).collect()),
                filter: Some(
                    o.filter.iter().map(|c| FilterInput { field: c.field.as_str().to_owned(), op: c.op, values: c.values.clone() }).collect(),
                ),
                segment: o.segment.as_ref().map(|s| s.as_str().to_owned()),
            })
            .collect();
        Self { schedule: settings.schedule, objects: Some(objects) }
    }
}

pub(crate) fn import_settings(problems: &mut Problems, input: Option<&ImportInput>) -> ImportSettings {
    let Some(input) = input else { return ImportSettings::default() };
    let given = input.objects.as_deref().unwrap_or_default();
    if given.len() > MAX_OBJECTS {
        problems.add("import.objects", format!("{} objects; at most {MAX_OBJECTS}", given.len()));
        return ImportSettings::default();
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut objects = Vec::with_capacity(given.len());
    for (i, o) in given.iter().enumerate() {
        let at = format!("import.objects[{i}]");
        let object = match ObjectName::parse(o.object.trim()) {
            Ok(object) => object,
            Err(e) => {
                problems.add(&format!("{at}.object"), format!("{e}, e.g. Contact, Lead or Engagement_Event__c"));
                continue;
            }
        };
        if !seen.insert(object.as_str().to_ascii_lowercase()) {
            problems.add(&format!("{at}.object"), format!("{object} is listed twice; give each object once"));
        }
        let fields = fields(problems, &at, o.fields.as_deref());
        let filter = filter(problems, &at, o.filter.as_deref());
        let segment = match o.segment.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => SegmentName::parse(raw).map_err(|e| problems.add(&format!("{at}.segment"), e)).ok(),
        };
        objects.push(ImportObject { object, fields, filter, segment });
    }
    ImportSettings { schedule: input.schedule, objects }
}

fn fields(problems: &mut Problems, at: &str, given: Option<&[String]>) -> Vec<FieldName> {
    let given = given.unwrap_or_default();
    if given.len() > MAX_FIELDS {
        problems.add(&format!("{at}.fields"), format!("{} fields; at most {MAX_FIELDS}", given.len()));
        return Vec::new();
    }
    let mut fields: Vec<FieldName> = Vec::with_capacity(given.len());
    for (j, raw) in given.iter().enumerate() {
        match FieldName::parse(raw.trim()) {
            // Id and SystemModstamp are read anyway.
            Ok(name) if ALWAYS_READ.iter().any(|a| name.as_str().eq_ignore_ascii_case(a)) => {}
            Ok(name) if fields.iter().any(|f| f.same_field(&name)) => {}
            Ok(name) => fields.push(name),
            Err(e) => problems.add(&format!("{at}.fields[{j}]"), format!("{e}; give the field's API name, e.g. Email")),
        }
    }
    fields
}

fn filter(problems: &mut Problems, at: &str, given: Option<&[FilterInput]>) -> Vec<FilterCondition> {
    let given = given.unwrap_or_default();
    if given.len() > MAX_CONDITIONS {
        problems.add(&format!("{at}.filter"), format!("{} conditions; at most {MAX_CONDITIONS} (all must hold)", given.len()));
        return Vec::new();
    }
    let mut conditions = Vec::with_capacity(given.len());
    for (j, c) in given.iter().enumerate() {
        let path = format!("{at}.filter[{j}]");
        let field = match FieldName::parse(c.field.trim()) {
            Ok(field) => field,
            Err(e) => {
                problems.add(&format!("{path}.field"), e);
                continue;
            }
        };
        if let Err(why) = check_values(c.op, &c.values) {
            problems.add(&format!("{path}.values"), why);
            continue;
        }
        conditions.push(FilterCondition { field, op: c.op, values: c.values.clone() });
    }
    conditions
}

/// One scalar for a comparison, 1 to 100 for `in`/`not_in`; `null` only to test for (no) value;
/// `starts_with` takes text.
fn check_values(op: FilterOp, values: &[Value]) -> Result<(), String> {
    match (op.takes_many(), values.len()) {
        (true, 0) => return Err("give 1 or more values to compare with".into()),
        (true, n) if n > MAX_VALUES => return Err(format!("{n} values; at most {MAX_VALUES}")),
        (false, n) if n != 1 => return Err(format!("give exactly one value for this operator ({n} given); use in or not_in for a list")),
        _ => {}
    }
    for value in values {
        match value {
            Value::String(s) if s.chars().count() > MAX_VALUE_LEN => return Err(format!("a value is over {MAX_VALUE_LEN} characters")),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            Value::Null if matches!(op, FilterOp::Eq | FilterOp::Ne) => {}
            Value::Null => return Err("null compares only with eq or ne (the field has a value or not)".into()),
            _ => return Err("values are strings, numbers or booleans".into()),
        }
        if op == FilterOp::StartsWith && !value.is_string() {
            return Err("starts_with compares text: give a string".into());
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(input: Value) -> Result<ImportSettings, String> {
        let input: ImportInput = serde_json::from_value(input).map_err(|e| e.to_string())?;
        let mut problems = Problems::default();
        let settings = import_settings(&mut problems, Some(&input));
        problems.into_result(settings).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_object_setting_is_kept_and_id_and_modstamp_are_implied() {
        let settings = check(json!({"objects": [{"object": "Contact", "fields": ["Email", "Id", "FirstName", "email"],
            "filter": [{"field": "LeadSource", "op": "in", "values": ["Web", "Partner"]}], "segment": "Salesforce Contacts"}]}))
        .unwrap();
        let o = &settings.objects[0];
        assert_eq!(o.fields.iter().map(FieldName::as_str).collect::<Vec<_>>(), ["Email", "FirstName"]);
        assert_eq!(o.segment.as_ref().unwrap().as_str(), "Salesforce Contacts");
        assert_eq!(settings.effective_schedule(), ImportSchedule::Hourly, "hourly by default once enabled");
        assert_eq!(check(json!({})).unwrap().effective_schedule(), ImportSchedule::Off);
    }

    #[test]
    fn every_problem_is_named_by_its_place() {
        let e = check(json!({"objects": [
            {"object": "Contact; DROP", "fields": ["Email"]},
            {"object": "Lead", "fields": ["Bad Field"], "filter": [
                {"field": "Status", "op": "eq", "values": ["Open", "New"]},
                {"field": "Rating", "op": "gt", "values": [null]},
                {"field": "Company", "op": "starts_with", "values": [3]},
                {"field": "Industry", "op": "in", "values": []}]},
            {"object": "lead"}
        ]}))
        .unwrap_err();
        for expected in [
            "import.objects[0].object:",
            "import.objects[1].fields[0]:",
            "import.objects[1].filter[0].values: give exactly one value",
            "import.objects[1].filter[1].values: null compares only with eq or ne",
            "import.objects[1].filter[2].values: starts_with compares text",
            "import.objects[1].filter[3].values: give 1 or more values",
            "import.objects[2].object: lead is listed twice",
        ] {
            assert!(e.contains(expected), "{expected:?} in {e}");
        }
        assert!(check(json!({"objects": [{"object": "Contact", "filter": [{"field": "X", "op": "like", "values": ["a"]}]}]})).is_err());
    }
}
