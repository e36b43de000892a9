//! Metrics as CloudWatch Embedded Metric Format (EMF) log lines.
//!
//! In Lambda, CloudWatch Logs turns every stdout line that is an EMF document into metrics: no
//! `PutMetricData` call, no IAM permission, no agent. A handler counts into one [`Metrics`]
//! accumulator while it runs and writes **one** line when it is done, so the log volume does not
//! grow with the number of events:
//!
//! ```json
//! {"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Function"]],"Metrics":[{"Name":"EventsSynced","Unit":"Count"},
//!   ...,{"Name":"ApiUsagePercent","Unit":"Percent"}],"Namespace":"sfbridge"}],"Timestamp":1763632800000},
//!  "Function":"activity-sync","EventsSynced":12,...,"ApiUsagePercent":10.01}
//! ```
//! (one line in reality; `Timestamp` is in epoch milliseconds).
//!
//! - **Dimensions**: `Function` only. Never a tenant id: each distinct dimension value is a
//!   separate custom metric, billed monthly, and tenants are unbounded. Nothing but counts, one
//!   percentage and the function's name is in a line: no tenant id, secret or payload value.
//! - **One line per invocation**: [`Meter::measure`] runs a handler's work with a fresh accumulator as
//!   the task's current one and flushes it when the work is done. Code anywhere below counts with
//!   [`add`] / [`record_max`] without the accumulator being passed down (the session refresh, for
//!   one, is several calls deep and shared with other flows). The current accumulator is a
//!   `tokio` task-local: the measured work must not hand counting code to `tokio::spawn` (sync and
//!   the receiver run their concurrency with `buffer_unordered`/`join` inside their own task).
//!   Counts made outside any [`Meter::measure`] go nowhere, on purpose: only the activity-sync function
//!   and the webhook receiver are measured.
//! - **Zeros are written**: every counter of the function appears in each line, zero included, so
//!   alarms and sums see a data point per invocation. The API usage gauge appears only when a
//!   Salesforce response reported it during the invocation (a zero would be a false reading).
//! - **Where the line goes**: in Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) straight to stdout as a
//!   bare JSON line. It cannot go through `tracing`: the JSON log formatter wraps a message in
//!   `{"level":..,"fields":{"message":..}}`, and CloudWatch only extracts metrics when `_aws` is
//!   a top-level member. Elsewhere (the local stack, tests) there is no CloudWatch, so the line is
//!   logged through `tracing` at INFO with the target [`LOG_TARGET`] and the JSON as its message.
//! - **No globals**: a [`Meter`] (a clock and a [`MetricsSink`]) is built once per process by the
//!   measured service. Tests give theirs a [`Capture`] sink, so tests running side by side in one
//!   process never see each other's lines.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde_json::{json, Value};

use crate::clock::Clock;

/// The CloudWatch namespace of every sfbridge metric.
pub(crate) const NAMESPACE: &str = "sfbridge";
/// The one dimension: which function emitted the line.
pub(crate) const DIMENSION: &str = "Function";
/// The `tracing` target EMF lines are logged under outside Lambda.
pub(crate) const LOG_TARGET: &str = "sfbridge::emf";

/// The functions that emit metrics, by their `Function` dimension value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    ActivitySync,
    WebhookReceiver,
}

impl Function {
    /// The `Function` dimension's value (stable: dashboards and alarms select on it).
    pub fn name(self) -> &'static str {
        match self {
            Self::ActivitySync => "activity-sync",
            Self::WebhookReceiver => "webhook-receiver",
        }
    }

    /// The counters every line of this function carries, zero or not.
    pub fn counters(self) -> &'static [Counter] {
        use Counter::*;
        match self {
            Self::ActivitySync => &[
                EventsSynced,
                EventsSkipped,
                EventsFailed,
                EventsParked,
                EventsRetried,
                EventsDuplicate,
                SalesforceApiCalls,
                TokenRefreshes,
                TokenRefreshFailures,
            ],
            Self::WebhookReceiver => &[
                WebhookRequestsAccepted,
                WebhookRequestsRefused,
                WebhookRequestsFailed,
                InboundEventsPublished,
                InboundDuplicates,
            ],
        }
    }
}

