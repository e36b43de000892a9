//! Push commands through the real handler against the simulated org: `field_update` puts product
//! attributes (scores, dates) onto the fields the tenant mapped for Contacts and for Leads,
//! converted to each field's type; a value that does not fit is refused for that command alone,
//! naming the field, the value and the type.

use salesforce_sim::{FieldKind, FieldSpec};
use serde_json::{json, Value};
use sfbridge_core::domain::TenantId;

use reqwest::{Method, StatusCode};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::webhooks::{id18, Hook};
use crate::sync::{activity, outcome_of, TENANT};

/// A `field_update` for the person with `email`.
pub(crate) fn field_update(event_id: &str, email: &str, values: Value) -> Value {
    json!({"version": 1, "type": "field_update", "event_id": event_id, "tenant_id": TENANT,
        "contact": {"email": email}, "values": values, "occurred_at": "2026-11-20T10:00:00Z"})
}

fn contact<'a>(contacts: &'a [Value], email: &str) -> &'a Value {
    contacts.iter().find(|c| c["Email"] == email).unwrap_or_else(|| panic!("no record with {email}"))
}

async fn scores_land_on_mapped_contact_and_lead_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.add_custom_field("Contact", "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0));
    app.sim.add_custom_field("Contact", "Last_Survey__c", FieldSpec::new(FieldKind::DateTime));
    app.sim.add_custom_field("Contact", "Last_Opened__c", FieldSpec::new(FieldKind::DateTime));
    app.sim.add_custom_field("Lead", "Last_Opened__c", FieldSpec::new(FieldKind::DateTime));
    app.sim.add_custom_field("Lead", "pi__NPS__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0));
    let ada = app.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    app.sim.insert_contact("alan@example.com", "Alan", "Turing");
    app.sim.insert_lead("grace@example.com", "Grace", "Hopper");
    app.ready_tenant(json!({
        "match_policy": "contact_then_lead",
        "field_mapping": {"last_opened_at": "Last_Opened__c"},
        "attribute_mapping": {
            "nps_score": {"contact": "NPS_Score__c", "lead": "pi__NPS__c"},
            "last_survey_at": {"contact": "Last_Survey__c"},
            "plan": {"kind": "text", "lead": "Plan__c"}
        }
    }))
    .await;

    let mut by_id = json!({"version": 1, "type": "field_update", "event_id": "fu_by_id", "tenant_id": TENANT,
        "record_id": ada, "values": {"nps_score": 7}, "occurred_at": "2026-11-20T11:00:00Z"});
    let batch = [
        field_update("fu_ada", "ada@example.com", json!({"nps_score": 9, "last_survey_at": "2026-11-20T10:00:00+01:00"})),
        by_id.clone(),
        activity("open_ada", "email_opened", "ada@example.com"),
        field_update("fu_grace", "grace@example.com", json!({"nps_score": "8.6", "last_survey_at": "2026-11-20T10:00:00Z"})),
        field_update("fu_too_big", "alan@example.com", json!({"nps_score": 1000})),
        field_update("fu_unmapped", "alan@example.com", json!({"plan": "Pro"})),
        field_update("fu_nobody", "nobody@example.com", json!({"nps_score": 5})),
    ];
    let calls = app.sim.rest_calls();
    assert!(app.sync(&batch).await.is_empty(), "nothing left for SQS");
    assert_eq!(app.sim.rest_calls() - calls, 3, "one lookup, one describe of Contact and Lead, one write");

    let contacts = app.sim.records("Contact");
    let ada_now = contact(&contacts, "ada@example.com");
    assert_eq!(ada_now["NPS_Score__c"].as_f64(), Some(7.0), "the later value wins, by id or by email: {ada_now}");
    assert!(ada_now["Last_Survey__c"].as_str().unwrap().starts_with("2026-11-20T09:00:00"), "{ada_now}");
    assert!(ada_now["Last_Opened__c"].is_string(), "the open rode in the same update: {ada_now}");
    let leads = app.sim.records("Lead");
    assert_eq!(contact(&leads, "grace@example.com")["pi__NPS__c"].as_f64(), Some(9.0), "rounded to the field's scale, namespaced field");
    assert!(contact(&contacts, "alan@example.com")["NPS_Score__c"].is_null(), "refused before anything was sent");

    let deliveries = app.deliveries(TENANT).await;
    for id in ["fu_ada", "fu_by_id", "fu_grace"] {
        let d = outcome_of(&deliveries, id);
        assert_eq!((d["outcome"].as_str(), d["type"].as_str()), (Some("synced"), Some("field_update")), "{d}");
        assert!(d["record_id"].is_string(), "{d}");
    }
    let too_big = outcome_of(&deliveries, "fu_too_big");
    assert_eq!((too_big["outcome"].as_str(), too_big["code"].as_str()), (Some("dead_lettered"), Some("invalid_value")), "{too_big}");
    let reason = too_big["reason"].as_str().unwrap();
    assert!(reason.contains("Contact.NPS_Score__c (Number(3, 0)) cannot take 1000"), "{reason}");
    let unmapped = outcome_of(&deliveries, "fu_unmapped");
    assert_eq!((unmapped["outcome"].as_str(), unmapped["code"].as_str()), (Some("skipped"), Some("not_mapped")), "{unmapped}");
    assert_eq!(outcome_of(&deliveries, "fu_nobody")["code"], "no_match");
    let t = TenantId::parse(TENANT).unwrap();
    let dead: Vec<String> = app.ctx.store.dead_letters(&t, 10, None).await.unwrap().dead_letters.iter().map(|d| d.event_id.to_string()).collect();
    assert_eq!(dead, ["fu_too_big"]);

    // Again: a duplicate is acknowledged, and the cached describes spare the describe call.
    by_id["event_id"] = json!("fu_by_id_2");
    by_id["values"] = json!({"nps_score": 6});
    let calls = app.sim.rest_calls();
    assert!(app.sync(&[field_update("fu_ada", "ada@example.com", json!({"nps_score": 1})), by_id]).await.is_empty());
    assert_eq!(app.sim.rest_calls() - calls, 1, "the write only: no lookup (by id), no describe (cached)");
    assert_eq!(contact(&app.sim.records("Contact"), "ada@example.com")["NPS_Score__c"].as_f64(), Some(6.0));
    assert_eq!(outcome_of(&app.deliveries(TENANT).await, "fu_ada")["code"], "duplicate");
}

#[tokio::test]
async fn scores_land_on_mapped_contact_and_lead_fields_embedded() {
    scores_land_on_mapped_contact_and_lead_fields(Backend::Memory).await;
}

#[tokio::test]
async fn scores_land_on_mapped_contact_and_lead_fields_on_moto() {
    scores_land_on_mapped_contact_and_lead_fields(Backend::Moto).await;
}

#[tokio::test]
async fn malformed_field_updates_are_dead_lettered_with_what_to_fix() {
    let app: TestApp = spawn_app(Backend::Memory).await;
    app.ready_tenant(json!({})).await;
    let cases = [
        (json!({"version": 1, "type": "field_update", "event_id": "m1", "tenant_id": TENANT, "values": {"nps_score": 1}}), "give \"contact\""),
        (json!({"version": 1, "type": "field_update", "event_id": "m2", "tenant_id": TENANT, "record_id": "001000000000001AAA",
            "values": {"nps_score": 1}}), "not a Contact (003…) or Lead (00Q…) id"),
        (json!({"version": 1, "type": "field_update", "event_id": "m3", "tenant_id": TENANT, "contact": {"email": "a@example.com"},
            "values": {}}), "1 to 100 attributes"),
        (json!({"version": 1, "type": "field_update", "event_id": "m4", "tenant_id": TENANT, "contact": {"email": "a@example.com"},
            "value": {"nps_score": 1}}), "unknown field `value`"),
    ];
    for (command, expected) in cases {
        assert!(app.sync(std::slice::from_ref(&command)).await.is_empty());
        let d = outcome_of(&app.deliveries(TENANT).await, command["event_id"].as_str().unwrap()).clone();
        assert_eq!(d["code"], "malformed_command", "{d}");
        assert!(d["reason"].as_str().unwrap().contains(expected), "{expected:?} in {d}");
    }
}

fn campaign_update(event_id: &str, campaign: Value, state: Option<&str>, note: Option<&str>) -> Value {
    let mut c = json!({"version": 1, "type": "campaign_update", "event_id": event_id, "tenant_id": TENANT,
        "campaign": campaign, "occurred_at": "2026-11-20T10:00:00Z"});
    if let Some(state) = state {
        c["state"] = json!(state);
    }
    if let Some(note) = note {
        c["note"] = json!(note);
    }
    c
}

fn record<'a>(records: &'a [Value], id: &str) -> &'a Value {
    records.iter().find(|r| r["Id"] == id).unwrap_or_else(|| panic!("no record {id}"))
}

