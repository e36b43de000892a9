//! The Composite resource over HTTP (salesforce.md §7.2): one API call for the whole request,
//! subrequests that answer what their standalone calls would, the limits, `allOrNone`, references
//! and faults; and the calls the sync engine makes through it (Contact/Lead lookup by email, Task
//! upserts by an external id, opt-out and score updates).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use salesforce_sim::{Fault, Faults, FieldKind, FieldSpec};
use serde_json::{json, Value};

mod common;
use common::*;

const HALTED: &str = "The transaction was rolled back since another operation in the same transaction failed.";

fn url(path: &str) -> String {
    format!("/services/data/{VERSION}{path}")
}

fn query_url(soql: &str) -> String {
    url(&format!("/query?q={}", encode(soql)))
}

fn sub(method: &str, path: &str, reference_id: &str, body: Option<Value>) -> Value {
    let mut sub = json!({"method": method, "url": url(path), "referenceId": reference_id});
    if let Some(body) = body {
        sub["body"] = body;
    }
    sub
}

fn query_sub(soql: &str, reference_id: &str) -> Value {
    json!({"method": "GET", "url": query_url(soql), "referenceId": reference_id})
}

fn halted(reference_id: &str, message: &str) -> Value {
    json!({"body": [{"errorCode": "PROCESSING_HALTED", "message": message}], "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id})
}

fn only(fault: Fault) -> Faults {
    let mut faults = Faults { seed: 3, ..Faults::default() };
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

// ---------------------------------------------------------------------------------------------
// One call, standalone answers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_composite_with_query_create_and_update_is_one_api_call() {
    let org = Org::start().await;
    let ada = org.sim.insert_contact("Ada@Example.com", "Ada", "Lovelace");
    let body = json!({"compositeRequest": [
        query_sub("SELECT Id, Email FROM Contact WHERE Email IN ('ada@example.com')", "found"),
        sub("POST", "/composite/sobjects", "tasks", Some(json!({"records": [
            {"attributes": {"type": "Task"}, "WhoId": ada, "Subject": "Email: hello", "Status": "Completed"},
        ]}))),
        sub("PATCH", &format!("/sobjects/Contact/{ada}"), "optOut", Some(json!({"HasOptedOutOfEmail": true}))),
        sub("PATCH", "/composite/sobjects", "score", Some(json!({"records": [
            {"attributes": {"type": "Contact"}, "Id": ada, "Title": "Countess"},
        ]}))),
        sub("POST", "/sobjects/Contact", "newContact", Some(json!({"LastName": "Hopper"}))),
    ]});
    let reply = org.composite(body).await;
    assert_eq!(reply.limit_info(), Some("api-usage=1/15000"));
    let entries = reply.entries();
    assert!(reply
        .text
        .starts_with(r#"{"compositeResponse":[{"body":{"totalSize":1,"done":true,"records":[{"attributes":"#));
    let statuses: Vec<&Value> = entries.iter().map(|e| &e["httpStatusCode"]).collect();
    assert_eq!(statuses, [&json!(200), &json!(200), &json!(204), &json!(200), &json!(201)]);
    let references: Vec<&Value> = entries.iter().map(|e| &e["referenceId"]).collect();
    assert_eq!(references, [&json!("found"), &json!("tasks"), &json!("optOut"), &json!("score"), &json!("newContact")]);
    assert_eq!(entries[0]["body"]["records"][0]["Email"], "Ada@Example.com");
    assert_eq!(entries[0]["httpHeaders"], json!({}));
    let task = entries[1]["body"][0]["id"].as_str().unwrap();
    assert_eq!(entries[1]["body"], json!([{"id": task, "success": true, "errors": []}]));
    assert_eq!((entries[2]["body"].clone(), entries[2]["httpHeaders"].clone()), (Value::Null, json!({})));
    assert_eq!(entries[3]["body"], json!([{"id": ada, "success": true, "errors": []}]));
    let created = entries[4]["body"]["id"].as_str().unwrap();
    assert_eq!(entries[4]["body"], json!({"id": created, "success": true, "errors": []}));
    assert_eq!(entries[4]["httpHeaders"], json!({"Location": url(&format!("/sobjects/Contact/{created}"))}));

    // Everything was applied, for the price of one call.
    assert_eq!(org.sim.api_usage(), (1, 15_000));
    assert_eq!(org.sim.rest_calls(), 1);
    assert_eq!(org.sim.records("Task").len(), 1);
    let contacts = org.sim.records("Contact");
    assert_eq!(
        (contacts[0]["HasOptedOutOfEmail"].clone(), contacts[0]["Title"].clone()),
        (json!(true), json!("Countess"))
    );
    assert_eq!(contacts.len(), 2);

    // The next call sees the usage of one.
    let next = org.query("SELECT Id FROM Contact").await;
    assert_eq!(next.limit_info(), Some("api-usage=2/15000"));
}

#[tokio::test]
async fn subrequests_answer_exactly_what_the_standalone_calls_would() {
    let org = Org::start().await;
    let ada = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let queries = [
        "SELECT Id, Email, Name FROM Contact WHERE Email = 'ADA@example.com'",
        "SELECT Id FORM Contact",
        "SELECT Id, Nope__c FROM Contact",
    ];
    let mut subrequests: Vec<Value> = queries.iter().enumerate().map(|(i, q)| query_sub(q, &format!("q{i}"))).collect();
    subrequests.push(sub("GET", &format!("/sobjects/Contact/{ada}?fields=Name,Email"), "read", None));
    subrequests.push(sub("GET", "/sobjects/Contact/0035g00000ZZZZZZZZ", "missing", None));
    subrequests.push(sub("POST", "/sobjects/Contact", "invalid", Some(json!({"LastName": "X", "Nope__c": 1}))));
    subrequests.push(sub("PATCH", "/composite/sobjects/Task/Subject", "notExternal", Some(json!({"records": []}))));
    subrequests.push(sub("GET", "/sobjects/Lead/describe", "describe", None));
    let entries = org.composite(json!({"compositeRequest": subrequests})).await.entries();

    let mut standalone = Vec::new();
    for q in queries {
        standalone.push(org.query(q).await);
    }
    standalone.push(org.call(Method::GET, &format!("/sobjects/Contact/{ada}?fields=Name,Email"), None).await);
    standalone.push(org.call(Method::GET, "/sobjects/Contact/0035g00000ZZZZZZZZ", None).await);
    standalone.push(org.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "X", "Nope__c": 1}))).await);
    standalone.push(org.call(Method::PATCH, "/composite/sobjects/Task/Subject", Some(json!({"records": []}))).await);
    standalone.push(org.call(Method::GET, "/sobjects/Lead/describe", None).await);

    assert_eq!(entries.len(), standalone.len());
    for (entry, alone) in entries.iter().zip(&standalone) {
        assert_eq!(entry["httpStatusCode"], json!(alone.status.as_u16()), "{entry}");
        assert_eq!(entry["body"], alone.json(), "{entry}");
    }
    assert_eq!(entries[1]["body"][0]["errorCode"], "MALFORMED_QUERY");
    assert_eq!(entries[2]["body"][0]["errorCode"], "INVALID_FIELD");
    assert_eq!(entries[4]["httpStatusCode"], 404);
    assert_eq!(org.sim.records("Contact").len(), 1);
}

