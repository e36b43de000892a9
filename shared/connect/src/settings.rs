//! The tenant's sync configuration: settings (how activity finds and updates Salesforce
//! records) and the campaign matrix (which campaigns sync which events). Configuration only:
//! activity sync reads it.
//!
//! Nothing stored means the defaults apply, and `GET` shows them with `"configured": false`.
//! `PUT` replaces the whole document (an omitted field takes its default); `PATCH` changes only
//! the keys it names (a JSON merge patch), so a page that edits one setting cannot reset another
//! (turning `webhook_auth: signature` back to `secret`, say). Both are checked before anything is
//! written, and audit what changed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::ConnectError;
use crate::import_settings::{import_settings, ImportInput};
use crate::ConflictCode;
use sfbridge_core::error::Cause;
use sfbridge_core::paging::{InvalidPage, PageRules};
use sfbridge_core::domain::{
    ApexPath, AttributeName, CampaignId, EndpointName, FieldName, ProductState, SalesforceId, SequenceId, TenantId,
};
use sfbridge_core::store::{
    audit_kind, default_campaign_statuses, AttributeKind, AttributeMapping, CampaignRecord, CampaignSettings, CreateMissing,
    EventToggles, FieldMapping, ImportSchedule, ImportScheduleRecord, ImportSettings, MatchPolicy, SettingsRecord, StoreError, TenantSettings, TriggerMode, WebhookAuth,
};
use crate::Connector;

/// The key prefix of Salesforce Campaign record ids.
const CAMPAIGN_KEY_PREFIX: &str = "701";
/// Salesforce text fields hold at most 255 characters.
const MAX_EXPERIMENT_KEY_LEN: usize = 255;
/// Attributes a tenant may map, and Apex REST endpoints it may allow.
const MAX_ATTRIBUTES: usize = 100;
const MAX_APEX_ENDPOINTS: usize = 20;
/// A Campaign Status value: a picklist value, at most 255 characters.
const MAX_STATUS_LEN: usize = 255;
/// Attributes the products send under these names; they need no `kind`.
pub const WELL_KNOWN_ATTRIBUTES: &[(&str, AttributeKind)] = &[
    ("nps_score", AttributeKind::Number),
    ("csat_score", AttributeKind::Number),
    ("lead_score", AttributeKind::Number),
    ("total_opens", AttributeKind::Number),
    ("last_survey_at", AttributeKind::Datetime),
];
/// What Test Fields suggests creating for a well-known attribute's missing field.
pub const WELL_KNOWN_SETUP_TYPES: &[(&str, &str)] = &[
    ("nps_score", "Number(3, 0)"),
    ("csat_score", "Number(1, 0)"),
    ("lead_score", "Number(18, 0)"),
    ("total_opens", "Number(18, 0)"),
    ("last_survey_at", "Date/Time"),
];
/// The campaign matrix's page sizes; its cursor is a campaign id.
const CAMPAIGN_PAGES: PageRules = PageRules { list: "campaigns", default_limit: 50, max_limit: 100 };

/// Fields activity sync must never write through a mapping: matching and record identity
/// (`Id`, `Email`), the opt-out that `opt_out_on_unsubscribe` owns, and system fields.
const RESERVED_FIELDS: &[&str] = &[
    "Id",
    "Email",
    "HasOptedOutOfEmail",
    "IsDeleted",
    "OwnerId",
    "CreatedById",
    "CreatedDate",
    "LastModifiedById",
    "LastModifiedDate",
    "SystemModstamp",
];

// --- input ---------------------------------------------------------------------------------------

/// The body of `PUT /v1/tenants/{t}/settings`. Every field is optional and an omitted one takes its
/// default: the body replaces the whole document.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub match_policy: Option<MatchPolicy>,
    pub create_missing: Option<CreateMissing>,
    pub field_mapping: Option<FieldMappingInput>,
    pub task_external_id_field: Option<String>,
    pub api_budget_percent: Option<i64>,
    /// `manual` (default), `auto` or `both`; `auto` and `both` need a `sequence_id`.
    pub trigger_mode: Option<TriggerMode>,
    /// The product's sequence that Closed Won events start; absent, `null` or `""`: none.
    pub sequence_id: Option<String>,
    /// `secret` (default) or `signature`: how JSON callouts must authenticate.
    pub webhook_auth: Option<WebhookAuth>,
    /// `{"nps_score": {"contact": "NPS_Score__c", "lead": "NPS__c"}}`: where `field_update`
    /// values land; `kind` (`number`, `text`, `date`, `datetime`, `boolean`) is required for an
    /// attribute that is not well known.
    pub attribute_mapping: Option<BTreeMap<String, AttributeMappingInput>>,
    /// `{"completed": "Completed", "rolled_back": "Paused"}`: the Campaign Status each product state
    /// sets; absent: the defaults (planned, running, completed, rolled_back, aborted).
    pub campaign_statuses: Option<BTreeMap<String, String>>,
    /// A custom External ID field on Campaign holding the product's experiment key.
    pub campaign_experiment_key_field: Option<String>,
    /// `{"engagement": "/services/apexrest/Sfbridge/events"}`: the Apex REST endpoints
    /// `record_upsert` commands may name (`"destination": "apex:engagement"`).
    pub apex_endpoints: Option<BTreeMap<String, String>>,
    /// Which Salesforce objects flow into the product, and how often (see `import_settings`).
    pub import: Option<ImportInput>,
    /// When given, the settings are replaced only if they are still at this version (0: none
    /// saved yet); otherwise 409 `version_conflict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// Saved settings as the body that would save them again: what a PATCH is merged into. Every