async fn campaign_updates_set_status_and_log_notes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.add_custom_field("Campaign", "Experiment_Key__c", FieldSpec::unique_external_id(FieldKind::String));
    let linked = app.sim.insert_record("Campaign", json!({"Name": "Checkout CTA", "Status": "Planned"})).unwrap();
    let keyed = app.sim.insert_record("Campaign", json!({"Name": "Pricing page", "Status": "Planned", "Experiment_Key__c": "exp_sf"})).unwrap();
    app.ready_tenant(json!({
        "campaign_statuses": {"completed": "Completed", "running": "In Progress", "rolled_back": "Paused"},
        "campaign_experiment_key_field": "Experiment_Key__c"
    }))
    .await;
    app.put_json(
        &format!("/v1/tenants/{TENANT}/campaigns/cmp_checkout"),
        json!({"enabled": true, "salesforce_campaign_id": linked, "experiment_key": "exp_checkout"}),
    )
    .await;

    let note = "Variant B reached significance: +12 % replies, p = 0.01";
    let batch = [
        campaign_update("cu_key", json!({"experiment_key": "exp_checkout"}), Some("completed"), Some(note)),
        campaign_update("cu_sf", json!({"experiment_key": "exp_sf"}), Some("running"), None),
        campaign_update("cu_note", json!({"salesforce_id": keyed}), None, Some("Holdout group closed")),
        campaign_update("cu_paused", json!({"campaign_id": "cmp_checkout"}), Some("rolled_back"), None),
        campaign_update("cu_state", json!({"salesforce_id": keyed}), Some("archived"), None),
        campaign_update("cu_nowhere", json!({"experiment_key": "exp_nope"}), Some("completed"), None),
    ];
    let calls = app.sim.rest_calls();
    assert!(app.sync(&batch).await.is_empty());
    assert_eq!(app.sim.rest_calls() - calls, 3, "one query (experiment keys), one describe of Campaign, one write");

    let campaigns = app.sim.records("Campaign");
    assert_eq!(record(&campaigns, &linked)["Status"], "Completed");
    assert_eq!(record(&campaigns, &keyed)["Status"], "In Progress", "found by its Experiment_Key__c");
    let tasks = app.tasks();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let logged = tasks.iter().find(|t| t["WhatId"] == linked.as_str()).unwrap();
    assert_eq!(logged["Subject"], format!("Note: {note}"));
    assert!(logged["Description"].as_str().unwrap().starts_with(note));
    assert!(logged["WhoId"].is_null());

    let deliveries = app.deliveries(TENANT).await;
    for id in ["cu_key", "cu_sf", "cu_note"] {
        let d = outcome_of(&deliveries, id);
        assert_eq!((d["outcome"].as_str(), d["type"].as_str()), (Some("synced"), Some("campaign_update")), "{d}");
    }
    let paused = outcome_of(&deliveries, "cu_paused");
    assert_eq!(paused["code"], "invalid_value", "{paused}");
    assert!(paused["reason"].as_str().unwrap().contains("\"Paused\", which is not a value of the org's picklist"), "{paused}");
    assert_eq!(outcome_of(&deliveries, "cu_state")["code"], "unknown_state");
    let nowhere = outcome_of(&deliveries, "cu_nowhere");
    assert_eq!(nowhere["code"], "campaign_not_found");
    assert!(nowhere["reason"].as_str().unwrap().contains("Experiment_Key__c = \"exp_nope\""), "{nowhere}");

    // A note whose write answer was lost is not logged twice: the next attempt finds its Task on
    // the Campaign by the event id ending its Description.
    app.sim.lose_write_answers(1);
    let lost = campaign_update("cu_lost", json!({"salesforce_id": linked}), None, Some("Rolled out to 100 %"));
    let retried = app.sync(std::slice::from_ref(&lost)).await;
    assert!(retried.is_empty(), "deferred, not retried: {retried:?}");
    assert!(app.sync(&[lost]).await.is_empty());
    let notes = app.tasks().into_iter().filter(|t| t["Subject"] == "Note: Rolled out to 100 %").count();
    assert_eq!(notes, 1, "exactly once");
    assert_eq!(outcome_of(&app.deliveries(TENANT).await, "cu_lost")["outcome"], "synced");
}

