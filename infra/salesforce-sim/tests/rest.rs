//! The simulator's REST API over HTTP: SOQL, sObjects, sObject Collections, describe, limits and
//! faults, with a token from the client-credentials flow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use salesforce_sim::{Fault, Faults, FieldKind, FieldSpec};
use serde_json::{json, Value};

mod common;
use common::*;

fn invalid_session() -> Value {
    json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
}

// ---------------------------------------------------------------------------------------------
// SOQL
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn query_by_email_in_ignores_case_and_keeps_the_stored_casing() {
    let org = Org::start().await;
    let ada = org.sim.insert_contact("Ada.Lovelace@Example.com", "Ada", "Lovelace");
    let grace = org.sim.insert_contact("grace@example.com", "Grace", "Hopper");
    org.sim.insert_contact("someone.else@example.com", "", "Else");

    let reply = org
        .query("SELECT Id, Email, Name FROM Contact WHERE Email IN ('ada.lovelace@example.com', 'GRACE@EXAMPLE.COM', 'nobody@example.com') ORDER BY LastName DESC")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.text.starts_with(r#"{"totalSize":2,"done":true,"records":[{"attributes":{"type":"Contact","url":"#),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.json(),
        json!({"totalSize": 2, "done": true, "records": [
            {"attributes": {"type": "Contact", "url": format!("/services/data/{VERSION}/sobjects/Contact/{ada}")},
             "Id": ada, "Email": "Ada.Lovelace@Example.com", "Name": "Ada Lovelace"},
            {"attributes": {"type": "Contact", "url": format!("/services/data/{VERSION}/sobjects/Contact/{grace}")},
             "Id": grace, "Email": "grace@example.com", "Name": "Grace Hopper"},
        ]})
    );
    let single = org.query("SELECT Id FROM Contact WHERE Email = 'GRACE@example.com' LIMIT 1").await.json();
    assert_eq!(single["records"][0]["Id"], json!(grace));
}

#[tokio::test]
async fn unconverted_leads_and_custom_fields_are_queryable() {
    let org = Org::start().await;
    assert!(org.sim.add_custom_field("Lead", "Score__c", FieldSpec::new(FieldKind::Double)));
    let open = org.sim.insert_lead("lead@example.com", "Lee", "Open");
    let converted = org.sim.insert_lead("LEAD@example.com", "Lee", "Converted");
    let contact = org.sim.insert_contact("lead@example.com", "Lee", "Converted");
    assert!(org.sim.convert_lead(&converted, &contact));

    let reply = org
        .query("SELECT Id, IsConverted, ConvertedContactId, Score__c, HasOptedOutOfEmail FROM Lead WHERE Email IN ('lead@example.com') AND IsConverted = false")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["totalSize"], 1);
    assert_eq!(body["records"][0]["Id"], json!(open));
    assert_eq!(body["records"][0]["Score__c"], Value::Null);
    assert_eq!(body["records"][0]["HasOptedOutOfEmail"], json!(false));

    let all = org
        .query("SELECT Id, ConvertedContactId FROM Lead WHERE Email = 'lead@example.com' ORDER BY CreatedDate")
        .await
        .json();
    assert_eq!(all["records"][1]["ConvertedContactId"], json!(contact));
}

#[tokio::test]
async fn query_errors_have_salesforces_codes_and_row_column_messages() {
    let org = Org::start().await;
    let reply = org.query("SELECT Id, Score__c FROM Contact").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!([{"message": "\nSELECT Id, Score__c FROM Contact\n           ^\nERROR at Row:1:Column:12\nNo such column 'Score__c' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", "errorCode": "INVALID_FIELD"}])
    );
    let reply = org.query("SELECT Id FORM Contact WHERE Email = 'a@b.com'").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()[0]["errorCode"], "MALFORMED_QUERY");
    assert!(reply.json()[0]["message"].as_str().unwrap().ends_with("ERROR at Row:1:Column:11\nunexpected token: FORM"));
}

