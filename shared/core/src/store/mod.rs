//! The `Store` port: typed operations on the single table (docs/architecture.md "Data: the single table").
//!
//! `Store` owns the key layout and the conditions; it runs on any [`Table`] adapter:
//! `sfbridge_aws::DynamoTable` in AWS, [`MemoryTable`] embedded. Writing the typed layer once means both
//! adapters obey the same rules, and one contract suite tests them both.

mod imports;
mod memory;
mod records;
mod table;

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

pub use imports::*;
pub use memory::MemoryTable;
pub use records::*;
pub use table::{Condition, Item, QueryPage, Table, TableError};

use crate::domain::{CampaignId, EventId, FlowId, OAuthState, ObjectName, SalesforceId, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the item first (version or status no longer as read).
    #[error("the record was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Unavailable(TableError),
    #[error("stored record is malformed: {0}")]
    Corrupt(String),
}

impl From<TableError> for StoreError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::ConditionFailed => Self::Conflict,
            TableError::Corrupt(why) => Self::Corrupt(why),
            other => Self::Unavailable(other),
        }
    }
}

pub mod keys {
    use crate::domain::{FlowId, OAuthState, TenantId};

    pub fn tenant(t: &TenantId) -> String {
        format!("TENANT#{t}")
    }
    pub const CREDENTIALS: &str = "CREDENTIALS";
    pub(crate) const CONNECTION: &str = "CONNECTION";
    pub(crate) const AUDIT_PREFIX: &str = "AUDIT#";
    pub fn flow(f: &FlowId) -> String {
        format!("FLOW#{f}")
    }
    pub(crate) const FLOW: &str = "FLOW";
    pub fn state(s: &OAuthState) -> String {
        format!("STATE#{}", s.as_str())
    }
    pub const STATE: &str = "STATE";
    pub const SETTINGS: &str = "SETTINGS";
    pub(crate) const CAMPAIGN_PREFIX: &str = "CAMPAIGN#";
    pub fn campaign(c: &crate::domain::CampaignId) -> String {
        format!("{CAMPAIGN_PREFIX}{c}")
    }
    pub fn event(t: &TenantId, e: &crate::domain::EventId) -> String {
        format!("EVENT#{t}#{e}")
    }
    pub(crate) const LEDGER: &str = "LEDGER";
    pub(crate) const DELIVERY_PREFIX: &str = "DELIVERY#";
    pub(crate) const PARKED_PREFIX: &str = "PARKED#";
    pub fn parked(e: &crate::domain::EventId) -> String {
        format!("{PARKED_PREFIX}{e}")
    }
    pub(crate) const DEAD_LETTER_PREFIX: &str = "DEAD_LETTER#";
    pub fn dead_letter(e: &crate::domain::EventId) -> String {
        format!("{DEAD_LETTER_PREFIX}{e}")
    }
    pub const WEBHOOK_SECRETS: &str = "WEBHOOK_SECRETS";
    /// `key` is a digest of the sender's notification id, so any id fits the key size.
    pub fn inbound(t: &TenantId, key: &str) -> String {
        format!("INBOUND#{t}#{key}")
    }
    pub const DEDUPE: &str = "DEDUPE";
    /// A product experiment key's Campaign, as an inbound `campaign_updated` event linked them.
    /// Under `INBOUND#` because the webhook receiver writes it (its IAM policy allows only those
    /// partitions); `key` is a digest, so any experiment key fits the key size.
    pub fn experiment_link(t: &TenantId, experiment_key: &str) -> String {
        format!("INBOUND#{t}#EXP#{}", &crate::secrets::sha256_hex(experiment_key.as_bytes())[..32])
    }
    pub const EXPERIMENT: &str = "EXPERIMENT";
    /// The tenant's manual trigger queue. Under `INBOUND#` like the dedupe entries, because the
    /// webhook receiver writes it and may write nothing else (template.yaml); `PENDING` cannot be
    /// a dedupe key, which is a SHA-256 in hex.
    pub fn pending(t: &TenantId) -> String {
        format!("INBOUND#{t}#PENDING")
    }
    pub fn pending_trigger(id: &crate::domain::PendingTriggerId) -> String {
        format!("TRIGGER#{id}")
    }
    /// An open entry's listing key: by the time its Closed Won was first received.
    pub(crate) const PENDING_LISTING_PREFIX: &str = "AT#";
    pub const HEALTH: &str = "HEALTH";
    /// The times of the values field updates last wrote on one record.
    pub fn field_times(record: &crate::domain::SalesforceId) -> String {
        format!("FIELDS#{record}")
    }
    /// One object's describe in one org (a reconnect to another org does not reuse it).
    pub fn describe(org_id: &str, object: &crate::domain::ObjectName) -> String {
        format!("DESCRIBE#{org_id}#{}", object.as_str().to_ascii_lowercase())
    }
}

