//! The Salesforce Outbound Message envelope (SOAP 1.1): a hardened, namespace-checked pull parser,
//! the ACK Salesforce expects, and the fault that explains a rejection.
//!
//! The body comes from the internet before anything in it can be trusted (the tenant check on
//! `OrganizationId` needs the parse), so the parser is built to fail fast and cheaply:
//!
//! - No DTDs: any `<!DOCTYPE` is refused, so entity expansion (billion laughs, quadratic blowup)
//!   and external entities (XXE to `file://` or the instance metadata endpoint) cannot happen.
//!   Only the five predefined entities and character references are resolved; any other `&name;`
//!   is refused.
//! - Elements nest at most [`MAX_DEPTH`] deep (an envelope needs 6), checked as each start tag is
//!   read, so a deeply nested document fails at the first level too many.
//! - At most [`MAX_FIELDS`] fields per sObject, [`MAX_FIELD_CHARS`] characters per field value and
//!   [`MAX_NOTIFICATIONS`] notifications per envelope.
//! - UTF-8 only; malformed XML, mismatched or missing end tags, undeclared namespace prefixes
//!   and content after the envelope are refused.
//! - No DOM: one pass over the borrowed input (zero-copy events); only the values kept are
//!   copied. The work is linear in the body, whose size the receiver bounds
//!   ([`super::MAX_BODY_BYTES`]).
//!
//! Element semantics (the Outbound Messaging WSDL):
//!
//! - `soapenv:Envelope/soapenv:Body/notifications` (namespace
//!   `http://soap.sforce.com/2005/09/outbound`) holds `OrganizationId` (required), `ActionId`,
//!   `SessionId`, `EnterpriseUrl`, `PartnerUrl` and 1 to 100 `Notification`s.
//! - `SessionId` is a live API session when "Send Session ID" is ticked. It is skipped unread and
//!   never appears in the result or in an error message.
//! - Each `Notification` holds `Id` (the deduplication key) and `sObject`, whose `xsi:type`
//!   (`sf:Opportunity`) names the object. Its children in `urn:sobject.enterprise.soap.sforce.com`
//!   are the selected fields: `sf:Id` becomes `record_id`, every other one a string in `fields`
//!   (`xsi:nil="true"` becomes `null`; a repeated field keeps its last value). Salesforce sends
//!   only scalar fields, so a field element that has child elements is skipped and stored as
//!   `null` rather than guessed at.
//! - Unknown elements around the fields are skipped (still subject to the limits), so a newer
//!   WSDL that adds elements keeps working. Inside `sObject`, an element in another namespace is
//!   refused: skipping it would turn an update into what looks like a deleted record's empty
//!   notification.
//!
//! Error messages say what is wrong and where (notification number, field name) but never quote
//! values from the body.

use std::borrow::Cow;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{Namespace, QName, ResolveResult};
use quick_xml::reader::NsReader;
use serde_json::{Map, Value};

use super::{InvalidPayload, Notification, OutboundMessage, MAX_NOTIFICATIONS};
use sfbridge_core::domain::SalesforceId;

/// The acknowledgement Salesforce requires (HTTP 200, `Content-Type: text/xml`). Anything else
/// counts as a failed delivery and the whole message is retried.
pub const ACK: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
    "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">\n",
    " <soapenv:Body>\n",
    "  <notificationsResponse xmlns=\"http://soap.sforce.com/2005/09/outbound\">\n",
    "   <Ack>true</Ack>\n",
    "  </notificationsResponse>\n",
    " </soapenv:Body>\n",
    "</soapenv:Envelope>\n",
);

/// Maximum element nesting. A valid envelope needs 6 (Envelope, Body, notifications,
/// Notification, sObject, field); the slack tolerates a SOAP header or unknown wrappers.
pub const MAX_DEPTH: usize = 12;
/// Maximum field elements in one sObject. Salesforce lets an Outbound Message select every field
/// of the object; 1,000 is above the field count of any standard object.
pub const MAX_FIELDS: usize = 1_000;
/// Maximum characters in one field value: the largest Salesforce text field (Long Text Area,
/// 131,072 characters).
pub const MAX_FIELD_CHARS: usize = 131_072;

/// `EnterpriseUrl`/`PartnerUrl` are an instance URL plus `/services/Soap/c/66.0/{org}`.
const MAX_URL_CHARS: usize = 2_048;

/// An id element's text may carry surrounding whitespace; anything longer is not an id.
const MAX_ID_CHARS: usize = 64;
/// Salesforce API names (objects, fields) are at most 80 characters (40 + namespace + suffix).
const MAX_API_NAME_CHARS: usize = 80;

const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const OUTBOUND_NS: &str = "http://soap.sforce.com/2005/09/outbound";
const SOBJECT_NS: &str = "urn:sobject.enterprise.soap.sforce.com";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

const NOT_SOAP: &str = "the body is not a SOAP Outbound Message";

/// A SOAP 1.1 client fault carrying `message`, so the reason for a rejection shows in
/// Salesforce's "View Message Delivery Status".
pub fn fault(message: &str) -> String {
    let mut out = String::with_capacity(320 + message.len());
    out.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">\n",
        " <soapenv:Body>\n",
        "  <soapenv:Fault>\n",
        "   <faultcode>soapenv:Client</faultcode>\n",
        "   <faultstring>",
    ));
    // Characters XML 1.0 cannot carry at all become U+FFFD so the fault itself always parses.
    let message: String = message.chars().map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }).collect();
    out.push_str(&quick_xml::escape::escape(message.as_str()));
    out.push_str(concat!("</faultstring>\n", "  </soapenv:Fault>\n", " </soapenv:Body>\n", "</soapenv:Envelope>\n",));
    out
}

