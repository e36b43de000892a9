//! The org's data: the records of every object, in memory, and the rules Salesforce applies when
//! they are written (salesforce.md §5.4, §7.1, §8).
//!
//! A record is a JSON object keyed by canonical field names. Writes go through [`Org::create`],
//! [`Org::update`] and [`Org::upsert`], which check, in Salesforce's order: unknown fields
//! (`INVALID_FIELD`), fields the write may not set (`INVALID_FIELD_FOR_INSERT_UPDATE`: not
//! createable on a create, not updateable on an update, an upsert being one or the other), values
//! (email format, `STRING_TOO_LONG`, `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`,
//! `NUMBER_OUTSIDE_VALID_RANGE`; see `check_values`), required fields, references (`INVALID_CROSS_REFERENCE_KEY`,
//! `ENTITY_IS_DELETED`, `CANNOT_UPDATE_CONVERTED_LEAD`), object rules and unique fields
//! (`DUPLICATE_VALUE`). Each failure is a [`RecordError`], the per-record error shape of sObject
//! Collections. Before any of that, a value that cannot be read as its field's type (a JSON
//! object for a number, `"2026-13-01"` for a date, `"yes"` for a checkbox) fails the whole request
//! with `JSON_PARSER_ERROR`, see [`Org::check_types`].
//!
//! All-or-none: between [`Org::begin`] and [`Org::commit`], every change is logged so that
//! [`Org::rollback`] can undo it (ids minted meanwhile stay burnt, as in Salesforce). Transactions
//! nest like savepoints: a Composite request with `allOrNone` wraps sObject Collections
//! subrequests that open their own; rolling back the inner one undoes only its changes, and
//! committing it keeps its changes in the outer log so the outer rollback still undoes them.
//!
//! Deleting a record moves it to the recycle bin (`IsDeleted` true, a new `SystemModstamp`):
//! reads by id answer `ENTITY_IS_DELETED`, `query` skips it and `queryAll` returns it. Salesforce
//! keeps it there 15 days ([`RECYCLE_BIN_RETENTION`]) and then erases it for good; the simulator
//! does the same on its clock ([`Org::expire_recycle_bin`], run before reads and writes).
//!
//! Ids are minted in creation order and sort that way, so a `BTreeMap` by id keeps each object's
//! records in creation order. Unique and External ID fields are indexed (value → ids), so
//! duplicate checks and upserts stay fast in benchmarks with many records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::datetime;
use crate::ids;
use crate::schema::{
    FieldDef, FieldKind, FieldSpec, ObjectDef, Schema, CLOSED_TASK_STATUSES, RESPONDED_MEMBER_STATUSES,
};

/// How long deleted records stay in the recycle bin before Salesforce erases them: 15 days
/// (Salesforce Help, "Recycle Bin": "The Recycle Bin keeps deleted items for 15 days, after which
/// they are permanently deleted"; SOAP API `queryAll()`: deleted records are returned "until they
/// are permanently removed from the Recycle Bin").
pub(crate) const RECYCLE_BIN_RETENTION: Duration = Duration::from_secs(15 * 24 * 60 * 60);

/// A record's fields, keyed by canonical field name.
pub(crate) type Fields = Map<String, Value>;

/// One error of one record: `{"statusCode","message","fields"}` (salesforce.md §5.2, shape 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RecordError {
    #[serde(rename = "statusCode")]
    pub(crate) status_code: String,
    pub(crate) message: String,
    pub(crate) fields: Vec<String>,
}

impl RecordError {
    pub(crate) fn new(status_code: &str, message: impl Into<String>, fields: Vec<String>) -> Self {
        Self { status_code: status_code.to_owned(), message: message.into(), fields }
    }

    /// A body value that does not fit its field's type. Salesforce rejects the whole request
    /// (HTTP 400 `JSON_PARSER_ERROR`) while reading the body; see [`Org::check_types`].
    fn parser(message: String) -> Self {
        Self::new("JSON_PARSER_ERROR", message, Vec::new())
    }

    pub(crate) fn invalid_type(object: &str) -> Self {
        Self::new("INVALID_TYPE", format!("sObject type '{object}' is not supported."), Vec::new())
    }

    fn no_such_column(field: &str, object: &str) -> Self {
        Self::new("INVALID_FIELD", format!("No such column '{field}' on sobject of type {object}"), Vec::new())
    }

    fn cross_reference(field: &str) -> Self {
        Self::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", vec![field.to_owned()])
    }

    fn entity_deleted() -> Self {
        Self::new("ENTITY_IS_DELETED", "entity is deleted", Vec::new())
    }

    fn converted_lead(fields: Vec<String>) -> Self {
        Self::new("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", fields)
    }
}

/// Who writes, and when (the session's user; the simulator's clock).
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    pub(crate) user_id: String,
    pub(crate) now: SystemTime,
}

/// What looking up a record by id finds.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Fields),
    /// In the recycle bin.
    Deleted,
    Missing,
}

/// Why an upsert failed.
#[derive(Debug)]
pub(crate) enum UpsertError {
    Record(RecordError),
    /// The external id matched several records (single-record upsert answers 300 with their URLs).
    Ambiguous(Vec<String>),
}

#[derive(Debug)]
enum Undo {
    Inserted { object: String, id: String },
    Replaced { object: String, id: String, before: Fields },
    Deleted { object: String, id: String, before: Fields },
}

/// The org's objects and records.
#[derive(Debug, Default)]
pub(crate) struct Org {
    pub(crate) schema: Schema,
    data: Data,
}

#[derive(Debug, Default)]
struct Data {
    live: HashMap<String, BTreeMap<String, Fields>>,
    deleted: HashMap<String, BTreeMap<String, Fields>>,
    /// When each record in `deleted` was deleted, by id: it is erased [`RECYCLE_BIN_RETENTION`]
    /// later.
    deleted_at: HashMap<String, SystemTime>,
    minted: u64,
    /// The changes made inside the open transactions, oldest first.
    undo: Vec<Undo>,
    /// One per open transaction, innermost last: the length of `undo` when it began.
    savepoints: Vec<usize>,
    /// For each unique or External ID field, `(object, field)`: value key → ids of the live
    /// records holding it. Maintained by [`Data::put`] and [`Data::remove`], the only writers of
    /// `live`.
    index: HashMap<(String, String), HashMap<String, BTreeSet<String>>>,
    /// Validation rules an admin added: `(object, field, value, message)`; a record of `object`
    /// whose `field` equals `value` cannot be saved.
    validation_rules: Vec<(String, String, Value, String)>,
}