/// Ledger entries outlive every way a command can come back: SQS keeps it 4 days, the DLQ 14
/// more, and a redrive starts the clock again.
const LEDGER_RETENTION_DAYS: i64 = 45;
/// How long the webhook receiver remembers a notification: Salesforce retries an Outbound
/// Message for at most 24 hours, a signed callout is refused after 5 minutes; three days
/// outlasts both with room for clock trouble.
pub(crate) const INBOUND_DEDUPE_RETENTION_HOURS: i64 = 72;
/// An experiment link no `campaign_updated` event renewed for this long goes: experiments run for
/// weeks, and a link older than a year names a Campaign nobody updates any more.
const EXPERIMENT_LINK_RETENTION_DAYS: i64 = 400;
/// A cached describe nobody revalidated for this long goes (an org disconnected, an object unmapped).
const DESCRIBE_RETENTION_DAYS: i64 = 30;
/// How long the manual trigger queue keeps an entry, resolved or not: a quarter is long enough for
/// an admin to get to a Closed Won, and bounds the list when nobody does.
pub const PENDING_TRIGGER_RETENTION_DAYS: i64 = 90;
/// A resolved entry stops a late redelivery of its Closed Won from reopening it: it must outlive
/// the receiver's memory of the notification.
const _: () = assert!(PENDING_TRIGGER_RETENTION_DAYS * 24 > INBOUND_DEDUPE_RETENTION_HOURS);
/// Entries of one listing page read at once.
const PENDING_READ_CONCURRENCY: usize = 16;
/// How long the delivery log remembers an outcome.
pub(crate) const DELIVERY_RETENTION_DAYS: i64 = 30;
/// How long a dead letter waits for a replay: as long as its delivery-log entry. It must end well
/// before the event's ledger entry (45 days), even with DynamoDB's TTL deleting up to two days
/// late, so a replay always finds the progress an earlier attempt made (a Task already logged).
pub const DEAD_LETTER_RETENTION_DAYS: i64 = 30;
const _: () = assert!(DEAD_LETTER_RETENTION_DAYS + 2 < LEDGER_RETENTION_DAYS);

/// How long a best-effort health write may hold up its caller (the sync or a token refresh).
const HEALTH_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// One of a tenant's logs: entries under `{prefix}{at, to the microsecond}#{id}` in the tenant's
/// partition, so they sort by time, read newest first; a page's cursor is the last key read
/// without the prefix (the API hands it out sealed, `crate::paging`). Keys are stored and
/// cursors outlive a deploy: their format must not change.
#[derive(Debug)]
struct Log {
    prefix: &'static str,
    /// What a write requires of the entry's key.
    condition: Condition,
    /// How long an entry is kept (`expires_at`); `None`: for good.
    retention_days: Option<i64>,
}

/// Never overwritten: an entry already at the key fails the write.
const AUDIT_LOG: Log = Log { prefix: keys::AUDIT_PREFIX, condition: Condition::NotExists, retention_days: None };
/// A second write of the same event at the same instant is the same entry.
const DELIVERY_LOG: Log =
    Log { prefix: keys::DELIVERY_PREFIX, condition: Condition::None, retention_days: Some(DELIVERY_RETENTION_DAYS) };

/// One page of the delivery log, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryRecord>,
    /// Pass back as `before` for the next page.
    pub next_cursor: Option<String>,
}

/// One page of audit events, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass back as `before` for the next page.
    pub next_cursor: Option<String>,
}

/// One page of a tenant's dead letters, in event id order.
#[derive(Debug, Clone)]
pub struct DeadLetterPage {
    pub dead_letters: Vec<DeadLetterRecord>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<EventId>,
}

/// One page of the manual trigger queue, newest first.
#[derive(Debug, Clone)]
pub struct PendingTriggerPage {
    /// Open entries only (`pending` or `triggering`); a page may hold fewer than asked when some
    /// were resolved while it was read.
    pub entries: Vec<PendingTriggerRecord>,
    /// Pass back as `before` for the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// One page of saved campaigns, in campaign id order.
#[derive(Debug, Clone)]
pub struct CampaignPage {
    pub campaigns: Vec<CampaignRecord>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<CampaignId>,
}

#[derive(Debug, Clone)]
pub struct Store {
    table: Arc<dyn Table>,
}

impl Store {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub fn in_memory() -> Self {
        Self::new(Arc::new(MemoryTable::new()))
    }

    // --- credentials -------------------------------------------------------------------------

    pub async fn credentials(&self, t: &TenantId) -> Result<Option<CredentialsRecord>, StoreError> {
        self.get(&keys::tenant(t), keys::CREDENTIALS).await
    }