#[tokio::test]
async fn a_uri_over_16384_bytes_gets_414_so_clients_must_chunk() {
    let org = Org::start().await;
    let emails: Vec<String> = (0..600).map(|i| format!("'person.number{i}@example.com'")).collect();
    let too_long = format!("SELECT Id FROM Contact WHERE Email IN ({})", emails.join(","));
    let reply = org.query(&too_long).await;
    assert_eq!(reply.status, StatusCode::URI_TOO_LONG);
    assert_eq!(org.sim.api_usage().0, 0, "the edge refuses it before it counts");

    let chunk = format!("SELECT Id FROM Contact WHERE Email IN ({})", emails[..200].join(","));
    assert!(reqwest::Url::parse_with_params(&org.url("/query"), [("q", &chunk)]).unwrap().as_str().len() < 16_384);
    assert_eq!(org.query(&chunk).await.status, StatusCode::OK);
    assert_eq!(org.sim.rest_calls(), 2);
}

#[tokio::test]
async fn large_results_are_paged_with_next_records_url() {
    let org = Org::start().await;
    for i in 0..2_100 {
        org.sim.insert_contact(&format!("p{i}@example.com"), "P", &format!("{i}"));
    }
    let first = org.query("SELECT Id FROM Contact").await.json();
    assert_eq!((first["totalSize"].clone(), first["done"].clone()), (json!(2_100), json!(false)));
    assert_eq!(first["records"].as_array().unwrap().len(), 2_000);
    let next = first["nextRecordsUrl"].as_str().unwrap();
    assert!(next.starts_with(&format!("/services/data/{VERSION}/query/01g")) && next.ends_with("-2000"), "{next}");
    let response =
        org.client.get(format!("{}{next}", org.sim.base_url())).bearer_auth(&org.token).send().await.unwrap();
    let last: Value = response.json().await.unwrap();
    assert_eq!((last["done"].clone(), last["records"].as_array().unwrap().len()), (json!(true), 100));
    assert!(last.get("nextRecordsUrl").is_none());
}

// ---------------------------------------------------------------------------------------------
// sObjects and sObject Collections
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn single_records_are_created_read_and_updated() {
    let org = Org::start().await;
    let reply = org
        .call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "Curie", "Email": "marie@example.com"})))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(reply.text.starts_with(r#"{"id":"003"#), "{}", reply.text);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json(), json!({"id": id, "success": true, "errors": []}));
    assert_eq!(id.len(), 18);

    let patched =
        org.call(Method::PATCH, &format!("/sobjects/Contact/{id}"), Some(json!({"FirstName": "Marie"}))).await;
    assert_eq!(patched.status, StatusCode::NO_CONTENT);
    let read = org.call(Method::GET, &format!("/sobjects/Contact/{}?fields=Name,Email", &id[..15]), None).await.json();
    assert_eq!(read["Name"], "Marie Curie");
    assert_eq!(read["attributes"]["url"], format!("/services/data/{VERSION}/sobjects/Contact/{id}"));

    let bad = org.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "X", "Nope__c": 1}))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json(),
        json!([{"message": "No such column 'Nope__c' on sobject of type Contact", "errorCode": "INVALID_FIELD"}])
    );
    let missing = org.call(Method::PATCH, "/sobjects/Contact/0035g00000AAAAAAAA", Some(json!({}))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(org.call(Method::GET, "/sobjects/Account/001000000000000", None).await.status, StatusCode::NOT_FOUND);
    assert!(org.sim.delete_record(&id));
    let deleted = org.call(Method::GET, &format!("/sobjects/Contact/{id}"), None).await;
    assert_eq!(
        (deleted.status, deleted.json()[0]["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!("ENTITY_IS_DELETED"))
    );
}

#[tokio::test]
async fn collections_create_reports_each_record_and_keeps_the_good_ones() {
    let org = Org::start().await;
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Task"}, "WhoId": "0035g00000ZZZZZ", "Subject": "Email: hello"},
        {"attributes": {"type": "Task"}, "WhoId": contact, "Subject": "Email: hello", "TaskSubtype": "Email", "Status": "Completed"},
        {"attributes": {"type": "Contact"}, "LastName": "X", "Unknown__c": "y"},
    ]});
    let reply = org.call(Method::POST, "/composite/sobjects", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let results = reply.json();
    assert_eq!(
        results[0],
        json!({"success": false, "errors": [{"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id", "fields": ["WhoId"]}]})
    );
    assert_eq!(results[1]["success"], true);
    assert!(results[1]["id"].as_str().unwrap().starts_with("00T"));
    assert_eq!(results[2]["errors"][0]["statusCode"], "INVALID_FIELD");
    assert!(results[2].get("id").is_none());

    let tasks = org.sim.records("Task");
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0]["WhoId"].clone(), tasks[0]["IsClosed"].clone()), (json!(contact), json!(true)));
    assert_eq!(tasks[0]["OwnerId"], json!(salesforce_sim::salesforce_id_18("0055g000003SimU")));
    assert_eq!(org.sim.api_usage().0, 1, "one collections request is one API call");
}