impl Org {
    // -----------------------------------------------------------------------------------------
    // Transactions
    // -----------------------------------------------------------------------------------------

    /// Starts a transaction (inside the current one, if any): changes are logged for
    /// [`Self::rollback`].
    pub(crate) fn begin(&mut self) {
        self.data.savepoints.push(self.data.undo.len());
    }

    /// Keeps the changes since the matching [`Self::begin`]. Inside an outer transaction they stay
    /// logged, so that the outer one can still roll them back.
    pub(crate) fn commit(&mut self) {
        self.data.savepoints.pop();
        if self.data.savepoints.is_empty() {
            self.data.undo.clear();
        }
    }

    /// Undoes every change since the matching [`Self::begin`].
    pub(crate) fn rollback(&mut self) {
        let Self { schema, data } = self;
        let Some(mark) = data.savepoints.pop() else { return };
        let log = data.undo.split_off(mark.min(data.undo.len()));
        for entry in log.into_iter().rev() {
            let (object, id, before) = match entry {
                Undo::Inserted { object, id } => (object, id, None),
                Undo::Replaced { object, id, before } => (object, id, Some(before)),
                Undo::Deleted { object, id, before } => {
                    if let Some(table) = data.deleted.get_mut(&object) {
                        table.remove(&id);
                    }
                    data.deleted_at.remove(&id);
                    (object, id, Some(before))
                }
            };
            let Some(def) = schema.object(&object) else { continue };
            data.remove(def, &id);
            if let Some(before) = before {
                data.put(def, id, before);
            }
        }
    }

    /// Adds a validation rule: saving a `object` record whose `field` equals `value` fails with
    /// `FIELD_CUSTOM_VALIDATION_EXCEPTION` and `message`, as an org's own rule would.
    pub(crate) fn add_validation_rule(&mut self, object: &str, field: &str, value: Value, message: &str) {
        self.data.validation_rules.push((object.to_owned(), field.to_owned(), value, message.to_owned()));
    }

    /// Adds (or replaces) a custom field, and indexes it if it is unique or an External ID.
    pub(crate) fn add_custom_field(&mut self, object: &str, name: &str, spec: FieldSpec, now: SystemTime) -> bool {
        if !self.schema.add_custom_field(object, name, spec, now) {
            return false;
        }
        if let Some(def) = self.schema.object(object) {
            self.data.reindex(def);
        }
        true
    }

    // -----------------------------------------------------------------------------------------
    // Reads
    // -----------------------------------------------------------------------------------------

    /// A record by id (15 or 18 characters) of `object`, with its computed fields.
    pub(crate) fn get(&self, object: &ObjectDef, id: &str) -> Lookup {
        let Some(id) = ids::normalize(id).filter(|id| id.starts_with(&object.key_prefix)) else {
            return Lookup::Missing;
        };
        if let Some(stored) = self.data.live.get(&object.name).and_then(|t| t.get(&id)) {
            return Lookup::Found(self.view(object, stored));
        }
        if self.data.deleted.get(&object.name).is_some_and(|t| t.contains_key(&id)) {
            return Lookup::Deleted;
        }
        Lookup::Missing
    }

    /// Every record of `object` in creation order, with computed fields; the recycle bin's too
    /// (`IsDeleted` true) when `include_deleted`.
    pub(crate) fn rows(&self, object: &ObjectDef, include_deleted: bool) -> Vec<Fields> {
        self.rows_where(object, include_deleted, true, |_| true)
    }

    /// The rows that pass `keep`. With `on_stored`, `keep` sees the stored fields (enough when it
    /// reads no computed field, and much cheaper: only the kept rows are expanded); otherwise it
    /// sees the full rows.
    pub(crate) fn rows_where(
        &self,
        object: &ObjectDef,
        include_deleted: bool,
        on_stored: bool,
        keep: impl Fn(&Fields) -> bool,
    ) -> Vec<Fields> {
        let mut rows: Vec<(&String, Fields)> = Vec::new();
        let tables = std::iter::once(&self.data.live).chain(include_deleted.then_some(&self.data.deleted));
        for table in tables {
            let Some(records) = table.get(&object.name) else { continue };
            for (id, stored) in records {
                if on_stored && !keep(stored) {
                    continue;
                }
                let row = self.view(object, stored);
                if on_stored || keep(&row) {
                    rows.push((id, row));
                }
            }
        }
        rows.sort_by(|a, b| a.0.cmp(b.0));
        rows.into_iter().map(|(_, fields)| fields).collect()
    }