    pub async fn save_credentials(&self, t: &TenantId, record: &CredentialsRecord) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), keys::CREDENTIALS, record, None)?;
        Ok(self.table.put(item, Condition::None).await?)
    }

    /// Returns whether there was anything to delete.
    pub async fn delete_credentials(&self, t: &TenantId) -> Result<bool, StoreError> {
        let old = self.table.delete(&keys::tenant(t), keys::CREDENTIALS, Condition::None).await?;
        Ok(old.is_some())
    }

    // --- connection --------------------------------------------------------------------------

    pub async fn connection(&self, t: &TenantId) -> Result<Option<ConnectionRecord>, StoreError> {
        self.get(&keys::tenant(t), keys::CONNECTION).await
    }

    /// Writes the connection if it is still at `expected_version` (`None`: if there is none yet).
    /// The caller sets `record.version` to the next version.
    pub async fn save_connection(
        &self,
        t: &TenantId,
        record: &ConnectionRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), keys::CONNECTION, record, None)?;
        Ok(self.table.put(item, version_condition(expected_version)).await?)
    }

    pub async fn delete_connection(&self, t: &TenantId, expected_version: u64) -> Result<(), StoreError> {
        self.table
            .delete(&keys::tenant(t), keys::CONNECTION, version_condition(Some(expected_version)))
            .await?;
        Ok(())
    }

    // --- connect flows and OAuth state ---------------------------------------------------------

    pub async fn create_flow(&self, flow: &FlowRecord) -> Result<(), StoreError> {
        let item = to_item(&keys::flow(&flow.flow_id), keys::FLOW, flow, Some(flow.expires_at))?;
        Ok(self.table.put(item, Condition::NotExists).await?)
    }

    pub async fn flow(&self, id: &FlowId) -> Result<Option<FlowRecord>, StoreError> {
        self.get(&keys::flow(id), keys::FLOW).await
    }

    /// Moves a flow on only if it is still in `from` (so two browsers cannot both start it, and a
    /// finished flow cannot be reopened).
    pub async fn update_flow(&self, flow: &FlowRecord, from: FlowStatus) -> Result<(), StoreError> {
        let item = to_item(&keys::flow(&flow.flow_id), keys::FLOW, flow, Some(flow.expires_at))?;
        let condition = Condition::AttributeEquals { attribute: "status", value: to_value(&from)? };
        Ok(self.table.put(item, condition).await?)
    }

    pub async fn create_state(&self, state: &OAuthState, record: &StateRecord) -> Result<(), StoreError> {
        let item = to_item(&keys::state(state), keys::STATE, record, Some(record.expires_at))?;
        Ok(self.table.put(item, Condition::NotExists).await?)
    }

    /// Removes the state and returns what it held, exactly once: of two concurrent callbacks
    /// with the same state, one gets the record and the other `None`.
    pub async fn take_state(&self, state: &OAuthState) -> Result<Option<StateRecord>, StoreError> {
        match self.table.delete(&keys::state(state), keys::STATE, Condition::Exists).await {
            Ok(old) => old.map(from_item).transpose(),
            Err(TableError::ConditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    // --- audit ---------------------------------------------------------------------------------

    pub async fn append_audit(&self, t: &TenantId, event: &AuditEvent) -> Result<(), StoreError> {
        self.append_log(t, &AUDIT_LOG, event.at, &event.id, event).await
    }

    pub async fn audit(&self, t: &TenantId, limit: usize, before: Option<&str>) -> Result<AuditPage, StoreError> {
        let (events, next_cursor) = self.log_page(t, &AUDIT_LOG, limit, before).await?;
        Ok(AuditPage { events, next_cursor })
    }

    // --- settings and the campaign matrix -------------------------------------------------------

    pub async fn settings(&self, t: &TenantId) -> Result<Option<SettingsRecord>, StoreError> {
        self.get(&keys::tenant(t), keys::SETTINGS).await
    }

    /// Writes the settings if they are still at `expected_version` (`None`: if there are none
    /// yet). The caller sets `record.version` to the next version.
    pub async fn save_settings(
        &self,
        t: &TenantId,
        record: &SettingsRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), keys::SETTINGS, record, None)?;
        Ok(self.table.put(item, version_condition(expected_version)).await?)
    }

    pub async fn campaign(&self, t: &TenantId, c: &CampaignId) -> Result<Option<CampaignRecord>, StoreError> {
        self.get(&keys::tenant(t), &keys::campaign(c)).await
    }

    /// Writes `record` under its `campaign_id` if it is still at `expected_version` (`None`: if
    /// there is none yet). The caller sets `record.version` to the next version.
    pub async fn save_campaign(
        &self,
        t: &TenantId,
        record: &CampaignRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), &keys::campaign(&record.campaign_id), record, None)?;
        Ok(self.table.put(item, version_condition(expected_version)).await?)
    }

    /// Saved campaigns in campaign id order, `limit` at a time, continuing after `after`.
    pub async fn campaigns(
        &self,
        t: &TenantId,
        limit: usize,
        after: Option<&CampaignId>,
    ) -> Result<CampaignPage, StoreError> {
        let after = after.map(keys::campaign);
        let (items, last_sk) = self.page_asc(t, keys::CAMPAIGN_PREFIX, limit, after.as_deref()).await?;
        let next_cursor = last_sk
            .as_deref()
            .and_then(|sk| sk.strip_prefix(keys::CAMPAIGN_PREFIX))
            .map(|c| CampaignId::parse(c).map_err(|e| StoreError::Corrupt(format!("campaign key: {e}"))))
            .transpose()?;
        let campaigns = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(CampaignPage { campaigns, next_cursor })
    }

    // --- activity sync: ledger, delivery log, parked commands ------------------------------------

    pub async fn ledger(&self, t: &TenantId, e: &EventId) -> Result<Option<LedgerRecord>, StoreError> {
        self.get(&keys::event(t, e), keys::LEDGER).await
    }

    /// Writes the ledger entry if it is still at `expected_version` (`None`: if there is none
    /// yet, so of two workers claiming a new event exactly one wins).
    pub async fn save_ledger(
        &self,
        t: &TenantId,
        e: &EventId,
        record: &LedgerRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let expires_at = (record.updated_at + chrono::Duration::days(LEDGER_RETENTION_DAYS)).timestamp();
        let item = to_item(&keys::event(t, e), keys::LEDGER, record, Some(expires_at))?;
        Ok(self.table.put(item, version_condition(expected_version)).await?)
    }

    pub async fn append_delivery(&self, t: &TenantId, record: &DeliveryRecord) -> Result<(), StoreError> {
        self.append_log(t, &DELIVERY_LOG, record.at, &record.event_id, record).await
    }

    pub async fn deliveries(&self, t: &TenantId, limit: usize, before: Option<&str>) -> Result<DeliveryPage, StoreError> {
        let (deliveries, next_cursor) = self.log_page(t, &DELIVERY_LOG, limit, before).await?;
        Ok(DeliveryPage { deliveries, next_cursor })
    }

    /// Holds a command until the tenant reconnects (overwriting is harmless: same event, same body).
    pub async fn park(&self, t: &TenantId, record: &ParkedRecord) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), &keys::parked(&record.event_id), record, None)?;
        Ok(self.table.put(item, Condition::None).await?)
    }

    /// The oldest parked commands, up to `limit`.
    pub async fn parked(&self, t: &TenantId, limit: usize) -> Result<Vec<ParkedRecord>, StoreError> {
        let page = self.table.query_asc(&keys::tenant(t), keys::PARKED_PREFIX, limit.max(1), None).await?;
        page.items.into_iter().map(from_item).collect()
    }

    pub async fn unpark(&self, t: &TenantId, e: &EventId) -> Result<(), StoreError> {
        self.table.delete(&keys::tenant(t), &keys::parked(e), Condition::None).await?;
        Ok(())
    }

    // --- dead letters ---------------------------------------------------------------------------

    /// Holds a command that can never run as it is, under its tenant, until a replay (or its
    /// retention) ends it. A later dead letter of the same event replaces it.
    pub async fn put_dead_letter(&self, t: &TenantId, record: &DeadLetterRecord) -> Result<(), StoreError> {
        let expires_at = (record.dead_lettered_at + chrono::Duration::days(DEAD_LETTER_RETENTION_DAYS)).timestamp();
        let item = to_item(&keys::tenant(t), &keys::dead_letter(&record.event_id), record, Some(expires_at))?;
        Ok(self.table.put(item, Condition::None).await?)
    }

    pub async fn dead_letter(&self, t: &TenantId, e: &EventId) -> Result<Option<DeadLetterRecord>, StoreError> {
        self.get(&keys::tenant(t), &keys::dead_letter(e)).await
    }

    /// The tenant's dead letters in event id order, `limit` at a time, continuing after `after`.
    pub async fn dead_letters(&self, t: &TenantId, limit: usize, after: Option<&EventId>) -> Result<DeadLetterPage, StoreError> {
        let after = after.map(keys::dead_letter);
        let (items, last_sk) = self.page_asc(t, keys::DEAD_LETTER_PREFIX, limit, after.as_deref()).await?;
        let next_cursor = last_sk
            .as_deref()
            .and_then(|sk| sk.strip_prefix(keys::DEAD_LETTER_PREFIX))
            .map(|e| EventId::parse(e).map_err(|e| StoreError::Corrupt(format!("dead-letter key: {e}"))))
            .transpose()?;
        let dead_letters = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(DeadLetterPage { dead_letters, next_cursor })
    }

    /// Removes the dead letter of `e` if it still came from the message `source_message_id`.
    /// Returns whether it did: `false` when it is gone, or was replaced by a newer dead letter of
    /// the same event (which must stay).
    pub async fn remove_dead_letter(&self, t: &TenantId, e: &EventId, source_message_id: &str) -> Result<bool, StoreError> {
        let condition = Condition::AttributeEquals { attribute: "source_message_id", value: json!(source_message_id) };
        match self.table.delete(&keys::tenant(t), &keys::dead_letter(e), condition).await {
            Ok(_) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    // --- webhook receiver: secrets and deduplication -----------------------------------------

    pub async fn webhook_secrets(&self, t: &TenantId) -> Result<Option<WebhookSecretsRecord>, StoreError> {
        self.get(&keys::tenant(t), keys::WEBHOOK_SECRETS).await
    }

    /// Writes the secrets if they are still at `expected_version` (`None`: if there are none yet).
    pub async fn save_webhook_secrets(
        &self,
        t: &TenantId,
        record: &WebhookSecretsRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), keys::WEBHOOK_SECRETS, record, None)?;
        Ok(self.table.put(item, version_condition(expected_version)).await?)
    }

    /// When the values `field_update` commands last wrote on `record` were true, per field.
    pub async fn field_times(&self, t: &TenantId, record: &SalesforceId) -> Result<Option<FieldTimesRecord>, StoreError> {
        self.get(&keys::tenant(t), &keys::field_times(record)).await
    }

    /// Replaces the field times of `record` (the caller merged them with what it read).
    pub async fn save_field_times(&self, t: &TenantId, record: &SalesforceId, times: &FieldTimesRecord) -> Result<(), StoreError> {
        let item = to_item(&keys::tenant(t), &keys::field_times(record), times, None)?;
        Ok(self.table.put(item, Condition::None).await?)
    }

    /// The cached describe of `object` in the tenant's org `org_id`.
    pub async fn describe(&self, t: &TenantId, org_id: &str, object: &ObjectName) -> Result<Option<DescribeRecord>, StoreError> {
        self.get(&keys::tenant(t), &keys::describe(org_id, object)).await
    }

    /// Caches a describe (last writer wins: every writer saw the org's metadata at `fetched_at`).
    pub async fn save_describe(&self, t: &TenantId, org_id: &str, object: &ObjectName, record: &DescribeRecord) -> Result<(), StoreError> {
        let expires = record.fetched_at + chrono::Duration::days(DESCRIBE_RETENTION_DAYS);
        let item = to_item(&keys::tenant(t), &keys::describe(org_id, object), record, Some(expires.timestamp()))?;
        Ok(self.table.put(item, Condition::None).await?)
    }

    pub async fn inbound_dedupe(&self, t: &TenantId, key: &str) -> Result<Option<InboundDedupeRecord>, StoreError> {
        self.get(&keys::inbound(t, key), keys::DEDUPE).await
    }

    /// Writes the entry if it is still at `expected_version` (`None`: if there is none yet, so of
    /// two requests carrying the same notification exactly one claims it).
    pub async fn save_inbound_dedupe(
        &self,
        t: &TenantId,
        key: &str,
        record: &InboundDedupeRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let expires_at = (record.updated_at + chrono::Duration::hours(INBOUND_DEDUPE_RETENTION_HOURS)).timestamp();
        let item = to_item(&keys::inbound(t, key), keys::DEDUPE, record, Some(expires_at))?;
        Ok(self.table.put(item, version_condition(expected_version)).await?)
    }

    /// Gives up a claim (the publish failed), so the next delivery can claim it at once.
    pub async fn release_inbound_dedupe(&self, t: &TenantId, key: &str, version: u64) -> Result<(), StoreError> {
        self.table.delete(&keys::inbound(t, key), keys::DEDUPE, version_condition(Some(version))).await?;
        Ok(())
    }

    /// The Campaign an inbound `campaign_updated` event last linked to `experiment_key`.
    pub async fn experiment_link(&self, t: &TenantId, experiment_key: &str) -> Result<Option<ExperimentLinkRecord>, StoreError> {
        let found: Option<ExperimentLinkRecord> = self.get(&keys::experiment_link(t, experiment_key), keys::EXPERIMENT).await?;
        // A digest collision would be astronomically rare; the stored key settles it anyway.
        Ok(found.filter(|link| link.experiment_key == experiment_key))
    }

    /// Links `record.experiment_key` to its Campaign; the latest event's link wins.
    pub async fn save_experiment_link(&self, t: &TenantId, record: &ExperimentLinkRecord) -> Result<(), StoreError> {
        let expires_at = (record.linked_at + chrono::Duration::days(EXPERIMENT_LINK_RETENTION_DAYS)).timestamp();
        let item = to_item(&keys::experiment_link(t, &record.experiment_key), keys::EXPERIMENT, record, Some(expires_at))?;
        Ok(self.table.put(item, Condition::None).await?)
    }

    // --- the manual trigger queue -----------------------------------------------------------------

    /// Keeps a new entry and lists it; returns whether it was new. Safe to repeat for every delivery
    /// of the same Closed Won: the entry keeps its first `received_at`, a listing key a crash left
    /// out is written again, and an entry already triggered or dismissed stays as it is.
    pub async fn keep_pending_trigger(&self, t: &TenantId, record: &PendingTriggerRecord) -> Result<bool, StoreError> {
        let pk = keys::pending(t);
        let expires_at = record.expires_at().timestamp();
        let item = to_item(&pk, &keys::pending_trigger(&record.id), record, Some(expires_at))?;
        let (kept, new) = match self.table.put(item, Condition::NotExists).await {
            Ok(()) => (record.clone(), true),
            Err(TableError::ConditionFailed) => match self.pending_trigger(t, &record.id).await? {
                Some(kept) if kept.status.is_open() => (kept, false),
                // Resolved, or gone between the two calls: nothing to list.
                _ => return Ok(false),
            },
            Err(e) => return Err(e.into()),
        };
        let listing = to_item(&pk, &pending_listing_key(&kept), &json!({"id": kept.id}), Some(kept.expires_at().timestamp()))?;
        self.table.put(listing, Condition::None).await?;
        Ok(new)
    }

    pub async fn pending_trigger(
        &self,
        t: &TenantId,
        id: &crate::domain::PendingTriggerId,
    ) -> Result<Option<PendingTriggerRecord>, StoreError> {
        self.get(&keys::pending(t), &keys::pending_trigger(id)).await
    }

    /// Writes the entry if it is still at `expected_version` (the caller sets the next version).
    /// A resolved entry is unlisted; if that fails the listing drops the stale key when it meets it.
    pub async fn save_pending_trigger(
        &self,
        t: &TenantId,
        record: &PendingTriggerRecord,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let pk = keys::pending(t);
        let item = to_item(&pk, &keys::pending_trigger(&record.id), record, Some(record.expires_at().timestamp()))?;
        self.table.put(item, version_condition(Some(expected_version))).await?;
        if !record.status.is_open() {
            if let Err(e) = self.table.delete(&pk, &pending_listing_key(record), Condition::None).await {
                tracing::warn!(tenant_id = %t, pending_id = %record.id, error = %e, "could not unlist a resolved pending trigger");
            }
        }
        Ok(())
    }

    /// Up to `limit` open entries, newest first, older than the cursor `before`. Listing keys whose
    /// entry was resolved or has gone are skipped and removed.
    pub async fn pending_triggers(&self, t: &TenantId, limit: usize, before: Option<&str>) -> Result<PendingTriggerPage, StoreError> {
        let pk = keys::pending(t);
        let prefix = keys::PENDING_LISTING_PREFIX;
        let limit = limit.max(1);
        let before = before.map(|cursor| format!("{prefix}{cursor}"));
        // One more than asked, so the last page carries no cursor.
        let page = self.table.query_desc(&pk, prefix, limit + 1, before.as_deref()).await?;
        // More: a row beyond the page, or DynamoDB stopped early at its 1 MB page size.
        let more = page.items.len() > limit || page.last_sk.is_some();
        let listed: Vec<(String, crate::domain::PendingTriggerId)> = page
            .items
            .into_iter()
            .take(limit)
            .map(|item| {
                let sk = item.get("sk").and_then(Value::as_str).map(str::to_owned);
                let id = item.get("id").cloned().map(serde_json::from_value);
                match (sk, id) {
                    (Some(sk), Some(Ok(id))) => Ok((sk, id)),
                    _ => Err(StoreError::Corrupt("a pending trigger's listing key is malformed".into())),
                }
            })
            .collect::<Result<_, _>>()?;
        let next_cursor = if more { listed.last().and_then(|(sk, _)| sk.strip_prefix(prefix)).map(str::to_owned) } else { None };
        let read = futures::stream::iter(listed.into_iter().map(|(sk, id)| {
            let pk = &pk;
            async move {
                let entry = self.pending_trigger(t, &id).await?;
                if entry.as_ref().is_some_and(|e| e.status.is_open() && pending_listing_key(e) == sk) {
                    return Ok(entry);
                }
                if let Err(e) = self.table.delete(pk, &sk, Condition::None).await {
                    tracing::warn!(tenant_id = %t, pending_id = %id, error = %e, "could not remove a stale pending-trigger listing key");
                }
                Ok::<_, StoreError>(None)
            }
        }));
        let entries: Vec<Option<PendingTriggerRecord>> = read.buffered(PENDING_READ_CONCURRENCY).try_collect().await?;
        Ok(PendingTriggerPage { entries: entries.into_iter().flatten().collect(), next_cursor })
    }

    // --- connection health -----------------------------------------------------------------------

    pub async fn health(&self, t: &TenantId) -> Result<Option<HealthRecord>, StoreError> {
        self.get(&keys::tenant(t), keys::HEALTH).await
    }

    /// Merges what one writer saw into the tenant's health record: only the fields set in `seen`
    /// are written (one `UpdateItem` `SET` on DynamoDB), the others stay as stored. Nothing is
    /// written when `seen` is empty. Last writer wins per field.
    pub async fn merge_health(&self, t: &TenantId, seen: &HealthRecord) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let Value::Object(fields) = to_value(seen)? else {
            return Err(StoreError::Corrupt("health record is not an object".into()));
        };
        let set: Item = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
        Ok(self.table.set_attributes(&keys::tenant(t), keys::HEALTH, set).await?)
    }

    /// [`Self::merge_health`], best-effort: health is for the admin's eyes, so a failed or slow
    /// write is logged at warn and given up (after at most two seconds), never passed on to the
    /// sync or the token refresh that observed it.
    pub async fn note_health(&self, t: &TenantId, seen: &HealthRecord) {
        match tokio::time::timeout(HEALTH_WRITE_TIMEOUT, self.merge_health(t, seen)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(tenant_id = %t, error = %e, "could not record the connection's health"),
            Err(_) => tracing::warn!(tenant_id = %t, "recording the connection's health timed out; skipped"),
        }
    }

    /// Up to `limit` items of the tenant's partition under `prefix` in key order, after the key
    /// `after`; and the key to continue after, `None` on the last page.
    async fn page_asc(
        &self,
        t: &TenantId,
        prefix: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let limit = limit.max(1);
        // One more than asked, so the last page carries no cursor on either adapter (DynamoDB
        // returns a LastEvaluatedKey whenever it stops at the limit).
        let page = self.table.query_asc(&keys::tenant(t), prefix, limit + 1, after).await?;
        let more = page.items.len() > limit;
        let mut items = page.items;
        items.truncate(limit);
        let last_sk = if more {
            items.last().and_then(|i| i.get("sk")).and_then(Value::as_str).map(str::to_owned)
        } else {
            // Fewer than asked but a cursor anyway: DynamoDB stopped at its 1 MB page size.
            page.last_sk
        };
        Ok((items, last_sk))
    }

    async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, StoreError> {
        self.table.get(pk, sk).await?.map(from_item).transpose()
    }

    /// Writes `record` as the entry of `log` at `at` with `id`.
    async fn append_log<T: Serialize>(
        &self,
        t: &TenantId,
        log: &Log,
        at: chrono::DateTime<chrono::Utc>,
        id: &(dyn std::fmt::Display + Sync),
        record: &T,
    ) -> Result<(), StoreError> {
        let sk = format!("{}{}#{id}", log.prefix, at.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
        let expires_at = log.retention_days.map(|days| (at + chrono::Duration::days(days)).timestamp());
        let item = to_item(&keys::tenant(t), &sk, record, expires_at)?;
        Ok(self.table.put(item, log.condition.clone()).await?)
    }

    /// Up to `limit` entries of `log`, newest first, older than the cursor `before`; and the
    /// cursor of the next page.
    async fn log_page<T: DeserializeOwned>(
        &self,
        t: &TenantId,
        log: &Log,
        limit: usize,
        before: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let before = before.map(|cursor| format!("{}{cursor}", log.prefix));
        let page = self.table.query_desc(&keys::tenant(t), log.prefix, limit, before.as_deref()).await?;
        let records = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        let next_cursor = page.last_sk.and_then(|sk| sk.strip_prefix(log.prefix).map(str::to_owned));
        Ok((records, next_cursor))
    }
}