#[tokio::test]
async fn all_or_none_rolls_everything_back() {
    let org = Org::start().await;
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let body = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Task"}, "WhoId": contact, "Subject": "first"},
        {"attributes": {"type": "Contact"}, "LastName": "New"},
        {"attributes": {"type": "Task"}, "WhoId": "0035g00000ZZZZZ"},
    ]});
    let reply = org.call(Method::POST, "/composite/sobjects", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let rolled_back = json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []}]});
    let results = reply.json();
    assert_eq!(results[0], rolled_back);
    assert_eq!(results[1], rolled_back);
    assert_eq!(results[2]["errors"][0]["statusCode"], "INVALID_CROSS_REFERENCE_KEY");
    assert!(org.sim.records("Task").is_empty());
    assert_eq!(org.sim.records("Contact").len(), 1);

    let update = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Contact"}, "Id": contact, "FirstName": "Augusta"},
        {"attributes": {"type": "Contact"}, "Id": "0035g00000ZZZZZ", "FirstName": "Nobody"},
    ]});
    let results = org.call(Method::PATCH, "/composite/sobjects", Some(update)).await.json();
    assert_eq!(results[0], rolled_back);
    assert_eq!(results[1]["errors"][0]["statusCode"], "INVALID_CROSS_REFERENCE_KEY");
    assert_eq!(org.sim.records("Contact")[0]["FirstName"], "Ada");

    let too_many: Vec<Value> = (0..201).map(|_| json!({"attributes": {"type": "Task"}})).collect();
    let reply = org.call(Method::POST, "/composite/sobjects", Some(json!({"records": too_many}))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!([{"message": "record limit reached. cannot submit more than 200 records into this call", "errorCode": "EXCEEDED_ID_LIMIT"}])
    );
}