/// The XML 1.0 `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Parses an Outbound Message body. See the module documentation for what is accepted.
pub fn parse(body: &[u8]) -> Result<OutboundMessage, InvalidPayload> {
    let mut r = Reader::new(body);

    let envelope = loop {
        match r.next()? {
            Ev::Start(e) => break e,
            Ev::Empty(e) if r.is(&e, SOAP_ENV_NS, "Envelope") => return Err(missing("the SOAP Body")),
            Ev::Text(t) if is_blank(&t) => {}
            Ev::Eof if body.iter().all(u8::is_ascii_whitespace) => {
                return Err(InvalidPayload::new(format!("{NOT_SOAP}: it is empty")));
            }
            _ => return Err(InvalidPayload::new(format!("{NOT_SOAP}: it has no SOAP Envelope element"))),
        }
    };
    if !r.is(&envelope, SOAP_ENV_NS, "Envelope") {
        return Err(InvalidPayload::new(format!(
            "{NOT_SOAP}: its root element is not a SOAP 1.1 Envelope (namespace {SOAP_ENV_NS})"
        )));
    }

    let mut message = None;
    loop {
        match r.next()? {
            Ev::Start(e) if r.is(&e, SOAP_ENV_NS, "Body") => {
                if message.is_some() {
                    return Err(InvalidPayload::new(format!("{NOT_SOAP}: it has more than one SOAP Body")));
                }
                message = Some(r.body()?);
            }
            Ev::Start(_) => r.skip()?,
            Ev::End => break,
            Ev::Eof => return Err(truncated()),
            Ev::Empty(_) | Ev::Text(_) | Ev::Char(_) => {}
        }
    }

    loop {
        match r.next()? {
            Ev::Eof => break,
            Ev::Text(t) if is_blank(&t) => {}
            _ => {
                return Err(InvalidPayload::new(
                    "the body has content after the end of the SOAP Envelope; send exactly one XML document",
                ))
            }
        }
    }

    message.ok_or_else(|| missing("the SOAP Body"))
}

fn truncated() -> InvalidPayload {
    InvalidPayload::new("the body ends before the SOAP Envelope is closed (truncated request?)")
}