/// `AT#{received_at, to the microsecond}#{id}`: sorts by time, then id. The cursor handed out is
/// this without the prefix, so its format must not change.
fn pending_listing_key(record: &PendingTriggerRecord) -> String {
    format!("{}{}#{}", keys::PENDING_LISTING_PREFIX, record.received_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"), record.id)
}

fn version_condition(expected: Option<u64>) -> Condition {
    match expected {
        None => Condition::NotExists,
        Some(v) => Condition::AttributeEquals { attribute: "version", value: json!(v) },
    }
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn to_item<T: Serialize>(pk: &str, sk: &str, record: &T, expires_at: Option<i64>) -> Result<Item, StoreError> {
    let Value::Object(mut item) = to_value(record)? else {
        return Err(StoreError::Corrupt("record is not an object".into()));
    };
    item.insert("pk".into(), Value::String(pk.to_owned()));
    item.insert("sk".into(), Value::String(sk.to_owned()));
    if let Some(at) = expires_at {
        item.insert("expires_at".into(), json!(at));
    }
    Ok(item)
}

fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    item.remove("pk");
    item.remove("sk");
    serde_json::from_value(Value::Object(item)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    /// Stored keys and the positions the API's cursors seal: their format must never change.
    #[tokio::test]
    async fn log_keys_and_cursors_keep_their_format() {
        let table = Arc::new(MemoryTable::new());
        let store = Store::new(table.clone());
        let t = TenantId::parse("team_42").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::microseconds(120);
        let event = AuditEvent { id: "a1".into(), kind: "k".into(), at, detail: json!({}) };
        let older = AuditEvent { id: "a0".into(), at: at - chrono::Duration::seconds(1), ..event.clone() };
        store.append_audit(&t, &older).await.unwrap();
        store.append_audit(&t, &event).await.unwrap();
        assert!(store.append_audit(&t, &event).await.is_err(), "an audit entry is never overwritten");
        let record = DeliveryRecord {
            event_id: EventId::parse("evt_1").unwrap(),
            at,
            outcome: DeliveryOutcome::Synced,
            command_type: "activity".into(),
            campaign_id: None,
            activity: None,
            email: None,
            record_id: None,
            task_id: None,
            code: None,
            reason: None,
        };
        let older_record = DeliveryRecord { event_id: EventId::parse("evt_0").unwrap(), ..record.clone() };
        store.append_delivery(&t, &older_record).await.unwrap();
        store.append_delivery(&t, &record).await.unwrap();
        store.append_delivery(&t, &record).await.unwrap();

        let audit = table.get("TENANT#team_42", "AUDIT#2026-01-02T03:04:05.000120Z#a1").await.unwrap().unwrap();
        assert!(audit.get("expires_at").is_none());
        let delivery = table.get("TENANT#team_42", "DELIVERY#2026-01-02T03:04:05.000120Z#evt_1").await.unwrap().unwrap();
        assert_eq!(delivery["expires_at"], json!((at + chrono::Duration::days(DELIVERY_RETENTION_DAYS)).timestamp()));

        let page = store.audit(&t, 1, None).await.unwrap();
        assert_eq!(page.events, vec![event]);
        assert_eq!(page.next_cursor.as_deref(), Some("2026-01-02T03:04:05.000120Z#a1"));
        let page = store.audit(&t, 1, page.next_cursor.as_deref()).await.unwrap();
        assert_eq!((page.events, page.next_cursor), (vec![older], None));

        // Same instant: the event id orders them.
        let page = store.deliveries(&t, 1, None).await.unwrap();
        assert_eq!(page.deliveries, vec![record]);
        assert_eq!(page.next_cursor.as_deref(), Some("2026-01-02T03:04:05.000120Z#evt_1"));
        let page = store.deliveries(&t, 1, page.next_cursor.as_deref()).await.unwrap();
        assert_eq!((page.deliveries, page.next_cursor), (vec![older_record], None));
    }

    fn pending(id: &str, received_at: chrono::DateTime<Utc>) -> PendingTriggerRecord {
        PendingTriggerRecord {
            id: crate::domain::PendingTriggerId::parse(id).unwrap(),
            status: PendingStatus::Pending,
            received_at,
            source: crate::events::Source::Callout,
            organization_id: SalesforceId::parse("00D000000000001").unwrap(),
            notification_id: Some(format!("n-{id}")),
            sobject_type: Some("Opportunity".into()),
            record_id: None,
            fields: "{}".into(),
            contact_emails: vec![],
            version: 1,
            updated_at: received_at,
            lease_until: None,
            sequence_id: None,
            trigger_event_id: None,
        }
    }

    #[tokio::test]
    async fn pending_triggers_are_kept_once_listed_newest_first_and_unlisted_when_resolved() {
        let table = Arc::new(MemoryTable::new());
        let store = Store::new(table.clone());
        let (t, other) = (TenantId::parse("team_42").unwrap(), TenantId::parse("team_43").unwrap());
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        for (i, id) in ["inb_a", "inb_b", "inb_c"].into_iter().enumerate() {
            assert!(store.keep_pending_trigger(&t, &pending(id, at + chrono::Duration::seconds(i as i64))).await.unwrap());
        }
        let ids = |p: &PendingTriggerPage| p.entries.iter().map(|e| e.id.to_string()).collect::<Vec<_>>();
        let first = store.pending_triggers(&t, 2, None).await.unwrap();
        assert_eq!(ids(&first), ["inb_c", "inb_b"]);
        assert_eq!(first.next_cursor.as_deref(), Some("2026-01-02T03:04:06.000000Z#inb_b"), "the cursor's format is kept");
        let rest = store.pending_triggers(&t, 2, first.next_cursor.as_deref()).await.unwrap();
        assert_eq!((ids(&rest), rest.next_cursor), (vec!["inb_a".to_owned()], None));
        assert!(store.pending_triggers(&other, 10, None).await.unwrap().entries.is_empty(), "each tenant its own");
        let item = table.get("INBOUND#team_42#PENDING", "TRIGGER#inb_a").await.unwrap().unwrap();
        assert_eq!(item["expires_at"], json!((at + chrono::Duration::days(PENDING_TRIGGER_RETENTION_DAYS)).timestamp()));

        // A later delivery keeps the first time; a listing key a crash left out is written again.
        table.delete("INBOUND#team_42#PENDING", "AT#2026-01-02T03:04:05.000000Z#inb_a", Condition::None).await.unwrap();
        assert!(!store.keep_pending_trigger(&t, &pending("inb_a", at + chrono::Duration::hours(1))).await.unwrap());
        assert_eq!(ids(&store.pending_triggers(&t, 10, None).await.unwrap()), ["inb_c", "inb_b", "inb_a"]);
        let a = store.pending_trigger(&t, &crate::domain::PendingTriggerId::parse("inb_a").unwrap()).await.unwrap().unwrap();
        assert_eq!(a.received_at, at);

        // Resolved: unlisted, and a redelivery does not reopen it.
        let b = pending("inb_b", at + chrono::Duration::seconds(1));
        let dismissed = PendingTriggerRecord { status: PendingStatus::Dismissed, version: 2, ..b.clone() };
        assert!(matches!(store.save_pending_trigger(&t, &dismissed, 2).await, Err(StoreError::Conflict)), "version-checked");
        store.save_pending_trigger(&t, &dismissed, 1).await.unwrap();
        assert!(!store.keep_pending_trigger(&t, &b).await.unwrap());
        assert_eq!(ids(&store.pending_triggers(&t, 10, None).await.unwrap()), ["inb_c", "inb_a"]);
        assert!(table.get("INBOUND#team_42#PENDING", "AT#2026-01-02T03:04:06.000000Z#inb_b").await.unwrap().is_none());

        // A listing key whose entry was resolved behind its back is skipped, and removed.
        let c = pending("inb_c", at + chrono::Duration::seconds(2));
        let triggered = PendingTriggerRecord { status: PendingStatus::Triggered, ..c };
        let resolved = to_item("INBOUND#team_42#PENDING", "TRIGGER#inb_c", &triggered, None).unwrap();
        table.put(resolved, Condition::None).await.unwrap();
        assert_eq!(ids(&store.pending_triggers(&t, 10, None).await.unwrap()), ["inb_a"]);
        assert!(table.get("INBOUND#team_42#PENDING", "AT#2026-01-02T03:04:07.000000Z#inb_c").await.unwrap().is_none());
    }

    fn dead(event: &str, source: &str) -> DeadLetterRecord {
        DeadLetterRecord {
            event_id: EventId::parse(event).unwrap(),
            body: format!("{{\"event_id\":\"{event}\"}}"),
            code: "INVALID_FIELD".into(),
            reason: "No such column".into(),
            dead_lettered_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            source_message_id: source.into(),
            command_type: "activity".into(),
            campaign_id: None,
            activity: Some(ActivityKind::EmailClicked),
            email: None,
        }
    }

    #[tokio::test]
    async fn dead_letters_page_in_event_order_and_go_only_while_unchanged() {
        let table = Arc::new(MemoryTable::new());
        let store = Store::new(table.clone());
        let (t, other) = (TenantId::parse("team_42").unwrap(), TenantId::parse("team_43").unwrap());
        for e in ["e3", "e1", "e2"] {
            store.put_dead_letter(&t, &dead(e, "m1")).await.unwrap();
        }
        store.put_dead_letter(&other, &dead("e0", "m1")).await.unwrap();
        let item = table.get("TENANT#team_42", "DEAD_LETTER#e1").await.unwrap().unwrap();
        let expires = dead("e1", "m1").dead_lettered_at + chrono::Duration::days(DEAD_LETTER_RETENTION_DAYS);
        assert_eq!(item["expires_at"], json!(expires.timestamp()));

        let first = store.dead_letters(&t, 2, None).await.unwrap();
        let ids = |p: &DeadLetterPage| p.dead_letters.iter().map(|d| d.event_id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ["e1", "e2"]);
        assert_eq!(first.next_cursor.as_ref().map(ToString::to_string).as_deref(), Some("e2"));
        let rest = store.dead_letters(&t, 2, first.next_cursor.as_ref()).await.unwrap();
        assert_eq!((ids(&rest), rest.next_cursor), (vec!["e3".to_owned()], None));
        // Exactly a page left: no cursor.
        assert_eq!(store.dead_letters(&t, 3, None).await.unwrap().next_cursor, None);

        // A newer dead letter of the same event (another message) replaces it and must stay.
        store.put_dead_letter(&t, &dead("e1", "m2")).await.unwrap();
        assert!(!store.remove_dead_letter(&t, &EventId::parse("e1").unwrap(), "m1").await.unwrap());
        assert_eq!(store.dead_letter(&t, &EventId::parse("e1").unwrap()).await.unwrap(), Some(dead("e1", "m2")));
        assert!(store.remove_dead_letter(&t, &EventId::parse("e1").unwrap(), "m2").await.unwrap());
        assert!(!store.remove_dead_letter(&t, &EventId::parse("e1").unwrap(), "m2").await.unwrap(), "gone");
        assert_eq!(store.dead_letter(&t, &EventId::parse("e1").unwrap()).await.unwrap(), None);
        assert_eq!(ids(&store.dead_letters(&other, 10, None).await.unwrap()), ["e0"], "each tenant its own");
    }
}
