//! What `sfbridge-local --simulate-salesforce` prints at start: each value under the label the
//! README's walk-through names it by (`<admin token>`, `<consumer_key>`, `<consumer_secret>`,
//! `<login_url>`), then the walk-through's commands with those values filled in. The README has
//! every command word for word (`tests/walkthrough.rs` keeps the two equal), so a reader can
//! follow either.

use crate::DemoApp;

/// The simulated org's demo app, one labelled value a line: the labels are the fields of the
/// credentials body they go into.
pub fn demo_app(demo: &DemoApp) -> String {
    format!(
        "Simulated Salesforce org and its demo External Client App:\n  \
         login_url       {}\n  \
         consumer_key    {}\n  \
         consumer_secret {}   (of the simulated org's demo app only)\n",
        demo.login_url, demo.consumer_key, demo.consumer_secret
    )
}

/// The walk-through's commands, in sections, each line indented by two spaces.
pub fn try_it(base: &str, admin_token: &str, demo: &DemoApp) -> String {
    let (key, secret, login_url) = (&demo.consumer_key, &demo.consumer_secret, &demo.login_url);
    let sections: [(&str, Vec<String>); 3] = [
        (
            "Try it:",
            vec![
                format!("export SFB={base} TOKEN={admin_token}"),
                format!(
                    "curl -sS -X PUT $SFB/v1/tenants/team_42/credentials -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n  \
                     -d '{{\"consumer_key\":\"{key}\",\"consumer_secret\":\"{secret}\",\"login_url\":\"{login_url}\"}}'"
                ),
                "curl -sS -X POST $SFB/v1/tenants/team_42/connect -H \"Authorization: Bearer $TOKEN\"".to_owned(),
                format!("# open connect_url in a browser (or paste it into {base}/demo), click Allow, then:"),
                "curl -sS $SFB/v1/tenants/team_42/connection -H \"Authorization: Bearer $TOKEN\"".to_owned(),
            ],
        ),
        (
            "Then activity (the simulated org has Contacts ada@, grace@ and alan@example.com):",
            vec![
                "curl -sS -X PUT $SFB/v1/tenants/team_42/campaigns/cmp_7 -H \"Authorization: Bearer $TOKEN\" \\\n  \
                 -H 'Content-Type: application/json' -d '{\"enabled\": true}'"
                    .to_owned(),
                "curl -sS -X POST $SFB/local/activity -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n  \
                 -d '{\"version\":1,\"type\":\"activity\",\"event_id\":\"evt_1\",\"tenant_id\":\"team_42\",\"campaign_id\":\"cmp_7\",\n       \
                 \"campaign_name\":\"Q1 Outreach\",\"activity\":\"email_opened\",\"contact\":{\"email\":\"ada@example.com\"},\n       \
                 \"occurred_at\":\"2026-11-20T10:00:00Z\",\"email\":{\"subject\":\"Hello\",\"snippet\":\"Hi Ada\"}}'"
                    .to_owned(),
                "curl -sS $SFB/v1/tenants/team_42/deliveries -H \"Authorization: Bearer $TOKEN\"".to_owned(),
                "curl -sS $SFB/local/salesforce/Task".to_owned(),
            ],
        ),
        (
            "Then webhooks from Salesforce (create a secret; it is shown once):",
            vec![
                "curl -sS -X POST $SFB/v1/tenants/team_42/webhook-secrets -H \"Authorization: Bearer $TOKEN\"".to_owned(),
                "export WHSEC=<the secret>".to_owned(),
                "curl -sS -X POST $SFB/webhooks/salesforce/team_42 -H \"x-salesforce-webhook-secret: $WHSEC\" \\\n  \
                 -H 'Content-Type: application/json' \\\n  \
                 -d '{\"id\":\"c-1\",\"event_type\":\"campaign_updated\",\"campaign_id\":\"701xx000000001AAAQ\",\"status\":\"Completed\",\"experiment_key\":\"checkout-button-color\"}'"
                    .to_owned(),
                "curl -sS $SFB/local/inbound-events -H \"Authorization: Bearer $TOKEN\"".to_owned(),
            ],
        ),
    ];
    let mut out = String::new();
    for (title, commands) in sections {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        for line in commands.iter().flat_map(|c| c.lines()) {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