fn is_blank(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// One step of the document, with markup that carries no data (comments, processing
/// instructions, the XML declaration) already dropped and references already resolved.
enum Ev<'a> {
    Start(BytesStart<'a>),
    Empty(BytesStart<'a>),
    End,
    Text(Cow<'a, str>),
    Char(char),
    Eof,
}

struct Reader<'a> {
    body: &'a [u8],
    xml: NsReader<&'a [u8]>,
    /// Open elements; the next start tag would be at `depth + 1`.
    depth: usize,
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8]) -> Self {
        let mut xml = NsReader::from_reader(body);
        // Spelled out because the checks above rely on them, whatever the defaults become.
        let config = xml.config_mut();
        config.enable_all_checks(true);
        config.trim_text(false);
        config.expand_empty_elements = false;
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
        Self { body, xml, depth: 0 }
    }

    fn next(&mut self) -> Result<Ev<'a>, InvalidPayload> {
        loop {
            let event = match self.xml.read_event() {
                Ok(event) => event,
                Err(e) => return Err(self.xml_error(&e)),
            };
            return Ok(match event {
                Event::Start(e) => {
                    self.enter(&e)?;
                    self.depth += 1;
                    Ev::Start(e)
                }
                Event::Empty(e) => {
                    self.enter(&e)?;
                    Ev::Empty(e)
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    Ev::End
                }
                Event::Text(t) => Ev::Text(t.xml10_content()),
                Event::CData(t) => Ev::Text(t.xml10_content()),
                Event::GeneralRef(r) => Ev::Char(resolve_reference(&r)?),
                Event::DocType(_) => return Err(InvalidPayload::new(
                    "DOCTYPE is not allowed: Outbound Messages never carry a DTD, and entity definitions are refused",
                )),
                Event::Decl(d) => {
                    let utf8 = match d.encoding() {
                        None => true,
                        Some(Ok(enc)) => enc.eq_ignore_ascii_case("UTF-8") || enc.eq_ignore_ascii_case("UTF8"),
                        Some(Err(_)) => false,
                    };
                    if !utf8 {
                        return Err(InvalidPayload::new(
                            "the XML declaration names an encoding other than UTF-8; Outbound Messages are UTF-8",
                        ));
                    }
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Eof => Ev::Eof,
            });
        }
    }

    /// Checks a start tag before anything else looks at it.
    fn enter(&self, e: &BytesStart<'_>) -> Result<(), InvalidPayload> {
        if self.depth >= MAX_DEPTH {
            return Err(InvalidPayload::new(format!("{NOT_SOAP}: elements are nested more than {MAX_DEPTH} deep")));
        }
        // Elsewhere an unknown prefix would just not match, silently skipping the element.
        if let (ResolveResult::Unknown(_), _) = self.xml.resolver().resolve_element(e.name()) {
            return Err(InvalidPayload::new(
                "the body is not well-formed XML: an element uses an undeclared namespace prefix",
            ));
        }
        Ok(())
    }

    /// quick-xml's messages can quote names and text from the body, so each kind gets our own
    /// wording; the byte offset helps find the spot without showing it.
    fn xml_error(&self, error: &quick_xml::Error) -> InvalidPayload {
        use quick_xml::errors::IllFormedError;
        use quick_xml::name::NamespaceError;
        use quick_xml::Error as X;
        let what: Cow<'static, str> = match error {
            X::Syntax(e) => e.to_string().into(),
            X::IllFormed(
                IllFormedError::MismatchedEndTag { .. }
                | IllFormedError::UnmatchedEndTag(_)
                | IllFormedError::MissingEndTag(_),
            ) => "an end tag does not match the open element".into(),
            X::IllFormed(IllFormedError::MissingDoctypeName) => "DOCTYPE is not allowed".into(),
            X::IllFormed(IllFormedError::UnclosedReference) => {
                "an `&` does not start an entity or character reference (write it as `&amp;`)".into()
            }
            X::IllFormed(IllFormedError::DoubleHyphenInComment) => "a comment contains `--`".into(),
            X::IllFormed(_) => "the XML declaration is invalid".into(),
            X::Encoding(_) => {
                let at = std::str::from_utf8(self.body).err().map_or(0, |e| e.valid_up_to());
                return InvalidPayload::new(format!("the body is not valid UTF-8 (at byte {at})"));
            }
            X::Escape(_) => "a character reference does not name a valid character".into(),
            X::InvalidAttr(_) => "an attribute is malformed".into(),
            X::Namespace(NamespaceError::TooManyBindings(limit)) => {
                format!("more than {limit} namespace declarations are in scope").into()
            }
            X::Namespace(_) => "a namespace declaration is invalid".into(),
            X::Io(_) => "the body could not be read".into(),
        };
        // quick-xml records an exact error offset only for syntax errors; otherwise the reader
        // has just passed the offending markup.
        let at = match error {
            X::Syntax(_) | X::IllFormed(_) => self.xml.error_position(),
            _ => self.xml.buffer_position(),
        };
        InvalidPayload::new(format!("the body is not well-formed XML: {what} (near byte {at})"))
    }

    /// Whether `e` is `{ns}local`.
    fn is(&self, e: &BytesStart<'_>, ns: &str, local: &str) -> bool {
        self.local_in(e, ns) == Some(local)
    }

    /// `e`'s local name when it is in namespace `ns`.
    fn local_in<'e>(&self, e: &'e BytesStart<'_>, ns: &str) -> Option<&'e str> {
        match self.xml.resolver().resolve_element(e.name()) {
            (ResolveResult::Bound(Namespace(bound)), local) if bound == ns => Some(local.into_inner()),
            _ => None,
        }
    }

    /// Consumes the rest of the element whose start tag was just read.
    fn skip(&mut self) -> Result<(), InvalidPayload> {
        let level = self.depth;
        while self.depth >= level {
            if let Ev::Eof = self.next()? {
                return Err(truncated());
            }
        }
        Ok(())
    }

    /// The text of the element whose start tag was just read, through its end tag; `None` when
    /// it has child elements (skipped).
    fn text(
        &mut self,
        max_chars: usize,
        too_long: impl Fn() -> InvalidPayload,
    ) -> Result<Option<String>, InvalidPayload> {
        let level = self.depth;
        let mut out = String::new();
        let mut chars = 0usize;
        let mut nested = false;
        loop {
            match self.next()? {
                Ev::Text(t) if !nested => {
                    for c in t.chars() {
                        // quick-xml leaves text unchecked; XML 1.0 (and SQS) refuse these.
                        if !is_xml_char(c) {
                            return Err(InvalidPayload::new(format!(
                                "{NOT_SOAP}: a value holds U+{:04X}, a character XML does not allow",
                                u32::from(c)
                            )));
                        }
                        chars += 1;
                    }
                    if chars > max_chars {
                        return Err(too_long());
                    }
                    if out.is_empty() {
                        out = t.into_owned();
                    } else {
                        out.push_str(&t);
                    }
                }
                Ev::Char(c) if !nested => {
                    chars += 1;
                    if chars > max_chars {
                        return Err(too_long());
                    }
                    out.push(c);
                }
                Ev::Start(_) | Ev::Empty(_) => {
                    nested = true;
                    out = String::new();
                }
                Ev::End if self.depth < level => return Ok((!nested).then_some(out)),
                Ev::Eof => return Err(truncated()),
                Ev::End | Ev::Text(_) | Ev::Char(_) => {}
            }
        }
    }

    /// Whether an attribute name is `{XSI_NS}local`.
    fn is_xsi(&self, key: QName<'_>, local: &str) -> bool {
        matches!(
            self.xml.resolver().resolve_attribute(key),
            (ResolveResult::Bound(Namespace(XSI_NS)), name) if name.into_inner() == local
        )
    }

    /// `xsi:nil="true"` on `e`.
    fn is_nil(&self, e: &BytesStart<'_>) -> Result<bool, InvalidPayload> {
        for attr in e.attributes() {
            let attr = attr.map_err(|_| malformed_attribute())?;
            if self.is_xsi(attr.key, "nil") {
                return Ok(matches!(attr.value.trim_matches(is_xml_space), "true" | "1"));
            }
        }
        Ok(false)
    }

    /// The object name in `xsi:type` (`sf:Opportunity` → `Opportunity`).
    fn sobject_type(&self, e: &BytesStart<'_>, number: usize) -> Result<String, InvalidPayload> {
        for attr in e.attributes() {
            let attr = attr.map_err(|_| malformed_attribute())?;
            if self.is_xsi(attr.key, "type") {
                let value =
                    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|_| malformed_attribute())?;
                let value = value.trim_matches(is_xml_space);
                let name = value.rsplit_once(':').map_or(value, |(_, local)| local);
                if !is_api_name(name) {
                    return Err(InvalidPayload::new(format!(
                        "the sObject of notification {number} has an xsi:type that is not a Salesforce object API name"
                    )));
                }
                return Ok(name.to_owned());
            }
        }
        Err(InvalidPayload::new(format!("the sObject of notification {number} has no xsi:type naming its object")))
    }

    /// Inside `soapenv:Body`.
    fn body(&mut self) -> Result<OutboundMessage, InvalidPayload> {
        let mut message = None;
        loop {
            match self.next()? {
                Ev::Start(e) if self.is(&e, OUTBOUND_NS, "notifications") => {
                    if message.is_some() {
                        return Err(InvalidPayload::new(format!(
                            "{NOT_SOAP}: the SOAP Body has more than one notifications element"
                        )));
                    }
                    message = Some(self.notifications()?);
                }
                Ev::Empty(e) if self.is(&e, OUTBOUND_NS, "notifications") => {
                    return Err(missing("OrganizationId"));
                }
                Ev::Start(_) => self.skip()?,
                Ev::End => break,
                Ev::Eof => return Err(truncated()),
                Ev::Empty(_) | Ev::Text(_) | Ev::Char(_) => {}
            }
        }
        message.ok_or_else(|| {
            InvalidPayload::new(format!(
                "{NOT_SOAP}: the SOAP Body has no notifications element in namespace {OUTBOUND_NS}"
            ))
        })
    }

    /// Inside `notifications`.
    fn notifications(&mut self) -> Result<OutboundMessage, InvalidPayload> {
        let mut organization_id = None;
        let mut action_id = None;
        let mut api_version = None;
        let mut notifications = Vec::new();
        loop {
            match self.next()? {
                Ev::Start(e) => match self.local_in(&e, OUTBOUND_NS) {
                    Some("OrganizationId") => {
                        if organization_id.is_some() {
                            return Err(InvalidPayload::new(format!("{NOT_SOAP}: OrganizationId appears twice")));
                        }
                        organization_id = Some(self.id(|| not_an_id("OrganizationId"))?);
                    }
                    Some("ActionId") => {
                        if action_id.is_some() {
                            return Err(InvalidPayload::new(format!("{NOT_SOAP}: ActionId appears twice")));
                        }
                        action_id = self.optional_id(|| not_an_id("ActionId"))?;
                    }
                    Some("Notification") => {
                        if notifications.len() == MAX_NOTIFICATIONS {
                            return Err(InvalidPayload::new(format!(
                                "the Outbound Message has more than {MAX_NOTIFICATIONS} notifications; Salesforce sends at most {MAX_NOTIFICATIONS}"
                            )));
                        }
                        let notification = self.notification(notifications.len() + 1)?;
                        notifications.push(notification);
                    }
                    Some(element @ ("EnterpriseUrl" | "PartnerUrl")) => {
                        let url = self.text(MAX_URL_CHARS, || {
                            InvalidPayload::new(format!("{NOT_SOAP}: {element} is longer than {MAX_URL_CHARS} characters"))
                        })?;
                        // Both carry the same version; the first one that names it wins.
                        api_version = api_version.or_else(|| url.as_deref().and_then(api_version_of));
                    }
                    // SessionId (a secret, never read) and unknowns.
                    _ => self.skip()?,
                },
                Ev::Empty(e) => match self.local_in(&e, OUTBOUND_NS) {
                    Some("OrganizationId") => return Err(missing("OrganizationId")),
                    Some("Notification") => {
                        return Err(InvalidPayload::new(format!(
                            "notification {} of the Outbound Message is empty",
                            notifications.len() + 1
                        )))
                    }
                    _ => {}
                },
                Ev::End => break,
                Ev::Eof => return Err(truncated()),
                Ev::Text(_) | Ev::Char(_) => {}
            }
        }
        let organization_id = organization_id.ok_or_else(|| missing("OrganizationId"))?;
        if notifications.is_empty() {
            return Err(InvalidPayload::new("the Outbound Message has no notifications; Salesforce sends 1 to 100"));
        }
        Ok(OutboundMessage { organization_id, action_id, api_version, notifications })
    }

    /// A required 15/18-character id element; `bad` words the error.
    fn id(&mut self, bad: impl Fn() -> InvalidPayload + Copy) -> Result<String, InvalidPayload> {
        self.optional_id(bad)?.ok_or_else(bad)
    }

    /// An id element that may be empty (or `xsi:nil`).
    fn optional_id(&mut self, bad: impl Fn() -> InvalidPayload + Copy) -> Result<Option<String>, InvalidPayload> {
        let text = self.text(MAX_ID_CHARS, bad)?.ok_or_else(bad)?;
        let id = text.trim_matches(is_xml_space);
        if id.is_empty() {
            return Ok(None);
        }
        if !is_id(id) {
            return Err(bad());
        }
        Ok(Some(if id.len() == text.len() { text } else { id.to_owned() }))
    }

    /// Inside `Notification` number `number` (1-based).
    fn notification(&mut self, number: usize) -> Result<Notification, InvalidPayload> {
        let mut id = None;
        let mut notification: Option<Notification> = None;
        loop {
            match self.next()? {
                Ev::Start(e) => match self.local_in(&e, OUTBOUND_NS) {
                    Some("Id") => {
                        if id.is_some() {
                            return Err(InvalidPayload::new(format!("notification {number} has two Ids")));
                        }
                        id = Some(self.id(|| bad_notification_id(number))?);
                    }
                    Some("sObject") => {
                        if notification.is_some() {
                            return Err(InvalidPayload::new(format!("notification {number} has two sObjects")));
                        }
                        notification = Some(self.sobject(&e, number, false)?);
                    }
                    _ => self.skip()?,
                },
                Ev::Empty(e) => match self.local_in(&e, OUTBOUND_NS) {
                    Some("Id") => return Err(bad_notification_id(number)),
                    Some("sObject") => {
                        if notification.is_some() {
                            return Err(InvalidPayload::new(format!("notification {number} has two sObjects")));
                        }
                        notification = Some(self.sobject(&e, number, true)?);
                    }
                    _ => {}
                },
                Ev::End => break,
                Ev::Eof => return Err(truncated()),
                Ev::Text(_) | Ev::Char(_) => {}
            }
        }
        let id = id.ok_or_else(|| InvalidPayload::new(format!("notification {number} has no Id")))?;
        let mut notification =
            notification.ok_or_else(|| InvalidPayload::new(format!("notification {number} has no sObject")))?;
        notification.notification_id = Some(id);
        Ok(notification)
    }

    /// The `sObject` element `e` of notification `number`; `empty` when it was `<sObject/>`.
    fn sobject(&mut self, e: &BytesStart<'_>, number: usize, empty: bool) -> Result<Notification, InvalidPayload> {
        let sobject_type = self.sobject_type(e, number)?;
        let mut record_id = None;
        let mut fields = Map::new();
        let mut count = 0usize;
        if !empty {
            loop {
                let (f, empty) = match self.next()? {
                    Ev::Start(f) => (f, false),
                    Ev::Empty(f) => (f, true),
                    Ev::End => break,
                    Ev::Eof => return Err(truncated()),
                    Ev::Text(_) | Ev::Char(_) => continue,
                };
                // Refused rather than skipped: dropping every field would make an update look
                // like a deletion (a notification without data).
                let Some(name) = self.local_in(&f, SOBJECT_NS) else {
                    return Err(InvalidPayload::new(format!(
                        "the sObject of notification {number} has an element outside namespace {SOBJECT_NS}, where Outbound Message fields are"
                    )));
                };
                count += 1;
                if count > MAX_FIELDS {
                    return Err(InvalidPayload::new(format!(
                        "the sObject of notification {number} has more than {MAX_FIELDS} fields"
                    )));
                }
                if !is_api_name(name) {
                    return Err(InvalidPayload::new(format!(
                        "the sObject of notification {number} has a field whose name is not a Salesforce API name"
                    )));
                }
                let nil = self.is_nil(&f)?;
                if name == "Id" {
                    record_id = self.record_id(empty, nil, number)?;
                    continue;
                }
                let value = if empty {
                    if nil {
                        Value::Null
                    } else {
                        Value::String(String::new())
                    }
                } else if nil {
                    self.skip()?;
                    Value::Null
                } else {
                    let too_long = || {
                        InvalidPayload::new(format!(
                            "field {name} of notification {number} is longer than {MAX_FIELD_CHARS} characters"
                        ))
                    };
                    self.text(MAX_FIELD_CHARS, too_long)?.map_or(Value::Null, Value::String)
                };
                fields.insert(name.to_owned(), value);
            }
        }
        Ok(Notification { sobject_type: Some(sobject_type), record_id, fields, ..Notification::default() })
    }

    /// `sf:Id`: absent when nil.
    fn record_id(&mut self, empty: bool, nil: bool, number: usize) -> Result<Option<SalesforceId>, InvalidPayload> {
        let bad = || {
            InvalidPayload::new(format!(
                "the sObject Id of notification {number} is not a Salesforce id (15 or 18 letters and digits)"
            ))
        };
        if nil {
            if !empty {
                self.skip()?;
            }
            return Ok(None);
        }
        let text = if empty { Some(String::new()) } else { self.text(MAX_ID_CHARS, bad)? };
        let text = text.ok_or_else(bad)?;
        SalesforceId::parse(text.trim_matches(is_xml_space)).map(Some).map_err(|_| bad())
    }
}