#[tokio::test]
async fn upserts_by_external_id_report_created_then_updated() {
    let org = Org::start().await;
    assert!(org.sim.add_custom_field("Task", "Email_Event_Id__c", FieldSpec::unique_external_id(FieldKind::String)));
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let task = |event: &str, subject: &str| json!({"attributes": {"type": "Task"}, "Email_Event_Id__c": event, "WhoId": contact, "Subject": subject});

    let path = "/composite/sobjects/Task/Email_Event_Id__c";
    let first = org.call(Method::PATCH, path, Some(json!({"records": [task("E1", "a"), task("E2", "b")]}))).await;
    assert_eq!(first.status, StatusCode::OK);
    let first = first.json();
    assert_eq!((first[0]["created"].clone(), first[1]["created"].clone()), (json!(true), json!(true)));
    let again =
        org.call(Method::PATCH, path, Some(json!({"records": [task("e1", "a2"), task("E3", "c")]}))).await.json();
    assert_eq!(again[0], json!({"id": first[0]["id"], "success": true, "errors": [], "created": false}));
    assert_eq!(again[1]["created"], true);
    assert_eq!(org.sim.records("Task").len(), 3);
    assert_eq!(org.sim.records("Task")[0]["Subject"], "a2");

    let single = org.call(Method::PATCH, "/sobjects/Task/Email_Event_Id__c/E4", Some(json!({"Subject": "d"}))).await;
    assert_eq!(single.status, StatusCode::CREATED);
    assert_eq!(single.json()["created"], true);
    let single = org.call(Method::PATCH, "/sobjects/Task/Email_Event_Id__c/E4", Some(json!({"Subject": "d2"}))).await;
    assert_eq!((single.status, single.json()["created"].clone()), (StatusCode::OK, json!(false)));

    // A plain create with a taken unique value.
    let dup = org.call(Method::POST, "/composite/sobjects", Some(json!({"records": [task("E1", "x")]}))).await.json();
    let message = dup[0]["errors"][0]["message"].as_str().unwrap();
    assert_eq!(dup[0]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    assert_eq!(
        message,
        format!(
            "duplicate value found: Email_Event_Id__c duplicates value on record with id: {}",
            first[0]["id"].as_str().unwrap()
        )
    );
    // The same key twice in one upsert.
    let twice =
        org.call(Method::PATCH, path, Some(json!({"records": [task("E9", "x"), task("E9", "y")]}))).await.json();
    assert_eq!(twice[0]["errors"][0]["statusCode"], "DUPLICATE_EXTERNAL_ID");
    assert_eq!(twice[1]["errors"][0]["statusCode"], "DUPLICATE_EXTERNAL_ID");
    let not_external = org.call(Method::PATCH, "/composite/sobjects/Task/Subject", Some(json!({"records": []}))).await;
    assert_eq!(not_external.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn describe_shows_custom_fields_with_the_samples_key_set() {
    let org = Org::start().await;
    assert!(org.sim.add_custom_field("Contact", "Engagement_Score__c", FieldSpec::new(FieldKind::Double)));
    let read_only = FieldSpec { updateable: false, ..FieldSpec::new(FieldKind::String) };
    assert!(org.sim.add_custom_field("Contact", "Last_Experiment_Variant__c", read_only));

    let reply = org.call(Method::GET, "/sobjects/Contact/describe", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!((body["name"].clone(), body["keyPrefix"].clone()), (json!("Contact"), json!("003")));
    let fields = body["fields"].as_array().unwrap();
    let find = |name: &str| fields.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
    let score = find("Engagement_Score__c");
    assert_eq!(
        [
            &score["type"],
            &score["custom"],
            &score["createable"],
            &score["updateable"],
            &score["externalId"],
            &score["unique"]
        ],
        [&json!("double"), &json!(true), &json!(true), &json!(true), &json!(false), &json!(false)]
    );
    let variant = find("Last_Experiment_Variant__c");
    assert_eq!((variant["createable"].clone(), variant["updateable"].clone()), (json!(false), json!(false)));
    assert_eq!((find("Email")["type"].clone(), find("Email")["length"].clone()), (json!("email"), json!(80)));
    assert_eq!(find("Id")["type"], "id");

    // Every key of the sample's field entries is there.
    for key in SAMPLE_FIELD_KEYS {
        assert!(score.get(key).is_some(), "field key {key}");
    }
    for key in [
        "keyPrefix",
        "label",
        "labelPlural",
        "createable",
        "updateable",
        "queryable",
        "urls",
        "recordTypeInfos",
        "childRelationships",
    ] {
        assert!(body.get(key).is_some(), "object key {key}");
    }

    // Writing a read-only field fails like field-level security does.
    let write = json!({"LastName": "X", "Last_Experiment_Variant__c": "B"});
    let reply = org.call(Method::POST, "/sobjects/Contact", Some(write)).await;
    assert_eq!(reply.json()[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    for object in ["Lead", "Task"] {
        assert_eq!(org.call(Method::GET, &format!("/sobjects/{object}/describe"), None).await.status, StatusCode::OK);
    }
}

/// The keys of a field in salesforce-samples/describe-contact-snippet.json.
const SAMPLE_FIELD_KEYS: &[&str] = &[
    "aggregatable",
    "autoNumber",
    "byteLength",
    "calculated",
    "calculatedFormula",
    "cascadeDelete",
    "caseSensitive",
    "compoundFieldName",
    "controllerName",
    "createable",
    "custom",
    "defaultValue",
    "defaultValueFormula",
    "defaultedOnCreate",
    "dependentPicklist",
    "deprecatedAndHidden",
    "digits",
    "displayLocationInDecimal",
    "encrypted",
    "externalId",
    "extraTypeInfo",
    "filterable",
    "filteredLookupInfo",
    "groupable",
    "highScaleNumber",
    "htmlFormatted",
    "idLookup",
    "inlineHelpText",
    "label",
    "length",
    "mask",
    "maskType",
    "name",
    "nameField",
    "namePointing",
    "nillable",
    "permissionable",
    "picklistValues",
    "precision",
    "queryByDistance",
    "referenceTargetField",
    "referenceTo",
    "relationshipName",
    "relationshipOrder",
    "restrictedDelete",
    "restrictedPicklist",
    "scale",
    "soapType",
    "sortable",
    "type",
    "unique",
    "updateable",
    "writeRequiresMasterRead",
];

// ---------------------------------------------------------------------------------------------
// Authentication and limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn calls_without_an_active_token_get_401_invalid_session_id() {
    let org = Org::start().await;
    let url = org.url("/query?q=SELECT+Id+FROM+Contact");
    for request in [
        org.client.get(&url),
        org.client.get(&url).bearer_auth("00D5g000004SimO!SIM.not-a-token"),
        org.client.get(&url).header("Authorization", "Basic Zm9vOmJhcg=="),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.json::<Value>().await.unwrap(), invalid_session());
    }
    assert!(org.sim.revoke_token(&org.token));
    let reply = org.call(Method::GET, "/query?q=SELECT+Id+FROM+Contact", None).await;
    assert_eq!((reply.status, reply.json()), (StatusCode::UNAUTHORIZED, invalid_session()));
    assert_eq!(org.sim.api_usage().0, 0, "unauthenticated calls do not count");
    assert_eq!(org.sim.rest_calls(), 4);
}

#[tokio::test]
async fn every_call_counts_and_reports_usage_until_the_daily_limit() {
    let org = Org::start().await;
    org.sim.set_api_limit(3);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let reply = org.query("SELECT Id FROM Contact").await;
        assert_eq!(reply.status, StatusCode::OK);
        seen.push(reply.limit_info().unwrap().to_owned());
    }
    assert_eq!(seen, ["api-usage=1/3", "api-usage=2/3", "api-usage=3/3"]);
    let refused = org.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "X"}))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json(),
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    assert_eq!(refused.limit_info(), Some("api-usage=3/3"));
    assert!(org.sim.records("Contact").is_empty());
    assert_eq!(org.sim.api_usage(), (3, 3));

    // Errors carry the header too; the version list neither needs a token nor counts.
    org.sim.set_api_limit(15_000);
    let not_found = org.call(Method::GET, "/nothing-here", None).await;
    assert_eq!((not_found.status, not_found.limit_info()), (StatusCode::NOT_FOUND, Some("api-usage=3/15000")));
    let versions = org.client.get(format!("{}/services/data/", org.sim.base_url())).send().await.unwrap();
    assert_eq!(versions.status(), StatusCode::OK);
    assert!(versions.headers().get("sforce-limit-info").is_none());
    let limits = org.call(Method::GET, "/limits", None).await.json();
    assert_eq!(limits["DailyApiRequests"], json!({"Max": 15_000, "Remaining": 15_000 - 4}));
}

