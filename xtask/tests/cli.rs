//! The `xtask` command line: a command it cannot run is refused with exit status 2, a
//! message naming the problem, and the usage.

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("the xtask binary runs")
}

fn assert_usage_error(args: &[&str], problem: &str) {
    let out = xtask(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {problem}\n\nusage: cargo xtask build")),
        "{stderr}"
    );
}

#[test]
fn no_command_is_named_as_such() {
    assert_usage_error(&[], "no command given");
}

#[test]
fn an_unknown_command_is_named() {
    assert_usage_error(&["bulid"], "unknown command `bulid`");
}

#[test]
fn extra_arguments_are_refused() {
    assert_usage_error(
        &["build", "--release"],
        r#"unexpected arguments ["build", "--release"]"#,
    );
}

#[test]
fn help_prints_the_usage() {
    let out = xtask(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: cargo xtask build"));
}
