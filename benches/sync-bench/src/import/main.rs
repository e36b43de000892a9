//! `import-bench`: a full import of N Contacts (100,000 by default) from the Salesforce simulator
//! through REST paging (2,000 records a query) and through a Bulk API 2.0 query job, side by side:
//! Salesforce calls, wall time, peak memory, SQS messages and events per second. Checks that each
//! mode published exactly one event per Contact (exits non-zero if not); asserts nothing about
//! speed or memory.
//!
//! **How memory is measured.** The org (some 3 KB a record in the simulator) lives in this
//! process; each mode runs in a child process of its own (this binary with `--child`), which
//! holds the app on the in-memory adapters, connects the tenant through the popup flow against
//! the simulator over loopback, and drives the import function's handler on the import queue's
//! messages until the run completes. The child reports its `VmHWM` (peak resident set, from
//! `/proc/self/status`) and its `VmRSS` just before the run: their difference is what the run
//! added. Its table keeps no record markers and its inbound queue only counts what it is sent
//! (DynamoDB and SQS hold them in production; a first full import reads no marker), so the figure
//! is the import's own memory: one page or one set of results, a batch of events, the runtime.
//!
//! ```text
//! cargo run --release -p sfbridge-bench --bin import-bench -- [--records N] [--latency-ms N] [--ci]
//! ```

// A benchmark binary: its report is its output.
#![allow(clippy::print_stdout)]

#[path = "../admin.rs"]
mod admin;
#[path = "../cli.rs"]
mod cli;
mod child;

use std::process::Stdio;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use salesforce_sim::{SalesforceSim, SeedStamps, SimApp, SimConfig};
use serde::{Deserialize, Serialize};
use sfbridge_core::domain::FlowId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const DEFAULT_RECORDS: usize = 100_000;
const DEFAULT_LATENCY_MS: u64 = 50;
/// The issue's goal: Bulk's calls against REST paging's at 2,000 records a page.
const GOAL_CALL_SHARE: f64 = 0.01;

const USAGE: &str = "\
usage: import-bench [--records N] [--latency-ms N] [--ci]

  --records N     Contacts in the org, all imported by each mode (default 100000)
  --latency-ms N  latency the simulator adds to every Salesforce call (default 50)
  --ci            the test command's run: the same 100,000 Contacts, 5 ms latency
                  (options after --ci override these)

Build with --release for meaningful times:
  cargo run --release -p sfbridge-bench --bin import-bench
Each mode runs in a child process of this binary (--child); logs go to stderr (RUST_LOG, default warn).";

#[derive(Debug, Clone)]
struct Args {
    records: usize,
    latency_ms: u64,
}

impl cli::Options for Args {
    const USAGE: &'static str = USAGE;

    fn defaults() -> Self {
        Self { records: DEFAULT_RECORDS, latency_ms: DEFAULT_LATENCY_MS }
    }

    // The calls and the memory, which latency does not change, are the figures that matter; the
    // latency only makes the calls' share of the wall time visible.
    fn ci(&mut self) {
        self.latency_ms = 5;
    }

    fn option(&mut self, name: &str, value: &mut cli::Value<'_>) -> anyhow::Result<bool> {
        match name {
            "--records" => self.records = value.number()?,
            "--latency-ms" => self.latency_ms = value.number()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.records == 0 {
            bail!("--records must be at least 1");
        }
        Ok(())
    }
}

/// How a child reads the org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Rest,
    Bulk,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Rest => "REST paging (2,000 a query)",
            Self::Bulk => "Bulk API 2.0",
        }
    }
}

/// What a child measured, sent back as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub mode: Mode,
    /// The run's own count of its Salesforce calls.
    pub salesforce_calls: u64,
    pub events: u64,
    /// Distinct record ids among the events.
    pub distinct_records: u64,
    /// Messages sent to the inbound queue, and the `SendMessageBatch` calls (10 a call) they took.
    pub sqs_events: u64,
    pub sqs_batches: u64,
    /// Continuation messages on the import queue (the run's first message included).
    pub import_messages: u64,
    pub invocations: u64,
    pub wall_ms: u64,
    /// Of the wall time, the delays the run asked for between invocations (Bulk polls).
    pub waited_ms: u64,
    pub rss_before_kb: u64,
    pub peak_kb: u64,
    pub state: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init().map_err(|e| anyhow::anyhow!(e))?;
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("--child") {
        return child::run(&raw[1..]).await;
    }
    let Some(args) = cli::from_env::<Args>()? else { return Ok(()) };

    println!("sfbridge import benchmark");
    println!(
        "  a full import of {} Contacts (Id, SystemModstamp, Email, FirstName, LastName) from the simulator, {} ms latency",
        args.records, args.latency_ms
    );
    println!("  added to every Salesforce call; each mode in a child process of its own (in-memory store and queues), the org");
    println!("  in this one; the run driven through the import function's handler, one invocation per import-queue message");
    println!();
    eprintln!("seeding {} Contacts ...", args.records);
    let sim = SalesforceSim::start(SimConfig { auto_approve: true, ..SimConfig::default() }).await.context("starting the Salesforce simulator")?;
    // 2026-12-05T10:00:00Z: the org's clock, a day after the records were stamped.
    let t0 = UNIX_EPOCH + Duration::from_secs(1_796_464_800);
    sim.set_time(t0 + Duration::from_secs(86_400));
    sim.seed_people("Contact", args.records, SeedStamps { first: t0, spacing: Duration::from_millis(5), per_stamp: 2 });
    sim.set_latency(Duration::from_millis(args.latency_ms));

    let mut results = Vec::new();
    let mut problems = Vec::new();
    for mode in [Mode::Rest, Mode::Bulk] {
        eprintln!("running: {} ...", mode.name());
        let before = sim.rest_calls();
        let measured = in_child(&sim, mode, args.records).await.with_context(|| mode.name())?;
        let seen = (sim.rest_calls() - before) as u64;
        problems.extend(check(&measured, args.records as u64, seen));
        results.push(measured);
    }
    let [rest, bulk] = &results[..] else { bail!("two modes ran, not {}", results.len()) };
    report(rest, bulk, args.records);
    println!();
    cli::verdict(&problems, &["correctness: OK: each mode published exactly one event per Contact, and counted every call the org saw"])
}

