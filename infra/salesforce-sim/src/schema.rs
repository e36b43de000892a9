//! The objects of the simulated org and their fields (salesforce.md §8): Contact, Lead, Task,
//! Campaign and CampaignMember with the standard fields a connector touches, plus the custom
//! fields and custom objects a test registers with [`crate::SalesforceSim::add_custom_field`] and
//! [`crate::SalesforceSim::add_custom_object`], namespaced ones (`ns__Name__c`) included.
//!
//! Standard fields carry the metadata the Field Reference lists for them (lengths: Title 128,
//! FirstName 40, LastName 80, Company 255, Email 80, Phone 40, standard picklists 40; Campaign's
//! cost fields currency(18, 0)). Campaign `Status` has the standard values Planned, In Progress,
//! Completed and Aborted (salesforce.md §8.4), unrestricted as every picklist is unless an admin
//! restricts it (Metadata API, `Picklist.restrictedPicklist`: "By default this value is false");
//! [`crate::SalesforceSim::set_picklist_values`] plays that admin. Each object keeps when its
//! metadata last changed, for describe's `If-Modified-Since`.
//!
//! Names are matched case-insensitively, as Salesforce does in SOQL, URLs and JSON bodies; what
//! the simulator sends back always uses the canonical spelling defined here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// `(precision, scale, digits)` in describe.
    fn default_digits(self) -> (u32, u32, u32) {
        match self {
            Self::Double | Self::Currency | Self::Percent => (18, 2, 0),
            Self::Int => (0, 0, 9),
            _ => (0, 0, 0),
        }
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

/// A custom field to add with [`crate::SalesforceSim::add_custom_field`], with the metadata
/// describe reports and writes are checked against.
///
/// `updateable: false` ([`Self::read_only`]) models a field the integration user can read but not
/// write (a formula, a roll-up, or field-level security): describe shows it with `createable` and
/// `updateable` false, and writing it fails with `INVALID_FIELD_FOR_INSERT_UPDATE`.
///
/// Lengths and digits are the API's, as describe reports them (Field Reference, "Precision" and
/// "Scale"): the New Custom Field screen's Number "Length 3, Decimal Places 0" is
/// `with_digits(3, 0)`, and its "Length 16, Decimal Places 2" is `with_digits(18, 2)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub kind: FieldKind,
    /// An External ID field: usable as the key of an upsert, and `externalId: true` in describe.
    pub external_id: bool,
    /// No two records may hold the same value (compared case-insensitively):
    /// `DUPLICATE_VALUE` otherwise.
    pub unique: bool,
    /// Writable by the integration user; false also makes it not createable.
    pub updateable: bool,
    /// Maximum characters of a text value (`length`); `None`: the type's (255 for a custom Text
    /// field, Text's maximum; 80 for Email; 40 for Phone; 32,768 for Long Text Area).
    pub length: Option<u32>,
    /// `(precision, scale)` of a Number, Currency or Percent field; for `Int`, `precision` is its
    /// `digits`. `None`: precision 18, scale 2 (`Int`: 9 digits).
    pub digits: Option<(u32, u32)>,
    /// The values of a picklist (`Picklist`, `Combobox`), in order; all active, none the default.
    pub picklist: Vec<String>,
    /// "Restrict picklist to the values defined in the value set": any other value fails with
    /// `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`.
    pub restricted_picklist: bool,
    /// "Required": `nillable` false, and a create without it fails with `REQUIRED_FIELD_MISSING`.
    pub required: bool,
}

impl FieldSpec {
    /// A writable field that is neither an external id nor unique.
    pub fn new(kind: FieldKind) -> Self {
        Self {
            kind,
            external_id: false,
            unique: false,
            updateable: true,
            length: None,
            digits: None,
            picklist: Vec::new(),
            restricted_picklist: false,
            required: false,
        }
    }

    /// A unique External ID field (Salesforce's "External ID" + "Unique"), the key for idempotent
    /// upserts.
    pub fn unique_external_id(kind: FieldKind) -> Self {
        Self { external_id: true, unique: true, ..Self::new(kind) }
    }

    /// At most `length` characters (a text field's `length`).
    pub fn with_length(mut self, length: u32) -> Self {
        self.length = Some(length);
        self
    }

    /// A number with `precision` digits in all, `scale` of them after the decimal point: a value
    /// with more than `precision - scale` digits before it fails with `NUMBER_OUTSIDE_VALID_RANGE`.
    /// For an `Int` field, `precision` is its `digits`.
    pub fn with_digits(mut self, precision: u32, scale: u32) -> Self {
        self.digits = Some((precision, scale));
        self
    }