/// field is named (no `..`), so a field added to `TenantSettings` does not compile here until it
/// has its place in the input too; a PATCH can never meet a stored field the input refuses.
impl From<&TenantSettings> for SettingsInput {
    fn from(settings: &TenantSettings) -> Self {
        let TenantSettings {
            match_policy,
            create_missing,
            field_mapping,
            task_external_id_field,
            api_budget_percent,
            trigger_mode,
            sequence_id,
            webhook_auth,
            attribute_mapping,
            campaign_statuses,
            campaign_experiment_key_field,
            apex_endpoints,
            import,
        } = settings;
        let FieldMapping { last_opened_at, click_count, opt_out_on_unsubscribe, mark_bounced } = field_mapping;
        let name = |field: &Option<FieldName>| field.as_ref().map(|f| f.as_str().to_owned());
        Self {
            match_policy: Some(*match_policy),
            create_missing: Some(*create_missing),
            field_mapping: Some(FieldMappingInput {
                last_opened_at: name(last_opened_at),
                click_count: name(click_count),
                opt_out_on_unsubscribe: Some(*opt_out_on_unsubscribe),
                mark_bounced: name(mark_bounced),
            }),
            task_external_id_field: name(task_external_id_field),
            api_budget_percent: Some(i64::from(*api_budget_percent)),
            trigger_mode: Some(*trigger_mode),
            sequence_id: sequence_id.as_ref().map(|s| s.as_str().to_owned()),
            webhook_auth: Some(*webhook_auth),
            attribute_mapping: Some(
                attribute_mapping
                    .iter()
                    .map(|(a, m)| {
                        let input = AttributeMappingInput { kind: Some(m.kind), contact: name(&m.contact), lead: name(&m.lead) };
                        (a.as_str().to_owned(), input)
                    })
                    .collect(),
            ),
            campaign_statuses: Some(campaign_statuses.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect()),
            campaign_experiment_key_field: name(campaign_experiment_key_field),
            apex_endpoints: Some(apex_endpoints.iter().map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned())).collect()),
            import: Some(ImportInput::from(import)),
            version: None,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMappingInput {
    pub kind: Option<AttributeKind>,
    pub contact: Option<String>,
    pub lead: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMappingInput {
    pub last_opened_at: Option<String>,
    pub click_count: Option<String>,
    pub opt_out_on_unsubscribe: Option<bool>,
    pub mark_bounced: Option<String>,
}

/// The body of `PUT /v1/tenants/{t}/campaigns/{c}`, same rules as [`SettingsInput`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    pub enabled: Option<bool>,
    pub sync_activity: Option<bool>,
    pub events: Option<EventTogglesInput>,
    pub salesforce_campaign_id: Option<String>,
    pub experiment_key: Option<String>,
    pub version: Option<u64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTogglesInput {
    pub email_sent: Option<bool>,
    pub email_opened: Option<bool>,
    pub email_clicked: Option<bool>,
    pub email_replied: Option<bool>,
    pub email_bounced: Option<bool>,
    pub unsubscribed: Option<bool>,
}

/// Every problem in a body, each starting with the field it is about, so one round trip fixes all.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<String>);

impl Problems {
    pub(crate) fn add(&mut self, field: &str, message: impl std::fmt::Display) {
        self.0.push(format!("{field}: {message}"));
    }

    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConnectError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConnectError::Invalid(self.0.join("; ")))
        }
    }
}

/// An optional field name: absent, `null` and `""` mean "not mapped".
fn field_name(problems: &mut Problems, field: &str, value: Option<&str>) -> Option<FieldName> {
    let value = value.filter(|v| !v.trim().is_empty())?;
    match FieldName::parse(value) {
        Ok(name) => Some(name),
        Err(e) => {
            problems.add(field, e);
            None
        }
    }
}

