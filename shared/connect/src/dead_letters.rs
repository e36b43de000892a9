//! A tenant's dead letters as the admin API shows and replays them: the sync commands activity
//! sync could never run as they were (a permanent Salesforce refusal, a command this release cannot
//! run), held under the tenant with the code and the reason (written by activity sync).
//!
//! A replay puts each command back on the activity queue exactly as it arrived, and forgets the
//! dead letter only once the queue has it (and only if it still came from the same message: a
//! replayed command that fails again becomes a new dead letter, which must stay). The ledger entry
//! of a replayed event is `failed`, which the worker claims again, keeping the progress of the
//! earlier attempt; so a replay after the cause is fixed syncs the event once, and a replay of an
//! event that has synced meanwhile is acknowledged without a Salesforce call. Every replay that
//! sent something is audited (`dead_letters.replayed`).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sfbridge_core::domain::{CampaignId, Email, EventId, TenantId};
use sfbridge_core::paging::{InvalidPage, PageRules};
use sfbridge_core::queue::{OutgoingMessage, QueueError};
use sfbridge_core::store::{audit_kind, ActivityKind, ConnectionStatus, DeadLetterRecord, DEAD_LETTER_RETENTION_DAYS};

use crate::{ConflictCode, ConnectError, Connector};

/// The dead-letter list's page sizes; its cursor is an event id.
pub const DEAD_LETTER_PAGES: PageRules = PageRules { list: "dead-letters", default_limit: 50, max_limit: 100 };
/// The most event ids one replay request may name.
pub const MAX_REPLAY_IDS: usize = 100;
/// The most dead letters one `{"all": true}` request replays (the admin API has 15 s); `more`
/// says whether to ask again.
pub const MAX_REPLAY_ALL: usize = 500;
/// Dead letters read and sent per round trip of an `all` replay.
const REPLAY_PAGE: usize = 100;

/// One dead letter as the list shows it. The body is kept (a replay sends it as is) but not shown:
/// it can be up to 256 KiB, and what it says is here already.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    pub event_id: EventId,
    pub dead_lettered_at: DateTime<Utc>,
    /// A Salesforce error code (`INVALID_FIELD`, ...) or `malformed_command` / `unsupported_command`.
    pub code: String,
    pub reason: String,
    #[serde(rename = "type")]
    pub command_type: String,
    pub campaign_id: Option<CampaignId>,
    pub activity: Option<ActivityKind>,
    pub email: Option<Email>,
    /// The queue message it arrived in.
    pub source_message_id: String,
    pub body_bytes: usize,
    /// When it is forgotten if nobody replays it.
    pub expires_at: DateTime<Utc>,
}

impl From<DeadLetterRecord> for DeadLetterView {
    fn from(r: DeadLetterRecord) -> Self {
        Self {
            expires_at: r.dead_lettered_at + Duration::days(DEAD_LETTER_RETENTION_DAYS),
            body_bytes: r.body.len(),
            event_id: r.event_id,
            dead_lettered_at: r.dead_lettered_at,
            code: r.code,
            reason: r.reason,
            command_type: r.command_type,
            campaign_id: r.campaign_id,
            activity: r.activity,
            email: r.email,
            source_message_id: r.source_message_id,
        }
    }
}

/// `GET /v1/tenants/{t}/dead-letters`: in event id order, paged.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterList {
    pub dead_letters: Vec<DeadLetterView>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

pub async fn dead_letter_list(
    ctx: &Connector,
    t: &TenantId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<DeadLetterList, ConnectError> {
    let page = DEAD_LETTER_PAGES.check(t, limit, cursor)?;
    // The cursor's position is the last event id of the previous page.
    let after = page.cursor.map(|c| EventId::parse(&c).map_err(|_| InvalidPage::Cursor)).transpose()?;
    let page = ctx.store.dead_letters(t, page.limit, after.as_ref()).await?;
    Ok(DeadLetterList {
        dead_letters: page.dead_letters.into_iter().map(DeadLetterView::from).collect(),
        next_cursor: page.next_cursor.map(|last| DEAD_LETTER_PAGES.cursor(t, last.as_str())),
    })
}

/// The body of `POST /v1/tenants/{t}/dead-letters/replay`: `{"all": true}` or
/// `{"event_ids": ["evt_1", ...]}` (1 to [`MAX_REPLAY_IDS`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    pub all: Option<bool>,
    pub event_ids: Option<Vec<String>>,
}