    /// A stored record with every field of the object (null when unset) and the computed ones.
    fn view(&self, object: &ObjectDef, stored: &Fields) -> Fields {
        let mut out: Fields = object
            .fields
            .iter()
            .map(|f| (f.name.clone(), stored.get(&f.name).cloned().unwrap_or(Value::Null)))
            .collect();
        let text = |name: &str| stored.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        match object.name.as_str() {
            "Contact" | "Lead" => {
                let name =
                    [text("FirstName"), text("LastName")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
                out.insert("Name".into(), json!(name.join(" ")));
            }
            "Task" => {
                out.insert("IsClosed".into(), json!(CLOSED_TASK_STATUSES.contains(&text("Status").as_str())));
                out.insert("IsHighPriority".into(), json!(text("Priority") == "High"));
            }
            "CampaignMember" => {
                let person = stored.get("ContactId").filter(|v| !v.is_null()).or_else(|| stored.get("LeadId"));
                out.insert("LeadOrContactId".into(), person.cloned().unwrap_or(Value::Null));
                out.insert("HasResponded".into(), json!(RESPONDED_MEMBER_STATUSES.contains(&text("Status").as_str())));
            }
            "Campaign" => {
                let id = text("Id");
                let members = self.data.live.get("CampaignMember").into_iter().flat_map(|t| t.values());
                let (mut contacts, mut leads, mut responses) = (0, 0, 0);
                for member in members.filter(|m| m.get("CampaignId").and_then(Value::as_str) == Some(id.as_str())) {
                    if member.get("ContactId").is_some_and(|v| !v.is_null()) {
                        contacts += 1;
                    } else {
                        leads += 1;
                    }
                    let status = member.get("Status").and_then(Value::as_str).unwrap_or_default();
                    if RESPONDED_MEMBER_STATUSES.contains(&status) {
                        responses += 1;
                    }
                }
                out.insert("NumberOfContacts".into(), json!(contacts));
                out.insert("NumberOfLeads".into(), json!(leads));
                out.insert("NumberOfResponses".into(), json!(responses));
            }
            _ => {}
        }
        out
    }

    // -----------------------------------------------------------------------------------------
    // Writes
    // -----------------------------------------------------------------------------------------

    /// The first body value that does not fit its field's type, as Salesforce's JSON parser
    /// reports it; unknown fields are left to the write (they fail per record).
    pub(crate) fn check_types(&self, object: &str, body: &Fields) -> Result<(), String> {
        let Some(def) = self.schema.object(object) else { return Ok(()) };
        for (key, value) in body {
            if let Some(field) = def.field(key) {
                coerce(field, value)?;
            }
        }
        Ok(())
    }

    /// Creates a record; returns its id.
    pub(crate) fn create(&mut self, object: &str, body: &Fields, writer: &Writer) -> Result<String, RecordError> {
        let Self { schema, data } = self;
        let def = schema.object(object).ok_or_else(|| RecordError::invalid_type(object))?;
        let mut values = Fields::new();
        let mut read_only = Vec::new();
        for (key, value) in body {
            if key == "attributes" {
                continue;
            }
            if key.eq_ignore_ascii_case("Id") {
                return Err(RecordError::new(
                    "INVALID_FIELD",
                    "cannot specify Id in an insert call",
                    vec!["Id".into()],
                ));
            }
            let field = def.field(key).ok_or_else(|| RecordError::no_such_column(key, &def.name))?;
            if !field.createable {
                read_only.push(field.name.clone());
                continue;
            }
            values.insert(field.name.clone(), coerce(field, value).map_err(RecordError::parser)?);
        }
        if !read_only.is_empty() {
            return Err(not_writable(read_only));
        }
        fill_defaults(def, &mut values, writer);
        let changed: Vec<String> = values.keys().cloned().collect();
        check_values(def, &values, &changed)?;
        check_required(def, &values)?;
        data.check_references(schema, def, &mut values, &changed)?;
        data.check_rules(def, &values, None)?;
        data.check_unique(def, &values, &changed, None)?;
        Ok(data.store_new(def, values, writer))
    }

    /// Stores a record without Salesforce's checks, for seeding from a test: field names are
    /// matched case-insensitively and unknown ones ignored; defaults and system fields are filled
    /// in. `None` for an unknown object.
    pub(crate) fn insert_unchecked(&mut self, object: &str, body: &Fields, writer: &Writer) -> Option<String> {
        let Self { schema, data } = self;
        let def = schema.object(object)?;
        let mut values = Fields::new();
        for (key, value) in body {
            if let Some(field) = def.field(key).filter(|f| !f.calculated && f.name != "Id") {
                values.insert(field.name.clone(), coerce(field, value).unwrap_or_else(|_| value.clone()));
            }
        }
        fill_defaults(def, &mut values, writer);
        Some(data.store_new(def, values, writer))
    }

    /// Updates a record; returns its canonical id.
    pub(crate) fn update(
        &mut self,
        object: &str,
        id: &str,
        body: &Fields,
        writer: &Writer,
    ) -> Result<String, RecordError> {
        let Self { schema, data } = self;
        let def = schema.object(object).ok_or_else(|| RecordError::invalid_type(object))?;
        let malformed = || {
            RecordError::new(
                "MALFORMED_ID",
                format!("{} ID: id value of incorrect type: {id}", def.label),
                vec!["Id".into()],
            )
        };
        let id = ids::normalize(id).filter(|n| n.starts_with(&def.key_prefix)).ok_or_else(malformed)?;
        let Some(before) = data.live.get(&def.name).and_then(|t| t.get(&id)).cloned() else {
            let deleted = data.deleted.get(&def.name).is_some_and(|t| t.contains_key(&id));
            return Err(if deleted { RecordError::entity_deleted() } else { RecordError::cross_reference("Id") });
        };
        if before.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(RecordError::converted_lead(Vec::new()));
        }
        let mut values = before.clone();
        let mut changed = Vec::new();
        let mut read_only = Vec::new();
        for (key, value) in body {
            if key == "attributes" || key.eq_ignore_ascii_case("Id") {
                continue;
            }
            let field = def.field(key).ok_or_else(|| RecordError::no_such_column(key, &def.name))?;
            if !field.updateable {
                read_only.push(field.name.clone());
                continue;
            }
            values.insert(field.name.clone(), coerce(field, value).map_err(RecordError::parser)?);
            changed.push(field.name.clone());
        }
        if !read_only.is_empty() {
            return Err(not_writable(read_only));
        }
        check_values(def, &values, &changed)?;
        check_required(def, &values)?;
        data.check_references(schema, def, &mut values, &changed)?;
        data.check_rules(def, &values, Some(&id))?;
        data.check_unique(def, &values, &changed, Some(&id))?;

        let now = datetime::format_datetime(writer.now);
        values.insert("LastModifiedDate".into(), json!(now));
        values.insert("SystemModstamp".into(), json!(now));
        values.insert("LastModifiedById".into(), json!(writer.user_id));
        transitions(def, Some(&before), &mut values, writer);
        data.remove(def, &id);
        data.put(def, id.clone(), values);
        data.log(Undo::Replaced { object: def.name.clone(), id: id.clone(), before });
        Ok(id)
    }

