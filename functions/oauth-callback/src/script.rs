//! `GET /oauth/connect.js`: the browser connect helper (`connect.js`), a dependency-free ES
//! module a product's page imports to open the popup and learn how it ended.
//!
//! Its strong ETag is its Subresource Integrity value (`sha384-…`), so `curl -sI` shows the hash
//! a page pins, and a revalidation costs a 304. docs/connect-popup.md documents the same value; a test
//! keeps the two equal.

use std::sync::LazyLock;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha384};

/// The helper's source, byte for byte what is served.
pub const CONNECT_JS: &str = include_str!("connect.js");

/// `sha384-` and the base64 of the helper's SHA-384: the `integrity` attribute's value.
pub static INTEGRITY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(CONNECT_JS))
    )
});

/// Browsers may reuse it for an hour, then revalidate by ETag; an update reaches every page
/// within that hour.
const CACHE_CONTROL: &str = "public, max-age=3600";

pub(crate) async fn connect_script(headers: HeaderMap) -> Response {
    let etag = format!("\"{}\"", *INTEGRITY);
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            CONNECT_JS,
        )
            .into_response()
    };
    let out = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, etag);
    }
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    // A module script from another origin loads only with CORS; it holds nothing private, and a
    // wildcard keeps one cached copy valid for every product origin.
    out.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    out.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/connect-popup.md pins the helper's integrity hash for products to copy; a hash that no longer
    /// matches the file would make their browsers refuse the helper.
    #[test]
    fn the_docs_document_the_served_integrity() {
        let readme = include_str!("../../../docs/connect-popup.md");
        let documented: Vec<&str> = readme
            .match_indices("sha384-")
            .map(|(at, _)| {
                let rest = &readme[at..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=-".contains(c)))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        assert!(
            !documented.is_empty(),
            "docs/connect-popup.md must document the helper's integrity ({})",
            *INTEGRITY
        );
        for hash in documented {
            assert_eq!(
                hash,
                INTEGRITY.as_str(),
                "docs/connect-popup.md documents a stale integrity for /oauth/connect.js: write {}",
                *INTEGRITY
            );
        }
    }

    #[test]
    fn the_helper_imports_nothing() {
        assert!(CONNECT_JS.contains("export function connect("));
        let imports = CONNECT_JS
            .lines()
            .filter(|line| line.trim_start().starts_with("import "))
            .count();
        assert_eq!(imports, 0, "connect.js must stay dependency-free");
    }
}
