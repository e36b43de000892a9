//! `sfbridge-local`'s command line, run as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// The default build leaves the AWS backend out; `--aws` then says how to get a build that has it,
/// before it reads any AWS variable (a missing `SFBRIDGE_TABLE` would send the user the wrong way).
#[cfg(not(feature = "aws"))]
#[test]
fn aws_in_a_build_without_the_feature_names_the_commands_that_have_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_sfbridge-local"))
        .args(["--aws", "--port", "0"])
        .env_remove("SFBRIDGE_TABLE")
        .env_remove("SFBRIDGE_KMS_KEY_ID")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("`bash infra/scripts/local-on-moto.sh`"), "{stderr}");
    assert!(stderr.contains("`cargo run -p sfbridge-local --features aws -- --aws`"), "{stderr}");
    assert!(!stderr.contains("SFBRIDGE_TABLE"), "{stderr}");
}

/// `--help` tells `--aws` needs the feature, where it lists the flag.
#[test]
fn help_says_aws_needs_the_feature() {
    let out = Command::new(env!("CARGO_BIN_EXE_sfbridge-local")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("with the `aws` feature, which --aws needs"), "{help}");
}
