//! Bulk API 2.0 query jobs over HTTP: create, poll, read the CSV results set by set, abort,
//! delete, list; the snapshot a job reads and changes made while it runs; errors, limits, faults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use salesforce_sim::{BulkQueryPace, Fault, Faults, ImportMoment, RecordChange, SeedStamps};
use serde_json::{json, Value};

mod common;
use common::*;

/// 2026-12-05T10:00:00.000Z.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_464_800)
}

async fn create(org: &Org, body: Value) -> Reply {
    org.call(Method::POST, "/jobs/query", Some(body)).await
}

/// A new job's id; the create must succeed.
async fn job(org: &Org, operation: &str, soql: &str) -> String {
    let reply = create(org, json!({"operation": operation, "query": soql})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["id"].as_str().unwrap().to_owned()
}

async fn poll(org: &Org, id: &str) -> Value {
    let reply = org.call(Method::GET, &format!("/jobs/query/{id}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()
}

async fn results(org: &Org, id: &str, params: &str) -> Reply {
    org.call(Method::GET, &format!("/jobs/query/{id}/results{params}"), None).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name}"))
}

/// CSV rows (the header row first), read as RFC 4180 says.
fn parse_csv(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// Every set of a complete job's results, `max` rows at a time: the header and the rows, and the
/// number of sets read.
async fn read_all(org: &Org, id: &str, max: usize) -> (Vec<String>, Vec<Vec<String>>, usize) {
    let (mut rows, mut sets) = (Vec::new(), 0);
    let mut locator: Option<String> = None;
    loop {
        let params = match &locator {
            None => format!("?maxRecords={max}"),
            Some(l) => format!("?locator={l}&maxRecords={max}"),
        };
        let reply = results(org, id, &params).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let mut set = parse_csv(&reply.text, b',');
        let head = set.remove(0);
        assert_eq!(header(&reply, "sforce-numberofrecords"), set.len().to_string());
        rows.extend(set);
        sets += 1;
        match header(&reply, "sforce-locator") {
            "null" => return (head, rows, sets),
            next => locator = Some(next.to_owned()),
        }
    }
}

#[tokio::test]
async fn a_job_completes_and_its_csv_results_are_read_set_by_set_to_the_end() {
    let org = Org::start_at(t0()).await;
    org.sim.set_write_step(Duration::from_millis(1));
    let awkward = ["O\"Brien, \"Junior\"", "Line\nBreak", "Semi;colon|pipe", "Plain"];
    let mut ids = Vec::new();
    for i in 0..25 {
        let last = awkward[i % awkward.len()];
        let fields = json!({"LastName": last, "Email": format!("p{i}@example.com"), "HasOptedOutOfEmail": i % 2 == 0});
        ids.push(org.sim.insert_record("Contact", fields).unwrap());
    }
    let soql = "SELECT Id, lastName, Email, HasOptedOutOfEmail, Title, SystemModstamp FROM Contact ORDER BY SystemModstamp, Id";
    let created = create(&org, json!({"operation": "query", "query": soql})).await;
    assert_eq!(created.status, StatusCode::OK);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("750") && id.len() == 18);
    let user = salesforce_sim::salesforce_id_18("0055g000003SimU");
    let stamp = "2026-12-05T10:00:00.025+0000";
    assert_eq!(
        created.json(),
        json!({"id": id, "operation": "query", "object": "Contact", "createdById": user, "createdDate": stamp,
               "systemModstamp": stamp, "state": "UploadComplete", "concurrencyMode": "Parallel", "contentType": "CSV",
               "apiVersion": 66.0, "lineEnding": "LF", "columnDelimiter": "COMMA"})
    );
    assert!(created.text.starts_with(r#"{"id":"750"#), "documented key order: {}", created.text);

    let info = poll(&org, &id).await;
    assert_eq!((info["state"].clone(), info["jobType"].clone()), (json!("JobComplete"), json!("V2Query")));
    assert_eq!((info["numberRecordsProcessed"].clone(), info["retries"].clone()), (json!(25), json!(0)));
    assert_eq!(info["isPkChunkingSupported"], true);

    let (head, rows, sets) = read_all(&org, &id, 10).await;
    assert_eq!(sets, 3);
    assert_eq!(head, ["Id", "lastName", "Email", "HasOptedOutOfEmail", "Title", "SystemModstamp"], "as the query wrote them");
    assert_eq!(rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(), ids, "every row once, in order");
    assert_eq!(rows[0], [ids[0].as_str(), "O\"Brien, \"Junior\"", "p0@example.com", "true", "", "2026-12-05T10:00:00.001Z"]);
    assert_eq!((rows[1][1].as_str(), rows[1][3].as_str()), ("Line\nBreak", "false"));

    // Every value is quoted, a null is empty; a locator serves again as long as the job exists.
    let second = results(&org, &id, "?maxRecords=10").await;
    let locator = header(&second, "sforce-locator").to_owned();
    assert_eq!(locator, "MTA", "base64 of the next offset, 10");
    assert!(second.text.starts_with("\"Id\",\"lastName\",\"Email\",\"HasOptedOutOfEmail\",\"Title\",\"SystemModstamp\"\n"));
    assert!(second.text.contains(",\"true\",,\"2026-12-05T10:00:00.001Z\"\n"), "{}", second.text);
    let again = results(&org, &id, &format!("?locator={locator}&maxRecords=10")).await;
    assert_eq!(again.text, results(&org, &id, &format!("?locator={locator}&maxRecords=10")).await.text);
    assert_eq!(header(&again, "content-type"), "text/csv");

    // Without maxRecords, sets are as large as the service's default.
    org.sim.set_bulk_default_max_records(20);
    let big = results(&org, &id, "").await;
    assert_eq!((header(&big, "sforce-numberofrecords"), header(&big, "sforce-locator")), ("20", "MjA"));
}

#[tokio::test]
async fn states_follow_the_pace_in_polls_and_simulated_time_and_results_wait_for_completion() {
    let org = Org::start_at(t0()).await;
    org.sim.insert_contact("a@example.com", "A", "A");
    org.sim.set_bulk_query_pace(BulkQueryPace {
        queued_polls: 2,
        running_polls: 1,
        running_for: Duration::from_secs(30),
        ..BulkQueryPace::default()
    });
    let id = job(&org, "query", "SELECT Id FROM Contact").await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let info = poll(&org, &id).await;
        seen.push((info["state"].as_str().unwrap().to_owned(), info["numberRecordsProcessed"].as_u64().unwrap()));
    }
    let early = results(&org, &id, "").await;
    assert_eq!((early.status, early.json()[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("API_ERROR")));
    org.sim.advance_time(Duration::from_secs(30));
    let done = poll(&org, &id).await;
    assert_eq!(
        seen,
        [("UploadComplete".into(), 0), ("UploadComplete".into(), 0), ("InProgress".into(), 0), ("InProgress".into(), 0)]
    );
    assert_eq!((done["state"].clone(), done["numberRecordsProcessed"].clone()), (json!("JobComplete"), json!(1)));
    assert_eq!(done["totalProcessingTime"], 30_000);
    assert_eq!(done["systemModstamp"], "2026-12-05T10:00:30.000+0000");
    assert_eq!(read_all(&org, &id, 100).await.1.len(), 1);
}

#[tokio::test]
async fn results_are_what_the_query_matched_when_the_job_started_running() {
    let org = Org::start_at(t0()).await;
    org.sim.set_write_step(Duration::from_millis(1));
    let ids = org.sim.seed_people("Contact", 50, SeedStamps { first: t0() - Duration::from_secs(3600), spacing: Duration::from_millis(1), per_stamp: 1 });
    org.sim.set_bulk_query_pace(BulkQueryPace { running_polls: 1, ..BulkQueryPace::default() });
    org.sim.schedule_change(
        ImportMoment::BulkJobRunning,
        RecordChange::Update { id: ids[3].clone(), fields: json!({"Title": "Changed while running"}) },
    );
    org.sim.schedule_change(ImportMoment::BulkJobRunning, RecordChange::Delete { id: ids[4].clone() });
    org.sim.schedule_change(
        ImportMoment::BulkJobRunning,
        RecordChange::Insert { object: "Contact".into(), fields: json!({"LastName": "Late", "Email": "late@example.com"}) },
    );
    org.sim.schedule_change(
        ImportMoment::BulkResultsPages(1),
        RecordChange::Update { id: ids[40].clone(), fields: json!({"Title": "Changed between sets"}) },
    );
    let id = job(&org, "query", "SELECT Id, Title FROM Contact").await;
    assert_eq!(poll(&org, &id).await["state"], "InProgress");
    assert!(org.sim.applied_changes().iter().all(|c| c.outcome.is_ok()));
    assert_eq!(poll(&org, &id).await["state"], "JobComplete");
    let (_, rows, sets) = read_all(&org, &id, 25).await;
    assert_eq!(sets, 2);
    let got: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(got, ids, "the deleted record is there, the inserted one is not");
    assert!(rows.iter().all(|r| r[1].is_empty()), "no change made after the snapshot shows");

    // The incremental run after the import finds every change, the deletion through queryAll.
    let since = "SELECT Id, Title, IsDeleted FROM Contact WHERE SystemModstamp >= 2026-12-05T10:00:00Z ORDER BY SystemModstamp, Id";
    let changed = org.query_all(since).await.json();
    let inserted = org.sim.applied_changes()[2].outcome.clone().unwrap();
    let changed_ids: Vec<&str> = changed["records"].as_array().unwrap().iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(changed_ids, [ids[3].as_str(), ids[4].as_str(), inserted.as_str(), ids[40].as_str()]);
    assert_eq!(changed["records"][1]["IsDeleted"], true);
}

#[tokio::test]
async fn query_all_jobs_include_the_recycle_bin_and_other_delimiters_and_line_endings_work() {
    let org = Org::start().await;
    let kept = org.sim.insert_contact("kept@example.com", "K", "Pipe|d");
    let gone = org.sim.insert_contact("gone@example.com", "G", "Gone");
    assert!(org.sim.delete_record(&gone));
    let body = |operation: &str| {
        json!({"operation": operation, "query": "SELECT Id, LastName, IsDeleted FROM Contact", "columnDelimiter": "PIPE", "lineEnding": "CRLF"})
    };
    let all = create(&org, body("queryAll")).await.json();
    assert_eq!((all["columnDelimiter"].clone(), all["lineEnding"].clone()), (json!("PIPE"), json!("CRLF")));
    let live = create(&org, body("query")).await.json();
    let read = |id: Value| {
        let org = &org;
        async move {
            assert_eq!(poll(org, id.as_str().unwrap()).await["state"], "JobComplete");
            results(org, id.as_str().unwrap(), "").await.text
        }
    };
    let all_text = read(all["id"].clone()).await;
    assert_eq!(
        all_text,
        format!("\"Id\"|\"LastName\"|\"IsDeleted\"\r\n\"{kept}\"|\"Pipe|d\"|\"false\"\r\n\"{gone}\"|\"Gone\"|\"true\"\r\n")
    );
    assert_eq!(parse_csv(&all_text, b'|')[1], [kept.as_str(), "Pipe|d", "false"]);
    let live_rows = parse_csv(&read(live["id"].clone()).await, b'|');
    assert_eq!(live_rows.len(), 2, "query leaves the recycle bin out");
}

#[tokio::test]
async fn creates_refuse_what_bulk_api_2_does_not_support() {
    let org = Org::start().await;
    let refused = |body: Value, code: &'static str| {
        let org = &org;
        async move {
            let reply = create(org, body.clone()).await;
            assert_eq!((reply.status, reply.json()[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!(code)), "{body}");
            reply.json()[0]["message"].as_str().unwrap().to_owned()
        }
    };
    let q = |soql: &str| json!({"operation": "query", "query": soql});
    refused(q("SELECT COUNT() FROM Contact"), "API_ERROR").await;
    refused(q("SELECT Id FROM Contact LIMIT 5 OFFSET 10"), "API_ERROR").await;
    let malformed = refused(q("SELECT Id FORM Contact"), "MALFORMED_QUERY").await;
    assert!(malformed.ends_with("ERROR at Row:1:Column:11\nunexpected token: FORM"), "{malformed}");
    refused(q("SELECT Id, Nope__c FROM Contact"), "INVALID_FIELD").await;
    refused(q("SELECT Id FROM Account"), "INVALID_TYPE").await;
    refused(json!({"operation": "insert", "query": "SELECT Id FROM Contact"}), "API_ERROR").await;
    refused(json!({"query": "SELECT Id FROM Contact"}), "API_ERROR").await;
    refused(json!({"operation": "query"}), "API_ERROR").await;
    refused(json!({"operation": "query", "query": "SELECT Id FROM Contact", "contentType": "JSON"}), "API_ERROR").await;
    refused(json!({"operation": "query", "query": "SELECT Id FROM Contact", "columnDelimiter": "DOT"}), "API_ERROR").await;
    refused(json!({"operation": "query", "query": "SELECT Id FROM Contact", "lineEnding": "CR"}), "API_ERROR").await;
    refused(json!({"operation": 1, "query": "SELECT Id FROM Contact"}), "JSON_PARSER_ERROR").await;
    let not_json = org.call_path(Method::POST, &format!("/services/data/{VERSION}/jobs/query"), &[], Some("{")).await;
    assert_eq!(not_json.json()[0]["errorCode"], "JSON_PARSER_ERROR");
    // ORDER BY and LIMIT are allowed, if slower in Salesforce.
    job(&org, "query", "SELECT Id FROM Contact ORDER BY LastName LIMIT 5").await;
    assert_eq!(org.sim.bulk_query_job_usage().0, 1, "refused creates are not jobs");
}

#[tokio::test]
async fn jobs_abort_delete_list_and_answer_for_unknown_ids_and_other_versions() {
    let org = Org::start().await;
    org.sim.set_bulk_query_pace(BulkQueryPace { queued_polls: 1, ..BulkQueryPace::default() });
    let running = job(&org, "query", "SELECT Id FROM Contact").await;
    let finished = job(&org, "queryAll", "SELECT Id FROM Lead").await;
    assert_eq!(poll(&org, &finished).await["state"], "UploadComplete");
    assert_eq!(poll(&org, &finished).await["state"], "JobComplete");

    let busy = org.call(Method::DELETE, &format!("/jobs/query/{running}"), None).await;
    assert_eq!(
        (busy.status, busy.json()),
        (StatusCode::BAD_REQUEST, json!([{"message": "Error encountered when deleting the job because the job is not terminated", "errorCode": "API_ERROR"}]))
    );
    let aborted = org.call(Method::PATCH, &format!("/jobs/query/{running}"), Some(json!({"state": "Aborted"}))).await;
    assert_eq!((aborted.status, aborted.json()["state"].clone()), (StatusCode::OK, json!("Aborted")));
    assert_eq!(poll(&org, &running).await["state"], "Aborted");
    let twice = org.call(Method::PATCH, &format!("/jobs/query/{running}"), Some(json!({"state": "Aborted"}))).await;
    assert_eq!((twice.status, twice.json()[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("INVALIDJOBSTATE")));
    let complete = org.call(Method::PATCH, &format!("/jobs/query/{finished}"), Some(json!({"state": "Aborted"}))).await;
    assert_eq!(complete.json()[0]["message"], "Aborting already Completed Job not allowed");
    let other = org.call(Method::PATCH, &format!("/jobs/query/{finished}"), Some(json!({"state": "UploadComplete"}))).await;
    assert_eq!(other.json()[0]["errorCode"], "INVALIDJOBSTATE");
    assert_eq!(results(&org, &running, "").await.json()[0]["errorCode"], "API_ERROR", "an aborted job has no results");

    let list = org.call(Method::GET, "/jobs/query", None).await.json();
    assert_eq!((list["done"].clone(), list["nextRecordsUrl"].clone()), (json!(true), Value::Null));
    let listed: Vec<(Value, Value, Value)> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["id"].clone(), j["state"].clone(), j["jobType"].clone()))
        .collect();
    assert_eq!(
        listed,
        [(json!(running), json!("Aborted"), json!("V2Query")), (json!(finished), json!("JobComplete"), json!("V2Query"))]
    );
    assert_eq!(org.call(Method::GET, "/jobs/query?jobType=V2Ingest", None).await.json()["records"], json!([]));
    assert_eq!(org.call(Method::GET, "/jobs/query?jobType=V2Query&concurrencyMode=parallel", None).await.json()["records"].as_array().unwrap().len(), 2);
    assert_eq!(org.call(Method::GET, "/jobs/query?jobType=Nope", None).await.status, StatusCode::BAD_REQUEST);

    let wrong_version = org.call_path(Method::GET, &format!("/services/data/v64.0/jobs/query/{finished}/results"), &[], None).await;
    assert_eq!(wrong_version.status, StatusCode::CONFLICT, "results are read with the version the job was created with");
    let bad_locator = results(&org, &finished, "?locator=!!").await;
    assert_eq!((bad_locator.status, bad_locator.json()[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("API_ERROR")));
    assert_eq!(results(&org, &finished, "?maxRecords=0").await.status, StatusCode::BAD_REQUEST);

    assert_eq!(org.call(Method::DELETE, &format!("/jobs/query/{finished}"), None).await.status, StatusCode::NO_CONTENT);
    let not_found = json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]);
    for path in [format!("/jobs/query/{finished}"), format!("/jobs/query/{finished}/results"), "/jobs/query/7505g0000000099AAA".into()] {
        let reply = org.call(Method::GET, &path, None).await;
        assert_eq!((reply.status, reply.json()), (StatusCode::NOT_FOUND, not_found.clone()), "{path}");
    }
    let put = org.call(Method::PUT, &format!("/jobs/query/{running}"), Some(json!({}))).await;
    assert_eq!((put.status, put.json()[0]["errorCode"].clone()), (StatusCode::METHOD_NOT_ALLOWED, json!("METHOD_NOT_ALLOWED")));
}

#[tokio::test]
async fn failed_jobs_report_their_error_and_ended_jobs_are_forgotten_after_seven_days() {
    let mut org = Org::start_at(t0()).await;
    org.sim.fail_bulk_query_jobs(1, "The query took too long to run");
    let failed = job(&org, "query", "SELECT Id FROM Contact").await;
    let fine = job(&org, "query", "SELECT Id FROM Contact").await;
    let info = poll(&org, &failed).await;
    assert_eq!((info["state"].clone(), info["errorMessage"].clone()), (json!("Failed"), json!("The query took too long to run")));
    assert_eq!(poll(&org, &fine).await["state"], "JobComplete");
    assert!(poll(&org, &fine).await.get("errorMessage").is_none());
    assert_eq!(results(&org, &failed, "").await.json()[0]["errorCode"], "API_ERROR");

    org.sim.advance_time(Duration::from_secs(7 * 24 * 60 * 60));
    org.log_in_again().await;
    let gone = org.call(Method::GET, &format!("/jobs/query/{fine}"), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(org.call(Method::GET, "/jobs/query", None).await.json()["records"], json!([]));
}

#[tokio::test]
async fn bulk_calls_count_against_the_daily_allocation_and_jobs_against_their_own() {
    let org = Org::start().await;
    org.sim.insert_contact("a@example.com", "A", "A");
    let id = job(&org, "query", "SELECT Id FROM Contact").await;
    poll(&org, &id).await;
    let csv = results(&org, &id, "").await;
    assert_eq!(csv.limit_info(), Some("api-usage=3/15000"), "every Bulk API call is one API request");
    assert_eq!(org.sim.api_usage().0, 3);
    assert_eq!(
        (
            org.sim.route_calls("POST", "/jobs/query"),
            org.sim.route_calls("GET", "/jobs/query/{job}"),
            org.sim.route_calls("GET", "/jobs/query/{job}/results"),
        ),
        (1, 1, 1)
    );
    let limits = org.call(Method::GET, "/limits", None).await.json();
    assert_eq!(limits["DailyBulkV2QueryJobs"], json!({"Max": 10_000, "Remaining": 9_999}));

    org.sim.set_bulk_query_job_limit(1);
    let over = create(&org, json!({"operation": "query", "query": "SELECT Id FROM Contact"})).await;
    assert_eq!(
        (over.status, over.json()),
        (StatusCode::BAD_REQUEST, json!([{"message": "Max bulk v2 query jobs (1) per 24 hrs has been reached", "errorCode": "LIMIT_EXCEEDED"}]))
    );
    org.sim.set_api_limit(5);
    let refused = results(&org, &id, "").await;
    assert_eq!((refused.status, refused.json()[0]["errorCode"].clone()), (StatusCode::FORBIDDEN, json!("REQUEST_LIMIT_EXCEEDED")));
}

#[tokio::test]
async fn the_gate_and_faults_apply_to_bulk_calls() {
    let org = Org::start().await;
    let anonymous = org.client.post(org.url("/jobs/query")).json(&json!({"operation": "query", "query": "SELECT Id FROM Contact"})).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    org.sim.set_faults(Faults { rate_503: 1.0, seed: 1, ..Faults::default() });
    let unavailable = create(&org, json!({"operation": "query", "query": "SELECT Id FROM Contact"})).await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(unavailable.text.contains("<html>"));
    org.sim.set_faults(Faults::default());
    assert_eq!(org.sim.bulk_query_job_usage().0, 0, "nothing was created");

    // A lost answer to a results call: the set was served; asking again with the same locator
    // gets the same rows.
    org.sim.seed_people("Contact", 30, SeedStamps { first: org.sim.now(), spacing: Duration::from_millis(1), per_stamp: 1 });
    let id = job(&org, "query", "SELECT Id FROM Contact").await;
    poll(&org, &id).await;
    org.sim.set_faults(Faults { rate_lost_response: 1.0, seed: 2, ..Faults::default() });
    assert!(org.try_send(Method::GET, &format!("/jobs/query/{id}/results?maxRecords=20"), None).await.is_err());
    org.sim.set_faults(Faults::default());
    assert_eq!(org.sim.injected_faults(), [Fault::ServiceUnavailable, Fault::LostResponse]);
    let (_, rows, sets) = read_all(&org, &id, 20).await;
    assert_eq!((rows.len(), sets), (30, 2));
    assert_eq!(rows.iter().map(|r| &r[0]).collect::<HashSet<_>>().len(), 30);

    org.sim.expire_access_tokens();
    assert_eq!(org.call(Method::GET, &format!("/jobs/query/{id}"), None).await.status, StatusCode::UNAUTHORIZED);
}
