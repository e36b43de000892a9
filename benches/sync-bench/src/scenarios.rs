//! The scenarios (the real handler at one SQS batch size; the naive per-event baseline) and the
//! correctness checks run after each one.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use sfbridge_salesforce::rest::soql_quote;
use sfbridge_core::store::ActivityKind;
use sfbridge_local::worker::{invoke, sqs_record};
use sfbridge_sync::{subject, TASK_STATUS};

use crate::env::{Env, CAMPAIGN_NAME};
use crate::events::Event;

/// Redeliveries of one batch's failed messages before the bench gives up (none are expected:
/// the simulator injects no faults here).
const MAX_REDELIVERY_ROUNDS: usize = 5;

#[derive(Debug)]
pub struct Measured {
    pub name: String,
    pub events: usize,
    /// REST calls the simulator received during the run.
    pub calls: usize,
    pub wall: Duration,
    /// Messages the handler returned as batchItemFailures and the bench fed again.
    pub redelivered: usize,
    /// Correctness problems found after the run (empty when all is well).
    pub problems: Vec<String>,
}

impl Measured {
    pub fn seconds_per_event(&self) -> f64 {
        self.wall.as_secs_f64() / self.events.max(1) as f64
    }

    pub fn calls_per_1000(&self) -> f64 {
        self.calls as f64 * 1000.0 / self.events.max(1) as f64
    }

    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Feeds `events` to `sfbridge_activity_sync::handle` in SQS batches of `batch`, one batch at a
/// time (one poller), feeding each batch's failures back until none are left.
pub async fn handler(env: &Env, events: &[Event], batch: usize) -> anyhow::Result<Measured> {
    let calls_before = env.sim.rest_calls();
    let started = Instant::now();
    let mut redelivered = 0;
    for chunk in events.chunks(batch.max(1)) {
        let mut pending: Vec<&Event> = chunk.iter().collect();
        for round in 0.. {
            let records = pending.iter().map(|e| sqs_record(Some(e.message_id.clone()), Some(e.body.clone()))).collect();
            let failed = invoke(&env.ctx.worker, records).await;
            if failed.is_empty() {
                break;
            }
            if round == MAX_REDELIVERY_ROUNDS {
                bail!("{} messages still failing after {MAX_REDELIVERY_ROUNDS} redeliveries (RUST_LOG=warn shows why)", failed.len());
            }
            redelivered += failed.len();
            pending.retain(|e| failed.contains(&e.message_id));
        }
    }
    let wall = started.elapsed();
    let calls = env.sim.rest_calls() - calls_before;
    let mut problems = check_tasks(env, events)?;
    problems.extend(check_handler_side_effects(env, events)?);
    Ok(Measured { name: format!("handler, batch {batch}"), events: events.len(), calls, wall, redelivered, problems })
}

/// The naive integration: per event, one SOQL lookup of the email and one Task create, one
/// after the other, with the tenant's access token.
pub async fn baseline(env: &Env, events: &[Event]) -> anyhow::Result<Measured> {
    let http = reqwest::Client::new();
    let calls_before = env.sim.rest_calls();
    let started = Instant::now();
    let session = env.ctx.sessions.current(&env.tenant).await?;
    let token = session.access_token.expose_secret();
    let base = session.instance_url.join(&format!("/services/data/{}", env.ctx.config.api_version.path()));
    for e in events {
        let soql = format!("SELECT Id FROM Contact WHERE Email = {} LIMIT 1", soql_quote(&e.email));
        let response = http.get(format!("{base}/query")).query(&[("q", soql)]).bearer_auth(token).send().await?;
        let found = success_json(response, "baseline query").await?;
        // A naive integration skips an email it cannot find (the Task count check then says so).
        let Some(who_id) = found["records"].get(0).and_then(|r| r["Id"].as_str()) else { continue };

        let kind: ActivityKind = serde_json::from_value(json!(e.kind)).context("an event kind")?;
        let task = json!({
            "WhoId": who_id,
            "Subject": subject(kind, CAMPAIGN_NAME),
            "Description": format!("Campaign: {CAMPAIGN_NAME} · {} · {}", e.kind, e.message_id),
            "ActivityDate": e.occurred_at.format("%Y-%m-%d").to_string(),
            "Status": TASK_STATUS,
            "TaskSubtype": "Email",
            "Type": "Email",
        });
        let response = http.post(format!("{base}/sobjects/Task")).bearer_auth(token).json(&task).send().await?;
        let created = success_json(response, "baseline Task create").await?;
        if created["success"] != true {
            bail!("baseline Task create did not succeed: {created}");
        }
    }
    let wall = started.elapsed();
    let calls = env.sim.rest_calls() - calls_before;
    let problems = check_tasks(env, events)?;
    Ok(Measured { name: "naive baseline".into(), events: events.len(), calls, wall, redelivered: 0, problems })
}

async fn success_json(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("{what}: HTTP {status}: {body}");
    }
    Ok(response.json().await?)
}

/// One Task per event, on the event's contact.
fn check_tasks(env: &Env, events: &[Event]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let tasks = env.sim.records("Task");
    if tasks.len() != events.len() {
        problems.push(format!("{} Tasks in the org for {} events", tasks.len(), events.len()));
    }
    let contact_of_id: HashMap<String, usize> = env
        .sim
        .records("Contact")
        .iter()
        .filter_map(|c| Some((c["Id"].as_str()?.to_owned(), contact_index(c["Email"].as_str()?)?)))
        .collect();
    let mut actual: HashMap<usize, usize> = HashMap::new();
    let mut stray = 0;
    for t in &tasks {
        match t["WhoId"].as_str().and_then(|id| contact_of_id.get(id)) {
            Some(c) => *actual.entry(*c).or_default() += 1,
            None => stray += 1,
        }
    }
    if stray > 0 {
        problems.push(format!("{stray} Tasks are not on a benchmark contact"));
    }
    let mut expected: HashMap<usize, usize> = HashMap::new();
    for e in events {
        *expected.entry(e.contact).or_default() += 1;
    }
    let wrong = expected.iter().filter(|(c, n)| actual.get(c) != Some(n)).count();
    if wrong > 0 {
        problems.push(format!("{wrong} contacts do not have one Task per event of theirs"));
    }
    Ok(problems)
}

/// What the handler does besides Tasks: opt-out on unsubscribe (on by default), and nothing
/// dead-lettered, parked or left on the queues.
fn check_handler_side_effects(env: &Env, events: &[Event]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let unsubscribed: BTreeSet<usize> = events.iter().filter(|e| e.kind == "unsubscribed").map(|e| e.contact).collect();
    let opted_out: BTreeSet<usize> = env
        .sim
        .records("Contact")
        .iter()
        .filter(|c| c["HasOptedOutOfEmail"] == true)
        .filter_map(|c| contact_index(c["Email"].as_str()?))
        .collect();
    if unsubscribed != opted_out {
        problems.push(format!(
            "{} contacts unsubscribed but {} are opted out of email",
            unsubscribed.len(),
            opted_out.len()
        ));
    }
    if !env.dead_letter_queue.is_empty() {
        problems.push(format!("{} messages were dead-lettered", env.dead_letter_queue.len()));
    }
    if !env.activity_queue.is_empty() {
        problems.push(format!("{} messages were put back on the activity queue (parked and replayed?)", env.activity_queue.len()));
    }
    Ok(problems)
}

/// `person{i}@example.com` → `i`.
fn contact_index(email: &str) -> Option<usize> {
    email.to_ascii_lowercase().strip_prefix("person")?.strip_suffix("@example.com")?.parse().ok()
}
