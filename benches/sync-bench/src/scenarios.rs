//! The scenarios (the real handler at one SQS batch size; the naive per-event baseline) and the
//! correctness checks run after each one.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use sfbridge_salesforce::rest::soql_quote;
use sfbridge_core::store::ActivityKind;
use sfbridge_local::worker::{invoke, sqs_record};
use salesforce_sim::Faults;
use sfbridge_sync::{subject, RetryPolicy, TASK_STATUS};

use crate::env::{Env, CAMPAIGN_NAME, CLICKS};
use crate::events::Event;

/// Handler invocations before the bench gives up on a run that does not settle.
const MAX_INVOCATIONS: usize = 10_000;

#[derive(Debug)]
pub struct Measured {
    pub name: String,
    pub events: usize,
    /// REST calls the simulator received during the run.
    pub calls: usize,
    pub wall: Duration,
    /// Messages the handler returned as batchItemFailures or sent again (deferred), fed again.
    pub redelivered: usize,
    /// Faults the simulator injected.
    pub injected: usize,
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

/// Plays one SQS poller at `batch` messages an invocation: every event is waiting at the start,
/// each invocation takes up to `batch` of what waits (oldest first), and what it reports as failed
/// or sends again (a deferral) waits at the back. With `faults`, the simulator injects them into
/// every REST call. The worker's retries and deferrals are not delayed: time is not measured under
/// faults, calls are.
pub async fn handler(env: &Env, events: &[Event], batch: usize, faults: Option<Faults>) -> anyhow::Result<Measured> {
    let worker = (*env.ctx.worker).clone().with_retry_policy(RetryPolicy { max_deferral: Duration::ZERO, ..RetryPolicy::local() });
    if let Some(faults) = faults {
        env.sim.set_faults(faults);
    }
    let calls_before = env.sim.rest_calls();
    let started = Instant::now();
    let mut waiting: VecDeque<(String, String)> = events.iter().map(|e| (e.message_id.clone(), e.body.clone())).collect();
    let (mut redelivered, mut invocations, mut resent) = (0, 0, 0);
    while !waiting.is_empty() {
        invocations += 1;
        if invocations > MAX_INVOCATIONS {
            bail!("{} messages still waiting after {MAX_INVOCATIONS} invocations (RUST_LOG=warn shows why)", waiting.len());
        }
        let taken: Vec<(String, String)> = waiting.drain(..batch.min(waiting.len())).collect();
        let records = taken.iter().map(|(id, body)| sqs_record(Some(id.clone()), Some(body.clone()))).collect();
        let failed = invoke(&worker, records).await;
        redelivered += failed.len();
        waiting.extend(taken.into_iter().filter(|(id, _)| failed.contains(id)));
        for copy in env.activity_queue.receive(usize::MAX, Duration::ZERO).await {
            resent += 1;
            redelivered += 1;
            waiting.push_back((format!("resent-{resent}"), copy.body));
        }
    }
    let wall = started.elapsed();
    let calls = env.sim.rest_calls() - calls_before;
    let injected = env.sim.injected_faults().len();
    env.sim.set_faults(Faults::default());
    let mut problems = check_tasks(env, events)?;
    problems.extend(check_handler_side_effects(env, events).await?);
    let name = match faults {
        Some(f) => format!("handler, batch {batch}, {:.0} % 503", f.rate_503 * 100.0),
        None => format!("handler, batch {batch}"),
    };
    Ok(Measured { name, events: events.len(), calls, wall, redelivered, injected, problems })
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
    Ok(Measured { name: "naive baseline".into(), events: events.len(), calls, wall, redelivered: 0, injected: 0, problems })
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
pub(crate) fn check_tasks(env: &Env, events: &[Event]) -> anyhow::Result<Vec<String>> {
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

/// What the handler does besides Tasks: opt-out on unsubscribe (on by default), each contact's
/// click counter equal to its clicks, and nothing dead-lettered, parked or left on the queues.
pub(crate) async fn check_handler_side_effects(env: &Env, events: &[Event]) -> anyhow::Result<Vec<String>> {
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
    let mut clicks: HashMap<usize, i64> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == "email_clicked") {
        *clicks.entry(e.contact).or_default() += 1;
    }
    let miscounted = env
        .sim
        .records("Contact")
        .iter()
        .filter_map(|c| Some((contact_index(c["Email"].as_str()?)?, c[CLICKS].as_f64().map_or(0, |n| n.round() as i64))))
        .filter(|(i, n)| clicks.get(i).copied().unwrap_or(0) != *n)
        .count();
    if miscounted > 0 {
        problems.push(format!("{miscounted} contacts' click counters differ from their clicks"));
    }
    let dead = env.ctx.store.dead_letters(&env.tenant, 100, None).await?.dead_letters.len();
    if dead > 0 {
        problems.push(format!("{dead} of the tenant's commands were dead-lettered"));
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