/// Which dead letters a valid request names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    All,
    Ids(Vec<EventId>),
}

fn validate(input: ReplayInput) -> Result<Selection, ConnectError> {
    const HOW: &str = "send {\"all\": true} to replay every dead letter, or {\"event_ids\": [\"evt_1\", ...]} to replay those";
    match (input.all, input.event_ids) {
        (None, None) => Err(ConnectError::Invalid(format!("nothing to replay: {HOW}"))),
        (Some(_), Some(_)) => Err(ConnectError::Invalid(format!("give all or event_ids, not both: {HOW}"))),
        (Some(true), None) => Ok(Selection::All),
        (Some(false), None) => Err(ConnectError::Invalid(format!("all: must be true; {HOW}"))),
        (None, Some(ids)) if ids.is_empty() => Err(ConnectError::Invalid(format!("event_ids: give 1 to {MAX_REPLAY_IDS} event ids"))),
        (None, Some(ids)) if ids.len() > MAX_REPLAY_IDS => Err(ConnectError::Invalid(format!(
            "event_ids: {} given, at most {MAX_REPLAY_IDS} per request; send the rest in further requests, or {{\"all\": true}}",
            ids.len()
        ))),
        (None, Some(ids)) => {
            let mut problems = Vec::new();
            let mut valid: Vec<EventId> = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                match EventId::parse(id) {
                    // The same id twice is replayed once.
                    Ok(id) if valid.contains(&id) => {}
                    Ok(id) => valid.push(id),
                    // The message names the rule, never the value.
                    Err(e) => problems.push(format!("event_ids[{i}]: {e}")),
                }
            }
            if problems.is_empty() {
                Ok(Selection::Ids(valid))
            } else {
                Err(ConnectError::Invalid(problems.join("; ")))
            }
        }
    }
}

/// What a replay did, per event id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReplayReport {
    /// On the activity queue now; no longer dead letters.
    pub replayed: Vec<EventId>,
    /// Named but not a dead letter of this tenant (never was, or already replayed or expired).
    pub not_found: Vec<EventId>,
    /// The queue did not take them: still dead letters, replay them again.
    pub failed: Vec<ReplayFailure>,
    /// `all` only: more dead letters are left than one request replays (or the queue failed
    /// first); send the request again.
    pub more: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReplayFailure {
    pub event_id: EventId,
    /// `queue_unavailable` (retry) or `queue_rejected`.
    pub code: &'static str,
    pub message: String,
}

/// `POST /v1/tenants/{t}/dead-letters/replay`. Refused (409 `not_connected`) while the tenant has
/// no connection: sync skips a tenant's commands for good then. (A tenant that must reconnect is
/// fine: its replayed commands are parked until it does.)
pub async fn replay_dead_letters(ctx: &Connector, t: &TenantId, input: ReplayInput) -> Result<ReplayReport, ConnectError> {
    let selection = validate(input)?;
    let connected = ctx.store.connection(t).await?.is_some_and(|c| c.status != ConnectionStatus::Disconnected);
    if !connected {
        return Err(ConnectError::Conflict {
            code: ConflictCode::NotConnected,
            message: format!(
                "Tenant {t} has no Salesforce connection, and sync skips a tenant's commands for good until it has one. Connect it \
                 first (POST /v1/tenants/{t}/connect), then replay; the dead letters wait meanwhile."
            ),
        });
    }
    let mut report = ReplayReport::default();
    match &selection {
        Selection::Ids(ids) => {
            let mut found = Vec::new();
            for id in ids {
                match ctx.store.dead_letter(t, id).await? {
                    Some(record) => found.push(record),
                    None => report.not_found.push(id.clone()),
                }
            }
            send(ctx, t, found, &mut report).await;
        }
        Selection::All => {
            let mut after: Option<EventId> = None;
            loop {
                let room = MAX_REPLAY_ALL - report.replayed.len() - report.failed.len();
                let page = ctx.store.dead_letters(t, room.min(REPLAY_PAGE), after.as_ref()).await?;
                after = page.dead_letters.last().map(|d| d.event_id.clone()).or(after);
                send(ctx, t, page.dead_letters, &mut report).await;
                report.more = page.next_cursor.is_some();
                let room_left = report.replayed.len() + report.failed.len() < MAX_REPLAY_ALL;
                // Stop at the first refusal: the queue is likely down for the rest too.
                if !report.more || !room_left || !report.failed.is_empty() {
                    break;
                }
            }
        }
    }
    if !report.replayed.is_empty() || !report.failed.is_empty() {
        let requested = match selection {
            Selection::All => "all",
            Selection::Ids(_) => "event_ids",
        };
        let failed: Vec<&EventId> = report.failed.iter().map(|f| &f.event_id).collect();
        ctx.audit
            .record(
                t,
                audit_kind::DEAD_LETTERS_REPLAYED,
                json!({"requested": requested, "replayed": report.replayed, "failed": failed, "not_found": report.not_found.len()}),
            )
            .await?;
    }
    tracing::info!(tenant_id = %t, replayed = report.replayed.len(), failed = report.failed.len(), "dead letters replayed");
    Ok(report)
}

