//! The walk-through (docs/local.md) and the local stack's start-up banner name the same
//! values by the same labels and run the same commands, word for word.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sfbridge_local::banner;
use sfbridge_local::DemoApp;

const WALKTHROUGH: &str = include_str!("../../../docs/local.md");

/// docs/local.md's "Run it locally" part, up to its next section.
fn run_it_locally() -> &'static str {
    let start = WALKTHROUGH.find("# Run it locally").expect("docs/local.md has # Run it locally");
    let rest = &WALKTHROUGH[start + 2..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The banner as printed for a stack on the walk-through's port, with each value shown as the
/// walk-through's placeholder for it.
fn banner_with_placeholders() -> String {
    let demo = DemoApp {
        consumer_key: "<consumer_key>".into(),
        consumer_secret: "<consumer_secret>".into(),
        login_url: "<login_url>".into(),
    };
    format!("{}{}", banner::demo_app(&demo), banner::try_it("http://127.0.0.1:3000", "<admin token>", &demo))
}

#[test]
fn every_value_the_walkthrough_asks_for_is_printed_under_its_label() {
    let banner = banner_with_placeholders();
    let section = run_it_locally();
    for label in ["login_url", "consumer_key", "consumer_secret"] {
        let placeholder = format!("<{label}>");
        assert!(section.contains(&placeholder), "the walk-through asks for {placeholder}");
        let labelled = banner.lines().any(|l| l.trim_start().strip_prefix(label).is_some_and(|v| v.trim_start().starts_with(&placeholder)));
        assert!(labelled, "the banner prints {label} under that label:\n{banner}");
    }
    assert!(section.contains("TOKEN=<admin token>") && section.contains("`admin token`"));
    // The other values the local stack prints are labelled in main.rs's header the same way.
    let main = include_str!("../src/main.rs");
    assert!(main.contains("println!(\"  admin token     {}\", stack.admin_token);"));
}

#[test]
fn the_banner_commands_are_the_walkthrough_commands_word_for_word() {
    let banner = banner_with_placeholders();
    let commands: Vec<&str> = banner
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        // Commands and their continuation lines; not the labelled values or comments.
        .filter(|l| l.starts_with("curl ") || l.starts_with("export ") || l.starts_with(' '))
        .collect();
    assert!(commands.len() > 15, "{commands:#?}");
    // In order: each banner line is a walk-through line after the previous one.
    let readme: Vec<&str> = run_it_locally().lines().collect();
    let mut at = 0;
    for line in &commands {
        match readme[at..].iter().position(|r| r == line) {
            Some(found) => at += found + 1,
            None => panic!("docs/local.md's walk-through lacks the banner's line (or has it out of order):\n{line}"),
        }
    }
}
