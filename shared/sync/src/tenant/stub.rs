//! For the steps' unit tests: a worker on the embedded adapters with one connected tenant, and
//! a [`RecordsApi`] that answers from a script and records every call.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use sfbridge_core::cipher::{seal_str, Cipher, LocalCipher, Purpose, SealContext};
use sfbridge_core::clock::{Clock, ManualClock};
use sfbridge_core::domain::{HostPolicy, InstanceUrl, LoginHost, SalesforceId, TenantId};
use sfbridge_core::metrics::{Capture, Meter};
use sfbridge_core::queue::MemoryQueue;
use sfbridge_core::store::{CampaignRecord, CampaignSettings, ConnectionRecord, ConnectionStatus, Store};
use sfbridge_salesforce::rest::{QueryPage, RecordResult, RecordsApi, Reply, RestError, SubRequest, SubResponse};
use sfbridge_salesforce::{SalesforceOAuth, Session, Sessions, StoredAppCredentials};

use super::Pending;
use crate::command::parse_command;
use crate::{Worker, WorkerQueues};

pub(crate) const TENANT: &str = "team_unit";
pub(crate) const CAMPAIGN: &str = "cmp_unit";

/// One call the stub received.
#[derive(Debug, Clone)]
pub(crate) enum Call {
    Composite(Vec<SubRequest>),
    NextPage(String),
    CreateRecords(Vec<Value>),
}

type Script = dyn Fn(&Call) -> Result<Value, RestError> + Send + Sync;

/// Answers each call with what `script` returns for it: a Composite call's `compositeResponse`
/// array, a query page, or a Collections result array.
#[derive(Clone)]
pub(crate) struct StubApi {
    script: Arc<Script>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl std::fmt::Debug for StubApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubApi").field("calls", &self.calls().len()).finish()
    }
}

impl StubApi {
    pub(crate) fn new(script: impl Fn(&Call) -> Result<Value, RestError> + Send + Sync + 'static) -> Self {
        Self { script: Arc::new(script), calls: Arc::default() }
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn answer<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<Reply<T>, RestError> {
        let answer = (self.script)(&call);
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
        let value = serde_json::from_value(answer?).unwrap_or_else(|e| unreachable!("the script's answer has the wrong shape: {e}"));
        Ok(Reply { value, usage: None })
    }
}

#[async_trait]
impl RecordsApi for StubApi {
    async fn composite(&self, _: &Session, requests: Vec<SubRequest>) -> Result<Reply<Vec<SubResponse>>, RestError> {
        self.answer(Call::Composite(requests))
    }

    async fn next_page(&self, _: &Session, next_records_url: &str) -> Result<Reply<QueryPage>, RestError> {
        self.answer(Call::NextPage(next_records_url.to_owned()))
    }