#[tokio::test]
async fn campaign_updates_set_status_and_log_notes_embedded() {
    campaign_updates_set_status_and_log_notes(Backend::Memory).await;
}

#[tokio::test]
async fn campaign_updates_set_status_and_log_notes_on_moto() {
    campaign_updates_set_status_and_log_notes(Backend::Moto).await;
}

/// Salesforce tells sfbridge which Campaign runs an experiment (a `campaign_updated` webhook of a
/// Campaign carrying its key); a later `campaign_update` naming only the key finds it with no
/// query. A link made in another org names nothing after a reconnect.
async fn campaign_updated_events_link_experiment_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.webhook_tenant(TENANT).await;
    let campaign = app.sim.insert_record("Campaign", json!({"Name": "Checkout CTA", "Status": "Planned"})).unwrap();
    let event = json!({"event_type": "campaign_updated", "campaign_id": campaign, "campaign_name": "Checkout CTA",
        "status": "In Progress", "experiment_key": "exp_linked"});
    let (status, body) = app.post_hook(Hook::json(TENANT, &event).secret(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.inbound_events().await.len(), 1, "the event still reaches the product");

    let calls = app.sim.rest_calls();
    let completed = campaign_update("cu_linked", json!({"experiment_key": "exp_linked"}), Some("completed"), Some("Variant B won"));
    assert!(app.sync(&[completed]).await.is_empty());
    assert_eq!(app.sim.rest_calls() - calls, 2, "one describe of Campaign, one write: no query for the key");
    assert_eq!(record(&app.sim.records("Campaign"), &campaign)["Status"], "Completed");
    assert!(app.tasks().iter().any(|t| t["WhatId"] == campaign.as_str() && t["Subject"] == "Note: Variant B won"));
    assert_eq!(outcome_of(&app.deliveries(TENANT).await, "cu_linked")["outcome"], "synced");

    let disconnected = app.admin(Method::DELETE, &format!("/v1/tenants/{TENANT}/connection"), None).await;
    assert!(disconnected.status().is_success(), "{}", disconnected.status());
    app.sim.set_org(&id18("00D5g000000OtHr"), &id18("0055g00000AdmnU"));
    app.connect_tenant(TENANT).await;
    assert!(app.sync(&[campaign_update("cu_other_org", json!({"experiment_key": "exp_linked"}), Some("completed"), None)]).await.is_empty());
    let d = outcome_of(&app.deliveries(TENANT).await, "cu_other_org").clone();
    assert_eq!(d["code"], "campaign_not_found", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("no campaign_updated event linked it"), "{d}");
}

