//! The benchmark's activity events: a fixed pseudo-random (same every run) mix over the six kinds,
//! spread over the contacts, as sync commands the product would put on the activity queue.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::env::{contact_email, CAMPAIGN, CAMPAIGN_NAME, TENANT};

/// Kinds and their weight (per 200), an outreach campaign's funnel as the sync-engine issue states
/// it: 40 % sent, 30 % opened, 15 % clicked, 10 % replied, 5 % unsubscribed or bounced.
pub const MIX: &[(&str, u64)] = &[
    ("email_sent", 80),
    ("email_opened", 60),
    ("email_clicked", 30),
    ("email_replied", 20),
    ("email_bounced", 5),
    ("unsubscribed", 5),
];

#[derive(Debug, Clone)]
pub struct Event {
    pub message_id: String,
    pub kind: &'static str,
    pub contact: usize,
    pub email: String,
    pub occurred_at: DateTime<Utc>,
    /// The sync command, as the SQS message body.
    pub body: String,
}

/// `count` events over `contacts` contacts. Deterministic.
pub fn generate(count: usize, contacts: usize) -> Vec<Event> {
    let mut rng = SplitMix64(0x05fb_1d9e_2026);
    let start = DateTime::<Utc>::from_timestamp(1_795_600_800, 0).unwrap_or_default(); // 2026-11-25 10:00 UTC
    let total: u64 = MIX.iter().map(|(_, w)| w).sum();
    (0..count)
        .map(|i| {
            let contact = (rng.next() % contacts.max(1) as u64) as usize;
            let mut roll = rng.next() % total;
            let mut kind = MIX[0].0;
            for (k, weight) in MIX {
                if roll < *weight {
                    kind = k;
                    break;
                }
                roll -= weight;
            }
            let email = contact_email(contact);
            let occurred_at = start + Duration::seconds(i as i64 * 17);
            let event_id = format!("evt_{i:06}");
            let body = json!({
                "version": 1, "type": "activity", "event_id": event_id, "tenant_id": TENANT,
                "campaign_id": CAMPAIGN, "campaign_name": CAMPAIGN_NAME, "activity": kind,
                "contact": {"email": email, "name": format!("Person Number{contact}")},
                "occurred_at": occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "email": {"subject": "Quick question", "snippet": "Hi, following up on my last note"},
            })
            .to_string();
            Event { message_id: format!("msg-{i:06}"), kind, contact, email, occurred_at, body }
        })
        .collect()
}

/// Count per kind, in [`MIX`] order.
pub fn mix_of(events: &[Event]) -> Vec<(&'static str, usize)> {
    MIX.iter().map(|(k, _)| (*k, events.iter().filter(|e| e.kind == *k).count())).collect()
}

/// A tiny fixed-seed generator, so the event list is the same in every run without a dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