    /// The picklist's values; `restricted`: no other value may be saved.
    pub fn with_picklist(mut self, values: &[&str], restricted: bool) -> Self {
        self.picklist = values.iter().map(|v| (*v).to_owned()).collect();
        self.restricted_picklist = restricted;
        self
    }

    /// Readable, not writable: `createable` and `updateable` false.
    pub fn read_only(mut self) -> Self {
        self.updateable = false;
        self
    }

    /// Required on create (and never null).
    pub fn required(mut self) -> Self {
        self.required = true;
        self
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
    /// Maximum characters of a text value; 0 where it does not apply.
    pub(crate) length: u32,
    /// A number's digits in all and after the point (Double, Currency, Percent); 0 otherwise.
    pub(crate) precision: u32,
    pub(crate) scale: u32,
    /// An `Int`'s digits; 0 otherwise.
    pub(crate) digits: u32,
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
    pub(crate) picklist: Vec<String>,
    pub(crate) restricted_picklist: bool,
}

impl FieldDef {
    fn new(name: &str, label: &str, kind: FieldKind) -> Self {
        let (precision, scale, digits) = kind.default_digits();
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            kind,
            length: kind.default_length(),
            precision,
            scale,
            digits,
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
            picklist: Vec::new(),
            restricted_picklist: false,
        }
    }

    /// A custom field as [`FieldSpec`] describes it.
    pub(crate) fn custom(name: &str, spec: FieldSpec) -> Self {
        let mut field = Self::new(name, &custom_label(name), spec.kind);
        field.custom = true;
        field.external_id = spec.external_id;
        field.unique = spec.unique;
        field.id_lookup = spec.external_id || spec.unique;
        field.createable = spec.updateable;
        field.updateable = spec.updateable;
        if let Some(length) = spec.length.filter(|_| field.length > 0) {
            field.length = length;
        }
        match (spec.digits, spec.kind) {
            (Some((precision, _)), FieldKind::Int) => field.digits = precision,
            (Some((precision, scale)), kind) if kind.is_numeric() => {
                field.precision = precision;
                field.scale = scale;
            }
            _ => {}
        }
        field.picklist = spec.picklist;
        field.restricted_picklist = spec.restricted_picklist;
        if spec.required {
            field = field.required();
        }
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

    /// A standard picklist's values. Standard picklists are 40 characters long (Field Reference,
    /// e.g. Lead: `Industry`, `ActionCadenceState`: picklist, length 40); a combobox keeps 255.
    fn picklist(mut self, values: &[&str]) -> Self {
        self.picklist = values.iter().map(|v| (*v).to_owned()).collect();
        if self.kind == FieldKind::Picklist {
            self.length = 40;
        }
        self
    }

    /// A number's precision and scale.
    fn digits(mut self, precision: u32, scale: u32) -> Self {
        self.precision = precision;
        self.scale = scale;
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
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) label_plural: String,
    /// The first three characters of its ids.
    pub(crate) key_prefix: String,
    pub(crate) fields: Vec<FieldDef>,
    /// A custom object (`__c`): `custom: true` in describe, `Name` defaults to the record's id.
    pub(crate) custom: bool,
    /// When its metadata last changed (a field added or changed, a picklist edited): what describe's
    /// `If-Modified-Since` is compared with.
    pub(crate) metadata_modified: SystemTime,
}

impl ObjectDef {
    fn standard(name: &str, label: &str, label_plural: &str, key_prefix: &str, fields: Vec<FieldDef>) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            label_plural: label_plural.to_owned(),
            key_prefix: key_prefix.to_owned(),
            fields,
            custom: false,
            metadata_modified: standard_metadata_modified(),
        }
    }

    /// The field called `name`, in any letter case.
    pub(crate) fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// When the standard objects' metadata last changed: 2020-01-01T00:00:00Z, well before any test
/// starts, so a describe fetched at any time is current until a test changes the object.
pub(crate) fn standard_metadata_modified() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_577_836_800)
}

/// Every object of the org.
#[derive(Clone, Debug)]
pub(crate) struct Schema {
    objects: Vec<ObjectDef>,
    /// Custom objects created so far (for their key prefixes).
    custom_objects: u32,
}

impl Default for Schema {
    fn default() -> Self {
        Self { objects: vec![contact(), lead(), task(), campaign(), campaign_member()], custom_objects: 0 }
    }
}