#[tokio::test]
async fn campaign_updated_events_link_experiment_keys_embedded() {
    campaign_updated_events_link_experiment_keys(Backend::Memory).await;
}

#[tokio::test]
async fn campaign_updated_events_link_experiment_keys_on_moto() {
    campaign_updated_events_link_experiment_keys(Backend::Moto).await;
}

fn record_upsert(event_id: &str, object: &str, external_id: &str, fields: Value) -> Value {
    json!({"version": 1, "type": "record_upsert", "event_id": event_id, "tenant_id": TENANT, "object": object,
        "external_id_field": "Event_Id__c", "external_id": external_id, "fields": fields, "occurred_at": "2026-11-20T10:00:00Z"})
}

async fn records_land_in_any_object_by_external_id_and_apex_gets_payloads(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sim.add_custom_object("Engagement_Event__c", "Engagement Event");
    app.sim.add_custom_field("Engagement_Event__c", "Event_Id__c", FieldSpec::unique_external_id(FieldKind::String));
    app.sim.add_custom_field("Engagement_Event__c", "Score__c", FieldSpec::new(FieldKind::Double).with_digits(5, 2));
    app.sim.add_custom_field("Engagement_Event__c", "Occurred__c", FieldSpec::new(FieldKind::DateTime));
    app.sim.add_custom_object("ns__Survey__c", "Survey");
    app.sim.add_custom_field("ns__Survey__c", "Event_Id__c", FieldSpec::unique_external_id(FieldKind::String));
    app.sim.add_custom_field("ns__Survey__c", "ns__Answer__c", FieldSpec::new(FieldKind::String).with_length(20));
    app.sim.add_apex_rest("/Sfbridge/events", salesforce_sim::ApexBehavior::Echo);
    app.ready_tenant(json!({"apex_endpoints": {"engagement": "/services/apexrest/Sfbridge/events"}})).await;

    let batch = [
        record_upsert("ru_1", "Engagement_Event__c", "ev_1", json!({"Name": "Webinar attended", "Score__c": "12.345"})),
        record_upsert("ru_2", "Engagement_Event__c", "ev_2", json!({"Name": "Demo booked", "Occurred__c": "2026-11-20T10:00:00Z"})),
        record_upsert("ru_1_again", "Engagement_Event__c", "ev_1", json!({"Score__c": 50})),
        record_upsert("ru_ns", "ns__Survey__c", "sv_1", json!({"Name": "NPS", "ns__Answer__c": "Great"})),
        record_upsert("ru_long", "ns__Survey__c", "sv_2", json!({"ns__Answer__c": "x".repeat(21)})),
        record_upsert("ru_nofield", "Engagement_Event__c", "ev_3", json!({"Nope__c": 1})),
        record_upsert("ru_noobject", "Nope__c", "x", json!({"Name": "x"})),
        json!({"version": 1, "type": "record_upsert", "event_id": "ru_apex", "tenant_id": TENANT,
            "destination": "apex:engagement", "payload": {"kind": "webinar", "email": "ada@example.com"}}),
        json!({"version": 1, "type": "record_upsert", "event_id": "ru_apex_unknown", "tenant_id": TENANT,
            "destination": "apex:nowhere", "payload": {}}),
    ];
    let calls = app.sim.rest_calls();
    assert!(app.sync(&batch).await.is_empty());
    assert_eq!(app.sim.rest_calls() - calls, 3, "one describe call, one write (both objects in one Composite), one Apex post");

    let events = app.sim.records("Engagement_Event__c");
    assert_eq!(events.len(), 2, "one record per external id: {events:?}");
    let ev1 = events.iter().find(|r| r["Event_Id__c"] == "ev_1").unwrap();
    assert_eq!((ev1["Name"].as_str(), ev1["Score__c"].as_f64()), (Some("Webinar attended"), Some(50.0)), "merged, the later value wins: {ev1}");
    assert_eq!(app.sim.records("ns__Survey__c").len(), 1, "namespaced object; the too-long answer refused alone");
    let posted = app.sim.apex_requests("/Sfbridge/events");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].header("x-sfbridge-event-id"), Some("ru_apex"));
    assert_eq!(posted[0].json(), Some(json!({"kind": "webinar", "email": "ada@example.com"})));

    let deliveries = app.deliveries(TENANT).await;
    for id in ["ru_1", "ru_2", "ru_1_again", "ru_ns", "ru_apex"] {
        let d = outcome_of(&deliveries, id);
        assert_eq!((d["outcome"].as_str(), d["type"].as_str()), (Some("synced"), Some("record_upsert")), "{d}");
    }
    assert!(outcome_of(&deliveries, "ru_1")["record_id"].is_string());
    for (id, code, says) in [
        ("ru_long", "invalid_value", "ns__Survey__c.ns__Answer__c (Text(20)) cannot take"),
        ("ru_nofield", "invalid_value", "Engagement_Event__c has no field Nope__c"),
        ("ru_noobject", "invalid_value", "the org has no object Nope__c"),
        ("ru_apex_unknown", "unknown_destination", "no Apex REST endpoint is named nowhere in apex_endpoints (engagement)"),
    ] {
        let d = outcome_of(&deliveries, id);
        assert_eq!((d["outcome"].as_str(), d["code"].as_str()), (Some("dead_lettered"), Some(code)), "{d}");
        assert!(d["reason"].as_str().unwrap().contains(says), "{says:?} in {d}");
    }

    // Sent again (a new event for the same external id): still one record, updated.
    assert!(app.sync(&[record_upsert("ru_1_later", "Engagement_Event__c", "ev_1", json!({"Score__c": 75}))]).await.is_empty());
    let events = app.sim.records("Engagement_Event__c");
    assert_eq!(events.len(), 2);
    assert_eq!(events.iter().find(|r| r["Event_Id__c"] == "ev_1").unwrap()["Score__c"].as_f64(), Some(75.0));
}

#[tokio::test]
async fn records_land_in_any_object_by_external_id_and_apex_gets_payloads_embedded() {
    records_land_in_any_object_by_external_id_and_apex_gets_payloads(Backend::Memory).await;
}

#[tokio::test]
async fn records_land_in_any_object_by_external_id_and_apex_gets_payloads_on_moto() {
    records_land_in_any_object_by_external_id_and_apex_gets_payloads(Backend::Moto).await;
}