#[tokio::test]
async fn queries_page_through_sforce_query_options_and_the_locator() {
    let org = Org::start().await;
    for i in 0..250 {
        org.sim.insert_contact(&format!("p{i}@example.com"), "P", &format!("{i}"));
    }
    let mut first = query_sub("SELECT Id FROM Contact", "first");
    first["httpHeaders"] = json!({"Sforce-Query-Options": "batchSize=200"});
    let entries = org.composite(json!({"compositeRequest": [first]})).await.entries();
    let page = &entries[0]["body"];
    assert_eq!((page["totalSize"].clone(), page["done"].clone()), (json!(250), json!(false)));
    assert_eq!(page["records"].as_array().unwrap().len(), 200);
    let next = page["nextRecordsUrl"].as_str().unwrap();
    assert!(next.starts_with(&url("/query/01g")) && next.ends_with("-200"), "{next}");

    let more = json!({"method": "GET", "url": next, "referenceId": "more"});
    let entries = org.composite(json!({"compositeRequest": [more]})).await.entries();
    assert_eq!(entries[0]["body"]["done"], true);
    assert_eq!(entries[0]["body"]["records"].as_array().unwrap().len(), 50);
    assert_eq!(org.sim.api_usage().0, 2);
}

// ---------------------------------------------------------------------------------------------
// Limits and malformed requests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn at_most_25_subrequests_and_5_queries_or_collections() {
    let org = Org::start().await;
    let create =
        |i: usize| sub("POST", "/sobjects/Contact", &format!("c{i}"), Some(json!({"LastName": format!("C{i}")})));

    let too_many: Vec<Value> = (0..26).map(create).collect();
    let reply = org.composite(json!({"compositeRequest": too_many})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!([{"message": "The request can’t contain more than 25 operations.", "errorCode": "LIMIT_EXCEEDED"}])
    );
    assert!(org.sim.records("Contact").is_empty(), "nothing runs");

    let mut six: Vec<Value> = (0..4).map(|i| query_sub("SELECT Id FROM Contact", &format!("q{i}"))).collect();
    six.push(sub(
        "POST",
        "/composite/sobjects",
        "coll",
        Some(json!({"records": [{"attributes": {"type": "Contact"}, "LastName": "X"}]})),
    ));
    six.push(sub("PATCH", "/composite/sobjects/Task/Ext__c", "upsert", Some(json!({"records": []}))));
    six.push(create(0));
    let reply = org.composite(json!({"compositeRequest": six.clone()})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()[0]["errorCode"], "LIMIT_EXCEEDED");
    assert!(org.sim.records("Contact").is_empty());

    // Five of them, and twenty single-record calls: 25, accepted.
    let mut full: Vec<Value> = six.into_iter().take(5).collect();
    full.extend((0..20).map(create));
    let entries = org.composite(json!({"compositeRequest": full})).await.entries();
    assert_eq!(entries.len(), 25);
    assert_eq!(org.sim.records("Contact").len(), 21);
    assert_eq!(org.sim.api_usage().0, 3, "refused requests count too: they passed the gate");
}