/// What a run must have done whatever its speed: completed, one event per record, its own call
/// count equal to the org's.
fn check(m: &Measured, records: u64, seen_by_org: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let name = m.mode.name();
    if m.state != "completed" {
        problems.push(format!("{name}: the run ended {}", m.state));
    }
    if m.events != records || m.distinct_records != records {
        problems.push(format!("{name}: {} events for {} distinct records, expected {records} of each", m.events, m.distinct_records));
    }
    if m.salesforce_calls != seen_by_org {
        problems.push(format!("{name}: the run counted {} Salesforce calls, the org saw {seen_by_org}", m.salesforce_calls));
    }
    problems
}

/// Runs one mode in a child process: it binds its app, tells us its OAuth redirect URI, we
/// register the connected app for it in the org, and it goes on; its last stdout line is its
/// [`Measured`].
async fn in_child(sim: &SalesforceSim, mode: Mode, records: usize) -> anyhow::Result<Measured> {
    let key = format!("3MVG9bench.import.{}", FlowId::random());
    let secret = format!("bench-secret-{}", FlowId::random());
    let exe = std::env::current_exe().context("finding this binary")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["--child", &serde_json::to_string(&mode)?, &sim.base_url(), &key, &secret, &records.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the child process")?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else { bail!("the child has no pipes") };
    let mut lines = BufReader::new(stdout).lines();
    let redirect = lines.next_line().await?.context("the child ended before naming its redirect URI")?;
    let Some(redirect) = redirect.strip_prefix(child::REDIRECT_LINE) else { bail!("the child said {redirect:?}, not its redirect URI") };
    sim.add_app(SimApp::new(&key, &secret, redirect));
    stdin.write_all(b"go\n").await?;
    let mut last = None;
    while let Some(line) = lines.next_line().await? {
        last = Some(line);
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("the child failed ({status}); its errors are above");
    }
    let last = last.context("the child printed no result")?;
    serde_json::from_str(&last).with_context(|| format!("the child's result: {last}"))
}

fn report(rest: &Measured, bulk: &Measured, records: usize) {
    let row = |label: &str, a: String, b: String| println!("{label:<44} {a:>28} {b:>16}");
    let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
    let secs = |ms: u64| format!("{:.2} s", ms as f64 / 1000.0);
    let per_second = |m: &Measured| format!("{:.0}", m.events as f64 * 1000.0 / m.wall_ms.max(1) as f64);
    row("", rest.mode.name().to_owned(), bulk.mode.name().to_owned());
    row("Salesforce calls", rest.salesforce_calls.to_string(), bulk.salesforce_calls.to_string());
    row("wall time (start to completed)", secs(rest.wall_ms), secs(bulk.wall_ms));
    row("  of which delays between invocations", secs(rest.waited_ms), secs(bulk.waited_ms));
    row("events published", rest.events.to_string(), bulk.events.to_string());
    row("events per second", per_second(rest), per_second(bulk));
    row("peak memory (child VmHWM)", mb(rest.peak_kb), mb(bulk.peak_kb));
    row("  resident before the run (VmRSS)", mb(rest.rss_before_kb), mb(bulk.rss_before_kb));
    row("SQS messages to the inbound queue", rest.sqs_events.to_string(), bulk.sqs_events.to_string());
    row("  SendMessageBatch calls", rest.sqs_batches.to_string(), bulk.sqs_batches.to_string());
    row("import-queue messages (continuations)", rest.import_messages.to_string(), bulk.import_messages.to_string());
    row("invocations", rest.invocations.to_string(), bulk.invocations.to_string());
    println!();
    let share = bulk.salesforce_calls as f64 / rest.salesforce_calls.max(1) as f64;
    let met = if share <= GOAL_CALL_SHARE { "met" } else { "NOT met" };
    println!(
        "goal: Bulk API 2.0 uses at most {:.0} % of REST paging's Salesforce calls: {:.1} % ({} against {}): {met}",
        GOAL_CALL_SHARE * 100.0,
        share * 100.0,
        bulk.salesforce_calls,
        rest.salesforce_calls
    );
    let pages = records.div_ceil(2_000);
    println!(
        "  at 2,000 records a query REST needs {pages} query calls for {records} records, so {:.0} % is {:.1} call(s): below Bulk's own",
        GOAL_CALL_SHARE * 100.0,
        pages as f64 * GOAL_CALL_SHARE
    );
    println!("  floor of 3 (create the job, poll it, read a set of results); both modes also describe the object once, and the");
    println!("  import counts the records first (SELECT COUNT(), to choose Bulk over REST)");
    println!(
        "  memory: the run added {} (REST: a page of 2,000 records at a time) and {} (Bulk: one set of results, its CSV",
        mb(rest.peak_kb.saturating_sub(rest.rss_before_kb)),
        mb(bulk.peak_kb.saturating_sub(bulk.rss_before_kb))
    );
    println!("  parsed 2,000 rows at a time) to the child's resident set; markers and events are DynamoDB's and SQS's");
    println!("  wall time: the org's own work is in it (this process; its REST queries sort the object for every page)");
}
