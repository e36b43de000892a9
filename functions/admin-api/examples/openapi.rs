//! Writes the admin API's OpenAPI document to docs/openapi.json (or to the path given), as
//! `GET /v1/openapi.json` serves it: `cargo run -p sfbridge-admin-api --example openapi`.
//! An example, not a binary, so the Lambda build (every binary of the package) leaves it out.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json"));
    match std::fs::write(&path, sfbridge_admin_api::openapi_json()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("writing {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