/// Checks a settings body and returns the document it describes. Reads nothing.
pub(crate) fn validate_settings(input: &SettingsInput) -> Result<TenantSettings, ConnectError> {
    let mut problems = Problems::default();
    let defaults = TenantSettings::default();
    let mapping = input.field_mapping.as_ref();
    let mapped = |get: fn(&FieldMappingInput) -> &Option<String>| mapping.and_then(|m| get(m).as_deref());
    let field_mapping = FieldMapping {
        last_opened_at: field_name(&mut problems, "field_mapping.last_opened_at", mapped(|m| &m.last_opened_at)),
        click_count: field_name(&mut problems, "field_mapping.click_count", mapped(|m| &m.click_count)),
        opt_out_on_unsubscribe: mapping
            .and_then(|m| m.opt_out_on_unsubscribe)
            .unwrap_or(defaults.field_mapping.opt_out_on_unsubscribe),
        mark_bounced: field_name(&mut problems, "field_mapping.mark_bounced", mapped(|m| &m.mark_bounced)),
    };

    let named = [
        ("field_mapping.last_opened_at", &field_mapping.last_opened_at),
        ("field_mapping.click_count", &field_mapping.click_count),
        ("field_mapping.mark_bounced", &field_mapping.mark_bounced),
    ];
    for (i, (field, name)) in named.iter().enumerate() {
        let Some(name) = name else { continue };
        if let Some(reserved) = RESERVED_FIELDS.iter().find(|r| name.as_str().eq_ignore_ascii_case(r)) {
            let why = if *reserved == "HasOptedOutOfEmail" {
                "is set by field_mapping.opt_out_on_unsubscribe; map this value to a field of its own".to_owned()
            } else {
                "is a standard field sync must not overwrite; map a custom field instead, e.g. a new field in \
                 Setup → Object Manager → Contact → Fields & Relationships"
                    .to_owned()
            };
            problems.add(field, format!("{reserved} {why}"));
        }
        if let Some((earlier, _)) = named[..i].iter().find(|(_, other)| other.as_ref().is_some_and(|o| o.same_field(name))) {
            problems.add(field, format!("{name} is already mapped by {earlier}; each field can hold only one value"));
        }
    }

    let task_external_id_field =
        field_name(&mut problems, "task_external_id_field", input.task_external_id_field.as_deref());
    if let Some(name) = task_external_id_field.as_ref().filter(|n| !n.is_custom()) {
        problems.add(
            "task_external_id_field",
            format!(
                "{name} is a standard field; give a custom Text field on Task marked External ID and Unique \
                 (its API name ends in __c), e.g. Sfbridge_Event_Id__c"
            ),
        );
    }

    let api_budget_percent = match input.api_budget_percent {
        None => defaults.api_budget_percent,
        Some(p) => u8::try_from(p).ok().filter(|p| (1..=100).contains(p)).unwrap_or_else(|| {
            problems.add(
                "api_budget_percent",
                format!(
                    "{p} is out of range; give a whole number from 1 to 100: the percent of the org's daily API \
                     request limit that sync may use (default {})",
                    TenantSettings::DEFAULT_API_BUDGET_PERCENT
                ),
            );
            defaults.api_budget_percent
        }),
    };

    let match_policy = input.match_policy.unwrap_or_default();
    let create_missing = input.create_missing.unwrap_or_default();
    if create_missing == CreateMissing::Lead && !match_policy.matches_leads() {
        problems.add(
            "create_missing",
            "\"lead\" needs a match_policy that also looks up Leads (contact_then_lead or lead_then_contact): with \
             contact_only, every event for the same unknown email would create another Lead",
        );
    }

    let trigger_mode = input.trigger_mode.unwrap_or_default();
    let sequence_id = match input.sequence_id.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => {
            if trigger_mode.triggers_on_closed_won() {
                let mode = if trigger_mode == TriggerMode::Both { "both" } else { "auto" };
                problems.add(
                    "trigger_mode",
                    format!("\"{mode}\" needs a sequence_id: the product's sequence that Closed Won events start"),
                );
            }
            None
        }
        Some(raw) => match SequenceId::parse(raw) {
            Ok(id) => Some(id),
            Err(e) => {
                problems.add("sequence_id", format!("{e}; copy the id of the sequence from the product"));
                None
            }
        },
    };

    let attribute_mapping = attribute_mapping(&mut problems, input.attribute_mapping.as_ref(), &field_mapping);
    let campaign_statuses = campaign_statuses(&mut problems, input.campaign_statuses.as_ref());
    let campaign_experiment_key_field =
        field_name(&mut problems, "campaign_experiment_key_field", input.campaign_experiment_key_field.as_deref());
    if let Some(name) = campaign_experiment_key_field.as_ref().filter(|n| !n.is_custom()) {
        problems.add(
            "campaign_experiment_key_field",
            format!("{name} is a standard field; give a custom Text field on Campaign marked External ID, e.g. Experiment_Key__c"),
        );
    }
    let apex_endpoints = apex_endpoints(&mut problems, input.apex_endpoints.as_ref());
    let import = import_settings(&mut problems, input.import.as_ref());

    problems.into_result(TenantSettings {
        match_policy,
        create_missing,
        field_mapping,
        task_external_id_field,
        api_budget_percent,
        trigger_mode,
        sequence_id,
        webhook_auth: input.webhook_auth.unwrap_or_default(),
        attribute_mapping,
        campaign_statuses,
        campaign_experiment_key_field,
        apex_endpoints,
        import,
    })
}

