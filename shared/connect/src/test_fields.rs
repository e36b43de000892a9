//! `POST /v1/tenants/{t}/settings/test-fields`: every field the tenant's settings map, checked
//! against the org with the tenant's own connection. One Composite call of describes (each
//! conditional on what the cache holds), so an admin can fix the mapping or the org before a
//! command meets the problem. The answers refresh the describe cache the sync uses.

use chrono::{DateTime, Utc};
use serde::Serialize;

use sfbridge_core::domain::{FieldName, ObjectName, TenantId};
use sfbridge_core::store::{AttributeKind, TenantSettings};
use sfbridge_salesforce::fields::{setup_type, Catalog, FieldInfo, FieldType};
use sfbridge_salesforce::rest::{ErrorClass, RestError};
use sfbridge_salesforce::{OAuthFailure, SessionError};

use crate::settings::WELL_KNOWN_SETUP_TYPES;
use crate::{ConflictCode, ConnectError, Connector};

/// What Test Fields found.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct TestFieldsReport {
    pub tenant_id: TenantId,
    /// Every mapped field found, writable by the connected user and of a fitting type, and every
    /// mapped Campaign Status a value of the org's picklist.
    pub ok: bool,
    pub fields: Vec<FieldCheck>,
    pub campaign_statuses: Vec<StatusCheck>,
    pub checked_at: DateTime<Utc>,
}

/// One mapped field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct FieldCheck {
    /// The setting that maps it (`attribute_mapping.nps_score.contact`).
    pub setting: String,
    pub object: String,
    pub field: String,
    pub found: bool,
    /// As Setup shows it (`Number(3, 0)`), when found.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub updateable: Option<bool>,
    /// Whether the field can hold what the setting writes into it.
    pub compatible: bool,
    /// What to do, when something is wrong.
    pub advice: Option<String>,
}

/// One product state's Campaign Status.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct StatusCheck {
    pub state: String,
    pub status: String,
    pub found: bool,
    pub advice: Option<String>,
}

/// What a mapped field must hold.
#[derive(Debug, Clone, Copy)]
enum Holds {
    Attribute(AttributeKind),
    /// Activity sync's `last_opened_at`.
    DateTime,
    /// Activity sync's `click_count`.
    Count,
    /// Activity sync's `mark_bounced`.
    Flag,
    /// A Text field marked External ID (the Task event id, the Campaign experiment key).
    ExternalIdText,
}

struct Mapped {
    setting: String,
    object: &'static str,
    field: FieldName,
    holds: Holds,
    /// What to create when it is missing (`Number(3, 0)`).
    create: String,
}

pub async fn test_fields(ctx: &Connector, t: &TenantId) -> Result<TestFieldsReport, ConnectError> {
    let (sessions, rest) = ctx.salesforce()?;
    let settings = ctx.store.settings(t).await?.map(|r| r.settings).unwrap_or_default();
    let connection = ctx.store.connection(t).await?.ok_or_else(|| not_connected(t))?;
    let org = connection.organization_id.as_str().to_owned();
    let mapped = mapped_fields(&settings);
    let objects: Vec<ObjectName> = ["Contact", "Lead", "Task", "Campaign"].into_iter().filter_map(|o| ObjectName::parse(o).ok()).collect();
    let mut catalog = Catalog::load(&ctx.store, t, &org, objects).await;
    let now = ctx.clock.now();
    let requests = catalog.requests(now, true);

    let session = sessions.current(t).await.map_err(|e| session_error(t, e))?;
    let answers = match rest.composite(&session, requests.clone()).await {
        Err(e) if e.class == ErrorClass::RefreshSession => {
            let session = sessions.refreshed(t, &session).await.map_err(|e| session_error(t, e))?;
            rest.composite(&session, requests).await
        }
        other => other,
    }
    .map_err(salesforce_error)?;
    catalog.absorb(&ctx.store, t, &org, &answers.value, now).await;

    let fields: Vec<FieldCheck> = mapped.iter().map(|m| check_field(&catalog, m)).collect();
    let campaign_statuses = check_statuses(&catalog, &settings);
    let ok = fields.iter().all(|f| f.found && f.updateable != Some(false) && f.compatible)
        && campaign_statuses.iter().all(|s| s.found);
    Ok(TestFieldsReport { tenant_id: t.clone(), ok, fields, campaign_statuses, checked_at: now })
}