/// Puts the dead letters' bodies on the activity queue and forgets each one the queue took.
async fn send(ctx: &Connector, t: &TenantId, dead_letters: Vec<DeadLetterRecord>, report: &mut ReplayReport) {
    if dead_letters.is_empty() {
        return;
    }
    // The tenant as message group, as every producer does: a big replay waits its turn fairly.
    let messages = dead_letters.iter().map(|d| OutgoingMessage::new(d.body.clone()).with_group_id(t.as_str())).collect();
    let results = sfbridge_core::queue::one_answer_each(dead_letters.len(), ctx.activity.send(messages).await);
    for (d, result) in dead_letters.into_iter().zip(results) {
        match result {
            Ok(()) => {
                if let Err(e) = ctx.store.remove_dead_letter(t, &d.event_id, &d.source_message_id).await {
                    // Harmless: a later replay sends it again, and the ledger acknowledges it then.
                    tracing::warn!(tenant_id = %t, event_id = %d.event_id, error = %e, "replayed a dead letter but could not forget it");
                }
                report.replayed.push(d.event_id);
            }
            Err(e) => {
                tracing::warn!(tenant_id = %t, event_id = %d.event_id, error = %e, "could not replay a dead letter; it stays");
                let (code, message) = match e {
                    QueueError::Unavailable(_) => {
                        ("queue_unavailable", "The activity queue did not take it; it is still a dead letter. Replay it again.".to_owned())
                    }
                    QueueError::Rejected(why) => ("queue_rejected", format!("The activity queue refused it ({why}); it is still a dead letter.")),
                };
                report.failed.push(ReplayFailure { event_id: d.event_id, code, message });
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn ids(ids: &[&str]) -> ReplayInput {
        ReplayInput { all: None, event_ids: Some(ids.iter().map(|s| (*s).to_owned()).collect()) }
    }

    fn refused(input: ReplayInput) -> String {
        match validate(input) {
            Err(ConnectError::Invalid(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_request_names_all_or_some_valid_ids_and_is_told_what_is_wrong() {
        assert_eq!(validate(ReplayInput { all: Some(true), event_ids: None }).unwrap(), Selection::All);
        let e = |s: &str| EventId::parse(s).unwrap();
        assert_eq!(validate(ids(&["e1", "e2", "e1"])).unwrap(), Selection::Ids(vec![e("e1"), e("e2")]), "duplicates once");
        assert!(refused(ReplayInput::default()).starts_with("nothing to replay"));
        assert!(refused(ReplayInput { all: Some(true), event_ids: Some(vec![]) }).contains("not both"));
        assert!(refused(ReplayInput { all: Some(false), event_ids: None }).starts_with("all: must be true"));
        assert!(refused(ids(&[])).contains("1 to 100"));
        let many: Vec<String> = (0..=MAX_REPLAY_IDS).map(|i| format!("e{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(refused(ids(&many)).contains("101 given, at most 100"));
        let bad = refused(ids(&["ok", "CANARY#1", "also ok", ""]));
        assert!(bad.starts_with("event_ids[1]: event_id must be") && bad.contains("event_ids[2]") && bad.contains("event_ids[3]"), "{bad}");
        assert!(!bad.contains("CANARY"), "values are not echoed: {bad}");
    }
}
