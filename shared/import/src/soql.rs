//! The import's queries, written from the settings. Values are quoted for their field's type as
//! the org describes it: text in quotes with SOQL's backslash escapes, numbers and booleans bare,
//! dates and datetimes as the unquoted literals SOQL requires (salesforce.md §6; Salesforce, "Date
//! Formats and Date Literals in WHERE": `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ssZ`).
//!
//! Every query reads in `Id` order after the last id read (`Id > '…' ORDER BY Id LIMIT n`): ids
//! never change, so a page boundary cannot move while records change under a run, and a run that
//! stopped anywhere resumes exactly after its last record.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sfbridge_core::domain::SalesforceId;
use sfbridge_core::store::{FilterCondition, FilterOp, ImportObject};
use sfbridge_salesforce::fields::{FieldType, ObjectFields};
use sfbridge_salesforce::rest::soql_quote;

/// `SELECT Id, SystemModstamp, <fields> FROM <object> WHERE <filter> AND SystemModstamp >= <since>
/// AND Id > '<after>' ORDER BY Id LIMIT <n>`: changed (or, without `since`, all) records.
pub(crate) fn changes(object: &ImportObject, filter: &str, since: Option<DateTime<Utc>>, after: Option<&SalesforceId>, limit: usize) -> String {
    select(&columns(object).join(", "), object, filter, since, after, limit, None)
}

/// What a read of changes selects: `Id`, `SystemModstamp`, then the object's fields.
pub(crate) fn columns(object: &ImportObject) -> Vec<String> {
    let mut fields = vec!["Id".to_owned(), "SystemModstamp".to_owned()];
    fields.extend(object.fields.iter().map(|f| f.as_str().to_owned()));
    fields
}

/// Every record, for a Bulk API 2.0 query job: no `ORDER BY` nor `LIMIT`, which "disable
/// PKChunking" ("Create a Query Job"); the job's results are a snapshot read by locator, so
/// their order does not matter for resuming.
pub(crate) fn bulk_changes(object: &ImportObject, filter: &str) -> String {
    format!("SELECT {} FROM {}{}", columns(object).join(", "), object.object, filter_clause(filter))
}

/// `SELECT COUNT() FROM <object> WHERE <filter>`: how many records a read of every record meets.
pub(crate) fn count(object: &ImportObject, filter: &str) -> String {
    format!("SELECT COUNT() FROM {}{}", object.object, filter_clause(filter))
}

fn filter_clause(filter: &str) -> String {
    if filter.is_empty() {
        String::new()
    } else {
        format!(" WHERE {filter}")
    }
}

/// The records deleted since `since`, for `queryAll` (the recycle bin): `IsDeleted = true`.
pub(crate) fn deletions(object: &ImportObject, filter: &str, since: Option<DateTime<Utc>>, after: Option<&SalesforceId>, limit: usize) -> String {
    select("Id, SystemModstamp", object, filter, since, after, limit, Some("IsDeleted = true"))
}

fn select(
    fields: &str,
    object: &ImportObject,
    filter: &str,
    since: Option<DateTime<Utc>>,
    after: Option<&SalesforceId>,
    limit: usize,
    extra: Option<&str>,
) -> String {
    let mut conditions: Vec<String> = Vec::new();
    if !filter.is_empty() {
        conditions.push(filter.to_owned());
    }
    if let Some(extra) = extra {
        conditions.push(extra.to_owned());
    }
    if let Some(since) = since {
        conditions.push(format!("SystemModstamp >= {}", datetime(since)));
    }
    if let Some(after) = after {
        conditions.push(format!("Id > {}", soql_quote(after.as_str())));
    }
    let mut soql = format!("SELECT {fields} FROM {}", object.object);
    if !conditions.is_empty() {
        soql.push_str(" WHERE ");
        soql.push_str(&conditions.join(" AND "));
    }
    soql.push_str(&format!(" ORDER BY Id LIMIT {limit}"));
    soql
}

/// A datetime literal, to the second (the documented form): reading from a second early only
/// re-reads what the markers then skip.
fn datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The object's filter as a SOQL condition (`""`: none), each value written for its field's type,
/// or what is wrong with it.
pub(crate) fn filter(object: &ImportObject, described: &ObjectFields) -> Result<String, String> {
    let mut parts = Vec::with_capacity(object.filter.len());
    for c in &object.filter {
        let Some(field) = described.field(c.field.as_str()) else {
            return Err(format!("the filter's field {} does not exist on {} (or the connected user cannot see it)", c.field, object.object));
        };
        let literals = c.values.iter().map(|v| literal(v, &field.kind)).collect::<Result<Vec<_>, _>>().map_err(|why| {
            format!("the filter on {}.{} ({}): {why}", object.object, field.name, sfbridge_salesforce::fields::setup_type(field))
        })?;
        parts.push(condition(&field.name, c, &literals));
    }
    Ok(parts.join(" AND "))
}

fn condition(field: &str, c: &FilterCondition, literals: &[String]) -> String {
    let one = || literals.first().cloned().unwrap_or_else(|| "null".into());
    match c.op {
        FilterOp::Eq => format!("{field} = {}", one()),
        FilterOp::Ne => format!("{field} != {}", one()),
        FilterOp::Lt => format!("{field} < {}", one()),
        FilterOp::Lte => format!("{field} <= {}", one()),
        FilterOp::Gt => format!("{field} > {}", one()),
        FilterOp::Gte => format!("{field} >= {}", one()),
        FilterOp::In => format!("{field} IN ({})", literals.join(", ")),
        FilterOp::NotIn => format!("{field} NOT IN ({})", literals.join(", ")),
        FilterOp::StartsWith => {
            // The prefix's own `%` and `_` match themselves: SOQL's `\%` and `\_` in a LIKE
            // pattern ("Comparison Operators", LIKE), added after the string is quoted.
            let prefix = c.values.first().and_then(Value::as_str).unwrap_or_default();
            let quoted = soql_quote(prefix);
            let inner = quoted.get(1..quoted.len() - 1).unwrap_or_default();
            format!("{field} LIKE '{}%'", inner.replace('%', "\\%").replace('_', "\\_"))
        }
    }
}