/// The attribute mapping: names, kinds, fields; no field mapped twice on one object, nor one
/// that activity sync's `field_mapping` or sync itself owns.
fn attribute_mapping(
    problems: &mut Problems,
    input: Option<&BTreeMap<String, AttributeMappingInput>>,
    activity: &FieldMapping,
) -> BTreeMap<AttributeName, AttributeMapping> {
    let mut mapping = BTreeMap::new();
    let Some(input) = input else { return mapping };
    if input.len() > MAX_ATTRIBUTES {
        problems.add("attribute_mapping", format!("{} attributes; at most {MAX_ATTRIBUTES}", input.len()));
        return mapping;
    }
    let activity_fields: Vec<(&str, &FieldName)> = [
        ("field_mapping.last_opened_at", &activity.last_opened_at),
        ("field_mapping.click_count", &activity.click_count),
        ("field_mapping.mark_bounced", &activity.mark_bounced),
    ]
    .into_iter()
    .filter_map(|(k, f)| Some((k, f.as_ref()?)))
    .collect();
    let mut taken: Vec<(String, &'static str, FieldName)> = Vec::new();
    for (raw, m) in input {
        let at = format!("attribute_mapping.{}", raw.chars().take(64).collect::<String>());
        let name = match AttributeName::parse(raw) {
            Ok(name) => name,
            Err(e) => {
                problems.add(&at, format!("{e}, e.g. nps_score"));
                continue;
            }
        };
        let well_known = WELL_KNOWN_ATTRIBUTES.iter().find(|(n, _)| *n == name.as_str()).map(|(_, k)| *k);
        let Some(kind) = m.kind.or(well_known) else {
            problems.add(&format!("{at}.kind"), "is required for an attribute that is not well known: number, text, date, datetime or boolean");
            continue;
        };
        let contact = field_name(problems, &format!("{at}.contact"), m.contact.as_deref());
        let lead = field_name(problems, &format!("{at}.lead"), m.lead.as_deref());
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
        if blank(&m.contact) && blank(&m.lead) {
            problems.add(&at, "maps to no field; give \"contact\", \"lead\" or both (the field's API name on that object)");
        }
        for (object, field) in [("contact", &contact), ("lead", &lead)] {
            let Some(field) = field else { continue };
            let path = format!("{at}.{object}");
            if let Some(reserved) = RESERVED_FIELDS.iter().find(|r| field.as_str().eq_ignore_ascii_case(r)) {
                problems.add(&path, format!("{reserved} is a field sync must not overwrite; map a custom field instead"));
            }
            if let Some((by, _)) = activity_fields.iter().find(|(_, f)| f.same_field(field)) {
                problems.add(&path, format!("{field} is already mapped by {by}; each field can hold only one value"));
            }
            if let Some((by, _, _)) = taken.iter().find(|(_, o, f)| *o == object && f.same_field(field)) {
                problems.add(&path, format!("{field} is already mapped by {by}; each field can hold only one value"));
            }
            taken.push((path, object, field.clone()));
        }
        mapping.insert(name, AttributeMapping { kind, contact, lead });
    }
    mapping
}

fn campaign_statuses(problems: &mut Problems, input: Option<&BTreeMap<String, String>>) -> BTreeMap<ProductState, String> {
    let Some(input) = input else { return default_campaign_statuses() };
    let mut statuses = BTreeMap::new();
    for (state, status) in input {
        let at = format!("campaign_statuses.{}", state.chars().take(64).collect::<String>());
        let state = match ProductState::parse(state) {
            Ok(s) => s,
            Err(e) => {
                problems.add(&at, format!("{e}, e.g. completed"));
                continue;
            }
        };
        let status = status.trim();
        if status.is_empty() || status.chars().count() > MAX_STATUS_LEN {
            problems.add(&at, format!("give the Campaign Status value it sets (1 to {MAX_STATUS_LEN} characters), e.g. \"Completed\""));
            continue;
        }
        statuses.insert(state, status.to_owned());
    }
    statuses
}

fn apex_endpoints(problems: &mut Problems, input: Option<&BTreeMap<String, String>>) -> BTreeMap<EndpointName, ApexPath> {
    let mut endpoints = BTreeMap::new();
    let Some(input) = input else { return endpoints };
    if input.len() > MAX_APEX_ENDPOINTS {
        problems.add("apex_endpoints", format!("{} endpoints; at most {MAX_APEX_ENDPOINTS}", input.len()));
        return endpoints;
    }
    for (name, path) in input {
        let at = format!("apex_endpoints.{}", name.chars().take(64).collect::<String>());
        match (EndpointName::parse(name), ApexPath::parse(path.trim())) {
            (Ok(name), Ok(path)) => {
                endpoints.insert(name, path);
            }
            (Err(e), _) => problems.add(&at, format!("{e}, e.g. engagement")),
            (_, Err(e)) => problems.add(&at, e),
        }
    }
    endpoints
}

/// Checks a campaign body and returns the document it describes. Reads nothing.
pub(crate) fn validate_campaign(input: &CampaignInput) -> Result<CampaignSettings, ConnectError> {
    let mut problems = Problems::default();
    let defaults = CampaignSettings::default();
    let toggles = input.events.as_ref();
    let toggle = |get: fn(&EventTogglesInput) -> Option<bool>, default: bool| toggles.and_then(get).unwrap_or(default);
    let on = EventToggles::default();
    let events = EventToggles {
        email_sent: toggle(|e| e.email_sent, on.email_sent),
        email_opened: toggle(|e| e.email_opened, on.email_opened),
        email_clicked: toggle(|e| e.email_clicked, on.email_clicked),
        email_replied: toggle(|e| e.email_replied, on.email_replied),
        email_bounced: toggle(|e| e.email_bounced, on.email_bounced),
        unsubscribed: toggle(|e| e.unsubscribed, on.unsubscribed),
    };

    let salesforce_campaign_id = input
        .salesforce_campaign_id
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|raw| match SalesforceId::parse(raw) {
            Ok(id) if id.key_prefix() == CAMPAIGN_KEY_PREFIX => Some(id),
            Ok(id) => {
                problems.add(
                    "salesforce_campaign_id",
                    format!(
                        "{id} is not a Campaign id (Campaign ids start with {CAMPAIGN_KEY_PREFIX}, this one with {}); \
                         copy the id from the Campaign's page in Salesforce",
                        id.key_prefix()
                    ),
                );
                None
            }
            Err(e) => {
                problems.add("salesforce_campaign_id", format!("{e}; copy the id from the Campaign's page in Salesforce"));
                None
            }
        });

    let experiment_key = input.experiment_key.as_deref().map(str::trim).filter(|v| !v.is_empty()).and_then(|key| {
        if key.chars().count() > MAX_EXPERIMENT_KEY_LEN || key.chars().any(char::is_control) {
            problems.add(
                "experiment_key",
                format!("give at most {MAX_EXPERIMENT_KEY_LEN} characters on one line (no control characters)"),
            );
            None
        } else {
            Some(key.to_owned())
        }
    });

    problems.into_result(CampaignSettings {
        enabled: input.enabled.unwrap_or(defaults.enabled),
        sync_activity: input.sync_activity.unwrap_or(defaults.sync_activity),
        events,
        salesforce_campaign_id,
        experiment_key,
    })
}

// --- views ---------------------------------------------------------------------------------------

/// `GET/PUT /v1/tenants/{t}/settings`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub tenant_id: TenantId,
    /// Whether an admin saved settings; `false`: these are the defaults.
    pub configured: bool,
    #[serde(flatten)]
    pub settings: TenantSettings,
    /// 0 until saved; pass it back in a `PUT` to replace only what you read.
    pub version: u64,
    pub updated_at: Option<DateTime<Utc>>,
}

