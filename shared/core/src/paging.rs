//! The paging every list of the admin API shares (audit, deliveries, dead letters, campaigns): a
//! checked page size and an opaque cursor, refused with a message a person can act on.
//!
//! A cursor is the store's position (the last key of the page) sealed with a check over the list,
//! the tenant and the position, then base64url-encoded. So a cursor that this list did not hand out
//! for this tenant (typed by hand, cut short, taken from another list or tenant) is refused with
//! `invalid_cursor` instead of quietly paging from wherever it happens to point. The check is a
//! truncated SHA-256, not a secret: it catches mistakes, and a cursor grants no access of its own
//! (the caller names the tenant and is authorized for it).

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::domain::TenantId;

/// A page request that is known to be valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The store's position after which the page starts, opened from the caller's cursor.
    pub cursor: Option<String>,
}

/// What a list allows.
#[derive(Debug, Clone, Copy)]
pub struct PageRules {
    /// Names the list in its cursors, so one list's cursor is refused by another.
    pub list: &'static str,
    pub default_limit: usize,
    pub max_limit: usize,
}

/// A page request refused, worded for the caller; [`InvalidPage::code`] is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPage {
    #[error("limit must be a whole number from 1 to {max}")]
    Limit { max: usize },
    #[error("this cursor was not issued by this endpoint for this tenant; pass next_cursor exactly as returned, or start without one")]
    Cursor,
}

impl InvalidPage {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Limit { .. } => "invalid_limit",
            Self::Cursor => "invalid_cursor",
        }
    }
}

/// Bytes of the check in a cursor: a typo or a foreign cursor passes with odds of 2^-64.
const CHECK_BYTES: usize = 8;
/// No position the store hands out comes near this; longer input is not decoded at all.
const MAX_CURSOR_CHARS: usize = 512;

impl PageRules {
    /// Checks `limit` and `cursor` as the query string gave them (absent: the default size, the
    /// first page) and opens the cursor to the store's position.
    pub fn check(&self, t: &TenantId, limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, InvalidPage> {
        let limit = match limit {
            None => self.default_limit,
            Some(text) => text.trim().parse::<usize>().ok().filter(|n| (1..=self.max_limit).contains(n)).ok_or(InvalidPage::Limit { max: self.max_limit })?,
        };
        let cursor = cursor.map(|c| self.open(t, c).ok_or(InvalidPage::Cursor)).transpose()?;
        Ok(PageRequest { limit, cursor })
    }

    /// The cursor to hand out for the store's position `position` in `t`'s list.
    pub fn cursor(&self, t: &TenantId, position: &str) -> String {
        let mut sealed = self.check_bytes(t, position).to_vec();
        sealed.extend_from_slice(position.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    fn open(&self, t: &TenantId, cursor: &str) -> Option<String> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (check, position) = sealed.split_at_checked(CHECK_BYTES)?;
        let position = std::str::from_utf8(position).ok().filter(|p| !p.is_empty())?;
        (check == self.check_bytes(t, position)).then(|| position.to_owned())
    }

    fn check_bytes(&self, t: &TenantId, position: &str) -> [u8; CHECK_BYTES] {
        // NUL separates the parts: none of them can contain one.
        let digest = Sha256::new()
            .chain_update(b"sfbridge cursor v1\0")
            .chain_update(self.list.as_bytes())
            .chain_update(b"\0")
            .chain_update(t.as_str().as_bytes())
            .chain_update(b"\0")
            .chain_update(position.as_bytes())
            .finalize();
        let mut check = [0; CHECK_BYTES];
        check.copy_from_slice(&digest[..CHECK_BYTES]);
        check
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RULES: PageRules = PageRules { list: "audit", default_limit: 50, max_limit: 100 };

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    #[test]
    fn limits_default_and_are_bounded() {
        let t = tenant("team_42");
        assert_eq!(RULES.check(&t, None, None), Ok(PageRequest { limit: 50, cursor: None }));
        assert_eq!(RULES.check(&t, Some("100"), None).map(|p| p.limit), Ok(100));
        assert_eq!(RULES.check(&t, Some("1"), None).map(|p| p.limit), Ok(1));
        for bad in ["0", "101", "-1", "ten", "", "1.5", "99999999999999999999999"] {
            let refused = RULES.check(&t, Some(bad), None).unwrap_err();
            assert_eq!((refused.code(), refused.to_string().as_str()), ("invalid_limit", "limit must be a whole number from 1 to 100"), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_opens_to_its_position_in_its_own_list_and_tenant_only() {
        let t = tenant("team_42");
        let position = "2026-01-02T03:04:05.000120Z#a1";
        let cursor = RULES.cursor(&t, position);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe as it is: {cursor}");
        assert_eq!(RULES.check(&t, None, Some(&cursor)).unwrap().cursor.as_deref(), Some(position));

        let other_list = PageRules { list: "deliveries", ..RULES };
        let mut typo = cursor.clone().into_bytes();
        typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
        let typo = String::from_utf8(typo).unwrap();
        for (why, t, rules, cursor) in [
            ("another tenant", tenant("team_43"), RULES, cursor.clone()),
            ("another list", t.clone(), other_list, cursor.clone()),
            ("a typo", t.clone(), RULES, typo),
            ("cut short", t.clone(), RULES, cursor[..cursor.len() - 2].to_owned()),
            ("the bare position", t.clone(), RULES, position.to_owned()),
            ("garbage", t.clone(), RULES, "garbage".to_owned()),
            ("empty", t.clone(), RULES, String::new()),
            ("only a check", t.clone(), RULES, RULES.cursor(&t, "")),
            ("too long", t.clone(), RULES, "A".repeat(MAX_CURSOR_CHARS + 4)),
        ] {
            assert_eq!(rules.check(&t, None, Some(&cursor)), Err(InvalidPage::Cursor), "{why}");
        }
        assert_eq!(InvalidPage::Cursor.code(), "invalid_cursor");
    }
}