/// Things counted (unit `Count`). Events are counted once each, however many messages of a batch
/// carried them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counter {
    /// Activity sync: the event's Task (and field updates) are in Salesforce.
    EventsSynced,
    /// Deliberately not synced: no matching record, campaign or event type off, not connected.
    EventsSkipped,
    /// Dead-lettered: a permanent Salesforce refusal, or a command that cannot run at all.
    EventsFailed,
    /// Held until the tenant reconnects (the connection needs reauthorization).
    EventsParked,
    /// Left for SQS to deliver again: transient failures, the API budget guard, another worker
    /// holding the event.
    EventsRetried,
    /// Finished by an earlier delivery: acknowledged without doing anything.
    EventsDuplicate,
    /// Salesforce REST calls made (a Composite call counts one, as it does against the org's
    /// daily allocation); token requests are not REST calls and are counted apart.
    SalesforceApiCalls,
    /// Access tokens refreshed (by this process holding the refresh lease).
    TokenRefreshes,
    /// Refreshes that did not produce a usable session (refused: reauthorization required; or
    /// transient).
    TokenRefreshFailures,
    /// Webhook requests acknowledged (2xx).
    WebhookRequestsAccepted,
    /// Webhook requests refused as the sender's fault (4xx: authentication, payload, tenant).
    WebhookRequestsRefused,
    /// Webhook requests not acknowledged for our side's fault (5xx: store, queue, in progress).
    WebhookRequestsFailed,
    /// Inbound events put on the inbound queue.
    InboundEventsPublished,
    /// Notifications not published again: already published by an earlier delivery, or repeated
    /// within one request.
    InboundDuplicates,
}

impl Counter {
    pub fn name(self) -> &'static str {
        match self {
            Self::EventsSynced => "EventsSynced",
            Self::EventsSkipped => "EventsSkipped",
            Self::EventsFailed => "EventsFailed",
            Self::EventsParked => "EventsParked",
            Self::EventsRetried => "EventsRetried",
            Self::EventsDuplicate => "EventsDuplicate",
            Self::SalesforceApiCalls => "SalesforceApiCalls",
            Self::TokenRefreshes => "TokenRefreshes",
            Self::TokenRefreshFailures => "TokenRefreshFailures",
            Self::WebhookRequestsAccepted => "WebhookRequestsAccepted",
            Self::WebhookRequestsRefused => "WebhookRequestsRefused",
            Self::WebhookRequestsFailed => "WebhookRequestsFailed",
            Self::InboundEventsPublished => "InboundEventsPublished",
            Self::InboundDuplicates => "InboundDuplicates",
        }
    }
}

/// Readings of which a line reports the highest seen during the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Gauge {
    /// The share of the org's daily API allocation used, from `Sforce-Limit-Info` (percent; with
    /// several tenants in a batch, the fullest org's).
    ApiUsagePercent,
    /// The highest receive count (SQS `ApproximateReceiveCount`) among the batch's messages: an
    /// event's own failures raise it toward the dead-letter queue; deferrals never do (each is a
    /// new message). Worth an alarm at the receive before the last.
    MaxReceiveCount,
}

impl Gauge {
    pub fn name(self) -> &'static str {
        match self {
            Self::ApiUsagePercent => "ApiUsagePercent",
            Self::MaxReceiveCount => "MaxReceiveCount",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::ApiUsagePercent => "Percent",
            Self::MaxReceiveCount => "Count",
        }
    }
}

/// The counts and readings of one invocation of one function.
#[derive(Debug)]
pub struct Metrics {
    function: Function,
    values: Mutex<Values>,
}

#[derive(Debug, Default)]
struct Values {
    counts: BTreeMap<Counter, u64>,
    gauges: BTreeMap<Gauge, f64>,
}

impl Metrics {
    pub fn new(function: Function) -> Self {
        Self { function, values: Mutex::default() }
    }

    pub fn function(&self) -> Function {
        self.function
    }

    pub fn add(&self, counter: Counter, n: u64) {
        let mut values = self.lock();
        let count = values.counts.entry(counter).or_default();
        *count = count.saturating_add(n);
    }

    /// Keeps the highest reading (readings that are not finite numbers are ignored).
    pub fn record_max(&self, gauge: Gauge, value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut values = self.lock();
        let highest = values.gauges.entry(gauge).or_insert(value);
        *highest = highest.max(value);
    }

    pub fn count(&self, counter: Counter) -> u64 {
        self.lock().counts.get(&counter).copied().unwrap_or(0)
    }

    pub fn gauge(&self, gauge: Gauge) -> Option<f64> {
        self.lock().gauges.get(&gauge).copied()
    }

