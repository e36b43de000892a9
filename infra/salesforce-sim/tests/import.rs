//! What a connector's import reads through the REST API: system fields stamped from the
//! simulator's clock, the recycle bin and `queryAll`, SOQL on `SystemModstamp` with an `Id`
//! tie-break, `COUNT()`, query paging and its locators, calls counted by route, and changes made
//! between two pages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use salesforce_sim::{ImportMoment, RecordChange, SeedStamps};
use serde_json::{json, Value};

mod common;
use common::*;

/// 2026-12-05T10:00:00.000Z.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_464_800)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 24 * 60 * 60)
}

/// A record's fields through `GET …/sobjects/{object}/{id}`.
async fn read(org: &Org, object: &str, id: &str) -> Reply {
    org.call(Method::GET, &format!("/sobjects/{object}/{id}"), None).await
}

fn ids_of(body: &Value) -> Vec<String> {
    body["records"].as_array().unwrap().iter().map(|r| r["Id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn system_fields_follow_the_clock_and_a_delete_moves_the_record_to_the_recycle_bin() {
    let org = Org::start_at(t0()).await;
    let created = org.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "Curie"}))).await;
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let fields = read(&org, "Contact", &id).await.json();
    let stamps = |f: &Value| (f["CreatedDate"].clone(), f["LastModifiedDate"].clone(), f["SystemModstamp"].clone());
    let at_t0 = json!("2026-12-05T10:00:00.000+0000");
    assert_eq!(stamps(&fields), (at_t0.clone(), at_t0.clone(), at_t0.clone()));
    assert_eq!(fields["IsDeleted"], json!(false));

    org.sim.advance_time(ms(1_500));
    let updated = org.call(Method::PATCH, &format!("/sobjects/Contact/{id}"), Some(json!({"Title": "Dr"}))).await;
    assert_eq!(updated.status, StatusCode::NO_CONTENT);
    let later = json!("2026-12-05T10:00:01.500+0000");
    assert_eq!(stamps(&read(&org, "Contact", &id).await.json()), (at_t0.clone(), later.clone(), later.clone()));

    org.sim.advance_time(ms(2));
    assert_eq!(org.call(Method::DELETE, &format!("/sobjects/Contact/{id}"), None).await.status, StatusCode::NO_CONTENT);
    let soql = "SELECT Id, IsDeleted, LastModifiedDate, SystemModstamp FROM Contact";
    assert_eq!(org.query(soql).await.json()["totalSize"], 0, "query skips the recycle bin");
    let all = org.query_all(soql).await.json();
    assert_eq!(all["totalSize"], 1);
    let deleted = &all["records"][0];
    assert_eq!(
        (deleted["IsDeleted"].clone(), deleted["SystemModstamp"].clone(), deleted["LastModifiedDate"].clone()),
        (json!(true), json!("2026-12-05T10:00:01.502+0000"), later)
    );
    let gone = read(&org, "Contact", &id).await;
    assert_eq!((gone.status, gone.json()[0]["errorCode"].clone()), (StatusCode::NOT_FOUND, json!("ENTITY_IS_DELETED")));
    let again = org.call(Method::DELETE, &format!("/sobjects/Contact/{id}"), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn writes_in_one_millisecond_share_a_stamp_and_a_write_step_makes_stamps_strictly_increase() {
    let org = Org::start_at(t0()).await;
    let stamp_of = |org: &Org, id: &str| {
        org.sim.records("Contact").into_iter().find(|r| r["Id"] == json!(id)).unwrap()["SystemModstamp"].clone()
    };
    // One sObject Collections call is one transaction: its records share their stamps.
    let batch = json!({"records": [
        {"attributes": {"type": "Contact"}, "LastName": "A"},
        {"attributes": {"type": "Contact"}, "LastName": "B"},
    ]});
    let saved = org.call(Method::POST, "/composite/sobjects", Some(batch)).await.json();
    let (a, b) = (saved[0]["id"].as_str().unwrap(), saved[1]["id"].as_str().unwrap());
    let c = org.sim.insert_contact("c@example.com", "C", "C");
    assert_eq!(stamp_of(&org, a), stamp_of(&org, b));
    assert_eq!(stamp_of(&org, a), stamp_of(&org, &c), "a stopped clock stamps every write alike");

    org.sim.set_write_step(ms(1));
    let ids: Vec<String> = (0..5).map(|i| org.sim.insert_contact(&format!("s{i}@example.com"), "S", "S")).collect();
    let stamps: Vec<String> = ids.iter().map(|id| stamp_of(&org, id).as_str().unwrap().to_owned()).collect();
    assert_eq!(stamps.first().map(String::as_str), Some("2026-12-05T10:00:00.001+0000"));
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert_eq!(org.sim.now(), t0() + ms(5));
    assert_eq!(org.sim.update_record(&c, json!({"Title": "Prof"})), Ok(c.clone()));
    assert_eq!(stamp_of(&org, &c), json!("2026-12-05T10:00:00.006+0000"));
    assert!(org.sim.update_record(&c, json!({"Nope__c": 1})).unwrap_err().starts_with("INVALID_FIELD"));
}

#[tokio::test]
async fn the_recycle_bin_keeps_deleted_records_fifteen_days() {
    let mut org = Org::start_at(t0()).await;
    let kept = org.sim.insert_contact("kept@example.com", "K", "Kept");
    let early = org.sim.insert_contact("early@example.com", "E", "Early");
    let late = org.sim.insert_contact("late@example.com", "L", "Late");
    assert!(org.sim.delete_record(&early));
    org.sim.advance_time(days(1));
    assert!(org.sim.delete_record(&late));
    assert!(!org.sim.delete_record(&late), "already in the recycle bin");
    let all = "SELECT Id FROM Contact ORDER BY Id";

    // 15 days after the first deletion, it is gone for good; the second is still in the bin.
    org.sim.set_time(t0() + days(15));
    org.log_in_again().await;
    assert_eq!(ids_of(&org.query_all(all).await.json()), [kept.clone(), late.clone()]);
    let purged = read(&org, "Contact", &early).await;
    assert_eq!((purged.status, purged.json()[0]["errorCode"].clone()), (StatusCode::NOT_FOUND, json!("NOT_FOUND")));
    assert_eq!(org.sim.deleted_records("Contact").len(), 1);

    assert_eq!(org.sim.empty_recycle_bin(), 1);
    assert_eq!(ids_of(&org.query_all(all).await.json()), [kept]);
    assert!(org.sim.deleted_records("Contact").is_empty());
}

#[tokio::test]
async fn keyset_paging_on_system_modstamp_and_id_reads_every_record_once() {
    let org = Org::start_at(t0() + days(1)).await;
    // 25 Contacts, three to a millisecond: only the Id tells tied ones apart.
    let seeded = org.sim.seed_people("Contact", 25, SeedStamps { first: t0(), spacing: ms(1), per_stamp: 3 });
    assert_eq!(seeded.len(), 25);
    let mut read_ids = Vec::new();
    let mut watermark: Option<(String, String)> = None;
    loop {
        let filter = match &watermark {
            None => String::new(),
            Some((stamp, id)) => {
                format!("WHERE (SystemModstamp = {stamp} AND Id > '{id}') OR SystemModstamp > {stamp} ")
            }
        };
        let soql = format!("SELECT Id, SystemModstamp FROM Contact {filter}ORDER BY SystemModstamp, Id LIMIT 4");
        let reply = org.query(&soql).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let records = reply.json()["records"].as_array().unwrap().clone();
        let Some(last) = records.last() else { break };
        // SOQL takes `Z` or `+hh:mm`, not the `+0000` the REST API writes.
        let stamp = last["SystemModstamp"].as_str().unwrap().replace("+0000", "Z");
        watermark = Some((stamp, last["Id"].as_str().unwrap().to_owned()));
        read_ids.extend(records.iter().map(|r| r["Id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(read_ids, seeded, "in stamp then Id order, no gap, no duplicate");

    let rest_form = org.query("SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-05T10:00:00.000+0000").await;
    assert_eq!((rest_form.status, rest_form.json()[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("MALFORMED_QUERY")));
    let mixed = org.query("SELECT Id FROM Contact WHERE IsDeleted = false AND Email != null OR Title = null").await;
    assert_eq!(mixed.json()[0]["errorCode"], "MALFORMED_QUERY", "AND and OR need parentheses");
    let offset = org.query("SELECT Id FROM Contact WHERE SystemModstamp >= 2026-12-05T11:00:00.002+01:00").await;
    assert_eq!(offset.json()["totalSize"], 25 - 6, "an offset literal is converted to UTC");
}

#[tokio::test]
async fn count_answers_the_number_of_rows_and_query_all_counts_the_recycle_bin() {
    let org = Org::start().await;
    for i in 0..7 {
        org.sim.insert_contact(&format!("p{i}@example.com"), "P", &format!("{i}"));
    }
    let id = org.sim.insert_contact("gone@example.com", "G", "Gone");
    assert!(org.sim.delete_record(&id));
    let count = org.query("SELECT COUNT() FROM Contact").await;
    assert_eq!(count.status, StatusCode::OK);
    assert_eq!(count.text, r#"{"totalSize":7,"done":true,"records":[]}"#);
    assert_eq!(org.query_all("SELECT COUNT() FROM Contact").await.json()["totalSize"], 8);
    assert_eq!(org.query_all("SELECT COUNT() FROM Contact WHERE IsDeleted = true").await.json()["totalSize"], 1);
    assert_eq!(org.query("SELECT COUNT() FROM Contact WHERE IsDeleted = true").await.json()["totalSize"], 0);
    assert_eq!(org.query("SELECT COUNT() FROM Contact WHERE LastName > '4' LIMIT 2").await.json()["totalSize"], 2);
    for refused in ["SELECT COUNT() FROM Contact ORDER BY LastName", "SELECT COUNT(), Id FROM Contact"] {
        let reply = org.query(refused).await;
        assert_eq!((reply.status, reply.json()[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("MALFORMED_QUERY")));
    }
}

#[tokio::test]
async fn query_pages_reach_the_end_once_and_locators_serve_once_then_expire() {
    let mut org = Org::start().await;
    let seeded: Vec<String> =
        org.sim.seed_people("Lead", 450, SeedStamps { first: org.sim.now(), spacing: ms(1), per_stamp: 1 });
    let soql = format!("/query?q={}", encode("SELECT Id, Email FROM Lead ORDER BY Id"));
    let first = org.call_with(Method::GET, &soql, &[("Sforce-Query-Options", "batchSize=200")], None).await.json();
    assert_eq!((first["totalSize"].clone(), first["done"].clone()), (json!(450), json!(false)));
    let mut ids = ids_of(&first);
    let mut next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    let used = next.clone();
    let mut pages = 1;
    loop {
        let page = org.call_path(Method::GET, &next, &[("Sforce-Query-Options", "batchSize=200")], None).await.json();
        ids.extend(ids_of(&page));
        pages += 1;
        match page["nextRecordsUrl"].as_str() {
            Some(url) => next = url.to_owned(),
            None => {
                assert_eq!(page["done"], true);
                break;
            }
        }
    }
    assert_eq!((pages, ids.len()), (3, 450));
    assert_eq!(ids, seeded);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 450);

    let invalid = json!([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]);
    let reused = org.get(&used).await;
    assert_eq!((reused.status, reused.json()), (StatusCode::BAD_REQUEST, invalid.clone()));
    let made_up = org.get(&format!("/services/data/{VERSION}/query/01g5g0000000099AAA-200")).await;
    assert_eq!(made_up.json(), invalid);

    // A cursor lives two days.
    let paged = org.call_with(Method::GET, &soql, &[("Sforce-Query-Options", "batchSize=200")], None).await.json();
    let waiting = paged["nextRecordsUrl"].as_str().unwrap().to_owned();
    org.sim.advance_time(days(2));
    org.log_in_again().await;
    assert_eq!(org.get(&waiting).await.json(), invalid);

    assert_eq!(org.sim.route_calls("GET", "/query"), 2);
    assert_eq!(org.sim.rest_calls(), 2 + 5);
    assert_eq!(org.sim.route_calls("get", "/query/{locator}"), 5);
    assert_eq!(org.sim.route_calls("GET", "/queryAll"), 0);
}

#[tokio::test]
async fn a_change_between_two_query_pages_is_not_in_the_pages_but_a_later_incremental_query_sees_it() {
    let org = Org::start_at(t0()).await;
    let ids = org.sim.seed_people("Contact", 300, SeedStamps { first: t0() - days(1), spacing: ms(10), per_stamp: 1 });
    let changed = ids[250].clone();
    org.sim.schedule_change(
        ImportMoment::QueryPages(1),
        RecordChange::Update { id: changed.clone(), fields: json!({"Title": "Changed mid-import"}) },
    );
    org.sim.schedule_change(
        ImportMoment::QueryPages(1),
        RecordChange::Insert { object: "Contact".into(), fields: json!({"LastName": "New", "Email": "new@example.com"}) },
    );
    org.sim.schedule_change(ImportMoment::QueryPages(1), RecordChange::Delete { id: "0035g00000ZZZZZ".into() });
    let full = "SELECT Id, Title FROM Contact ORDER BY SystemModstamp, Id";
    let first = org.call_with(Method::GET, &format!("/query?q={}", encode(full)), &[("Sforce-Query-Options", "batchSize=200")], None).await;
    let second = org.get(first.json()["nextRecordsUrl"].as_str().unwrap()).await.json();
    let row = second["records"].as_array().unwrap().iter().find(|r| r["Id"] == json!(changed)).unwrap().clone();
    assert_eq!(row["Title"], Value::Null, "the pages are the rows as they were when the query ran");
    assert_eq!(second["totalSize"], 300);

    let applied = org.sim.applied_changes();
    assert_eq!(applied.len(), 3);
    assert_eq!(applied[0].outcome, Ok(changed.clone()));
    assert_eq!(applied[2].outcome, Err("NOT_FOUND: The requested resource does not exist".to_owned()));
    let inserted = applied[1].outcome.clone().unwrap();
    let since = "SELECT Id, Title FROM Contact WHERE SystemModstamp >= 2026-12-05T10:00:00Z ORDER BY SystemModstamp, Id";
    let incremental = org.query(since).await.json();
    assert_eq!(ids_of(&incremental), [changed, inserted]);
    assert_eq!(incremental["records"][0]["Title"], "Changed mid-import");
}
