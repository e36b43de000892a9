//! Commands that can never run: to the dead-letter queue with the reason, and into the tenant's
//! delivery log when they name a tenant and an event.

use std::collections::HashMap;

use sfbridge_core::queue::OutgoingMessage;
use sfbridge_core::store::{DeliveryOutcome, DeliveryRecord};

use crate::command::CommandError;
use crate::{Worker, DLQ_CODE_ATTRIBUTE, DLQ_REASON_ATTRIBUTE, DLQ_SOURCE_ATTRIBUTE};

/// Sends messages to the dead-letter queue with their reason; returns those it could not send
/// (they stay on the source queue and reach the DLQ by its redrive policy at worst).
pub(crate) async fn dead_letter(ctx: &Worker, bodies: &HashMap<String, String>, dead: Vec<(String, String, String)>) -> Vec<String> {
    if dead.is_empty() {
        return Vec::new();
    }
    let messages = dead
        .iter()
        .map(|(id, code, reason)| {
            // SQS refuses empty bodies; keep the message recognisable as what arrived.
            let body = bodies.get(id).filter(|b| !b.is_empty()).cloned().unwrap_or_else(|| "(empty message body)".to_owned());
            OutgoingMessage::new(body)
                .with_attribute(DLQ_CODE_ATTRIBUTE, attribute_text(code))
                .with_attribute(DLQ_REASON_ATTRIBUTE, attribute_text(reason))
                .with_attribute(DLQ_SOURCE_ATTRIBUTE, id.clone())
        })
        .collect();
    let results = sfbridge_core::queue::one_answer_each(dead.len(), ctx.dead_letter.send(messages).await);
    dead.into_iter()
        .zip(results)
        .filter_map(|((id, _, _), result)| {
            result.err().map(|e| {
                tracing::warn!(message_id = %id, error = %e, "could not dead-letter; SQS will redeliver");
                id
            })
        })
        .collect()
}

/// Message attributes must be non-empty, in SQS's character set, and small.
fn attribute_text(text: &str) -> String {
    const MAX_CHARS: usize = 1000;
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_CHARS).collect();
    if clean.trim().is_empty() {
        "unknown".to_owned()
    } else {
        clean
    }
}

/// A command that cannot run still shows in its tenant's delivery log, when it names one.
pub(crate) async fn log_unrunnable(ctx: &Worker, e: &CommandError) {
    let (Some(t), Some(event_id)) = (&e.tenant_id, &e.event_id) else { return };
    let record = DeliveryRecord {
        event_id: event_id.clone(),
        at: ctx.clock.now(),
        outcome: DeliveryOutcome::Failed,
        command_type: "unknown".into(),
        campaign_id: None,
        activity: None,
        email: None,
        record_id: None,
        task_id: None,
        code: Some(e.code.to_owned()),
        reason: Some(e.message.clone()),
    };
    if let Err(err) = ctx.store.append_delivery(t, &record).await {
        tracing::warn!(tenant_id = %t, error = %err, "could not write the delivery log");
    }
}

