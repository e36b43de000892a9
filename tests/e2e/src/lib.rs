//! End-to-end tests live in `tests/`. The library holds only the queue messages' JSON Schemas as
//! committed under docs/schemas/: which file each is, and how it is written, shared by the
//! generator (`src/bin/gen-schemas.rs`) and the tests that validate messages against the files.

use std::path::PathBuf;

use schemars::Schema;

/// A committed schema: its file in docs/schemas/ and the function that generates it.
#[derive(Debug, Clone, Copy)]
pub struct CommittedSchema {
    pub file: &'static str,
    pub generate: fn() -> Schema,
}

pub const SYNC_COMMAND: CommittedSchema = CommittedSchema { file: "sync-command.v1.json", generate: sfbridge_sync::command_schema };
pub const INBOUND_EVENT: CommittedSchema = CommittedSchema { file: "inbound-event.v1.json", generate: sfbridge_import::inbound_event_schema };
pub const SCHEMAS: [CommittedSchema; 2] = [SYNC_COMMAND, INBOUND_EVENT];

/// The repository's root (this crate is tests/e2e).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl CommittedSchema {
    pub fn path(&self) -> PathBuf {
        repo_root().join("docs/schemas").join(self.file)
    }

    /// The file's text as the generator writes it: pretty-printed, keys sorted, one final newline.
    pub fn render(&self) -> String {
        let schema = (self.generate)();
        let text = serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("\"cannot render the schema: {e}\""));
        format!("{text}\n")
    }
}