impl SettingsView {
    fn of(t: &TenantId, record: Option<SettingsRecord>) -> Self {
        match record {
            Some(r) => Self {
                tenant_id: t.clone(),
                configured: true,
                settings: r.settings,
                version: r.version,
                updated_at: Some(r.updated_at),
            },
            None => Self {
                tenant_id: t.clone(),
                configured: false,
                settings: TenantSettings::default(),
                version: 0,
                updated_at: None,
            },
        }
    }
}

/// One row of the campaign matrix.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    /// Whether an admin saved this campaign; `false`: these are the defaults (it syncs nothing).
    pub configured: bool,
    #[serde(flatten)]
    pub settings: CampaignSettings,
    pub version: u64,
    pub updated_at: Option<DateTime<Utc>>,
}

impl CampaignView {
    fn saved(t: &TenantId, r: CampaignRecord) -> Self {
        Self {
            tenant_id: t.clone(),
            campaign_id: r.campaign_id,
            configured: true,
            settings: r.settings,
            version: r.version,
            updated_at: Some(r.updated_at),
        }
    }

    fn of(t: &TenantId, c: &CampaignId, record: Option<CampaignRecord>) -> Self {
        match record {
            Some(r) => Self::saved(t, r),
            None => Self {
                tenant_id: t.clone(),
                campaign_id: c.clone(),
                configured: false,
                settings: CampaignSettings::default(),
                version: 0,
                updated_at: None,
            },
        }
    }
}

/// `GET /v1/tenants/{t}/campaigns`: saved campaigns in id order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignView>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

// --- operations ----------------------------------------------------------------------------------

pub async fn settings_view(ctx: &Connector, t: &TenantId) -> Result<SettingsView, ConnectError> {
    Ok(SettingsView::of(t, ctx.store.settings(t).await?))
}

/// `PUT /v1/tenants/{t}/settings`: replaces the settings and audits `settings.updated` with what
/// changed. Saving what is already stored changes nothing and records nothing.
pub async fn put_settings(ctx: &Connector, t: &TenantId, input: SettingsInput) -> Result<SettingsView, ConnectError> {
    let settings = validate_settings(&input)?;
    let current = ctx.store.settings(t).await?;
    check_version("the settings are", input.version, current.as_ref().map_or(0, |r| r.version))?;
    replace_settings(ctx, t, current, settings).await
}

/// Saves `settings` over `current` (what was read), unless that changed meanwhile, and audits
/// what differs. Saving what is already stored changes nothing and records nothing.
async fn replace_settings(
    ctx: &Connector,
    t: &TenantId,
    current: Option<SettingsRecord>,
    settings: TenantSettings,
) -> Result<SettingsView, ConnectError> {
    let current_version = current.as_ref().map_or(0, |r| r.version);
    if let Some(current) = current.as_ref().filter(|r| r.settings == settings) {
        return Ok(SettingsView::of(t, Some(current.clone())));
    }
    let changes = diff(&to_json(&current.as_ref().map(|r| r.settings.clone()).unwrap_or_default())?, &to_json(&settings)?);
    let record = SettingsRecord { settings, version: current_version + 1, updated_at: ctx.clock.now() };
    ctx.store
        .save_settings(t, &record, current.as_ref().map(|r| r.version))
        .await
        .map_err(|e| changed_meanwhile(e, "The settings"))?;
    schedule_imports(ctx, t, &record.settings.import).await?;
    ctx.audit.record(t,
        audit_kind::SETTINGS_UPDATED,
        json!({"version": record.version, "created": current.is_none(), "changes": changes}),
    )
    .await?;
    Ok(SettingsView::of(t, Some(record)))
}

/// Keeps the tenant in the index the import tick reads exactly while its imports are scheduled.
/// A tenant already there keeps its next due time; a newly scheduled one is due at once.
async fn schedule_imports(ctx: &Connector, t: &TenantId, import: &ImportSettings) -> Result<(), ConnectError> {
    let schedule = import.effective_schedule();
    if schedule == ImportSchedule::Off && ctx.store.import_schedule(t).await?.is_none_or(|r| r.parked.is_none()) {
        return Ok(ctx.store.set_import_schedule(t, None).await?);
    }
    let now = ctx.clock.now();
    let existing = ctx.store.import_schedule(t).await?;
    let next_due = existing.as_ref().map_or(now, |r| r.next_due);
    let parked = existing.and_then(|r| r.parked);
    let record = ImportScheduleRecord { tenant_id: t.clone(), schedule, next_due, parked, updated_at: now };
    Ok(ctx.store.set_import_schedule(t, Some(&record)).await?)
}

/// How often `PATCH` re-reads and re-applies itself when another change landed in between (only
/// when the caller gave no `version`; with one, the first conflict is the caller's to resolve).
const PATCH_ATTEMPTS: usize = 3;