#[tokio::test]
async fn latency_delays_every_rest_call() {
    let org = Org::start().await;
    org.sim.set_latency(Duration::from_millis(150));
    let started = std::time::Instant::now();
    assert_eq!(org.call(Method::GET, "/limits", None).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    org.sim.set_latency(Duration::ZERO);
    let started = std::time::Instant::now();
    login(&org.client, &org.sim).await;
    assert!(started.elapsed() < Duration::from_millis(150), "OAuth is not delayed");
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

fn only(fault: Fault) -> Faults {
    let mut faults = Faults { seed: 1, ..Faults::default() };
    match fault {
        Fault::ServiceUnavailable => faults.rate_503 = 1.0,
        Fault::RequestLimit => faults.rate_request_limit = 1.0,
        Fault::InvalidSession => faults.rate_401 = 1.0,
        Fault::Timeout => faults.rate_timeout = 1.0,
        Fault::Reset => faults.rate_reset = 1.0,
        Fault::LostResponse => faults.rate_lost_response = 1.0,
    }
    faults
}

#[tokio::test]
async fn fault_503_is_an_html_page_and_oauth_is_not_faulted() {
    let org = Org::start().await;
    org.sim.set_faults(only(Fault::ServiceUnavailable));
    let reply = org.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "X"}))).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(reply.text.contains("<html>"));
    assert!(org.sim.records("Contact").is_empty());
    login(&org.client, &org.sim).await;
    assert_eq!(org.sim.injected_faults(), [Fault::ServiceUnavailable]);
}

