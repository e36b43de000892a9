//! The push commands beside activity: 1,000 commands of all four types (the activity events of the
//! main scenario with field updates, campaign updates and record upserts mixed in), through the
//! real handler at the deployed batch size, and what a naive integration would call for them.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{bail, Context as _};
use reqwest::{Client, Method, StatusCode};
use salesforce_sim::{FieldKind, FieldSpec};
use serde_json::{json, Value};
use sfbridge_local::worker::{invoke, sqs_record};

use crate::env::{contact_email, Env, TENANT};
use crate::events::Event;
use crate::scenarios::Measured;

/// The mix per 20 commands: 8 activity, 5 field updates, 2 campaign updates (a note; every
/// other one with a state), 5 record upserts.
fn command(i: usize, activity: &Event, contacts: usize, campaign: &str) -> (Value, usize) {
    let id = format!("mix_{i:06}");
    let at = activity.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match i % 20 {
        0..=7 => (serde_json::from_str(&activity.body).unwrap_or_default(), 2),
        8..=12 => {
            let email = contact_email(i % contacts);
            let body = json!({"version": 1, "type": "field_update", "event_id": id, "tenant_id": TENANT,
                "contact": {"email": email}, "values": {"nps_score": i % 11}, "occurred_at": at});
            (body, 2)
        }
        13 | 14 => {
            let mut body = json!({"version": 1, "type": "campaign_update", "event_id": id, "tenant_id": TENANT,
                "campaign": {"salesforce_id": campaign}, "note": format!("Checkpoint {i}"), "occurred_at": at});
            if i % 40 == 13 {
                body["state"] = json!("running");
                return (body, 2);
            }
            (body, 1)
        }
        _ => {
            let body = json!({"version": 1, "type": "record_upsert", "event_id": id, "tenant_id": TENANT,
                "object": "Engagement_Event__c", "external_id_field": "Event_Id__c", "external_id": format!("ev_{i}"),
                "fields": {"Name": format!("Event {i}")}, "occurred_at": at});
            (body, 1)
        }
    }
}

/// The handler on `activities.len()` mixed commands at `batch` a call, and the calls a naive
/// integration makes for the same commands (per command: a lookup and a write for an activity
/// or a field update, a write per Campaign change, one upsert call per record; computed, as the
/// measured activity baseline shows it grows linearly).
pub async fn run(env: &Env, activities: &[Event], contacts: usize, batch: usize) -> anyhow::Result<(Measured, usize)> {
    env.sim.add_custom_field("Contact", "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0));
    env.sim.add_custom_field("Lead", "NPS_Score__c", FieldSpec::new(FieldKind::Double).with_digits(3, 0));
    env.sim.add_custom_object("Engagement_Event__c", "Engagement Event");
    env.sim.add_custom_field("Engagement_Event__c", "Event_Id__c", FieldSpec::unique_external_id(FieldKind::String));
    let campaign = env.sim.insert_record("Campaign", json!({"Name": "Checkout CTA", "Status": "Planned"})).map_err(anyhow::Error::msg)?;
    env.patch_settings(json!({"attribute_mapping": {"nps_score": {"contact": "NPS_Score__c", "lead": "NPS_Score__c"}}})).await?;

    let mut naive = 0;
    let commands: Vec<(String, String)> = activities
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (body, calls) = command(i, a, contacts, &campaign);
            naive += calls;
            (format!("mix-{i:06}"), body.to_string())
        })
        .collect();
    let calls_before = env.sim.rest_calls();
    let started = Instant::now();
    for chunk in commands.chunks(batch) {
        let records = chunk.iter().map(|(id, body)| sqs_record(Some(id.clone()), Some(body.clone()))).collect();
        let failed = invoke(&env.ctx.worker, records).await;
        if !failed.is_empty() {
            bail!("{} commands failed without faults", failed.len());
        }
    }
    let wall = started.elapsed();
    let calls = env.sim.rest_calls() - calls_before;

    let mut problems = Vec::new();
    let notes = (0..commands.len()).filter(|i| matches!(i % 20, 13 | 14)).count();
    let activity_tasks = (0..commands.len()).filter(|i| i % 20 <= 7).count();
    let tasks = env.sim.records("Task").len();
    if tasks != activity_tasks + notes {
        problems.push(format!("{tasks} Tasks for {activity_tasks} activities and {notes} notes"));
    }
    let upserts = (0..commands.len()).filter(|i| i % 20 >= 15).count();
    let records: HashSet<String> =
        env.sim.records("Engagement_Event__c").iter().filter_map(|r| r["Event_Id__c"].as_str().map(str::to_owned)).collect();
    if records.len() != upserts {
        problems.push(format!("{} records for {upserts} upserts", records.len()));
    }
    let dead = env.ctx.store.dead_letters(&env.tenant, 10, None).await?.dead_letters.len();
    if dead > 0 {
        problems.push(format!("{dead} commands dead-lettered"));
    }
    let name = format!("handler, batch {batch}, all four types");
    Ok((Measured { name, events: commands.len(), calls, wall, redelivered: 0, injected: 0, problems }, naive))
}

impl Env {
    /// `PATCH /v1/tenants/{t}/settings`, as the product's backend would.
    pub async fn patch_settings(&self, patch: Value) -> anyhow::Result<()> {
        let response = Client::new()
            .request(Method::PATCH, format!("{}/v1/tenants/{TENANT}/settings", self.base_url))
            .bearer_auth(&self.admin_token)
            .json(&patch)
            .send()
            .await
            .context("PATCH settings")?;
        if response.status() != StatusCode::OK {
            bail!("PATCH settings: {}: {}", response.status(), response.text().await.unwrap_or_default());
        }
        Ok(())
    }
}