impl Schema {
    /// The object called `name`, in any letter case.
    pub(crate) fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    fn object_mut(&mut self, name: &str) -> Option<&mut ObjectDef> {
        self.objects.iter_mut().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The object whose ids start with `id`'s key prefix.
    pub(crate) fn object_of_id(&self, id: &str) -> Option<&ObjectDef> {
        let prefix = id.get(..3)?;
        self.objects.iter().find(|o| o.key_prefix == prefix)
    }

    pub(crate) fn objects(&self) -> &[ObjectDef] {
        &self.objects
    }

    /// When any object's metadata last changed (`GET …/sobjects` with `If-Modified-Since`).
    pub(crate) fn metadata_modified(&self) -> SystemTime {
        self.objects.iter().map(|o| o.metadata_modified).max().unwrap_or_else(standard_metadata_modified)
    }

    /// Adds a custom field, replacing a custom field of the same name. Returns false when the
    /// object does not exist, `name` is not a custom field's API name (`Name__c`, `ns__Name__c`),
    /// or it is a standard field's.
    pub(crate) fn add_custom_field(&mut self, object: &str, name: &str, spec: FieldSpec, now: SystemTime) -> bool {
        if !is_custom_name(name) {
            return false;
        }
        let Some(def) = self.object_mut(object) else { return false };
        match def.fields.iter_mut().find(|f| f.name.eq_ignore_ascii_case(name)) {
            // Keeps the stored spelling: records hold their values under it.
            Some(existing) if existing.custom => *existing = FieldDef::custom(&existing.name.clone(), spec),
            Some(_) => return false,
            None => def.fields.push(FieldDef::custom(name, spec)),
        }
        def.metadata_modified = now;
        true
    }

    /// Adds a custom object with the fields every custom object has (Object Reference, "Custom
    /// Object__c": `Id`, `Name` (Text(80)), `OwnerId`, `IsDeleted`, `CreatedDate`, `CreatedById`,
    /// `LastModifiedDate`, `LastModifiedById`, `SystemModstamp`). Its ids start with `a00`, `a01`,
    /// … in creation order, as custom objects' key prefixes do. False when `name` is not a custom
    /// object's API name or the object exists.
    pub(crate) fn add_custom_object(&mut self, name: &str, label: &str, now: SystemTime) -> bool {
        if !is_custom_name(name) || self.object(name).is_some() {
            return false;
        }
        let n = self.custom_objects;
        self.custom_objects += 1;
        let key_prefix = format!("a{}", crate::ids::base62(u64::from(n), 2));
        let mut fields = system_fields(label, true);
        fields.insert(
            1,
            FieldDef::new("Name", &format!("{label} Name"), K::String).length(80).name_field().system_default(),
        );
        self.objects.push(ObjectDef {
            name: name.to_owned(),
            label: label.to_owned(),
            label_plural: format!("{label}s"),
            key_prefix,
            fields,
            custom: true,
            metadata_modified: now,
        });
        true
    }

    /// Replaces a picklist field's values (standard or custom), as an admin editing its value
    /// set would. False when the object or field is unknown or not a picklist.
    pub(crate) fn set_picklist(
        &mut self,
        object: &str,
        field: &str,
        values: &[&str],
        restricted: bool,
        now: SystemTime,
    ) -> bool {
        let Some(def) = self.object_mut(object) else { return false };
        let Some(target) = def.fields.iter_mut().find(|f| f.name.eq_ignore_ascii_case(field)) else { return false };
        if !matches!(target.kind, FieldKind::Picklist | FieldKind::Combobox) {
            return false;
        }
        target.picklist = values.iter().map(|v| (*v).to_owned()).collect();
        target.restricted_picklist = restricted;
        // A default that is no longer a value is no longer the default.
        if target.default.as_ref().and_then(serde_json::Value::as_str).is_some_and(|d| !values.contains(&d)) {
            target.default = None;
        }
        def.metadata_modified = now;
        true
    }
}

/// A custom field's or custom object's API name: `Name__c`, or `ns__Name__c` with a managed
/// package's namespace prefix (salesforce.md §8.5). As Salesforce's Field Name and Object Name
/// rules say: the name begins with a letter, holds only letters, digits and underscores, does not
/// end with an underscore and has no two consecutive underscores, in at most 40 characters; a
/// namespace prefix follows the same rules in at most 15. The `__c` suffix is matched in any case,
/// as API names are.
pub(crate) fn is_custom_name(name: &str) -> bool {
    let Some(stem) = name.len().checked_sub(3).and_then(|at| name.get(..at)).filter(|_| {
        name.get(name.len() - 3..).is_some_and(|suffix| suffix.eq_ignore_ascii_case("__c"))
    }) else {
        return false;
    };
    let part = |text: &str, max: usize| {
        text.len() <= max
            && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !text.ends_with('_')
            && !text.contains("__")
    };
    match stem.split_once("__") {
        None => part(stem, 40),
        Some((namespace, base)) => part(namespace, 15) && part(base, 40),
    }
}

/// The label Setup would suggest for a custom field: its name without namespace and `__c`,
/// underscores as spaces (`ns__NPS_Score__c` → `NPS Score`).
fn custom_label(name: &str) -> String {
    let stem = name.get(..name.len().saturating_sub(3)).unwrap_or(name);
    let base = stem.rsplit_once("__").map_or(stem, |(_, base)| base);
    base.replace('_', " ")
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
    ObjectDef::standard("Contact", "Contact", "Contacts", "003", fields)
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
    ObjectDef::standard("Lead", "Lead", "Leads", "00Q", fields)
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
    ObjectDef::standard("Task", "Task", "Tasks", "00T", fields)
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
        // Field Reference, Campaign: these are (18, 0).
        FieldDef::new("NumberSent", "Num Sent in Campaign", K::Double).digits(18, 0),
        FieldDef::new("ExpectedRevenue", "Expected Revenue in Campaign", K::Currency).digits(18, 0),
        FieldDef::new("BudgetedCost", "Budgeted Cost in Campaign", K::Currency).digits(18, 0),
        FieldDef::new("ActualCost", "Actual Cost in Campaign", K::Currency).digits(18, 0),
        FieldDef::new("NumberOfContacts", "Contacts in Campaign", K::Int).calculated(),
        FieldDef::new("NumberOfLeads", "Leads in Campaign", K::Int).calculated(),
        FieldDef::new("NumberOfResponses", "Responses in Campaign", K::Int).calculated(),
    ]);
    ObjectDef::standard("Campaign", "Campaign", "Campaigns", "701", fields)
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
    ObjectDef::standard("CampaignMember", "Campaign Member", "Campaign Members", "00v", fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_custom_fields_do_not_shadow_standard_ones() {
        let now = SystemTime::now();
        let mut schema = Schema::default();
        assert_eq!(schema.object("contact").map(|o| o.name.as_str()), Some("Contact"));
        assert_eq!(schema.object_of_id("00Q000000000001").map(|o| o.name.as_str()), Some("Lead"));
        assert!(schema.add_custom_field("Task", "Email_Event_Id__c", FieldSpec::unique_external_id(K::String), now));
        assert!(!schema.add_custom_field("Task", "subject", FieldSpec::default(), now));
        assert!(!schema.add_custom_field("Account", "X__c", FieldSpec::default(), now));
        assert!(!schema.add_custom_field("Task", "bad name", FieldSpec::default(), now));
        let task = schema.object("TASK");
        let field = task.and_then(|t| t.field("email_event_id__c"));
        assert!(field.is_some_and(|f| f.external_id && f.unique && f.custom));
        assert_eq!(task.map(|t| t.metadata_modified), Some(now));
        assert_eq!(schema.object("Lead").map(|o| o.metadata_modified), Some(standard_metadata_modified()));
    }

    #[test]
    fn custom_names_follow_salesforces_rules() {
        for good in ["Score__c", "NPS_Score__c", "ns__NPS_Score__c", "A1__C", "sfb__Product_Event__c"] {
            assert!(is_custom_name(good), "{good}");
        }
        for bad in [
            "Score", "Score__x", "__c", "1Score__c", "Score___c", "NPS__Score__X__c", "_Score__c", "Sco re__c",
            "a__b__c__c", "ns_x_y_z_w_v_u_t__F__c", "Score_Name_That_Is_Far_Too_Long_For_Salesforce__c",
        ] {
            assert!(!is_custom_name(bad), "{bad}");
        }
        assert_eq!(custom_label("ns__NPS_Score__c"), "NPS Score");
        assert_eq!(custom_label("Clicks__c"), "Clicks");
    }

    #[test]
    fn custom_objects_get_system_fields_and_their_own_key_prefixes() {
        let now = SystemTime::now();
        let mut schema = Schema::default();
        assert!(schema.add_custom_object("Product_Event__c", "Product Event", now));
        assert!(schema.add_custom_object("ns__Obj__c", "Obj", now));
        assert!(!schema.add_custom_object("product_event__c", "Again", now));
        assert!(!schema.add_custom_object("Product_Event", "No suffix", now));
        let def = schema.object("PRODUCT_EVENT__C");
        assert_eq!(def.map(|d| d.key_prefix.as_str()), Some("a00"));
        assert_eq!(schema.object("ns__Obj__c").map(|d| d.key_prefix.as_str()), Some("a01"));
        let names: Vec<&str> = def.map(|d| d.fields.iter().map(|f| f.name.as_str()).collect()).unwrap_or_default();
        assert_eq!(
            names,
            [
                "Id", "Name", "IsDeleted", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate",
                "LastModifiedById", "SystemModstamp"
            ]
        );
        assert!(schema.add_custom_field("ns__Obj__c", "ns__Ext__c", FieldSpec::unique_external_id(K::String), now));
        assert_eq!(schema.object_of_id("a01000000000001").map(|o| o.name.as_str()), Some("ns__Obj__c"));
    }
}
