//! Finding the Contact or Lead each email belongs to: SOQL built in chunks, and the rules that
//! pick one record when several match.
//!
//! **Duplicate rule.** Email is not unique in Salesforce. Among the records of one kind that share
//! an address, the oldest wins (`CreatedDate`, then `Id`): it never changes as records are
//! edited, so an address keeps landing on the same record. Which kind wins is the tenant's match
//! policy. A converted Lead is never written to (Salesforce refuses that); it stands for the
//! Contact it was converted into.

use std::collections::HashMap;

use serde_json::{Map, Value};

use sfbridge_core::domain::{Email, FieldName, SalesforceId};
use sfbridge_salesforce::rest::soql_quote;
use sfbridge_core::store::MatchPolicy;

/// SOQL statements may be 100,000 characters; chunks stay far below (and each travels in a
/// Composite body, so the 16 KB URI limit of a GET query does not apply).
pub(crate) const MAX_SOQL_CHARS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TargetKind {
    Contact,
    Lead,
    /// A `campaign_update`'s Campaign (never the result of an email lookup).
    Campaign,
}

impl TargetKind {
    pub fn sobject(self) -> &'static str {
        match self {
            Self::Contact => "Contact",
            Self::Lead => "Lead",
            Self::Campaign => "Campaign",
        }
    }
}

/// The record an email's activity lands on, with the current values of the mapped fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: SalesforceId,
    pub kind: TargetKind,
    pub fields: Map<String, Value>,
}

/// One lookup query and the emails it asks about (so a failed query fails only their events).
#[derive(Debug, Clone)]
pub struct Lookup {
    pub kind: TargetKind,
    pub soql: String,
    pub emails: Vec<Email>,
}

/// The queries that look up `emails` (one per chunk and object the policy needs), selecting the
/// mapped fields so updates can build on their current values.
pub fn lookups(emails: &[Email], policy: MatchPolicy, mapped: &[FieldName]) -> Vec<Lookup> {
    let mut kinds = vec![TargetKind::Contact];
    if policy.matches_leads() {
        kinds.push(TargetKind::Lead);
    }
    let extra: String = mapped.iter().map(|f| format!(", {f}")).collect();
    let mut queries = Vec::new();
    for (chunk, chunk_emails) in chunk_literals(emails, MAX_SOQL_CHARS - 300 - extra.len()) {
        for kind in &kinds {
            let lead_fields = if *kind == TargetKind::Lead { ", IsConverted, ConvertedContactId" } else { "" };
            let soql = format!(
                "SELECT Id, Email, CreatedDate{lead_fields}{extra} FROM {} WHERE Email IN ({chunk}) ORDER BY CreatedDate ASC, Id ASC",
                kind.sobject()
            );
            queries.push(Lookup { kind: *kind, soql, emails: chunk_emails.clone() });
        }
    }
    queries
}

/// [`lookups`] as (kind, SOQL) pairs.
#[cfg(test)]
fn lookup_queries(emails: &[Email], policy: MatchPolicy, mapped: &[FieldName]) -> Vec<(TargetKind, String)> {
    lookups(emails, policy, mapped).into_iter().map(|l| (l.kind, l.soql)).collect()
}

/// Contacts by id (for converted Leads whose Contact has another email).
pub(crate) fn contacts_by_id_query(ids: &[SalesforceId], mapped: &[FieldName]) -> String {
    let extra: String = mapped.iter().map(|f| format!(", {f}")).collect();
    let list: Vec<String> = ids.iter().map(|id| soql_quote(id.as_str())).collect();
    format!("SELECT Id, Email, CreatedDate{extra} FROM Contact WHERE Id IN ({})", list.join(", "))
}