#[tokio::test]
async fn malformed_requests_are_refused_whole_with_nothing_applied() {
    let org = Org::start().await;
    let good = sub("POST", "/sobjects/Contact", "ok", Some(json!({"LastName": "X"})));
    let good = || good.clone();
    let cases = [
        (
            json!({"compositeRequest": [good(), sub("POST", "/sobjects/Contact", "ok", Some(json!({"LastName": "Y"})))]}),
            "INVALID_INPUT",
        ),
        (json!({"compositeRequest": [good(), {"method": "GET", "url": url("/sobjects/Contact")}]}), "INVALID_INPUT"),
        (json!({"compositeRequest": [good(), sub("GET", "/query?q=x", "bad-ref", None)]}), "INVALID_INPUT"),
        (json!({"compositeRequest": [good(), sub("GET", "/limits", "limits", None)]}), "INVALID_INPUT"),
        (json!({"compositeRequest": [good(), sub("PUT", "/sobjects/Contact/003", "put", None)]}), "INVALID_INPUT"),
        (
            json!({"compositeRequest": [good(), sub("POST", "/query?q=SELECT+Id+FROM+Contact", "post", None)]}),
            "INVALID_INPUT",
        ),
        (
            json!({"compositeRequest": [good(), {"method": "GET", "url": "/services/apexrest/x", "referenceId": "apex"}]}),
            "INVALID_INPUT",
        ),
        (
            json!({"compositeRequest": [good(), {"method": "GET", "url": "/services/data/66.0/query?q=x", "referenceId": "v"}]}),
            "INVALID_INPUT",
        ),
        (json!({"compositeRequest": []}), "INVALID_INPUT"),
        (json!({"compositeRequest": [good()], "allOrNone": "yes"}), "JSON_PARSER_ERROR"),
        (json!({"compositeRequest": {"method": "GET"}}), "JSON_PARSER_ERROR"),
        (json!({"allOrNone": true}), "JSON_PARSER_ERROR"),
        (
            json!({"compositeRequest": [good(), {"method": 1, "url": url("/sobjects"), "referenceId": "m"}]}),
            "JSON_PARSER_ERROR",
        ),
        (
            json!({"compositeRequest": [{"method": "GET", "url": url("/sobjects"), "referenceId": "h", "httpHeaders": ["x"]}]}),
            "JSON_PARSER_ERROR",
        ),
        (json!(["not", "an", "object"]), "JSON_PARSER_ERROR"),
    ];
    for (body, code) in cases {
        let reply = org.composite(body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.json()[0]["errorCode"], code, "{body}: {}", reply.text);
    }
    assert!(org.sim.records("Contact").is_empty());
    let get = org.call(Method::GET, "/composite", None).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
}