/// Every field the settings name, with what it must hold and what to create if it is missing.
fn mapped_fields(settings: &TenantSettings) -> Vec<Mapped> {
    let mut mapped = Vec::new();
    let activity = &settings.field_mapping;
    for (setting, field, holds, create) in [
        ("field_mapping.last_opened_at", &activity.last_opened_at, Holds::DateTime, "Date/Time"),
        ("field_mapping.click_count", &activity.click_count, Holds::Count, "Number(18, 0)"),
        ("field_mapping.mark_bounced", &activity.mark_bounced, Holds::Flag, "Checkbox"),
    ] {
        for object in ["Contact", "Lead"] {
            if let Some(field) = field {
                mapped.push(Mapped { setting: setting.to_owned(), object, field: field.clone(), holds, create: create.to_owned() });
            }
        }
    }
    if let Some(field) = &settings.task_external_id_field {
        let create = "Text(255), External ID and Unique".to_owned();
        mapped.push(Mapped { setting: "task_external_id_field".into(), object: "Task", field: field.clone(), holds: Holds::ExternalIdText, create });
    }
    if let Some(field) = &settings.campaign_experiment_key_field {
        let create = "Text(255), External ID".to_owned();
        mapped.push(Mapped {
            setting: "campaign_experiment_key_field".into(),
            object: "Campaign",
            field: field.clone(),
            holds: Holds::ExternalIdText,
            create,
        });
    }
    for (attribute, m) in &settings.attribute_mapping {
        let create = WELL_KNOWN_SETUP_TYPES
            .iter()
            .find(|(name, _)| *name == attribute.as_str())
            .map_or_else(|| default_setup_type(m.kind).to_owned(), |(_, t)| (*t).to_owned());
        for (object, field) in [("Contact", &m.contact), ("Lead", &m.lead)] {
            let Some(field) = field else { continue };
            let setting = format!("attribute_mapping.{attribute}.{}", object.to_ascii_lowercase());
            mapped.push(Mapped { setting, object, field: field.clone(), holds: Holds::Attribute(m.kind), create: create.clone() });
        }
    }
    mapped
}

fn default_setup_type(kind: AttributeKind) -> &'static str {
    match kind {
        AttributeKind::Number => "Number(16, 2)",
        AttributeKind::Text => "Text(255)",
        AttributeKind::Date => "Date",
        AttributeKind::Datetime => "Date/Time",
        AttributeKind::Boolean => "Checkbox",
    }
}

fn check_field(catalog: &Catalog, m: &Mapped) -> FieldCheck {
    let base = |found: bool, info: Option<&FieldInfo>, compatible: bool, advice: Option<String>| FieldCheck {
        setting: m.setting.clone(),
        object: m.object.to_owned(),
        field: m.field.as_str().to_owned(),
        found,
        kind: info.map(setup_type),
        updateable: info.map(|f| f.updateable),
        compatible,
        advice,
    };
    let Some(object) = catalog.fields(m.object) else {
        let why = if catalog.is_missing(m.object) { "is not visible to the connected user" } else { "could not be described" };
        let advice = format!("{} {why}; check the connected user's object permissions, then test again", m.object);
        return base(false, None, false, Some(advice));
    };
    let Some(info) = object.field(m.field.as_str()) else {
        let advice = format!(
            "create a {} field named {} on {} (Setup → Object Manager → {} → Fields & Relationships) and give the \
             connected user's profile or permission set Edit access to it, or change {}",
            m.create, m.field, m.object, m.object, m.setting
        );
        return base(false, None, false, Some(advice));
    };
    let compatible = fits(info, m.holds);
    let writable = match m.holds {
        // Matched on, never written.
        Holds::ExternalIdText if m.object == "Campaign" => true,
        _ => info.updateable && info.createable,
    };
    let advice = if !compatible {
        Some(format!(
            "{} is a {} field; {} needs a {} field: change the field's type or map another field",
            info.name,
            setup_type(info),
            m.setting,
            m.create
        ))
    } else if !writable {
        Some(format!(
            "the connected user cannot edit {}.{}: give its profile or permission set Edit access to the field \
             (Field-Level Security), or map another field",
            m.object, info.name
        ))
    } else {
        None
    };
    FieldCheck { updateable: Some(writable), ..base(true, Some(info), compatible, advice) }
}