    /// Creates or updates the record whose `key_field` (an External ID field) equals `key`;
    /// returns its id and whether it was created.
    pub(crate) fn upsert(
        &mut self,
        object: &str,
        key_field: &str,
        key: &Value,
        body: &Fields,
        writer: &Writer,
    ) -> Result<(String, bool), UpsertError> {
        let def = self.schema.object(object).ok_or_else(|| UpsertError::Record(RecordError::invalid_type(object)))?;
        let field = def
            .field(key_field)
            .filter(|f| f.external_id)
            .ok_or_else(|| {
                UpsertError::Record(RecordError::new(
                    "INVALID_FIELD",
                    format!("Field name provided, {key_field} is not an External ID or indexed field for {}", def.name),
                    Vec::new(),
                ))
            })?
            .clone();
        let key = coerce(&field, key).map_err(|m| UpsertError::Record(RecordError::parser(m)))?;
        if key.is_null() || key.as_str() == Some("") {
            let message = format!("{} not specified", field.name);
            return Err(UpsertError::Record(RecordError::new("MISSING_ARGUMENT", message, vec![field.name.clone()])));
        }
        let matches: Vec<String> = self.data.holders(&def.name, &field.name, &key).cloned().collect();
        let object_name = def.name.clone();
        // The key travels in the URL (or the record); the body may repeat it.
        let mut body: Fields = body
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(&field.name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match matches.as_slice() {
            [] => {
                body.insert(field.name.clone(), key);
                self.create(&object_name, &body, writer).map(|id| (id, true)).map_err(UpsertError::Record)
            }
            [id] => self.update(&object_name, id, &body, writer).map(|id| (id, false)).map_err(UpsertError::Record),
            _ => Err(UpsertError::Ambiguous(matches)),
        }
    }

    /// Moves a record to the recycle bin at `at`: `IsDeleted` true and `SystemModstamp` `at` (the
    /// deletion is a change `queryAll … WHERE SystemModstamp > watermark` must see;
    /// `LastModifiedDate` keeps the last user edit). Returns false for an unknown or already
    /// deleted id.
    pub(crate) fn delete(&mut self, id: &str, at: SystemTime) -> bool {
        let Some(id) = ids::normalize(id) else { return false };
        let Some(def) = self.schema.object_of_id(&id) else { return false };
        let object = def.name.clone();
        let Some(mut before) = self.data.remove(def, &id) else { return false };
        self.data.log(Undo::Deleted { object: object.clone(), id: id.clone(), before: before.clone() });
        before.insert("IsDeleted".into(), json!(true));
        before.insert("SystemModstamp".into(), json!(datetime::format_datetime(at)));
        self.data.deleted_at.insert(id.clone(), at);
        self.data.deleted.entry(object).or_default().insert(id, before);
        true
    }

    /// Erases the records deleted [`RECYCLE_BIN_RETENTION`] or longer before `now`: no read finds
    /// them any more, `queryAll` included.
    pub(crate) fn expire_recycle_bin(&mut self, now: SystemTime) {
        let Data { deleted, deleted_at, .. } = &mut self.data;
        if deleted_at.is_empty() {
            return;
        }
        deleted_at.retain(|id, at| {
            let kept = now.duration_since(*at).map_or(true, |age| age < RECYCLE_BIN_RETENTION);
            if !kept {
                for table in deleted.values_mut() {
                    table.remove(id);
                }
            }
            kept
        });
    }

    /// Erases every record in the recycle bin, as "Empty your Recycle Bin" does; returns how many.
    pub(crate) fn empty_recycle_bin(&mut self) -> usize {
        self.data.deleted.clear();
        let erased = self.data.deleted_at.len();
        self.data.deleted_at.clear();
        erased
    }

    /// The records of `object` in the recycle bin, in creation order, with computed fields.
    pub(crate) fn recycle_bin(&self, object: &ObjectDef) -> Vec<Fields> {
        let records = self.data.deleted.get(&object.name).into_iter().flat_map(|t| t.values());
        records.map(|stored| self.view(object, stored)).collect()
    }

    /// Marks a Lead converted into a Contact, as Lead Convert does. False when either is missing
    /// or the Lead is already converted.
    pub(crate) fn convert_lead(&mut self, lead_id: &str, contact_id: &str, now: SystemTime) -> bool {
        let (Some(lead_id), Some(contact_id)) = (ids::normalize(lead_id), ids::normalize(contact_id)) else {
            return false;
        };
        if !self.data.live.get("Contact").is_some_and(|t| t.contains_key(&contact_id)) {
            return false;
        }
        // Written in place: none of the fields it sets is indexed.
        let Some(lead) = self.data.live.get_mut("Lead").and_then(|t| t.get_mut(&lead_id)) else { return false };
        if lead.get("IsConverted") == Some(&Value::Bool(true)) {
            return false;
        }
        let stamp = datetime::format_datetime(now);
        lead.insert("IsConverted".into(), json!(true));
        lead.insert("ConvertedContactId".into(), json!(contact_id));
        lead.insert("ConvertedDate".into(), json!(datetime::format_date(now)));
        lead.insert("Status".into(), json!("Closed - Converted"));
        lead.insert("LastModifiedDate".into(), json!(stamp));
        lead.insert("SystemModstamp".into(), json!(stamp));
        true
    }
}

impl Data {
    /// Mints the id, stamps the system fields and stores a new record.
    fn store_new(&mut self, def: &ObjectDef, mut values: Fields, writer: &Writer) -> String {
        self.minted += 1;
        let id = ids::mint(&def.key_prefix, 1_000_000 + self.minted);
        let now = datetime::format_datetime(writer.now);
        values.insert("Id".into(), json!(id));
        // A custom object record saved without a Name is named by its id.
        if def.custom && values.get("Name").is_none_or(|name| name.is_null() || name.as_str() == Some("")) {
            values.insert("Name".into(), json!(id));
        }
        values.insert("IsDeleted".into(), json!(false));
        for field in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            values.insert(field.into(), json!(now));
        }
        for field in ["CreatedById", "LastModifiedById"] {
            values.insert(field.into(), json!(writer.user_id));
        }
        transitions(def, None, &mut values, writer);
        self.put(def, id.clone(), values);
        self.log(Undo::Inserted { object: def.name.clone(), id: id.clone() });
        id
    }

    /// Stores a live record and indexes it. The record must not be stored already.
    fn put(&mut self, def: &ObjectDef, id: String, fields: Fields) {
        for field in def.fields.iter().filter(|f| f.unique || f.external_id) {
            if let Some(value) = fields.get(&field.name).filter(|v| !v.is_null()) {
                let ids = self.index.entry((def.name.clone(), field.name.clone())).or_default();
                ids.entry(value_key(value)).or_default().insert(id.clone());
            }
        }
        self.live.entry(def.name.clone()).or_default().insert(id, fields);
    }

    /// Removes a live record and its index entries; returns it.
    fn remove(&mut self, def: &ObjectDef, id: &str) -> Option<Fields> {
        let fields = self.live.get_mut(&def.name)?.remove(id)?;
        for field in def.fields.iter().filter(|f| f.unique || f.external_id) {
            let Some(value) = fields.get(&field.name).filter(|v| !v.is_null()) else { continue };
            if let Some(values) = self.index.get_mut(&(def.name.clone(), field.name.clone())) {
                let key = value_key(value);
                if let Some(ids) = values.get_mut(&key) {
                    ids.remove(id);
                    if ids.is_empty() {
                        values.remove(&key);
                    }
                }
            }
        }
        Some(fields)
    }