// ---------------------------------------------------------------------------------------------
// allOrNone and references
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn all_or_none_rolls_back_every_subrequest_and_halts_the_rest() {
    let org = Org::start().await;
    let ada = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let subrequests = json!([
        sub("POST", "/sobjects/Contact", "newContact", Some(json!({"LastName": "Hopper"}))),
        sub("PATCH", &format!("/sobjects/Contact/{ada}"), "rename", Some(json!({"FirstName": "Augusta"}))),
        sub(
            "POST",
            "/composite/sobjects",
            "tasks",
            Some(json!({"records": [
                {"attributes": {"type": "Task"}, "WhoId": ada, "Subject": "fine"},
                {"attributes": {"type": "Task"}, "WhoId": "0035g00000ZZZZZ", "Subject": "bad who"},
            ]}))
        ),
        sub("POST", "/sobjects/Contact", "never", Some(json!({"LastName": "Never"}))),
    ]);
    let entries = org.composite(json!({"allOrNone": true, "compositeRequest": subrequests})).await.entries();
    assert_eq!(entries[0], halted("newContact", HALTED));
    assert_eq!(entries[1], halted("rename", HALTED));
    // The failed subrequest keeps its own answer (composite-response-with-collection-and-halt.json).
    assert_eq!(entries[2]["httpStatusCode"], 200);
    assert_eq!(entries[2]["body"][0]["success"], true);
    assert_eq!(entries[2]["body"][1]["errors"][0]["statusCode"], "INVALID_CROSS_REFERENCE_KEY");
    assert_eq!(entries[3], halted("never", HALTED));
    let contacts = org.sim.records("Contact");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["FirstName"], "Ada");
    assert!(org.sim.records("Task").is_empty(), "the collection's good record is rolled back too");

    // A single-record failure in the middle.
    let subrequests = json!([
        sub("POST", "/sobjects/Contact", "first", Some(json!({"LastName": "First"}))),
        sub("POST", "/sobjects/Contact", "bad", Some(json!({"FirstName": "No last name"}))),
        sub("POST", "/sobjects/Contact", "third", Some(json!({"LastName": "Third"}))),
    ]);
    let entries = org.composite(json!({"allOrNone": true, "compositeRequest": subrequests.clone()})).await.entries();
    assert_eq!(entries[0], halted("first", HALTED));
    assert_eq!(entries[1]["httpStatusCode"], 400);
    assert_eq!(entries[1]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(entries[2], halted("third", HALTED));
    assert_eq!(org.sim.records("Contact").len(), 1);

    // Without allOrNone, the others stand.
    let entries = org.composite(json!({"compositeRequest": subrequests})).await.entries();
    let statuses: Vec<&Value> = entries.iter().map(|e| &e["httpStatusCode"]).collect();
    assert_eq!(statuses, [&json!(201), &json!(400), &json!(201)]);
    assert_eq!(org.sim.records("Contact").len(), 3);

    // With allOrNone and no failure, everything is kept.
    let ok = json!([
        sub("POST", "/sobjects/Contact", "a", Some(json!({"LastName": "A"}))),
        sub("POST", "/sobjects/Contact", "b", Some(json!({"LastName": "B"})))
    ]);
    let entries = org.composite(json!({"allOrNone": true, "compositeRequest": ok})).await.entries();
    assert!(entries.iter().all(|e| e["httpStatusCode"] == 201));
    assert_eq!(org.sim.records("Contact").len(), 5);

    // A collection's own allOrNone inside a composite without one: only its records roll back.
    let subrequests = json!([
        sub("POST", "/sobjects/Contact", "kept", Some(json!({"LastName": "Kept"}))),
        sub(
            "POST",
            "/composite/sobjects",
            "coll",
            Some(json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Rolled back"},
                {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
            ]}))
        ),
    ]);
    let entries = org.composite(json!({"compositeRequest": subrequests})).await.entries();
    assert_eq!(entries[1]["body"][0]["errors"][0]["statusCode"], "ALL_OR_NONE_OPERATION_ROLLED_BACK");
    let names: Vec<Value> = org.sim.records("Contact").iter().map(|c| c["LastName"].clone()).collect();
    assert!(names.contains(&json!("Kept")) && !names.contains(&json!("Rolled back")));
}

