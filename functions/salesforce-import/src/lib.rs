//! The import function. Two kinds of invocation reach it:
//!
//! - an SQS batch from the import queue (batch size 1: a run's step can take minutes), each
//!   message a run's next step; the ones to retry come back as `batchItemFailures`;
//! - the schedule's tick (`{"sfbridge": "import_tick"}`, from EventBridge Scheduler), which starts
//!   the due tenants' incremental runs and resumes parked ones.
//!
//! The work is `sfbridge_import`; this maps the Lambda shapes onto it.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::Deserialize;
use serde_json::Value;
use sfbridge_import::run::Handled;
use sfbridge_import::{service, Importer, TickReport};

/// What the schedule sends (template.yaml `ImportTickSchedule`).
pub const TICK_INPUT: &str = r#"{"sfbridge": "import_tick"}"#;

/// An invocation's payload.
#[derive(Debug)]
pub enum Invocation {
    Batch(SqsEvent),
    Tick,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TickInput {
    sfbridge: String,
}

impl Invocation {
    /// An SQS event (it has `Records`), or the tick; anything else is refused.
    pub fn parse(payload: Value) -> Result<Self, String> {
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload).map(Self::Batch).map_err(|e| format!("an SQS event that does not parse: {e}"));
        }
        match serde_json::from_value::<TickInput>(payload) {
            Ok(tick) if tick.sfbridge == "import_tick" => Ok(Self::Tick),
            _ => Err(format!("not an SQS event nor the tick ({TICK_INPUT})")),
        }
    }
}

/// What an invocation answers: the batch's failures, or the tick's report.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Answer {
    Batch(SqsBatchResponse),
    Tick(TickReport),
}

/// Handles one invocation, stopping each run's step before `deadline` (the invocation's).
pub async fn handle(importer: &Importer, invocation: Invocation, deadline: tokio::time::Instant) -> Result<Answer, String> {
    match invocation {
        Invocation::Batch(event) => Ok(Answer::Batch(handle_batch(importer, event, deadline).await)),
        Invocation::Tick => service::tick(importer).await.map(Answer::Tick).map_err(|e| e.to_string()),
    }
}

/// Each message a run's step; a step that must come back later is a batch item failure.
pub async fn handle_batch(importer: &Importer, event: SqsEvent, deadline: tokio::time::Instant) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(id) = record.message_id.filter(|id| !id.is_empty()) else {
            tracing::error!("an SQS record without a messageId was skipped");
            continue;
        };
        let body = record.body.unwrap_or_default();
        if let Handled::Retry(why) = sfbridge_import::run::handle(importer, &body, deadline).await {
            // In a minute rather than at the queue's visibility timeout (6 x the function's).
            let sooner = match record.receipt_handle.as_deref() {
                Some(handle) => importer.retry_later(handle, sfbridge_import::STEP_RETRY).await,
                None => false,
            };
            tracing::info!(message_id = %id, reason = %why, in_a_minute = sooner, "import step comes back later");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn invocations_are_sqs_batches_or_the_tick_and_nothing_else() {
        assert!(matches!(Invocation::parse(serde_json::from_str(TICK_INPUT).unwrap()), Ok(Invocation::Tick)));
        assert!(matches!(Invocation::parse(json!({"Records": []})), Ok(Invocation::Batch(_))));
        assert!(Invocation::parse(json!({"sfbridge": "sync_everything"})).is_err());
        assert!(Invocation::parse(json!({"detail-type": "Scheduled Event"})).is_err());
    }
}