    /// Rebuilds an object's index entries (after its fields changed).
    fn reindex(&mut self, def: &ObjectDef) {
        self.index.retain(|(object, _), _| *object != def.name);
        let records = self.live.remove(&def.name).unwrap_or_default();
        for (id, fields) in records {
            self.put(def, id, fields);
        }
    }

    /// Ids of the live records whose indexed `field` holds `value` (ignoring case).
    fn holders(&self, object: &str, field: &str, value: &Value) -> impl Iterator<Item = &String> {
        self.index
            .get(&(object.to_owned(), field.to_owned()))
            .and_then(|values| values.get(&value_key(value)))
            .into_iter()
            .flatten()
    }

    fn log(&mut self, entry: Undo) {
        if !self.savepoints.is_empty() {
            self.undo.push(entry);
        }
    }

    fn is_live(&self, object: &str, id: &str) -> Option<&Fields> {
        self.live.get(object).and_then(|t| t.get(id))
    }

    fn is_deleted(&self, object: &str, id: &str) -> bool {
        self.deleted.get(object).is_some_and(|t| t.contains_key(id))
    }

    /// Reference fields among `changed` must point at live records of their target objects
    /// (checked for the objects the simulator has; other targets, such as Account or User, take
    /// any well-formed id). Stored in canonical 18-character form.
    fn check_references(
        &self,
        schema: &Schema,
        def: &ObjectDef,
        values: &mut Fields,
        changed: &[String],
    ) -> Result<(), RecordError> {
        for name in changed {
            let Some(field) = def.field(name).filter(|f| f.kind == FieldKind::Reference) else { continue };
            let Some(text) = values.get(name).and_then(Value::as_str).map(str::to_owned) else { continue };
            let id = ids::normalize(&text).ok_or_else(|| RecordError::cross_reference(name))?;
            let target = schema.object_of_id(&id);
            match target {
                Some(target) if field.reference_to.contains(&target.name.as_str()) => {
                    if self.is_deleted(&target.name, &id) {
                        return Err(RecordError::entity_deleted());
                    }
                    let record = self.is_live(&target.name, &id).ok_or_else(|| RecordError::cross_reference(name))?;
                    if record.get("IsConverted") == Some(&Value::Bool(true)) {
                        return Err(RecordError::converted_lead(vec![name.clone()]));
                    }
                }
                // One of our objects, but not one this field may point at.
                Some(_) => return Err(RecordError::cross_reference(name)),
                None => {
                    let simulated_only = field.reference_to.iter().all(|t| schema.object(t).is_some());
                    if simulated_only {
                        return Err(RecordError::cross_reference(name));
                    }
                }
            }
            values.insert(name.clone(), json!(id));
        }
        Ok(())
    }

