//! `POST /v1/tenants/{t}/settings/test-fields` against the simulated org: every mapped field
//! found or not, its type, whether the connected user may write it, whether it fits what the
//! setting writes, what to do; and every mapped Campaign Status checked against the picklist. One
//! Salesforce call; the describes it fetched are cached for sync.

use reqwest::{Method, StatusCode};
use salesforce_sim::{FieldKind, FieldSpec};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::sync::TENANT;

fn path(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/settings/test-fields")
}

async fn test_fields(app: &TestApp) -> Value {
    let response = app.admin(Method::POST, &path(TENANT), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The check of `setting` (e.g. `attribute_mapping.nps_score.contact`).
fn check<'a>(report: &'a Value, setting: &str) -> &'a Value {
    let fields = report["fields"].as_array().unwrap();
    fields.iter().find(|f| f["setting"] == setting).unwrap_or_else(|| panic!("no check of {setting} in {report}"))
}

fn advice(check: &Value) -> &str {
    check["advice"].as_str().unwrap_or_default()
}

async fn tests_every_mapped_field(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.add_custom_field("Contact", "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0));
    app.sim.add_custom_field("Lead", "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0));
    app.sim.add_custom_field("Contact", "pi__Last_Survey__c", FieldSpec::new(FieldKind::DateTime));
    app.sim.add_custom_field("Contact", "CSAT__c", FieldSpec::new(FieldKind::String).with_length(20));
    app.sim.add_custom_field("Contact", "Score_Formula__c", FieldSpec::new(FieldKind::Double).with_digits(18, 0).read_only());
    app.sim.add_custom_field("Contact", "Last_Opened__c", FieldSpec::new(FieldKind::DateTime));
    app.sim.add_custom_field("Lead", "Last_Opened__c", FieldSpec::new(FieldKind::DateTime));
    app.ready_tenant(json!({
        "field_mapping": {"last_opened_at": "Last_Opened__c"},
        "attribute_mapping": {
            "nps_score": {"contact": "NPS_Score__c", "lead": "NPS_Score__c"},
            "last_survey_at": {"contact": "pi__Last_Survey__c", "lead": "Last_Survey__c"},
            "csat_score": {"contact": "CSAT__c"},
            "lead_score": {"contact": "Score_Formula__c"}
        },
        "campaign_statuses": {"completed": "Completed", "rolled_back": "Paused"}
    }))
    .await;

    let calls = app.sim.rest_calls();
    let report = test_fields(&app).await;
    assert_eq!(app.sim.rest_calls() - calls, 1, "one Composite call of describes");
    assert_eq!(report["ok"], false, "{report}");

    // All fine, namespaced included.
    for setting in ["attribute_mapping.nps_score.contact", "attribute_mapping.nps_score.lead", "attribute_mapping.last_survey_at.contact", "field_mapping.last_opened_at"] {
        let c = check(&report, setting);
        assert_eq!((&c["found"], &c["updateable"], &c["compatible"], &c["advice"]), (&json!(true), &json!(true), &json!(true), &Value::Null), "{c}");
    }
    assert_eq!(check(&report, "attribute_mapping.nps_score.contact")["type"], "Number(3, 0)");
    assert_eq!(check(&report, "attribute_mapping.last_survey_at.contact")["field"], "pi__Last_Survey__c");
    // A missing field: what to create, where.
    let missing = check(&report, "attribute_mapping.last_survey_at.lead");
    assert_eq!(missing["found"], false);
    assert!(advice(missing).starts_with("create a Date/Time field named Last_Survey__c on Lead (Setup → Object Manager → Lead"), "{missing}");
    // A wrong type.
    let wrong = check(&report, "attribute_mapping.csat_score.contact");
    assert_eq!((&wrong["found"], &wrong["compatible"], &wrong["type"]), (&json!(true), &json!(false), &json!("Text(20)")), "{wrong}");
    assert!(advice(wrong).contains("needs a Number(1, 0) field"), "{wrong}");
    // A read-only field.
    let read_only = check(&report, "attribute_mapping.lead_score.contact");
    assert_eq!((&read_only["updateable"], &read_only["compatible"]), (&json!(false), &json!(true)), "{read_only}");
    assert!(advice(read_only).contains("Field-Level Security"), "{read_only}");
    // A picklist value the org does not have.
    let statuses = report["campaign_statuses"].as_array().unwrap();
    let paused = statuses.iter().find(|s| s["state"] == "rolled_back").unwrap();
    assert_eq!(paused["found"], false);
    assert!(advice(paused).contains("\"Paused\" is not a Campaign Status value in the org (Planned, In Progress, Completed, Aborted)"), "{paused}");
    assert_eq!(statuses.iter().find(|s| s["state"] == "completed").unwrap()["found"], true);

    // The admin fixes the org; the next test sees it (the describes are asked again, conditionally).
    app.sim.set_picklist_values("Campaign", "Status", &["Planned", "In Progress", "Completed", "Aborted", "Paused"], false);
    app.sim.add_custom_field("Lead", "Last_Survey__c", FieldSpec::new(FieldKind::DateTime));
    app.put_json(
        &format!("/v1/tenants/{TENANT}/settings"),
        json!({
            "field_mapping": {"last_opened_at": "Last_Opened__c"},
            "attribute_mapping": {
                "nps_score": {"contact": "NPS_Score__c", "lead": "NPS_Score__c"},
                "last_survey_at": {"contact": "pi__Last_Survey__c", "lead": "Last_Survey__c"}
            },
            "campaign_statuses": {"completed": "Completed", "rolled_back": "Paused"}
        }),
    )
    .await;
    let calls = app.sim.rest_calls();
    let fixed = test_fields(&app).await;
    assert_eq!(app.sim.rest_calls() - calls, 1);
    assert_eq!(fixed["ok"], true, "{fixed}");
}

#[tokio::test]
async fn test_fields_checks_every_mapped_field_embedded() {
    tests_every_mapped_field(Backend::Memory).await;
}

#[tokio::test]
async fn test_fields_checks_every_mapped_field_on_moto() {
    tests_every_mapped_field(Backend::Moto).await;
}

#[tokio::test]
async fn test_fields_needs_a_connection() {
    let app = spawn_app(Backend::Memory).await;
    let response = app.admin(Method::POST, &path("nobody_yet"), None).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_connected");
    assert!(body["error"]["message"].as_str().unwrap().contains("POST /v1/tenants/nobody_yet/connect"), "{body}");
    let get = app.admin(Method::GET, &path(TENANT), None).await;
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}