/// The five predefined entities and character references; anything else could only have been
/// declared in a DTD, which is refused.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, InvalidPayload> {
    let c = match reference.as_ref() {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => match reference.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => c,
            Ok(Some(_)) | Err(_) => {
                return Err(InvalidPayload::new(
                    "the body is not well-formed XML: a character reference does not name a character XML allows",
                ))
            }
            Ok(None) => {
                return Err(InvalidPayload::new(
                    "the body uses an entity reference other than &lt; &gt; &amp; &apos; &quot; and character references; DTD entities are not allowed",
                ))
            }
        },
    };
    Ok(c)
}

/// The API version in an Outbound Message's SOAP endpoint URL
/// (`https://…/services/Soap/c/66.0/00D…` or `…/Soap/u/66.0/…`); `None` for any other shape, since
/// the version is informational and never a reason to refuse a message.
fn api_version_of(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("/services/Soap/")?;
    let mut segments = rest.split('/');
    let _api = segments.next().filter(|s| *s == "c" || *s == "u")?;
    let version = segments.next()?.trim_end_matches(is_xml_space);
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major, 3) && digits(minor, 1)).then(|| version.to_owned())
}

fn missing(what: &str) -> InvalidPayload {
    InvalidPayload::new(format!("{NOT_SOAP}: missing {what}"))
}