    /// The EMF document, as one line (no newline). Every counter of the function, then any other
    /// counter that is not zero, then the gauges read.
    pub(crate) fn to_emf(&self, timestamp: DateTime<Utc>) -> String {
        let values = self.lock();
        let mut entries: Vec<(&'static str, &'static str, Value)> = Vec::new();
        let declared = self.function.counters();
        for counter in declared {
            entries.push((counter.name(), "Count", json!(values.counts.get(counter).copied().unwrap_or(0))));
        }
        for (counter, count) in values.counts.iter().filter(|(c, n)| **n > 0 && !declared.contains(c)) {
            entries.push((counter.name(), "Count", json!(count)));
        }
        for (gauge, value) in &values.gauges {
            // Two decimals are plenty for a percentage, and keep the line short; a count stays a
            // whole number.
            let value = (value * 100.0).round() / 100.0;
            let value = if value.fract() == 0.0 && value.abs() < 1e15 { json!(value as i64) } else { json!(value) };
            entries.push((gauge.name(), gauge.unit(), value));
        }
        drop(values);
        let line = EmfLine { timestamp_ms: timestamp.timestamp_millis(), function: self.function.name(), entries };
        // Serializing strings and numbers into a String cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Writes the line, stamped by `clock`, to `sink`.
    pub fn flush(&self, clock: &dyn Clock, sink: &dyn MetricsSink) {
        sink.write(&self.to_emf(clock.now()));
    }

    fn lock(&self) -> MutexGuard<'_, Values> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serialized by hand to keep the members in a readable order: `_aws`, `Function`, the values.
struct EmfLine {
    timestamp_ms: i64,
    function: &'static str,
    entries: Vec<(&'static str, &'static str, Value)>,
}

impl serde::Serialize for EmfLine {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let definitions: Vec<Value> = self.entries.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect();
        let aws = json!({
            "Timestamp": self.timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [[DIMENSION]], "Metrics": definitions}],
        });
        let mut map = serializer.serialize_map(Some(self.entries.len() + 2))?;
        map.serialize_entry("_aws", &aws)?;
        map.serialize_entry(DIMENSION, self.function)?;
        for (name, _, value) in &self.entries {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

tokio::task_local! {
    static CURRENT: Arc<Metrics>;
}

/// Where a function's metrics lines go, and the clock that stamps them: built once per process
/// by the service that is measured (activity sync, the webhook receiver).
#[derive(Debug, Clone)]
pub struct Meter {
    clock: Arc<dyn Clock>,
    sink: Arc<dyn MetricsSink>,
}

impl Meter {
    pub fn new(clock: Arc<dyn Clock>, sink: Arc<dyn MetricsSink>) -> Self {
        Self { clock, sink }
    }

    /// Lines to [`EmfOutput`], stamped by `clock`.
    pub fn emf(clock: Arc<dyn Clock>) -> Self {
        Self::new(clock, Arc::new(EmfOutput))
    }

    /// Runs one invocation's `work` with a fresh accumulator for `function` as the task's current
    /// one, then flushes it as one line. The line is written even when `work` reports a failure;
    /// it is lost only if the invocation is cut short (a timeout or a panic).
    pub async fn measure<F: Future>(&self, function: Function, work: F) -> F::Output {
        let metrics = Arc::new(Metrics::new(function));
        let output = scope(metrics.clone(), work).await;
        metrics.flush(self.clock.as_ref(), self.sink.as_ref());
        output
    }
}

async fn scope<F: Future>(metrics: Arc<Metrics>, work: F) -> F::Output {
    CURRENT.scope(metrics, work).await
}

/// Counts into the current invocation's accumulator; nothing outside [`Meter::measure`].
pub fn add(counter: Counter, n: u64) {
    if n > 0 {
        let _ = CURRENT.try_with(|m| m.add(counter, n));
    }
}

/// Records a reading into the current invocation's accumulator; nothing outside [`Meter::measure`].
pub fn record_max(gauge: Gauge, value: f64) {
    let _ = CURRENT.try_with(|m| m.record_max(gauge, value));
}

/// Where finished lines go.
pub trait MetricsSink: Send + Sync + std::fmt::Debug {
    fn write(&self, line: &str);
}

/// The real destination (see the module documentation): stdout in Lambda, `tracing` elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmfOutput;

impl MetricsSink for EmfOutput {
    fn write(&self, line: &str) {
        if in_lambda() {
            // One write of the whole line on the locked handle, so it never interleaves with a
            // log line written from another thread. A failed write loses the metrics, never the
            // invocation (`println!` would panic).
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(format!("{line}\n").as_bytes()).and_then(|()| out.flush());
        } else {
            tracing::info!(target: LOG_TARGET, "{line}");
        }
    }
}

fn in_lambda() -> bool {
    static IN_LAMBDA: OnceLock<bool> = OnceLock::new();
    *IN_LAMBDA.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

/// A sink that keeps the lines (and passes them on to [`EmfOutput`]), for tests: give the service
/// under test a [`Meter`] over a clone of it and read what that service, and only it, wrote.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
}

impl MetricsSink for Capture {
    fn write(&self, line: &str) {
        self.lock().push(line.to_owned());
        EmfOutput.write(line);
    }
}

impl Capture {
    /// The lines written so far, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// The lines written so far, parsed (a line that is not JSON, which cannot happen, is skipped).
    pub fn documents(&self) -> Vec<Value> {
        self.lines().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Forgets the lines collected so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;
    use futures::StreamExt;

    use super::*;
    use crate::clock::ManualClock;

    fn at() -> DateTime<Utc> {
        match Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0) {
            chrono::LocalResult::Single(t) => t,
            _ => unreachable!("a valid date"),
        }
    }

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => unreachable!("not JSON ({e}): {line}"),
        }
    }

