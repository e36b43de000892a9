//! Writes the queue messages' JSON Schemas to docs/schemas/ from the Rust types:
//! `cargo run -p sfbridge-e2e --bin gen-schemas`. With `--check` it writes nothing and fails,
//! naming each file, when a committed schema is not what the code generates
//! (infra/scripts/check-schemas.sh, in the test command).

use std::process::ExitCode;

use sfbridge_e2e::SCHEMAS;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("unknown argument {other:?}; usage: gen-schemas [--check]");
            return ExitCode::from(2);
        }
    };
    let mut ok = true;
    for schema in SCHEMAS {
        let path = schema.path();
        let shown = format!("docs/schemas/{}", schema.file);
        let wanted = schema.render();
        if check {
            match std::fs::read_to_string(&path) {
                Ok(committed) if committed == wanted => eprintln!("{shown} is current"),
                Ok(committed) => {
                    eprintln!("STALE: {shown} differs from what the code generates; run `cargo run -p sfbridge-e2e --bin gen-schemas` and commit it");
                    eprintln!("{}", first_difference(&committed, &wanted));
                    ok = false;
                }
                Err(e) => {
                    eprintln!("MISSING: {shown} cannot be read ({e}); run `cargo run -p sfbridge-e2e --bin gen-schemas` and commit it");
                    ok = false;
                }
            }
        } else if let Err(e) = std::fs::create_dir_all(path.parent().unwrap_or(&path)).and_then(|()| std::fs::write(&path, &wanted)) {
            eprintln!("cannot write {shown}: {e}");
            ok = false;
        } else {
            eprintln!("wrote {shown}");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Where the committed text and the generated one part, as the line of each.
fn first_difference(committed: &str, wanted: &str) -> String {
    let (mut old, mut new) = (committed.lines(), wanted.lines());
    for line in 1.. {
        match (old.next(), new.next()) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => return format!("  first difference at line {line}:\n  committed: {}\n  generated: {}", a.unwrap_or("(end)"), b.unwrap_or("(end)")),
        }
    }
    String::new()
}
