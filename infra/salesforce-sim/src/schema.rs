//! The objects of the simulated org and their fields (salesforce.md §8): Contact, Lead, Task,
//! Campaign and CampaignMember with the standard fields a connector touches, plus the custom
//! fields a test registers with [`crate::SalesforceSim::add_custom_field`].
//!
//! Names are matched case-insensitively, as Salesforce does in SOQL, URLs and JSON bodies; what
//! the simulator sends back always uses the canonical spelling defined here.

/// A field's data type: what `describe` reports as `type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldKind {
    /// The record id (`Id`).
    Id,
    #[default]
    String,
    Email,
    Boolean,
    Double,
    Int,
    Currency,
    Percent,
    /// `YYYY-MM-DD`.
    Date,
    /// `2026-01-05T17:21:40.000+0000` (input may also use `Z` or `+00:00`).
    DateTime,
    /// An id of another record (lookup).
    Reference,
    TextArea,
    Picklist,
    /// A picklist that also accepts free text, like `Task.Subject`.
    Combobox,
    Phone,
    Url,
}

impl FieldKind {
    /// `type` in describe.
    pub(crate) fn describe_type(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::String => "string",
            Self::Email => "email",
            Self::Boolean => "boolean",
            Self::Double => "double",
            Self::Int => "int",
            Self::Currency => "currency",
            Self::Percent => "percent",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::Reference => "reference",
            Self::TextArea => "textarea",
            Self::Picklist => "picklist",
            Self::Combobox => "combobox",
            Self::Phone => "phone",
            Self::Url => "url",
        }
    }

    /// `soapType` in describe.
    pub(crate) fn soap_type(self) -> &'static str {
        match self {
            Self::Id | Self::Reference => "tns:ID",
            Self::Boolean => "xsd:boolean",
            Self::Double | Self::Currency | Self::Percent => "xsd:double",
            Self::Int => "xsd:int",
            Self::Date => "xsd:date",
            Self::DateTime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }

    /// Text-like: compared case-insensitively, `LIKE` works, values are JSON strings.
    pub(crate) fn is_text(self) -> bool {
        matches!(
            self,
            Self::String | Self::Email | Self::TextArea | Self::Picklist | Self::Combobox | Self::Phone | Self::Url
        )
    }

    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, Self::Double | Self::Int | Self::Currency | Self::Percent)
    }

    /// Holds a record id: compared by id, in its 15- or 18-character form.
    pub(crate) fn is_id(self) -> bool {
        matches!(self, Self::Id | Self::Reference)
    }

    /// The maximum length of a value (`length` in describe); 0 where it does not apply.
    fn default_length(self) -> u32 {
        match self {
            Self::Id | Self::Reference => 18,
            Self::Email => 80,
            Self::Phone => 40,
            Self::TextArea => 32_768,
            Self::String | Self::Picklist | Self::Combobox | Self::Url => 255,
            _ => 0,
        }
    }
}

/// A custom field to add with [`crate::SalesforceSim::add_custom_field`].
///
/// `updateable: false` models a field the integration user can read but not write (field-level
/// security): describe shows it with `createable` and `updateable` false, and writing it fails with
/// `INVALID_FIELD_FOR_INSERT_UPDATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub kind: FieldKind,
    /// An External ID field: usable as the key of an upsert, and `externalId: true` in describe.
    pub external_id: bool,
    /// No two records may hold the same value (compared case-insensitively):
    /// `DUPLICATE_VALUE` otherwise.
    pub unique: bool,
    pub updateable: bool,
}

impl FieldSpec {
    /// A writable field that is neither an external id nor unique.
    pub fn new(kind: FieldKind) -> Self {
        Self { kind, external_id: false, unique: false, updateable: true }
    }

    /// A unique External ID field (Salesforce's "External ID" + "Unique"), the key for idempotent
    /// upserts.
    pub fn unique_external_id(kind: FieldKind) -> Self {
        Self { kind, external_id: true, unique: true, updateable: true }
    }
}

