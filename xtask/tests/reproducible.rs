//! Reproducible builds: the same source and lockfile give byte-identical
//! `dist/account-lockdown.wasm`, whatever folder they are built in.
//!
//! SLOW: this builds the plugin twice from nothing (two fresh target folders, host
//! proc-macros included), a minute or more each on two cores. It is `#[ignore]`d so
//! that a plain `cargo test` stays quick; `make test` runs it with
//! `cargo test -p xtask --test reproducible -- --ignored`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use xtask::{Artifact, BuildConfig};

/// Top-level entries of the workspace that are not source: build output, keys, VCS.
const NOT_SOURCE: &[&str] = &["target", "dist", ".git", ".dev-keys"];

#[test]
#[ignore = "slow (two full wasm builds); `make test` runs it: \
            cargo test -p xtask --test reproducible -- --ignored"]
fn plugin_bytes_do_not_depend_on_the_build_folder() {
    let source = xtask::default_workspace_root();
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reproducible");
    remove_if_present(&scratch);
    // Different depths and lengths, so any leaked absolute path changes the bytes.
    let short = scratch.join("a");
    let long = scratch
        .join("a-much-longer-folder-name")
        .join("nested")
        .join("ws");

    // Copy once, then copy the copy before anything is built: both builds see the same
    // source even if the workspace is being edited meanwhile.
    copy_source(&source, &short);
    copy_source(&short, &long);
    let first = build_copy(&short);
    let second = build_copy(&long);

    assert_eq!(
        first.sha256,
        second.sha256,
        "the component differs between {} and {}: some path or timestamp leaks into the \
         bytes (compare the two files with `wasm-tools print`)",
        first.path.display(),
        second.path.display()
    );
    assert_eq!(
        fs::read(&first.path).unwrap(),
        fs::read(&second.path).unwrap()
    );
    for artifact in [&first, &second] {
        assert_no_machine_paths(artifact, &short, &long);
    }
    eprintln!("reproducible: {} bytes, sha256 {}", first.len, first.sha256);
    remove_if_present(&scratch);
}

/// Build the copy in `dest` with its own target folder; return the component it wrote.
fn build_copy(dest: &Path) -> Artifact {
    let started = Instant::now();
    let artifact = xtask::build(&BuildConfig::for_workspace(dest))
        .unwrap_or_else(|err| panic!("build in {} failed: {err:#}", dest.display()));
    eprintln!("built in {:.1?}: {artifact}", started.elapsed());
    artifact
}

fn copy_source(source: &Path, dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    for entry in fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if NOT_SOURCE.iter().any(|skip| name == *skip) {
            continue;
        }
        copy_tree(&entry.path(), &dest.join(&name));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let kind = fs::symlink_metadata(from).unwrap().file_type();
    if kind.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else if kind.is_file() {
        fs::copy(from, to).unwrap_or_else(|err| panic!("cannot copy {}: {err}", from.display()));
    }
}

/// Neither build folder nor the cargo home may appear in the bytes.
fn assert_no_machine_paths(artifact: &Artifact, short: &Path, long: &Path) {
    let bytes = fs::read(&artifact.path).unwrap();
    let mut folders: Vec<PathBuf> = vec![short.to_owned(), long.to_owned()];
    folders.extend(xtask::cargo_home());
    for folder in folders {
        let needle = folder.to_string_lossy().into_owned();
        assert!(
            !contains(&bytes, needle.as_bytes()),
            "{} contains the machine path {needle}",
            artifact.path.display()
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn remove_if_present(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => panic!("cannot remove {}: {err}", dir.display()),
    }
}
