//! `webhook-bench`: the webhook receiver (`sfbridge_webhook_receiver::router`) in-process, on a
//! current-thread runtime (one core), with no sockets: Outbound Message envelopes of 100
//! notifications through the full path (authenticate, parse, claim and mark each notification in
//! the in-memory store, publish to the in-memory inbound queue, ACK), the same number of
//! notifications in 1-notification envelopes, the parser alone as the ceiling, the main envelopes
//! redelivered as all duplicates, and hostile XML (F15: each refused with a 4xx in < 50 ms, with
//! bounded memory). Prints notifications/s and times; checks every reply and that exactly one
//! event per notification was published (exits non-zero if not) but asserts nothing about speed.
//!
//! ```text
//! cargo run --release -p sfbridge-bench --bin webhook-bench -- [--envelopes N]
//!     [--notifications-per-envelope N] [--ci]
//! ```

// A benchmark binary: its report is its output.
#![allow(clippy::print_stdout)]

#[path = "../cli.rs"]
mod cli;
mod envelopes;
mod hostile;
mod scenarios;
mod setup;

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use sfbridge_inbound::{MAX_BODY_BYTES, MAX_NOTIFICATIONS};

use envelopes::Numbers;
use scenarios::{Expect, HostileResult, Measured};
use setup::Bench;

const DEFAULT_ENVELOPES: usize = 200;
const DEFAULT_PER_ENVELOPE: usize = 100;
const DEFAULT_HOSTILE_REPEATS: usize = 5;
/// Envelopes delivered (and checked) before each router scenario, not measured.
const WARMUP_ENVELOPES: usize = 10;
/// Goals: stated for 100-notification envelopes on one core, and per hostile case.
const GOAL_PER_SECOND: f64 = 20_000.0;
const GOAL_HOSTILE: Duration = Duration::from_millis(50);

const USAGE: &str = "\
usage: webhook-bench [--envelopes N] [--notifications-per-envelope N] [--ci]

  --envelopes N                   measured envelopes in the main scenario (default 200), after a
                                  warm-up of 10
  --notifications-per-envelope N  notifications per envelope, 1 to 100 (default 100, Salesforce's
                                  most); the 1-notification baseline sends the same total
  --ci                            a quick run: 20 envelopes, each hostile case once
                                  (options after --ci override these)

Build with --release for meaningful figures:
  cargo run --release -p sfbridge-bench --bin webhook-bench
Logs of the receiver go to stderr (RUST_LOG, default error).";

#[derive(Debug, Clone)]
struct Args {
    envelopes: usize,
    per_envelope: usize,
    hostile_repeats: usize,
}

impl cli::Options for Args {
    const USAGE: &'static str = USAGE;

    fn defaults() -> Self {
        Self { envelopes: DEFAULT_ENVELOPES, per_envelope: DEFAULT_PER_ENVELOPE, hostile_repeats: DEFAULT_HOSTILE_REPEATS }
    }

    fn ci(&mut self) {
        self.envelopes = 20;
        self.hostile_repeats = 1;
    }

    fn option(&mut self, name: &str, value: &mut cli::Value<'_>) -> anyhow::Result<bool> {
        match name {
            "--envelopes" => self.envelopes = value.number()?,
            "--notifications-per-envelope" => self.per_envelope = value.number()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.envelopes == 0 {
            bail!("--envelopes must be at least 1");
        }
        if !(1..=MAX_NOTIFICATIONS).contains(&self.per_envelope) {
            bail!("--notifications-per-envelope must be between 1 and {MAX_NOTIFICATIONS} (an Outbound Message carries at most {MAX_NOTIFICATIONS})");
        }
        Ok(())
    }
}

impl Args {
    fn notifications(&self) -> usize {
        self.envelopes * self.per_envelope
    }

