//! One mode's import in a child process (`import-bench --child MODE SIM_URL KEY SECRET RECORDS`):
//! the app on the in-memory adapters, the tenant connected through the popup flow against the
//! parent's simulator, then one full run driven through the import function's handler, one
//! invocation per import-queue message, as the SQS trigger delivers them. Its stdout carries two
//! lines to the parent: the redirect URI to register (it then waits for a line on stdin), and the
//! [`Measured`] result.
//!
//! The store is the in-memory table less the record markers ([`NoMarkers`]): they are DynamoDB's
//! in production, and a first full import reads none, so the child's memory is the function's.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use sfbridge_core::cipher::LocalCipher;
use sfbridge_core::clock::SystemClock;
use sfbridge_core::domain::{FlowId, TenantId};
use sfbridge_core::queue::{OutgoingMessage, Queue, QueueError};
use sfbridge_core::store::{Condition, ImportTrigger, Item, MemoryTable, QueryPage, Store, Table, TableError};
use sfbridge_import::run::Handled;
use sfbridge_import::{service, ImportLimits, Importer};
use sfbridge_local::{Queues, Wiring};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

use crate::admin::Admin;
use crate::{Measured, Mode};

/// The first line a child prints: this, then its OAuth redirect URI.
pub const REDIRECT_LINE: &str = "redirect_uri ";

const TENANT: &str = "bench_import";
/// A run that has not completed by then has gone wrong.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// The function's timeout: each invocation's deadline, never reached here.
const INVOCATION: Duration = Duration::from_secs(900);

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let [mode, sim_url, key, secret, records] = args else { bail!("--child takes MODE SIM_URL KEY SECRET RECORDS") };
    let mode: Mode = serde_json::from_str(mode).context("the mode")?;
    let records: u64 = records.parse().context("the record count")?;

    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the app's loopback port")?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let admin_token = format!("bench-admin-{}", FlowId::random());
    let config = sfbridge_local::local_config(&base_url, &admin_token, None)?;
    let redirect_uri = config.redirect_uri();
    let (queues, memory) = Queues::in_memory();
    let store = Store::new(Arc::new(NoMarkers(MemoryTable::new())));
    let ctx = Wiring::new(config, store, Arc::new(LocalCipher::random()), queues, Arc::new(SystemClock))?;
    let ctx = Arc::new(ctx);
    let server = sfbridge_local::serve(listener, ctx.clone());
    println!("{REDIRECT_LINE}{redirect_uri}");
    let mut go = String::new();
    BufReader::new(tokio::io::stdin()).read_line(&mut go).await.context("waiting for the parent")?;

    let admin = Admin::new(base_url, admin_token, TENANT);
    admin.connect(key, secret, sim_url).await?;
    let settings = json!({"import": {"objects": [{"object": "Contact", "fields": ["Email", "FirstName", "LastName"]}]}});
    admin.call(Method::PATCH, &format!("/v1/tenants/{TENANT}/settings"), Some(settings), StatusCode::OK).await?;

    let inbound = Arc::new(Counted::default());
    let imports = memory.import.clone();
    let limits = match mode {
        Mode::Rest => ImportLimits { bulk_threshold: None, ..ImportLimits::default() },
        // The simulator completes a job by its first poll; a second (not production's 5) keeps
        // the wait for it from drowning the rest of the wall time.
        Mode::Bulk => ImportLimits { bulk_first_poll: Duration::from_secs(1), ..ImportLimits::default() },
    };
    let importer =
        Importer::new(ctx.store.clone(), ctx.clock.clone(), ctx.sessions.clone(), ctx.rest.clone(), inbound.clone(), Arc::new(imports.clone()))
            .with_limits(limits);

    let tenant = TenantId::parse(TENANT)?;
    let rss_before_kb = status_kb("VmRSS")?;
    let started = Instant::now();
    let id = service::start(&importer, &tenant, ImportTrigger::SyncNow, false).await?.import.import_id;
    let (mut import_messages, mut invocations, mut waited) = (0u64, 0u64, Duration::ZERO);
    let view = loop {
        let asked = Instant::now();
        let messages = imports.receive(1, Duration::from_secs(1)).await;
        waited += asked.elapsed();
        for m in messages {
            import_messages += 1;
            invocations += 1;
            if let Handled::Retry(why) = sfbridge_import::run::handle(&importer, &m.body, tokio::time::Instant::now() + INVOCATION).await {
                eprintln!("an import step comes back: {why}");
                imports.send(vec![OutgoingMessage::new(m.body.clone())]).await;
            }
        }
        let view = service::view(&importer, &tenant, &id).await?;
        if view.state.is_finished() || view.state == sfbridge_core::store::ImportState::Parked {
            break view;
        }
        if started.elapsed() > RUN_LIMIT {
            bail!("the run did not end in {RUN_LIMIT:?}: {}", serde_json::to_string(&view)?);
        }
    };
    let wall = started.elapsed();
    let peak_kb = status_kb("VmHWM")?;
    server.abort();
    let tally = inbound.tally();
    let measured = Measured {
        mode,
        salesforce_calls: view.salesforce_calls,
        events: tally.events,
        distinct_records: tally.ids.len() as u64,
        sqs_events: tally.events,
        sqs_batches: tally.batches,
        import_messages,
        invocations,
        wall_ms: wall.as_millis() as u64,
        waited_ms: waited.as_millis() as u64,
        rss_before_kb,
        peak_kb,
        state: serde_json::to_value(view.state)?.as_str().unwrap_or_default().to_owned(),
    };
    if view.events_published != records {
        eprintln!("the run says it published {} events for {records} records", view.events_published);
    }
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

