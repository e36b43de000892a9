//! docs/openapi.json is the document the code generates (GET /v1/openapi.json serves the same).

#[test]
fn the_committed_document_is_the_generated_one() {
    let committed = include_str!("../../../docs/openapi.json");
    assert!(
        committed == sfbridge_admin_api::openapi_json(),
        "docs/openapi.json is stale: run `cargo run -p sfbridge-admin-api --example openapi` and commit it"
    );
}
