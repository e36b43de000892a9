//! Field metadata over HTTP: what describe reports (lengths, digits, picklists, read-only fields,
//! custom and namespaced fields, custom objects), the write rules that follow from it, per record
//! in sObject Collections and as resource errors on single records, and describe's
//! `If-Modified-Since`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use salesforce_sim::{FieldKind, FieldSpec};
use serde_json::{json, Value};

mod common;
use common::*;

/// The field called `name` in a describe body.
fn field<'a>(describe: &'a Value, name: &str) -> &'a Value {
    describe["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in describe"))
}

/// The fields of a push mapping: a survey score, a namespaced percent, a restricted plan, a short
/// text, a formula-like read-only field.
fn add_push_fields(org: &Org) {
    let sim = &org.sim;
    assert!(sim.add_custom_field("Contact", "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0)));
    assert!(sim.add_custom_field("Contact", "sfb__CSAT__c", FieldSpec::new(FieldKind::Percent).with_digits(5, 2)));
    let plan = FieldSpec::new(FieldKind::Picklist).with_picklist(&["Free", "Pro"], true);
    assert!(sim.add_custom_field("Contact", "Plan__c", plan));
    assert!(sim.add_custom_field("Contact", "Segment__c", FieldSpec::new(FieldKind::String).with_length(20)));
    assert!(sim.add_custom_field("Contact", "Health__c", FieldSpec::new(FieldKind::Double).read_only()));
    assert!(sim.add_custom_field("Contact", "Last_Survey__c", FieldSpec::new(FieldKind::DateTime)));
}

fn record_error(result: &Value) -> (String, String, Value) {
    assert_eq!(result["success"], false, "{result}");
    assert!(result.get("id").is_none(), "a failed record carries no id: {result}");
    let error = &result["errors"][0];
    (
        error["statusCode"].as_str().unwrap().to_owned(),
        error["message"].as_str().unwrap().to_owned(),
        error["fields"].clone(),
    )
}

// ---------------------------------------------------------------------------------------------
// Describe
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn describe_reports_lengths_digits_picklists_and_writability() {
    let org = Org::start().await;
    add_push_fields(&org);
    let reply = org.call(Method::GET, "/sobjects/Contact/describe", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let contact = reply.json();

    let nps = field(&contact, "NPS_Score__c");
    assert_eq!(
        [&nps["type"], &nps["precision"], &nps["scale"], &nps["digits"], &nps["length"], &nps["soapType"]],
        [&json!("double"), &json!(3), &json!(0), &json!(0), &json!(0), &json!("xsd:double")]
    );
    assert_eq!((nps["label"].clone(), nps["custom"].clone()), (json!("NPS Score"), json!(true)));
    let csat = field(&contact, "sfb__CSAT__c");
    assert_eq!([&csat["type"], &csat["precision"], &csat["scale"]], [&json!("percent"), &json!(5), &json!(2)]);
    assert_eq!(csat["label"], "CSAT");

    let plan = field(&contact, "Plan__c");
    assert_eq!((plan["type"].clone(), plan["restrictedPicklist"].clone()), (json!("picklist"), json!(true)));
    assert_eq!(
        plan["picklistValues"],
        json!([
            {"active": true, "defaultValue": false, "label": "Free", "validFor": null, "value": "Free"},
            {"active": true, "defaultValue": false, "label": "Pro", "validFor": null, "value": "Pro"},
        ])
    );
    assert_eq!(plan["length"], 255, "a custom picklist holds up to 255 characters");
    assert_eq!(field(&contact, "Segment__c")["length"], 20);
    assert_eq!(field(&contact, "Last_Survey__c")["type"], "datetime");

    let health = field(&contact, "Health__c");
    assert_eq!(
        [&health["createable"], &health["updateable"], &health["nillable"], &health["calculated"]],
        [&json!(false), &json!(false), &json!(true), &json!(false)]
    );
    for (name, external, unique) in [("NPS_Score__c", false, false), ("Email", false, false)] {
        assert_eq!(
            (field(&contact, name)["externalId"].clone(), field(&contact, name)["unique"].clone()),
            (json!(external), json!(unique))
        );
    }

    // Standard fields keep their documented metadata (Field Reference: Contact, Lead, Campaign).
    assert_eq!(
        (field(&contact, "Title")["type"].clone(), field(&contact, "Title")["length"].clone()),
        (json!("string"), json!(128))
    );
    assert_eq!(field(&contact, "LastName")["length"], 80);
    assert_eq!(field(&contact, "FirstName")["length"], 40);
    assert_eq!(field(&contact, "LeadSource")["length"], 40);
    assert_eq!(field(&contact, "LeadSource")["restrictedPicklist"], false);
    assert_eq!(field(&contact, "Name")["calculated"], false, "Name is computed but describe does not say so");
    assert_eq!(field(&contact, "Name")["updateable"], false);
    assert_eq!(field(&contact, "LastName")["nillable"], false);

    let lead = org.call(Method::GET, "/sobjects/Lead/describe", None).await.json();
    let status = field(&lead, "Status");
    assert_eq!((status["type"].clone(), status["defaultedOnCreate"].clone()), (json!("picklist"), json!(true)));
    assert_eq!(field(&lead, "Company")["length"], 255);
}

#[tokio::test]
async fn campaign_status_is_the_standard_unrestricted_picklist_until_an_admin_changes_it() {
    let org = Org::start().await;
    let campaign = org.call(Method::GET, "/sobjects/Campaign/describe", None).await.json();
    let status = field(&campaign, "Status");
    let values: Vec<&str> =
        status["picklistValues"].as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["Planned", "In Progress", "Completed", "Aborted"]);
    assert_eq!(status["picklistValues"][0]["defaultValue"], true, "Planned is the default");
    assert_eq!((status["restrictedPicklist"].clone(), status["length"].clone()), (json!(false), json!(40)));
    let cost = field(&campaign, "ActualCost");
    assert_eq!([&cost["type"], &cost["precision"], &cost["scale"]], [&json!("currency"), &json!(18), &json!(0)]);
    assert_eq!(field(&campaign, "NumberOfContacts")["updateable"], false);

    // Unrestricted: a value outside the list is saved, as Salesforce does.
    let id = org.sim.insert_record("Campaign", json!({"Name": "Spring launch"})).unwrap();
    let paused = json!({"records": [{"attributes": {"type": "Campaign"}, "Id": id, "Status": "Paused"}]});
    let results = org.call(Method::PATCH, "/composite/sobjects", Some(paused.clone())).await.json();
    assert_eq!(results[0]["success"], true, "{results}");

    // The org's admin restricts it and adds a value: describe shows it, writes follow it.
    assert!(org.sim.set_picklist_values(
        "Campaign",
        "Status",
        &["Planned", "In Progress", "Completed", "Aborted", "Rolled Back"],
        true
    ));
    let status = field(&org.call(Method::GET, "/sobjects/Campaign/describe", None).await.json(), "Status").clone();
    assert_eq!(status["restrictedPicklist"], true);
    assert_eq!(status["picklistValues"][4]["value"], "Rolled Back");
    let results = org.call(Method::PATCH, "/composite/sobjects", Some(paused)).await.json();
    assert_eq!(
        record_error(&results[0]),
        (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST".to_owned(),
            "Status: bad value for restricted picklist field: Paused".to_owned(),
            json!(["Status"])
        )
    );
    let completed = json!({"records": [{"attributes": {"type": "Campaign"}, "Id": id, "Status": "Completed"}]});
    assert_eq!(org.call(Method::PATCH, "/composite/sobjects", Some(completed)).await.json()[0]["success"], true);
    assert_eq!(org.sim.records("Campaign")[0]["Status"], "Completed");
    assert!(!org.sim.set_picklist_values("Campaign", "Name", &["x"], true), "not a picklist");
    assert!(!org.sim.set_picklist_values("Campaign", "Nope", &["x"], true));

    // A note on the Campaign: a Task related to it by WhatId (with a Contact as WhoId).
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let note = json!({"records": [{"attributes": {"type": "Task"}, "WhatId": id, "WhoId": contact,
        "Subject": "Variant B reached significance", "Description": "+12 % replies, p = 0.01", "Status": "Completed"}]});
    let results = org.call(Method::POST, "/composite/sobjects", Some(note)).await.json();
    assert_eq!(results[0]["success"], true, "{results}");
    assert_eq!(org.sim.records("Task")[0]["WhatId"], json!(id));
}

// ---------------------------------------------------------------------------------------------
// Write rules
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn values_that_do_not_fit_fail_their_record_and_the_rest_of_the_batch_is_saved() {
    let org = Org::start().await;
    add_push_fields(&org);
    let ids: Vec<String> =
        (0..7).map(|i| org.sim.insert_contact(&format!("p{i}@example.com"), "P", &format!("{i}"))).collect();
    let update = |id: &str, fields: Value| {
        let mut record = json!({"attributes": {"type": "Contact"}, "Id": id});
        record.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        record
    };
    let long_title = "x".repeat(129);
    let body = json!({"records": [
        update(&ids[0], json!({"NPS_Score__c": 9, "sfb__CSAT__c": "87.5", "Plan__c": "Pro", "Last_Survey__c": "2026-03-01T10:00:00Z"})),
        update(&ids[1], json!({"NPS_Score__c": 1000})),
        update(&ids[2], json!({"Title": long_title})),
        update(&ids[3], json!({"Plan__c": "Enterprise"})),
        update(&ids[4], json!({"Health__c": 3})),
        update(&ids[5], json!({"sfb__CSAT__c": -1234.5})),
        update(&ids[6], json!({"NPS_Score__c": -999, "Title": "x".repeat(128), "Segment__c": "y".repeat(20)})),
    ]});
    let reply = org.call(Method::PATCH, "/composite/sobjects", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "a well-formed request answers 200 whatever its records do");
    let results = reply.json();
    assert_eq!(results[0], json!({"id": ids[0], "success": true, "errors": []}));
    assert_eq!(
        record_error(&results[1]),
        (
            "NUMBER_OUTSIDE_VALID_RANGE".to_owned(),
            "NPS Score: value outside of valid range on numeric field: 1000.0".to_owned(),
            json!(["NPS_Score__c"])
        )
    );
    assert_eq!(
        record_error(&results[2]),
        (
            "STRING_TOO_LONG".to_owned(),
            format!("Title: data value too large: {long_title} (max length=128)"),
            json!(["Title"])
        )
    );
    assert_eq!(
        record_error(&results[3]),
        (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST".to_owned(),
            "Plan: bad value for restricted picklist field: Enterprise".to_owned(),
            json!(["Plan__c"])
        )
    );
    let (code, message, fields) = record_error(&results[4]);
    assert_eq!((code.as_str(), fields), ("INVALID_FIELD_FOR_INSERT_UPDATE", json!(["Health__c"])));
    assert!(message.starts_with("Unable to create/update fields: Health__c."), "{message}");
    assert_eq!(record_error(&results[5]).1, "CSAT: value outside of valid range on numeric field: -1234.5");
    assert_eq!(results[6]["success"], true, "at the limits: {}", results[6]);

    let contacts = org.sim.records("Contact");
    assert_eq!(contacts[0]["NPS_Score__c"], 9);
    assert_eq!(contacts[0]["sfb__CSAT__c"], 87.5);
    assert_eq!(contacts[0]["Plan__c"], "Pro");
    assert_eq!(contacts[0]["Last_Survey__c"], "2026-03-01T10:00:00.000+0000");
    assert_eq!(contacts[1]["NPS_Score__c"], Value::Null, "the failed record is untouched");
    assert_eq!(contacts[6]["NPS_Score__c"], -999);

    // The same rules on the single-record resources, as resource errors.
    let reply =
        org.call(Method::PATCH, &format!("/sobjects/Contact/{}", ids[1]), Some(json!({"NPS_Score__c": 1000}))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!([{"message": "NPS Score: value outside of valid range on numeric field: 1000.0", "errorCode": "NUMBER_OUTSIDE_VALID_RANGE", "fields": ["NPS_Score__c"]}])
    );
    let reply =
        org.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "L", "Segment__c": "z".repeat(21)}))).await;
    assert_eq!(
        (reply.status, reply.json()[0]["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("STRING_TOO_LONG"))
    );
}

#[tokio::test]
async fn read_only_and_create_only_fields_are_refused_on_the_writes_that_may_not_set_them() {
    let org = Org::start().await;
    add_push_fields(&org);
    assert!(org.sim.add_custom_field("Task", "Event_Id__c", FieldSpec::unique_external_id(FieldKind::String)));
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");

    // Create: a read-only field fails; TaskSubtype may be set on create.
    let created = json!({"records": [
        {"attributes": {"type": "Contact"}, "LastName": "New", "Health__c": 1},
        {"attributes": {"type": "Task"}, "WhoId": contact, "TaskSubtype": "Email", "Subject": "Hi"},
    ]});
    let results = org.call(Method::POST, "/composite/sobjects", Some(created)).await.json();
    assert_eq!(record_error(&results[0]).0, "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(results[1]["success"], true);
    let task = results[1]["id"].as_str().unwrap().to_owned();

    // Update: TaskSubtype is create-only.
    let update = json!({"records": [{"attributes": {"type": "Task"}, "Id": task, "TaskSubtype": "Call"}]});
    let results = org.call(Method::PATCH, "/composite/sobjects", Some(update)).await.json();
    assert_eq!(record_error(&results[0]), (
        "INVALID_FIELD_FOR_INSERT_UPDATE".to_owned(),
        "Unable to create/update fields: TaskSubtype. Please check the security settings of this field and verify that it is read/write for your profile or permission set.".to_owned(),
        json!(["TaskSubtype"]),
    ));

    // Upsert: a create may set it, an update (the key exists) may not.
    let upsert = |subtype: &str| json!({"records": [{"attributes": {"type": "Task"}, "Event_Id__c": "E1", "WhoId": contact, "TaskSubtype": subtype}]});
    let path = "/composite/sobjects/Task/Event_Id__c";
    let first = org.call(Method::PATCH, path, Some(upsert("Email"))).await.json();
    assert_eq!((first[0]["success"].clone(), first[0]["created"].clone()), (json!(true), json!(true)));
    let again = org.call(Method::PATCH, path, Some(upsert("Email"))).await.json();
    assert_eq!(record_error(&again[0]).0, "INVALID_FIELD_FOR_INSERT_UPDATE");
    let single = org.call(Method::PATCH, "/sobjects/Task/Event_Id__c/E1", Some(json!({"TaskSubtype": "Email"}))).await;
    assert_eq!(
        (single.status, single.json()[0]["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_FIELD_FOR_INSERT_UPDATE"))
    );
    let single = org.call(Method::PATCH, &format!("/sobjects/Contact/{contact}"), Some(json!({"Health__c": 2}))).await;
    assert_eq!(single.json()[0]["fields"], json!(["Health__c"]));
}

#[tokio::test]
async fn a_value_of_the_wrong_type_or_an_unparseable_date_fails_the_whole_request() {
    let org = Org::start().await;
    add_push_fields(&org);
    assert!(org.sim.add_custom_field("Contact", "Renewal__c", FieldSpec::new(FieldKind::Date)));
    let ids: Vec<String> = (0..2).map(|i| org.sim.insert_contact(&format!("p{i}@example.com"), "P", "Q")).collect();
    let batch = |bad: Value| {
        json!({"records": [
            {"attributes": {"type": "Contact"}, "Id": ids[0], "NPS_Score__c": 5},
            {"attributes": {"type": "Contact"}, "Id": ids[1], "Renewal__c": bad},
        ]})
    };
    for (bad, message) in [
        (json!("2026-13-01"), "Cannot deserialize instance of date from VALUE_STRING value 2026-13-01 or request may be missing a required field"),
        (json!("01/02/2026"), "Cannot deserialize instance of date from VALUE_STRING value 01/02/2026 or request may be missing a required field"),
        (json!(""), "Cannot deserialize instance of date from VALUE_STRING value  or request may be missing a required field"),
        (json!(true), "Cannot deserialize instance of date from VALUE_TRUE value true or request may be missing a required field"),
    ] {
        let reply = org.call(Method::PATCH, "/composite/sobjects", Some(batch(bad))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json(), json!([{"message": message, "errorCode": "JSON_PARSER_ERROR"}]));
    }
    let reply = org
        .call(
            Method::PATCH,
            &format!("/sobjects/Contact/{}", ids[0]),
            Some(json!({"Last_Survey__c": "2026-03-01 10:00:00"})),
        )
        .await;
    assert_eq!(reply.json()[0]["message"], "Cannot deserialize instance of datetime from VALUE_STRING value 2026-03-01 10:00:00 or request may be missing a required field");
    let reply =
        org.call(Method::PATCH, &format!("/sobjects/Contact/{}", ids[0]), Some(json!({"NPS_Score__c": "nine"}))).await;
    assert_eq!(reply.json()[0]["errorCode"], "JSON_PARSER_ERROR");
    assert_eq!(org.sim.records("Contact")[0]["NPS_Score__c"], Value::Null, "nothing of a refused request is saved");
    assert_eq!(org.sim.records("Contact")[1]["Renewal__c"], Value::Null);

    let good = org.call(Method::PATCH, "/composite/sobjects", Some(batch(json!("2026-12-31")))).await.json();
    assert_eq!((good[0]["success"].clone(), good[1]["success"].clone()), (json!(true), json!(true)));
    assert_eq!(org.sim.records("Contact")[1]["Renewal__c"], "2026-12-31");
}

#[tokio::test]
async fn namespaced_fields_are_written_queried_and_named_by_salesforces_rules() {
    let org = Org::start().await;
    assert!(org.sim.add_custom_field("Lead", "sfb__NPS__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0)));
    for bad in ["sfb__NPS", "NPS", "sfb__NPS__x", "sfb___NPS__c", "sfb__NPS_Score___c", "1sfb__NPS__c", "a__b__NPS__c"]
    {
        assert!(!org.sim.add_custom_field("Lead", bad, FieldSpec::new(FieldKind::Double)), "{bad}");
    }
    let lead = org.sim.insert_lead("lee@example.com", "Lee", "Open");
    let reply = org.call(Method::PATCH, &format!("/sobjects/Lead/{lead}"), Some(json!({"SFB__nps__C": 42}))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let rows = org.query("SELECT Id, sfb__NPS__c FROM Lead WHERE sfb__NPS__c > 40").await.json();
    assert_eq!(rows["totalSize"], 1);
    assert_eq!(rows["records"][0]["sfb__NPS__c"], 42);
}

// ---------------------------------------------------------------------------------------------
// Custom objects
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn custom_objects_are_described_listed_queried_and_upserted_by_external_id() {
    let org = Org::start().await;
    assert!(org.sim.add_custom_object("Product_Event__c", "Product Event"));
    assert!(org.sim.add_custom_object("sfb__Usage__c", "Usage"));
    assert!(!org.sim.add_custom_object("Product_Event__c", "Again"));
    assert!(!org.sim.add_custom_object("Contact", "Standard"));
    let sim = &org.sim;
    assert!(sim.add_custom_field(
        "Product_Event__c",
        "Event_Key__c",
        FieldSpec::unique_external_id(FieldKind::String).with_length(64)
    ));
    assert!(sim.add_custom_field(
        "Product_Event__c",
        "Kind__c",
        FieldSpec::new(FieldKind::Picklist).with_picklist(&["signup", "upgrade"], true)
    ));
    assert!(sim.add_custom_field("Product_Event__c", "Seats__c", FieldSpec::new(FieldKind::Double).with_digits(5, 0)));
    assert!(sim.add_custom_field("sfb__Usage__c", "sfb__Key__c", FieldSpec::unique_external_id(FieldKind::String)));

    let global = org.call(Method::GET, "/sobjects", None).await.json();
    let listed: Vec<&str> =
        global["sobjects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert!(listed.contains(&"Product_Event__c") && listed.contains(&"sfb__Usage__c"), "{listed:?}");

    let describe = org.call(Method::GET, "/sobjects/product_event__c/describe", None).await.json();
    assert_eq!(
        [&describe["name"], &describe["custom"], &describe["keyPrefix"], &describe["label"]],
        [&json!("Product_Event__c"), &json!(true), &json!("a00"), &json!("Product Event")]
    );
    let names: Vec<&str> = describe["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    for system in [
        "Id",
        "Name",
        "OwnerId",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "IsDeleted",
    ] {
        assert!(names.contains(&system), "{system} missing from {names:?}");
    }
    let key = field(&describe, "Event_Key__c");
    assert_eq!(
        [&key["externalId"], &key["unique"], &key["idLookup"], &key["length"]],
        [&json!(true), &json!(true), &json!(true), &json!(64)]
    );
    assert_eq!(
        (field(&describe, "Name")["length"].clone(), field(&describe, "Name")["nameField"].clone()),
        (json!(80), json!(true))
    );

    // Collections upsert by the External ID: created, then updated; a bad record fails alone.
    let path = "/composite/sobjects/Product_Event__c/Event_Key__c";
    let event = |key: &str, kind: &str, seats: i64| json!({"attributes": {"type": "Product_Event__c"}, "Event_Key__c": key, "Kind__c": kind, "Seats__c": seats});
    let first = org
        .call(Method::PATCH, path, Some(json!({"records": [event("evt-1", "signup", 3), event("evt-2", "upgrade", 10), event("evt-3", "churn", 1)]})))
        .await
        .json();
    assert_eq!((first[0]["created"].clone(), first[1]["created"].clone()), (json!(true), json!(true)));
    assert_eq!(record_error(&first[2]).0, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
    let id = first[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("a005g") && id.len() == 18, "{id}");
    let again = org
        .call(
            Method::PATCH,
            path,
            Some(json!({"records": [event("EVT-1", "upgrade", 5), event("evt-4", "signup", 100_000)]})),
        )
        .await
        .json();
    assert_eq!(again[0], json!({"id": id, "success": true, "errors": [], "created": false}));
    assert_eq!(record_error(&again[1]).0, "NUMBER_OUTSIDE_VALID_RANGE");

    let rows = org.sim.records("Product_Event__c");
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["Kind__c"].clone(), rows[0]["Seats__c"].clone()), (json!("upgrade"), json!(5)));
    assert_eq!(rows[0]["Name"], json!(id), "saved without a Name, a custom object record is named by its id");
    assert_eq!(rows[0]["OwnerId"], json!(salesforce_sim::salesforce_id_18("0055g000003SimU")));
    assert_eq!(rows[0]["IsDeleted"], false);

    let query = org
        .query("SELECT Id, Name, Event_Key__c FROM Product_Event__c WHERE Kind__c = 'upgrade' ORDER BY Event_Key__c")
        .await
        .json();
    assert_eq!(query["totalSize"], 2);
    assert_eq!(query["records"][0]["attributes"]["type"], "Product_Event__c");
    assert_eq!(
        query["records"][0]["attributes"]["url"],
        format!("/services/data/{VERSION}/sobjects/Product_Event__c/{id}")
    );

    // Several objects in one Composite: a custom one, a namespaced one and a Contact, one call.
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let used = org.sim.api_usage().0;
    let reply = org.composite(json!({"allOrNone": false, "compositeRequest": [
        {"method": "PATCH", "url": format!("/services/data/{VERSION}{path}"), "referenceId": "events",
         "body": {"records": [event("evt-5", "signup", 1)]}},
        {"method": "PATCH", "url": format!("/services/data/{VERSION}/composite/sobjects/sfb__Usage__c/sfb__Key__c"), "referenceId": "usage",
         "body": {"records": [{"attributes": {"type": "sfb__Usage__c"}, "sfb__Key__c": "u-1", "Name": "Seats used"}]}},
        {"method": "PATCH", "url": format!("/services/data/{VERSION}/composite/sobjects"), "referenceId": "contacts",
         "body": {"records": [{"attributes": {"type": "Contact"}, "Id": contact, "Title": "Countess"}]}},
        {"method": "GET", "url": format!("/services/data/{VERSION}/sobjects/sfb__Usage__c/@{{usage[0].id}}"), "referenceId": "read"},
    ]}));
    let entries = reply.await.entries();
    assert!(
        entries.iter().take(3).all(|e| e["httpStatusCode"] == 200 && e["body"][0]["success"] == true),
        "{entries:?}"
    );
    assert_eq!(entries[3]["body"]["Name"], "Seats used");
    assert!(entries[1]["body"][0]["id"].as_str().unwrap().starts_with("a01"));
    assert_eq!(org.sim.api_usage().0, used + 1);
    assert_eq!(org.sim.records("sfb__Usage__c").len(), 1);
    assert_eq!(org.sim.records("Contact")[0]["Title"], "Countess");

    // Single-record upsert and delete work on custom objects too.
    let reply = org
        .call(
            Method::PATCH,
            "/sobjects/Product_Event__c/Event_Key__c/evt-9",
            Some(json!({"Kind__c": "signup", "Name": "Nine"})),
        )
        .await;
    assert_eq!((reply.status, reply.json()["created"].clone()), (StatusCode::CREATED, json!(true)));
    let nine = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        org.call(Method::DELETE, &format!("/sobjects/Product_Event__c/{nine}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(org.sim.records("Product_Event__c").len(), 3);

    // A required field: describe says so, and a create without it fails that record.
    assert!(org.sim.add_custom_field("sfb__Usage__c", "sfb__Plan__c", FieldSpec::new(FieldKind::String).required()));
    let usage = org.call(Method::GET, "/sobjects/sfb__Usage__c/describe", None).await.json();
    assert_eq!(field(&usage, "sfb__Plan__c")["nillable"], false);
    let path = "/composite/sobjects/sfb__Usage__c/sfb__Key__c";
    let results = org
        .call(
            Method::PATCH,
            path,
            Some(json!({"records": [{"attributes": {"type": "sfb__Usage__c"}, "sfb__Key__c": "u-2"}]})),
        )
        .await
        .json();
    assert_eq!(
        record_error(&results[0]),
        (
            "REQUIRED_FIELD_MISSING".to_owned(),
            "Required fields are missing: [sfb__Plan__c]".to_owned(),
            json!(["sfb__Plan__c"])
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Describe caching
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn describe_answers_304_until_the_objects_metadata_changes() {
    let org = Org::start().await;
    let first = org.call(Method::GET, "/sobjects/Contact/describe", None).await;
    assert_eq!(first.status, StatusCode::OK);
    let fetched_at = first.headers["date"].to_str().unwrap().to_owned();

    let org = &org;
    let describe = |since: String| async move {
        org.call_with(Method::GET, "/sobjects/Contact/describe", &[("If-Modified-Since", &since)], None).await
    };
    let unchanged = describe(fetched_at.clone()).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.text, "", "304 has no body");
    assert_eq!(org.sim.api_usage().0, 2, "a 304 is an API call too");
    assert_eq!(unchanged.limit_info(), Some("api-usage=2/15000"));
    // The documented example's date (one-digit day): Contact changed since, as far as it knows.
    assert_eq!(describe("Wed, 3 Jul 2013 19:43:31 GMT".into()).await.status, StatusCode::OK);
    assert_eq!(describe("not a date".into()).await.status, StatusCode::OK, "an unreadable date is ignored");

    // A new field changes Contact's metadata, not Lead's.
    org.sim.advance_time(Duration::from_secs(5));
    assert!(org.sim.add_custom_field("Contact", "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0)));
    let changed = describe(fetched_at.clone()).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert!(changed.text.contains("NPS_Score__c"));
    let lead = org.call_with(Method::GET, "/sobjects/Lead/describe", &[("If-Modified-Since", &fetched_at)], None).await;
    assert_eq!(lead.status, StatusCode::NOT_MODIFIED);

    // Fetched again a second later, it is current until the next change (a picklist edit counts).
    org.sim.advance_time(Duration::from_secs(1));
    let later =
        org.call(Method::GET, "/sobjects/Contact/describe", None).await.headers["date"].to_str().unwrap().to_owned();
    assert_eq!(describe(later.clone()).await.status, StatusCode::NOT_MODIFIED);
    assert!(org.sim.set_picklist_values("Contact", "LeadSource", &["Web", "Product"], false));
    assert_eq!(describe(later.clone()).await.status, StatusCode::OK);

    // The global describe follows every object; Composite subrequests pass the header on.
    let global = org.call_with(Method::GET, "/sobjects", &[("If-Modified-Since", &fetched_at)], None).await;
    assert_eq!(global.status, StatusCode::OK);
    org.sim.advance_time(Duration::from_secs(1));
    let now = org.call(Method::GET, "/limits", None).await.headers["date"].to_str().unwrap().to_owned();
    assert_eq!(
        org.call_with(Method::GET, "/sobjects", &[("If-Modified-Since", &now)], None).await.status,
        StatusCode::NOT_MODIFIED
    );
    let entries = org
        .composite(json!({"compositeRequest": [
            {"method": "GET", "url": format!("/services/data/{VERSION}/sobjects/Contact/describe"), "referenceId": "contact",
             "httpHeaders": {"If-Modified-Since": now}},
            {"method": "GET", "url": format!("/services/data/{VERSION}/sobjects/Lead/describe"), "referenceId": "lead",
             "httpHeaders": {"If-Modified-Since": "Wed, 3 Jul 2013 19:43:31 GMT"}},
        ]}))
        .await
        .entries();
    assert_eq!((entries[0]["httpStatusCode"].clone(), entries[0]["body"].clone()), (json!(304), Value::Null));
    assert_eq!(entries[1]["httpStatusCode"], 200);
    assert_eq!(entries[1]["body"]["name"], "Lead");
}
