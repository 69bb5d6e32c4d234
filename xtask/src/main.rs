//! `cargo xtask build`: build the plugin component into `dist/account-lockdown.wasm`.

use std::process::ExitCode;

use xtask::{Artifact, BuildConfig, SIZE_BUDGET};

const USAGE: &str = "\
usage: cargo xtask build

  build   compile the guest for wasm32-unknown-unknown (profile `plugin`, own target
          folder target/plugin-build), encode it as a component and write
          dist/account-lockdown.wasm";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["build"] => run_build(),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        [] => usage_error("no command given"),
        [command] => usage_error(&format!("unknown command `{command}`")),
        _ => usage_error(&format!("unexpected arguments {args:?}")),
    }
}

/// Exit status 2 with `problem` and the usage, for a command line this tool cannot run.
fn usage_error(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}

fn run_build() -> ExitCode {
    let root = xtask::default_workspace_root();
    match xtask::build(&BuildConfig::for_workspace(&root)) {
        Ok(artifact) => {
            report(&artifact, &root);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Print `dist/account-lockdown.wasm: N bytes (sha256 ...)`, path relative to the root.
fn report(artifact: &Artifact, root: &std::path::Path) {
    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let path = &artifact.path;
    let relative = path
        .strip_prefix(root)
        .or_else(|_| path.strip_prefix(&canonical_root))
        .unwrap_or(path);
    let shown = Artifact {
        path: relative.to_owned(),
        ..artifact.clone()
    };
    println!("{shown}");
    if artifact.len > SIZE_BUDGET {
        eprintln!(
            "warning: the component is {} bytes, over the {SIZE_BUDGET}-byte budget \
             (tests/all/component.rs fails on this)",
            artifact.len
        );
    }
}