/// One value as the literal its field's type takes.
fn literal(value: &Value, kind: &FieldType) -> Result<String, String> {
    match (value, kind) {
        (Value::Null, _) => Ok("null".into()),
        (Value::Bool(b), FieldType::Boolean) => Ok(b.to_string()),
        (Value::Number(n), FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent) => Ok(n.to_string()),
        (Value::String(s), FieldType::Date) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| d.format("%Y-%m-%d").to_string())
            .map_err(|_| format!("{s:?} is not a date; give YYYY-MM-DD")),
        (Value::String(s), FieldType::DateTime) => DateTime::parse_from_rfc3339(s)
            .map(|d| datetime(d.with_timezone(&Utc)))
            .map_err(|_| format!("{s:?} is not a date and time; give RFC 3339, e.g. 2026-01-31T09:00:00Z")),
        (Value::String(s), FieldType::Boolean | FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent) => {
            Err(format!("{s:?} is text; give a {}", if *kind == FieldType::Boolean { "boolean" } else { "number" }))
        }
        (Value::String(s), _) => Ok(soql_quote(s)),
        (other, _) => Err(format!("{other} does not fit this field")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use sfbridge_core::domain::{FieldName, ObjectName};

    use super::*;

    fn contact(filter: Value) -> ImportObject {
        ImportObject {
            object: ObjectName::parse("Contact").unwrap(),
            fields: vec![FieldName::parse("Email").unwrap(), FieldName::parse("FirstName").unwrap()],
            filter: serde_json::from_value(filter).unwrap(),
            segment: None,
        }
    }

    fn described() -> ObjectFields {
        let field = |name: &str, kind: &str| json!({"name": name, "type": kind, "label": name});
        ObjectFields::from_describe(
            "Contact",
            &json!({"fields": [field("LeadSource", "picklist"), field("Score__c", "double"), field("Birthdate", "date"),
                field("DoNotCall", "boolean"), field("LastActivityAt__c", "datetime"), field("Title", "string")]}),
        )
        .unwrap()
    }

    #[test]
    fn changes_read_in_id_order_after_the_last_id_since_the_watermark() {
        let since = "2026-12-05T10:00:00.750Z".parse().unwrap();
        let after = SalesforceId::parse("003000000000001AAA").unwrap();
        assert_eq!(
            changes(&contact(json!([])), "LeadSource = 'Web'", Some(since), Some(&after), 2000),
            "SELECT Id, SystemModstamp, Email, FirstName FROM Contact WHERE LeadSource = 'Web' AND SystemModstamp >= \
             2026-12-05T10:00:00Z AND Id > '003000000000001AAA' ORDER BY Id LIMIT 2000"
        );
        assert_eq!(changes(&contact(json!([])), "", None, None, 10), "SELECT Id, SystemModstamp, Email, FirstName FROM Contact ORDER BY Id LIMIT 10");
        assert_eq!(
            bulk_changes(&contact(json!([])), "LeadSource = 'Web'"),
            "SELECT Id, SystemModstamp, Email, FirstName FROM Contact WHERE LeadSource = 'Web'"
        );
        assert_eq!(count(&contact(json!([])), ""), "SELECT COUNT() FROM Contact");
        assert_eq!(count(&contact(json!([])), "DoNotCall = false"), "SELECT COUNT() FROM Contact WHERE DoNotCall = false");
        assert_eq!(
            deletions(&contact(json!([])), "", Some(since), None, 2000),
            "SELECT Id, SystemModstamp FROM Contact WHERE IsDeleted = true AND SystemModstamp >= 2026-12-05T10:00:00Z ORDER BY Id LIMIT 2000"
        );
    }

    #[test]
    fn filter_values_are_written_for_their_field_type() {
        let object = contact(json!([
            {"field": "LeadSource", "op": "in", "values": ["Web", "O'Reilly \\ Partners"]},
            {"field": "Score__c", "op": "gte", "values": [7.5]},
            {"field": "Birthdate", "op": "lt", "values": ["2000-01-01"]},
            {"field": "DoNotCall", "op": "eq", "values": [false]},
            {"field": "LastActivityAt__c", "op": "gt", "values": ["2026-01-31T10:00:00+01:00"]},
            {"field": "Title", "op": "starts_with", "values": ["VP_100%"]},
            {"field": "Title", "op": "ne", "values": [null]}
        ]));
        assert_eq!(
            filter(&object, &described()).unwrap(),
            "LeadSource IN ('Web', 'O\\'Reilly \\\\ Partners') AND Score__c >= 7.5 AND Birthdate < 2000-01-01 AND DoNotCall = false \
             AND LastActivityAt__c > 2026-01-31T09:00:00Z AND Title LIKE 'VP\\_100\\%%' AND Title != null"
        );
    }

    #[test]
    fn a_filter_that_does_not_fit_the_org_says_why() {
        let wrong = |f: Value| filter(&contact(json!([f])), &described()).unwrap_err();
        assert!(wrong(json!({"field": "Nope__c", "op": "eq", "values": ["x"]})).contains("Nope__c does not exist on Contact"));
        assert!(wrong(json!({"field": "Birthdate", "op": "eq", "values": ["yesterday"]})).contains("is not a date; give YYYY-MM-DD"));
        assert!(wrong(json!({"field": "Score__c", "op": "eq", "values": ["7"]})).contains("is text; give a number"));
    }
}