fn not_an_id(what: &str) -> InvalidPayload {
    InvalidPayload::new(format!("the {what} is not a Salesforce id (15 or 18 letters and digits)"))
}

fn bad_notification_id(number: usize) -> InvalidPayload {
    InvalidPayload::new(format!("the Id of notification {number} is not a Salesforce id (15 or 18 letters and digits)"))
}

fn malformed_attribute() -> InvalidPayload {
    InvalidPayload::new("the body is not well-formed XML: an attribute is malformed")
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// 15 or 18 ASCII letters and digits (the shape of an org, action or notification id).
fn is_id(value: &str) -> bool {
    matches!(value.len(), 15 | 18) && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A Salesforce object or field API name: a letter, then letters, digits and underscores, at
/// most 80 characters.
pub(crate) fn is_api_name(value: &str) -> bool {
    let mut bytes = value.bytes();
    value.len() <= MAX_API_NAME_CHARS
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/salesforce");

    fn envelope(inner: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5g000004ABCDEAZ</OrganizationId>
   <ActionId>04k5g000000XyzAAAS</ActionId>
   <SessionId xsi:nil="true"/>
{inner}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"#
        )
    }

    fn notification(fields: &str) -> String {
        format!(
            r#"   <Notification>
    <Id>04l5g00000Q1aaaAAB</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0035g00000AbcdeAAB</sf:Id>
{fields}
    </sObject>
   </Notification>"#
        )
    }

    fn parse_str(body: &str) -> Result<OutboundMessage, InvalidPayload> {
        parse(body.as_bytes())
    }

    fn one(fields: &str) -> Notification {
        let mut message = parse_str(&envelope(&notification(fields))).unwrap();
        assert_eq!(message.notifications.len(), 1);
        message.notifications.remove(0)
    }

    fn err(body: &str) -> String {
        parse_str(body).unwrap_err().0
    }

    #[test]
    fn ack_is_the_documented_body() {
        let fixture = std::fs::read_to_string(format!("{FIXTURES}/outbound-message-ack.xml")).unwrap();
        assert_eq!(ACK, fixture);
    }

    #[test]
    fn parses_a_minimal_notification() {
        let message = parse_str(&envelope(&notification("     <sf:LastName>Doe</sf:LastName>"))).unwrap();
        assert_eq!(message.organization_id, "00D5g000004ABCDEAZ");
        assert_eq!(message.action_id.as_deref(), Some("04k5g000000XyzAAAS"));
        let n = &message.notifications[0];
        assert_eq!(n.notification_id.as_deref(), Some("04l5g00000Q1aaaAAB"));
        assert_eq!(n.sobject_type.as_deref(), Some("Contact"));
        assert_eq!(n.record_id.as_ref().map(SalesforceId::as_str), Some("0035g00000AbcdeAAB"));
        assert_eq!(n.fields.get("LastName"), Some(&Value::String("Doe".into())));
        assert_eq!(n.fields.len(), 1);
        assert_eq!((n.event_type, &n.status, &n.experiment_key), (None, &None, &None));
    }

    #[test]
    fn unescapes_text_and_keeps_whitespace() {
        let n = one("<sf:A>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x20AC;</sf:A>\
             <sf:B>  spaced \r\n line</sf:B><sf:C><![CDATA[<raw> & ]]></sf:C>");
        assert_eq!(n.fields["A"], "a & b <c> \"d\" 'e' é€");
        assert_eq!(n.fields["B"], "  spaced \n line");
        assert_eq!(n.fields["C"], "<raw> & ");
    }

    #[test]
    fn nil_empty_nested_and_repeated_fields() {
        let n = one(r#"<sf:Nil xsi:nil="true"/><sf:NilLong xsi:nil="true">ignored</sf:NilLong><sf:Empty/>
               <sf:Blank></sf:Blank><sf:Nested><sf:Inner>x</sf:Inner>text</sf:Nested>
               <sf:Twice>1</sf:Twice><sf:Twice>2</sf:Twice>"#);
        assert_eq!(n.fields["Nil"], Value::Null);
        assert_eq!(n.fields["NilLong"], Value::Null);
        assert_eq!(n.fields["Empty"], "");
        assert_eq!(n.fields["Blank"], "");
        assert_eq!(n.fields["Nested"], Value::Null);
        assert_eq!(n.fields["Twice"], "2");
        assert!(!n.fields.contains_key("X") && !n.fields.contains_key("Inner"));
    }

    #[test]
    fn fifteen_character_ids_and_absent_optional_parts() {
        let body = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header><x/></e:Header><e:Body>
            <o:notifications xmlns:o="http://soap.sforce.com/2005/09/outbound"><o:OrganizationId> 00D5g000004ABCD </o:OrganizationId>
            <o:Notification><o:Id>04l5g00000Q1aaa</o:Id><o:sObject xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="Lead"/></o:Notification>
            </o:notifications></e:Body></e:Envelope>"#;
        let message = parse_str(body).unwrap();
        assert_eq!(message.organization_id, "00D5g000004ABCD");
        assert_eq!(message.action_id, None);
        let n = &message.notifications[0];
        assert_eq!(n.notification_id.as_deref(), Some("04l5g00000Q1aaa"));
        assert_eq!(n.sobject_type.as_deref(), Some("Lead"));
        assert_eq!(n.record_id, None);
        assert!(n.fields.is_empty());
    }

    #[test]
    fn session_id_never_leaves_the_parser() {
        let secret = "00D5g000004ABCD!AQ0AQSecretSessionValue";
        let body = envelope(&notification(""))
            .replace(r#"<SessionId xsi:nil="true"/>"#, &format!("<SessionId>{secret}</SessionId>"));
        let message = parse_str(&body).unwrap();
        assert!(!format!("{message:?}").contains("AQ0AQ"));
        // Even when the envelope is then refused.
        let refused = body.replace("<Id>04l5g00000Q1aaaAAB</Id>", "<Id>bad</Id>");
        assert!(!err(&refused).contains("AQ0AQ"));
    }

    #[test]
    fn refuses_wrong_or_missing_required_parts() {
        let good = envelope(&notification(""));
        for (from, to, expected) in [
            ("<OrganizationId>00D5g000004ABCDEAZ</OrganizationId>", "", "missing OrganizationId"),
            ("00D5g000004ABCDEAZ", "00D5g000004ABCD-AZ", "OrganizationId is not a Salesforce id"),
            ("00D5g000004ABCDEAZ", "00D5g000004ABCDEAZ<b/>", "OrganizationId is not a Salesforce id"),
            ("04k5g000000XyzAAAS", "04k5g", "ActionId is not a Salesforce id"),
            ("<Id>04l5g00000Q1aaaAAB</Id>", "", "notification 1 has no Id"),
            ("<Id>04l5g00000Q1aaaAAB</Id>", "<Id/>", "Id of notification 1 is not a Salesforce id"),
            ("0035g00000AbcdeAAB", "0035g00000AbcdeZZZ", "sObject Id of notification 1 is not a Salesforce id"),
            (r#"xsi:type="sf:Contact""#, "", "has no xsi:type"),
            (r#"xsi:type="sf:Contact""#, r#"xsi:type="sf:Con tact""#, "not a Salesforce object API name"),
            (r#"xsi:type="sf:Contact""#, r#"type="sf:Contact""#, "has no xsi:type"),
            ("urn:sobject.enterprise.soap.sforce.com", "urn:sobject.partner.soap.sforce.com", "outside namespace"),
            (
                "http://soap.sforce.com/2005/09/outbound",
                "http://soap.sforce.com/2005/09/inbound",
                "no notifications element",
            ),
            (
                "http://schemas.xmlsoap.org/soap/envelope/",
                "http://www.w3.org/2003/05/soap-envelope",
                "not a SOAP 1.1 Envelope",
            ),
        ] {
            assert!(good.contains(from), "{from}");
            let message = err(&good.replacen(from, to, 1));
            assert!(message.contains(expected), "{from} -> {to}: {message}");
        }
    }

    #[test]
    fn counts_notifications() {
        let none = envelope("");
        assert!(err(&none).contains("no notifications"));
        let many = envelope(&notification("").repeat(MAX_NOTIFICATIONS + 1));
        assert!(err(&many).contains("more than 100 notifications"));
        let max = envelope(&notification("").repeat(MAX_NOTIFICATIONS));
        assert_eq!(parse_str(&max).unwrap().notifications.len(), MAX_NOTIFICATIONS);
    }

    #[test]
    fn enforces_depth_fields_and_text_limits() {
        // Depth 6 is a field; 12 is allowed, 13 is not.
        let nest =
            |extra: usize| notification(&format!("<sf:Deep>{}{}</sf:Deep>", "<a>".repeat(extra), "</a>".repeat(extra)));
        assert_eq!(
            one(&format!("<sf:Deep>{}{}</sf:Deep>", "<a>".repeat(6), "</a>".repeat(6))).fields["Deep"],
            Value::Null
        );
        assert!(parse_str(&envelope(&nest(MAX_DEPTH - 6))).is_ok());
        assert!(err(&envelope(&nest(MAX_DEPTH - 5))).contains("nested more than 12 deep"));
        let empty_at_13 = notification(&format!("<sf:Deep>{}<a/>{}</sf:Deep>", "<a>".repeat(6), "</a>".repeat(6)));
        assert!(err(&envelope(&empty_at_13)).contains("nested more than 12 deep"));

        let fields = |n: usize| (0..n).map(|i| format!("<sf:F{i}>v</sf:F{i}>")).collect::<String>();
        // sf:Id counts as a field.
        assert_eq!(one(&fields(MAX_FIELDS - 1)).fields.len(), MAX_FIELDS - 1);
        assert!(err(&envelope(&notification(&fields(MAX_FIELDS)))).contains("more than 1000 fields"));

        let text = |n: usize| format!("<sf:Long>{}</sf:Long>", "é".repeat(n));
        assert_eq!(
            one(&text(MAX_FIELD_CHARS)).fields["Long"].as_str().map(|s| s.chars().count()),
            Some(MAX_FIELD_CHARS)
        );
        assert!(err(&envelope(&notification(&text(MAX_FIELD_CHARS + 1))))
            .contains("field Long of notification 1 is longer"));
        let refs = format!("<sf:Long>{}</sf:Long>", "&amp;".repeat(MAX_FIELD_CHARS + 1));
        assert!(err(&envelope(&notification(&refs))).contains("longer than"));
    }

    #[test]
    fn refuses_dtds_and_unknown_entities() {
        let good = envelope(&notification("<sf:A>x</sf:A>"));
        let doctype = good.replacen("<soapenv:Envelope", "<!DOCTYPE x [<!ENTITY a \"b\">]>\n<soapenv:Envelope", 1);
        assert!(err(&doctype).contains("DOCTYPE is not allowed"));
        let entity = good.replacen("<sf:A>x</sf:A>", "<sf:A>&a;</sf:A>", 1);
        assert!(err(&entity).contains("entity reference other than"));
        let in_skipped = good.replacen(r#"<SessionId xsi:nil="true"/>"#, "<SessionId>&x;</SessionId>", 1);
        assert!(err(&in_skipped).contains("entity reference other than"));
        let nul = good.replacen("<sf:A>x</sf:A>", "<sf:A>&#0;</sf:A>", 1);
        assert!(err(&nul).contains("character reference"));
        let control = good.replacen("<sf:A>x</sf:A>", "<sf:A>&#x1;</sf:A>", 1);
        assert!(err(&control).contains("character reference"));
        let latin1 = good.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
        assert!(err(&latin1).contains("encoding other than UTF-8"));
    }

    #[test]
    fn refuses_malformed_documents() {
        let good = envelope(&notification("<sf:A>x</sf:A>"));
        let cases = [
            String::new(),
            "  \n".into(),
            "not xml".into(),
            "<a/>".into(),
            "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"/>".into(),
            "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"></e:Envelope>".into(),
            good[..good.len() / 2].to_owned(),
            good.trim_end().trim_end_matches("</soapenv:Envelope>").to_owned(),
            good.replacen("</sf:A>", "</sf:B>", 1),
            good.replacen("<sf:A>x</sf:A>", "<sf:A>x & y</sf:A>", 1),
            format!("{good}<soapenv:Envelope/>"),
            format!("{good}trailing"),
            good.replacen("<sf:A>x</sf:A>", "<undeclared:A>x</undeclared:A>", 1),
        ];
        for body in cases {
            assert!(parse_str(&body).is_err(), "{body}");
        }
        let mut bytes = good.into_bytes();
        let at = bytes.iter().position(|&b| b == b'x').unwrap();
        bytes[at] = 0xFF;
        assert_eq!(parse(&bytes).unwrap_err().0, format!("the body is not valid UTF-8 (at byte {at})"));
    }

    #[test]
    fn fault_escapes_its_message() {
        let body = fault("bad <OrganizationId> & \"quotes\" \u{0}");
        assert!(body.contains("<faultcode>soapenv:Client</faultcode>"));
        assert!(
            body.contains("<faultstring>bad &lt;OrganizationId&gt; &amp; &quot;quotes&quot; \u{FFFD}</faultstring>")
        );
        // It is itself well-formed.
        let mut reader = quick_xml::Reader::from_str(&body);
        let mut text = String::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Eof => break,
                Event::Text(t) => text.push_str(&t),
                Event::GeneralRef(r) => text.push(resolve_reference(&r).unwrap()),
                _ => {}
            }
        }
        assert!(text.contains("bad <OrganizationId> & \"quotes\""));
    }

    #[test]
    fn refuses_characters_xml_does_not_allow() {
        for c in ['\u{FFFE}', '\u{FFFF}', '\u{1}', '\u{1F}'] {
            let body = envelope(&notification(&format!("<sf:LastName>Do{c}e</sf:LastName>")));
            let message = err(&body);
            assert!(message.contains(&format!("U+{:04X}", u32::from(c))), "{message}");
        }
        let fine = envelope(&notification("<sf:LastName>D\u{FFFD}\u{10348}\te</sf:LastName>"));
        assert_eq!(parse_str(&fine).unwrap().notifications[0].fields["LastName"], "D\u{FFFD}\u{10348}\te");
    }

    #[test]
    fn api_version_comes_from_the_endpoint_urls() {
        let with = |urls: &str| {
            let body = envelope(&notification("")).replace(r#"<SessionId xsi:nil="true"/>"#, urls);
            parse_str(&body).map(|m| m.api_version)
        };
        let enterprise = "<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/66.0/00D5g000004ABCD</EnterpriseUrl>";
        let partner = "<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5g000004ABCD</PartnerUrl>";
        assert_eq!(with(&format!("{enterprise}{partner}")), Ok(Some("66.0".to_owned())));
        assert_eq!(with(partner), Ok(Some("62.0".to_owned())));
        assert_eq!(with(""), Ok(None));
        assert_eq!(with("<EnterpriseUrl/>"), Ok(None));
        // Shapes that name no version are informational only: never a reason to refuse.
        for odd in ["https://x/services/Soap/m/66.0/00D", "https://x/services/Soap/c/latest/00D", "https://x/services/Soap/c/", "not a url"] {
            assert_eq!(with(&format!("<EnterpriseUrl>{odd}</EnterpriseUrl>")), Ok(None), "{odd}");
        }
        let huge = format!("<PartnerUrl>https://x/{}</PartnerUrl>", "a".repeat(MAX_URL_CHARS));
        assert!(with(&huge).unwrap_err().0.contains("PartnerUrl is longer than"));
        let sample = std::fs::read(format!("{FIXTURES}/outbound-message-opportunity-two-notifications-with-session.xml")).unwrap();
        assert_eq!(parse(&sample).unwrap().api_version.as_deref(), Some("66.0"));
    }

    #[test]
    fn api_names_and_ids() {
        for good in ["Opportunity", "My_Object__c", "ns__Obj__c", "A"] {
            assert!(is_api_name(good), "{good}");
        }
        for bad in ["", "1abc", "_x", "a-b", "a b", "é", &"a".repeat(81)] {
            assert!(!is_api_name(bad), "{bad}");
        }
        assert!(is_id("00D5g000004ABCD") && is_id("00D5g000004ABCDEAZ"));
        assert!(!is_id("00D5g000004ABC") && !is_id("00D5g000004ABCD!AZ"));
    }
}