/// A line of `/proc/self/status` in kB (`VmHWM:   123456 kB`).
fn status_kb(key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status (Linux only)")?;
    let line = status.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key} in /proc/self/status"))?;
    let kb = line.trim_start_matches(key).trim_start_matches(':').trim().trim_end_matches("kB").trim();
    kb.parse().with_context(|| format!("{line:?}"))
}

/// The inbound queue as the bench sees it: it counts what it is sent (and the `SendMessageBatch`
/// calls SQS would take, ten messages each) and remembers a hash of each record id, keeping no
/// event, as SQS keeps them outside the function in production.
#[derive(Debug, Default)]
struct Counted {
    tally: Mutex<Tally>,
}

#[derive(Debug, Default, Clone)]
struct Tally {
    events: u64,
    batches: u64,
    ids: HashSet<u64>,
}

impl Counted {
    fn tally(&self) -> Tally {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct EventId<'a> {
    #[serde(borrow)]
    record_id: &'a str,
}

#[async_trait]
impl Queue for Counted {
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<(), QueueError>> {
        let hashes: Vec<Option<u64>> = messages
            .iter()
            .map(|m| {
                let event: EventId<'_> = serde_json::from_str(&m.body).ok()?;
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                event.record_id.hash(&mut hasher);
                Some(hasher.finish())
            })
            .collect();
        if let Ok(mut tally) = self.tally.lock() {
            tally.events += messages.len() as u64;
            tally.batches += messages.len().div_ceil(10) as u64;
            tally.ids.extend(hashes.into_iter().flatten());
        }
        messages.iter().map(|_| Ok(())).collect()
    }
}

/// The in-memory table, keeping no record marker (`INBOUND#{t}#REC#{object}` items): a first full
/// import finds none whether they are kept or not, and in production they are DynamoDB's, so the
/// child's peak memory is the import's own, not 100,000 markers'.
#[derive(Debug)]
struct NoMarkers(MemoryTable);

fn is_marker(item: &Item) -> bool {
    item.get("pk").and_then(|pk| pk.as_str()).is_some_and(|pk| pk.starts_with("INBOUND#") && pk.contains("#REC#"))
}

#[async_trait]
impl Table for NoMarkers {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        self.0.get(pk, sk).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.0.put(item, condition).await
    }

    async fn set_attributes(&self, pk: &str, sk: &str, set: Item) -> Result<(), TableError> {
        self.0.set_attributes(pk, sk, set).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<Option<Item>, TableError> {
        self.0.delete(pk, sk, condition).await
    }

    async fn query_desc(&self, pk: &str, sk_prefix: &str, limit: usize, before_sk: Option<&str>) -> Result<QueryPage, TableError> {
        self.0.query_desc(pk, sk_prefix, limit, before_sk).await
    }

    async fn batch_get(&self, keys: &[(String, String)]) -> Result<Vec<Item>, TableError> {
        self.0.batch_get(keys).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), TableError> {
        self.0.batch_put(items.into_iter().filter(|item| !is_marker(item)).collect()).await
    }

    async fn query_asc(&self, pk: &str, sk_prefix: &str, limit: usize, after_sk: Option<&str>) -> Result<QueryPage, TableError> {
        self.0.query_asc(pk, sk_prefix, limit, after_sk).await
    }
}
