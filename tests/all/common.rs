//! Shared helpers for the integration tests.

use std::path::{Path, PathBuf};

/// The workspace root (the harness crate lives one folder below it).
pub fn workspace_root() -> PathBuf {
    let harness_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness_dir
        .parent()
        .expect("host-harness lives one folder below the workspace root")
        .to_owned()
}

/// `dist/<name>` under the workspace root; panics with the command that makes it when
/// the file is missing (`account-lockdown.wasm` comes from `make build`).
pub fn dist_file(name: &str) -> PathBuf {
    let path = workspace_root().join("dist").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

/// The bytes of `dist/<name>` (see [`dist_file`]).
pub fn read_dist(name: &str) -> Vec<u8> {
    let path = dist_file(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}