    /// The metric definitions of the (only) directive, as (name, unit).
    fn definitions(doc: &Value) -> Vec<(String, String)> {
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().cloned().unwrap_or_default();
        assert_eq!(directives.len(), 1, "{doc}");
        directives[0]["Metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap_or("").to_owned(), m["Unit"].as_str().unwrap_or("").to_owned()))
            .collect()
    }

    #[test]
    fn the_line_is_an_emf_document_whose_definitions_name_its_values() {
        let m = Metrics::new(Function::ActivitySync);
        m.add(Counter::EventsSynced, 12);
        m.add(Counter::EventsSkipped, 2);
        m.add(Counter::SalesforceApiCalls, 3);
        m.record_max(Gauge::ApiUsagePercent, 10.0133);
        let doc = parse(&m.to_emf(at()));

        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], json!(at().timestamp_millis()), "epoch milliseconds");
        assert_eq!(aws["Timestamp"].as_i64().map(|t| t / 1000), Some(at().timestamp()));
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "sfbridge");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(doc["Function"], "activity-sync", "every dimension is a top-level string member");

        let defined = definitions(&doc);
        let names: BTreeSet<&str> = defined.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), defined.len(), "no metric defined twice");
        let members: BTreeSet<&str> =
            doc.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        let values: BTreeSet<&str> = members.iter().copied().filter(|k| *k != "_aws" && *k != "Function").collect();
        assert_eq!(names, values, "each definition has its member and each member its definition");
        for (name, unit) in &defined {
            assert!(doc[name.as_str()].is_number(), "{name} is a number");
            let expected = if name == "ApiUsagePercent" { "Percent" } else { "Count" };
            assert_eq!(unit, expected, "{name}");
        }
        assert_eq!(doc["EventsSynced"], 12);
        assert_eq!(doc["EventsSkipped"], 2);
        assert_eq!(doc["SalesforceApiCalls"], 3);
        assert_eq!(doc["ApiUsagePercent"], 10.01);
        assert!(defined.len() <= 100, "EMF allows 100 metrics per directive");
    }

    #[test]
    fn every_counter_of_the_function_is_written_even_when_zero_and_unread_gauges_are_not() {
        let doc = parse(&Metrics::new(Function::WebhookReceiver).to_emf(at()));
        let names: Vec<String> = definitions(&doc).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "WebhookRequestsAccepted",
                "WebhookRequestsRefused",
                "WebhookRequestsFailed",
                "InboundEventsPublished",
                "InboundDuplicates"
            ]
        );
        assert!(names.iter().all(|n| doc[n.as_str()] == 0));
        assert_eq!(doc["Function"], "webhook-receiver");
        assert!(doc.get("ApiUsagePercent").is_none());

        let sync = parse(&Metrics::new(Function::ActivitySync).to_emf(at()));
        assert!(sync.get("ApiUsagePercent").is_none(), "no reading, no gauge: a zero would be a false reading");
        assert!(definitions(&sync).iter().all(|(n, _)| n != "ApiUsagePercent"));
    }

    #[test]
    fn counters_of_another_function_appear_only_when_counted() {
        let m = Metrics::new(Function::WebhookReceiver);
        m.add(Counter::TokenRefreshes, 1);
        let doc = parse(&m.to_emf(at()));
        assert_eq!(doc["TokenRefreshes"], 1);
        assert!(definitions(&doc).iter().any(|(n, u)| n == "TokenRefreshes" && u == "Count"));
        assert!(doc.get("EventsSynced").is_none());
    }

    #[test]
    fn the_gauge_keeps_the_highest_reading() {
        let m = Metrics::new(Function::ActivitySync);
        for reading in [12.5, 80.25, f64::NAN, 40.0, f64::INFINITY] {
            m.record_max(Gauge::ApiUsagePercent, reading);
        }
        assert_eq!(m.gauge(Gauge::ApiUsagePercent), Some(80.25));
        assert_eq!(parse(&m.to_emf(at()))["ApiUsagePercent"], 80.25);
    }

    #[test]
    fn a_line_holds_only_counts_and_the_function_name() {
        let m = Metrics::new(Function::ActivitySync);
        m.add(Counter::EventsFailed, 1);
        let doc = parse(&m.to_emf(at()));
        let Some(members) = doc.as_object() else { unreachable!("an object") };
        for (name, value) in members {
            match name.as_str() {
                "_aws" => {}
                "Function" => assert_eq!(value, "activity-sync"),
                _ => assert!(value.is_number(), "{name}: {value}"),
            }
        }
    }

    #[tokio::test]
    async fn counts_reach_the_scoped_accumulator_from_concurrent_work_and_nowhere_outside() {
        add(Counter::EventsSynced, 5); // outside any scope: dropped, no panic
        let metrics = Arc::new(Metrics::new(Function::ActivitySync));
        let work = async {
            let tasks = (0..10u64).map(|i| async move {
                tokio::task::yield_now().await;
                add(Counter::EventsSynced, 1);
                record_max(Gauge::ApiUsagePercent, i as f64);
            });
            futures::stream::iter(tasks).buffer_unordered(4).collect::<Vec<()>>().await;
            add(Counter::SalesforceApiCalls, 0);
            "done"
        };
        assert_eq!(scope(metrics.clone(), work).await, "done");
        assert_eq!(metrics.count(Counter::EventsSynced), 10);
        assert_eq!(metrics.gauge(Gauge::ApiUsagePercent), Some(9.0));

        // Two invocations side by side keep their own counts.
        let (a, b) = (Arc::new(Metrics::new(Function::ActivitySync)), Arc::new(Metrics::new(Function::ActivitySync)));
        let one = scope(a.clone(), async { add(Counter::EventsSkipped, 1) });
        let two = scope(b.clone(), async {
            tokio::task::yield_now().await;
            add(Counter::EventsSkipped, 2)
        });
        tokio::join!(one, two);
        assert_eq!((a.count(Counter::EventsSkipped), b.count(Counter::EventsSkipped)), (1, 2));
    }

    #[tokio::test]
    async fn a_capture_sees_the_lines_of_its_meter_only() {
        let clock = ManualClock::default();
        let capture = Capture::default();
        let mine = Meter::new(Arc::new(clock.clone()), Arc::new(capture.clone()));
        let other = Meter::new(Arc::new(clock.clone()), Arc::new(Capture::default()));
        let n = mine
            .measure(Function::WebhookReceiver, async {
                add(Counter::WebhookRequestsAccepted, 1);
                add(Counter::InboundEventsPublished, 3);
                7
            })
            .await;
        assert_eq!(n, 7);
        other.measure(Function::WebhookReceiver, async { add(Counter::WebhookRequestsRefused, 1) }).await;

        let docs = capture.documents();
        assert_eq!(docs.len(), 1, "{:?}", capture.lines());
        assert_eq!(docs[0]["WebhookRequestsAccepted"], 1);
        assert_eq!(docs[0]["InboundEventsPublished"], 3);
        assert_eq!(docs[0]["WebhookRequestsRefused"], 0);
        let now_ms = clock.now().timestamp_millis();
        assert_eq!(docs[0]["_aws"]["Timestamp"], now_ms, "stamped by the meter's clock, in ms");

        capture.clear();
        assert!(capture.lines().is_empty());
    }
}
