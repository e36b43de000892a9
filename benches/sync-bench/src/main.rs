//! `sync-bench`: activity sync through the real handler (`sfbridge_activity_sync::handle`) at SQS
//! batch sizes 200 and 10, side by side with a naive per-event integration (one lookup and one
//! Task create per event), against the Salesforce simulator with injected latency per REST call.
//! Prints Salesforce calls per 1,000 events, wall time and events/s; checks that every scenario
//! wrote exactly one Task per event (exits non-zero if not) but asserts nothing about speed.
//!
//! ```text
//! cargo run --release -p sfbridge-bench -- [--events N] [--contacts N] [--latency-ms N]
//!     [--baseline-events N] [--batches 200,10] [--ci]
//! ```

// A benchmark binary: its report is its output.
#![allow(clippy::print_stdout)]

mod admin;
mod cli;
mod env;
mod events;
mod scenarios;
mod mixed;
mod timeline;

use std::time::Duration;

use anyhow::{bail, Context as _};

use env::Env;
use salesforce_sim::Faults;
use scenarios::Measured;

/// The issue's configuration; the goals are stated for it.
const DEFAULT_EVENTS: usize = 1000;
const DEFAULT_CONTACTS: usize = 200;
const DEFAULT_LATENCY_MS: u64 = 50;
/// The deployed batch size (template.yaml's event source mapping, which the local worker plays),
/// then the batch size of the release before.
const DEFAULT_BATCHES: &[usize] = &[sfbridge_local::worker::BATCH_SIZE, 200];
const DEFAULT_FAULT_RATE: f64 = 0.10;
/// The fault generator's seeds, one run each: the same faults for the same calls in every run.
const FAULT_SEEDS: std::ops::RangeInclusive<u64> = 1..=10;
/// Goals, for the largest batch size: calls per 1,000 mixed events without faults, the call count
/// under 503s against the fault-free one, and wall time against the naive integration.
const GOAL_CALLS_PER_1000: f64 = 4.0;
const GOAL_FAULT_RATIO: f64 = 1.5;
const GOAL_SPEEDUP: f64 = 100.0;

const USAGE: &str = "\
usage: sync-bench [--events N] [--contacts N] [--latency-ms N] [--baseline-events N] [--batches A,B] [--fault-rate R] [--ci]

  --events N           activity events per scenario (default 1000)
  --contacts N         contacts in the org, person0..person{N-1}@example.com (default 200)
  --latency-ms N       latency the simulator adds to every REST call (default 50)
  --baseline-events N  run the naive baseline on the first N events only and extrapolate
                       (default: all events; the baseline takes ~2 x latency per event)
  --batches A,B,...    SQS batch sizes for the handler (default: the deployed one, then 200)
  --fault-rate R       each batch size also runs with this share of REST calls answering 503
                       (default 0.10; 0 skips the faulty runs)
  --ci                 a quick run: 2000 events, 400 contacts, 5 ms, baseline on 20 events
                       (options after --ci override these)";

#[derive(Debug, Clone)]
struct Args {
    events: usize,
    contacts: usize,
    latency_ms: u64,
    baseline_events: Option<usize>,
    batches: Vec<usize>,
    fault_rate: f64,
}

impl cli::Options for Args {
    const USAGE: &'static str = USAGE;

    fn defaults() -> Self {
        Self {
            events: DEFAULT_EVENTS,
            contacts: DEFAULT_CONTACTS,
            latency_ms: DEFAULT_LATENCY_MS,
            baseline_events: None,
            batches: DEFAULT_BATCHES.to_vec(),
            fault_rate: DEFAULT_FAULT_RATE,
        }
    }

    // Two full batches at the deployed size, so calls per 1,000 events (which latency does not
    // change) come out as in a long run; the time figures mean little at 5 ms.
    fn ci(&mut self) {
        self.events = 2000;
        self.contacts = 400;
        self.latency_ms = 5;
        self.baseline_events = Some(20);
    }