impl Default for FieldSpec {
    fn default() -> Self {
        Self::new(FieldKind::String)
    }
}

/// One field of an object.
#[derive(Clone, Debug)]
pub(crate) struct FieldDef {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) kind: FieldKind,
    pub(crate) length: u32,
    pub(crate) createable: bool,
    pub(crate) updateable: bool,
    pub(crate) nillable: bool,
    /// Must be given on create (and may not be set to null): `REQUIRED_FIELD_MISSING`.
    pub(crate) required: bool,
    /// The value a create without this field stores.
    pub(crate) default: Option<serde_json::Value>,
    /// Filled in by the org on create when absent (`defaultedOnCreate`): a default, the owner, the
    /// audit fields.
    pub(crate) defaulted_on_create: bool,
    pub(crate) custom: bool,
    pub(crate) external_id: bool,
    pub(crate) unique: bool,
    pub(crate) id_lookup: bool,
    pub(crate) name_field: bool,
    /// Computed by the simulator (`Name`, `IsClosed`, roll-ups), never stored from input.
    pub(crate) calculated: bool,
    pub(crate) reference_to: &'static [&'static str],
    pub(crate) relationship_name: Option<&'static str>,
    pub(crate) picklist: &'static [&'static str],
    pub(crate) restricted_picklist: bool,
}

impl FieldDef {
    fn new(name: &str, label: &str, kind: FieldKind) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            kind,
            length: kind.default_length(),
            createable: true,
            updateable: true,
            nillable: kind != FieldKind::Boolean,
            required: false,
            default: (kind == FieldKind::Boolean).then_some(serde_json::Value::Bool(false)),
            defaulted_on_create: kind == FieldKind::Boolean,
            custom: false,
            external_id: false,
            unique: false,
            id_lookup: false,
            name_field: false,
            calculated: false,
            reference_to: &[],
            relationship_name: None,
            picklist: &[],
            restricted_picklist: false,
        }
    }

    /// A custom field as [`FieldSpec`] describes it.
    pub(crate) fn custom(name: &str, spec: FieldSpec) -> Self {
        let label = name.trim_end_matches("__c").replace('_', " ");
        let mut field = Self::new(name, &label, spec.kind);
        field.custom = true;
        field.external_id = spec.external_id;
        field.unique = spec.unique;
        field.id_lookup = spec.external_id || spec.unique;
        field.createable = spec.updateable;
        field.updateable = spec.updateable;
        field
    }

    /// Read-only: neither createable nor updateable.
    fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }

    /// Set on create only.
    fn create_only(mut self) -> Self {
        self.updateable = false;
        self
    }

    fn calculated(mut self) -> Self {
        self.calculated = true;
        self.read_only()
    }

    fn required(mut self) -> Self {
        self.required = true;
        self.nillable = false;
        self
    }

    /// Not nillable, filled in on create when absent.
    fn defaults_to(mut self, value: serde_json::Value) -> Self {
        self.default = Some(value);
        self.system_default()
    }

    /// Not nillable, filled in by the org on create (owner, audit fields).
    fn system_default(mut self) -> Self {
        self.defaulted_on_create = true;
        self.nillable = false;
        self
    }

    fn length(mut self, length: u32) -> Self {
        self.length = length;
        self
    }

    fn id_lookup(mut self) -> Self {
        self.id_lookup = true;
        self
    }

    fn name_field(mut self) -> Self {
        self.name_field = true;
        self.id_lookup = true;
        self
    }

    fn references(mut self, to: &'static [&'static str], relationship: &'static str) -> Self {
        self.reference_to = to;
        self.relationship_name = Some(relationship);
        self
    }

    fn picklist(mut self, values: &'static [&'static str]) -> Self {
        self.picklist = values;
        self
    }

    fn restricted(mut self) -> Self {
        self.restricted_picklist = true;
        self
    }
}

/// One object (sObject type).
#[derive(Clone, Debug)]
pub(crate) struct ObjectDef {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) label_plural: &'static str,
    /// The first three characters of its ids.
    pub(crate) key_prefix: &'static str,
    pub(crate) fields: Vec<FieldDef>,
}

