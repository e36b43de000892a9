//! Record ids: realistic 18-character ids with the object's key prefix, and the 15/18-character
//! equivalence Salesforce applies to every id it is given (salesforce.md §12).

use crate::state::salesforce_id_18;

/// Base-62 digits in Salesforce's order, which is also ASCII order: ids of one object sort by
/// creation when compared as strings.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The instance ("pod") part of the ids this org mints, after the key prefix.
const POD: &str = "5g";

/// The `n`-th id of an object: `{prefix}{pod}{n in base 62, 10 digits}` plus the checksum.
pub(crate) fn mint(key_prefix: &str, n: u64) -> String {
    salesforce_id_18(&format!("{key_prefix}{POD}{}", base62(n, 10)))
}

/// `n` in base 62, `width` digits (the high ones dropped if it needs more).
pub(crate) fn base62(n: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    let mut rest = n;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[usize::try_from(rest % 62).unwrap_or(0)];
        rest /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// The canonical 18-character form of an id given in its 15-character (case-sensitive) or
/// 18-character (case-insensitive) form; `None` when it is not an id.
///
/// An 18-character id's last three characters record which of the first 15 are upper case, so an
/// 18-character id whose letters changed case (a spreadsheet "fixing" it) still resolves.
pub(crate) fn normalize(text: &str) -> Option<String> {
    if !text.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    match text.len() {
        15 => Some(salesforce_id_18(text)),
        18 => {
            let (body, suffix) = text.split_at(15);
            let mut restored = String::with_capacity(15);
            for (block, check) in body.as_bytes().chunks(5).zip(suffix.bytes()) {
                let mask = checksum_value(check)?;
                for (i, byte) in block.iter().enumerate() {
                    let upper = mask & (1 << i) != 0;
                    restored.push(char::from(if upper {
                        byte.to_ascii_uppercase()
                    } else {
                        byte.to_ascii_lowercase()
                    }));
                }
            }
            let canonical = salesforce_id_18(&restored);
            canonical.get(15..)?.eq_ignore_ascii_case(suffix).then_some(canonical)
        }
        _ => None,
    }
}

/// The 5-bit mask a checksum character stands for (`A`–`Z` = 0–25, `0`–`5` = 26–31), in any case.
fn checksum_value(c: u8) -> Option<u8> {
    match c.to_ascii_uppercase() {
        c @ b'A'..=b'Z' => Some(c - b'A'),
        c @ b'0'..=b'5' => Some(c - b'0' + 26),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_are_valid_and_ordered() {
        let a = mint("003", 61);
        let b = mint("003", 62);
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("0035g000000000z"));
        assert!(a < b);
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        assert_eq!(normalize(&a[..15]).as_deref(), Some(a.as_str()));
    }

    #[test]
    fn eighteen_character_ids_are_case_insensitive() {
        // salesforce-samples: 003RO0000035WQgYAM.
        assert_eq!(normalize("003ro0000035wqgyam").as_deref(), Some("003RO0000035WQgYAM"));
        assert_eq!(normalize("003RO0000035WQg").as_deref(), Some("003RO0000035WQgYAM"));
        // Another suffix is another id: it says which letters are upper case.
        assert_eq!(normalize("003RO0000035WQgYAA").as_deref(), Some("003RO0000035wqgYAA"));
        assert_eq!(normalize("003RO0000035WQgYA9"), None);
        assert_eq!(normalize("003RO0000035WQ"), None);
        assert_eq!(normalize("003RO0000035WQ-YAM"), None);
        assert_eq!(normalize("ééé"), None);
    }
}