/// `PATCH /v1/tenants/{t}/settings`: a JSON merge patch (RFC 7396) over the saved settings (or the
/// defaults): a key given replaces that setting (`field_mapping` merges key by key), `null`
/// returns it to its default, and a key left out keeps its value. Validated and saved like `PUT`.
pub async fn patch_settings(ctx: &Connector, t: &TenantId, patch: Value) -> Result<SettingsView, ConnectError> {
    let Value::Object(mut patch) = patch else {
        return Err(ConnectError::Invalid(
            "send a JSON object with the settings to change, e.g. {\"trigger_mode\": \"auto\", \"sequence_id\": \"seq_1\"}".into(),
        ));
    };
    let expected = match patch.remove("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ConnectError::Invalid("version: a whole number, the `version` a GET returned (0: none saved yet)".into())
        })?),
    };
    let patch = Value::Object(patch);
    for _ in 0..PATCH_ATTEMPTS {
        let current = ctx.store.settings(t).await?;
        check_version("the settings are", expected, current.as_ref().map_or(0, |r| r.version))?;
        let saved = current.as_ref().map(|r| r.settings.clone()).unwrap_or_default();
        let mut document = to_json(&SettingsInput::from(&saved))?;
        json_patch::merge(&mut document, &patch);
        let input: SettingsInput =
            serde_json::from_value(document).map_err(|e| ConnectError::Invalid(format!("the patch does not fit the settings: {e}")))?;
        let settings = validate_settings(&input)?;
        // Saved only over the document the patch was applied to.
        match replace_settings(ctx, t, current, settings).await {
            Err(ConnectError::Conflict { code: ConflictCode::ConcurrentChange, .. }) if expected.is_none() => continue,
            result => return result,
        }
    }
    Err(ConnectError::Conflict {
        code: ConflictCode::ConcurrentChange,
        message: format!("The settings changed {PATCH_ATTEMPTS} times while this request ran. Retry the request."),
    })
}

pub async fn campaign_view(ctx: &Connector, t: &TenantId, c: &CampaignId) -> Result<CampaignView, ConnectError> {
    Ok(CampaignView::of(t, c, ctx.store.campaign(t, c).await?))
}

/// `PUT /v1/tenants/{t}/campaigns/{c}`: replaces the campaign's row of the matrix and audits
/// `campaign.updated` with what changed.
pub async fn put_campaign(
    ctx: &Connector,
    t: &TenantId,
    c: &CampaignId,
    input: CampaignInput,
) -> Result<CampaignView, ConnectError> {
    let settings = validate_campaign(&input)?;
    let current = ctx.store.campaign(t, c).await?;
    let current_version = current.as_ref().map_or(0, |r| r.version);
    check_version(&format!("campaign {c} is"), input.version, current_version)?;
    if let Some(current) = current.as_ref().filter(|r| r.settings == settings) {
        return Ok(CampaignView::of(t, c, Some(current.clone())));
    }
    let changes = diff(&to_json(&current.as_ref().map(|r| r.settings.clone()).unwrap_or_default())?, &to_json(&settings)?);
    let record = CampaignRecord { campaign_id: c.clone(), settings, version: current_version + 1, updated_at: ctx.clock.now() };
    ctx.store
        .save_campaign(t, &record, current.as_ref().map(|r| r.version))
        .await
        .map_err(|e| changed_meanwhile(e, &format!("Campaign {c}")))?;
    ctx.audit.record(t,
        audit_kind::CAMPAIGN_UPDATED,
        json!({"campaign_id": c, "version": record.version, "created": current.is_none(), "changes": changes}),
    )
    .await?;
    Ok(CampaignView::of(t, c, Some(record)))
}