impl ObjectDef {
    /// The field called `name`, in any letter case.
    pub(crate) fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// Every object of the org.
#[derive(Clone, Debug)]
pub(crate) struct Schema {
    objects: Vec<ObjectDef>,
}

impl Default for Schema {
    fn default() -> Self {
        Self { objects: vec![contact(), lead(), task(), campaign(), campaign_member()] }
    }
}

impl Schema {
    /// The object called `name`, in any letter case.
    pub(crate) fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The object whose ids start with `id`'s key prefix.
    pub(crate) fn object_of_id(&self, id: &str) -> Option<&ObjectDef> {
        let prefix = id.get(..3)?;
        self.objects.iter().find(|o| o.key_prefix == prefix)
    }

    pub(crate) fn objects(&self) -> &[ObjectDef] {
        &self.objects
    }

    /// Adds a custom field, replacing a custom field of the same name. Returns false when the
    /// object does not exist or `name` is a standard field's.
    pub(crate) fn add_custom_field(&mut self, object: &str, name: &str, spec: FieldSpec) -> bool {
        let Some(def) = self.objects.iter_mut().find(|o| o.name.eq_ignore_ascii_case(object)) else {
            return false;
        };
        let valid_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return false;
        }
        match def.fields.iter_mut().find(|f| f.name.eq_ignore_ascii_case(name)) {
            // Keeps the stored spelling: records hold their values under it.
            Some(existing) if existing.custom => *existing = FieldDef::custom(&existing.name.clone(), spec),
            Some(_) => return false,
            None => def.fields.push(FieldDef::custom(name, spec)),
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// The standard objects
// ---------------------------------------------------------------------------------------------

use serde_json::json;
use FieldKind as K;

const USER: &[&str] = &["User"];

/// `Id`, ownership and the audit fields every object has.
fn system_fields(label: &str, owned: bool) -> Vec<FieldDef> {
    let mut fields = vec![
        FieldDef::new("Id", &format!("{label} ID"), K::Id).read_only().id_lookup().system_default(),
        FieldDef::new("IsDeleted", "Deleted", K::Boolean).read_only(),
    ];
    if owned {
        fields.push(FieldDef::new("OwnerId", "Owner ID", K::Reference).references(USER, "Owner").system_default());
    }
    fields.extend([
        FieldDef::new("CreatedDate", "Created Date", K::DateTime).read_only().system_default(),
        FieldDef::new("CreatedById", "Created By ID", K::Reference)
            .references(USER, "CreatedBy")
            .read_only()
            .system_default(),
        FieldDef::new("LastModifiedDate", "Last Modified Date", K::DateTime).read_only().system_default(),
        FieldDef::new("LastModifiedById", "Last Modified By ID", K::Reference)
            .references(USER, "LastModifiedBy")
            .read_only()
            .system_default(),
        FieldDef::new("SystemModstamp", "System Modstamp", K::DateTime).read_only().system_default(),
    ]);
    fields
}

/// The person fields Contact and Lead share.
fn person_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::new("FirstName", "First Name", K::String).length(40),
        FieldDef::new("LastName", "Last Name", K::String).length(80).required(),
        FieldDef::new("Name", "Full Name", K::String).length(121).name_field().calculated(),
        FieldDef::new("Title", "Title", K::String).length(128),
        FieldDef::new("Email", "Email", K::Email).id_lookup(),
        FieldDef::new("Phone", "Phone", K::Phone),
        FieldDef::new("HasOptedOutOfEmail", "Email Opt Out", K::Boolean),
        FieldDef::new("DoNotCall", "Do Not Call", K::Boolean),
        FieldDef::new("LeadSource", "Lead Source", K::Picklist).picklist(&[
            "Web",
            "Phone Inquiry",
            "Partner Referral",
            "Purchased List",
            "Other",
        ]),
        FieldDef::new("Description", "Description", K::TextArea).length(32_000),
    ]
}

fn contact() -> ObjectDef {
    let mut fields = system_fields("Contact", true);
    fields.extend(person_fields());
    fields.extend([
        FieldDef::new("AccountId", "Account ID", K::Reference).references(&["Account"], "Account"),
        FieldDef::new("MobilePhone", "Mobile Phone", K::Phone),
        FieldDef::new("IsEmailBounced", "Is Email Bounced", K::Boolean).read_only(),
        FieldDef::new("EmailBouncedReason", "Email Bounced Reason", K::String).read_only(),
        FieldDef::new("EmailBouncedDate", "Email Bounced Date", K::DateTime).read_only(),
    ]);
    ObjectDef { name: "Contact", label: "Contact", label_plural: "Contacts", key_prefix: "003", fields }
}

fn lead() -> ObjectDef {
    let mut fields = system_fields("Lead", true);
    fields.extend(person_fields());
    fields.extend([
        FieldDef::new("Company", "Company", K::String).required(),
        FieldDef::new("Status", "Status", K::Picklist)
            .picklist(&["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"])
            .defaults_to(json!("Open - Not Contacted")),
        FieldDef::new("IsConverted", "Converted", K::Boolean).read_only(),
        FieldDef::new("ConvertedDate", "Converted Date", K::Date).read_only(),
        FieldDef::new("ConvertedContactId", "Converted Contact ID", K::Reference)
            .references(&["Contact"], "ConvertedContact")
            .read_only(),
        FieldDef::new("ConvertedAccountId", "Converted Account ID", K::Reference)
            .references(&["Account"], "ConvertedAccount")
            .read_only(),
        FieldDef::new("ConvertedOpportunityId", "Converted Opportunity ID", K::Reference)
            .references(&["Opportunity"], "ConvertedOpportunity")
            .read_only(),
    ]);
    ObjectDef { name: "Lead", label: "Lead", label_plural: "Leads", key_prefix: "00Q", fields }
}

/// The Task statuses that close a task (the org's `TaskStatus` with `IsClosed`).
pub(crate) const CLOSED_TASK_STATUSES: &[&str] = &["Completed"];

fn task() -> ObjectDef {
    let mut fields = system_fields("Activity", true);
    fields.extend([
        FieldDef::new("WhoId", "Name ID", K::Reference).references(&["Contact", "Lead"], "Who"),
        FieldDef::new("WhatId", "Related To ID", K::Reference)
            .references(&["Account", "Opportunity", "Campaign", "Case"], "What"),
        FieldDef::new("Subject", "Subject", K::Combobox)
            .picklist(&["Call", "Send Letter", "Send Quote", "Other", "Email"])
            .name_field(),
        FieldDef::new("Description", "Description", K::TextArea).length(32_000),
        FieldDef::new("ActivityDate", "Due Date Only", K::Date),
        FieldDef::new("Status", "Status", K::Picklist)
            .picklist(&["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"])
            .defaults_to(json!("Not Started")),
        FieldDef::new("Priority", "Priority", K::Picklist)
            .picklist(&["High", "Normal", "Low"])
            .defaults_to(json!("Normal")),
        FieldDef::new("Type", "Type", K::Picklist).picklist(&["Call", "Email", "Meeting", "Other"]),
        FieldDef::new("TaskSubtype", "Task Subtype", K::Picklist)
            .picklist(&["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"])
            .restricted()
            .create_only()
            .defaults_to(json!("Task")),
        FieldDef::new("IsClosed", "Closed", K::Boolean).calculated(),
        FieldDef::new("IsHighPriority", "High Priority", K::Boolean).calculated(),
        FieldDef::new("CompletedDateTime", "Completed Date/Time", K::DateTime).read_only(),
        FieldDef::new("AccountId", "Account ID", K::Reference).references(&["Account"], "Account").read_only(),
    ]);
    ObjectDef { name: "Task", label: "Task", label_plural: "Tasks", key_prefix: "00T", fields }
}

fn campaign() -> ObjectDef {
    let mut fields = system_fields("Campaign", true);
    fields.extend([
        FieldDef::new("Name", "Name", K::String).length(80).name_field().required(),
        FieldDef::new("Status", "Status", K::Picklist)
            .picklist(&["Planned", "In Progress", "Completed", "Aborted"])
            .defaults_to(json!("Planned")),
        FieldDef::new("Type", "Type", K::Picklist).picklist(&[
            "Email",
            "Webinar",
            "Conference",
            "Advertisement",
            "Other",
        ]),
        FieldDef::new("IsActive", "Active", K::Boolean),
        FieldDef::new("StartDate", "Start Date", K::Date),
        FieldDef::new("EndDate", "End Date", K::Date),
        FieldDef::new("ParentId", "Parent Campaign ID", K::Reference).references(&["Campaign"], "Parent"),
        FieldDef::new("Description", "Description", K::TextArea).length(32_000),
        FieldDef::new("NumberSent", "Num Sent in Campaign", K::Double),
        FieldDef::new("ExpectedRevenue", "Expected Revenue in Campaign", K::Currency),
        FieldDef::new("BudgetedCost", "Budgeted Cost in Campaign", K::Currency),
        FieldDef::new("ActualCost", "Actual Cost in Campaign", K::Currency),
        FieldDef::new("NumberOfContacts", "Contacts in Campaign", K::Int).calculated(),
        FieldDef::new("NumberOfLeads", "Leads in Campaign", K::Int).calculated(),
        FieldDef::new("NumberOfResponses", "Responses in Campaign", K::Int).calculated(),
    ]);
    ObjectDef { name: "Campaign", label: "Campaign", label_plural: "Campaigns", key_prefix: "701", fields }
}

/// The CampaignMember statuses that count as a response (`CampaignMemberStatus.HasResponded`).
pub(crate) const RESPONDED_MEMBER_STATUSES: &[&str] = &["Responded"];

fn campaign_member() -> ObjectDef {
    let mut fields = system_fields("Campaign Member", false);
    fields.extend([
        FieldDef::new("CampaignId", "Campaign ID", K::Reference)
            .references(&["Campaign"], "Campaign")
            .create_only()
            .required(),
        FieldDef::new("ContactId", "Contact ID", K::Reference).references(&["Contact"], "Contact").create_only(),
        FieldDef::new("LeadId", "Lead ID", K::Reference).references(&["Lead"], "Lead").create_only(),
        FieldDef::new("LeadOrContactId", "Contact or Lead ID", K::Reference)
            .references(&["Contact", "Lead"], "LeadOrContact")
            .calculated(),
        FieldDef::new("Status", "Status", K::Picklist).picklist(&["Sent", "Responded"]).defaults_to(json!("Sent")),
        FieldDef::new("HasResponded", "Responded", K::Boolean).calculated(),
        FieldDef::new("FirstRespondedDate", "First Responded Date", K::Date).read_only(),
    ]);
    ObjectDef {
        name: "CampaignMember",
        label: "Campaign Member",
        label_plural: "Campaign Members",
        key_prefix: "00v",
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_custom_fields_do_not_shadow_standard_ones() {
        let mut schema = Schema::default();
        assert_eq!(schema.object("contact").map(|o| o.name), Some("Contact"));
        assert_eq!(schema.object_of_id("00Q000000000001").map(|o| o.name), Some("Lead"));
        assert!(schema.add_custom_field("Task", "Email_Event_Id__c", FieldSpec::unique_external_id(K::String)));
        assert!(!schema.add_custom_field("Task", "subject", FieldSpec::default()));
        assert!(!schema.add_custom_field("Account", "X__c", FieldSpec::default()));
        assert!(!schema.add_custom_field("Task", "bad name", FieldSpec::default()));
        let task = schema.object("TASK");
        let field = task.and_then(|t| t.field("email_event_id__c"));
        assert!(field.is_some_and(|f| f.external_id && f.unique && f.custom));
    }
}
