//! Hostile XML (docs/reliability.md "Hostile input", F15): each case is a genuine one-notification envelope of the
//! connected org, sent with the tenant's valid secret, with one attack worked into it, so it gets
//! past authentication and reaches the parser, which must refuse it quickly (a 4xx and a SOAP
//! fault, nothing published) and without building anything large.

use anyhow::Context as _;
use axum::body::Bytes;
use sfbridge_inbound::MAX_BODY_BYTES;

use crate::envelopes;

/// The notification number of the template envelope: far above anything the scenarios use.
const TEMPLATE_NOTE: u64 = 9_999_999_999;
const ENVELOPE_START: &str = "<soapenv:Envelope";
/// The value of the template's `sf:Name` field, where the attacks go.
const NAME_VALUE: &str = "Account 9999999999 &amp; Co &lt;Annual Renewal&gt;";
const DEEP_NESTING: usize = 100_000;
const QUADRATIC: usize = 100_000;

#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    pub body: Bytes,
}

pub fn cases(org18: &str) -> anyhow::Result<Vec<Case>> {
    let template = envelopes::envelope(org18, &[TEMPLATE_NOTE])?;
    let template = std::str::from_utf8(&template.body).context("the template envelope is UTF-8")?;
    let (head, tail) = template.split_once(NAME_VALUE).context("the template has a Name field")?;
    let root = head.find(ENVELOPE_START).context("the template has an Envelope")?;
    // Each body is built in one allocation of its final size, with no large temporaries, so the
    // memory figures measure the receiver rather than the bench's own garbage.
    let build = |dtd: &str, value_len: usize, value: &dyn Fn(&mut String)| {
        let mut body = String::with_capacity(head.len() + dtd.len() + 1 + value_len + tail.len());
        body.push_str(&head[..root]);
        if !dtd.is_empty() {
            body.push_str(dtd);
            body.push('\n');
        }
        body.push_str(&head[root..]);
        value(&mut body);
        body.push_str(tail);
        body
    };
    let text = |text: &'static str| move |body: &mut String| body.push_str(text);

    // Ten levels of ten: 10^9 "lol"s (3 GB) if expanded.
    let mut laughs = String::from("<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for level in 1..=9 {
        let previous = if level == 1 { "lol".to_owned() } else { format!("lol{}", level - 1) };
        laughs.push_str(&format!(" <!ENTITY lol{level} \"{}\">\n", format!("&{previous};").repeat(10)));
    }
    laughs.push_str("]>");
    let billion_laughs = build(&laughs, 6, &text("&lol9;"));

    // One 100,000-character entity referenced 100,000 times: 10 GB if expanded, from ~0.4 MB.
    let quadratic_dtd = format!("<!DOCTYPE q [<!ENTITY a \"{}\">]>", "a".repeat(QUADRATIC));
    let quadratic = build(&quadratic_dtd, 3 * QUADRATIC, &|body: &mut String| {
        (0..QUADRATIC).for_each(|_| body.push_str("&a;"))
    });

    let xxe_file = build("<!DOCTYPE e [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>", 5, &text("&xxe;"));
    let doctype = build("<!DOCTYPE soapenv:Envelope>", NAME_VALUE.len(), &text(NAME_VALUE));

    // One text node that fills the body to one byte under the limit, so the size check lets it
    // through and the parser meets it.
    let filler = (MAX_BODY_BYTES - 1).saturating_sub(head.len() + tail.len());
    let huge_text = build("", filler, &|body: &mut String| body.extend(std::iter::repeat_n('x', filler)));
    anyhow::ensure!(huge_text.len() == MAX_BODY_BYTES - 1, "the 5 MB case is {} bytes", huge_text.len());

    let deep = build("", 7 * DEEP_NESTING, &|body: &mut String| {
        (0..DEEP_NESTING).for_each(|_| body.push_str("<a>"));
        (0..DEEP_NESTING).for_each(|_| body.push_str("</a>"));
    });

    let mut invalid_utf8 = build("", NAME_VALUE.len(), &text(NAME_VALUE)).into_bytes();
    invalid_utf8[head.len()] = 0xff;
    invalid_utf8[head.len() + 1] = 0xfe;

    Ok(vec![
        Case { name: "billion laughs", body: billion_laughs.into() },
        Case { name: "quadratic blowup", body: quadratic.into() },
        Case { name: "XXE file:///etc/passwd", body: xxe_file.into() },
        Case { name: "DOCTYPE", body: doctype.into() },
        Case { name: "5 MB text node", body: huge_text.into() },
        Case { name: "100,000-deep nesting", body: deep.into() },
        Case { name: "invalid UTF-8", body: invalid_utf8.into() },
    ])
}

/// Peak and current resident set size in KiB (`VmHWM`, `VmRSS` from /proc/self/status): Linux
/// only, `None` elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub peak_kib: u64,
    pub current_kib: u64,
}

pub fn memory() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Memory { peak_kib: field("VmHWM:")?, current_kib: field("VmRSS:")? })
}

/// Resets the peak (`VmHWM`) to the current RSS (Linux 4.0+: `5` to /proc/self/clear_refs), so
/// the next reading is the peak of what runs in between. False if it could not.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