#[tokio::test]
async fn references_carry_ids_from_earlier_responses() {
    let org = Org::start().await;
    org.sim.insert_contact("grace@example.com", "Grace", "Hopper");
    let subrequests = json!([
        sub(
            "POST",
            "/sobjects/Contact",
            "newContact",
            Some(json!({"LastName": "Lovelace", "Email": "ada@example.com"}))
        ),
        sub(
            "POST",
            "/sobjects/Task",
            "task",
            Some(json!({"WhoId": "@{newContact.id}", "Subject": "Welcome @{newContact.id}"}))
        ),
        query_sub("SELECT Id, Email FROM Contact WHERE Email = 'grace@example.com'", "found"),
        sub("PATCH", "/sobjects/Contact/@{found.records[0].Id}", "update", Some(json!({"Title": "Rear Admiral"}))),
        sub("GET", "/sobjects/Task/@{task.id}?fields=WhoId,Subject", "readBack", None),
    ]);
    let entries = org.composite(json!({"compositeRequest": subrequests})).await.entries();
    let statuses: Vec<&Value> = entries.iter().map(|e| &e["httpStatusCode"]).collect();
    assert_eq!(statuses, [&json!(201), &json!(201), &json!(200), &json!(204), &json!(200)]);
    let contact = entries[0]["body"]["id"].as_str().unwrap();
    assert_eq!(entries[4]["body"]["WhoId"], contact);
    assert_eq!(entries[4]["body"]["Subject"], format!("Welcome {contact}"));
    let grace = org.sim.records("Contact").into_iter().find(|c| c["Email"] == "grace@example.com").unwrap();
    assert_eq!(grace["Title"], "Rear Admiral");

    // A reference to a failed subrequest, or to no value, halts the dependent one only.
    let subrequests = json!([
        sub("POST", "/sobjects/Contact", "broken", Some(json!({"FirstName": "No last name"}))),
        sub("POST", "/sobjects/Task", "dependent", Some(json!({"WhoId": "@{broken.id}"}))),
        query_sub("SELECT Id FROM Contact WHERE Email = 'nobody@example.com'", "none"),
        sub("PATCH", "/sobjects/Contact/@{none.records[0].Id}", "noValue", Some(json!({"Title": "x"}))),
        sub("POST", "/sobjects/Task", "unknownRef", Some(json!({"Subject": "@{nowhere.id}"}))),
        sub("POST", "/sobjects/Task", "independent", Some(json!({"Subject": "mail me @{ not a reference"}))),
    ]);
    let entries = org.composite(json!({"compositeRequest": subrequests})).await.entries();
    assert_eq!(entries[0]["httpStatusCode"], 400);
    assert_eq!(entries[1], halted("dependent", "Invalid reference specified. No value for broken.id found in broken"));
    assert_eq!(entries[2]["body"]["totalSize"], 0);
    assert_eq!(
        entries[3],
        halted("noValue", "Invalid reference specified. No value for none.records[0].Id found in none")
    );
    assert_eq!(
        entries[4],
        halted("unknownRef", "Invalid reference specified. No value for nowhere.id found in nowhere")
    );
    assert_eq!(entries[5]["httpStatusCode"], 201);
    let tasks = org.sim.records("Task");
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[1]["Subject"], "mail me @{ not a reference");
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn faults_apply_to_the_composite_as_a_whole() {
    let org = Org::start().await;
    let body = json!({"compositeRequest": [
        sub("POST", "/sobjects/Contact", "a", Some(json!({"LastName": "A"}))),
        sub("POST", "/composite/sobjects", "b", Some(json!({"records": [{"attributes": {"type": "Contact"}, "LastName": "B"}]}))),
        query_sub("SELECT Id FROM Contact", "q"),
    ]});

    // Lost response: every subrequest applied, the answer dropped, one call counted and one fault.
    org.sim.set_faults(only(Fault::LostResponse));
    let error = org.try_send(Method::POST, "/composite", Some(body.clone())).await.unwrap_err();
    assert!(error.status().is_none(), "{error:?}");
    assert_eq!(org.sim.records("Contact").len(), 2);
    assert_eq!(org.sim.api_usage().0, 1);
    assert_eq!(org.sim.injected_faults(), [Fault::LostResponse]);

    // 503 and a reset: nothing applied.
    org.sim.set_faults(only(Fault::ServiceUnavailable));
    let reply = org.composite(body.clone()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    org.sim.set_faults(only(Fault::Reset));
    assert!(org.try_send(Method::POST, "/composite", Some(body.clone())).await.is_err());
    org.sim.set_faults(only(Fault::RequestLimit));
    assert_eq!(org.composite(body.clone()).await.status, StatusCode::FORBIDDEN);
    org.sim.set_faults(only(Fault::InvalidSession));
    assert_eq!(org.composite(body.clone()).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(org.sim.records("Contact").len(), 2);
    assert_eq!(org.sim.api_usage().0, 1, "faulted calls do not count");
    assert_eq!(org.sim.injected_faults().len(), 5, "one draw per composite, none per subrequest");

    // No faults: applied once more, one more call, one latency.
    org.sim.set_faults(Faults::default());
    org.sim.set_latency(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let entries = org.composite(body).await.entries();
    assert!(started.elapsed() < Duration::from_millis(250), "latency is paid once, not per subrequest");
    assert_eq!(entries.len(), 3);
    assert_eq!(org.sim.records("Contact").len(), 4);
    assert_eq!(org.sim.api_usage().0, 2);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(org.sim.rest_calls(), 6);
}

#[tokio::test]
async fn the_daily_limit_refuses_the_whole_composite() {
    let org = Org::start().await;
    org.sim.set_api_limit(1);
    let body = json!({"compositeRequest": [sub("POST", "/sobjects/Contact", "a", Some(json!({"LastName": "A"})))]});
    assert_eq!(org.composite(body.clone()).await.entries()[0]["httpStatusCode"], 201);
    let refused = org.composite(body).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()[0]["message"], "TotalRequests Limit exceeded.");
    assert_eq!(refused.limit_info(), Some("api-usage=1/1"));
    assert_eq!(org.sim.records("Contact").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// What the sync engine sends
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_engines_contact_and_lead_lookups_by_email() {
    let org = Org::start().await;
    for object in ["Contact", "Lead"] {
        assert!(org.sim.add_custom_field(object, "Click_Count__c", FieldSpec::new(FieldKind::Double)));
        assert!(org.sim.add_custom_field(object, "Last_Opened__c", FieldSpec::new(FieldKind::DateTime)));
    }
    let a = org.sim.insert_contact("A@X.com", "A", "One");
    org.sim.advance_time(Duration::from_secs(5));
    let b = org.sim.insert_contact("b@x.com", "B", "Two");
    let a2 = org.sim.insert_contact("a@x.COM", "A", "Duplicate");
    org.sim.insert_contact("c@x.com", "C", "Other");
    let lead = org.sim.insert_lead("b@X.com", "B", "Lead");
    let converted = org.sim.insert_lead("a@x.com", "A", "Converted");
    assert!(org.sim.convert_lead(&converted, &a));

    let contacts = "SELECT Id, Email, CreatedDate, Click_Count__c, Last_Opened__c FROM Contact WHERE Email IN ('a@x.com','b@x.com') ORDER BY CreatedDate ASC, Id ASC";
    let leads = "SELECT Id, Email, CreatedDate, IsConverted, ConvertedContactId, Click_Count__c FROM Lead WHERE Email IN ('a@x.com','b@x.com') ORDER BY CreatedDate ASC, Id ASC";
    let entries = org
        .composite(json!({"compositeRequest": [query_sub(contacts, "contacts"), query_sub(leads, "leads")]}))
        .await
        .entries();
    let ids =
        |body: &Value| -> Vec<Value> { body["records"].as_array().unwrap().iter().map(|r| r["Id"].clone()).collect() };
    assert_eq!(ids(&entries[0]["body"]), [json!(a), json!(b), json!(a2)]);
    let first = &entries[0]["body"]["records"][0];
    assert_eq!(first["Email"], "A@X.com", "stored casing");
    assert_eq!((first["Click_Count__c"].clone(), first["Last_Opened__c"].clone()), (Value::Null, Value::Null));
    assert!(first["CreatedDate"].as_str().unwrap().ends_with("+0000"));
    assert_eq!(ids(&entries[1]["body"]), [json!(lead), json!(converted)]);
    assert_eq!(entries[1]["body"]["records"][1]["IsConverted"], true);
    assert_eq!(entries[1]["body"]["records"][1]["ConvertedContactId"], json!(a));

    // The same through GET /query.
    assert_eq!(ids(&org.query(contacts).await.json()), [json!(a), json!(b), json!(a2)]);
}

#[tokio::test]
async fn the_engines_task_upserts_are_idempotent_by_external_id() {
    let org = Org::start().await;
    assert!(org.sim.add_custom_field("Task", "Sfbridge_Event_Id__c", FieldSpec::unique_external_id(FieldKind::String)));
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let lead = org.sim.insert_lead("lee@example.com", "Lee", "Open");
    let converted = org.sim.insert_lead("old@example.com", "Old", "Lead");
    assert!(org.sim.convert_lead(&converted, &contact));
    let campaign = org.sim.insert_record("Campaign", json!({"Name": "Spring launch"})).unwrap();

    let task = |event: &str, who: &str, what: Option<&str>, subject: &str| {
        let mut task = json!({
            "attributes": {"type": "Task"},
            "Sfbridge_Event_Id__c": event, "WhoId": who, "Subject": subject,
            "Description": "Opened the email.\nLink: https://example.com/a?b=c",
            "ActivityDate": "2026-03-05", "Status": "Completed", "Type": "Email",
        });
        if let Some(what) = what {
            task["WhatId"] = json!(what);
        }
        task
    };
    let upsert = |records: Vec<Value>| {
        sub(
            "PATCH",
            "/composite/sobjects/Task/Sfbridge_Event_Id__c",
            "tasks",
            Some(json!({"allOrNone": false, "records": records})),
        )
    };
    let batch = vec![
        task("evt-1", &contact, Some(&campaign), "Email opened: Spring launch"),
        task("evt-2", &lead, None, "Email clicked"),
        task("evt-3", &converted, None, "Email opened"),
        task("evt-4", &lead, Some(&campaign), "Lead with a What"),
        task("evt-5", &contact, None, &"x".repeat(256)),
    ];
    let entries = org.composite(json!({"compositeRequest": [upsert(batch.clone())]})).await.entries();
    let results = entries[0]["body"].as_array().unwrap().clone();
    assert_eq!(entries[0]["httpStatusCode"], 200);
    assert_eq!((results[0]["created"].clone(), results[1]["created"].clone()), (json!(true), json!(true)));
    assert_eq!(results[2]["errors"][0]["statusCode"], "CANNOT_UPDATE_CONVERTED_LEAD");
    assert_eq!(results[3]["errors"][0]["statusCode"], "FIELD_INTEGRITY_EXCEPTION");
    assert_eq!(results[4]["errors"][0]["statusCode"], "STRING_TOO_LONG");

    // The retry of the same batch updates: no new Task.
    let again = org.composite(json!({"compositeRequest": [upsert(batch[..2].to_vec())]})).await.entries();
    assert_eq!(
        again[0]["body"],
        json!([
            {"id": results[0]["id"], "success": true, "errors": [], "created": false},
            {"id": results[1]["id"], "success": true, "errors": [], "created": false},
        ])
    );
    let tasks = org.sim.records("Task");
    assert_eq!(tasks.len(), 2);
    let first = &tasks[0];
    assert_eq!((first["WhoId"].clone(), first["WhatId"].clone()), (json!(contact), json!(campaign)));
    assert_eq!((first["ActivityDate"].clone(), first["Status"].clone()), (json!("2026-03-05"), json!("Completed")));
    assert_eq!((first["Type"].clone(), first["IsClosed"].clone()), (json!("Email"), json!(true)));
    assert_eq!(first["Sfbridge_Event_Id__c"], "evt-1");

    // TaskSubtype is create-only (salesforce.md §8.1): accepted when the upsert creates, refused
    // with INVALID_FIELD_FOR_INSERT_UPDATE when the same upsert resolves to an update.
    let mut with_subtype = task("evt-6", &contact, None, "Email sent");
    with_subtype["TaskSubtype"] = json!("Email");
    let created = org.composite(json!({"compositeRequest": [upsert(vec![with_subtype.clone()])]})).await.entries();
    assert_eq!(created[0]["body"][0]["created"], true);
    let updated = org.composite(json!({"compositeRequest": [upsert(vec![with_subtype])]})).await.entries();
    assert_eq!(updated[0]["body"][0]["errors"][0]["statusCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(org.sim.records("Task").last().unwrap()["TaskSubtype"], "Email");
    assert_eq!(org.sim.records("Task").len(), 3);
}

#[tokio::test]
async fn the_engines_opt_out_and_score_updates() {
    let org = Org::start().await;
    for object in ["Contact", "Lead"] {
        assert!(org.sim.add_custom_field(object, "Engagement_Score__c", FieldSpec::new(FieldKind::Double)));
        assert!(org.sim.add_custom_field(object, "Last_Engaged__c", FieldSpec::new(FieldKind::DateTime)));
        assert!(org.sim.add_custom_field(object, "Is_Engaged__c", FieldSpec::new(FieldKind::Boolean)));
    }
    let contact = org.sim.insert_contact("ada@example.com", "Ada", "Lovelace");
    let lead = org.sim.insert_lead("lee@example.com", "Lee", "Open");
    let converted = org.sim.insert_lead("old@example.com", "Old", "Lead");
    assert!(org.sim.convert_lead(&converted, &contact));
    let update = |object: &str, id: &str| {
        json!({"attributes": {"type": object}, "Id": id, "HasOptedOutOfEmail": true, "Engagement_Score__c": 42.5,
               "Last_Engaged__c": "2026-03-05T10:15:00Z", "Is_Engaged__c": true})
    };
    let body = json!({"allOrNone": false, "records": [update("Contact", &contact), update("Lead", &lead), update("Lead", &converted)]});
    let entries = org
        .composite(json!({"compositeRequest": [sub("PATCH", "/composite/sobjects", "scores", Some(body))]}))
        .await
        .entries();
    let results = &entries[0]["body"];
    assert_eq!((results[0]["success"].clone(), results[1]["success"].clone()), (json!(true), json!(true)));
    assert_eq!(results[2]["errors"][0]["statusCode"], "CANNOT_UPDATE_CONVERTED_LEAD");
    for (object, id) in [("Contact", &contact), ("Lead", &lead)] {
        let record = org.sim.records(object).into_iter().find(|r| r["Id"] == json!(id)).unwrap();
        assert_eq!(record["HasOptedOutOfEmail"], true);
        assert_eq!(record["Engagement_Score__c"], 42.5);
        assert_eq!(record["Last_Engaged__c"], "2026-03-05T10:15:00.000+0000");
        assert_eq!(record["Is_Engaged__c"], true);
    }
    let soql = "SELECT Id, HasOptedOutOfEmail, Engagement_Score__c, Last_Engaged__c, Is_Engaged__c FROM Lead WHERE Is_Engaged__c = true";
    let found = org.query(soql).await.json();
    assert_eq!(found["totalSize"], 1);
    assert_eq!(found["records"][0]["Last_Engaged__c"], "2026-03-05T10:15:00.000+0000");
}
