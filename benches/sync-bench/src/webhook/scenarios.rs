//! The measurements: envelopes through the router (the full receive path), the parser alone, and
//! the hostile cases, each with its correctness checks.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use sfbridge_inbound::soap;
use tower::ServiceExt as _;

use crate::envelopes::Envelope;
use crate::hostile::Case;
use crate::setup::Bench;

/// Problems listed one by one before the rest are only counted.
const MAX_LISTED: usize = 5;

#[derive(Debug)]
pub struct Measured {
    pub name: String,
    pub requests: usize,
    pub notifications: usize,
    /// Summed time of the measured work (for router scenarios: from sending each request to
    /// having read its reply; draining the queue in between is not included).
    pub wall: Duration,
    /// Per request, sorted (empty for the parser).
    pub latencies: Vec<Duration>,
    pub problems: Vec<String>,
}

impl Measured {
    fn new(name: &str) -> Self {
        Self { name: name.to_owned(), requests: 0, notifications: 0, wall: Duration::ZERO, latencies: Vec::new(), problems: Vec::new() }
    }

    pub fn per_second(&self) -> f64 {
        self.notifications as f64 / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The latency at quantile `q` (0..=1), if any request was made.
    pub fn latency(&self, q: f64) -> Option<Duration> {
        let last = self.latencies.len().checked_sub(1)?;
        self.latencies.get(((last as f64) * q).round() as usize).copied()
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_LISTED {
            self.problems.push(text);
        } else if self.problems.len() == MAX_LISTED {
            self.problems.push("... (further problems not listed)".to_owned());
        }
    }
}

/// What the queue should hold after an envelope was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// One event per notification, carrying its notification id.
    Published,
    /// Nothing: every notification was published by an earlier delivery.
    Duplicates,
}

/// Posts each envelope through the router, one at a time, and checks the reply (the exact ACK)
/// and what was published (drained after each request, outside the measured time).
pub async fn deliver(bench: &Bench, name: &str, envelopes: &[Envelope], expect: Expect) -> anyhow::Result<Measured> {
    let mut m = Measured::new(name);
    // Nothing from an earlier step may be counted against this one.
    let stale = bench.inbound.receive(usize::MAX, Duration::ZERO).await;
    anyhow::ensure!(stale.is_empty(), "{} events were left on the inbound queue before {name}", stale.len());
    for (i, envelope) in envelopes.iter().enumerate() {
        let request = bench.request(envelope.body.clone())?;
        let started = Instant::now();
        let (status, body) = send(bench, request).await?;
        let took = started.elapsed();
        m.wall += took;
        m.latencies.push(took);
        m.requests += 1;
        m.notifications += envelope.ids.len();

        if status != StatusCode::OK || body != soap::ACK.as_bytes() {
            let reply = String::from_utf8_lossy(&body);
            m.problem(format!("envelope {i}: expected 200 and the ACK, got {status}: {}", reply.chars().take(300).collect::<String>()));
        }
        let published = bench.inbound.receive(usize::MAX, Duration::ZERO).await;
        match expect {
            Expect::Duplicates if !published.is_empty() => {
                m.problem(format!("envelope {i}: all duplicates, yet {} events were published", published.len()))
            }
            Expect::Duplicates => {}
            Expect::Published => {
                let mut got: Vec<String> = published
                    .iter()
                    .map(|message| {
                        serde_json::from_str::<Value>(&message.body)
                            .ok()
                            .and_then(|event| event["notification_id"].as_str().map(str::to_owned))
                            .unwrap_or_default()
                    })
                    .collect();
                let mut sent = envelope.ids.clone();
                got.sort_unstable();
                sent.sort_unstable();
                if got != sent {
                    m.problem(format!(
                        "envelope {i}: {} notifications sent, {} events published, not one per notification id",
                        sent.len(),
                        got.len()
                    ));
                }
            }
        }
    }
    m.latencies.sort_unstable();
    Ok(m)
}

async fn send(bench: &Bench, request: axum::http::Request<axum::body::Body>) -> anyhow::Result<(StatusCode, axum::body::Bytes)> {
    let response: Response = match bench.router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.context("reading the reply")?;
    Ok((status, body))
}

/// `soap::parse` alone over the envelopes: the ceiling the full path cannot pass.
pub fn parser(name: &str, envelopes: &[Envelope]) -> Measured {
    let mut m = Measured::new(name);
    let started = Instant::now();
    let mut parsed = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        parsed.push(std::hint::black_box(soap::parse(std::hint::black_box(&envelope.body))).map(|message| message.notifications.len()));
    }
    m.wall = started.elapsed();
    for (i, (result, envelope)) in parsed.into_iter().zip(envelopes).enumerate() {
        m.requests += 1;
        m.notifications += envelope.ids.len();
        match result {
            Ok(n) if n == envelope.ids.len() => {}
            Ok(n) => m.problem(format!("envelope {i}: parsed {n} notifications of {}", envelope.ids.len())),
            Err(e) => m.problem(format!("envelope {i}: the parser refused it: {e}")),
        }
    }
    m
}

#[derive(Debug)]
pub struct HostileResult {
    pub name: &'static str,
    pub bytes: usize,
    /// Every status seen (normally one).
    pub statuses: Vec<StatusCode>,
    pub median: Duration,
    pub max: Duration,
    /// The fault's `faultstring` (the first reply's): why it was refused.
    pub reason: String,
    pub problems: Vec<String>,
}

/// Each case `repeats` times through the router with the valid secret: each must be a 4xx with a
/// SOAP fault that does not echo the attack, and nothing may be published.
pub async fn hostile(bench: &Bench, cases: &[Case], repeats: usize) -> anyhow::Result<Vec<HostileResult>> {
    let mut results = Vec::new();
    for case in cases {
        let mut times = Vec::with_capacity(repeats);
        let mut statuses: Vec<StatusCode> = Vec::new();
        let mut problems = Vec::new();
        let mut reason = String::new();
        for _ in 0..repeats.max(1) {
            let request = bench.request(case.body.clone())?;
            let started = Instant::now();
            let (status, body) = send(bench, request).await?;
            times.push(started.elapsed());
            if !statuses.contains(&status) {
                statuses.push(status);
            }
            let reply = String::from_utf8_lossy(&body);
            if reason.is_empty() {
                reason = fault_string(&reply).unwrap_or_default().to_owned();
            }
            if !status.is_client_error() {
                problems.push(format!("expected a 4xx, got {status}"));
            } else if !reply.contains("soapenv:Fault") {
                problems.push(format!("{status} without a SOAP fault"));
            } else if reply.contains("root:") || reply.contains("passwd") || reply.contains("lol") {
                problems.push("the fault echoes the attack".to_owned());
            }
            let published = bench.inbound.receive(usize::MAX, Duration::ZERO).await;
            if !published.is_empty() {
                problems.push(format!("{} events were published", published.len()));
            }
        }
        problems.dedup();
        times.sort_unstable();
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        let max = times.last().copied().unwrap_or_default();
        results.push(HostileResult { name: case.name, bytes: case.body.len(), statuses, median, max, reason, problems });
    }
    Ok(results)
}

fn fault_string(reply: &str) -> Option<&str> {
    let start = reply.find("<faultstring>")? + "<faultstring>".len();
    let end = start + reply[start..].find("</faultstring>")?;
    Some(&reply[start..end])
}
