//! docs/operations.md's troubleshooting table is the one `shared/salesforce/src/troubleshooting.rs`
//! renders from the error mappings the code uses. After changing a mapping or a row, regenerate it:
//!
//! ```sh
//! SFBRIDGE_BLESS=1 cargo test -p sfbridge-http --features connect --test troubleshooting
//! ```
//!
//! (that rewrites only the block between the markers; review the diff and commit it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sfbridge_connect::ConnectError;
use sfbridge_http::ApiError;
use sfbridge_salesforce::troubleshooting::{
    connect_api_status, readme_block, Stage, BEGIN_MARKER, END_MARKER, OAUTH_ERRORS, OAUTH_FALLBACK,
};
use sfbridge_salesforce::OAuthFailure;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
const REGENERATE: &str = "SFBRIDGE_BLESS=1 cargo test -p sfbridge-http --features connect --test troubleshooting";

/// The document's block, markers included, and where it starts.
fn block(readme: &str) -> Option<(usize, &str)> {
    let start = readme.find(BEGIN_MARKER)?;
    let end = readme[start..].find(END_MARKER)? + start + END_MARKER.len();
    Some((start, &readme[start..end]))
}

#[test]
fn readme_troubleshooting_table_is_current() {
    let readme = std::fs::read_to_string(DOC).unwrap_or_else(|e| unreachable!("{DOC}: {e}"));
    let Some((start, current)) = block(&readme) else {
        unreachable!("docs/operations.md has no `{BEGIN_MARKER}` ... `{END_MARKER}` block (in ## Troubleshooting)")
    };
    let expected = readme_block();
    if current == expected {
        return;
    }
    if std::env::var_os("SFBRIDGE_BLESS").is_some_and(|v| v == "1") {
        let updated = format!("{}{expected}{}", &readme[..start], &readme[start + current.len()..]);
        std::fs::write(DOC, updated).unwrap_or_else(|e| unreachable!("writing {DOC}: {e}"));
        return;
    }
    let first_difference = current.lines().zip(expected.lines()).position(|(a, b)| a != b);
    let difference = first_difference.map_or_else(
        || "one table has more lines".to_owned(),
        |i| {
            format!(
                "first difference, line {} of the block:\n  docs:   {}\n  code:   {}",
                i + 1,
                current.lines().nth(i).unwrap_or(""),
                expected.lines().nth(i).unwrap_or("")
            )
        },
    );
    assert!(
        current == expected,
        "docs/operations.md's troubleshooting table is not the one the code renders ({difference}).\nRegenerate it with\n\n    \
         {REGENERATE}\n\nand commit the docs/operations.md change."
    );
}

/// The table says what `POST /v1/tenants/{t}/connect` answers; that is `ApiError`'s mapping.
#[test]
fn connect_api_statuses_are_the_http_mapping() {
    for rule in OAUTH_ERRORS.iter().chain([&OAUTH_FALLBACK]) {
        if !rule.stages.contains(&Stage::ConnectApi) {
            continue;
        }
        let error = rule.errors.first().copied().unwrap_or("some_new_error");
        let description = rule.description_contains.first().copied();
        let failure = OAuthFailure::from_salesforce(error, description, "https://api.example.com/oauth/callback");
        assert_eq!(failure.code, rule.code);
        let api = ApiError::from(ConnectError::Salesforce(failure));
        assert_eq!(api.status.as_u16(), connect_api_status(rule.retryable), "{error}");
        assert_eq!(api.code, rule.code);
    }
}