pub async fn campaign_list(
    ctx: &Connector,
    t: &TenantId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<CampaignList, ConnectError> {
    let page = CAMPAIGN_PAGES.check(t, limit, cursor)?;
    // The cursor's position is the last campaign id of the previous page.
    let after = page.cursor.map(|c| CampaignId::parse(&c).map_err(|_| InvalidPage::Cursor)).transpose()?;
    let page = ctx.store.campaigns(t, page.limit, after.as_ref()).await?;
    Ok(CampaignList {
        campaigns: page.campaigns.into_iter().map(|r| CampaignView::saved(t, r)).collect(),
        next_cursor: page.next_cursor.map(|last| CAMPAIGN_PAGES.cursor(t, last.as_str())),
    })
}

/// `subject` reads "the settings are" / "campaign cmp_7 is".
fn check_version(subject: &str, expected: Option<u64>, current: u64) -> Result<(), ConnectError> {
    match expected {
        Some(expected) if expected != current => Err(ConnectError::Conflict {
            code: ConflictCode::VersionConflict,
            message: format!(
                "{subject} at version {current}, not {expected} (someone saved a change since you read them). GET \
                 again, reapply your change and PUT with the new version (or without a version to overwrite)"
            ),
        }),
        _ => Ok(()),
    }
}

fn changed_meanwhile(e: StoreError, what: &str) -> ConnectError {
    match e {
        StoreError::Conflict => ConnectError::Conflict {
            code: ConflictCode::ConcurrentChange,
            message: format!("{what} changed while this request ran. GET again and retry."),
        },
        other => other.into(),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, ConnectError> {
    serde_json::to_value(value).map_err(|e| ConnectError::Internal(Cause::new(e)))
}

/// `{"field_mapping.click_count": {"from": null, "to": "Total_Clicks__c"}, ...}` for every leaf
/// that differs. Settings hold no secret, so values are recorded as they are.
fn diff(old: &Value, new: &Value) -> Value {
    fn leaves(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
        match value {
            Value::Object(fields) => {
                for (key, inner) in fields {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    leaves(&path, inner, out);
                }
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf.clone());
            }
        }
    }
    let (mut before, mut after) = (Map::new(), Map::new());
    leaves("", old, &mut before);
    leaves("", new, &mut after);
    let mut changes = Map::new();
    for (path, to) in &after {
        let from = before.remove(path).unwrap_or(Value::Null);
        if &from != to {
            changes.insert(path.clone(), json!({"from": from, "to": to}));
        }
    }
    for (path, from) in before {
        changes.insert(path, json!({"from": from, "to": Value::Null}));
    }
    Value::Object(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PATCH base: any saved settings, as an input, validate back to themselves.
    #[test]
    fn saved_settings_round_trip_through_the_input() {
        let full = settings(json!({
            "match_policy": "lead_then_contact", "create_missing": "lead",
            "field_mapping": {"last_opened_at": "Last_Opened__c", "click_count": "Clicks__c", "opt_out_on_unsubscribe": false, "mark_bounced": "Bounced__c"},
            "task_external_id_field": "Sfbridge_Event_Id__c", "api_budget_percent": 55,
            "trigger_mode": "both", "sequence_id": "seq_1", "webhook_auth": "signature"
        }));
        let Ok(full) = full else { unreachable!("{full:?}") };
        for saved in [TenantSettings::default(), full] {
            let document = to_json(&SettingsInput::from(&saved)).unwrap_or_else(|e| unreachable!("{e}"));
            let input: SettingsInput = serde_json::from_value(document).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(validate_settings(&input).ok(), Some(saved));
        }
    }

    fn settings(body: Value) -> Result<TenantSettings, String> {
        let input: SettingsInput = serde_json::from_value(body).map_err(|e| format!("serde: {e}"))?;
        validate_settings(&input).map_err(|e| e.to_string())
    }

    fn campaign(body: Value) -> Result<CampaignSettings, String> {
        let input: CampaignInput = serde_json::from_value(body).map_err(|e| format!("serde: {e}"))?;
        validate_campaign(&input).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_body_is_the_defaults() {
        assert_eq!(settings(json!({})), Ok(TenantSettings::default()));
        assert_eq!(campaign(json!({})), Ok(CampaignSettings::default()));
        let defaults = TenantSettings::default();
        assert_eq!(defaults.match_policy, MatchPolicy::ContactOnly);
        assert_eq!(defaults.create_missing, CreateMissing::Never);
        assert!(defaults.field_mapping.opt_out_on_unsubscribe);
        assert_eq!(defaults.api_budget_percent, 80);
        assert_eq!((defaults.trigger_mode, defaults.sequence_id, defaults.webhook_auth), (TriggerMode::Manual, None, WebhookAuth::Secret));
        let c = CampaignSettings::default();
        assert!(!c.enabled && c.sync_activity && c.events == EventToggles::default());
        assert!(!c.syncs(sfbridge_core::store::ActivityKind::EmailSent), "an unknown campaign syncs nothing");
    }

    #[test]
    fn a_full_body_is_normalized() {
        let s = settings(json!({
            "match_policy": "contact_then_lead",
            "create_missing": "lead",
            "field_mapping": {"last_opened_at": "PenguinMails_Last_Email_Opened__c", "click_count": " total_clicks__C ",
                              "opt_out_on_unsubscribe": false, "mark_bounced": ""},
            "task_external_id_field": "Sfbridge_Event_Id__c",
            "api_budget_percent": 50,
        }));
        let s = s.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(s.field_mapping.click_count.map(|f| f.to_string()).as_deref(), Some("total_clicks__c"));
        assert_eq!(s.field_mapping.mark_bounced, None);
        assert_eq!(s.api_budget_percent, 50);
        let c = campaign(json!({"enabled": true, "events": {"email_opened": false}, "salesforce_campaign_id": "701000000000001"}));
        let c = c.unwrap_or_else(|e| unreachable!("{e}"));
        assert!(c.syncs(sfbridge_core::store::ActivityKind::EmailSent));
        assert!(!c.syncs(sfbridge_core::store::ActivityKind::EmailOpened));
        assert_eq!(c.salesforce_campaign_id.map(|i| i.to_string()).as_deref(), Some("701000000000001AAA"));
    }

    #[test]
    fn problems_name_the_field_and_the_fix() {
        let message = |body: Value| settings(body).err().unwrap_or_default();
        assert_eq!(
            message(json!({"field_mapping": {"click_count": "Total Clicks"}})),
            "field_mapping.click_count: \"Total Clicks\" is not a Salesforce field API name; use the API name from \
             Setup → Object Manager, e.g. Total_Clicks__c"
        );
        for (body, expected) in [
            (json!({"api_budget_percent": 0}), "api_budget_percent: 0 is out of range"),
            (json!({"api_budget_percent": 101}), "api_budget_percent: 101 is out of range"),
            (json!({"api_budget_percent": -5}), "api_budget_percent: -5 is out of range"),
            (json!({"create_missing": "lead"}), "create_missing: \"lead\" needs a match_policy"),
            (json!({"task_external_id_field": "Subject"}), "task_external_id_field: Subject is a standard field"),
            (json!({"field_mapping": {"mark_bounced": "HasOptedOutOfEmail"}}), "field_mapping.mark_bounced: HasOptedOutOfEmail is set by"),
            (json!({"field_mapping": {"last_opened_at": "email"}}), "field_mapping.last_opened_at: Email is a standard field"),
            (
                json!({"field_mapping": {"last_opened_at": "X__c", "mark_bounced": "x__c"}}),
                "field_mapping.mark_bounced: x__c is already mapped by field_mapping.last_opened_at",
            ),
        ] {
            let got = message(body.clone());
            assert!(got.starts_with(expected), "{body}: {got}");
        }
        // All problems at once.
        let both = message(json!({"api_budget_percent": 0, "field_mapping": {"click_count": "a b"}}));
        assert!(both.contains("field_mapping.click_count:") && both.contains("api_budget_percent:"), "{both}");
        assert!(message(json!({"field_mapping": {"clicks": "X__c"}})).starts_with("serde: unknown field `clicks`"));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn push_settings_are_checked_and_kept() {
        let saved = settings(json!({
            "attribute_mapping": {
                "nps_score": {"contact": "NPS_Score__c", "lead": "pi__NPS__c"},
                "plan": {"kind": "text", "contact": "Plan__c"}
            },
            "campaign_statuses": {"completed": "Completed", "rolled_back": "Paused"},
            "campaign_experiment_key_field": "Experiment_Key__c",
            "apex_endpoints": {"engagement": "/services/apexrest/Sfbridge/events"}
        }))
        .unwrap();
        let nps = &saved.attribute_mapping[&AttributeName::parse("nps_score").unwrap()];
        assert_eq!(nps.kind, AttributeKind::Number, "a well-known attribute needs no kind");
        assert_eq!(nps.lead.as_ref().map(FieldName::as_str), Some("pi__NPS__c"));
        assert_eq!(saved.campaign_statuses.len(), 2, "given statuses replace the defaults");
        assert_eq!(saved.apex_endpoints.len(), 1);
        assert_eq!(settings(json!({})).unwrap().campaign_statuses, default_campaign_statuses());
        // Round trip through the input a PATCH merges into.
        let again = validate_settings(&SettingsInput::from(&saved)).unwrap();
        assert_eq!(again, saved);

        let problems = settings(json!({
            "field_mapping": {"click_count": "Clicks__c"},
            "attribute_mapping": {
                "plan": {"contact": "Plan__c"},
                "seats": {"kind": "number"},
                "bad name": {"kind": "text", "contact": "X__c"},
                "total_opens": {"contact": "clicks__c"},
                "csat_score": {"contact": "Email"},
                "lead_score": {"lead": "Score__c"},
                "nps_score": {"lead": "score__c"}
            },
            "campaign_statuses": {"completed": " "},
            "campaign_experiment_key_field": "Name",
            "apex_endpoints": {"engagement": "https://example.com/x"}
        }))
        .unwrap_err();
        for expected in [
            "attribute_mapping.plan.kind: is required",
            "attribute_mapping.seats: maps to no field",
            "attribute_mapping.bad name: an attribute name must be",
            "attribute_mapping.total_opens.contact: clicks__c is already mapped by field_mapping.click_count",
            "attribute_mapping.csat_score.contact: Email is a field sync must not overwrite",
            "attribute_mapping.nps_score.lead: score__c is already mapped by attribute_mapping.lead_score.lead",
            "campaign_statuses.completed: give the Campaign Status value",
            "campaign_experiment_key_field: Name is a standard field",
            "apex_endpoints.engagement: an Apex REST path starts with /services/apexrest/",
        ] {
            assert!(problems.contains(expected), "{expected:?} in {problems}");
        }
    }

    #[test]
    fn trigger_mode_needs_a_sequence() {
        let message = |body: Value| settings(body).err().unwrap_or_default();
        assert_eq!(
            message(json!({"trigger_mode": "auto"})),
            "trigger_mode: \"auto\" needs a sequence_id: the product's sequence that Closed Won events start"
        );
        assert!(message(json!({"trigger_mode": "both", "sequence_id": " "})).starts_with("trigger_mode: \"both\" needs a sequence_id"));
        assert!(message(json!({"trigger_mode": "auto", "sequence_id": null})).starts_with("trigger_mode: "));
        let bad = message(json!({"trigger_mode": "auto", "sequence_id": "seq#1"}));
        assert!(bad.starts_with("sequence_id: sequence id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"), "{bad}");
        assert!(!bad.contains("trigger_mode"), "an invalid id is one problem, not two: {bad}");
        assert!(message(json!({"sequence_id": "s".repeat(65)})).starts_with("sequence_id: "));
        assert!(message(json!({"trigger_mode": "always"})).starts_with("serde: unknown variant `always`"));
        assert!(message(json!({"webhook_auth": "hmac"})).starts_with("serde: unknown variant `hmac`"));

        let s = settings(json!({"trigger_mode": "both", "sequence_id": " seq_1 ", "webhook_auth": "signature"}));
        let s = s.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((s.trigger_mode, s.webhook_auth), (TriggerMode::Both, WebhookAuth::Signature));
        assert_eq!(s.sequence_id.map(|i| i.to_string()).as_deref(), Some("seq_1"));
        // Manual mode may keep a sequence chosen for later; "" clears it.
        let s = settings(json!({"sequence_id": "seq_2"})).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((s.trigger_mode, s.sequence_id.map(String::from)), (TriggerMode::Manual, Some("seq_2".to_owned())));
        assert_eq!(settings(json!({"sequence_id": ""})), Ok(TenantSettings::default()));
    }

    #[test]
    fn campaign_problems_name_the_field() {
        let message = |body: Value| campaign(body).err().unwrap_or_default();
        assert!(message(json!({"salesforce_campaign_id": "003RO0000035WQg"})).starts_with(
            "salesforce_campaign_id: 003RO0000035WQgYAM is not a Campaign id (Campaign ids start with 701, this one with 003)"
        ));
        assert!(message(json!({"salesforce_campaign_id": "nope"})).starts_with("salesforce_campaign_id: \"nope\" is not a Salesforce id"));
        assert!(message(json!({"experiment_key": "a\nb"})).starts_with("experiment_key: "));
        assert!(message(json!({"experiment_key": "k".repeat(256)})).starts_with("experiment_key: "));
        assert!(message(json!({"events": {"email_delivered": true}})).starts_with("serde: unknown field `email_delivered`"));
    }

    #[test]
    fn diff_lists_changed_leaves_only() {
        let old = json!({"a": 1, "m": {"x": null, "y": true}});
        let new = json!({"a": 1, "m": {"x": "F__c", "y": false}});
        assert_eq!(
            diff(&old, &new),
            json!({"m.x": {"from": null, "to": "F__c"}, "m.y": {"from": true, "to": false}})
        );
        assert_eq!(diff(&old, &old), json!({}));
    }
}