/// Comma-separated quoted literals, each list at most `budget` characters, with the emails in it.
fn chunk_literals(emails: &[Email], budget: usize) -> Vec<(String, Vec<Email>)> {
    let mut chunks = Vec::new();
    let mut current = (String::new(), Vec::new());
    for email in emails {
        let literal = soql_quote(email.as_str());
        if !current.0.is_empty() && current.0.len() + 2 + literal.len() > budget {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.0.is_empty() {
            current.0.push_str(", ");
        }
        current.0.push_str(&literal);
        current.1.push(email.clone());
    }
    if !current.0.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// What the lookups found for one email, oldest first within each list.
#[derive(Debug, Default)]
struct Found {
    contacts: Vec<Value>,
    open_leads: Vec<Value>,
    converted_to: Vec<SalesforceId>,
}

/// Picks each email's target by the policy and the duplicate rule. Converted Leads whose
/// Contact was not among `contacts` are returned separately: look them up by id, then call
/// [`follow_conversions`].
pub fn resolve(
    policy: MatchPolicy,
    contacts: &[Value],
    leads: &[Value],
) -> (HashMap<Email, Target>, HashMap<Email, SalesforceId>) {
    let mut found: HashMap<Email, Found> = HashMap::new();
    for c in sorted(contacts) {
        if let Some(email) = email_of(c) {
            found.entry(email).or_default().contacts.push(c.clone());
        }
    }
    for l in sorted(leads) {
        let Some(email) = email_of(l) else { continue };
        if l.get("IsConverted").and_then(Value::as_bool).unwrap_or(false) {
            if let Some(contact) = id_field(l, "ConvertedContactId") {
                found.entry(email).or_default().converted_to.push(contact);
            }
        } else {
            found.entry(email).or_default().open_leads.push(l.clone());
        }
    }
    let contacts_by_id: HashMap<SalesforceId, &Value> =
        contacts.iter().filter_map(|c| id_field(c, "Id").map(|id| (id, c))).collect();

    let mut targets = HashMap::new();
    let mut unresolved = HashMap::new();
    for (email, f) in found {
        let contact = f.contacts.first().and_then(|c| target(c, TargetKind::Contact));
        let lead = f.open_leads.first().and_then(|l| target(l, TargetKind::Lead));
        let picked = match policy {
            MatchPolicy::ContactOnly => contact,
            MatchPolicy::ContactThenLead => contact.or(lead),
            MatchPolicy::LeadThenContact => lead.or(contact),
        };
        if let Some(t) = picked {
            targets.insert(email, t);
        } else if let Some(converted) = f.converted_to.first() {
            match contacts_by_id.get(converted).and_then(|c| target(c, TargetKind::Contact)) {
                Some(t) => {
                    targets.insert(email, t);
                }
                None => {
                    unresolved.insert(email, converted.clone());
                }
            }
        }
    }
    (targets, unresolved)
}

/// Completes [`resolve`] with the Contacts of converted Leads, looked up by id.
pub(crate) fn follow_conversions(
    targets: &mut HashMap<Email, Target>,
    unresolved: HashMap<Email, SalesforceId>,
    contacts: &[Value],
) {
    let by_id: HashMap<SalesforceId, &Value> =
        contacts.iter().filter_map(|c| id_field(c, "Id").map(|id| (id, c))).collect();
    for (email, id) in unresolved {
        if let Some(t) = by_id.get(&id).and_then(|c| target(c, TargetKind::Contact)) {
            targets.insert(email, t);
        }
    }
}

fn sorted(records: &[Value]) -> Vec<&Value> {
    let mut v: Vec<&Value> = records.iter().collect();
    let key = |r: &&Value| {
        (
            r.get("CreatedDate").and_then(Value::as_str).unwrap_or("").to_owned(),
            r.get("Id").and_then(Value::as_str).unwrap_or("").to_owned(),
        )
    };
    v.sort_by_key(key);
    v
}

fn email_of(record: &Value) -> Option<Email> {
    record.get("Email").and_then(Value::as_str).and_then(|e| Email::parse(e).ok())
}

fn id_field(record: &Value, field: &str) -> Option<SalesforceId> {
    record.get(field).and_then(Value::as_str).and_then(|id| SalesforceId::parse(id).ok())
}

fn target(record: &Value, kind: TargetKind) -> Option<Target> {
    let id = id_field(record, "Id")?;
    let mut fields = record.as_object().cloned().unwrap_or_default();
    fields.remove("attributes");
    Some(Target { id, kind, fields })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn queries_are_chunked_below_the_limit_and_quote_emails() {
        let emails: Vec<Email> = (0..2000).map(|i| email(&format!("person.{i}@example.com"))).collect();
        let queries = lookup_queries(&emails, MatchPolicy::ContactThenLead, &[]);
        assert!(queries.len() >= 4 && queries.len() % 2 == 0, "{}", queries.len());
        assert!(queries.iter().all(|(_, q)| q.len() <= MAX_SOQL_CHARS));
        let listed: usize = queries.iter().filter(|(k, _)| *k == TargetKind::Contact).map(|(_, q)| q.matches('@').count()).sum();
        assert_eq!(listed, 2000);
        let q = lookup_queries(&[email("o'brien@example.com")], MatchPolicy::ContactOnly, &[]);
        assert_eq!(q.len(), 1);
        assert!(q[0].1.contains(r"'o\'brien@example.com'"), "{}", q[0].1);
    }

    #[test]
    fn the_oldest_record_wins_and_policy_picks_the_kind() {
        let contacts = [
            json!({"Id":"003000000000002","Email":"Ada@Example.com","CreatedDate":"2024-05-01T00:00:00.000+0000"}),
            json!({"Id":"003000000000001","Email":"ada@example.com","CreatedDate":"2023-01-01T00:00:00.000+0000"}),
        ];
        let leads = [json!({"Id":"00Q000000000001","Email":"ada@example.com","CreatedDate":"2022-01-01T00:00:00.000+0000","IsConverted":false})];
        let (t, _) = resolve(MatchPolicy::ContactOnly, &contacts, &leads);
        assert_eq!(&t[&email("ada@example.com")].id.as_str()[..15], "003000000000001");
        let (t, _) = resolve(MatchPolicy::LeadThenContact, &contacts, &leads);
        assert_eq!(t[&email("ada@example.com")].kind, TargetKind::Lead);
        let (t, _) = resolve(MatchPolicy::ContactThenLead, &[], &leads);
        assert_eq!(t[&email("ada@example.com")].kind, TargetKind::Lead);
    }

    #[test]
    fn converted_leads_stand_for_their_contact() {
        let leads = [json!({"Id":"00Q000000000001","Email":"bob@example.com","CreatedDate":"2022-01-01T00:00:00.000+0000",
            "IsConverted":true,"ConvertedContactId":"003000000000009"})];
        let (mut t, unresolved) = resolve(MatchPolicy::LeadThenContact, &[], &leads);
        assert!(t.is_empty());
        assert_eq!(unresolved.len(), 1);
        follow_conversions(&mut t, unresolved, &[json!({"Id":"003000000000009","Email":"robert@example.com"})]);
        assert_eq!(&t[&email("bob@example.com")].id.as_str()[..15], "003000000000009");
        assert_eq!(t[&email("bob@example.com")].kind, TargetKind::Contact);
    }
}