    fn option(&mut self, name: &str, value: &mut cli::Value<'_>) -> anyhow::Result<bool> {
        match name {
            "--events" => self.events = value.number()?,
            "--contacts" => self.contacts = value.number()?,
            "--latency-ms" => self.latency_ms = value.number()?,
            "--baseline-events" => self.baseline_events = Some(value.number()?),
            "--fault-rate" => {
                self.fault_rate = value.text()?.parse().map_err(|_| anyhow::anyhow!("--fault-rate takes a number from 0 to 1"))?
            }
            "--batches" => {
                self.batches = value.text()?.split(',').map(|b| cli::number(name, b.trim())).collect::<anyhow::Result<_>>()?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.events == 0 || self.contacts == 0 || self.batches.is_empty() || self.batches.contains(&0) {
            bail!("--events, --contacts and every batch size must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.fault_rate) {
            bail!("--fault-rate must be between 0 and 1");
        }
        if self.baseline_events.is_some_and(|n| n == 0 || n > self.events) {
            bail!("--baseline-events must be between 1 and --events ({})", self.events);
        }
        Ok(())
    }
}

impl Args {
    fn baseline_events(&self) -> usize {
        self.baseline_events.unwrap_or(self.events)
    }

    fn is_issue_configuration(&self) -> bool {
        self.events == DEFAULT_EVENTS && self.contacts == DEFAULT_CONTACTS && self.latency_ms == DEFAULT_LATENCY_MS
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = cli::from_env::<Args>()? else { return Ok(()) };
    // The sync code's own logs (warnings by default) go to stderr, apart from the report.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init().map_err(|e| anyhow::anyhow!(e))?;

    let events = events::generate(args.events, args.contacts);
    let latency = Duration::from_millis(args.latency_ms);
    println!("sfbridge activity-sync benchmark");
    println!(
        "  {} events over {} contacts, one tenant, {} ms latency added to every Salesforce REST call (simulator)",
        args.events, args.contacts, args.latency_ms
    );
    let mix: Vec<String> = events::mix_of(&events).into_iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("  event mix: {}", mix.join(", "));
    println!("  each scenario: a fresh simulator, app and tenant (default settings, campaign enabled);");
    println!("  handler batches are fed one at a time, as by one SQS poller with no concurrent invocations;");
    println!("  the handler also opts unsubscribed contacts out (HasOptedOutOfEmail, on by default) in its");
    println!("  write calls; the baseline only writes Tasks");
    println!();

    let mut results: Vec<Measured> = Vec::new();
    let mut faulty: Vec<Option<Measured>> = Vec::new();
    for &batch in &args.batches {
        let name = format!("handler, batch {batch}");
        let env = setup(&name, args.contacts, latency).await?;
        results.push(scenarios::handler(&env, &events, batch, None).await.with_context(|| name.clone())?);
        if args.fault_rate > 0.0 {
            // A run makes few calls (6 for 2,000 events at batch 1,000), so one seed proves
            // little: the figures are the sums over FAULT_SEEDS runs, each with its own faults.
            let mut total: Option<Measured> = None;
            for seed in FAULT_SEEDS {
                let name = format!("handler, batch {batch}, {:.0} % 503, seed {seed}", args.fault_rate * 100.0);
                let env = setup(&name, args.contacts, latency).await?;
                let faults = Faults { rate_503: args.fault_rate, seed, ..Faults::default() };
                let run = scenarios::handler(&env, &events, batch, Some(faults)).await.with_context(|| name.clone())?;
                total = Some(match total {
                    None => run,
                    Some(t) => Measured {
                        events: t.events + run.events,
                        calls: t.calls + run.calls,
                        wall: t.wall + run.wall,
                        redelivered: t.redelivered + run.redelivered,
                        injected: t.injected + run.injected,
                        problems: t.problems.into_iter().chain(run.problems).collect(),
                        name: t.name,
                    },
                });
            }
            faulty.push(total.map(|t| Measured {
                name: format!("handler, batch {batch}, {:.0} % 503 ×{}", args.fault_rate * 100.0, FAULT_SEEDS.clone().count()),
                ..t
            }));
        } else {
            faulty.push(None);
        }
    }
    let baseline_events = &events[..args.baseline_events()];
    let env = setup("naive baseline", args.contacts, latency).await?;
    let baseline = scenarios::baseline(&env, baseline_events).await.context("naive baseline")?;
    drop(env);

    let mut over_time = Vec::new();
    for timeline in timelines() {
        let env = setup(&timeline.name, args.contacts, latency).await?;
        let batch = sfbridge_local::worker::BATCH_SIZE;
        over_time.push(timeline::run(&env, &events, batch, &timeline).await.with_context(|| timeline.name.clone())?);
    }

    let env = setup("handler, all four command types", args.contacts, latency).await?;
    let batch = sfbridge_local::worker::BATCH_SIZE;
    let (mixed_run, naive_mixed) = mixed::run(&env, &events, args.contacts, batch).await.context("mixed commands")?;
    drop(env);

    report(&args, &results, &faulty, &baseline);
    report_over_time(&over_time);
    report_mixed(&mixed_run, naive_mixed, results.first(), &baseline);

    let problems: Vec<String> = results
        .iter()
        .chain(faulty.iter().flatten())
        .chain(over_time.iter().map(|o| &o.measured))
        .chain(std::iter::once(&mixed_run))
        .chain(std::iter::once(&baseline))
        .flat_map(|m| m.problems.iter().map(move |p| format!("{}: {p}", m.name)))
        .collect();
    println!();
    cli::verdict(
        &problems,
        &[
            "correctness: OK: every scenario wrote exactly one Task per event, on the event's contact;",
            "  the handler also opted out every unsubscribed contact, dead-lettered and parked nothing",
        ],
    )
}

/// The issue's scenario over time, with and without its faults: the events in 10 waves a minute
/// apart; 10 % 503 and 5 % `REQUEST_LIMIT_EXCEEDED` throughout, and from the fourth minute a
/// 10-minute outage (every call 503).
fn timelines() -> [timeline::Timeline; 2] {
    let minute = Duration::from_secs(60);
    let calm = timeline::Timeline { name: "over time, fault-free".into(), waves: 10, wave_gap: minute, faults: Faults::default(), outage: None };
    let stormy = timeline::Timeline {
        name: "over time, 10 % 503 + 5 % limit + 10-min outage".into(),
        faults: Faults { rate_503: 0.10, rate_request_limit: 0.05, seed: 17, ..Faults::default() },
        outage: Some((minute * 4, minute * 10)),
        ..calm.clone()
    };
    [calm, stormy]
}

fn report_mixed(mixed: &Measured, naive: usize, activity_only: Option<&Measured>, baseline: &Measured) {
    println!();
    println!("all four command types ({} commands: 40 % activity, 25 % field_update, 10 % campaign_update, 25 % record_upsert):", mixed.events);
    println!(
        "  {}: {} Salesforce calls, {:.1} per 1,000 commands; activity only at the same batch size: {:.1}",
        mixed.name,
        mixed.calls,
        mixed.calls_per_1000(),
        activity_only.map_or(0.0, Measured::calls_per_1000)
    );
    println!(
        "  naive, per command (a lookup and a write per activity or field update, a call per Campaign change, one per record): \
         {naive} calls, {:.1} per 1,000 commands (computed; the measured activity baseline: {:.1})",
        naive as f64 * 1000.0 / mixed.events.max(1) as f64,
        baseline.calls_per_1000()
    );
}

fn report_over_time(runs: &[timeline::OverTime]) {
    let [calm, stormy] = runs else { return };
    println!();
    println!("over time (virtual clock; SQS as deployed: batch {}, 5 s window, 360 s visibility, maxReceiveCount {};", sfbridge_local::worker::BATCH_SIZE, sfbridge_local::worker::MAX_RECEIVE_COUNT);
    println!("  the production retry policy; the events in 10 waves a minute apart):");
    println!("{:<50} {:>7} {:>9} {:>12} {:>13} {:>15} {:>13}", "scenario", "events", "SF calls", "calls/1k ev", "max receives", "deferral sends", "settled after");
    for run in runs {
        let m = &run.measured;
        println!(
            "{:<50} {:>7} {:>9} {:>12.1} {:>13} {:>15} {:>11.1} m",
            m.name,
            m.events,
            m.calls,
            m.calls_per_1000(),
            run.max_receives,
            run.deferral_sends,
            run.settled_after.as_secs_f64() / 60.0
        );
    }
    let ratio = stormy.measured.calls_per_1000() / calm.measured.calls_per_1000().max(f64::MIN_POSITIVE);
    println!(
        "  under the faults and the outage: {:.1} Salesforce calls per 1,000 events against {:.1} fault-free ({ratio:.2}x), {} faults injected; \
         no message past receive {} of the {} allowed",
        stormy.measured.calls_per_1000(),
        calm.measured.calls_per_1000(),
        stormy.measured.injected,
        stormy.max_receives,
        sfbridge_local::worker::MAX_RECEIVE_COUNT
    );
}

async fn setup(name: &str, contacts: usize, latency: Duration) -> anyhow::Result<Env> {
    eprintln!("running: {name} ...");
    let env = Env::start(contacts).await.with_context(|| format!("setting up {name}"))?;
    env.sim.set_latency(latency);
    Ok(env)
}

fn report(args: &Args, results: &[Measured], faulty: &[Option<Measured>], baseline: &Measured) {
    let extrapolated = baseline.events < args.events;
    let base_spe = baseline.seconds_per_event();
    println!(
        "{:<31} {:>7} {:>9} {:>12} {:>11} {:>10} {:>12} {:>15}",
        "scenario", "events", "SF calls", "calls/1k ev", "wall time", "events/s", "redelivered", "baseline/this"
    );
    for m in results.iter().chain(faulty.iter().flatten()) {
        println!(
            "{:<31} {:>7} {:>9} {:>12.1} {:>11} {:>10.1} {:>12} {:>14.1}x",
            m.name,
            m.events,
            m.calls,
            m.calls_per_1000(),
            wall(m.wall),
            m.events_per_second(),
            m.redelivered,
            base_spe / m.seconds_per_event().max(f64::MIN_POSITIVE),
        );
    }
    let name = if extrapolated { format!("{} (measured)", baseline.name) } else { baseline.name.clone() };
    println!(
        "{:<31} {:>7} {:>9} {:>12.1} {:>11} {:>10.1} {:>12} {:>14.1}x",
        name,
        baseline.events,
        baseline.calls,
        baseline.calls_per_1000(),
        wall(baseline.wall),
        baseline.events_per_second(),
        "-",
        1.0
    );
    if extrapolated {
        let scale = args.events as f64 / baseline.events as f64;
        println!(
            "{:<31} {:>7} {:>9.0} {:>12.1} {:>11} {:>10.1} {:>12} {:>14.1}x",
            format!("{} (extrapolated)*", baseline.name),
            args.events,
            baseline.calls as f64 * scale,
            baseline.calls_per_1000(),
            wall(baseline.wall.mul_f64(scale)),
            baseline.events_per_second(),
            "-",
            1.0
        );
        println!();
        println!(
            "* the baseline ran on the first {} of the {} events and was scaled linearly to {} events",
            baseline.events, args.events, args.events
        );
        println!("  (it is strictly sequential: 2 calls per event, so calls and time grow in proportion)");
    }
    println!("  baseline/this: the baseline's wall time per event divided by the scenario's");

    println!();
    let note = if args.is_issue_configuration() {
        String::new()
    } else {
        format!(
            " (stated for {DEFAULT_EVENTS} events / {DEFAULT_CONTACTS} contacts / {DEFAULT_LATENCY_MS} ms; this run differs, so only indicative)"
        )
    };
    println!("goals{note}:");
    let Some(largest) = results.iter().zip(&args.batches).max_by_key(|(_, b)| **b).map(|(m, _)| m) else { return };
    let calls = largest.calls_per_1000();
    let speedup = base_spe / largest.seconds_per_event().max(f64::MIN_POSITIVE);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "  <= {GOAL_CALLS_PER_1000:.0} Salesforce calls per 1,000 mixed events at {}: {calls:.1}: {}",
        largest.name,
        verdict(calls <= GOAL_CALLS_PER_1000)
    );
    for (clean, faulty) in results.iter().zip(faulty) {
        let Some(faulty) = faulty else { continue };
        let ratio = faulty.calls_per_1000() / clean.calls_per_1000().max(f64::MIN_POSITIVE);
        println!(
            "  <= {GOAL_FAULT_RATIO:.1}x the fault-free calls at {} ({} faults injected in all): {:.1} against {:.1} per 1,000 events, {ratio:.2}x: {}",
            faulty.name,
            faulty.injected,
            faulty.calls_per_1000(),
            clean.calls_per_1000(),
            verdict(ratio <= GOAL_FAULT_RATIO)
        );
    }
    println!(
        "  >= {GOAL_SPEEDUP:.0}x less wall time than the naive baseline at {}: {speedup:.1}x{}: {}",
        largest.name,
        if extrapolated { " (against the extrapolated baseline)" } else { "" },
        verdict(speedup >= GOAL_SPEEDUP)
    );
}

fn wall(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}