    fn is_goal_configuration(&self) -> bool {
        self.per_envelope == DEFAULT_PER_ENVELOPE
    }
}

fn main() -> anyhow::Result<()> {
    let Some(args) = cli::from_env::<Args>()? else { return Ok(()) };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init().map_err(|e| anyhow::anyhow!(e))?;
    // One core, as one Lambda invocation has: everything runs on this thread.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("building the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let per = args.per_envelope;
    let cores = std::thread::available_parallelism().map_or_else(|_| "?".to_owned(), |n| n.to_string());
    println!("sfbridge webhook-receiver benchmark");
    println!("  in-process: router(ctx).oneshot(request), no sockets; in-memory store and inbound queue, local cipher");
    println!("  runtime: tokio current-thread, so everything runs on ONE core (this machine has {cores})");
    if cfg!(debug_assertions) {
        println!("  DEBUG BUILD: the figures say little; use cargo run --release -p sfbridge-bench --bin webhook-bench");
    }

    let bench = Bench::start().await?;
    let mut numbers = Numbers::default();
    let org = bench.org18.clone();

    // The hostile cases run first, while the heap is small and fresh, so an allocation the size of
    // a body would show in the RSS rather than reuse memory an earlier scenario freed. One valid
    // envelope first, so no case pays the first request's one-time costs.
    eprintln!("running: hostile XML ...");
    let hostile_warmup = envelopes::generate(&mut numbers, &org, 1, 1)?;
    let hostile_warm = scenarios::deliver(&bench, "warm-up (hostile)", &hostile_warmup, Expect::Published).await?;
    let cases = hostile::cases(&org)?;
    let before = hostile::memory();
    let reset = before.is_some() && hostile::reset_peak();
    let hostile_results = scenarios::hostile(&bench, &cases, args.hostile_repeats).await?;
    let after = hostile::memory();
    let held: usize = cases.iter().map(|c| c.body.len()).sum();
    drop(cases);

    let warmup = envelopes::generate(&mut numbers, &org, WARMUP_ENVELOPES, per)?;
    let main_envelopes = envelopes::generate(&mut numbers, &org, args.envelopes, per)?;
    let single_warmup = envelopes::generate(&mut numbers, &org, WARMUP_ENVELOPES, 1)?;
    let singles = envelopes::generate(&mut numbers, &org, args.notifications(), 1)?;
    let size = |e: &[envelopes::Envelope]| e.first().map_or(0, |e| e.body.len());
    println!(
        "  one tenant (secret in x-salesforce-webhook-secret); Opportunity notifications of 8 fields, every id fresh;"
    );
    println!(
        "  a {per}-notification envelope is {}, a 1-notification one {}",
        kib(size(&main_envelopes)),
        kib(size(&singles))
    );
    println!("  router times run from sending the request to having read the reply; draining the inbound");
    println!("  queue after each request (and checking what was published) is outside the measured time");
    println!();

    let main_name = format!("{per}-notification envelopes (main)");
    eprintln!("running: {main_name} ...");
    let warm = scenarios::deliver(&bench, "warm-up", &warmup, Expect::Published).await?;
    let main = scenarios::deliver(&bench, &main_name, &main_envelopes, Expect::Published).await?;
    eprintln!("running: 1-notification envelopes (baseline) ...");
    let single_warm = scenarios::deliver(&bench, "warm-up (1-notification)", &single_warmup, Expect::Published).await?;
    let single = scenarios::deliver(&bench, "1-notification envelopes (baseline)", &singles, Expect::Published).await?;
    drop(singles);
    eprintln!("running: the parser alone ...");
    let _ = scenarios::parser("warm-up (parser)", &warmup);
    let parser = scenarios::parser(&format!("parser alone (soap::parse, {per}/envelope)"), &main_envelopes);
    eprintln!("running: duplicates ...");
    let duplicates =
        scenarios::deliver(&bench, "all duplicates (main envelopes again)", &main_envelopes, Expect::Duplicates).await?;
    drop(main_envelopes);

    report(&args, &main, &[&single, &parser, &duplicates]);
    println!();
    report_hostile(&args, &hostile_results, before, after, reset, held);

    let mut problems: Vec<String> = [&hostile_warm, &warm, &main, &single_warm, &single, &parser, &duplicates]
        .iter()
        .flat_map(|m| m.problems.iter().map(move |p| format!("{}: {p}", m.name)))
        .collect();
    problems.extend(hostile_results.iter().flat_map(|h| h.problems.iter().map(move |p| format!("hostile {}: {p}", h.name))));
    println!();
    println!("run time: {} (including building the envelopes and the checks)", wall(started.elapsed()));
    cli::verdict(
        &problems,
        &[
            "correctness: OK: every envelope got the exact ACK; exactly one event per notification was published",
            "  (matched by notification id), none for the duplicates; every hostile case got a 4xx SOAP fault",
            "  and published nothing",
        ],
    )
}

fn report(args: &Args, main: &Measured, others: &[&Measured]) {
    let base = main.per_second();
    println!("{:<44} {:>13} {:>11} {:>16} {:>8}", "scenario", "notifications", "wall time", "notifications/s", "vs main");
    for m in std::iter::once(main).chain(others.iter().copied()) {
        println!(
            "{:<44} {:>13} {:>11} {:>16} {:>7.2}x",
            m.name,
            m.notifications,
            wall(m.wall),
            thousands(m.per_second()),
            m.per_second() / base.max(f64::MIN_POSITIVE)
        );
    }
    println!("  vs main: the scenario's notifications/s divided by the main scenario's");
    for m in std::iter::once(main).chain(others.iter().copied()).filter(|m| !m.latencies.is_empty()) {
        let at = |q| m.latency(q).map_or_else(|| "-".to_owned(), micros);
        println!("  per request, {}: p50 {}, p99 {}, max {}", m.name, at(0.5), at(0.99), at(1.0));
    }
    println!();
    let note = if args.is_goal_configuration() {
        String::new()
    } else {
        format!(" (stated for {DEFAULT_PER_ENVELOPE}-notification envelopes; this run differs, so only indicative)")
    };
    let debug = if cfg!(debug_assertions) { " [debug build: not meaningful]" } else { "" };
    println!(
        "goal{note}: >= {} notifications/s on one core: {}/s: {}{debug}",
        thousands(GOAL_PER_SECOND),
        thousands(base),
        verdict(base >= GOAL_PER_SECOND)
    );
}

fn report_hostile(
    args: &Args,
    results: &[HostileResult],
    before: Option<hostile::Memory>,
    after: Option<hostile::Memory>,
    reset: bool,
    held: usize,
) {
    let runs = if args.hostile_repeats > 1 { format!("median of {}", args.hostile_repeats) } else { "one run".to_owned() };
    println!("hostile XML (F15), each through the router with the valid secret (run before the scenarios above,");
    println!("on a small heap); times: {runs}");
    println!("{:<26} {:>10} {:>8} {:>11} {:>11} {:>9}", "case", "body", "status", "time", "max", "< 50 ms");
    for h in results {
        let statuses: Vec<String> = h.statuses.iter().map(|s| s.as_u16().to_string()).collect();
        println!(
            "{:<26} {:>10} {:>8} {:>11} {:>11} {:>9}",
            h.name,
            kib(h.bytes),
            statuses.join(","),
            micros(h.median),
            micros(h.max),
            if h.median < GOAL_HOSTILE { "yes" } else { "NO" }
        );
    }
    println!("  why each was refused (the SOAP fault's faultstring, shortened):");
    for h in results {
        let reason: String = h.reason.chars().take(96).collect();
        let more = if h.reason.chars().count() > 96 { "..." } else { "" };
        println!("  {:<24} {reason}{more}", h.name);
    }
    let slowest = results.iter().map(|h| h.median).max().unwrap_or_default();
    let debug = if cfg!(debug_assertions) { " [debug build: not meaningful]" } else { "" };
    println!(
        "goal: each < {} ms: slowest {}: {}{debug}",
        GOAL_HOSTILE.as_millis(),
        micros(slowest),
        verdict(slowest < GOAL_HOSTILE)
    );
    println!("  (the 5 MB case is {} bytes, one under the {MAX_BODY_BYTES}-byte body limit)", MAX_BODY_BYTES - 1);

    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let grew = |kib: u64| if kib < 1024 { format!("+{kib} KiB") } else { format!("+{}", mib(kib)) };
    match (before, after) {
        (Some(before), Some(after)) => {
            println!("memory (/proc/self/status):");
            println!(
                "  peak RSS before the hostile cases: {} (VmHWM, the whole run so far); RSS then {}, of which the",
                mib(before.peak_kib),
                mib(before.current_kib)
            );
            println!("    bench's own copies of the hostile bodies are {}", kib(held));
            if reset {
                println!(
                    "  peak RSS after the hostile cases:  {} (VmHWM, reset to the RSS before them): {} over the RSS before",
                    mib(after.peak_kib),
                    grew(after.peak_kib.saturating_sub(before.current_kib))
                );
            } else {
                println!(
                    "  peak RSS after the hostile cases:  {} (VmHWM of the whole run; it could not be reset): {}",
                    mib(after.peak_kib),
                    grew(after.peak_kib.saturating_sub(before.peak_kib))
                );
            }
        }
        _ => println!("memory: peak RSS n/a (VmHWM is read from /proc/self/status, Linux only)"),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn wall(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn micros(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}

fn kib(bytes: usize) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    } else {
        format!("{:.2} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// `12345.6` as `12,346`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