    /// Rules specific to one object.
    fn check_rules(&self, def: &ObjectDef, values: &Fields, self_id: Option<&str>) -> Result<(), RecordError> {
        let text = |name: &str| values.get(name).and_then(Value::as_str);
        for (object, field, value, message) in &self.validation_rules {
            if *object == def.name && values.get(field.as_str()) == Some(value) {
                return Err(RecordError::new("FIELD_CUSTOM_VALIDATION_EXCEPTION", message.clone(), Vec::new()));
            }
        }
        match def.name.as_str() {
            // salesforce.md §8.1: "If WhoId is a Lead, WhatId must be empty."
            "Task" if text("WhoId").is_some_and(|who| who.starts_with("00Q")) && text("WhatId").is_some() => {
                Err(RecordError::new(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Related To ID: must be empty when Name ID is a lead",
                    vec!["WhatId".into()],
                ))
            }
            "CampaignMember" => {
                let person =
                    text("ContactId").map(|id| ("ContactId", id)).or_else(|| text("LeadId").map(|id| ("LeadId", id)));
                let Some((person_field, person_id)) = person else {
                    return Err(RecordError::new(
                        "REQUIRED_FIELD_MISSING",
                        "Required fields are missing: [LeadOrContactId]",
                        vec!["ContactId".into(), "LeadId".into()],
                    ));
                };
                let campaign = text("CampaignId");
                let duplicate = self.live.get("CampaignMember").into_iter().flat_map(|t| t.iter()).any(|(id, m)| {
                    Some(id.as_str()) != self_id
                        && m.get("CampaignId").and_then(Value::as_str) == campaign
                        && m.get(person_field).and_then(Value::as_str) == Some(person_id)
                });
                if duplicate {
                    return Err(RecordError::new("DUPLICATE_VALUE", "Already a campaign member.", Vec::new()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Unique fields among `changed` may not repeat another live record's value (ignoring case).
    fn check_unique(
        &self,
        def: &ObjectDef,
        values: &Fields,
        changed: &[String],
        self_id: Option<&str>,
    ) -> Result<(), RecordError> {
        for name in changed {
            let Some(field) = def.field(name).filter(|f| f.unique) else { continue };
            let Some(value) = values.get(name).filter(|v| !v.is_null()) else { continue };
            let clash = self.holders(&def.name, &field.name, value).find(|id| Some(id.as_str()) != self_id);
            if let Some(other) = clash {
                return Err(RecordError::new(
                    "DUPLICATE_VALUE",
                    format!("duplicate value found: {} duplicates value on record with id: {other}", field.name),
                    Vec::new(),
                ));
            }
        }
        Ok(())
    }
}

/// Field defaults, and the owner: the writing user.
fn fill_defaults(def: &ObjectDef, values: &mut Fields, writer: &Writer) {
    for field in &def.fields {
        if let (None, Some(default)) = (values.get(&field.name), &field.default) {
            values.insert(field.name.clone(), default.clone());
        }
    }
    if def.field("OwnerId").is_some() && values.get("OwnerId").is_none_or(Value::is_null) {
        values.insert("OwnerId".into(), json!(writer.user_id));
    }
}

/// The comparison key of a value in a unique or external-id field: text ignores case.
fn value_key(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_lowercase(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `INVALID_FIELD_FOR_INSERT_UPDATE` for fields the user may not write (read-only or FLS).
fn not_writable(fields: Vec<String>) -> RecordError {
    RecordError::new(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        format!(
            "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
            fields.join(", ")
        ),
        fields,
    )
}

/// Value rules for the fields in `changed`, each with Salesforce's code and message
/// (salesforce.md §5.4):
///
/// - an Email field's format: `INVALID_EMAIL_ADDRESS` ("Email: invalid email address: x");
/// - a text value longer than the field's `length`: `STRING_TOO_LONG` ("Title: data value too
///   large: … (max length=128)", the wording seen in public fixtures);
/// - a value not among a restricted picklist's values (compared exactly):
///   `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST` ("Status: bad value for restricted picklist field:
///   x"); an unrestricted picklist takes any value, as Salesforce's does;
/// - a number with more digits before the point than `precision - scale` allow (an `Int`: more
///   than its `digits`): `NUMBER_OUTSIDE_VALID_RANGE` ("NPS Score: value outside of valid range on
///   numeric field: 1000.0", the wording of a Bulk API result quoted on the Salesforce developer
///   forums, the value as Java prints a double). Extra decimals are kept as sent: the API stores
///   them and only the UI rounds (salesforce.stackexchange.com q/3396).
fn check_values(def: &ObjectDef, values: &Fields, changed: &[String]) -> Result<(), RecordError> {
    for name in changed {
        let Some(field) = def.field(name) else { continue };
        let fields = vec![field.name.clone()];
        match values.get(name) {
            Some(Value::String(text)) => {
                if field.kind == FieldKind::Email && !text.is_empty() && !is_email(text) {
                    let message = format!("{}: invalid email address: {text}", field.label);
                    return Err(RecordError::new("INVALID_EMAIL_ADDRESS", message, fields));
                }
                if field.length > 0 && field.kind != FieldKind::Reference && text.chars().count() > field.length as usize
                {
                    let message =
                        format!("{}: data value too large: {text} (max length={})", field.label, field.length);
                    return Err(RecordError::new("STRING_TOO_LONG", message, fields));
                }
                if field.restricted_picklist && !field.picklist.iter().any(|value| value == text) {
                    let message = format!("{}: bad value for restricted picklist field: {text}", field.label);
                    return Err(RecordError::new("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", message, fields));
                }
            }
            Some(Value::Number(number)) if field.kind.is_numeric() => {
                let Some(value) = number.as_f64() else { continue };
                let (integer_digits, shown) = if field.kind == FieldKind::Int {
                    (field.digits, number.to_string())
                } else {
                    (field.precision.saturating_sub(field.scale), java_double(value))
                };
                let in_range = (field.kind == FieldKind::Int && field.digits == 0)
                    || (field.kind != FieldKind::Int && field.precision == 0)
                    || value.abs() < 10f64.powi(i32::try_from(integer_digits).unwrap_or(i32::MAX));
                if !in_range {
                    let message = format!("{}: value outside of valid range on numeric field: {shown}", field.label);
                    return Err(RecordError::new("NUMBER_OUTSIDE_VALID_RANGE", message, fields));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A double as Java's `Double.toString` writes it, as Salesforce's messages show values:
/// `1000.0`, `2.5`, `1.0E7`, `1.0E-4`.
fn java_double(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = value.to_string();
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        let text = format!("{value:E}");
        match text.split_once('E') {
            Some((mantissa, exponent)) if !mantissa.contains('.') => format!("{mantissa}.0E{exponent}"),
            _ => text,
        }
    }
}

/// Roughly Salesforce's check: one `@`, something before it, a dotted domain, no spaces.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `REQUIRED_FIELD_MISSING` when a required field is absent, null or empty.
fn check_required(def: &ObjectDef, values: &Fields) -> Result<(), RecordError> {
    let missing: Vec<String> = def
        .fields
        .iter()
        .filter(|f| f.required)
        .filter(|f| match values.get(&f.name) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        })
        .map(|f| f.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RecordError::new(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
            missing,
        ))
    }
}

/// Fields the org maintains on status changes: a Task's `CompletedDateTime`, a CampaignMember's
/// `FirstRespondedDate`.
fn transitions(def: &ObjectDef, before: Option<&Fields>, values: &mut Fields, writer: &Writer) {
    let status = values.get("Status").and_then(Value::as_str).unwrap_or_default().to_owned();
    match def.name.as_str() {
        "Task" => {
            let closed = CLOSED_TASK_STATUSES.contains(&status.as_str());
            let was_set = before.and_then(|b| b.get("CompletedDateTime")).is_some_and(|v| !v.is_null());
            let completed = match (closed, was_set) {
                (true, true) => before.and_then(|b| b.get("CompletedDateTime")).cloned().unwrap_or(Value::Null),
                (true, false) => json!(datetime::format_datetime(writer.now)),
                (false, _) => Value::Null,
            };
            values.insert("CompletedDateTime".into(), completed);
        }
        "CampaignMember"
            if RESPONDED_MEMBER_STATUSES.contains(&status.as_str())
                && values.get("FirstRespondedDate").is_none_or(Value::is_null) =>
        {
            values.insert("FirstRespondedDate".into(), json!(datetime::format_date(writer.now)));
        }
        _ => {}
    }
}

/// A body value read as the field's type (Salesforce's JSON deserializer is lenient with
/// strings: `"true"`, `"5"`); `Err` carries its error message.
fn coerce(field: &FieldDef, value: &Value) -> Result<Value, String> {
    let kind = field.kind;
    let fail = |type_name: &str| {
        let (token, text) = match value {
            Value::String(s) => ("VALUE_STRING", s.clone()),
            Value::Number(n) if n.is_f64() => ("VALUE_NUMBER_FLOAT", n.to_string()),
            Value::Number(n) => ("VALUE_NUMBER_INT", n.to_string()),
            Value::Bool(true) => ("VALUE_TRUE", "true".into()),
            Value::Bool(false) => ("VALUE_FALSE", "false".into()),
            Value::Array(_) => ("START_ARRAY", "[".into()),
            Value::Object(_) => ("START_OBJECT", "{".into()),
            Value::Null => ("VALUE_NULL", "null".into()),
        };
        format!(
            "Cannot deserialize instance of {type_name} from {token} value {text} or request may be missing a required field"
        )
    };
    match (kind, value) {
        (FieldKind::Boolean, Value::Null) => Ok(json!(false)),
        (_, Value::Null) => Ok(Value::Null),
        (FieldKind::Boolean, Value::Bool(b)) => Ok(json!(b)),
        (FieldKind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
            Ok(json!(s.eq_ignore_ascii_case("true")))
        }
        (FieldKind::Boolean, _) => Err(fail("boolean")),
        (FieldKind::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(value.clone()),
        (FieldKind::Int, Value::String(s)) => s.trim().parse::<i64>().map(|n| json!(n)).map_err(|_| fail("int")),
        (FieldKind::Int, _) => Err(fail("int")),
        (k, Value::Number(_)) if k.is_numeric() => Ok(value.clone()),
        (k, Value::String(s)) if k.is_numeric() => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| fail("double")),
        (k, _) if k.is_numeric() => Err(fail("double")),
        (FieldKind::Date, Value::String(s)) => datetime::parse_date(s).map(Value::String).ok_or_else(|| fail("date")),
        (FieldKind::Date, _) => Err(fail("date")),
        (FieldKind::DateTime, Value::String(s)) => {
            datetime::normalize_datetime(s).map(Value::String).ok_or_else(|| fail("datetime"))
        }
        (FieldKind::DateTime, _) => Err(fail("datetime")),
        (_, Value::String(_)) => Ok(value.clone()),
        (_, Value::Number(n)) => Ok(json!(n.to_string())),
        (_, Value::Bool(b)) => Ok(json!(b.to_string())),
        (_, _) => Err(fail("String")),
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn user() -> String {
        crate::salesforce_id_18("0055g000003SimU")
    }

    fn writer() -> Writer {
        Writer { user_id: user(), now: SystemTime::now() }
    }

    fn body(value: Value) -> Fields {
        value.as_object().cloned().unwrap_or_default()
    }

    fn code<T: std::fmt::Debug>(result: Result<T, RecordError>) -> String {
        result.err().map(|e| e.status_code).unwrap_or_default()
    }

    #[test]
    fn create_applies_defaults_and_rules() {
        let mut org = Org::default();
        let contact = org.create("contact", &body(json!({"email": "A@x.com", "LastName": "A"})), &writer());
        let Ok(contact) = contact else { panic!("{contact:?}") };
        assert!(contact.starts_with("0035g") && contact.len() == 18);
        let Some(def) = org.schema.object("Contact").cloned() else { panic!() };
        let Lookup::Found(fields) = org.get(&def, &contact[..15]) else { panic!() };
        assert_eq!(fields.get("Name"), Some(&json!("A")));
        assert_eq!(fields.get("HasOptedOutOfEmail"), Some(&json!(false)));
        assert_eq!(fields.get("OwnerId"), Some(&json!(user())));

        assert_eq!(code(org.create("Contact", &body(json!({"Foo__c": 1})), &writer())), "INVALID_FIELD");
        assert_eq!(
            code(org.create("Contact", &body(json!({"Name": "x", "LastName": "A"})), &writer())),
            "INVALID_FIELD_FOR_INSERT_UPDATE"
        );
        assert_eq!(code(org.create("Contact", &body(json!({"FirstName": "x"})), &writer())), "REQUIRED_FIELD_MISSING");
        assert_eq!(
            code(org.create("Contact", &body(json!({"LastName": "x", "Email": "nope"})), &writer())),
            "INVALID_EMAIL_ADDRESS"
        );
        assert_eq!(code(org.create("Lead", &body(json!({"LastName": "x"})), &writer())), "REQUIRED_FIELD_MISSING");
        assert_eq!(
            code(org.create("Task", &body(json!({"WhoId": "0035g0000099999"})), &writer())),
            "INVALID_CROSS_REFERENCE_KEY"
        );
        assert_eq!(
            code(org.create("Task", &body(json!({"WhoId": "garbage"})), &writer())),
            "INVALID_CROSS_REFERENCE_KEY"
        );
        assert_eq!(
            code(org.create("Task", &body(json!({"TaskSubtype": "Fax"})), &writer())),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        );
        assert_eq!(
            code(org.create("Task", &body(json!({"IsClosed": true})), &writer())),
            "INVALID_FIELD_FOR_INSERT_UPDATE"
        );
        let task =
            org.create("Task", &body(json!({"WhoId": contact.to_lowercase(), "Status": "Completed"})), &writer());
        assert_eq!(code(task.clone()), "");
        let Some(task_def) = org.schema.object("Task").cloned() else { panic!() };
        let Lookup::Found(task) = org.get(&task_def, &task.unwrap_or_default()) else { panic!() };
        assert_eq!(task.get("WhoId"), Some(&json!(contact)));
        assert_eq!(task.get("IsClosed"), Some(&json!(true)));
        assert!(task.get("CompletedDateTime").is_some_and(|v| v.is_string()));
    }

    #[test]
    fn updates_check_ids_and_converted_leads() {
        let mut org = Org::default();
        let lead = org.create("Lead", &body(json!({"LastName": "L", "Company": "C"})), &writer()).unwrap_or_default();
        let contact = org.create("Contact", &body(json!({"LastName": "C"})), &writer()).unwrap_or_default();
        assert_eq!(
            code(org.update("Contact", "0035g00000ZZZZZ", &Fields::new(), &writer())),
            "INVALID_CROSS_REFERENCE_KEY"
        );
        assert_eq!(code(org.update("Contact", &lead, &Fields::new(), &writer())), "MALFORMED_ID");
        assert_eq!(
            code(org.update("Contact", &contact, &body(json!({"LastName": ""})), &writer())),
            "REQUIRED_FIELD_MISSING"
        );
        assert!(org.convert_lead(&lead, &contact, SystemTime::now()));
        assert_eq!(
            code(org.update("Lead", &lead, &body(json!({"FirstName": "x"})), &writer())),
            "CANNOT_UPDATE_CONVERTED_LEAD"
        );
        assert_eq!(code(org.create("Task", &body(json!({"WhoId": lead})), &writer())), "CANNOT_UPDATE_CONVERTED_LEAD");
        assert!(org.delete(&contact, SystemTime::now()));
        assert_eq!(code(org.update("Contact", &contact, &Fields::new(), &writer())), "ENTITY_IS_DELETED");
        assert_eq!(code(org.create("Task", &body(json!({"WhoId": contact})), &writer())), "ENTITY_IS_DELETED");
    }

    #[test]
    fn unique_external_ids_upsert_and_roll_back() {
        let mut org = Org::default();
        assert!(org.add_custom_field(
            "Task",
            "Event_Id__c",
            FieldSpec::unique_external_id(FieldKind::String),
            SystemTime::now()
        ));
        org.begin();
        let first = org.create("Task", &body(json!({"Event_Id__c": "E1"})), &writer());
        assert!(first.is_ok());
        assert_eq!(code(org.create("Task", &body(json!({"event_id__c": "e1"})), &writer())), "DUPLICATE_VALUE");
        org.rollback();
        let Some(task) = org.schema.object("Task").cloned() else { panic!() };
        assert!(org.rows(&task, false).is_empty());
        let created = org.upsert("Task", "Event_Id__c", &json!("E1"), &body(json!({"Subject": "a"})), &writer());
        assert!(matches!(created, Ok((_, true))));
        let updated = org.upsert("Task", "event_id__c", &json!("e1"), &body(json!({"Subject": "b"})), &writer());
        assert!(matches!(updated, Ok((_, false))));
        let rows = org.rows(&task, false);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.first().and_then(|r| r.get("Subject")), Some(&json!("b")));
        assert!(matches!(
            org.upsert("Task", "Subject", &json!("b"), &Fields::new(), &writer()),
            Err(UpsertError::Record(_))
        ));

        // The index follows updates, deletes and rollbacks.
        let id = rows.first().and_then(|r| r.get("Id")).and_then(Value::as_str).unwrap_or_default().to_owned();
        org.begin();
        assert!(org.update("Task", &id, &body(json!({"Event_Id__c": "E2"})), &writer()).is_ok());
        assert!(org.create("Task", &body(json!({"Event_Id__c": "E1"})), &writer()).is_ok());
        assert!(org.delete(&id, SystemTime::now()));
        assert!(org.create("Task", &body(json!({"Event_Id__c": "E2"})), &writer()).is_ok());
        org.rollback();
        assert_eq!(org.rows(&task, false).len(), 1);
        assert_eq!(code(org.create("Task", &body(json!({"Event_Id__c": "E1"})), &writer())), "DUPLICATE_VALUE");
        assert!(org.create("Task", &body(json!({"Event_Id__c": "E2"})), &writer()).is_ok());
        // Re-adding the field (now not unique) keeps the values findable for upserts.
        assert!(org.add_custom_field(
            "Task",
            "EVENT_ID__C",
            FieldSpec { unique: false, ..FieldSpec::unique_external_id(FieldKind::String) },
            SystemTime::now()
        ));
        assert!(matches!(org.upsert("Task", "Event_Id__c", &json!("e2"), &Fields::new(), &writer()), Ok((_, false))));
    }

    #[test]
    fn transactions_nest_like_savepoints() {
        let mut org = Org::default();
        let Some(contact) = org.schema.object("Contact").cloned() else { panic!() };
        let names = |org: &Org| -> Vec<Value> {
            org.rows(&contact, false).iter().map(|r| r.get("LastName").cloned().unwrap_or_default()).collect()
        };
        org.begin();
        assert!(org.create("Contact", &body(json!({"LastName": "Outer"})), &writer()).is_ok());
        org.begin();
        assert!(org.create("Contact", &body(json!({"LastName": "Inner kept"})), &writer()).is_ok());
        org.commit();
        org.begin();
        assert!(org.create("Contact", &body(json!({"LastName": "Inner undone"})), &writer()).is_ok());
        org.rollback();
        assert_eq!(names(&org), [json!("Outer"), json!("Inner kept")]);
        org.rollback();
        assert!(names(&org).is_empty(), "the outer rollback undoes the committed inner transaction too");

        org.begin();
        assert!(org.create("Contact", &body(json!({"LastName": "Kept"})), &writer()).is_ok());
        org.commit();
        org.rollback(); // no transaction open: nothing to undo
        assert_eq!(names(&org), [json!("Kept")]);
    }

    #[test]
    fn numbers_fit_their_digits_and_messages_print_them_as_java_does() {
        let mut org = Org::default();
        let now = SystemTime::now();
        assert!(org.add_custom_field("Contact", "Score__c", FieldSpec::new(FieldKind::Double).with_digits(5, 2), now));
        assert!(org.add_custom_field("Contact", "Seats__c", FieldSpec::new(FieldKind::Int).with_digits(3, 0), now));
        let create = |org: &mut Org, fields: Value| {
            let mut fields = body(fields);
            fields.insert("LastName".into(), json!("L"));
            org.create("Contact", &fields, &writer())
        };
        for fine in [json!({"Score__c": 999.99}), json!({"Score__c": -999.5}), json!({"Score__c": 0.001}), json!({"Seats__c": 999})] {
            assert!(create(&mut org, fine.clone()).is_ok(), "{fine}");
        }
        let error = |org: &mut Org, fields: Value| create(org, fields).err().map(|e| (e.status_code, e.message));
        assert_eq!(
            error(&mut org, json!({"Score__c": 1000})),
            Some(("NUMBER_OUTSIDE_VALID_RANGE".into(), "Score: value outside of valid range on numeric field: 1000.0".into()))
        );
        assert_eq!(
            error(&mut org, json!({"Seats__c": -1000})),
            Some(("NUMBER_OUTSIDE_VALID_RANGE".into(), "Seats: value outside of valid range on numeric field: -1000".into()))
        );
        assert_eq!(java_double(1.0e7), "1.0E7");
        assert_eq!(java_double(1.5e-4), "1.5E-4");
        assert_eq!(java_double(-2.5), "-2.5");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(123_456.0), "123456.0");
    }

    #[test]
    fn coercion_is_lenient_like_salesforce_and_fails_on_shapes() {
        let mut org = Org::default();
        assert!(org.check_types("Contact", &body(json!({"HasOptedOutOfEmail": "TRUE", "LastName": 5}))).is_ok());
        assert!(org.check_types("Contact", &body(json!({"HasOptedOutOfEmail": "yes"}))).is_err());
        assert!(org.check_types("Contact", &body(json!({"LastName": {"a": 1}}))).is_err());
        assert!(org.add_custom_field("Contact", "Score__c", FieldSpec::new(FieldKind::Double), SystemTime::now()));
        assert!(org.check_types("Contact", &body(json!({"Score__c": "1.5"}))).is_ok());
        assert!(org.check_types("Contact", &body(json!({"Score__c": "x"}))).is_err());
    }
}
