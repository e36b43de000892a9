//! End-to-end tests live in `tests/`. The library holds only the queue messages' JSON Schemas as
//! committed under docs/schemas/: which file each is, how it is written (the generator,
//! `src/bin/gen-schemas.rs`), a validator of the committed file, and the docs' examples of it (the
//! tests in `tests/schemas.rs` and the inbound queue's reader in `tests/api/helpers.rs`).

use std::path::PathBuf;

use schemars::Schema;
use serde_json::Value;

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

    /// The file's text as the generator writes it: pretty-printed, one final newline.
    pub fn render(&self) -> String {
        let schema = (self.generate)();
        let text = serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("\"cannot render the schema: {e}\""));
        format!("{text}\n")
    }

    /// The committed file as JSON.
    pub fn committed(&self) -> Result<Value, String> {
        let text = std::fs::read_to_string(self.path()).map_err(|e| format!("docs/schemas/{}: {e}", self.file))?;
        serde_json::from_str(&text).map_err(|e| format!("docs/schemas/{}: {e}", self.file))
    }

    /// A draft 2020-12 validator of the committed file; `formats` also asserts `"format"` (dates),
    /// which the schema leaves an annotation.
    pub fn validator(&self, formats: bool) -> Result<jsonschema::Validator, String> {
        let schema = self.committed()?;
        jsonschema::draft202012::options()
            .should_validate_formats(formats)
            .build(&schema)
            .map_err(|e| format!("docs/schemas/{} is not a usable 2020-12 schema: {e}", self.file))
    }
}

/// Why `validator` refuses `message`, one line per error; empty when it is valid.
pub fn schema_errors(validator: &jsonschema::Validator, message: &Value) -> Vec<String> {
    validator.iter_errors(message).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// Where the docs show messages of a schema: every ```json block under the heading `heading` (the
/// line as written, `## Activity sync`) of `file`, up to the next heading of its level or above.
/// A block may hold several messages one after another.
#[derive(Debug, Clone, Copy)]
pub struct DocSection {
    pub file: &'static str,
    pub heading: &'static str,
}

impl DocSection {
    pub fn json_examples(&self) -> Result<Vec<Value>, String> {
        let text = std::fs::read_to_string(repo_root().join(self.file)).map_err(|e| format!("{}: {e}", self.file))?;
        let level = heading_level(self.heading).ok_or_else(|| format!("{:?} is not a Markdown heading", self.heading))?;
        let (mut found, mut in_fence) = (false, false);
        let mut block: Option<String> = None;
        let mut examples = Vec::new();
        for line in text.lines() {
            let fence = line.trim_start().starts_with("```");
            if let Some(body) = block.as_mut() {
                if fence {
                    for value in serde_json::Deserializer::from_str(body).into_iter::<Value>() {
                        examples.push(value.map_err(|e| format!("{} {:?}: a ```json block is not JSON: {e}\n{body}", self.file, self.heading))?);
                    }
                    block = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            } else if fence && found && line.trim_start().starts_with("```json") {
                block = Some(String::new());
            } else if fence {
                in_fence = !in_fence;
            } else if in_fence {
                // A shell block's comments start with `#` too: headings are outside code blocks only.
            } else if found {
                if heading_level(line).is_some_and(|l| l <= level) {
                    break;
                }
            } else {
                found = line.trim_end() == self.heading;
            }
        }
        if !found {
            return Err(format!("{} has no heading {:?}: the examples moved; point the test at them", self.file, self.heading));
        }
        Ok(examples)
    }
}

fn heading_level(line: &str) -> Option<usize> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    (level > 0 && line[level..].starts_with(' ')).then_some(level)
}
