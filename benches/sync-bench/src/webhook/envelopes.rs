//! Outbound Message envelopes as Salesforce sends them (the WSDL's shape, with "Send Session ID"
//! ticked): Opportunity notifications of 8 selected fields each, every one with a notification id
//! never used before in the run.

use std::fmt::Write as _;

use axum::body::Bytes;
use sfbridge_core::domain::SalesforceId;

/// One envelope: its body and the notification ids it carries (18 characters), in order.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub body: Bytes,
    pub ids: Vec<String>,
}

/// Hands out notification numbers; each becomes a distinct notification id and record id.
#[derive(Debug, Default)]
pub struct Numbers {
    next: u64,
}

impl Numbers {
    fn take(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// The 18-character form of a 15-character id (Salesforce sends 18).
fn id18(id15: &str) -> anyhow::Result<String> {
    Ok(SalesforceId::parse(id15)?.as_str().to_owned())
}

/// `count` envelopes of `per_envelope` fresh notifications each.
pub fn generate(numbers: &mut Numbers, org18: &str, count: usize, per_envelope: usize) -> anyhow::Result<Vec<Envelope>> {
    (0..count)
        .map(|_| {
            let notes = (0..per_envelope).map(|_| numbers.take()).collect::<Vec<_>>();
            envelope(org18, &notes)
        })
        .collect()
}

/// One envelope carrying the notifications numbered `notes`.
pub fn envelope(org18: &str, notes: &[u64]) -> anyhow::Result<Envelope> {
    let mut xml = String::with_capacity(700 + notes.len() * 720);
    xml.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" ",
        "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
        " <soapenv:Body>\n",
        "  <notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">\n",
    ));
    let org15 = &org18[..15.min(org18.len())];
    writeln!(xml, "   <OrganizationId>{org18}</OrganizationId>")?;
    xml.push_str("   <ActionId>04k5g000000XyzAAAS</ActionId>\n");
    writeln!(xml, "   <SessionId>{org15}!AQ0AQBenchSessionIdScopedToApiOnly.NotARealSession</SessionId>")?;
    writeln!(xml, "   <EnterpriseUrl>https://bench.my.salesforce.com/services/Soap/c/66.0/{org15}</EnterpriseUrl>")?;
    writeln!(xml, "   <PartnerUrl>https://bench.my.salesforce.com/services/Soap/u/66.0/{org15}</PartnerUrl>")?;
    let mut ids = Vec::with_capacity(notes.len());
    for &n in notes {
        let id = id18(&format!("04l5g{n:010}"))?;
        let record = id18(&format!("0065g{n:010}"))?;
        let account = id18(&format!("0015g{:010}", n % 997))?;
        let won = n % 2 == 0;
        let (stage, is_won) = if won { ("Closed Won", "true") } else { ("Prospecting", "false") };
        write!(
            xml,
            concat!(
                "   <Notification>\n",
                "    <Id>{id}</Id>\n",
                "    <sObject xsi:type=\"sf:Opportunity\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n",
                "     <sf:Id>{record}</sf:Id>\n",
                "     <sf:AccountId>{account}</sf:AccountId>\n",
                "     <sf:Amount>{amount}.0</sf:Amount>\n",
                "     <sf:CloseDate>2026-12-15</sf:CloseDate>\n",
                "     <sf:IsWon>{is_won}</sf:IsWon>\n",
                "     <sf:LastModifiedDate>2026-11-20T14:03:11.000Z</sf:LastModifiedDate>\n",
                "     <sf:Name>Account {n} &amp; Co &lt;Annual Renewal&gt;</sf:Name>\n",
                "     <sf:StageName>{stage}</sf:StageName>\n",
                "     <sf:Experiment_Id__c>exp_{exp:06x}</sf:Experiment_Id__c>\n",
                "    </sObject>\n",
                "   </Notification>\n",
            ),
            id = id,
            record = record,
            account = account,
            amount = 1000 + (n % 50) * 1000,
            is_won = is_won,
            n = n,
            stage = stage,
            exp = n % 4096,
        )?;
        ids.push(id);
    }
    xml.push_str("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n");
    Ok(Envelope { body: Bytes::from(xml), ids })
}
