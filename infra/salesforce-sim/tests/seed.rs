//! Seeding an org the size of a benchmark's (100,000 Contacts, 2,000 Leads) without HTTP, and
//! reading it back through `COUNT()` and a Bulk API 2.0 query job. Alone in its test binary, so
//! the process's memory is this test's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::{Duration, Instant, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use salesforce_sim::SeedStamps;

mod common;
use common::*;

/// The process's resident memory in MiB (Linux), if it can be read.
fn resident_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[tokio::test]
async fn a_hundred_thousand_contacts_seed_fast_stay_small_and_export_whole() {
    let org = Org::start().await;
    let before = resident_mib();
    let started = Instant::now();
    let first = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
    let contacts = org.sim.seed_people("Contact", 100_000, SeedStamps { first, spacing: Duration::from_secs(60), per_stamp: 2 });
    let leads = org.sim.seed_people("Lead", 2_000, SeedStamps { first, spacing: Duration::from_secs(600), per_stamp: 1 });
    let seeding = started.elapsed();
    let after = resident_mib();
    assert_eq!((contacts.len(), leads.len()), (100_000, 2_000));
    assert!(org.sim.seed_people("Task", 1, SeedStamps { first, spacing: Duration::ZERO, per_stamp: 1 }).is_empty());

    let ends = format!("SELECT Email, SystemModstamp FROM Contact WHERE Id IN ('{}', '{}')", contacts[0], contacts[99_999]);
    let sample = org.query(&ends).await.json();
    assert_eq!(sample["records"][0]["Email"], "contact.1@seed.example.com");
    assert_eq!(sample["records"][0]["SystemModstamp"], "2026-01-01T00:00:00.000+0000");
    assert_eq!(sample["records"][1]["Email"], "contact.100000@seed.example.com");
    assert_eq!(sample["records"][1]["SystemModstamp"], "2026-02-04T17:19:00.000+0000", "two a minute");
    let distinct = org.query("SELECT COUNT() FROM Lead WHERE Email LIKE 'lead.%@seed.example.com'").await.json();
    assert_eq!(distinct["totalSize"], 2_000);
    assert_eq!(org.query("SELECT COUNT() FROM Contact").await.json()["totalSize"], 100_000);

    let exporting = Instant::now();
    let created = org.call(Method::POST, "/jobs/query", Some(serde_json::json!({"operation": "query", "query": "SELECT Id, Email, SystemModstamp FROM Contact"}))).await;
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(org.call(Method::GET, &format!("/jobs/query/{id}"), None).await.json()["numberRecordsProcessed"], 100_000);
    let mut seen = HashSet::new();
    let mut locator = String::new();
    let mut sets = 0;
    loop {
        let reply = org.call(Method::GET, &format!("/jobs/query/{id}/results?maxRecords=40000&locator={locator}"), None).await;
        assert_eq!(reply.status, StatusCode::OK);
        sets += 1;
        for line in reply.text.lines().skip(1) {
            assert!(seen.insert(line.split(',').next().unwrap().trim_matches('"').to_owned()), "duplicate row");
        }
        match reply.headers.get("sforce-locator").unwrap().to_str().unwrap() {
            "null" => break,
            next => locator = next.to_owned(),
        }
    }
    assert_eq!((sets, seen.len()), (3, 100_000));
    assert!(contacts.iter().all(|c| seen.contains(c)));
    let export = exporting.elapsed();

    eprintln!("seeded 102,000 people in {seeding:?}; exported 100,000 in {export:?}; resident memory {before:?} MiB -> {after:?} MiB");
    if let (Some(before), Some(after)) = (before, after) {
        assert!(after.saturating_sub(before) < 400, "seeding took {} MiB", after.saturating_sub(before));
    }
}
