//! The paging every log of the admin API shares (audit, deliveries, campaigns): a checked page
//! size and an opaque cursor, refused with a message a person can act on.

/// A page request that is known to be valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

/// What a log allows.
#[derive(Debug, Clone, Copy)]
pub struct PageRules {
    pub default_limit: usize,
    pub max_limit: usize,
    /// Cursors this API hands out are shorter than this.
    pub max_cursor_len: usize,
}

/// A page request refused, worded for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPage(pub String);

impl PageRules {
    pub fn check(&self, limit: Option<usize>, cursor: Option<&str>) -> Result<PageRequest, InvalidPage> {
        let limit = limit.unwrap_or(self.default_limit);
        if limit == 0 || limit > self.max_limit {
            return Err(InvalidPage(format!("limit must be between 1 and {}", self.max_limit)));
        }
        if let Some(c) = cursor {
            let plausible = !c.is_empty() && c.len() <= self.max_cursor_len && c.bytes().all(|b| b.is_ascii_graphic());
            if !plausible {
                return Err(InvalidPage("cursor is not one this API returned; pass next_cursor as is".into()));
            }
        }
        Ok(PageRequest { limit, cursor: cursor.map(str::to_owned) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: PageRules = PageRules { default_limit: 50, max_limit: 100, max_cursor_len: 16 };

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(RULES.check(None, None), Ok(PageRequest { limit: 50, cursor: None }));
        assert_eq!(RULES.check(Some(100), Some("abc")).map(|p| p.limit), Ok(100));
        assert!(RULES.check(Some(0), None).is_err());
        assert!(RULES.check(Some(101), None).is_err());
    }

    #[test]
    fn cursors_must_look_like_ours() {
        for bad in ["", "has space", "x".repeat(17).as_str(), "caf\u{e9}"] {
            assert!(RULES.check(None, Some(bad)).is_err(), "{bad:?}");
        }
    }
}