#[tokio::test]
async fn fault_request_limit_and_401_are_salesforce_errors() {
    let org = Org::start().await;
    org.sim.set_faults(only(Fault::RequestLimit));
    let reply = org.query("SELECT Id FROM Contact").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");

    org.sim.set_faults(only(Fault::InvalidSession));
    let reply = org.query("SELECT Id FROM Contact").await;
    assert_eq!((reply.status, reply.json()), (StatusCode::UNAUTHORIZED, invalid_session()));
    assert!(org.sim.is_token_active(&org.token), "a faulted 401 leaves the token valid");

    org.sim.set_faults(Faults::default());
    assert_eq!(org.query("SELECT Id FROM Contact").await.status, StatusCode::OK);
    assert_eq!(org.sim.api_usage().0, 1, "faulted calls do not count");
}

#[tokio::test]
async fn fault_timeout_outlasts_the_client_then_drops_the_connection() {
    let org = Org::start().await;
    org.sim.set_faults(only(Fault::Timeout));
    let impatient = Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let error = org.try_call(&impatient, Method::GET, "/limits", None).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");

    // A short hang shows what follows it: the connection closes without a response.
    org.sim.set_timeout_hang(Duration::from_millis(100));
    let patient = Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let error = org.try_call(&patient, Method::GET, "/limits", None).await.unwrap_err();
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
}

#[tokio::test]
async fn fault_reset_closes_the_connection_without_a_response_or_a_write() {
    let org = Org::start().await;
    org.sim.set_faults(only(Fault::Reset));
    let error =
        org.try_call(&org.client, Method::POST, "/sobjects/Contact", Some(json!({"LastName": "X"}))).await.unwrap_err();
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
    assert!(org.sim.records("Contact").is_empty());
}

#[tokio::test]
async fn fault_lost_response_applies_the_write() {
    let org = Org::start().await;
    org.sim.set_faults(only(Fault::LostResponse));
    let body =
        json!({"records": [{"attributes": {"type": "Contact"}, "LastName": "Written", "Email": "w@example.com"}]});
    let error = org.try_call(&org.client, Method::POST, "/composite/sobjects", Some(body)).await.unwrap_err();
    assert!(error.status().is_none(), "{error:?}");
    let contacts = org.sim.records("Contact");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["LastName"], "Written");
    assert_eq!(org.sim.api_usage().0, 1, "the call was processed, so it counted");
}

/// What a call came to, for comparing runs.
async fn outcome(org: &Org) -> String {
    match org.try_call(&org.client, Method::GET, "/limits", None).await {
        Ok(reply) => reply.status.as_str().to_owned(),
        Err(_) => "dropped".to_owned(),
    }
}

#[tokio::test]
async fn seeded_faults_repeat_run_for_run() {
    let faults = Faults {
        rate_503: 0.15,
        rate_request_limit: 0.1,
        rate_401: 0.1,
        rate_reset: 0.1,
        rate_lost_response: 0.1,
        seed: 42,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let org = Org::start().await;
        org.sim.set_faults(faults);
        let mut outcomes = Vec::new();
        for _ in 0..40 {
            outcomes.push(outcome(&org).await);
        }
        runs.push((outcomes, org.sim.injected_faults()));
    }
    assert_eq!(runs[0], runs[1]);
    let (outcomes, injected) = &runs[0];
    assert!(
        outcomes.iter().any(|o| o == "200")
            && outcomes.iter().any(|o| o == "503")
            && outcomes.iter().any(|o| o == "dropped")
    );
    assert_eq!(outcomes.iter().filter(|o| *o != "200").count(), injected.len());
}