/// Whether a field of this type can hold what the setting writes.
fn fits(info: &FieldInfo, holds: Holds) -> bool {
    let number = matches!(info.kind, FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent);
    let text = matches!(info.kind, FieldType::String | FieldType::TextArea | FieldType::Combobox);
    match holds {
        Holds::Attribute(AttributeKind::Number) | Holds::Count => number,
        Holds::Attribute(AttributeKind::Text) => text || matches!(info.kind, FieldType::Picklist | FieldType::Email | FieldType::Phone | FieldType::Url),
        Holds::Attribute(AttributeKind::Date) => matches!(info.kind, FieldType::Date | FieldType::DateTime),
        Holds::Attribute(AttributeKind::Datetime) | Holds::DateTime => info.kind == FieldType::DateTime,
        Holds::Attribute(AttributeKind::Boolean) | Holds::Flag => info.kind == FieldType::Boolean,
        Holds::ExternalIdText => info.kind == FieldType::String && info.external_id,
    }
}

fn check_statuses(catalog: &Catalog, settings: &TenantSettings) -> Vec<StatusCheck> {
    let status = catalog.fields("Campaign").and_then(|c| c.field("Status"));
    settings
        .campaign_statuses
        .iter()
        .map(|(state, value)| {
            let found = status.is_some_and(|f| f.picklist.iter().any(|v| v == value));
            let advice = (!found).then(|| match status {
                Some(f) => format!(
                    "{value:?} is not a Campaign Status value in the org ({}); add it (Setup → Object Manager → Campaign → \
                     Fields & Relationships → Status) or map {state} to one of those in campaign_statuses",
                    f.picklist.join(", ")
                ),
                None => "Campaign's Status field could not be read; check the connected user's access to Campaigns".to_owned(),
            });
            StatusCheck { state: state.as_str().to_owned(), status: value.clone(), found, advice }
        })
        .collect()
}

fn not_connected(t: &TenantId) -> ConnectError {
    ConnectError::Conflict {
        code: ConflictCode::NotConnected,
        message: format!("Tenant {t} has no Salesforce connection to test with; connect it first (POST /v1/tenants/{t}/connect)."),
    }
}

fn session_error(t: &TenantId, e: SessionError) -> ConnectError {
    match e {
        SessionError::NotConnected(_) => not_connected(t),
        SessionError::ReauthRequired(_) => ConnectError::Conflict {
            code: ConflictCode::NotConnected,
            message: format!(
                "Salesforce no longer accepts tenant {t}'s tokens; an admin must reconnect (POST /v1/tenants/{t}/connect), then test again."
            ),
        },
        SessionError::Transient(cause) => ConnectError::Unavailable(cause),
    }
}

fn salesforce_error(e: RestError) -> ConnectError {
    let retryable = e.class != ErrorClass::Permanent;
    ConnectError::Salesforce(OAuthFailure::new(&e.code, format!("Salesforce could not describe the objects: {}", e.message), retryable))
}