    async fn create_records(&self, _: &Session, records: Vec<Value>) -> Result<Reply<Vec<RecordResult>>, RestError> {
        self.answer(Call::CreateRecords(records))
    }
}

/// The emails a lookup subrequest asks about (the SOQL's quoted literals).
pub(crate) fn queried_emails(sub: &SubRequest) -> Vec<String> {
    let soql: String = url::form_urlencoded::parse(sub.path().split_once('?').map_or("", |(_, q)| q).as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    soql.split('\'').skip(1).step_by(2).filter(|s| s.contains('@')).map(str::to_owned).collect()
}

/// A Contact id for an email (stable: the same email always gets the same id).
pub(crate) fn contact_id(email: &str) -> String {
    let n: u64 = email.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 1_000_000_000;
    format!("003{n:012}")
}

/// The usual answer: each queried email is one Contact; each Collections record succeeds.
pub(crate) fn answer_all(call: &Call) -> Result<Value, RestError> {
    match call {
        Call::Composite(subs) => Ok(Value::Array(subs.iter().map(found_or_written).collect())),
        Call::NextPage(_) => Ok(json!({"records": [], "done": true})),
        Call::CreateRecords(records) => Ok(Value::Array(records.iter().enumerate().map(|(i, _)| created(i)).collect())),
    }
}

/// One subrequest answered as [`answer_all`] answers it.
pub(crate) fn found_or_written(sub: &SubRequest) -> Value {
    let body = if sub.method() == "GET" {
        let records: Vec<Value> = queried_emails(sub)
            .iter()
            .map(|email| json!({"attributes": {"type": "Contact"}, "Id": contact_id(email), "Email": email, "CreatedDate": "2024-01-01T00:00:00.000+0000"}))
            .collect();
        json!({"totalSize": records.len(), "done": true, "records": records})
    } else {
        let count = sub.body().and_then(|b| b["records"].as_array()).map_or(0, Vec::len);
        Value::Array((0..count).map(created).collect())
    };
    json!({"httpStatusCode": 200, "referenceId": sub.reference_id(), "body": body})
}

fn created(i: usize) -> Value {
    json!({"id": format!("00T{i:012}"), "success": true, "created": true, "errors": []})
}

/// A worker with a connected tenant whose campaign is enabled, on the embedded adapters.
pub(crate) struct Fixture {
    pub worker: Worker,
    pub store: Store,
    pub tenant: TenantId,
    pub metrics: Capture,
}

pub(crate) async fn fixture(api: StubApi) -> Fixture {
    fixture_with_dead_letter(api, Arc::new(MemoryQueue::default())).await
}

/// As [`fixture`], with `dead_letter` as the worker's dead-letter queue.
pub(crate) async fn fixture_with_dead_letter(api: StubApi, dead_letter: Arc<dyn sfbridge_core::queue::Queue>) -> Fixture {
    let store = Store::in_memory();
    let cipher: Arc<dyn Cipher> = Arc::new(LocalCipher::random());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
    let tenant = TenantId::parse(TENANT).unwrap_or_else(|e| unreachable!("{e}"));
    let token = seal_str(cipher.as_ref(), &SealContext::new(&tenant, Purpose::AccessToken), "00Dunit!token")
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let parse_id = |id: &str| SalesforceId::parse(id).unwrap_or_else(|e| unreachable!("{e}"));
    let now = clock.now();
    let connection = ConnectionRecord {
        status: ConnectionStatus::Connected,
        organization_id: parse_id("00D000000000001"),
        user_id: parse_id("005000000000001"),
        username: None,
        display_name: None,
        instance_url: InstanceUrl::parse("https://unit.my.salesforce.com", HostPolicy::STRICT).unwrap_or_else(|e| unreachable!("{e}")),
        login_host: LoginHost::parse("https://login.salesforce.com", HostPolicy::STRICT).unwrap_or_else(|e| unreachable!("{e}")),
        refresh_token: None,
        access_token: Some(token),
        access_token_issued_at: Some(now),
        access_token_expires_at: None,
        scopes: vec!["api".into()],
        connected_at: now,
        updated_at: now,
        version: 1,
        refresh_lease_until: None,
    };
    store.save_connection(&tenant, &connection, None).await.unwrap_or_else(|e| unreachable!("{e}"));
    let campaign_id = sfbridge_core::domain::CampaignId::parse(CAMPAIGN).unwrap_or_else(|e| unreachable!("{e}"));
    let settings = CampaignSettings { enabled: true, ..CampaignSettings::default() };
    let campaign = CampaignRecord { campaign_id, settings, version: 1, updated_at: now };
    store.save_campaign(&tenant, &campaign, None).await.unwrap_or_else(|e| unreachable!("{e}"));

    let http = sfbridge_salesforce::http_client().unwrap_or_else(|e| unreachable!("{e}"));
    let oauth = SalesforceOAuth::new(http, HostPolicy::STRICT);
    let credentials = Arc::new(StoredAppCredentials::new(store.clone(), cipher.clone()));
    let sessions = Sessions::new(store.clone(), cipher, clock.clone(), oauth, credentials);
    let queues = WorkerQueues { activity: Arc::new(MemoryQueue::default()), dead_letter };
    let metrics = Capture::default();
    let worker = Worker::new(store.clone(), clock.clone(), sessions, api, queues, Meter::new(clock, Arc::new(metrics.clone())));
    Fixture { worker, store, tenant, metrics }
}

/// An `email_opened` event for `email` (one message each).
pub(crate) fn pending(event_id: &str, email: &str) -> Pending {
    let body = json!({"version": 1, "type": "activity", "event_id": event_id, "tenant_id": TENANT, "campaign_id": CAMPAIGN,
        "activity": "email_opened", "contact": {"email": email}, "occurred_at": "2026-11-20T10:00:00Z"})
    .to_string();
    let command = parse_command(&body).unwrap_or_else(|e| unreachable!("{}", e.message));
    Pending { message_ids: vec![format!("m-{event_id}")], command, body }
}
